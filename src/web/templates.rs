//! Tera templates, compiled into the binary and parsed once at start-up.
use crate::domain::quota::thousands;
use actix_web::{HttpResponse, http::header};
use std::collections::HashMap;

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}

const TEMPLATES: [(&str, &str); 36] = embedded!(
    "base.html",
    "error.html",
    "login.html",
    "admin/home.html",
    "admin/counties.html",
    "admin/users.html",
    "admin/survey_form.html",
    "admin/survey.html",
    "admin/open.html",
    "admin/password.html",
    "admin/macros.html",
    "admin/nav.html",
    "admin/sample.html",
    "admin/certificate.html",
    "admin/invitations.html",
    "admin/print.html",
    "respond/base.html",
    "respond/notice.html",
    "respond/form.html",
    "respond/thanks.html",
    "admin/questionnaires.html",
    "admin/dashboard.html",
    "admin/charts.html",
    "admin/report.html",
    "admin/readiness.html",
    "admin/integrity.html",
    "admin/progress.html",
    "admin/daily.html",
    "admin/poster.html",
    "admin/school_results.html",
    "admin/comments.html",
    "admin/fieldwork.html",
    "admin/calls.html",
    "admin/call.html",
    "admin/paper_print.html",
    "admin/paper_entry.html",
);

pub const STYLESHEET: &str = include_str!("../../static/renke.css");
pub const SCRIPT: &str = include_str!("../../static/respond.js");
pub const DASHBOARD_SCRIPT: &str = include_str!("../../static/dashboard.js");

pub fn dashboard_script_url() -> &'static str {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| versioned("/static/dashboard.js", DASHBOARD_SCRIPT))
}

pub async fn dashboard_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(DASHBOARD_SCRIPT)
}

fn versioned(path: &str, content: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(content.as_bytes()));
    format!("{path}?v={}", &digest[..12])
}

/// The respondent script's URL, with a hash of its content (cached for a year).
pub fn script_url() -> &'static str {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| versioned("/static/respond.js", SCRIPT))
}

pub async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(SCRIPT)
}

/// The stylesheet's URL carries a hash of its content, so it can be cached for a year.
pub fn stylesheet_url() -> &'static str {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| versioned("/static/renke.css", STYLESHEET))
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(STYLESHEET)
}

/// `{{ n | thousands }}`: 869548 → 869,548.
/// `{{ r | percent }}`: 0.8734 → 87.3%; no value → —.
fn percent_filter(
    value: &tera::Value,
    _: &HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    Ok(tera::Value::String(match value.as_f64() {
        Some(v) => format!("{:.1}%", v * 100.0),
        None => "—".into(),
    }))
}

/// `{{ p | chance }}`: a probability as a percentage that never reads as certain: 0.9996 →
/// 高于 99.9%, 0.0004 → 低于 0.1%; no value → —.
fn chance_filter(
    value: &tera::Value,
    _: &HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    Ok(tera::Value::String(match value.as_f64() {
        Some(p) => crate::domain::estimate::chance(p),
        None => "—".into(),
    }))
}

/// `{{ d | points }}`: a change of a rate in percentage points, signed: −0.025 → −2.5 个百分点
/// (under 0.05 points: 无变化).
fn points_filter(
    value: &tera::Value,
    _: &HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    Ok(tera::Value::String(match value.as_f64() {
        Some(d) if d.abs() < 0.0005 => "无变化".into(),
        Some(d) if d > 0.0 => format!("+{:.1} 个百分点", d * 100.0),
        Some(d) => format!("−{:.1} 个百分点", -d * 100.0),
        None => "—".into(),
    }))
}

/// `{{ x | decimal }}`: a number with two decimals; no value → —.
fn decimal_filter(
    value: &tera::Value,
    _: &HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    Ok(tera::Value::String(match value.as_f64() {
        Some(v) => format!("{v:.2}"),
        None => "—".into(),
    }))
}

/// `{{ p | pvalue }}`: a p-value, 0.0123 → 0.012, 3.2e-9 → < 0.0001; no value → —.
fn pvalue_filter(
    value: &tera::Value,
    _: &HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    Ok(tera::Value::String(match value.as_f64() {
        Some(v) if v < 0.0001 => "< 0.0001".into(),
        Some(v) => format!("{v:.4}"),
        None => "—".into(),
    }))
}

fn thousands_filter(
    value: &tera::Value,
    _: &HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    match value.as_u64() {
        Some(n) => Ok(tera::Value::String(thousands(n))),
        None => Ok(value.clone()),
    }
}

/// `{{ t | beijing }}`: an RFC 3339 time shown in Beijing time, "2026-12-01 08:00".
fn beijing_filter(
    value: &tera::Value,
    _: &HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let Some(text) = value.as_str() else {
        return Ok(tera::Value::String("—".into()));
    };
    let t = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|e| tera::Error::msg(format!("not a time: {e}")))?;
    Ok(tera::Value::String(
        t.with_timezone(&crate::domain::survey::beijing())
            .format("%Y-%m-%d %H:%M")
            .to_string(),
    ))
}

/// `{{ name | urlencode }}`: a text as one value of a query string (城关一小 → %E5%9F%8E…).
fn urlencode_filter(
    value: &tera::Value,
    _: &HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let text = value.as_str().unwrap_or_default();
    let pair = serde_urlencoded::to_string([("", text)])
        .map_err(|e| tera::Error::msg(format!("urlencode: {e}")))?;
    Ok(tera::Value::String(pair.trim_start_matches('=').to_owned()))
}

pub fn load() -> tera::Result<tera::Tera> {
    let mut tera = tera::Tera::default();
    tera.add_raw_templates(TEMPLATES)?;
    tera.register_filter("thousands", thousands_filter);
    tera.register_filter("beijing", beijing_filter);
    tera.register_filter("percent", percent_filter);
    tera.register_filter("pvalue", pvalue_filter);
    tera.register_filter("chance", chance_filter);
    tera.register_filter("points", points_filter);
    tera.register_filter("decimal", decimal_filter);
    tera.register_filter("urlencode", urlencode_filter);
    tera.register_function(
        "dashboard_script_url",
        |_: &HashMap<String, tera::Value>| Ok(tera::Value::String(dashboard_script_url().into())),
    );
    tera.register_function("script_url", |_: &HashMap<String, tera::Value>| {
        Ok(tera::Value::String(script_url().into()))
    });
    tera.register_function("stylesheet_url", |_: &HashMap<String, tera::Value>| {
        Ok(tera::Value::String(stylesheet_url().into()))
    });
    Ok(tera)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_parses() {
        super::load().unwrap();
    }
}
