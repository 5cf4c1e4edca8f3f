//! The `school` role (2.6): a principal's account reads its own school's results after the
//! survey ends, with k = 5, and nothing else of the county.
use crate::helpers::{PASSWORD, backend_test};
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_test! {
    async fn a_school_account_reads_its_own_results_after_the_close_and_nothing_else(app) {
        let (organizer, id) = crate::held::big_survey(&app).await;
        let (_, url) = crate::held::channel(&app, &organizer, id, json!({"group": "parent", "school": "桥头小学"})).await;
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/open"))).json(&json!({"confirm": true})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let county = organizer.get(app.url("/api/v1/me")).send().await.unwrap().json::<Value>().await.unwrap()["user"]["county_id"].as_i64().unwrap();
        let admin = app.admin().await;
        // A school account needs its school.
        let res = admin.post(app.url("/api/v1/users")).json(&json!({"username": "no-school", "password": PASSWORD, "role": "school", "county_id": county})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.json::<Value>().await.unwrap()["field"], "school");
        let res = admin.post(app.url("/api/v1/users")).json(&json!({"username": "typo", "password": PASSWORD, "role": "school", "county_id": county, "school": "桥头小小学"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "a school the county's surveys do not list");
        let res = admin.post(app.url("/api/v1/users")).json(&json!({"username": "principal", "password": PASSWORD, "role": "school", "county_id": county, "school": "桥头小学"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let principal = app.login("principal", PASSWORD).await;
        let results = |client: reqwest::Client, query: &'static str| {
            let u = app.url(&format!("/api/v1/surveys/{id}/school-results{query}"));
            async move { let r = client.get(u).send().await.unwrap(); (r.status(), r.json::<Value>().await.unwrap()) }
        };
        // While answers come in: nothing, with the reason.
        let (status, body) = results(principal.clone(), "").await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(body["error"].as_str().unwrap().contains("调查结束后"));
        // Ten parents of grades 1–3 recognise everything, five of grades 7–9 nothing.
        for _ in 0..10 {
            assert_eq!(crate::held::post(&url, "A", Some(2)).await, StatusCode::OK);
        }
        for _ in 0..5 {
            assert_eq!(crate::held::post(&url, "C", Some(8)).await, StatusCode::OK);
        }
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/close"))).json(&json!({"confirm": true})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let (status, r) = results(principal.clone(), "?school=%E5%9F%8E%E5%85%B3%E4%B8%80%E5%B0%8F").await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert_eq!(r["school"], "桥头小学", "a school account reads its own school whatever it asks");
        assert_eq!(r["respondents"], 15);
        assert!((r["rate"].as_f64().unwrap() - 10.0 / 15.0).abs() < 1e-9, "{r}");
        let bands = r["bands"].as_array().unwrap();
        let band = |label: &str| bands.iter().find(|b| b["label"].as_str().unwrap().contains(label)).unwrap_or_else(|| panic!("{label}: {bands:?}")).clone();
        assert_eq!((band("家长·1")["respondents"].clone(), band("家长·1")["rate"].clone()), (json!(10), json!(1.0)));
        assert_eq!(band("家长·7")["respondents"], 5, "{bands:?}");
        assert!(!r["items"].as_array().unwrap().is_empty());
        // Nothing else of the county.
        for path in ["tally", "progress", "integrity", "channels"] {
            let res = principal.get(app.url(&format!("/api/v1/surveys/{id}/{path}"))).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        }
        let res = principal.get(app.url(&format!("/admin/surveys/{id}/dashboard"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let html = principal.get(app.url(&format!("/admin/surveys/{id}/school-results"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("桥头小学 · 本校结果") && html.contains("66.7%"), "{html}");
        // Its survey list leaves drafts out.
        app.create_survey(&organizer, json!({"name": "下一轮（草稿）", "population": 100000})).await;
        let listed: Value = principal.get(app.url("/api/v1/surveys")).send().await.unwrap().json().await.unwrap();
        let listed = listed.as_array().or_else(|| listed["surveys"].as_array()).unwrap().clone();
        assert_eq!(listed.len(), 1, "{listed:?}");
        let home = principal.get(app.url("/admin")).send().await.unwrap().text().await.unwrap();
        assert!(home.contains(&format!("/admin/surveys/{id}/school-results")) && !home.contains("评估准备"));
        // The bureau reads any school's; a school with fewer than five shows nothing.
        let (status, body) = results(organizer.clone(), "").await;
        assert_eq!((status, body["field"].clone()), (StatusCode::BAD_REQUEST, json!("school")));
        let (status, same) = results(organizer.clone(), "?school=%E6%A1%A5%E5%A4%B4%E5%B0%8F%E5%AD%A6").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(same["respondents"], 15);
        let (_, other) = results(organizer.clone(), "?school=%E5%9F%8E%E5%85%B3%E4%B8%80%E5%B0%8F").await;
        assert_eq!((other["suppressed"].clone(), other["respondents"].clone(), other["groups"].clone()), (json!(true), Value::Null, json!([])));
    }
}
