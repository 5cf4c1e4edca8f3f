//! Load generator: prepares a survey with many invitations, starts a release `renke` on it,
//! measures the rate of a trivial route (the ceiling) and then the submission burst.
//!
//! cargo build --release && cargo run --release --example loadgen -- \
//!     [--submissions 20000] [--clients 64] [--database-url sqlite:///tmp/renke-load.db?mode=rwc]
mod driver;

use std::time::Duration;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) : utime is the 12th, stime the 13th.
            let rest = s.rsplit_once(')')?.1.to_owned();
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?)
        })
        .unwrap_or(0.0);
    ticks / 100.0
}

fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let n: usize = arg("--submissions")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let clients: usize = arg("--clients").and_then(|v| v.parse().ok()).unwrap_or(64);
    let db_url = arg("--database-url").unwrap_or_else(|| {
        let path = std::env::temp_dir().join(format!("renke-load-{}.db", std::process::id()));
        format!("sqlite://{}?mode=rwc", path.display())
    });
    let server = arg("--server").unwrap_or_else(|| "target/release/renke".into());
    let secret = renke::config::SecretKey::generate();
    let settings = renke::config::Settings {
        bind: "127.0.0.1:0".into(),
        database_url: db_url.clone(),
        database_schema: None,
        secret_key: secret.clone(),
        admin_user: "admin".into(),
        admin_password: Some("admin-password-1".into()),
        secure_cookies: false,
        trust_proxy: false,
        workers: None,
        db_pool: 16,
        public_url: None,
        sqlite_full_sync: true,
        request_timeout: std::time::Duration::from_secs(120),
    };
    let db = renke::store::connect(&settings)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("preparing {n} invitations on {db_url} …");
    let (survey, paths) = driver::prepare(&db, secret.expose(), n).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| e.to_string())?
        .local_addr()
        .map_err(|e| e.to_string())?
        .port();
    let mut child = std::process::Command::new(&server)
        .arg("serve")
        .env("RENKE_DATABASE_URL", &db_url)
        .env("RENKE_BIND", format!("127.0.0.1:{port}"))
        .env(
            "RENKE_SECRET_KEY",
            std::str::from_utf8(secret.expose()).unwrap_or_default(),
        )
        .env("RENKE_ADMIN_PASSWORD", "admin-password-1")
        .env("RUST_LOG", "warn")
        .spawn()
        .map_err(|e| format!("{server}: {e} (cargo build --release first)"))?;
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ceiling = driver::ceiling(&base, clients, 5.0).await;
    eprintln!("ceiling (GET /static/renke.css, {clients} clients): {ceiling:.0} req/s");
    let (server_before, own_before) = (cpu_seconds(child.id()), cpu_seconds(std::process::id()));
    let report = driver::drive(&base, paths, clients).await;
    let server_cpu = cpu_seconds(child.id()) - server_before;
    let own_cpu = cpu_seconds(std::process::id()) - own_before;
    let rss = peak_rss_mb(child.id());
    let stored = renke::store::responses::count(&db, survey)
        .await
        .map_err(|e| e.to_string())?;
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "submissions: {} acknowledged, {} errors, {} stored, in {:.1} s = {:.0}/s ({:.1}% of the ceiling)\nlatency ms: p50 {:.1}, p95 {:.1}, p99 {:.1}\npeak server RSS: {:.0} MB\nCPU per submission: server {:.0} µs, load generator {:.0} µs",
        report.acknowledged,
        report.errors,
        stored,
        report.seconds,
        report.rate(),
        100.0 * report.rate() / ceiling.max(1.0),
        report.percentile(0.5),
        report.percentile(0.95),
        report.percentile(0.99),
        rss,
        server_cpu * 1e6 / report.acknowledged.max(1) as f64,
        own_cpu * 1e6 / report.acknowledged.max(1) as f64,
    );
    if stored as usize != report.acknowledged {
        return Err(format!(
            "LOST: {} acknowledged but {stored} stored",
            report.acknowledged
        ));
    }
    Ok(())
}
