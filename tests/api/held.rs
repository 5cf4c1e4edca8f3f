//! Per-address limits on open channels: past the hourly threshold answers are held (stored,
//! counted nowhere) for an organiser to accept or reject in bulk; past the daily bound they are
//! refused. A stuffing script cannot move the count by more than its threshold's worth, and a
//! school's parents on one network are held, not lost.
use crate::answering::answers;
use crate::helpers::{Backend, TestApp, new_client, spawn_app_with};
use crate::sampling::{roster, upload};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// A county of a million people (public: 50 places in 桥头镇; parents: 100 per band there).
pub(crate) async fn big_survey(app: &TestApp) -> (Client, i64) {
    let county = app.create_county("永嘉县").await;
    let organizer = app.user("organizer", Some(county)).await;
    let survey = app
        .create_survey(&organizer, json!({"name": "调查", "population": 1_000_000}))
        .await;
    let id = survey["id"].as_i64().unwrap();
    for (path, body) in [
        (
            "areas",
            json!([
                {"name": "城关镇", "class": "urban", "population": 600000},
                {"name": "桥头镇", "class": "town", "population": 400000},
            ]),
        ),
        (
            "schools",
            json!([
                {"name": "城关一小", "area": "城关镇"},
                {"name": "城关中学", "area": "城关镇"},
                {"name": "桥头小学", "area": "桥头镇"},
                {"name": "桥头中学", "area": "桥头镇"},
            ]),
        ),
    ] {
        let res = organizer
            .put(app.url(&format!("/api/v1/surveys/{id}/{path}")))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    (organizer, id)
}

pub(crate) async fn channel(
    app: &TestApp,
    organizer: &Client,
    id: i64,
    body: Value,
) -> (String, String) {
    let ch: Value = organizer
        .post(app.url(&format!("/api/v1/surveys/{id}/channels")))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        ch["code"].as_str().unwrap().to_owned(),
        ch["url"].as_str().unwrap().to_owned(),
    )
}

/// Fetches a form and posts it answered with `code` (and `grade`, where the form asks).
pub(crate) async fn post(url: &str, code: &str, grade: Option<u8>) -> StatusCode {
    let phone = new_client();
    let res = phone.get(url).send().await.unwrap();
    if res.status() != StatusCode::OK {
        return res.status();
    }
    let html = res.text().await.unwrap();
    let mut form = answers(&html, code, &[]);
    if let Some(g) = grade {
        form.push(("_grade".into(), g.to_string()));
    }
    phone.post(url).form(&form).send().await.unwrap().status()
}

