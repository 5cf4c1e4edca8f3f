//! Telephone interviews and paper booklets (2.9): an interviewer's call list and outcomes, the
//! interview stored as the invitation's answer (its link stops working, and the other way
//! round, races included), paper booklets entered twice with a mismatch resolved, and the
//! tally, export and sensitivity lines split by mode.
use crate::answering::{hidden, responses};
use crate::helpers::{PASSWORD, TestApp, backend_test, count_rows, new_client};
use crate::sampling::{county_survey, upload_all};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// A county user of `role` named `username`, logged in.
pub async fn named_user(app: &TestApp, username: &str, role: &str, county: i64) -> Client {
    let res = app
        .admin()
        .await
        .post(app.url("/api/v1/users"))
        .json(
            &json!({"username": username, "password": PASSWORD, "role": role, "county_id": county}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    app.login(username, PASSWORD).await
}

pub async fn county_of(app: &TestApp, client: &Client) -> i64 {
    let me: Value = client
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    me["user"]["county_id"].as_i64().unwrap()
}

/// The invitation link whose token is the invitation `id`'s (base 36 before the dot).
fn link_of(links: &[String], id: i64) -> String {
    links
        .iter()
        .find(|l| {
            let token = l.rsplit('/').next().unwrap();
            i64::from_str_radix(token.split('.').next().unwrap(), 36).unwrap() == id
        })
        .unwrap_or_else(|| panic!("no link for invitation {id}"))
        .clone()
}

/// Answers for every item of a booklet's form JSON, cycling `codes`.
fn answers_for(questionnaire: &Value, codes: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for (i, item) in questionnaire["items"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        out.insert(
            item["id"].as_str().unwrap().to_owned(),
            json!(codes[i % codes.len()]),
        );
    }
    Value::Object(out)
}

/// A response's status and its JSON body (null if it has none).
async fn status_and_body(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn calls(app: &TestApp, client: &Client, id: i64) -> (StatusCode, Value) {
    let res = client
        .get(app.url(&format!("/api/v1/surveys/{id}/calls")))
        .send()
        .await
        .unwrap();
    status_and_body(res).await
}

async fn record(
    app: &TestApp,
    client: &Client,
    id: i64,
    inv: i64,
    body: Value,
) -> (StatusCode, Value) {
    let res = client
        .post(app.url(&format!("/api/v1/surveys/{id}/calls/{inv}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    status_and_body(res).await
}

/// The interview form of an invitation: (status, body).
async fn interview_form(app: &TestApp, client: &Client, id: i64, inv: i64) -> (StatusCode, Value) {
    let res = client
        .get(app.url(&format!("/api/v1/surveys/{id}/calls/{inv}/interview")))
        .send()
        .await
        .unwrap();
    status_and_body(res).await
}

async fn submit_interview(
    app: &TestApp,
    client: &Client,
    id: i64,
    inv: i64,
    form: &Value,
    codes: &[&str],
) -> (StatusCode, Value) {
    let res = client
        .post(app.url(&format!("/api/v1/surveys/{id}/calls/{inv}/interview")))
        .json(&json!({"form": form["form"], "answers": answers_for(&form["questionnaire"], codes), "comment": "希望多开展课后服务"}))
        .send()
        .await
        .unwrap();
    status_and_body(res).await
}

async fn tally(app: &TestApp, client: &Client, id: i64) -> Value {
    client
        .get(app.url(&format!("/api/v1/surveys/{id}/tally")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

backend_test! {
    async fn a_phone_round_calls_interviews_and_closes_the_persons_own_link(app) {
        let (organizer, id) = county_survey(&app).await;
        upload_all(&app, &organizer, id).await;
        crate::sampling::draw(&app, &organizer, id, json!(9)).await;
        crate::sampling::open(&app, &organizer, id).await;
        let county = county_of(&app, &organizer).await;
        let interviewer = named_user(&app, "iv-wang", "interviewer", county).await;
        let viewer = named_user(&app, "viewer-li", "viewer", county).await;

        // Not assigned yet: no call list; never the results.
        assert_eq!(calls(&app, &interviewer, id).await.0, StatusCode::FORBIDDEN);
        let assign = |body: Value| {
            let organizer = organizer.clone();
            let url = app.url(&format!("/api/v1/surveys/{id}/interviewers"));
            async move {
                let res = organizer.put(url).json(&body).send().await.unwrap();
                (res.status(), res.json::<Value>().await.unwrap())
            }
        };
        let (status, body) = assign(json!({"username": "viewer-li", "groups": ["npc_deputy"]})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["field"], "username");
        let (status, body) = assign(json!({"username": "iv-wang", "groups": ["npc_deputy", "nobody"]})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, body) = assign(json!({"username": "iv-wang"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "groups must be said: {body}");
        let (status, body) = assign(json!({"username": "iv-wang", "groups": ["npc_deputy"]})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["interviewers"][0]["groups"], json!(["npc_deputy"]));
        // A viewer may not assign.
        let res = viewer.put(app.url(&format!("/api/v1/surveys/{id}/interviewers"))).json(&json!({"username": "iv-wang", "groups": []})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);

        // The call list: only the deputies, with names and phones.
        let (status, list) = calls(&app, &interviewer, id).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let lines = list["calls"].as_array().unwrap().clone();
        assert_eq!(lines.len(), 13, "{list}");
        assert!(lines.iter().all(|l| l["group"] == "npc_deputy" && l["phone"].as_str().is_some_and(|p| p.starts_with("139")) && l["priority"] == "not_called"));
        let in_area = |area: &str| -> Vec<i64> { lines.iter().filter(|l| l["area"] == area).map(|l| l["invitation_id"].as_i64().unwrap()).collect() };
        let (chengguan, qiaotou) = (in_area("城关镇"), in_area("桥头镇"));
        assert!(chengguan.len() >= 6 && qiaotou.len() >= 3, "{chengguan:?} {qiaotou:?}");

        // Interviewers never see results or other groups.
        for path in [format!("/api/v1/surveys/{id}/tally"), format!("/api/v1/surveys/{id}/responses.csv"), format!("/api/v1/surveys/{id}"), format!("/admin/surveys/{id}/dashboard"), format!("/api/v1/surveys/{id}/call-report")] {
            let res = interviewer.get(app.url(&path)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        }
        let parent = crate::sampling::invitations(&app, &organizer, id).await.into_iter().find(|r| r["群体"] == "家长").unwrap();
        let parent_id = {
            let token = parent["链接"].rsplit('/').next().unwrap().to_owned();
            i64::from_str_radix(token.split('.').next().unwrap(), 36).unwrap()
        };
        assert_eq!(record(&app, &interviewer, id, parent_id, json!({"outcome": "no_answer"})).await.0, StatusCode::NOT_FOUND);
        assert_eq!(interview_form(&app, &interviewer, id, parent_id).await.0, StatusCode::NOT_FOUND);

        // Outcomes: no answer; a call-back needs a time to come; then rescheduled.
        let (a, b) = (chengguan[0], chengguan[5]);
        assert_eq!(record(&app, &interviewer, id, a, json!({"outcome": "no_answer"})).await.0, StatusCode::CREATED);
        let (status, body) = record(&app, &interviewer, id, b, json!({"outcome": "callback"})).await;
        assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("callback_at")), "{body}");
        let (status, body) = record(&app, &interviewer, id, b, json!({"outcome": "callback", "callback_at": "2020-01-01T08:00:00Z"})).await;
        assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("callback_at")), "{body}");
        let (status, body) = record(&app, &interviewer, id, b, json!({"outcome": "completed"})).await;
        assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("outcome")), "{body}");
        let soon = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
        let later = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
        assert_eq!(record(&app, &interviewer, id, b, json!({"outcome": "callback", "callback_at": soon, "note": "下午开会"})).await.0, StatusCode::CREATED);
        assert_eq!(record(&app, &interviewer, id, b, json!({"outcome": "callback", "callback_at": later, "note": "改到明天"})).await.0, StatusCode::CREATED);
        let (_, list) = calls(&app, &interviewer, id).await;
        let line = |list: &Value, inv: i64| list["calls"].as_array().unwrap().iter().find(|l| l["invitation_id"] == inv).unwrap().clone();
        let lb = line(&list, b);
        assert_eq!(lb["priority"], "callback_later");
        assert_eq!(lb["state"]["attempts"], 2);
        assert_eq!(lb["note"], "改到明天");
        let rescheduled = chrono::DateTime::parse_from_rfc3339(lb["state"]["callback_at"].as_str().unwrap()).unwrap();
        assert!((rescheduled - chrono::DateTime::parse_from_rfc3339(&later).unwrap()).num_seconds().abs() < 2);
        assert_eq!(line(&list, a)["priority"], "try_again");

        // Five interviews in 城关镇: each stored as the invitation's answer, by telephone.
        let links: Vec<String> = crate::sampling::invitations(&app, &organizer, id).await.into_iter().map(|r| r["链接"].clone()).collect();
        for &inv in &chengguan[..5] {
            let (status, form) = interview_form(&app, &interviewer, id, inv).await;
            assert_eq!(status, StatusCode::OK, "{form}");
            assert!(form["script"]["opening"].as_str().unwrap().contains("永嘉县"), "{form}");
            assert!(form["script"]["scale"].as_str().unwrap().contains("比较满意"));
            assert_eq!(form["script"]["items"].as_array().unwrap().len(), form["questionnaire"]["items"].as_array().unwrap().len());
            if inv == chengguan[0] {
                let res = interviewer.post(app.url(&format!("/api/v1/surveys/{id}/calls/{inv}/interview")))
                    .json(&json!({"form": form["form"], "answers": answers_for(&form["questionnaire"], &["A"]), "comment": "长".repeat(501)}))
                    .send().await.unwrap();
                assert_eq!(res.status(), StatusCode::BAD_REQUEST);
                assert_eq!(res.json::<Value>().await.unwrap()["field"], "comment");
            }
            let (status, body) = submit_interview(&app, &interviewer, id, inv, &form, &["A", "B", "C"]).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            // The same form again stores nothing new.
            let (status, _) = submit_interview(&app, &interviewer, id, inv, &form, &["A", "B", "C"]).await;
            assert!(status == StatusCode::OK || status == StatusCode::CONFLICT, "{status}");
            // Their own link no longer takes an answer.
            let res = new_client().get(link_of(&links, inv)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::CONFLICT);
            assert!(res.text().await.unwrap().contains("已提交"));
        }
        let stored = responses(&app, id).await;
        assert_eq!(stored.iter().filter(|r| r.source == "phone").count(), 5);
        assert!(stored.iter().all(|r| r.grp == "npc_deputy"));
        let (_, list) = calls(&app, &interviewer, id).await;
        assert_eq!(line(&list, chengguan[0])["priority"], "answered");

        // The other way round: answered by the link first, the interview is refused.
        let first_by_link = qiaotou[0];
        assert_eq!(crate::tally::answer(&link_of(&links, first_by_link), &["A", "B"]).await, StatusCode::OK);
        let (status, body) = interview_form(&app, &interviewer, id, first_by_link).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        // The call list does not send anyone to ring them (their answer still waits for its cell).
        let (_, list) = calls(&app, &interviewer, id).await;
        assert_eq!(line(&list, first_by_link)["priority"], "answered");
        let (status, _) = record(&app, &interviewer, id, first_by_link, json!({"outcome": "no_answer"})).await;
        assert_eq!(status, StatusCode::CONFLICT);

        // A race: the interviewer and the person's own phone submit at the same moment.
        for &inv in &qiaotou[1..3] {
            let before = responses(&app, id).await.len();
            let (_, form) = interview_form(&app, &interviewer, id, inv).await;
            let phone = new_client();
            let link = link_of(&links, inv);
            let html = phone.get(&link).send().await.unwrap().text().await.unwrap();
            let mut fields = vec![("_form".to_owned(), hidden(&html, "_form"))];
            for item in form["questionnaire"]["items"].as_array().unwrap() {
                fields.push((item["id"].as_str().unwrap().to_owned(), "B".to_owned()));
            }
            let (by_phone, by_link) = tokio::join!(
                submit_interview(&app, &interviewer, id, inv, &form, &["A", "C"]),
                phone.post(&link).form(&fields).send()
            );
            let by_link = by_link.unwrap().status();
            let stored = [by_phone.0 == StatusCode::CREATED, by_link == StatusCode::OK];
            assert_eq!(stored.iter().filter(|s| **s).count(), 1, "phone {by_phone:?}, link {by_link}");
            assert_eq!(responses(&app, id).await.len(), before + 1);
        }

        // The tally splits by mode; the sensitivity panel reads the telephone alone.
        let t = tally(&app, &organizer, id).await;
        assert_eq!(t["by_mode"]["phone"]["respondents"], 5, "{}", t["by_mode"]);
        assert_eq!(t["modes"].as_array().unwrap().len(), 3);
        let s = &t["official_estimate"]["sensitivity"];
        assert!(s["phone_only"].is_number() && s["paper_only"].is_null(), "{s}");
        assert!(t["official_estimate"]["sensitivity_lines"].as_array().unwrap().iter().any(|l| l["code"] == "phone_only" && l["respondents"] == 5));

        // The report for the response rate.
        let report: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/call-report"))).send().await.unwrap().json().await.unwrap();
        let deputies = report["groups"].as_array().unwrap().iter().find(|g| g["group"] == "npc_deputy").unwrap().clone();
        assert_eq!(deputies["drawn"], 13);
        assert!(deputies["completed"].as_u64().unwrap() >= 5, "{deputies}");
        assert_eq!(deputies["callback"], 1);
        assert!(deputies["attempts"].as_u64().unwrap() >= 8, "{deputies}");

        // No response row names who interviewed it.
        let csv = organizer.get(app.url(&format!("/api/v1/surveys/{id}/responses.csv"))).send().await.unwrap().text().await.unwrap();
        assert!(!csv.contains("iv-wang"));
        assert!(csv.lines().next().unwrap().contains("作答方式"));
        assert!(csv.contains("电话"), "{csv}");

        // Taking the groups away takes the call list away.
        let (status, _) = assign(json!({"username": "iv-wang", "groups": []})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(calls(&app, &interviewer, id).await.0, StatusCode::FORBIDDEN);

        let (status, _) = assign(json!({"username": "iv-wang", "groups": ["npc_deputy"]})).await;
        assert_eq!(status, StatusCode::OK);
        // Purging the rosters after the close forgets the calls' notes, keeps their outcomes.
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/close"))).json(&json!({"confirm": true})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(record(&app, &organizer, id, chengguan[5], json!({"outcome": "no_answer"})).await.0, StatusCode::CONFLICT);
        // Names and phones are for calling: an interviewer has none once the survey has ended.
        assert_eq!(calls(&app, &interviewer, id).await.0, StatusCode::CONFLICT);
        assert_eq!(count_rows(&app, "SELECT COUNT(*) FROM call_attempt WHERE note IS NOT NULL").await, 2);
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/purge"))).json(&json!({"confirm": true})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        assert_eq!(count_rows(&app, "SELECT COUNT(*) FROM call_attempt WHERE note IS NOT NULL").await, 0);
        assert!(count_rows(&app, "SELECT COUNT(*) FROM call_attempt").await >= 8);

        // An interviewer who becomes something else loses their assignments.
        let admin = app.admin().await;
        let users: Value = admin.get(app.url("/api/v1/users")).send().await.unwrap().json().await.unwrap();
        let iv_id = users.as_array().or_else(|| users["users"].as_array()).unwrap().iter().find(|u| u["username"] == "iv-wang").unwrap()["id"].clone();
        let res = admin.put(app.url(&format!("/api/v1/users/{iv_id}"))).json(&json!({"role": "viewer"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = admin.put(app.url(&format!("/api/v1/users/{iv_id}"))).json(&json!({"role": "interviewer"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(count_rows(&app, "SELECT COUNT(*) FROM interviewer_assignment").await, 0);

    }
}

async fn enter(app: &TestApp, client: &Client, id: i64, body: Value) -> (StatusCode, Value) {
    let res = client
        .post(app.url(&format!("/api/v1/surveys/{id}/paper/entries")))
        .json(&body)
        .send()
        .await
        .unwrap();
    status_and_body(res).await
}

backend_test! {
    async fn paper_booklets_are_entered_twice_and_a_mismatch_is_resolved_before_it_counts(app) {
        // No draw: the public of 桥头镇 has 5 free places, as for an open channel.
        let (organizer, id) = county_survey(&app).await;
        let county = county_of(&app, &organizer).await;
        let second = named_user(&app, "entry-zhao", "organizer", county).await;
        let interviewer = named_user(&app, "iv-sun", "interviewer", county).await;
        let viewer = named_user(&app, "viewer-qian", "viewer", county).await;
        // An interviewer enters paper in a survey they are assigned to (any group's booklets).
        let res = organizer.put(app.url(&format!("/api/v1/surveys/{id}/interviewers"))).json(&json!({"username": "iv-sun", "groups": ["parent"]})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/paper"))).json(&json!({"group": "public", "area": "桥头镇", "copies": 0})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/paper"))).json(&json!({"group": "public", "area": "无此镇", "copies": 5})).send().await.unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["field"], "area");
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/paper"))).json(&json!({"group": "public", "area": "桥头镇", "copies": 8})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let batch: Value = res.json().await.unwrap();
        let batch_id = batch["batch"]["id"].as_i64().unwrap();
        assert_eq!(batch["batch"]["copies"], 8);
        // Printed before opening: every booklet with its serial and the anonymity notice.
        let html = organizer.get(app.url(&format!("/admin/surveys/{id}/paper/{batch_id}/print"))).send().await.unwrap().text().await.unwrap();
        assert_eq!(html.matches("class=\"paper-booklet\"").count(), 8);
        assert!(html.contains("匿名填写") && html.contains(batch["batch"]["first_serial"].as_str().unwrap()));
        assert_eq!(viewer.get(app.url(&format!("/admin/surveys/{id}/paper/{batch_id}/print"))).send().await.unwrap().status(), StatusCode::FORBIDDEN);
        crate::sampling::open(&app, &organizer, id).await;

        let serials: Vec<String> = (1..=8).map(|n| {
            // The check digit as the server prints it: read back from the print page.
            let marker = format!("编号 <strong>{:04}-{:04}-", batch_id, n);
            let start = html.find(&marker).unwrap() + marker.len();
            format!("{:04}-{:04}-{}", batch_id, n, &html[start..start + 1])
        }).collect();
        let booklet: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/paper/booklets/{}", serials[0]))).send().await.unwrap().json().await.unwrap();
        assert_eq!(booklet["status"], "blank");
        // The public booklet (社会卷) items.
        let q: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/questionnaires"))).send().await.unwrap().json().await.unwrap();
        let social = q.as_array().unwrap().iter().find(|b| b["booklet"] == "social").unwrap().clone();
        let items: Vec<String> = social["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
        let filled = |codes: &[&str]| -> Value {
            Value::Object(items.iter().enumerate().map(|(i, id)| (id.clone(), json!(codes[i % codes.len()]))).collect())
        };

        // A mistyped serial, an unknown one, an incomplete entry: clear errors, nothing kept.
        let mut typo = serials[0].clone();
        let last = typo.pop().unwrap();
        typo.push(if last == '9' { '0' } else { char::from(last as u8 + 1) });
        let (status, body) = enter(&app, &organizer, id, json!({"serial": typo, "answers": filled(&["A"])})).await;
        assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("serial")), "{body}");
        let (status, body) = enter(&app, &organizer, id, json!({"serial": "9999-0001-0", "answers": filled(&["A"])})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let mut short = filled(&["A", "B"]);
        short.as_object_mut().unwrap().remove(&items[3]);
        let (status, body) = enter(&app, &organizer, id, json!({"serial": serials[0], "answers": short})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], items[3].as_str());
        assert!(body["error"].as_str().unwrap().contains("第 4 题"), "{body}");
        let (status, body) = enter(&app, &organizer, id, json!({"serial": serials[0], "answers": filled(&["A"]), "area": "无此镇"})).await;
        assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("area")), "{body}");
        let mut tampered = filled(&["A", "B"]);
        tampered["Z99"] = json!("A");
        let (status, body) = enter(&app, &organizer, id, json!({"serial": serials[0], "answers": tampered})).await;
        assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("answers")), "{body}");
        // A viewer enters nothing.
        assert_eq!(enter(&app, &viewer, id, json!({"serial": serials[0], "answers": filled(&["A"])})).await.0, StatusCode::FORBIDDEN);

        // Booklet 1: the same operator twice is refused; a second operator who agrees stores it.
        let (status, body) = enter(&app, &organizer, id, json!({"serial": serials[0], "answers": filled(&["A", "B"]), "comment": "食堂要改善"})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["status"], "first");
        let (status, body) = enter(&app, &organizer, id, json!({"serial": serials[0], "answers": filled(&["A", "B"]), "comment": "食堂要改善"})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(responses(&app, id).await.is_empty());
        let (status, body) = enter(&app, &second, id, json!({"serial": serials[0], "answers": filled(&["A", "B"]), "comment": " 食堂要改善 "})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(responses(&app, id).await.len(), 1);
        assert_eq!(responses(&app, id).await[0].source, "paper");
        let (status, _) = enter(&app, &second, id, json!({"serial": serials[0], "answers": filled(&["A", "B"])})).await;
        assert_eq!(status, StatusCode::CONFLICT);

        // Booklet 8: a store interrupted after its claim (the process died) is finished the
        // next time the booklet is opened, once the claim is old enough not to be in progress.
        {
            use sea_orm::ConnectionTrait;
            let agreed = json!({"answers": items.iter().enumerate().map(|(i, id)| json!([id, if i % 2 == 0 { "C" } else { "B" }])).collect::<Vec<_>>(), "area": null, "grade": null, "comment": null});
            let booklet = count_rows(&app, &format!("SELECT CAST(id AS BIGINT) FROM paper_booklet WHERE batch_id = {batch_id} AND number = 8")).await;
            app.db.execute_unprepared(&format!("UPDATE paper_booklet SET status = 'entered' WHERE id = {booklet}")).await.unwrap();
            app.db.execute_unprepared(&format!("INSERT INTO paper_entry (booklet_id, round, user_id, entry, entered_at) VALUES ({booklet}, 3, 0, '{agreed}', '2026-01-01 00:00:00+00:00')")).await.unwrap();
            assert_eq!(responses(&app, id).await.len(), 1);
            let booklet: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/paper/booklets/{}", serials[7]))).send().await.unwrap().json().await.unwrap();
            assert_eq!(booklet["status"], "entered", "{booklet}");
            assert_eq!(responses(&app, id).await.len(), 2);
            assert_eq!(count_rows(&app, "SELECT COUNT(*) FROM paper_entry").await, 0);
        }

        // Booklet 2: the entries differ on item 3 and the comment; shown side by side, resolved.
        let (status, _) = enter(&app, &interviewer, id, json!({"serial": serials[1], "answers": filled(&["A", "B"]), "comment": "作业太多"})).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let mut other = filled(&["A", "B"]);
        other[&items[2]] = json!("D");
        let (status, body) = enter(&app, &organizer, id, json!({"serial": serials[1], "answers": other, "comment": "作业太少"})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["status"], "mismatch");
        let fields: Vec<&str> = body["mismatches"].as_array().unwrap().iter().map(|m| m["field"].as_str().unwrap()).collect();
        assert_eq!(fields, vec![items[2].as_str(), "comment"]);
        assert_eq!(body["mismatches"][0]["first"], "A");
        assert_eq!(body["mismatches"][0]["second"], "D");
        assert_eq!(responses(&app, id).await.len(), 2);
        let page = organizer.get(app.url(&format!("/admin/surveys/{id}/paper/entry?serial={}", serials[1]))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("作业太多") && page.contains("作业太少") && page.contains("两遍录入有 2 处不一致"), "{page}");
        let resolve = |values: Value| {
            let url = app.url(&format!("/api/v1/surveys/{id}/paper/booklets/{}/resolve", serials[1]));
            let client = second.clone();
            async move {
                let res = client.post(url).json(&json!({"values": values})).send().await.unwrap();
                let status = res.status();
                (status, res.json::<Value>().await.unwrap())
            }
        };
        let res = interviewer.post(app.url(&format!("/api/v1/surveys/{id}/paper/booklets/{}/resolve", serials[1]))).json(&json!({"values": {items[2].clone(): "A", "comment": "作业太多"}})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT, "an interviewer who typed one side does not decide alone");
        let (status, body) = resolve(json!({"comment": "作业太多"})).await;
        assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some(items[2].as_str())), "{body}");
        assert!(body["error"].as_str().unwrap().contains("第 3 题"), "{body}");
        let (status, body) = resolve(json!({items[2].clone(): "D", "comment": "作业太多"})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let stored = responses(&app, id).await;
        assert_eq!(stored.len(), 3);
        assert!(stored.iter().any(|r| r.comment.as_deref() == Some("作业太多")), "{stored:?}");
        // What the operators typed is gone once the booklet is a response.
        assert_eq!(count_rows(&app, "SELECT COUNT(*) FROM paper_entry").await, 0);

        // A spoiled booklet is set aside and never counted.
        let (status, _) = enter(&app, &organizer, id, json!({"serial": serials[2], "answers": filled(&["C", "D"])})).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/paper/booklets/{}/void", serials[2]))).json(&json!({})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(enter(&app, &second, id, json!({"serial": serials[2], "answers": filled(&["C", "D"])})).await.0, StatusCode::CONFLICT);

        // Two more make five in the cell: released, counted as paper. The sixth finds the
        // stratum full.
        for s in &serials[3..5] {
            assert_eq!(enter(&app, &organizer, id, json!({"serial": s, "answers": filled(&["B", "C"])})).await.0, StatusCode::ACCEPTED);
            assert_eq!(enter(&app, &second, id, json!({"serial": s, "answers": filled(&["B", "C"])})).await.0, StatusCode::CREATED);
        }
        // Refused at the first entry: nothing to type twice that could not count.
        let (status, body) = enter(&app, &organizer, id, json!({"serial": serials[5], "answers": filled(&["B", "A"])})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body["error"].as_str().unwrap().contains("名额已满"), "{body}");
        assert_eq!(responses(&app, id).await.len(), 5);
        let t = tally(&app, &organizer, id).await;
        assert_eq!(t["by_mode"]["paper"]["respondents"], 5, "{}", t["by_mode"]);
        assert_eq!(t["respondents"], 5);
        assert!(t["official_estimate"]["sensitivity"]["paper_only"].is_number());
        let csv = organizer.get(app.url(&format!("/api/v1/surveys/{id}/responses.csv"))).send().await.unwrap().text().await.unwrap();
        assert_eq!(csv.matches("纸质").count(), 5, "{csv}");
        // The fieldwork page counts the run.
        let page = organizer.get(app.url(&format!("/admin/surveys/{id}/fieldwork"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(&serials[0]) || page.contains(&batch["batch"]["first_serial"].as_str().unwrap().to_owned()));
    }
}

backend_test! {
    async fn paper_booklets_printed_for_drawn_people_answer_as_their_invitations(app) {
        // A full draw: no free place anywhere, so paper is printed for the drawn people.
        let (organizer, id) = county_survey(&app).await;
        upload_all(&app, &organizer, id).await;
        crate::sampling::draw(&app, &organizer, id, json!(9)).await;
        crate::sampling::open(&app, &organizer, id).await;
        let county = county_of(&app, &organizer).await;
        let second = named_user(&app, "entry-wu", "organizer", county).await;
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/paper"))).json(&json!({"group": "parent", "area": "桥头镇", "copies": 10})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT, "no free place for a stratum's run");
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/paper"))).json(&json!({"group": "parent", "area": "桥头镇", "drawn": true})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let batch: Value = res.json().await.unwrap();
        let copies = batch["batch"]["copies"].as_u64().unwrap();
        let rows = crate::sampling::invitations(&app, &organizer, id).await;
        let parents_there: Vec<_> = rows.iter().filter(|r| r["群体"] == "家长" && r["乡镇"] == "桥头镇").collect();
        assert_eq!(copies as usize, parents_there.len());
        // Everyone of the scope has one now.
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/paper"))).json(&json!({"group": "parent", "area": "桥头镇", "drawn": true})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);

        // The booklets carry no name; the hand-out list (for the school) pairs serials with
        // masked names and roster ids.
        let batch_id = batch["batch"]["id"].as_i64().unwrap();
        let html = organizer.get(app.url(&format!("/admin/surveys/{id}/paper/{batch_id}/print"))).send().await.unwrap().text().await.unwrap();
        assert_eq!(html.matches("class=\"paper-booklet\"").count() as u64, copies);
        assert!(html.contains("分发清单") && !html.contains("孩子就读的年级"), "a drawn person's booklet asks nothing to place it");
        let slips: Vec<(String, String)> = html.split("<tr><td class=\"nowrap\">").skip(1).map(|row| {
            let serial = row.split('<').next().unwrap().to_owned();
            let ext = row.split("<td>").nth(1).unwrap().split('<').next().unwrap().to_owned();
            (serial, ext)
        }).collect();
        assert_eq!(slips.len() as u64, copies);
        // (The test rosters' names equal their ids; a name is shown masked, 张**.)
        assert!(html.contains("<td>p*********</td>"), "names masked on the list");
        let link_of_slip = |k: usize| rows.iter().find(|r| r["编号"] == slips[k].1).unwrap()["链接"].clone();

        let q: Value = organizer.get(app.url(&format!("/api/v1/surveys/{id}/questionnaires"))).send().await.unwrap().json().await.unwrap();
        let social = q.as_array().unwrap().iter().find(|b| b["booklet"] == "social").unwrap().clone();
        let filled: Value = Value::Object(social["items"].as_array().unwrap().iter().enumerate().map(|(i, it)| (it["id"].as_str().unwrap().to_owned(), json!(["A", "B", "C"][i % 3]))).collect());

        // Booklet 1: entered twice, stored as that person's answer; their link then refuses.
        assert_eq!(enter(&app, &organizer, id, json!({"serial": slips[0].0, "answers": filled})).await.0, StatusCode::ACCEPTED);
        assert_eq!(enter(&app, &second, id, json!({"serial": slips[0].0, "answers": filled})).await.0, StatusCode::CREATED);
        let stored = responses(&app, id).await;
        assert_eq!(stored.len(), 1);
        assert_eq!((stored[0].source.as_str(), stored[0].grp.as_str()), ("paper", "parent"));
        assert!(stored[0].band.is_some(), "the invitation's stratum, grade band included");
        let res = new_client().get(link_of_slip(0)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);

        // Booklet 2: its person answered by their link first; the booklet is refused.
        assert_eq!(crate::tally::answer(&link_of_slip(1), &["A", "B"]).await, StatusCode::OK);
        let (status, body) = enter(&app, &organizer, id, json!({"serial": slips[1].0, "answers": filled})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body["error"].as_str().unwrap().contains("已经作答"), "{body}");
        assert_eq!(responses(&app, id).await.len(), 2);
    }
}
