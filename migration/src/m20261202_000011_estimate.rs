//! What the estimate of the official result reads. `tally_source` keeps, per group, area,
//! source (invitation or open channel) and flag, the sums of the respondents' counted (x) and
//! recognised (y) answers, and of every scored answer (a: 不了解 included), so the weighted
//! estimate and its sensitivity come from aggregates. `ratio_sq` (Σ (y/x)²) gives the
//! respondent mean its own variance. `survey.tally_version` says which version of the
//! aggregates a survey's rows were built by: older ones are rebuilt from the responses at start.
//! `county.set_aside_below`: teaching points under this many pupils are left out of the
//! coefficients of variation (none: every school counts).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut table = Table::create()
            .table(t("tally_source"))
            .col(integer(t("survey_id")))
            .col(string_len(t("grp"), 16))
            .col(integer(t("area_id")))
            .col(string_len(t("source"), 12))
            .col(boolean(t("flagged")))
            .to_owned();
        for c in ["n", "sx", "sy", "sxx", "syy", "sxy", "ax", "axx", "axy"] {
            table.col(big_integer(t(c)).default(0));
        }
        table
            .primary_key(
                Index::create()
                    .col(t("survey_id"))
                    .col(t("grp"))
                    .col(t("area_id"))
                    .col(t("source"))
                    .col(t("flagged")),
            )
            .foreign_key(
                ForeignKey::create()
                    .from(t("tally_source"), t("survey_id"))
                    .to(t("survey"), t("id"))
                    .on_delete(ForeignKeyAction::Cascade),
            );
        manager.create_table(table).await?;
        for table in ["tally_cell", "tally_hour"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(t(table))
                        .add_column(double(t("ratio_sq")).default(0.0))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(t("survey"))
                    .add_column(integer(t("tally_version")).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(t("county"))
                    .add_column(integer_null(t("set_aside_below")))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(t("tally_source")).to_owned())
            .await?;
        for (table, col) in [
            ("tally_cell", "ratio_sq"),
            ("tally_hour", "ratio_sq"),
            ("survey", "tally_version"),
            ("county", "set_aside_below"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(t(table))
                        .drop_column(t(col))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
