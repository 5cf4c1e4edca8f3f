//! The organisers' pages for sampling: areas, schools, rosters, the draw and its certificate,
//! invitations, reserves and open channels.
use super::admin::{form_error, page, render};
use super::auth::CurrentUser;
use super::csrf::{self, CsrfForm, CsrfToken};
use super::input::{ConfirmForm, require_tick};
use super::notice::{Done, DoneQuery};
use super::sampling::{
    AreaInput, ChannelInput, ChannelView, DrawView, GeographyView, SchoolInput, certificate_json,
    group_options, person_json, school_entries, seed_choice,
};
use super::view::SurveyView;
use super::{AppState, see_other};
use crate::app::draws;
use crate::app::sampling::{self, ChannelChange, InvitationUse, ReleaseRequest};
use crate::app::sheets::Upload;
use crate::app::surveys;
use crate::domain::draw::Algorithm;
use crate::domain::group::RespondentGroup;
use crate::domain::strata::Area;
use crate::domain::survey::Survey;
use crate::error::AppError;
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

type State = web::Data<AppState>;

/// A line of a pasted list: tab-separated as pasted from Excel (where a number may be written
/// 60,000), else comma-separated.
fn split_line(line: &str) -> Vec<String> {
    let fields: Vec<&str> = if line.contains('\t') {
        line.split('\t').collect()
    } else {
        line.split([',', '，']).collect()
    };
    fields.iter().map(|f| f.trim().to_owned()).collect()
}

/// An area's line: name, class, population, the population perhaps grouped by commas
/// (城关镇,城区,120,000).
fn area_fields(line: &str) -> Vec<String> {
    let mut f = split_line(line);
    let grouped = f.len() > 3
        && f[2].chars().all(|c| c.is_ascii_digit())
        && f[3..]
            .iter()
            .all(|g| g.len() == 3 && g.chars().all(|c| c.is_ascii_digit()));
    if grouped {
        let number = f[2..].concat();
        f.truncate(2);
        f.push(number);
    }
    f
}

/// What the sampling page shows after an action: a message, errors, or an upload's result.
#[derive(Default)]
struct Outcome {
    status: Option<StatusCode>,
    error: Option<AppError>,
    notice: Option<String>,
    upload: Option<serde_json::Value>,
    areas_text: Option<String>,
    schools_text: Option<String>,
    /// The seed and note a refused draw was asked with, to show them again.
    draw_form: Option<(String, String)>,
}

async fn sample_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: &CsrfToken,
    survey: &Survey,
    outcome: Outcome,
) -> Result<HttpResponse, AppError> {
    let actor = user.actor();
    let (_, full, places) = sampling::places(&state.app, &actor, survey.id).await?;
    let mut ctx = page(Some(user), csrf);
    ctx.insert("survey", &SurveyView::with_plan(survey, &full.plan));
    ctx.insert("strata", &full.lines_with(&places));
    let areas_text = full
        .geo
        .areas
        .iter()
        .map(|a| format!("{},{},{}", a.name, a.class.label(), a.population))
        .collect::<Vec<_>>()
        .join("\n");
    let schools_text = full
        .geo
        .schools
        .iter()
        .map(|s| format!("{},{}", s.name, full.geo.areas[s.area].name))
        .collect::<Vec<_>>()
        .join("\n");
    ctx.insert("areas_text", &outcome.areas_text.unwrap_or(areas_text));
    ctx.insert(
        "schools_text",
        &outcome.schools_text.unwrap_or(schools_text),
    );
    ctx.insert("area_count", &full.geo.areas.len());
    if !full.geo.areas.is_empty() {
        let populations: Vec<u64> = full.geo.areas.iter().map(|a| a.population).collect();
        let check =
            crate::domain::opening::areas_check(&populations, survey.settings.plan.population);
        ctx.insert("areas_check", &check);
    }
    ctx.insert("school_count", &full.geo.schools.len());
    let (geo, previews) =
        sampling::rosters(&state.app, &actor, survey.id, &RespondentGroup::ALL, 3).await?;
    let rosters: Vec<_> = previews
        .iter()
        .map(|r| {
            let g = r.group;
            json!({
                "group": g.code(),
                "label": g.label(),
                "rows": r.rows,
                "sample": r.first.iter().map(|p| person_json(p, &geo)).collect::<Vec<_>>(),
                "needs_school": !matches!(g, RespondentGroup::NpcDeputy | RespondentGroup::CppccMember | RespondentGroup::Public),
                "needs_grade": matches!(g, RespondentGroup::Parent | RespondentGroup::Student),
            })
        })
        .collect();
    ctx.insert("rosters", &rosters);
    let without_roster: Vec<&str> = previews
        .iter()
        .filter(|r| r.rows.is_none())
        .map(|r| r.group.label())
        .collect();
    ctx.insert("without_roster", &without_roster);
    let draws: Vec<DrawView> = draws::draws(&state.app, &actor, survey.id)
        .await?
        .iter()
        .map(DrawView::from)
        .collect();
    ctx.insert("draws", &draws);
    let current = draws::current_with_staleness(&state.app, &actor, survey.id).await?;
    let stale = super::sampling::stale_labels(current.as_ref());
    ctx.insert("current_draw_id", &current.as_ref().map(|(d, _)| d.id));
    ctx.insert("stale", &stale);
    if let Some(e) = &outcome.error {
        ctx.insert("error", &e.to_string());
        ctx.insert("error_field", &e.field());
        if let AppError::Unprocessable { details, .. } = e {
            ctx.insert("error_details", details);
        }
    }
    ctx.insert("notice", &outcome.notice);
    if let Some((seed, note)) = &outcome.draw_form {
        ctx.insert("draw_seed", seed);
        ctx.insert("draw_seed_note", note);
    }
    ctx.insert("upload", &outcome.upload);
    let status = outcome
        .status
        .or_else(|| {
            outcome
                .error
                .as_ref()
                .map(actix_web::ResponseError::status_code)
        })
        .unwrap_or(StatusCode::OK);
    render(state, status, "admin/sample.html", &ctx)
}

