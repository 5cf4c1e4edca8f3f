//! Responses are read in pages by survey and id (exports): one index on (survey_id, id) serves
//! those pages as a range scan and every lookup by survey, so it replaces the survey-only one.
//! (PostgreSQL sorted all of a survey's responses for every page: 128 s to export a million.)
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_response_survey_id")
                    .table(t("response"))
                    .col(t("survey_id"))
                    .col(t("id"))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_response_survey")
                    .table(t("response"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_response_survey")
                    .table(t("response"))
                    .col(t("survey_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_response_survey_id")
                    .table(t("response"))
                    .to_owned(),
            )
            .await
    }
}
