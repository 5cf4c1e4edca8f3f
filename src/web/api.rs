//! The JSON API (`/api/v1/…`), as SPEC.md's interface section names it: accounts, counties,
//! surveys and the audit trail. Sampling, tally, exports and readiness have modules of their own.
use super::AppState;
use super::auth::{self, CurrentUser};
use super::input::{
    ApiJson, ArchiveInput, CopyInput, CountyInput, LoginInput, OpenInput, OwnPasswordInput,
    PasswordInput, QuotaQuery, SurveyInput, UserChangeInput, UserInput, WindowInput,
};
use super::view::SurveyView;
use crate::app::accounts::{self, Chain, NewUserInput, UserChange};
use crate::app::surveys::{self, Opening, Transition};
use crate::domain::opening;
use crate::domain::quota::{QuotaSummary, SamplePlan};
use crate::error::AppError;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

type State = web::Data<AppState>;

pub async fn healthz(state: State) -> Result<HttpResponse, AppError> {
    state.app.ping().await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ok"})))
}

/// The plan for a population, without logging in.
pub async fn quota(query: web::Query<QuotaQuery>) -> Result<HttpResponse, AppError> {
    let params = query.parameters()?;
    let plan = SamplePlan::compute(&params);
    Ok(HttpResponse::Ok().json(QuotaSummary::from(&plan)))
}

pub async fn login(
    state: State,
    req: HttpRequest,
    input: ApiJson<LoginInput>,
) -> Result<HttpResponse, AppError> {
    let input = input.parse()?;
    let user = auth::authenticate(
        &state,
        state.client_ip(&req),
        &input.username,
        &input.password,
    )
    .await?;
    let cookie = auth::start_session(&state, &req, &user).await?;
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .json(json!({"user": user})))
}

pub async fn logout(state: State, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let cookie = auth::end_session(&state, &req).await?;
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .json(json!({"status": "ok"})))
}

pub async fn me(user: CurrentUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user": user.0}))
}

pub async fn list_counties(state: State, user: CurrentUser) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(accounts::counties(&state.app, &user.actor()).await?))
}

pub async fn create_county(
    state: State,
    user: CurrentUser,
    input: ApiJson<CountyInput>,
) -> Result<HttpResponse, AppError> {
    user.actor().require_admin()?;
    let input = input.parse()?;
    let county = accounts::create_county(&state.app, &user.actor(), &input.name).await?;
    Ok(HttpResponse::Created().json(county))
}

pub async fn list_users(state: State, user: CurrentUser) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(accounts::users(&state.app, &user.actor()).await?))
}

