use renke::Application;
use renke::config::{SecretKey, Settings};
use reqwest::{Client, StatusCode, redirect::Policy};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::OnceCell;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const PASSWORD: &str = "a-good-password";

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running Renke with its own database, a copy of the migrated template.
pub struct TestApp {
    pub address: String,
    /// A client with no session, following no redirects.
    pub client: Client,
    /// A connection of the test's own to the app's database.
    pub db: sea_orm::DatabaseConnection,
    /// The same pool as the store's handle (for tests that drive the store directly).
    pub store: renke::store::Database,
    /// The app's secret key (to make invitation tokens as it does).
    pub secret: SecretKey,
    /// The settings the app would have been started with before any adjustment (the test's own
    /// connection uses them).
    pub settings: Settings,
    _dir: tempfile::TempDir,
    /// The PostgreSQL database of this test (dropped with it): the server's URL and its name.
    pg_database: Option<(String, String)>,
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

pub(crate) fn random_suffix() -> String {
    use rand::Rng;
    format!("{:016x}", rand::rng().random::<u64>())
}

/// The server secret of every test app of a run, and of the template they are copied from: it
/// keys the audit trail, whose anchor the template already holds.
pub(crate) fn test_secret() -> SecretKey {
    static SECRET: std::sync::OnceLock<SecretKey> = std::sync::OnceLock::new();
    SECRET.get_or_init(SecretKey::generate).clone()
}

pub(crate) fn settings_for(database_url: String, secret: SecretKey) -> Settings {
    Settings {
        bind: "127.0.0.1:0".into(),
        database_url,
        database_schema: None,
        secret_key: secret,
        admin_user: ADMIN.into(),
        admin_password: Some(ADMIN_PASSWORD.into()),
        secure_cookies: false,
        trust_proxy: false,
        workers: Some(1),
        db_pool: 4,
        public_url: None,
        sqlite_full_sync: true,
        request_timeout: std::time::Duration::from_secs(120),
        // Every test client answers from 127.0.0.1: tests of the per-address limits set them.
        hold_after: 100_000,
        refuse_after: 1_000_000,
    }
}

/// What a template holds: the migrations applied, the built-in questionnaires and the
/// platform admin — everything `Application::build` would otherwise do for each test.
async fn fill_template(database_url: String) -> renke::app::Context {
    let settings = settings_for(database_url, test_secret());
    let ctx = renke::app::Context::open(&settings)
        .await
        .expect("template migrates");
    renke::app::accounts::ensure_admin(&ctx, &settings)
        .await
        .expect("template admin");
    ctx
}

/// The SQLite template: one file per test run, migrated once and copied for each test.
async fn sqlite_template() -> &'static PathBuf {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    static TEMPLATE: OnceCell<PathBuf> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let dir = DIR.get_or_init(|| tempfile::tempdir().expect("template dir"));
            let built = dir.path().join("built.db");
            let url = format!("sqlite://{}?mode=rwc", built.display());
            fill_template(url.clone())
                .await
                .close()
                .await
                .expect("template closed");
            let template = dir.path().join("template.db");
            // One consistent file, with nothing left in a write-ahead log.
            renke::app::backup(&settings_for(url, SecretKey::generate()), &template)
                .await
                .expect("template written");
            template
        })
        .await
}

/// `url` with its database name replaced.
pub(crate) fn with_database(url: &str, name: &str) -> String {
    let mut u = url::Url::parse(url).expect("a PostgreSQL URL");
    u.set_path(&format!("/{name}"));
    u.to_string()
}

/// The PostgreSQL template database: named after what it holds (the migrations and their
/// sources, the built-in
/// questionnaires, the admin), so it is built once and reused by later runs; built under a
/// name of its own and renamed when complete, so a run that stopped half-way leaves nothing
/// another would use.
async fn postgres_template(server: &str) -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            use migration::MigratorTrait;
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            for m in migration::Migrator::migrations() {
                h.update(m.name().as_bytes());
            }
            // And what they do: a migration edited before it landed makes another template.
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migration/src");
            let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
                .expect("migration sources")
                .map(|e| e.expect("migration source").path())
                .collect();
            sources.sort();
            for path in sources {
                h.update(std::fs::read(&path).expect("read a migration"));
            }
            for q in renke::domain::questionnaire::BUILT_IN {
                h.update(q.as_bytes());
            }
            h.update(format!("{ADMIN}:{ADMIN_PASSWORD}").as_bytes());
            let name = format!("renke_template_{}", &hex::encode(h.finalize())[..16]);
            let db = Database::connect(server)
                .await
                .expect("connect to PostgreSQL");
            let exists = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
                ))
                .await
                .expect("list databases")
                .is_some();
            if !exists {
                let building = format!("{name}_{}", random_suffix());
                db.execute_unprepared(&format!("CREATE DATABASE \"{building}\""))
                    .await
                    .expect("create the template");
                fill_template(with_database(server, &building))
                    .await
                    .close()
                    .await
                    .expect("template closed");
                let renamed = db
                    .execute_unprepared(&format!(
                        "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
                    ))
                    .await;
                if renamed.is_err() {
                    // Another run finished first: theirs is as good.
                    let _ = db
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
                        ))
                        .await;
                }
            }
            db.close().await.ok();
            name
        })
        .await
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
    let (database_url, pg_database) = match backend {
        Backend::Sqlite => {
            let file = dir.path().join("renke.db");
            std::fs::copy(sqlite_template().await, &file).expect("copy the template");
            (format!("sqlite://{}?mode=rwc", file.display()), None)
        }
        Backend::Postgres => {
            let Ok(server) = std::env::var("RENKE_TEST_POSTGRES_URL") else {
                say("SKIPPED (PostgreSQL variant): RENKE_TEST_POSTGRES_URL is not set");
                return None;
            };
            let template = postgres_template(&server).await;
            let name = format!("renke_test_{}", random_suffix());
            let db = Database::connect(&server)
                .await
                .expect("connect to PostgreSQL");
            db.execute_unprepared(&format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
            ))
            .await
            .expect("copy the template");
            db.close().await.ok();
            (with_database(&server, &name), Some((server, name)))
        }
    };
    let secret = test_secret();
    let settings = settings_for(database_url, secret.clone());
    let store = renke::store::connect(&settings)
        .await
        .expect("test connection");
    let db = store.pool().clone();
    let unchanged = settings.clone();
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
        store,
        secret,
        settings: unchanged,
        _dir: dir,
        pg_database,
        counter: AtomicU32::new(0),
    })
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((server, name)) = self.pg_database.take() {
            // Drop the database from a thread of its own: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let db = Database::connect(&server).await.ok()?;
                    db.execute_unprepared(&format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    ))
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
        &self.settings.database_url
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

/// The single integer a query returns, read on the test's own connection.
pub async fn count_rows(app: &TestApp, sql: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            sql,
        ))
        .await
        .expect("query")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("an integer")
}
