use crate::helpers::{TestApp, backend_test, new_client};
use crate::sampling::{county_survey, upload_all};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_owned()
}

/// The item ids of a form, in order.
pub fn item_ids(html: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for part in html.split("<fieldset").skip(1) {
        let marker = "id=\"q-";
        let start = part.find(marker).unwrap() + marker.len();
        let end = part[start..].find('"').unwrap();
        ids.push(part[start..start + end].to_owned());
    }
    ids
}

/// A filled-in form: every item answered with `code` except those in `skip`.
pub fn answers(html: &str, code: &str, skip: &[usize]) -> Vec<(String, String)> {
    let mut form = vec![("_form".to_owned(), hidden(html, "_form"))];
    for (i, id) in item_ids(html).into_iter().enumerate() {
        if !skip.contains(&i) {
            form.push((id, code.to_owned()));
        }
    }
    form
}

/// A survey with a drawn sample of parents, open; returns the organiser, survey and invitation URLs.
pub async fn open_survey_with_invitations(app: &TestApp) -> (Client, i64, Vec<String>) {
    let (organizer, id) = county_survey(app).await;
    upload_all(app, &organizer, id).await;
    crate::sampling::draw(app, &organizer, id, json!(9)).await;
    crate::sampling::open(app, &organizer, id).await;
    let urls = parent_links(app, &organizer, id).await;
    (organizer, id, urls)
}

/// The parents' invitation links of a survey with a draw.
pub async fn parent_links(app: &TestApp, organizer: &Client, id: i64) -> Vec<String> {
    crate::sampling::invitations(app, organizer, id)
        .await
        .into_iter()
        .filter(|r| r["群体"] == "家长")
        .map(|r| r["链接"].clone())
        .collect()
}

/// The survey's responses as stored (the rows themselves, to check what is kept).
pub async fn responses(app: &TestApp, id: i64) -> Vec<renke::entity::response::Model> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    renke::entity::response::Entity::find()
        .filter(renke::entity::response::Column::SurveyId.eq(id as i32))
        .order_by_asc(renke::entity::response::Column::SubmittedHour)
        .all(&app.db)
        .await
        .unwrap()
}

backend_test! {
    async fn the_questionnaire_api_describes_each_booklet_with_its_scale(app) {
        let (organizer, id) = county_survey(&app).await;
        let booklets: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/questionnaires"))).send().await.unwrap().json().await.unwrap();
        let booklets = booklets.as_array().unwrap();
        assert_eq!(booklets.len(), 3);
        let social = &booklets[0];
        assert_eq!(social["booklet"], "social");
        assert_eq!(social["groups"], json!(["parent", "npc_deputy", "cppcc_member", "public"]));
        assert_eq!(booklets[1]["groups"], json!(["teacher", "principal"]));
        assert_eq!(booklets[2]["groups"], json!(["student"]));
        for b in booklets {
            let n = b["items"].as_array().unwrap().len();
            assert!((10..=14).contains(&n));
        }
        assert_eq!(social["scale"][0], json!({"code": "A", "label": "满意", "recognized": true, "counted": true}));
        assert_eq!(social["scale"][4], json!({"code": "E", "label": "不了解", "recognized": false, "counted": false}));
        assert_eq!(social["items"][0]["dimension"], "equity_policy");
    }
}

backend_test! {
    async fn an_invited_parent_answers_once_and_a_retried_submit_is_thanked_again(app) {
        let (_, id, urls) = open_survey_with_invitations(&app).await;
        let phone = new_client();
        let res = phone.get(&urls[0]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("匿名填写") && html.contains("约需"));
        let form = answers(&html, "B", &[]);
        let res = phone.post(&urls[0]).form(&form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("提交成功"));
        // The same submission again (a dropped connection, a double tap): thanks, nothing new.
        let res = phone.post(&urls[0]).form(&form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("提交成功"));
        assert_eq!(responses(&app, id).await.len(), 1);
        // Opening the link again, or a new submission: already answered, nothing changes.
        let res = phone.get(&urls[0]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("您已提交过问卷"));
        let other = answers(&html.replace(&form[0].1, "x"), "A", &[]);
        let res = phone.post(&urls[0]).form(&other).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let stored = responses(&app, id).await;
        assert_eq!(stored.len(), 1);
        let r = &stored[0];
        assert_eq!(r.grp, "parent");
        assert_eq!(r.booklet, "social");
        assert!(r.area_id.is_some() && r.area_class.is_some() && r.band.is_some());
        let answers: Value = serde_json::from_str(&r.answers).unwrap();
        assert_eq!(answers["S01"], "B");
        assert!(r.straight_lined, "every item on one option is flagged");
        assert!(r.too_fast, "answered in under a second");
        use chrono::Timelike;
        assert_eq!((r.submitted_hour.minute(), r.submitted_hour.second()), (0, 0));
    }
}

