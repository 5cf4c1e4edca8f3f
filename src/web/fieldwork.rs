//! Telephone interviews and paper booklets over HTTP: the fieldwork page (assignments, the
//! call report, print runs), the interviewer's call list and interview screen, paper entry
//! and resolving, and the same as JSON.
use super::AppState;
use super::admin::{page, render};
use super::auth::CurrentUser;
use super::csrf::{CsrfForm, CsrfToken};
use super::input::ApiJson;
use super::notice::{Done, DoneQuery};
use super::view::SurveyView;
use crate::app::answering::{self, Answering, FormErrors, Outcome, Refusal};
use crate::app::fieldwork::{self as work, Entered};
use crate::domain::fieldwork::{CallOutcome, Mismatch, PaperEntry};
use crate::domain::group::RespondentGroup;
use crate::error::AppError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

type State = web::Data<AppState>;

/// The questionnaire as the interviewer's and the operator's forms show it: the area and grade
/// questions where the booklet asks them, each item with its options and what was chosen.
fn form_json(
    a: &Answering,
    chosen: &BTreeMap<String, String>,
    area: Option<i32>,
    grade: Option<u8>,
    errors: Option<&FormErrors>,
) -> Value {
    let def = &a.questionnaire.definition;
    let q = &a.origin.questions;
    let missing: Vec<&str> = errors
        .map(|e| e.answers.missing.iter().map(String::as_str).collect())
        .unwrap_or_default();
    json!({
        "title": def.title,
        "items": def.items.iter().enumerate().map(|(i, it)| json!({
            "number": i + 1, "id": it.id, "text": it.text,
            "chosen": chosen.get(&it.id).cloned().unwrap_or_default(),
            "missing": missing.contains(&it.id.as_str()),
        })).collect::<Vec<_>>(),
        "options": def.scale.options.iter().map(|o| json!({"code": o.code, "label": o.label})).collect::<Vec<_>>(),
        "comment_prompt": def.comment_prompt,
        "comment": chosen.get("comment").cloned().unwrap_or_default(),
        "areas": q.area.then(|| a.live.areas().map(|(id, name)| json!({"id": id, "name": name})).collect::<Vec<_>>()),
        "grades": q.grade.then(|| super::respond::grade_choices(a.origin.group)),
        "area": area, "grade": grade,
        "area_missing": errors.is_some_and(|e| e.place.area),
        "grade_missing": errors.is_some_and(|e| e.place.grade),
        "comment_too_long": errors.is_some_and(|e| e.answers.comment_too_long),
    })
}

fn errors_message(e: &FormErrors, a: &Answering) -> String {
    let def = &a.questionnaire.definition;
    let mut parts = Vec::new();
    if e.place.area {
        parts.push("请选择乡镇（街道）".to_owned());
    }
    if e.place.grade {
        parts.push("请选择年级".to_owned());
    }
    if !e.answers.missing.is_empty() {
        let numbers: Vec<String> = e
            .answers
            .missing
            .iter()
            .filter_map(|id| def.items.iter().position(|i| &i.id == id))
            .map(|i| format!("第 {} 题", i + 1))
            .collect();
        parts.push(format!("还有题目没有作答：{}", numbers.join("、")));
    }
    if e.answers.comment_too_long {
        parts.push("意见和建议太长".to_owned());
    }
    if !e.answers.unknown.is_empty() {
        parts.push(format!("不认识的字段：{}", e.answers.unknown.join("、")));
    }
    if parts.is_empty() {
        "答卷不完整".to_owned()
    } else {
        parts.join("；")
    }
}

fn first_missing_field(e: &FormErrors) -> Option<String> {
    if e.answers.comment_too_long && e.answers.missing.is_empty() {
        return Some("comment".into());
    }
    if e.place.area {
        return Some("area".into());
    }
    if e.place.grade {
        return Some("grade".into());
    }
    e.answers.missing.first().cloned()
}

/// Why an interview's answers were not stored.
fn refusal_text(r: Refusal) -> String {
    format!("{}：答案没有保存", work::refusal_message(r))
}

/// A page form's answer: on success a 303 to `page` with the notice `done`; an input error
/// shown on the page again (`shown`); anything else as it is.
async fn done_or_shown<T>(
    result: Result<T, AppError>,
    done: Done,
    page: &str,
    shown: impl AsyncFnOnce(AppError) -> Result<HttpResponse, AppError>,
) -> Result<HttpResponse, AppError> {
    match result {
        Ok(_) => Ok(super::see_other(&done.on(page))),
        Err(e) => match super::admin::form_error(e) {
            Ok(e) => shown(e).await,
            Err(e) => Err(e),
        },
    }
}

