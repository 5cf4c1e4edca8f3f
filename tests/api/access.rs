use crate::helpers::backend_test;
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_test! {
    async fn a_viewer_gets_404_on_another_countys_survey_and_403_on_writes(app) {
        let a = app.create_county("甲县").await;
        let b = app.create_county("乙县").await;
        let organizer_a = app.user("organizer", Some(a)).await;
        let organizer_b = app.user("organizer", Some(b)).await;
        let viewer_a = app.user("viewer", Some(a)).await;
        let survey_a = app.create_survey(&organizer_a, json!({"name": "甲县调查", "population": 500000})).await;
        let survey_b = app.create_survey(&organizer_b, json!({"name": "乙县调查", "population": 800000})).await;
        let (id_a, id_b) = (survey_a["id"].as_i64().unwrap(), survey_b["id"].as_i64().unwrap());

        // Reading: own county yes, the other county's survey does not exist.
        let res = viewer_a.get(app.url(&format!("/api/v1/surveys/{id_a}"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        for path in [format!("/api/v1/surveys/{id_b}"), format!("/api/v1/surveys/{id_b}/plan"), format!("/admin/surveys/{id_b}")] {
            let res = viewer_a.get(app.url(&path)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        }
        let list: Value = viewer_a.get(app.url("/api/v1/surveys")).send().await.unwrap().json().await.unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["id"], id_a);

        // Writing: the viewer may not, in their own county (403) or another (404).
        let body = json!({"name": "改名", "population": 1});
        let res = viewer_a.post(app.url("/api/v1/surveys")).json(&body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = viewer_a.put(app.url(&format!("/api/v1/surveys/{id_a}"))).json(&body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = viewer_a.post(app.url(&format!("/api/v1/surveys/{id_a}/open"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = viewer_a.put(app.url(&format!("/api/v1/surveys/{id_b}"))).json(&body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        // An organiser of county A cannot touch county B's survey either.
        let res = organizer_a.post(app.url(&format!("/api/v1/surveys/{id_b}/open"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = organizer_a.put(app.url(&format!("/api/v1/surveys/{id_b}"))).json(&body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        // Nor create one there.
        let res = organizer_a
            .post(app.url("/api/v1/surveys"))
            .json(&json!({"name": "越权", "population": 1000, "county_id": b}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);

        // Nothing changed.
        let b_now: Value = organizer_b.get(app.url(&format!("/api/v1/surveys/{id_b}"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(b_now["name"], "乙县调查");
        assert_eq!(b_now["status"], "draft");
    }
}

backend_test! {
    async fn only_a_platform_admin_manages_counties_and_users(app) {
        let a = app.create_county("甲县").await;
        let organizer = app.user("organizer", Some(a)).await;
        let res = organizer.post(app.url("/api/v1/counties")).json(&json!({"name": "丙县"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = organizer
            .post(app.url("/api/v1/users"))
            .json(&json!({"username": "sneaky", "password": "long-enough-pw", "role": "admin"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(organizer.get(app.url("/api/v1/users")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
        assert_eq!(organizer.get(app.url("/admin/users")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
        // The organiser sees only their own county.
        app.create_county("乙县").await;
        let counties: Value = organizer.get(app.url("/api/v1/counties")).send().await.unwrap().json().await.unwrap();
        assert_eq!(counties, json!([{"id": a, "name": "甲县"}]));
    }
}

backend_test! {
    async fn anonymous_requests_get_401_from_the_api_and_the_login_page_from_pages(app) {
        for path in ["/api/v1/surveys", "/api/v1/me", "/api/v1/counties"] {
            let res = app.client.get(app.url(path)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(res.json::<Value>().await.unwrap()["error"], "请先登录");
        }
        let res = app.client.get(app.url("/admin")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(res.headers()["location"].to_str().unwrap().starts_with("/login"));
    }
}

backend_test! {
    async fn creating_users_checks_every_field(app) {
        let a = app.create_county("甲县").await;
        let admin = app.admin().await;
        let cases = [
            (json!({"username": "ab", "password": "long-enough-pw", "role": "viewer", "county_id": a}), "username"),
            (json!({"username": "zhang san", "password": "long-enough-pw", "role": "viewer", "county_id": a}), "username"),
            (json!({"username": "zhangsan", "password": "short", "role": "viewer", "county_id": a}), "password"),
            (json!({"username": "zhangsan", "password": "long-enough-pw", "role": "root", "county_id": a}), "role"),
            (json!({"username": "zhangsan", "password": "long-enough-pw", "role": "viewer"}), "county_id"),
            (json!({"username": "zhangsan", "password": "long-enough-pw", "role": "viewer", "county_id": 999}), "county_id"),
        ];
        for (body, field) in cases {
            let res = admin.post(app.url("/api/v1/users")).json(&body).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(res.json::<Value>().await.unwrap()["field"], field, "{body}");
        }
        let ok = json!({"username": "zhangsan", "password": "long-enough-pw", "role": "viewer", "county_id": a});
        assert_eq!(admin.post(app.url("/api/v1/users")).json(&ok).send().await.unwrap().status(), StatusCode::CREATED);
        assert_eq!(admin.post(app.url("/api/v1/users")).json(&ok).send().await.unwrap().status(), StatusCode::CONFLICT);
        let res = admin.post(app.url("/api/v1/counties")).json(&json!({"name": "甲县"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
    }
}
