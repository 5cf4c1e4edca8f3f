//! The sampling API: areas and schools, rosters, the plan per stratum, the draw and its
//! verification, invitations, reserves and open channels — and the views the pages share.
use super::AppState;
use super::auth::CurrentUser;
use super::input::ApiJson;
use super::view::PlanView;
use crate::app::draws::{self, Certificate, SeedChoice};
use crate::app::sampling::{
    self, ChannelRequest, ChannelState, InvitationLine, InvitationUse, ReleaseRequest, SchoolEntry,
};
use crate::app::surveys;
use crate::domain::audit::Entry as AuditEntry;
use crate::domain::draw::{Draw, Seed, Staleness, v2};
use crate::domain::frame::Person;
use crate::domain::geography::Geography;
use crate::domain::group::RespondentGroup;
use crate::domain::invitation::InvitationStatus;
use crate::domain::places::Places;
use crate::domain::strata::{Area, AreaClass, FullPlan};
use crate::domain::survey::Survey;
use crate::error::AppError;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, http::header, web};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use validator::Validate;

type State = web::Data<AppState>;

// ---- what clients send ----------------------------------------------------------------------

#[derive(Debug, Deserialize, Serialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct AreaInput {
    #[validate(length(min = 1, max = 50, message = "乡镇（街道）名称须为 1–50 个字符"))]
    pub name: String,
    pub class: String,
    pub population: i64,
}

impl AreaInput {
    pub fn area(&self) -> Result<Area, AppError> {
        self.validate()?;
        Ok(Area::new(&self.name, self.class.parse()?, self.population)?)
    }
}

#[derive(Debug, Deserialize, Serialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct SchoolInput {
    #[validate(length(min = 1, max = 100, message = "学校名称须为 1–100 个字符"))]
    pub name: String,
    pub area: String,
}

/// Checks each school as typed; the use case resolves the areas.
pub fn school_entries(input: &[SchoolInput]) -> Result<Vec<SchoolEntry<'_>>, AppError> {
    input
        .iter()
        .map(|s| {
            s.validate()?;
            Ok(SchoolEntry {
                name: &s.name,
                area: &s.area,
            })
        })
        .collect()
}

/// Lets a JSON list be validated item by item (each item is checked where it is used).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct List<T>(pub Vec<T>);

impl<T> Validate for List<T> {
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        Ok(())
    }
}

#[derive(Default, Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
#[serde(default)]
pub struct ChannelInput {
    #[validate(length(min = 1, max = 16))]
    pub group: String,
    #[validate(length(max = 50))]
    pub area: Option<String>,
    #[validate(length(max = 100))]
    pub school: Option<String>,
}

impl ChannelInput {
    pub fn request(&self) -> Result<ChannelRequest<'_>, AppError> {
        self.validate()?;
        Ok(ChannelRequest {
            group: &self.group,
            area: self.area.as_deref(),
            school: self.school.as_deref(),
        })
    }
}

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInput {
    #[validate(length(min = 1, max = 16))]
    pub group: String,
    pub area: Option<String>,
    /// Index of the grade band (0, 1, 2) for students and parents.
    pub band: Option<u8>,
    /// Replace only invitations issued at or before this time (default: now).
    pub issued_before: Option<DateTime<Utc>>,
}

impl ReleaseInput {
    pub fn request(&self) -> Result<ReleaseRequest<'_>, AppError> {
        self.validate()?;
        Ok(ReleaseRequest {
            group: &self.group,
            area: self.area.as_deref(),
            band: self.band.map(usize::from),
            issued_before: self.issued_before,
        })
    }
}

