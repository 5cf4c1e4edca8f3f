//! A session may carry the outcome of the form it last posted (a roster upload's warnings), so
//! the page it is sent back to can show it once: a reload then repeats nothing, and with several
//! servers the outcome is read wherever the next request lands.
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
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
