//! Rosters (sampling frames). They hold personal data: never logged, purged on request.
use crate::domain::frame::{Person, RosterRow};
use crate::domain::geography::Geography;
use crate::domain::group::{GroupMap, RespondentGroup};
use crate::domain::strata::{Stratum, band_of};
use crate::entity::frame_person;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use std::collections::HashMap;

/// A group code read from a roster row.
fn group_of(code: &str, survey_id: i32) -> Result<RespondentGroup, DbErr> {
    code.parse().map_err(|_| {
        super::corrupt(
            "frame_person of survey",
            survey_id,
            format!("unknown group `{code}`"),
        )
    })
}

impl TryFrom<frame_person::Model> for Person {
    type Error = DbErr;

    fn try_from(m: frame_person::Model) -> Result<Self, DbErr> {
        let bad = |what: String| super::corrupt("frame_person", m.id, what);
        Ok(Person {
            group: m
                .grp
                .parse()
                .map_err(|_| bad(format!("unknown group `{}`", m.grp)))?,
            grade: m
                .grade
                .map(|g| u8::try_from(g).map_err(|_| bad(format!("grade {g}"))))
                .transpose()?,
            line: u64::try_from(m.line).map_err(|_| bad(format!("line {}", m.line)))?,
            id: m.id,
            external_id: m.external_id,
            area_id: m.area_id,
            school_id: m.school_id,
            name: m.name,
            phone: m.phone,
            class: m.class_name,
        })
    }
}

/// Removes a group's roster (inside the transaction that stores the new one).
pub async fn clear(
    db: &impl ConnectionTrait,
    survey_id: i32,
    group: RespondentGroup,
) -> Result<(), DbErr> {
    frame_person::Entity::delete_many()
        .filter(frame_person::Column::SurveyId.eq(survey_id))
        .filter(frame_person::Column::Grp.eq(group.code()))
        .exec(db)
        .await?;
    Ok(())
}

/// Adds people to a group's roster.
pub async fn insert(
    db: &impl ConnectionTrait,
    survey_id: i32,
    group: RespondentGroup,
    rows: &[RosterRow],
    geo: &Geography,
) -> Result<(), DbErr> {
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        return insert_columns(db, survey_id, group, rows, geo).await;
    }
    for chunk in rows.chunks(500) {
        let models = chunk.iter().map(|r| frame_person::ActiveModel {
            survey_id: Set(survey_id),
            grp: Set(group.code().to_owned()),
            external_id: Set(r.external_id.clone()),
            area_id: Set(geo.area_ids[r.area]),
            school_id: Set(r.school.map(|s| geo.school_ids[s])),
            grade: Set(r.grade.map(i16::from)),
            name: Set(r.name.clone()),
            phone: Set(r.phone.clone()),
            line: Set(r.line.min(i32::MAX as u64) as i32),
            class_name: Set(r.class.clone()),
            ..Default::default()
        });
        frame_person::Entity::insert_many(models)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Between the values of one column, and for a missing value, in [`insert_columns`]: control
/// characters no checked roster value holds (ids, names and classes refuse them, phones are
/// digits).
const NEXT: char = '\u{1f}';
const NONE: char = '\u{1e}';

/// Each column split back by [`NEXT`], [`NONE`] read as null.
const INSERT_COLUMNS: &str = "INSERT INTO frame_person \
     (survey_id, grp, external_id, area_id, school_id, grade, name, phone, line, class_name) \
     SELECT $1, $2, t.e, t.a::int4, t.s::int4, t.g::int2, t.n, t.p, t.l::int4, t.c \
     FROM unnest(\
       string_to_array($3, E'\\x1f', E'\\x1e'), string_to_array($4, E'\\x1f', E'\\x1e'), \
       string_to_array($5, E'\\x1f', E'\\x1e'), string_to_array($6, E'\\x1f', E'\\x1e'), \
       string_to_array($7, E'\\x1f', E'\\x1e'), string_to_array($8, E'\\x1f', E'\\x1e'), \
       string_to_array($9, E'\\x1f', E'\\x1e'), string_to_array($10, E'\\x1f', E'\\x1e')\
     ) AS t(e, a, s, g, n, p, l, c)";

/// PostgreSQL: the piece in one statement of ten parameters, a column each (its values joined,
/// split again by `string_to_array`), not a row of ten parameters a person. PostgreSQL plans a
/// statement of 5,000 parameters anew each time, and that, not the rows, took 100,000 people
/// 10.8 s.
async fn insert_columns(
    db: &impl ConnectionTrait,
    survey_id: i32,
    group: RespondentGroup,
    rows: &[RosterRow],
    geo: &Geography,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut columns: [String; 8] = Default::default();
    for (i, r) in rows.iter().enumerate() {
        let values: [Option<String>; 8] = [
            Some(r.external_id.clone()),
            Some(geo.area_ids[r.area].to_string()),
            r.school.map(|s| geo.school_ids[s].to_string()),
            r.grade.map(|g| g.to_string()),
            r.name.clone(),
            r.phone.clone(),
            Some(r.line.min(i32::MAX as u64).to_string()),
            r.class.clone(),
        ];
        for (column, value) in columns.iter_mut().zip(values) {
            if i > 0 {
                column.push(NEXT);
            }
            match value {
                Some(v) if v.contains([NEXT, NONE]) => {
                    return Err(DbErr::Custom(format!(
                        "roster line {} holds a control character",
                        r.line
                    )));
                }
                Some(v) => column.push_str(&v),
                None => column.push(NONE),
            }
        }
    }
    let mut values: Vec<sea_orm::Value> = vec![survey_id.into(), group.code().into()];
    values.extend(columns.into_iter().map(sea_orm::Value::from));
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        INSERT_COLUMNS,
        values,
    ))
    .await?;
    Ok(())
}

