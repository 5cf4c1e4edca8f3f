//! HTTP: the route table, shared state, extractors and handlers. A handler extracts what the
//! request carries, calls one use case of `app`, and renders its answer (JSON, a page, a file).
pub mod admin;
pub mod api;
pub mod auth;
pub mod charts;
pub mod comments;
pub mod csrf;
pub mod dashboard;
pub mod error;
pub mod exports;
pub mod fieldwork;
pub mod input;
pub mod integrity;
pub mod middleware;
pub mod notice;
pub mod poster;
pub mod progress;
pub mod qr;
pub mod questionnaires;
pub mod readiness;
pub mod respond;
pub mod sampling;
pub mod sampling_pages;
pub mod school_results;
pub mod spliced;
pub mod tally;
pub mod templates;
pub mod view;

use crate::app;
use crate::config::Settings;
use actix_web::{HttpRequest, HttpResponse, cookie::Key, guard, web};
use std::net::IpAddr;

/// What every handler may need, built once at start-up and shared by every worker.
pub struct AppState {
    /// The use cases and what they share (the database, the writer, their caches).
    pub app: app::Context,
    pub tera: tera::Tera,
    /// Signs session cookies (derived from the secret key).
    pub cookie_key: Key,
    pub secure_cookies: bool,
    pub trust_proxy: bool,
    pub login_limiter: auth::LoginLimiter,
    /// The dashboards' live feeds: one computation per survey per second, shared by every
    /// stream watching it.
    pub feeds: dashboard::Feeds,
    /// Where respondents reach Renke; `None`: the request's own scheme and host.
    pub public_url: Option<String>,
    /// Limits invalid-token guesses and open-channel submissions per client address.
    pub respondent_limiter: respond::RespondentLimiter,
    /// Roster uploads received at once (each spooled to disk as it arrives); others wait.
    pub upload_slots: tokio::sync::Semaphore,
    /// Blank questionnaire pages, rendered once per survey, version and group.
    pub forms: respond::BlankForms,
    /// The thanks page, its draft key filled per request.
    pub thanks_page: spliced::Spliced,
    /// How long a request may take to arrive and be answered.
    pub request_timeout: std::time::Duration,
}

impl AppState {
    pub fn new(settings: &Settings, app: app::Context) -> Result<AppState, tera::Error> {
        let tera = templates::load()?;
        let thanks_page = spliced::Spliced::render(
            &tera,
            "respond/thanks.html",
            tera::Context::new(),
            &["draft_key"],
        )?;
        Ok(AppState {
            app,
            thanks_page,
            tera,
            request_timeout: settings.request_timeout,
            cookie_key: Key::derive_from(settings.secret_key.expose()),
            secure_cookies: settings.secure_cookies,
            trust_proxy: settings.trust_proxy,
            login_limiter: auth::LoginLimiter::default(),
            feeds: dashboard::Feeds::default(),
            public_url: settings.public_url.clone(),
            respondent_limiter: respond::RespondentLimiter::default(),
            upload_slots: tokio::sync::Semaphore::new(4),
            forms: respond::BlankForms::new(),
        })
    }

    /// The absolute URL of a path as respondents should open it.
    pub fn public_link(&self, req: &HttpRequest, path: &str) -> String {
        match &self.public_url {
            Some(base) => format!("{base}{path}"),
            None => format!("{}{path}", self.request_origin(req)),
        }
    }

