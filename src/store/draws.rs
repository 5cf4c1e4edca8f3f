//! Draws: what was drawn, from which frame, with which seed, by whom; and the picks in order.
use crate::domain::draw::{
    Algorithm, Discarded, Draw, FrameFingerprint, NewDraw, Pick, PickKind, RecordedPick,
    RecordedQuota, Seed, SeedSource,
};
use crate::domain::invitation::InvitationStatus;
use crate::domain::strata::Band;
use crate::entity::{draw, draw_pick, invitation};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

fn count(table: &str, id: i32, what: &str, value: i32) -> Result<u64, DbErr> {
    u64::try_from(value).map_err(|_| super::corrupt(table, id, format!("{what} {value}")))
}

/// A stored band index of `group`, checked.
pub(crate) fn band(
    table: &str,
    id: impl std::fmt::Display + Copy,
    group: crate::domain::group::RespondentGroup,
    stored: Option<i16>,
) -> Result<Option<Band>, DbErr> {
    stored
        .map(|b| {
            usize::try_from(b)
                .ok()
                .and_then(|i| Band::of(group, i))
                .ok_or_else(|| super::corrupt(table, id, format!("band {b} of {group}")))
        })
        .transpose()
}

impl TryFrom<draw::Model> for Draw {
    type Error = DbErr;

    fn try_from(m: draw::Model) -> Result<Self, DbErr> {
        let id = m.id;
        let quotas: Vec<RecordedQuota> = serde_json::from_str(&m.quotas)
            .map_err(|e| super::corrupt("draw", id, format!("quotas: {e}")))?;
        if let Some(q) = quotas
            .iter()
            .find(|q| q.band.is_some_and(|b| b.grades(q.group).is_none()))
        {
            return Err(super::corrupt(
                "draw",
                id,
                format!("quota band of {}", q.group),
            ));
        }
        let algorithm = Algorithm::of(&m.algorithm)
            .ok_or_else(|| super::corrupt("draw", id, format!("algorithm `{}`", m.algorithm)))?;
        let seed = Seed {
            source: SeedSource::parse(&m.seed_source).ok_or_else(|| {
                super::corrupt("draw", id, format!("seed source `{}`", m.seed_source))
            })?,
            text: m.seed,
            note: m.seed_note,
        };
        // A v1 draw's generator is seeded by a 64-bit number.
        if algorithm == Algorithm::V1 && seed.number().is_none() {
            return Err(super::corrupt("draw", id, format!("seed `{}`", seed.text)));
        }
        let geography = m
            .geography
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| super::corrupt("draw", id, format!("geography: {e}")))?;
        let frame_fingerprint = m
            .frame_fingerprint
            .as_deref()
            .map(|f| {
                FrameFingerprint::parse(f)
                    .ok_or_else(|| super::corrupt("draw", id, format!("frame fingerprint `{f}`")))
            })
            .transpose()?;
        let discarded = match (m.discarded_at, m.discarded_by_name) {
            (Some(at), by) => Some(Discarded {
                at,
                by: by.unwrap_or_default(),
            }),
            (None, _) => None,
        };
        Ok(Draw {
            geography,
            frame_fingerprint,
            discarded,
            seed,
            reserve_percent: count("draw", id, "reserve percent", m.reserve_percent)?,
            frame_size: count("draw", id, "frame size", m.frame_size)?,
            selected: count("draw", id, "selected", m.selected)?,
            reserves: count("draw", id, "reserves", m.reserves)?,
            id,
            survey_id: m.survey_id,
            frame_digest: m.frame_digest,
            algorithm: m.algorithm,
            version: algorithm,
            quotas,
            superseded: m.superseded,
            created_at: m.created_at,
            created_by_name: m.created_by_name,
        })
    }
}

impl TryFrom<draw_pick::Model> for RecordedPick {
    type Error = DbErr;

