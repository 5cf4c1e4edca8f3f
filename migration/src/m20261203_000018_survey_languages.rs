//! Questionnaires in further languages (2.13): the languages a survey offers its respondents
//! besides Chinese (`survey.languages`, BCP 47 tags separated by spaces; null: Chinese only).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("survey"))
                    .add_column(string_null(Alias::new("languages")))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("survey"))
                    .drop_column(Alias::new("languages"))
                    .to_owned(),
            )
            .await
    }
}