    /// The scheme and host the request came to. `Forwarded` and `X-Forwarded-Host`/`-Proto`
    /// count only behind a proxy Renke is told to trust; otherwise the request's own Host (Renke
    /// itself speaks plain HTTP). A host with anything but name characters is not echoed.
    fn request_origin(&self, req: &HttpRequest) -> String {
        let (scheme, host) = if self.trust_proxy {
            let info = req.connection_info();
            (info.scheme().to_owned(), info.host().to_owned())
        } else {
            let host = req
                .headers()
                .get(actix_web::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
                .or_else(|| req.uri().authority().map(|a| a.to_string()))
                .unwrap_or_default();
            ("http".to_owned(), host)
        };
        let plain = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b));
        let host = if plain { host } else { "localhost".to_owned() };
        let scheme = if scheme == "https" { "https" } else { "http" };
        format!("{scheme}://{host}")
    }

    /// Where respondents' links will point, for the opening checklist.
    pub fn link_address(&self, req: &HttpRequest) -> crate::domain::opening::LinkAddress {
        use crate::domain::opening::LinkAddress;
        match &self.public_url {
            Some(base) => LinkAddress::Configured(base.clone()),
            None => LinkAddress::FromRequest(self.public_link(req, "")),
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

/// Who may reach a route. Every route of the table says it, and the test suite's authorisation
/// matrix checks every route against it as every role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone; never a 5xx.
    Public,
    /// Any logged-in user (API: anonymous gets 401; pages: the login page).
    User,
    /// A user of the survey's (or county's) county, viewers included; another county's user
    /// gets 404.
    CountyRead,
    /// An organiser of the survey's (or county's) county: viewers 403, other counties 404.
    CountyOrganize,
    /// Platform admins only.
    Admin,
    /// Any organiser (of their own county) or admin; viewers 403.
    Organizer,
    /// A county user (as `CountyRead`) or a school user of the survey's county, who reads its
    /// own school's figures only. (Every other county route answers a school user 403.)
    SchoolRead,
    /// An organiser of the survey's county, or an interviewer of its county assigned groups in
    /// the survey (telephone interviews, paper entry); viewers and school users 403, other
    /// counties 404. (Every other county route answers an interviewer 403.)
    Fieldwork,
}

/// One route of the table.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    /// The largest body it reads, where it is not the default (1 MiB).
    pub body_limit: Option<usize>,
}

/// The largest roster file accepted.
pub const MAX_ROSTER_BYTES: usize = 128 * 1024 * 1024;
/// The largest readiness file accepted.
pub const MAX_READINESS_BYTES: usize = 16 * 1024 * 1024;
/// The largest questionnaire definition accepted.
pub const MAX_DEFINITION_BYTES: usize = 256 * 1024;

macro_rules! route_table {
    ($($method:ident $path:literal $(limit $limit:expr)? => $handler:path, $access:ident;)*) => {
        /// Every path Renke serves, with who may reach it: the route table as data.
        pub const ROUTES: &[Route] = &[$(Route {
            method: route_table!(@name $method),
            path: $path,
            access: Access::$access,
            body_limit: route_table!(@limit $($limit)?),
        }),*];

        /// The route table: every route of [`ROUTES`], in its order. Each route is a resource
        /// guarded by its method, so a path with several methods falls through to the next.
        pub fn routes(cfg: &mut web::ServiceConfig) {
            $(
                let resource = web::resource($path)
                    .guard(route_table!(@guard $method))
                    .route(web::route().to($handler));
                let resource = match route_table!(@limit $($limit)?) {
                    Some(limit) => resource.app_data(web::PayloadConfig::new(limit)),
                    None => resource,
                };
                cfg.service(resource);
            )*
            // Any other method on a path the table serves: 405, saying which it takes.
            let mut paths: Vec<&str> = Vec::new();
            for r in ROUTES {
                if !paths.contains(&r.path) {
                    paths.push(r.path);
                    cfg.service(web::resource(r.path).to(method_not_allowed));
                }
            }
        }
    };
    (@name get) => { "GET" };
    (@name post) => { "POST" };
    (@name put) => { "PUT" };
    (@name delete) => { "DELETE" };
    (@guard get) => { guard::Get() };
    (@guard post) => { guard::Post() };
    (@guard put) => { guard::Put() };
    (@guard delete) => { guard::Delete() };
    (@limit $limit:expr) => { Some($limit) };
    (@limit) => { None };
}

