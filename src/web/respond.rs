//! The respondents' side: invitation links (`/s/{token}`) and open channels (`/o/{code}`).
//! Pages for every state a link can be in, in Chinese, with the right status code.
use super::AppState;
use super::spliced::Spliced;
use crate::app::answering::{self, Answering, FilledForm, Outcome, Refusal, Target};
use crate::domain::group::RespondentGroup;
use crate::domain::places::{PlaceErrors, Questions};
use crate::domain::questionnaire::{
    AnswerErrors, Definition, MAX_COMMENT_CHARS, SOURCE_LANGUAGE, direction,
};
use crate::error::AppError;
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

/// Per client address and server: invalid-token guesses (burst 20, then one every 3 s) and
/// open-channel submissions (burst 400, then two a second — a school's parents' meeting on one
/// network address gets through; what one address may add to the count is settled by the
/// per-address hold and refusal limits, see `app::answering`).
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
            submissions: RateLimiter::keyed(quota(Duration::from_millis(500), 400)),
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

/// Blank questionnaire pages, rendered once per survey, questionnaire version, group and what
/// the form asks to place the answer (a survey's name, questionnaires and areas cannot change
/// once it takes answers), then only their issued form and link change per request.
/// The key of a blank form: survey, questionnaire version, group, what it asks to place the
/// answer, how it is read, and the languages the survey offers (its switch; they may change
/// while it is open).
type FormKey = (i32, i32, RespondentGroup, Questions, Reading, Vec<String>);

pub struct BlankForms(moka::sync::Cache<FormKey, Arc<Spliced>>);

/// Whether a form offers a language besides Chinese: one its booklet carries and its survey
/// offers (`any`: every one the booklet carries, for an organiser's preview).
fn offers(answering: &Answering, any: bool, tag: &str) -> bool {
    answering
        .questionnaire
        .definition
        .translations
        .contains_key(tag)
        && (any || answering.live.survey.languages.iter().any(|l| l == tag))
}

/// How a respondent reads the form: in which of the survey's languages (none: Chinese), and
/// whether in larger text. Chosen by plain links (`?lang=ug`, `?text=large`, relative to the
/// page, so they work without JavaScript) and carried by the form's hidden fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Reading {
    lang: Option<String>,
    large: bool,
}

impl Reading {
    /// From a query string or a posted form's `lang`/`_lang` and `text`/`_text`.
    fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Reading {
        let mut r = Reading::default();
        for (k, v) in pairs {
            match k {
                "lang" | "_lang" if !v.is_empty() && v.len() <= 35 => r.lang = Some(v.to_owned()),
                "text" | "_text" => r.large = v == "large",
                _ => {}
            }
        }
        r
    }

