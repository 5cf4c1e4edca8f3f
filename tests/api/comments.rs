//! The 意见和建议 reader (2.6): filters, keyword counts with jieba, masking, k = 5, the export
//! with the same filters, and the report's themes.
use crate::answering::answers;
use crate::helpers::{backend_test, new_client};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn post(url: &str, comment: &str) -> StatusCode {
    let phone = new_client();
    let html = phone.get(url).send().await.unwrap().text().await.unwrap();
    let mut form = answers(&html, "A", &[]);
    form.push(("_grade".into(), "2".into()));
    form.push(("comment".into(), comment.into()));
    phone.post(url).form(&form).send().await.unwrap().status()
}

backend_test! {
    async fn comments_are_read_filtered_counted_and_exported_only_over_five_answers(app) {
        let (organizer, id) = crate::held::big_survey(&app).await;
        let (_, url) = crate::held::channel(&app, &organizer, id, json!({"group": "parent", "school": "桥头小学"})).await;
        organizer.post(app.url(&format!("/api/v1/surveys/{id}/open"))).json(&json!({"confirm": true})).send().await.unwrap();
        for text in ["作业太重，希望减少作业", "作业太多，孩子睡得晚", "食堂饭菜要改善，作业也多", "请联系我 13812345678 作业的事", "作业太多，孩子累"] {
            assert_eq!(post(&url, text).await, StatusCode::OK);
        }
        // A sixth waits in its cell: not read.
        assert_eq!(post(&url, "这一条还在等").await, StatusCode::OK);
        let get = |q: &'static str| {
            let u = app.url(&format!("/api/v1/surveys/{id}/comments{q}"));
            let c = organizer.clone();
            async move { let r = c.get(u).send().await.unwrap(); (r.status(), r.json::<Value>().await.unwrap()) }
        };
        let (status, all) = get("").await;
        assert_eq!(status, StatusCode::OK, "{all}");
        assert_eq!((all["answers"].clone(), all["suppressed"].clone()), (json!(5), json!(false)));
        let texts: Vec<&str> = all["comments"].as_array().unwrap().iter().map(|c| c["text"].as_str().unwrap()).collect();
        assert_eq!(texts.len(), 5);
        assert!(!texts.iter().any(|t| t.contains("13812345678") || t.contains("还在等")), "{texts:?}");
        assert!(texts.iter().any(|t| t.contains("[手机号已隐去]")), "{texts:?}");
        assert_eq!(all["keywords"][0], json!({"word": "作业", "comments": 5}), "{}", all["keywords"]);
        let keywords = all["keywords"].as_array().unwrap();
        assert!(keywords.iter().any(|k| k["word"] == "孩子" && k["comments"] == 2), "{keywords:?}");
        assert!(!keywords.iter().any(|k| k["word"].as_str().unwrap().contains("隐去")));
        assert!(all["comments"][0].get("hour").is_none() && all["comments"][0]["school"] == "桥头小学");
        // Filters; under five answers nothing is shown.
        let (_, school) = get("?school=%E6%A1%A5%E5%A4%B4%E5%B0%8F%E5%AD%A6").await;
        assert_eq!(school["answers"], 5);
        let dimension = all["comments"][0]["lowest_dimension"].as_str().unwrap().to_owned();
        assert_ne!(dimension, "—");
        for q in ["?school=%E5%9F%8E%E5%85%B3%E4%B8%80%E5%B0%8F", "?group=teacher", "?area=%E5%9F%8E%E5%85%B3%E9%95%87", "?dimension=burden"] {
            let (status, none) = get(q).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!((none["suppressed"].clone(), none["answers"].clone(), none["comments"].clone(), none["keywords"].clone()), (json!(true), Value::Null, json!([]), json!([])), "{q}");
        }
        let (status, bad) = get("?school=nowhere").await;
        assert_eq!((status, bad["field"].clone()), (StatusCode::BAD_REQUEST, json!("school")));
        let (status, bad) = get("?dimension=nothing").await;
        assert_eq!((status, bad["field"].clone()), (StatusCode::BAD_REQUEST, json!("dimension")));
        // The export takes the same filters.
        let csv = organizer.get(app.url(&format!("/api/v1/surveys/{id}/comments.csv?group=parent"))).send().await.unwrap().text().await.unwrap();
        assert!(csv.starts_with('\u{feff}') && csv.contains("评价最低的维度"));
        assert_eq!(csv.lines().count(), 6, "{csv}");
        let csv = organizer.get(app.url(&format!("/api/v1/surveys/{id}/comments.csv?group=teacher"))).send().await.unwrap().text().await.unwrap();
        assert_eq!(csv.lines().count(), 1);
        // The page, and the report's themes (words of five comments or more).
        let html = organizer.get(app.url(&format!("/admin/surveys/{id}/comments?group=parent"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("出现最多的词") && html.contains("作业"), "{html}");
        let report = organizer.get(app.url(&format!("/admin/surveys/{id}/report"))).send().await.unwrap().text().await.unwrap();
        assert!(report.contains("作业（5 份）") && !report.contains("孩子（2 份）"), "{report}");
    }
}
