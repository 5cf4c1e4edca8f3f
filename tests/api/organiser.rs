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
