//! Graceful shutdown: SIGTERM while phones are submitting. Submissions in flight complete and
//! are stored; new ones are refused by a closed port (never a 5xx); the process exits cleanly;
//! every acknowledged submission is stored exactly once.
use crate::helpers::{Backend, spawn_app};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::loadgen::driver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_what_is_in_flight_and_refuses_the_rest() {
    // The test's app prepares the survey; a real `renke serve` process is then run on the same
    // database and stopped with a signal.
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let (survey, paths) = driver::prepare(&app.settings, 3_000).await.unwrap();
    let url = app.database_url();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_renke"))
        .arg("serve")
        .env("RENKE_DATABASE_URL", url)
        .env("RENKE_BIND", format!("127.0.0.1:{port}"))
        .env(
            "RENKE_SECRET_KEY",
            std::str::from_utf8(app.secret.expose()).unwrap(),
        )
        .env("RENKE_ADMIN_PASSWORD", "admin-password-1")
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let load = {
        let base = base.clone();
        tokio::spawn(async move { driver::drive(&base, paths, 16).await })
    };
    // Let the burst get going, then ask the server to stop.
    let deadline = Instant::now() + Duration::from_secs(30);
    while renke::store::responses::count(&app.db, survey)
        .await
        .unwrap()
        < 200
    {
        assert!(Instant::now() < deadline, "the burst did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let term = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let report = load.await.unwrap();
    let exited = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(s) = server.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < exited,
            "the server did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
    let stored = renke::store::responses::count(&app.db, survey)
        .await
        .unwrap() as usize;
    eprintln!(
        "SIGTERM under load: {} acknowledged, {} stored, {} refused, {} 5xx",
        report.acknowledged, stored, report.errors, report.server_errors
    );
    assert_eq!(report.server_errors, 0, "no request may end in a 5xx");
    assert_eq!(
        stored, report.acknowledged,
        "every acknowledged submission is stored"
    );
    assert!(
        report.acknowledged >= 200 && report.errors > 0,
        "{report:?}"
    );
}
