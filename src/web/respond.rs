//! The respondents' side: invitation links (`/s/{token}`) and open channels (`/o/{code}`).
//! Pages for every state a link can be in, in Chinese, with the right status code.
use super::AppState;
use super::live::LiveSurvey;
use super::templates::Spliced;
use crate::domain::group::RespondentGroup;
use crate::domain::invitation::InvitationStatus;
use crate::domain::questionnaire::{AnswerErrors, Definition, MAX_COMMENT_CHARS};
use crate::domain::survey::{Survey, SurveyStatus};
use crate::error::AppError;
use crate::store;
use crate::store::questionnaires::StoredQuestionnaire;
use crate::store::submissions::{Claim, Submission, Verdict};
use actix_web::cookie::{Cookie, CookieJar, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

type State = web::Data<AppState>;

/// The largest questionnaire submission accepted (answers and a 500-character comment).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

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

    pub fn tampered() -> Self {
        Notice::new(
            StatusCode::BAD_REQUEST,
            "提交的内容无效",
            "提交的内容与问卷不符。请重新打开问卷链接填写。",
        )
    }

    pub fn too_many() -> Self {
        Notice::new(
            StatusCode::TOO_MANY_REQUESTS,
            "请稍后再试",
            "提交过于频繁，请稍等一会儿再试。",
        )
    }

    pub fn closed() -> Self {
        Notice::new(
            StatusCode::GONE,
            "调查已结束",
            "本次调查已经结束，感谢您的关注！",
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
    match survey.status {
        SurveyStatus::Draft => Err(not_yet),
        SurveyStatus::Closed => Err(Notice::closed()),
        SurveyStatus::Open if w.opens_at.is_some_and(|t| now < t) => Err(not_yet),
        SurveyStatus::Open if w.closes_at.is_some_and(|t| now >= t) => Err(Notice::closed()),
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
    Ready(Arc<LiveSurvey>, Arc<store::invitations::InvitationRow>),
    Notice(Notice),
}

/// Resolves an invitation link. For a submission (`submitting`), an invitation whose page this
/// server just showed is taken from memory: the writer re-checks it at commit.
pub async fn resolve_invitation(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    submitting: bool,
) -> Result<InvitationTarget, AppError> {
    let ip = state.client_ip(req);
    let id = state.token_key.verify(token);
    let shown = id
        .filter(|_| submitting)
        .and_then(|id| i32::try_from(id).ok())
        .and_then(|id| state.shown.get(id));
    let found = match (shown, id) {
        (Some(inv), _) => Some(inv),
        (None, Some(id)) => store::invitations::find(&state.db, id).await?.map(Arc::new),
        (None, None) => None,
    };
    let Some(inv) = found.filter(|i| i.status != InvitationStatus::Revoked.code()) else {
        if !state.respondent_limiter.allow_invalid_token(ip) {
            return Err(AppError::TooManyRequests);
        }
        return Ok(InvitationTarget::Notice(Notice::invalid_link()));
    };
    let live = state
        .surveys
        .get(&state.db, inv.survey_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if inv.status == InvitationStatus::Answered.code() {
        return Ok(InvitationTarget::Notice(Notice::answered()));
    }
    if let Err(n) = answering_state(&live.survey) {
        return Ok(InvitationTarget::Notice(n));
    }
    Ok(InvitationTarget::Ready(live, inv))
}

/// What an open channel leads to.
pub enum ChannelTarget {
    Ready(Arc<LiveSurvey>, store::channels::ChannelRow, i32, u64),
    Notice(Notice),
}

pub async fn resolve_channel(state: &AppState, code: &str) -> Result<ChannelTarget, AppError> {
    let Some(ch) = store::channels::find_by_code(&state.db, code).await? else {
        return Ok(ChannelTarget::Notice(Notice::invalid_link()));
    };
    let live = state
        .surveys
        .get(&state.db, ch.survey_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Err(n) = answering_state(&live.survey) {
        return Ok(ChannelTarget::Notice(n));
    }
    let (cell, quota) = live.channel_cell(&state.db, &ch).await?;
    if store::channels::filled(&state.db, live.survey.id, &ch.grp, cell).await? >= quota {
        return Ok(ChannelTarget::Notice(Notice::quota_full()));
    }
    Ok(ChannelTarget::Ready(live, ch, cell, quota))
}

// ---- the questionnaire form and its submission ---------------------------------------------

/// Where a respondent came from, and what their response records of it.
struct Origin {
    live: Arc<LiveSurvey>,
    group: RespondentGroup,
    area_id: Option<i32>,
    school_id: Option<i32>,
    band: Option<i16>,
    source: &'static str,
}

/// Hidden fields of the form: a one-time nonce (makes a retried submit idempotent) and the
/// signed time the page was served (for the completion time).
struct FormMeta {
    nonce: String,
    started: String,
}

impl FormMeta {
    fn fresh(state: &AppState) -> FormMeta {
        FormMeta {
            nonce: super::auth::random_token(),
            started: state.form_key.token(Utc::now().timestamp()),
        }
    }
}

fn nonce_hash(nonce: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(nonce.as_bytes()))
}

impl Origin {
    async fn questionnaire(&self, state: &AppState) -> Result<Arc<StoredQuestionnaire>, AppError> {
        let id = self.live.questionnaire_id(self.group.booklet())?;
        state.questionnaires.get(&state.db, id).await
    }
}

/// The questionnaire's page, but for its nonce, start time and link: with chosen options kept
/// and missing items marked.
fn form_context(
    origin: &Origin,
    def: &Definition,
    chosen: &[Option<usize>],
    comment: &str,
    errors: Option<&AnswerErrors>,
) -> tera::Context {
    let missing: Vec<&str> = errors.map_or(Vec::new(), |e| {
        e.missing.iter().map(String::as_str).collect()
    });
    let items: Vec<_> = def
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            json!({
                "number": i + 1,
                "id": item.id,
                "text": item.text,
                "chosen": chosen.get(i).copied().flatten().map(|o| def.scale.options[o].code.clone()),
                "missing": missing.contains(&item.id.as_str()),
            })
        })
        .collect();
    let missing_numbers: Vec<_> = def
        .items
        .iter()
        .enumerate()
        .filter(|(_, it)| missing.contains(&it.id.as_str()))
        .map(|(i, it)| json!({"number": i + 1, "id": it.id}))
        .collect();
    let mut ctx = tera::Context::new();
    ctx.insert("survey_name", &origin.live.survey.settings.name);
    ctx.insert("county", &origin.live.county);
    ctx.insert("group_label", origin.group.label());
    ctx.insert("title", &def.title);
    ctx.insert("intro", &def.intro);
    ctx.insert("items", &items);
    ctx.insert("options", &def.scale.options);
    ctx.insert("comment_prompt", &def.comment_prompt);
    ctx.insert("comment", comment);
    ctx.insert("max_comment", &MAX_COMMENT_CHARS);
    ctx.insert(
        "comment_too_long",
        &errors.is_some_and(|e| e.comment_too_long),
    );
    ctx.insert("missing", &missing_numbers);
    ctx.insert("minutes", &def.items.len().div_ceil(5).max(2));
    ctx
}

/// The slots of a blank form, filled per request.
const FORM_SLOTS: [&str; 3] = ["nonce", "started", "action"];

fn thanks(state: &AppState, req: &HttpRequest) -> Result<HttpResponse, AppError> {
    Ok(spliced_page(req, &state.thanks_page, &[req.path()]))
}

/// A spliced page, gzipped for a client that accepts it (no compression per request).
fn spliced_page(req: &HttpRequest, page: &Spliced, values: &[&str]) -> HttpResponse {
    use actix_web::http::header;
    let mut res = respondent_page(StatusCode::OK);
    res.insert_header((header::VARY, "accept-encoding"));
    if super::middleware::accepts_gzip(req.headers()) {
        res.insert_header((header::CONTENT_ENCODING, "gzip"))
            .body(page.fill_gzip(values))
    } else {
        res.body(page.fill(values))
    }
}

/// A blank questionnaire: rendered once per survey and group (while the survey's entry is
/// live), then only its nonce, start time and link change.
async fn show_form(
    state: &AppState,
    req: &HttpRequest,
    origin: &Origin,
) -> Result<HttpResponse, AppError> {
    let q = origin.questionnaire(state).await?;
    let page = origin.live.form(origin.group, || {
        let def = &q.definition;
        let ctx = form_context(origin, def, &vec![None; def.items.len()], "", None);
        Spliced::render(&state.tera, "respond/form.html", ctx, &FORM_SLOTS)
    })?;
    let meta = FormMeta::fresh(state);
    Ok(spliced_page(
        req,
        &page,
        &[&meta.nonce, &meta.started, req.path()],
    ))
}

pub async fn invitation_page(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    match resolve_invitation(&state, &req, &path.into_inner(), false).await? {
        InvitationTarget::Notice(n) => render_notice(&state, &n),
        InvitationTarget::Ready(live, inv) => {
            let origin = invitation_origin(live, &inv)?;
            let page = show_form(&state, &req, &origin).await?;
            state.shown.remember(&inv);
            Ok(page)
        }
    }
}

fn invitation_origin(
    live: Arc<LiveSurvey>,
    inv: &store::invitations::InvitationRow,
) -> Result<Origin, AppError> {
    Ok(Origin {
        live,
        group: inv
            .grp
            .parse()
            .map_err(|_| AppError::Internal(format!("invitation {}: group", inv.id)))?,
        area_id: Some(inv.area_id),
        school_id: inv.school_id,
        band: inv.band,
        source: "invitation",
    })
}

/// The submitted form: its hidden fields and its answers (as the definition reads them).
struct FilledForm {
    nonce: Option<String>,
    started: Option<i64>,
    fields: Vec<(String, String)>,
}

impl FilledForm {
    fn parse(state: &AppState, body: &[u8]) -> Result<FilledForm, Notice> {
        let all: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|_| Notice::tampered())?;
        let mut s = FilledForm {
            nonce: None,
            started: None,
            fields: Vec::with_capacity(all.len()),
        };
        for (k, v) in all {
            match k.as_str() {
                "_nonce" => s.nonce = Some(v).filter(|n| (16..=64).contains(&n.len())),
                "_started" => s.started = state.form_key.verify(&v),
                _ => s.fields.push((k, v)),
            }
        }
        Ok(s)
    }

    fn comment(&self) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == "comment")
            .map_or("", |(_, v)| v.as_str())
    }

    fn meta(&self, state: &AppState) -> FormMeta {
        let fresh = FormMeta::fresh(state);
        FormMeta {
            nonce: self.nonce.clone().unwrap_or(fresh.nonce),
            started: self
                .started
                .map(|t| state.form_key.token(t))
                .unwrap_or(fresh.started),
        }
    }
}

