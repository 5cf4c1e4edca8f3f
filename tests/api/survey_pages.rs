use crate::helpers::{PASSWORD, TestApp, backend_test, browser_login};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

async fn organiser(app: &TestApp) -> (Client, String, i32) {
    let county = app.create_county("永嘉县").await;
    let admin = app.admin().await;
    let res = admin
        .post(app.url("/api/v1/users"))
        .json(&json!({"username": "zhang", "password": PASSWORD, "role": "organizer", "county_id": county}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let (client, token) = browser_login(app, "zhang", PASSWORD).await;
    (client, token, county)
}

fn survey_form<'a>(
    token: &'a str,
    name: &'a str,
    population: &'a str,
) -> Vec<(&'static str, &'a str)> {
    vec![
        ("csrf_token", token),
        ("name", name),
        ("population", population),
        ("rate_permille", "1.5"),
        ("parent_share", "0.5"),
        ("floor", "0"),
        ("target_percent", "85"),
        ("opens_at", "2026-12-01T08:00"),
        ("closes_at", "2026-12-06T18:00"),
    ]
}

backend_test! {
    async fn the_survey_form_creates_a_survey_whose_page_spells_out_the_plan(app) {
        let (client, token, _) = organiser(&app).await;
        let page = client.get(app.url("/admin/surveys/new")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("<label for=\"f-population\">常住人口（人）</label>"));

        let res = client
            .post(app.url("/admin/surveys"))
            .form(&survey_form(&token, "2026 年调查", "869,548"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.ends_with("?done=created"), "{location}");
        let html = client.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("调查已创建（草稿）"), "{html}");
        assert!(html.contains("⌈869,548 × 1.5‰⌉ = ⌈1,304.322⌉ = 1,305"), "{html}");
        assert!(html.contains("⌈1,305 × 0.5⌉ = ⌈652.5⌉ = 653"));
        assert!(html.contains("余 4，按固定顺序由学生、教师、校长、人大代表各多 1 人"));
        assert!(html.contains("2026-12-01 08:00 至 2026-12-06 18:00"));

        // The window was taken as Beijing time.
        let list: Value = client.get(app.url("/api/v1/surveys")).send().await.unwrap().json().await.unwrap();
        assert_eq!(list[0]["opens_at"], "2026-12-01T00:00:00Z");

        // The list shows it.
        let home = client.get(app.url("/admin")).send().await.unwrap().text().await.unwrap();
        assert!(home.contains("2026 年调查") && home.contains("1,305"));
    }
}

backend_test! {
    async fn a_bad_survey_form_comes_back_with_the_field_marked_and_the_values_kept(app) {
        let (client, token, _) = organiser(&app).await;
        let cases = [
            (survey_form(&token, "调查", "很多"), "population", "常住人口必须是正整数"),
            (survey_form(&token, "", "1000"), "name", "调查名称"),
            ({
                let mut f = survey_form(&token, "调查", "1000");
                f[4] = ("parent_share", "0.2");
                f
            }, "parent_share", "家长占比"),
            ({
                let mut f = survey_form(&token, "调查", "1000");
                f[8] = ("closes_at", "2026-11-30T08:00");
                f
            }, "closes_at", "结束时间必须晚于开始时间"),
        ];
        for (form, field, message) in cases {
            let res = client.post(app.url("/admin/surveys")).form(&form).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{field}");
            let html = res.text().await.unwrap();
            assert!(html.contains(message), "{field}: {html}");
            assert!(html.contains(&format!("id=\"f-{field}\"")), "{field}");
            assert!(html.contains("aria-invalid=\"true\""), "{field}");
            // What was typed is still there.
            let population = form.iter().find(|(k, _)| *k == "population").unwrap().1;
            assert!(html.contains(&format!("value=\"{population}\"")), "{field}");
        }
        let list: Value = client.get(app.url("/api/v1/surveys")).send().await.unwrap().json().await.unwrap();
        assert_eq!(list, json!([]));
    }
}

backend_test! {
    async fn a_draft_is_edited_opened_and_closed_from_its_page(app) {
        let (client, token, _) = organiser(&app).await;
        let res = client.post(app.url("/admin/surveys")).form(&survey_form(&token, "初稿", "1000")).send().await.unwrap();
        let location = res.headers()["location"].to_str().unwrap().trim_end_matches("?done=created").to_owned();
        let edit = client.get(app.url(&format!("{location}/edit"))).send().await.unwrap().text().await.unwrap();
        assert!(edit.contains("value=\"初稿\"") && edit.contains("value=\"1000\""));
        assert!(edit.contains("value=\"2026-12-01T08:00\""));
        let res = client
            .post(app.url(&format!("{location}/edit")))
            .form(&survey_form(&token, "定稿", "1000000"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let html = client.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("定稿") && html.contains("1,500"));

        let res = client.post(app.url(&format!("{location}/open"))).form(&[("csrf_token", token.as_str()), ("confirm", "1")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let html = client.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("已开放") && html.contains("结束调查"));
        // Open surveys cannot be edited.
        let res = client.get(app.url(&format!("{location}/edit"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("不能再修改设置"));
        // Ending asks for a tick; the page says it ended (after a redirect: a reload repeats
        // nothing), and the end form's address opened by hand leads back to the page.
        let res = client.post(app.url(&format!("{location}/close"))).form(&[("csrf_token", token.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("确认结束"));
        let res = client.post(app.url(&format!("{location}/close"))).form(&[("csrf_token", token.as_str()), ("confirm", "1")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let to = res.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(to, format!("{location}?done=closed"));
        let html = client.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("已结束") && html.contains("调查已结束，不再接受回答"));
        // The start time is the opening's, not a dash.
        assert!(!html.contains("— 至"), "{html}");
        let res = client.get(app.url(&format!("{location}/close"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], location.as_str());
        let res = client.get(app.url("/admin/surveys/1/draws/%0d%0aX/discard")).send().await.unwrap();
        assert_eq!(res.headers()["location"], "/admin", "only plain ids go back into an address");
    }
}

backend_test! {
    async fn the_admin_pages_add_counties_and_users(app) {
        let (client, token) = browser_login(&app, crate::helpers::ADMIN, crate::helpers::ADMIN_PASSWORD).await;
        let res = client.post(app.url("/admin/counties")).form(&[("csrf_token", token.as_str()), ("name", "永嘉县")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let res = client.post(app.url("/admin/counties")).form(&[("csrf_token", token.as_str()), ("name", "永嘉县")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("已有同名"));
        let html = client.get(app.url("/admin/counties")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("永嘉县"));

        let res = client
            .post(app.url("/admin/users"))
            .form(&[("csrf_token", token.as_str()), ("username", "li"), ("password", PASSWORD), ("role", "viewer"), ("county_id", "1")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("用户名须为"));
        let res = client
            .post(app.url("/admin/users"))
            .form(&[("csrf_token", token.as_str()), ("username", "lisi"), ("password", PASSWORD), ("role", "viewer"), ("county_id", "1")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let html = client.get(app.url("/admin/users")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("lisi") && html.contains("查看者"));
        // The new viewer can log in and sees no organiser buttons.
        let (viewer, _) = browser_login(&app, "lisi", PASSWORD).await;
        let home = viewer.get(app.url("/admin")).send().await.unwrap().text().await.unwrap();
        assert!(!home.contains("新建调查"));
        assert_eq!(viewer.get(app.url("/admin/surveys/new")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    }
}

backend_test! {
    async fn html_error_pages_keep_their_status_and_speak_chinese(app) {
        let (client, _, _) = organiser(&app).await;
        let res = client.get(app.url("/no/such/page")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(res.text().await.unwrap().contains("未找到"));
    }
}
