//! The one error type: every use case in `app` returns it, `web::error` maps each kind to an
//! HTTP status in one place, the command line prints it.
//!
//! Messages are for people (Chinese, naming the field where there is one). Internal causes are
//! kept for the log and answered with an opaque message.
use crate::domain::{
    account::AccountError, quota::PlanError, strata::StrataError, survey::SurveyError,
};
use crate::store::DbFailure;
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
    #[error("网址太长")]
    UriTooLong,
    /// The server's disk is full (a spooled upload could not be written).
    #[error("服务器存储空间不足，请稍后再试或联系管理员")]
    InsufficientStorage,
    /// The database cannot be reached or written for now: the request may be retried.
    #[error("数据库暂时不可用，请稍后再试")]
    Unavailable { failure: DbFailure, cause: String },
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
    /// The database file itself failed (read-only, full, I/O): its pool should look at its
    /// connections for a while.
    pub fn failed_at_file(&self) -> bool {
        matches!(
            self,
            AppError::Unavailable {
                failure: DbFailure::File,
                ..
            }
        )
    }

    pub fn internal(cause: impl std::fmt::Display) -> AppError {
        AppError::Internal(cause.to_string())
    }

    /// The message with its cause, for the log and the command line (HTTP answers only show
    /// the message).
    pub fn with_cause(&self) -> String {
        match self {
            AppError::Internal(cause) | AppError::Unavailable { cause, .. } => {
                format!("{self}: {cause}")
            }
            other => other.to_string(),
        }
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        // A database that cannot be reached or written (PostgreSQL down, an SQLite file gone
        // read-only or out of space) is a 503 the client may retry, not a bug.
        let failure = DbFailure::of(&e);
        if failure.is_transient() {
            AppError::Unavailable {
                failure,
                cause: e.to_string(),
            }
        } else {
            AppError::Internal(e.to_string())
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_or_unwritable_database_is_unavailable_not_a_bug() {
        let full = AppError::from(sea_orm::DbErr::Custom("database or disk is full".into()));
        assert!(matches!(full, AppError::Unavailable { .. }) && full.failed_at_file());
        assert_eq!(full.to_string(), "数据库暂时不可用，请稍后再试");
        let ro = sea_orm::DbErr::Custom("attempt to write a readonly database".into());
        assert!(AppError::from(ro).failed_at_file());
        let bug = sea_orm::DbErr::Custom("no such column".into());
        assert!(matches!(AppError::from(bug), AppError::Internal(_)));
    }
}
