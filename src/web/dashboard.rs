//! The bureau's dashboard: one page per survey, live through Server-Sent Events.
use super::AppState;
use super::admin::{page, render};
use super::auth::CurrentUser;
use super::charts;
use super::csrf::CsrfToken;
use super::sampling::DrawView;
use super::tally::TallyQuery;
use super::view::SurveyView;
use crate::app::{self, surveys};
use crate::error::AppError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentEncoding};
use actix_web::{HttpResponse, web};
use std::time::Duration;

type State = web::Data<AppState>;

pub async fn page_show(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    query: web::Query<TallyQuery>,
) -> Result<HttpResponse, AppError> {
    let (survey, t) = app::tally::view(
        &state.app,
        &user.actor(),
        path.into_inner(),
        query.exclude(),
    )
    .await?;
    let mut ctx = page(Some(&user), &csrf);
    ctx.insert("survey", &SurveyView::new(&survey));
    ctx.insert(
        "charts",
        &serde_json::json!({
            "groups": charts::rates("各群体认可率（95% 置信区间）", &t.groups, t.target),
            "dimensions": charts::rates("各维度认可率", &t.dimensions, t.target),
            "weakest": charts::items("认可率最低的十道题", &t.weakest_items, t.target),
            "group_progress": charts::progress("各群体回收进度（已答 / 计划）", &t.group_progress),
            "area_progress": charts::progress("各乡镇回收进度", &t.area_progress),
            "over_time": charts::over_time(&t.over_time, t.target),
        }),
    );
    ctx.insert("t", &t);
    render(&state, StatusCode::OK, "admin/dashboard.html", &ctx)
}

/// Pushes the headline numbers whenever they change, at most once a second; a comment every
/// 15 s keeps proxies from closing the stream. Every server computes from the database.
pub async fn events(
    state: State,
    user: CurrentUser,
    path: web::Path<i32>,
    query: web::Query<TallyQuery>,
) -> Result<HttpResponse, AppError> {
    let survey = surveys::visible(&state.app, &user.actor(), path.into_inner()).await?;
    let exclude = query.exclude();
    let user = user.0;
    let stream = futures_util::stream::unfold(
        (state, user, survey.id, None, 0u64),
        move |(state, user, survey, last, tick)| async move {
            if tick > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let view =
                app::tally::view(&state.app, &app::Actor::User(&user), survey, exclude).await;
            let chunk = match view {
                Ok((_, v)) => {
                    let summary = v.summary();
                    if last.as_ref() != Some(&summary) {
                        let json = serde_json::to_string(&summary).unwrap_or_default();
                        let out = format!("data: {json}\n\n");
                        return Some((
                            Ok::<_, actix_web::Error>(web::Bytes::from(out)),
                            (state, user, survey, Some(summary), tick + 1),
                        ));
                    }
                    if tick % 15 == 0 {
                        ": keep-alive\n\n"
                    } else {
                        ""
                    }
                }
                Err(e) => {
                    state.app.noticed(&e);
                    tracing::warn!(error = %e, "dashboard event failed");
                    ": retry\n\n"
                }
            };
            Some((
                Ok(web::Bytes::from_static(chunk.as_bytes())),
                (state, user, survey, last, tick + 1),
            ))
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(ContentEncoding::Identity)
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

/// The printable report (A4): method, results, charts and the items to act on.
pub async fn report(
    state: State,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<i32>,
    query: web::Query<TallyQuery>,
) -> Result<HttpResponse, AppError> {
    let r = app::tally::report(
        &state.app,
        &user.actor(),
        path.into_inner(),
        query.exclude(),
    )
    .await?;
    let t = &r.tally;
    let mut ctx = page(Some(&user), &csrf);
    ctx.insert("survey", &SurveyView::with_plan(&r.survey, &r.plan.plan));
    ctx.insert("county", &r.county);
    ctx.insert("area_count", &r.plan.geo.areas.len());
    ctx.insert("school_count", &r.plan.geo.schools.len());
    ctx.insert("draw", &r.draw.as_ref().map(DrawView::from));
    ctx.insert(
        "charts",
        &serde_json::json!({
            "groups": charts::rates("各群体认可率（95% 置信区间）", &t.groups, t.target),
            "dimensions": charts::rates("各维度认可率", &t.dimensions, t.target),
            "weakest": charts::items("认可率最低的十道题", &t.weakest_items, t.target),
            "over_time": charts::over_time(&t.over_time, t.target),
        }),
    );
    let invited: i64 = t.invitations.iter().map(|r| r.invited).sum();
    let answered: i64 = t.invitations.iter().map(|r| r.answered).sum();
    ctx.insert("invited", &invited);
    ctx.insert("method", &crate::domain::estimate::METHOD);
    ctx.insert("answered", &answered);
    ctx.insert("generated_at", &chrono::Utc::now());
    ctx.insert("t", t);
    render(&state, StatusCode::OK, "admin/report.html", &ctx)
}
