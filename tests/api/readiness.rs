use crate::helpers::{TestApp, backend_test};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const SCHOOLS: &str = "school,kind,pupils,primary_pupils,junior_pupils,qualified_teachers,backbone_teachers,pe_arts_teachers,teaching_space_m2,sports_space_m2,equipment_value_yuan,multimedia_rooms
城关一小,primary,1000,,,50,12,10,5000,8000,2500000,25
东城小学,primary,500,,,22,6,5,2300,3500,1000000,12
城关中学,junior,800,,,45,9,8,4800,8500,2100000,20
西山学校,nine_year,600,400,200,28,7,6,3000,5000,1300000,15
南溪教学点,primary,30,,,2,0,0,100,100,30000,0
特殊教育学校,special,120,,,10,1,2,900,800,300000,3
";

async fn county_with_organiser(app: &TestApp) -> (Client, i32) {
    let county = app.create_county("永嘉县").await;
    (app.user("organizer", Some(county)).await, county)
}

async fn upload(
    app: &TestApp,
    client: &Client,
    county: i32,
    body: impl Into<reqwest::Body>,
    content_type: &str,
) -> (StatusCode, Value) {
    let res = client
        .post(app.url(&format!("/api/v1/counties/{county}/readiness/schools")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

backend_test! {
    async fn school_figures_give_each_schools_grade_and_the_weighted_cvs(app) {
        let (organizer, county) = county_with_organiser(&app).await;
        let (status, body) = upload(&app, &organizer, county, SCHOOLS, "text/csv").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["schools"], 6);
        let r: Value = organizer.get(app.url(&format!("/api/v1/counties/{county}/readiness"))).send().await.unwrap().json().await.unwrap();
        let res = &r["resources"];
        // By default every school counts: primary parts 城关一小, 东城小学, 西山学校's primary
        // part, 南溪教学点 and 特殊教育学校 (not split, so primary); junior: 城关中学, 西山学校's.
        let schools = res["schools"].as_array().unwrap();
        assert_eq!(schools.len(), 7);
        assert_eq!(res["apart"].as_array().unwrap().len(), 0);
        assert!(res["rule_label"].as_str().unwrap().contains("全部学校计入"));
        let xishan: Vec<&Value> = schools.iter().filter(|s| s["school"] == "西山学校").collect();
        assert_eq!(xishan.len(), 2);
        assert!((xishan[0]["share"].as_f64().unwrap() - 400.0 / 600.0).abs() < 1e-9);
        // Qualified teachers per 100 pupils, primary, pupil-weighted CV both ways.
        let cv_of = |values: &[(f64, f64)]| {
            let n: f64 = values.iter().map(|v| v.0).sum();
            let mean = values.iter().map(|(n, x)| n * x).sum::<f64>() / n;
            let var: f64 = values.iter().map(|(m, x)| m / n * (x - mean) * (x - mean)).sum();
            (mean, var.sqrt() / mean)
        };
        let big = [(1000.0, 5.0), (500.0, 4.4), (400.0, 28.0 * 2.0 / 3.0 / 400.0 * 100.0)];
        let mut every = big.to_vec();
        every.extend([(30.0, 2.0 / 30.0 * 100.0), (120.0, 10.0 / 120.0 * 100.0)]);
        let q = res["indicators"].as_array().unwrap().iter().find(|i| i["code"] == "qualified_teachers" && i["level"] == "primary").unwrap();
        let (mean, cv) = cv_of(&every);
        assert!((q["mean"].as_f64().unwrap() - mean).abs() < 1e-9);
        assert!((q["cv"].as_f64().unwrap() - cv).abs() < 1e-9);
        // The other way: teaching points under 50 pupils set aside (the special school stays).
        let mut without = big.to_vec();
        without.push((120.0, 10.0 / 120.0 * 100.0));
        assert!((q["cv_other"].as_f64().unwrap() - cv_of(&without).1).abs() < 1e-9);
        assert_eq!(q["threshold"], 0.5);
        // The county sets teaching points under 50 aside: the judged CV is the other one now.
        let set = |body: Value| organizer.put(app.url(&format!("/api/v1/counties/{county}/readiness/rule"))).json(&body).send();
        let res2 = set(json!({"set_aside_below": 50})).await.unwrap();
        assert_eq!(res2.status(), StatusCode::OK);
        let r2: Value = organizer.get(app.url(&format!("/api/v1/counties/{county}/readiness"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(r2["resources"]["apart"][0]["school"], "南溪教学点");
        assert_eq!(r2["resources"]["schools"].as_array().unwrap().len(), 6);
        let q2 = r2["resources"]["indicators"].as_array().unwrap().iter().find(|i| i["code"] == "qualified_teachers" && i["level"] == "primary").unwrap();
        assert!((q2["cv"].as_f64().unwrap() - cv_of(&without).1).abs() < 1e-9);
        assert!((q2["cv_other"].as_f64().unwrap() - cv).abs() < 1e-9);
        // Out of range is refused naming the field, and changes nothing.
        let bad = set(json!({"set_aside_below": 0})).await.unwrap();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        let body: Value = bad.json().await.unwrap();
        assert_eq!(body["field"], "set_aside_below", "{body}");
        // A body without the field, or with something after the JSON, changes nothing either.
        for body in ["{}", "{\"set_aside_below\": 7} xyz"] {
            let res = organizer.put(app.url(&format!("/api/v1/counties/{county}/readiness/rule"))).header("content-type", "application/json").body(body).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        }
        // The page's form takes digits typed with a Chinese input method.
        let page = organizer.get(app.url(&format!("/admin/counties/{county}/readiness"))).send().await.unwrap().text().await.unwrap();
        let token = crate::helpers::csrf_token(&page);
        let res = organizer.post(app.url(&format!("/admin/counties/{county}/readiness/rule"))).form(&[("csrf_token", token.as_str()), ("set_aside_below", "５０")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("已保存差异系数的计算口径：不足 50 人的教学点单列"));
        let res = organizer.post(app.url(&format!("/admin/counties/{county}/readiness/rule"))).form(&[("csrf_token", token.as_str()), ("set_aside_below", "abc")]).send().await.unwrap();
        assert!(res.text().await.unwrap().contains("教学点人数界限须为 1–1000 的整数"));
        let viewer = app.user("viewer", Some(county)).await;
        let denied = viewer.put(app.url(&format!("/api/v1/counties/{county}/readiness/rule"))).json(&json!({"set_aside_below": null})).send().await.unwrap();
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
        let r3: Value = organizer.get(app.url(&format!("/api/v1/counties/{county}/readiness"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(r3["resources"]["rule"]["below"], 50);
        assert!(set(json!({"set_aside_below": null})).await.unwrap().status().is_success());
        // 东城小学: sports space 7.0 m² (93% of 7.5) is within 85%; the rest meet.
        let dongcheng = schools.iter().find(|s| s["school"] == "东城小学").unwrap();
        assert_eq!(dongcheng["grades"]["sports_space"], "within");
        assert_eq!(r["parts"][0]["part"], "resources");
        assert!(["green", "amber", "red"].contains(&r["parts"][0]["light"].as_str().unwrap()));
        assert_eq!(r["guarantee"]["items"].as_array().unwrap().len(), 15);
        assert_eq!(r["quality"]["items"].as_array().unwrap().len(), 9);
        assert_eq!(r["recognition"]["light"], "red");
    }
}

backend_test! {
    async fn a_bad_schools_file_is_refused_with_every_line_and_changes_nothing(app) {
        let (organizer, county) = county_with_organiser(&app).await;
        upload(&app, &organizer, county, SCHOOLS, "text/csv").await;
        let bad = "school,kind,pupils,primary_pupils,junior_pupils,qualified_teachers,backbone_teachers,pe_arts_teachers,teaching_space_m2,sports_space_m2,equipment_value_yuan,multimedia_rooms\n甲,primary,100,,,1,1,1,1,1,1,1\n乙,college,100,,,1,1,1,1,1,1,1\n丙,nine_year,100,50,60,1,1,1,1,1,1,1\n甲,primary,-5,,,1,1,1,1,1,1,1\n";
        let (status, body) = upload(&app, &organizer, county, bad, "text/csv").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let lines: Vec<i64> = body["errors"].as_array().unwrap().iter().map(|e| e["line"].as_i64().unwrap()).collect();
        assert_eq!(lines, vec![3, 4, 5, 5]);
        let r: Value = organizer.get(app.url(&format!("/api/v1/counties/{county}/readiness"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(r["resources"]["schools"].as_array().unwrap().len(), 7, "the earlier upload stands");
        let (status, body) = upload(&app, &organizer, county, "school,kind\n", "text/csv").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("缺少列"));
    }
}

backend_test! {
    async fn schools_can_come_as_xlsx_and_the_view_exports_as_xlsx(app) {
        let (organizer, county) = county_with_organiser(&app).await;
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (r, line) in SCHOOLS.lines().enumerate() {
            for (c, cell) in line.split(',').enumerate() {
                match cell.parse::<f64>() {
                    Ok(n) if r > 0 => { sheet.write_number(r as u32, c as u16, n).unwrap(); }
                    _ => { sheet.write_string(r as u32, c as u16, cell).unwrap(); }
                }
            }
        }
        let bytes = book.save_to_buffer().unwrap();
        let (status, body) = upload(&app, &organizer, county, bytes, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["schools"], 6);
        let xlsx = organizer.get(app.url(&format!("/api/v1/counties/{county}/readiness.xlsx"))).send().await.unwrap().bytes().await.unwrap();
        use calamine::{Reader, Xlsx};
        let book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(xlsx.to_vec())).unwrap();
        for name in ["总览", "差距清单", "学校指标", "差异系数", "政府保障程度", "教育质量"] {
            assert!(book.sheet_names().iter().any(|n| n == name), "{name}");
        }
        let template = organizer.get(app.url(&format!("/api/v1/counties/{county}/readiness/template.csv"))).send().await.unwrap().text().await.unwrap();
        assert!(template.contains("高于规定学历教师数") && template.contains("九年一贯制") && !template.contains("nine_year"), "{template}");
        let (status, body) = upload(&app, &organizer, county, template.into_bytes(), "text/csv").await;
        assert_eq!(status, StatusCode::OK, "the template goes back in: {body}");
        assert_eq!(body["schools"], 3);
    }
}

backend_test! {
    async fn checklist_figures_are_judged_and_recorded_per_year(app) {
        let (organizer, county) = county_with_organiser(&app).await;
        let url = |code: &str| app.url(&format!("/api/v1/counties/{county}/readiness/checklist/{code}?year=2026"));
        let res = organizer.put(url("g05")).json(&json!({"figures": {"largest_primary_class": 46, "largest_junior_class": 48}, "note": "城关一小 3 个班超额"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = organizer.put(url("q01")).json(&json!({"figures": {"retention": 97.2}})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = organizer.put(url("g01")).json(&json!({"status": "met", "attachments": ["https://edu.example/plan.pdf"]})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        for (code, body, field) in [
            ("g05", json!({"figures": {"colour": 1}}), "figures"),
            ("g05", json!({"status": "perfect"}), "status"),
            ("g01", json!({"attachments": ["javascript:alert(1)"]}), "attachments"),
        ] {
            let res = organizer.put(url(code)).json(&body).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(res.json::<Value>().await.unwrap()["field"], field);
        }
        assert_eq!(organizer.put(url("g99")).json(&json!({})).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        let r: Value = organizer.get(app.url(&format!("/api/v1/counties/{county}/readiness?year=2026"))).send().await.unwrap().json().await.unwrap();
        let g05 = &r["guarantee"]["items"][4];
        assert_eq!(g05["status"], "not_met");
        assert_eq!(g05["computed"], true);
        assert_eq!(r["quality"]["items"][0]["status"], "met");
        assert_eq!(r["guarantee"]["items"][0]["status"], "met");
        assert_eq!(r["guarantee"]["light"], "red");
        assert!(r["shortfalls"].as_array().unwrap().iter().any(|s| s["what"].as_str().unwrap().contains("班级学生数")));
        // Another year starts blank.
        let other: Value = organizer.get(app.url(&format!("/api/v1/counties/{county}/readiness?year=2025"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(other["guarantee"]["items"][4]["status"], "unknown");
    }
}

backend_test! {
    async fn readiness_keeps_to_its_county_and_recognition_comes_from_the_survey(app) {
        let (organizer, county) = county_with_organiser(&app).await;
        let viewer = app.user("viewer", Some(county)).await;
        let stranger = app.user("organizer", Some(app.create_county("乙县").await)).await;
        assert_eq!(stranger.get(app.url(&format!("/api/v1/counties/{county}/readiness"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        assert_eq!(stranger.get(app.url(&format!("/admin/counties/{county}/readiness"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        let (status, _) = upload(&app, &stranger, county, SCHOOLS, "text/csv").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = upload(&app, &viewer, county, SCHOOLS, "text/csv").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(viewer.get(app.url(&format!("/api/v1/counties/{county}/readiness"))).send().await.unwrap().status(), StatusCode::OK);
        // An open survey with answers gives the recognition part.
        let s = app.create_survey(&organizer, json!({"name": "调查", "population": 100000})).await;
        organizer.post(app.url(&format!("/api/v1/surveys/{}/open", s["id"]))).json(&serde_json::json!({"confirm": true})).send().await.unwrap();
        let r: Value = viewer.get(app.url(&format!("/api/v1/counties/{county}/readiness"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(r["recognition"]["survey_id"], s["id"]);
        assert!(r["recognition"]["reason"].as_str().unwrap().contains("暂无答卷"));
        let page = viewer.get(app.url(&format!("/admin/counties/{county}/readiness"))).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("资源配置") && html.contains("政府保障程度") && html.contains("教育质量") && html.contains("社会认可度"));
    }
}

backend_test! {
    async fn the_readiness_page_takes_an_upload_and_a_checklist_entry(app) {
        let county = app.create_county("永嘉县").await;
        app.admin().await.post(app.url("/api/v1/users"))
            .json(&json!({"username": "zhang", "password": crate::helpers::PASSWORD, "role": "organizer", "county_id": county}))
            .send().await.unwrap();
        let client = crate::helpers::new_client();
        let html = client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
        let token = crate::helpers::csrf_token(&html);
        client.post(app.url("/login")).form(&[("csrf_token", token.as_str()), ("username", "zhang"), ("password", crate::helpers::PASSWORD)]).send().await.unwrap();
        let page = format!("/admin/counties/{county}/readiness");
        let home = client.get(app.url("/admin")).send().await.unwrap().text().await.unwrap();
        assert!(home.contains(&format!("href=\"{page}\"")), "the menu links to the county's readiness");
        let form = reqwest::multipart::Form::new()
            .text("csrf_token", token.clone())
            .part("file", reqwest::multipart::Part::bytes(SCHOOLS.as_bytes().to_vec()).file_name("schools.csv"));
        let res = client.post(app.url(&format!("{page}/schools"))).multipart(form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("已导入 6 所学校") && html.contains("差异系数"));
        let res = client
            .post(app.url(&format!("/admin/counties/{county}/readiness/checklist")))
            .form(&[("csrf_token", token.as_str()), ("code", "g14"), ("year", "2026"), ("status", "in_progress"), ("note", "已报县政府"), ("attachments", ""), ("fig_quota_allocation", "52")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let html = client.get(app.url(&format!("{page}?year=2026"))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("已报县政府"));
        let r: Value = client.get(app.url(&format!("/api/v1/counties/{county}/readiness?year=2026"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(r["guarantee"]["items"][13]["status"], "met");
    }
}

backend_test! {
    async fn a_workbook_that_claims_a_huge_sheet_is_refused_and_the_server_stays_up(app) {
        let (organizer, county) = county_with_organiser(&app).await;
        // 1.4 KB on disk: one cell at A1 and one at XFD1048576 (a sheet of 17 billion cells
        // to anything that allocates the whole range).
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "school").unwrap();
        sheet.write_string(1_048_575, 16_383, "x").unwrap();
        let bytes = book.save_to_buffer().unwrap();
        assert!(bytes.len() < 10_000, "{}", bytes.len());
        let (status, body) = upload(&app, &organizer, county, bytes, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains("第 1048576 行第 16384 列") && message.contains("上限"), "{message}");
        assert_eq!(body["field"], "file");
        let health = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        // A real file still goes in.
        let (status, body) = upload(&app, &organizer, county, SCHOOLS, "text/csv").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}
