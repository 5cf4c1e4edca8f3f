//! A school's own results: JSON and the page a principal's account lands on.
use super::AppState;
use super::admin::{page, render};
use super::auth::CurrentUser;
use super::csrf::CsrfToken;
use super::view::SurveyView;
use crate::app::school_results::{SchoolResults, school_results};
use crate::domain::disclosure::K;
use crate::error::AppError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

type State = web::Data<AppState>;

/// `?school=…`: which school (county users; a school user always reads its own).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SchoolQuery {
    school: Option<String>,
}

fn body(r: &SchoolResults) -> Value {
    let t = &r.tally;
    let shown = t.respondents >= K;
    json!({
        "survey_id": r.survey.id,
        "school": r.school,
        "k": K,
        "suppressed": !shown,
        "respondents": shown.then_some(t.respondents),
        "rate": if shown { t.rate } else { None },
        "interval": if shown { t.interval } else { None },
        "target": t.target,
        "groups": if shown { json!(t.groups) } else { json!([]) },
        "dimensions": if shown { json!(t.dimensions) } else { json!([]) },
        "bands": if shown { json!(t.bands) } else { json!([]) },
        "items": if shown { json!(t.items) } else { json!([]) },
        "weakest_items": if shown { json!(t.weakest_items) } else { json!([]) },
    })
}

/// `GET /api/v1/surveys/{id}/school-results`.
pub async fn api_show(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    query: web::Query<SchoolQuery>,
) -> Result<HttpResponse, AppError> {
    let r = school_results(
        &state.app,
        &user.actor(),
        path.into_inner(),
        query.school.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(body(&r)))
}

/// The school's results page.
pub async fn page_show(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    query: web::Query<SchoolQuery>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let actor = user.actor();
    let mut ctx = page(Some(&user), &csrf);
    match school_results(&state.app, &actor, id, query.school.as_deref()).await {
        Ok(r) => {
            ctx.insert("survey", &SurveyView::new(&r.survey));
            ctx.insert("r", &body(&r));
            render(&state, StatusCode::OK, "admin/school_results.html", &ctx)
        }
        // Not yet ended: say so on a page of its own, not as an error page.
        Err(AppError::Conflict(message)) => {
            ctx.insert("waiting", &message);
            ctx.insert("survey_id", &id);
            render(
                &state,
                StatusCode::CONFLICT,
                "admin/school_results.html",
                &ctx,
            )
        }
        Err(e) => Err(e),
    }
}
