//! Invitations: one per drawn person; answered once, or revoked when replaced.
use super::draws::PickKind;
use crate::domain::invitation::InvitationStatus;
use crate::entity::{draw_pick, frame_person, invitation};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use std::collections::HashMap;

pub use crate::entity::invitation::Model as InvitationRow;

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<InvitationRow>, DbErr> {
    let Ok(id) = i32::try_from(id) else {
        return Ok(None);
    };
    // Not `.one()`: its `LIMIT ?` makes SQLite re-plan the statement on every call (a bound
    // LIMIT expires the prepared statement), and this lookup runs on every respondent request.
    Ok(invitation::Entity::find_by_id(id).all(db).await?.pop())
}

/// An invitation with the contact data it is sent to.
#[derive(Debug, Clone, FromQueryResult)]
pub struct ExportRow {
    pub id: i32,
    pub grp: String,
    pub area_id: i32,
    pub school_id: Option<i32>,
    pub band: Option<i16>,
    pub grade: Option<i16>,
    pub status: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub external_id: Option<String>,
}

/// The survey's invitations that still work (pending or answered), with contact data while the
/// rosters are kept.
pub async fn list_live(db: &impl ConnectionTrait, survey_id: i32) -> Result<Vec<ExportRow>, DbErr> {
    let invitations = invitation::Entity::find()
        .filter(invitation::Column::SurveyId.eq(survey_id))
        .filter(invitation::Column::Status.ne(InvitationStatus::Revoked.code()))
        .order_by_asc(invitation::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<i32> = invitations
        .iter()
        .filter_map(|i| i.frame_person_id)
        .collect();
    let mut people: HashMap<i32, frame_person::Model> = HashMap::with_capacity(ids.len());
    // In pieces: SQLite binds at most 32,766 values in one statement.
    for chunk in ids.chunks(10_000) {
        let found = frame_person::Entity::find()
            .filter(frame_person::Column::SurveyId.eq(survey_id))
            .filter(frame_person::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        people.extend(found.into_iter().map(|p| (p.id, p)));
    }
    Ok(invitations
        .into_iter()
        .map(|i| {
            let person = i.frame_person_id.and_then(|id| people.get(&id));
            ExportRow {
                id: i.id,
                grp: i.grp,
                area_id: i.area_id,
                school_id: i.school_id,
                band: i.band,
                grade: i.grade,
                status: i.status,
                name: person.and_then(|p| p.name.clone()),
                phone: person.and_then(|p| p.phone.clone()),
                external_id: person.map(|p| p.external_id.clone()),
            }
        })
        .collect())
}

/// Counts per status: (pending, answered, revoked).
pub async fn status_counts(
    db: &impl ConnectionTrait,
    survey_id: i32,
) -> Result<(u64, u64, u64), DbErr> {
    let mut out = [0u64; 3];
    for (i, s) in [
        InvitationStatus::Pending,
        InvitationStatus::Answered,
        InvitationStatus::Revoked,
    ]
    .iter()
    .enumerate()
    {
        out[i] = invitation::Entity::find()
            .filter(invitation::Column::SurveyId.eq(survey_id))
            .filter(invitation::Column::Status.eq(s.code()))
            .count(db)
            .await?;
    }
    Ok((out[0], out[1], out[2]))
}

/// Which invitations a release of reserves replaces.
pub struct ReleaseFilter {
    pub group: String,
    pub area_id: Option<i32>,
    pub band: Option<i16>,
    /// Only invitations issued at or before this time (non-responders after a chosen wait).
    pub issued_before: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReleaseOutcome {
    /// Non-responders replaced by a reserve.
    pub replaced: u64,
    /// Non-responders left as they were: their stratum's reserves are used up.
    pub without_reserve: u64,
}

/// Replaces pending invitations of the current draw with the next reserves of their stratum
/// (call inside a transaction). The replaced invitations are revoked.
pub async fn release_reserves(
    db: &impl ConnectionTrait,
    survey_id: i32,
    draw_id: i32,
    filter: &ReleaseFilter,
) -> Result<ReleaseOutcome, DbErr> {
    let now = Utc::now();
    let mut query = invitation::Entity::find()
        .filter(invitation::Column::SurveyId.eq(survey_id))
        .filter(invitation::Column::Status.eq(InvitationStatus::Pending.code()))
        .filter(invitation::Column::Grp.eq(filter.group.as_str()))
        .filter(invitation::Column::CreatedAt.lte(filter.issued_before));
    if let Some(a) = filter.area_id {
        query = query.filter(invitation::Column::AreaId.eq(a));
    }
    if let Some(b) = filter.band {
        query = query.filter(invitation::Column::Band.eq(b));
    }
    let pending = query.order_by_asc(invitation::Column::Id).all(db).await?;
    let mut reserves: HashMap<(i32, Option<i16>), Vec<draw_pick::Model>> = HashMap::new();
    for pick in draw_pick::Entity::find()
        .filter(draw_pick::Column::DrawId.eq(draw_id))
        .filter(draw_pick::Column::Grp.eq(filter.group.as_str()))
        .filter(draw_pick::Column::Kind.eq(PickKind::Reserve.code()))
        .filter(draw_pick::Column::InvitationId.is_null())
        .filter(draw_pick::Column::FramePersonId.is_not_null())
        .order_by_desc(draw_pick::Column::Rank)
        .all(db)
        .await?
    {
        reserves
            .entry((pick.area_id, pick.band))
            .or_default()
            .push(pick);
    }
    let mut outcome = ReleaseOutcome::default();
    for old in pending {
        // Reserves are listed by descending rank, so pop() takes the next in order.
        let Some(pick) = reserves
            .get_mut(&(old.area_id, old.band))
            .and_then(Vec::pop)
        else {
            outcome.without_reserve += 1;
            continue;
        };
        let person = match pick.frame_person_id {
            Some(id) => frame_person::Entity::find_by_id(id).one(db).await?,
            None => None,
        };
        let Some(person) = person else {
            outcome.without_reserve += 1;
            continue;
        };
        let new = super::insert_row(
            db,
            invitation::ActiveModel {
                survey_id: Set(survey_id),
                draw_id: Set(draw_id),
                frame_person_id: Set(Some(person.id)),
                grp: Set(old.grp.clone()),
                area_id: Set(old.area_id),
                school_id: Set(person.school_id),
                band: Set(old.band),
                grade: Set(person.grade),
                status: Set(InvitationStatus::Pending.code().to_owned()),
                created_at: Set(now),
                ..Default::default()
            },
        )
        .await?;
        // Revoke only if still pending: an answer that arrived meanwhile wins.
        let revoked = invitation::Entity::update_many()
            .col_expr(
                invitation::Column::Status,
                Expr::value(InvitationStatus::Revoked.code()),
            )
            .col_expr(invitation::Column::RevokedAt, Expr::value(now))
            .col_expr(invitation::Column::ReplacedBy, Expr::value(new.id))
            .filter(invitation::Column::Id.eq(old.id))
            .filter(invitation::Column::Status.eq(InvitationStatus::Pending.code()))
            .exec(db)
            .await?;
        if revoked.rows_affected != 1 {
            invitation::Entity::delete_by_id(new.id).exec(db).await?;
            continue;
        }
        super::update_row(
            db,
            draw_pick::ActiveModel {
                id: Set(pick.id),
                invitation_id: Set(Some(new.id)),
                ..Default::default()
            },
        )
        .await?;
        outcome.replaced += 1;
    }
    Ok(outcome)
}