pub async fn create_user(
    state: State,
    user: CurrentUser,
    input: ApiJson<UserInput>,
) -> Result<HttpResponse, AppError> {
    user.actor().require_admin()?;
    let i = input.parse()?;
    let created = accounts::create_user(
        &state.app,
        &user.actor(),
        NewUserInput {
            username: &i.username,
            password: &i.password,
            role: &i.role,
            county_id: i.county_id,
            school: i.school.as_deref(),
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(created))
}

pub async fn change_user(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: ApiJson<UserChangeInput>,
) -> Result<HttpResponse, AppError> {
    user.actor().require_admin()?;
    let i = input.parse()?;
    let changed = accounts::change_user(
        &state.app,
        &user.actor(),
        path.into_inner(),
        UserChange {
            role: i.role.as_deref(),
            county_id: i.county_id.map(Some),
            active: i.active,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(changed))
}

pub async fn reset_password(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: ApiJson<PasswordInput>,
) -> Result<HttpResponse, AppError> {
    user.actor().require_admin()?;
    let i = input.parse()?;
    let changed =
        accounts::reset_password(&state.app, &user.actor(), path.into_inner(), &i.password).await?;
    Ok(HttpResponse::Ok().json(changed))
}

/// Changes one's own password; one's other sessions end.
pub async fn change_own_password(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    input: ApiJson<OwnPasswordInput>,
) -> Result<HttpResponse, AppError> {
    let i = input.parse()?;
    let token = auth::session_token(&state, &req);
    accounts::change_own_password(
        &state.app,
        &user,
        token.as_deref(),
        &i.current_password,
        &i.new_password,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list_surveys(state: State, user: CurrentUser) -> Result<HttpResponse, AppError> {
    let surveys = surveys::list(&state.app, &user.actor()).await?;
    let views: Vec<SurveyView> = surveys.iter().map(SurveyView::new).collect();
    Ok(HttpResponse::Ok().json(views))
}

pub async fn create_survey(
    state: State,
    user: CurrentUser,
    input: ApiJson<SurveyInput>,
) -> Result<HttpResponse, AppError> {
    user.actor().require_organizer()?;
    let input = input.parse()?;
    let settings = input.settings()?;
    let survey = surveys::create(&state.app, &user.actor(), &settings, input.county_id).await?;
    Ok(HttpResponse::Created().json(SurveyView::new(&survey)))
}

pub async fn show_survey(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    // With the plan the rosters cap, as `GET …/plan` and the pages give it.
    let (survey, full) =
        crate::app::sampling::plan(&state.app, &user.actor(), path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(SurveyView::with_plan(&survey, &full.plan)))
}

/// Replaces a draft survey's settings; checks access, role and status in that order.
pub async fn update_survey(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: ApiJson<SurveyInput>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    surveys::organized(&state.app, &user.actor(), id).await?;
    let settings = input.parse()?.settings()?;
    let survey = surveys::change_settings(&state.app, &user.actor(), id, &settings).await?;
    Ok(HttpResponse::Ok().json(SurveyView::new(&survey)))
}

async fn change_status(
    state: State,
    user: CurrentUser,
    id: i32,
    t: Transition,
) -> Result<HttpResponse, AppError> {
    let survey = surveys::transition(&state.app, &user.actor(), id, t).await?;
    Ok(HttpResponse::Ok().json(SurveyView::new(&survey)))
}

/// What is checked before the survey opens: each check's code, status and what it found.
pub async fn checklist(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let links = state.link_address(&req);
    let (survey, checks) =
        surveys::checklist(&state.app, &user.actor(), path.into_inner(), &links).await?;
    let confirm: Vec<&str> = opening::warnings(&checks).map(|c| c.code).collect();
    Ok(HttpResponse::Ok().json(json!({
        "survey_id": survey.id,
        "status": survey.status.code(),
        "checklist": checks,
        "needs_confirmation": confirm,
        "can_open": opening::blocking(&checks).next().is_none(),
    })))
}

/// Opens a survey. A draft opens only when the checklist allows it: never with a stale draw,
/// and with anything missing only when the body says `{"confirm": true}`.
pub async fn open_survey(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<i32>,
    body: ApiJson<OpenInput>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    surveys::organized(&state.app, &user.actor(), id).await?;
    let confirmed = if body.is_empty() {
        false
    } else {
        body.parse()?.confirm
    };
    let opening = Opening {
        links: state.link_address(&req),
        confirmed,
    };
    change_status(state, user, id, Transition::Open(opening)).await
}

/// Moves the end of a draft or open survey's window (`{"closes_at": "…"}`, never before now).
pub async fn change_window(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    body: ApiJson<WindowInput>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    surveys::organized(&state.app, &user.actor(), id).await?;
    let input = body.parse()?;
    let survey = surveys::change_window(&state.app, &user.actor(), id, input.closes_at).await?;
    Ok(HttpResponse::Ok().json(SurveyView::new(&survey)))
}

/// Deletes a draft survey (204).
pub async fn delete_survey(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    surveys::delete_draft(&state.app, &user.actor(), path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Archives a survey or brings it back.
pub async fn archive_survey(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    body: ApiJson<ArchiveInput>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    surveys::organized(&state.app, &user.actor(), id).await?;
    let input = body.parse()?;
    let survey = surveys::set_archived(&state.app, &user.actor(), id, input.archived).await?;
    Ok(HttpResponse::Ok().json(SurveyView::new(&survey)))
}

/// Copies a survey as a new draft round (201).
pub async fn copy_survey(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    body: ApiJson<CopyInput>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    surveys::organized(&state.app, &user.actor(), id).await?;
    let input = if body.is_empty() {
        CopyInput::default()
    } else {
        body.parse()?
    };
    let survey = surveys::copy(&state.app, &user.actor(), id, input.name.as_deref()).await?;
    Ok(HttpResponse::Created().json(SurveyView::new(&survey)))
}

pub async fn close_survey(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    change_status(state, user, path.into_inner(), Transition::Close).await
}

#[derive(serde::Deserialize)]
pub struct AuditQuery {
    limit: Option<u64>,
}

/// The newest audit entries, and whether the chain is intact (platform admins only).
pub async fn audit_trail(
    state: State,
    user: CurrentUser,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let actor = user.actor();
    let entries = accounts::audit_entries(&state.app, &actor, query.limit.unwrap_or(100)).await?;
    let chain = match accounts::verify_audit(&state.app, &actor).await? {
        Chain::Intact { entries, head } => {
            json!({"intact": true, "entries": entries, "head": head})
        }
        Chain::Broken { at, reason } => json!({"intact": false, "broken_at": at, "reason": reason}),
    };
    let entries: Vec<_> = entries
        .iter()
        .map(|e| {
            json!({"id": e.id, "at": e.at, "actor": e.actor, "action": e.action,
            "subject": e.subject, "detail": e.detail, "hash": e.hash})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"chain": chain, "entries": entries})))
}
