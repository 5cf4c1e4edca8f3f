//! The one error type of the web layer, and how each kind maps to an HTTP status.
//!
//! Handlers return `Result<_, AppError>`. The response is JSON (`{"error", "field"}`); on HTML
//! pages `web::middleware::render_error_pages` turns it into a page with the same status.
//! Internal causes are logged in full and answered with an opaque message.
use crate::domain::{
    account::AccountError, quota::PlanError, strata::StrataError, survey::SurveyError,
};
use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input: the field it concerns (as the interface names it) and why.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    #[error("请先登录")]
    Unauthenticated,
    #[error("用户名或密码错误")]
    BadCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("未找到该页面或记录")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// Well-formed input that cannot be accepted, with the details (such as every bad row).
    #[error("{message}")]
    Unprocessable {
        field: Option<String>,
        message: String,
        details: serde_json::Value,
    },
    #[error("尝试次数过多，请稍后再试")]
    TooManyRequests,
    #[error("提交的内容太大")]
    PayloadTooLarge,
    #[error("请求超时，请检查网络后重试")]
    RequestTimeout,
    #[error("数据库暂时不可用，请稍后再试")]
    Unavailable(#[source] sea_orm::DbErr),
    #[error("服务器内部错误")]
    Internal(String),
}

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub details: Option<&'a serde_json::Value>,
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn forbidden() -> Self {
        AppError::Forbidden("没有执行此操作的权限".into())
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::Invalid { field, .. } | AppError::Unprocessable { field, .. } => {
                field.as_deref()
            }
            _ => None,
        }
    }
}

impl AppError {
    /// An error reading a request body: too large (413) or otherwise unreadable (400).
    pub fn body(e: &actix_web::Error, what: &str) -> AppError {
        use actix_web::error::PayloadError;
        match e.as_error::<PayloadError>() {
            Some(PayloadError::Overflow) => AppError::PayloadTooLarge,
            _ => AppError::Invalid {
                field: None,
                message: format!("无法读取{what}：{e}"),
            },
        }
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        use sea_orm::DbErr;
        // A database that cannot be reached or written (PostgreSQL down, an SQLite file gone
        // read-only or out of space) is a 503 the client may retry, not a bug.
        let text = e.to_string();
        let file_failure = ["readonly database", "disk is full", "disk I/O error"]
            .iter()
            .any(|m| text.contains(m));
        if file_failure {
            crate::store::file_failure_seen();
        }
        let unwritable = file_failure || text.contains("database is locked");
        match e {
            DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => AppError::Unavailable(e),
            _ if unwritable => AppError::Unavailable(e),
            other => AppError::Internal(other.to_string()),
        }
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

macro_rules! invalid_from {
    ($($t:ty),*) => {$(
        impl From<$t> for AppError {
            fn from(e: $t) -> Self {
                AppError::invalid(e.field, e.message)
            }
        }
    )*};
}
invalid_from!(PlanError, SurveyError, AccountError, StrataError);

impl From<validator::ValidationErrors> for AppError {
    fn from(errors: validator::ValidationErrors) -> Self {
        // Report the first field in name order so the answer is stable.
        let mut fields: Vec<_> = errors.field_errors().into_iter().collect();
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        match fields.first() {
            Some((field, errs)) => {
                let message = errs
                    .first()
                    .and_then(|e| e.message.as_ref())
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| format!("字段 {field} 的值无效"));
                AppError::invalid(field.to_string(), message)
            }
            None => AppError::Invalid {
                field: None,
                message: "输入无效".into(),
            },
        }
    }
}

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
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AppError::Internal(cause) => tracing::error!(%cause, "internal error"),
            AppError::Unavailable(cause) => tracing::warn!(%cause, "database unavailable"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_or_unwritable_database_is_a_503() {
        let full = sea_orm::DbErr::Custom("database or disk is full".into());
        assert_eq!(
            AppError::from(full).status_code(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let ro = sea_orm::DbErr::Custom("attempt to write a readonly database".into());
        assert_eq!(
            AppError::from(ro).status_code(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let bug = sea_orm::DbErr::Custom("no such column".into());
        assert_eq!(
            AppError::from(bug).status_code(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let e = AppError::from(sea_orm::DbErr::Custom("database or disk is full".into()));
        assert_eq!(e.to_string(), "数据库暂时不可用，请稍后再试");
    }
}
