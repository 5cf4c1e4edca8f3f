//! Rosters (sampling frames). They hold personal data: never logged, purged on request.
use super::geography::Geography;
use crate::domain::frame::RosterRow;
use crate::domain::group::RespondentGroup;
use crate::domain::strata::{Stratum, band_of};
use crate::entity::frame_person;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use std::collections::HashMap;

/// Replaces a group's roster (call inside a transaction).
pub async fn replace(
    db: &impl ConnectionTrait,
    survey_id: i32,
    group: RespondentGroup,
    rows: &[RosterRow],
    geo: &Geography,
) -> Result<(), DbErr> {
    frame_person::Entity::delete_many()
        .filter(frame_person::Column::SurveyId.eq(survey_id))
        .filter(frame_person::Column::Grp.eq(group.code()))
        .exec(db)
        .await?;
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
            ..Default::default()
        });
        frame_person::Entity::insert_many(models).exec(db).await?;
    }
    Ok(())
}

/// Persons per group, for the groups that have a roster.
pub async fn group_sizes(
    db: &impl ConnectionTrait,
    survey_id: i32,
) -> Result<[Option<u64>; 7], DbErr> {
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
    let mut sizes = [None; 7];
    for r in rows {
        if let Ok(g) = r.grp.parse::<RespondentGroup>() {
            sizes[g.index()] = Some(r.n.max(0) as u64);
        }
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
    let groups_present: Vec<RespondentGroup> =
        rows.iter().filter_map(|r| r.grp.parse().ok()).collect();
    for (i, s) in strata.iter().enumerate() {
        if groups_present.contains(&s.group) {
            sizes[i] = Some(0);
        }
    }
    for r in rows {
        let (Ok(group), Some(area)) = (r.grp.parse::<RespondentGroup>(), geo.area_index(r.area_id))
        else {
            continue;
        };
        let band = r.grade.and_then(|g| band_of(group, g as u8));
        let stratum = Stratum { group, area, band };
        if let Some(i) = strata.iter().position(|s| *s == stratum) {
            sizes[i] = Some(sizes[i].unwrap_or(0) + r.n.max(0) as u64);
        }
    }
    Ok(sizes)
}

/// A person of a roster, as stored.
#[derive(Debug, Clone, FromQueryResult)]
pub struct StoredPerson {
    pub id: i32,
    pub grp: String,
    pub external_id: String,
    pub area_id: i32,
    pub school_id: Option<i32>,
    pub grade: Option<i16>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub line: i32,
}

/// Every person of the survey's rosters.
pub async fn all(db: &impl ConnectionTrait, survey_id: i32) -> Result<Vec<StoredPerson>, DbErr> {
    frame_person::Entity::find()
        .filter(frame_person::Column::SurveyId.eq(survey_id))
        .order_by_asc(frame_person::Column::Id)
        .into_model::<StoredPerson>()
        .all(db)
        .await
}

/// The first rows of a group's roster, to show the organiser what was read.
pub async fn sample(
    db: &impl ConnectionTrait,
    survey_id: i32,
    group: RespondentGroup,
    limit: u64,
) -> Result<Vec<StoredPerson>, DbErr> {
    frame_person::Entity::find()
        .filter(frame_person::Column::SurveyId.eq(survey_id))
        .filter(frame_person::Column::Grp.eq(group.code()))
        .order_by_asc(frame_person::Column::Line)
        .limit(limit)
        .into_model::<StoredPerson>()
        .all(db)
        .await
}

/// Phone numbers of the other groups' rosters: phone → (group, external id).
pub async fn phones_outside(
    db: &impl ConnectionTrait,
    survey_id: i32,
    group: RespondentGroup,
) -> Result<HashMap<String, (String, String)>, DbErr> {
    let rows = frame_person::Entity::find()
        .filter(frame_person::Column::SurveyId.eq(survey_id))
        .filter(frame_person::Column::Grp.ne(group.code()))
        .filter(frame_person::Column::Phone.is_not_null())
        .into_model::<StoredPerson>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|p| p.phone.map(|ph| (ph, (p.grp, p.external_id))))
        .collect())
}

/// Deletes every roster of the survey (invitations and draw records keep no link to them).
pub async fn purge(db: &impl ConnectionTrait, survey_id: i32) -> Result<u64, DbErr> {
    Ok(frame_person::Entity::delete_many()
        .filter(frame_person::Column::SurveyId.eq(survey_id))
        .exec(db)
        .await?
        .rows_affected)
}
