//! The organiser's path: a draw records the roster fingerprint it was drawn from (so a later
//! roster change marks it stale) and, when a draft's draw is discarded, when and by whom; a
//! survey may be archived (kept, out of the everyday lists); a roster row keeps its class (班级),
//! so invitation slips print sorted by school and class.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

const DRAW_COLUMNS: [&str; 3] = ["frame_fingerprint", "discarded_at", "discarded_by_name"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            string_len_null(t("frame_fingerprint"), 64),
            timestamp_with_time_zone_null(t("discarded_at")),
            string_len_null(t("discarded_by_name"), 64),
        ];
        for column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(t("draw"))
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(t("survey"))
                    .add_column(timestamp_with_time_zone_null(t("archived_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(t("frame_person"))
                    .add_column(string_len_null(t("class_name"), 32))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in DRAW_COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(t("draw"))
                        .drop_column(t(col))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(t("survey"))
                    .drop_column(t("archived_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(t("frame_person"))
                    .drop_column(t("class_name"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
