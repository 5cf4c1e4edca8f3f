//! How each kind of [`AppError`] is answered over HTTP: one status per kind, a JSON body
//! (`{"error", "field"}`), which `middleware::render_error_pages` turns into a page on HTML
//! routes. Internal causes are logged in full and answered with an opaque message.
use crate::error::{AppError, ErrorBody};
use actix_web::{HttpResponse, ResponseError, http::StatusCode};

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthenticated | AppError::BadCredentials => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::UriTooLong => StatusCode::URI_TOO_LONG,
            AppError::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            AppError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AppError::Internal(cause) => tracing::error!(%cause, "internal error"),
            AppError::Unavailable { cause, .. } => tracing::warn!(%cause, "database unavailable"),
            _ => {}
        }
        HttpResponse::build(self.status_code()).json(ErrorBody {
            error: self.to_string(),
            field: self.field(),
            details: match self {
                AppError::Unprocessable { details, .. } => Some(details),
                _ => None,
            },
        })
    }
}

/// An error reading a request body: too large (413) or otherwise unreadable (400).
pub fn unreadable_body(e: &actix_web::Error, what: &str) -> AppError {
    use actix_web::error::PayloadError;
    match e.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => AppError::PayloadTooLarge,
        _ => AppError::Invalid {
            field: None,
            message: format!("无法读取{what}：{e}"),
        },
    }
}

impl From<tera::Error> for AppError {
    fn from(e: tera::Error) -> Self {
        // Tera's Display hides the cause; the chain says which variable or filter failed.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        AppError::Internal(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_status() {
        for (e, status) in [
            (AppError::NotFound, StatusCode::NOT_FOUND),
            (AppError::forbidden(), StatusCode::FORBIDDEN),
            (AppError::invalid("x", "y"), StatusCode::BAD_REQUEST),
            (
                AppError::Internal("no such column".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ] {
            assert_eq!(e.status_code(), status);
        }
    }
}