backend_test! {
    async fn a_form_with_missing_items_comes_back_with_them_marked_and_answers_kept(app) {
        let (_, id, urls) = open_survey_with_invitations(&app).await;
        let phone = new_client();
        let html = phone.get(&urls[1]).send().await.unwrap().text().await.unwrap();
        let mut form = answers(&html, "A", &[2, 6]);
        form.push(("comment".into(), "希望多开展体育活动".into()));
        let res = phone.post(&urls[1]).form(&form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let page = res.text().await.unwrap();
        assert!(page.contains("还有 2 题没有作答"), "{page}");
        assert!(page.contains("href=\"#q-S03\">第 3 题</a>") && page.contains("第 7 题"));
        assert_eq!(page.matches("fieldset class=\"q missing\"").count(), 2);
        assert_eq!(page.matches(" checked>").count(), 10, "answers kept");
        assert!(page.contains("希望多开展体育活动"));
        assert_eq!(hidden(&page, "_form"), form[0].1, "the same submission goes on");
        assert_eq!(responses(&app, id).await.len(), 0);
        // Completed, it is stored with its comment.
        let mut done = answers(&page, "C", &[]);
        done.push(("comment".into(), "希望多开展体育活动".into()));
        let res = phone.post(&urls[1]).form(&done).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(responses(&app, id).await[0].comment.as_deref(), Some("希望多开展体育活动"));
    }
}

backend_test! {
    async fn unknown_fields_codes_and_overlong_comments_are_refused_and_change_nothing(app) {
        let (_, id, urls) = open_survey_with_invitations(&app).await;
        let phone = new_client();
        let html = phone.get(&urls[2]).send().await.unwrap().text().await.unwrap();
        let mut unknown_field = answers(&html, "A", &[]);
        unknown_field.push(("is_admin".into(), "1".into()));
        let mut unknown_code = answers(&html, "A", &[0]);
        unknown_code.push(("S01".into(), "Z".into()));
        let mut no_nonce = answers(&html, "A", &[]);
        no_nonce.remove(0);
        for form in [unknown_field, unknown_code, no_nonce] {
            let res = phone.post(&urls[2]).form(&form).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST);
            assert!(res.text().await.unwrap().contains("提交的内容无效"));
        }
        let mut long = answers(&html, "A", &[]);
        long.push(("comment".into(), "长".repeat(501)));
        let res = phone.post(&urls[2]).form(&long).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("不能超过 500 字"));
        assert_eq!(responses(&app, id).await.len(), 0);
        // The invitation still works.
        let res = phone.post(&urls[2]).form(&answers(&html, "A", &[])).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
}

backend_test! {
    async fn a_submission_without_a_form_the_server_issued_for_its_link_is_refused(app) {
        let (_, id, urls) = open_survey_with_invitations(&app).await;
        let phone = new_client();
        let html = phone.get(&urls[4]).send().await.unwrap().text().await.unwrap();
        let issued = hidden(&html, "_form");
        let (nonce, rest) = issued.split_once('.').unwrap();
        let (started, signature) = rest.split_once('.').unwrap();
        let made_up = [
            // A nonce of the sender's own, the rest copied.
            format!("{}.{started}.{signature}", "n".repeat(nonce.len())),
            // An earlier start time, to look slow.
            format!("{nonce}.{}.{signature}", started.parse::<i64>().unwrap() - 600),
            "".to_owned(),
            "abc".to_owned(),
        ];
        for form in made_up {
            let mut fields = answers(&html, "A", &[]);
            fields[0].1 = form.clone();
            let res = phone.post(&urls[4]).form(&fields).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{form}");
            assert!(res.text().await.unwrap().contains("提交的内容无效"));
        }
        // A form issued for another link does not serve this one.
        let other = phone.get(&urls[5]).send().await.unwrap().text().await.unwrap();
        let res = phone.post(&urls[4]).form(&answers(&other, "A", &[])).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(responses(&app, id).await.is_empty(), "nothing was stored");
        // The form it was issued still works, once.
        let res = phone.post(&urls[4]).form(&answers(&html, "A", &[])).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(responses(&app, id).await.len(), 1);
    }
}

