//! The organisers' pages for sampling: areas, schools, rosters, the draw and its certificate,
//! invitations, reserves and open channels.
use super::admin::{form_error, page, render};
use super::api::{organized, survey_for};
use super::auth::CurrentUser;
use super::csrf::{self, CsrfForm, CsrfToken, NoFields};
use super::sampling::{self, ChannelInput, ReleaseInput};
use super::{AppState, see_other};
use crate::domain::group::RespondentGroup;
use crate::domain::strata;
use crate::domain::survey::Survey;
use crate::error::AppError;
use crate::store;
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

type State = web::Data<AppState>;

/// The largest roster file accepted through the page.
pub const MAX_UPLOAD_BYTES: usize = 128 * 1024 * 1024;

fn split_line(line: &str) -> Vec<String> {
    line.split([',', '，', '\t'])
        .map(|f| f.trim().to_owned())
        .collect()
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
}

async fn sample_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: &CsrfToken,
    survey: &Survey,
    outcome: Outcome,
) -> Result<HttpResponse, AppError> {
    let (view, full) = sampling::survey_view(state, survey).await?;
    let mut ctx = page(Some(user), csrf);
    ctx.insert("survey", &view);
    ctx.insert("strata", &full.strata_view());
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
    ctx.insert("school_count", &full.geo.schools.len());
    let sizes = store::frames::group_sizes(&state.db, survey.id).await?;
    let mut rosters = Vec::new();
    for g in RespondentGroup::ALL {
        let sample: Vec<_> = store::frames::sample(&state.db, survey.id, g, 3)
            .await?
            .iter()
            .map(|p| sampling::person_json(p, &full.geo))
            .collect();
        rosters.push(json!({
            "group": g.code(),
            "label": g.label(),
            "rows": sizes[g.index()],
            "sample": sample,
            "needs_school": !matches!(g, RespondentGroup::NpcDeputy | RespondentGroup::CppccMember | RespondentGroup::Public),
            "needs_grade": matches!(g, RespondentGroup::Parent | RespondentGroup::Student),
        }));
    }
    ctx.insert("rosters", &rosters);
    let draws: Vec<sampling::DrawView> = store::draws::list(&state.db, survey.id)
        .await?
        .iter()
        .map(sampling::DrawView::from)
        .collect();
    ctx.insert("draws", &draws);
    if let Some(e) = &outcome.error {
        ctx.insert("error", &e.to_string());
        ctx.insert("error_field", &e.field());
        if let AppError::Unprocessable { details, .. } = e {
            ctx.insert("error_details", details);
        }
    }
    ctx.insert("notice", &outcome.notice);
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
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let survey = organized(&state, &user, path.into_inner()).await?;
    sample_page(&state, &user, &csrf, &survey, Outcome::default()).await
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
            let f = split_line(line);
            if f.len() != 3 {
                return Err(AppError::invalid(
                    "areas",
                    format!("第 {} 行应为：名称,类别,常住人口", i + 1),
                ));
            }
            let population = f[2].replace([',', '_'], "").parse().map_err(|_| {
                AppError::invalid("areas", format!("第 {} 行的常住人口不是整数", i + 1))
            })?;
            input.push(sampling::AreaInput {
                name: f[0].clone(),
                class: f[1].clone(),
                population,
            });
        }
        let survey = sampling::draft_for(&state, &user, id).await?;
        sampling::set_areas(&state, &survey, &input).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/admin/surveys/{id}/sample#areas"))),
        Err(e) => {
            let e = form_error(e)?;
            let survey = survey_for(&state, &user, id).await?;
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
            input.push(sampling::SchoolInput {
                name: f[0].clone(),
                area: f[1].clone(),
            });
        }
        let survey = sampling::draft_for(&state, &user, id).await?;
        sampling::set_schools(&state, &survey, &input).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/admin/surveys/{id}/sample#schools"))),
        Err(e) => {
            let e = form_error(e)?;
            let survey = survey_for(&state, &user, id).await?;
            let outcome = Outcome {
                error: Some(e),
                schools_text: Some(text),
                ..Default::default()
            };
            sample_page(&state, &user, &csrf, &survey, outcome).await
        }
    }
}

