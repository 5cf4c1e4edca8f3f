use crate::answering::{hidden, item_ids, open_channel, open_survey_with_invitations};
use crate::helpers::{TestApp, backend_test, new_client};
use reqwest::StatusCode;
use serde_json::Value;

/// Answers the questionnaire at `url` with one code per item (cycled) and returns the status.
pub async fn answer(url: &str, codes: &[&str]) -> StatusCode {
    let phone = new_client();
    let html = phone.get(url).send().await.unwrap().text().await.unwrap();
    let mut form = vec![("_form".to_owned(), hidden(&html, "_form"))];
    for (i, id) in item_ids(&html).into_iter().enumerate() {
        form.push((id, codes[i % codes.len()].to_owned()));
    }
    phone.post(url).form(&form).send().await.unwrap().status()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

backend_test! {
    async fn the_tally_matches_a_hand_computation(app) {
        let (organizer, id, urls) = open_survey_with_invitations(&app).await;
        // Six parents, twelve items each (A, B recognised; C, D counted; E not counted).
        let patterns: [&[&str]; 6] = [
            &["A"],                     // x 12, y 12
            &["C"],                     // x 12, y 0
            &["A", "E"],                // x 6,  y 6
            &["B", "D"],                // x 12, y 6
            &["E"],                     // x 0,  y 0
            &["A", "A", "A", "A", "A", "D"], // x 12, y 10
        ];
        // Four more who know nothing (x 0, y 0): with them the parents' cell holds ten, two
        // released batches of five (`domain::release`).
        for url in &urls[6..10] {
            assert_eq!(answer(url, &["E"]).await, StatusCode::OK);
        }
        for (url, p) in urls.iter().zip(patterns) {
            assert_eq!(answer(url, p).await, StatusCode::OK);
        }
        let t: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/tally"))).send().await.unwrap().json().await.unwrap();
        let people = [(12.0, 12.0), (12.0, 0.0), (6.0, 6.0), (12.0, 6.0), (0.0, 0.0), (12.0, 10.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0)];
        let (sx, sy): (f64, f64) = people.iter().fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1));
        let r = sy / sx;
        let n = people.len() as f64;
        let resid: f64 = people.iter().map(|(x, y)| (y - r * x).powi(2)).sum();
        let var = resid / (n * (n - 1.0) * (sx / n).powi(2));
        let (lo, hi) = ((r - 1.96 * var.sqrt()).max(0.0), (r + 1.96 * var.sqrt()).min(1.0));
        assert_eq!(t["respondents"], 10);
        assert_eq!(t["waiting"], 0);
        assert!(close(t["rate"].as_f64().unwrap(), 34.0 / 54.0), "{}", t["rate"]);
        assert!(close(t["interval"][0].as_f64().unwrap(), lo));
        assert!(close(t["interval"][1].as_f64().unwrap(), hi));
        assert_eq!(t["target"], 0.85);
        assert_eq!(t["status"], "failing");
        assert_eq!(t["estimator"], "pooled");
        // Respondent mean over the five with something counted.
        let mean = (1.0 + 0.0 + 1.0 + 0.5 + 10.0 / 12.0) / 5.0;
        assert!(close(t["respondent_mean"].as_f64().unwrap(), mean));
        assert_eq!(t["by_group"]["parent"]["respondents"], 10);
        assert!(close(t["by_group"]["parent"]["rate"].as_f64().unwrap(), 34.0 / 54.0));
        // Items: S01 got A, C, A, B, E, A, E, E, E, E → recognised 4 of 5 counted.
        assert!(close(t["by_item"]["S01"]["rate"].as_f64().unwrap(), 0.8));
        assert_eq!(t["by_item"]["S01"]["options"]["E"], 5);
        assert_eq!(t["quota_progress"]["parent"]["responded"], 10);
        assert_eq!(t["quota_progress"]["parent"]["planned"], 75);
        // Fewer than five respondents: not shown.
        assert!(t["by_group"]["teacher"]["respondents"].is_null(), "no count of any kind");
        assert_eq!(t["by_group"]["teacher"]["suppressed"], true);
        assert!(t["by_group"]["teacher"]["rate"].is_null());
        assert_eq!(t["data_quality"]["straight_lined"], 7);
    }
}

