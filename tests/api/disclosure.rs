//! Disclosure control (SPEC.md "Disclosure control"): comments are stored without the phone
//! numbers, ID-card numbers and e-mail addresses people type into them; a suppressed item shows
//! no count of its answers; neighbouring points of the series over time never differ by fewer
//! than five respondents.
use crate::answering::{hidden, item_ids, open_survey_with_invitations, responses};
use crate::helpers::{backend_test, new_client};
use crate::tally::answer;
use reqwest::StatusCode;
use serde_json::Value;

backend_test! {
    async fn comments_are_stored_and_exported_with_personal_numbers_masked(app) {
        let (organizer, id, urls) = open_survey_with_invitations(&app).await;
        let phone = new_client();
        let html = phone.get(&urls[0]).send().await.unwrap().text().await.unwrap();
        let mut form = vec![("_form".to_owned(), hidden(&html, "_form"))];
        for item in item_ids(&html) {
            form.push((item, "B".to_owned()));
        }
        let comment = "我是家长，电话 13812345678，身份证 33010219800101123X，邮箱 wang@example.cn，作业太多";
        form.push(("comment".into(), comment.into()));
        assert_eq!(phone.post(&urls[0]).form(&form).send().await.unwrap().status(), StatusCode::OK);
        for url in &urls[1..5] {
            assert_eq!(answer(url, &["A"]).await, StatusCode::OK);
        }
        let masked = "我是家长，电话 [手机号已隐去]，身份证 [身份证号已隐去]，邮箱 [邮箱已隐去]，作业太多";
        let stored = responses(&app, id).await;
        let comments: Vec<&str> = stored.iter().filter_map(|r| r.comment.as_deref()).collect();
        assert_eq!(comments, vec![masked], "masked before it is stored");
        let csv = organizer.get(app.url(&format!("/api/v1/surveys/{id}/responses.csv"))).send().await.unwrap().text().await.unwrap();
        assert!(csv.contains(masked) && !csv.contains("13812345678") && !csv.contains("wang@"), "{csv}");
    }
}

backend_test! {
    async fn a_suppressed_item_shows_no_counts_and_the_series_moves_by_five_or_more(app) {
        let (organizer, id, urls) = open_survey_with_invitations(&app).await;
        let tally = || async {
            organizer.get(app.url(&format!("/api/v1/surveys/{id}/tally"))).send().await.unwrap().json::<Value>().await.unwrap()
        };
        for url in urls.iter().take(4) {
            assert_eq!(answer(url, &["A", "B"]).await, StatusCode::OK);
        }
        let t = tally().await;
        let s01 = &t["by_item"]["S01"];
        assert_eq!(s01["suppressed"], true);
        assert_eq!(s01["options"], serde_json::json!({}), "four answers: no count of any option");
        assert_eq!(t["over_time"], serde_json::json!([]), "no point before five respondents");
        assert_eq!(answer(&urls[4], &["A"]).await, StatusCode::OK);
        let t = tally().await;
        assert_eq!(t["by_item"]["S01"]["options"]["A"], 5);
        assert_eq!(t["over_time"].as_array().unwrap().len(), 1);
        assert_eq!(t["over_time"][0]["respondents"], 5);
        // Two more in the same hour: still one point for the hour (no second point two
        // respondents away from the first).
        for url in &urls[5..7] {
            assert_eq!(answer(url, &["C"]).await, StatusCode::OK);
        }
        let t = tally().await;
        assert_eq!(t["over_time"].as_array().unwrap().len(), 1);
        // They wait for their cell to hold five: nothing moves yet.
        assert_eq!(t["over_time"][0]["respondents"], 5);
        assert_eq!(t["respondents"], 5);
        assert_eq!(t["waiting"], 2);
    }
}