/// `{"seed": 123}`, `{"seed": "123"}` or any text (a lottery result, say), with an optional
/// note on where it came from. No seed: Renke draws a random one.
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct DrawInput {
    pub seed: Option<SeedValue>,
    #[serde(default)]
    pub seed_note: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SeedValue {
    Number(u64),
    Text(String),
}

/// The seed a form or a body gives: blank means a random one.
pub fn seed_choice(seed: &str, note: &str) -> Result<SeedChoice, AppError> {
    match Seed::entered(seed, note) {
        Ok(Some(seed)) => Ok(SeedChoice::Given(seed)),
        Ok(None) => Ok(SeedChoice::Random),
        Err(e) => Err(AppError::invalid(e.field, e.message)),
    }
}

// ---- how things are shown -------------------------------------------------------------------

#[derive(Serialize)]
pub struct GeographyView {
    pub areas: Vec<serde_json::Value>,
    pub schools: Vec<serde_json::Value>,
}

impl GeographyView {
    pub fn new(geo: &Geography) -> Self {
        GeographyView {
            areas: geo
                .areas
                .iter()
                .map(|a| json!({"name": a.name, "class": a.class, "class_label": a.class.label(), "population": a.population}))
                .collect(),
            schools: geo
                .schools
                .iter()
                .map(|s| json!({"name": s.name, "area": geo.areas[s.area].name}))
                .collect(),
        }
    }
}

/// A roster row for organisers' eyes: the phone is masked.
pub fn person_json(p: &Person, geo: &Geography) -> serde_json::Value {
    json!({
        "line": p.line,
        "id": p.external_id,
        "area": geo.area_name(p.area_id),
        "school": geo.school_name(p.school_id),
        "grade": p.grade,
        "class": p.class,
        "name": p.name,
        "phone": p.masked_phone(),
    })
}

/// The plan as JSON: the group lines and arithmetic, and the strata with their places.
pub fn plan_json(
    survey: &Survey,
    full: &FullPlan,
    places: &[Places],
) -> Result<serde_json::Value, AppError> {
    let mut v =
        serde_json::to_value(PlanView::new(survey, &full.plan)).map_err(AppError::internal)?;
    v["strata"] = serde_json::to_value(full.lines_with(places)).map_err(AppError::internal)?;
    Ok(v)
}

#[derive(Debug, Serialize)]
pub struct DrawView {
    pub id: i32,
    pub seed: String,
    pub seed_source: &'static str,
    pub seed_source_label: &'static str,
    pub seed_note: Option<String>,
    pub frame_digest: String,
    /// The algorithm's name (`renke-draw-v2`) and its recorded description.
    pub algorithm: &'static str,
    pub algorithm_text: String,
    pub reserve_percent: u64,
    pub frame_size: u64,
    pub selected: u64,
    pub reserves: u64,
    pub superseded: bool,
    /// 有效, 已被取代 or 已撤销.
    pub status_label: &'static str,
    pub discarded_at: Option<DateTime<Utc>>,
    pub discarded_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl From<&Draw> for DrawView {
    fn from(d: &Draw) -> Self {
        DrawView {
            id: d.id,
            seed: d.seed.text.clone(),
            seed_source: d.seed.source.code(),
            seed_source_label: d.seed.source.label(),
            seed_note: d.seed.note.clone(),
            frame_digest: d.frame_digest.clone(),
            algorithm: d.version.name(),
            algorithm_text: d.algorithm.clone(),
            reserve_percent: d.reserve_percent,
            frame_size: d.frame_size,
            selected: d.selected,
            reserves: d.reserves,
            superseded: d.superseded,
            status_label: match (&d.discarded, d.superseded) {
                (Some(_), _) => "已撤销",
                (None, true) => "已被取代",
                (None, false) => "有效",
            },
            discarded_at: d.discarded.as_ref().map(|x| x.at),
            discarded_by: d.discarded.as_ref().map(|x| x.by.clone()),
            created_at: d.created_at,
            created_by: d.created_by_name.clone(),
        }
    }
}

fn draw_json(d: &Draw) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(DrawView::from(d)).map_err(AppError::internal)
}

/// What the pages say changed since the draw in force (empty: it is current, or there is none).
pub fn stale_labels(current: Option<&(Draw, Vec<Staleness>)>) -> Vec<&'static str> {
    current
        .into_iter()
        .flat_map(|(_, s)| s.iter().map(|s| s.label()))
        .collect()
}

