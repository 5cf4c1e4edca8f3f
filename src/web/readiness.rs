//! Readiness: the whole evaluation of a county in one view — resources (per school, and the
//! difference coefficients), the government-guarantee and quality checklists, and recognition
//! from the live survey.
use super::AppState;
use super::admin::{page, render};
use super::auth::CurrentUser;
use super::csrf::{self, CsrfForm, CsrfToken};
use crate::app::readiness::{self as ready, CheckInput};
use crate::app::{Actor, accounts};
use crate::domain::readiness::view::ReadinessView;
use crate::domain::readiness::{self as r, CheckStatus, Indicator};
use crate::error::AppError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use chrono::Datelike;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

type State = web::Data<AppState>;

fn this_year() -> i32 {
    chrono::Utc::now()
        .with_timezone(&crate::domain::survey::beijing())
        .year()
}

/// A county the user organises (settled before a body is read).
async fn organized(state: &AppState, actor: &Actor<'_>, county: i32) -> Result<(), AppError> {
    accounts::county(&state.app, actor, county).await?;
    actor.require_organizer()
}

#[derive(Deserialize)]
pub struct YearQuery {
    year: Option<i32>,
}

impl YearQuery {
    fn year(&self) -> Result<i32, AppError> {
        match self.year {
            None => Ok(this_year()),
            Some(y) if (2000..=2100).contains(&y) => Ok(y),
            Some(_) => Err(AppError::invalid("year", "年份无效")),
        }
    }
}

pub async fn api_view(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    q: web::Query<YearQuery>,
) -> Result<HttpResponse, AppError> {
    let v = ready::view(&state.app, &user.actor(), path.into_inner(), q.year()?).await?;
    Ok(HttpResponse::Ok().json(v))
}

pub async fn api_upload(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<i32>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let county = path.into_inner();
    organized(&state, &user.actor(), county).await?;
    let ok_type = req.mime_type().ok().flatten().is_some_and(|m| {
        m.subtype() == "csv"
            || m.essence_str().contains("spreadsheet")
            || m.essence_str() == "application/octet-stream"
    });
    if !ok_type {
        return Err(AppError::invalid("file", "请以 text/csv 或 XLSX 上传"));
    }
    let n = ready::upload(&state.app, &user.actor(), county, body.to_vec()).await?;
    Ok(HttpResponse::Ok().json(json!({"schools": n})))
}

pub async fn api_save_check(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, String)>,
    q: web::Query<YearQuery>,
    input: super::input::ApiJson<CheckInput>,
) -> Result<HttpResponse, AppError> {
    let (county, code) = path.into_inner();
    organized(&state, &user.actor(), county).await?;
    let year = q.year()?;
    ready::save_check(
        &state.app,
        &user.actor(),
        county,
        year,
        &code,
        &input.parse()?,
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ok"})))
}

/// The CSV template, with a row of example figures.
pub async fn template() -> HttpResponse {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        let _ = w.write_record(r::template_header());
        let _ = w.write_record([
            "城关一小",
            "小学",
            "1200",
            "",
            "",
            "56",
            "14",
            "12",
            "5600",
            "9500",
            "2600000",
            "30",
        ]);
        let _ = w.write_record([
            "城关中学",
            "初中",
            "900",
            "",
            "",
            "52",
            "10",
            "9",
            "5400",
            "9800",
            "2400000",
            "23",
        ]);
        let _ = w.write_record([
            "西山学校",
            "九年一贯制",
            "600",
            "400",
            "200",
            "30",
            "7",
            "6",
            "3000",
            "5200",
            "1300000",
            "15",
        ]);
        let _ = w.flush();
    }
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"readiness-schools-template.csv\"",
        ))
        .body(out)
}

/// The readiness view as XLSX: the four parts, the shortfalls, the school grid and the CVs.
pub async fn xlsx(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    q: web::Query<YearQuery>,
) -> Result<HttpResponse, AppError> {
    let v = ready::view(&state.app, &user.actor(), path.into_inner(), q.year()?).await?;
    let bytes = workbook(&v).map_err(|e| AppError::Internal(format!("XLSX: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"readiness-{}.xlsx\"", v.county.id),
        ))
        .body(bytes))
}

