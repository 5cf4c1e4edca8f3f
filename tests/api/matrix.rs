//! The authorisation matrix: every route of the route table × every role → the expected class
//! of answer. The routes are read from `src/web/mod.rs`, so a new route without an entry here
//! fails this test.
use crate::helpers::{ADMIN, ADMIN_PASSWORD, PASSWORD, backend_test, new_client};
use crate::sampling::{county_survey, roster, upload};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Who may reach a route.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Access {
    /// Anyone; never a 5xx.
    Public,
    /// Any logged-in user (API: anonymous gets 401).
    User,
    /// A user of the survey's county, viewers included; another county's user gets 404.
    CountyRead,
    /// An organiser of the survey's county (viewers 403, other counties 404).
    CountyOrganize,
    /// Platform admins only.
    Admin,
    /// Any organiser (of their own county) or admin; viewers 403.
    Organizer,
}

/// Every route with the access it must have.
fn matrix() -> BTreeMap<(&'static str, &'static str), Access> {
    use Access::*;
    let rows: &[(&str, &str, Access)] = &[
        ("GET", "/healthz", Public),
        ("GET", "/static/renke.css", Public),
        ("GET", "/static/respond.js", Public),
        ("GET", "/static/dashboard.js", Public),
        ("GET", "/api/v1/quota", Public),
        ("POST", "/api/v1/login", Public),
        ("POST", "/api/v1/logout", Public),
        ("GET", "/api/v1/me", User),
        ("GET", "/api/v1/counties", User),
        ("POST", "/api/v1/counties", Admin),
        ("GET", "/api/v1/users", Admin),
        ("POST", "/api/v1/users", Admin),
        ("GET", "/api/v1/surveys", User),
        ("POST", "/api/v1/surveys", Organizer),
        ("GET", "/api/v1/surveys/{id}", CountyRead),
        ("PUT", "/api/v1/surveys/{id}", CountyOrganize),
        ("GET", "/api/v1/surveys/{id}/plan", CountyRead),
        ("GET", "/api/v1/surveys/{id}/areas", CountyRead),
        ("PUT", "/api/v1/surveys/{id}/areas", CountyOrganize),
        ("GET", "/api/v1/surveys/{id}/schools", CountyRead),
        ("PUT", "/api/v1/surveys/{id}/schools", CountyOrganize),
        (
            "POST",
            "/api/v1/surveys/{id}/frames/{group}",
            CountyOrganize,
        ),
        ("GET", "/api/v1/surveys/{id}/frames/{group}", CountyOrganize),
        ("POST", "/api/v1/surveys/{id}/draws", CountyOrganize),
        ("GET", "/api/v1/surveys/{id}/draws/{draw}", CountyRead),
        (
            "GET",
            "/api/v1/surveys/{id}/draws/{draw}/verify",
            CountyRead,
        ),
        (
            "GET",
            "/api/v1/surveys/{id}/invitations.csv",
            CountyOrganize,
        ),
        (
            "GET",
            "/api/v1/surveys/{id}/invitations/{invitation}/{format}",
            CountyOrganize,
        ),
        (
            "POST",
            "/api/v1/surveys/{id}/reserves/release",
            CountyOrganize,
        ),
        ("POST", "/api/v1/surveys/{id}/channels", CountyOrganize),
        ("GET", "/api/v1/surveys/{id}/channels", CountyRead),
        (
            "GET",
            "/api/v1/surveys/{id}/channels/{code}/{format}",
            CountyRead,
        ),
        ("POST", "/api/v1/surveys/{id}/purge", CountyOrganize),
        ("GET", "/api/v1/audit", Admin),
        ("GET", "/api/v1/counties/{county}/readiness", CountyRead),
        (
            "GET",
            "/api/v1/counties/{county}/readiness.xlsx",
            CountyRead,
        ),
        (
            "GET",
            "/api/v1/counties/{county}/readiness/template.csv",
            Public,
        ),
        (
            "POST",
            "/api/v1/counties/{county}/readiness/schools",
            CountyOrganize,
        ),
        (
            "PUT",
            "/api/v1/counties/{county}/readiness/checklist/{code}",
            CountyOrganize,
        ),
        ("GET", "/api/v1/surveys/{id}/tally", CountyRead),
        ("GET", "/api/v1/surveys/{id}/tally.xlsx", CountyRead),
        ("GET", "/api/v1/surveys/{id}/responses.csv", CountyRead),
        ("GET", "/api/v1/surveys/{id}/responses.xlsx", CountyRead),
        ("GET", "/api/v1/surveys/{id}/questionnaires", CountyRead),
        (
            "POST",
            "/api/v1/surveys/{id}/questionnaires",
            CountyOrganize,
        ),
        (
            "GET",
            "/api/v1/surveys/{id}/questionnaires/{file}",
            CountyRead,
        ),
        ("POST", "/api/v1/surveys/{id}/open", CountyOrganize),
        ("POST", "/api/v1/surveys/{id}/close", CountyOrganize),
        ("GET", "/", Public),
        ("GET", "/login", Public),
        ("POST", "/login", Public),
        ("POST", "/logout", Public),
        ("GET", "/admin", User),
        ("GET", "/admin/counties", Admin),
        ("POST", "/admin/counties", Admin),
        ("GET", "/admin/users", Admin),
        ("POST", "/admin/users", Admin),
        ("GET", "/admin/surveys/new", Organizer),
        ("POST", "/admin/surveys", Organizer),
        ("GET", "/admin/surveys/{id}", CountyRead),
        ("GET", "/admin/surveys/{id}/edit", CountyOrganize),
        ("POST", "/admin/surveys/{id}/edit", CountyOrganize),
        ("POST", "/admin/surveys/{id}/open", CountyOrganize),
        ("POST", "/admin/surveys/{id}/close", CountyOrganize),
        ("GET", "/admin/surveys/{id}/sample", CountyOrganize),
        ("POST", "/admin/surveys/{id}/areas", CountyOrganize),
        ("POST", "/admin/surveys/{id}/schools", CountyOrganize),
        ("POST", "/admin/surveys/{id}/frames/{group}", CountyOrganize),
        ("POST", "/admin/surveys/{id}/draws", CountyOrganize),
        ("GET", "/admin/surveys/{id}/draws/{draw}", CountyRead),
        ("GET", "/admin/surveys/{id}/invitations", CountyOrganize),
        (
            "GET",
            "/admin/surveys/{id}/invitations/print",
            CountyOrganize,
        ),
        ("POST", "/admin/surveys/{id}/channels", CountyOrganize),
        ("POST", "/admin/surveys/{id}/reserves", CountyOrganize),
        ("POST", "/admin/surveys/{id}/purge", CountyOrganize),
        ("GET", "/admin/surveys/{id}/dashboard", CountyRead),
        ("GET", "/admin/surveys/{id}/dashboard/events", CountyRead),
        ("GET", "/admin/surveys/{id}/report", CountyRead),
        ("GET", "/admin/surveys/{id}/questionnaires", CountyRead),
        ("POST", "/admin/surveys/{id}/questionnaires", CountyOrganize),
        ("GET", "/admin/counties/{county}/readiness", CountyRead),
        (
            "POST",
            "/admin/counties/{county}/readiness/schools",
            CountyOrganize,
        ),
        (
            "POST",
            "/admin/counties/{county}/readiness/checklist",
            CountyOrganize,
        ),
        ("GET", "/s/{token}", Public),
        ("POST", "/s/{token}", Public),
        ("GET", "/o/{code}", Public),
        ("POST", "/o/{code}", Public),
    ];
    rows.iter().map(|(m, p, a)| ((*m, *p), *a)).collect()
}