backend_test! {
    async fn small_cells_are_suppressed_and_undefined_rates_are_null(app) {
        let (organizer, id, urls) = open_survey_with_invitations(&app).await;
        for url in &urls[..4] {
            answer(url, &["A", "B"]).await;
        }
        let t: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/tally"))).send().await.unwrap().json().await.unwrap();
        // Four answers wait for their cell to hold five: nothing of them is shown yet.
        assert_eq!(t["respondents"], 0);
        assert_eq!(t["waiting"], 4);
        assert_eq!(t["by_group"]["parent"]["suppressed"], true);
        assert!(t["by_group"]["parent"]["respondents"].is_null());
        assert!(t["by_group"]["parent"]["rate"].is_null());
        for a in t["areas"].as_array().unwrap() {
            assert!(a["rate"].is_null(), "{a}");
        }
        // Nothing counted at all: no rate, never NaN.
        let county2 = app.create_county("丙县").await;
        let other = app.user("organizer", Some(county2)).await;
        let s = app.create_survey(&other, serde_json::json!({"name": "空", "population": 1000})).await;
        let t: Value = other.get(app.url(&format!("/api/v1/surveys/{}/tally", s["id"]))).send().await.unwrap().json().await.unwrap();
        assert!(t["rate"].is_null());
        assert_eq!(t["status"], "no_data");
    }
}

backend_test! {
    async fn the_maintained_aggregates_equal_a_full_recomputation(app) {
        let (_, id, urls) = open_survey_with_invitations(&app).await;
        let codes = ["A", "B", "C", "D", "E"];
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for url in urls.iter().take(30) {
            let pattern: Vec<&str> = (0..rng.random_range(1..6)).map(|_| codes[rng.random_range(0..5)]).collect();
            answer(url, &pattern).await;
        }
        let before = renke::store::tally::load(&app.db, id as i32).await.unwrap();
        let ctx = renke::app::Context::open(&app.settings).await.unwrap();
        let n = renke::app::tally::rebuild(&ctx, &renke::app::Actor::Operator("test"), id as i32).await.unwrap();
        assert_eq!(n, 30);
        let after = renke::store::tally::load(&app.db, id as i32).await.unwrap();
        assert_eq!(before.items, after.items);
        assert_eq!(before.dimensions.len(), after.dimensions.len());
        for ((k1, a), (k2, b)) in before.dimensions.iter().zip(&after.dimensions) {
            assert_eq!(k1, k2);
            assert_eq!((a.n, a.x, a.y, a.xx, a.yy, a.xy, a.n_ratio), (b.n, b.x, b.y, b.xx, b.yy, b.xy, b.n_ratio));
            assert!((a.ratio - b.ratio).abs() < 1e-9);
        }
        assert_eq!(before.strata.len(), after.strata.len());
        for ((k1, a), (k2, b)) in before.strata.iter().zip(&after.strata) {
            assert_eq!(k1, k2);
            assert_eq!((a.sums.n, a.sums.x, a.sums.y, a.sums.xx, a.sums.yy, a.sums.xy, a.sums.n_ratio), (b.sums.n, b.sums.x, b.sums.y, b.sums.xx, b.sums.yy, b.sums.xy, b.sums.n_ratio));
            assert!((a.sums.ratio - b.sums.ratio).abs() < 1e-9);
            assert_eq!((a.too_fast, a.straight_lined), (b.too_fast, b.straight_lined));
        }
        assert_eq!(before.hours.len(), after.hours.len());
        assert_eq!(before.units, after.units, "the integrity panel's counts too");
        assert_eq!(after.units[&renke::domain::integrity::UnitKey::COUNTY].answers, 30);
    }
}

backend_test! {
    async fn excluding_flagged_responses_and_the_estimator_setting_change_the_headline(app) {
        let (organizer, id, urls) = open_survey_with_invitations(&app).await;
        // All these answer at once: too fast, and some straight-lined.
        for url in urls.iter().take(5) {
            answer(url, &["A", "D"]).await;
        }
        let t: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/tally?exclude_flagged=1"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(t["exclude_flagged"], true);
        assert_eq!(t["respondents"], 0, "all five were too fast");
        assert_eq!(t["data_quality"]["too_fast"], 5);
        let all: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/tally"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(all["respondents"], 5);
        assert_eq!(all["estimator"], "pooled");
    }
}

async fn export_setup(app: &TestApp) -> (reqwest::Client, i64, Vec<Vec<&'static str>>) {
    let (organizer, id, urls) = open_survey_with_invitations(app).await;
    let patterns = vec![vec!["A", "B", "C"], vec!["D"], vec!["=cmd|' /C calc'!A0"]];
    answer(&urls[0], &patterns[0]).await;
    answer(&urls[1], &patterns[1]).await;
    // Five parents at least, or the response-level files hold no parent at all.
    for url in &urls[2..5] {
        answer(url, &["B"]).await;
    }
    (organizer, id, patterns)
}