fn workbook(v: &ReadinessView) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let met = |yes: bool| if yes { "达标" } else { "未达标" };
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let s = book.add_worksheet();
    s.set_name("总览")?;
    for (c, h) in ["部分", "结论", "原因"].iter().enumerate() {
        s.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, p) in v.parts.iter().enumerate() {
        let row = i as u32 + 1;
        s.write_string(row, 0, p.label)?;
        s.write_string(row, 1, p.light_label)?;
        s.write_string(row, 2, &p.reason)?;
    }
    s.set_column_width(2, 60)?;
    let s = book.add_worksheet();
    s.set_name("差距清单")?;
    s.write_string_with_format(0, 0, "差距", &bold)?;
    s.write_string_with_format(0, 1, "事项", &bold)?;
    for (i, x) in v.shortfalls.iter().enumerate() {
        s.write_number(i as u32 + 1, 0, x.gap)?;
        s.write_string(i as u32 + 1, 1, &x.what)?;
    }
    s.set_column_width(1, 80)?;
    let s = book.add_worksheet();
    s.set_name("学校指标")?;
    s.write_string_with_format(0, 0, "学校", &bold)?;
    s.write_string_with_format(0, 1, "学段", &bold)?;
    for (c, ind) in Indicator::ALL.iter().enumerate() {
        s.write_string_with_format(0, c as u16 + 2, ind.label(), &bold)?;
    }
    s.write_string_with_format(0, 9, "是否达标", &bold)?;
    for (i, p) in v.resources.schools.iter().enumerate() {
        let row = i as u32 + 1;
        s.write_string(row, 0, &p.school)?;
        s.write_string(row, 1, p.level_label)?;
        for (c, ind) in Indicator::ALL.iter().enumerate() {
            if let Some(value) = p.values.get(ind.code()) {
                s.write_number(row, c as u16 + 2, *value)?;
            }
        }
        s.write_string(row, 9, met(p.passes))?;
    }
    let s = book.add_worksheet();
    s.set_name("差异系数")?;
    for (c, h) in [
        "学段",
        "指标",
        "学校数",
        "全县均值",
        "差异系数",
        "要求",
        "是否达标",
        "对照口径的差异系数",
        "对照口径是否达标",
    ]
    .iter()
    .enumerate()
    {
        s.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    let rules = v.resources.indicators.len() as u32 + 2;
    s.write_string_with_format(rules, 0, "计算口径", &bold)?;
    s.write_string(rules, 1, &v.resources.rule_label)?;
    s.write_string_with_format(rules + 1, 0, "对照口径", &bold)?;
    s.write_string(rules + 1, 1, &v.resources.other_rule_label)?;
    for (i, x) in v.resources.indicators.iter().enumerate() {
        let row = i as u32 + 1;
        s.write_string(row, 0, x.level_label)?;
        s.write_string(row, 1, x.label)?;
        s.write_number(row, 2, x.schools as f64)?;
        s.write_number(row, 3, x.mean)?;
        if let Some(cv) = x.cv {
            s.write_number(row, 4, cv)?;
        }
        s.write_number(row, 5, x.threshold)?;
        s.write_string(row, 6, met(x.passes))?;
        if let Some(cv) = x.cv_other {
            s.write_number(row, 7, cv)?;
            s.write_string(row, 8, met(x.passes_other))?;
        }
    }
    for (name, list) in [("政府保障程度", &v.guarantee), ("教育质量", &v.quality)] {
        let s = book.add_worksheet();
        s.set_name(name)?;
        for (c, h) in ["序号", "指标", "牵头单位", "责任单位", "状态", "说明"]
            .iter()
            .enumerate()
        {
            s.write_string_with_format(0, c as u16, *h, &bold)?;
        }
        for (i, x) in list.items.iter().enumerate() {
            let row = i as u32 + 1;
            s.write_number(row, 0, x.number as f64)?;
            s.write_string(row, 1, x.standard)?;
            s.write_string(row, 2, x.lead)?;
            s.write_string(row, 3, x.responsible)?;
            s.write_string(row, 4, x.status_label)?;
            s.write_string(row, 5, &x.note)?;
        }
        s.set_column_width(1, 60)?;
    }
    book.save_to_buffer()
}

async fn show(
    state: &AppState,
    user: &CurrentUser,
    csrf: &CsrfToken,
    county: i32,
    year: i32,
    error: Option<AppError>,
    notice: Option<String>,
) -> Result<HttpResponse, AppError> {
    let v = ready::view(&state.app, &user.actor(), county, year).await?;
    let mut ctx = page(Some(user), csrf);
    ctx.insert(
        "checklists",
        &json!([
            {"id": "guarantee", "title": "二、政府保障程度（15 项）", "items": v.guarantee.items},
            {"id": "quality", "title": "三、教育质量（9 项）", "items": v.quality.items},
        ]),
    );
    ctx.insert(
        "statuses",
        &[
            CheckStatus::Unknown,
            CheckStatus::InProgress,
            CheckStatus::Met,
            CheckStatus::NotMet,
        ]
        .iter()
        .map(|s| json!({"code": s.code(), "label": s.label()}))
        .collect::<Vec<_>>(),
    );
    ctx.insert("r", &v);
    if let Some(e) = &error {
        ctx.insert("error", &e.to_string());
        if let AppError::Unprocessable { details, .. } = e {
            ctx.insert("error_details", details);
        }
    }
    ctx.insert("notice", &notice);
    let status = error
        .as_ref()
        .map_or(StatusCode::OK, actix_web::ResponseError::status_code);
    render(state, status, "admin/readiness.html", &ctx)
}

