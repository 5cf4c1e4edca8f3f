//! Answers become visible in released batches (SPEC "Disclosure control"): a response waits in
//! its release cell until the cell holds five, then the cell's answers enter the tally together
//! and the invitations they answered show as answered. `release_cell` holds each cell's waiting
//! answers (their count and their summed piece of the tally); a response and an invitation
//! carry the cell they wait in until it is released; `response.released` is 0 while waiting,
//! 1 once counted, 2 when the survey ended with its cell still under five (kept, counted
//! nowhere). `survey.own_cells` lists the (group, school, band) cells drawn large enough to be
//! released school by school. Responses stored before are counted already (released = 1).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("release_cell"))
                    .col(integer(Alias::new("survey_id")))
                    .col(string(Alias::new("cell")))
                    .col(big_integer(Alias::new("responses")).default(0))
                    .col(text(Alias::new("aggregates")).default(""))
                    .primary_key(
                        Index::create()
                            .col(Alias::new("survey_id"))
                            .col(Alias::new("cell")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("release_cell"), Alias::new("survey_id"))
                            .to(Alias::new("survey"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("survey"))
                    .add_column(text_null(Alias::new("own_cells")))
                    .to_owned(),
            )
            .await?;
        for (table, column) in [
            ("response", string_null(Alias::new("release_cell"))),
            (
                "response",
                small_integer(Alias::new("released")).default(1).to_owned(),
            ),
            ("invitation", string_null(Alias::new("release_cell"))),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for table in ["response", "invitation"] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("{table}_release_cell"))
                        .table(Alias::new(table))
                        .col(Alias::new("survey_id"))
                        .col(Alias::new("release_cell"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["response", "invitation"] {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("{table}_release_cell"))
                        .table(Alias::new(table))
                        .to_owned(),
                )
                .await?;
        }
        for (table, column) in [
            ("response", "release_cell"),
            ("response", "released"),
            ("invitation", "release_cell"),
            ("survey", "own_cells"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Alias::new("release_cell")).to_owned())
            .await
    }
}
