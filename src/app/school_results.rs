//! A school's own results, for its principal's account (the `school` role) and for the
//! bureau: after the survey has ended, from the answers counted under the school, with the
//! same disclosure control as every county figure (k = 5 and complementary suppression, in
//! `domain::breakdown`).
use super::surveys::settle_if_ended;
use super::tally::questionnaires_in_use;
use super::{Actor, Context};
use crate::domain::breakdown::{TallyInputs, TallyView};
use crate::domain::group::Booklet;
use crate::domain::questionnaire::Questionnaire;
use crate::domain::response::Release;
use crate::domain::survey::{Phase, Survey};
use crate::domain::tally::Aggregates;
use crate::error::AppError;
use crate::store;
use chrono::Utc;

/// A school's results in one survey.
pub struct SchoolResults {
    pub survey: Survey,
    pub school: String,
    pub tally: TallyView,
}

/// The results of `school` (a school user's own, whatever it asks) in a survey of the actor's
/// county, once the survey takes no more answers.
pub async fn school_results(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    school: Option<&str>,
) -> Result<SchoolResults, AppError> {
    let db = ctx.db.pool();
    let survey = store::surveys::find(db, id, actor.county_scope())
        .await?
        .ok_or(AppError::NotFound)?;
    let name = match actor.school() {
        Some(own) => own.to_owned(),
        None => {
            actor.require_county_reader()?;
            school
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| AppError::invalid("school", "请选择学校"))?
                .to_owned()
        }
    };
    let now = Utc::now();
    if !matches!(
        Phase::of(survey.status, survey.settings.window, now),
        Phase::Ended | Phase::Closed
    ) {
        return Err(AppError::Conflict(
            "调查结束后才能查看本校结果（保护作答人的匿名）".into(),
        ));
    }
    settle_if_ended(ctx, &survey).await?;
    let plan = super::sampling::load_plan(db, &survey).await?;
    let (school_id, _) = plan
        .geo
        .school_named(&name)
        .ok_or_else(|| AppError::invalid("school", format!("本次调查没有“{name}”这所学校")))?;
    let questionnaires = questionnaires_in_use(ctx, survey.id).await?;
    let mut aggregates = Aggregates::default();
    let mut pages = store::responses::Pages::new(survey.id);
    while let Some(page) = pages.next(db).await? {
        for r in page {
            if r.release != Release::Counted || r.answered.school != Some(school_id) {
                continue;
            }
            let q = ctx.questionnaire(r.answered.questionnaire_id).await?;
            aggregates.add(&r.facts(), &q.definition);
        }
    }
    let in_use: Vec<(Booklet, &Questionnaire)> = questionnaires
        .iter()
        .map(|(b, q)| (*b, q.as_ref()))
        .collect();
    let tally = TallyView::build(&TallyInputs {
        survey: &survey,
        plan: &plan,
        aggregates: &aggregates,
        questionnaires: &in_use,
        invitations: &[],
        waiting: 0,
        withheld: 0,
        exclude_flagged: false,
        now,
    });
    Ok(SchoolResults {
        survey,
        school: name,
        tally,
    })
}
