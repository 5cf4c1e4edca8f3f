//! The audit trail's anchor: how many entries the trail holds and the last one's hash, signed
//! with the key the chain is now hashed with. Created pending (`entries` = -1): the server keys
//! a trail written before (if intact) and signs the anchor at its next start; an anchor deleted
//! later is reported, never re-created.
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
                    .table(t("audit_anchor"))
                    .col(integer(t("id")).primary_key())
                    .col(big_integer(t("entries")))
                    .col(string_len(t("head_hash"), 64))
                    .col(string_len(t("mac"), 64))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(t("audit_anchor"))
                    .columns([t("id"), t("entries"), t("head_hash"), t("mac")])
                    .values_panic([1.into(), (-1i64).into(), "".into(), "".into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(t("audit_anchor")).to_owned())
            .await
    }
}
