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
use actix_web::{HttpRequest, HttpResponse, web};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

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

/// How many dashboard streams one user may hold open at once (tabs, a wall screen, a phone).
pub const STREAMS_PER_USER: usize = 6;
/// How often a stream checks that its session still stands (in seconds of heartbeat).
const SESSION_CHECK_EVERY: u64 = 10;

type Summary = Option<Arc<str>>;

/// The live feeds: per survey (and whether flagged answers are left out), one task computes the
/// headline numbers once a second while anyone watches, and every stream reads its latest; and
/// how many streams each user holds.
#[derive(Default)]
pub struct Feeds {
    feeds: Mutex<HashMap<(i32, bool), watch::Sender<Summary>>>,
    per_user: Mutex<HashMap<i32, usize>>,
}

/// A user's place among their streams, given back when the stream ends.
struct Slot {
    state: State,
    user: i32,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_user = self
            .state
            .feeds
            .per_user
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per_user.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_user.remove(&self.user);
            }
        }
    }
}

impl Feeds {
    fn take_slot(state: &State, user: i32) -> Result<Slot, AppError> {
        let mut per_user = state
            .feeds
            .per_user
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let n = per_user.entry(user).or_default();
        if *n >= STREAMS_PER_USER {
            return Err(AppError::TooManyRequests);
        }
        *n += 1;
        Ok(Slot {
            state: state.clone(),
            user,
        })
    }

    /// A receiver of the survey's feed, starting its task if none runs.
    fn subscribe(state: &State, survey: i32, exclude: bool) -> watch::Receiver<Summary> {
        let mut feeds = state.feeds.feeds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = feeds.get(&(survey, exclude)) {
            return tx.subscribe();
        }
        let (tx, rx) = watch::channel(None);
        feeds.insert((survey, exclude), tx.clone());
        let state = state.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                {
                    // Under the lock a new stream cannot subscribe to a feed about to end.
                    let mut feeds = state.feeds.feeds.lock().unwrap_or_else(|e| e.into_inner());
                    if tx.receiver_count() == 0 {
                        feeds.remove(&(survey, exclude));
                        return;
                    }
                }
                let actor = app::Actor::Operator("dashboard");
                match app::tally::view(&state.app, &actor, survey, exclude).await {
                    Ok((_, v)) => {
                        let json: Arc<str> = serde_json::to_string(&v.summary())
                            .unwrap_or_default()
                            .into();
                        tx.send_if_modified(|current| {
                            if current.as_deref() == Some(&*json) {
                                false
                            } else {
                                *current = Some(json);
                                true
                            }
                        });
                    }
                    Err(e) => {
                        state.app.noticed(&e);
                        tracing::warn!(error = %e, "dashboard feed failed");
                    }
                }
            }
        });
        rx
    }
}

/// What a stream carries from one moment to the next.
struct Watcher {
    state: State,
    rx: watch::Receiver<Summary>,
    token: Option<String>,
    beats: u64,
    first: bool,
    _slot: Slot,
}

/// Pushes the headline numbers whenever they change. The numbers are computed once a second
/// per survey, whoever watches; each stream sends a heartbeat every second (a client gone is
/// noticed at the next write, not 15 s later), re-checks its session every few seconds (a
/// logout ends it), and a user holds at most [`STREAMS_PER_USER`] at once.
pub async fn events(
    state: State,
    req: HttpRequest,
    user: CurrentUser,
    path: web::Path<i32>,
    query: web::Query<TallyQuery>,
) -> Result<HttpResponse, AppError> {
    let survey = surveys::visible(&state.app, &user.actor(), path.into_inner()).await?;
    let slot = Feeds::take_slot(&state, user.id)?;
    let rx = Feeds::subscribe(&state, survey.id, query.exclude());
    let watcher = Watcher {
        token: super::auth::session_token(&state, &req),
        state,
        rx,
        beats: 0,
        first: true,
        _slot: slot,
    };
    let stream = futures_util::stream::unfold(watcher, |mut w| async move {
        let changed = if std::mem::take(&mut w.first) && w.rx.borrow().is_some() {
            true
        } else {
            match tokio::time::timeout(Duration::from_secs(1), w.rx.changed()).await {
                Ok(Ok(())) => true,
                Ok(Err(_)) => return None,
                Err(_) => false,
            }
        };
        if changed {
            let data = w.rx.borrow_and_update().clone();
            if let Some(json) = data {
                let out = format!("data: {json}\n\n");
                return Some((Ok::<_, actix_web::Error>(web::Bytes::from(out)), w));
            }
        }
        w.beats += 1;
        if w.beats % SESSION_CHECK_EVERY == 0 {
            let live = match &w.token {
                Some(t) => app::accounts::session_user(&w.state.app, t).await,
                None => Ok(None),
            };
            if !matches!(live, Ok(Some(_))) {
                return None;
            }
        }
        Some((Ok(web::Bytes::from_static(b":\n\n")), w))
    });
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
    ctx.insert(
        "themes",
        &app::comments::themes(&state.app, &r.survey, 10).await?,
    );
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
    ctx.insert(
        "audit_anchor",
        &r.audit_anchor
            .as_ref()
            .map(|(n, head)| serde_json::json!({"entries": n, "head": head})),
    );
    ctx.insert("t", t);
    render(&state, StatusCode::OK, "admin/report.html", &ctx)
}