/// What became of a submission.
enum Outcome {
    Stored,
    /// The same submission came again (a retry): nothing new is stored.
    Repeated,
    Refused(Notice),
}

/// Checks the answers and, if complete, hands the response to the writer, which stores it in
/// one transaction with the invitation's answered mark or the channel's place.
async fn submit(
    state: &AppState,
    req: &HttpRequest,
    origin: &Origin,
    body: &[u8],
    claim: Claim,
) -> Result<Result<Outcome, HttpResponse>, AppError> {
    let sub = match FilledForm::parse(state, body) {
        Ok(s) => s,
        Err(n) => return Ok(Ok(Outcome::Refused(n))),
    };
    let Some(nonce) = sub.nonce.clone() else {
        return Ok(Ok(Outcome::Refused(Notice::tampered())));
    };
    let q = origin.questionnaire(state).await?;
    let def = &q.definition;
    let answers = match def.parse_answers(sub.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    {
        Ok(a) => a,
        Err(e) if e.is_tampered() => return Ok(Ok(Outcome::Refused(Notice::tampered()))),
        Err(e) => {
            let mut ctx = form_context(origin, def, &e.partial, sub.comment(), Some(&e));
            let meta = sub.meta(state);
            ctx.insert("nonce", &meta.nonce);
            ctx.insert("started", &meta.started);
            ctx.insert("action", req.path());
            let html = state.tera.render("respond/form.html", &ctx)?;
            return Ok(Err(respondent_page(StatusCode::BAD_REQUEST).body(html)));
        }
    };
    let seconds = sub.started.map_or(0, |t| {
        (Utc::now().timestamp() - t).clamp(0, i64::from(u32::MAX)) as u32
    });
    let pairs: Vec<(String, String)> = def
        .items
        .iter()
        .zip(&answers.choices)
        .map(|(item, &o)| (item.id.clone(), def.scale.options[o].code.clone()))
        .collect();
    let survey = &origin.live.survey;
    let new = store::responses::NewResponse {
        survey_id: survey.id,
        questionnaire_id: q.id,
        booklet: store::questionnaires::code_of(origin.group.booklet()).to_owned(),
        group: origin.group.code().to_owned(),
        area_id: origin.area_id,
        area_class: origin.area_id.and_then(|a| origin.live.area_class(a)),
        school_id: origin.school_id,
        band: origin.band,
        source: origin.source,
        completion_seconds: seconds,
        too_fast: def.too_fast(u64::from(seconds)),
        straight_lined: answers.straight_lined(),
        answers: pairs,
        comment: answers.comment.clone(),
        submitted_hour: store::responses::hour_of(Utc::now()),
    };
    let mut tally = crate::domain::tally::Aggregates::default();
    tally.add(&new.facts(), def);
    let verdict = state
        .writer
        .submit(Submission {
            nonce_hash: nonce_hash(&nonce),
            claim,
            response: new,
            tally,
            closes_at: survey.settings.window.closes_at,
        })
        .await?;
    Ok(Ok(match verdict {
        Verdict::Stored => Outcome::Stored,
        Verdict::Repeated => Outcome::Repeated,
        Verdict::Answered => Outcome::Refused(Notice::answered()),
        Verdict::Withdrawn => Outcome::Refused(Notice::invalid_link()),
        Verdict::QuotaFull => Outcome::Refused(Notice::quota_full()),
        Verdict::Closed => Outcome::Refused(Notice::closed()),
    }))
}

async fn receipt_exists(state: &AppState, body: &[u8]) -> Result<bool, AppError> {
    let Ok(FilledForm { nonce: Some(n), .. }) = FilledForm::parse(state, body) else {
        return Ok(false);
    };
    use sea_orm::EntityTrait;
    Ok(
        crate::entity::submission_receipt::Entity::find_by_id(nonce_hash(&n))
            .one(&state.db)
            .await?
            .is_some(),
    )
}

pub async fn invitation_submit(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (live, inv) = match resolve_invitation(&state, &req, &path.into_inner(), true).await? {
        InvitationTarget::Ready(live, inv) => (live, inv),
        InvitationTarget::Notice(n) => {
            // A retry of a submission that was stored: thank again.
            if n.status == StatusCode::CONFLICT && receipt_exists(&state, &body).await? {
                return thanks(&state, &req);
            }
            return render_notice(&state, &n);
        }
    };
    let id = inv.id;
    let origin = invitation_origin(live, &inv)?;
    let outcome = submit(&state, &req, &origin, &body, Claim::Invitation(id)).await?;
    if outcome.is_ok() {
        state.shown.forget(id);
    }
    match outcome {
        Err(page) => Ok(page),
        Ok(Outcome::Stored | Outcome::Repeated) => thanks(&state, &req),
        Ok(Outcome::Refused(n)) => render_notice(&state, &n),
    }
}

fn device_cookie_name(survey_id: i32) -> String {
    format!("renke_done_{survey_id}")
}

/// This browser already answered the survey through an open channel (a signed cookie says so).
fn device_answered(state: &AppState, req: &HttpRequest, survey_id: i32) -> bool {
    let name = device_cookie_name(survey_id);
    let Some(cookie) = req.cookie(&name) else {
        return false;
    };
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    jar.signed(&state.cookie_key).get(&name).is_some()
}

fn device_cookie(state: &AppState, survey_id: i32) -> Cookie<'static> {
    let name = device_cookie_name(survey_id);
    let mut jar = CookieJar::new();
    jar.signed_mut(&state.cookie_key)
        .add(Cookie::new(name.clone(), "1"));
    let value = jar
        .get(&name)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    Cookie::build(name, value)
        .path("/o/")
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::days(60))
        .finish()
}

