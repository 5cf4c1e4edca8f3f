use crate::helpers::{ADMIN, ADMIN_PASSWORD, backend_test, csrf_token, new_client};
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_test! {
    async fn login_sets_an_httponly_samesite_session_cookie(app) {
        let res = app
            .client
            .post(app.url("/api/v1/login"))
            .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookie.starts_with("renke_session="), "{cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        let me: Value = app.client.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["user"]["username"], ADMIN);
        assert!(me["user"].get("password_hash").is_none());
    }
}

backend_test! {
    async fn a_wrong_password_or_unknown_user_is_401_and_starts_no_session(app) {
        for (username, password) in [(ADMIN, "wrong-password"), ("nobody", ADMIN_PASSWORD)] {
            let res = app
                .client
                .post(app.url("/api/v1/login"))
                .json(&json!({"username": username, "password": password}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            assert!(res.headers().get("set-cookie").is_none());
            assert_eq!(res.json::<Value>().await.unwrap()["error"], "用户名或密码错误");
        }
        let res = app.client.get(app.url("/api/v1/me")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
}

backend_test! {
    async fn login_with_a_missing_field_names_it(app) {
        let res = app
            .client
            .post(app.url("/api/v1/login"))
            .json(&json!({"username": ADMIN}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.json::<Value>().await.unwrap()["field"], "password");
    }
}

backend_test! {
    async fn logout_ends_the_session_even_for_a_copied_cookie(app) {
        let res = app
            .client
            .post(app.url("/api/v1/login"))
            .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let replay = |path: &'static str| {
            reqwest::Client::new().get(app.url(path)).header("cookie", cookie.clone()).send()
        };
        assert_eq!(replay("/api/v1/me").await.unwrap().status(), StatusCode::OK);
        let res = app.client.post(app.url("/api/v1/logout")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(replay("/api/v1/me").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
}

backend_test! {
    async fn a_tampered_session_cookie_is_refused(app) {
        let res = app
            .client
            .post(app.url("/api/v1/login"))
            .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let mut tampered = cookie.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        let res = reqwest::Client::new()
            .get(app.url("/api/v1/me"))
            .header("cookie", tampered)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
}

backend_test! {
    async fn repeated_failed_logins_for_one_account_are_rate_limited(app) {
        let mut statuses = Vec::new();
        for _ in 0..12 {
            let res = app
                .client
                .post(app.url("/api/v1/login"))
                .json(&json!({"username": ADMIN, "password": "guess-guess"}))
                .send()
                .await
                .unwrap();
            statuses.push(res.status());
        }
        assert!(statuses[..10].iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
        assert_eq!(statuses[11], StatusCode::TOO_MANY_REQUESTS);
        // Even the right password waits now.
        let res = app
            .client
            .post(app.url("/api/v1/login"))
            .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}

backend_test! {
    async fn the_login_form_logs_in_and_redirects_to_the_page_asked_for(app) {
        let res = app.client.get(app.url("/admin/counties")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/login?next=%2Fadmin%2Fcounties");

        let page = app.client.get(app.url("/login?next=%2Fadmin%2Fcounties")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        let token = csrf_token(&html);
        assert!(html.contains("<label for=\"f-username\">"));

        let res = app
            .client
            .post(app.url("/login"))
            .form(&[("csrf_token", token.as_str()), ("username", "admin"), ("password", "nope-nope-nope"), ("next", "/admin/counties")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let html = res.text().await.unwrap();
        assert!(html.contains("用户名或密码错误") && html.contains("value=\"admin\""));

        let res = app
            .client
            .post(app.url("/login"))
            .form(&[("csrf_token", token.as_str()), ("username", ADMIN), ("password", ADMIN_PASSWORD), ("next", "/admin/counties")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/admin/counties");
        let res = app.client.get(app.url("/admin/counties")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
}

backend_test! {
    async fn login_never_redirects_to_another_site(app) {
        let html = app.client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
        let token = csrf_token(&html);
        for next in ["//evil.example/", "https://evil.example/", "/\\evil.example"] {
            let res = app
                .client
                .post(app.url("/login"))
                .form(&[("csrf_token", token.as_str()), ("username", ADMIN), ("password", ADMIN_PASSWORD), ("next", next)])
                .send()
                .await
                .unwrap();
            assert_eq!(res.headers()["location"], "/admin", "next = {next}");
        }
    }
}

backend_test! {
    async fn a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(app) {
        let admin = new_client();
        let html = admin.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
        let token = csrf_token(&html);
        // Missing and wrong tokens on the login form.
        for form in [
            vec![("username", ADMIN), ("password", ADMIN_PASSWORD)],
            vec![("csrf_token", "x".repeat(43).leak() as &str), ("username", ADMIN), ("password", ADMIN_PASSWORD)],
        ] {
            let res = admin.post(app.url("/login")).form(&form).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
            assert!(res.text().await.unwrap().contains("页面已过期"));
        }
        let res = admin
            .post(app.url("/login"))
            .form(&[("csrf_token", token.as_str()), ("username", ADMIN), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);

        // Logged in: a county form without the token creates nothing.
        let res = admin.post(app.url("/admin/counties")).form(&[("name", "伪造县")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        // A cross-site origin is refused even with the token.
        let res = admin
            .post(app.url("/admin/counties"))
            .header("origin", "https://evil.example")
            .form(&[("csrf_token", token.as_str()), ("name", "伪造县")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let counties: Value = admin.get(app.url("/api/v1/counties")).send().await.unwrap().json().await.unwrap();
        assert_eq!(counties, json!([]));
        // With the token, from the same origin, it works.
        let res = admin
            .post(app.url("/admin/counties"))
            .header("origin", app.address.clone())
            .form(&[("csrf_token", token.as_str()), ("name", "永嘉县")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let counties: Value = admin.get(app.url("/api/v1/counties")).send().await.unwrap().json().await.unwrap();
        assert_eq!(counties[0]["name"], "永嘉县");
    }
}

backend_test! {
    async fn the_json_api_refuses_form_encoded_bodies(app) {
        let admin = app.admin().await;
        let res = admin
            .post(app.url("/api/v1/counties"))
            .form(&[("name", "永嘉县")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let counties: Value = admin.get(app.url("/api/v1/counties")).send().await.unwrap().json().await.unwrap();
        assert_eq!(counties, json!([]));
    }
}

backend_test! {
    async fn logging_out_through_the_page_returns_to_the_login_form(app) {
        let client = new_client();
        let html = client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
        let token = csrf_token(&html);
        client
            .post(app.url("/login"))
            .form(&[("csrf_token", token.as_str()), ("username", ADMIN), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(client.get(app.url("/admin")).send().await.unwrap().status(), StatusCode::OK);
        let res = client.post(app.url("/logout")).form(&[("csrf_token", token.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/login");
        assert_eq!(client.get(app.url("/admin")).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    }
}

backend_test! {
    async fn guesses_from_everywhere_do_not_lock_a_user_out_of_an_address_they_use(app) {
        // Behind a proxy the client's address is the forwarded one: each request says its own.
        let backend = match app.db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => crate::helpers::Backend::Postgres,
            _ => crate::helpers::Backend::Sqlite,
        };
        let app = crate::helpers::spawn_app_with(backend, |s| s.trust_proxy = true).await.unwrap();
        let login = |from: String, password: &'static str| {
            let c = app.client.clone();
            let url = app.url("/api/v1/login");
            async move {
                c.post(url).header("x-forwarded-for", from).json(&json!({"username": ADMIN, "password": password})).send().await.unwrap().status()
            }
        };
        // The admin's office address: logged in from it once.
        assert_eq!(login("198.51.100.7".into(), ADMIN_PASSWORD).await, StatusCode::OK);
        // Someone guesses from many addresses, one try each: the account's limit is reached.
        let mut statuses = Vec::new();
        for i in 0..14 {
            statuses.push(login(format!("203.0.113.{i}"), "guess-guess").await);
        }
        assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
        // From an address never used, even the right password waits; from the office it does not.
        assert_eq!(login("192.0.2.55".into(), ADMIN_PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(login("198.51.100.7".into(), ADMIN_PASSWORD).await, StatusCode::OK);
        // One address guessing on is held back whatever it has done before.
        let mut office = Vec::new();
        for _ in 0..12 {
            office.push(login("198.51.100.7".into(), "guess-guess").await);
        }
        assert_eq!(office.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "{office:?}");
    }
}