/// The certificate as JSON: everything `docs/verify_draw.py` and `renke draw verify` need, and
/// what an auditor asks about seed shopping (every earlier draw of the survey).
pub fn certificate_json(c: &Certificate) -> Result<serde_json::Value, AppError> {
    let mut v = draw_json(&c.draw)?;
    let (survey, draw) = (c.survey.id, c.draw.id);
    v["survey"] = json!({"id": survey, "name": c.survey.settings.name});
    v["frame_line_fields"] = json!(v2::LINE_FIELDS);
    v["lines_columns"] = json!(v2::LINE_COLUMNS);
    v["lines_url"] = json!(format!("/api/v1/surveys/{survey}/draws/{draw}/lines.csv"));
    v["strata"] = serde_json::to_value(&c.rows).map_err(AppError::internal)?;
    v["bands"] = json!(v2::certificate_bands());
    let geo = GeographyView::new(&c.geo);
    v["areas"] = json!(geo.areas);
    v["schools"] = json!(geo.schools);
    let numbered = |(i, d): (usize, &Draw)| {
        json!({
            "number": i + 1, "id": d.id, "created_at": d.created_at, "created_by": d.created_by_name,
            "seed": d.seed.text, "seed_source": d.seed.source.code(),
            "seed_source_label": d.seed.source.label(), "seed_note": d.seed.note,
            "frame_digest": d.frame_digest, "algorithm": d.version.name(),
            "selected": d.selected, "reserves": d.reserves, "superseded": d.superseded,
            "discarded_at": d.discarded.as_ref().map(|x| x.at),
        })
    };
    let superseded_by = c.superseded_by();
    v["number"] = json!(c.number);
    v["draws_of_survey"] = json!(c.all.len());
    v["draws"] = c.all.iter().enumerate().map(numbered).collect();
    v["earlier_draws"] = c.earlier().iter().enumerate().map(numbered).collect();
    v["superseded_by"] = json!(superseded_by.map(|d| d.id));
    v["superseded_by_number"] = json!(superseded_by.map(|_| c.number + 1));
    v["stale"] = c
        .stale
        .iter()
        .map(|s| json!({"code": s.code(), "label": s.label()}))
        .collect();
    v["roster_uploads"] = serde_json::to_value(&c.roster_uploads).map_err(AppError::internal)?;
    v["groups_without_roster"] = json!(
        c.missing_groups
            .iter()
            .map(|g| json!({"group": g.code(), "label": g.label()}))
            .collect::<Vec<_>>()
    );
    v["group_codes"] = RespondentGroup::ALL
        .iter()
        .map(|g| json!({"code": g.code(), "label": g.label()}))
        .collect();
    v["verifier_url"] = json!("/docs/verify_draw.py");
    let entry = |e: &AuditEntry| json!({"id": e.id, "at": e.at, "hash": e.hash});
    v["audit"] = json!({
        "entry": c.audit_entry.as_ref().map(entry),
        "chain_head": c.audit_head.as_ref().map(entry),
        "entries": c.audit_entries,
    });
    Ok(v)
}