/// Persons per group, for the groups that have a roster.
pub async fn group_sizes(
    db: &impl ConnectionTrait,
    survey_id: i32,
) -> Result<GroupMap<Option<u64>>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        grp: String,
        n: i64,
    }
    let rows = frame_person::Entity::find()
        .select_only()
        .column(frame_person::Column::Grp)
        .column_as(
            sea_orm::sea_query::ExprTrait::count(Expr::col(frame_person::Column::Id)),
            "n",
        )
        .filter(frame_person::Column::SurveyId.eq(survey_id))
        .group_by(frame_person::Column::Grp)
        .into_model::<Row>()
        .all(db)
        .await?;
    let mut sizes = GroupMap::default();
    for r in rows {
        sizes[group_of(&r.grp, survey_id)?] = Some(r.n.max(0) as u64);
    }
    Ok(sizes)
}

/// Persons per stratum, in the order of [`Stratum::all`]; `None` for groups without a roster.
pub async fn stratum_sizes(
    db: &impl ConnectionTrait,
    survey_id: i32,
    geo: &Geography,
) -> Result<Vec<Option<u64>>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        grp: String,
        area_id: i32,
        grade: Option<i16>,
        n: i64,
    }
    let rows = frame_person::Entity::find()
        .select_only()
        .column(frame_person::Column::Grp)
        .column(frame_person::Column::AreaId)
        .column(frame_person::Column::Grade)
        .column_as(
            sea_orm::sea_query::ExprTrait::count(Expr::col(frame_person::Column::Id)),
            "n",
        )
        .filter(frame_person::Column::SurveyId.eq(survey_id))
        .group_by(frame_person::Column::Grp)
        .group_by(frame_person::Column::AreaId)
        .group_by(frame_person::Column::Grade)
        .into_model::<Row>()
        .all(db)
        .await?;
    let strata = Stratum::all(geo.areas.len());
    let mut sizes: Vec<Option<u64>> = vec![None; strata.len()];
    let mut counted = Vec::with_capacity(rows.len());
    for r in &rows {
        counted.push((group_of(&r.grp, survey_id)?, r));
    }
    for (i, s) in strata.iter().enumerate() {
        if counted.iter().any(|(g, _)| *g == s.group) {
            sizes[i] = Some(0);
        }
    }
    for (group, r) in counted {
        let area = geo.area_index(r.area_id).ok_or_else(|| {
            super::corrupt(
                "frame_person of survey",
                survey_id,
                format!("area {} is not the survey's", r.area_id),
            )
        })?;
        let grade = r
            .grade
            .map(|g| {
                u8::try_from(g).map_err(|_| {
                    super::corrupt("frame_person of survey", survey_id, format!("grade {g}"))
                })
            })
            .transpose()?;
        // Rosters of groups with grade bands were refused at upload unless every grade falls
        // in a band; the other groups have none.
        let band = grade.and_then(|g| band_of(group, g));
        let stratum = Stratum { group, area, band };
        if let Some(i) = strata.iter().position(|s| *s == stratum) {
            sizes[i] = Some(sizes[i].unwrap_or(0) + r.n.max(0) as u64);
        }
    }
    Ok(sizes)
}

/// What changes whenever a roster of the survey is replaced or added.
pub async fn fingerprint(
    db: &impl ConnectionTrait,
    survey_id: i32,
) -> Result<crate::domain::draw::FrameFingerprint, DbErr> {
    use sea_orm::sea_query::ExprTrait;
    let row: Option<(i64, Option<i32>)> = frame_person::Entity::find()
        .select_only()
        .column_as(Expr::col(frame_person::Column::Id).count(), "n")
        .column_as(Expr::col(frame_person::Column::Id).max(), "last")
        .filter(frame_person::Column::SurveyId.eq(survey_id))
        .into_tuple()
        .all(db)
        .await?
        .pop();
    let (persons, last_id) = row.unwrap_or((0, None));
    Ok(crate::domain::draw::FrameFingerprint { persons, last_id })
}

