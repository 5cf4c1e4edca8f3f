//! What a school puts up and sends round for an open channel: the A4 poster (SVG, and PNG at
//! print resolution), the QR card with its title, school and deadline, and the notice texts
//! for WeChat groups and SMS.
use super::AppState;
use super::admin::{page, render};
use super::auth::CurrentUser;
use super::csrf::CsrfToken;
use super::qr;
use super::view::SurveyView;
use crate::app::{self, sampling::ChannelState};
use crate::domain::survey::{Survey, beijing};
use crate::error::AppError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use std::sync::OnceLock;

/// What a poster says.
#[derive(Debug, Clone)]
pub struct Poster {
    /// The survey's name.
    pub title: String,
    /// Who answers: 家长, 学生 ….
    pub group: String,
    /// The school, area or 全县 the channel is for.
    pub place: String,
    /// The deadline as people read it (北京时间), if the survey has one.
    pub deadline: Option<String>,
    pub url: String,
}

/// The three lines of instructions every poster carries.
pub const INSTRUCTIONS: [&str; 3] = [
    "用微信或手机相机扫描二维码，打开问卷",
    "每题选一个最符合您感受的选项，约 2 分钟",
    "每人只填一次，提交后即完成",
];

/// The anonymity promise.
pub const ANONYMOUS: &str = "匿名填写：不记录姓名和电话，学校和老师看不到您的答案";

/// Fonts as listed in the SVG: the system's Chinese sans-serif fonts.
const FONTS: &str = "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei','WenQuanYi Micro Hei',sans-serif";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Splits a text into lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(width.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

/// `<text>` lines centred on `x`, from `y` down by `step`.
fn centred(lines: &[String], x: f64, y: f64, step: f64, size: f64, weight: &str) -> String {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                r#"<text x="{x}" y="{:.1}" font-size="{size}" font-weight="{weight}" text-anchor="middle">{}</text>"#,
                y + step * i as f64,
                escape(l)
            )
        })
        .collect()
}

fn qr_group(url: &str, x: f64, y: f64, side: f64) -> Result<String, AppError> {
    let (modules, d) = qr::path(url)?;
    let scale = side / f64::from(modules);
    Ok(format!(
        r##"<g transform="translate({x} {y}) scale({scale:.4})"><rect width="{modules}" height="{modules}" fill="#fff"/><path d="{d}" fill="#000"/></g>"##
    ))
}

impl Poster {
    fn heading(&self) -> String {
        format!("{}问卷", self.group)
    }

    /// The A4 poster, in millimetres (210 × 297).
    pub fn svg(&self) -> Result<String, AppError> {
        let mut body = String::new();
        body.push_str(r##"<rect width="210" height="297" fill="#fff"/><rect x="0" y="0" width="210" height="14" fill="#07c160"/>"##);
        let title = wrap(&self.title, 16);
        body.push_str(&centred(&title, 105.0, 34.0, 12.0, 10.0, "bold"));
        let mut y = 34.0 + 12.0 * title.len() as f64;
        body.push_str(&centred(
            &[format!("{} · {}", self.heading(), self.place)],
            105.0,
            y + 2.0,
            0.0,
            8.0,
            "bold",
        ));
        y += 10.0;
        body.push_str(&qr_group(&self.url, 45.0, y, 120.0)?);
        y += 128.0;
        if let Some(deadline) = &self.deadline {
            body.push_str(&centred(
                &[format!("请在 {deadline} 前填写")],
                105.0,
                y,
                0.0,
                7.0,
                "bold",
            ));
            y += 12.0;
        }
        for (i, line) in INSTRUCTIONS.iter().enumerate() {
            body.push_str(&format!(
                r#"<text x="24" y="{:.1}" font-size="6">{}. {}</text>"#,
                y + 10.0 * i as f64,
                i + 1,
                escape(line)
            ));
        }
        y += 10.0 * INSTRUCTIONS.len() as f64 + 4.0;
        body.push_str(&format!(
            r##"<rect x="18" y="{:.1}" width="174" height="14" rx="3" fill="#e8f7ee"/>"##,
            y - 9.0
        ));
        body.push_str(&format!(
            r##"<text x="105" y="{y:.1}" font-size="5.5" text-anchor="middle" fill="#06592c">{}</text>"##,
            escape(ANONYMOUS)
        ));
        Ok(format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" viewBox="0 0 210 297" font-family="{FONTS}" fill="#111">{body}</svg>"##
        ))
    }