#[derive(Debug, Serialize)]
pub struct ChannelView {
    pub code: String,
    pub url: String,
    pub group: String,
    pub group_label: String,
    /// Its group and its area, school or the whole county: 家长 · 城关镇.
    pub label: String,
    pub area: Option<String>,
    pub school: Option<String>,
    pub quota: u64,
    pub filled: u64,
    /// Places left in the strata it feeds.
    pub left: u64,
    /// Collecting answers (not closed by an organiser).
    pub open: bool,
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl ChannelView {
    pub fn new(state: &AppState, req: &HttpRequest, c: ChannelState) -> ChannelView {
        ChannelView {
            url: state.public_link(req, &channel_path(&c.channel.code)),
            group_label: c.channel.group.label().into(),
            label: c.label(),
            group: c.channel.group.code().into(),
            code: c.channel.code,
            area: c.area,
            school: c.school,
            quota: c.quota,
            filled: c.filled,
            left: c.quota.saturating_sub(c.filled),
            open: c.channel.closed_at.is_none(),
            closed_at: c.channel.closed_at,
        }
    }
}

pub fn channel_path(code: &str) -> String {
    format!("/o/{code}")
}

pub fn area_class_options() -> Vec<serde_json::Value> {
    AreaClass::ALL
        .iter()
        .map(|c| json!({"code": c.code(), "label": c.label()}))
        .collect()
}

/// Neutralises text that a spreadsheet would run as a formula.
pub fn spreadsheet_safe(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

/// The invitations CSV: one row per working invitation, UTF-8 with BOM for Excel.
/// `invitations.csv`'s columns, in Chinese as county staff read them; the link last.
pub const INVITATION_COLUMNS: [&str; 12] = [
    "编号",
    "群体",
    "乡镇",
    "学校",
    "年级",
    "班级",
    "姓名",
    "电话",
    "状态",
    "发出时间",
    "备选递补",
    "链接",
];

/// The invitations' rows, in [`INVITATION_COLUMNS`]' order.
fn invitation_rows(
    state: &AppState,
    req: &HttpRequest,
    geo: &Geography,
    lines: &[InvitationLine],
) -> Vec<[String; 12]> {
    let issued = |t: DateTime<Utc>| {
        t.with_timezone(&crate::domain::survey::beijing())
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    lines
        .iter()
        .map(|line| {
            let (inv, a) = (&line.addressed.invitation, &line.addressed);
            [
                spreadsheet_safe(a.external_id.as_deref().unwrap_or("")),
                inv.group.label().to_owned(),
                spreadsheet_safe(geo.area_name(inv.area_id)),
                spreadsheet_safe(geo.school_name(inv.school_id)),
                inv.grade.map_or(String::new(), |g| format!("{g}年级")),
                spreadsheet_safe(a.class.as_deref().unwrap_or("")),
                spreadsheet_safe(a.name.as_deref().unwrap_or("")),
                spreadsheet_safe(a.phone.as_deref().unwrap_or("")),
                match inv.status {
                    InvitationStatus::Revoked => "已更换（链接作废，由备选递补）".to_owned(),
                    s => s.label().to_owned(),
                },
                issued(inv.created_at),
                if a.reserve { "是" } else { "" }.to_owned(),
                match inv.status {
                    InvitationStatus::Revoked => String::new(),
                    _ => state.public_link(req, &line.path),
                },
            ]
        })
        .collect()
}

fn invitations_csv(rows: &[[String; 12]]) -> Result<Vec<u8>, AppError> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(INVITATION_COLUMNS)
            .map_err(AppError::internal)?;
        for row in rows {
            w.write_record(row).map_err(AppError::internal)?;
        }
        w.flush().map_err(AppError::internal)?;
    }
    Ok(out)
}

/// The same rows as a workbook whose every cell is text: a 17-digit 编号 or a phone stays as
/// written when Excel opens it (a CSV's become numbers, 2.20922E+16).
fn invitations_xlsx(rows: &[[String; 12]]) -> Result<Vec<u8>, AppError> {
    let xl = |e: rust_xlsxwriter::XlsxError| AppError::Internal(format!("XLSX: {e}"));
    let mut book = rust_xlsxwriter::Workbook::new();
    let text = rust_xlsxwriter::Format::new().set_num_format("@");
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let sheet = book.add_worksheet();
    sheet.set_name("邀请名单").map_err(xl)?;
    for (c, h) in INVITATION_COLUMNS.iter().enumerate() {
        sheet
            .write_string_with_format(0, c as u16, *h, &bold)
            .map_err(xl)?;
        sheet.set_column_format(c as u16, &text).map_err(xl)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                sheet
                    .write_string_with_format(r as u32 + 1, c as u16, v, &text)
                    .map_err(xl)?;
            }
        }
    }
    book.save_to_buffer().map_err(xl)
}

// ---- JSON API ------------------------------------------------------------------------------

pub async fn api_get_areas(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let (_, geo) = sampling::geography(&state.app, &user.actor(), path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(GeographyView::new(&geo).areas))
}

pub async fn api_put_areas(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: ApiJson<List<AreaInput>>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    sampling::draft(&state.app, &user.actor(), id).await?;
    let areas = input
        .parse()?
        .0
        .iter()
        .map(AreaInput::area)
        .collect::<Result<Vec<Area>, AppError>>()?;
    let geo = sampling::set_areas(&state.app, &user.actor(), id, &areas).await?;
    Ok(HttpResponse::Ok().json(GeographyView::new(&geo).areas))
}

pub async fn api_get_schools(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let (_, geo) = sampling::geography(&state.app, &user.actor(), path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(GeographyView::new(&geo).schools))
}

pub async fn api_put_schools(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: ApiJson<List<SchoolInput>>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    sampling::draft(&state.app, &user.actor(), id).await?;
    let input = input.parse()?;
    let entries = school_entries(&input.0)?;
    let geo = sampling::set_schools(&state.app, &user.actor(), id, &entries).await?;
    Ok(HttpResponse::Ok().json(GeographyView::new(&geo).schools))
}

