//! Questionnaires in two languages (2.13): a booklet carrying a Uyghur translation (right to
//! left) is offered, read and answered in either language and tallied as one.
use crate::answering::{hidden, item_ids};
use crate::helpers::{backend_test, new_client};
use crate::sampling::{county_survey, upload_all};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BILINGUAL: &str = include_str!("fixtures/social-ug.toml");

/// Answers an invitation reading it as `query` (`?lang=ug`) asks, every item `code`.
async fn answer_in(url: &str, query: &str, code: &str) -> (StatusCode, String) {
    let phone = new_client();
    let html = phone
        .get(format!("{url}{query}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = vec![("_form".to_owned(), hidden(&html, "_form"))];
    if html.contains("name=\"_lang\"") {
        form.push(("_lang".into(), hidden(&html, "_lang")));
    }
    for id in item_ids(&html) {
        form.push((id, code.to_owned()));
    }
    let res = phone.post(url).form(&form).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

/// An open survey whose social booklet carries Uyghur, offered: the organiser, the survey, and
/// the parents' invitation links.
pub async fn open_bilingual_survey(
    app: &crate::helpers::TestApp,
) -> (reqwest::Client, i64, Vec<String>) {
    let (organizer, id) = county_survey(app).await;
    let res = organizer
        .post(app.url(&format!("/api/v1/surveys/{id}/questionnaires")))
        .header("content-type", "application/toml")
        .body(BILINGUAL)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = organizer
        .put(app.url(&format!("/api/v1/surveys/{id}/languages")))
        .json(&json!({"languages": ["ug"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    upload_all(app, &organizer, id).await;
    crate::sampling::draw(app, &organizer, id, json!(9)).await;
    crate::sampling::open(app, &organizer, id).await;
    let urls = crate::answering::parent_links(app, &organizer, id).await;
    (organizer, id, urls)
}

backend_test! {
    async fn a_bilingual_booklet_is_answered_in_either_language_and_tallied_as_one(app) {
        let (organizer, id) = county_survey(&app).await;
        let upload = |text: String| {
            organizer.post(app.url(&format!("/api/v1/surveys/{id}/questionnaires"))).header("content-type", "application/toml").body(text).send()
        };
        // A translation short of an item or an option is refused, naming it.
        for (cut, named) in [("S05 = ", "S05"), ("E = \"", "“E”")] {
            let text: String = BILINGUAL.lines().filter(|l| !l.starts_with(cut)).map(|l| format!("{l}\n")).collect();
            let res = upload(text).await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST);
            let err: Value = res.json().await.unwrap();
            let message = err["error"].as_str().unwrap();
            assert!(message.contains(named) && message.contains("ug"), "{message}");
        }
        let res = upload(BILINGUAL.to_owned()).await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap());
        let booklets: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/questionnaires"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(booklets[0]["languages"][0]["tag"], "ug");
        assert_eq!(booklets[0]["languages"][0]["dir"], "rtl");
        // The survey offers Uyghur (a malformed tag is refused, naming the field).
        let languages = app.url(&format!("/api/v1/surveys/{id}/languages"));
        let res = organizer.put(&languages).json(&json!({"languages": ["Uyghur!"]})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.json::<Value>().await.unwrap()["field"], "languages");
        let res = organizer.put(&languages).json(&json!({"languages": ["ug"]})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let survey: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(survey["languages"], json!(["ug"]));

        upload_all(&app, &organizer, id).await;
        crate::sampling::draw(&app, &organizer, id, json!(9)).await;
        crate::sampling::open(&app, &organizer, id).await;
        let urls = crate::answering::parent_links(&app, &organizer, id).await;
        let phone = new_client();
        // Chinese by default, with a plain link to the Uyghur page.
        let zh = phone.get(&urls[0]).send().await.unwrap().text().await.unwrap();
        assert!(zh.contains("<html lang=\"zh-CN\" dir=\"ltr\">"), "{zh:.300}");
        assert!(zh.contains("href=\"?lang=ug\" lang=\"ug\" dir=\"rtl\""), "a link to the Uyghur page");
        assert!(zh.contains("招生入学"));
        // In Uyghur: the page's language and direction, the items and options translated.
        let ug = phone.get(format!("{}?lang=ug", urls[0])).send().await.unwrap().text().await.unwrap();
        assert!(ug.contains("<html lang=\"ug\" dir=\"rtl\">"), "{ug:.300}");
        assert!(ug.contains("ئوقۇغۇچى قوبۇل قىلىشتىكى"), "S01 in Uyghur");
        assert!(ug.contains("بىرقەدەر رازى"), "option B in Uyghur");
        assert!(!ug.contains("招生入学"));
        assert_eq!(hidden(&ug, "_lang"), "ug");
        assert!(ug.contains("href=\"?\" lang=\"zh-CN\""), "a link back to Chinese");
        // A language not offered, or unknown, is Chinese.
        for other in ["bo", "xx", "%3Cscript%3E"] {
            let page = phone.get(format!("{}?lang={other}", urls[1])).send().await.unwrap().text().await.unwrap();
            assert!(page.contains("<html lang=\"zh-CN\" dir=\"ltr\">"), "{other}");
        }
        // A language no booklet carries is not offered; withdrawing Uyghur while the survey is
        // open takes its link off the page at once, and offering it again puts it back.
        let res = organizer.put(&languages).json(&json!({"languages": ["ug", "kk"]})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("“kk”"));
        organizer.put(&languages).json(&json!({"languages": []})).send().await.unwrap();
        let page = phone.get(&urls[0]).send().await.unwrap().text().await.unwrap();
        assert!(!page.contains("?lang=ug"), "no switch once withdrawn");
        let page = phone.get(format!("{}?lang=ug", urls[0])).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("<html lang=\"zh-CN\" dir=\"ltr\">"));
        organizer.put(&languages).json(&json!({"languages": ["ug"]})).send().await.unwrap();
        let page = phone.get(&urls[0]).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("href=\"?lang=ug\""), "the switch back");
        // Larger text, kept by the form.
        let large = phone.get(format!("{}?lang=ug&text=large", urls[1])).send().await.unwrap().text().await.unwrap();
        assert!(large.contains("class=\"respondent large-text\""));
        assert_eq!(hidden(&large, "_text"), "large");
        assert!(large.contains("href=\"?lang=ug\">标准字号"), "{large:.2000}");

        // An incomplete Uyghur answer comes back in Uyghur, its choice kept.
        let html = phone.get(format!("{}?lang=ug", urls[2])).send().await.unwrap().text().await.unwrap();
        let res = phone.post(&urls[2]).form(&[("_form", hidden(&html, "_form")), ("_lang", "ug".into()), ("S01", "A".into())]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let again = res.text().await.unwrap();
        assert!(again.contains("<html lang=\"ug\" dir=\"rtl\">"));
        assert!(again.contains("value=\"A\" checked"));

        // Five parents answer in Uyghur, five in Chinese: one tally, the same option codes.
        for (i, url) in urls[..10].iter().enumerate() {
            let query = if i < 5 { "?lang=ug" } else { "" };
            let (status, body) = answer_in(url, query, "A").await;
            assert_eq!(status, StatusCode::OK, "{body:.300}");
        }
        let t: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/tally"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(t["respondents"], 10, "{t}");
        assert_eq!(t["by_item"]["S01"]["options"]["A"], 10);
        assert_eq!(t["rate"], 1.0);

        // The organiser's page sets the booklet's languages side by side, and previews each.
        let me: Value = organizer.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
        let (browser, _) = crate::helpers::browser_login(&app, me["user"]["username"].as_str().unwrap(), crate::helpers::PASSWORD).await;
        let page = browser.get(app.url(&format!("/admin/surveys/{id}/questionnaires"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("<th scope=\"col\" lang=\"ug\" dir=\"rtl\">ئۇيغۇرچە（ug）</th>"), "{page:.3000}");
        assert!(page.contains("preview/parent?lang=ug"));
        let preview = browser.get(app.url(&format!("/admin/surveys/{id}/preview/parent?lang=ug"))).send().await.unwrap().text().await.unwrap();
        assert!(preview.contains("<html lang=\"ug\" dir=\"rtl\">"));
    }
}
