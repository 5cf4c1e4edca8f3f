//! The authorisation matrix: every route of the route table × every role → the class of answer
//! its declared access promises. The routes and their access are the route table's own data
//! (`renke::web::ROUTES`): a new route cannot be added without saying who may reach it, and
//! this test then holds it to that.
use crate::helpers::{ADMIN, ADMIN_PASSWORD, PASSWORD, backend_test, new_client};
use crate::sampling::{county_survey, roster, upload};
use renke::web::{Access, ROUTES};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

#[test]
fn the_route_table_lists_every_route_once_with_its_access() {
    assert!(ROUTES.len() > 60, "{}", ROUTES.len());
    let mut seen = std::collections::HashSet::new();
    for r in ROUTES {
        assert!(
            seen.insert((r.method, r.path)),
            "{} {} twice",
            r.method,
            r.path
        );
    }
    // Respondent links and the health check are public; the audit trail is the admins'.
    let access = |m: &str, p: &str| {
        ROUTES
            .iter()
            .find(|r| r.method == m && r.path == p)
            .map(|r| r.access)
    };
    assert_eq!(access("POST", "/s/{token}"), Some(Access::Public));
    assert_eq!(access("GET", "/healthz"), Some(Access::Public));
    assert_eq!(access("GET", "/api/v1/audit"), Some(Access::Admin));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_a_path_does_not_serve_is_405_with_the_methods_it_does() {
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    for (method, path, allow) in [
        ("PUT", "/s/abc", "GET, POST"),
        ("DELETE", "/api/v1/surveys/1/plan", "GET"),
        ("POST", "/admin/surveys/new", "GET"),
    ] {
        let res = app
            .client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(path),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(res.headers()["allow"], allow, "{method} {path}");
    }
    let res = app
        .client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

backend_test! {
    async fn every_route_answers_every_role_as_the_matrix_says(app) {
        // County A with a drawn survey, a channel and an invitation; county B's organiser.
        let (organizer_api, id) = county_survey(&app).await;
        upload(&app, &organizer_api, id, "public", roster("public", 30)).await;
        let draw: Value = organizer_api.post(app.url(&format!("/api/v1/surveys/{id}/draws"))).json(&json!({"seed": 1})).send().await.unwrap().json().await.unwrap();
        let ch: Value = organizer_api.post(app.url(&format!("/api/v1/surveys/{id}/channels"))).json(&json!({"group": "public"})).send().await.unwrap().json().await.unwrap();
        // A print run (before opening: once open, the public's places are all the draw's).
        let batch: Value = organizer_api.post(app.url(&format!("/api/v1/surveys/{id}/paper"))).json(&json!({"group": "public", "copies": 3})).send().await.unwrap().json().await.unwrap();
        // Opened, so no route of the walk draws again and revokes the invitation used below.
        let res = organizer_api.post(app.url(&format!("/api/v1/surveys/{id}/open"))).json(&json!({"confirm": true})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let csv = organizer_api.get(app.url(&format!("/api/v1/surveys/{id}/invitations.csv"))).send().await.unwrap().text().await.unwrap();
        let url = csv.lines().nth(1).unwrap().rsplit(',').next().unwrap().to_owned();
        let token = url.rsplit('/').next().unwrap().to_owned();
        let invitation = i64::from_str_radix(token.split('.').next().unwrap(), 36).unwrap();
        let me: Value = organizer_api.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
        let county = me["user"]["county_id"].as_i64().unwrap();
        let admin = app.admin().await;
        for (u, role, c) in [("viewer-a", "viewer", county), ("organizer-a", "organizer", county)] {
            admin.post(app.url("/api/v1/users")).json(&json!({"username": u, "password": PASSWORD, "role": role, "county_id": c})).send().await.unwrap();
        }
        // A user of its own for the user routes (an admin's form would otherwise change a role's).
        let spare: Value = admin.post(app.url("/api/v1/users")).json(&json!({"username": "spare", "password": PASSWORD, "role": "viewer", "county_id": county})).send().await.unwrap().json().await.unwrap();
        admin.post(app.url("/api/v1/users")).json(&json!({"username": "school-a", "password": PASSWORD, "role": "school", "county_id": county, "school": "城关一小"})).send().await.unwrap();
        admin.post(app.url("/api/v1/users")).json(&json!({"username": "interviewer-a", "password": PASSWORD, "role": "interviewer", "county_id": county})).send().await.unwrap();
        let res = organizer_api.put(app.url(&format!("/api/v1/surveys/{id}/interviewers"))).json(&json!({"username": "interviewer-a", "groups": ["public"]})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let other = app.create_county("乙县").await;
        admin.post(app.url("/api/v1/users")).json(&json!({"username": "stranger", "password": PASSWORD, "role": "organizer", "county_id": other})).send().await.unwrap();

        let roles: Vec<(&str, Client)> = vec![
            ("anonymous", new_client()),
            ("viewer", crate::helpers::browser_login(&app, "viewer-a", PASSWORD).await.0),
            ("organizer", crate::helpers::browser_login(&app, "organizer-a", PASSWORD).await.0),
            ("admin", crate::helpers::browser_login(&app, ADMIN, ADMIN_PASSWORD).await.0),
            ("stranger", crate::helpers::browser_login(&app, "stranger", PASSWORD).await.0),
            ("school", crate::helpers::browser_login(&app, "school-a", PASSWORD).await.0),
            ("interviewer", crate::helpers::browser_login(&app, "interviewer-a", PASSWORD).await.0),
        ];
        let fill = |p: &str| {
            p.replace("{id}", &id.to_string())
                .replace("{draw}", &draw["id"].to_string())
                .replace("{invitation}", &invitation.to_string())
                .replace("{format}", "qr.svg")
                .replace("{code}", if p.contains("checklist") { "g01" } else { ch["code"].as_str().unwrap() })
                .replace("{group}", "public")
                .replace("{county}", &county.to_string())
                .replace("{file}", "social.toml")
                .replace("{token}", &token)
                .replace("{user}", &spare["id"].to_string())
                .replace("{action}", "reopen")
                .replace("{batch}", &batch["batch"]["id"].to_string())
                .replace("{serial}", batch["batch"]["first_serial"].as_str().unwrap())
        };
        let mut checked = 0;
        for route in ROUTES {
            let (method, pattern, access) = (route.method, route.path, route.access);
            // Closing/purging would change the state the rest of the matrix relies on: last.
            // Discarding the draw and deleting the survey likewise: `discard_and_delete_follow_the_matrix`.
            if pattern.ends_with("/purge") || pattern.ends_with("/close") || pattern.contains("logout") || pattern.ends_with("/discard") || pattern.ends_with("/delete") || method == "DELETE" {
                continue;
            }
            for (role, client) in &roles {
                // Forms carry the client's own CSRF token (read from a page it can see).
                let token_of = |html: String| html.split("name=\"csrf_token\" value=\"").nth(1).map(|s| s.split('"').next().unwrap_or("").to_owned());
                let page = if *role == "anonymous" { "/login" } else { "/admin" };
                let html = client.get(app.url(page)).send().await.unwrap().text().await.unwrap();
                let csrf = token_of(html).unwrap_or_default();
                let path = fill(pattern);
                let req = client.request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(&path));
                let req = if path.starts_with("/api/") {
                    req.header("content-type", "application/json").body("{}")
                } else if method != "GET" {
                    req.form(&[("csrf_token", csrf.as_str())])
                } else {
                    req
                };
                let res = tokio::time::timeout(std::time::Duration::from_secs(10), req.send()).await.unwrap().unwrap();
                let status = res.status();
                let page = !path.starts_with("/api/");
                let denied_anon = if page { status == StatusCode::SEE_OTHER && res.headers().get("location").is_some_and(|l| l.to_str().unwrap_or("").starts_with("/login")) } else { status == StatusCode::UNAUTHORIZED };
                let ok = !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) && !status.is_server_error();
                let expected = match (access, *role) {
                    // A login with no credentials answers 401 on purpose; nothing else public may.
                    (Access::Public, _) => !status.is_server_error() && (status != StatusCode::UNAUTHORIZED || pattern.ends_with("/login")),
                    (_, "anonymous") => denied_anon,
                    (Access::User, _) => ok,
                    (Access::SchoolRead, "stranger") => status == StatusCode::NOT_FOUND,
                    (Access::SchoolRead, "interviewer") => status == StatusCode::FORBIDDEN,
                    (Access::SchoolRead, _) => ok,
                    // Telephone interviews and paper entry: organisers and the survey's interviewers.
                    (Access::Fieldwork, "stranger") => status == StatusCode::NOT_FOUND,
                    (Access::Fieldwork, "viewer" | "school") => status == StatusCode::FORBIDDEN,
                    (Access::Fieldwork, _) => ok,
                    // An interviewer reaches its call lists and paper entry, nothing else.
                    (_, "interviewer") => status == StatusCode::FORBIDDEN,
                    // A school user reads its own school's results and nothing else of the county.
                    (_, "school") => status == StatusCode::FORBIDDEN,
                    (Access::Organizer, "viewer") => status == StatusCode::FORBIDDEN,
                    (Access::Organizer, _) => ok,
                    (Access::Admin, "admin") => ok,
                    (Access::Admin, _) => status == StatusCode::FORBIDDEN,
                    (Access::CountyRead, "stranger") | (Access::CountyOrganize, "stranger") => status == StatusCode::NOT_FOUND,
                    (Access::CountyOrganize, "viewer") => status == StatusCode::FORBIDDEN,
                    (Access::CountyRead | Access::CountyOrganize, _) => ok,
                };
                assert!(expected, "{method} {pattern} as {role}: {status} ({access:?})");
                checked += 1;
            }
        }
        assert!(checked > 400, "{checked}");
    }
}