// ---- organisers: the fieldwork page -------------------------------------------------------

#[derive(Deserialize, validator::Validate)]
pub struct AssignInput {
    username: String,
    /// Every group they call (an empty list takes the survey from them).
    groups: Vec<RespondentGroup>,
}

pub async fn api_interviewers(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let lines = work::interviewers(&state.app, &user.actor(), path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({"interviewers": lines})))
}

pub async fn api_assign(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: ApiJson<AssignInput>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    crate::app::surveys::organized(&state.app, &user.actor(), id).await?;
    let input = input.parse()?;
    work::assign(
        &state.app,
        &user.actor(),
        id,
        &input.username,
        &input.groups,
    )
    .await?;
    let lines = work::interviewers(&state.app, &user.actor(), id).await?;
    Ok(HttpResponse::Ok().json(json!({"interviewers": lines})))
}

pub async fn api_call_report(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let lines = work::call_report(&state.app, &user.actor(), path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({"groups": lines})))
}

async fn fieldwork_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: &CsrfToken,
    id: i32,
    error: Option<&AppError>,
    notice: Option<String>,
) -> Result<HttpResponse, AppError> {
    let actor = user.actor();
    let f = work::fieldwork(&state.app, &actor, id).await?;
    let organiser = f.groups.is_none();
    let mut ctx = page(Some(user), csrf);
    ctx.insert("error_field", &Option::<&str>::None);
    ctx.insert("survey", &SurveyView::new(&f.survey));
    ctx.insert("organiser", &organiser);
    let (_, batches) = work::batches(&state.app, &actor, id).await?;
    ctx.insert("batches", &batches);
    if organiser {
        ctx.insert(
            "interviewers",
            &work::interviewers(&state.app, &actor, id).await?,
        );
        ctx.insert("report", &work::call_report(&state.app, &actor, id).await?);
        ctx.insert("geo", &work::geography(&state.app, &actor, id).await?);
    }
    ctx.insert(
        "groups",
        &RespondentGroup::ALL
            .iter()
            .map(|g| json!({"code": g.code(), "label": g.label()}))
            .collect::<Vec<_>>(),
    );
    ctx.insert("notice", &notice);
    if let Some(e) = error {
        ctx.insert("error", &e.to_string());
        ctx.insert("error_field", &e.field());
    }
    let status = error.map_or(StatusCode::OK, |e| e.status_code());
    render(state, status, "admin/fieldwork.html", &ctx)
}

pub async fn page_fieldwork(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    done: web::Query<DoneQuery>,
) -> Result<HttpResponse, AppError> {
    fieldwork_page(
        &state,
        &user,
        &csrf,
        path.into_inner(),
        None,
        done.message(),
    )
    .await
}

pub async fn page_assign(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    crate::app::surveys::organized(&state.app, &user.actor(), id).await?;
    let mut username = String::new();
    let mut groups = Vec::new();
    for (k, v) in &form.0 {
        match k.as_str() {
            "username" => username = v.clone(),
            "group" => groups.push(
                v.parse::<RespondentGroup>()
                    .map_err(|_| AppError::invalid("group", "没有这个群体"))?,
            ),
            _ => {}
        }
    }
    done_or_shown(
        work::assign(&state.app, &user.actor(), id, &username, &groups).await,
        Done::InterviewersAssigned,
        &format!("/admin/surveys/{id}/fieldwork"),
        async |e| fieldwork_page(&state, &user, &csrf, id, Some(&e), None).await,
    )
    .await
}

// ---- the call list and the interview ------------------------------------------------------

pub async fn api_calls(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let (f, lines) = work::call_list(&state.app, &user.actor(), path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({
        "survey": f.survey.id,
        "groups": f.groups.unwrap_or_else(|| RespondentGroup::ALL.to_vec()),
        "calls": lines,
    })))
}

pub async fn page_calls(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    done: web::Query<DoneQuery>,
) -> Result<HttpResponse, AppError> {
    let (f, lines) = work::call_list(&state.app, &user.actor(), path.into_inner()).await?;
    let mut ctx = page(Some(&user), &csrf);
    ctx.insert("survey", &SurveyView::new(&f.survey));
    ctx.insert("organiser", &f.groups.is_none());
    ctx.insert(
        "assigned",
        &f.groups
            .unwrap_or_else(|| RespondentGroup::ALL.to_vec())
            .iter()
            .map(|g| g.label())
            .collect::<Vec<_>>(),
    );
    let answered = lines
        .iter()
        .filter(|l| l.priority == crate::domain::fieldwork::CallPriority::Answered)
        .count();
    ctx.insert("to_do", &(lines.len() - answered));
    ctx.insert("answered_count", &answered);
    ctx.insert("calls", &lines);
    ctx.insert("notice", &done.message());
    render(&state, StatusCode::OK, "admin/calls.html", &ctx)
}

