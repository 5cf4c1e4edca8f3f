//! The JSON API (`/api/v1/…`), as SPEC.md's interface section names it.
use super::AppState;
use super::auth::{self, CurrentUser};
use super::input::{ApiJson, CountyInput, LoginInput, QuotaQuery, SurveyInput, UserInput};
use super::view::SurveyView;
use crate::domain::account::{County, CountyName, NewPassword, Role, User, Username};
use crate::domain::quota::{QuotaSummary, SamplePlan};
use crate::domain::survey::{Survey, SurveySettings};
use crate::error::AppError;
use crate::{password, store};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

type State = web::Data<AppState>;

pub async fn healthz(state: State) -> Result<HttpResponse, AppError> {
    state.db.ping().await?;
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
    let counties: Vec<County> = store::counties::list(&state.db)
        .await?
        .into_iter()
        .filter(|c| user.can_see_county(c.id))
        .collect();
    Ok(HttpResponse::Ok().json(counties))
}

/// Creates a county; a duplicate name is a 409.
pub async fn add_county(state: &AppState, name: &str) -> Result<County, AppError> {
    let name = CountyName::parse(name)?;
    store::counties::create(&state.db, &name)
        .await
        .map_err(|e| duplicate_or(e, "已有同名的县（区）"))
}

pub async fn create_county(
    state: State,
    user: CurrentUser,
    input: ApiJson<CountyInput>,
) -> Result<HttpResponse, AppError> {
    user.require_admin()?;
    let input = input.parse()?;
    let county = add_county(&state, &input.name).await?;
    let subject = format!("county {}", county.id);
    super::audit(
        &state,
        &user.username,
        "county_created",
        &subject,
        &county.name,
    )
    .await;
    Ok(HttpResponse::Created().json(county))
}

pub async fn list_users(state: State, user: CurrentUser) -> Result<HttpResponse, AppError> {
    user.require_admin()?;
    let users = store::users::list(&state.db, None).await?;
    Ok(HttpResponse::Ok().json(users))
}

fn duplicate_or(e: sea_orm::DbErr, message: &str) -> AppError {
    if store::is_unique_violation(&e) {
        AppError::Conflict(message.into())
    } else {
        e.into()
    }
}

/// Creates a user after checking every field; shared by the API and the admin page.
pub async fn add_user(
    state: &AppState,
    username: &str,
    password_text: &str,
    role: &str,
    county_id: Option<i32>,
) -> Result<User, AppError> {
    let username = Username::parse(username)?;
    let password_text = NewPassword::parse(password_text)?;
    let role: Role = role.parse()?;
    let county_id = match role {
        Role::Admin => None,
        _ => {
            let id = county_id
                .ok_or_else(|| AppError::invalid("county_id", "请选择用户所属的县（区）"))?;
            store::counties::find(&state.db, id)
                .await?
                .ok_or_else(|| AppError::invalid("county_id", "没有这个县（区）"))?;
            Some(id)
        }
    };
    let text = password_text.expose().to_owned();
    let password_hash = web::block(move || password::hash(&text))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|e| AppError::Internal(e.to_string()))?;
    store::users::create(
        &state.db,
        store::users::NewUser {
            username: &username,
            password_hash,
            role,
            county_id,
        },
    )
    .await
    .map_err(|e| duplicate_or(e, "用户名已被使用"))
}

pub async fn create_user(
    state: State,
    user: CurrentUser,
    input: ApiJson<UserInput>,
) -> Result<HttpResponse, AppError> {
    user.require_admin()?;
    let i = input.parse()?;
    let created = add_user(&state, &i.username, &i.password, &i.role, i.county_id).await?;
    let role = created.role.code();
    super::audit(
        &state,
        &user.username,
        "user_created",
        &created.username,
        role,
    )
    .await;
    Ok(HttpResponse::Created().json(created))
}

/// A survey the user may see, else 404 (another county's survey does not exist for them).
pub async fn survey_for(state: &AppState, user: &User, id: i32) -> Result<Survey, AppError> {
    store::surveys::find(&state.db, id, user.county_scope())
        .await?
        .ok_or(AppError::NotFound)
}

/// A survey the user may organise: 404 for another county's, 403 for a viewer.
pub async fn organized(state: &AppState, user: &User, id: i32) -> Result<Survey, AppError> {
    let survey = survey_for(state, user, id).await?;
    if !user.role.can_organize() {
        return Err(AppError::forbidden());
    }
    Ok(survey)
}

