//! CSRF protection for HTML forms: a signed-in or not, every page that shows a form gets a
//! random token in an HttpOnly cookie, and the form carries the same token in a hidden field
//! (`csrf_token`). A cross-site page can neither read the cookie nor guess the token.
//!
//! The JSON API is protected differently: its bodies must be `application/json` or `text/csv`
//! (which a cross-site form cannot send), the session cookie is SameSite=Lax, and
//! `middleware::check_origin` refuses unsafe requests from another origin.
use super::AppState;
use crate::error::AppError;
use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

pub const CSRF_COOKIE: &str = "renke_csrf";

/// The token to put in the page's forms.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Middleware: makes sure the browser holds a CSRF cookie, and exposes its token.
pub async fn issue_cookie(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if !super::middleware::is_page(req.path()) {
        return next.call(req).await;
    }
    let existing = req
        .cookie(CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|t| well_formed(t));
    let fresh = existing.is_none();
    let token = existing.unwrap_or_else(crate::app::accounts::random_token);
    let secure = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.secure_cookies);
    req.extensions_mut().insert(CsrfToken(token.clone()));
    let mut res = next.call(req).await?;
    if fresh {
        let cookie = Cookie::build(CSRF_COOKIE, token)
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Lax)
            .finish();
        res.response_mut().add_cookie(&cookie)?;
    }
    Ok(res)
}

impl FromRequest for CsrfToken {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<CsrfToken>()
                .cloned()
                .ok_or_else(|| AppError::Internal("CSRF middleware not installed".into())),
        )
    }
}

/// A URL-encoded form whose `csrf_token` field matched the cookie.
pub struct CsrfForm<T>(pub T);

/// For forms that carry nothing but the token (logout, open, close).
#[derive(Debug, Deserialize)]
pub struct NoFields {}

#[derive(Deserialize)]
struct TokenField {
    csrf_token: Option<String>,
}

/// Checks a token taken from a form by hand (multipart uploads) against the cookie.
pub fn verify(req: &HttpRequest, sent: Option<&str>) -> Result<(), AppError> {
    let cookie = req.cookie(CSRF_COOKIE).map(|c| c.value().to_owned());
    match (cookie, sent) {
        (Some(c), Some(s)) if well_formed(&c) && bool::from(c.as_bytes().ct_eq(s.as_bytes())) => {
            Ok(())
        }
        _ => Err(expired_form()),
    }
}

pub fn expired_form() -> AppError {
    AppError::Forbidden("页面已过期或来源不明，请刷新页面后重新提交".into())
}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let body = body
                .await
                .map_err(|e| super::error::unreadable_body(&e, "表单"))?;
            let sent = serde_urlencoded::from_bytes::<TokenField>(&body)
                .ok()
                .and_then(|f| f.csrf_token);
            verify(&req, sent.as_deref())?;
            // The form's own type never sees the token (it may refuse unknown fields).
            let fields: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&body).map_err(|e| AppError::Invalid {
                    field: None,
                    message: format!("表单无效：{e}"),
                })?;
            let rest: Vec<_> = fields.iter().filter(|(k, _)| k != "csrf_token").collect();
            let rest =
                serde_urlencoded::to_string(rest).map_err(|e| AppError::Internal(e.to_string()))?;
            serde_urlencoded::from_str::<T>(&rest)
                .map(CsrfForm)
                .map_err(|e| AppError::Invalid {
                    field: None,
                    message: format!("表单无效：{e}"),
                })
        })
    }
}
