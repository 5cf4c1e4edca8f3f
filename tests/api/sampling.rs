use crate::helpers::{TestApp, backend_test, csrf_token, new_client};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::collections::HashSet;

/// A county of two areas and four schools, a survey of 100,000 people (n = 150: parents 75,
/// then 13, 13, 13, 12, 12, 12).
pub async fn county_survey(app: &TestApp) -> (Client, i64) {
    county_survey_in(app, "永嘉县").await
}

pub async fn county_survey_in(app: &TestApp, county_name: &str) -> (Client, i64) {
    let county = app.create_county(county_name).await;
    let organizer = app.user("organizer", Some(county)).await;
    let survey = app
        .create_survey(
            &organizer,
            json!({"name": "2026 年调查", "population": 100000}),
        )
        .await;
    let id = survey["id"].as_i64().unwrap();
    let res = organizer
        .put(app.url(&format!("/api/v1/surveys/{id}/areas")))
        .json(&json!([
            {"name": "城关镇", "class": "urban", "population": 60000},
            {"name": "桥头镇", "class": "town", "population": 40000},
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let res = organizer
        .put(app.url(&format!("/api/v1/surveys/{id}/schools")))
        .json(&json!([
            {"name": "城关一小", "area": "城关镇"},
            {"name": "城关中学", "area": "城关镇"},
            {"name": "桥头小学", "area": "桥头镇"},
            {"name": "桥头中学", "area": "桥头镇"},
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    (organizer, id)
}

/// A roster of `n` people of `group`, spread over both areas (and schools and grades).
pub fn roster(group: &str, n: usize) -> String {
    let mut out = String::from("编号,乡镇,学校,年级,姓名,电话\n");
    for i in 0..n {
        let (area, school) = if i % 5 < 3 {
            (
                "城关镇",
                if i % 2 == 0 {
                    "城关一小"
                } else {
                    "城关中学"
                },
            )
        } else {
            (
                "桥头镇",
                if i % 2 == 0 {
                    "桥头小学"
                } else {
                    "桥头中学"
                },
            )
        };
        let grade = match group {
            "student" => 3 + (i % 7),
            _ => 1 + (i % 9),
        };
        let group_no = [
            "parent",
            "student",
            "teacher",
            "principal",
            "npc_deputy",
            "cppcc_member",
            "public",
        ]
        .iter()
        .position(|g| *g == group)
        .unwrap_or(9);
        let phone = format!("139{:08}", i + 10_000 * group_no);
        out.push_str(&format!(
            "{group}{i:04},{area},{school},{grade},{group}{i:04},{phone}\n"
        ));
    }
    out
}

pub async fn upload(
    app: &TestApp,
    client: &Client,
    id: i64,
    group: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let res = client
        .post(app.url(&format!("/api/v1/surveys/{id}/frames/{group}")))
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

/// Uploads every group's roster; principals are short (8 for a quota of 13).
/// Every group with the size of its test roster.
pub const ROSTER_SIZES: [(&str, usize); 7] = [
    ("parent", 300),
    ("student", 120),
    ("teacher", 60),
    ("principal", 8),
    ("npc_deputy", 30),
    ("cppcc_member", 30),
    ("public", 60),
];

pub async fn upload_all(app: &TestApp, client: &Client, id: i64) {
    for (group, n) in ROSTER_SIZES {
        let (status, body) = upload(app, client, id, group, roster(group, n)).await;
        assert_eq!(status, StatusCode::OK, "{group}: {body}");
        assert_eq!(body["rows"], n);
    }
}

pub(crate) async fn draw(app: &TestApp, client: &Client, id: i64, seed: Value) -> Value {
    let res = client
        .post(app.url(&format!("/api/v1/surveys/{id}/draws")))
        .json(&json!({"seed": seed}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    res.json().await.unwrap()
}

/// The invitations CSV as rows of named fields.
pub(crate) async fn invitations(
    app: &TestApp,
    client: &Client,
    id: i64,
) -> Vec<std::collections::HashMap<String, String>> {
    let res = client
        .get(app.url(&format!("/api/v1/surveys/{id}/invitations.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM for Excel");
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    reader.deserialize().map(|r| r.unwrap()).collect()
}

fn names(rows: &[std::collections::HashMap<String, String>]) -> HashSet<String> {
    rows.iter().map(|r| r["姓名"].clone()).collect()
}

pub(crate) async fn open(app: &TestApp, client: &Client, id: i64) {
    let res = client
        .post(app.url(&format!("/api/v1/surveys/{id}/open")))
        .json(&serde_json::json!({"confirm": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

backend_test! {
    async fn areas_and_schools_are_checked_and_kept_in_order(app) {
        let (organizer, id) = county_survey(&app).await;
        let areas: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/areas"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(areas[0]["name"], "城关镇");
        assert_eq!(areas[1]["class"], "town");
        let url = app.url(&format!("/api/v1/surveys/{id}/areas"));
        let cases = [
            (json!([{"name": "甲", "class": "city", "population": 5}]), "class"),
            (json!([{"name": "甲", "class": "urban", "population": 0}]), "population"),
            (json!([{"name": "", "class": "urban", "population": 5}]), "name"),
            (json!([{"name": "甲", "class": "urban", "population": 5}, {"name": "甲", "class": "rural", "population": 5}]), "name"),
            (json!([]), "areas"),
        ];
        for (body, field) in cases {
            let res = organizer.put(&url).json(&body).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(res.json::<Value>().await.unwrap()["field"], field, "{body}");
        }
        // Dropping an area that still has schools is refused; nothing changes.
        let res = organizer.put(&url).json(&json!([{"name": "城关镇", "class": "城区", "population": 1}])).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let res = organizer
            .put(app.url(&format!("/api/v1/surveys/{id}/schools")))
            .json(&json!([{"name": "北山小学", "area": "北山镇"}]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.json::<Value>().await.unwrap()["field"], "area");
        let schools: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/schools"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(schools.as_array().unwrap().len(), 4);
    }
}

backend_test! {
    async fn a_roster_with_errors_is_refused_whole_with_every_bad_line(app) {
        let (organizer, id) = county_survey(&app).await;
        let csv = "编号,乡镇,学校,年级\ns1,城关镇,城关一小,3\ns1,城关镇,城关一小,4\ns3,北山镇,城关一小,3\ns4,城关镇,城关一小,12\n";
        let (status, body) = upload(&app, &organizer, id, "student", csv).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["field"], "file");
        assert_eq!(body["error_count"], 3);
        let lines: Vec<i64> = body["errors"].as_array().unwrap().iter().map(|e| e["line"].as_i64().unwrap()).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        let frame: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/frames/student"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(frame["rows"], 0);
        // A missing column is named.
        let (status, body) = upload(&app, &organizer, id, "parent", "编号,乡镇\np1,城关镇\n").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("学校"), "{body}");
        // An unknown group, and a body that is not CSV.
        let (status, _) = upload(&app, &organizer, id, "alien", "id,area\n").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let res = organizer
            .post(app.url(&format!("/api/v1/surveys/{id}/frames/public")))
            .json(&json!({"id": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
}

backend_test! {
    async fn rosters_saved_by_excel_in_gbk_or_with_a_bom_are_read(app) {
        let (organizer, id) = county_survey(&app).await;
        let (gbk, _, _) = encoding_rs::GBK.encode("编号,乡镇,姓名\nd1,城关镇,张三\nd2,桥头镇,李四\n");
        let (status, body) = upload(&app, &organizer, id, "npc_deputy", gbk.into_owned()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["rows"], 2);
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice("id,area,name\nc1,城关镇,王五\n".as_bytes());
        let (status, body) = upload(&app, &organizer, id, "cppcc_member", bom).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let frame: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/frames/npc_deputy"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(frame["sample"][0]["name"], "张三");
        // Uploading again replaces the roster.
        let (_, body) = upload(&app, &organizer, id, "npc_deputy", "id,area\nd9,城关镇\n").await;
        assert_eq!(body["rows"], 1);
    }
}

backend_test! {
    async fn a_person_in_two_rosters_is_reported_and_drawn_once(app) {
        let (organizer, id) = county_survey(&app).await;
        upload(&app, &organizer, id, "teacher", "编号,乡镇,学校,电话\nt1,城关镇,城关一小,13900000001\n").await;
        let (status, body) = upload(&app, &organizer, id, "parent", "编号,乡镇,学校,年级,电话\np1,城关镇,城关一小,2,139-0000-0001\np2,城关镇,城关一小,2,13900000002\n").await;
        assert_eq!(status, StatusCode::OK);
        let dups = body["duplicates"].as_array().unwrap();
        assert_eq!(dups.len(), 1);
        assert_eq!(dups[0]["line"], 2);
        assert_eq!(dups[0]["other_group"], "教师");
        assert_eq!(dups[0]["other_id"], "t1");
    }
}

backend_test! {
    async fn the_plan_spreads_quotas_over_areas_and_bands_and_caps_short_rosters(app) {
        let (organizer, id) = county_survey(&app).await;
        upload_all(&app, &organizer, id).await;
        let plan: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/plan"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(plan["total"], 150);
        // Principals capped at 8; their 5 places go round-robin to the others with room.
        assert_eq!(plan["groups"]["principal"], 8);
        assert_eq!(plan["capped"], json!(["principal"]));
        assert_eq!(plan["groups"]["student"], 14);
        let strata = plan["strata"].as_array().unwrap();
        let parents: Vec<i64> = strata.iter().filter(|s| s["group"] == "parent").map(|s| s["quota"].as_i64().unwrap()).collect();
        // 75 parents: 45 in 城关镇 (60%), 30 in 桥头镇, each split evenly over three bands.
        assert_eq!(parents, vec![15, 15, 15, 10, 10, 10]);
        let sum: i64 = strata.iter().map(|s| s["quota"].as_i64().unwrap()).sum();
        assert_eq!(sum, 150);
        assert!(plan["steps"].as_array().unwrap().iter().any(|s| s.as_str().unwrap().contains("校长名册仅 8 人")));
    }
}

backend_test! {
    async fn the_same_frame_and_seed_draw_the_same_sample_which_verifies(app) {
        let (organizer, id) = county_survey(&app).await;
        upload_all(&app, &organizer, id).await;
        let first = draw(&app, &organizer, id, json!("18446744073709551615")).await;
        // A seed is a text, recorded verbatim.
        assert_eq!(first["seed"], "18446744073709551615");
        assert_eq!(first["algorithm"], "renke-draw-v2");
        assert_eq!(first["selected"], 150);
        assert_eq!(first["frame_digest"].as_str().unwrap().len(), 64);
        let first_names = names(&invitations(&app, &organizer, id).await);
        assert_eq!(first_names.len(), 150, "no one drawn twice");

        let verify: Value = organizer
            .get(app.url(&format!("/api/v1/surveys/{id}/draws/{}/verify", first["id"])))
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(verify["identical"], true, "{verify}");

        // Drawing again with the same seed gives the same people; the first draw is superseded.
        let second = draw(&app, &organizer, id, json!(18446744073709551615u64)).await;
        assert_eq!(second["frame_digest"], first["frame_digest"]);
        assert_eq!(names(&invitations(&app, &organizer, id).await), first_names);
        let old: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/draws/{}", first["id"]))).send().await.unwrap().json().await.unwrap();
        assert_eq!(old["superseded"], true);
        // Quotas are met exactly per stratum.
        let current: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/draws/{}", second["id"]))).send().await.unwrap().json().await.unwrap();
        for s in current["strata"].as_array().unwrap() {
            assert_eq!(s["drawn"], s["quota"], "{s}");
            let reserves = (s["quota"].as_u64().unwrap() * 20).div_ceil(100);
            assert!(s["reserves"].as_u64().unwrap() <= reserves);
        }
        // Another seed, another sample.
        draw(&app, &organizer, id, json!(7)).await;
        assert_ne!(names(&invitations(&app, &organizer, id).await), first_names);
        // A roster replaced after the draw (in a draft): the draw in force goes stale.
        let (status, _) = upload(&app, &organizer, id, "public", roster("public", 60)).await;
        assert_eq!(status, StatusCode::OK);
        let drawn: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/checklist"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(drawn["can_open"], false, "{drawn}");
        // A bad seed is refused: blank, with a control character, too long, or not a number
        // nor a text.
        for bad in [json!("  "), json!("a\tb"), json!("9".repeat(201)), json!(-1), json!(1.5), json!(["1"])] {
            let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/draws"))).json(&json!({"seed": bad})).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(res.json::<Value>().await.unwrap()["field"], "seed", "{bad}");
        }
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/draws"))).json(&json!({"seed_note": "第 1 期"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "a note without a seed");
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/draws"))).json(&json!({"seed": "7", "seed_note": 5})).send().await.unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["field"], "seed_note");
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/draws"))).json(&json!({"seed": "31415\u{200B}"})).send().await.unwrap();
        let body: Value = res.json().await.unwrap();
        assert!(body["field"] == "seed" && body["error"].as_str().unwrap().contains("看不见"), "{body}");
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/draws"))).header("content-type", "text/plain").body("{\"seed\": \"7\"}").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "a body that is not declared JSON");
    }
}

backend_test! {
    async fn a_roster_uploaded_in_another_order_draws_the_same_people(app) {
        let mut samples = Vec::new();
        for (reverse, county) in [(false, "甲县"), (true, "乙县")] {
            let (organizer, id) = county_survey_in(&app, county).await;
            let text = roster("teacher", 60);
            let mut lines: Vec<&str> = text.lines().collect();
            if reverse {
                lines[1..].reverse();
            }
            let (status, _) = upload(&app, &organizer, id, "teacher", lines.join("\n")).await;
            assert_eq!(status, StatusCode::OK);
            let d = draw(&app, &organizer, id, json!(2026)).await;
            samples.push((d["frame_digest"].clone(), names(&invitations(&app, &organizer, id).await)));
        }
        assert_eq!(samples[0], samples[1]);
    }
}

backend_test! {
    async fn invitation_links_answer_for_every_state_and_refuse_tampering(app) {
        let (organizer, id) = county_survey(&app).await;
        upload_all(&app, &organizer, id).await;
        draw(&app, &organizer, id, json!(1)).await;
        let rows = invitations(&app, &organizer, id).await;
        let url = rows[0]["链接"].clone();
        assert!(url.starts_with(&app.address) && url.contains("/s/"), "{url}");
        let token = url.rsplit('/').next().unwrap().to_owned();
        assert!(token.len() <= 30, "short enough for an SMS: {token}");

        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(res.headers()["referrer-policy"], "no-referrer");
        assert!(res.text().await.unwrap().contains("调查尚未开始"));
        open(&app, &organizer, id).await;
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("2026 年调查"));

        let mut tampered = token.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        for bad in [tampered.as_str(), "nonsense", "zz.AAAAAAAAAAAAAAAA"] {
            let res = app.client.get(app.url(&format!("/s/{bad}"))).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{bad}");
            assert!(res.text().await.unwrap().contains("链接无效"));
        }
        // QR codes of the link, as SVG and PNG.
        let inv_id = i64::from_str_radix(token.split('.').next().unwrap(), 36).unwrap();
        let res = organizer.get(app.url(&format!("/api/v1/surveys/{id}/invitations/{inv_id}/qr.svg"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("<svg"));
        let res = organizer.get(app.url(&format!("/api/v1/surveys/{id}/invitations/{inv_id}/qr.png"))).send().await.unwrap();
        assert_eq!(res.headers()["content-type"], "image/png");
        // The printable sheet has a QR code per invitation.
        let html = organizer.get(app.url(&format!("/admin/surveys/{id}/invitations/print"))).send().await.unwrap().text().await.unwrap();
        assert_eq!(html.matches("class=\"print-card\"").count(), 150);
        assert!(!html.contains("· parent0") && html.contains("· p*********"), "names masked on the printed sheet");
        // A closed survey says so.
        organizer.post(app.url(&format!("/api/v1/surveys/{id}/close"))).send().await.unwrap();
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::GONE);
    }
}

backend_test! {
    async fn a_redraw_revokes_the_earlier_links(app) {
        let (organizer, id) = county_survey(&app).await;
        upload_all(&app, &organizer, id).await;
        draw(&app, &organizer, id, json!(1)).await;
        let old_url = invitations(&app, &organizer, id).await[0]["链接"].clone();
        draw(&app, &organizer, id, json!(2)).await;
        open(&app, &organizer, id).await;
        let res = app.client.get(&old_url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}

backend_test! {
    async fn releasing_reserves_replaces_non_responders_in_order(app) {
        let (organizer, id) = county_survey(&app).await;
        upload_all(&app, &organizer, id).await;
        draw(&app, &organizer, id, json!(3)).await;
        let before = invitations(&app, &organizer, id).await;
        let teacher_urls: Vec<String> = before.iter().filter(|r| r["群体"] == "教师").map(|r| r["链接"].clone()).collect();
        // Not before the survey opens.
        let url = app.url(&format!("/api/v1/surveys/{id}/reserves/release"));
        let res = organizer.post(&url).json(&json!({"group": "teacher"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        open(&app, &organizer, id).await;
        // Issued before a time long ago: nothing to replace.
        let res = organizer.post(&url).json(&json!({"group": "teacher", "issued_before": "2000-01-01T00:00:00Z"})).send().await.unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["replaced"], 0);
        let res = organizer.post(&url).json(&json!({"group": "teacher", "area": "城关镇"})).send().await.unwrap();
        let outcome: Value = res.json().await.unwrap();
        // 城关镇 teachers: quota 8, reserves ceil(1.6) = 2.
        assert_eq!(outcome["replaced"], 2, "{outcome}");
        assert_eq!(outcome["without_reserve"], 6);
        // The list keeps the two replaced, marked so and without a link, beside their reserves.
        let after = invitations(&app, &organizer, id).await;
        assert_eq!(after.len(), before.len() + 2);
        let replaced: Vec<_> = after.iter().filter(|r| r["状态"].starts_with("已更换")).collect();
        assert_eq!(replaced.len(), 2);
        assert!(replaced.iter().all(|r| r["链接"].is_empty() && r["群体"] == "教师"));
        let revoked: Vec<&String> = teacher_urls.iter().filter(|u| !after.iter().any(|r| &&r["链接"] == u)).collect();
        assert_eq!(revoked.len(), 2);
        // The replaced link says so, and whom to ask; the reserves' invitations are marked.
        let res = app.client.get(revoked[0].as_str()).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::GONE);
        let page = res.text().await.unwrap();
        assert!(page.contains("此链接已更换") && page.contains("教育局"), "{page}");
        assert_eq!(after.iter().filter(|r| r["备选递补"] == "是").count(), 2);
        assert!(after.iter().all(|r| !r["编号"].is_empty() && r["发出时间"].starts_with("20") && (["待回复", "已回复"].contains(&r["状态"].as_str()) || r["状态"].starts_with("已更换"))));
        // On the page, releasing asks for a tick first and changes nothing without it.
        let me: Value = organizer.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
        let (browser, _) = crate::helpers::browser_login(&app, me["user"]["username"].as_str().unwrap(), crate::helpers::PASSWORD).await;
        let html = browser.get(app.url(&format!("/admin/surveys/{id}/invitations"))).send().await.unwrap().text().await.unwrap();
        let token = crate::helpers::csrf_token(&html);
        let res = browser.post(app.url(&format!("/admin/surveys/{id}/reserves"))).form(&[("csrf_token", token.as_str()), ("group", "teacher")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("请勾选确认"));
        assert_eq!(invitations(&app, &organizer, id).await.len(), after.len());
        // The print sheet: by school and class, 编号 and a masked name, twelve to a page.
        let sheet = browser.get(app.url(&format!("/admin/surveys/{id}/invitations/print"))).send().await.unwrap().text().await.unwrap();
        assert!(sheet.contains("编号 parent") && sheet.contains(" · p*********"), "ids and masked names on the slips");
        assert!(!sheet.contains("139000"), "no phone on the slips");
        for page in sheet.split("<section class=\"print-page\">").skip(1) {
            assert!(page.matches("class=\"print-card\"").count() <= 12);
        }
        let bad = app.url(&format!("/api/v1/surveys/{id}/reserves/release"));
        let res = organizer.post(&bad).json(&json!({"group": "teacher", "band": 1})).send().await.unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["field"], "band");
    }
}

backend_test! {
    async fn an_open_channel_takes_answers_until_its_strata_have_no_place_left(app) {
        let (organizer, id) = county_survey(&app).await;
        let res = organizer
            .post(app.url(&format!("/api/v1/surveys/{id}/channels")))
            .json(&json!({"group": "public", "area": "桥头镇"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let ch: Value = res.json().await.unwrap();
        let code = ch["code"].as_str().unwrap().to_owned();
        assert!(ch["url"].as_str().unwrap().ends_with(&format!("/o/{code}")));
        for (body, field) in [
            (json!({"group": "martian"}), "group"),
            (json!({"group": "parent", "area": "北山镇"}), "area"),
            (json!({"group": "parent", "area": "城关镇", "school": "桥头小学"}), "school"),
        ] {
            let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/channels"))).json(&body).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(res.json::<Value>().await.unwrap()["field"], field);
        }
        open(&app, &organizer, id).await;
        let res = app.client.get(app.url(&format!("/o/{code}"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let channels: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/channels"))).send().await.unwrap().json().await.unwrap();
        // Public: 12 places, 40% of them in 桥头镇: round(4.8) by largest remainder = 5.
        let quota = channels[0]["quota"].as_u64().unwrap();
        assert_eq!(quota, 5);

        // Many concurrent claims of its one stratum's places: exactly `quota` succeed.
        let mut tasks = Vec::new();
        let area_id: i32 = {
            use sea_orm::{EntityTrait, QueryFilter, ColumnTrait};
            renke::entity::area::Entity::find()
                .filter(renke::entity::area::Column::Name.eq("桥头镇"))
                .one(&app.db).await.unwrap().unwrap().id
        };
        for _ in 0..20 {
            let db = app.db.clone();
            tasks.push(tokio::spawn(async move {
                use renke::domain::{geography::AreaScope, group::RespondentGroup, places::PlaceKey};
                let key = PlaceKey { group: RespondentGroup::Public, area: AreaScope::Area(area_id), band: None };
                renke::store::places::claim(&db, id as i32, &key).await
            }));
        }
        let mut won = 0;
        for t in tasks {
            if t.await.unwrap().unwrap() {
                won += 1;
            }
        }
        assert_eq!(won, quota);
        let res = app.client.get(app.url(&format!("/o/{code}"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("名额已满，感谢支持"));
        let res = app.client.get(app.url("/o/no-such-code")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = organizer.get(app.url(&format!("/api/v1/surveys/{id}/channels/{code}/qr.png"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
}

backend_test! {
    async fn a_closed_surveys_personal_data_is_purged_in_one_action(app) {
        let (organizer, id) = county_survey(&app).await;
        upload_all(&app, &organizer, id).await;
        let d = draw(&app, &organizer, id, json!(5)).await;
        let purge = app.url(&format!("/api/v1/surveys/{id}/purge"));
        assert_eq!(organizer.post(&purge).send().await.unwrap().status(), StatusCode::CONFLICT);
        open(&app, &organizer, id).await;
        organizer.post(app.url(&format!("/api/v1/surveys/{id}/close"))).send().await.unwrap();
        let res = organizer.post(&purge).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap()["purged_rows"], 608);
        let rows = invitations(&app, &organizer, id).await;
        assert_eq!(rows.len(), 150);
        assert!(rows.iter().all(|r| r["姓名"].is_empty() && r["电话"].is_empty()));
        let res = organizer.get(app.url(&format!("/api/v1/surveys/{id}/draws/{}/verify", d["id"]))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        // Nothing points at a person any more: draw records without roster ids, invitations
        // without link, grade or answered hour.
        let left = crate::helpers::count_rows(&app, "SELECT COUNT(*) FROM draw_pick WHERE external_id <> '' OR frame_person_id IS NOT NULL").await;
        assert_eq!(left, 0);
        let left = crate::helpers::count_rows(&app, &format!("SELECT COUNT(*) FROM invitation WHERE survey_id = {id} AND (frame_person_id IS NOT NULL OR grade IS NOT NULL OR answered_at IS NOT NULL)")).await;
        assert_eq!(left, 0);
        // And no copy in the files: the database, its write-ahead log, its shared memory.
        match app.settings.database_url.strip_prefix("sqlite://") {
            Some(rest) => {
                let file = rest.split('?').next().unwrap();
                for suffix in ["", "-wal", "-shm"] {
                    let bytes = std::fs::read(format!("{file}{suffix}")).unwrap_or_default();
                    for needle in ["parent0007", "teacher0003", "13900000007", "13900020003"] {
                        let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
                        assert!(!found, "{needle} still in renke.db{suffix}");
                    }
                }
            }
            None => crate::helpers::say("SKIPPED (PostgreSQL variant): the purge's file scan reads SQLite files only; PostgreSQL's are the server's"),
        }
    }
}

backend_test! {
    async fn only_the_countys_organisers_touch_rosters_and_draws(app) {
        let (organizer, id) = county_survey(&app).await;
        upload_all(&app, &organizer, id).await;
        let county: i32 = organizer.get(app.url("/api/v1/me")).send().await.unwrap().json::<Value>().await.unwrap()["user"]["county_id"].as_i64().unwrap() as i32;
        let viewer = app.user("viewer", Some(county)).await;
        let other = app.user("organizer", Some(app.create_county("乙县").await)).await;
        let (status, _) = upload(&app, &viewer, id, "public", roster("public", 3)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = upload(&app, &other, id, "public", roster("public", 3)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(viewer.get(app.url(&format!("/api/v1/surveys/{id}/frames/public"))).send().await.unwrap().status(), StatusCode::FORBIDDEN);
        assert_eq!(viewer.get(app.url(&format!("/api/v1/surveys/{id}/invitations.csv"))).send().await.unwrap().status(), StatusCode::FORBIDDEN);
        let res = viewer.post(app.url(&format!("/api/v1/surveys/{id}/draws"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = other.post(app.url(&format!("/api/v1/surveys/{id}/draws"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        // A draw with no body uses a random seed.
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/draws"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
}

backend_test! {
    async fn the_sampling_pages_take_areas_rosters_and_a_draw(app) {
        let county = app.create_county("永嘉县").await;
        let admin = app.admin().await;
        admin.post(app.url("/api/v1/users"))
            .json(&json!({"username": "zhang", "password": crate::helpers::PASSWORD, "role": "organizer", "county_id": county}))
            .send().await.unwrap();
        let client = new_client();
        let html = client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
        let token = csrf_token(&html);
        client.post(app.url("/login")).form(&[("csrf_token", token.as_str()), ("username", "zhang"), ("password", crate::helpers::PASSWORD)]).send().await.unwrap();
        let survey = app.create_survey(&client, json!({"name": "页面调查", "population": 100000})).await;
        let id = survey["id"].as_i64().unwrap();
        let page = format!("/admin/surveys/{id}/sample");

        let res = client.post(app.url(&format!("/admin/surveys/{id}/areas")))
            .form(&[("csrf_token", token.as_str()), ("areas", "城关镇,城区,60000\n桥头镇，镇区，40000")])
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let res = client.post(app.url(&format!("/admin/surveys/{id}/areas")))
            .form(&[("csrf_token", token.as_str()), ("areas", "城关镇,城区\n")])
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("第 1 行应为"));
        let res = client.post(app.url(&format!("/admin/surveys/{id}/schools")))
            .form(&[("csrf_token", token.as_str()), ("schools", "城关一小,城关镇\n桥头小学,桥头镇")])
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);

        // A file upload through the page's form, with its token; a bad file shows its lines.
        let form = |csv: &str, with_token: bool| {
            let mut f = reqwest::multipart::Form::new();
            if with_token {
                f = f.text("csrf_token", token.clone());
            }
            f.part("file", reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("teachers.csv"))
        };
        let url = app.url(&format!("/admin/surveys/{id}/frames/teacher"));
        let res = client.post(&url).multipart(form("编号,乡镇,学校\nt1,城关镇,城关一小\n", false)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = client.post(&url).multipart(form("编号,乡镇,学校\nt1,城关镇,城关一小\nt2,北山镇,城关一小\n", true)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = res.text().await.unwrap();
        assert!(html.contains("没有名为“北山镇”的乡镇（街道）") && html.contains("<td class=\"num\">3</td>"), "{html}");
        let res = client.post(&url).multipart(form("编号,乡镇,学校,姓名,电话\nt1,城关镇,城关一小,张老师,13912345678\nt2,桥头镇,桥头小学,李老师,\n", true)).send().await.unwrap();
        // Accepted: back to the page, which says so once (a reload sends nothing again).
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], format!("/admin/surveys/{id}/sample#rosters").as_str());
        let html = client.get(app.url(&page)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("教师名册已导入 2 人"));
        assert!(html.contains("139****5678") && !html.contains("13912345678"), "phones are masked");
        let html = client.get(app.url(&page)).send().await.unwrap().text().await.unwrap();
        assert!(!html.contains("教师名册已导入 2 人"), "shown once");
        // A teachers' file with their headings sent as the parents' roster: refused (no grades)
        // and said to look like the teachers'.
        let parents = app.url(&format!("/admin/surveys/{id}/frames/parent"));
        let res = client.post(&parents).multipart(form("工号,乡镇,学校,教师姓名,联系电话
t1,城关镇,城关一小,张老师,13912345678
", true)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("像是教师名册"));
        // One file a form, and its other fields small; nothing stored from either.
        let two = form("编号,乡镇,学校\nt9,城关镇,城关一小\n", true).part("file", reqwest::multipart::Part::bytes("t10,城关镇,城关一小\n".as_bytes().to_vec()).file_name("more.csv"));
        let res = client.post(&url).multipart(two).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("一次只能上传一个文件"));
        let padded = form("编号,乡镇,学校\nt9,城关镇,城关一小\n", true).text("junk", "x".repeat(100_000));
        let res = client.post(&url).multipart(padded).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("表单项“junk”过长"));
        let frame: Value = client.get(app.url(&format!("/api/v1/surveys/{id}/frames/teacher"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(frame["rows"], 2, "the teachers' roster as it was");
        // A survey with no areas yet takes no roster: said before the file is read.
        let bare = app.create_survey(&client, json!({"name": "还没有乡镇", "population": 100000})).await;
        let res = client.post(app.url(&format!("/admin/surveys/{}/frames/teacher", bare["id"]))).multipart(form("编号,乡镇\nt1,城关镇\n", true)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("请先填写乡镇"));

        // A refused seed comes back with what was typed, the field marked.
        let res = client.post(app.url(&format!("/admin/surveys/{id}/draws"))).form(&[("csrf_token", token.as_str()), ("seed", "42\u{200B}"), ("seed_note", "第 1 期 <b>")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let html = res.text().await.unwrap();
        assert!(html.contains("看不见的字符") && html.contains("aria-invalid=\"true\"") && html.contains("value=\"第 1 期 &lt;b&gt;\""), "{html}");
        let res = client.post(app.url(&format!("/admin/surveys/{id}/draws"))).form(&[("csrf_token", token.as_str()), ("seed", "42")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let cert = res.headers()["location"].to_str().unwrap().to_owned();
        let html = client.get(app.url(&cert)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("抽样证书") && html.contains("<code class=\"wrap\">42</code>") && html.contains("组织者填写"), "{html}");
        let html = client.get(app.url(&format!("{cert}?verify=1"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("复核一致"));
        let html = client.get(app.url(&page)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("第 1 次抽样"));
        let html = client.get(app.url(&format!("/admin/surveys/{id}/invitations"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("待回复 2"));
        let res = client.post(app.url(&format!("/admin/surveys/{id}/channels"))).form(&[("csrf_token", token.as_str()), ("group", "parent"), ("area", ""), ("school", "")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let html = client.get(app.url(&format!("/admin/surveys/{id}/invitations"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("家长问卷二维码"));
    }
}

backend_test! {
    async fn a_large_roster_is_read_as_it_streams_and_a_late_bad_line_changes_nothing(app) {
        let (organizer, id) = county_survey(&app).await;
        // 5,000 parents in GBK with CRLF, as Excel saves them: many reads of the spool, and
        // several pieces stored.
        let mut text = String::from("编号,乡镇,学校,年级,姓名,电话\r\n");
        for i in 0..5_000 {
            text += &format!("p{i:05},城关镇,城关一小,3,欧阳{i},139{i:08}\r\n");
        }
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        assert!(gbk.len() > 3 * 64 * 1024);
        let (status, body) = upload(&app, &organizer, id, "parent", gbk.into_owned()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["rows"], 5_000);
        let frame_url = app.url(&format!("/api/v1/surveys/{id}/frames/parent"));
        let frame: Value = organizer.get(&frame_url).send().await.unwrap().json().await.unwrap();
        assert_eq!(frame["rows"], 5_000);
        assert_eq!(frame["sample"][0]["name"], "欧阳0");
        // The same list in UTF-8 with one bad phone on its last line but one: refused, that line
        // named, and the roster stored before is still the one there.
        let bad = text.replace("欧阳4998,13900004998", "欧阳4998,12345");
        let (status, body) = upload(&app, &organizer, id, "parent", bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error_count"], 1, "{body}");
        assert_eq!(body["errors"][0]["line"], 5_000, "{body}");
        let frame: Value = organizer.get(&frame_url).send().await.unwrap().json().await.unwrap();
        assert_eq!(frame["rows"], 5_000);
        // A repeated id far from its first: named with the first's line.
        let repeated = text.replace("p04999,", "p00001,");
        let (status, body) = upload(&app, &organizer, id, "parent", repeated).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("第 3 行"), "{message}");
    }
}

backend_test! {
    async fn a_roster_declared_over_the_limit_is_refused_before_its_body_is_sent(app) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (_, id) = county_survey(&app).await;
        // An organiser of that county whose password the test knows, logged in by hand.
        let admin = app.admin().await;
        let county = admin.get(app.url(&format!("/api/v1/surveys/{id}"))).send().await.unwrap().json::<Value>().await.unwrap()["county_id"].clone();
        let res = admin.post(app.url("/api/v1/users")).json(&json!({"username": "bulk", "password": crate::helpers::PASSWORD, "role": "organizer", "county_id": county})).send().await.unwrap();
        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
        let res = app.client.post(app.url("/api/v1/login")).json(&json!({"username": "bulk", "password": crate::helpers::PASSWORD})).send().await.unwrap();
        let cookie: Vec<String> = res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned()).collect();
        let host = app.address.trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
        let head = format!(
            "POST /api/v1/surveys/{id}/frames/parent HTTP/1.1\r\nHost: {host}\r\nOrigin: {}\r\nCookie: {}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\n\r\n",
            app.address,
            cookie.join("; "),
            200u64 * 1024 * 1024
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // Not a byte of the body sent: the answer comes anyway.
        let mut out = vec![0u8; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(20), stream.read(&mut out)).await.expect("answered before the body").unwrap();
        let answer = String::from_utf8_lossy(&out[..n]).into_owned();
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        // Within the limit, to a survey that takes no roster now (no areas): 409, body unsent.
        let bulk = new_client();
        bulk.post(app.url("/api/v1/login")).json(&json!({"username": "bulk", "password": crate::helpers::PASSWORD})).send().await.unwrap();
        let bare = app.create_survey(&bulk, json!({"name": "还没有乡镇", "population": 100000})).await;
        let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
        let head = format!(
            "POST /api/v1/surveys/{}/frames/parent HTTP/1.1\r\nHost: {host}\r\nOrigin: {}\r\nCookie: {}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\n\r\n",
            bare["id"],
            app.address,
            cookie.join("; "),
            100u64 * 1024 * 1024
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let n = tokio::time::timeout(std::time::Duration::from_secs(20), stream.read(&mut out)).await.expect("answered before the body").unwrap();
        let answer = String::from_utf8_lossy(&out[..n]).into_owned();
        assert!(answer.starts_with("HTTP/1.1 409"), "{answer}");
    }
}
