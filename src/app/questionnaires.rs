//! The questionnaires a survey uses: reading them and uploading a new version (drafts only).
use super::surveys::{organized, visible, visible_in};
use super::{Actor, Context, audit};
use crate::domain::audit::AuditAction;
use crate::domain::group::Booklet;
use crate::domain::questionnaire::{Definition, Questionnaire};
use crate::domain::survey::{Survey, SurveyStatus};
use crate::error::AppError;
use crate::store;
use std::sync::Arc;

/// A survey the actor may see, with the questionnaire it uses for each booklet.
pub async fn in_use(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
) -> Result<(Survey, Vec<(Booklet, Arc<Questionnaire>)>), AppError> {
    let survey = visible(ctx, actor, id).await?;
    let booklets = super::tally::questionnaires_in_use(ctx, survey.id).await?;
    Ok((survey, booklets))
}

/// The questionnaire a survey the actor may see uses for one booklet.
pub async fn for_booklet(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    booklet: Booklet,
) -> Result<Arc<Questionnaire>, AppError> {
    let (_, booklets) = in_use(ctx, actor, id).await?;
    booklets
        .into_iter()
        .find(|(b, _)| *b == booklet)
        .map(|(_, q)| q)
        .ok_or_else(|| AppError::internal(format!("survey {id}: {booklet:?} not in use")))
}

fn locked() -> AppError {
    AppError::Conflict("调查开放后问卷已锁定，不能更换".into())
}

/// Stores an uploaded version for the survey's county and makes the draft survey use it.
pub async fn upload(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    text: &str,
) -> Result<(Booklet, i32), AppError> {
    let survey = organized(ctx, actor, id).await?;
    if survey.status != SurveyStatus::Draft {
        return Err(locked());
    }
    let def = Definition::parse(text).map_err(|e| AppError::invalid("definition", e.message))?;
    let txn = store::begin_write(&ctx.db).await?;
    if visible_in(&txn, actor, id).await?.status != SurveyStatus::Draft {
        return Err(locked());
    }
    if store::questionnaires::version_exists(&txn, survey.county_id, &def).await? {
        return Err(AppError::Conflict(format!(
            "{} 的版本“{}”已存在，请换一个版本号",
            def.booklet.label(),
            def.version
        )));
    }
    let qid = store::questionnaires::create(&txn, Some(survey.county_id), &def, text, actor.name())
        .await?;
    store::questionnaires::select(&txn, survey.id, def.booklet, qid).await?;
    txn.commit().await?;
    tracing::info!(survey = survey.id, questionnaire = qid, user = ?actor.user_id(), "questionnaire uploaded");
    let detail = format!(
        "{} {} (questionnaire {qid})",
        def.booklet.code(),
        def.version
    );
    audit(
        ctx,
        actor,
        AuditAction::QuestionnaireUploaded,
        &format!("survey {}", survey.id),
        &detail,
    )
    .await;
    Ok((def.booklet, qid))
}