/// A call-back time as a form's `datetime-local` gives it (Beijing time), or RFC 3339.
fn callback_time(text: &str) -> Result<Option<DateTime<Utc>>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M"))
        .map_err(|_| {
            AppError::invalid("callback_at", "回访时间的格式不对，例如 2026-12-05 15:00")
        })?;
    local
        .and_local_timezone(crate::domain::survey::beijing())
        .single()
        .map(|t| Some(t.with_timezone(&Utc)))
        .ok_or_else(|| AppError::invalid("callback_at", "回访时间不对"))
}

#[derive(Deserialize, validator::Validate)]
pub struct CallInput {
    outcome: String,
    #[serde(default)]
    callback_at: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

pub async fn api_record_call(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, i32)>,
    input: ApiJson<CallInput>,
) -> Result<HttpResponse, AppError> {
    let (id, invitation) = path.into_inner();
    work::fieldwork(&state.app, &user.actor(), id).await?;
    let input = input.parse()?;
    let at = callback_time(input.callback_at.as_deref().unwrap_or(""))?;
    work::record_call(
        &state.app,
        &user.actor(),
        id,
        invitation,
        &input.outcome,
        at,
        input.note.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Created().json(json!({"recorded": input.outcome})))
}

#[derive(Deserialize, Default, serde::Serialize)]
#[serde(default)]
pub struct CallForm {
    outcome: String,
    callback_at: String,
    note: String,
}

pub async fn page_record_call(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<(i32, i32)>,
    form: CsrfForm<CallForm>,
) -> Result<HttpResponse, AppError> {
    let (id, invitation) = path.into_inner();
    work::fieldwork(&state.app, &user.actor(), id).await?;
    let result = async {
        let at = callback_time(&form.0.callback_at)?;
        work::record_call(
            &state.app,
            &user.actor(),
            id,
            invitation,
            &form.0.outcome,
            at,
            Some(&form.0.note),
        )
        .await
    }
    .await;
    done_or_shown(
        result,
        Done::CallRecorded,
        &format!("/admin/surveys/{id}/calls"),
        async |e| {
            call_page(
                &state,
                Some(&form.0),
                &user,
                &csrf,
                id,
                invitation,
                Some(e),
                None,
            )
            .await
        },
    )
    .await
}

/// The interview screen: who to call, the outcome form, and the script with its answer form.
#[allow(clippy::too_many_arguments)]
async fn call_page(
    state: &AppState,
    call: Option<&CallForm>,
    user: &CurrentUser,
    csrf: &CsrfToken,
    id: i32,
    invitation: i32,
    error: Option<AppError>,
    kept: Option<(&BTreeMap<String, String>, &FormErrors)>,
) -> Result<HttpResponse, AppError> {
    let actor = user.actor();
    let mut ctx = page(Some(user), csrf);
    ctx.insert("error_field", &Option::<&str>::None);
    let f = work::fieldwork(&state.app, &actor, id).await?;
    ctx.insert("survey", &SurveyView::new(&f.survey));
    ctx.insert(
        "outcomes",
        &CallOutcome::ALL
            .iter()
            .filter(|o| **o != CallOutcome::Completed)
            .map(|o| json!({"code": o.code(), "label": o.label()}))
            .collect::<Vec<_>>(),
    );
    match work::interview(&state.app, &actor, id, invitation).await {
        Ok(iv) => {
            let empty = BTreeMap::new();
            let (chosen, errs) = kept.map_or((&empty, None), |(c, e)| (c, Some(e)));
            ctx.insert("line", &iv.line);
            ctx.insert("script", &iv.script);
            ctx.insert("form", &form_json(&iv.answering, chosen, None, None, errs));
            let action = format!("/admin/surveys/{id}/calls/{invitation}/interview");
            ctx.insert("issued", &answering::issue_form(&state.app, &action));
            ctx.insert("action", &action);
            if let Some(e) = errs {
                ctx.insert("answers_error", &errors_message(e, &iv.answering));
                ctx.insert("first_missing", &first_missing_field(e));
            }
        }
        Err(AppError::Conflict(why)) => {
            // Answered, withdrawn, or the survey not taking answers: the person's line only.
            let (_, lines) = work::call_list(&state.app, &actor, id).await?;
            let line = lines
                .into_iter()
                .find(|l| l.invitation_id == invitation)
                .ok_or(AppError::NotFound)?;
            ctx.insert("line", &line);
            ctx.insert("closed_reason", &why);
        }
        Err(e) => return Err(e),
    }
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status_code());
    if let Some(e) = &error {
        ctx.insert("error", &e.to_string());
        ctx.insert("error_field", &e.field());
    }
    ctx.insert("call", &call);
    render(state, status, "admin/call.html", &ctx)
}

