//! Surveys: who may see and organise which, creating one, changing a draft's settings, opening
//! and closing the answering window.
use super::{Actor, Context, audit};
use crate::domain::audit::AuditAction;
use crate::domain::opening::{self, Check, DrawState, GroupReach, LinkAddress, OpeningFacts};
use crate::domain::release::OwnCells;
use crate::domain::survey::{Phase, Survey, SurveySettings, SurveyStatus};
use crate::error::AppError;
use crate::store::{self, Pool};
use chrono::{DateTime, Utc};

/// A survey the actor may see, else 404 (another county's survey does not exist for them).
pub(crate) async fn visible_in(
    db: &impl store::Connection,
    actor: &Actor<'_>,
    id: i32,
) -> Result<Survey, AppError> {
    let survey = store::surveys::find(db, id, actor.county_scope())
        .await?
        .ok_or(AppError::NotFound)?;
    actor.require_county_reader()?;
    Ok(survey)
}

/// A survey the actor may see. One that takes no more answers (ended, or past its window) has
/// its last waiting answers settled before anyone looks (`domain::release`).
pub async fn visible(ctx: &Context, actor: &Actor<'_>, id: i32) -> Result<Survey, AppError> {
    let survey = visible_in(ctx.db.pool(), actor, id).await?;
    settle_if_ended(ctx, &survey).await?;
    Ok(survey)
}

/// Settles the waiting answers of a survey that takes no more (a no-op while it does).
pub(crate) async fn settle_if_ended(ctx: &Context, survey: &Survey) -> Result<(), AppError> {
    let now = Utc::now();
    let ended = matches!(
        Phase::of(survey.status, survey.settings.window, now),
        Phase::Ended | Phase::Closed
    );
    if !ended || store::releases::waiting(ctx.db.pool(), survey.id).await? == 0 {
        return Ok(());
    }
    let txn = store::begin_write(&ctx.db).await?;
    settle(&txn, survey.id, now).await?;
    txn.commit().await?;
    Ok(())
}

/// Settles a survey's waiting answers inside the caller's transaction, and says so in the log.
async fn settle(
    txn: &impl store::Connection,
    survey_id: i32,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let settled = store::releases::settle_survey(txn, survey_id, now).await?;
    tracing::info!(
        survey = survey_id,
        counted = settled.counted,
        withheld = settled.withheld,
        "waiting answers settled"
    );
    Ok(())
}

/// A survey the actor may organise: 404 for another county's, 403 for a viewer.
pub async fn organized(ctx: &Context, actor: &Actor<'_>, id: i32) -> Result<Survey, AppError> {
    let survey = visible(ctx, actor, id).await?;
    actor.require_organizer()?;
    Ok(survey)
}

/// The surveys the actor may see, newest first.
pub async fn list(ctx: &Context, actor: &Actor<'_>) -> Result<Vec<Survey>, AppError> {
    let mut surveys = store::surveys::list(ctx.db.pool(), actor.county_scope()).await?;
    // A school account lists the surveys whose results it may come to read: none in draft.
    if actor.school().is_some() {
        surveys.retain(|s| s.status != SurveyStatus::Draft);
    }
    // An interviewer lists the surveys they are assigned groups in.
    if let Actor::User(u) = actor
        && u.role == crate::domain::account::Role::Interviewer
    {
        let assigned = store::fieldwork::surveys_assigned(ctx.db.pool(), u.id).await?;
        surveys.retain(|s| assigned.contains(&s.id));
    }
    Ok(surveys)
}

/// What the next round of a survey is called by default: （第二轮） added or the round counted
/// on, past any name a survey of the county already has.
pub async fn next_round_name(ctx: &Context, survey: &Survey) -> Result<String, AppError> {
    let taken: std::collections::HashSet<String> =
        store::surveys::list(ctx.db.pool(), Some(survey.county_id))
            .await?
            .into_iter()
            .map(|s| s.settings.name)
            .collect();
    let mut name = crate::domain::survey::next_round_name(&survey.settings.name);
    for _ in 0..100 {
        if !taken.contains(&name) {
            break;
        }
        name = crate::domain::survey::next_round_name(&name);
    }
    Ok(name)
}

