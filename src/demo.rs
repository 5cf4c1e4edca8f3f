//! `renke demo`: a realistic demo county — areas, schools, rosters, a drawn sample and a few
//! hundred simulated answers spread over the answering window — so that every page has
//! something to show. Everything goes through the same use cases as the pages do.
use crate::app::answering::{self, FilledForm, IssuedForm, Outcome, Target};
use crate::app::draws::SeedChoice;
use crate::app::sampling::{InvitationUse, SchoolEntry};
use crate::app::surveys::{Opening, Transition};
use crate::app::{self, Actor, Context};
use crate::config::Settings;
use crate::domain::draw::{Seed, SeedSource};
use crate::domain::group::RespondentGroup;
use crate::domain::quota::{ParentShare, PlanParameters, SamplingRate, Target as RateTarget};
use crate::domain::strata::{Area, AreaClass};
use crate::domain::survey::{SurveySettings, Window};
use crate::domain::tally::Estimator;
use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

pub const COUNTY: &str = "示范县";
pub const ORGANIZER: (&str, &str) = ("demo-organizer", "demo-password-1");
pub const VIEWER: (&str, &str) = ("demo-viewer", "demo-password-1");
pub const INTERVIEWER: (&str, &str) = ("demo-interviewer", "demo-password-1");

const AREAS: [(&str, AreaClass, i64); 4] = [
    ("城关街道", AreaClass::Urban, 120_000),
    ("东城镇", AreaClass::Town, 80_000),
    ("西山乡", AreaClass::Rural, 60_000),
    ("南溪乡", AreaClass::Rural, 40_000),
];

const DEMO: Actor<'static> = Actor::Operator("demo");

fn fail(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A use case's failure, with its cause.
fn failed(e: crate::error::AppError) -> String {
    e.with_cause()
}

pub async fn run(settings: &Settings) -> Result<(), String> {
    let ctx = Context::open(settings).await.map_err(failed)?;
    if let Some(admin) = app::accounts::ensure_admin(&ctx, settings)
        .await
        .map_err(failed)?
        && let Some(password) = admin.generated_password
    {
        println!(
            "Created platform admin `{}` with password: {password}\n(shown only this once)",
            admin.username
        );
    }
    if app::accounts::county_by_id_or_name(&ctx, COUNTY)
        .await
        .map_err(failed)?
        .is_some()
    {
        println!("The demo county {COUNTY} is there already.");
    } else {
        let survey = fill(&ctx).await?;
        println!("Demo county {COUNTY} created with survey {survey}.");
    }
    println!(
        "Start the server (`renke serve`, or `cargo run --release`) and log in at /login as\n  organiser:   {} / {}\n  viewer:      {} / {}\n  interviewer: {} / {}\nor as the platform admin.",
        ORGANIZER.0, ORGANIZER.1, VIEWER.0, VIEWER.1, INTERVIEWER.0, INTERVIEWER.1
    );
    Ok(())
}

/// One simulated respondent: the link they answer, when, how long they took, what they chose.
struct Answer {
    token: String,
    at: DateTime<Utc>,
    seconds: i64,
    comment: bool,
    rolls: Vec<f64>,
    straight: bool,
}

/// Creates the county, its users and survey, rosters, the draw and the answers; returns the
/// survey's id.
pub async fn fill(ctx: &Context) -> Result<i32, String> {
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let county = app::accounts::create_county(ctx, &DEMO, COUNTY)
        .await
        .map_err(failed)?;
    for ((name, pw), role) in [
        (ORGANIZER, "organizer"),
        (VIEWER, "viewer"),
        (INTERVIEWER, "interviewer"),
    ] {
        app::accounts::create_user(
            ctx,
            &DEMO,
            app::accounts::NewUserInput {
                username: name,
                password: pw,
                role,
                county_id: Some(county.id),
                school: None,
            },
        )
        .await
        .map_err(failed)?;
    }
    let now = Utc::now();
    let plan = PlanParameters::new(300_000, SamplingRate::DEFAULT, ParentShare::DEFAULT, 0)
        .map_err(fail)?;
    let settings = SurveySettings::new(
        "2026 年示范县义务教育优质均衡发展社会认可度调查",
        plan,
        RateTarget::DEFAULT,
        Window::new(Some(now - Duration::days(4)), Some(now + Duration::days(1))).map_err(fail)?,
        Estimator::Pooled,
    )
    .map_err(fail)?;
    let survey = app::surveys::create(ctx, &DEMO, &settings, Some(county.id))
        .await
        .map_err(failed)?;

    let areas: Vec<Area> = AREAS
        .iter()
        .map(|(n, c, p)| Area::new(n, *c, *p))
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    app::sampling::set_areas(ctx, &DEMO, survey.id, &areas)
        .await
        .map_err(failed)?;
    let mut schools = Vec::new();
    for (area, ..) in AREAS {
        let short = area.trim_end_matches("街道").trim_end_matches(['镇', '乡']);
        schools.push((format!("{short}小学"), area));
        schools.push((format!("{short}中学"), area));
    }
    let entries: Vec<SchoolEntry> = schools
        .iter()
        .map(|(name, area)| SchoolEntry { name, area })
        .collect();
    let geo = app::sampling::set_schools(ctx, &DEMO, survey.id, &entries)
        .await
        .map_err(failed)?;

    // Rosters: principals are few, so the plan shows a cap.
    for (number, (group, n)) in [
        (RespondentGroup::Parent, 1500),
        (RespondentGroup::Student, 600),
        (RespondentGroup::Teacher, 300),
        (RespondentGroup::Principal, 24),
        (RespondentGroup::NpcDeputy, 80),
        (RespondentGroup::CppccMember, 80),
        (RespondentGroup::Public, 300),
    ]
    .into_iter()
    .enumerate()
    {
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
                3 + number,
                i
            ));
        }
        let upload = app::sheets::Upload::from_bytes(text.as_bytes()).map_err(failed)?;
        app::sampling::upload_roster(ctx, &DEMO, survey.id, group, upload)
            .await
            .map_err(failed)?;
    }
    let seed = Seed {
        text: "20261128".into(),
        source: SeedSource::Entered,
        note: Some("演示数据的固定种子".into()),
    };
    app::draws::draw(ctx, &DEMO, survey.id, SeedChoice::Given(seed))
        .await
        .map_err(failed)?;
    app::surveys::transition(
        ctx,
        &DEMO,
        survey.id,
        Transition::Open(Opening::confirmed()),
    )
    .await
    .map_err(failed)?;

    // About three in four invited people answer, over the last four days, through their links.
    let (_, invitations) = app::sampling::invitations(ctx, &DEMO, survey.id, InvitationUse::Export)
        .await
        .map_err(failed)?;
    let mut answers = Vec::new();
    for line in &invitations {
        if !rng.random_bool(0.75) {
            continue;
        }
        let straight = rng.random_bool(0.02);
        // Enough rolls for the longest booklet.
        let rolls = (0..20).map(|_| rng.random::<f64>()).collect();
        let seconds = if rng.random_bool(0.03) {
            12
        } else {
            rng.random_range(70..400)
        };
        let at = now - Duration::minutes(rng.random_range(10..4 * 24 * 60));
        answers.push(Answer {
            token: line.path.trim_start_matches("/s/").to_owned(),
            at,
            seconds,
            comment: rng.random_bool(0.1),
            rolls,
            straight,
        });
    }
    for chunk in answers.chunks(64) {
        let results = futures_util::future::join_all(chunk.iter().map(|a| answer(ctx, a))).await;
        for r in results {
            r?;
        }
    }
    fieldwork(ctx, survey.id).await?;
    Ok(survey.id)
}