pub async fn api_upload_frame(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<(i32, String)>,
    body: web::Payload,
) -> Result<HttpResponse, AppError> {
    let (id, group) = path.into_inner();
    // Who may, and whether the survey takes a roster now, are settled before the body is read.
    sampling::roster_welcome(&state.app, &user.actor(), id).await?;
    let is_sheet = req.mime_type().ok().flatten().is_some_and(|m| {
        m.subtype() == "csv"
            || m.essence_str() == "application/vnd.ms-excel"
            || m.essence_str() == XLSX_TYPE
    });
    if !is_sheet {
        return Err(AppError::invalid(
            "file",
            "名册须以 text/csv 或 XLSX（application/vnd.openxmlformats-officedocument.spreadsheetml.sheet）上传",
        ));
    }
    let group = sampling::parse_group(&group)?;
    let _slot = state
        .upload_slots
        .acquire()
        .await
        .map_err(AppError::internal)?;
    // The body must arrive within the usual time; only the work after it may take longer.
    let upload = tokio::time::timeout(
        state.request_timeout,
        super::input::spool(&req, body, super::MAX_ROSTER_BYTES),
    )
    .await
    .map_err(|_| AppError::RequestTimeout)??;
    let outcome = sampling::upload_roster(&state.app, &user.actor(), id, group, upload).await?;
    Ok(HttpResponse::Ok().json(outcome))
}

const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A group's roster template, as CSV (UTF-8 with BOM, for Excel) or XLSX (ids and phones as
/// text): the Chinese header and two example rows with the county's own area and school.
async fn roster_template(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, String)>,
    xlsx: bool,
) -> Result<HttpResponse, AppError> {
    let (id, group) = path.into_inner();
    let group = sampling::parse_group(&group)?;
    let (_, geo) = sampling::geography(&state.app, &user.actor(), id).await?;
    user.actor().require_organizer()?;
    let header = crate::domain::frame::template_columns(group);
    let rows = crate::domain::frame::template_rows(group, &geo.areas, &geo.schools);
    let name = format!("名册模板-{}", group.label());
    let disposition = format!(
        "attachment; filename=\"roster-template-{}.{}\"; filename*=UTF-8''{}.{}",
        group.code(),
        if xlsx { "xlsx" } else { "csv" },
        percent_encode(&name),
        if xlsx { "xlsx" } else { "csv" },
    );
    let body = if xlsx {
        let mut book = rust_xlsxwriter::Workbook::new();
        let text = rust_xlsxwriter::Format::new().set_num_format("@");
        let bold = rust_xlsxwriter::Format::new().set_bold();
        let sheet = book.add_worksheet();
        let xl = |e: rust_xlsxwriter::XlsxError| AppError::Internal(format!("XLSX: {e}"));
        sheet.set_name(group.label()).map_err(xl)?;
        for (c, h) in header.iter().enumerate() {
            let c = c as u16;
            sheet
                .write_string_with_format(0, c, *h, &bold)
                .map_err(xl)?;
            // Whole columns as text: a 17-digit id or a phone stays as typed.
            sheet.set_column_format(c, &text).map_err(xl)?;
            sheet.set_column_width(c, 14).map_err(xl)?;
        }
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                sheet
                    .write_string_with_format(r as u32 + 1, c as u16, v, &text)
                    .map_err(xl)?;
            }
        }
        book.save_to_buffer().map_err(xl)?
    } else {
        let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
        w.write_record(&header).map_err(AppError::internal)?;
        for row in &rows {
            w.write_record(row).map_err(AppError::internal)?;
        }
        w.into_inner().map_err(AppError::internal)?
    };
    Ok(HttpResponse::Ok()
        .content_type(if xlsx {
            XLSX_TYPE
        } else {
            "text/csv; charset=utf-8"
        })
        .insert_header((actix_web::http::header::CONTENT_DISPOSITION, disposition))
        .body(body))
}

/// A file name's UTF-8 bytes percent-encoded, for `filename*`.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub async fn api_roster_template_csv(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, String)>,
) -> Result<HttpResponse, AppError> {
    roster_template(state, user, path, false).await
}

pub async fn api_roster_template_xlsx(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, String)>,
) -> Result<HttpResponse, AppError> {
    roster_template(state, user, path, true).await
}

pub async fn api_get_frame(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, group) = path.into_inner();
    let group = sampling::parse_group(&group)?;
    let (geo, rosters) = sampling::rosters(&state.app, &user.actor(), id, &[group], 5).await?;
    let roster = &rosters[0];
    let sample: Vec<_> = roster.first.iter().map(|p| person_json(p, &geo)).collect();
    Ok(HttpResponse::Ok()
        .json(json!({"group": group, "rows": roster.rows.unwrap_or(0), "sample": sample})))
}

