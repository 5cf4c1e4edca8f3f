//! The maintained tally aggregates. A submission adds its piece in its own transaction; a
//! rebuild recomputes them from the raw responses.
//!
//! How the tables hold the typed keys: `tally_cell` rows of scope `all` are stratum cells,
//! scope `via:{source}` and `via:{source}:answered` hold a group's sums per area and source for
//! the estimate of the official result (the second with 不了解 counted as not recognised), any
//! other scope is a dimension's code; where a key has no area (the whole county, or a
//! dimension's or item's per-group row), no school or no grade band, its columns hold
//! [`key_columns`]' "none".
use super::key_columns;
use crate::domain::geography::AreaScope;
use crate::domain::group::RespondentGroup;
use crate::domain::integrity::{UnitKey, UnitKind, UnitSums};
use crate::domain::response::Source;
use crate::domain::strata::Band;
use crate::domain::tally::{
    Aggregates, CellSums, DimensionKey, HourKey, ItemKey, SourceKey, StratumKey, Sums,
};
use crate::entity::{survey, tally_cell, tally_hour, tally_item, tally_unit};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, InsertStatement, OnConflict, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IdenStatic, QueryFilter, QueryTrait, Set,
};

fn plus<E: EntityTrait + Default, C: ColumnTrait + IdenStatic + Copy>(
    entity: E,
    col: C,
) -> (C, SimpleExpr) {
    let current = Expr::col((entity, col));
    let incoming = Expr::col((Alias::new("excluded"), col));
    (col, ExprTrait::add(current, incoming))
}

/// The version of the aggregates this code keeps (2: the source rows and `ratio_sq`).
pub const VERSION: i32 = 2;

/// Rows per multi-row statement (well under SQLite's limit of bound values).
const CHUNK: usize = 500;

/// The scope of a stratum cell's row.
const ALL: &str = "all";

/// A source row's two readings of 不了解: as the scale says, or as an answer not recognised.
#[derive(Clone, Copy)]
enum Reading {
    Counted,
    Answered,
}

/// The scope of a source row.
fn source_scope(source: Source, reading: Reading) -> &'static str {
    match (source, reading) {
        (Source::Invitation, Reading::Counted) => "via:invitation",
        (Source::Invitation, Reading::Answered) => "via:invitation:answered",
        (Source::OpenChannel, Reading::Counted) => "via:open",
        (Source::OpenChannel, Reading::Answered) => "via:open:answered",
        (Source::Phone, Reading::Counted) => "via:phone",
        (Source::Phone, Reading::Answered) => "via:phone:answered",
        (Source::Paper, Reading::Counted) => "via:paper",
        (Source::Paper, Reading::Answered) => "via:paper:answered",
    }
}

fn source_of(scope: &str) -> Option<(Source, Reading)> {
    Source::ALL
        .into_iter()
        .flat_map(|s| [(s, Reading::Counted), (s, Reading::Answered)])
        .find(|(s, r)| source_scope(*s, *r) == scope)
}

fn group_of(code: &str, survey_id: i32, table: &str) -> Result<RespondentGroup, DbErr> {
    code.parse().map_err(|_| {
        super::corrupt(
            &format!("{table} of survey"),
            survey_id,
            format!("unknown group `{code}`"),
        )
    })
}

/// Adds `agg` to the survey's aggregates (call inside the submission's transaction). One
/// multi-row upsert per table, so a submission costs four statements, not one per cell.
pub async fn add(db: &impl ConnectionTrait, survey_id: i32, agg: &Aggregates) -> Result<(), DbErr> {
    for statement in upserts(survey_id, agg) {
        db.execute(&statement).await?;
    }
    Ok(())
}

