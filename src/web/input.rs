//! What clients send: JSON bodies and HTML forms, each checked with `validator` and then
//! parsed into domain types, so a handler never sees unchecked input.
use crate::app::sheets::Upload;
use crate::domain::quota::{PlanParameters, PlanText, Target};
use crate::domain::survey::{Survey, SurveySettings, Window};
use crate::domain::tally::Estimator;
use crate::error::AppError;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use validator::Validate;

/// A JSON body, read but not yet parsed: the handler settles who may call it first, then
/// [`ApiJson::parse`] deserialises and validates it, errors naming the field.
pub struct ApiJson<T> {
    body: web::Bytes,
    is_json: bool,
    /// Whether the request said what its body is (an empty body of another type is no JSON).
    typed: bool,
    _shape: std::marker::PhantomData<T>,
}

impl<T: DeserializeOwned + Validate> ApiJson<T> {
    pub fn parse(self) -> Result<T, AppError> {
        if !self.is_json {
            return Err(AppError::Invalid {
                field: None,
                message: "请求体必须是 JSON（Content-Type: application/json）".into(),
            });
        }
        parse_json(&self.body)
    }

    /// Whether no body was sent (some operations take none): empty or only whitespace, and
    /// typed as JSON or not typed at all. An empty form or text body is not taken for one: a
    /// page on another site can send those, and they are then refused as not JSON.
    pub fn is_empty(&self) -> bool {
        self.body.iter().all(u8::is_ascii_whitespace) && (self.is_json || !self.typed)
    }
}

/// A JSON body deserialised and validated, errors naming the field.
fn parse_json<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, AppError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let message = e.inner().to_string();
        AppError::Invalid {
            field: serde_field(&e.path().to_string(), &message),
            message: format!("JSON 无效：{message}"),
        }
    })?;
    // Nothing may follow the value: `{…} xyz` is not a JSON body.
    de.end().map_err(|_| AppError::Invalid {
        field: None,
        message: "JSON 无效：JSON 之后还有多余的内容".into(),
    })?;
    value.validate()?;
    Ok(value)
}

/// The field a serde error is about: its path, or the name in "missing field `x`".
pub fn serde_field(path: &str, message: &str) -> Option<String> {
    if path != "." && !path.is_empty() {
        return Some(path.to_owned());
    }
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

impl<T: 'static> FromRequest for ApiJson<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .mime_type()
            .ok()
            .flatten()
            .is_some_and(|m| m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"));
        let typed = req
            .headers()
            .contains_key(actix_web::http::header::CONTENT_TYPE);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body
                .await
                .map_err(|e| super::error::unreadable_body(&e, "请求体"))?;
            Ok(ApiJson {
                body,
                is_json,
                typed,
                _shape: std::marker::PhantomData,
            })
        })
    }
}

#[derive(Debug, Deserialize, Validate)]
pub struct LoginInput {
    #[validate(length(min = 1, max = 64, message = "请填写用户名"))]
    pub username: String,
    #[validate(length(min = 1, max = 256, message = "请填写密码"))]
    pub password: String,
}

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct CountyInput {
    #[validate(length(min = 2, max = 100, message = "县（区）名称须为 2–100 个字符"))]
    pub name: String,
}

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    #[validate(length(min = 3, max = 64, message = "用户名须为 3–64 个字符"))]
    pub username: String,
    #[validate(length(min = 10, max = 256, message = "密码至少 10 个字符"))]
    pub password: String,
    pub role: String,
    pub county_id: Option<i32>,
    /// For `school`: the school's name.
    #[validate(length(max = 100, message = "学校名称不能超过 100 个字符"))]
    pub school: Option<String>,
}

/// `PUT /api/v1/users/{user}`: what changes (anything left out stays).
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct UserChangeInput {
    pub role: Option<String>,
    pub county_id: Option<i32>,
    pub active: Option<bool>,
}

/// `POST /api/v1/users/{user}/password`: the new password an admin sets.
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct PasswordInput {
    pub password: String,
}

