//! One place count per stratum of an open survey's plan, shared by its invitations and every
//! open channel that feeds it: `claimed` counts the invitations issued in the stratum and the
//! channel answers stored in it, and never passes `quota`. (It replaces `channel_fill`, which
//! counted each channel's cell on its own.) `area_id` 0 and `band` −1 where a survey without
//! areas, or a group without grade bands, has none (they are parts of the primary key).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(t("stratum_place"))
                    .col(integer(t("survey_id")))
                    .col(string_len(t("grp"), 16))
                    .col(integer(t("area_id")))
                    .col(small_integer(t("band")))
                    .col(integer(t("quota")))
                    .col(integer(t("claimed")).default(0))
                    .primary_key(
                        Index::create()
                            .col(t("survey_id"))
                            .col(t("grp"))
                            .col(t("area_id"))
                            .col(t("band")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(t("stratum_place"), t("survey_id"))
                            .to(t("survey"), t("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(t("channel_fill")).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(t("channel_fill"))
                    .col(integer(t("survey_id")))
                    .col(string_len(t("grp"), 16))
                    .col(integer(t("area_id")))
                    .col(integer(t("filled")).default(0))
                    .primary_key(
                        Index::create()
                            .col(t("survey_id"))
                            .col(t("grp"))
                            .col(t("area_id")),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(t("stratum_place")).to_owned())
            .await
    }
}