    /// The QR card: title, who and where, the QR code and the deadline (100 × 128 units).
    pub fn card_svg(&self) -> Result<String, AppError> {
        let mut body = String::from(r##"<rect width="100" height="128" fill="#fff"/>"##);
        let title = wrap(&self.title, 14);
        let title = &title[..title.len().min(2)];
        body.push_str(&centred(title, 50.0, 10.0, 7.0, 6.0, "bold"));
        let y = 10.0 + 7.0 * title.len() as f64;
        body.push_str(&centred(
            &[format!("{} · {}", self.heading(), self.place)],
            50.0,
            y,
            0.0,
            5.0,
            "normal",
        ));
        body.push_str(&qr_group(&self.url, 12.0, y + 4.0, 76.0)?);
        if let Some(deadline) = &self.deadline {
            body.push_str(&centred(
                &[format!("截止 {deadline}")],
                50.0,
                y + 88.0,
                0.0,
                4.5,
                "normal",
            ));
        }
        body.push_str(&centred(
            &["匿名填写 · 约 2 分钟".to_owned()],
            50.0,
            y + 96.0,
            0.0,
            4.5,
            "normal",
        ));
        Ok(format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="512" viewBox="0 0 100 128" font-family="{FONTS}" fill="#111">{body}</svg>"##
        ))
    }

    /// The text to paste into a class's WeChat group.
    pub fn wechat_notice(&self) -> String {
        let deadline = self
            .deadline
            .as_deref()
            .map_or(String::new(), |d| format!("请在 {d} 前完成。"));
        format!(
            "【{title}】各位{group}：县教育局正在开展义务教育优质均衡发展社会认可度调查，想听听您的真实看法。请点开下面的链接（或扫描二维码）填写，约 2 分钟，每人一次。{deadline}问卷匿名，不记录姓名和电话，学校和老师看不到您的答案。\n{url}\n感谢您的支持！",
            title = self.title,
            group = self.group,
            url = self.url,
        )
    }

    /// The text of an SMS (short: one or two messages).
    pub fn sms_notice(&self) -> String {
        let deadline = self
            .deadline
            .as_deref()
            .map_or(String::new(), |d| format!("，{d}前"));
        format!(
            "【{}】邀请您匿名填写义务教育社会认可度问卷（约2分钟{deadline}）：{}",
            self.title, self.url
        )
    }
}

/// The print resolution of PNG posters: 300 dpi on A4 (2480 × 3508 pixels).
pub const PRINT_WIDTH_PX: u32 = 2480;

/// The fonts the PNG is drawn with: the system's, loaded once.
fn fonts() -> std::sync::Arc<resvg::usvg::fontdb::Database> {
    static FONTS: OnceLock<std::sync::Arc<resvg::usvg::fontdb::Database>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut db = resvg::usvg::fontdb::Database::new();
            db.load_system_fonts();
            tracing::info!(faces = db.len(), "system fonts loaded for posters");
            std::sync::Arc::new(db)
        })
        .clone()
}

/// Draws an SVG as a PNG `width` pixels wide (call off the async workers: it takes a while).
pub fn png(svg: &str, width: u32) -> Result<Vec<u8>, AppError> {
    use resvg::{tiny_skia, usvg};
    let options = usvg::Options {
        fontdb: fonts(),
        ..Default::default()
    };
    let tree = usvg::Tree::from_str(svg, &options)
        .map_err(|e| AppError::Internal(format!("poster SVG: {e}")))?;
    let size = tree.size();
    let scale = width as f32 / size.width();
    let height = (size.height() * scale).ceil() as u32;
    let mut pixmap = tiny_skia::Pixmap::new(width, height)
        .ok_or_else(|| AppError::Internal("poster size".into()))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| AppError::Internal(format!("poster PNG: {e}")))
}

// ---- handlers ----------------------------------------------------------------------------------

