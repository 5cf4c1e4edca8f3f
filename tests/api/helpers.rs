use renke::Application;
use renke::config::{SecretKey, Settings};
use reqwest::{Client, StatusCode, redirect::Policy};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const PASSWORD: &str = "a-good-password";

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running Renke with its own empty database.
pub struct TestApp {
    pub address: String,
    /// A client with no session, following no redirects.
    pub client: Client,
    /// A connection of the test's own to the app's database.
    pub db: sea_orm::DatabaseConnection,
    /// The app's secret key (to make invitation tokens as it does).
    pub secret: SecretKey,
    /// The database the test's own connection uses.
    database_url: String,
    _dir: tempfile::TempDir,
    pg_schema: Option<(String, String)>,
    counter: AtomicU32,
}

/// Writes past the test harness's output capture, so a skip is visible in the test output.
pub fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

pub fn new_client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("reqwest client")
}

fn random_suffix() -> String {
    use rand::Rng;
    format!("{:016x}", rand::rng().random::<u64>())
}

/// Starts the app on the backend; `None` (after saying so) when PostgreSQL is not configured.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// As `spawn_app`, with the app's settings changed by `adjust` (the test's own connection keeps
/// the unchanged ones).
pub async fn spawn_app_with(
    backend: Backend,
    adjust: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,sqlx=warn")
            .with_test_writer()
            .try_init();
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (database_url, database_schema, pg_schema) = match backend {
        Backend::Sqlite => (
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("renke.db").display()
            ),
            None,
            None,
        ),
        Backend::Postgres => {
            let Ok(url) = std::env::var("RENKE_TEST_POSTGRES_URL") else {
                say("SKIPPED (PostgreSQL variant): RENKE_TEST_POSTGRES_URL is not set");
                return None;
            };
            let schema = format!("renke_test_{}", random_suffix());
            let db = Database::connect(&url)
                .await
                .expect("connect to PostgreSQL");
            db.execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
                .await
                .expect("create schema");
            db.close().await.ok();
            (url.clone(), Some(schema.clone()), Some((url, schema)))
        }
    };
    let secret = SecretKey::generate();
    let settings = Settings {
        bind: "127.0.0.1:0".into(),
        database_url,
        database_schema,
        secret_key: secret.clone(),
        admin_user: ADMIN.into(),
        admin_password: Some(ADMIN_PASSWORD.into()),
        secure_cookies: false,
        trust_proxy: false,
        workers: Some(1),
        db_pool: 4,
        public_url: None,
        sqlite_full_sync: true,
        request_timeout: std::time::Duration::from_secs(120),
    };
    let db = renke::store::connect(&settings)
        .await
        .expect("test connection");
    let database_url = settings.database_url.clone();
    let mut settings = settings;
    adjust(&mut settings);
    let app = Application::build(settings)
        .await
        .expect("application builds");
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    Some(TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: new_client(),
        db,
        secret,
        database_url,
        _dir: dir,
        pg_schema,
        counter: AtomicU32::new(0),
    })
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((url, schema)) = self.pg_schema.take() {
            // Drop the schema from a thread of its own: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let db = Database::connect(&url).await.ok()?;
                    db.execute_unprepared(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                        .await
                        .ok()?;
                    db.close().await.ok()
                })
            })
            .join();
        }
    }
}

impl TestApp {
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    fn unique(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.counter.fetch_add(1, Ordering::Relaxed))
    }

    /// A new client logged in through the JSON API.
    pub async fn login(&self, username: &str, password: &str) -> Client {
        let client = new_client();
        let res = client
            .post(self.url("/api/v1/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login request");
        assert_eq!(res.status(), StatusCode::OK, "login as {username}");
        client
    }

    pub async fn admin(&self) -> Client {
        self.login(ADMIN, ADMIN_PASSWORD).await
    }

    /// Creates a county through the API; returns its id.
    pub async fn create_county(&self, name: &str) -> i32 {
        let res = self
            .admin()
            .await
            .post(self.url("/api/v1/counties"))
            .json(&json!({"name": name}))
            .send()
            .await
            .expect("create county");
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json::<Value>().await.expect("json")["id"]
            .as_i64()
            .expect("id") as i32
    }

    /// Creates a user of `role` in `county` and returns a client logged in as them.
    pub async fn user(&self, role: &str, county: Option<i32>) -> Client {
        let username = self.unique(role);
        let res = self
            .admin()
            .await
            .post(self.url("/api/v1/users"))
            .json(&json!({"username": username, "password": PASSWORD, "role": role, "county_id": county}))
            .send()
            .await
            .expect("create user");
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap_or_default()
        );
        self.login(&username, PASSWORD).await
    }

    /// Creates a draft survey through the API as `client`; returns its JSON.
    pub async fn create_survey(&self, client: &Client, body: Value) -> Value {
        let res = client
            .post(self.url("/api/v1/surveys"))
            .json(&body)
            .send()
            .await
            .expect("create survey");
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap_or_default()
        );
        res.json().await.expect("json")
    }
}

/// Logs in through the login form, as a browser does; returns the client and its form token.
pub async fn browser_login(app: &TestApp, username: &str, password: &str) -> (Client, String) {
    let client = new_client();
    let html = client
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_token(&html);
    let res = client
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    (client, token)
}

/// Pulls the CSRF token out of a page's form.
pub fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    let end = html[start..].find('"').expect("closing quote");
    html[start..start + end].to_owned()
}

/// Defines one test per backend: `name::sqlite` and `name::postgres`.
macro_rules! backend_test {
    ($(#[$meta:meta])* async fn $name:ident($app:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite)
                    .await
                    .expect("SQLite app");
                $body
            }

            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($app) = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await
                else {
                    return;
                };
                $body
            }
        }
    };
}
pub(crate) use backend_test;