/// The county a new survey goes to: the actor's own, or for an admin the one named.
async fn county_for_new_survey(
    db: &Pool,
    actor: &Actor<'_>,
    requested: Option<i32>,
) -> Result<i32, AppError> {
    match actor.county_scope() {
        Some(own) => match requested {
            Some(other) if other != own => Err(AppError::forbidden()),
            _ => Ok(own),
        },
        None => {
            let id = requested
                .ok_or_else(|| AppError::invalid("county_id", "请选择调查所属的县（区）"))?;
            store::counties::find(db, id)
                .await?
                .ok_or_else(|| AppError::invalid("county_id", "没有这个县（区）"))?;
            Ok(id)
        }
    }
}

/// Creates a draft survey in the actor's county (an admin names the county).
pub async fn create(
    ctx: &Context,
    actor: &Actor<'_>,
    settings: &SurveySettings,
    county: Option<i32>,
) -> Result<Survey, AppError> {
    actor.require_organizer()?;
    let county = county_for_new_survey(ctx.db.pool(), actor, county).await?;
    let survey = store::surveys::create(ctx.db.pool(), county, settings).await?;
    tracing::info!(survey = survey.id, user = ?actor.user_id(), "survey created");
    let subject = format!("survey {}", survey.id);
    audit(
        ctx,
        actor,
        AuditAction::SurveyCreated,
        &subject,
        &survey.settings.name,
    )
    .await;
    Ok(survey)
}

fn not_editable() -> AppError {
    AppError::Conflict("调查已开放或结束，不能再修改设置".into())
}

/// A survey whose settings the actor may change now (a draft they organise).
pub async fn editable(ctx: &Context, actor: &Actor<'_>, id: i32) -> Result<Survey, AppError> {
    let survey = organized(ctx, actor, id).await?;
    if !survey.status.editable() {
        return Err(not_editable());
    }
    Ok(survey)
}

/// Replaces a draft survey's settings; checks access, role and status in that order, the
/// status again as it writes.
pub async fn change_settings(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    settings: &SurveySettings,
) -> Result<Survey, AppError> {
    let survey = editable(ctx, actor, id).await?;
    let txn = store::begin_write(&ctx.db).await?;
    if !store::surveys::update_draft_settings(&txn, survey.id, settings).await? {
        return Err(not_editable());
    }
    let changed = visible_in(&txn, actor, survey.id).await?;
    txn.commit().await?;
    ctx.live.forget(survey.id).await;
    let subject = format!("survey {}", survey.id);
    audit(ctx, actor, AuditAction::SettingsChanged, &subject, "").await;
    Ok(changed)
}

/// Where a survey is to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Open(Opening),
    Close,
}

/// An opening as asked: where respondents' links will point, and whether the organiser
/// confirmed what the checklist says is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    pub links: LinkAddress,
    pub confirmed: bool,
}

impl Opening {
    /// An opening whose warnings the caller has already accepted (the demo, the load
    /// generator, which serve no request): only a blocking check can refuse it.
    pub fn confirmed() -> Opening {
        Opening {
            links: LinkAddress::FromRequest(String::new()),
            confirmed: true,
        }
    }
}