/// Reads (method, path) pairs from the route table in `src/web/mod.rs`.
fn route_table() -> Vec<(String, String)> {
    let src =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/mod.rs")).unwrap();
    let body = &src[src.find("pub fn routes(").unwrap()..];
    let body = &body[..body.find("\n}\n").unwrap()];
    let mut out = Vec::new();
    let mut scope = String::new();
    let mut path = String::new();
    let mut depth_scope = None;
    let tokens: Vec<&str> = body.split(['\n']).collect();
    let mut depth = 0i32;
    for line in tokens {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("web::scope(\"") {
            scope = rest[..rest.find('"').unwrap()].to_owned();
            depth_scope = Some(depth);
        }
        for quoted in l.split('"').skip(1).step_by(2) {
            if quoted.starts_with('/') || quoted.is_empty() {
                if l.contains("web::scope(") {
                    continue;
                }
                path = quoted.to_owned();
            }
        }
        for m in ["get", "post", "put", "delete", "patch"] {
            if l.contains(&format!("web::{m}()")) {
                out.push((m.to_uppercase(), format!("{scope}{path}")));
            }
        }
        depth += l.matches('(').count() as i32 - l.matches(')').count() as i32;
        if let Some(d) = depth_scope
            && depth < d
        {
            scope.clear();
            depth_scope = None;
        }
    }
    out
}

#[test]
fn every_route_of_the_route_table_has_an_entry_in_the_matrix() {
    let matrix = matrix();
    let routes = route_table();
    assert!(routes.len() > 60, "{routes:?}");
    for (m, p) in &routes {
        assert!(
            matrix.contains_key(&(m.as_str(), p.as_str())),
            "no matrix entry for {m} {p}"
        );
    }
    for (m, p) in matrix.keys() {
        assert!(
            routes.iter().any(|(rm, rp)| rm == m && rp == p),
            "matrix entry for a route that does not exist: {m} {p}"
        );
    }
}

backend_test! {
    async fn every_route_answers_every_role_as_the_matrix_says(app) {
        // County A with a drawn survey, a channel and an invitation; county B's organiser.
        let (organizer_api, id) = county_survey(&app).await;
        upload(&app, &organizer_api, id, "public", roster("public", 30)).await;
        let draw: Value = organizer_api.post(app.url(&format!("/api/v1/surveys/{id}/draws"))).json(&json!({"seed": 1})).send().await.unwrap().json().await.unwrap();
        let ch: Value = organizer_api.post(app.url(&format!("/api/v1/surveys/{id}/channels"))).json(&json!({"group": "public"})).send().await.unwrap().json().await.unwrap();
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
        let other = app.create_county("乙县").await;
        admin.post(app.url("/api/v1/users")).json(&json!({"username": "stranger", "password": PASSWORD, "role": "organizer", "county_id": other})).send().await.unwrap();

        let roles: Vec<(&str, Client)> = vec![
            ("anonymous", new_client()),
            ("viewer", crate::helpers::browser_login(&app, "viewer-a", PASSWORD).await.0),
            ("organizer", crate::helpers::browser_login(&app, "organizer-a", PASSWORD).await.0),
            ("admin", crate::helpers::browser_login(&app, ADMIN, ADMIN_PASSWORD).await.0),
            ("stranger", crate::helpers::browser_login(&app, "stranger", PASSWORD).await.0),
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
        };
        let mut checked = 0;
        for ((method, pattern), access) in matrix() {
            // Closing/purging would change the state the rest of the matrix relies on: last.
            if pattern.ends_with("/purge") || pattern.ends_with("/close") || pattern.contains("logout") {
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
        assert!(checked > 300, "{checked}");
    }
}
