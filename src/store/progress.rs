//! The counts of a survey's progress per school and group, as county users may see them.
use crate::domain::group::RespondentGroup;
use crate::domain::invitation::InvitationStatus;
use crate::domain::progress::{Counted, DayCount, Tally};
use crate::domain::response::{HeldStatus, Source};
use crate::domain::strata::Band;
use crate::domain::survey::beijing;
use crate::entity::{held_answer, invitation, response};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Select,
};
use std::collections::BTreeMap;

/// Counts a selection per group and school.
async fn per_school<E: EntityTrait>(
    db: &impl ConnectionTrait,
    survey_id: i32,
    select: Select<E>,
    grp: E::Column,
    school: E::Column,
    what: Counted,
) -> Result<Vec<Tally>, DbErr> {
    let rows: Vec<(String, Option<i32>, i64)> = select
        .select_only()
        .column(grp)
        .column(school)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .group_by(grp)
        .group_by(school)
        .into_tuple()
        .all(db)
        .await?;
    rows.into_iter()
        .map(|(g, school_id, n)| {
            let group: RespondentGroup = g.parse().map_err(|_| {
                super::corrupt(
                    "progress of survey",
                    survey_id,
                    format!("unknown group `{g}`"),
                )
            })?;
            Ok(Tally {
                school_id,
                group,
                what,
                n: u64::try_from(n).unwrap_or(0),
            })
        })
        .collect()
}

/// The invitations of the draw in force (none before a draw).
fn invitations(survey_id: i32, draw: i32) -> Select<invitation::Entity> {
    invitation::Entity::find()
        .filter(invitation::Column::SurveyId.eq(survey_id))
        .filter(invitation::Column::DrawId.eq(draw))
}

/// Answers counted (released, `domain::release`) of a survey.
fn counted(survey_id: i32) -> Select<response::Entity> {
    response::Entity::find()
        .filter(response::Column::SurveyId.eq(survey_id))
        .filter(response::Column::Released.eq(1i16))
}

/// Every count of the survey's progress.
pub async fn tallies(db: &impl ConnectionTrait, survey_id: i32) -> Result<Vec<Tally>, DbErr> {
    use invitation::Column as I;
    let mut out = Vec::new();
    if let Some(draw) = super::invitations::draw_in_force(db, survey_id).await? {
        // As drawn: every invitation that does not replace another.
        let replacements = Query::select()
            .column(I::ReplacedBy)
            .from(invitation::Entity)
            .and_where(Expr::col(I::SurveyId).eq(survey_id))
            .and_where(Expr::col(I::ReplacedBy).is_not_null())
            .to_owned();
        let planned = invitations(survey_id, draw).filter(
            Condition::all()
                .add(Expr::col((invitation::Entity, I::Id)).not_in_subquery(replacements)),
        );
        out.extend(
            per_school(
                db,
                survey_id,
                planned,
                I::Grp,
                I::SchoolId,
                Counted::Planned,
            )
            .await?,
        );
        let live =
            invitations(survey_id, draw).filter(I::Status.ne(InvitationStatus::Revoked.code()));
        out.extend(per_school(db, survey_id, live, I::Grp, I::SchoolId, Counted::Invited).await?);
        let shown = invitations(survey_id, draw)
            .filter(I::Status.eq(InvitationStatus::Answered.code()))
            .filter(I::ReleaseCell.is_null());
        out.extend(per_school(db, survey_id, shown, I::Grp, I::SchoolId, Counted::Answered).await?);
    }
    use response::Column as R;
    let channel = counted(survey_id).filter(R::Source.is_in(placed_sources()));
    out.extend(
        per_school(
            db,
            survey_id,
            channel,
            R::Grp,
            R::SchoolId,
            Counted::ChannelAnswers,
        )
        .await?,
    );
    let held = held_answer::Entity::find()
        .filter(held_answer::Column::SurveyId.eq(survey_id))
        .filter(held_answer::Column::Status.eq(HeldStatus::Held.code()));
    out.extend(
        per_school(
            db,
            survey_id,
            held,
            held_answer::Column::Grp,
            held_answer::Column::SchoolId,
            Counted::Held,
        )
        .await?,
    );
    // Per group only: every counted answer, whatever its school.
    for t in per_school(
        db,
        survey_id,
        counted(survey_id),
        R::Grp,
        R::SchoolId,
        Counted::Counted,
    )
    .await?
    {
        out.push(Tally {
            school_id: None,
            ..t
        });
    }
    Ok(out)
}

