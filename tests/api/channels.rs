//! Channels managed (2.6): close, reopen and delete; the QR card, the A4 poster (SVG and PNG at
//! print resolution), the notices to copy, and a school's print batch.
use crate::answering::{open_channel, open_survey_with_invitations};
use crate::helpers::{backend_test, new_client};
use crate::tally::answer;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn channels(app: &crate::helpers::TestApp, client: &reqwest::Client, id: i64) -> Vec<Value> {
    client
        .get(app.url(&format!("/api/v1/surveys/{id}/channels")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

backend_test! {
    async fn a_channel_closes_reopens_and_is_deleted_only_without_answers(app) {
        let (organizer, id, url) = open_channel(&app).await;
        let code = url.rsplit('/').next().unwrap().to_owned();
        assert_eq!(answer(&url, &["A"]).await, StatusCode::OK);
        let base = format!("/api/v1/surveys/{id}/channels/{code}");
        let res = organizer.post(app.url(&format!("{base}/close"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap()["open"], false);
        // Closed: respondents are told so, in Chinese, and nothing is stored.
        let res = new_client().get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::GONE);
        assert!(res.text().await.unwrap().contains("已停止收集"));
        let res = new_client().post(&url).form(&[("_form", "x")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::GONE);
        assert_eq!(crate::answering::responses(&app, id).await.len(), 1);
        // Closing twice is a conflict; reopening lets it collect again.
        let res = organizer.post(app.url(&format!("{base}/close"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let res = organizer.post(app.url(&format!("{base}/reopen"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(channels(&app, &organizer, id).await[0]["open"], true);
        assert_eq!(answer(&url, &["A"]).await, StatusCode::OK);
        // With answers it cannot be deleted; a new one without answers can.
        let res = organizer.delete(app.url(&base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("2 份答卷"));
        let fresh: Value = organizer.post(app.url(&format!("/api/v1/surveys/{id}/channels"))).json(&json!({"group": "teacher"})).send().await.unwrap().json().await.unwrap();
        let res = organizer.delete(app.url(&format!("/api/v1/surveys/{id}/channels/{}", fresh["code"].as_str().unwrap()))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(channels(&app, &organizer, id).await.len(), 1);
        let res = new_client().get(fresh["url"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        // Every change is in the audit trail.
        let trail: Value = app.admin().await.get(app.url("/api/v1/audit")).send().await.unwrap().json().await.unwrap();
        let text = trail.to_string();
        for action in ["channel_closed", "channel_reopened", "channel_deleted"] {
            assert!(text.contains(action), "{action}");
        }
    }
}

backend_test! {
    async fn posters_cards_notices_and_a_schools_print_batch(app) {
        let (organizer, id, _) = open_survey_with_invitations(&app).await;
        let ch: Value = organizer.post(app.url(&format!("/api/v1/surveys/{id}/channels"))).json(&json!({"group": "parent", "school": "城关一小"})).send().await.unwrap().json().await.unwrap();
        let code = ch["code"].as_str().unwrap();
        let base = format!("/api/v1/surveys/{id}/channels/{code}");
        let svg = organizer.get(app.url(&format!("{base}/poster.svg"))).send().await.unwrap().text().await.unwrap();
        assert!(svg.contains("家长问卷 · 城关一小") && svg.contains("2026 年调查"), "{svg}");
        assert!(svg.contains("匿名填写") && svg.contains("每人只填一次"));
        let card = organizer.get(app.url(&format!("{base}/card.svg"))).send().await.unwrap().text().await.unwrap();
        assert!(card.contains("城关一小") && card.contains("<path"));
        let res = organizer.get(app.url(&format!("{base}/poster.png"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "image/png");
        let png = res.bytes().await.unwrap();
        let info = png::Decoder::new(std::io::Cursor::new(png.to_vec())).read_info().unwrap().info().clone();
        assert_eq!((info.width, info.height), (2480, 3508), "A4 at 300 dpi");
        let res = organizer.get(app.url(&format!("{base}/nothing.gif"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        // The poster page: notices with the link filled in.
        let html = organizer.get(app.url(&format!("/admin/surveys/{id}/channels/{code}/poster"))).send().await.unwrap().text().await.unwrap();
        let field = |id: &str| html.split(&format!("id=\"{id}\"")).nth(1).unwrap().split("</textarea>").next().unwrap().to_owned();
        for id in ["wechat", "sms"] {
            assert!(field(id).contains(&format!("&#x2F;o&#x2F;{code}")), "{id}: {}", field(id));
        }
        assert!(field("wechat").contains("各位家长") && field("wechat").contains("匿名"));
        // The school's print batch: its poster, and only its own invitation slips.
        let all = organizer.get(app.url(&format!("/admin/surveys/{id}/invitations/print"))).send().await.unwrap().text().await.unwrap();
        let school = organizer.get(app.url(&format!("/admin/surveys/{id}/invitations/print?school=%E5%9F%8E%E5%85%B3%E4%B8%80%E5%B0%8F"))).send().await.unwrap().text().await.unwrap();
        assert!(school.contains("class=\"poster\"") && !all.contains("class=\"poster\""));
        let slips = |h: &str| h.matches("class=\"print-card\"").count();
        assert!(slips(&school) > 0 && slips(&school) < slips(&all), "{} of {}", slips(&school), slips(&all));
        assert!(!school.contains("· 城关中学 ·"));
        let res = organizer.get(app.url(&format!("/admin/surveys/{id}/invitations/print?school=nowhere"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
}