    fn try_from(m: draw_pick::Model) -> Result<Self, DbErr> {
        let bad = |what: String| super::corrupt("draw_pick", m.id, what);
        let group = m
            .grp
            .parse()
            .map_err(|_| bad(format!("unknown group `{}`", m.grp)))?;
        Ok(RecordedPick {
            band: band("draw_pick", m.id, group, m.band)?,
            kind: PickKind::parse(&m.kind).ok_or_else(|| bad(format!("kind `{}`", m.kind)))?,
            rank: usize::try_from(m.rank).map_err(|_| bad(format!("rank {}", m.rank)))?,
            group,
            id: m.id,
            frame_person_id: m.frame_person_id,
            external_id: m.external_id,
            area_id: m.area_id,
            invitation_id: m.invitation_id,
        })
    }
}

pub(crate) fn new_invitation(
    survey_id: i32,
    draw_id: i32,
    p: &Pick,
    now: DateTime<Utc>,
) -> invitation::ActiveModel {
    invitation::ActiveModel {
        survey_id: Set(survey_id),
        draw_id: Set(draw_id),
        frame_person_id: Set(Some(p.frame_person_id)),
        grp: Set(p.group.code().to_owned()),
        area_id: Set(p.area_id),
        school_id: Set(p.school_id),
        band: Set(p.band.map(|b| b.index() as i16)),
        grade: Set(p.grade.map(i16::from)),
        status: Set(InvitationStatus::Pending.code().to_owned()),
        created_at: Set(now),
        ..Default::default()
    }
}

/// Records a draw (call inside a transaction): earlier draws are superseded and their
/// invitations revoked; every selected person gets an invitation.
pub async fn record(db: &impl ConnectionTrait, new: NewDraw) -> Result<Draw, DbErr> {
    let now = Utc::now();
    draw::Entity::update_many()
        .col_expr(draw::Column::Superseded, Expr::value(true))
        .filter(draw::Column::SurveyId.eq(new.survey_id))
        .filter(draw::Column::Superseded.eq(false))
        .exec(db)
        .await?;
    revoke_pending(db, invitation::Column::SurveyId.eq(new.survey_id), now).await?;
    let selected = new
        .picks
        .iter()
        .filter(|p| p.kind == PickKind::Selected)
        .count();
    let quotas = serde_json::to_string(&new.quotas).map_err(|e| DbErr::Json(e.to_string()))?;
    let stored = super::insert_row(
        db,
        draw::ActiveModel {
            survey_id: Set(new.survey_id),
            seed: Set(new.seed.text),
            seed_source: Set(new.seed.source.code().to_owned()),
            seed_note: Set(new.seed.note),
            geography: Set(Some(
                serde_json::to_string(&new.geography).map_err(|e| DbErr::Json(e.to_string()))?,
            )),
            frame_digest: Set(new.frame_digest),
            algorithm: Set(new.algorithm.text().to_owned()),
            reserve_percent: Set(new.reserve_percent as i32),
            quotas: Set(quotas),
            frame_size: Set(new.frame_size as i32),
            selected: Set(selected as i32),
            reserves: Set((new.picks.len() - selected) as i32),
            superseded: Set(false),
            created_at: Set(now),
            created_by: Set(new.created_by),
            created_by_name: Set(new.created_by_name),
            frame_fingerprint: Set(Some(new.frame_fingerprint.code())),
            ..Default::default()
        },
    )
    .await?;
    for p in &new.picks {
        let invitation_id = match p.kind {
            PickKind::Selected => Some(
                super::insert_row(db, new_invitation(new.survey_id, stored.id, p, now))
                    .await?
                    .id,
            ),
            PickKind::Reserve => None,
        };
        super::insert_row(
            db,
            draw_pick::ActiveModel {
                draw_id: Set(stored.id),
                frame_person_id: Set(Some(p.frame_person_id)),
                external_id: Set(p.external_id.clone()),
                grp: Set(p.group.code().to_owned()),
                area_id: Set(p.area_id),
                band: Set(p.band.map(|b| b.index() as i16)),
                kind: Set(p.kind.code().to_owned()),
                rank: Set(p.rank as i32),
                invitation_id: Set(invitation_id),
                ..Default::default()
            },
        )
        .await?;
    }
    stored.try_into()
}