/// `PUT /api/v1/me/password`: one's own password, changed.
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct OwnPasswordInput {
    pub current_password: String,
    pub new_password: String,
}

/// The query of `GET /api/v1/quota`; every value is checked by the domain's parser.
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct QuotaQuery {
    #[validate(length(max = 32, message = "常住人口必须是正整数"))]
    pub population: Option<String>,
    #[validate(length(max = 32, message = "抽样比例必须是数字（单位 ‰）"))]
    pub rate_permille: Option<String>,
    #[validate(length(max = 32, message = "家长占比必须是数字"))]
    pub parent_share: Option<String>,
    #[validate(length(max = 32, message = "样本下限必须是非负整数"))]
    pub floor: Option<String>,
}

impl QuotaQuery {
    pub fn parameters(&self) -> Result<PlanParameters, AppError> {
        self.validate()?;
        Ok(PlanText {
            population: self.population.as_deref(),
            rate_permille: self.rate_permille.as_deref(),
            parent_share: self.parent_share.as_deref(),
            floor: self.floor.as_deref(),
        }
        .parse()?)
    }
}

/// A page form whose one field is the organiser's tick that they mean it (`confirm=1`, from a
/// checkbox): opening despite warnings, deleting a draft, purging.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConfirmForm {
    pub confirm: String,
}

impl ConfirmForm {
    pub fn ticked(&self) -> bool {
        !self.confirm.is_empty()
    }
}

/// Nothing when the `confirm` box was ticked; else the error naming it, with `message` (what
/// the action will do).
pub fn require_tick(confirm: &str, message: &str) -> Result<(), AppError> {
    if confirm.is_empty() {
        return Err(AppError::invalid("confirm", message));
    }
    Ok(())
}

/// `POST …/open`: `{"confirm": true}` opens despite the checklist's warnings.
#[derive(Debug, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct OpenInput {
    #[serde(default)]
    pub confirm: bool,
}

/// `PUT …/window`: the new end of an open (or draft) survey's answering window.
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct WindowInput {
    pub closes_at: DateTime<Utc>,
}

/// `POST …/copy`: the new round's name (default: the old name with （第二轮）).
#[derive(Debug, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct CopyInput {
    #[serde(default)]
    pub name: Option<String>,
}

/// `PUT …/archived`: `{"archived": true}` archives, `false` brings it back.
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct ArchiveInput {
    pub archived: bool,
}

/// A survey as the JSON API takes it (create and replace).
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct SurveyInput {
    #[validate(length(min = 1, max = 200, message = "调查名称须为 1–200 个字符"))]
    pub name: String,
    #[validate(range(min = 1, max = 10_000_000_000_i64, message = "常住人口必须是正整数"))]
    pub population: i64,
    pub rate_permille: Option<f64>,
    pub parent_share: Option<f64>,
    #[validate(range(min = 0, max = 10_000_000_000_i64, message = "样本下限必须是非负整数"))]
    pub floor: Option<i64>,
    pub target: Option<f64>,
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    /// Which county the survey is for; only a platform admin gives it.
    pub county_id: Option<i32>,
    /// pooled (default), respondent_mean or group_weighted.
    pub estimator: Option<String>,
}

fn parse_estimator(code: Option<&str>) -> Result<Estimator, AppError> {
    match code.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(Estimator::Pooled),
        Some(c) => Estimator::parse(c).ok_or_else(|| {
            AppError::invalid(
                "estimator",
                "估计方法须为 pooled、respondent_mean 或 group_weighted",
            )
        }),
    }
}