pub async fn page_call(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<(i32, i32)>,
) -> Result<HttpResponse, AppError> {
    let (id, invitation) = path.into_inner();
    call_page(&state, None, &user, &csrf, id, invitation, None, None).await
}

/// The posted answer fields (item id → code, `comment`) and the issued form's token.
fn answer_fields(form: &[(String, String)]) -> (Option<String>, Vec<(String, String)>) {
    let mut issued = None;
    let mut fields = Vec::new();
    for (k, v) in form {
        match k.as_str() {
            "_form" => issued = Some(v.clone()),
            _ if k.starts_with('_') => {}
            _ => fields.push((k.clone(), v.clone())),
        }
    }
    (issued, fields)
}

pub async fn page_interview(
    state: State,
    req: HttpRequest,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<(i32, i32)>,
    form: CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let (id, invitation) = path.into_inner();
    // Who may is settled before what was sent.
    work::fieldwork(&state.app, &user.actor(), id).await?;
    let (token, fields) = answer_fields(&form.0);
    let issued = token
        .and_then(|t| answering::read_form(&state.app, req.path(), &t))
        .ok_or_else(|| AppError::invalid("_form", "表单已失效，请刷新页面后重新录入"))?;
    let outcome =
        work::submit_interview(&state.app, &user.actor(), id, invitation, &issued, &fields).await?;
    match outcome {
        Outcome::Stored | Outcome::Repeated => Ok(super::see_other(
            &Done::Interviewed.on(&format!("/admin/surveys/{id}/calls")),
        )),
        Outcome::Incomplete(e) => {
            let kept: BTreeMap<String, String> = fields.into_iter().collect();
            call_page(
                &state,
                None,
                &user,
                &csrf,
                id,
                invitation,
                None,
                Some((&kept, &e)),
            )
            .await
        }
        Outcome::Refused(r) => {
            let e = AppError::Conflict(refusal_text(r));
            call_page(&state, None, &user, &csrf, id, invitation, Some(e), None).await
        }
        Outcome::Tampered => Err(AppError::invalid("answers", "答卷里有问卷没有的题目或选项")),
        Outcome::Held | Outcome::PlaceTaken(_) => {
            Err(AppError::internal("an interview took a place or was held"))
        }
    }
}

pub async fn api_interview(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, i32)>,
) -> Result<HttpResponse, AppError> {
    let (id, invitation) = path.into_inner();
    let iv = work::interview(&state.app, &user.actor(), id, invitation).await?;
    let action = format!("/api/v1/surveys/{id}/calls/{invitation}/interview");
    Ok(HttpResponse::Ok().json(json!({
        "person": iv.line,
        "script": iv.script,
        "questionnaire": form_json(&iv.answering, &BTreeMap::new(), None, None, None),
        "form": answering::issue_form(&state.app, &action),
    })))
}

#[derive(Deserialize, validator::Validate)]
pub struct InterviewInput {
    form: String,
    answers: BTreeMap<String, String>,
    #[serde(default)]
    comment: Option<String>,
}

