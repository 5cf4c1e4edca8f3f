//! The integrity panel's counts (see `domain::integrity`). `response.channel_id` says which
//! open channel an answer came through (NULL for invitations and earlier answers);
//! `tally_unit` keeps each unit's answers, too-fast, straight-lined and all-top counts (the
//! county as unit 0, schools, channels), maintained with the tally; `answer_cluster` counts
//! identical answer sets per unit and half hour (a keyed fingerprint of the set, never the
//! answers) and is pruned as its windows pass, leaving only `cluster_peak`, each unit's largest
//! cluster so far.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

fn survey_fk(table: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(t(table), t("survey_id"))
        .to(t("survey"), t("id"))
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(t("response"))
                    .add_column(integer_null(t("channel_id")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(t("tally_unit"))
                    .col(integer(t("survey_id")))
                    .col(string_len(t("kind"), 8))
                    .col(integer(t("unit_id")))
                    .col(big_integer(t("answers")).default(0))
                    .col(big_integer(t("too_fast")).default(0))
                    .col(big_integer(t("straight_lined")).default(0))
                    .col(big_integer(t("all_top")).default(0))
                    .primary_key(
                        Index::create()
                            .col(t("survey_id"))
                            .col(t("kind"))
                            .col(t("unit_id")),
                    )
                    .foreign_key(&mut survey_fk("tally_unit"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(t("answer_cluster"))
                    .col(integer(t("survey_id")))
                    .col(string_len(t("kind"), 8))
                    .col(integer(t("unit_id")))
                    .col(timestamp_with_time_zone(t("window_start")))
                    .col(string_len(t("pattern"), 24))
                    .col(integer(t("answers")).default(0))
                    .primary_key(
                        Index::create()
                            .col(t("survey_id"))
                            .col(t("kind"))
                            .col(t("unit_id"))
                            .col(t("window_start"))
                            .col(t("pattern")),
                    )
                    .foreign_key(&mut survey_fk("answer_cluster"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_answer_cluster_window")
                    .table(t("answer_cluster"))
                    .col(t("window_start"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(t("cluster_peak"))
                    .col(integer(t("survey_id")))
                    .col(string_len(t("kind"), 8))
                    .col(integer(t("unit_id")))
                    .col(integer(t("largest")).default(0))
                    .primary_key(
                        Index::create()
                            .col(t("survey_id"))
                            .col(t("kind"))
                            .col(t("unit_id")),
                    )
                    .foreign_key(&mut survey_fk("cluster_peak"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["cluster_peak", "answer_cluster", "tally_unit"] {
            manager
                .drop_table(Table::drop().table(t(table)).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(t("response"))
                    .drop_column(t("channel_id"))
                    .to_owned(),
            )
            .await
    }
}
