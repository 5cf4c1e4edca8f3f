use crate::helpers::backend_test;
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_test! {
    async fn an_organiser_creates_a_survey_and_gets_its_plan(app) {
        let county = app.create_county("永嘉县").await;
        let organizer = app.user("organizer", Some(county)).await;
        let survey = app
            .create_survey(&organizer, json!({"name": "2026 年社会认可度调查", "population": 869548,
                "opens_at": "2026-12-01T00:00:00Z", "closes_at": "2026-12-06T00:00:00Z"}))
            .await;
        assert_eq!(survey["county_id"], county);
        assert_eq!(survey["status"], "draft");
        assert_eq!(survey["rate_permille"], 1.5);
        assert_eq!(survey["parent_share"], 0.5);
        assert_eq!(survey["target"], 0.85);
        assert_eq!(survey["plan"]["total"], 1305);
        assert_eq!(survey["plan"]["groups"]["parent"], 653);
        assert_eq!(survey["plan"]["groups"]["cppcc_member"], 108);
        let id = survey["id"].as_i64().unwrap();

        let shown: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(shown["name"], "2026 年社会认可度调查");
        assert_eq!(shown["opens_at"], "2026-12-01T00:00:00Z");
        let plan: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/plan"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(plan["total"], 1305);
        assert_eq!(plan["lines"].as_array().unwrap().len(), 7);
        let list: Value = organizer.get(app.url("/api/v1/surveys")).send().await.unwrap().json().await.unwrap();
        assert_eq!(list[0]["id"], id);
    }
}

backend_test! {
    async fn survey_settings_are_exact_decimals(app) {
        let county = app.create_county("永嘉县").await;
        let organizer = app.user("organizer", Some(county)).await;
        let survey = app
            .create_survey(&organizer, json!({"name": "x", "population": 1000000, "rate_permille": 2.25,
                "parent_share": 0.6, "floor": 100, "target": 0.9}))
            .await;
        assert_eq!(survey["rate_permille"], 2.25);
        assert_eq!(survey["parent_share"], 0.6);
        assert_eq!(survey["target"], 0.9);
        assert_eq!(survey["plan"]["total"], 2250);
        assert_eq!(survey["plan"]["groups"]["parent"], 1350);
    }
}

backend_test! {
    async fn bad_survey_input_is_refused_naming_the_field_and_nothing_is_stored(app) {
        let county = app.create_county("永嘉县").await;
        let organizer = app.user("organizer", Some(county)).await;
        let cases = [
            (json!({"population": 1000}), "name"),
            (json!({"name": "", "population": 1000}), "name"),
            (json!({"name": "   ", "population": 1000}), "name"),
            (json!({"name": "x".repeat(201), "population": 1000}), "name"),
            (json!({"name": "x"}), "population"),
            (json!({"name": "x", "population": 0}), "population"),
            (json!({"name": "x", "population": -3}), "population"),
            (json!({"name": "x", "population": "many"}), "population"),
            (json!({"name": "x", "population": 1000, "rate_permille": 0}), "rate_permille"),
            (json!({"name": "x", "population": 1000, "rate_permille": 1.2345}), "rate_permille"),
            (json!({"name": "x", "population": 1000, "parent_share": 0.3}), "parent_share"),
            (json!({"name": "x", "population": 1000, "floor": -1}), "floor"),
            (json!({"name": "x", "population": 1000, "target": 0}), "target"),
            (json!({"name": "x", "population": 1000, "target": 1.5}), "target"),
            (json!({"name": "x", "population": 1000, "opens_at": "2026-12-06T00:00:00Z", "closes_at": "2026-12-01T00:00:00Z"}), "closes_at"),
            (json!({"name": "x", "population": 1000, "opens_at": "next week"}), "opens_at"),
            (json!({"name": "x", "population": 1000, "colour": "red"}), "colour"),
        ];
        for (body, field) in cases {
            let res = organizer.post(app.url("/api/v1/surveys")).json(&body).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
            let err: Value = res.json().await.unwrap();
            assert_eq!(err["field"], field, "{body}: {err}");
        }
        let list: Value = organizer.get(app.url("/api/v1/surveys")).send().await.unwrap().json().await.unwrap();
        assert_eq!(list, json!([]));
    }
}

backend_test! {
    async fn a_platform_admin_must_say_which_county_a_survey_is_for(app) {
        let county = app.create_county("永嘉县").await;
        let admin = app.admin().await;
        let res = admin.post(app.url("/api/v1/surveys")).json(&json!({"name": "x", "population": 1000})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.json::<Value>().await.unwrap()["field"], "county_id");
        let res = admin.post(app.url("/api/v1/surveys")).json(&json!({"name": "x", "population": 1000, "county_id": 4242})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let survey = app.create_survey(&admin, json!({"name": "x", "population": 1000, "county_id": county})).await;
        assert_eq!(survey["county_id"], county);
    }
}

backend_test! {
    async fn settings_change_only_while_drafting_and_status_follows_its_life_cycle(app) {
        let county = app.create_county("永嘉县").await;
        let organizer = app.user("organizer", Some(county)).await;
        let survey = app.create_survey(&organizer, json!({"name": "初稿", "population": 1000})).await;
        let id = survey["id"].as_i64().unwrap();
        let url = |p: &str| app.url(&format!("/api/v1/surveys/{id}{p}"));

        let res = organizer.put(url("")).json(&json!({"name": "定稿", "population": 1000000})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let updated: Value = res.json().await.unwrap();
        assert_eq!(updated["name"], "定稿");
        assert_eq!(updated["plan"]["total"], 1500);

        // A draft cannot be closed.
        assert_eq!(organizer.post(url("/close")).send().await.unwrap().status(), StatusCode::CONFLICT);
        let res = organizer.post(url("/open")).json(&serde_json::json!({"confirm": true})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap()["status"], "open");
        assert_eq!(organizer.post(url("/open")).send().await.unwrap().status(), StatusCode::CONFLICT);
        // Open: settings are frozen.
        let res = organizer.put(url("")).json(&json!({"name": "偷改", "population": 5})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let res = organizer.post(url("/close")).send().await.unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["status"], "closed");
        let now: Value = organizer.get(url("")).send().await.unwrap().json().await.unwrap();
        assert_eq!(now["name"], "定稿");
        assert_eq!(now["population"], 1000000);
    }
}

backend_test! {
    async fn an_unknown_or_malformed_survey_id_is_404(app) {
        let county = app.create_county("永嘉县").await;
        let organizer = app.user("organizer", Some(county)).await;
        for path in ["/api/v1/surveys/999", "/api/v1/surveys/abc", "/admin/surveys/999", "/admin/surveys/abc"] {
            let res = organizer.get(app.url(path)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
}