/// The upserts that add `agg` to the survey's aggregates.
pub fn upserts(survey_id: i32, agg: &Aggregates) -> Vec<InsertStatement> {
    let mut statements = Vec::new();
    use tally_cell::Column as C;
    let cell = |group: RespondentGroup,
                scope: &str,
                area: AreaScope,
                school: Option<i32>,
                band: Option<Band>,
                flagged: bool,
                v: &CellSums| {
        let s = &v.sums;
        tally_cell::ActiveModel {
            survey_id: Set(survey_id),
            scope: Set(scope.to_owned()),
            grp: Set(group.code().to_owned()),
            area_id: Set(key_columns::area(area)),
            school_id: Set(key_columns::school(school)),
            band: Set(key_columns::band(band)),
            flagged: Set(flagged),
            too_fast: Set(v.too_fast),
            straight_lined: Set(v.straight_lined),
            n: Set(s.n),
            sx: Set(s.x),
            sy: Set(s.y),
            sxx: Set(s.xx),
            syy: Set(s.yy),
            sxy: Set(s.xy),
            n_ratio: Set(s.n_ratio),
            ratio: Set(s.ratio),
            ratio_sq: Set(s.rr),
        }
    };
    let mut cells: Vec<tally_cell::ActiveModel> = agg
        .strata
        .iter()
        .map(|(k, v)| cell(k.group, ALL, k.area, k.school, k.band, k.flagged, v))
        .collect();
    cells.extend(agg.dimensions.iter().map(|(k, s)| {
        let v = CellSums {
            sums: *s,
            ..Default::default()
        };
        cell(
            k.group,
            &k.dimension,
            AreaScope::WholeCounty,
            None,
            None,
            k.flagged,
            &v,
        )
    }));
    for (k, v) in &agg.sources {
        for (reading, sums) in [
            (Reading::Counted, v.counted),
            (Reading::Answered, v.answered),
        ] {
            let v = CellSums {
                sums,
                ..Default::default()
            };
            let scope = source_scope(k.source, reading);
            cells.push(cell(k.group, scope, k.area, None, None, k.flagged, &v));
        }
    }
    for chunk in cells.chunks(CHUNK) {
        statements.push(
            tally_cell::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([
                        C::SurveyId,
                        C::Scope,
                        C::Grp,
                        C::AreaId,
                        C::SchoolId,
                        C::Band,
                        C::Flagged,
                    ])
                    .values(
                        [
                            C::TooFast,
                            C::StraightLined,
                            C::N,
                            C::Sx,
                            C::Sy,
                            C::Sxx,
                            C::Syy,
                            C::Sxy,
                            C::NRatio,
                            C::Ratio,
                            C::RatioSq,
                        ]
                        .map(|c| plus(tally_cell::Entity, c)),
                    )
                    .to_owned(),
                )
                .into_query(),
        );
    }
    use tally_item::Column as I;
    let items: Vec<tally_item::ActiveModel> = agg
        .items
        .iter()
        .map(|(k, count)| tally_item::ActiveModel {
            survey_id: Set(survey_id),
            grp: Set(k.group.code().to_owned()),
            area_id: Set(key_columns::area(AreaScope::WholeCounty)),
            school_id: Set(key_columns::school(None)),
            band: Set(key_columns::band(None)),
            flagged: Set(k.flagged),
            item_id: Set(k.item_id.clone()),
            option_code: Set(k.option.clone()),
            answers: Set(*count),
        })
        .collect();
    for chunk in items.chunks(CHUNK) {
        statements.push(
            tally_item::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([
                        I::SurveyId,
                        I::Grp,
                        I::AreaId,
                        I::SchoolId,
                        I::Band,
                        I::Flagged,
                        I::ItemId,
                        I::OptionCode,
                    ])
                    .values([plus(tally_item::Entity, I::Answers)])
                    .to_owned(),
                )
                .into_query(),
        );
    }
    use tally_hour::Column as H;
    let hours: Vec<tally_hour::ActiveModel> = agg
        .hours
        .iter()
        .map(|(k, s)| tally_hour::ActiveModel {
            survey_id: Set(survey_id),
            hour: Set(k.hour),
            flagged: Set(k.flagged),
            n: Set(s.n),
            sx: Set(s.x),
            sy: Set(s.y),
            sxx: Set(s.xx),
            syy: Set(s.yy),
            sxy: Set(s.xy),
            n_ratio: Set(s.n_ratio),
            ratio: Set(s.ratio),
            ratio_sq: Set(s.rr),
        })
        .collect();
    for chunk in hours.chunks(CHUNK) {
        statements.push(
            tally_hour::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([H::SurveyId, H::Hour, H::Flagged])
                        .values(
                            [
                                H::N,
                                H::Sx,
                                H::Sy,
                                H::Sxx,
                                H::Syy,
                                H::Sxy,
                                H::NRatio,
                                H::Ratio,
                                H::RatioSq,
                            ]
                            .map(|c| plus(tally_hour::Entity, c)),
                        )
                        .to_owned(),
                )
                .into_query(),
        );
    }
    use tally_unit::Column as U;
    let units: Vec<tally_unit::ActiveModel> = agg
        .units
        .iter()
        .map(|(k, u)| tally_unit::ActiveModel {
            survey_id: Set(survey_id),
            kind: Set(k.kind.code().to_owned()),
            unit_id: Set(k.id),
            answers: Set(u.answers),
            too_fast: Set(u.too_fast),
            straight_lined: Set(u.straight_lined),
            all_top: Set(u.all_top),
        })
        .collect();
    for chunk in units.chunks(CHUNK) {
        statements.push(
            tally_unit::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([U::SurveyId, U::Kind, U::UnitId])
                        .values(
                            [U::Answers, U::TooFast, U::StraightLined, U::AllTop]
                                .map(|c| plus(tally_unit::Entity, c)),
                        )
                        .to_owned(),
                )
                .into_query(),
        );
    }
    statements
}