backend_test! {
    async fn concurrent_submits_of_one_invitation_store_exactly_one_response(app) {
        let (_, id, urls) = open_survey_with_invitations(&app).await;
        // Twelve devices, each with the form it was issued.
        let mut forms = Vec::new();
        for _ in 0..12 {
            let html = new_client().get(&urls[3]).send().await.unwrap().text().await.unwrap();
            forms.push(answers(&html, "A", &[]));
        }
        let mut tasks = Vec::new();
        for form in forms {
            let url = urls[3].clone();
            tasks.push(tokio::spawn(async move {
                new_client().post(&url).form(&form).send().await.unwrap().status()
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT), "{statuses:?}");
        assert_eq!(responses(&app, id).await.len(), 1);
    }
}

/// An open channel for the public of 桥头镇 (quota 5), on an open survey.
pub async fn open_channel(app: &TestApp) -> (Client, i64, String) {
    let (organizer, id) = county_survey(app).await;
    let res = organizer
        .post(app.url(&format!("/api/v1/surveys/{id}/channels")))
        .json(&json!({"group": "public", "area": "桥头镇"}))
        .send()
        .await
        .unwrap();
    let url = res.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    organizer
        .post(app.url(&format!("/api/v1/surveys/{id}/open")))
        .json(&serde_json::json!({"confirm": true}))
        .send()
        .await
        .unwrap();
    (organizer, id, url)
}

backend_test! {
    async fn concurrent_open_channel_answers_at_quota_minus_one_accept_exactly_one(app) {
        let (_, id, url) = open_channel(&app).await;
        let form_for = |url: String, code: &'static str| async move {
            let html = new_client().get(&url).send().await.unwrap().text().await.unwrap();
            answers(&html, code, &[])
        };
        // Four of five places taken already.
        for _ in 0..4 {
            let form = form_for(url.clone(), "A").await;
            let res = new_client().post(&url).form(&form).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        }
        let mut forms = Vec::new();
        for _ in 0..10 {
            forms.push(form_for(url.clone(), "B").await);
        }
        let mut tasks = Vec::new();
        for form in forms {
            let url = url.clone();
            tasks.push(tokio::spawn(async move { new_client().post(&url).form(&form).send().await.unwrap().status() }));
        }
        let mut ok = 0;
        for t in tasks {
            let s = t.await.unwrap();
            assert!(s == StatusCode::OK || s == StatusCode::CONFLICT, "{s}");
            if s == StatusCode::OK {
                ok += 1;
            }
        }
        assert_eq!(ok, 1);
        let stored = responses(&app, id).await;
        assert_eq!(stored.len(), 5);
        assert!(stored.iter().all(|r| r.source == "open" && r.grp == "public" && r.area_class.as_deref() == Some("town")));
        let res = new_client().get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("名额已满，感谢支持"));
    }
}

backend_test! {
    async fn a_browser_that_answered_an_open_channel_cannot_answer_again(app) {
        let (_, id, url) = open_channel(&app).await;
        let phone = new_client();
        let html = phone.get(&url).send().await.unwrap().text().await.unwrap();
        let form = answers(&html, "A", &[]);
        let res = phone.post(&url).form(&form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookie.contains("HttpOnly") && cookie.contains("Path=/o/"), "{cookie}");
        // The retry is thanked; the page and a new submission say it is done.
        assert_eq!(phone.post(&url).form(&form).send().await.unwrap().status(), StatusCode::OK);
        assert_eq!(phone.get(&url).send().await.unwrap().status(), StatusCode::CONFLICT);
        let mut again = form.clone();
        again[0].1 = "a-second-try-from-the-phone".into();
        assert_eq!(phone.post(&url).form(&again).send().await.unwrap().status(), StatusCode::CONFLICT);
        assert_eq!(responses(&app, id).await.len(), 1);
    }
}

backend_test! {
    async fn no_column_of_a_response_can_join_back_to_an_invitation_or_roster(app) {
        let (_, id, urls) = open_survey_with_invitations(&app).await;
        for url in &urls[..3] {
            let phone = new_client();
            let html = phone.get(url).send().await.unwrap().text().await.unwrap();
            phone.post(url).form(&answers(&html, "A", &[])).send().await.unwrap();
        }
        // The columns: the stratum, the answers, flags, an hour. Nothing personal or linking.
        use sea_orm::{EntityTrait, Iterable};
        let columns: Vec<String> = renke::entity::response::Column::iter()
            .map(|c| sea_orm::IdenStatic::as_str(&c).to_owned())
            .collect();
        for c in &columns {
            for forbidden in ["invitation", "person", "frame", "phone", "name", "token", "ip", "draw"] {
                assert!(!c.contains(forbidden), "response column {c}");
            }
        }
        // Ids are random, not a sequence; invitation times are rounded like response times.
        let stored = responses(&app, id).await;
        let invitations: Vec<i64> = renke::entity::invitation::Entity::find()
            .all(&app.db).await.unwrap().iter().map(|i| i64::from(i.id)).collect();
        for r in &stored {
            assert!(!invitations.contains(&r.id));
            assert!(r.id > 1_000_000, "random id {}", r.id);
        }
        use chrono::Timelike;
        for inv in renke::entity::invitation::Entity::find().all(&app.db).await.unwrap() {
            if let Some(t) = inv.answered_at {
                assert_eq!((t.minute(), t.second(), t.nanosecond()), (0, 0, 0));
            }
        }
    }
}

