//! Questionnaire versions, the versions a survey pins, and the anonymous responses.
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
                    .table(t("questionnaire"))
                    .col(pk_auto(t("id")))
                    // NULL: built into Renke; otherwise uploaded by this county.
                    .col(integer_null(t("county_id")))
                    .col(string_len(t("booklet"), 16))
                    .col(string_len(t("version"), 32))
                    .col(text(t("definition")))
                    .col(timestamp_with_time_zone(t("created_at")))
                    .col(string_len(t("created_by"), 64))
                    .foreign_key(
                        ForeignKey::create()
                            .from(t("questionnaire"), t("county_id"))
                            .to(t("county"), t("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(t("survey_booklet"))
                    .col(integer(t("survey_id")))
                    .col(string_len(t("booklet"), 16))
                    .col(integer(t("questionnaire_id")))
                    .primary_key(Index::create().col(t("survey_id")).col(t("booklet")))
                    .foreign_key(
                        ForeignKey::create()
                            .from(t("survey_booklet"), t("survey_id"))
                            .to(t("survey"), t("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(t("survey_booklet"), t("questionnaire_id"))
                            .to(t("questionnaire"), t("id"))
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        // Anonymous: the stratum and the answers, never the invitation or anything of the
        // roster. The id is random (not a sequence) and the time is rounded to the hour, so
        // neither the order nor the moment of answering can be matched to an invitation.
        manager
            .create_table(
                Table::create()
                    .table(t("response"))
                    .col(big_integer(t("id")).primary_key())
                    .col(integer(t("survey_id")))
                    .col(integer(t("questionnaire_id")))
                    .col(string_len(t("booklet"), 16))
                    .col(string_len(t("grp"), 16))
                    .col(integer_null(t("area_id")))
                    .col(string_len_null(t("area_class"), 8))
                    .col(integer_null(t("school_id")))
                    .col(small_integer_null(t("band")))
                    .col(string_len(t("source"), 12))
                    .col(timestamp_with_time_zone(t("submitted_hour")))
                    .col(integer(t("completion_seconds")))
                    .col(boolean(t("too_fast")))
                    .col(boolean(t("straight_lined")))
                    .col(text(t("answers")))
                    .col(text_null(t("comment")))
                    .foreign_key(
                        ForeignKey::create()
                            .from(t("response"), t("survey_id"))
                            .to(t("survey"), t("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_response_survey")
                    .table(t("response"))
                    .col(t("survey_id"))
                    .to_owned(),
            )
            .await?;
        // Makes a retried submit idempotent: the hash of the form's one-time nonce, nothing else.
        manager
            .create_table(
                Table::create()
                    .table(t("submission_receipt"))
                    .col(string_len(t("nonce_hash"), 64).primary_key())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "submission_receipt",
            "response",
            "survey_booklet",
            "questionnaire",
        ] {
            manager
                .drop_table(Table::drop().table(t(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
