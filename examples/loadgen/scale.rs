//! Scale runs: a survey holding N stored responses (written straight through the store, with
//! their aggregates), then the tally endpoint's latency and the exports' time and memory.
use renke::domain::geography::AreaScope;
use renke::domain::group::{Booklet, RespondentGroup};
use renke::domain::response::{NewResponse, Source, hour_of};
use renke::domain::strata::Band;
use renke::domain::tally::Aggregates;
use renke::store;
use sea_orm::{DatabaseConnection, TransactionTrait};
use std::time::{Duration, Instant};

/// Adds `n` parents' responses to `survey`, spread over its areas, schools and grade bands.
pub async fn fill(db: &DatabaseConnection, survey: i32, n: usize) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    let (_, qid) = store::questionnaires::in_use(db, survey)
        .await
        .map_err(|e| fail(&e))?[0];
    let q = store::questionnaires::find(db, qid)
        .await
        .map_err(|e| fail(&e))?
        .ok_or("no questionnaire")?;
    let def = &q.definition;
    let geo = store::geography::load(db, survey)
        .await
        .map_err(|e| fail(&e))?;
    let codes: Vec<String> = def.scale.options.iter().map(|o| o.code.clone()).collect();
    let hour = hour_of(chrono::Utc::now());
    let mut done = 0;
    while done < n {
        let take = (n - done).min(20_000);
        let mut tally = Aggregates::default();
        let batch: Vec<NewResponse> = (done..done + take)
            .map(|i| {
                let s = i % geo.schools.len();
                let answers = def
                    .items
                    .iter()
                    .enumerate()
                    .map(|(k, item)| {
                        (
                            item.id.clone(),
                            codes[(i * 7 + k * 3) % codes.len().min(4)].clone(),
                        )
                    })
                    .collect();
                let r = NewResponse {
                    survey_id: survey,
                    questionnaire_id: qid,
                    booklet: Booklet::Social,
                    group: RespondentGroup::Parent,
                    area: AreaScope::Area(geo.area_ids[geo.schools[s].area]),
                    area_class: Some(geo.areas[geo.schools[s].area].class),
                    school: Some(geo.school_ids[s]),
                    band: Band::of(RespondentGroup::Parent, i % 3),
                    source: Source::Invitation,
                    channel: None,
                    completion_seconds: 100 + (i % 200) as u32,
                    too_fast: i % 50 == 0,
                    straight_lined: false,
                    answers,
                    comment: (i % 10 == 0).then(|| "希望课后服务更丰富一些。".to_owned()),
                    submitted_hour: hour - chrono::Duration::hours((i % 240) as i64),
                };
                tally.add(&r.facts(), def);
                r
            })
            .collect();
        let txn = db.begin().await.map_err(|e| fail(&e))?;
        store::responses::insert_counted(&txn, &batch)
            .await
            .map_err(|e| fail(&e))?;
        store::tally::add(&txn, survey, &tally)
            .await
            .map_err(|e| fail(&e))?;
        txn.commit().await.map_err(|e| fail(&e))?;
        done += take;
        eprint!("\r  {done} responses stored");
    }
    eprintln!();
    Ok(())
}

/// Median and 95th percentile of `runs` GETs of the tally, in milliseconds.
pub async fn tally_latency(http: &reqwest::Client, url: &str, runs: usize) -> (f64, f64) {
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let ok = http
            .get(url)
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        if ok {
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let at = |p: f64| {
        ms.get(((ms.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    (at(0.5), at(0.95))
}

/// Downloads an export; returns its size in bytes and the time taken.
pub async fn download(http: &reqwest::Client, url: &str) -> Result<(usize, Duration), String> {
    let t = Instant::now();
    let res = http.get(url).send().await.map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("{url}: {}", res.status()));
    }
    let mut size = 0;
    let mut res = res;
    while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
        size += chunk.len();
    }
    Ok((size, t.elapsed()))
}
