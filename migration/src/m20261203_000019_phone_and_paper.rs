//! Telephone interviews and paper booklets (2.9). Interviewers are assigned groups of a
//! survey (`interviewer_assignment`); each call to a drawn person is kept with its outcome
//! (`call_attempt`, for the response-rate report). Paper booklets are printed in runs
//! (`paper_batch`: for a stratum's free places, or one booklet per drawn person still to
//! answer), one row each (`paper_booklet`, with its invitation for the latter), and entered
//! twice by two operators
//! (`paper_entry`, removed once the booklet is stored as a response). No response row says
//! who interviewed or entered it.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

fn cascade(from: &str, col: &str, to: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(t(from), t(col))
        .to(t(to), t("id"))
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(t("interviewer_assignment"))
                    .col(integer(t("survey_id")))
                    .col(integer(t("user_id")))
                    .col(string_len(t("grp"), 16))
                    .primary_key(
                        Index::create()
                            .col(t("survey_id"))
                            .col(t("user_id"))
                            .col(t("grp")),
                    )
                    .foreign_key(&mut cascade(
                        "interviewer_assignment",
                        "survey_id",
                        "survey",
                    ))
                    .foreign_key(&mut cascade(
                        "interviewer_assignment",
                        "user_id",
                        "app_user",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(t("call_attempt"))
                    .col(pk_auto(t("id")))
                    .col(integer(t("survey_id")))
                    .col(integer(t("invitation_id")))
                    .col(integer(t("user_id")))
                    .col(string_len(t("outcome"), 12))
                    .col(timestamp_with_time_zone_null(t("callback_at")))
                    .col(text_null(t("note")))
                    .col(timestamp_with_time_zone(t("at")))
                    .foreign_key(&mut cascade("call_attempt", "survey_id", "survey"))
                    .foreign_key(&mut cascade("call_attempt", "invitation_id", "invitation"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_call_attempt_invitation")
                    .table(t("call_attempt"))
                    .col(t("survey_id"))
                    .col(t("invitation_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(t("paper_batch"))
                    .col(pk_auto(t("id")))
                    .col(integer(t("survey_id")))
                    .col(string_len(t("grp"), 16))
                    .col(integer_null(t("area_id")))
                    .col(integer_null(t("school_id")))
                    .col(integer(t("copies")))
                    .col(boolean(t("for_invitations")).default(false))
                    .col(timestamp_with_time_zone(t("created_at")))
                    .foreign_key(&mut cascade("paper_batch", "survey_id", "survey"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(t("paper_booklet"))
                    .col(pk_auto(t("id")))
                    .col(integer(t("survey_id")))
                    .col(integer(t("batch_id")))
                    .col(integer(t("number")))
                    .col(integer_null(t("invitation_id")))
                    .col(string_len(t("status"), 12))
                    .col(timestamp_with_time_zone_null(t("entered_at")))
                    .foreign_key(&mut cascade("paper_booklet", "survey_id", "survey"))
                    .foreign_key(&mut cascade("paper_booklet", "batch_id", "paper_batch"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_paper_booklet_serial")
                    .table(t("paper_booklet"))
                    .col(t("batch_id"))
                    .col(t("number"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(t("paper_entry"))
                    .col(integer(t("booklet_id")))
                    .col(small_integer(t("round")))
                    .col(integer(t("user_id")))
                    .col(text(t("entry")))
                    .col(timestamp_with_time_zone(t("entered_at")))
                    .primary_key(Index::create().col(t("booklet_id")).col(t("round")))
                    .foreign_key(&mut cascade("paper_entry", "booklet_id", "paper_booklet"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "paper_entry",
            "paper_booklet",
            "paper_batch",
            "call_attempt",
            "interviewer_assignment",
        ] {
            manager
                .drop_table(Table::drop().table(t(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