/// The telephone round under way: the interviewer calls the deputies and members, three of
/// whom have been called (not reached, a call-back, declined); paper booklets printed for the
/// members who have not answered.
async fn fieldwork(ctx: &Context, survey: i32) -> Result<(), String> {
    let groups = [RespondentGroup::NpcDeputy, RespondentGroup::CppccMember];
    app::fieldwork::assign(ctx, &DEMO, survey, INTERVIEWER.0, &groups)
        .await
        .map_err(failed)?;
    let (_, lines) = app::fieldwork::call_list(ctx, &DEMO, survey)
        .await
        .map_err(failed)?;
    let later = Utc::now() + Duration::hours(3);
    let outcomes = [
        ("no_answer", None, None),
        ("callback", Some(later), Some("白天开会，晚上再打")),
        ("refused", None, None),
    ];
    let mut outcomes = outcomes.into_iter().peekable();
    for line in lines.iter().filter(|l| !l.answered) {
        let Some(&(outcome, at, note)) = outcomes.peek() else {
            break;
        };
        // An answer still waiting for its cell to reach five shows as not answered: such a
        // person is not called.
        match app::fieldwork::record_call(ctx, &DEMO, survey, line.invitation_id, outcome, at, note)
            .await
        {
            Ok(()) => {
                outcomes.next();
            }
            Err(crate::error::AppError::Conflict(_)) => {}
            Err(e) => return Err(failed(e)),
        }
    }
    // Paper for the members still to answer (their own booklets, a hand-out list for the bureau).
    app::fieldwork::create_batch(
        ctx,
        &DEMO,
        survey,
        app::fieldwork::PrintOrder {
            group: RespondentGroup::CppccMember,
            area: None,
            school: None,
            copies: 0,
            drawn: true,
        },
    )
    .await
    .map_err(failed)?;
    Ok(())
}

/// Answers one invitation as its respondent would. Most are satisfied; homework burden and
/// exams less so; each group a little apart.
async fn answer(ctx: &Context, a: &Answer) -> Result<(), String> {
    let Target::Ready(answering) = answering::invitation(ctx, &a.token, false)
        .await
        .map_err(failed)?
    else {
        return Err("a demo invitation does not lead to its questionnaire".into());
    };
    let mood = match answering.origin.group {
        RespondentGroup::Parent => 0.0,
        RespondentGroup::Student => 0.03,
        RespondentGroup::Teacher => -0.05,
        RespondentGroup::Public => -0.08,
        _ => 0.04,
    };
    let def = &answering.questionnaire.definition;
    let mut fields: Vec<(String, String)> = def
        .items
        .iter()
        .zip(&a.rolls)
        .map(|(item, &roll)| {
            let weak = matches!(item.dimension.as_str(), "burden" | "exam_reform");
            let p = 0.86 + mood - if weak { 0.14 } else { 0.0 };
            let code = if a.straight || roll < p * 0.62 {
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
    if a.comment {
        fields.push((
            "comment".into(),
            "希望进一步减轻学生作业负担，多开展体育和艺术活动。".into(),
        ));
    }
    let issued = IssuedForm {
        nonce: app::accounts::random_token(),
        started: a.at - Duration::seconds(a.seconds),
    };
    let form = FilledForm {
        issued: &issued,
        fields: &fields,
        area: None,
        grade: None,
        from: None,
    };
    match answering::submit(ctx, &answering, form, a.at)
        .await
        .map_err(failed)?
    {
        Outcome::Stored => Ok(()),
        _ => Err("a demo answer was not stored".into()),
    }
}
