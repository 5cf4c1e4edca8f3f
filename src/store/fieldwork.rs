//! Telephone interviews and paper booklets: interviewers' assignments, the calls made, paper
//! print runs, their booklets and the operators' entries.
use crate::domain::fieldwork::{BookletStatus, Call, CallOutcome, CallRecord, PaperEntry};
use crate::domain::group::RespondentGroup;
use crate::entity::{
    call_attempt, interviewer_assignment, paper_batch, paper_booklet, paper_entry,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use std::collections::BTreeMap;

/// Every assignment of a survey: (user id, group).
pub async fn assignments(
    db: &impl ConnectionTrait,
    survey_id: i32,
) -> Result<Vec<(i32, RespondentGroup)>, DbErr> {
    interviewer_assignment::Entity::find()
        .filter(interviewer_assignment::Column::SurveyId.eq(survey_id))
        .order_by_asc(interviewer_assignment::Column::UserId)
        .all(db)
        .await?
        .into_iter()
        .map(|m| {
            let g = m.grp.parse().map_err(|_| {
                super::corrupt(
                    "interviewer_assignment",
                    m.user_id,
                    format!("group `{}`", m.grp),
                )
            })?;
            Ok((m.user_id, g))
        })
        .collect()
}

/// The groups a user is assigned in a survey.
pub async fn assigned_groups(
    db: &impl ConnectionTrait,
    survey_id: i32,
    user_id: i32,
) -> Result<Vec<RespondentGroup>, DbErr> {
    interviewer_assignment::Entity::find()
        .filter(interviewer_assignment::Column::SurveyId.eq(survey_id))
        .filter(interviewer_assignment::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| {
            m.grp.parse().map_err(|_| {
                super::corrupt(
                    "interviewer_assignment",
                    m.user_id,
                    format!("group `{}`", m.grp),
                )
            })
        })
        .collect()
}

/// The surveys a user is assigned groups in.
pub async fn surveys_assigned(db: &impl ConnectionTrait, user_id: i32) -> Result<Vec<i32>, DbErr> {
    let mut ids: Vec<i32> = interviewer_assignment::Entity::find()
        .filter(interviewer_assignment::Column::UserId.eq(user_id))
        .select_only()
        .column(interviewer_assignment::Column::SurveyId)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    ids.sort_unstable();
    Ok(ids)
}

/// Replaces a user's groups in a survey.
pub async fn set_assignment(
    db: &impl ConnectionTrait,
    survey_id: i32,
    user_id: i32,
    groups: &[RespondentGroup],
) -> Result<(), DbErr> {
    interviewer_assignment::Entity::delete_many()
        .filter(interviewer_assignment::Column::SurveyId.eq(survey_id))
        .filter(interviewer_assignment::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    if groups.is_empty() {
        return Ok(());
    }
    interviewer_assignment::Entity::insert_many(groups.iter().map(|g| {
        interviewer_assignment::ActiveModel {
            survey_id: Set(survey_id),
            user_id: Set(user_id),
            grp: Set(g.code().to_owned()),
        }
    }))
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Removes every assignment of a user (their role or county changed).
pub async fn clear_user_assignments(db: &impl ConnectionTrait, user_id: i32) -> Result<(), DbErr> {
    interviewer_assignment::Entity::delete_many()
        .filter(interviewer_assignment::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Records one call.
pub async fn record_call(
    db: &impl ConnectionTrait,
    survey_id: i32,
    invitation_id: i32,
    user_id: i32,
    call: &CallRecord,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    call_attempt::Entity::insert_many([call_attempt::ActiveModel {
        survey_id: Set(survey_id),
        invitation_id: Set(invitation_id),
        user_id: Set(user_id),
        outcome: Set(call.outcome.code().to_owned()),
        callback_at: Set(call.callback_at),
        note: Set(call.note.clone()),
        at: Set(at),
        ..Default::default()
    }])
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Every call of a survey, oldest first.
pub async fn calls(db: &impl ConnectionTrait, survey_id: i32) -> Result<Vec<Call>, DbErr> {
    call_attempt::Entity::find()
        .filter(call_attempt::Column::SurveyId.eq(survey_id))
        .order_by_asc(call_attempt::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|m| {
            Ok(Call {
                outcome: CallOutcome::parse(&m.outcome).ok_or_else(|| {
                    super::corrupt("call_attempt", m.id, format!("outcome `{}`", m.outcome))
                })?,
                invitation_id: m.invitation_id,
                user_id: m.user_id,
                callback_at: m.callback_at,
                note: m.note,
                at: m.at,
            })
        })
        .collect()
}

/// Forgets what calls' notes said (with the rosters' personal data).
pub async fn purge_notes(db: &impl ConnectionTrait, survey_id: i32) -> Result<(), DbErr> {
    call_attempt::Entity::update_many()
        .col_expr(
            call_attempt::Column::Note,
            Expr::value(Option::<String>::None),
        )
        .filter(call_attempt::Column::SurveyId.eq(survey_id))
        .exec(db)
        .await?;
    Ok(())
}

/// A paper print run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub id: i32,
    pub survey_id: i32,
    pub group: RespondentGroup,
    pub area_id: Option<i32>,
    pub school_id: Option<i32>,
    pub copies: u32,
    /// One booklet per drawn person (each answers as their invitation), not a stratum's places.
    pub for_invitations: bool,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<paper_batch::Model> for Batch {
    type Error = DbErr;

    fn try_from(m: paper_batch::Model) -> Result<Batch, DbErr> {
        Ok(Batch {
            group: m
                .grp
                .parse()
                .map_err(|_| super::corrupt("paper_batch", m.id, format!("group `{}`", m.grp)))?,
            id: m.id,
            survey_id: m.survey_id,
            area_id: m.area_id,
            school_id: m.school_id,
            copies: u32::try_from(m.copies).unwrap_or(0),
            for_invitations: m.for_invitations,
            created_at: m.created_at,
        })
    }
}

/// Creates a print run with its blank booklets numbered from 1: `copies` of them, or one per
/// invitation of `invitations` (in that order).
pub async fn create_batch(
    db: &impl ConnectionTrait,
    survey_id: i32,
    group: RespondentGroup,
    area_id: Option<i32>,
    school_id: Option<i32>,
    copies: u32,
    invitations: Option<&[i32]>,
) -> Result<Batch, DbErr> {
    let copies = invitations.map_or(copies, |i| u32::try_from(i.len()).unwrap_or(0));
    let batch: Batch = super::insert_row(
        db,
        paper_batch::ActiveModel {
            survey_id: Set(survey_id),
            grp: Set(group.code().to_owned()),
            area_id: Set(area_id),
            school_id: Set(school_id),
            copies: Set(i32::try_from(copies).unwrap_or(i32::MAX)),
            for_invitations: Set(invitations.is_some()),
            created_at: Set(Utc::now()),
            ..Default::default()
        },
    )
    .await?
    .try_into()?;
    let numbers: Vec<i32> = (1..=i32::try_from(copies).unwrap_or(0)).collect();
    for chunk in numbers.chunks(500) {
        paper_booklet::Entity::insert_many(chunk.iter().map(|n| paper_booklet::ActiveModel {
            survey_id: Set(survey_id),
            batch_id: Set(batch.id),
            number: Set(*n),
            invitation_id: Set(
                invitations.and_then(|i| i.get(usize::try_from(*n - 1).ok()?).copied()),
            ),
            status: Set(BookletStatus::Blank.code().to_owned()),
            entered_at: Set(None),
            ..Default::default()
        }))
        .exec_without_returning(db)
        .await?;
    }
    Ok(batch)
}

pub async fn batches(db: &impl ConnectionTrait, survey_id: i32) -> Result<Vec<Batch>, DbErr> {
    paper_batch::Entity::find()
        .filter(paper_batch::Column::SurveyId.eq(survey_id))
        .order_by_asc(paper_batch::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Batch::try_from)
        .collect()
}

pub async fn batch(
    db: &impl ConnectionTrait,
    survey_id: i32,
    id: i32,
) -> Result<Option<Batch>, DbErr> {
    paper_batch::Entity::find_by_id(id)
        .filter(paper_batch::Column::SurveyId.eq(survey_id))
        .all(db)
        .await?
        .pop()
        .map(Batch::try_from)
        .transpose()
}

/// How many booklets of each print run stand at each status.
pub async fn booklet_counts(
    db: &impl ConnectionTrait,
    survey_id: i32,
) -> Result<BTreeMap<(i32, &'static str), u64>, DbErr> {
    let rows: Vec<(i32, String, i64)> = paper_booklet::Entity::find()
        .filter(paper_booklet::Column::SurveyId.eq(survey_id))
        .select_only()
        .column(paper_booklet::Column::BatchId)
        .column(paper_booklet::Column::Status)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .group_by(paper_booklet::Column::BatchId)
        .group_by(paper_booklet::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    rows.into_iter()
        .map(|(b, s, n)| {
            let status = BookletStatus::parse(&s).ok_or_else(|| {
                super::corrupt("paper_booklet of batch", b, format!("status `{s}`"))
            })?;
            Ok(((b, status.code()), u64::try_from(n).unwrap_or(0)))
        })
        .collect()
}

/// One paper booklet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booklet {
    pub id: i32,
    pub batch_id: i32,
    pub number: u32,
    /// The drawn person it was printed for, if it was.
    pub invitation_id: Option<i32>,
    pub status: BookletStatus,
}

/// A booklet by its print run and number (its serial), in a survey.
pub async fn booklet(
    db: &impl ConnectionTrait,
    survey_id: i32,
    batch_id: i32,
    number: u32,
) -> Result<Option<Booklet>, DbErr> {
    let Ok(number) = i32::try_from(number) else {
        return Ok(None);
    };
    paper_booklet::Entity::find()
        .filter(paper_booklet::Column::SurveyId.eq(survey_id))
        .filter(paper_booklet::Column::BatchId.eq(batch_id))
        .filter(paper_booklet::Column::Number.eq(number))
        .all(db)
        .await?
        .pop()
        .map(|m| {
            Ok(Booklet {
                status: BookletStatus::parse(&m.status).ok_or_else(|| {
                    super::corrupt("paper_booklet", m.id, format!("status `{}`", m.status))
                })?,
                id: m.id,
                batch_id: m.batch_id,
                number: u32::try_from(m.number).unwrap_or(0),
                invitation_id: m.invitation_id,
            })
        })
        .transpose()
}

/// Moves a booklet from one status to another; false when it no longer stood at `from` (a
/// concurrent entry moved it first).
pub async fn move_booklet(
    db: &impl ConnectionTrait,
    id: i32,
    from: BookletStatus,
    to: BookletStatus,
    at: Option<DateTime<Utc>>,
) -> Result<bool, DbErr> {
    let done = paper_booklet::Entity::update_many()
        .col_expr(paper_booklet::Column::Status, Expr::value(to.code()))
        .col_expr(paper_booklet::Column::EnteredAt, Expr::value(at))
        .filter(paper_booklet::Column::Id.eq(id))
        .filter(paper_booklet::Column::Status.eq(from.code()))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// A booklet's entries so far: (round, operator's user id, entry).
pub async fn entries(
    db: &impl ConnectionTrait,
    booklet_id: i32,
) -> Result<Vec<(i16, i32, PaperEntry)>, DbErr> {
    paper_entry::Entity::find()
        .filter(paper_entry::Column::BookletId.eq(booklet_id))
        .order_by_asc(paper_entry::Column::Round)
        .all(db)
        .await?
        .into_iter()
        .map(|m| {
            let entry = PaperEntry::from_text(&m.entry)
                .ok_or_else(|| super::corrupt("paper_entry of booklet", m.booklet_id, "entry"))?;
            Ok((m.round, m.user_id, entry))
        })
        .collect()
}

/// One round's entry of a booklet and when it was made.
pub async fn entry_of_round(
    db: &impl ConnectionTrait,
    booklet_id: i32,
    round: i16,
) -> Result<Option<(PaperEntry, DateTime<Utc>)>, DbErr> {
    paper_entry::Entity::find()
        .filter(paper_entry::Column::BookletId.eq(booklet_id))
        .filter(paper_entry::Column::Round.eq(round))
        .all(db)
        .await?
        .pop()
        .map(|m| {
            let entry = PaperEntry::from_text(&m.entry)
                .ok_or_else(|| super::corrupt("paper_entry of booklet", m.booklet_id, "entry"))?;
            Ok((entry, m.entered_at))
        })
        .transpose()
}

pub async fn put_entry(
    db: &impl ConnectionTrait,
    booklet_id: i32,
    round: i16,
    user_id: i32,
    entry: &PaperEntry,
) -> Result<(), DbErr> {
    paper_entry::Entity::insert_many([paper_entry::ActiveModel {
        booklet_id: Set(booklet_id),
        round: Set(round),
        user_id: Set(user_id),
        entry: Set(entry.to_text()),
        entered_at: Set(Utc::now()),
    }])
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Removes one entry of a booklet.
pub async fn remove_entry(
    db: &impl ConnectionTrait,
    booklet_id: i32,
    round: i16,
) -> Result<(), DbErr> {
    paper_entry::Entity::delete_many()
        .filter(paper_entry::Column::BookletId.eq(booklet_id))
        .filter(paper_entry::Column::Round.eq(round))
        .exec(db)
        .await?;
    Ok(())
}

/// Removes a booklet's entries (once it is stored as a response, or set aside).
pub async fn clear_entries(db: &impl ConnectionTrait, booklet_id: i32) -> Result<(), DbErr> {
    paper_entry::Entity::delete_many()
        .filter(paper_entry::Column::BookletId.eq(booklet_id))
        .exec(db)
        .await?;
    Ok(())
}

/// A print run's booklets in order: (number, invitation printed for).
pub async fn booklets_of(
    db: &impl ConnectionTrait,
    batch_id: i32,
) -> Result<Vec<(u32, Option<i32>)>, DbErr> {
    Ok(paper_booklet::Entity::find()
        .filter(paper_booklet::Column::BatchId.eq(batch_id))
        .order_by_asc(paper_booklet::Column::Number)
        .all(db)
        .await?
        .into_iter()
        .map(|m| (u32::try_from(m.number).unwrap_or(0), m.invitation_id))
        .collect())
}

/// The invitations that have a paper booklet not set aside (a person gets one booklet).
pub async fn invitations_on_paper(
    db: &impl ConnectionTrait,
    survey_id: i32,
) -> Result<std::collections::HashSet<i32>, DbErr> {
    Ok(paper_booklet::Entity::find()
        .filter(paper_booklet::Column::SurveyId.eq(survey_id))
        .filter(paper_booklet::Column::InvitationId.is_not_null())
        .filter(paper_booklet::Column::Status.ne(BookletStatus::Void.code()))
        .select_only()
        .column(paper_booklet::Column::InvitationId)
        .into_tuple::<Option<i32>>()
        .all(db)
        .await?
        .into_iter()
        .flatten()
        .collect())
}
