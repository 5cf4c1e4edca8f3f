//! `renke demo`: a realistic demo county — areas, schools, rosters, a drawn sample and a few
//! hundred simulated answers spread over the answering window — so that every page has
//! something to show.
use crate::config::Settings;
use crate::domain::account::{CountyName, Role, Username};
use crate::domain::frame;
use crate::domain::group::RespondentGroup;
use crate::domain::quota::{ParentShare, PlanParameters, SamplingRate, Target};
use crate::domain::strata::{Area, AreaClass};
use crate::domain::survey::{SurveySettings, SurveyStatus, Window};
use crate::domain::tally::{Aggregates, Estimator};
use crate::store::responses::NewResponse;
use crate::web::questionnaires::QuestionnaireCache;
use crate::{cli, password, store};
use chrono::{Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sea_orm::DatabaseConnection;

pub const COUNTY: &str = "示范县";
pub const ORGANIZER: (&str, &str) = ("demo-organizer", "demo-password-1");
pub const VIEWER: (&str, &str) = ("demo-viewer", "demo-password-1");

const AREAS: [(&str, AreaClass, i64); 4] = [
    ("城关街道", AreaClass::Urban, 120_000),
    ("东城镇", AreaClass::Town, 80_000),
    ("西山乡", AreaClass::Rural, 60_000),
    ("南溪乡", AreaClass::Rural, 40_000),
];

fn fail(e: impl std::fmt::Display) -> String {
    e.to_string()
}

pub async fn run(settings: &Settings) -> Result<(), String> {
    let db = store::connect(settings).await.map_err(fail)?;
    store::migrate(&db).await.map_err(fail)?;
    store::questionnaires::ensure_built_in(&db)
        .await
        .map_err(fail)?;
    cli::ensure_admin(&db, settings).await.map_err(fail)?;
    if store::counties::find_by_id_or_name(&db, COUNTY)
        .await
        .map_err(fail)?
        .is_some()
    {
        println!("The demo county {COUNTY} is there already.");
    } else {
        let survey = fill(&db).await?;
        println!("Demo county {COUNTY} created with survey {survey}.");
    }
    println!(
        "Start the server (`renke serve`, or `cargo run --release`) and log in at /login as\n  organiser: {} / {}\n  viewer:    {} / {}\nor as the platform admin.",
        ORGANIZER.0, ORGANIZER.1, VIEWER.0, VIEWER.1
    );
    Ok(())
}

/// Creates the county, its users and survey, rosters, the draw and the answers; returns the
/// survey's id.
pub async fn fill(db: &DatabaseConnection) -> Result<i32, String> {
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let county = store::counties::create(db, &CountyName::parse(COUNTY).map_err(fail)?)
        .await
        .map_err(fail)?;
    for ((name, pw), role) in [(ORGANIZER, Role::Organizer), (VIEWER, Role::Viewer)] {
        store::users::create(
            db,
            store::users::NewUser {
                username: &Username::parse(name).map_err(fail)?,
                password_hash: password::hash(pw).map_err(fail)?,
                role,
                county_id: Some(county.id),
            },
        )
        .await
        .map_err(fail)?;
    }
    let now = Utc::now();
    let plan = PlanParameters::new(300_000, SamplingRate::DEFAULT, ParentShare::DEFAULT, 0)
        .map_err(fail)?;
    let settings = SurveySettings::new(
        "2026 年示范县义务教育优质均衡发展社会认可度调查",
        plan,
        Target::DEFAULT,
        Window::new(Some(now - Duration::days(4)), Some(now + Duration::days(1))).map_err(fail)?,
        Estimator::Pooled,
    )
    .map_err(fail)?;
    let survey = store::surveys::create(db, county.id, &settings)
        .await
        .map_err(fail)?;

    let areas: Vec<Area> = AREAS
        .iter()
        .map(|(n, c, p)| Area::new(n, *c, *p))
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    store::geography::replace_areas(db, survey.id, &areas)
        .await
        .map_err(fail)?;
    let geo = store::geography::load(db, survey.id).await.map_err(fail)?;
    let mut schools = Vec::new();
    for (i, (area, ..)) in AREAS.iter().enumerate() {
        let short = area.trim_end_matches("街道").trim_end_matches(['镇', '乡']);
        schools.push((format!("{short}小学"), geo.area_ids[i]));
        schools.push((format!("{short}中学"), geo.area_ids[i]));
    }
    store::geography::replace_schools(db, survey.id, &schools)
        .await
        .map_err(fail)?;
    let geo = store::geography::load(db, survey.id).await.map_err(fail)?;

    // Rosters: principals are few, so the plan shows a cap.
    for (group, n) in [
        (RespondentGroup::Parent, 1500),
        (RespondentGroup::Student, 600),
        (RespondentGroup::Teacher, 300),
        (RespondentGroup::Principal, 24),
        (RespondentGroup::NpcDeputy, 80),
        (RespondentGroup::CppccMember, 80),
        (RespondentGroup::Public, 300),
    ] {
        let mut text = String::from("编号,乡镇,学校,年级,姓名,电话\n");
        for i in 0..n {
            let s = rng.random_range(0..geo.schools.len());
            let school = &geo.schools[s];
            let grade = match group {
                RespondentGroup::Student => rng.random_range(3..=9),
                _ => rng.random_range(1..=9),
            };
            text.push_str(&format!(
                "{}{i:05},{},{},{grade},示范{}{i},1{}{:09}\n",
                group.code(),
                geo.areas[school.area].name,
                school.name,
                group.label(),
                3 + group.index(),
                i
            ));
        }
        let rows = frame::parse_roster(group, &text, &geo.areas, &geo.schools)
            .map_err(|e| format!("demo roster: {:?}", e.errors.first()))?;
        store::frames::replace(db, survey.id, group, &rows, &geo)
            .await
            .map_err(fail)?;
    }
    crate::web::sampling::draw_sample(db, &survey, None, "demo", Some(20_261_128))
        .await
        .map_err(fail)?;
    store::questionnaires::pin(db, survey.id)
        .await
        .map_err(fail)?;
    store::surveys::change_status(db, survey.id, SurveyStatus::Draft, SurveyStatus::Open)
        .await
        .map_err(fail)?;

    // About three in four invited people answer, over the last four days.
    let cache = QuestionnaireCache::default();
    let in_use = store::questionnaires::in_use(db, survey.id)
        .await
        .map_err(fail)?;
    let invitations = store::invitations::list_live(db, survey.id)
        .await
        .map_err(fail)?;
    for inv in invitations {
        if !rng.random_bool(0.75) {
            continue;
        }
        let group: RespondentGroup = inv.grp.parse().map_err(fail)?;
        let qid = in_use
            .iter()
            .find(|(b, _)| *b == group.booklet())
            .map(|(_, id)| *id)
            .unwrap_or(0);
        let q = cache.get(db, qid).await.map_err(fail)?;
        let def = &q.definition;
        // Most are satisfied; homework burden and exams less so; each group a little apart.
        let mood = match group {
            RespondentGroup::Parent => 0.0,
            RespondentGroup::Student => 0.03,
            RespondentGroup::Teacher => -0.05,
            RespondentGroup::Public => -0.08,
            _ => 0.04,
        };
        let straight = rng.random_bool(0.02);
        let answers: Vec<(String, String)> = def
            .items
            .iter()
            .map(|item| {
                let weak = matches!(item.dimension.as_str(), "burden" | "exam_reform");
                let p = 0.86 + mood - if weak { 0.14 } else { 0.0 };
                let roll: f64 = rng.random();
                let code = if straight || roll < p * 0.62 {
                    "A"
                } else if roll < p {
                    "B"
                } else if roll < p + (1.0 - p) * 0.55 {
                    "C"
                } else if roll < p + (1.0 - p) * 0.85 {
                    "D"
                } else {
                    "E"
                };
                (item.id.clone(), code.to_owned())
            })
            .collect();
        let seconds: u32 = if rng.random_bool(0.03) {
            12
        } else {
            rng.random_range(70..400)
        };
        let hour =
            store::responses::hour_of(now - Duration::minutes(rng.random_range(10..4 * 24 * 60)));
        let area = geo.area_index(inv.area_id);
        let new = NewResponse {
            survey_id: survey.id,
            questionnaire_id: q.id,
            booklet: store::questionnaires::code_of(group.booklet()).to_owned(),
            group: inv.grp.clone(),
            area_id: Some(inv.area_id),
            area_class: area.map(|i| geo.areas[i].class.code().to_owned()),
            school_id: inv.school_id,
            band: inv.band,
            source: "invitation",
            completion_seconds: seconds,
            too_fast: def.too_fast(u64::from(seconds)),
            straight_lined: straight,
            answers,
            comment: rng
                .random_bool(0.1)
                .then(|| "希望进一步减轻学生作业负担，多开展体育和艺术活动。".to_owned()),
            submitted_hour: hour,
        };
        let mut tally = Aggregates::default();
        tally.add(&new.facts(), def);
        let txn = store::begin_write(db).await.map_err(fail)?;
        store::responses::mark_answered(&txn, inv.id)
            .await
            .map_err(fail)?;
        store::responses::record(&txn, new, &tally)
            .await
            .map_err(fail)?;
        txn.commit().await.map_err(fail)?;
    }
    Ok(survey.id)
}