backend_test! {
    async fn exports_parse_back_to_the_same_answers(app) {
        let (organizer, id, _) = export_setup(&app).await;
        let csv_bytes = organizer.get(app.url(&format!("/api/v1/surveys/{id}/responses.csv"))).send().await.unwrap().bytes().await.unwrap();
        assert!(csv_bytes.starts_with(b"\xEF\xBB\xBF"));
        let mut reader = csv::Reader::from_reader(&csv_bytes[3..]);
        let rows: Vec<std::collections::HashMap<String, String>> = reader.deserialize().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 5);
        let mut s01: Vec<String> = rows.iter().map(|r| r["S01"].clone()).collect();
        s01.sort();
        let mut expected = vec!["不满意", "满意", "比较满意", "比较满意", "比较满意"];
        expected.sort();
        assert_eq!(s01, expected);
        assert!(rows.iter().all(|r| r["群体"] == "家长" && r["问卷"].contains("社会")), "headers and values in Chinese");
        // Every combination of what could identify someone covers five responses.
        let mut combos: std::collections::HashMap<Vec<&str>, usize> = std::collections::HashMap::new();
        for r in &rows {
            let key = ["群体", "乡镇", "城乡类别", "学校", "年级段"].map(|c| r[c].as_str()).to_vec();
            *combos.entry(key).or_default() += 1;
        }
        assert!(combos.values().all(|n| *n >= 5), "{combos:?}");
        let header: Vec<&String> = rows[0].keys().collect();
        for r in &rows {
            assert_eq!(r.len(), header.len());
        }
        for forbidden in ["时间", "渠道", "姓名", "电话", "邀请", "链接", "hour", "source", "name", "phone"] {
            assert!(header.iter().all(|h| !h.contains(forbidden)), "{forbidden} in {header:?}");
        }
        // XLSX: the same rows.
        let bytes = organizer.get(app.url(&format!("/api/v1/surveys/{id}/responses.xlsx"))).send().await.unwrap().bytes().await.unwrap();
        use calamine::{Reader, Xlsx};
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let range = book.worksheet_range("答卷").unwrap();
        let header: Vec<String> = range.rows().next().unwrap().iter().map(|c| c.to_string()).collect();
        let col = header.iter().position(|h| h == "S01").unwrap();
        let mut xs: Vec<String> = range.rows().skip(1).map(|r| r[col].to_string()).collect();
        xs.sort();
        assert_eq!(xs, expected);
        // The tally workbook states the method and has a sheet per table.
        let bytes = organizer.get(app.url(&format!("/api/v1/surveys/{id}/tally.xlsx"))).send().await.unwrap().bytes().await.unwrap();
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let names = book.sheet_names().to_vec();
        for sheet in ["方法", "群体", "维度", "乡镇", "城乡类别", "学校", "年级段", "题目", "邀请回复"] {
            assert!(names.iter().any(|n| n == sheet), "{sheet} in {names:?}");
        }
        let method = book.worksheet_range("方法").unwrap();
        assert!(method.rows().any(|r| r[1].to_string().contains("V(R)")));
    }
}

backend_test! {
    async fn comments_that_look_like_formulas_are_made_inert_in_csv(app) {
        let (organizer, id, urls) = open_survey_with_invitations(&app).await;
        let phone = new_client();
        let html = phone.get(&urls[0]).send().await.unwrap().text().await.unwrap();
        let mut form = crate::answering::answers(&html, "A", &[]);
        form.push(("comment".into(), "=HYPERLINK(\"http://evil\")".into()));
        assert_eq!(phone.post(&urls[0]).form(&form).send().await.unwrap().status(), StatusCode::OK);
        for url in &urls[1..5] {
            answer(url, &["B"]).await;
        }
        let county = {
            use sea_orm::EntityTrait;
            renke::entity::survey::Entity::find_by_id(id as i32).one(&app.db).await.unwrap().unwrap().county_id
        };
        let csv = organizer.get(app.url(&format!("/api/v1/surveys/{id}/responses.csv"))).send().await.unwrap().text().await.unwrap();
        assert!(csv.contains("'=HYPERLINK"), "{csv}");
        // Response-level files are for organisers only.
        let viewer = app.user("viewer", Some(county)).await;
        for file in ["responses.csv", "responses.xlsx"] {
            let res = viewer.get(app.url(&format!("/api/v1/surveys/{id}/{file}"))).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
        }
    }
}

