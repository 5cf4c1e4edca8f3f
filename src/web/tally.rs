//! The live tally as JSON: the headline rate, its interval and status, and every breakdown,
//! from the maintained aggregates (never from the responses) — the same for every server.
use super::AppState;
use super::auth::CurrentUser;
use crate::app;
use crate::error::AppError;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

type State = web::Data<AppState>;

#[derive(Deserialize)]
pub struct TallyQuery {
    #[serde(default)]
    pub exclude_flagged: Option<String>,
}

impl TallyQuery {
    pub fn exclude(&self) -> bool {
        matches!(
            self.exclude_flagged.as_deref(),
            Some("1" | "true" | "yes" | "on")
        )
    }
}

pub async fn api_tally(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    query: web::Query<TallyQuery>,
) -> Result<HttpResponse, AppError> {
    let (_, t) = app::tally::view(
        &state.app,
        &user.actor(),
        path.into_inner(),
        query.exclude(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(t))
}