/// Deletes the survey's aggregates (before a rebuild).
pub async fn clear(db: &impl ConnectionTrait, survey_id: i32) -> Result<(), DbErr> {
    tally_cell::Entity::delete_many()
        .filter(tally_cell::Column::SurveyId.eq(survey_id))
        .exec(db)
        .await?;
    tally_item::Entity::delete_many()
        .filter(tally_item::Column::SurveyId.eq(survey_id))
        .exec(db)
        .await?;
    tally_hour::Entity::delete_many()
        .filter(tally_hour::Column::SurveyId.eq(survey_id))
        .exec(db)
        .await?;
    tally_unit::Entity::delete_many()
        .filter(tally_unit::Column::SurveyId.eq(survey_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Surveys whose aggregates were built by an earlier version of this code (and lack what it
/// keeps now): they are rebuilt from their responses.
pub async fn outdated(db: &impl ConnectionTrait) -> Result<Vec<i32>, DbErr> {
    use sea_orm::QuerySelect;
    survey::Entity::find()
        .select_only()
        .column(survey::Column::Id)
        .filter(survey::Column::TallyVersion.lt(VERSION))
        .into_tuple()
        .all(db)
        .await
}

/// Records that the survey's aggregates are of this version.
pub async fn mark_current(db: &impl ConnectionTrait, survey_id: i32) -> Result<(), DbErr> {
    survey::Entity::update_many()
        .col_expr(survey::Column::TallyVersion, Expr::value(VERSION))
        .filter(survey::Column::Id.eq(survey_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Reads the survey's aggregates: a few thousand rows at most, whatever the responses.
pub async fn load(db: &impl ConnectionTrait, survey_id: i32) -> Result<Aggregates, DbErr> {
    let mut agg = Aggregates::default();
    for c in tally_cell::Entity::find()
        .filter(tally_cell::Column::SurveyId.eq(survey_id))
        .all(db)
        .await?
    {
        let group = group_of(&c.grp, survey_id, "tally_cell")?;
        let sums = Sums {
            n: c.n,
            x: c.sx,
            y: c.sy,
            xx: c.sxx,
            yy: c.syy,
            xy: c.sxy,
            ratio: c.ratio,
            n_ratio: c.n_ratio,
            rr: c.ratio_sq,
        };
        if c.scope == ALL {
            let key = StratumKey {
                group,
                area: key_columns::area_of(c.area_id),
                school: key_columns::school_of(c.school_id),
                band: key_columns::band_of("tally_cell of survey", survey_id, group, c.band)?,
                flagged: c.flagged,
            };
            agg.strata.insert(
                key,
                CellSums {
                    sums,
                    too_fast: c.too_fast,
                    straight_lined: c.straight_lined,
                },
            );
        } else if let Some((source, reading)) = source_of(&c.scope) {
            let key = SourceKey {
                group,
                area: key_columns::area_of(c.area_id),
                source,
                flagged: c.flagged,
            };
            let entry = agg.sources.entry(key).or_default();
            match reading {
                Reading::Counted => entry.counted = sums,
                Reading::Answered => entry.answered = sums,
            }
        } else {
            // Kept per group; rows written per stratum by early versions add up alike.
            agg.dimensions
                .entry(DimensionKey {
                    group,
                    dimension: c.scope,
                    flagged: c.flagged,
                })
                .or_default()
                .add(&sums);
        }
    }
    for i in tally_item::Entity::find()
        .filter(tally_item::Column::SurveyId.eq(survey_id))
        .all(db)
        .await?
    {
        let group = group_of(&i.grp, survey_id, "tally_item")?;
        // Kept per group; rows written per stratum by early versions add up alike.
        *agg.items
            .entry(ItemKey {
                group,
                item_id: i.item_id,
                option: i.option_code,
                flagged: i.flagged,
            })
            .or_default() += i.answers;
    }
    for h in tally_hour::Entity::find()
        .filter(tally_hour::Column::SurveyId.eq(survey_id))
        .all(db)
        .await?
    {
        agg.hours.insert(
            HourKey {
                hour: h.hour,
                flagged: h.flagged,
            },
            Sums {
                n: h.n,
                x: h.sx,
                y: h.sy,
                xx: h.sxx,
                yy: h.syy,
                xy: h.sxy,
                ratio: h.ratio,
                n_ratio: h.n_ratio,
                rr: h.ratio_sq,
            },
        );
    }
    for u in tally_unit::Entity::find()
        .filter(tally_unit::Column::SurveyId.eq(survey_id))
        .all(db)
        .await?
    {
        let kind = UnitKind::parse(&u.kind).ok_or_else(|| {
            super::corrupt(
                "tally_unit of survey",
                survey_id,
                format!("unknown unit kind `{}`", u.kind),
            )
        })?;
        agg.units.insert(
            UnitKey {
                kind,
                id: u.unit_id,
            },
            UnitSums {
                answers: u.answers,
                too_fast: u.too_fast,
                straight_lined: u.straight_lined,
                all_top: u.all_top,
            },
        );
    }
    Ok(agg)
}
