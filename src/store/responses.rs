//! Responses: anonymous answers, stored with their stratum in the same transaction that marks
//! the invitation answered or takes the open channel's place.
use crate::domain::invitation::InvitationStatus;
use crate::entity::{invitation, response, submission_receipt};
use chrono::{DateTime, Timelike, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

pub use crate::entity::response::Model as ResponseRow;

/// A time rounded down to its hour: what is kept of when someone answered.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t)
}

/// Records a submission's nonce; false if it was recorded before (a retried submit).
pub async fn take_receipt(db: &impl ConnectionTrait, nonce_hash: &str) -> Result<bool, DbErr> {
    let inserted = submission_receipt::Entity::insert(submission_receipt::ActiveModel {
        nonce_hash: Set(nonce_hash.to_owned()),
    })
    .on_conflict(
        OnConflict::column(submission_receipt::Column::NonceHash)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(inserted == 1)
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
    /// Item id → option code, as JSON.
    pub answers: String,
    pub comment: Option<String>,
}

pub async fn insert(db: &impl ConnectionTrait, new: NewResponse) -> Result<i64, DbErr> {
    // A random id: the order of ids says nothing about the order of answers.
    let id = loop {
        let id = rand::random::<i64>() & i64::MAX;
        if id != 0 {
            break id;
        }
    };
    response::Entity::insert(response::ActiveModel {
        id: Set(id),
        survey_id: Set(new.survey_id),
        questionnaire_id: Set(new.questionnaire_id),
        booklet: Set(new.booklet),
        grp: Set(new.group),
        area_id: Set(new.area_id),
        area_class: Set(new.area_class),
        school_id: Set(new.school_id),
        band: Set(new.band),
        source: Set(new.source.to_owned()),
        submitted_hour: Set(hour_of(Utc::now())),
        completion_seconds: Set(new.completion_seconds.min(i32::MAX as u32) as i32),
        too_fast: Set(new.too_fast),
        straight_lined: Set(new.straight_lined),
        answers: Set(new.answers),
        comment: Set(new.comment),
    })
    .exec_without_returning(db)
    .await?;
    Ok(id)
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
