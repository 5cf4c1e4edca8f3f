//! A session may carry the outcome of the form it last posted (a roster upload's warnings), so
//! the page it is sent back to can show it once: a reload then repeats nothing, and with several
//! servers the outcome is read wherever the next request lands. And the audit trail is indexed by
//! action and actor: a login that meets the account's limit asks whether the account has logged
//! in from that address before.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("session"))
                    .add_column(text_null(Alias::new("notice")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_log_action_actor")
                    .table(Alias::new("audit_log"))
                    .col(Alias::new("action"))
                    .col(Alias::new("actor"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("audit_log_action_actor")
                    .table(Alias::new("audit_log"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("session"))
                    .drop_column(Alias::new("notice"))
                    .to_owned(),
            )
            .await
    }
}