route_table! {
    // Respondents first: the busiest routes are matched first.
    get "/s/{token}" limit respond::MAX_FORM_BYTES => respond::invitation_page, Public;
    post "/s/{token}" limit respond::MAX_FORM_BYTES => respond::invitation_submit, Public;
    get "/o/{code}" limit respond::MAX_FORM_BYTES => respond::channel_page, Public;
    post "/o/{code}" limit respond::MAX_FORM_BYTES => respond::channel_submit, Public;
    get "/healthz" => api::healthz, Public;
    get "/docs/verify_draw.py" => sampling::verifier_script, Public;
    get "/static/renke.css" => templates::stylesheet, Public;
    get "/static/respond.js" => templates::script, Public;
    get "/static/dashboard.js" => templates::dashboard_script, Public;

    get "/api/v1/quota" => api::quota, Public;
    post "/api/v1/login" => api::login, Public;
    post "/api/v1/logout" => api::logout, Public;
    get "/api/v1/me" => api::me, User;
    get "/api/v1/counties" => api::list_counties, User;
    post "/api/v1/counties" => api::create_county, Admin;
    get "/api/v1/users" => api::list_users, Admin;
    post "/api/v1/users" => api::create_user, Admin;
    put "/api/v1/users/{user}" => api::change_user, Admin;
    post "/api/v1/users/{user}/password" => api::reset_password, Admin;
    put "/api/v1/me/password" => api::change_own_password, User;
    get "/api/v1/audit" => api::audit_trail, Admin;
    get "/api/v1/surveys" => api::list_surveys, User;
    post "/api/v1/surveys" => api::create_survey, Organizer;
    get "/api/v1/surveys/{id}" => api::show_survey, CountyRead;
    put "/api/v1/surveys/{id}" => api::update_survey, CountyOrganize;
    delete "/api/v1/surveys/{id}" => api::delete_survey, CountyOrganize;
    post "/api/v1/surveys/{id}/copy" => api::copy_survey, CountyOrganize;
    put "/api/v1/surveys/{id}/archived" => api::archive_survey, CountyOrganize;
    get "/api/v1/surveys/{id}/checklist" => api::checklist, CountyOrganize;
    post "/api/v1/surveys/{id}/open" => api::open_survey, CountyOrganize;
    post "/api/v1/surveys/{id}/close" => api::close_survey, CountyOrganize;
    put "/api/v1/surveys/{id}/window" => api::change_window, CountyOrganize;
    get "/api/v1/surveys/{id}/plan" => sampling::api_plan, CountyRead;
    get "/api/v1/surveys/{id}/areas" => sampling::api_get_areas, CountyRead;
    put "/api/v1/surveys/{id}/areas" => sampling::api_put_areas, CountyOrganize;
    get "/api/v1/surveys/{id}/schools" => sampling::api_get_schools, CountyRead;
    put "/api/v1/surveys/{id}/schools" => sampling::api_put_schools, CountyOrganize;
    post "/api/v1/surveys/{id}/frames/{group}" limit MAX_ROSTER_BYTES => sampling::api_upload_frame, CountyOrganize;
    get "/api/v1/surveys/{id}/frames/{group}" => sampling::api_get_frame, CountyOrganize;
    get "/api/v1/surveys/{id}/frames/{group}/template.csv" => sampling::api_roster_template_csv, CountyOrganize;
    get "/api/v1/surveys/{id}/frames/{group}/template.xlsx" => sampling::api_roster_template_xlsx, CountyOrganize;
    post "/api/v1/surveys/{id}/draws" => sampling::api_draw, CountyOrganize;
    get "/api/v1/surveys/{id}/draws/{draw}" => sampling::api_get_draw, CountyRead;
    delete "/api/v1/surveys/{id}/draws/{draw}" => sampling::api_discard_draw, CountyOrganize;
    get "/api/v1/surveys/{id}/draws/{draw}/verify" => sampling::api_verify_draw, CountyRead;
    get "/api/v1/surveys/{id}/draws/{draw}/lines.csv" => sampling::api_draw_lines, CountyOrganize;
    get "/api/v1/surveys/{id}/invitations.csv" => sampling::api_invitations_csv, CountyOrganize;
    get "/api/v1/surveys/{id}/invitations.xlsx" => sampling::api_invitations_xlsx, CountyOrganize;
    get "/api/v1/surveys/{id}/invitations/{invitation}/{format}" => sampling::api_invitation_qr, CountyOrganize;
    post "/api/v1/surveys/{id}/reserves/release" => sampling::api_release, CountyOrganize;
    post "/api/v1/surveys/{id}/channels" => sampling::api_create_channel, CountyOrganize;
    get "/api/v1/surveys/{id}/channels" => sampling::api_list_channels, CountyRead;
    get "/api/v1/surveys/{id}/channels/{code}/{format}" => sampling::api_channel_qr, CountyRead;
    post "/api/v1/surveys/{id}/channels/{code}/close" => sampling::api_close_channel, CountyOrganize;
    post "/api/v1/surveys/{id}/channels/{code}/reopen" => sampling::api_reopen_channel, CountyOrganize;
    delete "/api/v1/surveys/{id}/channels/{code}" => sampling::api_delete_channel, CountyOrganize;
    post "/api/v1/surveys/{id}/purge" => sampling::api_purge, CountyOrganize;
    get "/api/v1/surveys/{id}/held" => integrity::api_held, CountyOrganize;
    post "/api/v1/surveys/{id}/held/accept" => integrity::api_accept, CountyOrganize;
    post "/api/v1/surveys/{id}/held/reject" => integrity::api_reject, CountyOrganize;
    get "/api/v1/surveys/{id}/integrity" => integrity::api_panel, CountyRead;
    get "/api/v1/surveys/{id}/tally" => tally::api_tally, CountyRead;
    get "/api/v1/surveys/{id}/progress" => progress::api_progress, CountyRead;
    get "/api/v1/surveys/{id}/school-results" => school_results::api_show, SchoolRead;
    get "/api/v1/surveys/{id}/progress.csv" => progress::progress_csv, CountyRead;
    get "/api/v1/surveys/{id}/progress.xlsx" => progress::progress_xlsx, CountyRead;
    get "/api/v1/surveys/{id}/tally.xlsx" => exports::tally_xlsx, CountyRead;
    get "/api/v1/surveys/{id}/responses.csv" => exports::responses_csv, CountyOrganize;
    get "/api/v1/surveys/{id}/responses.xlsx" => exports::responses_xlsx, CountyOrganize;
    get "/api/v1/surveys/{id}/comments" => comments::api_list, CountyOrganize;
    get "/api/v1/surveys/{id}/comments.csv" => comments::csv, CountyOrganize;
    get "/api/v1/surveys/{id}/questionnaires" => questionnaires::api_list, CountyRead;
    post "/api/v1/surveys/{id}/questionnaires" limit MAX_DEFINITION_BYTES => questionnaires::api_upload, CountyOrganize;
    get "/api/v1/surveys/{id}/questionnaires/{file}" => questionnaires::api_definition, CountyRead;
    put "/api/v1/surveys/{id}/languages" => questionnaires::api_set_languages, CountyOrganize;
    get "/api/v1/surveys/{id}/interviewers" => fieldwork::api_interviewers, CountyOrganize;
    put "/api/v1/surveys/{id}/interviewers" => fieldwork::api_assign, CountyOrganize;
    get "/api/v1/surveys/{id}/call-report" => fieldwork::api_call_report, CountyOrganize;
    get "/api/v1/surveys/{id}/calls" => fieldwork::api_calls, Fieldwork;
    post "/api/v1/surveys/{id}/calls/{invitation}" => fieldwork::api_record_call, Fieldwork;
    get "/api/v1/surveys/{id}/calls/{invitation}/interview" => fieldwork::api_interview, Fieldwork;
    post "/api/v1/surveys/{id}/calls/{invitation}/interview" => fieldwork::api_submit_interview, Fieldwork;
    get "/api/v1/surveys/{id}/paper" => fieldwork::api_batches, Fieldwork;
    post "/api/v1/surveys/{id}/paper" => fieldwork::api_create_batch, CountyOrganize;
    post "/api/v1/surveys/{id}/paper/entries" => fieldwork::api_enter, Fieldwork;
    get "/api/v1/surveys/{id}/paper/booklets/{serial}" => fieldwork::api_booklet, Fieldwork;
    post "/api/v1/surveys/{id}/paper/booklets/{serial}/resolve" => fieldwork::api_resolve, Fieldwork;
    post "/api/v1/surveys/{id}/paper/booklets/{serial}/void" => fieldwork::api_void, Fieldwork;
    get "/api/v1/counties/{county}/readiness" => readiness::api_view, CountyRead;
    get "/api/v1/counties/{county}/readiness.xlsx" => readiness::xlsx, CountyRead;
    get "/api/v1/counties/{county}/readiness/template.csv" => readiness::template, Public;
    post "/api/v1/counties/{county}/readiness/schools" limit MAX_READINESS_BYTES => readiness::api_upload, CountyOrganize;
    put "/api/v1/counties/{county}/readiness/checklist/{code}" => readiness::api_save_check, CountyOrganize;
    put "/api/v1/counties/{county}/readiness/rule" => readiness::api_set_rule, CountyOrganize;

    get "/" => admin::root, Public;
    get "/login" => admin::login_page, Public;
    post "/login" => admin::login_submit, Public;
    post "/logout" => admin::logout, Public;
    get "/admin" => admin::home, User;
    get "/admin/counties" => admin::counties, Admin;
    post "/admin/counties" => admin::create_county, Admin;
    get "/admin/users" => admin::users, Admin;
    post "/admin/users" => admin::create_user, Admin;
    post "/admin/users/{user}" => admin::change_user, Admin;
    post "/admin/users/{user}/password" => admin::reset_password, Admin;
    get "/admin/password" => admin::password_page, User;
    post "/admin/password" => admin::change_own_password, User;
    get "/admin/surveys/new" => admin::new_survey, Organizer;
    post "/admin/surveys" => admin::create_survey, Organizer;
    get "/admin/surveys/{id}" => admin::show_survey, CountyRead;
    get "/admin/surveys/{id}/edit" => admin::edit_survey, CountyOrganize;
    post "/admin/surveys/{id}/edit" => admin::update_survey, CountyOrganize;
    get "/admin/surveys/{id}/open" => admin::open_checklist, CountyOrganize;
    post "/admin/surveys/{id}/open" => admin::open_survey, CountyOrganize;
    post "/admin/surveys/{id}/close" => admin::close_survey, CountyOrganize;
    post "/admin/surveys/{id}/window" => admin::change_window, CountyOrganize;
    post "/admin/surveys/{id}/delete" => admin::delete_survey, CountyOrganize;
    post "/admin/surveys/{id}/archive" => admin::archive_survey, CountyOrganize;
    post "/admin/surveys/{id}/copy" => admin::copy_survey, CountyOrganize;
    get "/admin/surveys/{id}/sample" => sampling_pages::sample, CountyOrganize;
    post "/admin/surveys/{id}/areas" => sampling_pages::save_areas, CountyOrganize;
    post "/admin/surveys/{id}/schools" => sampling_pages::save_schools, CountyOrganize;
    post "/admin/surveys/{id}/frames/{group}" => sampling_pages::upload_frame, CountyOrganize;
    post "/admin/surveys/{id}/draws" => sampling_pages::draw, CountyOrganize;
    get "/admin/surveys/{id}/draws/{draw}" => sampling_pages::certificate, CountyRead;
    post "/admin/surveys/{id}/draws/{draw}/discard" => sampling_pages::discard_draw, CountyOrganize;
    get "/admin/surveys/{id}/invitations" => sampling_pages::invitations, CountyOrganize;
    get "/admin/surveys/{id}/invitations/print" => sampling_pages::print_sheet, CountyOrganize;
    post "/admin/surveys/{id}/channels" => sampling_pages::create_channel, CountyOrganize;
    get "/admin/surveys/{id}/channels/{code}/poster" => poster::page_poster, CountyRead;
    post "/admin/surveys/{id}/channels/{code}/{action}" => sampling_pages::change_channel, CountyOrganize;
    post "/admin/surveys/{id}/reserves" => sampling_pages::release, CountyOrganize;
    post "/admin/surveys/{id}/purge" => sampling_pages::purge, CountyOrganize;
    post "/admin/surveys/{id}/held" => integrity::page_decide, CountyOrganize;
    get "/admin/surveys/{id}/dashboard" => dashboard::page_show, CountyRead;
    get "/admin/surveys/{id}/dashboard/events" => dashboard::events, CountyRead;
    get "/admin/surveys/{id}/report" => dashboard::report, CountyRead;
    get "/admin/surveys/{id}/progress" => progress::page_progress, CountyRead;
    get "/admin/surveys/{id}/school-results" => school_results::page_show, SchoolRead;
    get "/admin/surveys/{id}/daily" => progress::page_daily, CountyRead;
    get "/admin/surveys/{id}/integrity" => integrity::page_panel, CountyRead;
    get "/admin/surveys/{id}/comments" => comments::page_show, CountyOrganize;
    get "/admin/surveys/{id}/questionnaires" => questionnaires::page_show, CountyRead;
    get "/admin/surveys/{id}/preview/{group}" => respond::preview, CountyOrganize;
    post "/admin/surveys/{id}/questionnaires" => questionnaires::page_upload, CountyOrganize;
    post "/admin/surveys/{id}/languages" => questionnaires::page_set_languages, CountyOrganize;
    get "/admin/surveys/{id}/fieldwork" => fieldwork::page_fieldwork, Fieldwork;
    post "/admin/surveys/{id}/interviewers" => fieldwork::page_assign, CountyOrganize;
    get "/admin/surveys/{id}/calls" => fieldwork::page_calls, Fieldwork;
    get "/admin/surveys/{id}/calls/{invitation}" => fieldwork::page_call, Fieldwork;
    post "/admin/surveys/{id}/calls/{invitation}" => fieldwork::page_record_call, Fieldwork;
    post "/admin/surveys/{id}/calls/{invitation}/interview" => fieldwork::page_interview, Fieldwork;
    post "/admin/surveys/{id}/paper" => fieldwork::page_create_batch, CountyOrganize;
    get "/admin/surveys/{id}/paper/{batch}/print" => fieldwork::page_print_batch, CountyOrganize;
    get "/admin/surveys/{id}/paper/entry" => fieldwork::page_entry, Fieldwork;
    post "/admin/surveys/{id}/paper/entry" => fieldwork::page_enter, Fieldwork;
    post "/admin/surveys/{id}/paper/resolve" => fieldwork::page_resolve, Fieldwork;
    post "/admin/surveys/{id}/paper/void" => fieldwork::page_void, Fieldwork;
    get "/admin/counties/{county}/readiness" => readiness::page_show, CountyRead;
    post "/admin/counties/{county}/readiness/schools" => readiness::page_upload, CountyOrganize;
    post "/admin/counties/{county}/readiness/checklist" => readiness::page_save_check, CountyOrganize;
    post "/admin/counties/{county}/readiness/rule" => readiness::page_set_rule, CountyOrganize;
}

/// Answer for a method the route table does not serve on a path it does. A page form's path
/// opened with GET (a reload after an error shown in place, a copied address) goes to the page
/// that holds the form instead.
async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let pattern = req.match_pattern().unwrap_or_default();
    if req.method() == actix_web::http::Method::GET
        && let Some(page) = notice::form_page(&pattern)
    {
        let mut location = page.to_owned();
        for (name, value) in req.match_info().iter() {
            // Only plain ids and codes go back into an address.
            if !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return see_other("/admin");
            }
            location = location.replace(&format!("{{{name}}}"), value);
        }
        return see_other(&location);
    }
    let allowed: Vec<&str> = ROUTES
        .iter()
        .filter(|r| r.path == pattern)
        .map(|r| r.method)
        .collect();
    HttpResponse::MethodNotAllowed()
        .insert_header((actix_web::http::header::ALLOW, allowed.join(", ")))
        .finish()
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
