//! Disclosure control (SPEC.md "Disclosure control"): comments are stored without the phone
//! numbers, ID-card numbers and e-mail addresses people type into them; a suppressed item shows
//! no count of its answers; answers come in batches of five per cell, so downloading everything
//! after each answer ties no one to an answer, at the close too; a lone principal and a lone
//! school are in no export and no figure, and no hidden part comes back by subtraction.
use crate::answering::{hidden, item_ids, open_survey_with_invitations, responses};
use crate::estimate::get_json;
use crate::helpers::{TestApp, backend_test, new_client};
use crate::tally::answer;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

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

/// What an organiser can download at one moment: the counted respondents, the invitations
/// shown answered (by roster 编号) and the answers' rows (by 答卷编号).
struct Moment {
    respondents: i64,
    answered: BTreeSet<String>,
    rows: BTreeSet<String>,
}

async fn moment(app: &TestApp, organizer: &Client, id: i64) -> Moment {
    let t: Value = get_json(
        &app.address,
        organizer,
        &format!("/api/v1/surveys/{id}/tally"),
    )
    .await;
    let answered = crate::sampling::invitations(app, organizer, id)
        .await
        .into_iter()
        .filter(|r| r["状态"] == "已回复")
        .map(|r| r["编号"].clone())
        .collect();
    let csv = organizer
        .get(app.url(&format!("/api/v1/surveys/{id}/responses.csv")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(&csv[3..]);
    let rows = reader
        .deserialize::<HashMap<String, String>>()
        .map(|r| r.unwrap()["答卷编号"].clone())
        .collect();
    Moment {
        respondents: t["respondents"].as_i64().unwrap(),
        answered,
        rows,
    }
}

/// Between two moments: how many invitations turned answered, rows appeared and respondents
/// were added; each must be none or at least five.
fn differences(before: &Moment, after: &Moment) -> (usize, usize, i64) {
    (
        after.answered.difference(&before.answered).count(),
        after.rows.difference(&before.rows).count(),
        after.respondents - before.respondents,
    )
}

backend_test! {
    async fn downloading_everything_after_each_answer_links_no_one_to_an_answer(app) {
        let (organizer, id, urls) = open_survey_with_invitations(&app).await;
        // Twelve parents answer one after another (one release cell: the same area and band);
        // after each the organiser downloads the tally, the invitations and the answers.
        let mut last = moment(&app, &organizer, id).await;
        let (mut links, mut moves) = (0, 0);
        for (i, url) in urls.iter().take(12).enumerate() {
            assert_eq!(answer(url, if i % 2 == 0 { &["A"] } else { &["C", "D"] }).await, StatusCode::OK);
            if i == 3 {
                // The four waiting answers as if they had come three hours ago: once counted,
                // they must carry their batch's hour, not their own.
                use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
                use renke::entity::response;
                response::Entity::update_many()
                    .col_expr(response::Column::SubmittedHour, Expr::value(chrono::Utc::now() - chrono::Duration::hours(3)))
                    .filter(response::Column::SurveyId.eq(id as i32))
                    .exec(&app.db)
                    .await
                    .unwrap();
            }
            let now = moment(&app, &organizer, id).await;
            let (invitations, rows, respondents) = differences(&last, &now);
            for d in [invitations, rows, respondents as usize] {
                assert!(d == 0 || d >= 5, "after answer {}: {invitations} invitations, {rows} rows, {respondents} respondents", i + 1);
            }
            // The attack: one invitation turned answered and one row appeared together.
            if invitations == 1 && rows == 1 {
                links += 1;
            }
            if rows > 0 {
                moves += 1;
            }
            last = now;
        }
        assert_eq!(links, 0, "no answer linked to a name");
        assert_eq!(moves, 2, "two batches of five came in");
        assert_eq!((last.respondents, last.rows.len(), last.answered.len()), (10, 10, 10));
        // The close keeps the invariant too: the two left over (fewer than five, in no block
        // of five) are kept, counted nowhere, and their invitations still read pending.
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/close"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let closed = moment(&app, &organizer, id).await;
        assert_eq!(differences(&last, &closed), (0, 0, 0));
        let t: Value = get_json(&app.address, &organizer, &format!("/api/v1/surveys/{id}/tally")).await;
        assert_eq!((t["waiting"].as_i64(), t["withheld"].as_i64()), (Some(0), Some(2)));
        let stored = responses(&app, id).await;
        assert_eq!(stored.len(), 12, "every answer is kept");
        assert_eq!(stored.iter().filter(|r| r.released == 2).count(), 2);
        // Counted rows no longer carry the hour they came in, only their batch's.
        let released_since = chrono::Utc::now() - chrono::Duration::hours(2);
        for r in stored.iter().filter(|r| r.released == 1) {
            assert!(r.submitted_hour > released_since, "{:?}", r.submitted_hour);
        }
    }
}

backend_test! {
    async fn a_lone_principal_and_a_lone_school_are_in_no_export_and_no_figure(app) {
        let (organizer, id, urls) = open_survey_with_invitations(&app).await;
        let invitations = crate::sampling::invitations(&app, &organizer, id).await;
        let principal = invitations.iter().find(|r| r["群体"] == "校长").unwrap()["链接"].clone();
        // The one principal who answers, with a comment, and seven parents.
        let phone = new_client();
        let html = phone.get(&principal).send().await.unwrap().text().await.unwrap();
        let mut form = vec![("_form".to_owned(), hidden(&html, "_form"))];
        for item in item_ids(&html) {
            form.push((item, "C".to_owned()));
        }
        form.push(("comment".into(), "校长的意见：经费不足".into()));
        assert_eq!(phone.post(&principal).form(&form).send().await.unwrap().status(), StatusCode::OK);
        for url in urls.iter().take(7) {
            assert_eq!(answer(url, &["A", "B"]).await, StatusCode::OK);
        }
        let check = |t: &Value| {
            // No figure rests on fewer than five, and no hidden part of a breakdown comes
            // back as a total minus what is shown.
            let total = t["respondents"].as_i64().unwrap();
            for list in ["groups", "booklets", "areas", "area_classes", "schools", "bands"] {
                let mut shown = 0;
                for r in t[list].as_array().unwrap() {
                    if r["suppressed"] == true {
                        assert!(r["respondents"].is_null() && r["rate"].is_null(), "{list}: {r}");
                    } else {
                        let n = r["respondents"].as_i64().unwrap();
                        assert!(n >= 5, "{list}: {r}");
                        shown += n;
                    }
                }
                if matches!(list, "groups" | "booklets" | "areas") {
                    let hidden = total - shown;
                    assert!(hidden == 0 || hidden >= 5, "{list}: {hidden} hidden");
                }
            }
            // Between breakdowns: a booklet minus the groups it serves.
            let shown = |r: &Value| if r["suppressed"] == true { None } else { r["respondents"].as_i64() };
            for (booklet, groups) in [("社会卷", &["parent", "npc_deputy", "cppcc_member", "public"][..]), ("校长教师卷", &["teacher", "principal"][..]), ("学生卷", &["student"][..])] {
                let Some(b) = t["booklets"].as_array().unwrap().iter().find(|r| r["key"] == booklet) else { continue };
                let Some(n) = shown(b) else { continue };
                let parts: i64 = groups.iter().filter_map(|g| shown(&t["by_group"][*g])).sum();
                assert!(n - parts == 0 || n - parts >= 5, "{booklet}: {n} − {parts}");
            }
            for i in t["items"].as_array().unwrap() {
                if i["suppressed"] == true {
                    assert_eq!(i["options"], serde_json::json!({}));
                }
            }
        };
        let live: Value = get_json(&app.address, &organizer, &format!("/api/v1/surveys/{id}/tally")).await;
        check(&live);
        assert_eq!(live["by_group"]["principal"]["suppressed"], true);
        organizer.post(app.url(&format!("/api/v1/surveys/{id}/close"))).send().await.unwrap();
        let done: Value = get_json(&app.address, &organizer, &format!("/api/v1/surveys/{id}/tally")).await;
        check(&done);
        assert_eq!(done["by_group"]["principal"]["suppressed"], true, "the lone principal is counted nowhere");
        // Every combination of what could identify someone in the answers file covers five;
        // no principal's row, no principal's comment.
        let csv = organizer.get(app.url(&format!("/api/v1/surveys/{id}/responses.csv"))).send().await.unwrap().bytes().await.unwrap();
        let mut reader = csv::Reader::from_reader(&csv[3..]);
        let rows: Vec<HashMap<String, String>> = reader.deserialize().map(|r| r.unwrap()).collect();
        assert!(!rows.is_empty());
        let mut combos: HashMap<Vec<String>, usize> = HashMap::new();
        for r in &rows {
            assert_ne!(r["群体"], "校长");
            let key = ["群体", "问卷", "乡镇", "城乡类别", "学校", "年级段"].iter().map(|c| r[*c].clone()).collect();
            *combos.entry(key).or_default() += 1;
        }
        assert!(combos.values().all(|n| *n >= 5), "{combos:?}");
        assert!(!std::str::from_utf8(&csv).unwrap().contains("经费不足"));
        let xlsx = organizer.get(app.url(&format!("/api/v1/surveys/{id}/responses.xlsx"))).send().await.unwrap();
        assert_eq!(xlsx.status(), StatusCode::OK);
        let book = xlsx.bytes().await.unwrap();
        let mut sheets: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(book.to_vec())).unwrap();
        use calamine::{DataType, Reader};
        let range = sheets.worksheet_range_at(0).unwrap().unwrap();
        assert_eq!(range.rows().count(), rows.len() + 1, "the workbook holds the same rows");
        assert!(range.rows().all(|r| r.iter().all(|c| c.get_string() != Some("校长"))));
        // The tally workbook: every count it prints is none or five or more.
        let book = organizer.get(app.url(&format!("/api/v1/surveys/{id}/tally.xlsx"))).send().await.unwrap().bytes().await.unwrap();
        let mut sheets: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(book.to_vec())).unwrap();
        // (The breakdown sheets; the estimate's sheet holds several tables, its cells checked
        // through the JSON above.)
        for name in sheets.sheet_names().into_iter().filter(|n| n != "方法" && n != "正式测评预测") {
            let range = sheets.worksheet_range(&name).unwrap();
            let mut rows = range.rows();
            let Some(head) = rows.next() else { continue };
            let Some(col) = head.iter().position(|c| c.get_string() == Some("人数")) else { continue };
            for r in rows {
                if let Some(n) = r.get(col).and_then(|c| c.get_float()) {
                    assert!(n == 0.0 || n >= 5.0, "{name}: {r:?}");
                }
            }
        }
    }
}

