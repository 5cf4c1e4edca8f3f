//! The respondents' side: invitation links (`/s/{token}`) and open channels (`/o/{code}`).
//! Pages for every state a link can be in, in Chinese, with the right status code.
use super::AppState;
use crate::domain::invitation::InvitationStatus;
use crate::domain::survey::{Survey, SurveyStatus};
use crate::error::AppError;
use crate::store;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

type State = web::Data<AppState>;

/// Per client address: invalid-token guesses (burst 20, then one every 3 s) and open-channel
/// submissions (burst 120, then two a second — enough for a school whose parents share one
/// network address, too slow for a script stuffing a quota).
pub struct RespondentLimiter {
    invalid_tokens: DefaultKeyedRateLimiter<IpAddr>,
    pub submissions: DefaultKeyedRateLimiter<IpAddr>,
}

fn quota(period: Duration, burst: u32) -> Quota {
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

impl Default for RespondentLimiter {
    fn default() -> Self {
        RespondentLimiter {
            invalid_tokens: RateLimiter::keyed(quota(Duration::from_secs(3), 20)),
            submissions: RateLimiter::keyed(quota(Duration::from_millis(500), 120)),
        }
    }
}

impl RespondentLimiter {
    /// Counts a failed token; false once the address has guessed too often.
    pub fn allow_invalid_token(&self, ip: Option<IpAddr>) -> bool {
        if self.invalid_tokens.len() > 100_000 {
            self.invalid_tokens.retain_recent();
        }
        ip.is_none_or(|ip| self.invalid_tokens.check_key(&ip).is_ok())
    }
}

/// A page for a respondent: a title, a message, a status.
pub struct Notice {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

impl Notice {
    fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Notice {
            status,
            title,
            message: message.into(),
        }
    }

    pub fn invalid_link() -> Self {
        Notice::new(
            StatusCode::NOT_FOUND,
            "链接无效",
            "这个问卷链接无效或已失效。请核对链接是否完整，或联系发送链接的学校、教育局。",
        )
    }

    pub fn answered() -> Self {
        Notice::new(
            StatusCode::CONFLICT,
            "您已提交过问卷",
            "这份问卷已经提交，每个链接只能提交一次。感谢您的参与！",
        )
    }

    pub fn quota_full() -> Self {
        Notice::new(
            StatusCode::CONFLICT,
            "名额已满，感谢支持",
            "本次调查这一类对象的名额已经满了，无需再填写。感谢您的支持！",
        )
    }
}

/// Whether a survey is taking answers now; a notice when it is not.
pub fn answering_state(survey: &Survey) -> Result<(), Notice> {
    let now = Utc::now();
    let w = &survey.settings.window;
    let not_yet = Notice::new(
        StatusCode::FORBIDDEN,
        "调查尚未开始",
        "本次调查还没有开始，请在调查开始后再打开此链接。",
    );
    let over = Notice::new(
        StatusCode::GONE,
        "调查已结束",
        "本次调查已经结束，感谢您的关注！",
    );
    match survey.status {
        SurveyStatus::Draft => Err(not_yet),
        SurveyStatus::Closed => Err(over),
        SurveyStatus::Open if w.opens_at.is_some_and(|t| now < t) => Err(not_yet),
        SurveyStatus::Open if w.closes_at.is_some_and(|t| now >= t) => Err(over),
        SurveyStatus::Open => Ok(()),
    }
}

pub fn render_notice(state: &AppState, notice: &Notice) -> Result<HttpResponse, AppError> {
    let mut ctx = tera::Context::new();
    ctx.insert("title", notice.title);
    ctx.insert("message", &notice.message);
    let html = state.tera.render("respond/notice.html", &ctx)?;
    Ok(respondent_page(notice.status).body(html))
}

/// Headers of every respondent page: tokens are in the URL, so no Referer leaves the page.
pub fn respondent_page(status: StatusCode) -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.content_type("text/html; charset=utf-8")
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("Cache-Control", "no-store"));
    b
}

/// What an invitation link leads to.
pub enum InvitationTarget {
    Ready(Box<Survey>, store::invitations::InvitationRow),
    Notice(Notice),
}

pub async fn resolve_invitation(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
) -> Result<InvitationTarget, AppError> {
    let ip = state.client_ip(req);
    let found = match state.token_key.verify(token) {
        Some(id) => store::invitations::find(&state.db, id).await?,
        None => None,
    };
    let Some(inv) = found.filter(|i| i.status != InvitationStatus::Revoked.code()) else {
        if !state.respondent_limiter.allow_invalid_token(ip) {
            return Err(AppError::TooManyRequests);
        }
        return Ok(InvitationTarget::Notice(Notice::invalid_link()));
    };
    let survey = store::surveys::find(&state.db, inv.survey_id, None)
        .await?
        .ok_or(AppError::NotFound)?;
    if inv.status == InvitationStatus::Answered.code() {
        return Ok(InvitationTarget::Notice(Notice::answered()));
    }
    if let Err(n) = answering_state(&survey) {
        return Ok(InvitationTarget::Notice(n));
    }
    Ok(InvitationTarget::Ready(Box::new(survey), inv))
}

pub async fn invitation_page(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    match resolve_invitation(&state, &req, &path.into_inner()).await? {
        InvitationTarget::Notice(n) => render_notice(&state, &n),
        InvitationTarget::Ready(survey, _) => welcome(&state, &survey),
    }
}

/// What an open channel leads to.
pub enum ChannelTarget {
    Ready(Box<Survey>, store::channels::ChannelRow, i32, u64),
    Notice(Notice),
}

pub async fn resolve_channel(state: &AppState, code: &str) -> Result<ChannelTarget, AppError> {
    let Some(ch) = store::channels::find_by_code(&state.db, code).await? else {
        return Ok(ChannelTarget::Notice(Notice::invalid_link()));
    };
    let survey = store::surveys::find(&state.db, ch.survey_id, None)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Err(n) = answering_state(&survey) {
        return Ok(ChannelTarget::Notice(n));
    }
    let full = super::sampling::FullPlan::load(state, &survey).await?;
    let cell = super::sampling::channel_cell(&full.geo, &ch);
    let group = ch
        .grp
        .parse()
        .map_err(|_| AppError::Internal(format!("channel {}: group", ch.id)))?;
    let quota = full.cell_quota(group, (cell != 0).then_some(cell));
    if store::channels::filled(&state.db, survey.id, &ch.grp, cell).await? >= quota {
        return Ok(ChannelTarget::Notice(Notice::quota_full()));
    }
    Ok(ChannelTarget::Ready(Box::new(survey), ch, cell, quota))
}

pub async fn channel_page(state: State, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    match resolve_channel(&state, &path.into_inner()).await? {
        ChannelTarget::Notice(n) => render_notice(&state, &n),
        ChannelTarget::Ready(survey, ..) => welcome(&state, &survey),
    }
}

fn welcome(state: &AppState, survey: &Survey) -> Result<HttpResponse, AppError> {
    let mut ctx = tera::Context::new();
    ctx.insert("survey_name", &survey.settings.name);
    let html = state.tera.render("respond/welcome.html", &ctx)?;
    Ok(respondent_page(StatusCode::OK).body(html))
}