pub async fn api_submit_interview(
    state: State,
    req: HttpRequest,
    user: CurrentUser,
    path: web::Path<(i32, i32)>,
    input: ApiJson<InterviewInput>,
) -> Result<HttpResponse, AppError> {
    let (id, invitation) = path.into_inner();
    work::fieldwork(&state.app, &user.actor(), id).await?;
    let input = input.parse()?;
    let issued = answering::read_form(&state.app, req.path(), &input.form)
        .ok_or_else(|| AppError::invalid("form", "表单已失效：请重新取得访问表单"))?;
    let mut fields: Vec<(String, String)> = input.answers.into_iter().collect();
    if let Some(c) = input.comment {
        fields.push(("comment".into(), c));
    }
    let outcome =
        work::submit_interview(&state.app, &user.actor(), id, invitation, &issued, &fields).await?;
    match outcome {
        Outcome::Stored => {
            Ok(HttpResponse::Created().json(json!({"status": "stored", "mode": "phone"})))
        }
        Outcome::Repeated => Ok(HttpResponse::Ok().json(json!({"status": "repeated"}))),
        Outcome::Incomplete(e) if e.answers.comment_too_long => Err(AppError::invalid(
            "comment",
            format!(
                "意见和建议不能超过 {} 字",
                crate::domain::questionnaire::MAX_COMMENT_CHARS
            ),
        )),
        Outcome::Incomplete(e) => Err(AppError::Unprocessable {
            field: first_missing_field(&e),
            message: "答卷不完整：每道题都要选一项".into(),
            details: Value::Null,
        }),
        Outcome::Refused(r) => Err(AppError::Conflict(refusal_text(r))),
        Outcome::Tampered => Err(AppError::invalid("answers", "答卷里有问卷没有的题目或选项")),
        Outcome::Held | Outcome::PlaceTaken(_) => {
            Err(AppError::internal("an interview took a place or was held"))
        }
    }
}

// ---- paper ----------------------------------------------------------------------------------

#[derive(Deserialize, validator::Validate)]
pub struct BatchInput {
    group: RespondentGroup,
    #[serde(default)]
    area: Option<String>,
    #[serde(default)]
    school: Option<String>,
    /// How many (for a stratum's free places); ignored for drawn people.
    #[serde(default)]
    copies: u32,
    /// One booklet per drawn person of the scope still to answer.
    #[serde(default)]
    drawn: bool,
}

pub async fn api_batches(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let (_, lines) = work::batches(&state.app, &user.actor(), path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({"batches": lines})))
}