/// PostgreSQL stamps every row with the transaction that wrote it (`xmin`). An answer and its
/// invitation's mark are written in one transaction, so someone reading the database could
/// join them; the release rewrites both in the transaction that releases their cell, so once
/// counted, an answer's stamp is shared by its whole batch and its invitations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_counted_answer_shares_its_write_stamp_with_its_whole_batch() {
    if std::env::var_os("RENKE_TEST_POSTGRES_URL").is_none() {
        crate::helpers::say("SKIPPED (PostgreSQL xmin): RENKE_TEST_POSTGRES_URL is not set");
        return;
    }
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Postgres)
        .await
        .unwrap();
    let (_, id, urls) = open_survey_with_invitations(&app).await;
    for url in urls.iter().take(10) {
        assert_eq!(answer(url, &["A"]).await, StatusCode::OK);
    }
    use sea_orm::{ConnectionTrait, Statement};
    let stamps = |sql: String| {
        let db = &app.db;
        async move {
            db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get::<String>("", "x").unwrap())
                .collect::<Vec<String>>()
        }
    };
    let answers = stamps(format!(
        "SELECT xmin::text AS x FROM response WHERE survey_id = {id} AND released = 1"
    ))
    .await;
    let marks = stamps(format!(
        "SELECT xmin::text AS x FROM invitation WHERE survey_id = {id} AND status = 'answered'"
    ))
    .await;
    assert_eq!((answers.len(), marks.len()), (10, 10));
    for x in &answers {
        let same = marks.iter().filter(|m| *m == x).count();
        let batch = answers.iter().filter(|a| *a == x).count();
        assert!(
            same >= 5 && batch >= 5,
            "stamp {x}: {batch} answers, {same} invitations"
        );
    }
}

