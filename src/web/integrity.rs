//! Held answers: the list for review (JSON and the invitations page) and the bulk decisions;
//! the integrity panel (JSON and its page).
use super::AppState;
use super::admin::{page, render};
use super::auth::CurrentUser;
use super::csrf::{CsrfForm, CsrfToken};
use super::input::ApiJson;
use super::view::SurveyView;
use crate::app::{Actor, Context, integrity, sampling, surveys};
use crate::domain::response::{HeldFilter, HeldGroup};
use crate::error::AppError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use validator::Validate;

type State = web::Data<AppState>;

/// Held answers of one channel, address and hour, as shown.
#[derive(Debug, Serialize)]
pub struct HeldView {
    pub channel: String,
    pub channel_label: String,
    /// The address as counted (a keyed hash: the address itself is never kept).
    pub address: String,
    pub hour: DateTime<Utc>,
    pub held: u64,
    pub rejected: u64,
}

/// The held answers of a survey the actor organises, each group labelled by its channel.
pub async fn held_views(
    app: &Context,
    actor: &Actor<'_>,
    id: i32,
) -> Result<Vec<HeldView>, AppError> {
    let groups: Vec<HeldGroup> = integrity::held(app, actor, id).await?;
    let channels = sampling::channels(app, actor, id).await?;
    Ok(groups
        .into_iter()
        .map(|g| {
            let ch = channels.iter().find(|c| c.channel.id == g.channel_id);
            let label = ch.map_or_else(String::new, |c| c.label());
            HeldView {
                channel: ch.map_or_else(String::new, |c| c.channel.code.clone()),
                channel_label: label,
                address: g.address,
                hour: g.hour,
                held: g.held,
                rejected: g.rejected,
            }
        })
        .collect())
}

/// Which held answers to decide on: a channel (its code), an address, an hour; all if none.
#[derive(Debug, Default, Deserialize, Validate)]
#[serde(default, deny_unknown_fields)]
pub struct HeldInput {
    #[validate(length(max = 64))]
    pub channel: Option<String>,
    #[validate(length(max = 32))]
    pub address: Option<String>,
    pub hour: Option<DateTime<Utc>>,
}

impl HeldInput {
    async fn filter(
        &self,
        app: &Context,
        actor: &Actor<'_>,
        id: i32,
    ) -> Result<HeldFilter, AppError> {
        self.validate()?;
        let present = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let channel_id = match present(&self.channel) {
            None => None,
            Some(code) => Some(
                sampling::channel(app, actor, id, &code)
                    .await
                    .map_err(|e| match e {
                        AppError::NotFound => AppError::invalid("channel", "没有这个开放二维码"),
                        other => other,
                    })?
                    .id,
            ),
        };
        Ok(HeldFilter {
            channel_id,
            address: present(&self.address),
            hour: self.hour,
        })
    }
}

pub async fn api_held(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let views = held_views(&state.app, &user.actor(), path.into_inner()).await?;
    let held: u64 = views.iter().map(|v| v.held).sum();
    let rejected: u64 = views.iter().map(|v| v.rejected).sum();
    Ok(HttpResponse::Ok().json(json!({"held": held, "rejected": rejected, "groups": views})))
}

async fn decide(
    state: &AppState,
    user: &CurrentUser,
    id: i32,
    input: &HeldInput,
    accept: bool,
) -> Result<integrity::Decision, AppError> {
    let actor = user.actor();
    let filter = input.filter(&state.app, &actor, id).await?;
    if accept {
        integrity::accept(&state.app, &actor, id, &filter).await
    } else {
        integrity::reject(&state.app, &actor, id, &filter).await
    }
}

pub async fn api_accept(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: ApiJson<HeldInput>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    surveys::organized(&state.app, &user.actor(), id).await?;
    let input = input.parse()?;
    Ok(HttpResponse::Ok().json(decide(&state, &user, id, &input, true).await?))
}

pub async fn api_reject(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: ApiJson<HeldInput>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    surveys::organized(&state.app, &user.actor(), id).await?;
    let input = input.parse()?;
    Ok(HttpResponse::Ok().json(decide(&state, &user, id, &input, false).await?))
}

/// The page's form: the decision and the group it applies to.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HeldForm {
    decision: String,
    channel: String,
    address: String,
    hour: String,
}

pub async fn page_decide(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    path: web::Path<i32>,
    form: CsrfForm<HeldForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let survey = surveys::organized(&state.app, &user.actor(), id).await?;
    let f = form.0;
    let result = async {
        let accept = match f.decision.as_str() {
            "accept" => true,
            "reject" => false,
            _ => return Err(AppError::invalid("decision", "请选择接受或拒绝")),
        };
        let hour = match f.hour.trim() {
            "" => None,
            h => Some(
                DateTime::parse_from_rfc3339(h)
                    .map_err(|_| AppError::invalid("hour", "时间无效"))?
                    .with_timezone(&Utc),
            ),
        };
        let input = HeldInput {
            channel: Some(f.channel.clone()),
            address: Some(f.address.clone()),
            hour,
        };
        decide(&state, &user, id, &input, accept).await
    }
    .await;
    let (error, notice) = match result {
        Ok(d) if d.rejected > 0 => (
            None,
            Some(format!(
                "已拒绝 {} 份待审核的答卷（保留，不计入）",
                d.rejected
            )),
        ),
        Ok(d) if d.accepted == 0 && d.without_place > 0 => (
            Some(AppError::Conflict(format!(
                "没有接受任何答卷：这 {} 份所在层的名额已满，仍待审核（可拒绝）",
                d.without_place
            ))),
            None,
        ),
        Ok(d) => (
            None,
            Some(format!(
                "已接受 {} 份待审核的答卷并计入{}",
                d.accepted,
                if d.without_place > 0 {
                    format!("；{} 份因所在层名额已满仍待审核", d.without_place)
                } else {
                    String::new()
                }
            )),
        ),
        Err(e) => (Some(super::admin::form_error(e)?), None),
    };
    super::sampling_pages::invitations_page(&state, &user, &csrf, &req, &survey, error, notice)
        .await
}

/// `GET /api/v1/surveys/{id}/integrity`: each school's and channel's line and the rate with
/// and without what the panel flags.
pub async fn api_panel(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let (_, panel) = integrity::panel(&state.app, &user.actor(), path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(panel))
}

/// The integrity panel's page (数据可信度).
pub async fn page_panel(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let (survey, panel) = integrity::panel(&state.app, &user.actor(), path.into_inner()).await?;
    let mut ctx = page(Some(&user), &csrf);
    ctx.insert("survey", &SurveyView::new(&survey));
    ctx.insert("p", &panel);
    render(&state, StatusCode::OK, "admin/integrity.html", &ctx)
}