/// The checklist of a survey read from `db` (inside the opening's transaction, so what it
/// passes is what opens).
pub(crate) async fn checklist_in(
    db: &impl store::Connection,
    survey: &Survey,
    links: &LinkAddress,
) -> Result<Vec<Check>, AppError> {
    let full = super::sampling::load_plan(db, survey).await?;
    let channels = store::channels::list(db, survey.id).await?;
    let groups = full
        .plan
        .groups
        .values()
        .map(|g| GroupReach {
            group: g.group,
            quota: g.quota,
            roster: g.frame,
            channels: channels.iter().filter(|c| c.group == g.group).count(),
        })
        .collect();
    let draw = match store::draws::current(db, survey.id).await? {
        Some(d) => {
            let all = store::draws::list(db, survey.id).await?;
            let frame = store::frames::fingerprint(db, survey.id).await?;
            let stale = d.staleness(frame, &full.geo, &full.recorded_quotas());
            Some(DrawState {
                number: all.iter().filter(|x| x.id <= d.id).count(),
                selected: d.selected,
                stale,
            })
        }
        None => None,
    };
    Ok(opening::checklist(&OpeningFacts {
        population: survey.settings.plan.population,
        area_populations: full.geo.areas.iter().map(|a| a.population).collect(),
        groups,
        draw,
        window: survey.settings.window,
        links: links.clone(),
        now: Utc::now(),
    }))
}

/// What is checked before a survey the actor organises opens.
pub async fn checklist(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    links: &LinkAddress,
) -> Result<(Survey, Vec<Check>), AppError> {
    let survey = organized(ctx, actor, id).await?;
    let checks = checklist_in(ctx.db.pool(), &survey, links).await?;
    Ok((survey, checks))
}

/// Refuses an opening the checklist does not allow: a blocking check always, a warning unless
/// confirmed.
fn check_opening(checks: &[Check], confirmed: bool) -> Result<(), AppError> {
    let details = || serde_json::json!({ "checklist": checks });
    if let Some(b) = opening::blocking(checks).next() {
        return Err(AppError::Unprocessable {
            field: Some(b.code.into()),
            message: format!("不能开放：{}", b.detail),
            details: details(),
        });
    }
    let warnings: Vec<&str> = opening::warnings(checks).map(|c| c.title).collect();
    if !warnings.is_empty() && !confirmed {
        return Err(AppError::Unprocessable {
            field: Some("confirm".into()),
            message: format!(
                "开放前请确认以下未就绪的事项：{}。确认后仍要开放，请勾选确认",
                warnings.join("、")
            ),
            details: details(),
        });
    }
    Ok(())
}

/// Opens or closes a survey the actor may organise, in one transaction: the status is read
/// again inside it, opening pins the questionnaire versions, and the status changes only from
/// the one that was read.
pub async fn transition(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    t: Transition,
) -> Result<Survey, AppError> {
    organized(ctx, actor, id).await?;
    let txn = store::begin_write(&ctx.db).await?;
    let survey = visible_in(&txn, actor, id).await?;
    let to = match t {
        Transition::Open(_) => survey.status.open(),
        Transition::Close => survey.status.close(),
    }
    .map_err(|e| AppError::Conflict(e.message))?;
    if let Transition::Open(o) = &t {
        if survey.archived_at.is_some() {
            return Err(AppError::Conflict(
                "调查已归档：请先恢复到调查列表，再重新开放".into(),
            ));
        }
        // A draft opens for the first time: everything it locks is checked (a closed survey
        // reopened was checked when it first opened).
        if survey.status == SurveyStatus::Draft {
            check_opening(&checklist_in(&txn, &survey, &o.links).await?, o.confirmed)?;
            store::surveys::start_window_if_unset(&txn, survey.id, Utc::now()).await?;
            // Which schools' answers are released school by school is fixed now, from the
            // draw, and never changes: a cell's batches stay that cell's.
            let invited = store::invitations::counts_by_school(&txn, survey.id).await?;
            store::releases::fix_own_cells(&txn, survey.id, &OwnCells::of(invited)).await?;
        }
        // The questionnaire versions are fixed from the first answer on, and each stratum gets
        // its places, its issued invitations holding theirs.
        store::questionnaires::pin(&txn, survey.id).await?;
        let plan = super::sampling::load_plan(&txn, &survey).await?;
        let invitations = store::invitations::counts_by_stratum(&txn, survey.id, false).await?;
        let places = crate::domain::places::at_opening(&plan, &invitations);
        store::places::create_missing(&txn, survey.id, &places).await?;
    }
    if !store::surveys::change_status(&txn, survey.id, survey.status, to).await? {
        return Err(AppError::Conflict("调查状态刚被修改，请刷新后重试".into()));
    }
    if to == SurveyStatus::Closed {
        settle(&txn, survey.id, Utc::now()).await?;
    }
    let changed = visible_in(&txn, actor, id).await?;
    txn.commit().await?;
    ctx.live.forget(survey.id).await;
    tracing::info!(survey = survey.id, user = ?actor.user_id(), status = %to, "survey status changed");
    let action = match to {
        SurveyStatus::Closed => AuditAction::Closed,
        _ => AuditAction::Opened,
    };
    audit(ctx, actor, action, &format!("survey {}", survey.id), "").await;
    Ok(changed)
}