pub async fn sample(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    path: web::Path<i32>,
    done: web::Query<DoneQuery>,
) -> Result<HttpResponse, AppError> {
    let survey = surveys::organized(&state.app, &user.actor(), path.into_inner()).await?;
    // A roster upload's outcome, left on the session by the upload that sent us here.
    let carried = match super::auth::session_token(&state, &req) {
        Some(t) => crate::app::accounts::take_notice(&state.app, &t).await?,
        None => None,
    };
    let carried = carried
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .filter(|v| v["page"] == sample_path(survey.id));
    let outcome = match carried {
        Some(v) => Outcome {
            notice: v["notice"].as_str().map(str::to_owned),
            upload: Some(v["upload"].clone()),
            ..Outcome::default()
        },
        None => Outcome {
            notice: done.message(),
            ..Outcome::default()
        },
    };
    sample_page(&state, &user, &csrf, &survey, outcome).await
}

fn sample_path(survey: i32) -> String {
    format!("/admin/surveys/{survey}/sample")
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct AreasForm {
    areas: String,
}

pub async fn save_areas(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<AreasForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let text = form.0.areas;
    let result = async {
        let mut input = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let f = area_fields(line);
            if f.len() != 3 {
                return Err(AppError::invalid(
                    "areas",
                    format!("第 {} 行应为：名称,类别,常住人口", i + 1),
                ));
            }
            let population = f[2].replace([',', '_'], "").parse().map_err(|_| {
                AppError::invalid("areas", format!("第 {} 行的常住人口不是整数", i + 1))
            })?;
            input.push(AreaInput {
                name: f[0].clone(),
                class: f[1].clone(),
                population,
            });
        }
        sampling::draft(&state.app, &user.actor(), id).await?;
        let areas = input
            .iter()
            .map(AreaInput::area)
            .collect::<Result<Vec<Area>, AppError>>()?;
        sampling::set_areas(&state.app, &user.actor(), id, &areas).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(
            &Done::AreasSaved.on(&format!("/admin/surveys/{id}/sample#areas")),
        )),
        Err(e) => {
            let e = form_error(e)?;
            let survey = surveys::visible(&state.app, &user.actor(), id).await?;
            let outcome = Outcome {
                error: Some(e),
                areas_text: Some(text),
                ..Default::default()
            };
            sample_page(&state, &user, &csrf, &survey, outcome).await
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct SchoolsForm {
    schools: String,
}

pub async fn save_schools(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<SchoolsForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let text = form.0.schools;
    let result = async {
        let mut input = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let f = split_line(line);
            if f.len() != 2 {
                return Err(AppError::invalid(
                    "schools",
                    format!("第 {} 行应为：学校名称,所在乡镇", i + 1),
                ));
            }
            input.push(SchoolInput {
                name: f[0].clone(),
                area: f[1].clone(),
            });
        }
        sampling::draft(&state.app, &user.actor(), id).await?;
        let entries = school_entries(&input)?;
        sampling::set_schools(&state.app, &user.actor(), id, &entries).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(
            &Done::SchoolsSaved.on(&format!("/admin/surveys/{id}/sample#schools")),
        )),
        Err(e) => {
            let e = form_error(e)?;
            let survey = surveys::visible(&state.app, &user.actor(), id).await?;
            let outcome = Outcome {
                error: Some(e),
                schools_text: Some(text),
                ..Default::default()
            };
            sample_page(&state, &user, &csrf, &survey, outcome).await
        }
    }
}

