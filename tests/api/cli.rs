//! The `renke` binary's commands, run as a person would run them.
use crate::helpers::{Backend, spawn_app};
use reqwest::StatusCode;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

fn renke(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_renke"));
    cmd.args(args)
        .env_remove("RENKE_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run renke");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("renke finishes");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn quota_command_and_quota_api_give_the_same_answers() {
    let app = spawn_app(Backend::Sqlite).await.expect("app");
    for (population, extra) in [
        ("869548", vec![]),
        ("1000000", vec!["--parent-share", "0.6"]),
        ("5000", vec!["--rate-permille", "2", "--floor", "40"]),
        ("1", vec![]),
    ] {
        let mut args = vec!["quota", "--population", population, "--json"];
        args.extend(extra.iter().copied());
        let (ok, stdout, stderr) = renke(&args, &[], None);
        assert!(ok, "{stderr}");
        let from_cli: Value = serde_json::from_str(&stdout).expect("JSON output");
        let mut query = format!("population={population}");
        for pair in extra.chunks(2) {
            query.push_str(&format!(
                "&{}={}",
                pair[0].trim_start_matches("--").replace('-', "_"),
                pair[1]
            ));
        }
        let from_api: Value = app
            .client
            .get(app.url(&format!("/api/v1/quota?{query}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(from_cli, from_api, "population {population} {extra:?}");
    }
}

#[test]
fn quota_command_names_the_bad_option() {
    let (ok, _, stderr) = renke(&["quota", "--population", "-3"], &[], None);
    assert!(!ok);
    assert!(stderr.contains("--population"), "{stderr}");
    let (ok, _, stderr) = renke(
        &["quota", "--population", "100", "--parent-share", "0.2"],
        &[],
        None,
    );
    assert!(!ok);
    assert!(stderr.contains("--parent-share"), "{stderr}");
    let (ok, stdout, _) = renke(&["quota", "--population", "869548"], &[], None);
    assert!(ok);
    assert!(
        stdout.contains("n = 1,305") && stdout.contains("parent"),
        "{stdout}"
    );
}

#[tokio::test]
async fn user_add_reads_the_password_from_stdin_and_the_user_can_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("renke.db").display()
    );
    let env = [("RENKE_DATABASE_URL", url.as_str())];
    let (ok, _, stderr) = renke(&["migrate"], &env, None);
    assert!(ok, "{stderr}");
    // The generated secret key is kept beside the database, readable by its owner only.
    let secret = dir.path().join("renke.secret");
    assert!(secret.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let (ok, stdout, stderr) = renke(&["county", "add", "--name", "永嘉县"], &env, None);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("永嘉县"));
    let (ok, _, stderr) = renke(
        &[
            "user",
            "add",
            "--username",
            "zhang",
            "--role",
            "organizer",
            "--county",
            "永嘉县",
        ],
        &env,
        Some("zhang-password-1\n"),
    );
    assert!(ok, "{stderr}");
    // Without a county an organizer is refused; a short password too.
    let (ok, _, stderr) = renke(
        &["user", "add", "--username", "lisi", "--role", "viewer"],
        &env,
        Some("long-enough-pw\n"),
    );
    assert!(!ok && stderr.contains("--county"), "{stderr}");
    let (ok, _, _) = renke(
        &[
            "user",
            "add",
            "--username",
            "wang",
            "--role",
            "viewer",
            "--county",
            "1",
        ],
        &env,
        Some("short\n"),
    );
    assert!(!ok);
    // A principal's account names its school.
    let school = |extra: &[&'static str]| {
        let mut args = vec![
            "user",
            "add",
            "--username",
            "principal",
            "--role",
            "school",
            "--county",
            "1",
        ];
        args.extend_from_slice(extra);
        renke(&args, &env, Some("long-enough-pw\n"))
    };
    let (ok, _, stderr) = school(&[]);
    assert!(!ok && stderr.contains("学校"), "{stderr}");
    let (ok, stdout, stderr) = school(&["--school", "城关一小"]);
    assert!(ok && stdout.contains("(school)"), "{stdout}{stderr}");

    // Serve the same database and log in as the new user.
    let settings = renke::config::Settings {
        bind: "127.0.0.1:0".into(),
        database_url: url.clone(),
        database_schema: None,
        secret_key: renke::config::SecretKey::generate(),
        admin_user: "admin".into(),
        admin_password: Some("admin-password-1".into()),
        secure_cookies: false,
        trust_proxy: false,
        workers: Some(1),
        db_pool: 2,
        public_url: None,
        sqlite_full_sync: true,
        request_timeout: std::time::Duration::from_secs(120),
        hold_after: renke::config::DEFAULT_HOLD_AFTER,
        refuse_after: renke::config::DEFAULT_REFUSE_AFTER,
    };
    let app = renke::Application::build(settings).await.unwrap();
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/login"))
        .json(&serde_json::json!({"username": "zhang", "password": "zhang-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["role"], "organizer");
    assert_eq!(body["user"]["county_id"], 1);
}

#[test]
fn demo_fills_a_county_and_the_tally_rebuilds_from_its_answers() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("renke.db").display()
    );
    let env = [
        ("RENKE_DATABASE_URL", url.as_str()),
        ("RENKE_ADMIN_PASSWORD", "admin-password-1"),
    ];
    let (ok, stdout, stderr) = renke(&["demo"], &env, None);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("demo-organizer") && stdout.contains("demo-viewer"),
        "{stdout}"
    );
    // Running it again changes nothing.
    let (ok, stdout, _) = renke(&["demo"], &env, None);
    assert!(ok && stdout.contains("already"), "{stdout}");
    let (ok, stdout, stderr) = renke(&["tally", "--rebuild"], &env, None);
    assert!(ok, "{stderr}");
    let n: u64 = stdout
        .split("from ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(n > 200, "{stdout}");
    let (ok, _, stderr) = renke(&["tally"], &env, None);
    assert!(!ok && stderr.contains("--rebuild"));
}

#[test]
fn backup_copies_a_live_sqlite_database_and_audit_verify_checks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("renke.db").display()
    );
    let env = [
        ("RENKE_DATABASE_URL", url.as_str()),
        ("RENKE_ADMIN_PASSWORD", "admin-password-1"),
    ];
    let (ok, _, stderr) = renke(&["demo"], &env, None);
    assert!(ok, "{stderr}");
    let copy = dir.path().join("backup.db");
    let (ok, stdout, stderr) = renke(&["backup", "--to", copy.to_str().unwrap()], &env, None);
    assert!(ok && stdout.contains("backup written"), "{stderr}");
    // The copy is a working database with the same data.
    let copy_url = format!("sqlite://{}?mode=rw", copy.display());
    let (ok, stdout, stderr) = renke(
        &["county", "list"],
        &[("RENKE_DATABASE_URL", copy_url.as_str())],
        None,
    );
    assert!(ok && stdout.contains("示范县"), "{stdout}{stderr}");
    let (ok, _, stderr) = renke(&["backup", "--to", copy.to_str().unwrap()], &env, None);
    assert!(!ok && stderr.contains("exists"), "{stderr}");
    let (ok, stdout, stderr) = renke(&["audit", "verify"], &env, None);
    assert!(ok && stdout.contains("intact"), "{stdout}{stderr}");
    let pg = [
        ("RENKE_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
        ("RENKE_SECRET_KEY", "a-secret-key-of-at-least-32-bytes-long"),
    ];
    let (ok, _, stderr) = renke(&["backup", "--to", "/tmp/x.db"], &pg, None);
    assert!(!ok && stderr.contains("pg_dump"), "{stderr}");
}