/// Moves the end of a draft or open survey's window (extended, or shortened to no earlier than
/// now); audit-logged with the old and the new end.
pub async fn change_window(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    closes_at: DateTime<Utc>,
) -> Result<Survey, AppError> {
    organized(ctx, actor, id).await?;
    let txn = store::begin_write(&ctx.db).await?;
    let survey = visible_in(&txn, actor, id).await?;
    if survey.status == SurveyStatus::Closed {
        return Err(AppError::Conflict(
            "调查已结束：要延长作答时间，请先重新开放".into(),
        ));
    }
    survey.settings.window.with_end(closes_at, Utc::now())?;
    if !store::surveys::set_closes_at(&txn, survey.id, survey.status, closes_at).await? {
        return Err(AppError::Conflict("调查状态刚被修改，请刷新后重试".into()));
    }
    let changed = visible_in(&txn, actor, id).await?;
    txn.commit().await?;
    ctx.live.forget(survey.id).await;
    let old = survey
        .settings
        .window
        .closes_at
        .map_or_else(|| "none".to_owned(), |t| t.to_rfc3339());
    audit(
        ctx,
        actor,
        AuditAction::WindowChanged,
        &format!("survey {}", survey.id),
        &format!("closes_at {old} -> {}", closes_at.to_rfc3339()),
    )
    .await;
    Ok(changed)
}

/// Deletes a draft survey the actor organises, with its areas, schools, rosters and draws
/// (nobody has answered a draft). Audit-logged with its name.
pub async fn delete_draft(ctx: &Context, actor: &Actor<'_>, id: i32) -> Result<(), AppError> {
    let survey = organized(ctx, actor, id).await?;
    if survey.status != SurveyStatus::Draft {
        return Err(AppError::Conflict(
            "只能删除草稿；已开放过的调查可以归档".into(),
        ));
    }
    let txn = store::begin_write(&ctx.db).await?;
    if !store::surveys::delete_draft(&txn, survey.id).await? {
        return Err(AppError::Conflict("调查刚被开放，不能删除".into()));
    }
    txn.commit().await?;
    ctx.live.forget(survey.id).await;
    tracing::info!(survey = survey.id, user = ?actor.user_id(), "draft deleted");
    audit(
        ctx,
        actor,
        AuditAction::SurveyDeleted,
        &format!("survey {}", survey.id),
        &survey.settings.name,
    )
    .await;
    Ok(())
}

/// Archives a survey the actor organises (kept whole, listed apart), or brings it back. An
/// open survey must be closed first.
pub async fn set_archived(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    archived: bool,
) -> Result<Survey, AppError> {
    let survey = organized(ctx, actor, id).await?;
    if archived && survey.status == SurveyStatus::Open {
        return Err(AppError::Conflict("调查仍在进行中：请先结束再归档".into()));
    }
    let txn = store::begin_write(&ctx.db).await?;
    let now = archived.then(Utc::now);
    store::surveys::set_archived(&txn, survey.id, now).await?;
    let changed = visible_in(&txn, actor, id).await?;
    txn.commit().await?;
    audit(
        ctx,
        actor,
        AuditAction::SurveyArchived,
        &format!("survey {}", survey.id),
        if archived { "archived" } else { "restored" },
    )
    .await;
    Ok(changed)
}

