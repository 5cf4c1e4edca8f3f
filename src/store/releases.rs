//! Released batches (`domain::release`): the answers waiting in each release cell, the cells
//! released when they reach five, and the close's settlement of the rest. Everything here runs
//! inside the transaction that stores the answers or ends the survey, so a release is as
//! atomic as the answers it counts.
use crate::domain::disclosure::K;
use crate::domain::geography::AreaScope;
use crate::domain::integrity::UnitKey;
use crate::domain::release::{OwnCells, ReleaseCell, Settlement, released, settle, settled_piece};
use crate::domain::response::hour_of;
use crate::domain::tally::Aggregates;
use crate::entity::{invitation, release_cell, response, survey};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Set,
};
use std::collections::BTreeMap;

/// Rows per multi-row statement.
const CHUNK: usize = 500;

/// An answer just stored: its survey, its release cell's key and its waiting piece.
pub struct Waiting<'a> {
    pub survey_id: i32,
    pub cell: &'a str,
    pub piece: &'a Aggregates,
}

fn bad(survey_id: i32, what: String) -> DbErr {
    super::corrupt("release_cell of survey", survey_id, what)
}

/// A waiting cell's key and piece as stored, read.
fn read_cell(survey_id: i32, key: &str, text: &str) -> Result<(ReleaseCell, Aggregates), DbErr> {
    let cell =
        ReleaseCell::parse(key).ok_or_else(|| bad(survey_id, format!("cell key `{key}`")))?;
    let piece = Aggregates::from_text(text).map_err(|e| bad(survey_id, format!("{key}: {e}")))?;
    Ok((cell, piece))
}

