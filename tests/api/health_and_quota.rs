use crate::helpers::{TestApp, backend_test};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn quota(app: &TestApp, query: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .get(app.url(&format!("/api/v1/quota?{query}")))
        .send()
        .await
        .expect("request");
    (res.status(), res.json().await.expect("json body"))
}

backend_test! {
    async fn health_check_answers_ok_after_a_database_round_trip(app) {
        let res = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    }
}

backend_test! {
    async fn quota_api_gives_the_worked_examples_of_the_spec(app) {
        let (status, body) =
            quota(&app, "population=869548&rate_permille=1.5&parent_share=0.5&floor=0").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"total": 1305, "groups": {"parent": 653, "student": 109, "teacher": 109,
                "principal": 109, "npc_deputy": 109, "cppcc_member": 108, "public": 108}})
        );
        let (_, body) = quota(&app, "population=1000000").await;
        assert_eq!(body["total"], 1500);
        assert_eq!(body["groups"]["parent"], 750);
        assert_eq!(body["groups"]["public"], 125);
    }
}

backend_test! {
    async fn quota_api_refuses_bad_parameters_naming_the_field(app) {
        let cases = [
            ("", "population", "population missing"),
            ("population=", "population", "population empty"),
            ("population=abc", "population", "population not a number"),
            ("population=0", "population", "population zero"),
            ("population=-5", "population", "population negative"),
            ("population=1.5", "population", "population not whole"),
            ("population=1000&rate_permille=x", "rate_permille", "rate not a number"),
            ("population=1000&rate_permille=0", "rate_permille", "rate zero"),
            ("population=1000&rate_permille=1.2345", "rate_permille", "rate too precise"),
            ("population=1000&parent_share=0.4", "parent_share", "share below half"),
            ("population=1000&parent_share=1", "parent_share", "share of one"),
            ("population=1000&floor=-1", "floor", "negative floor"),
            ("population=1000&sample=5", "sample", "unknown parameter"),
        ];
        for (query, field, why) in cases {
            let (status, body) = quota(&app, query).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
            assert_eq!(body["field"], field, "{why}: {body}");
            assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{why}");
        }
    }
}

backend_test! {
    async fn an_unknown_api_path_is_a_json_404(app) {
        let res = app.client.get(app.url("/api/v1/nothing-here")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(res.json::<Value>().await.unwrap()["error"].is_string());
    }
}

backend_test! {
    async fn every_response_carries_the_security_headers(app) {
        let res = app.client.get(app.url("/login")).send().await.unwrap();
        let h = res.headers();
        assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        let html = res.text().await.unwrap();
        assert!(html.contains("<html lang=\"zh-CN\">"));
        assert!(!html.contains("<script"), "no inline script on the login page");
    }
}

backend_test! {
    async fn pages_are_gzipped_for_clients_that_ask_and_plain_for_the_rest(app) {
        let raw = reqwest::Client::builder().no_gzip().build().unwrap();
        for path in ["/login", "/static/renke.css"] {
            let plain = raw.get(app.url(path)).send().await.unwrap();
            assert!(plain.headers().get("content-encoding").is_none(), "{path}");
            let plain = plain.bytes().await.unwrap();
            let res = raw
                .get(app.url(path))
                .header("accept-encoding", "gzip, deflate")
                .send()
                .await
                .unwrap();
            assert_eq!(res.headers()["content-encoding"], "gzip", "{path}");
            assert!(res.headers()["vary"].to_str().unwrap().contains("accept-encoding"));
            let gz = res.bytes().await.unwrap();
            assert!(gz.len() < plain.len(), "{path}: {} of {}", gz.len(), plain.len());
            let mut unzipped = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unzipped)
                .unwrap();
            // The login page carries a fresh form token each time: same length, same start.
            assert_eq!(unzipped.len(), plain.len(), "{path}");
            assert_eq!(unzipped[..200], plain[..200], "{path}");
        }
        // A client that refuses gzip gets none.
        let res = raw
            .get(app.url("/login"))
            .header("accept-encoding", "gzip;q=0")
            .send()
            .await
            .unwrap();
        assert!(res.headers().get("content-encoding").is_none());
    }
}
