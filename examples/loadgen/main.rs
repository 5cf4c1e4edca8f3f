//! Load generator: prepares a survey with many invitations, starts a release `renke` on it,
//! measures the rate of a bare actix-web route and of a trivial Renke route (the ceiling), then
//! the submission burst.
//!
//! cargo build --release && cargo run --release --example loadgen -- \
//!     [--submissions 20000] [--clients 64] [--database-url sqlite:///tmp/renke-load.db?mode=rwc]
//!     [--scale 10000,100000,1000000]
//! target/release/examples/loadgen --bare-server PORT   (only the bare route, e.g. for wrk)
mod driver;
mod scale;

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

fn status_mb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The server's largest resident size while `work` runs (sampled every 20 ms).
async fn peak_during<T>(pid: u32, work: impl std::future::Future<Output = T>) -> (T, f64) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut peak = 0.0f64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(status_mb(pid, "VmRSS:"));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        })
    };
    let out = work.await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    (out, sampler.await.unwrap_or(0.0))
}

/// `--scale 10000,100000,1000000`: the tally's latency at each size, then both exports at the
/// largest.
async fn scale_runs(
    db: &sea_orm::DatabaseConnection,
    survey: i32,
    base: &str,
    pid: u32,
    sizes: &str,
) -> Result<(), String> {
    let sizes: Vec<usize> = sizes
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(600))
        .build()
        .map_err(|e| e.to_string())?;
    let login = http
        .post(format!("{base}/api/v1/login"))
        .json(&serde_json::json!({"username": "admin", "password": "admin-password-1"}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !login.status().is_success() {
        return Err(format!("login: {}", login.status()));
    }
    let mut stored = 0;
    for &n in &sizes {
        scale::fill(db, survey, n.saturating_sub(stored)).await?;
        stored = n.max(stored);
        let url = format!("{base}/api/v1/surveys/{survey}/tally");
        let (p50, p95) = scale::tally_latency(&http, &url, 50).await;
        println!("tally at {n} responses: p50 {p50:.1} ms, p95 {p95:.1} ms");
    }
    for kind in ["csv", "xlsx"] {
        let url = format!("{base}/api/v1/surveys/{survey}/responses.{kind}");
        let (result, peak) = peak_during(pid, scale::download(&http, &url)).await;
        let (bytes, took) = result?;
        println!(
            "export {kind} of {stored} responses: {:.1} s, {:.0} MB, server peak RSS during it {peak:.0} MB",
            took.as_secs_f64(),
            bytes as f64 / 1e6
        );
    }
    Ok(())
}

fn peak_rss_mb(pid: u32) -> f64 {
    status_mb(pid, "VmHWM:")
}

/// `--bare-server PORT` (the load generator runs itself so): a bare actix-web route, the
/// yardstick the performance targets are stated against (~150,000 req/s on the reference
/// 2-core machine). Nothing but "ok" from memory, default workers, no middleware.
fn bare_server(port: u16) -> Result<(), String> {
    actix_web::rt::System::new()
        .block_on(async move {
            actix_web::HttpServer::new(|| {
                actix_web::App::new().route(
                    "/",
                    actix_web::web::get().to(|| async { actix_web::HttpResponse::Ok().body("ok") }),
                )
            })
            .bind(("127.0.0.1", port))?
            .run()
            .await
        })
        .map_err(|e| e.to_string())
}

fn free_port() -> Result<u16, String> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| e.to_string())?
        .local_addr()
        .map_err(|e| e.to_string())?
        .port())
}

/// The bare route's rate on this machine, measured by the same clients as the ceiling.
async fn bare_rate(clients: usize) -> Result<f64, String> {
    let port = free_port()?;
    let mut child = std::process::Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .args(["--bare-server", &port.to_string()])
        .spawn()
        .map_err(|e| e.to_string())?;
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{base}/")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rate = driver::ceiling(&format!("{base}/"), clients, 5.0).await;
    let _ = child.kill();
    let _ = child.wait();
    Ok(rate)
}

fn main() -> Result<(), String> {
    if let Some(port) = arg("--bare-server") {
        return bare_server(port.parse().map_err(|_| "--bare-server PORT")?);
    }
    tokio::runtime::Runtime::new()
        .map_err(|e| e.to_string())?
        .block_on(run())
}

async fn run() -> Result<(), String> {
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
    let settings = driver::settings(&db_url, &secret, 16);
    let db = renke::store::connect(&settings)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("preparing {n} invitations on {db_url} …");
    let (survey, paths) = driver::prepare(&settings, n).await?;
    let port = free_port()?;
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
    if let Some(sizes) = arg("--scale") {
        let result = scale_runs(db.pool(), survey, &base, child.id(), &sizes).await;
        let _ = child.kill();
        let _ = child.wait();
        return result;
    }
    let bare = bare_rate(clients).await?;
    eprintln!("bare actix-web route (GET /, {clients} clients): {bare:.0} req/s");
    let ceiling = driver::ceiling(&format!("{base}/static/renke.css"), clients, 5.0).await;
    eprintln!("ceiling (GET /static/renke.css, {clients} clients): {ceiling:.0} req/s");
    let (server_before, own_before) = (cpu_seconds(child.id()), cpu_seconds(std::process::id()));
    let report = driver::drive(&base, paths, clients).await;
    let server_cpu = cpu_seconds(child.id()) - server_before;
    let own_cpu = cpu_seconds(std::process::id()) - own_before;
    let rss = peak_rss_mb(child.id());
    let stored = renke::store::responses::count(db.pool(), survey)
        .await
        .map_err(|e| e.to_string())?;
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "submissions: {} acknowledged, {} errors, {} stored, in {:.1} s = {:.0}/s ({:.1}% of the ceiling, {:.1}% of the bare route)\nlatency ms: p50 {:.1}, p95 {:.1}, p99 {:.1}\npeak server RSS: {:.0} MB\nCPU per submission: server {:.0} µs, load generator {:.0} µs",
        report.acknowledged,
        report.errors,
        stored,
        report.seconds,
        report.rate(),
        100.0 * report.rate() / ceiling.max(1.0),
        100.0 * report.rate() / bare.max(1.0),
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
