//! The estimate of the official result (SPEC.md "Estimate of the official result"), checked
//! against an independent computation from every stored answer and the plan's strata,
//! respondent by respondent, as the SPEC writes it.
use crate::helpers::{TestApp, backend_test};
use crate::sampling::{county_survey, draw, invitations, open, roster, upload, upload_all};
use crate::tally::answer;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const Z: f64 = 1.96;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

pub(crate) async fn get_json(base: &str, client: &Client, path: &str) -> Value {
    client
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// One respondent as stored.
#[derive(Debug, Clone)]
struct Person {
    cell: (String, String),
    open: bool,
    flagged: bool,
    /// Counted, recognised and answered (不了解 included) scored items.
    x: f64,
    y: f64,
    a: f64,
}

/// What the SPEC's formulas give, computed person by person.
#[derive(Debug)]
struct Expected {
    rate: f64,
    v: f64,
    deff: f64,
    p: f64,
    m: f64,
    uncovered: f64,
}

fn normal_cdf(z: f64) -> f64 {
    // An independent Φ: Simpson's rule on the density from 0 (good to ~1e-13 here).
    let steps = 20_000;
    let h = z / steps as f64;
    let f = |t: f64| (-t * t / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let mut s = f(0.0) + f(z);
    for i in 1..steps {
        s += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    0.5 + s * h / 3.0
}

fn expected(
    people: &[&Person],
    shares: &BTreeMap<(String, String), f64>,
    n_off: f64,
    t: f64,
    strict: bool,
) -> Option<Expected> {
    let x = |p: &Person| if strict { p.a } else { p.x };
    let mut by_cell: BTreeMap<(String, String), Vec<&Person>> = BTreeMap::new();
    for p in people {
        if shares.contains_key(&p.cell) {
            by_cell.entry(p.cell.clone()).or_default().push(p);
        }
    }
    let covered: f64 = shares
        .iter()
        .filter(|(c, _)| by_cell.contains_key(*c))
        .map(|(_, s)| s)
        .sum();
    let uncovered: f64 = shares
        .iter()
        .filter(|(c, _)| !by_cell.contains_key(*c))
        .map(|(_, s)| s)
        .sum();
    if covered == 0.0 {
        return None;
    }
    // Each person with their weight.
    let mut rows: Vec<(&(String, String), f64, &Person)> = Vec::new();
    for (cell, ps) in &by_cell {
        for p in ps {
            rows.push((cell, shares[cell] / covered / ps.len() as f64, p));
        }
    }
    let swx: f64 = rows.iter().map(|(_, w, p)| w * x(p)).sum();
    let swy: f64 = rows.iter().map(|(_, w, p)| w * p.y).sum();
    let rate = swy / swx;
    let mut v = 0.0;
    for cell in by_cell.keys() {
        let z: Vec<f64> = rows
            .iter()
            .filter(|r| r.0 == cell)
            .map(|(_, w, p)| w * (p.y - rate * x(p)))
            .collect();
        let m = z.len() as f64;
        if z.len() > 1 {
            let mean = z.iter().sum::<f64>() / m;
            v += m / (m - 1.0) * z.iter().map(|zi| (zi - mean).powi(2)).sum::<f64>();
        }
    }
    v /= swx * swx;
    let m = rows.len() as f64;
    let sx: f64 = rows.iter().map(|r| x(r.2)).sum();
    let sy: f64 = rows.iter().map(|r| r.2.y).sum();
    let rp = sy / sx;
    let resid: f64 = rows.iter().map(|r| (r.2.y - rp * x(r.2)).powi(2)).sum();
    let v_srs = resid / (m * (m - 1.0) * (sx / m).powi(2));
    let pred = v + v * m / n_off;
    Some(Expected {
        rate,
        v,
        deff: v / v_srs,
        p: normal_cdf((rate - t) / pred.sqrt()),
        m,
        uncovered,
    })
}

/// Answer patterns (one code per item, cycled): A, B recognised; C, D counted; E 不了解.
const MIXED: [&[&str]; 8] = [
    &["A", "B", "C"],
    &["A", "A", "B", "E"],
    &["B", "C", "D", "A"],
    &["A", "E"],
    &["C", "D", "A"],
    &["A", "B"],
    &["A", "A", "A", "D"],
    &["B", "B", "E", "C"],
];

backend_test! {
    async fn the_official_estimate_is_what_the_spec_computes_from_the_answers(app) {
        let (organizer, id) = county_survey(&app).await;
        // Every group drawn from a roster but the public, who answer through an open channel.
        for (group, n) in [("parent", 300), ("student", 120), ("teacher", 60), ("principal", 8), ("npc_deputy", 30), ("cppcc_member", 30)] {
            let (status, body) = upload(&app, &organizer, id, group, roster(group, n)).await;
            assert_eq!(status, StatusCode::OK, "{group}: {body}");
        }
        draw(&app, &organizer, id, json!(11)).await;
        let (_, channel_url) = crate::held::channel(&app, &organizer, id, json!({"group": "public", "area": "桥头镇"})).await;
        open(&app, &organizer, id).await;
        let invitations = invitations(&app, &organizer, id).await;
        let of = |group: &str, area: &str| -> Vec<String> {
            invitations.iter().filter(|r| r["群体"] == group && r["乡镇"] == area).map(|r| r["链接"].clone()).collect()
        };
        // Parents: 14 in 城关镇 (two straight-lined: flagged), 6 in 桥头镇.
        let mut k = 0;
        for (area, n) in [("城关镇", 14), ("桥头镇", 6)] {
            for url in of("家长", area).iter().take(n) {
                let codes: &[&str] = if area == "城关镇" && k % 7 == 0 { &["A"] } else { MIXED[k % MIXED.len()] };
                assert_eq!(answer(url, codes).await, StatusCode::OK);
                k += 1;
            }
        }
        // Teachers: 3 of 城关镇's 8 and 4 in 桥头镇; 人大代表 all of 城关镇's 5 recognise
        // everything; 政协委员 of 城关镇 none.
        for url in of("教师", "城关镇").iter().take(3).chain(of("教师", "桥头镇").iter().take(4)) {
            assert_eq!(answer(url, MIXED[k % MIXED.len()]).await, StatusCode::OK);
            k += 1;
        }
        for url in of("人大代表", "城关镇").iter().take(5) {
            assert_eq!(answer(url, &["A", "B"]).await, StatusCode::OK);
        }
        for url in of("政协委员", "城关镇").iter().take(5) {
            assert_eq!(answer(url, &["C", "D"]).await, StatusCode::OK);
        }
        // Three answers through the open channel.
        for codes in [MIXED[0], MIXED[4], MIXED[7]] {
            assert_eq!(answer(&channel_url, codes).await, StatusCode::OK);
        }
        // A script answers in no time, so every answer here is too fast; as if people had taken
        // their time, only the straight-lined ones stay flagged, and the tally is rebuilt.
        let base = slow_answers(&app, id).await;
        let app_url = |p: &str| format!("{base}{p}");
        // The survey ends: what still waits in its release cells is settled (`domain::release`).
        let res = organizer.post(app_url(&format!("/api/v1/surveys/{id}/close"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);

        let t = get_json(&base, &organizer, &format!("/api/v1/surveys/{id}/tally")).await;
        let plan = get_json(&base, &organizer, &format!("/api/v1/surveys/{id}/plan")).await;
        let n_off = num(&t["planned"]);
        let target = num(&t["target"]);
        let class_code = |label: &str| match label {
            "城区" => "urban",
            "镇区" => "town",
            "乡村" => "rural",
            other => panic!("unknown class {other}"),
        };
        let mut shares: BTreeMap<(String, String), f64> = BTreeMap::new();
        for s in plan["strata"].as_array().unwrap() {
            let q = num(&s["quota"]);
            if q > 0.0 {
                *shares.entry((s["group"].as_str().unwrap().to_owned(), class_code(s["area_class"].as_str().unwrap()).to_owned())).or_default() += q / n_off;
            }
        }
        // The stored answers themselves (the response-level export is coarsened for anonymity).
        let rows = crate::answering::responses(&app, id).await;
        assert_eq!(rows.len(), 20 + 7 + 10 + 3);
        // Counted: those the releases and the close let in; the rest are kept, counted nowhere.
        let withheld = rows.iter().filter(|r| r.released == 2).count();
        assert_eq!(t["withheld"], withheld);
        assert_eq!(t["waiting"], 0);
        assert_eq!(t["respondents"], rows.len() - withheld);
        let people: Vec<Person> = rows.iter().filter(|r| r.released == 1).map(|r| {
            let answers: BTreeMap<String, String> = serde_json::from_str(&r.answers).unwrap();
            let (mut x, mut y, mut a) = (0.0, 0.0, 0.0);
            for code in answers.values() {
                match code.as_str() {
                    "A" | "B" => { x += 1.0; y += 1.0; a += 1.0; }
                    "C" | "D" => { x += 1.0; a += 1.0; }
                    "E" => a += 1.0,
                    other => panic!("unexpected answer {other}"),
                }
            }
            assert!(answers.len() > 5);
            Person {
                // Counted under the county alone (no area class): not weighted.
                cell: (r.grp.clone(), r.area_class.clone().unwrap_or_default()),
                open: r.source == "open",
                flagged: r.too_fast || r.straight_lined,
                x, y, a,
            }
        }).collect();
        assert!(people.iter().all(|p| !p.flagged || p.cell.0 == "parent"), "only parents straight-lined");

        let o = &t["official_estimate"];
        let all: Vec<&Person> = people.iter().collect();
        let e = expected(&all, &shares, n_off, target, false).unwrap();
        assert!(close(num(&o["rate"]), e.rate), "{} vs {e:?}", o["rate"]);
        assert!(close(num(&o["standard_error"]), e.v.sqrt()));
        assert!(close(num(&o["interval"][0]), (e.rate - Z * e.v.sqrt()).max(0.0)));
        assert!(close(num(&o["interval"][1]), (e.rate + Z * e.v.sqrt()).min(1.0)));
        assert!((num(&o["design_effect"]) - e.deff).abs() < 1e-9 * e.deff.max(1.0));
        assert!((num(&o["effective_n"]) - e.m / e.deff).abs() < 1e-7);
        assert!(close(num(&o["uncovered_share"]), e.uncovered));
        assert!(e.uncovered > 0.1, "students, principals and others have no answer yet");
        assert_eq!(num(&o["official_sample"]), n_off);
        let spread = (e.v * (1.0 + e.m / n_off)).sqrt();
        assert!(close(num(&o["prediction_interval"][0]), (e.rate - Z * spread).max(0.0)));
        assert!(close(num(&o["prediction_interval"][1]), (e.rate + Z * spread).min(1.0)));
        assert!(close(num(&o["probability_reaching_target"]), e.p), "{} vs {}", o["probability_reaching_target"], e.p);
        let status = match e.p {
            p if p >= 0.95 => "passing",
            p if p >= 0.5 => "likely_passing",
            p if p >= 0.05 => "likely_failing",
            _ => "failing",
        };
        assert_eq!(o["status"], status);
        assert!(!o["status_label"].as_str().unwrap().is_empty());

        // Every sensitivity value by the same estimator on its own reading of the answers.
        let s = &o["sensitivity"];
        let strict = expected(&all, &shares, n_off, target, true).unwrap();
        assert!(close(num(&s["unknown_as_not_recognised"]), strict.rate));
        assert!(strict.rate < e.rate, "不了解 as not recognised lowers the rate");
        let clean: Vec<&Person> = people.iter().filter(|p| !p.flagged).collect();
        assert!(close(num(&s["excluding_flagged"]), expected(&clean, &shares, n_off, target, false).unwrap().rate));
        let invited: Vec<&Person> = people.iter().filter(|p| !p.open).collect();
        assert!(close(num(&s["invitations_only"]), expected(&invited, &shares, n_off, target, false).unwrap().rate));
        let open: Vec<&Person> = people.iter().filter(|p| p.open).collect();
        match expected(&open, &shares, n_off, target, false) {
            Some(e) => assert!(close(num(&s["channels_only"]), e.rate)),
            // The channel's three never made a block of five: counted nowhere.
            None => assert!(s["channels_only"].is_null(), "{}", s["channels_only"]),
        }

        // The dashboard's switch leaves the flagged answers out of every reading.
        let t2 = get_json(&base, &organizer, &format!("/api/v1/surveys/{id}/tally?exclude_flagged=1")).await;
        assert!(close(num(&t2["official_estimate"]["rate"]), num(&s["excluding_flagged"])));

        // The other estimators, each with its own variance.
        let counted: Vec<&Person> = people.iter().filter(|p| p.x > 0.0).collect();
        let ratios: Vec<f64> = counted.iter().map(|p| p.y / p.x).collect();
        let nm = ratios.len() as f64;
        let mean = ratios.iter().sum::<f64>() / nm;
        let sd2 = ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (nm - 1.0);
        let rm = t["estimators"].as_array().unwrap().iter().find(|e| e["code"] == "respondent_mean").unwrap();
        assert!(close(num(&rm["rate"]), mean));
        assert!(close(num(&rm["standard_error"]), (sd2 / nm).sqrt()));
        let pooled = t["estimators"].as_array().unwrap().iter().find(|e| e["code"] == "pooled").unwrap();
        let n = people.len() as f64;
        let (sx, sy) = (people.iter().map(|p| p.x).sum::<f64>(), people.iter().map(|p| p.y).sum::<f64>());
        let rp = sy / sx;
        let vp = people.iter().map(|p| (p.y - rp * p.x).powi(2)).sum::<f64>() / (n * (n - 1.0) * (sx / n).powi(2));
        assert!(close(num(&pooled["standard_error"]), vp.sqrt()));
        // Group-weighted: planned shares, reduced for groups under five; variances add up.
        let mut groups: BTreeMap<&str, Vec<&Person>> = BTreeMap::new();
        for p in &people {
            groups.entry(p.cell.0.as_str()).or_default().push(p);
        }
        let (mut wsum, mut total, mut var) = (0.0, 0.0, 0.0);
        for (g, ps) in &groups {
            let share = num(&t["quota_progress"][*g]["planned"]) / n_off;
            let w = share * (ps.len().min(5) as f64 / 5.0);
            let m = ps.len() as f64;
            let (gx, gy) = (ps.iter().map(|p| p.x).sum::<f64>(), ps.iter().map(|p| p.y).sum::<f64>());
            let r = gy / gx;
            let vg = ps.iter().map(|p| (p.y - r * p.x).powi(2)).sum::<f64>() / (m * (m - 1.0) * (gx / m).powi(2));
            wsum += w;
            total += w * r;
            var += w * w * vg;
        }
        let gw = t["estimators"].as_array().unwrap().iter().find(|e| e["code"] == "group_weighted").unwrap();
        assert!(close(num(&gw["rate"]), total / wsum));
        assert!(close(num(&gw["standard_error"]), (var / (wsum * wsum)).sqrt()));

        // Small cells and items get Wilson intervals, never a point at 100% or 0%.
        let wilson = |k: f64, n: f64| {
            let p = k / n;
            let d = 1.0 + Z * Z / n;
            let c = (p + Z * Z / (2.0 * n)) / d;
            let h = Z * (p * (1.0 - p) / n + Z * Z / (4.0 * n * n)).sqrt() / d;
            ((c - h).max(0.0), (c + h).min(1.0))
        };
        let npc = &t["by_group"]["npc_deputy"];
        assert_eq!(npc["rate"], 1.0);
        let (lo, hi) = wilson(5.0, 5.0);
        assert!(close(num(&npc["interval"][0]), lo) && hi == 1.0 && lo < 0.7, "{npc}");
        assert_eq!(num(&npc["interval"][1]), 1.0);
        let cppcc = &t["by_group"]["cppcc_member"];
        assert_eq!(cppcc["rate"], 0.0);
        assert_eq!(num(&cppcc["interval"][0]), 0.0);
        assert!(close(num(&cppcc["interval"][1]), wilson(0.0, 5.0).1));
        let teachers = &t["by_group"]["teacher"];
        let r = num(&teachers["rate"]);
        let (lo, hi) = wilson(r * 7.0, 7.0);
        assert!(close(num(&teachers["interval"][0]), lo) && close(num(&teachers["interval"][1]), hi));
        for item in t["items"].as_array().unwrap() {
            if item["suppressed"] == true {
                continue;
            }
            let opts = item["options"].as_object().unwrap();
            let count = |c: &str| opts.get(c).map_or(0.0, num);
            let (k, n) = (count("A") + count("B"), count("A") + count("B") + count("C") + count("D"));
            let (lo, hi) = wilson(k, n);
            assert!(close(num(&item["interval"][0]), lo) && close(num(&item["interval"][1]), hi), "{item}");
        }

        // The dashboard, the report and the workbook show it.
        let html = organizer.get(app_url(&format!("/admin/surveys/{id}/dashboard"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("正式测评结果预测") && html.contains(o["status_label"].as_str().unwrap()));
        assert!(html.contains("“不了解”计为不认可") && html.contains("只看开放二维码的答卷"));
        let report = organizer.get(app_url(&format!("/admin/surveys/{id}/report"))).send().await.unwrap().text().await.unwrap();
        assert!(report.contains("正式测评达到目标的概率") && report.contains("泰勒线性化"));
        let xlsx = organizer.get(app_url(&format!("/api/v1/surveys/{id}/tally.xlsx"))).send().await.unwrap().bytes().await.unwrap();
        let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx.to_vec())).unwrap();
        use calamine::Reader;
        assert!(book.sheet_names().iter().any(|s| s == "正式测评预测"));
        let method = book.worksheet_range("方法").unwrap();
        let text: String = method.rows().flatten().map(|c| c.to_string()).collect();
        assert!(text.contains("泰勒线性化") && text.contains("达到目标的概率"));
    }
}

backend_test! {
    async fn response_rates_count_every_invitation_ever_issued(app) {
        let (organizer, id) = county_survey(&app).await;
        upload_all(&app, &organizer, id).await;
        draw(&app, &organizer, id, json!(5)).await;
        open(&app, &organizer, id).await;
        let invitations = invitations(&app, &organizer, id).await;
        let teachers: Vec<String> = invitations.iter().filter(|r| r["群体"] == "教师" && r["乡镇"] == "城关镇").map(|r| r["链接"].clone()).collect();
        assert_eq!(teachers.len(), 8);
        for url in teachers.iter().take(5) {
            assert_eq!(answer(url, MIXED[0]).await, StatusCode::OK);
        }
        let row = |t: &Value| t["invitations"].as_array().unwrap().iter().find(|r| r["group"] == "教师" && r["area"] == "城关镇").unwrap().clone();
        let t = get_json(&app.address, &organizer, &format!("/api/v1/surveys/{id}/tally")).await;
        assert_eq!(row(&t)["invited"], 8);
        // Two of the three who did not answer are replaced by reserves: ten people were
        // contacted, five answered (one batch of five, released together).
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/reserves/release"))).json(&json!({"group": "teacher", "area": "城关镇"})).send().await.unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["replaced"], 2);
        let t = get_json(&app.address, &organizer, &format!("/api/v1/surveys/{id}/tally")).await;
        let r = row(&t);
        assert_eq!((r["invited"].as_i64(), r["answered"].as_i64(), r["pending"].as_i64(), r["revoked"].as_i64(), r["reserves_released"].as_i64()), (Some(10), Some(5), Some(3), Some(2), Some(2)));
        assert!(close(num(&r["response_rate"]), 0.5));
        // The plan's coverage: the strata without a respondent and their share of the plan.
        let c = &t["coverage"];
        assert_eq!(c["strata_without_respondents"].as_i64().unwrap(), c["strata"].as_i64().unwrap() - 1);
        assert!(close(num(&c["planned_share_without_respondents"]), 1.0 - 8.0 / num(&t["planned"])));
    }
}

/// Starts a second server on the app's database, which rebuilds the aggregates of surveys
/// marked as of an earlier version before it serves; returns its address.
async fn restart(app: &TestApp) -> String {
    let second = renke::Application::build(app.settings.clone())
        .await
        .unwrap();
    let port = second.port();
    tokio::spawn(second.run_until_stopped());
    format!("http://127.0.0.1:{port}")
}

/// Marks the survey's answers as not too fast (straight-lined ones stay flagged) and has a
/// restarted server rebuild the tally from them; returns that server's address.
async fn slow_answers(app: &TestApp, id: i64) -> String {
    use sea_orm::ConnectionTrait;
    for sql in [
        format!("UPDATE response SET too_fast = false WHERE survey_id = {id}"),
        format!("UPDATE survey SET tally_version = 0 WHERE id = {id}"),
    ] {
        app.db.execute_unprepared(&sql).await.unwrap();
    }
    restart(app).await
}

backend_test! {
    async fn aggregates_of_an_earlier_version_are_rebuilt_at_start(app) {
        use sea_orm::ConnectionTrait;
        let (organizer, id, urls) = crate::answering::open_survey_with_invitations(&app).await;
        for (i, url) in urls.iter().take(8).enumerate() {
            assert_eq!(answer(url, MIXED[i % MIXED.len()]).await, StatusCode::OK);
        }
        // Eight in one release cell: five counted, three waiting, and the rebuild keeps both.
        let before = get_json(&app.address, &organizer, &format!("/api/v1/surveys/{id}/tally")).await;
        // What a database of the earlier version holds: no source sums, no Σ(y/x)², version 0.
        for sql in [
            "DELETE FROM tally_cell WHERE scope LIKE 'via:%'".to_owned(),
            "UPDATE tally_cell SET ratio_sq = 0".to_owned(),
            format!("UPDATE survey SET tally_version = 0 WHERE id = {id}"),
        ] {
            app.db.execute_unprepared(&sql).await.unwrap();
        }
        let stale = get_json(&app.address, &organizer, &format!("/api/v1/surveys/{id}/tally")).await;
        assert!(stale["official_estimate"]["rate"].is_null());
        // A server starting on it rebuilds them from the responses before it serves.
        let base = restart(&app).await;
        let after = get_json(&base, &organizer, &format!("/api/v1/surveys/{id}/tally")).await;
        // The same sums added in another order: equal to the last bits.
        assert_eq!(rounded(&after["official_estimate"]), rounded(&before["official_estimate"]));
        assert_eq!(rounded(&after["estimators"]), rounded(&before["estimators"]));
        assert_eq!((after["respondents"].as_i64(), after["waiting"].as_i64()), (Some(5), Some(3)));
    }
}

/// Numbers rounded to twelve significant digits (sums added in another order differ in the
/// last bits).
fn rounded(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap();
            json!(format!("{f:.12e}"))
        }
        Value::Array(a) => Value::Array(a.iter().map(rounded).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), rounded(v))).collect()),
        other => other.clone(),
    }
}
