//! Faults: the database goes away (PostgreSQL unreachable, the SQLite file made read-only or
//! its disk full). Requests get a clear 503 page, nothing is half-written, and service resumes by itself
//! when the database is back — the same form, sent again, is then stored exactly once.
use crate::answering::{answers, open_survey_with_invitations};
use crate::helpers::{Backend, TestApp, say, spawn_app_with};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// A TCP proxy in front of PostgreSQL that can cut every connection and refuse new ones.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, links2) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                let upstream = upstream.clone();
                links2.lock().await.push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Proxy { port, up, links }
    }

    /// The database "stops": open connections are cut, new ones closed at once.
    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// Sends a filled-in form once; the answer's status and page.
async fn submit(url: &str, form: &[(String, String)]) -> (StatusCode, String) {
    let res = reqwest::Client::new()
        .post(url)
        .form(form)
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

/// Sends the same filled-in form until the server answers something other than 503 (the
/// database is back), at most for `patience`.
async fn submit_until_back(
    url: &str,
    form: &[(String, String)],
    patience: Duration,
) -> (StatusCode, String) {
    let deadline = Instant::now() + patience;
    loop {
        let (status, body) = submit(url, form).await;
        if status != StatusCode::SERVICE_UNAVAILABLE || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn pending(db: &DatabaseConnection) -> i64 {
    count(
        db,
        "SELECT COUNT(*) FROM invitation WHERE status = 'pending'",
    )
    .await
}

/// What the fault must have left: no response, every invitation still pending.
async fn nothing_written(db: &DatabaseConnection, invitations: i64) {
    assert_eq!(count(db, "SELECT COUNT(*) FROM response").await, 0);
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM invitation WHERE status = 'pending'"
        )
        .await,
        invitations
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM submission_receipt").await,
        0
    );
}

/// An invitation's link and a complete answer to its questionnaire.
async fn filled_form(app: &TestApp) -> (String, Vec<(String, String)>) {
    let (_, _, urls) = open_survey_with_invitations(app).await;
    let html = reqwest::get(&urls[0]).await.unwrap().text().await.unwrap();
    (urls[0].clone(), answers(&html, "A", &[]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_mid_run_gives_503_writes_nothing_and_service_resumes() {
    let Ok(url) = std::env::var("RENKE_TEST_POSTGRES_URL") else {
        say("SKIPPED (PostgreSQL outage): RENKE_TEST_POSTGRES_URL is not set");
        return;
    };
    let parsed = url::Url::parse(&url).unwrap();
    let upstream = format!(
        "{}:{}",
        parsed.host_str().unwrap_or("127.0.0.1"),
        parsed.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(upstream).await;
    // The app reaches its database (a copy of the template) through the proxy.
    let app = spawn_app_with(Backend::Postgres, |s| {
        let mut through = url::Url::parse(&s.database_url).unwrap();
        through.set_host(Some("127.0.0.1")).unwrap();
        through.set_port(Some(proxy.port)).unwrap();
        s.database_url = through.to_string();
    })
    .await
    .unwrap();
    let (url, form) = filled_form(&app).await;
    let invitations = pending(&app.db).await;

    proxy.cut().await;
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.text().await.unwrap().contains("数据库暂时不可用"));
    let (status, body) = submit(&url, &form).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("数据库暂时不可用"));
    nothing_written(&app.db, invitations).await;

    proxy.restore();
    let (status, body) = submit_until_back(&url, &form, Duration::from_secs(30)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("提交成功"));
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM response").await, 1);
}

/// A small tmpfs of our own (needs root, as CI has): a disk that can be filled.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(megabytes: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

async fn sqlite_on(disk: &Tmpfs) -> Option<(TestApp, PathBuf)> {
    let file = disk.path().join("renke.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let app = spawn_app_with(Backend::Sqlite, |s| s.database_url = url).await?;
    Some((app, file))
}

/// The first row of a pragma, run on a connection of the test's own (`mode`: ro or rw).
async fn pragma(file: &Path, mode: &str, sql: &str) -> sea_orm::QueryResult {
    let db = Database::connect(format!("sqlite://{}?mode={mode}", file.display()))
        .await
        .unwrap();
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    db.close().await.unwrap();
    row
}

async fn integrity(file: &Path) -> String {
    pragma(file, "ro", "PRAGMA integrity_check")
        .await
        .try_get_by_index::<String>(0)
        .unwrap()
}

async fn own_connection(file: &Path) -> DatabaseConnection {
    Database::connect(format!("sqlite://{}?mode=ro", file.display()))
        .await
        .unwrap()
}

/// Sets or clears the immutable attribute (even root cannot write such a file, through handles
/// already open too); false where the filesystem has no such attribute.
fn immutable(files: &[PathBuf], on: bool) -> bool {
    files.iter().all(|f| {
        Command::new("chattr")
            .arg(if on { "+i" } else { "-i" })
            .arg(f)
            .status()
            .is_ok_and(|s| s.success())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlite_file_made_read_only_gives_503_and_service_resumes() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await.unwrap();
    let file = PathBuf::from(
        app.database_url()
            .trim_start_matches("sqlite://")
            .trim_end_matches("?mode=rwc"),
    );
    let (_, _, urls) = open_survey_with_invitations(&app).await;
    let mut forms = Vec::new();
    for url in &urls[..6] {
        let html = reqwest::get(url).await.unwrap().text().await.unwrap();
        forms.push((url.clone(), answers(&html, "A", &[])));
    }
    let (url, form) = forms[0].clone();
    let admin = app.admin().await;
    let new_county = |name: String| {
        admin
            .post(app.url("/api/v1/counties"))
            .json(&serde_json::json!({ "name": name }))
            .send()
    };
    let invitations = pending(&app.db).await;
    let files: Vec<PathBuf> = ["", "-wal"]
        .iter()
        .map(|s| PathBuf::from(format!("{}{s}", file.display())))
        .filter(|f| f.exists())
        .collect();
    if !immutable(&files, true) {
        immutable(&files, false);
        say("SKIPPED (read-only SQLite file): chattr +i is not available here");
        return;
    }
    let (status, body) = submit(&url, &form).await;
    // More writes than the pool has connections, through the writer and the pool alike: each
    // connection that met the read-only file must not keep refusing once it is writable again.
    let mut refused = Vec::new();
    for (other, form) in &forms[1..] {
        refused.push(submit(other, form).await.0);
    }
    for i in 0..6 {
        refused.push(new_county(format!("只读期间{i}县")).await.unwrap().status());
    }
    assert!(immutable(&files, false), "chattr -i");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("数据库暂时不可用"));
    assert!(
        refused
            .iter()
            .all(|s| *s == StatusCode::SERVICE_UNAVAILABLE),
        "{refused:?}"
    );
    nothing_written(&app.db, invitations).await;

    // A connection that opened the log while it could not be written may refuse once more (503,
    // the request can be retried); it is then replaced, and every write after that succeeds.
    for (url, form) in &forms {
        let (status, body) = submit_until_back(url, form, Duration::from_secs(30)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let mut first_success = None;
    for i in 0..10 {
        if new_county(format!("恢复{i}县")).await.unwrap().status() == StatusCode::CREATED {
            first_success = Some(i);
            break;
        }
    }
    assert!(first_success.is_some(), "writes never resumed");
    for i in 0..12 {
        let res = new_county(format!("恢复之后{i}县")).await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "after recovery");
    }
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM response").await, 6);
    let during = "SELECT COUNT(*) FROM county WHERE name LIKE '只读期间%'";
    assert_eq!(count(&app.db, during).await, 0, "refused means not stored");
    assert_eq!(integrity(&file).await, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_disk_gives_503_without_corruption_and_service_resumes() {
    let Some(disk) = Tmpfs::mount(64) else {
        say("SKIPPED (full disk): cannot mount a tmpfs here (needs root)");
        return;
    };
    let (app, file) = sqlite_on(&disk).await.unwrap();
    let (url, form) = filled_form(&app).await;
    let invitations = pending(&own_connection(&file).await).await;

    // Empty the write-ahead log: a commit can otherwise go durably into log blocks the file
    // already has (and then it is rightly stored and acknowledged, full disk or not).
    let checkpoint = pragma(&file, "rw", "PRAGMA wal_checkpoint(TRUNCATE)").await;
    assert_eq!(
        checkpoint.try_get_by_index::<i32>(0).unwrap(),
        0,
        "checkpoint busy"
    );

    // Fill the disk to the last byte.
    let filler = disk.path().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let byte = [0u8; 1];
        while f.write_all(&byte).is_ok() {}
        let _ = f.sync_all();
    }
    // More attempts than the pool has connections: each failed commit must leave its connection
    // fit to refuse the next one too (a failed COMMIT once left sqlx believing a transaction was
    // still open, and a later submission was acknowledged without being stored).
    for _ in 0..12 {
        let (status, body) = submit(&url, &form).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "a full disk answered {status}: {body}"
        );
        assert!(body.contains("数据库暂时不可用"));
    }
    nothing_written(&own_connection(&file).await, invitations).await;

    std::fs::remove_file(&filler).unwrap();
    let (status, body) = submit_until_back(&url, &form, Duration::from_secs(30)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        count(
            &own_connection(&file).await,
            "SELECT COUNT(*) FROM response"
        )
        .await,
        1
    );
    assert_eq!(integrity(&file).await, "ok");
}

/// Two servers started at once on a fresh PostgreSQL database: they take turns migrating and
/// seeding (an advisory lock), and both start, with one platform admin between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_started_together_on_a_fresh_postgresql_both_start() {
    let Ok(server) = std::env::var("RENKE_TEST_POSTGRES_URL") else {
        say("SKIPPED (PostgreSQL variant): RENKE_TEST_POSTGRES_URL is not set");
        return;
    };
    let name = format!("renke_race_{}", crate::helpers::random_suffix());
    let admin_db = Database::connect(&server).await.unwrap();
    admin_db
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let url = crate::helpers::with_database(&server, &name);
    let secret = renke::config::SecretKey::generate();
    let settings = || crate::helpers::settings_for(url.clone(), secret.clone());
    let (a, b) = tokio::join!(
        renke::Application::build(settings()),
        renke::Application::build(settings())
    );
    let (a, b) = (a.map_err(|e| e.to_string()), b.map_err(|e| e.to_string()));
    assert!(a.is_ok() && b.is_ok(), "{:?} {:?}", a.err(), b.err());
    drop((a, b));
    let db = Database::connect(&url).await.unwrap();
    let admins = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM app_user WHERE role = 'admin'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(admins, 1);
    db.close().await.ok();
    admin_db
        .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .ok();
}
