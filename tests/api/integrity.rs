//! The integrity panel: per school and per channel, the answers, the too fast and
//! straight-lined, the held, the largest cluster of identical answer sets within half an hour,
//! and the share of all-top answers against the rest of the county; a dictated school is
//! marked 疑似统一口径 with its evidence, nothing is deleted, and the rate is shown with and
//! without what is flagged.
use crate::answering::answers;
use crate::held::{big_survey, channel, tally};
use crate::helpers::{TestApp, backend_test, new_client};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

pub(crate) async fn panel(app: &TestApp, client: &Client, id: i64) -> Value {
    let res = client
        .get(app.url(&format!("/api/v1/surveys/{id}/integrity")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// Fetches a form and posts it with every item answered `code`, or — `mixed` — A and B in
/// turn (the same set each time), for a child in `grade`.
async fn answer(url: &str, code: &str, mixed: bool, grade: u8) {
    let phone = new_client();
    let html = phone.get(url).send().await.unwrap().text().await.unwrap();
    let mut form = answers(&html, code, &[]);
    if mixed {
        for (i, field) in form.iter_mut().skip(1).enumerate() {
            field.1 = if i % 2 == 0 { "A" } else { "B" }.into();
        }
    }
    form.push(("_grade".into(), grade.to_string()));
    let res = phone.post(url).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

fn unit<'a>(panel: &'a Value, kind: &str, label: &str) -> &'a Value {
    panel["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["kind"] == kind && u["label"].as_str().unwrap().contains(label))
        .unwrap_or_else(|| panic!("no {kind} {label}: {panel}"))
}

backend_test! {
    async fn a_school_whose_answers_look_dictated_is_marked_with_its_evidence(app) {
        let (organizer, id) = big_survey(&app).await;
        let (_, dictated) =
            channel(&app, &organizer, id, json!({"group": "parent", "school": "桥头小学"})).await;
        let (_, varied) =
            channel(&app, &organizer, id, json!({"group": "parent", "school": "桥头中学"})).await;
        let (_, few) =
            channel(&app, &organizer, id, json!({"group": "parent", "school": "城关一小"})).await;
        crate::sampling::open(&app, &organizer, id).await;
        // 25 parents of one school give the "standard answers": 满意 to everything, within
        // minutes. 40 parents of another answer A and B in turn, 5 all A; 5 of a third school.
        for _ in 0..25 {
            answer(&dictated, "A", false, 2).await;
        }
        for _ in 0..40 {
            answer(&varied, "A", true, 8).await;
        }
        for _ in 0..5 {
            answer(&varied, "A", false, 8).await;
        }
        for _ in 0..5 {
            answer(&few, "C", false, 3).await;
        }

        let p = panel(&app, &organizer, id).await;
        let school = unit(&p, "school", "桥头小学");
        assert_eq!(school["suspected"], true, "{school}");
        let f = &school["figures"];
        assert_eq!(
            (f["answers"].as_i64(), f["all_top"].as_i64()),
            (Some(25), Some(25))
        );
        assert_eq!(f["largest_cluster"], 25, "one identical set, 25 times");
        assert_eq!(f["straight_lined"], 25);
        assert_eq!(f["all_top_share"], 1.0);
        let rest = f["rest_share"].as_f64().unwrap();
        assert!((rest - 5.0 / 50.0).abs() < 1e-12, "{rest}");
        assert!(f["p_value"].as_f64().unwrap() < 1e-20);
        // Its channel is the same answers, so marked too.
        assert_eq!(unit(&p, "channel", "桥头小学")["suspected"], true);

        let other = unit(&p, "school", "桥头中学");
        assert_eq!(other["suspected"], false, "{other}");
        assert_eq!(other["figures"]["answers"], 45);
        assert_eq!(other["figures"]["largest_cluster"], 40);
        assert_eq!(other["figures"]["all_top"], 5);
        // Five answers: one released batch, its figures shown, nothing suspected (fewer than
        // five would still wait for their cell and show no line at all).
        let small = unit(&p, "school", "城关一小");
        assert_eq!(small["figures"]["answers"], 5, "{small}");
        assert_eq!(small["suspected"], false);

        // The rate with and without them; nothing was deleted.
        let r = &p["rates"];
        assert_eq!(r["counted"]["respondents"], 75);
        assert_eq!(r["excluding_suspected"]["respondents"], 50);
        // Posted the moment the form came, every answer here is too fast: none left.
        assert_eq!(f["too_fast"], 25);
        assert_eq!(r["excluding_flagged"]["respondents"], 0);
        assert!(r["excluding_flagged"]["rate"].is_null());
        assert_eq!(r["including_held"]["respondents"], 75);
        assert!(r["excluding_suspected"]["rate"].as_f64() < r["counted"]["rate"].as_f64());
        assert_eq!(
            tally(&app, &organizer, id).await["by_group"]["parent"]["respondents"],
            75
        );

        // The page says it with the evidence, for whoever may see the survey.
        let page = organizer
            .get(app.url(&format!("/admin/surveys/{id}/integrity")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("疑似统一口径"), "{html}");
        assert!(html.contains("25/25 份每题都选最高项"), "{html}");
        let county = organizer
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["user"]["county_id"]
            .as_i64()
            .unwrap() as i32;
        let viewer = app.user("viewer", Some(county)).await;
        assert_eq!(panel(&app, &viewer, id).await["units"], p["units"]);
        let elsewhere = app.create_county("别县").await;
        let stranger = app.user("organizer", Some(elsewhere)).await;
        let res = stranger
            .get(app.url(&format!("/api/v1/surveys/{id}/integrity")))
            .send()
            .await
            .unwrap();
        assert!(
            matches!(res.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{}",
            res.status()
        );
    }
}