pub async fn api_create_batch(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: ApiJson<BatchInput>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    crate::app::surveys::organized(&state.app, &user.actor(), id).await?;
    let i = input.parse()?;
    let b = work::create_batch(
        &state.app,
        &user.actor(),
        id,
        work::PrintOrder {
            group: i.group,
            area: i.area.as_deref(),
            school: i.school.as_deref(),
            copies: i.copies,
            drawn: i.drawn,
        },
    )
    .await?;
    let (_, lines) = work::batches(&state.app, &user.actor(), id).await?;
    let line = lines.into_iter().find(|l| l.id == b.id);
    Ok(HttpResponse::Created().json(json!({
        "batch": line,
        "print": format!("/admin/surveys/{id}/paper/{}/print", b.id),
    })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct BatchForm {
    group: String,
    area: String,
    school: String,
    copies: String,
    drawn: String,
}

pub async fn page_create_batch(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<BatchForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    crate::app::surveys::organized(&state.app, &user.actor(), id).await?;
    let f = form.0;
    let result = async {
        let group = f
            .group
            .parse::<RespondentGroup>()
            .map_err(|_| AppError::invalid("group", "请选择群体"))?;
        let drawn = !f.drawn.is_empty();
        let copies = if drawn {
            0
        } else {
            f.copies
                .trim()
                .parse::<u32>()
                .map_err(|_| AppError::invalid("copies", "份数须为整数"))?
        };
        work::create_batch(
            &state.app,
            &user.actor(),
            id,
            work::PrintOrder {
                group,
                area: Some(&f.area),
                school: Some(&f.school),
                copies,
                drawn,
            },
        )
        .await
    }
    .await;
    done_or_shown(
        result,
        Done::PaperPrinted,
        &format!("/admin/surveys/{id}/fieldwork#paper"),
        async |e| fieldwork_page(&state, &user, &csrf, id, Some(&e), None).await,
    )
    .await
}

pub async fn page_print_batch(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<(i32, i32)>,
) -> Result<HttpResponse, AppError> {
    let (id, batch) = path.into_inner();
    let run = work::print_run(&state.app, &user.actor(), id, batch).await?;
    let mut ctx = page(Some(&user), &csrf);
    ctx.insert("survey", &SurveyView::new(&run.survey));
    ctx.insert("batch", &run.batch);
    ctx.insert("serials", &run.serials);
    ctx.insert("slips", &run.slips);
    ctx.insert("county", &run.answering.live.county);
    let def = &run.answering.questionnaire.definition;
    ctx.insert("intro", &def.intro);
    ctx.insert(
        "form",
        &form_json(&run.answering, &BTreeMap::new(), None, None, None),
    );
    render(&state, StatusCode::OK, "admin/paper_print.html", &ctx)
}

/// An entry as a page or the API posts it.
fn entry_of(fields: &[(String, String)]) -> Result<(String, PaperEntry), AppError> {
    let mut serial = String::new();
    let mut entry = PaperEntry::default();
    for (k, v) in fields {
        match k.as_str() {
            "serial" => serial = v.clone(),
            "area" | "_area" => {
                entry.area = match v.trim() {
                    "" => None,
                    t => Some(
                        t.parse()
                            .map_err(|_| AppError::invalid("area", "请选择乡镇（街道）"))?,
                    ),
                }
            }
            "grade" | "_grade" => {
                entry.grade = match v.trim() {
                    "" => None,
                    t => Some(
                        t.parse()
                            .map_err(|_| AppError::invalid("grade", "请选择年级"))?,
                    ),
                }
            }
            "comment" => {
                let c = v.trim();
                entry.comment = (!c.is_empty()).then(|| c.to_owned());
            }
            k if k.starts_with('_') => {}
            _ if v.is_empty() => {}
            _ => entry.answers.push((k.clone(), v.clone())),
        }
    }
    Ok((serial, entry))
}

fn mismatch_json(m: &[Mismatch], a: &Answering) -> Vec<Value> {
    let def = &a.questionnaire.definition;
    let label = |field: &str, value: &str| -> String {
        if value.is_empty() {
            return "（空）".into();
        }
        match field {
            "area" => value
                .parse()
                .ok()
                .map(|id: i32| {
                    a.live
                        .areas()
                        .find(|(i, _)| *i == id)
                        .map_or(value.to_owned(), |(_, n)| n.to_owned())
                })
                .unwrap_or_else(|| value.to_owned()),
            "grade" => format!("{value} 年级"),
            "comment" => value.to_owned(),
            _ => def
                .option(value)
                .map_or(value.to_owned(), |o| format!("{value} {}", o.label)),
        }
    };
    m.iter()
        .map(|m| {
            let title = match m.field.as_str() {
                "area" => "乡镇（街道）".to_owned(),
                "grade" => "年级".to_owned(),
                "comment" => "意见和建议".to_owned(),
                id => def
                    .items
                    .iter()
                    .position(|i| i.id == id)
                    .map_or(id.to_owned(), |n| format!("第 {} 题 {}", n + 1, def.items[n].text)),
            };
            json!({
                "field": m.field, "title": title,
                "first": m.first, "second": m.second,
                "first_label": label(&m.field, &m.first), "second_label": label(&m.field, &m.second),
            })
        })
        .collect()
}

fn entered_json(e: &Entered, a: &Answering) -> (StatusCode, Value) {
    match e {
        Entered::First => (
            StatusCode::ACCEPTED,
            json!({"status": "first", "message": "第一遍已录入：请另一位录入员录入第二遍"}),
        ),
        Entered::Stored => (
            StatusCode::CREATED,
            json!({"status": "stored", "mode": "paper", "message": "两遍一致，已计入"}),
        ),
        Entered::Mismatched(m) => (
            StatusCode::CONFLICT,
            json!({"status": "mismatch", "message": "两遍不一致：请对照纸质问卷逐项处理", "mismatches": mismatch_json(m, a)}),
        ),
        Entered::Incomplete(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"status": "incomplete", "error": errors_message(e, a), "field": first_missing_field(e)}),
        ),
    }
}

/// An area as the API names it: by id or by name.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum AreaRef {
    Id(i32),
    Name(String),
}

#[derive(Deserialize, validator::Validate)]
pub struct EntryInput {
    serial: String,
    answers: BTreeMap<String, String>,
    /// The area's id, or its name as the survey lists it.
    #[serde(default)]
    area: Option<AreaRef>,
    #[serde(default)]
    grade: Option<u8>,
    #[serde(default)]
    comment: Option<String>,
}

pub async fn api_enter(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: ApiJson<EntryInput>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    work::fieldwork(&state.app, &user.actor(), id).await?;
    let i = input.parse()?;
    let area = match i.area {
        None => None,
        Some(AreaRef::Id(a)) => Some(a),
        Some(AreaRef::Name(name)) => {
            Some(work::area_named(&state.app, &user.actor(), id, &name).await?)
        }
    };
    let entry = PaperEntry {
        answers: i
            .answers
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect(),
        area,
        grade: i.grade,
        comment: i
            .comment
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty()),
    };
    let done = work::enter(&state.app, &user.actor(), id, &i.serial, entry).await?;
    let (status, body) = entered_json(&done.entered, &done.answering);
    Ok(HttpResponse::build(status).json(body))
}

