//! The organisers' and admins' HTML pages (Chinese UI, phone and desktop).
use super::auth::{self, CurrentUser, MaybeUser};
use super::csrf::{CsrfForm, CsrfToken, NoFields};
use super::input::{ConfirmForm, CountyForm, LoginForm, SurveyForm, UserForm, require_tick};
use super::notice::{Done, DoneQuery};
use super::view::SurveyView;
use super::{AppState, see_other};
use crate::app::accounts::{self, NewUserInput};
use crate::app::surveys::{self, Opening, Transition};
use crate::app::{Actor, sampling};
use crate::domain::account::{Role, User};
use crate::error::AppError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use validator::Validate;

type State = web::Data<AppState>;

#[derive(Serialize)]
struct Viewer<'a> {
    username: &'a str,
    role_label: &'static str,
    is_admin: bool,
    can_organize: bool,
    county_id: Option<i32>,
    /// A school user's school (they read only its results).
    school: Option<&'a str>,
    /// Interviews by telephone and enters paper booklets (and sees nothing else).
    is_interviewer: bool,
}

/// What every page's layout needs: who is logged in and the form token.
pub fn page(user: Option<&User>, csrf: &CsrfToken) -> tera::Context {
    let mut ctx = tera::Context::new();
    ctx.insert("csrf_token", &csrf.0);
    if let Some(u) = user {
        ctx.insert(
            "viewer",
            &Viewer {
                username: &u.username,
                role_label: u.role.label(),
                is_admin: u.role == Role::Admin,
                can_organize: u.role.can_organize(),
                county_id: u.county_id.filter(|_| u.role.reads_county()),
                school: u.school.as_deref().filter(|_| u.role == Role::School),
                is_interviewer: u.role == Role::Interviewer,
            },
        );
    }
    ctx
}

pub fn render(
    state: &AppState,
    status: StatusCode,
    template: &str,
    ctx: &tera::Context,
) -> Result<HttpResponse, AppError> {
    let html = state.tera.render(template, ctx)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(html))
}

/// Puts an input error on the page: the message, and which field to mark.
fn insert_error(ctx: &mut tera::Context, err: &AppError) {
    ctx.insert("error", &err.to_string());
    ctx.insert("error_field", &err.field());
}

/// Input errors are shown on the form again; anything else goes to the error page.
pub fn form_error(err: AppError) -> Result<AppError, AppError> {
    match err {
        AppError::Invalid { .. } | AppError::Conflict(_) | AppError::Unprocessable { .. } => {
            Ok(err)
        }
        other => Err(other),
    }
}

fn error_status(err: &AppError) -> StatusCode {
    actix_web::ResponseError::status_code(err)
}

pub async fn root() -> HttpResponse {
    see_other("/admin")
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only a local path may follow a login (no open redirect to another site).
fn safe_next(next: Option<&str>) -> &str {
    // Browsers drop tabs and line breaks from an address, so `/\t/evil.example` is `//evil…`:
    // no control character or space is let through at all (nor into a Location header).
    let plain = |n: &str| !n.chars().any(|c| c.is_control() || c.is_whitespace());
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && plain(n) => n,
        _ => "/admin",
    }
}

pub async fn login_page(
    state: State,
    user: MaybeUser,
    csrf: CsrfToken,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    if user.0.is_some() {
        return Ok(see_other(safe_next(query.next.as_deref())));
    }
    let mut ctx = page(None, &csrf);
    ctx.insert("next", safe_next(query.next.as_deref()));
    ctx.insert("username", "");
    render(&state, StatusCode::OK, "login.html", &ctx)
}

pub async fn login_submit(
    state: State,
    req: HttpRequest,
    csrf: CsrfToken,
    form: CsrfForm<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.0;
    let next = safe_next(form.next.as_deref()).to_owned();
    let result = async {
        form.validate()?;
        auth::authenticate(
            &state,
            state.client_ip(&req),
            &form.username,
            &form.password,
        )
        .await
    }
    .await;
    match result {
        Ok(user) => {
            let cookie = auth::start_session(&state, &req, &user).await?;
            let mut res = see_other(&next);
            res.add_cookie(&cookie)
                .map_err(|e| AppError::Internal(e.to_string()))?;
            Ok(res)
        }
        Err(
            err @ (AppError::BadCredentials
            | AppError::TooManyRequests
            | AppError::Forbidden(_)
            | AppError::Invalid { .. }),
        ) => {
            let mut ctx = page(None, &csrf);
            ctx.insert("next", &next);
            ctx.insert("username", &form.username);
            insert_error(&mut ctx, &err);
            render(&state, error_status(&err), "login.html", &ctx)
        }
        Err(other) => Err(other),
    }
}

