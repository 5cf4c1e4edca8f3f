//! Reaching respondents school by school (2.6): an open channel can be closed and reopened
//! (`channel.closed_at`, null while it collects answers), and a `school` user belongs to one
//! school of its county (`app_user.school`, the school's name: the same school across the
//! county's surveys).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("channel"))
                    .add_column(timestamp_with_time_zone_null(Alias::new("closed_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("app_user"))
                    .add_column(string_null(Alias::new("school")))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("app_user"))
                    .drop_column(Alias::new("school"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("channel"))
                    .drop_column(Alias::new("closed_at"))
                    .to_owned(),
            )
            .await
    }
}