/// Reads a multipart upload of at most `max` bytes: the CSRF token and the file's bytes.
pub async fn read_upload(
    mut payload: Multipart,
    max: usize,
) -> Result<(Option<String>, Vec<u8>), AppError> {
    let bad =
        |e: actix_multipart::MultipartError| AppError::invalid("file", format!("上传失败：{e}"));
    let (mut token, mut file) = (None, Vec::new());
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(bad)?;
        let name = field.name().unwrap_or("").to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(bad)?;
            if bytes.len() + chunk.len() > max {
                let mb = max / (1024 * 1024);
                return Err(AppError::invalid(
                    "file",
                    format!("文件太大（最大 {mb} MB）"),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "csrf_token" => token = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "file" => file = bytes,
            _ => {}
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
    let survey = organized(&state, &user, id).await?;
    let (token, file) =
        read_upload(Multipart::new(req.headers(), payload), MAX_UPLOAD_BYTES).await?;
    csrf::verify(&req, token.as_deref())?;
    let result = async {
        if file.is_empty() {
            return Err(AppError::invalid("file", "请选择要上传的名册文件"));
        }
        sampling::upload_roster(&state, &user, &survey, group, &file).await
    }
    .await;
    let outcome = match result {
        Ok(done) => Outcome {
            notice: Some(format!("{}名册已导入 {} 人", group.label(), done.rows)),
            upload: Some(
                serde_json::to_value(&done).map_err(|e| AppError::Internal(e.to_string()))?,
            ),
            ..Default::default()
        },
        Err(e) => Outcome {
            error: Some(form_error(e)?),
            ..Default::default()
        },
    };
    sample_page(&state, &user, &csrf, &survey, outcome).await
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct DrawForm {
    #[serde(default)]
    seed: String,
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
        let seed = sampling::parse_seed(&form.0.seed)?;
        sampling::run_draw(&state, &user, id, seed).await
    }
    .await;
    match result {
        Ok(d) => Ok(see_other(&format!("/admin/surveys/{id}/draws/{}", d.id))),
        Err(e) => {
            let e = form_error(e)?;
            let survey = survey_for(&state, &user, id).await?;
            sample_page(
                &state,
                &user,
                &csrf,
                &survey,
                Outcome {
                    error: Some(e),
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
    let survey = survey_for(&state, &user, id).await?;
    let stored = store::draws::find(&state.db, survey.id, draw_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut ctx = page(Some(&user), &csrf);
    ctx.insert("survey", &super::view::SurveyView::new(&survey));
    ctx.insert("draw", &sampling::DrawView::from(&stored));
    ctx.insert(
        "rows",
        &sampling::certificate_rows(&state, survey.id, &stored).await?,
    );
    let geo = store::geography::load(&state.db, survey.id).await?;
    ctx.insert("areas", &sampling::GeographyView::new(&geo).areas);
    if query.verify.is_some() {
        let v = sampling::verify_draw(&state, &survey, &stored).await;
        match v {
            Ok(v) => ctx.insert("verification", &v),
            Err(AppError::Conflict(m)) => ctx.insert("verification_error", &m),
            Err(e) => return Err(e),
        }
    }
    render(&state, StatusCode::OK, "admin/certificate.html", &ctx)
}

async fn invitations_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: &CsrfToken,
    req: &HttpRequest,
    survey: &Survey,
    error: Option<AppError>,
    notice: Option<String>,
) -> Result<HttpResponse, AppError> {
    let mut ctx = page(Some(user), csrf);
    ctx.insert("survey", &super::view::SurveyView::new(survey));
    let (pending, answered, revoked) =
        store::invitations::status_counts(&state.db, survey.id).await?;
    ctx.insert(
        "counts",
        &json!({"pending": pending, "answered": answered, "revoked": revoked}),
    );
    ctx.insert(
        "current_draw",
        &store::draws::current(&state.db, survey.id)
            .await?
            .as_ref()
            .map(sampling::DrawView::from),
    );
    ctx.insert(
        "channels",
        &sampling::channel_views(state, req, survey).await?,
    );
    let geo = store::geography::load(&state.db, survey.id).await?;
    ctx.insert("geo", &sampling::GeographyView::new(&geo));
    let groups: Vec<_> = RespondentGroup::ALL
        .iter()
        .map(|g| {
            let bands: Vec<_> = strata::bands(*g).iter().map(|b| b.label()).collect();
            json!({"code": g.code(), "label": g.label(), "bands": bands})
        })
        .collect();
    ctx.insert("groups", &groups);
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
) -> Result<HttpResponse, AppError> {
    let survey = organized(&state, &user, path.into_inner()).await?;
    invitations_page(&state, &user, &csrf, &req, &survey, None, None).await
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
        let survey = organized(&state, &user, id).await?;
        sampling::create_channel(&state, &user, &survey, &form.0).await
    }
    .await;
    match created {
        Ok(_) => Ok(see_other(&format!(
            "/admin/surveys/{id}/invitations#channels"
        ))),
        Err(e) => {
            let e = form_error(e)?;
            let survey = survey_for(&state, &user, id).await?;
            invitations_page(&state, &user, &csrf, &req, &survey, Some(e), None).await
        }
    }
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
        let band = match f.band.trim() {
            "" => None,
            b => Some(
                b.parse()
                    .map_err(|_| AppError::invalid("band", "年级段无效"))?,
            ),
        };
        let issued_before = super::input::parse_local_time(&f.issued_before, "issued_before")?;
        let input = ReleaseInput {
            group: f.group.clone(),
            area: Some(f.area.clone()),
            band,
            issued_before,
        };
        let survey = organized(&state, &user, id).await?;
        sampling::release_reserves(&state, &user, &survey, &input).await
    }
    .await;
    let survey = survey_for(&state, &user, id).await?;
    match result {
        Ok(o) => {
            let notice = format!(
                "已用备选名单替换 {} 份未回复的邀请；{} 份因备选用尽未替换",
                o.replaced, o.without_reserve
            );
            invitations_page(&state, &user, &csrf, &req, &survey, None, Some(notice)).await
        }
        Err(e) => {
            invitations_page(
                &state,
                &user,
                &csrf,
                &req,
                &survey,
                Some(form_error(e)?),
                None,
            )
            .await
        }
    }
}

pub async fn purge(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    path: web::Path<i32>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let result = sampling::purge(&state, &user, id).await;
    let survey = survey_for(&state, &user, id).await?;
    match result {
        Ok(n) => {
            invitations_page(
                &state,
                &user,
                &csrf,
                &req,
                &survey,
                None,
                Some(format!("已清除名册中的 {n} 条个人信息")),
            )
            .await
        }
        Err(e) => {
            invitations_page(
                &state,
                &user,
                &csrf,
                &req,
                &survey,
                Some(form_error(e)?),
                None,
            )
            .await
        }
    }
}

/// A printable A4 sheet: one QR code per working invitation, labelled by school and grade.
pub async fn print_sheet(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let survey = organized(&state, &user, path.into_inner()).await?;
    let geo = store::geography::load(&state.db, survey.id).await?;
    let mut cards = Vec::new();
    for r in store::invitations::list_live(&state.db, survey.id).await? {
        if r.status != crate::domain::invitation::InvitationStatus::Pending.code() {
            continue;
        }
        let url = state.public_link(&req, &sampling::invitation_path(&state, r.id));
        let svg = super::qr::svg(&url, 160)?;
        let svg = svg
            .split_once("?>")
            .map_or(svg.as_str(), |(_, rest)| rest)
            .to_owned();
        let group = r
            .grp
            .parse::<RespondentGroup>()
            .map(|g| g.label())
            .unwrap_or("");
        cards.push(json!({
            "svg": svg,
            "group": group,
            "area": geo.area_name(r.area_id),
            "school": geo.school_name(r.school_id),
            "grade": r.grade,
            "url": url,
        }));
    }
    tracing::info!(
        survey = survey.id,
        user = user.id,
        cards = cards.len(),
        "invitation sheet printed"
    );
    super::audit(
        &state,
        &user.username,
        "print_invitations",
        &format!("survey {}", survey.id),
        "",
    )
    .await;
    let mut ctx = page(Some(&user), &csrf);
    ctx.insert("survey", &super::view::SurveyView::new(&survey));
    ctx.insert("cards", &cards);
    render(&state, StatusCode::OK, "admin/print.html", &ctx)
}