/// PNG posters drawn at once (each holds a 35 MB canvas for a moment).
static DRAWING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// A survey's deadline as people read it.
pub fn deadline(survey: &Survey) -> Option<String> {
    survey.settings.window.closes_at.map(|t| {
        t.with_timezone(&beijing())
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
}

/// The poster of a channel of a survey.
pub fn of(state: &AppState, req: &HttpRequest, survey: &Survey, c: &ChannelState) -> Poster {
    Poster {
        title: survey.settings.name.clone(),
        group: c.channel.group.label().to_owned(),
        place: c
            .school
            .clone()
            .or_else(|| c.area.clone())
            .unwrap_or_else(|| "全县".to_owned()),
        deadline: deadline(survey),
        url: state.public_link(req, &super::sampling::channel_path(&c.channel.code)),
    }
}

fn svg_response(svg: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .body(svg)
}

/// Draws a poster's SVG as a PNG off the async workers, two at a time.
pub async fn png_response(
    svg: String,
    width: u32,
    filename: &str,
) -> Result<HttpResponse, AppError> {
    let _permit = DRAWING
        .acquire()
        .await
        .map_err(|_| AppError::internal("poster drawing closed"))?;
    let bytes = web::block(move || png(&svg, width))
        .await
        .map_err(AppError::internal)??;
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(bytes))
}

/// `card.svg`, `card.png`, `poster.svg`, `poster.png` of a channel.
pub async fn image(
    state: &AppState,
    req: &HttpRequest,
    survey: &Survey,
    c: &ChannelState,
    format: &str,
) -> Result<HttpResponse, AppError> {
    let poster = of(state, req, survey, c);
    let id = c.channel.id;
    match format {
        "card.svg" => Ok(svg_response(poster.card_svg()?)),
        "card.png" => {
            png_response(poster.card_svg()?, 1200, &format!("channel-{id}-card.png")).await
        }
        "poster.svg" => Ok(svg_response(poster.svg()?)),
        "poster.png" => {
            png_response(
                poster.svg()?,
                PRINT_WIDTH_PX,
                &format!("channel-{id}-poster.png"),
            )
            .await
        }
        _ => Err(AppError::NotFound),
    }
}

/// The printable poster of a channel, with the notices to copy.
pub async fn page_poster(
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    req: HttpRequest,
    path: web::Path<(i32, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, code) = path.into_inner();
    let (survey, c) = app::sampling::channel_state(&state.app, &user.actor(), id, &code).await?;
    let poster = of(&state, &req, &survey, &c);
    let mut ctx = page(Some(&user), &csrf);
    ctx.insert("survey", &SurveyView::new(&survey));
    ctx.insert("code", &c.channel.code);
    ctx.insert("label", &c.label());
    ctx.insert("open", &c.channel.closed_at.is_none());
    ctx.insert("left", &c.quota.saturating_sub(c.filled));
    ctx.insert("url", &poster.url);
    ctx.insert("svg", &poster.svg()?);
    ctx.insert("wechat", &poster.wechat_notice());
    ctx.insert("sms", &poster.sms_notice());
    render(&state, StatusCode::OK, "admin/poster.html", &ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poster() -> Poster {
        Poster {
            title: "永嘉县 2026 年义务教育优质均衡发展社会认可度调查".into(),
            group: "家长".into(),
            place: "城关一小".into(),
            deadline: Some("2026-12-10 18:00".into()),
            url: "https://renke.example/o/abc<&>".into(),
        }
    }

    #[test]
    fn the_poster_carries_title_school_qr_instructions_and_promise() {
        let svg = poster().svg().unwrap();
        assert!(svg.contains("家长问卷 · 城关一小"));
        assert!(svg.contains("请在 2026-12-10 18:00 前填写"));
        for line in INSTRUCTIONS {
            assert!(svg.contains(line));
        }
        assert!(svg.contains(ANONYMOUS));
        assert!(svg.contains("<path d=\"M"));
        assert!(!svg.contains("abc<&>"), "text is escaped");
        let card = poster().card_svg().unwrap();
        assert!(card.contains("截止 2026-12-10 18:00") && card.contains("城关一小"));
    }

    #[test]
    fn notices_carry_the_link_and_the_deadline() {
        let p = poster();
        assert!(p.wechat_notice().contains(&p.url));
        assert!(p.wechat_notice().contains("匿名"));
        assert!(p.sms_notice().contains(&p.url) && p.sms_notice().contains("2026-12-10"));
    }

    #[test]
    fn the_png_is_a4_at_print_resolution() {
        let png = png(&poster().svg().unwrap(), PRINT_WIDTH_PX).unwrap();
        let decoder = ::png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), (2480, 3508));
    }
}