/// Reads a multipart upload of at most `max` bytes (413 past it, at once if its declared length
/// says so): the CSRF token and the one file, spooled to disk as it arrives. Any other field is
/// small, or the upload is refused.
pub async fn read_upload(
    req: &HttpRequest,
    payload: web::Payload,
    max: usize,
) -> Result<(Option<String>, Upload), AppError> {
    const FIELD_BYTES: usize = 4 * 1024;
    let bad =
        |e: actix_multipart::MultipartError| AppError::invalid("file", format!("上传失败：{e}"));
    if super::input::declared_length(req).is_some_and(|n| n > max as u64) {
        return Err(AppError::PayloadTooLarge);
    }
    let mut payload = Multipart::new(req.headers(), payload);
    let (mut token, mut file, mut files) = (None, Upload::new()?, 0);
    let mut received = 0usize;
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(bad)?;
        let name = field.name().unwrap_or("").to_owned();
        let is_file = name == "file";
        if is_file {
            files += 1;
            if files > 1 {
                return Err(AppError::invalid("file", "一次只能上传一个文件"));
            }
        }
        let mut spool = super::input::Spool::default();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(bad)?;
            received += chunk.len();
            if received > max {
                return Err(AppError::PayloadTooLarge);
            }
            if is_file {
                spool.add(&mut file, &chunk)?;
            } else if bytes.len() + chunk.len() > FIELD_BYTES {
                return Err(AppError::invalid("file", format!("表单项“{name}”过长")));
            } else {
                bytes.extend_from_slice(&chunk);
            }
        }
        spool.finish(&mut file)?;
        if name == "csrf_token" {
            if token.is_some() {
                return Err(AppError::invalid("csrf_token", "表单有两个 csrf_token"));
            }
            token = Some(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    Ok((token, file))
}

pub async fn upload_frame(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    path: web::Path<(i32, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let (id, group) = path.into_inner();
    let group: RespondentGroup = group.parse().map_err(|_| AppError::NotFound)?;
    // Who may upload is settled before the body is read.
    let survey = surveys::organized(&state.app, &user.actor(), id).await?;
    if let Err(e) = sampling::roster_welcome(&state.app, &user.actor(), id).await {
        let outcome = Outcome {
            error: Some(form_error(e)?),
            ..Default::default()
        };
        return sample_page(&state, &user, &csrf, &survey, outcome).await;
    }
    let _slot = state
        .upload_slots
        .acquire()
        .await
        .map_err(AppError::internal)?;
    // The body must arrive within the usual time; only the work after it may take longer.
    let (token, file) = tokio::time::timeout(
        state.request_timeout,
        read_upload(&req, payload, super::MAX_ROSTER_BYTES),
    )
    .await
    .map_err(|_| AppError::RequestTimeout)??;
    csrf::verify(&req, token.as_deref())?;
    let result = async {
        if file.is_empty() {
            return Err(AppError::invalid("file", "请选择要上传的名册文件"));
        }
        sampling::upload_roster(&state.app, &user.actor(), id, group, file).await
    }
    .await;
    match result {
        // Back to the page with the outcome on the session: a reload sends nothing again.
        Ok(done) => {
            let page = sample_path(id);
            let carried = json!({
                "page": page,
                "notice": format!("{}名册已导入 {} 人", group.label(), done.rows),
                "upload": done,
            });
            if let Some(t) = super::auth::session_token(&state, &req) {
                crate::app::accounts::leave_notice(&state.app, &t, carried.to_string()).await?;
            }
            Ok(see_other(&format!("{page}#rosters")))
        }
        Err(e) => {
            let outcome = Outcome {
                error: Some(form_error(e)?),
                ..Default::default()
            };
            sample_page(&state, &user, &csrf, &survey, outcome).await
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct DrawForm {
    seed: String,
    seed_note: String,
}

pub async fn draw(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<DrawForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let result = async {
        let seed = seed_choice(&form.0.seed, &form.0.seed_note)?;
        draws::draw(&state.app, &user.actor(), id, seed).await
    }
    .await;
    match result {
        Ok(d) => Ok(see_other(&format!("/admin/surveys/{id}/draws/{}", d.id))),
        Err(e) => {
            let e = form_error(e)?;
            let survey = surveys::visible(&state.app, &user.actor(), id).await?;
            sample_page(
                &state,
                &user,
                &csrf,
                &survey,
                Outcome {
                    error: Some(e),
                    draw_form: Some((form.0.seed.clone(), form.0.seed_note.clone())),
                    ..Default::default()
                },
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct VerifyQuery {
    verify: Option<String>,
}

pub async fn certificate(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<(i32, i32)>,
    query: web::Query<VerifyQuery>,
) -> Result<HttpResponse, AppError> {
    let (id, draw_id) = path.into_inner();
    let c = draws::certificate(&state.app, &user.actor(), id, draw_id).await?;
    let mut ctx = page(Some(&user), &csrf);
    ctx.insert("survey", &SurveyView::new(&c.survey));
    ctx.insert("draw", &DrawView::from(&c.draw));
    ctx.insert("certificate", &certificate_json(&c)?);
    ctx.insert("rows", &c.rows);
    ctx.insert("v2", &(c.draw.version == Algorithm::V2));
    if query.verify.is_some() {
        let v = draws::verify(&state.app, &user.actor(), id, draw_id).await;
        match v {
            Ok(v) => ctx.insert("verification", &v),
            Err(AppError::Conflict(m)) => ctx.insert("verification_error", &m),
            Err(e) => return Err(e),
        }
    }
    render(&state, StatusCode::OK, "admin/certificate.html", &ctx)
}

/// Discards the draft's draw in force, back on the sampling page.
pub async fn discard_draw(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<(i32, i32)>,
    form: CsrfForm<ConfirmForm>,
) -> Result<HttpResponse, AppError> {
    let (id, draw_id) = path.into_inner();
    let survey = surveys::organized(&state.app, &user.actor(), id).await?;
    let result = async {
        require_tick(
            &form.0.confirm,
            "请勾选“确认撤销”：撤销后这次抽样发出的邀请链接和二维码全部作废",
        )?;
        draws::discard(&state.app, &user.actor(), id, draw_id).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(
            &Done::DrawDiscarded.on(&format!("/admin/surveys/{id}/sample")),
        )),
        Err(e) => {
            let outcome = Outcome {
                error: Some(form_error(e)?),
                ..Outcome::default()
            };
            sample_page(&state, &user, &csrf, &survey, outcome).await
        }
    }
}

pub async fn invitations_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: &CsrfToken,
    req: &HttpRequest,
    survey: &Survey,
    error: Option<AppError>,
    notice: Option<String>,
) -> Result<HttpResponse, AppError> {
    let actor = user.actor();
    let mut ctx = page(Some(user), csrf);
    ctx.insert("survey", &SurveyView::new(survey));
    ctx.insert(
        "counts",
        &sampling::invitation_counts(&state.app, &actor, survey.id).await?,
    );
    let current = draws::current_with_staleness(&state.app, &actor, survey.id).await?;
    let stale = super::sampling::stale_labels(current.as_ref());
    ctx.insert("stale", &stale);
    ctx.insert(
        "current_draw",
        &current.as_ref().map(|(d, _)| DrawView::from(d)),
    );
    let channels: Vec<ChannelView> = sampling::channels(&state.app, &actor, survey.id)
        .await?
        .into_iter()
        .map(|c| ChannelView::new(state, req, c))
        .collect();
    ctx.insert("channels", &channels);
    let (_, geo) = sampling::geography(&state.app, &actor, survey.id).await?;
    ctx.insert("geo", &GeographyView::new(&geo));
    ctx.insert("groups", &group_options());
    ctx.insert(
        "held",
        &super::integrity::held_views(&state.app, &actor, survey.id).await?,
    );
    ctx.insert("hold_after", &state.app.hold_after());
    if let Some(e) = &error {
        ctx.insert("error", &e.to_string());
    }
    ctx.insert("notice", &notice);
    let status = error
        .as_ref()
        .map_or(StatusCode::OK, actix_web::ResponseError::status_code);
    render(state, status, "admin/invitations.html", &ctx)
}

pub async fn invitations(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    path: web::Path<i32>,
    done: web::Query<DoneQuery>,
) -> Result<HttpResponse, AppError> {
    let survey = surveys::organized(&state.app, &user.actor(), path.into_inner()).await?;
    invitations_page(&state, &user, &csrf, &req, &survey, None, done.message()).await
}

pub async fn create_channel(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    path: web::Path<i32>,
    form: CsrfForm<ChannelInput>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let created = async {
        surveys::organized(&state.app, &user.actor(), id).await?;
        sampling::create_channel(&state.app, &user.actor(), id, &form.0.request()?).await
    }
    .await;
    match created {
        Ok(_) => Ok(see_other(
            &Done::ChannelCreated.on(&format!("/admin/surveys/{id}/invitations#channels")),
        )),
        Err(e) => {
            let e = form_error(e)?;
            let survey = surveys::visible(&state.app, &user.actor(), id).await?;
            invitations_page(&state, &user, &csrf, &req, &survey, Some(e), None).await
        }
    }
}

/// Closes, reopens or deletes a channel from the invitations page.
pub async fn change_channel(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    path: web::Path<(i32, String, String)>,
    _form: CsrfForm<csrf::NoFields>,
) -> Result<HttpResponse, AppError> {
    let (id, code, action) = path.into_inner();
    let (change, done) = match action.as_str() {
        "close" => (ChannelChange::Close, Done::ChannelClosed),
        "reopen" => (ChannelChange::Reopen, Done::ChannelReopened),
        "delete" => (ChannelChange::Delete, Done::ChannelDeleted),
        _ => return Err(AppError::NotFound),
    };
    match sampling::change_channel(&state.app, &user.actor(), id, &code, change).await {
        Ok(()) => Ok(see_other(
            &done.on(&format!("/admin/surveys/{id}/invitations#channels")),
        )),
        Err(e) => {
            let e = form_error(e)?;
            let survey = surveys::visible(&state.app, &user.actor(), id).await?;
            invitations_page(&state, &user, &csrf, &req, &survey, Some(e), None).await
        }
    }
}

/// Which invitations to print: one school's (`?school=…`), or all.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct PrintQuery {
    school: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct ReleaseForm {
    group: String,
    #[serde(default)]
    area: String,
    #[serde(default)]
    band: String,
    #[serde(default)]
    issued_before: String,
    /// The organiser's tick that they mean it: the links released go dead.
    #[serde(default)]
    confirm: String,
}

pub async fn release(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    path: web::Path<i32>,
    form: CsrfForm<ReleaseForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let f = form.0;
    let result = async {
        require_tick(
            &f.confirm,
            "请勾选确认：启用备选后，这些未回复的邀请链接将作废，改发给备选名单中的人",
        )?;
        let band = match f.band.trim() {
            "" => None,
            b => Some(
                b.parse()
                    .map_err(|_| AppError::invalid("band", "年级段无效"))?,
            ),
        };
        let issued_before = super::input::parse_local_time(&f.issued_before, "issued_before")?;
        let request = ReleaseRequest {
            group: &f.group,
            area: Some(&f.area),
            band,
            issued_before,
        };
        surveys::organized(&state.app, &user.actor(), id).await?;
        sampling::release_reserves(&state.app, &user.actor(), id, &request).await
    }
    .await;
    match result {
        Ok(o) => Ok(see_other(
            &Done::Released(o.replaced, o.without_reserve)
                .on(&format!("/admin/surveys/{id}/invitations")),
        )),
        Err(e) => {
            let e = form_error(e)?;
            let survey = surveys::visible(&state.app, &user.actor(), id).await?;
            invitations_page(&state, &user, &csrf, &req, &survey, Some(e), None).await
        }
    }
}

pub async fn purge(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    path: web::Path<i32>,
    form: CsrfForm<ConfirmForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let result = async {
        require_tick(
            &form.0.confirm,
            "请勾选确认：清除后名册中的姓名和电话不能恢复",
        )?;
        sampling::purge(&state.app, &user.actor(), id).await
    }
    .await;
    match result {
        Ok(n) => Ok(see_other(
            &Done::Purged(n).on(&format!("/admin/surveys/{id}/invitations")),
        )),
        Err(e) => {
            let e = form_error(e)?;
            let survey = surveys::visible(&state.app, &user.actor(), id).await?;
            invitations_page(&state, &user, &csrf, &req, &survey, Some(e), None).await
        }
    }
}

/// A printable A4 sheet: one QR code per working invitation, labelled by school and grade.
/// Invitation slips on one A4 page: three across, four down.
const CARDS_PER_PAGE: usize = 12;

fn print_page(
    geo: &crate::domain::geography::Geography,
    key: Option<(RespondentGroup, Option<i32>)>,
    cards: Vec<serde_json::Value>,
) -> serde_json::Value {
    json!({
        "group": key.map(|k| k.0.label()),
        "school": key.map(|k| geo.school_name(k.1).to_owned()),
        "cards": cards,
    })
}

pub async fn print_sheet(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    path: web::Path<i32>,
    query: web::Query<PrintQuery>,
) -> Result<HttpResponse, AppError> {
    let actor = user.actor();
    let survey = surveys::organized(&state.app, &actor, path.into_inner()).await?;
    let (geo, mut lines) =
        sampling::invitations(&state.app, &actor, survey.id, InvitationUse::Print).await?;
    // One school's batch: its channels' posters first, then its invitation slips.
    let mut posters = Vec::new();
    let school = query
        .school
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(name) = school {
        let (school_id, _) = geo
            .school_named(name)
            .ok_or_else(|| AppError::invalid("school", format!("没有名为“{name}”的学校")))?;
        lines.retain(|l| l.addressed.invitation.school_id == Some(school_id));
        for c in sampling::channels(&state.app, &actor, survey.id).await? {
            if c.channel.school_id == Some(school_id) && c.channel.closed_at.is_none() {
                posters.push(super::poster::of(&state, &req, &survey, &c).svg()?);
            }
        }
    }
    // As schools hand them out: by group, then schools in the county's own order, grade and
    // class (2班 before 10班), then roster 编号; each school starts a page of its own, and a
    // page holds exactly CARDS_PER_PAGE slips.
    let school_order: std::collections::HashMap<i32, usize> = geo
        .school_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i))
        .collect();
    let natural = crate::domain::invitation::natural_key;
    lines.sort_by_cached_key(|l| {
        let (a, inv) = (&l.addressed, &l.addressed.invitation);
        (
            inv.group,
            inv.school_id
                .and_then(|s| school_order.get(&s).copied())
                .unwrap_or(usize::MAX),
            inv.grade,
            natural(a.class.as_deref().unwrap_or_default()),
            natural(a.external_id.as_deref().unwrap_or_default()),
        )
    });
    let mut pages: Vec<serde_json::Value> = Vec::new();
    let mut current: Vec<serde_json::Value> = Vec::new();
    let mut current_key: Option<(RespondentGroup, Option<i32>)> = None;
    let total = lines.len();
    for line in &lines {
        let (a, inv) = (&line.addressed, &line.addressed.invitation);
        let key = (inv.group, inv.school_id);
        if current.len() == CARDS_PER_PAGE || (current_key.is_some() && current_key != Some(key)) {
            pages.push(print_page(&geo, current_key, std::mem::take(&mut current)));
        }
        current_key = Some(key);
        let url = state.public_link(&req, &line.path);
        let svg = super::qr::svg(&url, 160)?;
        let svg = svg
            .split_once("?>")
            .map_or(svg.as_str(), |(_, rest)| rest)
            .to_owned();
        current.push(json!({
            "svg": svg,
            "group": inv.group.label(),
            "area": geo.area_name(inv.area_id),
            "school": geo.school_name(inv.school_id),
            "grade": inv.grade,
            "class": a.class,
            "external_id": a.external_id,
            "name": a.name.as_deref().map(crate::domain::invitation::masked_name),
            "url": url,
        }));
    }
    if !current.is_empty() {
        pages.push(print_page(&geo, current_key, current));
    }
    let mut ctx = page(Some(&user), &csrf);
    ctx.insert("survey", &SurveyView::new(&survey));
    ctx.insert("pages", &pages);
    ctx.insert("posters", &posters);
    ctx.insert("school", &school);
    ctx.insert("total", &total);
    ctx.insert("per_page", &CARDS_PER_PAGE);
    render(&state, StatusCode::OK, "admin/print.html", &ctx)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pasted_lines_split_as_excel_and_people_write_them() {
        let f = super::area_fields;
        assert_eq!(f("城关镇\t城区\t60,000"), ["城关镇", "城区", "60,000"]);
        assert_eq!(f("城关镇,城区,120,000"), ["城关镇", "城区", "120000"]);
        assert_eq!(f("城关镇，城区，1,200,000"), ["城关镇", "城区", "1200000"]);
        assert_eq!(
            f("城关镇,城区,12,34").len(),
            4,
            "not a grouped number: refused"
        );
        assert_eq!(
            super::split_line("城关一小\t城关镇"),
            ["城关一小", "城关镇"]
        );
    }
}
