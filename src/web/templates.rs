//! Tera templates, compiled into the binary and parsed once at start-up.
use super::view::thousands;
use actix_web::{HttpResponse, http::header};
use std::collections::HashMap;

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}

const TEMPLATES: [(&str, &str); 23] = embedded!(
    "base.html",
    "error.html",
    "login.html",
    "admin/home.html",
    "admin/counties.html",
    "admin/users.html",
    "admin/survey_form.html",
    "admin/survey.html",
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
        t.with_timezone(&super::input::beijing())
            .format("%Y-%m-%d %H:%M")
            .to_string(),
    ))
}

pub fn load() -> tera::Result<tera::Tera> {
    let mut tera = tera::Tera::default();
    tera.add_raw_templates(TEMPLATES)?;
    tera.register_filter("thousands", thousands_filter);
    tera.register_filter("beijing", beijing_filter);
    tera.register_filter("percent", percent_filter);
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

/// A page rendered once with placeholders, then filled per request by plain concatenation:
/// for pages that differ between requests only in a few values (a respondent's blank form
/// differs only in its nonce, start time and link). Values are escaped as Tera would.
#[derive(Debug)]
pub struct Spliced {
    parts: Vec<Part>,
    len: usize,
}

#[derive(Debug)]
enum Part {
    /// A stretch of the page, and the same compressed once: raw deflate blocks that end on a
    /// byte boundary and refer to nothing before them, so they can be strung together with the
    /// slots' values.
    Text {
        text: String,
        deflated: Vec<u8>,
    },
    Slot(usize),
}

impl Part {
    fn text(text: String) -> Part {
        let deflated = deflate_part(text.as_bytes());
        Part::Text { text, deflated }
    }
}

impl Spliced {
    /// Renders `name` with `ctx` plus one placeholder variable per name in `slots`.
    pub fn render(
        tera: &tera::Tera,
        name: &str,
        mut ctx: tera::Context,
        slots: &[&str],
    ) -> Result<Spliced, tera::Error> {
        let marks: Vec<String> = (0..slots.len())
            .map(|i| format!("RenkeSlot{i}x{:016x}", rand::random::<u64>()))
            .collect();
        for (slot, mark) in slots.iter().zip(&marks) {
            ctx.insert(*slot, mark);
        }
        let mut rest = tera.render(name, &ctx)?;
        let len = rest.len();
        let mut parts = Vec::new();
        loop {
            let next = marks
                .iter()
                .enumerate()
                .filter_map(|(i, m)| rest.find(m.as_str()).map(|at| (at, i, m.len())))
                .min();
            let Some((at, slot, mark_len)) = next else {
                parts.push(Part::text(rest));
                break;
            };
            let tail = rest.split_off(at);
            parts.push(Part::text(rest));
            parts.push(Part::Slot(slot));
            rest = tail[mark_len..].to_owned();
        }
        Ok(Spliced { parts, len })
    }

    /// `fill`, gzipped, without compressing anything per request: the text parts were
    /// compressed once, each slot's value goes in as a stored block, and only the checksum is
    /// computed as the page goes by.
    pub fn fill_gzip(&self, values: &[&str]) -> Vec<u8> {
        let mut crc = flate2::Crc::new();
        let mut out = Vec::with_capacity(self.len / 3 + 64);
        // gzip header: deflate, no name, no time, unknown OS.
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        for part in &self.parts {
            match part {
                Part::Text { text, deflated } => {
                    crc.update(text.as_bytes());
                    out.extend_from_slice(deflated);
                }
                Part::Slot(i) => {
                    let value = slot_value(values, *i);
                    crc.update(value.as_bytes());
                    for chunk in value.as_bytes().chunks(u16::MAX as usize) {
                        stored_block(&mut out, chunk, false);
                    }
                }
            }
        }
        stored_block(&mut out, &[], true);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&crc.amount().to_le_bytes());
        out
    }

    /// The page with `values[i]` (escaped) in slot `i`.
    pub fn fill(&self, values: &[&str]) -> String {
        let mut out = String::with_capacity(self.len + 64);
        for part in &self.parts {
            match part {
                Part::Text { text, .. } => out.push_str(text),
                Part::Slot(i) => out.push_str(&slot_value(values, *i)),
            }
        }
        out
    }
}

/// Slot `i`'s value, escaped as Tera would.
fn slot_value(values: &[&str], i: usize) -> String {
    tera::escape_html(values.get(i).unwrap_or(&""))
}

/// Raw deflate of `text` at the best level, ended by a sync flush: byte-aligned, not final.
fn deflate_part(text: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(text);
    let _ = encoder.flush();
    encoder.get_ref().clone()
}

/// A deflate stored block (the stream is byte-aligned before it): header, length, its
/// complement, the bytes.
fn stored_block(out: &mut Vec<u8>, bytes: &[u8], last: bool) {
    let len = bytes.len() as u16;
    out.push(u8::from(last));
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod spliced_tests {
    use super::*;

    /// The thanks page with its one slot.
    fn thanks(tera: &tera::Tera) -> Spliced {
        Spliced::render(
            tera,
            "respond/thanks.html",
            tera::Context::new(),
            &["draft_key"],
        )
        .unwrap()
    }

    #[test]
    fn the_gzipped_fill_unzips_to_the_plain_fill() {
        let spliced = thanks(&load().unwrap());
        let long = "长".repeat(30_000);
        for value in ["/s/a<b>&\"c'", "", long.as_str()] {
            let gz = spliced.fill_gzip(&[value]);
            let mut unzipped = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::GzDecoder::new(&gz[..]),
                &mut unzipped,
            )
            .unwrap();
            assert_eq!(unzipped, spliced.fill(&[value]));
        }
        assert!(spliced.fill_gzip(&["x"]).len() < spliced.fill(&["x"]).len());
    }

    #[test]
    fn a_spliced_page_equals_the_page_rendered_with_the_values() {
        let tera = load().unwrap();
        let mut ctx = tera::Context::new();
        ctx.insert("draft_key", "/s/a<b>&\"c'");
        let direct = tera.render("respond/thanks.html", &ctx).unwrap();
        assert_eq!(thanks(&tera).fill(&["/s/a<b>&\"c'"]), direct);
    }
}
