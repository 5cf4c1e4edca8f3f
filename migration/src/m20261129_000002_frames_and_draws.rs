//! Areas and schools of a county's survey, rosters (sampling frames), draws, invitations and
//! open channels.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(
    from: (Alias, &'static str),
    to: (Alias, &'static str),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, Alias::new(from.1))
        .to(to.0, Alias::new(to.1))
        .on_delete(on_delete)
        .to_owned()
}

fn t(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let cascade = ForeignKeyAction::Cascade;
        let restrict = ForeignKeyAction::Restrict;
        let set_null = ForeignKeyAction::SetNull;

        manager
            .alter_table(
                Table::alter()
                    .table(t("survey"))
                    .add_column(timestamp_with_time_zone_null(t("purged_at")))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(t("area"))
                    .col(pk_auto(t("id")))
                    .col(integer(t("survey_id")))
                    .col(integer(t("position")))
                    .col(string_len(t("name"), 50))
                    .col(string_len(t("class"), 8))
                    .col(big_integer(t("population")))
                    .foreign_key(&mut fk(
                        (t("area"), "survey_id"),
                        (t("survey"), "id"),
                        cascade,
                    ))
                    .index(
                        Index::create()
                            .unique()
                            .name("uq_area_survey_name")
                            .col(t("survey_id"))
                            .col(t("name")),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(t("school"))
                    .col(pk_auto(t("id")))
                    .col(integer(t("survey_id")))
                    .col(integer(t("position")))
                    .col(string_len(t("name"), 100))
                    .col(integer(t("area_id")))
                    .foreign_key(&mut fk(
                        (t("school"), "survey_id"),
                        (t("survey"), "id"),
                        cascade,
                    ))
                    .foreign_key(&mut fk(
                        (t("school"), "area_id"),
                        (t("area"), "id"),
                        restrict,
                    ))
                    .index(
                        Index::create()
                            .unique()
                            .name("uq_school_survey_name")
                            .col(t("survey_id"))
                            .col(t("name")),
                    )
                    .to_owned(),
            )
            .await?;

        // Roster rows: personal data (name, phone), purged with the survey's personal data.
        manager
            .create_table(
                Table::create()
                    .table(t("frame_person"))
                    .col(pk_auto(t("id")))
                    .col(integer(t("survey_id")))
                    .col(string_len(t("grp"), 16))
                    .col(string_len(t("external_id"), 64))
                    .col(integer(t("area_id")))
                    .col(integer_null(t("school_id")))
                    .col(small_integer_null(t("grade")))
                    .col(string_len_null(t("name"), 50))
                    .col(string_len_null(t("phone"), 20))
                    .col(integer(t("line")))
                    .foreign_key(&mut fk(
                        (t("frame_person"), "survey_id"),
                        (t("survey"), "id"),
                        cascade,
                    ))
                    .foreign_key(&mut fk(
                        (t("frame_person"), "area_id"),
                        (t("area"), "id"),
                        restrict,
                    ))
                    .foreign_key(&mut fk(
                        (t("frame_person"), "school_id"),
                        (t("school"), "id"),
                        restrict,
                    ))
                    .index(
                        Index::create()
                            .unique()
                            .name("uq_frame_person")
                            .col(t("survey_id"))
                            .col(t("grp"))
                            .col(t("external_id")),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(t("draw"))
                    .col(pk_auto(t("id")))
                    .col(integer(t("survey_id")))
                    // A u64 in decimal: exact on every backend.
                    .col(string_len(t("seed"), 20))
                    .col(string_len(t("frame_digest"), 64))
                    .col(text(t("algorithm")))
                    .col(integer(t("reserve_percent")))
                    .col(text(t("quotas")))
                    .col(integer(t("frame_size")))
                    .col(integer(t("selected")))
                    .col(integer(t("reserves")))
                    .col(boolean(t("superseded")).default(false))
                    .col(timestamp_with_time_zone(t("created_at")))
                    .col(integer_null(t("created_by")))
                    .col(string_len(t("created_by_name"), 64))
                    .foreign_key(&mut fk(
                        (t("draw"), "survey_id"),
                        (t("survey"), "id"),
                        cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(t("invitation"))
                    .col(pk_auto(t("id")))
                    .col(integer(t("survey_id")))
                    .col(integer(t("draw_id")))
                    .col(integer_null(t("frame_person_id")))
                    .col(string_len(t("grp"), 16))
                    .col(integer(t("area_id")))
                    .col(integer_null(t("school_id")))
                    .col(small_integer_null(t("band")))
                    .col(small_integer_null(t("grade")))
                    .col(string_len(t("status"), 16))
                    .col(timestamp_with_time_zone(t("created_at")))
                    .col(timestamp_with_time_zone_null(t("answered_at")))
                    .col(timestamp_with_time_zone_null(t("revoked_at")))
                    .col(integer_null(t("replaced_by")))
                    .foreign_key(&mut fk(
                        (t("invitation"), "survey_id"),
                        (t("survey"), "id"),
                        cascade,
                    ))
                    .foreign_key(&mut fk(
                        (t("invitation"), "draw_id"),
                        (t("draw"), "id"),
                        cascade,
                    ))
                    .foreign_key(&mut fk(
                        (t("invitation"), "frame_person_id"),
                        (t("frame_person"), "id"),
                        set_null,
                    ))
                    .to_owned(),
            )
            .await?;

        // What each draw picked, in order: the sample and the reserve list per stratum.
        manager
            .create_table(
                Table::create()
                    .table(t("draw_pick"))
                    .col(pk_auto(t("id")))
                    .col(integer(t("draw_id")))
                    .col(integer_null(t("frame_person_id")))
                    .col(string_len(t("external_id"), 64))
                    .col(string_len(t("grp"), 16))
                    .col(integer(t("area_id")))
                    .col(small_integer_null(t("band")))
                    .col(string_len(t("kind"), 8))
                    .col(integer(t("rank")))
                    .col(integer_null(t("invitation_id")))
                    .foreign_key(&mut fk(
                        (t("draw_pick"), "draw_id"),
                        (t("draw"), "id"),
                        cascade,
                    ))
                    .foreign_key(&mut fk(
                        (t("draw_pick"), "frame_person_id"),
                        (t("frame_person"), "id"),
                        set_null,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(t("channel"))
                    .col(pk_auto(t("id")))
                    .col(integer(t("survey_id")))
                    .col(string_len_uniq(t("code"), 32))
                    .col(string_len(t("grp"), 16))
                    .col(integer_null(t("area_id")))
                    .col(integer_null(t("school_id")))
                    .col(timestamp_with_time_zone(t("created_at")))
                    .foreign_key(&mut fk(
                        (t("channel"), "survey_id"),
                        (t("survey"), "id"),
                        cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        // Places taken through open channels per quota cell (group, area; area 0: whole county).
        manager
            .create_table(
                Table::create()
                    .table(t("channel_fill"))
                    .col(integer(t("survey_id")))
                    .col(string_len(t("grp"), 16))
                    .col(integer(t("area_id")))
                    .col(integer(t("filled")))
                    .primary_key(
                        Index::create()
                            .col(t("survey_id"))
                            .col(t("grp"))
                            .col(t("area_id")),
                    )
                    .foreign_key(&mut fk(
                        (t("channel_fill"), "survey_id"),
                        (t("survey"), "id"),
                        cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        for (name, table, cols) in [
            (
                "idx_frame_person_group",
                "frame_person",
                vec!["survey_id", "grp"],
            ),
            (
                "idx_invitation_survey",
                "invitation",
                vec!["survey_id", "status"],
            ),
            ("idx_draw_pick_draw", "draw_pick", vec!["draw_id"]),
            ("idx_draw_survey", "draw", vec!["survey_id"]),
        ] {
            let mut index = Index::create().name(name).table(t(table)).to_owned();
            for c in cols {
                index.col(t(c));
            }
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "channel_fill",
            "channel",
            "draw_pick",
            "invitation",
            "draw",
            "frame_person",
            "school",
            "area",
        ] {
            manager
                .drop_table(Table::drop().table(t(table)).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(t("survey"))
                    .drop_column(t("purged_at"))
                    .to_owned(),
            )
            .await
    }
}
