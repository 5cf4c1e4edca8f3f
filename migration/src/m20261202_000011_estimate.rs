//! What the estimate of the official result reads. Its sums per group, area, source
//! (invitation or open channel) and flag live in `tally_cell` under scopes of their own (no new
//! table: a submission's aggregates stay one multi-row upsert per table). `ratio_sq` (Σ (y/x)²)
//! gives the respondent mean its own variance. `survey.tally_version` says which version of the
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
