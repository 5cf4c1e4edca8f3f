//! The load generator's two halves: preparing a survey with many invitations through the use
//! cases (as an organiser would), and driving a running Renke over HTTP as phones would.
use renke::app::sampling::{InvitationUse, SchoolEntry};
use renke::app::surveys::{Opening, Transition};
use renke::app::{self, Actor, Context};
use renke::domain::group::RespondentGroup;
use renke::domain::quota::{ParentShare, PlanParameters, SamplingRate, Target};
use renke::domain::strata::{Area, AreaClass};
use renke::domain::survey::{SurveySettings, Window};
use renke::domain::tally::Estimator;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The settings the load generator and the crash test prepare their database with (the server
/// they start reads the same values from its environment).
pub fn settings(
    database_url: &str,
    secret: &renke::config::SecretKey,
    db_pool: u32,
) -> renke::config::Settings {
    renke::config::Settings {
        bind: "127.0.0.1:0".into(),
        database_url: database_url.to_owned(),
        database_schema: None,
        secret_key: secret.clone(),
        admin_user: "admin".into(),
        admin_password: Some("admin-password-1".into()),
        secure_cookies: false,
        trust_proxy: false,
        workers: None,
        db_pool,
        public_url: None,
        sqlite_full_sync: true,
        request_timeout: Duration::from_secs(120),
        hold_after: renke::config::DEFAULT_HOLD_AFTER,
        refuse_after: renke::config::DEFAULT_REFUSE_AFTER,
    }
}

/// Creates an open survey whose draw gives `n` parents an invitation; returns its id and the
/// invitations' link paths.
pub async fn prepare(
    settings: &renke::config::Settings,
    n: usize,
) -> Result<(i32, Vec<String>), String> {
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    let ctx = Context::open(settings).await.map_err(|e| fail(&e))?;
    let me = Actor::Operator("loadgen");
    let name = format!("压测县{}", rand::random::<u32>());
    let county = app::accounts::create_county(&ctx, &me, &name)
        .await
        .map_err(|e| fail(&e))?;
    // At 1000‰ the sample is the population: n parents, and the other groups (no roster) draw nobody.
    let plan = PlanParameters::new(
        2 * n as i64,
        SamplingRate::from_permille(1000.0).map_err(|e| fail(&e))?,
        ParentShare::DEFAULT,
        0,
    )
    .map_err(|e| fail(&e))?;
    let survey_settings = SurveySettings::new(
        "压测调查",
        plan,
        Target::DEFAULT,
        Window::default(),
        Estimator::Pooled,
    )
    .map_err(|e| fail(&e))?;
    let survey = app::surveys::create(&ctx, &me, &survey_settings, Some(county.id))
        .await
        .map_err(|e| fail(&e))?;
    let names = ["城关街道", "东城镇", "西山乡", "南溪乡"];
    let areas = names
        .iter()
        .zip([
            AreaClass::Urban,
            AreaClass::Town,
            AreaClass::Rural,
            AreaClass::Rural,
        ])
        .map(|(a, c)| Area::new(a, c, 1000).map_err(|e| fail(&e)))
        .collect::<Result<Vec<_>, _>>()?;
    app::sampling::set_areas(&ctx, &me, survey.id, &areas)
        .await
        .map_err(|e| fail(&e))?;
    let schools: Vec<String> = (0..names.len()).map(|i| format!("学校{i}")).collect();
    let entries: Vec<SchoolEntry> = schools
        .iter()
        .zip(names)
        .map(|(name, area)| SchoolEntry { name, area })
        .collect();
    app::sampling::set_schools(&ctx, &me, survey.id, &entries)
        .await
        .map_err(|e| fail(&e))?;
    let mut text = String::from("编号,乡镇,学校,年级\n");
    // Spread evenly so every stratum (4 areas × 3 bands) holds its share of the quota.
    for i in 0..n {
        let s = i % schools.len();
        let grade = [2, 5, 8][(i / schools.len()) % 3];
        text.push_str(&format!("p{i:07},{},{},{grade}\n", names[s], schools[s]));
    }
    let upload = app::sheets::Upload::from_bytes(text.as_bytes()).map_err(|e| fail(&e))?;
    app::sampling::upload_roster(&ctx, &me, survey.id, RespondentGroup::Parent, upload)
        .await
        .map_err(|e| fail(&e))?;
    app::draws::draw(&ctx, &me, survey.id, app::draws::SeedChoice::Random)
        .await
        .map_err(|e| fail(&e))?;
    app::surveys::transition(&ctx, &me, survey.id, Transition::Open(Opening::confirmed()))
        .await
        .map_err(|e| fail(&e))?;
    let (_, lines) = app::sampling::invitations(&ctx, &me, survey.id, InvitationUse::Export)
        .await
        .map_err(|e| fail(&e))?;
    let paths = lines.into_iter().map(|l| l.path).collect();
    ctx.close().await.map_err(|e| fail(&e))?;
    Ok((survey.id, paths))
}

fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

fn item_ids(html: &str) -> Vec<String> {
    html.split("<fieldset")
        .skip(1)
        .filter_map(|part| {
            let start = part.find("id=\"q-")? + 6;
            let end = part[start..].find('"')?;
            Some(part[start..start + end].to_owned())
        })
        .collect()
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Report {
    pub acknowledged: usize,
    /// Requests that failed for any reason (refused connections included).
    pub errors: usize,
    /// Of those, answers with a 5xx status.
    pub server_errors: usize,
    pub seconds: f64,
    /// Latencies of the submitting POSTs, in milliseconds, sorted.
    pub latencies: Vec<f64>,
}

impl Report {
    pub fn rate(&self) -> f64 {
        self.acknowledged as f64 / self.seconds.max(1e-9)
    }

    pub fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
}

/// `clients` phones at once, each taking the next link: GET the questionnaire, POST answers.
pub async fn drive(base: &str, paths: Vec<String>, clients: usize) -> Report {
    let paths = Arc::new(paths);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (paths, next, base) = (paths.clone(), next.clone(), base.to_owned());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client");
            let (mut ok, mut errors, mut lat) = (0usize, 0usize, Vec::new());
            let mut server_errors = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = paths.get(i) else { break };
                let url = format!("{base}{path}");
                let Ok(res) = http.get(&url).send().await else {
                    errors += 1;
                    continue;
                };
                if res.status().is_server_error() {
                    server_errors += 1;
                    errors += 1;
                    continue;
                }
                let Ok(html) = res.text().await else {
                    errors += 1;
                    continue;
                };
                let Some(issued) = hidden(&html, "_form") else {
                    errors += 1;
                    continue;
                };
                let mut form = vec![("_form".to_owned(), issued)];
                for (k, id) in item_ids(&html).into_iter().enumerate() {
                    form.push((id, ["A", "B", "A", "C", "A"][(i + k) % 5].to_owned()));
                }
                let t = Instant::now();
                match http.post(&url).form(&form).send().await {
                    Ok(res) if res.status().is_success() => {
                        let body = res.text().await.unwrap_or_default();
                        if body.contains("提交成功") {
                            ok += 1
                        } else {
                            errors += 1
                        }
                    }
                    Ok(res) if res.status().is_server_error() => {
                        server_errors += 1;
                        errors += 1
                    }
                    _ => errors += 1,
                }
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            (ok, errors, server_errors, lat)
        }));
    }
    let mut report = Report::default();
    for t in tasks {
        if let Ok((ok, errors, server_errors, lat)) = t.await {
            report.acknowledged += ok;
            report.errors += errors;
            report.server_errors += server_errors;
            report.latencies.extend(lat);
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
        .latencies
        .sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    report
}

/// Requests per second of a trivial route (`url`: the stylesheet, served from memory, or a bare
/// route) for `seconds`.
pub async fn ceiling(url: &str, clients: usize, seconds: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let count = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (count, url) = (count.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            // The yardstick stays a trivial route: nothing compressed.
            let http = reqwest::Client::builder()
                .no_gzip()
                .build()
                .expect("client");
            while Instant::now() < deadline {
                if let Ok(r) = http.get(&url).send().await
                    && r.bytes().await.is_ok()
                {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    count.load(Ordering::Relaxed) as f64 / seconds
}
