//! Responses: anonymous answers, stored with their stratum in the same transaction that marks
//! the invitation answered or takes the open channel's place.
use crate::domain::invitation::InvitationStatus;
use crate::domain::tally::{Aggregates, ResponseFacts};
use crate::entity::{invitation, response};
use chrono::{DateTime, Timelike, Utc};
use sea_orm::sea_query::{Expr, InsertStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QueryTrait, Set,
};

pub use crate::entity::response::Model as ResponseRow;

/// A time rounded down to its hour: what is kept of when someone answered.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t)
}

/// Marks an invitation answered if it is still pending; false if it was not.
pub async fn mark_answered(db: &impl ConnectionTrait, invitation_id: i32) -> Result<bool, DbErr> {
    let result = invitation::Entity::update_many()
        .col_expr(
            invitation::Column::Status,
            Expr::value(InvitationStatus::Answered.code()),
        )
        .col_expr(
            invitation::Column::AnsweredAt,
            Expr::value(hour_of(Utc::now())),
        )
        .filter(invitation::Column::Id.eq(invitation_id))
        .filter(invitation::Column::Status.eq(InvitationStatus::Pending.code()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// A response to store.
pub struct NewResponse {
    pub survey_id: i32,
    pub questionnaire_id: i32,
    pub booklet: String,
    pub group: String,
    pub area_id: Option<i32>,
    pub area_class: Option<String>,
    pub school_id: Option<i32>,
    pub band: Option<i16>,
    pub source: &'static str,
    pub completion_seconds: u32,
    pub too_fast: bool,
    pub straight_lined: bool,
    /// (item id, option code) in item order.
    pub answers: Vec<(String, String)>,
    pub comment: Option<String>,
    /// Already rounded to the hour.
    pub submitted_hour: DateTime<Utc>,
}

impl NewResponse {
    /// What the tally learns from this response.
    pub fn facts(&self) -> ResponseFacts {
        ResponseFacts {
            group: self.group.clone(),
            area_id: self.area_id.unwrap_or(0),
            school_id: self.school_id.unwrap_or(0),
            band: self.band.unwrap_or(-1),
            too_fast: self.too_fast,
            straight_lined: self.straight_lined,
            hour: self.submitted_hour,
            answers: self.answers.clone(),
        }
    }
}

/// The tally's view of a stored response.
pub fn facts_of(r: &ResponseRow) -> ResponseFacts {
    let answers: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&r.answers).unwrap_or_default();
    ResponseFacts {
        group: r.grp.clone(),
        area_id: r.area_id.unwrap_or(0),
        school_id: r.school_id.unwrap_or(0),
        band: r.band.unwrap_or(-1),
        too_fast: r.too_fast,
        straight_lined: r.straight_lined,
        hour: r.submitted_hour,
        answers: answers
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap_or("").to_owned()))
            .collect(),
    }
}

/// Stores a response and adds it to the tally (call inside the submission's transaction).
pub async fn record(
    db: &impl ConnectionTrait,
    new: NewResponse,
    tally: &Aggregates,
) -> Result<(), DbErr> {
    insert_many(db, [&new]).await?;
    super::tally::add(db, new.survey_id, tally).await
}

/// Rows per multi-row insert (16 values each: well under both databases' bind limits).
const CHUNK: usize = 256;

/// Stores responses with multi-row inserts (call inside a transaction).
pub async fn insert_many<'a>(
    db: &impl ConnectionTrait,
    responses: impl IntoIterator<Item = &'a NewResponse>,
) -> Result<(), DbErr> {
    for statement in inserts(responses) {
        db.execute(&statement).await?;
    }
    Ok(())
}

/// The multi-row inserts that store `responses`.
pub fn inserts<'a>(responses: impl IntoIterator<Item = &'a NewResponse>) -> Vec<InsertStatement> {
    let rows: Vec<response::ActiveModel> = responses.into_iter().map(row).collect();
    rows.chunks(CHUNK)
        .map(|chunk| response::Entity::insert_many(chunk.to_vec()).into_query())
        .collect()
}

fn row(new: &NewResponse) -> response::ActiveModel {
    let answers: serde_json::Map<String, serde_json::Value> = new
        .answers
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    // A random id: the order of ids says nothing about the order of answers.
    let id = loop {
        let id = rand::random::<i64>() & i64::MAX;
        if id != 0 {
            break id;
        }
    };
    response::ActiveModel {
        id: Set(id),
        survey_id: Set(new.survey_id),
        questionnaire_id: Set(new.questionnaire_id),
        booklet: Set(new.booklet.clone()),
        grp: Set(new.group.clone()),
        area_id: Set(new.area_id),
        area_class: Set(new.area_class.clone()),
        school_id: Set(new.school_id),
        band: Set(new.band),
        source: Set(new.source.to_owned()),
        submitted_hour: Set(new.submitted_hour),
        completion_seconds: Set(new.completion_seconds.min(i32::MAX as u32) as i32),
        too_fast: Set(new.too_fast),
        straight_lined: Set(new.straight_lined),
        answers: Set(serde_json::Value::Object(answers).to_string()),
        comment: Set(new.comment.clone()),
    }
}

pub async fn count(db: &impl ConnectionTrait, survey_id: i32) -> Result<u64, DbErr> {
    response::Entity::find()
        .filter(response::Column::SurveyId.eq(survey_id))
        .count(db)
        .await
}

pub async fn list(db: &impl ConnectionTrait, survey_id: i32) -> Result<Vec<ResponseRow>, DbErr> {
    response::Entity::find()
        .filter(response::Column::SurveyId.eq(survey_id))
        .order_by_asc(response::Column::SubmittedHour)
        .all(db)
        .await
}
