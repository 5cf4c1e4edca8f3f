//! The audit trail: append-only, hash-chained.
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
                    .table(t("audit_log"))
                    .col(pk_auto(t("id")))
                    .col(string_len(t("at"), 40))
                    .col(string_len(t("actor"), 64))
                    .col(string_len(t("action"), 32))
                    .col(string_len(t("subject"), 200))
                    .col(text(t("detail")))
                    // Unique: two writers appending at once cannot both chain to the same entry.
                    .col(string_len_uniq(t("prev_hash"), 64))
                    .col(string_len(t("hash"), 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(t("audit_log")).to_owned())
            .await
    }
}
