//! Draws: what was drawn, from which frame, with which seed, by whom; and the picks in order.
use crate::domain::group::RespondentGroup;
use crate::domain::invitation::InvitationStatus;
use crate::entity::{draw, draw_pick, invitation};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickKind {
    Selected,
    Reserve,
}

impl PickKind {
    pub fn code(self) -> &'static str {
        match self {
            PickKind::Selected => "selected",
            PickKind::Reserve => "reserve",
        }
    }
}

/// One person a draw picked.
#[derive(Debug, Clone)]
pub struct Pick {
    pub frame_person_id: i32,
    pub external_id: String,
    pub group: RespondentGroup,
    pub area_id: i32,
    pub school_id: Option<i32>,
    pub band: Option<usize>,
    pub grade: Option<u8>,
    pub kind: PickKind,
    /// Position in the stratum's sample or reserve list.
    pub rank: usize,
}

pub struct NewDraw {
    pub survey_id: i32,
    pub seed: u64,
    pub frame_digest: String,
    pub algorithm: String,
    pub reserve_percent: u64,
    /// The quotas per stratum, as JSON.
    pub quotas: String,
    pub frame_size: usize,
    pub created_by: Option<i32>,
    pub created_by_name: String,
    pub picks: Vec<Pick>,
}

/// A recorded draw.
#[derive(Debug, Clone)]
pub struct StoredDraw {
    pub id: i32,
    pub survey_id: i32,
    pub seed: u64,
    pub frame_digest: String,
    pub algorithm: String,
    pub reserve_percent: u64,
    pub quotas: String,
    pub frame_size: u64,
    pub selected: u64,
    pub reserves: u64,
    pub superseded: bool,
    pub created_at: DateTime<Utc>,
    pub created_by_name: String,
}

impl From<draw::Model> for StoredDraw {
    fn from(m: draw::Model) -> Self {
        StoredDraw {
            id: m.id,
            survey_id: m.survey_id,
            seed: m.seed.parse().unwrap_or(0),
            frame_digest: m.frame_digest,
            algorithm: m.algorithm,
            reserve_percent: m.reserve_percent.max(0) as u64,
            quotas: m.quotas,
            frame_size: m.frame_size.max(0) as u64,
            selected: m.selected.max(0) as u64,
            reserves: m.reserves.max(0) as u64,
            superseded: m.superseded,
            created_at: m.created_at,
            created_by_name: m.created_by_name,
        }
    }
}

fn new_invitation(
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
        band: Set(p.band.map(|b| b as i16)),
        grade: Set(p.grade.map(i16::from)),
        status: Set(InvitationStatus::Pending.code().to_owned()),
        created_at: Set(now),
        ..Default::default()
    }
}

/// Records a draw (call inside a transaction): earlier draws are superseded and their
/// invitations revoked; every selected person gets an invitation.
pub async fn record(db: &impl ConnectionTrait, new: NewDraw) -> Result<StoredDraw, DbErr> {
    let now = Utc::now();
    draw::Entity::update_many()
        .col_expr(draw::Column::Superseded, Expr::value(true))
        .filter(draw::Column::SurveyId.eq(new.survey_id))
        .filter(draw::Column::Superseded.eq(false))
        .exec(db)
        .await?;
    invitation::Entity::update_many()
        .col_expr(
            invitation::Column::Status,
            Expr::value(InvitationStatus::Revoked.code()),
        )
        .col_expr(invitation::Column::RevokedAt, Expr::value(now))
        .filter(invitation::Column::SurveyId.eq(new.survey_id))
        .filter(invitation::Column::Status.eq(InvitationStatus::Pending.code()))
        .exec(db)
        .await?;
    let selected = new
        .picks
        .iter()
        .filter(|p| p.kind == PickKind::Selected)
        .count();
    let stored = super::insert_row(
        db,
        draw::ActiveModel {
            survey_id: Set(new.survey_id),
            seed: Set(new.seed.to_string()),
            frame_digest: Set(new.frame_digest),
            algorithm: Set(new.algorithm),
            reserve_percent: Set(new.reserve_percent as i32),
            quotas: Set(new.quotas),
            frame_size: Set(new.frame_size as i32),
            selected: Set(selected as i32),
            reserves: Set((new.picks.len() - selected) as i32),
            superseded: Set(false),
            created_at: Set(now),
            created_by: Set(new.created_by),
            created_by_name: Set(new.created_by_name),
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
                band: Set(p.band.map(|b| b as i16)),
                kind: Set(p.kind.code().to_owned()),
                rank: Set(p.rank as i32),
                invitation_id: Set(invitation_id),
                ..Default::default()
            },
        )
        .await?;
    }
    Ok(stored.into())
}

pub async fn find(
    db: &impl ConnectionTrait,
    survey_id: i32,
    draw_id: i32,
) -> Result<Option<StoredDraw>, DbErr> {
    Ok(draw::Entity::find_by_id(draw_id)
        .filter(draw::Column::SurveyId.eq(survey_id))
        .one(db)
        .await?
        .map(StoredDraw::from))
}

/// The survey's draws, newest first.
pub async fn list(db: &impl ConnectionTrait, survey_id: i32) -> Result<Vec<StoredDraw>, DbErr> {
    Ok(draw::Entity::find()
        .filter(draw::Column::SurveyId.eq(survey_id))
        .order_by_desc(draw::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(StoredDraw::from)
        .collect())
}

/// The draw in force (not superseded), if any.
pub async fn current(
    db: &impl ConnectionTrait,
    survey_id: i32,
) -> Result<Option<StoredDraw>, DbErr> {
    Ok(draw::Entity::find()
        .filter(draw::Column::SurveyId.eq(survey_id))
        .filter(draw::Column::Superseded.eq(false))
        .one(db)
        .await?
        .map(StoredDraw::from))
}

/// What a draw picked, in stratum and rank order.
pub async fn picks(
    db: &impl ConnectionTrait,
    draw_id: i32,
) -> Result<Vec<draw_pick::Model>, DbErr> {
    draw_pick::Entity::find()
        .filter(draw_pick::Column::DrawId.eq(draw_id))
        .order_by_asc(draw_pick::Column::Id)
        .all(db)
        .await
}