pub async fn logout(
    state: State,
    req: HttpRequest,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let cookie = auth::end_session(&state, &req).await?;
    let mut res = see_other("/login");
    res.add_cookie(&cookie)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(res)
}

async fn county_names(
    state: &AppState,
    actor: &Actor<'_>,
) -> Result<HashMap<i32, String>, AppError> {
    Ok(accounts::counties(&state.app, actor)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect())
}

/// The start page: the surveys the user may see.
#[derive(Deserialize)]
pub struct HomeQuery {
    archived: Option<String>,
}

pub async fn home(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    query: web::Query<HomeQuery>,
    done: web::Query<DoneQuery>,
) -> Result<HttpResponse, AppError> {
    let actor = user.actor();
    let surveys = surveys::list(&state.app, &actor).await?;
    // The everyday list leaves archived surveys out; `?archived=1` lists them alone.
    let show_archived = query.archived.is_some();
    let archived = surveys.iter().filter(|s| s.archived_at.is_some()).count();
    let views: Vec<SurveyView> = surveys
        .iter()
        .filter(|s| s.archived_at.is_some() == show_archived)
        .map(SurveyView::new)
        .collect();
    let mut ctx = page(Some(&user), &csrf);
    ctx.insert("surveys", &views);
    ctx.insert("notice", &done.message());
    ctx.insert("show_archived", &show_archived);
    ctx.insert("archived_count", &archived);
    ctx.insert("county_names", &county_names(&state, &actor).await?);
    if let Some(c) = user.county_id {
        let own = match home_county(&state, &actor, c).await {
            Ok(county) => Some(county),
            Err(AppError::NotFound) => None,
            Err(e) => return Err(e),
        };
        ctx.insert("own_county", &own);
    }
    render(&state, StatusCode::OK, "admin/home.html", &ctx)
}

/// The county of the home page's heading: a school user's too (its name only).
async fn home_county(
    state: &AppState,
    actor: &crate::app::Actor<'_>,
    id: i32,
) -> Result<crate::domain::account::County, AppError> {
    accounts::counties(&state.app, actor)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(AppError::NotFound)
}

async fn counties_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: &CsrfToken,
    error: Option<(&AppError, &str)>,
    notice: Option<String>,
) -> Result<HttpResponse, AppError> {
    let actor = user.actor();
    actor.require_admin()?;
    let mut ctx = page(Some(user), csrf);
    ctx.insert("notice", &notice);
    ctx.insert("counties", &accounts::counties(&state.app, &actor).await?);
    let mut status = StatusCode::OK;
    if let Some((err, name)) = error {
        insert_error(&mut ctx, err);
        ctx.insert("name", name);
        status = error_status(err);
    }
    render(state, status, "admin/counties.html", &ctx)
}

pub async fn counties(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    done: web::Query<DoneQuery>,
) -> Result<HttpResponse, AppError> {
    counties_page(&state, &user, &csrf, None, done.message()).await
}

pub async fn create_county(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    form: CsrfForm<CountyForm>,
) -> Result<HttpResponse, AppError> {
    user.actor().require_admin()?;
    let form = form.0;
    let result = async {
        form.validate()?;
        accounts::create_county(&state.app, &user.actor(), &form.name).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&Done::CountyCreated.on("/admin/counties"))),
        Err(e) => {
            let e = form_error(e)?;
            counties_page(&state, &user, &csrf, Some((&e, &form.name)), None).await
        }
    }
}

async fn users_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: &CsrfToken,
    error: Option<(&AppError, &UserForm)>,
) -> Result<HttpResponse, AppError> {
    users_page_with(state, user, csrf, error, None, None).await
}

