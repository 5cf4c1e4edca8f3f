//! `renke-draw-v2`: a seed is a text recorded verbatim, with where it came from
//! (`seed_source`: random, entered, or unrecorded for draws made before it was kept) and the
//! organiser's note on it (for instance which lottery draw it is the result of); `geography`,
//! the areas and schools as they were when it was drawn (its certificate and re-runs read them,
//! whatever is edited later). The seed
//! column, a u64's decimal until now, becomes text on PostgreSQL (SQLite does not enforce a
//! varchar's length).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
            manager
                .alter_table(
                    Table::alter()
                        .table(t("draw"))
                        .modify_column(text(t("seed")))
                        .to_owned(),
                )
                .await?;
        }
        let columns = [
            string_len(t("seed_source"), 16)
                .default("unrecorded")
                .to_owned(),
            text_null(t("seed_note")),
            text_null(t("geography")),
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
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in ["seed_source", "seed_note", "geography"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(t("draw"))
                        .drop_column(t(col))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
