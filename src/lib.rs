//! Renke (认可): the social recognition survey of a county's compulsory education.
//!
//! `domain` is pure logic, `store` persistence, `app` the use cases, `web` HTTP, `cli` the
//! command line. [`Application::build`] starts the server for `main` and for the tests alike.
pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod entity;
pub mod error;
pub mod password;
pub mod store;
pub mod web;

use actix_web::dev::Server;
use actix_web::middleware::{Compress, DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web as aweb};
use config::Settings;
use error::AppError;
use std::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{}", .0.with_cause())]
    App(#[from] AppError),
    #[error("templates: {0}")]
    Templates(#[from] tera::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// A built server, bound to its port, not yet running.
pub struct Application {
    port: u16,
    server: Server,
}

/// Security headers on every response. No inline script or style anywhere, so the policy can
/// be strict.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "same-origin"))
}

impl Application {
    /// Connects to the database, applies migrations, makes sure a platform admin exists, and
    /// binds the listener (port 0 picks a free port).
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let app = app::Context::start(&settings).await?;
        if let Some(admin) = app::accounts::ensure_admin(&app, &settings).await? {
            match admin.generated_password {
                Some(password) => println!(
                    "Created platform admin `{}` with password: {password}\n(shown only this once; change it or set RENKE_ADMIN_PASSWORD before first start)",
                    admin.username
                ),
                None => tracing::info!(username = admin.username, "created platform admin"),
            }
        }
        let state = aweb::Data::new(web::AppState::new(&settings, app)?);
        let listener = TcpListener::bind(&settings.bind).map_err(|source| StartupError::Bind {
            addr: settings.bind.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| StartupError::Other(e.to_string()))?
            .port();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(aweb::QueryConfig::default().error_handler(|e, _| {
                    let message = e.to_string();
                    AppError::Invalid {
                        field: web::input::serde_field(".", &message),
                        message: format!("查询参数无效：{message}"),
                    }
                    .into()
                }))
                .app_data(
                    aweb::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()),
                )
                .app_data(aweb::PayloadConfig::new(1024 * 1024))
                .configure(web::routes)
                .default_service(aweb::to(web::not_found))
                .wrap(from_fn(web::middleware::time_limit))
                .wrap(from_fn(web::csrf::issue_cookie))
                .wrap(from_fn(web::middleware::check_origin))
                .wrap(from_fn(web::middleware::render_error_pages))
                .wrap(security_headers())
                .wrap(from_fn(web::middleware::gzip_pages))
                .wrap(Compress::default())
                .wrap(from_fn(web::middleware::log_requests))
        })
        // The request head must arrive promptly; the whole request within the time limit.
        .client_request_timeout(
            settings
                .request_timeout
                .min(std::time::Duration::from_secs(10)),
        )
        .client_disconnect_timeout(std::time::Duration::from_secs(2))
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: settings.bind.clone(),
            source,
        })?;
        if let Some(n) = settings.workers {
            server = server.workers(n);
        }
        tracing::info!(port, "listening");
        Ok(Application {
            port,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is told to stop (SIGINT/SIGTERM finish in-flight requests).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
