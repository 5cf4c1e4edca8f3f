//! What the layers promise: the store reads stored codes strictly (a corrupt row is an error
//! that names it, never a silent default), the use cases re-check state inside their write
//! transaction, the audit trail records them, and PostgreSQL may keep Renke in a schema.
use crate::answering::open_survey_with_invitations;
use crate::helpers::{Backend, backend_test, say, spawn_app_with};
use crate::sampling::{county_survey, roster, upload};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

backend_test! {
    async fn a_corrupt_row_is_an_error_that_names_it_not_a_default(app) {
        let (organizer, id) = county_survey(&app).await;
        upload(&app, &organizer, id, "public", roster("public", 30)).await;
        let draw: Value = organizer.post(app.url(&format!("/api/v1/surveys/{id}/draws"))).json(&json!({"seed": 7})).send().await.unwrap().json().await.unwrap();
        let draw_id = draw["id"].as_i64().unwrap() as i32;
        // A seed source no one knows (a seed itself is any text now).
        app.db.execute_unprepared(&format!("UPDATE draw SET seed_source = 'seven' WHERE id = {draw_id}")).await.unwrap();
        let err = renke::store::draws::find(&app.db, id as i32, draw_id).await.unwrap_err();
        assert!(err.to_string().contains(&format!("draw {draw_id}")) && err.to_string().contains("seven"), "{err}");
        let res = organizer.get(app.url(&format!("/api/v1/surveys/{id}/draws/{draw_id}"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!res.text().await.unwrap().contains("seven"), "the cause stays in the log");

        // An area class no one knows (it once read as rural).
        app.db.execute_unprepared(&format!("UPDATE area SET class = 'suburb' WHERE survey_id = {id}")).await.unwrap();
        let err = renke::store::geography::load(&app.db, id as i32).await.unwrap_err();
        assert!(err.to_string().contains("area") && err.to_string().contains("suburb"), "{err}");

        // A role no one knows (it once read as viewer): that user cannot log in at all.
        let me: Value = organizer.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
        let res = app.admin().await.post(app.url("/api/v1/users"))
            .json(&json!({"username": "odd-role", "password": crate::helpers::PASSWORD, "role": "viewer", "county_id": me["user"]["county_id"]}))
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        app.db.execute_unprepared("UPDATE app_user SET role = 'root' WHERE username = 'odd-role'").await.unwrap();
        let res = app.client.post(app.url("/api/v1/login")).json(&json!({"username": "odd-role", "password": crate::helpers::PASSWORD})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}

backend_test! {
    async fn unreadable_answers_stop_a_rebuild_instead_of_dropping_them(app) {
        let (_, id, urls) = open_survey_with_invitations(&app).await;
        crate::tally::answer(&urls[0], &["A"]).await;
        app.db.execute_unprepared(&format!("UPDATE response SET answers = 'not json' WHERE survey_id = {id}")).await.unwrap();
        let ctx = renke::app::Context::open(&app.settings).await.unwrap();
        let err = renke::app::tally::rebuild(&ctx, &renke::app::Actor::Operator("test"), id as i32).await.unwrap_err();
        assert!(format!("{err:?}").contains("corrupt row response"), "{err:?}");
        // The aggregates are as they were: the one answer still waits in its release cell.
        let tally = renke::store::tally::load(&app.db, id as i32).await.unwrap();
        assert_eq!(tally.strata.values().map(|c| c.sums.n).sum::<i64>(), 0);
        assert_eq!(renke::store::releases::waiting(&app.db, id as i32).await.unwrap(), 1);
    }
}

backend_test! {
    async fn a_draft_is_changed_only_while_it_is_a_draft_even_for_a_request_that_read_it_so(app) {
        let (organizer, id) = county_survey(&app).await;
        let survey = renke::store::surveys::find(&app.db, id as i32, None).await.unwrap().unwrap();
        assert!(renke::store::surveys::update_draft_settings(&app.db, id as i32, &survey.settings).await.unwrap());
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/open"))).json(&serde_json::json!({"confirm": true})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        // A request that read the survey as a draft before it opened: its write is refused.
        assert!(!renke::store::surveys::update_draft_settings(&app.db, id as i32, &survey.settings).await.unwrap());
        // Opening pinned every booklet's version in the same transaction.
        let pinned = app.db.query_all_raw(sea_orm::Statement::from_string(app.db.get_database_backend(), format!("SELECT booklet FROM survey_booklet WHERE survey_id = {id}"))).await.unwrap();
        assert_eq!(pinned.len(), 3);
        for path in ["areas", "schools"] {
            let res = organizer.put(app.url(&format!("/api/v1/surveys/{id}/{path}"))).json(&json!([])).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::CONFLICT, "{path}");
        }
    }
}

backend_test! {
    async fn every_use_case_that_changes_something_is_in_the_audit_trail(app) {
        let (organizer, id) = county_survey(&app).await;
        upload(&app, &organizer, id, "public", roster("public", 30)).await;
        organizer.post(app.url(&format!("/api/v1/surveys/{id}/draws"))).json(&json!({"seed": 1})).send().await.unwrap();
        organizer.post(app.url(&format!("/api/v1/surveys/{id}/channels"))).json(&json!({"group": "public"})).send().await.unwrap();
        let trail: Value = app.admin().await.get(app.url("/api/v1/audit")).send().await.unwrap().json().await.unwrap();
        let actions: Vec<&str> = trail["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        for a in ["survey_created", "areas_set", "schools_set", "roster_upload", "draw", "channel_created"] {
            assert!(actions.contains(&a), "{a} in {actions:?}");
        }
        assert_eq!(trail["chain"]["intact"], true);
    }
}

/// `RENKE_DATABASE_SCHEMA`: Renke's tables in a schema of their own, beside whatever else the
/// database holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_renke_may_keep_its_tables_in_a_schema_of_its_own() {
    if std::env::var_os("RENKE_TEST_POSTGRES_URL").is_none() {
        say("SKIPPED (PostgreSQL schema): RENKE_TEST_POSTGRES_URL is not set");
        return;
    }
    let own = crate::helpers::spawn_app(Backend::Postgres).await.unwrap();
    own.db
        .execute_unprepared("CREATE SCHEMA renke_apart")
        .await
        .unwrap();
    let settings = own.settings.clone();
    let app = spawn_app_with(Backend::Postgres, |s| {
        s.database_url = settings.database_url.clone();
        s.database_schema = Some("renke_apart".into());
    })
    .await
    .unwrap();
    let county = app.create_county("永嘉县").await;
    assert!(county > 0);
    let in_schema = own
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            own.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM renke_apart.county".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(in_schema, 1);
}
