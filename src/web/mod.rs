//! HTTP: the route table, shared state, extractors and handlers.
pub mod admin;
pub mod api;
pub mod auth;
pub mod charts;
pub mod csrf;
pub mod dashboard;
pub mod exports;
pub mod input;
pub mod live;
pub mod middleware;
pub mod qr;
pub mod questionnaires;
pub mod readiness;
pub mod respond;
pub mod sampling;
pub mod sampling_pages;
pub mod tally;
pub mod templates;
pub mod view;

use actix_web::{HttpRequest, HttpResponse, cookie::Key, web};
use sea_orm::DatabaseConnection;
use std::net::IpAddr;

/// What every handler may need, built once at start-up and shared by every worker.
pub struct AppState {
    pub db: DatabaseConnection,
    pub tera: tera::Tera,
    /// Signs session cookies (derived from the secret key).
    pub cookie_key: Key,
    pub secure_cookies: bool,
    pub trust_proxy: bool,
    pub login_limiter: auth::LoginLimiter,
    /// Signs invitation tokens.
    pub token_key: crate::domain::invitation::TokenKey,
    /// Where respondents reach Renke; `None`: the request's own scheme and host.
    pub public_url: Option<String>,
    /// Limits invalid-token guesses and open-channel submissions per client address.
    pub respondent_limiter: respond::RespondentLimiter,
    /// Signs the time a questionnaire page was served (for completion times).
    pub form_key: crate::domain::invitation::TokenKey,
    pub questionnaires: questionnaires::QuestionnaireCache,
    /// What respondents' requests need of a survey, kept for a second.
    pub surveys: live::SurveyCache,
    /// Invitations whose questionnaire was just shown (their submission skips a read).
    pub shown: live::ShownInvitations,
    /// Stores submissions in group-committed batches.
    pub writer: crate::store::submissions::Writer,
    /// The thanks page, its draft key filled per request.
    pub thanks_page: templates::Spliced,
    /// How long a request may take to arrive and be answered.
    pub request_timeout: std::time::Duration,
}

impl AppState {
    /// The absolute URL of a path as respondents should open it.
    pub fn public_link(&self, req: &HttpRequest, path: &str) -> String {
        match &self.public_url {
            Some(base) => format!("{base}{path}"),
            None => {
                let info = req.connection_info();
                format!("{}://{}{}", info.scheme(), info.host(), path)
            }
        }
    }

    /// The client's address: the socket peer, or the proxy's X-Forwarded-For when trusted.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        if self.trust_proxy
            && let Some(ip) = req
                .connection_info()
                .realip_remote_addr()
                .and_then(|a| a.parse::<IpAddr>().ok())
        {
            return Some(ip);
        }
        req.peer_addr().map(|a| a.ip())
    }
}

