//! The organiser's path (2.5): a draft's draw discarded and redone, a stale draw refusing the
//! opening, the checklist before opening, and what may change once a survey is live.
use crate::helpers::{backend_test, new_client};
use crate::sampling::{county_survey, draw, roster, upload, upload_all};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn get(app: &crate::helpers::TestApp, client: &reqwest::Client, path: &str) -> Value {
    let res = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.json().await.unwrap()
}

fn check<'a>(list: &'a Value, code: &str) -> &'a Value {
    list["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == code)
        .unwrap()
}

backend_test! {
    async fn a_stale_draw_refuses_the_opening_until_it_is_discarded_and_redone(app) {
        let (organizer, id) = county_survey(&app).await;
        upload_all(&app, &organizer, id).await;
        let first = draw(&app, &organizer, id, json!("福彩 2026321")).await;
        let d1 = first["id"].as_i64().unwrap();
        let list = get(&app, &organizer, &format!("/api/v1/surveys/{id}/checklist")).await;
        assert_eq!(check(&list, "draw")["status"], "ok", "{list}");
        assert_eq!(check(&list, "areas")["status"], "ok", "{list}");
        assert_eq!(check(&list, "groups")["status"], "ok", "{list}");
        // A roster replaced after the draw (allowed in a draft): the draw goes stale.
        let (status, body) = upload(&app, &organizer, id, "public", roster("public", 61)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let cert = get(&app, &organizer, &format!("/api/v1/surveys/{id}/draws/{d1}")).await;
        assert_eq!(cert["stale"][0]["code"], "rosters", "{cert}");
        let list = get(&app, &organizer, &format!("/api/v1/surveys/{id}/checklist")).await;
        assert_eq!(check(&list, "draw")["status"], "blocking");
        assert_eq!(list["can_open"], false);
        let open = |confirm: bool| {
            organizer.post(app.url(&format!("/api/v1/surveys/{id}/open"))).json(&json!({"confirm": confirm})).send()
        };
        let res = open(true).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["field"], "draw", "{body}");
        assert!(body["error"].as_str().unwrap().contains("名册有更换"), "{body}");
        assert_eq!(get(&app, &organizer, &format!("/api/v1/surveys/{id}")).await["status"], "draft");
        // The survey and its plan agree on the quotas the rosters cap (principals: 8 of 13).
        let survey = get(&app, &organizer, &format!("/api/v1/surveys/{id}")).await;
        let plan = get(&app, &organizer, &format!("/api/v1/surveys/{id}/plan")).await;
        assert_eq!(survey["plan"]["groups"], plan["groups"], "{survey} {plan}");
        assert_eq!(survey["plan"]["groups"]["principal"], 8);
        // Discarded: superseded, marked, its invitations revoked, its certificate kept.
        let url = app.url(&format!("/api/v1/surveys/{id}/draws/{d1}"));
        let res = organizer.delete(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let discarded: Value = res.json().await.unwrap();
        assert_eq!(discarded["superseded"], true);
        assert_eq!(discarded["status_label"], "已撤销");
        assert!(discarded["discarded_at"].is_string());
        assert_eq!(organizer.delete(&url).send().await.unwrap().status(), StatusCode::CONFLICT);
        let cert = get(&app, &organizer, &format!("/api/v1/surveys/{id}/draws/{d1}")).await;
        assert!(cert["discarded_at"].is_string() && cert["superseded_by"].is_null(), "{cert}");
        let csv = organizer.get(app.url(&format!("/api/v1/surveys/{id}/invitations.csv"))).send().await.unwrap().text().await.unwrap();
        assert_eq!(csv.trim_start_matches('\u{feff}').lines().count(), 1, "no working invitation: {csv}");
        let list = get(&app, &organizer, &format!("/api/v1/surveys/{id}/checklist")).await;
        assert_eq!(check(&list, "draw")["status"], "warning");
        // Drawn again: current; the opening asks for a confirmation of what is missing (no
        // end time, links from the request's loopback address) and then opens.
        let second = draw(&app, &organizer, id, json!(7)).await;
        let cert = get(&app, &organizer, &format!("/api/v1/surveys/{id}/draws/{}", second["id"])).await;
        assert_eq!(cert["number"], 2);
        assert_eq!(cert["stale"], json!([]));
        let list = get(&app, &organizer, &format!("/api/v1/surveys/{id}/checklist")).await;
        assert_eq!(check(&list, "draw")["status"], "ok");
        assert_eq!(list["needs_confirmation"], json!(["window", "links"]), "{list}");
        assert!(check(&list, "links")["detail"].as_str().unwrap().contains("本机或内网地址"));
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/open"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["field"], "confirm", "{body}");
        assert!(body["error"].as_str().unwrap().contains("作答时间"), "{body}");
        assert_eq!(open(true).await.unwrap().status(), StatusCode::OK);
        // Only the draw in force's invitations count: the discarded one's were never sent.
        let tally = get(&app, &organizer, &format!("/api/v1/surveys/{id}/tally")).await;
        let invited: i64 = tally["invitations"].as_array().unwrap().iter().map(|r| r["invited"].as_i64().unwrap()).sum();
        assert_eq!(invited, second["selected"].as_i64().unwrap(), "{}", tally["invitations"]);
        // Live: the draw can no longer be discarded.
        let res = organizer.delete(app.url(&format!("/api/v1/surveys/{id}/draws/{}", second["id"]))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        // The discard is in the audit trail.
        let trail: Value = app.admin().await.get(app.url("/api/v1/audit?limit=100")).send().await.unwrap().json().await.unwrap();
        let text = trail.to_string();
        assert!(text.contains("draw_discarded") && text.contains(&format!("draw {d1} discarded")), "{text}");
    }

}

backend_test! {
    async fn any_change_to_what_a_draw_used_makes_it_stale(app) {
        let (organizer, id) = county_survey(&app).await;
        upload_all(&app, &organizer, id).await;
        let stale = |d: Value| {
            let organizer = organizer.clone();
            let app = &app;
            async move {
                let cert = get(app, &organizer, &format!("/api/v1/surveys/{id}/draws/{}", d["id"])).await;
                cert["stale"].as_array().unwrap().iter().map(|s| s["code"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
            }
        };
        // An area's population: the quotas change.
        let d = draw(&app, &organizer, id, json!(1)).await;
        let res = organizer.put(app.url(&format!("/api/v1/surveys/{id}/areas"))).json(&json!([
            {"name": "城关镇", "class": "urban", "population": 70000},
            {"name": "桥头镇", "class": "town", "population": 30000},
        ])).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(stale(d).await, ["geography", "quotas"]);
        // The survey's population: the quotas change.
        let d = draw(&app, &organizer, id, json!(2)).await;
        assert!(stale(d.clone()).await.is_empty());
        let res = organizer.put(app.url(&format!("/api/v1/surveys/{id}"))).json(&json!({"name": "2026 年调查", "population": 200000})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(stale(d).await, ["quotas"]);
        // A school added: the geography changes.
        let d = draw(&app, &organizer, id, json!(3)).await;
        let res = organizer.put(app.url(&format!("/api/v1/surveys/{id}/schools"))).json(&json!([
            {"name": "城关一小", "area": "城关镇"}, {"name": "城关中学", "area": "城关镇"},
            {"name": "桥头小学", "area": "桥头镇"}, {"name": "桥头中学", "area": "桥头镇"},
            {"name": "城关二小", "area": "城关镇"},
        ])).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(stale(d).await, ["geography"]);
    }

}

backend_test! {
    async fn the_checklist_names_each_gap(app) {
        let (organizer, id) = county_survey(&app).await;
        // No rosters, no channels, no draw.
        let list = get(&app, &organizer, &format!("/api/v1/surveys/{id}/checklist")).await;
        assert_eq!(check(&list, "areas")["status"], "ok");
        let groups = check(&list, "groups");
        assert_eq!(groups["status"], "warning");
        assert!(groups["detail"].as_str().unwrap().contains("家长、学生"), "{groups}");
        assert_eq!(check(&list, "draw")["detail"], "没有抽样：只能通过开放二维码作答");
        // A channel for every group reaches them all.
        for g in ["parent", "student", "teacher", "principal", "npc_deputy", "cppcc_member", "public"] {
            let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/channels"))).json(&json!({"group": g})).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::CREATED);
        }
        let list = get(&app, &organizer, &format!("/api/v1/surveys/{id}/checklist")).await;
        assert_eq!(check(&list, "groups")["status"], "ok", "{list}");
        // A county whose areas do not add up.
        let survey = app.create_survey(&organizer, json!({"name": "乙", "population": 869548, "closes_at": "2030-01-01T00:00:00Z"})).await;
        let other = survey["id"].as_i64().unwrap();
        organizer.put(app.url(&format!("/api/v1/surveys/{other}/areas"))).json(&json!([
            {"name": "城关镇", "class": "urban", "population": 500000},
            {"name": "桥头镇", "class": "town", "population": 300000},
        ])).send().await.unwrap();
        let list = get(&app, &organizer, &format!("/api/v1/surveys/{other}/checklist")).await;
        assert_eq!(check(&list, "areas")["detail"], "2 个乡镇（街道）人口合计 800,000，比全县常住人口 869,548 少 69,548");
        assert_eq!(check(&list, "window")["status"], "ok");
        // Viewers may not see it; another county's organiser finds nothing.
        let me: Value = organizer.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
        let viewer = app.user("viewer", Some(me["user"]["county_id"].as_i64().unwrap() as i32)).await;
        assert_eq!(viewer.get(app.url(&format!("/api/v1/surveys/{other}/checklist"))).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    }

}

backend_test! {
    async fn discard_and_delete_follow_the_matrix(app) {
        let (organizer, id) = county_survey(&app).await;
        upload(&app, &organizer, id, "public", roster("public", 30)).await;
        let d = draw(&app, &organizer, id, json!(1)).await;
        let me: Value = organizer.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
        let county = me["user"]["county_id"].as_i64().unwrap() as i32;
        let viewer = app.user("viewer", Some(county)).await;
        let other = app.create_county("乙县").await;
        let stranger = app.user("organizer", Some(other)).await;
        let url = app.url(&format!("/api/v1/surveys/{id}/draws/{}", d["id"]));
        assert_eq!(new_client().delete(&url).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(viewer.delete(&url).send().await.unwrap().status(), StatusCode::FORBIDDEN);
        assert_eq!(stranger.delete(&url).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        assert_eq!(organizer.delete(app.url(&format!("/api/v1/surveys/{id}/draws/999999"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        // Deleting the survey, by the API and by the page's form, likewise.
        let survey = app.url(&format!("/api/v1/surveys/{id}"));
        assert_eq!(new_client().delete(&survey).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(viewer.delete(&survey).send().await.unwrap().status(), StatusCode::FORBIDDEN);
        assert_eq!(stranger.delete(&survey).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        for (who, status) in [("viewer", StatusCode::FORBIDDEN), ("stranger", StatusCode::NOT_FOUND)] {
            let role = if who == "viewer" { "viewer" } else { "organizer" };
            let c = if who == "viewer" { county } else { other };
            let name = format!("page-{who}");
            app.admin().await.post(app.url("/api/v1/users")).json(&json!({"username": name, "password": crate::helpers::PASSWORD, "role": role, "county_id": c})).send().await.unwrap();
            let (browser, _) = crate::helpers::browser_login(&app, &name, crate::helpers::PASSWORD).await;
            let token = crate::helpers::csrf_token(&browser.get(app.url("/admin")).send().await.unwrap().text().await.unwrap());
            for path in [format!("/admin/surveys/{id}/delete"), format!("/admin/surveys/{id}/draws/{}/discard", d["id"])] {
                let res = browser.post(app.url(&path)).form(&[("csrf_token", token.as_str()), ("confirm", "1")]).send().await.unwrap();
                assert_eq!(res.status(), status, "{who} {path}");
            }
        }
        assert_eq!(get(&app, &organizer, &format!("/api/v1/surveys/{id}")).await["status"], "draft", "still there");
    }
}

backend_test! {
    async fn a_live_surveys_end_moves_but_never_to_the_past(app) {
        let (organizer, id) = county_survey(&app).await;
        let url = app.url(&format!("/api/v1/surveys/{id}/window"));
        let soon = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
        let res = organizer.put(&url).json(&json!({"closes_at": soon})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "a draft's end may be set too");
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/open"))).json(&json!({"confirm": true})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let opened: Value = res.json().await.unwrap();
        assert_eq!(opened["phase"], "answering");
        assert_eq!(opened["phase_label"], "已开放，作答中");
        // Extended, then shortened; the past and garbage are refused and change nothing.
        let later = (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc3339();
        let res = organizer.put(&url).json(&json!({"closes_at": later})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let s: Value = res.json().await.unwrap();
        assert_eq!(chrono::DateTime::parse_from_rfc3339(s["closes_at"].as_str().unwrap()).unwrap().timestamp(), chrono::DateTime::parse_from_rfc3339(&later).unwrap().timestamp());
        let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
        for (body, field) in [(json!({"closes_at": past}), "closes_at"), (json!({"closes_at": "明天"}), "closes_at"), (json!({}), "closes_at")] {
            let res = organizer.put(&url).json(&body).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
            let e: Value = res.json().await.unwrap();
            assert_eq!(e["field"], field, "{e}");
        }
        let s = get(&app, &organizer, &format!("/api/v1/surveys/{id}")).await;
        assert_eq!(chrono::DateTime::parse_from_rfc3339(s["closes_at"].as_str().unwrap()).unwrap().timestamp(), chrono::DateTime::parse_from_rfc3339(&later).unwrap().timestamp());
        // A viewer may not; the change is in the audit trail.
        let me: Value = organizer.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
        let viewer = app.user("viewer", Some(me["user"]["county_id"].as_i64().unwrap() as i32)).await;
        assert_eq!(viewer.put(&url).json(&json!({"closes_at": later})).send().await.unwrap().status(), StatusCode::FORBIDDEN);
        let trail: Value = app.admin().await.get(app.url("/api/v1/audit?limit=50")).send().await.unwrap().json().await.unwrap();
        assert!(trail.to_string().contains("window_changed"));
        // A start time ahead: open but not started.
        let ahead = app.create_survey(&organizer, json!({"name": "下周", "population": 1000,
            "opens_at": (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339(),
            "closes_at": (chrono::Utc::now() + chrono::Duration::days(14)).to_rfc3339()})).await;
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{}/open", ahead["id"]))).json(&json!({"confirm": true})).send().await.unwrap();
        let s: Value = res.json().await.unwrap();
        assert_eq!(s["phase_label"], "已开放，未开始", "{s}");
        // Closed: reopen first.
        organizer.post(app.url(&format!("/api/v1/surveys/{id}/close"))).send().await.unwrap();
        assert_eq!(organizer.put(&url).json(&json!({"closes_at": later})).send().await.unwrap().status(), StatusCode::CONFLICT);
    }
}

backend_test! {
    async fn a_survey_is_copied_as_a_new_round_archived_or_deleted_as_a_draft(app) {
        let (organizer, id) = county_survey(&app).await;
        upload_all(&app, &organizer, id).await;
        draw(&app, &organizer, id, json!(5)).await;
        // Copy: settings, areas, schools; no rosters, no draws.
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/copy"))).json(&json!({"name": "2027 年模拟测评"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let copy: Value = res.json().await.unwrap();
        let cid = copy["id"].as_i64().unwrap();
        assert_eq!(copy["name"], "2027 年模拟测评");
        assert_eq!(copy["population"], 100000);
        assert_eq!(copy["status"], "draft");
        let areas = get(&app, &organizer, &format!("/api/v1/surveys/{cid}/areas")).await;
        assert_eq!(areas.as_array().unwrap().len(), 2);
        let schools = get(&app, &organizer, &format!("/api/v1/surveys/{cid}/schools")).await;
        assert_eq!(schools.as_array().unwrap().len(), 4, "{schools}");
        let plan = get(&app, &organizer, &format!("/api/v1/surveys/{cid}/plan")).await;
        assert!(plan.to_string().contains("城关镇"));
        let list = get(&app, &organizer, &format!("/api/v1/surveys/{cid}/checklist")).await;
        assert_eq!(check(&list, "draw")["detail"], "没有抽样：只能通过开放二维码作答");
        let res = organizer.get(app.url(&format!("/api/v1/surveys/{cid}/frames/parent"))).send().await.unwrap();
        let frame: Value = res.json().await.unwrap();
        assert_eq!(frame["rows"], 0, "{frame}");
        // An open survey is neither deleted nor archived; a closed one is archived, out of the list.
        organizer.post(app.url(&format!("/api/v1/surveys/{id}/open"))).json(&json!({"confirm": true})).send().await.unwrap();
        assert_eq!(organizer.delete(app.url(&format!("/api/v1/surveys/{id}"))).send().await.unwrap().status(), StatusCode::CONFLICT);
        let archive = |sid: i64, archived: bool| organizer.put(app.url(&format!("/api/v1/surveys/{sid}/archived"))).json(&json!({"archived": archived})).send();
        assert_eq!(archive(id, true).await.unwrap().status(), StatusCode::CONFLICT);
        organizer.post(app.url(&format!("/api/v1/surveys/{id}/close"))).send().await.unwrap();
        let res = archive(id, true).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.json::<Value>().await.unwrap()["archived_at"].is_string());
        let (browser, _) = crate::helpers::browser_login(&app, &organizer_name(&app, &organizer).await, crate::helpers::PASSWORD).await;
        let home = browser.get(app.url("/admin")).send().await.unwrap().text().await.unwrap();
        assert!(home.contains("2027 年模拟测评") && !home.contains("2026 年调查") && home.contains("已归档的调查（1 项）"), "{home}");
        let archived = browser.get(app.url("/admin?archived=1")).send().await.unwrap().text().await.unwrap();
        assert!(archived.contains("2026 年调查"));
        // An archived survey is not reopened; brought back, it may be.
        let reopen = organizer.post(app.url(&format!("/api/v1/surveys/{id}/open"))).json(&json!({"confirm": true})).send().await.unwrap();
        assert_eq!(reopen.status(), StatusCode::CONFLICT);
        // Purging from the page asks for a tick first.
        let html = browser.get(app.url(&format!("/admin/surveys/{id}/invitations"))).send().await.unwrap().text().await.unwrap();
        let token = crate::helpers::csrf_token(&html);
        let res = browser.post(app.url(&format!("/admin/surveys/{id}/purge"))).form(&[("csrf_token", token.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("请勾选确认"));
        assert!(crate::helpers::count_rows(&app, &format!("SELECT COUNT(*) FROM frame_person WHERE survey_id = {id} AND phone IS NOT NULL")).await > 0);
        assert_eq!(archive(id, false).await.unwrap().status(), StatusCode::OK);
        // The draft copy is deleted, with everything it held.
        let res = organizer.delete(app.url(&format!("/api/v1/surveys/{cid}"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(organizer.get(app.url(&format!("/api/v1/surveys/{cid}"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        let trail: Value = app.admin().await.get(app.url("/api/v1/audit?limit=100")).send().await.unwrap().json().await.unwrap();
        let text = trail.to_string();
        assert!(text.contains("survey_copied") && text.contains("survey_deleted") && text.contains("survey_archived"));
        // A draft with rosters and a draw goes whole.
        let (o2, id2) = crate::sampling::county_survey_in(&app, "丙县").await;
        upload_all(&app, &o2, id2).await;
        draw(&app, &o2, id2, json!(1)).await;
        assert_eq!(o2.delete(app.url(&format!("/api/v1/surveys/{id2}"))).send().await.unwrap().status(), StatusCode::NO_CONTENT);
        let left: i64 = crate::helpers::count_rows(&app, &format!("SELECT COUNT(*) FROM frame_person WHERE survey_id = {id2}")).await;
        assert_eq!(left, 0);
    }
}

async fn organizer_name(app: &crate::helpers::TestApp, client: &reqwest::Client) -> String {
    let me: Value = client
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    me["user"]["username"].as_str().unwrap().to_owned()
}

/// A workbook of rows of cells; numbers are written as numbers (as Excel keeps ids and phones).
fn workbook(rows: &[Vec<Value>]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            match v {
                Value::Number(n) => sheet
                    .write_number(r as u32, c as u16, n.as_f64().unwrap())
                    .map(|_| ())
                    .unwrap(),
                Value::String(s) => sheet
                    .write_string(r as u32, c as u16, s)
                    .map(|_| ())
                    .unwrap(),
                _ => {}
            }
        }
    }
    book.save_to_buffer().unwrap()
}

async fn upload_as(
    app: &crate::helpers::TestApp,
    client: &reqwest::Client,
    id: i64,
    group: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let res = client
        .post(app.url(&format!("/api/v1/surveys/{id}/frames/{group}")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

backend_test! {
    async fn rosters_come_as_counties_have_them(app) {
        let (organizer, id) = county_survey(&app).await;
        // An Excel sheet: 学号 and phones as numbers, the county's own headers, a column Renke
        // does not read, grades as written.
        let rows = vec![
            vec![json!("序号"), json!("学号"), json!("学生姓名"), json!("学校名称"), json!("所在乡镇/街道"), json!("年级"), json!("家长手机号"), json!("家庭住址")],
            vec![json!(1), json!(20220101), json!("张三"), json!("城关一小"), json!("城关镇"), json!("三年级"), json!(13912340001_i64), json!("城关路 1 号")],
            vec![json!(2), json!(20220102), json!("李四"), json!("桥头中学"), json!("桥头镇"), json!("初一(3)班"), json!(""), json!("")],
        ];
        let (status, body) = upload_as(&app, &organizer, id, "student", XLSX, workbook(&rows)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["rows"], 2);
        assert_eq!(body["ignored_columns"], json!(["序号", "家庭住址"]));
        let frame = get(&app, &organizer, &format!("/api/v1/surveys/{id}/frames/student")).await;
        let text = frame.to_string();
        assert!(text.contains("\"20220101\"") && !text.contains("20220101.0"), "{text}");
        // A bad sheet: every line named as the sheet numbers it.
        let rows = vec![
            vec![json!("编号"), json!("乡镇"), json!("学校"), json!("年级"), json!("电话")],
            vec![json!("s1"), json!("城关镇"), json!("城关一小"), json!("二年级"), json!("")],
            vec![json!("s2"), json!("城关镇"), json!("城关一小"), json!("3"), json!(1380000)],
        ];
        let (status, body) = upload_as(&app, &organizer, id, "student", XLSX, workbook(&rows)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["errors"][0]["line"], 2);
        assert_eq!(body["errors"][0]["column"], "grade");
        assert_eq!(body["errors"][1]["line"], 3);
        assert_eq!(body["errors"][1]["column"], "phone");
        // A CRLF CSV (as Excel saves it): the lines are the file's.
        let csv = "编号,乡镇,电话\r\nd1,城关镇,13800000001\r\nd2,城关镇,12345\r\n";
        let (status, body) = upload(&app, &organizer, id, "npc_deputy", csv).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["errors"][0]["line"], 3, "{body}");
        // A workbook whose one cell sits at the sheet's far corner is refused, naming the limit.
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "编号").unwrap();
        sheet.write_string(1_048_575, 16_383, "x").unwrap();
        let (status, body) = upload_as(&app, &organizer, id, "public", XLSX, book.save_to_buffer().unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["error"].as_str().unwrap().contains("超出上限"), "{body}");
        // The templates: Chinese headers with 班级, the county's own area and school; the XLSX
        // one sent back with its example rows is refused naming them, with the file's headings;
        // filled in, it goes in.
        let res = organizer.get(app.url(&format!("/api/v1/surveys/{id}/frames/parent/template.csv"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let csv = res.text().await.unwrap();
        assert!(csv.trim_start_matches('\u{feff}').starts_with("编号,乡镇,学校,年级,班级,姓名,电话"), "{csv}");
        assert!(csv.contains("城关镇,城关一小"), "{csv}");
        let res = organizer.get(app.url(&format!("/api/v1/surveys/{id}/frames/parent/template.xlsx"))).send().await.unwrap();
        assert_eq!(res.headers()["content-type"], XLSX);
        let template = res.bytes().await.unwrap().to_vec();
        let (status, body) = upload_as(&app, &organizer, id, "parent", XLSX, template.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error_count"], 2, "{body}");
        assert!(body["errors"][1]["message"].as_str().unwrap().contains("示例行（李四）"), "{body}");
        assert_eq!(body["errors"][1]["heading"], "姓名");
        let mut book: calamine::Xlsx<_> = calamine::Reader::new(std::io::Cursor::new(template)).unwrap();
        let sheet = calamine::Reader::worksheet_range_at(&mut book, 0).unwrap().unwrap();
        let mut rows: Vec<Vec<Value>> = sheet.rows().map(|r| r.iter().map(|c| json!(c.to_string())).collect()).collect();
        rows[1][5] = json!("王芳");
        rows[2][6] = json!("13912340002");
        let (status, body) = upload_as(&app, &organizer, id, "parent", XLSX, workbook(&rows)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["rows"], 2);
        assert_eq!(body["ignored_columns"], json!([]));
        assert_eq!(body["warnings"], json!([]));
        // The same people uploaded again as the students' roster: said to look like the
        // parents' (every phone is theirs).
        let (status, body) = upload_as(&app, &organizer, id, "student", XLSX, workbook(&rows)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "一年级 is no pupil's: {body}");
        let pupils: Vec<Vec<Value>> = rows.iter().enumerate().map(|(i, r)| { let mut r = r.clone(); if i > 0 { r[3] = json!("三年级"); } r }).collect();
        let (status, body) = upload_as(&app, &organizer, id, "student", XLSX, workbook(&pupils)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["duplicate_count"], 2);
        assert!(body["warnings"][0].as_str().unwrap().contains("已在家长名册中"), "{body}");
        let frame = get(&app, &organizer, &format!("/api/v1/surveys/{id}/frames/parent")).await;
        assert!(frame.to_string().contains("\"1班\""), "the class is kept: {frame}");
    }
}

backend_test! {
    async fn admins_edit_disable_and_reset_users_and_everyone_changes_their_own_password(app) {
        let county = app.create_county("永嘉县").await;
        let other = app.create_county("乙县").await;
        let admin = app.admin().await;
        let res = admin.post(app.url("/api/v1/users")).json(&json!({"username": "li.ming", "password": crate::helpers::PASSWORD, "role": "viewer", "county_id": county})).send().await.unwrap();
        let li: Value = res.json().await.unwrap();
        let lid = li["id"].as_i64().unwrap();
        let first = app.login("li.ming", crate::helpers::PASSWORD).await;
        let second = app.login("li.ming", crate::helpers::PASSWORD).await;
        assert_eq!(first.get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::OK);
        // Made an organiser of another county: logged out everywhere, the change in the trail.
        let url = app.url(&format!("/api/v1/users/{lid}"));
        let res = admin.put(&url).json(&json!({"role": "organizer", "county_id": other})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let changed: Value = res.json().await.unwrap();
        assert_eq!((changed["role"].as_str(), changed["county_id"].as_i64()), (Some("organizer"), Some(other as i64)));
        assert_eq!(first.get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(second.get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        // Bad input changes nothing.
        for (body, field) in [(json!({"role": "boss"}), "role"), (json!({"county_id": 999999}), "county_id"), (json!({"role": "viewer", "extra": 1}), "extra")] {
            let res = admin.put(&url).json(&body).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
            let e: Value = res.json().await.unwrap();
            assert_eq!(e["field"], field, "{e}");
        }
        // Own password: the current one is checked; the other sessions end, this one stays.
        let a = app.login("li.ming", crate::helpers::PASSWORD).await;
        let b = app.login("li.ming", crate::helpers::PASSWORD).await;
        let own = app.url("/api/v1/me/password");
        let res = a.put(&own).json(&json!({"current_password": "wrong-password", "new_password": "another-long-one"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.json::<Value>().await.unwrap()["field"], "current_password");
        let res = a.put(&own).json(&json!({"current_password": crate::helpers::PASSWORD, "new_password": "short"})).send().await.unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["field"], "new_password");
        let res = a.put(&own).json(&json!({"current_password": crate::helpers::PASSWORD, "new_password": crate::helpers::PASSWORD})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("不能与当前密码相同"));
        let res = a.put(&own).json(&json!({"current_password": crate::helpers::PASSWORD, "new_password": "another-long-one"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(a.get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::OK);
        assert_eq!(b.get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        let res = new_client().post(app.url("/api/v1/login")).json(&json!({"username": "li.ming", "password": crate::helpers::PASSWORD})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "the old password no longer works");
        // Reset by the admin: every session ends, the new password works.
        let res = admin.post(app.url(&format!("/api/v1/users/{lid}/password"))).json(&json!({"password": "reset-by-admin-1"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(a.get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        let c = app.login("li.ming", "reset-by-admin-1").await;
        assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::OK);
        // Disabled: logged out, cannot log in.
        let res = admin.put(&url).json(&json!({"active": false})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        // Whoever knows the password is told the account is disabled; a guess learns nothing.
        let res = new_client().post(app.url("/api/v1/login")).json(&json!({"username": "li.ming", "password": "reset-by-admin-1"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(res.text().await.unwrap().contains("该账号已停用"));
        let res = new_client().post(app.url("/api/v1/login")).json(&json!({"username": "li.ming", "password": "a-wrong-guess-1"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let page = new_client();
        let token = crate::helpers::csrf_token(&page.get(app.url("/login")).send().await.unwrap().text().await.unwrap());
        let res = page.post(app.url("/login")).form(&[("csrf_token", token.as_str()), ("username", "li.ming"), ("password", "reset-by-admin-1")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(res.text().await.unwrap().contains("该账号已停用"), "the login page says so");
        // Only admins; and the last admin is not disabled.
        assert_eq!(c.put(&url).json(&json!({"active": true})).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        let organizer = app.user("organizer", Some(county)).await;
        assert_eq!(organizer.put(&url).json(&json!({"active": true})).send().await.unwrap().status(), StatusCode::FORBIDDEN);
        let users: Value = admin.get(app.url("/api/v1/users")).send().await.unwrap().json().await.unwrap();
        let admin_id = users.as_array().unwrap().iter().find(|u| u["role"] == "admin").unwrap()["id"].as_i64().unwrap();
        let res = admin.put(app.url(&format!("/api/v1/users/{admin_id}"))).json(&json!({"active": false})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let trail: Value = admin.get(app.url("/api/v1/audit?limit=100")).send().await.unwrap().json().await.unwrap();
        let text = trail.to_string();
        assert!(text.contains("user_changed") && text.contains("password_reset") && text.contains("password_changed"));
        // The pages: the users table edits rows; one's own password page.
        let (browser, _) = crate::helpers::browser_login(&app, crate::helpers::ADMIN, crate::helpers::ADMIN_PASSWORD).await;
        let html = browser.get(app.url("/admin/users")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains(&format!("action=\"/admin/users/{lid}\"")) && html.contains("已停用"), "{html}");
        let token = crate::helpers::csrf_token(&html);
        let res = browser.post(app.url(&format!("/admin/users/{lid}"))).form(&[("csrf_token", token.as_str()), ("role", "viewer"), ("county_id", &county.to_string()), ("active", "1")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/admin/users?done=user-saved");
        let html = browser.get(app.url("/admin/users?done=user-saved")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("用户设置已保存"));
        // A notice is one of a fixed set: the address cannot put words on the page.
        let html = browser.get(app.url("/admin/users?done=%E4%BD%A0%E5%A5%BD")).send().await.unwrap().text().await.unwrap();
        assert!(!html.contains("alert-ok"));
        assert_eq!(app.login("li.ming", "reset-by-admin-1").await.get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::OK);
        let html = browser.get(app.url("/admin/password")).send().await.unwrap().text().await.unwrap();
        let res = browser.post(app.url("/admin/password")).form(&[("csrf_token", crate::helpers::csrf_token(&html).as_str()), ("current_password", crate::helpers::ADMIN_PASSWORD), ("new_password", "a-new-admin-pass"), ("new_password_again", "a-new-admin-pass-typo")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("两次输入的新密码不一致"));
    }
}

backend_test! {
    async fn each_booklet_is_previewed_as_respondents_see_it_storing_nothing(app) {
        let (organizer, id) = county_survey(&app).await;
        let me: Value = organizer.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
        let (browser, _) = crate::helpers::browser_login(&app, me["user"]["username"].as_str().unwrap(), crate::helpers::PASSWORD).await;
        let page = browser.get(app.url(&format!("/admin/surveys/{id}/questionnaires"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(&format!("/admin/surveys/{id}/preview/parent")) && page.contains("适用：家长"), "{page}");
        for group in ["parent", "student", "teacher", "principal", "npc_deputy", "cppcc_member", "public"] {
            let res = browser.get(app.url(&format!("/admin/surveys/{id}/preview/{group}"))).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{group}");
            let html = res.text().await.unwrap();
            assert!(html.contains("预览") && html.contains("disabled") && html.contains("fieldset"), "{group}");
            assert!(!html.contains("data-draft-key"), "no draft kept");
        }
        assert_eq!(browser.get(app.url(&format!("/admin/surveys/{id}/preview/nobody"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        let responses = crate::helpers::count_rows(&app, "SELECT COUNT(*) FROM response").await;
        assert_eq!(responses, 0);
    }
}

backend_test! {
    async fn the_invitation_list_keeps_long_ids_and_phones_as_written_in_excel(app) {
        use calamine::Reader;
        let (organizer, id) = county_survey(&app).await;
        let csv = "编号,乡镇,姓名,电话\n22092219870101123,城关镇,王五,13800000001\n22092219870101124,桥头镇,赵六,13800000002\n";
        let (status, body) = upload(&app, &organizer, id, "npc_deputy", csv).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        draw(&app, &organizer, id, json!(1)).await;
        let res = organizer.get(app.url(&format!("/api/v1/surveys/{id}/invitations.xlsx"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let bytes = res.bytes().await.unwrap().to_vec();
        let mut book: calamine::Xlsx<_> = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let sheet = book.worksheet_range("邀请名单").unwrap();
        let rows: Vec<_> = sheet.rows().collect();
        assert_eq!(rows[0][0], calamine::Data::String("编号".into()));
        assert_eq!(rows[0][11], calamine::Data::String("链接".into()));
        let ids: Vec<&calamine::Data> = rows[1..].iter().map(|r| &r[0]).collect();
        assert!(ids.contains(&&calamine::Data::String("22092219870101123".into())), "{ids:?}");
        assert!(rows[1..].iter().all(|r| matches!(&r[7], calamine::Data::String(p) if p.starts_with("138"))));
    }
}

backend_test! {
    async fn page_forms_ask_before_what_cannot_be_undone_and_say_what_they_did(app) {
        let (organizer, id) = county_survey(&app).await;
        upload_all(&app, &organizer, id).await;
        let d = draw(&app, &organizer, id, json!(1)).await;
        let (browser, _) = crate::helpers::browser_login(&app, &organizer_name(&app, &organizer).await, crate::helpers::PASSWORD).await;
        let page = browser.get(app.url(&format!("/admin/surveys/{id}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("value=\"2026 年调查（第二轮）\""), "the next round's name");
        let token = crate::helpers::csrf_token(&page);
        // Discarding the draw asks for a tick and changes nothing without it.
        let discard = app.url(&format!("/admin/surveys/{id}/draws/{}/discard", d["id"]));
        let res = browser.post(&discard).form(&[("csrf_token", token.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("确认撤销"));
        let cert = get(&app, &organizer, &format!("/api/v1/surveys/{id}/draws/{}", d["id"])).await;
        assert!(cert["draws"][0]["discarded_at"].is_null(), "{cert}");
        let res = browser.post(&discard).form(&[("csrf_token", token.as_str()), ("confirm", "1")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let to = res.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(to, format!("/admin/surveys/{id}/sample?done=discarded"));
        let html = browser.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("已撤销这次抽样"));
        // Drawn again and a roster replaced: the survey's page marks the draw out of date.
        draw(&app, &organizer, id, json!(2)).await;
        let (status, body) = upload(&app, &organizer, id, "public", roster("public", 20)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let html = browser.get(app.url(&format!("/admin/surveys/{id}"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("已过期") && html.contains("名册有更换"), "{html}");
        draw(&app, &organizer, id, json!(3)).await;
        // A copy named by default, and a copy of the copy counts on.
        let res = browser.post(app.url(&format!("/admin/surveys/{id}/copy"))).form(&[("csrf_token", token.as_str()), ("name", "")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let to = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(to.ends_with("?done=copied"), "{to}");
        let html = browser.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("<h1>2026 年调查（第二轮）</h1>") && html.contains("value=\"2026 年调查（第三轮）\"") && html.contains("已复制为新一轮调查"), "{html}");
        // The first round now proposes the next name free, not a second （第二轮）.
        let html = browser.get(app.url(&format!("/admin/surveys/{id}"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("value=\"2026 年调查（第三轮）\""), "{html}");
        // Opened: the window starts at the opening; ended: the dashboard says so, no countdown.
        let before = chrono::Utc::now();
        crate::sampling::open(&app, &organizer, id).await;
        let shown = get(&app, &organizer, &format!("/api/v1/surveys/{id}")).await;
        let opens: chrono::DateTime<chrono::Utc> = shown["opens_at"].as_str().unwrap().parse().unwrap();
        assert!(opens >= before - chrono::Duration::seconds(1) && opens <= chrono::Utc::now(), "{shown}");
        let res = organizer.put(app.url(&format!("/api/v1/surveys/{id}/window"))).json(&json!({"closes_at": (chrono::Utc::now() + chrono::Duration::hours(30)).to_rfc3339()})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let html = browser.get(app.url(&format!("/admin/surveys/{id}/dashboard"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("距结束 29 小时") || html.contains("距结束 30 小时"), "{html}");
        organizer.post(app.url(&format!("/api/v1/surveys/{id}/close"))).send().await.unwrap();
        let html = browser.get(app.url(&format!("/admin/surveys/{id}/dashboard"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("调查已结束") && !html.contains("距结束"), "{html}");
        // A page form's address opened by hand leads to its page, not a bare 405.
        for (path, page) in [(format!("/admin/surveys/{id}/areas"), format!("/admin/surveys/{id}/sample")), (format!("/admin/surveys/{id}/reserves"), format!("/admin/surveys/{id}/invitations")), ("/admin/users/3/password".to_owned(), "/admin/users".to_owned()), ("/logout".to_owned(), "/admin".to_owned())] {
            let res = browser.get(app.url(&path)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
            assert_eq!(res.headers()["location"], page.as_str(), "{path}");
        }
    }
}

backend_test! {
    async fn areas_pasted_from_excel_are_read_and_a_wrong_total_is_said_at_once(app) {
        let (organizer, id) = county_survey(&app).await;
        let (browser, _) = crate::helpers::browser_login(&app, &organizer_name(&app, &organizer).await, crate::helpers::PASSWORD).await;
        let page = browser.get(app.url(&format!("/admin/surveys/{id}/sample"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("与全县常住人口一致"), "{page}");
        let token = crate::helpers::csrf_token(&page);
        let res = browser.post(app.url(&format!("/admin/surveys/{id}/areas"))).form(&[("csrf_token", token.as_str()), ("areas", "城关镇\t城区\t60,000\r\n桥头镇\t镇区\t30,000\r\n")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], format!("/admin/surveys/{id}/sample?done=areas#areas").as_str());
        let page = browser.get(app.url(&format!("/admin/surveys/{id}/sample?done=areas"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("乡镇（街道）已保存") && page.contains("比全县常住人口 100,000 少 10,000"), "{page}");
        let areas = get(&app, &organizer, &format!("/api/v1/surveys/{id}/areas")).await;
        assert_eq!(areas[0]["population"], 60000);
        // A line that is not three fields changes nothing.
        let res = browser.post(app.url(&format!("/admin/surveys/{id}/areas"))).form(&[("csrf_token", token.as_str()), ("areas", "城关镇,城区,12,34")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(get(&app, &organizer, &format!("/api/v1/surveys/{id}/areas")).await, areas);
    }
}