pub async fn api_plan(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let (survey, full, places) =
        sampling::places(&state.app, &user.actor(), path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(plan_json(&survey, &full, &places)?))
}

/// `POST …/draws` with no body draws with a random seed; `{"seed": …}` with the one given.
pub async fn api_draw(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    body: ApiJson<DrawInput>,
) -> Result<HttpResponse, AppError> {
    let seed = if body.is_empty() {
        SeedChoice::Random
    } else {
        let input = body.parse().map_err(|e| match e {
            AppError::Invalid { field: Some(f), .. } if f == "seed" => AppError::invalid(
                "seed",
                "种子须为整数或文字（不超过 200 个字符）；不传 seed 则由系统随机生成",
            ),
            e => e,
        })?;
        match input.seed {
            None => seed_choice("", &input.seed_note)?,
            Some(SeedValue::Number(n)) => seed_choice(&n.to_string(), &input.seed_note)?,
            Some(SeedValue::Text(t)) if t.trim().is_empty() => {
                return Err(AppError::invalid(
                    "seed",
                    "种子为空：要由系统随机生成，请不传 seed",
                ));
            }
            Some(SeedValue::Text(t)) => seed_choice(&t, &input.seed_note)?,
        }
    };
    let stored = draws::draw(&state.app, &user.actor(), path.into_inner(), seed).await?;
    Ok(HttpResponse::Created().json(draw_json(&stored)?))
}

/// The verifier an auditor runs, served as it is in the repository (`docs/verify_draw.py`).
pub async fn verifier_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/x-python; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"verify_draw.py\"",
        ))
        .body(include_str!("../../docs/verify_draw.py"))
}

pub async fn api_get_draw(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, i32)>,
) -> Result<HttpResponse, AppError> {
    let (id, draw_id) = path.into_inner();
    let c = draws::certificate(&state.app, &user.actor(), id, draw_id).await?;
    Ok(HttpResponse::Ok().json(certificate_json(&c)?))
}

/// Discards a draft survey's draw in force (its certificate stays, marked discarded).
pub async fn api_discard_draw(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, i32)>,
) -> Result<HttpResponse, AppError> {
    let (id, draw_id) = path.into_inner();
    let d = draws::discard(&state.app, &user.actor(), id, draw_id).await?;
    Ok(HttpResponse::Ok().json(draw_json(&d)?))
}

pub async fn api_verify_draw(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, i32)>,
) -> Result<HttpResponse, AppError> {
    let (id, draw_id) = path.into_inner();
    let v = draws::verify(&state.app, &user.actor(), id, draw_id).await?;
    Ok(HttpResponse::Ok().json(v))
}

fn line_rows_csv(rows: &[v2::LineRow]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for r in rows {
        w.serialize(r)?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// `lines.csv`: every person of a v2 draw's frame, written exactly as the re-run reads them (no
/// spreadsheet escaping: an external id is compared as it is), streamed page by page.
pub async fn api_draw_lines(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, i32)>,
) -> Result<HttpResponse, AppError> {
    let (id, draw_id) = path.into_inner();
    let lines = draws::lines(&state.app, &user.actor(), id, draw_id).await?;
    let mut first = b"\xEF\xBB\xBF".to_vec();
    first.extend(v2::LINE_COLUMNS.join(",").as_bytes());
    first.push(b'\n');
    let head = futures_util::stream::once(async move { Ok(web::Bytes::from(first)) });
    let rows = lines.pages.map(|page| match page {
        Ok(rows) => line_rows_csv(&rows)
            .map(web::Bytes::from)
            .map_err(actix_web::error::ErrorInternalServerError),
        Err(e) => {
            tracing::error!(error = %e, "draw lines export failed");
            Err(actix_web::error::ErrorInternalServerError("export failed"))
        }
    });
    let name = format!("draw-{}-{}-lines.csv", lines.survey_id, lines.draw_id);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(head.chain(rows)))
}