/// The users page with the outcome of an action: the new-user form's error (with what was
/// typed), an error or a notice about a user's row.
async fn users_page_with(
    state: &AppState,
    user: &CurrentUser,
    csrf: &CsrfToken,
    error: Option<(&AppError, &UserForm)>,
    row_error: Option<&AppError>,
    notice: Option<String>,
) -> Result<HttpResponse, AppError> {
    let actor = user.actor();
    let users = accounts::users(&state.app, &actor).await?;
    let mut ctx = page(Some(user), csrf);
    let rows: Vec<_> = users
        .iter()
        .map(|u| {
            serde_json::json!({
                "id": u.id,
                "username": u.username,
                "role": u.role.code(),
                "role_label": u.role.label(),
                "county_id": u.county_id,
                "school": u.school,
                "active": u.active,
                "is_me": u.id == user.id,
            })
        })
        .collect();
    ctx.insert("notice", &notice);
    if let Some(e) = row_error {
        ctx.insert("row_error", &e.to_string());
    }
    ctx.insert("users", &rows);
    ctx.insert("counties", &accounts::counties(&state.app, &actor).await?);
    ctx.insert("county_names", &county_names(state, &actor).await?);
    let roles: Vec<_> = Role::ALL
        .iter()
        .map(|r| serde_json::json!({"code": r.code(), "label": r.label()}))
        .collect();
    ctx.insert("roles", &roles);
    let mut status = StatusCode::OK;
    if let Some((err, form)) = error {
        insert_error(&mut ctx, err);
        ctx.insert("form_username", &form.username);
        ctx.insert("form_role", &form.role);
        ctx.insert("form_county", &form.county_id);
        ctx.insert("form_school", &form.school);
        status = error_status(err);
    }
    if let Some(e) = row_error {
        status = error_status(e);
    }
    render(state, status, "admin/users.html", &ctx)
}

/// A user's row on the users page: role, county, and whether they may log in.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserChangeForm {
    role: String,
    county_id: String,
    /// `1`: may log in; anything else (an unticked box sends nothing): disabled.
    active: String,
}

pub async fn change_user(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<UserChangeForm>,
) -> Result<HttpResponse, AppError> {
    user.actor().require_admin()?;
    let f = form.0;
    let result = async {
        let county = match f.county_id.trim() {
            "" => None,
            c => Some(
                c.parse()
                    .map_err(|_| AppError::invalid("county_id", "请选择县（区）"))?,
            ),
        };
        accounts::change_user(
            &state.app,
            &user.actor(),
            path.into_inner(),
            accounts::UserChange {
                role: Some(f.role.as_str()).filter(|r| !r.is_empty()),
                county_id: Some(county),
                active: Some(f.active == "1"),
            },
        )
        .await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&Done::UserSaved.on("/admin/users"))),
        Err(e) => {
            let e = form_error(e)?;
            users_page_with(&state, &user, &csrf, None, Some(&e), None).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    password: String,
}

pub async fn reset_password(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    user.actor().require_admin()?;
    match accounts::reset_password(
        &state.app,
        &user.actor(),
        path.into_inner(),
        &form.0.password,
    )
    .await
    {
        Ok(_) => Ok(see_other(&Done::PasswordReset.on("/admin/users"))),
        Err(e) => {
            let e = form_error(e)?;
            users_page_with(&state, &user, &csrf, None, Some(&e), None).await
        }
    }
}

fn own_password_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: &CsrfToken,
    error: Option<&AppError>,
    notice: Option<String>,
) -> Result<HttpResponse, AppError> {
    let mut ctx = page(Some(user), csrf);
    ctx.insert("notice", &notice);
    let status = match error {
        Some(e) => {
            insert_error(&mut ctx, e);
            error_status(e)
        }
        None => StatusCode::OK,
    };
    render(state, status, "admin/password.html", &ctx)
}

pub async fn password_page(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    done: web::Query<DoneQuery>,
) -> Result<HttpResponse, AppError> {
    own_password_page(&state, &user, &csrf, None, done.message())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OwnPasswordForm {
    current_password: String,
    new_password: String,
    new_password_again: String,
}

pub async fn change_own_password(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    form: CsrfForm<OwnPasswordForm>,
) -> Result<HttpResponse, AppError> {
    let f = form.0;
    let result = if f.new_password != f.new_password_again {
        Err(AppError::invalid(
            "new_password_again",
            "两次输入的新密码不一致",
        ))
    } else {
        let token = auth::session_token(&state, &req);
        accounts::change_own_password(
            &state.app,
            &user,
            token.as_deref(),
            &f.current_password,
            &f.new_password,
        )
        .await
    };
    match result {
        Ok(()) => Ok(see_other(&Done::PasswordChanged.on("/admin/password"))),
        Err(e) => {
            let e = form_error(e)?;
            own_password_page(&state, &user, &csrf, Some(&e), None)
        }
    }
}

pub async fn users(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    done: web::Query<DoneQuery>,
) -> Result<HttpResponse, AppError> {
    users_page_with(&state, &user, &csrf, None, None, done.message()).await
}

pub async fn create_user(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    form: CsrfForm<UserForm>,
) -> Result<HttpResponse, AppError> {
    user.actor().require_admin()?;
    let form = form.0;
    let result = async {
        form.validate()?;
        let county = match form.county_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => Some(
                c.parse()
                    .map_err(|_| AppError::invalid("county_id", "请选择县（区）"))?,
            ),
        };
        accounts::create_user(
            &state.app,
            &user.actor(),
            NewUserInput {
                username: &form.username,
                password: &form.password,
                role: &form.role,
                county_id: county,
                school: Some(form.school.as_str()),
            },
        )
        .await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&Done::UserCreated.on("/admin/users"))),
        Err(e) => {
            let e = form_error(e)?;
            users_page(&state, &user, &csrf, Some((&e, &form))).await
        }
    }
}