/// Every person of the survey's rosters.
pub async fn all(db: &impl ConnectionTrait, survey_id: i32) -> Result<Vec<Person>, DbErr> {
    frame_person::Entity::find()
        .filter(frame_person::Column::SurveyId.eq(survey_id))
        .order_by_asc(frame_person::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Person::try_from)
        .collect()
}

/// Up to `limit` people of a group's roster after person `after`, in id order (the file's
/// order): a big frame is read page by page, never held whole. Each page is a seek on the
/// (survey, group) index, whose entries are in id order: no sort.
pub async fn page(
    db: &impl ConnectionTrait,
    survey_id: i32,
    group: RespondentGroup,
    after: i32,
    limit: u64,
) -> Result<Vec<Person>, DbErr> {
    frame_person::Entity::find()
        .filter(frame_person::Column::SurveyId.eq(survey_id))
        .filter(frame_person::Column::Grp.eq(group.code()))
        .filter(frame_person::Column::Id.gt(after))
        .order_by_asc(frame_person::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(Person::try_from)
        .collect()
}

/// The people of the survey's rosters with these ids (in id order).
pub async fn by_ids(
    db: &impl ConnectionTrait,
    survey_id: i32,
    ids: &[i32],
) -> Result<Vec<Person>, DbErr> {
    let mut people = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let found = frame_person::Entity::find()
            .filter(frame_person::Column::SurveyId.eq(survey_id))
            .filter(frame_person::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for m in found {
            people.push(Person::try_from(m)?);
        }
    }
    people.sort_by_key(|p| p.id);
    Ok(people)
}

/// One person of the survey's rosters.
pub async fn find(
    db: &impl ConnectionTrait,
    survey_id: i32,
    id: i32,
) -> Result<Option<Person>, DbErr> {
    frame_person::Entity::find_by_id(id)
        .filter(frame_person::Column::SurveyId.eq(survey_id))
        .one(db)
        .await?
        .map(Person::try_from)
        .transpose()
}

/// The first rows of a group's roster, to show the organiser what was read.
pub async fn sample(
    db: &impl ConnectionTrait,
    survey_id: i32,
    group: RespondentGroup,
    limit: u64,
) -> Result<Vec<Person>, DbErr> {
    frame_person::Entity::find()
        .filter(frame_person::Column::SurveyId.eq(survey_id))
        .filter(frame_person::Column::Grp.eq(group.code()))
        .order_by_asc(frame_person::Column::Line)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(Person::try_from)
        .collect()
}

/// Phone numbers of the other groups' rosters: phone → (group, external id).
pub async fn phones_outside(
    db: &impl ConnectionTrait,
    survey_id: i32,
    group: RespondentGroup,
) -> Result<HashMap<String, (RespondentGroup, String)>, DbErr> {
    // Only the three columns: the other rosters may hold many people.
    let rows: Vec<(String, String, Option<String>)> = frame_person::Entity::find()
        .select_only()
        .column(frame_person::Column::Grp)
        .column(frame_person::Column::ExternalId)
        .column(frame_person::Column::Phone)
        .filter(frame_person::Column::SurveyId.eq(survey_id))
        .filter(frame_person::Column::Grp.ne(group.code()))
        .filter(frame_person::Column::Phone.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for (grp, external_id, phone) in rows {
        if let Some(phone) = phone {
            out.insert(phone, (group_of(&grp, survey_id)?, external_id));
        }
    }
    Ok(out)
}

/// Deletes every roster of the survey, and what still pointed at a person: the draw records'
/// roster ids (学号 and the like) and links, and the invitations' links, grades and the hour
/// each was answered (which, beside a response's hour, told whose it was).
pub async fn purge(db: &impl ConnectionTrait, survey_id: i32) -> Result<u64, DbErr> {
    use crate::entity::{draw, draw_pick, invitation};
    let draws: Vec<i32> = draw::Entity::find()
        .filter(draw::Column::SurveyId.eq(survey_id))
        .all(db)
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect();
    draw_pick::Entity::update_many()
        .col_expr(draw_pick::Column::ExternalId, Expr::value(""))
        .col_expr(
            draw_pick::Column::FramePersonId,
            Expr::value(Option::<i32>::None),
        )
        .filter(draw_pick::Column::DrawId.is_in(draws))
        .exec(db)
        .await?;
    invitation::Entity::update_many()
        .col_expr(
            invitation::Column::FramePersonId,
            Expr::value(Option::<i32>::None),
        )
        .col_expr(invitation::Column::Grade, Expr::value(Option::<i16>::None))
        .col_expr(
            invitation::Column::AnsweredAt,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .filter(invitation::Column::SurveyId.eq(survey_id))
        .exec(db)
        .await?;
    Ok(frame_person::Entity::delete_many()
        .filter(frame_person::Column::SurveyId.eq(survey_id))
        .exec(db)
        .await?
        .rows_affected)
}
