use crate::helpers::{ADMIN, ADMIN_PASSWORD, backend_test, csrf_token, new_client};
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_test! {
    async fn the_audit_trail_records_who_did_what_and_detects_tampering(app) {
        let county = app.create_county("永嘉县").await;
        let organizer = app.user("organizer", Some(county)).await;
        let s = app.create_survey(&organizer, json!({"name": "调查", "population": 1000})).await;
        organizer.post(app.url(&format!("/api/v1/surveys/{}/open", s["id"]))).json(&serde_json::json!({"confirm": true})).send().await.unwrap();
        organizer.post(app.url(&format!("/api/v1/surveys/{}/close", s["id"]))).send().await.unwrap();
        new_client().post(app.url("/api/v1/login")).json(&json!({"username": ADMIN, "password": "wrong-password"})).send().await.unwrap();
        let admin = app.admin().await;
        let trail: Value = admin.get(app.url("/api/v1/audit")).send().await.unwrap().json().await.unwrap();
        assert_eq!(trail["chain"]["intact"], true, "{trail}");
        let actions: Vec<&str> = trail["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        for a in ["login", "login_failed", "county_created", "user_created", "open", "closed"] {
            assert!(actions.contains(&a), "{a} in {actions:?}");
        }
        // Only a platform admin reads it.
        assert_eq!(organizer.get(app.url("/api/v1/audit")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
        // Changing an entry breaks the chain from there.
        use sea_orm::ConnectionTrait;
        app.db.execute_unprepared("UPDATE audit_log SET detail = 'nothing happened' WHERE id = 3").await.unwrap();
        let trail: Value = admin.get(app.url("/api/v1/audit")).send().await.unwrap().json().await.unwrap();
        assert_eq!(trail["chain"]["intact"], false);
        assert_eq!(trail["chain"]["broken_at"], 3);
    }
}

backend_test! {
    async fn removing_an_audit_entry_is_detected(app) {
        app.create_county("永嘉县").await;
        app.create_county("乙县").await;
        use sea_orm::ConnectionTrait;
        app.db.execute_unprepared("DELETE FROM audit_log WHERE id = 2").await.unwrap();
        let trail: Value = app.admin().await.get(app.url("/api/v1/audit")).send().await.unwrap().json().await.unwrap();
        assert_eq!(trail["chain"]["intact"], false);
        assert_eq!(trail["chain"]["broken_at"], 3);
    }
}

backend_test! {
    async fn oversized_bodies_are_refused_with_413(app) {
        let big = "x".repeat(2 * 1024 * 1024);
        let res = app.client.post(app.url("/login")).form(&[("username", big.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(res.text().await.unwrap().contains("提交的内容太大"));
        let admin = app.admin().await;
        let res = admin.post(app.url("/api/v1/counties")).json(&json!({"name": big})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let res = app.client.post(app.url("/s/1.AAAAAAAAAAAAAAAA")).form(&[("comment", "字".repeat(40_000))]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}

backend_test! {
    async fn markup_in_names_and_answers_is_rendered_inert(app) {
        let county = app.create_county("<img src=x onerror=alert(1)>县").await;
        let organizer = app.user("organizer", Some(county)).await;
        let s = app.create_survey(&organizer, json!({"name": "<script>alert('x')</script>调查", "population": 1000})).await;
        let id = s["id"].as_i64().unwrap();
        // Log in through the form, as a browser does.
        let client = new_client();
        let html = client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
        let token = csrf_token(&html);
        client.post(app.url("/login")).form(&[("csrf_token", token.as_str()), ("username", ADMIN), ("password", ADMIN_PASSWORD)]).send().await.unwrap();
        for path in ["/admin".to_owned(), format!("/admin/surveys/{id}"), format!("/admin/surveys/{id}/dashboard"), format!("/admin/surveys/{id}/report"), "/admin/counties".to_owned(), format!("/admin/counties/{county}/readiness")] {
            let html = client.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
            assert!(!html.contains("<script>alert"), "{path}");
            assert!(!html.contains("<img src=x"), "{path}");
        }
        let html = client.get(app.url(&format!("/admin/surveys/{id}"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("&lt;script&gt;alert("));
    }
}

backend_test! {
    async fn sql_in_parameters_has_no_effect(app) {
        let res = app.client.post(app.url("/api/v1/login")).json(&json!({"username": "admin' OR '1'='1", "password": "x' OR '1'='1"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let county = app.create_county("永嘉县").await;
        let organizer = app.user("organizer", Some(county)).await;
        let name = "'); DROP TABLE survey; --";
        let s = app.create_survey(&organizer, json!({"name": name, "population": 1000})).await;
        let list: Value = organizer.get(app.url("/api/v1/surveys")).send().await.unwrap().json().await.unwrap();
        assert_eq!(list[0]["name"], name);
        assert_eq!(s["name"], name);
        for path in ["/api/v1/surveys/1%20OR%201=1", "/api/v1/surveys/1;DROP%20TABLE%20survey"] {
            assert_eq!(organizer.get(app.url(path)).send().await.unwrap().status(), StatusCode::NOT_FOUND, "{path}");
        }
        let res = app.client.get(app.url("/api/v1/quota?population=1;DROP%20TABLE%20survey")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        // Still there, still one survey.
        let list: Value = organizer.get(app.url("/api/v1/surveys")).send().await.unwrap().json().await.unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1);
    }
}

backend_test! {
    async fn hostile_bodies_never_cause_a_server_error(app) {
        use rand::{Rng, SeedableRng};
        let (_, _, urls) = crate::answering::open_survey_with_invitations(&app).await;
        // A draft survey, so uploads reach their parsers.
        let (organizer, id) = crate::sampling::county_survey_in(&app, "丙县").await;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
        let pieces = ["=", "&", "%", "%E4%B8", "S01", "A", "Z", "_form", "comment", "\"", "'", "<script>", "\u{0}", "%00", "+", "\n", "字"];
        let random_body = |rng: &mut rand_chacha::ChaCha8Rng| -> String {
            (0..rng.random_range(0..40)).map(|_| pieces[rng.random_range(0..pieces.len())]).collect()
        };
        for i in 0..150 {
            let body = random_body(&mut rng);
            let url = &urls[i % 5];
            let res = app.client.post(url).header("content-type", "application/x-www-form-urlencoded").body(body.clone()).send().await.unwrap();
            assert!(!res.status().is_server_error(), "{body:?}: {}", res.status());
            let csv: Vec<u8> = (0..rng.random_range(0..300)).map(|_| rng.random::<u8>()).collect();
            let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/frames/public"))).header("content-type", "text/csv").body(csv).send().await.unwrap();
            assert!(!res.status().is_server_error(), "roster: {}", res.status());
            let toml = random_body(&mut rng).replace('&', "\n");
            let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/questionnaires"))).body(toml).send().await.unwrap();
            assert!(!res.status().is_server_error(), "toml: {}", res.status());
        }
    }
}

backend_test! {
    async fn forwarded_hosts_and_odd_next_addresses_lead_nowhere_else(app) {
        // Not behind a trusted proxy: Forwarded and X-Forwarded-Host are not where links point.
        let (organizer, id) = crate::sampling::county_survey(&app).await;
        let list: serde_json::Value = organizer
            .get(app.url(&format!("/api/v1/surveys/{id}/checklist")))
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .header("forwarded", "host=evil.example;proto=https")
            .send().await.unwrap().json().await.unwrap();
        let text = list.to_string();
        assert!(!text.contains("evil.example") && text.contains("http://127.0.0.1:"), "{text}");
        // A logged-in user sent on by `next`: only to a plain local path.
        let (browser, _) = crate::helpers::browser_login(&app, crate::helpers::ADMIN, crate::helpers::ADMIN_PASSWORD).await;
        for next in ["/%09/evil.example/", "/%0a", "/%0d%0aSet-Cookie:x=1", "//evil.example", "/\\evil.example", "https://evil.example"] {
            let res = browser.get(app.url(&format!("/login?next={next}"))).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{next}");
            assert_eq!(res.headers()["location"], "/admin", "{next}");
        }
        let res = browser.get(app.url("/login?next=/admin/users")).send().await.unwrap();
        assert_eq!(res.headers()["location"], "/admin/users");
        // An empty body that says it is a form or text is not taken for "no body": no draw.
        let (status, _) = crate::sampling::upload(&app, &organizer, id, "public", crate::sampling::roster("public", 30)).await;
        assert_eq!(status, StatusCode::OK);
        let url = app.url(&format!("/api/v1/surveys/{id}/draws"));
        for ct in ["text/plain", "application/x-www-form-urlencoded"] {
            let res = organizer.post(&url).header("content-type", ct).body("").send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{ct}");
        }
        assert_eq!(crate::helpers::count_rows(&app, "SELECT COUNT(*) FROM draw").await, 0);
        let res = organizer.post(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "no body at all: a random seed");
    }
}

backend_test! {
    async fn the_audit_chain_is_keyed_and_anchored(app) {
        use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
        app.create_county("永嘉县").await;
        app.create_county("乙县").await;
        let admin = app.admin().await;
        let chain = || async { admin.get(app.url("/api/v1/audit")).send().await.unwrap().json::<Value>().await.unwrap()["chain"].clone() };
        let intact = chain().await;
        assert_eq!(intact["intact"], true, "{intact}");
        assert_eq!(intact["head"].as_str().unwrap().len(), 64);
        let entries = || async { renke::entity::audit_log::Entity::find().order_by_asc(renke::entity::audit_log::Column::Id).all(&app.db).await.unwrap() };
        // Re-hashed after a change with plain SHA-256, as anyone could: refused at the change.
        let all = entries().await;
        let mut prev = all[1].hash.clone();
        for (i, e) in all.iter().enumerate().skip(2) {
            let detail = if i == 2 { "nothing happened".to_owned() } else { e.detail.clone() };
            let hash = renke::domain::audit::entry_hash(&prev, &e.at, &e.actor, &e.action, &e.subject, &detail);
            let sql = format!("UPDATE audit_log SET detail = '{detail}', prev_hash = '{prev}', hash = '{hash}' WHERE id = {}", e.id);
            app.db.execute_unprepared(&sql).await.unwrap();
            prev = hash;
        }
        let broken = chain().await;
        assert_eq!(broken["intact"], false, "{broken}");
        assert_eq!(broken["broken_at"], all[2].id, "{broken}");
        assert!(broken["reason"].as_str().unwrap().contains("without the server's key"), "{broken}");
    }
}

backend_test! {
    async fn cutting_entries_off_the_end_of_the_audit_trail_is_detected(app) {
        use sea_orm::ConnectionTrait;
        app.create_county("永嘉县").await;
        app.create_county("乙县").await;
        // The last entry (say, a purge's record) removed.
        app.db.execute_unprepared("DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)").await.unwrap();
        let trail: Value = app.admin().await.get(app.url("/api/v1/audit")).send().await.unwrap().json().await.unwrap();
        assert_eq!(trail["chain"]["intact"], false, "{trail}");
        assert!(trail["chain"]["reason"].as_str().unwrap().contains("removed from its end"), "{trail}");
        // The anchor itself removed: said so, and not made again at the next start.
        app.db.execute_unprepared("DELETE FROM audit_anchor").await.unwrap();
        renke::app::Context::open(&app.settings).await.unwrap();
        let trail: Value = app.admin().await.get(app.url("/api/v1/audit")).send().await.unwrap().json().await.unwrap();
        assert!(trail["chain"]["reason"].as_str().unwrap().contains("anchor is missing"), "{trail}");
    }
}

backend_test! {
    async fn a_trail_from_before_the_key_is_keyed_once_at_the_next_start(app) {
        use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
        app.create_county("永嘉县").await;
        app.create_county("乙县").await;
        // As an older Renke left it: plain SHA-256 hashes, the anchor pending.
        let all = renke::entity::audit_log::Entity::find().order_by_asc(renke::entity::audit_log::Column::Id).all(&app.db).await.unwrap();
        let mut prev = renke::domain::audit::GENESIS.to_owned();
        for e in &all {
            let hash = renke::domain::audit::entry_hash(&prev, &e.at, &e.actor, &e.action, &e.subject, &e.detail);
            app.db.execute_unprepared(&format!("UPDATE audit_log SET prev_hash = '{prev}', hash = '{hash}' WHERE id = {}", e.id)).await.unwrap();
            prev = hash;
        }
        app.db.execute_unprepared("UPDATE audit_anchor SET entries = -1, head_hash = '', mac = ''").await.unwrap();
        renke::app::Context::open(&app.settings).await.unwrap();
        let trail: Value = app.admin().await.get(app.url("/api/v1/audit")).send().await.unwrap().json().await.unwrap();
        assert_eq!(trail["chain"]["intact"], true, "{trail}");
        assert_eq!(trail["chain"]["entries"].as_u64().unwrap(), all.len() as u64 + 1, "keyed, then the admin's login appended");
    }
}

backend_test! {
    async fn an_oversized_request_head_gets_431_not_a_reset(app) {
        let res = app.client.get(app.url("/healthz")).header("x-big", "a".repeat(200_000)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        // And the server goes on.
        assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    }
}
