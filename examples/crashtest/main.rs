//! Crash test: submissions keep coming while the server is killed with SIGKILL at random
//! moments and restarted. At the end every submission that got its thanks page must be stored
//! exactly once, the aggregates must equal a full recomputation, and every invitation must be
//! either answered (with its response) or pending.
//!
//! cargo build --release && cargo run --release --example crashtest -- \
//!     [--submissions 3000] [--clients 32] [--kills 10] [--database-url …]
#[path = "../loadgen/driver.rs"]
#[allow(dead_code)]
mod driver;

use rand::Rng;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

fn start(server: &str, db_url: &str, port: u16, secret: &str) -> std::process::Child {
    std::process::Command::new(server)
        .arg("serve")
        .env("RENKE_DATABASE_URL", db_url)
        .env("RENKE_BIND", format!("127.0.0.1:{port}"))
        .env("RENKE_SECRET_KEY", secret)
        .env("RENKE_ADMIN_PASSWORD", "admin-password-1")
        .env("RUST_LOG", "error")
        .spawn()
        .expect("start renke (cargo build --release first)")
}

/// One phone: answers `path` once; true when the thanks page came back.
async fn answer(http: &reqwest::Client, base: &str, path: &str) -> Result<bool, ()> {
    let url = format!("{base}{path}");
    let html = http
        .get(&url)
        .send()
        .await
        .map_err(|_| ())?
        .text()
        .await
        .map_err(|_| ())?;
    if html.contains("您已提交过问卷") {
        return Ok(false);
    }
    let Some(issued) = hidden(&html, "_form") else {
        return Err(());
    };
    let mut form = vec![("_form".to_owned(), issued)];
    for part in html.split("<fieldset").skip(1) {
        if let Some(s) = part.find("id=\"q-") {
            let rest = &part[s + 6..];
            form.push((
                rest[..rest.find('"').unwrap_or(0)].to_owned(),
                "B".to_owned(),
            ));
        }
    }
    // Retrying the same form after a dropped connection is what a phone does; it is idempotent.
    for _ in 0..3 {
        match http.post(&url).form(&form).send().await {
            Ok(res) => {
                let body = res.text().await.unwrap_or_default();
                return Ok(body.contains("提交成功"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
    Err(())
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let n: usize = arg("--submissions")
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let clients: usize = arg("--clients").and_then(|v| v.parse().ok()).unwrap_or(32);
    let kills: usize = arg("--kills").and_then(|v| v.parse().ok()).unwrap_or(10);
    let server = arg("--server").unwrap_or_else(|| "target/release/renke".into());
    let db_url = arg("--database-url").unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            std::env::temp_dir()
                .join(format!("renke-crash-{}.db", std::process::id()))
                .display()
        )
    });
    let secret = renke::config::SecretKey::generate();
    let secret_text = std::str::from_utf8(secret.expose())
        .unwrap_or_default()
        .to_owned();
    let settings = driver::settings(&db_url, &secret, 4);
    let (survey, paths) = driver::prepare(&settings, n).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| e.to_string())?
        .local_addr()
        .map_err(|e| e.to_string())?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let acked: Arc<Mutex<HashSet<usize>>> = Default::default();
    let done: Arc<Mutex<HashSet<usize>>> = Default::default();
    let mut child = start(&server, &db_url, port, &secret_text);
    let mut survived = 0;
    for round in 0..=kills {
        // Wait for the server, then let the phones go while it runs.
        for _ in 0..100 {
            if reqwest::get(format!("{base}/healthz")).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (paths, acked, done, stop, base) = (
                paths.clone(),
                acked.clone(),
                done.clone(),
                stop.clone(),
                base.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                let mut i = c;
                while i < paths.len() && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if done.lock().unwrap().contains(&i) {
                        i += clients;
                        continue;
                    }
                    match answer(&http, &base, &paths[i]).await {
                        Ok(thanked) => {
                            if thanked {
                                acked.lock().unwrap().insert(i);
                            }
                            done.lock().unwrap().insert(i);
                            i += clients;
                        }
                        Err(()) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            }));
        }
        if round < kills {
            let wait = rand::rng().random_range(300..1500);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let killed = child.kill(); // SIGKILL
            let waited = child.wait();
            killed.map_err(|e| e.to_string())?;
            waited.map_err(|e| e.to_string())?;
            survived += 1;
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for t in tasks {
                let _ = t.await;
            }
            child = start(&server, &db_url, port, &secret_text);
        } else {
            for t in tasks {
                let _ = t.await;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();

    // The checks.
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let acked = acked.lock().unwrap().clone();
    let ctx = renke::app::Context::open(&settings)
        .await
        .map_err(|e| e.to_string())?;
    let database = renke::store::connect(&settings)
        .await
        .map_err(|e| e.to_string())?;
    let db = database.pool();
    let stored = renke::store::responses::count(db, survey)
        .await
        .map_err(|e| e.to_string())?;
    let inv = renke::entity::invitation::Entity::find()
        .filter(renke::entity::invitation::Column::SurveyId.eq(survey));
    let answered = inv
        .clone()
        .filter(renke::entity::invitation::Column::Status.eq("answered"))
        .count(db)
        .await
        .map_err(|e| e.to_string())?;
    let inconsistent = inv
        .clone()
        .filter(
            sea_orm::Condition::any()
                .add(
                    sea_orm::Condition::all()
                        .add(renke::entity::invitation::Column::Status.eq("answered"))
                        .add(renke::entity::invitation::Column::AnsweredAt.is_null()),
                )
                .add(
                    sea_orm::Condition::all()
                        .add(renke::entity::invitation::Column::Status.eq("pending"))
                        .add(renke::entity::invitation::Column::AnsweredAt.is_not_null()),
                ),
        )
        .count(db)
        .await
        .map_err(|e| e.to_string())?;
    let before = renke::store::tally::load(db, survey)
        .await
        .map_err(|e| e.to_string())?;
    renke::app::tally::rebuild(&ctx, &renke::app::Actor::Operator("crashtest"), survey)
        .await
        .map_err(|e| e.to_string())?;
    let after = renke::store::tally::load(db, survey)
        .await
        .map_err(|e| e.to_string())?;
    let same = |a: &renke::domain::tally::Sums, b: &renke::domain::tally::Sums| {
        (a.n, a.x, a.y, a.xx, a.xy) == (b.n, b.x, b.y, b.xx, b.xy)
    };
    let aggregates_equal = before.items == after.items
        && before.strata.len() == after.strata.len()
        && before
            .strata
            .iter()
            .zip(&after.strata)
            .all(|((k1, a), (k2, b))| k1 == k2 && same(&a.sums, &b.sums))
        && before.dimensions.len() == after.dimensions.len()
        && before
            .dimensions
            .iter()
            .zip(&after.dimensions)
            .all(|((k1, a), (k2, b))| k1 == k2 && same(a, b));
    println!(
        "crashes survived: {survived}\nacknowledged: {}\nstored: {stored}\ninvitations answered: {answered}\ninconsistent invitations: {inconsistent}\naggregates equal a recomputation: {aggregates_equal}",
        acked.len()
    );
    // Every acknowledged invitation is answered; with one response per answered invitation,
    // that is stored exactly once.
    let answered_ids: HashSet<i32> = inv
        .filter(renke::entity::invitation::Column::Status.eq("answered"))
        .all(db)
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|i| i.id)
        .collect();
    let lost = acked
        .iter()
        .filter(|&&i| {
            let token = paths[i].trim_start_matches("/s/");
            let id =
                i64::from_str_radix(token.split('.').next().unwrap_or(""), 36).unwrap_or(0) as i32;
            !answered_ids.contains(&id)
        })
        .count();
    println!("acknowledged but not stored: {lost}");
    let ok = lost == 0 && stored == answered && inconsistent == 0 && aggregates_equal;
    if !ok {
        return Err("CRASH TEST FAILED".into());
    }
    Ok(())
}