pub async fn page_show(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    q: web::Query<YearQuery>,
) -> Result<HttpResponse, AppError> {
    show(
        &state,
        &user,
        &csrf,
        path.into_inner(),
        q.year()?,
        None,
        None,
    )
    .await
}

pub async fn page_upload(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    path: web::Path<i32>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let county = path.into_inner();
    // Who may upload is settled before the body is read.
    organized(&state, &user.actor(), county).await?;
    let (token, file) =
        super::sampling_pages::read_upload(&req, payload, super::MAX_READINESS_BYTES).await?;
    csrf::verify(&req, token.as_deref())?;
    let year = this_year();
    match ready::upload(&state.app, &user.actor(), county, file.into_bytes()?).await {
        Ok(n) => {
            show(
                &state,
                &user,
                &csrf,
                county,
                year,
                None,
                Some(format!("已导入 {n} 所学校的数据")),
            )
            .await
        }
        Err(e @ (AppError::Invalid { .. } | AppError::Unprocessable { .. })) => {
            show(&state, &user, &csrf, county, year, Some(e), None).await
        }
        Err(e) => Err(e),
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct CheckForm {
    code: String,
    year: i32,
    status: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    attachments: String,
    #[serde(flatten)]
    figures: BTreeMap<String, String>,
}

pub async fn page_save_check(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<CheckForm>,
) -> Result<HttpResponse, AppError> {
    let county = path.into_inner();
    organized(&state, &user.actor(), county).await?;
    let f = form.0;
    if !ready::is_indicator(&f.code) {
        return Err(AppError::invalid("code", "没有这项指标"));
    }
    if !(2000..=2100).contains(&f.year) {
        return Err(AppError::invalid("year", "年份无效"));
    }
    let mut figures = BTreeMap::new();
    for (k, v) in &f.figures {
        if let Some(key) = k.strip_prefix("fig_")
            && !v.trim().is_empty()
        {
            let value: f64 = v
                .trim()
                .parse()
                .map_err(|_| AppError::invalid("figures", "数据须为数字"))?;
            figures.insert(key.to_owned(), value);
        }
    }
    let input = CheckInput {
        status: Some(f.status),
        note: Some(f.note),
        attachments: Some(
            f.attachments
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        figures: Some(figures),
    };
    match ready::save_check(&state.app, &user.actor(), county, f.year, &f.code, &input).await {
        Ok(()) => Ok(super::see_other(&format!(
            "/admin/counties/{county}/readiness?year={}#{}",
            f.year, f.code
        ))),
        Err(e @ AppError::Invalid { .. }) => {
            show(&state, &user, &csrf, county, f.year, Some(e), None).await
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// Teaching points under this many pupils are set aside; null: every school counts. The
    /// field must be there: a body without it changes nothing.
    #[serde(default, deserialize_with = "present")]
    set_aside_below: Option<Option<i64>>,
}

/// A field that was sent, null included (`Some(None)`), as against one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

pub async fn api_set_rule(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: super::input::ApiJson<RuleInput>,
) -> Result<HttpResponse, AppError> {
    let county = path.into_inner();
    organized(&state, &user.actor(), county).await?;
    let input = input.parse()?;
    let below = input.set_aside_below.ok_or_else(|| {
        AppError::invalid(
            "set_aside_below",
            "请给出 set_aside_below：教学点人数界限（1–1000），或 null（全部学校计入）",
        )
    })?;
    let rule = ready::set_rule(&state.app, &user.actor(), county, below).await?;
    Ok(HttpResponse::Ok().json(json!({"set_aside_below": rule.below, "rule": rule.label()})))
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RuleForm {
    set_aside_below: Option<String>,
}

pub async fn page_set_rule(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    form: CsrfForm<RuleForm>,
) -> Result<HttpResponse, AppError> {
    let county = path.into_inner();
    organized(&state, &user.actor(), county).await?;
    let below = match form.0.set_aside_below.as_deref().map(str::trim) {
        None => Err(AppError::invalid("set_aside_below", r::SET_ASIDE_RANGE)),
        Some("") => Ok(None),
        Some(t) => crate::domain::disclosure::half_width_digits(t)
            .parse::<i64>()
            .map(Some)
            .map_err(|_| AppError::invalid("set_aside_below", r::SET_ASIDE_RANGE)),
    };
    let result = match below {
        Ok(b) => ready::set_rule(&state.app, &user.actor(), county, b).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(rule) => {
            let notice = format!("已保存差异系数的计算口径：{}", rule.label());
            show(
                &state,
                &user,
                &csrf,
                county,
                this_year(),
                None,
                Some(notice),
            )
            .await
        }
        Err(e @ AppError::Invalid { .. }) => {
            show(&state, &user, &csrf, county, this_year(), Some(e), None).await
        }
        Err(e) => Err(e),
    }
}
