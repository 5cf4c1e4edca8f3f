//! The live tally and the report, from the maintained aggregates, and rebuilding those
//! aggregates from the raw responses.
use super::surveys::visible;
use super::{Actor, Context, audit};
use crate::domain::account::County;
use crate::domain::audit::AuditAction;
use crate::domain::breakdown::{TallyInputs, TallyView};
use crate::domain::draw::Draw;
use crate::domain::group::Booklet;
use crate::domain::questionnaire::Questionnaire;
use crate::domain::release::{self, ReleaseCell};
use crate::domain::response::Release;
use crate::domain::strata::FullPlan;
use crate::domain::survey::Survey;
use crate::domain::tally::Aggregates;
use crate::error::AppError;
use crate::store;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The questionnaires a survey uses, one per booklet.
pub(crate) async fn questionnaires_in_use(
    ctx: &Context,
    survey_id: i32,
) -> Result<Vec<(Booklet, Arc<Questionnaire>)>, AppError> {
    let mut out = Vec::new();
    for (booklet, id) in store::questionnaires::in_use(ctx.db.pool(), survey_id).await? {
        out.push((booklet, ctx.questionnaire(id).await?));
    }
    Ok(out)
}

/// The tally of a survey already authorised, with the plan it was computed against.
pub(crate) async fn compute(
    ctx: &Context,
    survey: &Survey,
    exclude_flagged: bool,
) -> Result<(TallyView, FullPlan), AppError> {
    let db = ctx.db.pool();
    let aggregates = store::tally::load(db, survey.id).await?;
    let plan = super::sampling::load_plan(db, survey).await?;
    let questionnaires = questionnaires_in_use(ctx, survey.id).await?;
    let in_use: Vec<(Booklet, &Questionnaire)> = questionnaires
        .iter()
        .map(|(b, q)| (*b, q.as_ref()))
        .collect();
    let invitations = store::invitations::counts_by_stratum(db, survey.id, true).await?;
    let view = TallyView::build(&TallyInputs {
        waiting: store::releases::waiting(db, survey.id).await?,
        withheld: store::releases::withheld(db, survey.id).await?,
        survey,
        plan: &plan,
        aggregates: &aggregates,
        questionnaires: &in_use,
        invitations: &invitations,
        exclude_flagged,
        now: chrono::Utc::now(),
    });
    Ok((view, plan))
}

/// The tally of a survey the actor may see.
pub async fn view(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    exclude_flagged: bool,
) -> Result<(Survey, TallyView), AppError> {
    let survey = visible(ctx, actor, id).await?;
    let (view, _) = compute(ctx, &survey, exclude_flagged).await?;
    Ok((survey, view))
}

/// What the printable report shows besides the tally.
pub struct Report {
    pub survey: Survey,
    pub tally: TallyView,
    pub plan: FullPlan,
    pub draw: Option<Draw>,
    pub county: County,
    /// The audit trail's anchor when the report was made: how many entries, the last one's hash.
    pub audit_anchor: Option<(i64, String)>,
}

pub async fn report(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    exclude_flagged: bool,
) -> Result<Report, AppError> {
    let survey = visible(ctx, actor, id).await?;
    let (tally, plan) = compute(ctx, &survey, exclude_flagged).await?;
    let db = ctx.db.pool();
    let draw = store::draws::current(db, survey.id).await?;
    let county = store::counties::find(db, survey.county_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let audit_anchor = store::audit::anchor(ctx.db.pool()).await?;
    Ok(Report {
        survey,
        tally,
        plan,
        draw,
        county,
        audit_anchor,
    })
}

/// Recomputes a survey's aggregates from its raw responses; returns how many were read.
pub async fn rebuild(ctx: &Context, actor: &Actor<'_>, id: i32) -> Result<u64, AppError> {
    actor.require_admin()?;
    let survey = visible(ctx, actor, id).await?;
    let read = recompute(ctx, survey.id).await?;
    let detail = format!("{read} responses");
    audit(
        ctx,
        actor,
        AuditAction::TallyRebuilt,
        &format!("survey {}", survey.id),
        &detail,
    )
    .await;
    Ok(read)
}

/// Rebuilds the aggregates of every survey whose rows an earlier version of Renke kept (they
/// lack what the estimate of the official result reads). Runs at start, before serving.
pub(crate) async fn upgrade(ctx: &Context) -> Result<(), AppError> {
    for id in store::tally::outdated(ctx.db.pool()).await? {
        let read = recompute(ctx, id).await?;
        tracing::info!(
            survey = id,
            responses = read,
            "tally aggregates rebuilt for this version"
        );
    }
    Ok(())
}

async fn recompute(ctx: &Context, survey_id: i32) -> Result<u64, AppError> {
    let db = ctx.db.pool();
    let mut aggregates = Aggregates::default();
    // The answers still waiting, per release cell, as their cells hold them.
    let mut waiting: BTreeMap<String, (i64, Aggregates)> = BTreeMap::new();
    let mut pages = store::responses::Pages::new(survey_id);
    let mut read = 0u64;
    while let Some(page) = pages.next(db).await? {
        for r in &page {
            let q = ctx.questionnaire(r.answered.questionnaire_id).await?;
            match &r.release {
                Release::Counted => aggregates.add(&r.facts(), &q.definition),
                Release::Waiting(key) => {
                    let cell = ReleaseCell::parse(key).ok_or_else(|| {
                        AppError::internal(format!("response {}: release cell `{key}`", r.id))
                    })?;
                    let piece = release::waiting_piece(&r.facts(), &q.definition, &cell, None);
                    let e = waiting.entry(key.clone()).or_default();
                    e.0 += 1;
                    e.1.merge(&piece);
                }
                Release::Withheld => {}
            }
        }
        read += page.len() as u64;
    }
    let txn = store::begin_write(&ctx.db).await?;
    store::tally::clear(&txn, survey_id).await?;
    store::releases::clear(&txn, survey_id).await?;
    store::releases::put(&txn, survey_id, &waiting).await?;
    store::tally::add(&txn, survey_id, &aggregates).await?;
    store::tally::mark_current(&txn, survey_id).await?;
    txn.commit().await?;
    Ok(read)
}

/// Every survey's id (for a rebuild of them all).
pub async fn survey_ids(ctx: &Context, actor: &Actor<'_>) -> Result<Vec<i32>, AppError> {
    Ok(super::surveys::list(ctx, actor)
        .await?
        .iter()
        .map(|s| s.id)
        .collect())
}