    fn of_query(req: &HttpRequest) -> Reading {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
        Reading::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// Only a language the form offers (see [`offers`]).
    fn offered(mut self, answering: &Answering, any: bool) -> Reading {
        if !self
            .lang
            .as_deref()
            .is_some_and(|tag| offers(answering, any, tag))
        {
            self.lang = None;
        }
        self
    }

    /// The page's address for another reading, relative to it (`?lang=ug&text=large`).
    fn href(lang: Option<&str>, large: bool) -> String {
        let mut pairs = Vec::new();
        if let Some(l) = lang {
            pairs.push(("lang", l));
        }
        if large {
            pairs.push(("text", "large"));
        }
        if pairs.is_empty() {
            return "?".into();
        }
        format!(
            "?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    }
}

impl BlankForms {
    pub fn new() -> BlankForms {
        BlankForms(
            moka::sync::Cache::builder()
                .max_capacity(2_000)
                .time_to_idle(Duration::from_secs(600))
                .build(),
        )
    }
}

impl Default for BlankForms {
    fn default() -> Self {
        BlankForms::new()
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

    pub fn replaced() -> Self {
        Notice::new(
            StatusCode::GONE,
            "此链接已更换",
            "这份邀请在截止前没有回复，按抽样规则已改请备选名单中的人作答，此链接已更换、不能再提交。如有疑问，请联系给您发送链接的学校或县（区）教育局。",
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

    pub fn channel_closed() -> Self {
        Notice::new(
            StatusCode::GONE,
            "这个二维码已停止收集",
            "组织方已停止通过这个二维码收集问卷，无需再填写。感谢您的支持！",
        )
    }

    /// The respondent's own stratum is full (`stratum`: its 乡镇/街道 and grade band).
    fn place_taken(group: &str, stratum: &str) -> Self {
        Notice::new(
            StatusCode::CONFLICT,
            "名额已满，感谢支持",
            format!("本次调查在“{stratum}”的{group}名额已经满了，您的答卷无需提交。感谢您的支持！"),
        )
    }
}

impl Notice {
    fn not_yet_open() -> Self {
        Notice::new(
            StatusCode::FORBIDDEN,
            "调查尚未开始",
            "本次调查还没有开始，请在调查开始后再打开此链接。",
        )
    }

    /// The page for a link that cannot be answered.
    pub fn of(refusal: Refusal) -> Self {
        match refusal {
            Refusal::InvalidLink => Notice::invalid_link(),
            Refusal::Replaced => Notice::replaced(),
            Refusal::Answered => Notice::answered(),
            Refusal::NotYetOpen => Notice::not_yet_open(),
            Refusal::Closed => Notice::closed(),
            Refusal::QuotaFull => Notice::quota_full(),
            Refusal::ChannelClosed => Notice::channel_closed(),
            Refusal::TooMany => Notice::too_many(),
        }
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

/// What the form shows of the respondent's stratum: the area and grade chosen, and whether
/// either is missing.
#[derive(Default)]
struct PlaceShown {
    area: Option<i32>,
    grade: Option<u8>,
    errors: PlaceErrors,
}

/// The questions that place an open channel's answer (its 乡镇/街道, its grade), if it asks.
fn place_context(answering: &Answering, shown: &PlaceShown) -> serde_json::Value {
    let origin = &answering.origin;
    let asks = origin.questions;
    if !asks.area && !asks.grade {
        return json!({"areas": null, "grades": null, "area_missing": false, "grade_missing": false});
    }
    let grades = grade_choices(origin.group);
    json!({
        "areas": asks.area.then(|| answering.live.areas().map(|(id, name)| json!({"id": id, "name": name})).collect::<Vec<_>>()),
        "grades": asks.grade.then_some(grades),
        "grade_prompt": if origin.group == RespondentGroup::Student { "你就读的年级" } else { "孩子就读的年级" },
        "area": shown.area,
        "grade": shown.grade,
        "area_missing": shown.errors.area,
        "grade_missing": shown.errors.grade,
    })
}

/// "三年级", "七年级（初一）".
/// The grades a group's respondent may give, each with its label (the form's select).
pub(super) fn grade_choices(group: RespondentGroup) -> Vec<serde_json::Value> {
    crate::domain::strata::bands(group)
        .iter()
        .flat_map(|b| b.from..=b.to)
        .map(|g| json!({"value": g, "label": grade_label(g)}))
        .collect()
}

fn grade_label(grade: u8) -> String {
    const NAMES: [&str; 9] = ["一", "二", "三", "四", "五", "六", "七", "八", "九"];
    let name = NAMES[usize::from(grade.clamp(1, 9)) - 1];
    match grade {
        7..=9 => format!("{name}年级（初{}）", NAMES[usize::from(grade) - 7]),
        _ => format!("{name}年级"),
    }
}

/// The questionnaire's page, but for its issued form and link: with chosen options kept and
/// missing items marked.
fn form_context(
    answering: &Answering,
    reading: &Reading,
    chosen: &[Option<usize>],
    comment: &str,
    errors: Option<&AnswerErrors>,
    place: &PlaceShown,
    any_language: bool,
) -> tera::Context {
    let def: &Definition = &answering.questionnaire.definition;
    let texts = def.texts(reading.lang.as_deref());
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
                "text": texts.items[i],
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
    let live = &answering.live;
    let mut ctx = tera::Context::new();
    ctx.insert("survey_name", &live.survey.settings.name);
    ctx.insert("county", &live.county);
    ctx.insert("group_label", answering.origin.group.label());
    ctx.insert("title", texts.title);
    ctx.insert("intro", texts.intro);
    ctx.insert("items", &items);
    let options: Vec<_> = def
        .scale
        .options
        .iter()
        .zip(&texts.options)
        .map(|(o, label)| json!({"code": o.code, "label": label}))
        .collect();
    ctx.insert("options", &options);
    ctx.insert("comment_prompt", texts.comment_prompt);
    ctx.insert("lang", texts.lang);
    ctx.insert("dir", texts.dir);
    ctx.insert("reading_lang", reading.lang.as_deref().unwrap_or(""));
    ctx.insert("large_text", &reading.large);
    ctx.insert(
        "text_toggle",
        &Reading::href(reading.lang.as_deref(), !reading.large),
    );
    let languages: Vec<_> = def
        .languages()
        .into_iter()
        .filter(|(tag, _)| *tag == SOURCE_LANGUAGE || offers(answering, any_language, tag))
        .map(|(tag, name)| {
            let source = tag == SOURCE_LANGUAGE;
            json!({
                "tag": tag,
                "name": name,
                "dir": direction(tag),
                "href": Reading::href((!source).then_some(tag), reading.large),
                "current": tag == texts.lang,
            })
        })
        .collect();
    ctx.insert(
        "languages",
        &if languages.len() > 1 {
            languages
        } else {
            Vec::new()
        },
    );
    ctx.insert("comment", comment);
    ctx.insert("max_comment", &MAX_COMMENT_CHARS);
    ctx.insert(
        "comment_too_long",
        &errors.is_some_and(|e| e.comment_too_long),
    );
    ctx.insert("missing", &missing_numbers);
    ctx.insert("place", &place_context(answering, place));
    ctx.insert("minutes", &def.items.len().div_ceil(5).max(2));
    ctx
}

/// The slots of a blank form, filled per request: the form the server issues (its one-time
/// nonce and the time it was served, signed with the link) and the link.
const FORM_SLOTS: [&str; 2] = ["form", "action"];

fn thanks(state: &AppState, req: &HttpRequest) -> HttpResponse {
    spliced_page(req, &state.thanks_page, &[req.path()])
}

/// A spliced page, gzipped for a client that accepts it (no compression per request).
fn spliced_page(req: &HttpRequest, page: &Spliced, values: &[&str]) -> HttpResponse {
    use actix_web::http::header;
    let mut res = respondent_page(StatusCode::OK);
    res.insert_header((header::VARY, "accept-encoding"));
    if super::middleware::accepts_gzip(req) {
        res.insert_header((header::CONTENT_ENCODING, "gzip"))
            .body(page.fill_gzip(values))
    } else {
        res.body(page.fill(values))
    }
}

/// A blank questionnaire, from the page rendered once for its survey, version and group.
fn show_form(
    state: &AppState,
    req: &HttpRequest,
    answering: &Answering,
) -> Result<HttpResponse, AppError> {
    let reading = Reading::of_query(req).offered(answering, false);
    let key = (
        answering.live.survey.id,
        answering.questionnaire.id,
        answering.origin.group,
        answering.origin.questions,
        reading.clone(),
        answering.live.survey.languages.clone(),
    );
    let page = match state.forms.0.get(&key) {
        Some(page) => page,
        None => {
            let def = &answering.questionnaire.definition;
            let blank = vec![None; def.items.len()];
            let ctx = form_context(
                answering,
                &reading,
                &blank,
                "",
                None,
                &PlaceShown::default(),
                false,
            );
            let page = Arc::new(Spliced::render(
                &state.tera,
                "respond/form.html",
                ctx,
                &FORM_SLOTS,
            )?);
            state.forms.0.insert(key, page.clone());
            page
        }
    };
    let form = answering::issue_form(&state.app, req.path());
    Ok(spliced_page(req, &page, &[&form, req.path()]))
}

/// What a link leads to, as a page: the questionnaire, or the notice of why not. An invalid
/// token counts against the address's guesses.
fn refused(state: &AppState, req: &HttpRequest, r: Refusal) -> Result<HttpResponse, AppError> {
    if r == Refusal::InvalidLink
        && req.path().starts_with("/s/")
        && !state
            .respondent_limiter
            .allow_invalid_token(state.client_ip(req))
    {
        return Err(AppError::TooManyRequests);
    }
    render_notice(state, &Notice::of(r))
}

pub async fn invitation_page(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    match answering::invitation(&state.app, &path.into_inner(), false).await? {
        Target::Refused(r) => refused(&state, &req, r),
        Target::Ready(answering) => show_form(&state, &req, &answering),
    }
}

/// The submitted form: the form the server issued (as sent back), the answers, and the
/// respondent's area and grade where the form asked.
struct Posted {
    form: Option<String>,
    fields: Vec<(String, String)>,
    area: Option<i32>,
    grade: Option<u8>,
    reading: Reading,
}

impl Posted {
    fn parse(body: &[u8]) -> Option<Posted> {
        let all: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
        let mut s = Posted {
            form: None,
            fields: Vec::with_capacity(all.len()),
            area: None,
            grade: None,
            reading: Reading::default(),
        };
        let mut reading = Vec::new();
        for (k, v) in all {
            match k.as_str() {
                "_form" => s.form = Some(v),
                "_area" => s.area = v.trim().parse().ok(),
                "_grade" => s.grade = v.trim().parse().ok(),
                "_lang" | "_text" => reading.push((k, v)),
                _ => s.fields.push((k, v)),
            }
        }
        s.reading = Reading::from_pairs(reading.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Some(s)
    }

    fn comment(&self) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == "comment")
            .map_or("", |(_, v)| v.as_str())
    }

    /// The form the server issued for this link, if it is one.
    fn issued(&self, state: &AppState, req: &HttpRequest) -> Option<answering::IssuedForm> {
        answering::read_form(&state.app, req.path(), self.form.as_deref()?)
    }
}

/// What a submission came to, as a page.
enum Answered {
    Stored,
    Repeated,
    Page(HttpResponse),
}

/// Checks and stores a submission; an incomplete one is shown again with its answers kept.
async fn submit(
    state: &AppState,
    req: &HttpRequest,
    answering: &Answering,
    body: &[u8],
) -> Result<Answered, AppError> {
    let tampered = || -> Result<Answered, AppError> {
        Ok(Answered::Page(render_notice(state, &Notice::tampered())?))
    };
    // Only a form the server issued for this link is taken.
    let Some(posted) = Posted::parse(body) else {
        return tampered();
    };
    let Some(issued) = posted.issued(state, req) else {
        return tampered();
    };
    let form = FilledForm {
        issued: &issued,
        fields: &posted.fields,
        area: posted.area,
        grade: posted.grade,
        from: state.client_ip(req),
    };
    Ok(
        match answering::submit(&state.app, answering, form, Utc::now()).await? {
            // A held answer is stored too: the respondent is thanked alike.
            Outcome::Stored | Outcome::Held => Answered::Stored,
            Outcome::Repeated => Answered::Repeated,
            Outcome::Refused(r) => Answered::Page(render_notice(state, &Notice::of(r))?),
            Outcome::PlaceTaken(stratum) => Answered::Page(render_notice(
                state,
                &Notice::place_taken(answering.origin.group.label(), &stratum),
            )?),
            Outcome::Tampered => return tampered(),
            Outcome::Incomplete(e) => {
                let place = PlaceShown {
                    area: posted.area,
                    grade: posted.grade,
                    errors: e.place,
                };
                let answers = &e.answers;
                let reading = posted.reading.clone().offered(answering, false);
                let mut ctx = form_context(
                    answering,
                    &reading,
                    &answers.partial,
                    posted.comment(),
                    Some(answers),
                    &place,
                    false,
                );
                // The same form goes on: its nonce and start time stay.
                ctx.insert("form", posted.form.as_deref().unwrap_or_default());
                ctx.insert("action", req.path());
                let html = state.tera.render("respond/form.html", &ctx)?;
                Answered::Page(respondent_page(StatusCode::BAD_REQUEST).body(html))
            }
        },
    )
}

/// A retry of a submission that was stored: it is thanked again.
async fn was_stored(state: &AppState, req: &HttpRequest, body: &[u8]) -> Result<bool, AppError> {
    match Posted::parse(body).and_then(|p| p.issued(state, req)) {
        Some(issued) => answering::was_stored(&state.app, &issued.nonce).await,
        None => Ok(false),
    }
}

pub async fn invitation_submit(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let answering = match answering::invitation(&state.app, &path.into_inner(), true).await? {
        Target::Ready(answering) => answering,
        Target::Refused(Refusal::Answered) if was_stored(&state, &req, &body).await? => {
            return Ok(thanks(&state, &req));
        }
        Target::Refused(r) => return refused(&state, &req, r),
    };
    match submit(&state, &req, &answering, &body).await? {
        Answered::Stored | Answered::Repeated => Ok(thanks(&state, &req)),
        Answered::Page(page) => Ok(page),
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

pub async fn channel_page(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    match answering::channel(&state.app, &path.into_inner()).await? {
        Target::Refused(r) => refused(&state, &req, r),
        Target::Ready(answering) => {
            if device_answered(&state, &req, answering.live.survey.id) {
                return render_notice(&state, &Notice::answered());
            }
            show_form(&state, &req, &answering)
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
    let answering = match answering::channel(&state.app, &path.into_inner()).await? {
        Target::Ready(answering) => answering,
        Target::Refused(Refusal::QuotaFull) if was_stored(&state, &req, &body).await? => {
            return Ok(thanks(&state, &req));
        }
        Target::Refused(r) => return refused(&state, &req, r),
    };
    let survey_id = answering.live.survey.id;
    if device_answered(&state, &req, survey_id) {
        if was_stored(&state, &req, &body).await? {
            return Ok(thanks(&state, &req));
        }
        return render_notice(&state, &Notice::answered());
    }
    match submit(&state, &req, &answering, &body).await? {
        Answered::Stored => {
            let mut res = thanks(&state, &req);
            res.add_cookie(&device_cookie(&state, survey_id))
                .map_err(AppError::internal)?;
            Ok(res)
        }
        Answered::Repeated => Ok(thanks(&state, &req)),
        Answered::Page(page) => Ok(page),
    }
}

/// `GET /admin/surveys/{id}/preview/{group}`: the group's questionnaire as its respondents see it,
/// marked 预览, its submit button disabled; nothing is issued or stored.
pub async fn preview(
    state: State,
    req: HttpRequest,
    user: super::auth::CurrentUser,
    path: web::Path<(i32, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, group) = path.into_inner();
    let group: RespondentGroup = group.parse().map_err(|_| AppError::NotFound)?;
    let answering = answering::preview(&state.app, &user.actor(), id, group).await?;
    let def = &answering.questionnaire.definition;
    let blank = vec![None; def.items.len()];
    // An organiser previews every language the booklet carries, offered yet or not.
    let reading = Reading::of_query(&req).offered(&answering, true);
    let mut ctx = form_context(
        &answering,
        &reading,
        &blank,
        "",
        None,
        &PlaceShown::default(),
        true,
    );
    ctx.insert("form", "");
    ctx.insert("action", "");
    ctx.insert("preview", &true);
    ctx.insert("preview_survey", &id);
    let html = state.tera.render("respond/form.html", &ctx)?;
    Ok(respondent_page(StatusCode::OK)
        .insert_header(("X-Robots-Tag", "noindex"))
        .body(html))
}