/// Sets the languages a survey offers respondents besides Chinese (BCP 47 tags, at most eight);
/// a booklet without one of them is read in Chinese. Not once the survey is closed.
pub async fn set_languages(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    languages: &[String],
) -> Result<Survey, AppError> {
    use crate::domain::questionnaire::is_language_tag;
    let survey = organized(ctx, actor, id).await?;
    if survey.status == SurveyStatus::Closed {
        return Err(AppError::Conflict("调查已关闭，不能再修改语言".into()));
    }
    let mut tags: Vec<String> = Vec::new();
    for tag in languages.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if !is_language_tag(tag) || tag.starts_with("zh") {
            return Err(AppError::invalid(
                "languages",
                format!(
                    "语言代码“{tag}”无效：须为 BCP 47 代码，如 ug、bo、ii、mn、ko、za（中文总是提供）"
                ),
            ));
        }
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }
    if tags.len() > 8 {
        return Err(AppError::invalid("languages", "最多提供 8 种其他语言"));
    }
    // Only a language some booklet in use carries: another would be said offered and never
    // shown.
    let booklets = super::tally::questionnaires_in_use(ctx, survey.id).await?;
    if let Some(missing) = tags.iter().find(|t| {
        !booklets
            .iter()
            .any(|(_, q)| q.definition.translations.contains_key(t.as_str()))
    }) {
        return Err(AppError::invalid(
            "languages",
            format!("所用的问卷都没有“{missing}”的译文：请先上传带有该译文的问卷"),
        ));
    }
    let txn = store::begin_write(&ctx.db).await?;
    store::surveys::set_languages(&txn, survey.id, &tags).await?;
    let changed = visible_in(&txn, actor, id).await?;
    txn.commit().await?;
    // Respondents' pages show the new choice at once (the blank forms are keyed by it).
    ctx.live.forget(survey.id).await;
    audit(
        ctx,
        actor,
        AuditAction::LanguagesSet,
        &format!("survey {}", survey.id),
        &tags.join(" "),
    )
    .await;
    Ok(changed)
}

/// Copies a survey the actor may see as a new draft round in the same county: its settings
/// (without the window), areas, schools and questionnaire versions; not its rosters, draws or
/// answers.
pub async fn copy(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    name: Option<&str>,
) -> Result<Survey, AppError> {
    let source = organized(ctx, actor, id).await?;
    let s = &source.settings;
    let name = match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => n.to_owned(),
        None => next_round_name(ctx, &source).await?,
    };
    let settings = SurveySettings::new(&name, s.plan, s.target, Default::default(), s.estimator)?;
    let txn = store::begin_write(&ctx.db).await?;
    let created = store::surveys::create(&txn, source.county_id, &settings).await?;
    let geo = store::geography::load(&txn, source.id).await?;
    store::geography::replace_areas(&txn, created.id, &geo.areas).await?;
    let new_geo = store::geography::load(&txn, created.id).await?;
    let schools: Vec<(String, i32)> = geo
        .schools
        .iter()
        .map(|s| (s.name.clone(), new_geo.area_ids[s.area]))
        .collect();
    store::geography::replace_schools(&txn, created.id, &schools).await?;
    for (booklet, questionnaire) in store::questionnaires::in_use(&txn, source.id).await? {
        store::questionnaires::select(&txn, created.id, booklet, questionnaire).await?;
    }
    store::surveys::set_languages(&txn, created.id, &source.languages).await?;
    txn.commit().await?;
    tracing::info!(survey = created.id, from = source.id, user = ?actor.user_id(), "survey copied");
    audit(
        ctx,
        actor,
        AuditAction::SurveyCopied,
        &format!("survey {}", created.id),
        &format!("from survey {}", source.id),
    )
    .await;
    Ok(created)
}