impl SurveyInput {
    pub fn settings(&self) -> Result<SurveySettings, AppError> {
        use crate::domain::quota::{ParentShare, SamplingRate};
        let rate = self
            .rate_permille
            .map(SamplingRate::from_permille)
            .transpose()?
            .unwrap_or(SamplingRate::DEFAULT);
        let share = self
            .parent_share
            .map(ParentShare::parse)
            .transpose()?
            .unwrap_or(ParentShare::DEFAULT);
        let plan = PlanParameters::new(self.population, rate, share, self.floor.unwrap_or(0))?;
        let target = self
            .target
            .map(Target::parse)
            .transpose()?
            .unwrap_or(Target::DEFAULT);
        let window = Window::new(self.opens_at, self.closes_at)?;
        let estimator = parse_estimator(self.estimator.as_deref())?;
        Ok(SurveySettings::new(
            &self.name, plan, target, window, estimator,
        )?)
    }
}

pub use crate::domain::survey::beijing;

pub fn parse_local_time(
    value: &str,
    field: &'static str,
) -> Result<Option<DateTime<Utc>>, AppError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let naive = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| AppError::invalid(field, "时间格式应为 年-月-日T时:分"))?;
    beijing()
        .from_local_datetime(&naive)
        .single()
        .map(|t| Some(t.with_timezone(&Utc)))
        .ok_or_else(|| AppError::invalid(field, "时间无效"))
}

/// A time as a `datetime-local` input shows it, in Beijing time.
pub fn local_time_value(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| {
        t.with_timezone(&beijing())
            .format("%Y-%m-%dT%H:%M")
            .to_string()
    })
    .unwrap_or_default()
}

/// The survey form of the admin pages: text as typed, kept for showing back on an error.
#[derive(Debug, Default, Clone, Deserialize, Serialize, Validate)]
#[serde(default)]
pub struct SurveyForm {
    #[validate(length(max = 200, message = "调查名称须为 1–200 个字符"))]
    pub name: String,
    #[validate(length(max = 32, message = "常住人口必须是正整数"))]
    pub population: String,
    #[validate(length(max = 32, message = "抽样比例必须是数字（单位 ‰）"))]
    pub rate_permille: String,
    #[validate(length(max = 32, message = "家长占比必须是数字"))]
    pub parent_share: String,
    #[validate(length(max = 32, message = "样本下限必须是非负整数"))]
    pub floor: String,
    /// The target in percent (85), as people write it.
    #[validate(length(max = 32, message = "目标认可度必须是数字"))]
    pub target_percent: String,
    #[validate(length(max = 32))]
    pub opens_at: String,
    #[validate(length(max = 32))]
    pub closes_at: String,
    #[serde(default)]
    pub county_id: Option<String>,
    #[serde(default)]
    pub estimator: String,
}

impl SurveyForm {
    pub fn blank() -> Self {
        SurveyForm {
            rate_permille: "1.5".into(),
            parent_share: "0.5".into(),
            floor: "0".into(),
            target_percent: "85".into(),
            estimator: Estimator::Pooled.code().into(),
            ..Default::default()
        }
    }

    pub fn from_survey(s: &Survey) -> Self {
        let st = &s.settings;
        SurveyForm {
            name: st.name.clone(),
            population: st.plan.population.to_string(),
            rate_permille: st.plan.rate.to_string(),
            parent_share: st.plan.parent_share.fraction().to_string(),
            floor: st.plan.floor.to_string(),
            target_percent: st.target.fraction().percent(),
            opens_at: local_time_value(st.window.opens_at),
            closes_at: local_time_value(st.window.closes_at),
            county_id: Some(s.county_id.to_string()),
            estimator: st.estimator.code().into(),
        }
    }

    pub fn settings(&self) -> Result<SurveySettings, AppError> {
        self.validate()?;
        let plan = PlanText {
            population: Some(&self.population),
            rate_permille: Some(&self.rate_permille),
            parent_share: Some(&self.parent_share),
            floor: Some(&self.floor),
        }
        .parse()?;
        let target = match self.target_percent.trim() {
            "" => Target::DEFAULT,
            t => {
                let percent: f64 = t
                    .trim_end_matches('%')
                    .parse()
                    .map_err(|_| AppError::invalid("target", "目标认可度必须是数字"))?;
                Target::parse(percent / 100.0)?
            }
        };
        let window = Window::new(
            parse_local_time(&self.opens_at, "opens_at")?,
            parse_local_time(&self.closes_at, "closes_at")?,
        )?;
        let estimator = parse_estimator(Some(&self.estimator))?;
        Ok(SurveySettings::new(
            &self.name, plan, target, window, estimator,
        )?)
    }