pub async fn api_booklet(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, serial) = path.into_inner();
    let found = work::booklet(&state.app, &user.actor(), id, &serial).await?;
    let status = found.booklet.status;
    let mut body = json!({
        "serial": found.serial.to_string(),
        "status": status,
        "status_label": status.label(),
        "group": found.batch.group,
        "mismatches": [],
    });
    if status == crate::domain::fieldwork::BookletStatus::Mismatched {
        let d = work::disagreement_of(&state.app, found).await?;
        body["mismatches"] = json!(mismatch_json(&d.mismatches, &d.found.answering));
    }
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize, validator::Validate)]
pub struct ResolveInput {
    values: BTreeMap<String, String>,
}

pub async fn api_resolve(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, String)>,
    input: ApiJson<ResolveInput>,
) -> Result<HttpResponse, AppError> {
    let (id, serial) = path.into_inner();
    work::fieldwork(&state.app, &user.actor(), id).await?;
    let i = input.parse()?;
    let done = work::resolve(&state.app, &user.actor(), id, &serial, &i.values).await?;
    let (status, body) = entered_json(&done.entered, &done.answering);
    Ok(HttpResponse::build(status).json(body))
}

pub async fn api_void(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, serial) = path.into_inner();
    work::void(&state.app, &user.actor(), id, &serial).await?;
    Ok(HttpResponse::Ok().json(json!({"status": "void"})))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SerialQuery {
    serial: String,
}

#[allow(clippy::too_many_arguments)]
async fn entry_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: &CsrfToken,
    id: i32,
    serial: &str,
    error: Option<&AppError>,
    notice: Option<String>,
    kept: Option<(&PaperEntry, Option<&FormErrors>)>,
) -> Result<HttpResponse, AppError> {
    let actor = user.actor();
    let f = work::fieldwork(&state.app, &actor, id).await?;
    let mut ctx = page(Some(user), csrf);
    ctx.insert("error_field", &Option::<&str>::None);
    ctx.insert("survey", &SurveyView::new(&f.survey));
    ctx.insert("organiser", &f.groups.is_none());
    ctx.insert("serial", serial.trim());
    ctx.insert("notice", &notice);
    let mut status = error.map_or(StatusCode::OK, |e| e.status_code());
    if let Some(e) = error {
        ctx.insert("error", &e.to_string());
        ctx.insert("error_field", &e.field());
    }
    if !serial.trim().is_empty() && error.is_none_or(|e| e.field() != Some("serial")) {
        match work::booklet(&state.app, &actor, id, serial).await {
            Ok(found) => {
                ctx.insert("found_serial", &found.serial.to_string());
                ctx.insert("status", &found.booklet.status);
                ctx.insert("status_label", found.booklet.status.label());
                ctx.insert("booklet_group", found.batch.group.label());
                use crate::domain::fieldwork::BookletStatus as S;
                match found.booklet.status {
                    S::FirstEntered if found.first_by == Some(user.id) => {
                        ctx.insert("mine", &true);
                    }
                    S::Blank | S::FirstEntered => {
                        let (entry, errs) = kept.map_or((None, None), |(e, r)| (Some(e), r));
                        let mut chosen: BTreeMap<String, String> = entry
                            .map(|e| e.answers.iter().cloned().collect())
                            .unwrap_or_default();
                        if let Some(c) = entry.and_then(|e| e.comment.clone()) {
                            chosen.insert("comment".into(), c);
                        }
                        ctx.insert(
                            "form",
                            &form_json(
                                &found.answering,
                                &chosen,
                                entry.and_then(|e| e.area),
                                entry.and_then(|e| e.grade),
                                errs,
                            ),
                        );
                        ctx.insert(
                            "round",
                            &if found.booklet.status == S::Blank {
                                1
                            } else {
                                2
                            },
                        );
                        if let Some(e) = errs {
                            ctx.insert("answers_error", &errors_message(e, &found.answering));
                        }
                    }
                    S::Mismatched => {
                        let d = work::disagreement_of(&state.app, found).await?;
                        let def = &d.found.answering.questionnaire.definition;
                        ctx.insert(
                            "mismatches",
                            &mismatch_json(&d.mismatches, &d.found.answering),
                        );
                        ctx.insert(
                            "options",
                            &def.scale
                                .options
                                .iter()
                                .map(|o| json!({"code": o.code, "label": o.label}))
                                .collect::<Vec<_>>(),
                        );
                        ctx.insert(
                            "areas",
                            &d.found
                                .answering
                                .live
                                .areas()
                                .map(|(id, name)| json!({"id": id, "name": name}))
                                .collect::<Vec<_>>(),
                        );
                    }
                    S::Entered | S::Void => {}
                }
            }
            Err(e) if e.field() == Some("serial") => {
                ctx.insert("error", &e.to_string());
                ctx.insert("error_field", "serial");
                status = e.status_code();
            }
            Err(AppError::Conflict(why)) => {
                ctx.insert("error", &why);
                status = StatusCode::CONFLICT;
            }
            Err(e) => return Err(e),
        }
    }
    render(state, status, "admin/paper_entry.html", &ctx)
}

