//! Readiness: the whole evaluation of a county in one view — resources (per school, and the
//! difference coefficients), the government-guarantee and quality checklists, and recognition
//! from the live survey.
use super::AppState;
use super::admin::{page, render};
use super::auth::CurrentUser;
use super::csrf::{self, CsrfForm, CsrfToken};
use crate::domain::account::County;
use crate::domain::readiness::{
    self as r, CheckStatus, ChecklistItem, GUARANTEE, Indicator, Light, QUALITY, SchoolPart,
};
use crate::domain::survey::SurveyStatus;
use crate::domain::tally::Status;
use crate::error::AppError;
use crate::store;
use actix_multipart::Multipart;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use chrono::Datelike;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

type State = web::Data<AppState>;

/// The county if the user may see it, else 404.
async fn county_for(state: &AppState, user: &CurrentUser, id: i32) -> Result<County, AppError> {
    if !user.can_see_county(id) {
        return Err(AppError::NotFound);
    }
    store::counties::find(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
}

fn this_year() -> i32 {
    chrono::Utc::now()
        .with_timezone(&super::input::beijing())
        .year()
}

/// Reads an uploaded schools file: CSV (UTF-8, BOM or GBK) or XLSX (the first sheet).
fn rows_of(bytes: &[u8]) -> Result<Vec<Vec<String>>, AppError> {
    let bad = |m: String| AppError::invalid("file", m);
    if bytes.starts_with(b"PK") {
        use calamine::{Reader, Xlsx};
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec()))
            .map_err(|e| bad(format!("XLSX 无法读取：{e}")))?;
        let first = book
            .sheet_names()
            .first()
            .cloned()
            .ok_or_else(|| bad("XLSX 中没有工作表".into()))?;
        let range = book
            .worksheet_range(&first)
            .map_err(|e| bad(format!("XLSX 无法读取：{e}")))?;
        return Ok(range
            .rows()
            .map(|row| row.iter().map(|c| c.to_string()).collect())
            .collect());
    }
    let text = crate::domain::frame::decode(bytes).map_err(|e| {
        bad(e
            .errors
            .first()
            .map_or_else(String::new, |x| x.message.clone()))
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| {
            r.map(|rec| rec.iter().map(str::to_owned).collect())
                .map_err(|e| bad(format!("CSV 无法读取：{e}")))
        })
        .collect()
}

/// Replaces a county's school figures from a file; every bad line is reported, nothing saved.
/// Replaces a county's school figures (the caller checked the user may organise the county).
pub async fn upload(
    state: &AppState,
    user: &CurrentUser,
    county_id: i32,
    bytes: &[u8],
) -> Result<usize, AppError> {
    let rows = rows_of(bytes)?;
    let schools = r::parse_schools(&rows).map_err(|errors| AppError::Unprocessable {
        field: Some("file".into()),
        message: format!("学校数据有 {} 处错误，未导入任何数据", errors.len()),
        details: json!({"errors": errors, "error_count": errors.len()}),
    })?;
    let txn = store::begin_write(&state.db).await?;
    store::readiness::replace_schools(&txn, county_id, &schools).await?;
    txn.commit().await?;
    tracing::info!(
        county = county_id,
        user = user.id,
        schools = schools.len(),
        "readiness schools uploaded"
    );
    Ok(schools.len())
}

fn part_json(p: &SchoolPart) -> Value {
    let mut values = serde_json::Map::new();
    let mut grades = serde_json::Map::new();
    let mut needs = Vec::new();
    for (i, ind) in Indicator::ALL.iter().enumerate() {
        values.insert(ind.code().into(), json!(p.values[i]));
        let grade = ["short", "within", "meets"][usize::from(p.grades[i])];
        grades.insert(ind.code().into(), json!(grade));
        if p.grades[i] < 2 {
            let needed = ind.resource_for(p.level, p.pupils) - p.resources[i];
            needs.push(json!({"code": ind.code(), "label": ind.label(), "standard": ind.standard(p.level), "value": p.values[i], "resource_needed": needed}));
        }
    }
    json!({
        "school": p.school, "level": p.level, "level_label": p.level.label(), "pupils": p.pupils,
        "share": p.share, "passes": p.passes, "values": values, "grades": grades, "needs": needs,
    })
}