    pub fn county(&self) -> Result<Option<i32>, AppError> {
        match self.county_id.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(c) => c
                .parse()
                .map(Some)
                .map_err(|_| AppError::invalid("county_id", "请选择县（区）")),
        }
    }
}

#[derive(Default, Debug, Deserialize, Validate)]
#[serde(default)]
pub struct LoginForm {
    #[validate(length(max = 64))]
    pub username: String,
    #[validate(length(max = 256))]
    pub password: String,
    #[serde(default)]
    pub next: Option<String>,
}

#[derive(Default, Debug, Deserialize, Validate)]
#[serde(default)]
pub struct CountyForm {
    #[validate(length(max = 100, message = "县（区）名称须为 2–100 个字符"))]
    pub name: String,
}

#[derive(Default, Debug, Deserialize, Validate)]
#[serde(default)]
pub struct UserForm {
    #[validate(length(max = 64, message = "用户名须为 3–64 个字符"))]
    pub username: String,
    #[validate(length(max = 256, message = "密码不能超过 256 个字符"))]
    pub password: String,
    pub role: String,
    #[serde(default)]
    pub county_id: Option<String>,
    /// For `school`: the school's name.
    #[serde(default)]
    #[validate(length(max = 100, message = "学校名称不能超过 100 个字符"))]
    pub school: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_errors_name_their_field() {
        assert_eq!(
            serde_field("population", "invalid type"),
            Some("population".into())
        );
        assert_eq!(
            serde_field(".", "missing field `name` at line 1 column 2"),
            Some("name".into())
        );
        assert_eq!(serde_field(".", "EOF while parsing"), None);
    }

    #[test]
    fn form_times_are_beijing_time() {
        let t = parse_local_time("2026-12-01T08:00", "opens_at")
            .unwrap()
            .unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(local_time_value(Some(t)), "2026-12-01T08:00");
        assert_eq!(
            parse_local_time("tomorrow", "opens_at")
                .unwrap_err()
                .field(),
            Some("opens_at")
        );
    }
}

/// An upload's bytes gathered into writes of a quarter megabyte to its spool.
#[derive(Default)]
pub struct Spool {
    pending: Vec<u8>,
}

impl Spool {
    const WRITE: usize = 256 * 1024;

    pub fn add(&mut self, upload: &mut Upload, bytes: &[u8]) -> Result<(), AppError> {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= Self::WRITE {
            upload.append(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    pub fn finish(&mut self, upload: &mut Upload) -> Result<(), AppError> {
        upload.append(&self.pending)?;
        self.pending.clear();
        Ok(())
    }
}

/// The body's length as the request declares it.
pub fn declared_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
}

/// A request body of at most `max` bytes spooled to disk as it arrives (413 past it, before a
/// byte is read if its length says so), so large files never sit whole in memory.
pub async fn spool(
    req: &HttpRequest,
    mut body: web::Payload,
    max: usize,
) -> Result<Upload, AppError> {
    use futures_util::StreamExt;
    if declared_length(req).is_some_and(|n| n > max as u64) {
        return Err(AppError::PayloadTooLarge);
    }
    let (mut upload, mut spool) = (Upload::new()?, Spool::default());
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| AppError::invalid("file", format!("无法读取上传的文件：{e}")))?;
        if upload.len() as usize + spool.pending.len() + chunk.len() > max {
            return Err(AppError::PayloadTooLarge);
        }
        spool.add(&mut upload, &chunk)?;
    }
    spool.finish(&mut upload)?;
    Ok(upload)
}
