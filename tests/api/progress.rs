//! Progress school by school (2.6): the JSON, CSV and XLSX, the pages, and that the counts
//! move only by released batches (2.3).
use crate::answering::{open_channel, open_survey_with_invitations};
use crate::helpers::backend_test;
use crate::tally::answer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;

async fn progress(app: &crate::helpers::TestApp, client: &reqwest::Client, id: i64) -> Value {
    let res = client
        .get(app.url(&format!("/api/v1/surveys/{id}/progress")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn school<'a>(p: &'a Value, name: &str) -> &'a Value {
    p["schools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["school"] == name)
        .unwrap_or_else(|| panic!("no {name} in {p}"))
}

backend_test! {
    async fn progress_per_school_counts_invitations_and_moves_by_released_batches(app) {
        let (organizer, id, urls) = open_survey_with_invitations(&app).await;
        let rows = crate::sampling::invitations(&app, &organizer, id).await;
        // Invitations per school, from the invitations file.
        let mut per_school: HashMap<String, u64> = HashMap::new();
        for r in &rows {
            *per_school.entry(r["学校"].clone()).or_default() += 1;
        }
        let p = progress(&app, &organizer, id).await;
        for (name, n) in &per_school {
            if name.is_empty() {
                continue;
            }
            let s = school(&p, name);
            assert_eq!(s["invited"], *n, "{name}");
            assert_eq!(s["planned"], *n, "{name}");
            assert_eq!(s["answered"], 0, "{name}");
            assert_eq!(s["response_rate"], 0.0, "{name}");
        }
        assert_eq!(p["total"]["invited"], rows.len() as u64);
        // Every school is behind at the start; the one with most invitations first.
        let lagging = p["lagging"].as_array().unwrap();
        assert_eq!(lagging.len(), 4, "{p}");
        assert!(lagging.windows(2).all(|w| w[0]["outstanding"].as_u64() >= w[1]["outstanding"].as_u64()));
        let parents = p["groups"].as_array().unwrap().iter().find(|g| g["group"] == "parent").unwrap();
        assert!(parents["quota"].as_u64().unwrap() > 0);

        // Four answers of one release cell: nothing moves anywhere.
        for url in &urls[..4] {
            assert_eq!(answer(url, &["A"]).await, StatusCode::OK);
        }
        let before = progress(&app, &organizer, id).await;
        assert_eq!(before["total"]["answered"], 0, "{before}");
        assert_eq!(before["schools"], p["schools"]);
        // The fifth releases the cell: five answered, at the schools the invitations name.
        assert_eq!(answer(&urls[4], &["A"]).await, StatusCode::OK);
        let after = progress(&app, &organizer, id).await;
        assert_eq!(after["total"]["answered"], 5, "{after}");
        let answered_links: Vec<&String> = urls[..5].iter().collect();
        let mut expected: HashMap<String, u64> = HashMap::new();
        for r in &rows {
            if answered_links.contains(&&r["链接"]) {
                *expected.entry(r["学校"].clone()).or_default() += 1;
            }
        }
        for (name, n) in &expected {
            assert_eq!(school(&after, name)["answered"], *n, "{name}");
        }
        // The strata: the released cell's five count in its stratum (城关镇, grades 1–3).
        let strata = after["strata"].as_array().unwrap();
        assert_eq!(strata.iter().map(|s| s["counted"].as_u64().unwrap()).sum::<u64>(), 5);
        let cell = strata.iter().find(|s| s["counted"] == 5).unwrap();
        assert_eq!((cell["group"].clone(), cell["area"].clone()), (json!("parent"), json!("城关镇")), "{cell}");
        assert!(cell["quota"].as_u64().unwrap() >= 5);
        let parents = after["groups"].as_array().unwrap().iter().find(|g| g["group"] == "parent").unwrap();
        assert_eq!((parents["answered"].clone(), parents["counted"].clone()), (json!(5), json!(5)));

        // The daily summary counts them today, the batch's day.
        let html = organizer.get(app.url(&format!("/admin/surveys/{id}/daily"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("每日简报"), "{html}");
        assert!(html.contains("今天计入 5 份"), "{html}");
        let html = organizer.get(app.url(&format!("/admin/surveys/{id}/progress"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("需要督促的学校") && html.contains("城关一小"), "{html}");

        // CSV and XLSX, for a viewer too.
        let county = organizer.get(app.url("/api/v1/me")).send().await.unwrap().json::<Value>().await.unwrap()["user"]["county_id"].as_i64().unwrap();
        let viewer = app.user("viewer", Some(county as i32)).await;
        let res = viewer.get(app.url(&format!("/api/v1/surveys/{id}/progress.csv"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let csv = res.text().await.unwrap();
        assert!(csv.starts_with('\u{feff}'));
        assert!(csv.lines().next().unwrap().contains("回复率"));
        assert!(csv.lines().any(|l| l.starts_with("合计,") && l.contains(&format!(",{},5,", rows.len()))), "{csv}");
        let res = viewer.get(app.url(&format!("/api/v1/surveys/{id}/progress.xlsx"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let bytes = res.bytes().await.unwrap();
        let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
        use calamine::Reader;
        let sheet = book.worksheet_range("按学校").unwrap();
        let last = sheet.rows().next_back().unwrap();
        assert_eq!(last[0].to_string(), "合计");
        assert_eq!(last[4].to_string(), "5");
        assert!(book.worksheet_range("进度落后的学校").is_ok());
    }
}

backend_test! {
    async fn channel_answers_count_once_released(app) {
        let (organizer, id, url) = open_channel(&app).await;
        for _ in 0..4 {
            assert_eq!(answer(&url, &["A"]).await, StatusCode::OK);
        }
        let p = progress(&app, &organizer, id).await;
        assert_eq!(p["total"]["channel_answers"], 0, "{p}");
        assert_eq!(answer(&url, &["A"]).await, StatusCode::OK);
        let p = progress(&app, &organizer, id).await;
        assert_eq!(p["total"]["channel_answers"], 5, "{p}");
        // A county channel's answers name no school: the closing row holds them.
        let last = p["schools"].as_array().unwrap().last().unwrap();
        assert_eq!((last["school"].clone(), last["channel_answers"].clone()), (json!("未标明学校"), json!(5)));
        assert!(last["school_id"].is_null());
        // No school lags without invitations.
        assert_eq!(p["lagging"], json!([]));
    }
}

/// Held channel answers count for the school their channel names, on both backends.
async fn held_answers_count_for_their_school(backend: crate::helpers::Backend) {
    let Some(app) = crate::helpers::spawn_app_with(backend, |s| {
        s.hold_after = 2;
        s.refuse_after = 100;
    })
    .await
    else {
        return;
    };
    let (organizer, id) = crate::held::big_survey(&app).await;
    let (_, url) = crate::held::channel(
        &app,
        &organizer,
        id,
        json!({"group": "parent", "school": "桥头小学"}),
    )
    .await;
    let res = organizer
        .post(app.url(&format!("/api/v1/surveys/{id}/open")))
        .json(&json!({"confirm": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(crate::held::post(&url, "A", Some(2)).await, StatusCode::OK);
    }
    let p = progress(&app, &organizer, id).await;
    let s = school(&p, "桥头小学");
    assert_eq!(
        (s["held"].clone(), s["channel_answers"].clone()),
        (json!(1), json!(0)),
        "{p}"
    );
    assert_eq!(p["total"]["held"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_answers_count_for_their_school_sqlite() {
    held_answers_count_for_their_school(crate::helpers::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_answers_count_for_their_school_postgres() {
    held_answers_count_for_their_school(crate::helpers::Backend::Postgres).await;
}