/// The county a new survey goes to: the user's own, or for an admin the one named.
pub async fn county_for_new_survey(
    state: &AppState,
    user: &User,
    requested: Option<i32>,
) -> Result<i32, AppError> {
    match user.county_scope() {
        Some(own) => match requested {
            Some(other) if other != own => Err(AppError::forbidden()),
            _ => Ok(own),
        },
        None => {
            let id = requested
                .ok_or_else(|| AppError::invalid("county_id", "请选择调查所属的县（区）"))?;
            store::counties::find(&state.db, id)
                .await?
                .ok_or_else(|| AppError::invalid("county_id", "没有这个县（区）"))?;
            Ok(id)
        }
    }
}

pub async fn list_surveys(state: State, user: CurrentUser) -> Result<HttpResponse, AppError> {
    let surveys = store::surveys::list(&state.db, user.county_scope()).await?;
    let views: Vec<SurveyView> = surveys.iter().map(SurveyView::new).collect();
    Ok(HttpResponse::Ok().json(views))
}

pub async fn create_survey(
    state: State,
    user: CurrentUser,
    input: ApiJson<SurveyInput>,
) -> Result<HttpResponse, AppError> {
    user.require_organizer()?;
    let input = input.parse()?;
    let settings = input.settings()?;
    let county = county_for_new_survey(&state, &user, input.county_id).await?;
    let survey = store::surveys::create(&state.db, county, &settings).await?;
    tracing::info!(survey = survey.id, user = user.id, "survey created");
    Ok(HttpResponse::Created().json(SurveyView::new(&survey)))
}

pub async fn show_survey(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let survey = survey_for(&state, &user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(SurveyView::new(&survey)))
}

/// Replaces a draft survey's settings; checks access, role and status in that order.
/// Replaces the settings of `survey` (which the caller may organise) while it is a draft.
pub async fn change_settings(
    state: &AppState,
    survey: &Survey,
    settings: &SurveySettings,
) -> Result<Survey, AppError> {
    if !survey.status.editable() {
        return Err(AppError::Conflict(
            "调查已开放或结束，不能再修改设置".into(),
        ));
    }
    let changed = store::surveys::update_settings(&state.db, survey.id, settings).await?;
    state.surveys.forget(survey.id);
    Ok(changed)
}

pub async fn update_survey(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: ApiJson<SurveyInput>,
) -> Result<HttpResponse, AppError> {
    let survey = organized(&state, &user, path.into_inner()).await?;
    let settings = input.parse()?.settings()?;
    let survey = change_settings(&state, &survey, &settings).await?;
    Ok(HttpResponse::Ok().json(SurveyView::new(&survey)))
}

#[derive(Clone, Copy)]
pub enum Transition {
    Open,
    Close,
}

/// Opens or closes a survey the user may organise.
pub async fn transition(
    state: &AppState,
    user: &CurrentUser,
    id: i32,
    t: Transition,
) -> Result<Survey, AppError> {
    let survey = organized(state, user, id).await?;
    let to = match t {
        Transition::Open => survey.status.open(),
        Transition::Close => survey.status.close(),
    }
    .map_err(|e| AppError::Conflict(e.message))?;
    if matches!(t, Transition::Open) {
        // The questionnaire versions are fixed from the first answer on.
        store::questionnaires::pin(&state.db, survey.id).await?;
    }
    if !store::surveys::change_status(&state.db, survey.id, survey.status, to).await? {
        return Err(AppError::Conflict("调查状态刚被修改，请刷新后重试".into()));
    }
    state.surveys.forget(survey.id);
    tracing::info!(survey = survey.id, user = user.id, status = %to, "survey status changed");
    super::audit(
        state,
        &user.username,
        to.code(),
        &format!("survey {}", survey.id),
        "",
    )
    .await;
    survey_for(state, user, id).await
}

pub async fn open_survey(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let survey = transition(&state, &user, path.into_inner(), Transition::Open).await?;
    Ok(HttpResponse::Ok().json(SurveyView::new(&survey)))
}

pub async fn close_survey(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let survey = transition(&state, &user, path.into_inner(), Transition::Close).await?;
    Ok(HttpResponse::Ok().json(SurveyView::new(&survey)))
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
    user.require_admin()?;
    let entries = store::audit::recent(&state.db, query.limit.unwrap_or(100).min(1000)).await?;
    let chain = match store::audit::verify(&state.db).await? {
        Ok(n) => json!({"intact": true, "entries": n}),
        Err((id, why)) => json!({"intact": false, "broken_at": id, "reason": why}),
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