/// Adds answers to their waiting cells; every cell that reaches [`K`] is released: its pieces
/// enter the tally with this hour, its responses are counted (without their school where the
/// cell has none, and with the release's hour), and the invitations they answered show as
/// answered.
pub async fn add(
    db: &impl ConnectionTrait,
    waiting: &[Waiting<'_>],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut cells: BTreeMap<(i32, &str), (i64, Aggregates)> = BTreeMap::new();
    for w in waiting {
        let e = cells.entry((w.survey_id, w.cell)).or_default();
        e.0 += 1;
        e.1.merge(w.piece);
    }
    if cells.is_empty() {
        return Ok(());
    }
    // Count first: the upsert locks each cell's row (on PostgreSQL) until the commit, so the
    // piece read back below is the latest and no other writer adds to it meanwhile.
    let mut counted: Vec<(i32, String, i64, String)> = Vec::with_capacity(cells.len());
    let keys: Vec<(i32, &str, i64)> = cells.iter().map(|((s, c), (n, _))| (*s, *c, *n)).collect();
    for chunk in keys.chunks(CHUNK) {
        let mut insert = Query::insert();
        insert
            .into_table(release_cell::Entity)
            .columns([
                release_cell::Column::SurveyId,
                release_cell::Column::Cell,
                release_cell::Column::Responses,
                release_cell::Column::Aggregates,
            ])
            .on_conflict(
                OnConflict::columns([release_cell::Column::SurveyId, release_cell::Column::Cell])
                    .value(
                        release_cell::Column::Responses,
                        Expr::col((release_cell::Entity, release_cell::Column::Responses)).add(
                            Expr::col((Alias::new("excluded"), release_cell::Column::Responses)),
                        ),
                    )
                    .to_owned(),
            )
            .returning(Query::returning().columns([
                release_cell::Column::SurveyId,
                release_cell::Column::Cell,
                release_cell::Column::Responses,
                release_cell::Column::Aggregates,
            ]));
        for &(survey_id, cell, n) in chunk {
            insert.values_panic([
                survey_id.into(),
                cell.into(),
                n.into(),
                String::new().into(),
            ]);
        }
        for row in db.query_all(&insert).await? {
            counted.push((
                row.try_get("", "survey_id")?,
                row.try_get("", "cell")?,
                row.try_get("", "responses")?,
                row.try_get("", "aggregates")?,
            ));
        }
    }
    let mut keep: Vec<release_cell::ActiveModel> = Vec::new();
    let mut release: BTreeMap<i32, Vec<(ReleaseCell, String, Aggregates)>> = BTreeMap::new();
    for (survey_id, key, total, text) in counted {
        let (cell, mut piece) = read_cell(survey_id, &key, &text)?;
        if let Some((_, added)) = cells.get(&(survey_id, key.as_str())) {
            piece.merge(added);
        }
        if total >= K {
            release
                .entry(survey_id)
                .or_default()
                .push((cell, key, piece));
        } else {
            keep.push(release_cell::ActiveModel {
                survey_id: Set(survey_id),
                cell: Set(key),
                responses: Set(total),
                aggregates: Set(piece.to_text()),
            });
        }
    }
    for chunk in keep.chunks(CHUNK) {
        let statement = release_cell::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([release_cell::Column::SurveyId, release_cell::Column::Cell])
                    .update_column(release_cell::Column::Aggregates)
                    .to_owned(),
            )
            .into_query();
        db.execute(&statement).await?;
    }
    let hour = hour_of(now);
    for (survey_id, cells) in release {
        super::tally::add(
            db,
            survey_id,
            &released(cells.iter().map(|(_, _, p)| p), hour),
        )
        .await?;
        // The integrity panel's clusters move with the batch too.
        let mut clustered: Vec<(i32, UnitKey, &str)> = Vec::new();
        for (_, _, p) in &cells {
            for ((unit, pattern), n) in &p.patterns {
                for _ in 0..*n {
                    clustered.push((survey_id, *unit, pattern.as_str()));
                }
            }
        }
        super::clusters::count(db, now, clustered).await?;
        // A cell without a school counts its answers without theirs.
        let (own, pooled): (Vec<_>, Vec<_>) =
            cells.iter().partition(|(c, _, _)| c.school.is_some());
        for (keys, counted_as) in [(own, CountedAs::Cell), (pooled, CountedAs::WithoutSchool)] {
            let keys: Vec<String> = keys.into_iter().map(|(_, k, _)| k.clone()).collect();
            count_cells(db, survey_id, &keys, hour, counted_as).await?;
        }
        release_cell::Entity::delete_many()
            .filter(release_cell::Column::SurveyId.eq(survey_id))
            .filter(release_cell::Column::Cell.is_in(cells.into_iter().map(|(_, k, _)| k)))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// What of a counted response's place stays: its cell's, or less.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CountedAs {
    /// Its cell, school included.
    Cell,
    /// Its cell has no school: the response loses its own.
    WithoutSchool,
    /// Settled at the close under its area alone (no school, no band).
    Area,
    /// Settled at the close under the county alone (no area either).
    County,
}

/// The cells' responses counted with the release's hour and as much of their place as
/// `counted_as` keeps; the invitations they answered shown answered, except at the close (a
/// block there spans strata, and the invitations' counts per stratum would move by fewer than
/// five).
async fn count_cells(
    db: &impl ConnectionTrait,
    survey_id: i32,
    keys: &[String],
    hour: DateTime<Utc>,
    counted_as: CountedAs,
) -> Result<(), DbErr> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut update = response::Entity::update_many()
        .col_expr(response::Column::Released, Expr::value(1i16))
        .col_expr(response::Column::SubmittedHour, Expr::value(hour))
        .col_expr(
            response::Column::ReleaseCell,
            Expr::value(Option::<String>::None),
        );
    if counted_as != CountedAs::Cell {
        update = update.col_expr(response::Column::SchoolId, Expr::value(Option::<i32>::None));
    }
    if matches!(counted_as, CountedAs::Area | CountedAs::County) {
        update = update.col_expr(response::Column::Band, Expr::value(Option::<i16>::None));
    }
    if counted_as == CountedAs::County {
        update = update
            .col_expr(response::Column::AreaId, Expr::value(Option::<i32>::None))
            .col_expr(
                response::Column::AreaClass,
                Expr::value(Option::<String>::None),
            );
    }
    update
        .filter(response::Column::SurveyId.eq(survey_id))
        .filter(response::Column::ReleaseCell.is_in(keys.iter().cloned()))
        .exec(db)
        .await?;
    if matches!(counted_as, CountedAs::Cell | CountedAs::WithoutSchool) {
        // Shown answered at the batch's hour, like the responses: a school's daily progress
        // then moves by batches, never by one answer's own hour.
        invitation::Entity::update_many()
            .col_expr(
                invitation::Column::ReleaseCell,
                Expr::value(Option::<String>::None),
            )
            .col_expr(invitation::Column::AnsweredAt, Expr::value(hour))
            .filter(invitation::Column::SurveyId.eq(survey_id))
            .filter(invitation::Column::ReleaseCell.is_in(keys.iter().cloned()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// What the close did with the answers still waiting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    pub counted: i64,
    pub withheld: i64,
}

/// Settles the survey's waiting answers (at the close, or once its window has passed): each
/// cell counted under its area or the county where its group's leftovers make five there, the
/// rest kept and counted nowhere; the invitations of both keep showing pending.
pub async fn settle_survey(
    db: &impl ConnectionTrait,
    survey_id: i32,
    now: DateTime<Utc>,
) -> Result<Settled, DbErr> {
    // Taken by deleting them: a second server settling at the same moment waits for this
    // one's commit and then finds nothing, so nothing is counted twice.
    let rows = release_cell::Entity::delete_many()
        .filter(release_cell::Column::SurveyId.eq(survey_id))
        .exec_with_returning(db)
        .await?;
    let mut settled = Settled::default();
    if rows.is_empty() {
        return Ok(settled);
    }
    let mut cells = Vec::with_capacity(rows.len());
    for r in rows {
        let (cell, piece) = read_cell(survey_id, &r.cell, &r.aggregates)?;
        cells.push((cell, r.responses, piece, r.cell));
    }
    let decisions = settle(
        &cells
            .iter()
            .map(|(c, n, _, _)| (*c, *n))
            .collect::<Vec<_>>(),
    );
    let hour = hour_of(now);
    let mut pieces = Vec::new();
    let (mut in_areas, mut in_county, mut withheld) = (Vec::new(), Vec::new(), Vec::new());
    for ((_, n, piece, key), d) in cells.into_iter().zip(decisions) {
        match d {
            Settlement::Counted(area) => {
                settled.counted += n;
                pieces.push(settled_piece(&piece, area));
                match area {
                    AreaScope::Area(_) => in_areas.push(key),
                    AreaScope::WholeCounty => in_county.push(key),
                }
            }
            Settlement::Withheld => {
                settled.withheld += n;
                withheld.push(key);
            }
        }
    }
    if !pieces.is_empty() {
        super::tally::add(db, survey_id, &released(&pieces, hour)).await?;
    }
    count_cells(db, survey_id, &in_areas, hour, CountedAs::Area).await?;
    count_cells(db, survey_id, &in_county, hour, CountedAs::County).await?;
    if !withheld.is_empty() {
        response::Entity::update_many()
            .col_expr(response::Column::Released, Expr::value(2i16))
            .col_expr(
                response::Column::ReleaseCell,
                Expr::value(Option::<String>::None),
            )
            .filter(response::Column::SurveyId.eq(survey_id))
            .filter(response::Column::ReleaseCell.is_in(withheld.iter().cloned()))
            .exec(db)
            .await?;
    }
    // The withheld answers' invitations keep their cell, so they go on showing as pending:
    // a status that changed alone would say who answered last.
    Ok(settled)
}

/// How many answers wait in the survey's cells.
pub async fn waiting(db: &impl ConnectionTrait, survey_id: i32) -> Result<i64, DbErr> {
    let n: Option<Option<i64>> = release_cell::Entity::find()
        .select_only()
        // SUM of a BIGINT is NUMERIC on PostgreSQL.
        .column_as(
            Expr::expr(release_cell::Column::Responses.sum()).cast_as(Alias::new("BIGINT")),
            "n",
        )
        .filter(release_cell::Column::SurveyId.eq(survey_id))
        .into_tuple()
        .one(db)
        .await?;
    Ok(n.flatten().unwrap_or(0))
}

/// How many answers the close kept out of every figure.
pub async fn withheld(db: &impl ConnectionTrait, survey_id: i32) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    response::Entity::find()
        .filter(response::Column::SurveyId.eq(survey_id))
        .filter(response::Column::Released.eq(2i16))
        .count(db)
        .await
}

/// The (group, school, band) cells the survey releases school by school.
pub async fn own_cells(db: &impl ConnectionTrait, survey_id: i32) -> Result<OwnCells, DbErr> {
    let text: Option<Option<String>> = survey::Entity::find_by_id(survey_id)
        .select_only()
        .column(survey::Column::OwnCells)
        .into_tuple()
        .one(db)
        .await?;
    match text.flatten() {
        None => Ok(OwnCells::default()),
        Some(t) => OwnCells::parse(&t)
            .ok_or_else(|| super::corrupt("survey", survey_id, format!("own cells `{t}`"))),
    }
}

/// Fixes the survey's own cells at its first opening (never changed after: a cell's batches
/// must stay the same cell's).
pub async fn fix_own_cells(
    db: &impl ConnectionTrait,
    survey_id: i32,
    own: &OwnCells,
) -> Result<(), DbErr> {
    survey::Entity::update_many()
        .col_expr(survey::Column::OwnCells, Expr::value(own.to_text()))
        .filter(survey::Column::Id.eq(survey_id))
        .filter(survey::Column::OwnCells.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Clears the survey's waiting cells (before a rebuild writes them again).
pub async fn clear(db: &impl ConnectionTrait, survey_id: i32) -> Result<(), DbErr> {
    release_cell::Entity::delete_many()
        .filter(release_cell::Column::SurveyId.eq(survey_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Writes waiting cells as a rebuild computed them (their count and piece).
pub async fn put(
    db: &impl ConnectionTrait,
    survey_id: i32,
    cells: &BTreeMap<String, (i64, Aggregates)>,
) -> Result<(), DbErr> {
    let rows: Vec<release_cell::ActiveModel> = cells
        .iter()
        .map(|(k, (n, p))| release_cell::ActiveModel {
            survey_id: Set(survey_id),
            cell: Set(k.clone()),
            responses: Set(*n),
            aggregates: Set(p.to_text()),
        })
        .collect();
    for chunk in rows.chunks(CHUNK) {
        release_cell::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await?;
    }
    Ok(())
}