backend_test! {
    async fn the_dashboard_shows_the_rate_and_streams_updates(app) {
        let (organizer, id, urls) = open_survey_with_invitations(&app).await;
        for url in urls.iter().take(5) {
            answer(url, &["A", "B", "A", "C"]).await;
        }
        let res = organizer.get(app.url(&format!("/admin/surveys/{id}/dashboard"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("<svg") && html.contains("目标 85.0%"));
        assert!(html.contains("data-live=\"respondents\">5<"));
        assert!(html.contains("正式测评结果预测") && html.contains("达到目标的概率") && html.contains("本次答卷"));
        assert!(html.contains("http-equiv=\"refresh\""), "works without JavaScript");
        // The event stream sends the headline at once.
        let mut res = organizer.get(app.url(&format!("/admin/surveys/{id}/dashboard/events"))).send().await.unwrap();
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        let chunk = res.chunk().await.unwrap().unwrap();
        let text = String::from_utf8_lossy(&chunk);
        assert!(text.starts_with("data: {") && text.contains("\"respondents\":5"), "{text}");
        // Five more answers arrive (their cell's next batch): the stream says so within a
        // couple of seconds.
        for url in &urls[5..10] {
            answer(url, &["A"]).await;
        }
        let mut seen = false;
        for _ in 0..10 {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(3), res.chunk()).await.unwrap().unwrap().unwrap();
            if String::from_utf8_lossy(&chunk).contains("\"respondents\":10") {
                seen = true;
                break;
            }
        }
        assert!(seen);
        let report = organizer.get(app.url(&format!("/admin/surveys/{id}/report"))).send().await.unwrap();
        assert_eq!(report.status(), StatusCode::OK);
        let html = report.text().await.unwrap();
        assert!(html.contains("调查方法") && html.contains("需要改进的方面") && html.contains("随机种子"));
    }
}

backend_test! {
    async fn another_countys_viewer_sees_nothing_of_the_tally(app) {
        let (_, id, urls) = open_survey_with_invitations(&app).await;
        answer(&urls[0], &["A"]).await;
        let stranger = app.user("viewer", Some(app.create_county("乙县").await)).await;
        for path in ["tally", "tally.xlsx", "responses.csv", "responses.xlsx"] {
            let res = stranger.get(app.url(&format!("/api/v1/surveys/{id}/{path}"))).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        }
        for path in ["dashboard", "dashboard/events", "report"] {
            let res = stranger.get(app.url(&format!("/admin/surveys/{id}/{path}"))).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
}

backend_test! {
    async fn open_channel_answers_count_in_the_tally_by_area(app) {
        let (organizer, id, url) = open_channel(&app).await;
        for _ in 0..5 {
            answer(&url, &["A", "B"]).await;
        }
        let t: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/tally"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(t["by_group"]["public"]["respondents"], 5);
        let area = t["areas"].as_array().unwrap().iter().find(|a| a["key"] == "桥头镇").unwrap().clone();
        assert_eq!(area["respondents"], 5);
        assert_eq!(area["rate"], 1.0);
        let class = t["area_classes"].as_array().unwrap().iter().find(|a| a["key"] == "town").unwrap().clone();
        assert_eq!(class["respondents"], 5);
    }
}

backend_test! {
    async fn dashboard_streams_are_bounded_per_user_and_end_with_the_session(app) {
        let (organizer, id, _) = open_survey_with_invitations(&app).await;
        let url = app.url(&format!("/admin/surveys/{id}/dashboard/events"));
        let mut held = Vec::new();
        for _ in 0..renke::web::dashboard::STREAMS_PER_USER {
            let mut res = organizer.get(&url).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let first = res.chunk().await.unwrap().unwrap();
            assert!(String::from_utf8_lossy(&first).starts_with("data: {"), "each stream gets the numbers at once");
            held.push(res);
        }
        let res = organizer.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        // One closed: its place comes back when the server notices, at a heartbeat.
        drop(held.pop());
        let mut back = false;
        for _ in 0..40 {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let res = organizer.get(&url).send().await.unwrap();
            if res.status() == StatusCode::OK {
                held.push(res);
                back = true;
                break;
            }
        }
        assert!(back, "a closed stream's place is given back");
        // Logged out: every stream of that session ends at its next session check.
        organizer.post(app.url("/api/v1/logout")).send().await.unwrap();
        for mut res in held {
            let ended = tokio::time::timeout(std::time::Duration::from_secs(60), async move {
                while let Ok(Some(_)) = res.chunk().await {}
            })
            .await;
            assert!(ended.is_ok(), "a stream outlived its session");
        }
    }
}