pub async fn api_invitations_csv(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (geo, lines) =
        sampling::invitations(&state.app, &user.actor(), id, InvitationUse::Export).await?;
    let body = invitations_csv(&invitation_rows(&state, &req, &geo, &lines))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"invitations-{id}.csv\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

pub async fn api_invitations_xlsx(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (geo, lines) =
        sampling::invitations(&state.app, &user.actor(), id, InvitationUse::Export).await?;
    let rows = invitation_rows(&state, &req, &geo, &lines);
    let body = web::block(move || invitations_xlsx(&rows))
        .await
        .map_err(AppError::internal)??;
    Ok(HttpResponse::Ok()
        .content_type(XLSX_TYPE)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"invitations-{id}.xlsx\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

pub async fn api_invitation_qr(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<(i32, i32, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, invitation_id, format) = path.into_inner();
    let link = sampling::invitation_link(&state.app, &user.actor(), id, invitation_id).await?;
    let url = state.public_link(&req, &link);
    match format.as_str() {
        "qr.svg" => super::qr::svg_response(&url),
        "qr.png" => super::qr::png_response(&url, &format!("invitation-{invitation_id}.png")),
        _ => Err(AppError::NotFound),
    }
}

pub async fn api_release(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    input: ApiJson<ReleaseInput>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    surveys::organized(&state.app, &user.actor(), id).await?;
    let input = input.parse()?;
    let outcome =
        sampling::release_reserves(&state.app, &user.actor(), id, &input.request()?).await?;
    Ok(HttpResponse::Ok().json(outcome))
}

pub async fn api_create_channel(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<i32>,
    input: ApiJson<ChannelInput>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    surveys::organized(&state.app, &user.actor(), id).await?;
    let input = input.parse()?;
    let ch = sampling::create_channel(&state.app, &user.actor(), id, &input.request()?).await?;
    let url = state.public_link(&req, &channel_path(&ch.code));
    Ok(HttpResponse::Created().json(json!({"code": ch.code, "url": url})))
}

/// `POST …/channels/{code}/close` and `…/reopen`: the channel as it now is.
async fn change_channel(
    state: &AppState,
    user: &CurrentUser,
    req: &HttpRequest,
    path: web::Path<(i32, String)>,
    change: sampling::ChannelChange,
) -> Result<HttpResponse, AppError> {
    let (id, code) = path.into_inner();
    sampling::change_channel(&state.app, &user.actor(), id, &code, change).await?;
    let (_, c) = sampling::channel_state(&state.app, &user.actor(), id, &code).await?;
    Ok(HttpResponse::Ok().json(ChannelView::new(state, req, c)))
}

pub async fn api_close_channel(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<(i32, String)>,
) -> Result<HttpResponse, AppError> {
    change_channel(&state, &user, &req, path, sampling::ChannelChange::Close).await
}

pub async fn api_reopen_channel(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<(i32, String)>,
) -> Result<HttpResponse, AppError> {
    change_channel(&state, &user, &req, path, sampling::ChannelChange::Reopen).await
}

/// `DELETE …/channels/{code}`: 204, or 409 for a channel that took answers.
pub async fn api_delete_channel(
    state: State,
    user: CurrentUser,
    path: web::Path<(i32, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, code) = path.into_inner();
    sampling::change_channel(
        &state.app,
        &user.actor(),
        id,
        &code,
        sampling::ChannelChange::Delete,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn api_list_channels(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let channels = sampling::channels(&state.app, &user.actor(), path.into_inner()).await?;
    let views: Vec<ChannelView> = channels
        .into_iter()
        .map(|c| ChannelView::new(&state, &req, c))
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

pub async fn api_channel_qr(
    state: State,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<(i32, String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, code, format) = path.into_inner();
    let (survey, c) = sampling::channel_state(&state.app, &user.actor(), id, &code).await?;
    let url = state.public_link(&req, &channel_path(&c.channel.code));
    match format.as_str() {
        "qr.svg" => super::qr::svg_response(&url),
        "qr.png" => super::qr::png_response(&url, &format!("channel-{}.png", c.channel.id)),
        other => super::poster::image(&state, &req, &survey, &c, other).await,
    }
}

pub async fn api_purge(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let removed = sampling::purge(&state.app, &user.actor(), path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({"purged_rows": removed})))
}

/// The groups in their order, with the labels the pages show.
pub fn group_options() -> Vec<serde_json::Value> {
    RespondentGroup::ALL
        .iter()
        .map(|g| {
            let bands: Vec<_> = crate::domain::strata::bands(*g)
                .iter()
                .map(|b| b.label())
                .collect();
            json!({"code": g.code(), "label": g.label(), "bands": bands})
        })
        .collect()
}
