//! One place count per stratum, shared by its invitations and every channel that feeds it:
//! overlapping channels never pass a stratum or the plan, invitations hold their places, and a
//! wide channel asks its respondent's 乡镇/街道 and grade to place the answer.
use crate::answering::{answers, hidden};
use crate::helpers::{Backend, TestApp, backend_test, new_client, say, spawn_app_with};
use crate::sampling::{county_survey, roster, upload};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

async fn channel(app: &TestApp, organizer: &Client, id: i64, body: Value) -> String {
    let res = organizer
        .post(app.url(&format!("/api/v1/surveys/{id}/channels")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "{body}");
    res.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn open(app: &TestApp, organizer: &Client, id: i64) {
    let res = organizer
        .post(app.url(&format!("/api/v1/surveys/{id}/open")))
        .json(&serde_json::json!({"confirm": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// The value of the `<option>` that shows `label` in a form.
fn option(html: &str, label: &str) -> String {
    let end = html
        .find(&format!(">{label}</option>"))
        .unwrap_or_else(|| panic!("no option {label}"));
    let start = html[..end].rfind("value=\"").unwrap() + 7;
    html[start..].split('"').next().unwrap().to_owned()
}

/// Fetches a form from `url` and posts it answered, with `area` (by name) and `grade` where
/// given; the status of the post.
async fn answer_once(url: &str, area: Option<&str>, grade: Option<u8>) -> StatusCode {
    answer_page(url, area, grade).await.0
}

/// As [`answer_once`], with the page that answered.
async fn answer_page(url: &str, area: Option<&str>, grade: Option<u8>) -> (StatusCode, String) {
    let phone = new_client();
    let res = phone.get(url).send().await.unwrap();
    if res.status() != StatusCode::OK {
        return (res.status(), res.text().await.unwrap());
    }
    let html = res.text().await.unwrap();
    let mut form = answers(&html, "A", &[]);
    if let Some(a) = area {
        form.push(("_area".into(), option(&html, a)));
    }
    if let Some(g) = grade {
        form.push(("_grade".into(), g.to_string()));
    }
    let res = phone.post(url).form(&form).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

/// Stored responses of a group, by area name.
async fn stored(app: &TestApp, id: i64, group: &str) -> (i64, i64) {
    use sea_orm::ConnectionTrait;
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            format!(
                "SELECT \
                 SUM(CASE WHEN a.name = '城关镇' THEN 1 ELSE 0 END) AS urban, \
                 SUM(CASE WHEN a.name = '桥头镇' THEN 1 ELSE 0 END) AS town \
                 FROM response r JOIN area a ON a.id = r.area_id \
                 WHERE r.survey_id = {id} AND r.grp = '{group}'"
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    let n = |c: &str| row.try_get::<Option<i64>>("", c).unwrap().unwrap_or(0);
    (n("urban"), n("town"))
}

/// A survey (public: 7 places in 城关镇, 5 in 桥头镇) whose teachers were drawn, with a
/// county-wide, an area and a school channel for the public and a channel for teachers, open.
async fn overlapping(app: &TestApp) -> (Client, i64, Vec<String>, String) {
    let (organizer, id) = county_survey(app).await;
    upload(app, &organizer, id, "teacher", roster("teacher", 60)).await;
    let res = organizer
        .post(app.url(&format!("/api/v1/surveys/{id}/draws")))
        .json(&json!({"seed": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let public = vec![
        channel(app, &organizer, id, json!({"group": "public"})).await,
        channel(
            app,
            &organizer,
            id,
            json!({"group": "public", "area": "桥头镇"}),
        )
        .await,
        channel(
            app,
            &organizer,
            id,
            json!({"group": "public", "school": "桥头小学"}),
        )
        .await,
    ];
    let teachers = channel(app, &organizer, id, json!({"group": "teacher"})).await;
    open(app, &organizer, id).await;
    (organizer, id, public, teachers)
}

/// 200 respondents at once over the three public channels, half of the county-wide ones
/// choosing each area, through `servers` (their addresses, in turn).
async fn rush(urls: &[String], servers: &[&TestApp], own: &TestApp) -> Vec<StatusCode> {
    let mut tasks = Vec::new();
    for i in 0..200 {
        let url = urls[i % urls.len()].replace(&own.address, &servers[i % servers.len()].address);
        let area =
            (i % urls.len() == 0).then_some(if i % 2 == 0 { "城关镇" } else { "桥头镇" });
        tasks.push(tokio::spawn(
            async move { answer_once(&url, area, None).await },
        ));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses
}

fn assert_no_overfill(statuses: &[StatusCode]) {
    for s in statuses {
        assert!(
            matches!(
                *s,
                StatusCode::OK | StatusCode::CONFLICT | StatusCode::TOO_MANY_REQUESTS
            ),
            "{s}"
        );
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 12, "exactly the public's 12 places were taken");
}

backend_test! {
    async fn overlapping_channels_and_invitations_never_pass_a_stratum_or_the_plan(app) {
        let (organizer, id, public, teachers) = overlapping(&app).await;
        // The drawn teachers hold every teacher place: the teachers' channel has none.
        let res = new_client().get(&teachers).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("名额已满"));
        let statuses = rush(&public, &[&app], &app).await;
        assert_no_overfill(&statuses);
        assert_eq!(stored(&app, id, "public").await, (7, 5), "no stratum passed its quota");
        // The plan shows every stratum's places.
        let plan: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/plan"))).send().await.unwrap().json().await.unwrap();
        for s in plan["strata"].as_array().unwrap() {
            if s["group"] == "public" || s["group"] == "teacher" {
                assert_eq!(s["claimed"], s["quota"], "{s}");
                assert_eq!(s["left"], 0, "{s}");
            }
            if s["group"] == "parent" {
                assert_eq!(s["claimed"], 0);
                assert_eq!(s["left"], s["quota"]);
            }
        }
        let channels: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/channels"))).send().await.unwrap().json().await.unwrap();
        assert!(channels.as_array().unwrap().iter().all(|c| c["left"] == 0), "{channels}");
        let res = new_client().get(&public[0]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
    }
}

/// Two servers on one PostgreSQL, each with its own writer: the places still hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_database_never_pass_a_stratum() {
    if std::env::var_os("RENKE_TEST_POSTGRES_URL").is_none() {
        say("SKIPPED (two servers on one PostgreSQL): RENKE_TEST_POSTGRES_URL is not set");
        return;
    }
    let app = crate::helpers::spawn_app(Backend::Postgres).await.unwrap();
    let (url, secret) = (
        app.settings.database_url.clone(),
        app.settings.secret_key.clone(),
    );
    let second = spawn_app_with(Backend::Postgres, |s| {
        s.database_url = url;
        s.secret_key = secret;
    })
    .await
    .unwrap();
    let (_, id, public, _) = overlapping(&app).await;
    let statuses = rush(&public, &[&app, &second], &app).await;
    assert_no_overfill(&statuses);
    assert_eq!(stored(&app, id, "public").await, (7, 5));
}

backend_test! {
    async fn a_wide_channel_asks_the_area_and_grade_and_places_the_answer_there(app) {
        let (organizer, id) = county_survey(&app).await;
        let url = channel(&app, &organizer, id, json!({"group": "parent"})).await;
        open(&app, &organizer, id).await;
        let phone = new_client();
        let html = phone.get(&url).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("所在的乡镇（街道）") && html.contains("孩子就读的年级"));
        assert!(html.contains("七年级（初一）"));
        // Neither given: the form comes back with both marked and the answers kept.
        let form = answers(&html, "B", &[]);
        let res = phone.post(&url).form(&form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let page = res.text().await.unwrap();
        assert!(page.contains("选择所在的乡镇（街道）") && page.contains("选择孩子就读的年级"), "{page}");
        assert!(page.contains(" checked>"), "answers kept");
        assert_eq!(hidden(&page, "_form"), form[0].1);
        // An area that is not the survey's, a grade no band has: the same.
        let mut bad = form.clone();
        bad.push(("_area".into(), "999999".into()));
        bad.push(("_grade".into(), "12".into()));
        assert_eq!(phone.post(&url).form(&bad).send().await.unwrap().status(), StatusCode::BAD_REQUEST);
        assert_eq!(stored(&app, id, "parent").await, (0, 0));
        // Given, it takes its place in that stratum: 桥头镇, grades 1–3 has 10.
        for _ in 0..10 {
            assert_eq!(answer_once(&url, Some("桥头镇"), Some(2)).await, StatusCode::OK);
        }
        let (full, page) = answer_page(&url, Some("桥头镇"), Some(1)).await;
        assert_eq!(full, StatusCode::CONFLICT, "that stratum is full");
        assert!(page.contains("“桥头镇 · 1–3 年级”的家长名额已经满了"), "named: {page}");
        assert_eq!(answer_once(&url, Some("桥头镇"), Some(5)).await, StatusCode::OK, "the next band has room");
        assert_eq!(stored(&app, id, "parent").await, (0, 11));
        let bands: Vec<Option<i16>> = crate::answering::responses(&app, id).await.iter().map(|r| r.band).collect();
        assert_eq!(bands.iter().filter(|b| **b == Some(0)).count(), 10);
        assert_eq!(bands.iter().filter(|b| **b == Some(1)).count(), 1);
    }
}