async fn survey_form_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: &CsrfToken,
    survey_id: Option<i32>,
    form: &SurveyForm,
    error: Option<&AppError>,
) -> Result<HttpResponse, AppError> {
    let mut ctx = page(Some(user), csrf);
    ctx.insert("form", form);
    ctx.insert("survey_id", &survey_id);
    if user.county_scope().is_none() && survey_id.is_none() {
        ctx.insert(
            "counties",
            &accounts::counties(&state.app, &user.actor()).await?,
        );
    }
    let mut status = StatusCode::OK;
    if let Some(err) = error {
        insert_error(&mut ctx, err);
        status = error_status(err);
    }
    render(state, status, "admin/survey_form.html", &ctx)
}

pub async fn new_survey(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    user.actor().require_organizer()?;
    survey_form_page(&state, &user, &csrf, None, &SurveyForm::blank(), None).await
}

pub async fn create_survey(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    form: CsrfForm<SurveyForm>,
) -> Result<HttpResponse, AppError> {
    user.actor().require_organizer()?;
    let form = form.0;
    let result = async {
        let settings = form.settings()?;
        surveys::create(&state.app, &user.actor(), &settings, form.county()?).await
    }
    .await;
    match result {
        Ok(survey) => Ok(see_other(
            &Done::SurveyCreated.on(&format!("/admin/surveys/{}", survey.id)),
        )),
        Err(e) => {
            let e = form_error(e)?;
            survey_form_page(&state, &user, &csrf, None, &form, Some(&e)).await
        }
    }
}

pub async fn show_survey(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    done: web::Query<DoneQuery>,
) -> Result<HttpResponse, AppError> {
    let notice = done.message();
    survey_page(
        &state,
        &user,
        &csrf,
        path.into_inner(),
        None,
        notice.as_deref(),
    )
    .await
}

/// The survey's page, with the outcome of an action taken on it.
async fn survey_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: &CsrfToken,
    id: i32,
    error: Option<&AppError>,
    notice: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let actor = user.actor();
    let (survey, full, places) = sampling::places(&state.app, &actor, id).await?;
    let current = crate::app::draws::current_with_staleness(&state.app, &actor, survey.id).await?;
    let stale = super::sampling::stale_labels(current.as_ref());
    let draw = current.as_ref().map(|(d, _)| d);
    let county = accounts::county(&state.app, &actor, survey.county_id).await?;
    let mut ctx = page(Some(user), csrf);
    ctx.insert("survey", &SurveyView::with_plan(&survey, &full.plan));
    ctx.insert("strata", &full.lines_with(&places));
    ctx.insert("current_draw", &draw.map(super::sampling::DrawView::from));
    ctx.insert("stale", &stale);
    // The copy form is the organisers'.
    if user.role.can_organize() {
        ctx.insert(
            "next_round_name",
            &surveys::next_round_name(&state.app, &survey).await?,
        );
    }
    ctx.insert("county", &county);
    ctx.insert(
        "closes_at_value",
        &super::input::local_time_value(survey.settings.window.closes_at),
    );
    ctx.insert("notice", &notice);
    let status = match error {
        Some(e) => {
            ctx.insert("error", &e.to_string());
            ctx.insert("error_field", &e.field());
            error_status(e)
        }
        None => StatusCode::OK,
    };
    render(state, status, "admin/survey.html", &ctx)
}

/// The window form: the new end time, in Beijing time.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WindowForm {
    closes_at: String,
}

pub async fn change_window(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<WindowForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    surveys::organized(&state.app, &user.actor(), id).await?;
    let result = async {
        let closes_at = super::input::parse_local_time(&form.0.closes_at, "closes_at")?
            .ok_or_else(|| AppError::invalid("closes_at", "请填写新的结束时间"))?;
        surveys::change_window(&state.app, &user.actor(), id, closes_at).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(
            &Done::WindowChanged.on(&format!("/admin/surveys/{id}")),
        )),
        Err(e) => {
            let e = form_error(e)?;
            survey_page(&state, &user, &csrf, id, Some(&e), None).await
        }
    }
}

pub async fn edit_survey(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let survey = surveys::editable(&state.app, &user.actor(), path.into_inner()).await?;
    let form = SurveyForm::from_survey(&survey);
    survey_form_page(&state, &user, &csrf, Some(survey.id), &form, None).await
}