backend_test! {
    async fn the_form_is_accessible_markup_with_no_external_resources(app) {
        let (_, _, urls) = open_survey_with_invitations(&app).await;
        let res = new_client().get(&urls[0]).send().await.unwrap();
        assert_eq!(res.headers()["referrer-policy"], "no-referrer");
        let html = res.text().await.unwrap();
        assert!(html.contains("<html lang=\"zh-CN\" dir=\"ltr\">"));
        assert!(html.contains("name=\"viewport\""));
        let items = item_ids(&html).len();
        assert_eq!(html.matches("<legend>").count(), items);
        // Every radio sits inside its label.
        assert_eq!(html.matches("<label class=\"opt\"><input type=\"radio\"").count(), items * 5);
        assert!(html.contains("<label for=\"f-comment\">"));
        for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "@import", "<style"] {
            assert!(!html.contains(attr), "{attr}");
        }
        assert!(!html.contains("<script>"), "no inline script");
        assert!(html.len() < 30_000);
    }
}

backend_test! {
    async fn an_organiser_uploads_a_new_questionnaire_version_pinned_at_opening(app) {
        let (organizer, id) = county_survey(&app).await;
        let url = app.url(&format!("/api/v1/surveys/{id}/questionnaires"));
        let current = organizer.get(app.url(&format!("/api/v1/surveys/{id}/questionnaires/student.toml"))).send().await.unwrap().text().await.unwrap();
        assert!(current.contains("booklet = \"student\""));
        let new = current.replace("version = \"2026.1\"", "version = \"2026.2-永嘉\"").replace("id = \"P12\"", "id = \"P99\"");
        let res = organizer.post(&url).header("content-type", "application/toml").body(new.clone()).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap());
        let booklets: Value = organizer.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(booklets[2]["version"], "2026.2-永嘉");
        assert_eq!(booklets[2]["items"][11]["id"], "P99");
        // The same version again, or a broken one, is refused.
        let res = organizer.post(&url).body(new.clone()).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let broken = new.replace("version = \"2026.2-永嘉\"", "version = \"3\"").replace("id = \"P01\"", "id = \"P02\"");
        let res = organizer.post(&url).body(broken).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["field"], "definition");
        assert!(err["error"].as_str().unwrap().contains("重复"));
        // Open: the versions are pinned.
        organizer.post(app.url(&format!("/api/v1/surveys/{id}/open"))).json(&serde_json::json!({"confirm": true})).send().await.unwrap();
        let newer = new.replace("version = \"2026.2-永嘉\"", "version = \"2026.3\"");
        let res = organizer.post(&url).body(newer).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let booklets: Value = organizer.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(booklets[2]["version"], "2026.2-永嘉");
        // A viewer cannot upload.
        let county = organizer.get(app.url("/api/v1/me")).send().await.unwrap().json::<Value>().await.unwrap()["user"]["county_id"].as_i64().unwrap();
        let viewer = app.user("viewer", Some(county as i32)).await;
        assert_eq!(viewer.post(&url).body(current).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    }
}

backend_test! {
    async fn one_address_is_limited_on_open_channels_and_on_guessing_tokens(app) {
        let (_, _, url) = open_channel(&app).await;
        // A school's shared address gets a burst of 400 submissions at once, then slows down.
        // Sent 16 at a time, so the burst is spent before the bucket refills much even on a
        // loaded machine (two a second: 420 in under 5 s leave at least 10 refused).
        use futures_util::StreamExt;
        let started = std::time::Instant::now();
        let statuses: Vec<(StatusCode, String)> = futures_util::stream::iter(0..420)
            .map(|_| async {
                let res = app.client.post(&url).form(&[("junk", "1")]).send().await.unwrap();
                (res.status(), res.text().await.unwrap())
            })
            .buffer_unordered(16)
            .collect()
            .await;
        let limited: Vec<&(StatusCode, String)> = statuses.iter().filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).collect();
        assert!(limited.iter().all(|(_, body)| body.contains("请稍后再试")));
        let most = 20 + 2 * started.elapsed().as_secs() as usize;
        assert!(!limited.is_empty() && limited.len() <= 20, "{} limited in {:?} (at most {most} allowed past the burst)", limited.len(), started.elapsed());
        // Guessing invitation tokens: 20 misses, then 429.
        let mut statuses = Vec::new();
        for i in 0..22 {
            statuses.push(app.client.get(app.url(&format!("/s/{i}.AAAAAAAAAAAAAAAA"))).send().await.unwrap().status());
        }
        assert!(statuses[..20].iter().all(|s| *s == StatusCode::NOT_FOUND));
        assert_eq!(statuses[21], StatusCode::TOO_MANY_REQUESTS);
    }
}