backend_test! {
    async fn the_end_time_passing_settles_the_leftovers_once_however_many_look_at_once(app) {
        let (organizer, id, urls) = open_survey_with_invitations(&app).await;
        // Three parents of the younger band and three of the older, all of 城关镇: two cells of
        // three, nothing counted yet; together a block of six for the close.
        let older: Vec<String> = crate::sampling::invitations(&app, &organizer, id)
            .await
            .into_iter()
            .filter(|r| r["群体"] == "家长" && r["乡镇"] == "城关镇" && ["4年级", "5年级", "6年级"].contains(&r["年级"].as_str()))
            .map(|r| r["链接"].clone())
            .collect();
        for url in urls.iter().take(3).chain(older.iter().take(3)) {
            assert_eq!(answer(url, &["A"]).await, StatusCode::OK);
        }
        let path = format!("/api/v1/surveys/{id}/tally");
        let t = get_json(&app.address, &organizer, &path).await;
        assert_eq!((t["respondents"].as_i64(), t["waiting"].as_i64()), (Some(0), Some(6)));
        let end = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
        let res = organizer.put(app.url(&format!("/api/v1/surveys/{id}/window"))).json(&serde_json::json!({"closes_at": end})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        // Four readers at once after the end: the first settles, the others find nothing left.
        let looks = (0..4).map(|_| get_json(&app.address, &organizer, &path));
        for t in futures_util::future::join_all(looks).await {
            assert_eq!(t["waiting"], 0, "{t}");
        }
        let t = get_json(&app.address, &organizer, &path).await;
        assert_eq!((t["respondents"].as_i64(), t["withheld"].as_i64()), (Some(6), Some(0)), "counted once, under 城关镇");
        let area = t["areas"].as_array().unwrap().iter().find(|a| a["key"] == "城关镇").unwrap().clone();
        assert_eq!(area["respondents"], 6);
    }
}