fn channel_origin(
    live: Arc<LiveSurvey>,
    ch: &store::channels::ChannelRow,
    cell: i32,
) -> Result<Origin, AppError> {
    Ok(Origin {
        live,
        group: ch
            .grp
            .parse()
            .map_err(|_| AppError::Internal(format!("channel {}: group", ch.id)))?,
        area_id: (cell != 0).then_some(cell),
        school_id: ch.school_id,
        band: None,
        source: "open",
    })
}

pub async fn channel_page(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    match resolve_channel(&state, &path.into_inner()).await? {
        ChannelTarget::Notice(n) => render_notice(&state, &n),
        ChannelTarget::Ready(live, ch, cell, _) => {
            if device_answered(&state, &req, live.survey.id) {
                return render_notice(&state, &Notice::answered());
            }
            let origin = channel_origin(live, &ch, cell)?;
            show_form(&state, &req, &origin).await
        }
    }
}

pub async fn channel_submit(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    if let Some(ip) = state.client_ip(&req)
        && state.respondent_limiter.submissions.check_key(&ip).is_err()
    {
        return render_notice(&state, &Notice::too_many());
    }
    let (live, ch, cell, quota) = match resolve_channel(&state, &path.into_inner()).await? {
        ChannelTarget::Ready(live, ch, cell, quota) => (live, ch, cell, quota),
        ChannelTarget::Notice(n) => {
            if n.status == StatusCode::CONFLICT && receipt_exists(&state, &body).await? {
                return thanks(&state, &req);
            }
            return render_notice(&state, &n);
        }
    };
    let survey_id = live.survey.id;
    if device_answered(&state, &req, survey_id) {
        if receipt_exists(&state, &body).await? {
            return thanks(&state, &req);
        }
        return render_notice(&state, &Notice::answered());
    }
    let origin = channel_origin(live, &ch, cell)?;
    match submit(&state, &req, &origin, &body, Claim::Channel { cell, quota }).await? {
        Err(page) => Ok(page),
        Ok(Outcome::Stored) => {
            let mut res = thanks(&state, &req)?;
            res.add_cookie(&device_cookie(&state, survey_id))
                .map_err(|e| AppError::Internal(e.to_string()))?;
            Ok(res)
        }
        Ok(Outcome::Repeated) => thanks(&state, &req),
        Ok(Outcome::Refused(n)) => render_notice(&state, &n),
    }
}