pub async fn update_survey(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<SurveyForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    surveys::organized(&state.app, &user.actor(), id).await?;
    let form = form.0;
    let result = async {
        let settings = form.settings()?;
        surveys::change_settings(&state.app, &user.actor(), id, &settings).await
    }
    .await;
    match result {
        Ok(survey) => Ok(see_other(&format!("/admin/surveys/{}", survey.id))),
        Err(e) => {
            let e = form_error(e)?;
            survey_form_page(&state, &user, &csrf, Some(id), &form, Some(&e)).await
        }
    }
}

async fn checklist_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: &CsrfToken,
    req: &HttpRequest,
    id: i32,
    error: Option<&AppError>,
) -> Result<HttpResponse, AppError> {
    let links = state.link_address(req);
    let (survey, checks) = surveys::checklist(&state.app, &user.actor(), id, &links).await?;
    let mut ctx = page(Some(user), csrf);
    ctx.insert("survey", &SurveyView::new(&survey));
    ctx.insert("checks", &checks);
    ctx.insert(
        "warnings",
        &crate::domain::opening::warnings(&checks).count(),
    );
    ctx.insert(
        "blocked",
        &crate::domain::opening::blocking(&checks).next().is_some(),
    );
    let status = match error {
        Some(e) => {
            ctx.insert("error", &e.to_string());
            error_status(e)
        }
        None => StatusCode::OK,
    };
    render(state, status, "admin/open.html", &ctx)
}

/// The checklist before a draft opens (a closed survey reopens from its own page).
pub async fn open_checklist(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    checklist_page(&state, &user, &csrf, &req, path.into_inner(), None).await
}

pub async fn open_survey(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    path: web::Path<i32>,
    form: CsrfForm<ConfirmForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let opening = Opening {
        links: state.link_address(&req),
        confirmed: form.0.ticked(),
    };
    match surveys::transition(&state.app, &user.actor(), id, Transition::Open(opening)).await {
        Ok(survey) => Ok(see_other(
            &Done::SurveyOpened.on(&format!("/admin/surveys/{}", survey.id)),
        )),
        Err(e) => {
            let e = form_error(e)?;
            checklist_page(&state, &user, &csrf, &req, id, Some(&e)).await
        }
    }
}

/// Ends the answering; the organiser ticks that they mean it (the links stop working).
pub async fn close_survey(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<ConfirmForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    surveys::organized(&state.app, &user.actor(), id).await?;
    let result = async {
        require_tick(
            &form.0.confirm,
            "请勾选“确认结束”：结束后所有链接和二维码不再接受回答",
        )?;
        surveys::transition(&state.app, &user.actor(), id, Transition::Close).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(
            &Done::SurveyClosed.on(&format!("/admin/surveys/{id}")),
        )),
        Err(e) => {
            let e = form_error(e)?;
            survey_page(&state, &user, &csrf, id, Some(&e), None).await
        }
    }
}

pub async fn delete_survey(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<ConfirmForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    surveys::organized(&state.app, &user.actor(), id).await?;
    let result = async {
        require_tick(
            &form.0.confirm,
            "请勾选“确认删除”：删除后乡镇、学校、名册和抽样记录都不能恢复",
        )?;
        surveys::delete_draft(&state.app, &user.actor(), id).await
    }
    .await;
    match result {
        Ok(()) => Ok(see_other(&Done::SurveyDeleted.on("/admin"))),
        Err(e) => {
            let e = form_error(e)?;
            survey_page(&state, &user, &csrf, id, Some(&e), None).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ArchiveForm {
    /// `1` archives, anything else brings it back.
    archived: String,
}

pub async fn archive_survey(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<ArchiveForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let archived = form.0.archived == "1";
    match surveys::set_archived(&state.app, &user.actor(), id, archived).await {
        Ok(_) => {
            let done = if archived {
                Done::Archived
            } else {
                Done::Restored
            };
            Ok(see_other(&done.on(&format!("/admin/surveys/{id}"))))
        }
        Err(e) => {
            let e = form_error(e)?;
            survey_page(&state, &user, &csrf, id, Some(&e), None).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CopyForm {
    name: String,
}

pub async fn copy_survey(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<CopyForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    match surveys::copy(&state.app, &user.actor(), id, Some(&form.0.name)).await {
        Ok(created) => Ok(see_other(
            &Done::Copied.on(&format!("/admin/surveys/{}", created.id)),
        )),
        Err(e) => {
            let e = form_error(e)?;
            survey_page(&state, &user, &csrf, id, Some(&e), None).await
        }
    }
}
