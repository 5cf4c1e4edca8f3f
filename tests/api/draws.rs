//! `renke-draw-v2`: a draw re-run from its certificate and `lines.csv` by the short Python
//! script and by `renke draw verify`, both catching a changed line, a changed seed and a
//! swapped pick; every earlier draw on the certificate; v1 draws still verifiable.
use crate::helpers::{TestApp, backend_test};
use crate::sampling::{ROSTER_SIZES, county_survey, draw, roster, upload};
use renke::domain::draw::v2;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The test rosters, with half the teachers sharing a phone with a parent (so some are
/// skipped), the phones written as people write them.
fn rosters() -> Vec<(&'static str, String)> {
    ROSTER_SIZES
        .iter()
        .map(|&(group, n)| {
            let mut text = roster(group, n);
            if group == "teacher" {
                // roster() gives parent i the phone 139 followed by i in eight digits.
                // Teacher k (k even) gets parent k's phone, written another way.
                text = text
                    .lines()
                    .enumerate()
                    .map(|(i, line)| match line.rsplit_once(',') {
                        Some((rest, _)) if i > 0 && (i - 1) % 2 == 0 => {
                            format!("{rest},+86 139-{:04}-{:04}", 0, i - 1)
                        }
                        _ => line.to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                text.push('\n');
            }
            (group, text)
        })
        .collect()
}

async fn upload_rosters(app: &TestApp, client: &Client, id: i64) {
    for (group, text) in rosters() {
        let (status, body) = upload(app, client, id, group, text).await;
        assert_eq!(status, StatusCode::OK, "{group}: {body}");
    }
}

async fn get_text(app: &TestApp, client: &Client, path: &str) -> (StatusCode, String) {
    let res = client.get(app.url(path)).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

fn sha(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The verifier's verdict on the files: (identical, what it printed).
fn python(cert: &Path, lines: &Path, rosters: &[String]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/verify_draw.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(cert)
        .arg(lines)
        .args(rosters)
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn renke(cert: &Path, lines: &Path, rosters: &[String]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_renke"));
    cmd.args(["draw", "verify", "--certificate"])
        .arg(cert)
        .arg("--lines")
        .arg(lines)
        .env("RUST_LOG", "warn");
    for r in rosters {
        cmd.arg("--roster").arg(r);
    }
    let out = cmd.output().expect("renke runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

type Verifier = fn(&Path, &Path, &[String]) -> (bool, String);

/// Both verifiers agree that the files are identical, or that they differ with `expected` in
/// the message.
fn both(cert: &Path, lines: &Path, rosters: &[String], expected: Option<&str>) {
    for (name, verifier) in [("python", python as Verifier), ("renke", renke as Verifier)] {
        let (ok, text) = verifier(cert, lines, rosters);
        match expected {
            None => assert!(ok && text.contains("identical"), "{name}: {text}"),
            Some(what) => assert!(
                !ok && text.contains("different") && text.contains(what),
                "{name} should find {what:?}: {text}"
            ),
        }
    }
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn parse_lines(text: &str) -> (String, Vec<Vec<String>>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut all = text.lines();
    let header = all.next().unwrap().to_owned();
    let rows = all
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn unparse(header: &str, rows: &[Vec<String>]) -> String {
    let mut out = format!("{header}\n");
    for r in rows {
        out.push_str(&r.join(","));
        out.push('\n');
    }
    out
}

backend_test! {
    async fn a_draw_re_runs_from_its_certificate_and_lines_with_a_short_script(app) {
        let (organizer, id) = county_survey(&app).await;
        upload_rosters(&app, &organizer, id).await;
        let seed = "福彩3D 第2026321期 5 1 7";
        let res = organizer.post(app.url(&format!("/api/v1/surveys/{id}/draws")))
            .json(&json!({"seed": format!("  {seed} "), "seed_note": "名册上传后开奖的福利彩票 3D"}))
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let d: Value = res.json().await.unwrap();
        let draw_id = d["id"].as_i64().unwrap();
        assert_eq!(d["seed"], seed, "recorded verbatim after trimming");
        assert_eq!(d["seed_source"], "entered");

        // The certificate states everything a re-run needs.
        let (status, text) = get_text(&app, &organizer, &format!("/api/v1/surveys/{id}/draws/{draw_id}")).await;
        assert_eq!(status, StatusCode::OK);
        let cert: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(cert["algorithm"], "renke-draw-v2");
        assert!(cert["algorithm_text"].as_str().unwrap().contains("rank_key = hex SHA-256 of (seed text"));
        assert_eq!(cert["frame_line_fields"], json!(["group", "area", "band", "school", "grade", "external_id", "phone"]));
        assert_eq!(cert["seed_note"], "名册上传后开奖的福利彩票 3D");
        assert_eq!(cert["bands"]["parent"], json!(["1-3", "4-6", "7-9"]));
        assert_eq!(cert["earlier_draws"], json!([]));
        assert_eq!(cert["draws_of_survey"], 1);
        assert_eq!(cert["frame_size"], 608);
        let entry = &cert["audit"]["entry"];
        assert_eq!(entry["hash"].as_str().unwrap().len(), 64, "{cert}");
        let strata = cert["strata"].as_array().unwrap();
        assert_eq!(strata[0]["group"], "parent", "parents first");
        assert_eq!(strata[0]["band"], "1-3");
        for s in strata {
            let q = s["quota"].as_u64().unwrap();
            assert_eq!(s["reserve_quota"].as_u64().unwrap(), (q * 20).div_ceil(100), "{s}");
        }

        // lines.csv: everyone of the frame, no names and no phones.
        let (status, lines) = get_text(&app, &organizer, &format!("/api/v1/surveys/{id}/draws/{draw_id}/lines.csv")).await;
        assert_eq!(status, StatusCode::OK);
        let (header, rows) = parse_lines(&lines);
        assert_eq!(header, "group,area,band,external_id,line_hash,rank_key,same_phone,outcome,rank");
        assert_eq!(rows.len(), 608);
        for (_, text) in rosters() {
            for person in text.lines().skip(1) {
                let phone = person.rsplit(',').next().unwrap();
                assert!(!lines.contains(phone), "a phone in lines.csv");
            }
        }
        let count = |o: &str| rows.iter().filter(|r| r[7] == o).count() as u64;
        assert_eq!(count("抽中"), cert["selected"].as_u64().unwrap());
        assert_eq!(count("备选"), cert["reserves"].as_u64().unwrap());
        assert!(count("重复跳过") > 0, "teachers sharing a taken parent's phone are skipped");
        // A line hash is the SHA-256 of the frame line, as an organiser computes it from the
        // roster: teacher 2 of 城关镇 writes her phone as +86 139-0000-0002.
        let teacher = rows.iter().find(|r| r[0] == "teacher" && r[3] == "teacher0002").unwrap();
        assert_eq!(teacher[4], sha("teacher\t城关镇\t\t城关一小\t3\tteacher0002\t13900000002"));
        assert_eq!(teacher[5], sha(&format!("{seed}\n{}", teacher[4])));
        let parent = rows.iter().find(|r| r[0] == "parent" && r[3] == "parent0002").unwrap();
        assert_eq!(teacher[6], parent[6], "the two who share a phone share same_phone");
        assert!(!teacher[6].is_empty());
        // What was drawn is what the invitations went to.
        let invited = crate::sampling::invitations(&app, &organizer, id).await;
        assert_eq!(invited.len() as u64, count("抽中"));

        let dir = tempfile::tempdir().unwrap();
        let cert_path = write(dir.path(), "certificate.json", &text);
        let lines_path = write(dir.path(), "lines.csv", &lines);
        let roster_args: Vec<String> = rosters()
            .into_iter()
            .map(|(group, text)| format!("{group}={}", write(dir.path(), &format!("{group}.csv"), &text).display()))
            .collect();
        both(&cert_path, &lines_path, &[], None);
        both(&cert_path, &lines_path, &roster_args, None);

        // A changed line: the frame is not the one drawn from.
        let mut changed = rows.clone();
        changed[10][4] = sha("someone else");
        let path = write(dir.path(), "changed.csv", &unparse(&header, &changed));
        both(&cert_path, &path, &[], Some("frame digest"));
        // A line whose person is not the roster's.
        let mut renamed = rows.clone();
        let i = renamed.iter().position(|r| r[0] == "public").unwrap();
        renamed[i][3] = "someone-else".into();
        let path = write(dir.path(), "renamed.csv", &unparse(&header, &renamed));
        both(&cert_path, &path, &[], None);
        both(&cert_path, &path, &roster_args, Some("public"));
        // Forgeries consistent with themselves, which only the rosters reveal: a person moved to
        // another stratum, and a phone shared that is not.
        let facts: v2::CertificateFacts = serde_json::from_value(cert.clone()).unwrap();
        let forge = |change: &dyn Fn(&mut Vec<Vec<String>>)| {
            let mut forged = rows.clone();
            change(&mut forged);
            let parsed: Vec<v2::LineRow> = forged.iter().map(|r| v2::LineRow {
                group: r[0].clone(), area: r[1].clone(), band: r[2].clone(), external_id: r[3].clone(),
                line_hash: r[4].clone(), rank_key: r[5].clone(), same_phone: r[6].clone(),
                outcome: r[7].clone(), rank: r[8].clone(),
            }).collect();
            for (r, p) in forged.iter_mut().zip(v2::rerun(&facts, &parsed).unwrap()) {
                r[7] = p.outcome.label().to_owned();
                r[8] = p.rank.to_string();
            }
            assert_ne!(forged, rows);
            unparse(&header, &forged)
        };
        let moved = forge(&|r| {
            let i = r.iter().position(|r| r[0] == "public" && r[1] == "城关镇" && r[7] == "抽中").unwrap();
            r[i][1] = "桥头镇".into();
        });
        let path = write(dir.path(), "moved.csv", &moved);
        both(&cert_path, &path, &[], None);
        both(&cert_path, &path, &roster_args, Some("stratum"));
        let shared = forge(&|r| {
            let taken = r.iter().position(|r| r[0] == "public" && r[7] == "抽中").unwrap();
            let other = r.iter().rposition(|r| r[0] == "public" && r[7] == "抽中" && r[6].is_empty()).unwrap();
            r[other][6] = r[taken][4].clone();
            r[taken][6] = r[taken][4].clone();
        });
        let path = write(dir.path(), "shared.csv", &shared);
        both(&cert_path, &path, &[], None);
        both(&cert_path, &path, &roster_args, Some("same_phone"));
        // An edited certificate band.
        let mut bands = cert.clone();
        bands["bands"]["parent"] = json!(["1-4", "5-6", "7-9"]);
        let path = write(dir.path(), "bands.json", &bands.to_string());
        both(&path, &lines_path, &roster_args, Some("bands"));
        both(&path, &lines_path, &[], Some("bands"));
        // Strata out of the plan's order, even with lines made to match.
        let mut reordered = cert.clone();
        reordered["strata"].as_array_mut().unwrap().reverse();
        let path = write(dir.path(), "reordered.json", &reordered.to_string());
        both(&path, &lines_path, &[], Some("order"));
        // A column given twice (the script would read the last one).
        let doubled: Vec<Vec<String>> = rows.iter().map(|r| [r.clone(), vec!["未抽中".to_owned()]].concat()).collect();
        let path = write(dir.path(), "doubled.csv", &unparse(&format!("{header},outcome"), &doubled));
        for (name, verifier) in [("python", python as Verifier), ("renke", renke as Verifier)] {
            let (ok, text) = verifier(&cert_path, &path, &[]);
            assert!(!ok && !text.contains("identical"), "{name}: {text}");
        }
        // A certificate that states other counts than the lines give.
        let mut counts = cert.clone();
        counts["strata"][0]["drawn"] = json!(counts["strata"][0]["drawn"].as_u64().unwrap() + 1);
        let path = write(dir.path(), "counts.json", &counts.to_string());
        both(&path, &lines_path, &[], Some("drawn and reserves"));
        let mut size = cert.clone();
        size["frame_size"] = json!(607);
        let path = write(dir.path(), "size.json", &size.to_string());
        both(&path, &lines_path, &[], Some("frame_size"));
        // A changed seed.
        let mut other: Value = cert.clone();
        other["seed"] = json!("福彩3D 第2026322期 0 0 0");
        let other_path = write(dir.path(), "other.json", &other.to_string());
        both(&other_path, &lines_path, &[], Some("rank_key"));
        // A swapped pick: someone drawn and someone not, in one stratum.
        let mut swapped = rows.clone();
        let a = swapped.iter().position(|r| r[0] == "public" && r[7] == "抽中").unwrap();
        let b = swapped.iter().position(|r| r[0] == "public" && r[1] == swapped[a][1] && r[7] == "未抽中").unwrap();
        swapped[a][7] = "未抽中".into();
        swapped[b][7] = "抽中".into();
        let path = write(dir.path(), "swapped.csv", &unparse(&header, &swapped));
        both(&cert_path, &path, &[], Some("in the re-run"));

        // Areas edited after the draw (reordered, new populations) do not rewrite its record: the
        // certificate and the lines are those of the draw as made.
        let res = organizer.put(app.url(&format!("/api/v1/surveys/{id}/areas")))
            .json(&json!([
                {"name": "桥头镇", "class": "rural", "population": 70000},
                {"name": "城关镇", "class": "urban", "population": 30000},
            ]))
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        let (_, again) = get_text(&app, &organizer, &format!("/api/v1/surveys/{id}/draws/{draw_id}")).await;
        let again: Value = serde_json::from_str(&again).unwrap();
        assert_eq!((&again["strata"], &again["areas"]), (&cert["strata"], &cert["areas"]));
        let (_, lines_again) = get_text(&app, &organizer, &format!("/api/v1/surveys/{id}/draws/{draw_id}/lines.csv")).await;
        assert!(lines_again == lines, "the lines are the draw's");

        // Renke's own verification agrees, and viewers cannot take the lines.
        let (_, v) = get_text(&app, &organizer, &format!("/api/v1/surveys/{id}/draws/{draw_id}/verify")).await;
        let v: Value = serde_json::from_str(&v).unwrap();
        assert_eq!(v["identical"], true, "{v}");
        assert_eq!(v["algorithm"], "renke-draw-v2");
        let me: Value = organizer.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
        let viewer = app.user("viewer", Some(me["user"]["county_id"].as_i64().unwrap() as i32)).await;
        let (status, _) = get_text(&app, &viewer, &format!("/api/v1/surveys/{id}/draws/{draw_id}/lines.csv")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

backend_test! {
    async fn every_earlier_draw_is_on_the_certificate_and_v1_draws_still_verify(app) {
        let (organizer, id) = county_survey(&app).await;
        upload_rosters(&app, &organizer, id).await;
        // A draw made the first way (as surveys drawn before v2 were).
        let ctx = renke::app::Context::open(&app.settings).await.unwrap();
        let actor = renke::app::Actor::Operator("earlier-version");
        let seed = renke::domain::draw::Seed { text: "7".into(), source: renke::domain::draw::SeedSource::Unrecorded, note: None };
        let v1 = renke::app::draws::draw_with(&ctx, &actor, id as i32, renke::app::draws::SeedChoice::Given(seed), renke::domain::draw::Algorithm::V1).await.unwrap();
        ctx.close().await.unwrap();
        let (_, v) = get_text(&app, &organizer, &format!("/api/v1/surveys/{id}/draws/{}/verify", v1.id)).await;
        let v: Value = serde_json::from_str(&v).unwrap();
        assert_eq!((v["identical"].clone(), v["algorithm"].clone()), (json!(true), json!("renke-draw-v1")), "{v}");
        let (status, body) = get_text(&app, &organizer, &format!("/api/v1/surveys/{id}/draws/{}/lines.csv", v1.id)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body.contains("renke-draw-v1"), "{body}");

        let random = draw(&app, &organizer, id, Value::Null).await;
        assert_eq!(random["seed_source"], "random");
        assert!(random["seed"].as_str().unwrap().parse::<u64>().is_ok());
        let third = draw(&app, &organizer, id, json!("20261202")).await;
        let (_, text) = get_text(&app, &organizer, &format!("/api/v1/surveys/{id}/draws/{}", third["id"])).await;
        let cert: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(cert["draws_of_survey"], 3);
        let earlier = cert["earlier_draws"].as_array().unwrap();
        assert_eq!(earlier.len(), 2);
        assert_eq!((earlier[0]["seed"].clone(), earlier[0]["algorithm"].clone(), earlier[0]["created_by"].clone()), (json!("7"), json!("renke-draw-v1"), json!("earlier-version")));
        assert_eq!((earlier[1]["seed"].clone(), earlier[1]["seed_source"].clone()), (random["seed"].clone(), json!("random")));
        assert_eq!(earlier[1]["frame_digest"], random["frame_digest"]);
        assert!(earlier[1]["created_at"].is_string());
        assert_eq!(cert["superseded_by"], Value::Null);
        let (_, text) = get_text(&app, &organizer, &format!("/api/v1/surveys/{id}/draws/{}", random["id"])).await;
        let second: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(second["superseded_by"], third["id"]);
        assert_eq!(second["superseded"], true);
        // The v2 digest is not v1's: the frame is digested by the new rule.
        assert_ne!(random["frame_digest"].as_str(), Some(v1.frame_digest.as_str()));

        // The certificate page says it all in Chinese, earlier draws included.
        let html = get_text(&app, &organizer, &format!("/admin/surveys/{id}/draws/{}", third["id"])).await.1;
        for expected in ["本调查共抽样 3 次，本次为<strong>第 3 次</strong>", "当前有效", "已抽样 2 次", "earlier-version", "verify_draw.py", "lines.csv", "组织者填写", "名册上传记录", "家长", "<code>npc_deputy</code>"] {
            assert!(html.contains(expected), "{expected}: {html}");
        }
        let html = get_text(&app, &organizer, &format!("/admin/surveys/{id}/draws/{}", v1.id)).await.1;
        assert!(html.contains("renke-draw-v1") && html.contains("已作废") && html.contains("第 2 次抽样</a>取代") && !html.contains("lines.csv\">"), "{html}");
        // The uploads before the draw are on the certificate, each group's time and size.
        assert_eq!(cert["roster_uploads"].as_array().unwrap().len(), 7, "{}", cert["roster_uploads"]);
        assert_eq!(cert["roster_uploads"][0]["detail"], "300 rows");
        assert_eq!(cert["groups_without_roster"], json!([]));
        // The verifier is served as it is in the repository, to anyone.
        let res = app.client.get(app.url("/docs/verify_draw.py")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let script = res.text().await.unwrap();
        assert_eq!(script, std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/verify_draw.py")).unwrap());
        assert!(script.lines().count() < 60);
    }
}
