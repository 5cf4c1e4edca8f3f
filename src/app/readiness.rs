//! Readiness: a county's school resource figures, its checklist of the government-guarantee
//! and quality indicators, and the whole evaluation in one view with the survey's result.
use super::{Actor, Context, accounts, audit, blocking};
use crate::domain::audit::AuditAction;
use crate::domain::readiness::view::{ReadinessView, SurveyResult};
use crate::domain::readiness::{self as r, CheckRecord, CheckStatus, GUARANTEE, QUALITY};
use crate::domain::survey::SurveyStatus;
use crate::error::AppError;
use crate::store;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

/// The readiness of a county the actor may see, for a year.
pub async fn view(
    ctx: &Context,
    actor: &Actor<'_>,
    county_id: i32,
    year: i32,
) -> Result<ReadinessView, AppError> {
    let county = accounts::county(ctx, actor, county_id).await?;
    let db = ctx.db.pool();
    let schools = store::readiness::schools(db, county.id).await?;
    let records: BTreeMap<String, CheckRecord> = store::readiness::checks(db, county.id, year)
        .await?
        .into_iter()
        .map(|c| (c.code.clone(), c))
        .collect();
    // Recognition: the county's most recent survey that has opened.
    let surveys = store::surveys::list(db, Some(county.id)).await?;
    let result = match surveys.iter().find(|s| s.status != SurveyStatus::Draft) {
        None => None,
        Some(s) => {
            let (t, _) = super::tally::compute(ctx, s, false).await?;
            let o = &t.official_estimate;
            Some(SurveyResult {
                survey_id: s.id,
                name: s.settings.name.clone(),
                respondents: t.respondents,
                rate: o.rate,
                interval: o.interval,
                probability: o.probability_reaching_target,
                status: o.status,
                target: t.target,
            })
        }
    };
    let rule = set_aside(store::counties::set_aside_below(db, county.id).await?);
    Ok(ReadinessView::build(
        county,
        year,
        &schools,
        &records,
        result.as_ref(),
        rule,
    ))
}

/// The rule as stored (a stored value out of range, which the setter refuses, counts as none).
fn set_aside(below: Option<i32>) -> r::SetAside {
    r::SetAside::new(below.map(i64::from)).unwrap_or_default()
}

/// Sets which teaching points a county leaves out of the coefficients of variation: those
/// under `below` pupils, or none.
pub async fn set_rule(
    ctx: &Context,
    actor: &Actor<'_>,
    county_id: i32,
    below: Option<i64>,
) -> Result<r::SetAside, AppError> {
    organized(ctx, actor, county_id).await?;
    let rule = r::SetAside::new(below).map_err(|m| AppError::invalid("set_aside_below", m))?;
    store::counties::set_set_aside_below(ctx.db.pool(), county_id, rule.below.map(|n| n as i32))
        .await?;
    audit(
        ctx,
        actor,
        AuditAction::ReadinessRuleSet,
        &format!("county {county_id}"),
        &rule.label(),
    )
    .await;
    Ok(rule)
}

/// The county if the actor may organise it.
async fn organized(ctx: &Context, actor: &Actor<'_>, county_id: i32) -> Result<(), AppError> {
    accounts::county(ctx, actor, county_id).await?;
    actor.require_organizer()
}

/// A schools file has a row per school and a dozen columns.
const SCHOOLS_SHEET: super::sheets::Limits = super::sheets::Limits {
    unpacked: 64 * 1024 * 1024,
    rows: 20_000,
    columns: 64,
    cells: 200_000,
    text: 16 * 1024 * 1024,
    what: "学校数据",
};

/// Reads an uploaded schools file: CSV (UTF-8, BOM or GBK) or XLSX (the first sheet).
fn rows_of(bytes: &[u8]) -> Result<Vec<Vec<String>>, AppError> {
    let bad = |m: String| AppError::invalid("file", m);
    if super::sheets::is_xlsx(bytes) {
        return Ok(
            super::sheets::xlsx_rows(std::io::Cursor::new(bytes), &SCHOOLS_SHEET)?
                .into_iter()
                .map(|(_, row)| row)
                .collect(),
        );
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
pub async fn upload(
    ctx: &Context,
    actor: &Actor<'_>,
    county_id: i32,
    bytes: Vec<u8>,
) -> Result<usize, AppError> {
    organized(ctx, actor, county_id).await?;
    let schools = blocking(move || {
        let rows = rows_of(&bytes)?;
        r::parse_schools(&rows).map_err(|errors| AppError::Unprocessable {
            field: Some("file".into()),
            message: format!("学校数据有 {} 处错误，未导入任何数据", errors.len()),
            details: json!({"errors": errors, "error_count": errors.len()}),
        })
    })
    .await??;
    let txn = store::begin_write(&ctx.db).await?;
    store::readiness::replace_schools(&txn, county_id, &schools).await?;
    txn.commit().await?;
    tracing::info!(county = county_id, user = ?actor.user_id(), schools = schools.len(), "readiness schools uploaded");
    let detail = format!("{} schools", schools.len());
    audit(
        ctx,
        actor,
        AuditAction::ReadinessUploaded,
        &format!("county {county_id}"),
        &detail,
    )
    .await;
    Ok(schools.len())
}

/// What is recorded for one checklist indicator (every part optional; absent is empty).
#[derive(Debug, Default, Deserialize)]
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

/// Whether `code` names a checklist indicator.
pub fn is_indicator(code: &str) -> bool {
    GUARANTEE
        .iter()
        .chain(QUALITY.iter())
        .any(|i| i.code == code)
}

/// Records one checklist indicator of a county the actor organises; unknown codes, statuses or
/// figure names are refused.
pub async fn save_check(
    ctx: &Context,
    actor: &Actor<'_>,
    county_id: i32,
    year: i32,
    code: &str,
    input: &CheckInput,
) -> Result<(), AppError> {
    organized(ctx, actor, county_id).await?;
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
    let record = CheckRecord {
        code: code.to_owned(),
        status,
        note,
        attachments,
        figures,
    };
    store::readiness::save_check(ctx.db.pool(), county_id, year, &record).await?;
    let subject = format!("county {county_id} {year} {code}");
    audit(
        ctx,
        actor,
        AuditAction::ChecklistSaved,
        &subject,
        status.code(),
    )
    .await;
    Ok(())
}