pub async fn page_entry(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    query: web::Query<SerialQuery>,
    done: web::Query<DoneQuery>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    entry_page(
        &state,
        &user,
        &csrf,
        id,
        &query.serial,
        None,
        done.message(),
        None,
    )
    .await
}

pub async fn page_enter(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (serial, entry) = match entry_of(&form.0) {
        Ok(x) => x,
        Err(e) => {
            let serial = form
                .0
                .iter()
                .find(|(k, _)| k == "serial")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            return entry_page(&state, &user, &csrf, id, &serial, Some(&e), None, None).await;
        }
    };
    let kept = entry.clone();
    match work::enter(&state.app, &user.actor(), id, &serial, entry)
        .await
        .map(|done| done.entered)
    {
        Ok(Entered::First) => Ok(super::see_other(
            &Done::PaperFirst.on(&format!("/admin/surveys/{id}/paper/entry")),
        )),
        Ok(Entered::Stored) => Ok(super::see_other(
            &Done::PaperStored.on(&format!("/admin/surveys/{id}/paper/entry")),
        )),
        Ok(Entered::Mismatched(_)) => {
            // Not a success: said as a warning, with the fields to resolve below.
            let warning =
                AppError::Conflict("两遍录入不一致：请对照纸质问卷，逐项选定正确的答案".into());
            entry_page(
                &state,
                &user,
                &csrf,
                id,
                &serial,
                Some(&warning),
                None,
                None,
            )
            .await
        }
        Ok(Entered::Incomplete(e)) => {
            let err = AppError::Unprocessable {
                field: first_missing_field(&e),
                message: "录入不完整，没有保存".into(),
                details: Value::Null,
            };
            entry_page(
                &state,
                &user,
                &csrf,
                id,
                &serial,
                Some(&err),
                None,
                Some((&kept, Some(&e))),
            )
            .await
        }
        Err(e) => match super::admin::form_error(e) {
            Ok(e) => {
                entry_page(
                    &state,
                    &user,
                    &csrf,
                    id,
                    &serial,
                    Some(&e),
                    None,
                    Some((&kept, None)),
                )
                .await
            }
            Err(e) => Err(e),
        },
    }
}

pub async fn page_resolve(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let mut serial = String::new();
    let mut values = BTreeMap::new();
    for (k, v) in &form.0 {
        match k.strip_prefix("v_") {
            Some(field) => {
                values.insert(field.to_owned(), v.clone());
            }
            None if k == "serial" => serial = v.clone(),
            None => {}
        }
    }
    match work::resolve(&state.app, &user.actor(), id, &serial, &values)
        .await
        .map(|done| done.entered)
    {
        Ok(Entered::Stored) => Ok(super::see_other(
            &Done::PaperStored.on(&format!("/admin/surveys/{id}/paper/entry")),
        )),
        Ok(Entered::Incomplete(e)) => {
            let err = AppError::Unprocessable {
                field: first_missing_field(&e),
                message: "处理后的答卷仍不完整，没有保存".into(),
                details: Value::Null,
            };
            entry_page(&state, &user, &csrf, id, &serial, Some(&err), None, None).await
        }
        Ok(_) => Err(AppError::internal(
            "a resolution neither stored nor refused",
        )),
        Err(e) => match super::admin::form_error(e) {
            Ok(e) => entry_page(&state, &user, &csrf, id, &serial, Some(&e), None, None).await,
            Err(e) => Err(e),
        },
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct VoidForm {
    serial: String,
    confirm: String,
}

pub async fn page_void(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<VoidForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let serial = form.0.serial;
    let result = if form.0.confirm.is_empty() {
        Err(AppError::invalid(
            "confirm",
            "作废不能撤销：请先勾选“确认作废”",
        ))
    } else {
        work::void(&state.app, &user.actor(), id, &serial).await
    };
    done_or_shown(
        result,
        Done::PaperVoided,
        &format!("/admin/surveys/{id}/paper/entry"),
        async |e| entry_page(&state, &user, &csrf, id, &serial, Some(&e), None, None).await,
    )
    .await
}
