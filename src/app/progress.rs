//! Reaching respondents school by school: the survey's progress per school and group, the
//! lagging schools, and the leadership's daily summary.
use super::sampling::load_plan;
use super::surveys::visible;
use super::{Actor, Context};
use crate::domain::group::RespondentGroup;
use crate::domain::progress::{self, DailyRow, Progress, SchoolName, StratumProgress};
use crate::domain::survey::{Survey, beijing};
use crate::error::AppError;
use crate::store;
use chrono::{DateTime, NaiveDate, Utc};

/// A survey's progress, as any user of its county may see it.
pub async fn progress(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
) -> Result<(Survey, Progress), AppError> {
    let survey = visible(ctx, actor, id).await?;
    let progress = progress_of(ctx, &survey).await?;
    Ok((survey, progress))
}

async fn progress_of(ctx: &Context, survey: &Survey) -> Result<Progress, AppError> {
    let db = ctx.db.pool();
    let full = load_plan(db, survey).await?;
    let geo = &full.geo;
    let schools: Vec<SchoolName<'_>> = geo
        .school_ids
        .iter()
        .zip(&geo.schools)
        .map(|(&id, s)| SchoolName {
            id,
            name: &s.name,
            area: geo.areas.get(s.area).map_or("", |a| a.name.as_str()),
        })
        .collect();
    let quotas: Vec<(RespondentGroup, u64)> = RespondentGroup::ALL
        .into_iter()
        .map(|g| (g, full.plan.quota(g)))
        .collect();
    let tallies = store::progress::tallies(db, survey.id).await?;
    let counted = store::progress::counted_by_stratum(db, survey.id).await?;
    let strata = full
        .strata
        .iter()
        .map(|s| {
            let st = &s.stratum;
            let area_id = geo.area_ids.get(st.area).copied();
            StratumProgress {
                group: st.group,
                area: geo
                    .areas
                    .get(st.area)
                    .map_or(String::new(), |a| a.name.clone()),
                band: st.band_label(),
                quota: s.quota,
                counted: counted
                    .iter()
                    .filter(|(g, a, b, _)| *g == st.group && *a == area_id && *b == st.band)
                    .map(|(.., n)| n)
                    .sum(),
            }
        })
        .collect();
    Ok(Progress::build(&schools, &quotas, &tallies, strata))
}

/// The leadership's daily summary.
pub struct Daily {
    pub survey: Survey,
    pub progress: Progress,
    pub today: NaiveDate,
    pub rows: Vec<DailyRow>,
    pub total: DailyRow,
}

/// The daily summary of a survey the actor may see, as of `now` (days in Beijing time).
pub async fn daily(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    now: DateTime<Utc>,
) -> Result<Daily, AppError> {
    let (survey, progress) = progress(ctx, actor, id).await?;
    let days = store::progress::days(ctx.db.pool(), survey.id).await?;
    let today = now.with_timezone(&beijing()).date_naive();
    let (rows, total) = progress::daily(&progress, &days, today);
    Ok(Daily {
        survey,
        progress,
        today,
        rows,
        total,
    })
}
