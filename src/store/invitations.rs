//! Invitations: one per drawn person; answered once, or revoked when replaced.
use crate::domain::group::RespondentGroup;
use crate::domain::invitation::{
    Addressed, Invitation, InvitationStatus, ReleaseFilter, ReleaseOutcome, StatusCount,
};
use crate::domain::strata::Band;
use crate::entity::{draw_pick, frame_person, invitation};
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use std::collections::HashMap;

impl TryFrom<invitation::Model> for Invitation {
    type Error = DbErr;

    fn try_from(m: invitation::Model) -> Result<Self, DbErr> {
        let bad = |what: String| super::corrupt("invitation", m.id, what);
        let group = m
            .grp
            .parse()
            .map_err(|_| bad(format!("unknown group `{}`", m.grp)))?;
        Ok(Invitation {
            band: super::draws::band("invitation", m.id, group, m.band)?,
            grade: m
                .grade
                .map(|g| u8::try_from(g).map_err(|_| bad(format!("grade {g}"))))
                .transpose()?,
            status: m.status.parse().map_err(bad)?,
            group,
            id: m.id,
            survey_id: m.survey_id,
            draw_id: m.draw_id,
            area_id: m.area_id,
            school_id: m.school_id,
            created_at: m.created_at,
            replaced_by: m.replaced_by,
        })
    }
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<Invitation>, DbErr> {
    let Ok(id) = i32::try_from(id) else {
        return Ok(None);
    };
    // Not `.one()`: its `LIMIT ?` makes SQLite re-plan the statement on every call (a bound
    // LIMIT expires the prepared statement), and this lookup runs on every respondent request.
    invitation::Entity::find_by_id(id)
        .all(db)
        .await?
        .pop()
        .map(Invitation::try_from)
        .transpose()
}

/// The survey's invitations that still work (pending or answered), with contact data while the
/// rosters are kept; with `replaced_of`, also that draw's revoked ones (replaced by reserves).
pub async fn list_live(
    db: &impl ConnectionTrait,
    survey_id: i32,
    replaced_of: Option<i32>,
) -> Result<Vec<Addressed>, DbErr> {
    let live = invitation::Column::Status.ne(InvitationStatus::Revoked.code());
    let wanted = match replaced_of {
        Some(d) => Condition::any()
            .add(live)
            .add(invitation::Column::DrawId.eq(d)),
        None => Condition::all().add(live),
    };
    let invitations = invitation::Entity::find()
        .filter(invitation::Column::SurveyId.eq(survey_id))
        .filter(wanted)
        .order_by_asc(invitation::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<i32> = invitations
        .iter()
        .filter_map(|i| i.frame_person_id)
        .collect();
    // The invitations a reserve's pick was issued (the rest went to the sample).
    let mut reserve: std::collections::HashSet<i32> = std::collections::HashSet::new();
    let draw_ids: std::collections::BTreeSet<i32> = invitations.iter().map(|i| i.draw_id).collect();
    for d in draw_ids {
        let picks = crate::entity::draw_pick::Entity::find()
            .filter(crate::entity::draw_pick::Column::DrawId.eq(d))
            .filter(
                crate::entity::draw_pick::Column::Kind
                    .eq(crate::domain::draw::PickKind::Reserve.code()),
            )
            .filter(crate::entity::draw_pick::Column::InvitationId.is_not_null())
            .all(db)
            .await?;
        reserve.extend(picks.into_iter().filter_map(|p| p.invitation_id));
    }
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
    invitations
        .into_iter()
        .map(|i| {
            let person = i.frame_person_id.and_then(|id| people.get(&id));
            Ok(Addressed {
                name: person.and_then(|p| p.name.clone()),
                phone: person.and_then(|p| p.phone.clone()),
                external_id: person.map(|p| p.external_id.clone()),
                class: person.and_then(|p| p.class_name.clone()),
                reserve: reserve.contains(&i.id),
                invitation: shown(i)?,
            })
        })
        .collect()
}

/// An invitation as county users see it: answered only once its answer's cell is released.
fn shown(m: invitation::Model) -> Result<Invitation, DbErr> {
    let waiting = m.release_cell.is_some();
    let mut i = Invitation::try_from(m)?;
    i.status = i.status.shown(waiting);
    Ok(i)
}

/// The survey's invitations answered (by link or telephone), as stored: for the call list,
/// which must not send anyone to ring a person who has answered (whose answer may still be
/// waiting in its release cell, see [`shown`]).
pub async fn answered_ids(
    db: &impl ConnectionTrait,
    survey_id: i32,
) -> Result<std::collections::HashSet<i32>, DbErr> {
    Ok(invitation::Entity::find()
        .filter(invitation::Column::SurveyId.eq(survey_id))
        .filter(invitation::Column::Status.eq(InvitationStatus::Answered.code()))
        .select_only()
        .column(invitation::Column::Id)
        .into_tuple::<i32>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// How many invitations are pending, answered and revoked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub pending: u64,
    pub answered: u64,
    pub revoked: u64,
}

/// The draw in force, whose invitations are the ones counted: those of a draw replaced or
/// discarded before opening were never sent out as the survey's.
pub(super) async fn draw_in_force(
    db: &impl ConnectionTrait,
    survey_id: i32,
) -> Result<Option<i32>, DbErr> {
    Ok(super::draws::current(db, survey_id).await?.map(|d| d.id))
}

pub async fn status_counts(db: &impl ConnectionTrait, survey_id: i32) -> Result<Counts, DbErr> {
    let Some(draw) = draw_in_force(db, survey_id).await? else {
        return Ok(Counts::default());
    };
    // As county users see them: an answer still waiting in its release cell leaves its
    // invitation pending (`domain::release`).
    let count = |s: InvitationStatus, waiting: Option<bool>| {
        let mut q = invitation::Entity::find()
            .filter(invitation::Column::SurveyId.eq(survey_id))
            .filter(invitation::Column::DrawId.eq(draw))
            .filter(invitation::Column::Status.eq(s.code()));
        match waiting {
            Some(true) => q = q.filter(invitation::Column::ReleaseCell.is_not_null()),
            Some(false) => q = q.filter(invitation::Column::ReleaseCell.is_null()),
            None => {}
        }
        q.count(db)
    };
    Ok(Counts {
        pending: count(InvitationStatus::Pending, None).await?
            + count(InvitationStatus::Answered, Some(true)).await?,
        answered: count(InvitationStatus::Answered, Some(false)).await?,
        revoked: count(InvitationStatus::Revoked, None).await?,
    })
}

/// Invitations counted per stratum and state; `as_shown`: an answered one whose answer still
/// waits in its release cell counts as pending (what county users see, `domain::release`).
pub async fn counts_by_stratum(
    db: &impl ConnectionTrait,
    survey_id: i32,
    as_shown: bool,
) -> Result<Vec<StatusCount>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        grp: String,
        area_id: i32,
        band: Option<i16>,
        status: String,
        replaced: bool,
        waiting: bool,
        n: i64,
    }
    let Some(draw) = draw_in_force(db, survey_id).await? else {
        return Ok(Vec::new());
    };
    let rows = invitation::Entity::find()
        .select_only()
        .column(invitation::Column::Grp)
        .column(invitation::Column::AreaId)
        .column(invitation::Column::Band)
        .column(invitation::Column::Status)
        .column_as(invitation::Column::ReplacedBy.is_not_null(), "replaced")
        .column_as(invitation::Column::ReleaseCell.is_not_null(), "waiting")
        .column_as(
            sea_orm::sea_query::ExprTrait::count(Expr::col(invitation::Column::Id)),
            "n",
        )
        .filter(invitation::Column::SurveyId.eq(survey_id))
        .filter(invitation::Column::DrawId.eq(draw))
        .group_by(invitation::Column::Grp)
        .group_by(invitation::Column::AreaId)
        .group_by(invitation::Column::Band)
        .group_by(invitation::Column::Status)
        .group_by(invitation::Column::ReplacedBy.is_not_null())
        .group_by(invitation::Column::ReleaseCell.is_not_null())
        .into_model::<Row>()
        .all(db)
        .await?;
    rows.into_iter()
        .map(|r| {
            let bad = |what: String| super::corrupt("invitation of survey", survey_id, what);
            let group = r
                .grp
                .parse()
                .map_err(|_| bad(format!("unknown group `{}`", r.grp)))?;
            Ok(StatusCount {
                band: super::draws::band("invitation of survey", survey_id, group, r.band)?,
                status: r
                    .status
                    .parse::<InvitationStatus>()
                    .map_err(bad)?
                    .shown(as_shown && r.waiting),
                group,
                area_id: r.area_id,
                replaced: r.replaced,
                count: r.n.max(0) as u64,
            })
        })
        .collect()
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
        .filter(invitation::Column::Grp.eq(filter.group.code()))
        .filter(invitation::Column::CreatedAt.lte(filter.issued_before));
    if let Some(a) = filter.area_id {
        query = query.filter(invitation::Column::AreaId.eq(a));
    }
    if let Some(b) = filter.band {
        query = query.filter(invitation::Column::Band.eq(b.index() as i16));
    }
    let pending: Vec<Invitation> = query
        .order_by_asc(invitation::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Invitation::try_from)
        .collect::<Result<_, _>>()?;
    let mut reserves: HashMap<(i32, Option<Band>), std::collections::VecDeque<_>> = HashMap::new();
    for pick in super::draws::unreleased_reserves(db, draw_id, filter.group).await? {
        reserves
            .entry((pick.area_id, pick.band))
            .or_default()
            .push_back(pick);
    }
    let mut outcome = ReleaseOutcome::default();
    for old in pending {
        let Some(pick) = reserves
            .get_mut(&(old.area_id, old.band))
            .and_then(|r| r.pop_front())
        else {
            outcome.without_reserve += 1;
            continue;
        };
        let person = match pick.frame_person_id {
            Some(id) => super::frames::find(db, survey_id, id).await?,
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
                grp: Set(old.group.code().to_owned()),
                area_id: Set(old.area_id),
                school_id: Set(person.school_id),
                band: Set(old.band.map(|b| b.index() as i16)),
                grade: Set(person.grade.map(i16::from)),
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

/// The draw in force's live invitations (pending or answered) per group, school and band.
pub async fn counts_by_school(
    db: &impl ConnectionTrait,
    survey_id: i32,
) -> Result<Vec<(RespondentGroup, Option<i32>, Option<Band>, u64)>, DbErr> {
    let Some(draw) = draw_in_force(db, survey_id).await? else {
        return Ok(Vec::new());
    };
    let rows: Vec<(String, Option<i32>, Option<i16>, i64)> = invitation::Entity::find()
        .select_only()
        .column(invitation::Column::Grp)
        .column(invitation::Column::SchoolId)
        .column(invitation::Column::Band)
        .column_as(
            sea_orm::sea_query::ExprTrait::count(Expr::col(invitation::Column::Id)),
            "n",
        )
        .filter(invitation::Column::SurveyId.eq(survey_id))
        .filter(invitation::Column::DrawId.eq(draw))
        .filter(invitation::Column::Status.ne(InvitationStatus::Revoked.code()))
        .group_by(invitation::Column::Grp)
        .group_by(invitation::Column::SchoolId)
        .group_by(invitation::Column::Band)
        .into_tuple()
        .all(db)
        .await?;
    rows.into_iter()
        .map(|(grp, school, band, n)| {
            let bad = |what: String| super::corrupt("invitation of survey", survey_id, what);
            let group: RespondentGroup = grp
                .parse()
                .map_err(|_| bad(format!("unknown group `{grp}`")))?;
            Ok((
                group,
                school,
                super::draws::band("invitation of survey", survey_id, group, band)?,
                n.max(0) as u64,
            ))
        })
        .collect()
}