/// The route table: every path Renke serves, in one place.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(api::healthz))
        .route("/static/renke.css", web::get().to(templates::stylesheet))
        .service(
            web::scope("/api/v1")
                .route("/quota", web::get().to(api::quota))
                .route("/login", web::post().to(api::login))
                .route("/logout", web::post().to(api::logout))
                .route("/me", web::get().to(api::me))
                .route("/counties", web::get().to(api::list_counties))
                .route("/counties", web::post().to(api::create_county))
                .route("/users", web::get().to(api::list_users))
                .route("/users", web::post().to(api::create_user))
                .route("/surveys", web::get().to(api::list_surveys))
                .route("/surveys", web::post().to(api::create_survey))
                .route("/surveys/{id}", web::get().to(api::show_survey))
                .route("/surveys/{id}", web::put().to(api::update_survey))
                .route("/surveys/{id}/plan", web::get().to(sampling::api_plan))
                .route(
                    "/surveys/{id}/areas",
                    web::get().to(sampling::api_get_areas),
                )
                .route(
                    "/surveys/{id}/areas",
                    web::put().to(sampling::api_put_areas),
                )
                .route(
                    "/surveys/{id}/schools",
                    web::get().to(sampling::api_get_schools),
                )
                .route(
                    "/surveys/{id}/schools",
                    web::put().to(sampling::api_put_schools),
                )
                .service(
                    web::resource("/surveys/{id}/frames/{group}")
                        .app_data(web::PayloadConfig::new(sampling_pages::MAX_UPLOAD_BYTES))
                        .route(web::post().to(sampling::api_upload_frame))
                        .route(web::get().to(sampling::api_get_frame)),
                )
                .route("/surveys/{id}/draws", web::post().to(sampling::api_draw))
                .route(
                    "/surveys/{id}/draws/{draw}",
                    web::get().to(sampling::api_get_draw),
                )
                .route(
                    "/surveys/{id}/draws/{draw}/verify",
                    web::get().to(sampling::api_verify_draw),
                )
                .route(
                    "/surveys/{id}/invitations.csv",
                    web::get().to(sampling::api_invitations_csv),
                )
                .route(
                    "/surveys/{id}/invitations/{invitation}/{format}",
                    web::get().to(sampling::api_invitation_qr),
                )
                .route(
                    "/surveys/{id}/reserves/release",
                    web::post().to(sampling::api_release),
                )
                .route(
                    "/surveys/{id}/channels",
                    web::post().to(sampling::api_create_channel),
                )
                .route(
                    "/surveys/{id}/channels",
                    web::get().to(sampling::api_list_channels),
                )
                .route(
                    "/surveys/{id}/channels/{code}/{format}",
                    web::get().to(sampling::api_channel_qr),
                )
                .route("/surveys/{id}/purge", web::post().to(sampling::api_purge))
                .route("/audit", web::get().to(api::audit_trail))
                .route(
                    "/counties/{county}/readiness",
                    web::get().to(readiness::api_view),
                )
                .route(
                    "/counties/{county}/readiness.xlsx",
                    web::get().to(readiness::xlsx),
                )
                .route(
                    "/counties/{county}/readiness/template.csv",
                    web::get().to(readiness::template),
                )
                .service(
                    web::resource("/counties/{county}/readiness/schools")
                        .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                        .route(web::post().to(readiness::api_upload)),
                )
                .route(
                    "/counties/{county}/readiness/checklist/{code}",
                    web::put().to(readiness::api_save_check),
                )
                .route("/surveys/{id}/tally", web::get().to(tally::api_tally))
                .route(
                    "/surveys/{id}/tally.xlsx",
                    web::get().to(exports::tally_xlsx),
                )
                .route(
                    "/surveys/{id}/responses.csv",
                    web::get().to(exports::responses_csv),
                )
                .route(
                    "/surveys/{id}/responses.xlsx",
                    web::get().to(exports::responses_xlsx),
                )
                .route(
                    "/surveys/{id}/questionnaires",
                    web::get().to(questionnaires::api_list),
                )
                .service(
                    web::resource("/surveys/{id}/questionnaires")
                        .app_data(web::PayloadConfig::new(256 * 1024))
                        .route(web::post().to(questionnaires::api_upload)),
                )
                .route(
                    "/surveys/{id}/questionnaires/{file}",
                    web::get().to(questionnaires::api_definition),
                )
                .route("/surveys/{id}/open", web::post().to(api::open_survey))
                .route("/surveys/{id}/close", web::post().to(api::close_survey)),
        )
        .route("/", web::get().to(admin::root))
        .route("/login", web::get().to(admin::login_page))
        .route("/login", web::post().to(admin::login_submit))
        .route("/logout", web::post().to(admin::logout))
        .service(
            web::scope("/admin")
                .route("", web::get().to(admin::home))
                .route("/counties", web::get().to(admin::counties))
                .route("/counties", web::post().to(admin::create_county))
                .route("/users", web::get().to(admin::users))
                .route("/users", web::post().to(admin::create_user))
                .route("/surveys/new", web::get().to(admin::new_survey))
                .route("/surveys", web::post().to(admin::create_survey))
                .route("/surveys/{id}", web::get().to(admin::show_survey))
                .route("/surveys/{id}/edit", web::get().to(admin::edit_survey))
                .route("/surveys/{id}/edit", web::post().to(admin::update_survey))
                .route("/surveys/{id}/open", web::post().to(admin::open_survey))
                .route("/surveys/{id}/close", web::post().to(admin::close_survey))
                .route(
                    "/surveys/{id}/sample",
                    web::get().to(sampling_pages::sample),
                )
                .route(
                    "/surveys/{id}/areas",
                    web::post().to(sampling_pages::save_areas),
                )
                .route(
                    "/surveys/{id}/schools",
                    web::post().to(sampling_pages::save_schools),
                )
                .route(
                    "/surveys/{id}/frames/{group}",
                    web::post().to(sampling_pages::upload_frame),
                )
                .route("/surveys/{id}/draws", web::post().to(sampling_pages::draw))
                .route(
                    "/surveys/{id}/draws/{draw}",
                    web::get().to(sampling_pages::certificate),
                )
                .route(
                    "/surveys/{id}/invitations",
                    web::get().to(sampling_pages::invitations),
                )
                .route(
                    "/surveys/{id}/invitations/print",
                    web::get().to(sampling_pages::print_sheet),
                )
                .route(
                    "/surveys/{id}/channels",
                    web::post().to(sampling_pages::create_channel),
                )
                .route(
                    "/surveys/{id}/reserves",
                    web::post().to(sampling_pages::release),
                )
                .route("/surveys/{id}/purge", web::post().to(sampling_pages::purge))
                .route(
                    "/counties/{county}/readiness",
                    web::get().to(readiness::page_show),
                )
                .route(
                    "/counties/{county}/readiness/schools",
                    web::post().to(readiness::page_upload),
                )
                .route(
                    "/counties/{county}/readiness/checklist",
                    web::post().to(readiness::page_save_check),
                )
                .route(
                    "/surveys/{id}/dashboard",
                    web::get().to(dashboard::page_show),
                )
                .route(
                    "/surveys/{id}/dashboard/events",
                    web::get().to(dashboard::events),
                )
                .route("/surveys/{id}/report", web::get().to(dashboard::report))
                .route(
                    "/surveys/{id}/questionnaires",
                    web::get().to(questionnaires::page_show),
                )
                .route(
                    "/surveys/{id}/questionnaires",
                    web::post().to(questionnaires::page_upload),
                ),
        )
        .route("/static/respond.js", web::get().to(templates::script))
        .route(
            "/static/dashboard.js",
            web::get().to(templates::dashboard_script),
        )
        .service(
            // A questionnaire's answers are a few kilobytes.
            web::resource("/s/{token}")
                .app_data(web::PayloadConfig::new(respond::MAX_FORM_BYTES))
                .route(web::get().to(respond::invitation_page))
                .route(web::post().to(respond::invitation_submit)),
        )
        .service(
            web::resource("/o/{code}")
                .app_data(web::PayloadConfig::new(respond::MAX_FORM_BYTES))
                .route(web::get().to(respond::channel_page))
                .route(web::post().to(respond::channel_submit)),
        );
}

/// Records an action in the audit trail. The action has happened: a failure to record it is
/// logged loudly but does not undo it.
pub async fn audit(state: &AppState, actor: &str, action: &str, subject: &str, detail: &str) {
    if let Err(e) = crate::store::audit::append(&state.db, actor, action, subject, detail).await {
        tracing::error!(error = %e, action, subject, "could not append to the audit trail");
    }
}

/// Answer for a path no route serves.
pub async fn not_found() -> Result<HttpResponse, crate::error::AppError> {
    Err(crate::error::AppError::NotFound)
}

/// A 303 redirect (after a form post, or to the login page).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}