async fn held_list(app: &TestApp, organizer: &Client, id: i64) -> Value {
    organizer
        .get(app.url(&format!("/api/v1/surveys/{id}/held")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Accepts or rejects (`decision`) the held answers `filter` names.
async fn decide(
    app: &TestApp,
    organizer: &Client,
    id: i64,
    decision: &str,
    filter: Value,
) -> Value {
    organizer
        .post(app.url(&format!("/api/v1/surveys/{id}/held/{decision}")))
        .json(&filter)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub(crate) async fn tally(app: &TestApp, organizer: &Client, id: i64) -> Value {
    organizer
        .get(app.url(&format!("/api/v1/surveys/{id}/tally")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Defines a test per backend, on an app whose per-address limits are `hold_after` answers an
/// hour and `refuse_after` a day.
macro_rules! limited_test {
    ($name:ident, $hold:expr, $refuse:expr, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body(super::Backend::Sqlite, $hold, $refuse).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$body(super::Backend::Postgres, $hold, $refuse).await;
            }
        }
    };
}

async fn limited(backend: Backend, hold: u32, refuse: u32) -> Option<TestApp> {
    // Answers are held past a count per clock hour: a test that ran across the hour would get
    // two hours' allowance. Close to the hour, it starts in the next one.
    use chrono::Timelike;
    let now = chrono::Utc::now();
    let left = 3600 - u64::from(now.minute() * 60 + now.second());
    if left < 150 {
        crate::helpers::say(&format!("waiting {left} s for the next clock hour"));
        tokio::time::sleep(std::time::Duration::from_secs(left + 1)).await;
    }
    spawn_app_with(backend, |s| {
        s.hold_after = hold;
        s.refuse_after = refuse;
    })
    .await
}

limited_test!(
    a_stuffing_script_moves_the_count_by_no_more_than_its_threshold,
    30,
    40,
    stuffing
);

async fn stuffing(backend: Backend, hold: u32, refuse: u32) {
    let Some(app) = limited(backend, hold, refuse).await else {
        return;
    };
    let (organizer, id) = big_survey(&app).await;
    // Twenty teachers answer their invitations, all satisfied.
    upload(&app, &organizer, id, "teacher", roster("teacher", 60)).await;
    organizer
        .post(app.url(&format!("/api/v1/surveys/{id}/draws")))
        .json(&json!({"seed": 1}))
        .send()
        .await
        .unwrap();
    let (_, url) = channel(
        &app,
        &organizer,
        id,
        json!({"group": "public", "area": "桥头镇"}),
    )
    .await;
    crate::sampling::open(&app, &organizer, id).await;
    let csv = organizer
        .get(app.url(&format!("/api/v1/surveys/{id}/invitations.csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let invitations: Vec<String> = csv
        .lines()
        .skip(1)
        .take(20)
        .map(|l| l.rsplit(',').next().unwrap().to_owned())
        .collect();
    for link in &invitations {
        assert_eq!(post(link, "A", None).await, StatusCode::OK);
    }
    // The script, as it was seen: one address, the form fetched once, then posts 20 at a time
    // with nonces of its own — refused, nothing stored — and the one issued form 20 times at
    // once: stored once, the rest thanked as retries.
    // No cookies: a script keeps none.
    let script = Client::new();
    let html = script.get(&url).send().await.unwrap().text().await.unwrap();
    let issued = answers(&html, "D", &[]);
    let at_once = |forms: Vec<Vec<(String, String)>>| {
        let (script, url) = (script.clone(), url.clone());
        async move {
            let posts = forms.into_iter().map(|form| {
                let (script, url) = (script.clone(), url.clone());
                tokio::spawn(
                    async move { script.post(&url).form(&form).send().await.unwrap().status() },
                )
            });
            let mut statuses = Vec::new();
            for p in posts.collect::<Vec<_>>() {
                statuses.push(p.await.unwrap());
            }
            statuses
        }
    };
    let own_nonces: Vec<Vec<(String, String)>> = (0..20)
        .map(|i| {
            let mut form = issued.clone();
            let (_, rest) = form[0].1.split_once('.').unwrap();
            form[0].1 = format!("{:0>22}.{rest}", i);
            form
        })
        .collect();
    assert!(
        at_once(own_nonces)
            .await
            .iter()
            .all(|s| *s == StatusCode::BAD_REQUEST)
    );
    assert_eq!(stored(&app, id, "public").await, 0);
    let replays = at_once(vec![issued; 20]).await;
    assert!(replays.iter().all(|s| *s == StatusCode::OK), "{replays:?}");
    assert_eq!(stored(&app, id, "public").await, 1);
    // Adapted: a fresh form for every answer, 20 at a time, all "not satisfied", backing off
    // once refused.
    let mut statuses = Vec::new();
    while statuses.len() < 49 && !statuses.contains(&StatusCode::TOO_MANY_REQUESTS) {
        let n = (49 - statuses.len()).min(20);
        let mut forms = Vec::new();
        for _ in 0..n {
            let html = new_client()
                .get(&url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            forms.push(answers(&html, "D", &[]));
        }
        statuses.extend(at_once(forms).await);
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(ok, 39, "29 more counted and 10 held were thanked");
    assert!(refused >= 1, "then refused: {statuses:?}");
    assert_eq!(
        stored(&app, id, "public").await,
        30,
        "only its threshold counts"
    );
    assert_eq!(stored(&app, id, "teacher").await, 20);
    let held = held_list(&app, &organizer, id).await;
    assert_eq!(held["held"], 10, "{held}");
    assert_eq!(held["groups"].as_array().unwrap().len(), 1);
    assert_eq!(
        held["groups"][0]["address"].as_str().unwrap().len(),
        16,
        "a keyed hash, not the address"
    );
    // Rejected in bulk: kept, still counted nowhere.
    let d = decide(&app, &organizer, id, "reject", json!({})).await;
    assert_eq!(d["rejected"], 10);
    let held = held_list(&app, &organizer, id).await;
    assert_eq!(
        (held["held"].as_u64(), held["rejected"].as_u64()),
        (Some(0), Some(10))
    );
    assert_eq!(stored(&app, id, "public").await, 30);
    // Viewers and other counties see none of it.
    let viewer = app
        .user(
            "viewer",
            Some(
                organizer
                    .get(app.url("/api/v1/me"))
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()["user"]["county_id"]
                    .as_i64()
                    .unwrap() as i32,
            ),
        )
        .await;
    assert_eq!(
        viewer
            .get(app.url(&format!("/api/v1/surveys/{id}/held")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
}

limited_test!(
    a_schools_parents_on_one_network_are_held_not_lost_and_counted_after_one_acceptance,
    30,
    1000,
    meeting
);

async fn meeting(backend: Backend, hold: u32, refuse: u32) {
    let Some(app) = limited(backend, hold, refuse).await else {
        return;
    };
    let (organizer, id) = big_survey(&app).await;
    let (code, url) = channel(
        &app,
        &organizer,
        id,
        json!({"group": "parent", "school": "桥头小学"}),
    )
    .await;
    crate::sampling::open(&app, &organizer, id).await;
    // A parents' meeting: 300 parents, their children in every grade, one school Wi-Fi.
    let mut tasks = Vec::new();
    for worker in 0..6 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..50 {
                let grade = [2, 5, 8][(worker * 50 + i) % 3];
                statuses.push(post(&url, "B", Some(grade)).await);
            }
            statuses
        }));
    }
    for t in tasks {
        assert!(
            t.await.unwrap().iter().all(|s| *s == StatusCode::OK),
            "every parent is thanked"
        );
    }
    assert_eq!(stored(&app, id, "parent").await, 30);
    let held = held_list(&app, &organizer, id).await;
    assert_eq!(held["held"], 270);
    assert_eq!(held["groups"][0]["channel"], code.as_str());
    // The integrity panel shows them against their school and channel, and the rate with them.
    let panel = crate::integrity::panel(&app, &organizer, id).await;
    assert_eq!(panel["held"], 270);
    let counted = panel["rates"]["counted"]["respondents"].as_i64().unwrap();
    assert!(
        (15..=30).contains(&counted),
        "counted in batches of five per grade: {counted}"
    );
    assert_eq!(
        panel["rates"]["including_held"]["respondents"],
        counted + 270
    );
    for kind in ["school", "channel"] {
        let unit = panel["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["kind"] == kind)
            .unwrap_or_else(|| panic!("a {kind} line: {panel}"));
        assert_eq!(unit["held"], 270, "{unit}");
        assert_eq!(unit["figures"]["answers"], counted, "{unit}");
    }
    // One bulk acceptance: all counted, in the places of their grades.
    let d = decide(&app, &organizer, id, "accept", json!({"channel": code})).await;
    assert_eq!(
        (d["accepted"].as_u64(), d["without_place"].as_u64()),
        (Some(270), Some(0)),
        "{d}"
    );
    assert_eq!(stored(&app, id, "parent").await, 300);
    let t = tally(&app, &organizer, id).await;
    assert_eq!(
        t["respondents"].as_i64().unwrap() + t["waiting"].as_i64().unwrap(),
        300,
        "counted, or waiting for their release cell to hold five"
    );
    assert_eq!(crate::answering::responses(&app, id).await.len(), 300);
    let held = held_list(&app, &organizer, id).await;
    assert_eq!(held["held"], 0);
    // The places of 桥头镇's parents are full now: 100 per band.
    let plan: Value = organizer
        .get(app.url(&format!("/api/v1/surveys/{id}/plan")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let town: Vec<&Value> = plan["strata"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["group"] == "parent" && s["area"] == "桥头镇")
        .collect();
    assert!(town.iter().all(|s| s["left"] == 0), "{town:?}");
    let trail: Value = app
        .admin()
        .await
        .get(app.url("/api/v1/audit"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        trail["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "held_accepted")
    );
}

limited_test!(
    a_full_stratum_is_said_so_also_past_the_threshold_and_nothing_is_held,
    2,
    1000,
    full_past_threshold
);

async fn full_past_threshold(backend: Backend, hold: u32, refuse: u32) {
    let Some(app) = limited(backend, hold, refuse).await else {
        return;
    };
    let (organizer, id) = big_survey(&app).await;
    let (_, url) = channel(
        &app,
        &organizer,
        id,
        json!({"group": "public", "area": "桥头镇"}),
    )
    .await;
    crate::sampling::open(&app, &organizer, id).await;
    // 50 places: 2 counted, 48 held; one more form fetched while places are left.
    for _ in 0..50 {
        assert_eq!(post(&url, "A", None).await, StatusCode::OK);
    }
    let late = new_client();
    let html = late.get(&url).send().await.unwrap().text().await.unwrap();
    let d = decide(&app, &organizer, id, "accept", json!({})).await;
    assert_eq!(d["accepted"], 48, "{d}");
    // Its address is far past the threshold, but the stratum is full: it is told so, and
    // nothing is held (an answer is held only when it has a place to take).
    let res = late
        .post(&url)
        .form(&answers(&html, "A", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let page = res.text().await.unwrap();
    assert!(page.contains("名额已满"), "{page}");
    let held = held_list(&app, &organizer, id).await;
    assert_eq!(held["held"], 0, "{held}");
    assert_eq!(stored(&app, id, "public").await, 50);
}

/// How many answers of a group are stored and will count (counted, or waiting for their
/// release cell to hold five).
async fn stored(app: &TestApp, id: i64, group: &str) -> usize {
    crate::answering::responses(app, id)
        .await
        .iter()
        .filter(|r| r.grp == group && r.released != 2)
        .count()
}