fn checklist_json(
    items: &[ChecklistItem],
    rows: &BTreeMap<String, store::readiness::CheckRow>,
    shortfalls: &mut Vec<(f64, String, String)>,
    part: &str,
) -> Value {
    let mut statuses = Vec::new();
    let list: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(n, item)| {
            let row = rows.get(item.code);
            let recorded = row.and_then(|r| CheckStatus::parse(&r.status)).unwrap_or(CheckStatus::Unknown);
            let figures: BTreeMap<String, f64> = row.and_then(|r| serde_json::from_str(&r.figures).ok()).unwrap_or_default();
            let (status, gap) = r::judge(item, recorded, &|k| figures.get(k).copied());
            statuses.push(status);
            if status == CheckStatus::NotMet {
                shortfalls.push((gap.max(0.01), part.to_owned(), format!("{}. {}", n + 1, item.standard)));
            }
            json!({
                "code": item.code, "number": n + 1, "standard": item.standard, "lead": item.lead,
                "responsible": item.responsible, "status": status, "status_label": status.label(),
                "recorded": recorded, "computed": !item.measures.is_empty() && item.measures.iter().all(|m| figures.contains_key(m.key)),
                "note": row.map_or("", |r| r.note.as_str()),
                "attachments": row.map(|r| r.attachments.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect::<Vec<_>>()).unwrap_or_default(),
                "measures": item.measures.iter().map(|m| json!({"key": m.key, "label": m.label, "at_least": m.at_least, "threshold": m.threshold, "unit": m.unit, "value": figures.get(m.key)})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let (light, reason) = r::checklist_light(&statuses);
    json!({"light": light, "light_label": light.label(), "reason": reason, "items": list})
}

/// The whole readiness view of a county for a year.
pub async fn view(state: &AppState, county: &County, year: i32) -> Result<Value, AppError> {
    let schools = store::readiness::schools(&state.db, county.id).await?;
    let (parts, apart) = r::parts(&schools);
    let vars = r::variations(&parts);
    let mut shortfalls: Vec<(f64, String, String)> = Vec::new();
    for v in &vars {
        if let Some(cv) = v.cv
            && !v.passes
        {
            shortfalls.push((
                (cv - v.threshold) / v.threshold,
                "resources".into(),
                format!(
                    "{}{}差异系数 {:.3}，要求不超过 {:.2}",
                    v.level.label(),
                    v.indicator.label(),
                    cv,
                    v.threshold
                ),
            ));
        }
    }
    for p in parts.iter().filter(|p| !p.passes) {
        for (i, ind) in Indicator::ALL.iter().enumerate() {
            if p.grades[i] < 2 {
                let std = ind.standard(p.level);
                shortfalls.push((
                    (std - p.values[i]) / std,
                    "resources".into(),
                    format!(
                        "{}（{}）{} {:.2}，标准 {}",
                        p.school,
                        p.level.label(),
                        ind.label(),
                        p.values[i],
                        std
                    ),
                ));
            }
        }
    }
    let (res_light, res_reason) = r::resources_light(&parts, &vars);
    let indicators: Vec<Value> = vars
        .iter()
        .map(|v| json!({
            "code": v.indicator.code(), "label": v.indicator.label(), "level": v.level, "level_label": v.level.label(),
            "schools": v.schools, "mean": v.mean, "cv": v.cv, "threshold": v.threshold, "passes": v.passes,
            "top_contributors": v.contributions.iter().take(3).map(|(s, share)| json!({"school": s, "share": share})).collect::<Vec<_>>(),
        }))
        .collect();
    let rows: BTreeMap<String, store::readiness::CheckRow> =
        store::readiness::checks(&state.db, county.id, year)
            .await?
            .into_iter()
            .map(|r| (r.code.clone(), r))
            .collect();
    let guarantee = checklist_json(&GUARANTEE, &rows, &mut shortfalls, "guarantee");
    let quality = checklist_json(&QUALITY, &rows, &mut shortfalls, "quality");

    // Recognition: the county's most recent survey that has opened.
    let surveys = store::surveys::list(&state.db, Some(county.id)).await?;
    let recognition = match surveys.iter().find(|s| s.status != SurveyStatus::Draft) {
        None => {
            json!({"light": Light::Red, "light_label": Light::Red.label(), "reason": "尚未开展社会认可度调查"})
        }
        Some(s) => {
            let t = super::tally::view(state, s, false).await?;
            let light = match t.status {
                Status::Passing => Light::Green,
                Status::AtRisk => Light::Amber,
                _ => Light::Red,
            };
            if let Some(rate) = t.rate
                && rate < t.target
            {
                shortfalls.push((
                    (t.target - rate) / t.target,
                    "recognition".into(),
                    format!(
                        "社会认可度 {:.1}%，目标 {:.0}%",
                        rate * 100.0,
                        t.target * 100.0
                    ),
                ));
            }
            let reason = match t.rate {
                Some(rate) => format!(
                    "{}：认可率 {:.1}%（{}），{} 份答卷",
                    s.settings.name,
                    rate * 100.0,
                    t.status_label,
                    t.respondents
                ),
                None => format!("{}：暂无答卷", s.settings.name),
            };
            json!({"light": light, "light_label": light.label(), "reason": reason, "survey_id": s.id, "rate": t.rate, "interval": t.interval, "status": t.status, "target": t.target})
        }
    };
    shortfalls.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    let parts_json = |key: &str, label: &str, v: &Value| json!({"part": key, "label": label, "light": v["light"], "light_label": v["light_label"], "reason": v["reason"]});
    let resources = json!({
        "light": res_light, "light_label": res_light.label(), "reason": res_reason,
        "indicators": indicators,
        "schools": parts.iter().map(part_json).collect::<Vec<_>>(),
        "apart": apart.iter().map(|s| json!({"school": s.name, "pupils": s.pupils, "reason": if s.kind == r::SchoolKind::Special { "特殊教育学校，单列不计" } else { "不足 50 人的教学点，单列不计" }})).collect::<Vec<_>>(),
        "method": "九年一贯制学校按小学、初中学生数拆分，资源按同一比例分配；差异系数 CV = √(Σ(nᵢ/N)(xᵢ − x̄)²) / x̄，x̄ 为全县合计资源除以合计学生数。",
    });
    Ok(json!({
        "county": county,
        "year": year,
        "parts": [
            parts_json("resources", "资源配置", &resources),
            parts_json("guarantee", "政府保障程度", &guarantee),
            parts_json("quality", "教育质量", &quality),
            parts_json("recognition", "社会认可度", &recognition),
        ],
        "resources": resources,
        "guarantee": guarantee,
        "quality": quality,
        "recognition": recognition,
        "shortfalls": shortfalls.iter().map(|(gap, part, what)| json!({"part": part, "what": what, "gap": gap})).collect::<Vec<_>>(),
        "indicators": Indicator::ALL.iter().map(|i| json!({"code": i.code(), "label": i.label()})).collect::<Vec<_>>(),
    }))
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
    let county = county_for(&state, &user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view(&state, &county, q.year()?).await?))
}

pub async fn api_upload(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<i32>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let county = path.into_inner();
    county_for(&state, &user, county).await?;
    user.require_organizer()?;
    let ok_type = req.mime_type().ok().flatten().is_some_and(|m| {
        m.subtype() == "csv"
            || m.essence_str().contains("spreadsheet")
            || m.essence_str() == "application/octet-stream"
    });
    if !ok_type {
        return Err(AppError::invalid("file", "请以 text/csv 或 XLSX 上传"));
    }
    let n = upload(&state, &user, county, &body).await?;
    Ok(HttpResponse::Ok().json(json!({"schools": n})))
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInput {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub attachments: Option<Vec<String>>,
    #[serde(default)]
    pub figures: Option<BTreeMap<String, f64>>,
}

impl validator::Validate for CheckInput {
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        Ok(())
    }
}

/// Records one checklist indicator (the caller checked the user may organise the county);
/// unknown codes, statuses or figure names are refused.
pub async fn save_check(
    state: &AppState,
    county_id: i32,
    year: i32,
    code: &str,
    input: &CheckInput,
) -> Result<(), AppError> {
    let item = GUARANTEE
        .iter()
        .chain(QUALITY.iter())
        .find(|i| i.code == code)
        .ok_or(AppError::NotFound)?;
    let status =
        CheckStatus::parse(input.status.as_deref().unwrap_or("unknown")).ok_or_else(|| {
            AppError::invalid("status", "状态须为 met、not_met、in_progress 或 unknown")
        })?;
    let note = input.note.clone().unwrap_or_default();
    if note.chars().count() > 2000 {
        return Err(AppError::invalid("note", "说明不能超过 2000 字"));
    }
    let attachments = input.attachments.clone().unwrap_or_default();
    for a in &attachments {
        let ok = (a.starts_with("https://") || a.starts_with("http://"))
            && a.len() <= 500
            && !a.chars().any(char::is_whitespace);
        if !ok {
            return Err(AppError::invalid("attachments", "附件须为 http(s) 链接"));
        }
    }
    let figures = input.figures.clone().unwrap_or_default();
    for (k, v) in &figures {
        if !item.measures.iter().any(|m| m.key == k) {
            return Err(AppError::invalid(
                "figures",
                format!("该指标没有“{k}”这项数据"),
            ));
        }
        if !v.is_finite() || *v < 0.0 {
            return Err(AppError::invalid("figures", "数据须为非负数"));
        }
    }
    let figures = serde_json::to_string(&figures).map_err(|e| AppError::Internal(e.to_string()))?;
    let attachments = attachments.join("\n");
    let entry = store::readiness::CheckEntry {
        code,
        status: status.code(),
        note: &note,
        attachments: &attachments,
        figures: &figures,
    };
    store::readiness::save_check(&state.db, county_id, year, entry).await?;
    Ok(())
}

pub async fn api_save_check(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, String)>,
    q: web::Query<YearQuery>,
    input: super::input::ApiJson<CheckInput>,
) -> Result<HttpResponse, AppError> {
    let (county, code) = path.into_inner();
    county_for(&state, &user, county).await?;
    user.require_organizer()?;
    save_check(&state, county, q.year()?, &code, &input.parse()?).await?;
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
            "primary",
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
            "junior",
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
            "nine_year",
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
    let county = county_for(&state, &user, path.into_inner()).await?;
    let v = view(&state, &county, q.year()?).await?;
    let build = || -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
        use rust_xlsxwriter::{Format, Workbook};
        let mut book = Workbook::new();
        let bold = Format::new().set_bold();
        let s = book.add_worksheet();
        s.set_name("总览")?;
        s.write_string_with_format(0, 0, "部分", &bold)?;
        s.write_string_with_format(0, 1, "结论", &bold)?;
        s.write_string_with_format(0, 2, "原因", &bold)?;
        for (i, p) in v["parts"].as_array().into_iter().flatten().enumerate() {
            s.write_string(i as u32 + 1, 0, p["label"].as_str().unwrap_or(""))?;
            s.write_string(i as u32 + 1, 1, p["light_label"].as_str().unwrap_or(""))?;
            s.write_string(i as u32 + 1, 2, p["reason"].as_str().unwrap_or(""))?;
        }
        s.set_column_width(2, 60)?;
        let s = book.add_worksheet();
        s.set_name("差距清单")?;
        s.write_string_with_format(0, 0, "差距", &bold)?;
        s.write_string_with_format(0, 1, "事项", &bold)?;
        for (i, x) in v["shortfalls"].as_array().into_iter().flatten().enumerate() {
            s.write_number(i as u32 + 1, 0, x["gap"].as_f64().unwrap_or(0.0))?;
            s.write_string(i as u32 + 1, 1, x["what"].as_str().unwrap_or(""))?;
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
        for (i, p) in v["resources"]["schools"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let row = i as u32 + 1;
            s.write_string(row, 0, p["school"].as_str().unwrap_or(""))?;
            s.write_string(row, 1, p["level_label"].as_str().unwrap_or(""))?;
            for (c, ind) in Indicator::ALL.iter().enumerate() {
                s.write_number(
                    row,
                    c as u16 + 2,
                    p["values"][ind.code()].as_f64().unwrap_or(0.0),
                )?;
            }
            s.write_string(
                row,
                9,
                if p["passes"] == true {
                    "达标"
                } else {
                    "未达标"
                },
            )?;
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
        ]
        .iter()
        .enumerate()
        {
            s.write_string_with_format(0, c as u16, *h, &bold)?;
        }
        for (i, x) in v["resources"]["indicators"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let row = i as u32 + 1;
            s.write_string(row, 0, x["level_label"].as_str().unwrap_or(""))?;
            s.write_string(row, 1, x["label"].as_str().unwrap_or(""))?;
            s.write_number(row, 2, x["schools"].as_f64().unwrap_or(0.0))?;
            s.write_number(row, 3, x["mean"].as_f64().unwrap_or(0.0))?;
            if let Some(cv) = x["cv"].as_f64() {
                s.write_number(row, 4, cv)?;
            }
            s.write_number(row, 5, x["threshold"].as_f64().unwrap_or(0.0))?;
            s.write_string(
                row,
                6,
                if x["passes"] == true {
                    "达标"
                } else {
                    "未达标"
                },
            )?;
        }
        for (name, key) in [("政府保障程度", "guarantee"), ("教育质量", "quality")] {
            let s = book.add_worksheet();
            s.set_name(name)?;
            for (c, h) in ["序号", "指标", "牵头单位", "责任单位", "状态", "说明"]
                .iter()
                .enumerate()
            {
                s.write_string_with_format(0, c as u16, *h, &bold)?;
            }
            for (i, x) in v[key]["items"].as_array().into_iter().flatten().enumerate() {
                let row = i as u32 + 1;
                s.write_number(row, 0, x["number"].as_f64().unwrap_or(0.0))?;
                s.write_string(row, 1, x["standard"].as_str().unwrap_or(""))?;
                s.write_string(row, 2, x["lead"].as_str().unwrap_or(""))?;
                s.write_string(row, 3, x["responsible"].as_str().unwrap_or(""))?;
                s.write_string(row, 4, x["status_label"].as_str().unwrap_or(""))?;
                s.write_string(row, 5, x["note"].as_str().unwrap_or(""))?;
            }
            s.set_column_width(1, 60)?;
        }
        book.save_to_buffer()
    };
    let bytes = build().map_err(|e| AppError::Internal(format!("XLSX: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"readiness-{}.xlsx\"", county.id),
        ))
        .body(bytes))
}

async fn show(
    state: &AppState,
    user: &CurrentUser,
    csrf: &CsrfToken,
    county: &County,
    year: i32,
    error: Option<AppError>,
    notice: Option<String>,
) -> Result<HttpResponse, AppError> {
    let mut ctx = page(Some(user), csrf);
    let v = view(state, county, year).await?;
    ctx.insert(
        "checklists",
        &json!([
            {"id": "guarantee", "title": "二、政府保障程度（15 项）", "items": v["guarantee"]["items"]},
            {"id": "quality", "title": "三、教育质量（9 项）", "items": v["quality"]["items"]},
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
    let county = county_for(&state, &user, path.into_inner()).await?;
    show(&state, &user, &csrf, &county, q.year()?, None, None).await
}

pub async fn page_upload(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    path: web::Path<i32>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let county_id = path.into_inner();
    // Who may upload is settled before the body is read.
    let county = county_for(&state, &user, county_id).await?;
    user.require_organizer()?;
    let multipart = Multipart::new(req.headers(), payload);
    let (token, file) = super::sampling_pages::read_upload(multipart, 16 * 1024 * 1024).await?;
    csrf::verify(&req, token.as_deref())?;
    let year = this_year();
    match upload(&state, &user, county_id, &file).await {
        Ok(n) => {
            show(
                &state,
                &user,
                &csrf,
                &county,
                year,
                None,
                Some(format!("已导入 {n} 所学校的数据")),
            )
            .await
        }
        Err(e @ (AppError::Invalid { .. } | AppError::Unprocessable { .. })) => {
            show(&state, &user, &csrf, &county, year, Some(e), None).await
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
    let county = county_for(&state, &user, path.into_inner()).await?;
    user.require_organizer()?;
    let f = form.0;
    if !GUARANTEE
        .iter()
        .chain(QUALITY.iter())
        .any(|i| i.code == f.code)
    {
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
    match save_check(&state, county.id, f.year, &f.code, &input).await {
        Ok(()) => Ok(super::see_other(&format!(
            "/admin/counties/{}/readiness?year={}#{}",
            county.id, f.year, f.code
        ))),
        Err(e @ AppError::Invalid { .. }) => {
            show(&state, &user, &csrf, &county, f.year, Some(e), None).await
        }
        Err(e) => Err(e),
    }
}
