//! Per-address limits for open channels. `address_count` counts a survey's channel answers per
//! client address (a keyed hash of it, never the address itself) and hour; past a threshold an
//! answer is held in `held_answer` — stored, counted nowhere — until an organiser accepts it
//! (it then becomes a response, and its held row, the one link to an address, goes) or rejects
//! it (it stays, marked).
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
                    .table(t("address_count"))
                    .col(integer(t("survey_id")))
                    .col(string_len(t("address"), 32))
                    .col(timestamp_with_time_zone(t("hour")))
                    .col(integer(t("answers")).default(0))
                    .primary_key(
                        Index::create()
                            .col(t("survey_id"))
                            .col(t("address"))
                            .col(t("hour")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(t("address_count"), t("survey_id"))
                            .to(t("survey"), t("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(t("held_answer"))
                    .col(pk_auto(t("id")))
                    .col(integer(t("survey_id")))
                    .col(integer(t("channel_id")))
                    .col(string_len(t("address"), 32))
                    .col(string_len(t("status"), 12))
                    .col(integer(t("questionnaire_id")))
                    .col(string_len(t("booklet"), 16))
                    .col(string_len(t("grp"), 16))
                    .col(integer_null(t("area_id")))
                    .col(string_len_null(t("area_class"), 8))
                    .col(integer_null(t("school_id")))
                    .col(small_integer_null(t("band")))
                    .col(timestamp_with_time_zone(t("submitted_hour")))
                    .col(integer(t("completion_seconds")))
                    .col(boolean(t("too_fast")))
                    .col(boolean(t("straight_lined")))
                    .col(text(t("answers")))
                    .col(text_null(t("comment")))
                    .foreign_key(
                        ForeignKey::create()
                            .from(t("held_answer"), t("survey_id"))
                            .to(t("survey"), t("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_held_answer_survey")
                    .table(t("held_answer"))
                    .col(t("survey_id"))
                    .col(t("status"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["held_answer", "address_count"] {
            manager
                .drop_table(Table::drop().table(t(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