/// Discards the survey's draw in force (call inside a transaction): it is superseded, marked
/// discarded, and its pending invitations revoked. False when it is not in force (anymore).
pub async fn discard(
    db: &impl ConnectionTrait,
    survey_id: i32,
    draw_id: i32,
    by: &str,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    let result = draw::Entity::update_many()
        .col_expr(draw::Column::Superseded, Expr::value(true))
        .col_expr(draw::Column::DiscardedAt, Expr::value(now))
        .col_expr(draw::Column::DiscardedByName, Expr::value(by))
        .filter(draw::Column::Id.eq(draw_id))
        .filter(draw::Column::SurveyId.eq(survey_id))
        .filter(draw::Column::Superseded.eq(false))
        .exec(db)
        .await?;
    if result.rows_affected != 1 {
        return Ok(false);
    }
    revoke_pending(db, invitation::Column::DrawId.eq(draw_id), now).await?;
    Ok(true)
}

/// Revokes the pending invitations `which` selects (a draw's, or a whole survey's).
async fn revoke_pending(
    db: &impl ConnectionTrait,
    which: sea_orm::sea_query::SimpleExpr,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    invitation::Entity::update_many()
        .col_expr(
            invitation::Column::Status,
            Expr::value(InvitationStatus::Revoked.code()),
        )
        .col_expr(invitation::Column::RevokedAt, Expr::value(now))
        .filter(which)
        .filter(invitation::Column::Status.eq(InvitationStatus::Pending.code()))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn find(
    db: &impl ConnectionTrait,
    survey_id: i32,
    draw_id: i32,
) -> Result<Option<Draw>, DbErr> {
    draw::Entity::find_by_id(draw_id)
        .filter(draw::Column::SurveyId.eq(survey_id))
        .one(db)
        .await?
        .map(Draw::try_from)
        .transpose()
}

/// The survey's draws, newest first.
pub async fn list(db: &impl ConnectionTrait, survey_id: i32) -> Result<Vec<Draw>, DbErr> {
    draw::Entity::find()
        .filter(draw::Column::SurveyId.eq(survey_id))
        .order_by_desc(draw::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Draw::try_from)
        .collect()
}

/// The draw in force (not superseded), if any.
pub async fn current(db: &impl ConnectionTrait, survey_id: i32) -> Result<Option<Draw>, DbErr> {
    draw::Entity::find()
        .filter(draw::Column::SurveyId.eq(survey_id))
        .filter(draw::Column::Superseded.eq(false))
        .one(db)
        .await?
        .map(Draw::try_from)
        .transpose()
}

/// What a draw picked, in stratum and rank order.
pub async fn picks(db: &impl ConnectionTrait, draw_id: i32) -> Result<Vec<RecordedPick>, DbErr> {
    draw_pick::Entity::find()
        .filter(draw_pick::Column::DrawId.eq(draw_id))
        .order_by_asc(draw_pick::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(RecordedPick::try_from)
        .collect()
}

/// The reserves of a draw's group not yet released, in release order per (area, band).
pub async fn unreleased_reserves(
    db: &impl ConnectionTrait,
    draw_id: i32,
    group: crate::domain::group::RespondentGroup,
) -> Result<Vec<RecordedPick>, DbErr> {
    draw_pick::Entity::find()
        .filter(draw_pick::Column::DrawId.eq(draw_id))
        .filter(draw_pick::Column::Grp.eq(group.code()))
        .filter(draw_pick::Column::Kind.eq(PickKind::Reserve.code()))
        .filter(draw_pick::Column::InvitationId.is_null())
        .filter(draw_pick::Column::FramePersonId.is_not_null())
        .order_by_asc(draw_pick::Column::Rank)
        .all(db)
        .await?
        .into_iter()
        .map(RecordedPick::try_from)
        .collect()
}