/// Counted answers per group, area and band, for the strata's progress. Answers the close
/// counted under the area or the county alone have no band or area, and count in no stratum.
pub async fn counted_by_stratum(
    db: &impl ConnectionTrait,
    survey_id: i32,
) -> Result<Vec<(RespondentGroup, Option<i32>, Option<Band>, u64)>, DbErr> {
    use response::Column as R;
    let rows: Vec<(String, Option<i32>, Option<i16>, i64)> = counted(survey_id)
        .select_only()
        .column(R::Grp)
        .column(R::AreaId)
        .column(R::Band)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .group_by(R::Grp)
        .group_by(R::AreaId)
        .group_by(R::Band)
        .into_tuple()
        .all(db)
        .await?;
    rows.into_iter()
        .map(|(g, a, b, n)| {
            let group: RespondentGroup = g.parse().map_err(|_| {
                super::corrupt(
                    "progress of survey",
                    survey_id,
                    format!("unknown group `{g}`"),
                )
            })?;
            let band = super::draws::band("response of survey", survey_id, group, b)?;
            Ok((group, a, band, u64::try_from(n).unwrap_or(0)))
        })
        .collect()
}

/// Answers shown per school and day (Beijing time): invitations answered, by the hour their
/// batch was released, and channel answers counted, by the same.
pub async fn days(db: &impl ConnectionTrait, survey_id: i32) -> Result<Vec<DayCount>, DbErr> {
    let mut hours: Vec<(Option<i32>, Option<DateTime<Utc>>, i64)> = Vec::new();
    if let Some(draw) = super::invitations::draw_in_force(db, survey_id).await? {
        use invitation::Column as I;
        hours.extend(
            invitations(survey_id, draw)
                .filter(I::Status.eq(InvitationStatus::Answered.code()))
                .filter(I::ReleaseCell.is_null())
                .select_only()
                .column(I::SchoolId)
                .column(I::AnsweredAt)
                .column_as(Expr::cust("COUNT(*)"), "n")
                .group_by(I::SchoolId)
                .group_by(I::AnsweredAt)
                .into_tuple::<(Option<i32>, Option<DateTime<Utc>>, i64)>()
                .all(db)
                .await?,
        );
    }
    use response::Column as R;
    let channel: Vec<(Option<i32>, DateTime<Utc>, i64)> = counted(survey_id)
        .filter(R::Source.is_in(placed_sources()))
        .select_only()
        .column(R::SchoolId)
        .column(R::SubmittedHour)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .group_by(R::SchoolId)
        .group_by(R::SubmittedHour)
        .into_tuple()
        .all(db)
        .await?;
    hours.extend(channel.into_iter().map(|(s, h, n)| (s, Some(h), n)));
    let mut days: BTreeMap<(Option<i32>, chrono::NaiveDate), u64> = BTreeMap::new();
    for (school_id, hour, n) in hours {
        let Some(hour) = hour else { continue };
        let day = hour.with_timezone(&beijing()).date_naive();
        *days.entry((school_id, day)).or_default() += u64::try_from(n).unwrap_or(0);
    }
    Ok(days
        .into_iter()
        .map(|((school_id, day), answers)| DayCount {
            school_id,
            day,
            answers,
        })
        .collect())
}

/// The sources whose answers take a stratum's place rather than an invitation's (open
/// channels and paper booklets): progress counts them beside the invitations.
fn placed_sources() -> Vec<&'static str> {
    Source::ALL
        .into_iter()
        .filter(|s| s.takes_a_place())
        .map(Source::code)
        .collect()
}
