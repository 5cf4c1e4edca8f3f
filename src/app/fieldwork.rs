//! Telephone interviews and paper booklets (2.9): who interviews which groups, the call list
//! and its outcomes, the interview itself (stored as the invitation's answer, by telephone),
//! paper print runs and their double entry. An interviewer sees the people they are to call
//! and the questionnaire, never anyone's answers or the results.
use super::answering::{self, FilledForm, IssuedForm, Outcome, Refusal, Target};
use super::{Actor, Context, audit};
use crate::domain::account::Role;
use crate::domain::audit::AuditAction;
use crate::domain::fieldwork::{
    BookletStatus, CallOutcome, CallPriority, CallRecord, CallState, MAX_BATCH_COPIES, Mismatch,
    PaperEntry, Script, Serial, call_states,
};
use crate::domain::geography::Geography;
use crate::domain::group::RespondentGroup;
use crate::domain::invitation::{InvitationStatus, masked_name};
use crate::domain::response::Source;
use crate::domain::survey::{Survey, SurveyStatus};
use crate::error::AppError;
use crate::store::{self, fieldwork::Batch};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// What the actor may do in a survey's fieldwork: everything (an organiser), or interview and
/// enter paper for these groups (an interviewer assigned them).
pub struct Fieldwork {
    pub survey: Survey,
    /// `None`: every group (an organiser).
    pub groups: Option<Vec<RespondentGroup>>,
}

impl Fieldwork {
    fn covers(&self, group: RespondentGroup) -> bool {
        self.groups.as_ref().is_none_or(|g| g.contains(&group))
    }
}

/// A survey's fieldwork as the actor may reach it: an organiser of its county, or an
/// interviewer of its county assigned at least one group (404 for another county, 403 for
/// anyone else).
pub async fn fieldwork(ctx: &Context, actor: &Actor<'_>, id: i32) -> Result<Fieldwork, AppError> {
    let db = ctx.db.pool();
    let survey = store::surveys::find(db, id, actor.county_scope())
        .await?
        .ok_or(AppError::NotFound)?;
    match actor {
        Actor::User(u) if u.role == Role::Interviewer => {
            let groups = store::fieldwork::assigned_groups(db, id, u.id).await?;
            if groups.is_empty() {
                return Err(AppError::forbidden());
            }
            Ok(Fieldwork {
                survey,
                groups: Some(groups),
            })
        }
        _ => {
            actor.require_organizer()?;
            Ok(Fieldwork {
                survey,
                groups: None,
            })
        }
    }
}

/// The id of an area of the survey named as the survey lists it (an entry given by name).
pub async fn area_named(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    name: &str,
) -> Result<i32, AppError> {
    fieldwork(ctx, actor, id).await?;
    store::geography::load(ctx.db.pool(), id)
        .await?
        .area_named(name.trim())
        .ok_or_else(|| AppError::invalid("area", "本调查没有这个乡镇（街道）"))
}

/// The survey's areas and schools, for the print-run form (organisers).
pub async fn geography(ctx: &Context, actor: &Actor<'_>, id: i32) -> Result<Geography, AppError> {
    super::surveys::organized(ctx, actor, id).await?;
    Ok(store::geography::load(ctx.db.pool(), id).await?)
}

/// An interviewer of the county and the groups they are assigned in a survey.
#[derive(Debug, Clone, Serialize)]
pub struct InterviewerLine {
    pub user_id: i32,
    pub username: String,
    pub active: bool,
    pub groups: Vec<RespondentGroup>,
}

/// The county's interviewers with their groups in this survey (organisers).
pub async fn interviewers(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
) -> Result<Vec<InterviewerLine>, AppError> {
    let survey = super::surveys::organized(ctx, actor, id).await?;
    let db = ctx.db.pool();
    let assigned = store::fieldwork::assignments(db, id).await?;
    Ok(store::users::list(db, Some(survey.county_id))
        .await?
        .into_iter()
        .filter(|u| u.role == Role::Interviewer)
        .map(|u| InterviewerLine {
            groups: assigned
                .iter()
                .filter(|(uid, _)| *uid == u.id)
                .map(|(_, g)| *g)
                .collect(),
            user_id: u.id,
            username: u.username,
            active: u.active,
        })
        .collect())
}

/// Assigns an interviewer of the survey's county the groups they call (replacing theirs; none
/// takes the survey away from them).
pub async fn assign(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    username: &str,
    groups: &[RespondentGroup],
) -> Result<(), AppError> {
    let survey = super::surveys::organized(ctx, actor, id).await?;
    if survey.status == SurveyStatus::Closed {
        return Err(AppError::Conflict("调查已结束，不能再分配电话访问".into()));
    }
    let db = ctx.db.pool();
    let user = store::users::list(db, Some(survey.county_id))
        .await?
        .into_iter()
        .find(|u| u.username == username.trim())
        .ok_or_else(|| AppError::invalid("username", "本县（区）没有这个用户"))?;
    if user.role != Role::Interviewer {
        return Err(AppError::invalid(
            "username",
            format!("“{}”不是访问员：只能给访问员分配电话访问", user.username),
        ));
    }
    let mut groups = groups.to_vec();
    groups.sort();
    groups.dedup();
    let txn = store::begin_write(&ctx.db).await?;
    store::fieldwork::set_assignment(&txn, id, user.id, &groups).await?;
    txn.commit().await?;
    let list: Vec<&str> = groups.iter().map(|g| g.code()).collect();
    audit(
        ctx,
        actor,
        AuditAction::InterviewersAssigned,
        &format!("survey:{id}"),
        &format!("{} {}", user.username, list.join(",")),
    )
    .await;
    Ok(())
}

/// One drawn person on the call list.
#[derive(Debug, Clone, Serialize)]
pub struct CallLine {
    pub invitation_id: i32,
    pub group: RespondentGroup,
    pub group_label: &'static str,
    pub area: String,
    pub school: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub answered: bool,
    pub state: CallState,
    pub last_label: Option<&'static str>,
    pub note: Option<String>,
    pub priority: CallPriority,
    pub priority_label: &'static str,
}

/// The call list: the drawn people of the actor's groups whose invitations still work, what
/// to call now first. Contact data is gone once the rosters are purged.
pub async fn call_list(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
) -> Result<(Fieldwork, Vec<CallLine>), AppError> {
    let work = fieldwork(ctx, actor, id).await?;
    // Names and phones are for calling: an interviewer has none once the survey has ended.
    if work.groups.is_some() && work.survey.status == SurveyStatus::Closed {
        return Err(AppError::Conflict(
            "调查已结束：电话访问名单不再显示".into(),
        ));
    }
    let db = ctx.db.pool();
    let geo = store::geography::load(db, id).await?;
    let states = call_states(&store::fieldwork::calls(db, id).await?);
    let now = Utc::now();
    let answered_ids = store::invitations::answered_ids(db, id).await?;
    let mut lines: Vec<CallLine> = store::invitations::list_live(db, id, None)
        .await?
        .into_iter()
        .filter(|a| work.covers(a.invitation.group))
        .map(|a| {
            let inv = &a.invitation;
            let (state, note) = states.get(&inv.id).cloned().unwrap_or_default();
            let answered = answered_ids.contains(&inv.id);
            let priority = state.priority(answered, now);
            CallLine {
                invitation_id: inv.id,
                group: inv.group,
                group_label: inv.group.label(),
                area: geo.area_name(inv.area_id).to_owned(),
                school: geo.school_name(inv.school_id).to_owned(),
                name: a.name,
                phone: a.phone,
                answered,
                last_label: state.last.map(CallOutcome::label),
                note,
                state,
                priority,
                priority_label: priority.label(),
            }
        })
        .collect();
    lines.sort_by_key(|l| {
        (
            l.priority,
            l.state.callback_at,
            l.state.attempts,
            l.invitation_id,
        )
    });
    Ok((work, lines))
}

/// An invitation the actor may call: of the survey, of one of their groups.
async fn callable(
    ctx: &Context,
    work: &Fieldwork,
    invitation_id: i32,
) -> Result<crate::domain::invitation::Invitation, AppError> {
    let inv = store::invitations::find(ctx.db.pool(), i64::from(invitation_id))
        .await?
        .filter(|i| i.survey_id == work.survey.id && work.covers(i.group))
        .ok_or(AppError::NotFound)?;
    Ok(inv)
}

/// Records a call's outcome (未接通, 拒访, 约定回访 with its time). A person who has answered
/// (by telephone or by their link) is not called again.
pub async fn record_call(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    invitation_id: i32,
    outcome: &str,
    callback_at: Option<DateTime<Utc>>,
    note: Option<&str>,
) -> Result<(), AppError> {
    let work = fieldwork(ctx, actor, id).await?;
    let inv = callable(ctx, &work, invitation_id).await?;
    let outcome = CallOutcome::parse(outcome)
        .ok_or_else(|| AppError::invalid("outcome", "请选择通话结果"))?;
    let now = Utc::now();
    let record = CallRecord::new(outcome, callback_at, note, now)
        .map_err(|(field, message)| AppError::invalid(field, message))?;
    let ends = work.survey.settings.window.closes_at;
    if let (Some(at), Some(end)) = (record.callback_at, ends)
        && at >= end
    {
        return Err(AppError::invalid(
            "callback_at",
            "回访时间晚于调查结束时间：请约在结束之前",
        ));
    }
    if work.survey.status != SurveyStatus::Open {
        return Err(AppError::Conflict("调查未在进行中，不能登记通话".into()));
    }
    match inv.status {
        InvitationStatus::Answered => {
            return Err(AppError::Conflict("此人已经作答，不必再打".into()));
        }
        InvitationStatus::Revoked => {
            return Err(AppError::Conflict("此邀请已作废，不必再打".into()));
        }
        InvitationStatus::Pending => {}
    }
    let user = actor.user_id().unwrap_or_default();
    store::fieldwork::record_call(ctx.db.pool(), id, inv.id, user, &record, now).await?;
    audit(
        ctx,
        actor,
        AuditAction::CallRecorded,
        &format!("invitation:{}", inv.id),
        outcome.code(),
    )
    .await;
    Ok(())
}

/// An interview ready to be read and entered: the person called, the script and the form.
pub struct Interview {
    pub answering: answering::Answering,
    pub script: Script,
    pub line: CallLine,
}

/// Why an answer on someone's behalf (an interview, a drawn person's booklet) cannot be
/// stored, in the operator's words.
pub fn refusal_message(r: Refusal) -> &'static str {
    match r {
        Refusal::Answered => "此人已经作答（通过电话或自己的链接），一人只答一次",
        Refusal::Replaced | Refusal::InvalidLink => "此邀请已作废（可能已由替补代替）",
        Refusal::NotYetOpen => "调查还没有开始",
        Refusal::Closed => "调查已经结束",
        _ => "现在不能录入这份答卷",
    }
}

/// The interview of one drawn person: their line on the call list, the questionnaire to read.
pub async fn interview(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    invitation_id: i32,
) -> Result<Interview, AppError> {
    let (_, lines) = call_list(ctx, actor, id).await?;
    let line = lines
        .into_iter()
        .find(|l| l.invitation_id == invitation_id)
        .ok_or(AppError::NotFound)?;
    match answering::on_behalf(ctx, invitation_id, Source::Phone).await? {
        Target::Ready(a) => Ok(Interview {
            script: Script::of(&a.questionnaire.definition, &a.live.county),
            answering: a,
            line,
        }),
        Target::Refused(r) => Err(AppError::Conflict(refusal_message(r).into())),
    }
}

/// Stores an interview's answers as the invitation's, by telephone, and records the call as
/// 完成. The invitation's own link stops working; had the person answered by their link
/// first, nothing is stored and the interviewer is told.
pub async fn submit_interview(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    invitation_id: i32,
    issued: &IssuedForm,
    fields: &[(String, String)],
) -> Result<Outcome, AppError> {
    let work = fieldwork(ctx, actor, id).await?;
    let inv = callable(ctx, &work, invitation_id).await?;
    let a = match answering::on_behalf(ctx, inv.id, Source::Phone).await? {
        Target::Ready(a) => a,
        Target::Refused(r) => return Ok(Outcome::Refused(r)),
    };
    let now = Utc::now();
    let outcome = answering::submit(
        ctx,
        &a,
        FilledForm {
            issued,
            fields,
            area: None,
            grade: None,
            from: None,
        },
        now,
    )
    .await?;
    if matches!(outcome, Outcome::Stored) {
        let user = actor.user_id().unwrap_or_default();
        store::fieldwork::record_call(
            ctx.db.pool(),
            id,
            inv.id,
            user,
            &CallRecord::completed(),
            now,
        )
        .await?;
        audit(
            ctx,
            actor,
            AuditAction::PhoneInterviewed,
            &format!("invitation:{}", inv.id),
            "",
        )
        .await;
    }
    Ok(outcome)
}

/// The telephone fieldwork of one group, for the response-rate report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CallReportLine {
    pub group: String,
    pub label: String,
    /// Drawn people whose invitations still work.
    pub drawn: u64,
    pub called: u64,
    pub attempts: u64,
    pub no_answer: u64,
    pub refused: u64,
    pub callback: u64,
    pub completed: u64,
    /// Answered by their own link (or not yet shown: see `invitations::shown`).
    pub answered_online: u64,
}

/// Calls and their outcomes per group (the last outcome of each person called): organisers.
pub async fn call_report(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
) -> Result<Vec<CallReportLine>, AppError> {
    super::surveys::organized(ctx, actor, id).await?;
    let db = ctx.db.pool();
    let states = call_states(&store::fieldwork::calls(db, id).await?);
    let mut by: BTreeMap<RespondentGroup, CallReportLine> = BTreeMap::new();
    for a in store::invitations::list_live(db, id, None).await? {
        let inv = &a.invitation;
        let line = by.entry(inv.group).or_insert_with(|| CallReportLine {
            group: inv.group.code().into(),
            label: inv.group.label().into(),
            ..Default::default()
        });
        line.drawn += 1;
        let state = states.get(&inv.id).map(|(s, _)| s);
        if let Some(s) = state {
            line.called += 1;
            line.attempts += u64::from(s.attempts);
            match s.last {
                Some(CallOutcome::NoAnswer) => line.no_answer += 1,
                Some(CallOutcome::Refused) => line.refused += 1,
                Some(CallOutcome::Callback) => line.callback += 1,
                Some(CallOutcome::Completed) => line.completed += 1,
                None => {}
            }
        }
        if inv.status == InvitationStatus::Answered
            && !state.is_some_and(|s| s.last == Some(CallOutcome::Completed))
        {
            line.answered_online += 1;
        }
    }
    Ok(RespondentGroup::ALL
        .iter()
        .filter_map(|g| by.remove(g))
        .collect())
}

/// A print run as organisers see it, with how far its entry has come.
#[derive(Debug, Clone, Serialize)]
pub struct BatchLine {
    pub id: i32,
    pub group: RespondentGroup,
    pub group_label: &'static str,
    pub scope: String,
    pub copies: u32,
    pub first_serial: String,
    pub last_serial: String,
    /// Booklets per status code.
    pub counts: BTreeMap<&'static str, u64>,
    /// Free places its answers could still take (none while the survey has not opened, or
    /// for a run printed for drawn people, who answer as their invitations).
    pub places_left: Option<u64>,
    pub for_invitations: bool,
    pub created_at: DateTime<Utc>,
}

fn scope_label(geo: &Geography, b: &Batch) -> String {
    match (b.area_id, b.school_id) {
        (_, Some(s)) => geo.school_name(Some(s)).to_owned(),
        (Some(a), None) => geo.area_name(a).to_owned(),
        (None, None) => "全县".to_owned(),
    }
}

fn serial(batch: i32, number: u32) -> Serial {
    Serial {
        batch: u32::try_from(batch).unwrap_or(0),
        number,
    }
}

/// The survey's print runs.
pub async fn batches(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
) -> Result<(Survey, Vec<BatchLine>), AppError> {
    // Paper entry: organisers and the survey's interviewers (any group: a booklet's group is
    // printed on it).
    let survey = fieldwork(ctx, actor, id).await?.survey;
    let db = ctx.db.pool();
    let geo = store::geography::load(db, id).await?;
    let counts = store::fieldwork::booklet_counts(db, id).await?;
    let mut lines = Vec::new();
    for b in store::fieldwork::batches(db, id).await? {
        let places_left = if b.for_invitations {
            None
        } else {
            answering::free_places(ctx, id, b.group, b.area_id, b.school_id).await?
        };
        lines.push(BatchLine {
            places_left,
            for_invitations: b.for_invitations,
            id: b.id,
            group: b.group,
            group_label: b.group.label(),
            scope: scope_label(&geo, &b),
            copies: b.copies,
            first_serial: serial(b.id, 1).to_string(),
            last_serial: serial(b.id, b.copies).to_string(),
            counts: BookletStatus::ALL
                .iter()
                .map(|s| {
                    (
                        s.code(),
                        counts.get(&(b.id, s.code())).copied().unwrap_or(0),
                    )
                })
                .collect(),
            created_at: b.created_at,
        });
    }
    Ok((survey, lines))
}

/// What an organiser asks to print.
#[derive(Debug, Clone, Copy)]
pub struct PrintOrder<'a> {
    pub group: RespondentGroup,
    /// The area's and the school's names (none: the whole county).
    pub area: Option<&'a str>,
    pub school: Option<&'a str>,
    /// How many, for a stratum's free places.
    pub copies: u32,
    /// One booklet per drawn person of the scope still to answer (`copies` unused).
    pub drawn: bool,
}

/// Prints a run of paper booklets for a group, in an area or a school or the whole county.
/// Their answers take places like an open channel's of the same scope.
pub async fn create_batch(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    order: PrintOrder<'_>,
) -> Result<Batch, AppError> {
    let PrintOrder {
        group,
        area,
        school,
        copies,
        drawn,
    } = order;
    let survey = super::surveys::organized(ctx, actor, id).await?;
    if survey.status == SurveyStatus::Closed {
        return Err(AppError::Conflict("调查已结束，不能再印制纸质问卷".into()));
    }
    if !drawn && !(1..=MAX_BATCH_COPIES).contains(&copies) {
        return Err(AppError::invalid(
            "copies",
            format!("份数须为 1 到 {MAX_BATCH_COPIES}"),
        ));
    }
    let db = ctx.db.pool();
    let geo = store::geography::load(db, id).await?;
    if geo.areas.is_empty() {
        return Err(AppError::Conflict("请先填写乡镇（街道）".into()));
    }
    let area_id =
        match area.map(str::trim).filter(|a| !a.is_empty()) {
            Some(name) => Some(geo.area_named(name).ok_or_else(|| {
                AppError::invalid("area", format!("没有名为“{name}”的乡镇（街道）"))
            })?),
            None => None,
        };
    let school_id = match school.map(str::trim).filter(|s| !s.is_empty()) {
        Some(name) => {
            let (sid, sarea) = geo
                .school_named(name)
                .ok_or_else(|| AppError::invalid("school", format!("没有名为“{name}”的学校")))?;
            if area_id.is_some_and(|a| a != sarea) {
                return Err(AppError::invalid(
                    "school",
                    format!("“{name}”不在所选的乡镇（街道）"),
                ));
            }
            Some(sid)
        }
        None => None,
    };
    // For drawn people: one booklet each for those of the scope still to answer who have none.
    let invitations: Option<Vec<i32>> = if drawn {
        let answered = store::invitations::answered_ids(db, id).await?;
        let on_paper = store::fieldwork::invitations_on_paper(db, id).await?;
        let ids: Vec<i32> = store::invitations::list_live(db, id, None)
            .await?
            .into_iter()
            .map(|a| a.invitation)
            .filter(|i| {
                i.group == group
                    && i.status == InvitationStatus::Pending
                    && !answered.contains(&i.id)
                    && !on_paper.contains(&i.id)
                    && area_id.is_none_or(|a| a == i.area_id)
                    && school_id.is_none_or(|s| Some(s) == i.school_id)
            })
            .map(|i| i.id)
            .take(MAX_BATCH_COPIES as usize)
            .collect();
        if ids.is_empty() {
            return Err(AppError::Conflict(format!(
                "这个范围里没有还没作答、也还没有纸质问卷的被抽中{}",
                group.label()
            )));
        }
        Some(ids)
    } else {
        None
    };
    if !drawn && answering::free_places(ctx, id, group, area_id, school_id).await? == Some(0) {
        return Err(AppError::Conflict(format!(
            "{}在这个范围里已没有空余名额（已被抽样邀请和收到的答卷占满）：纸质问卷印了也\
             不能计入。请改用电话访问，或把被抽中者自己的链接打印给他们",
            group.label()
        )));
    }
    let txn = store::begin_write(&ctx.db).await?;
    let batch = store::fieldwork::create_batch(
        &txn,
        id,
        group,
        area_id,
        school_id,
        copies,
        invitations.as_deref(),
    )
    .await?;
    txn.commit().await?;
    audit(
        ctx,
        actor,
        AuditAction::PaperPrinted,
        &format!("survey:{id}"),
        &format!("batch {} {} ×{copies}", batch.id, group.code()),
    )
    .await;
    Ok(batch)
}

/// A print run ready to print: its booklets' serials and the questionnaire.
pub struct PrintRun {
    pub survey: Survey,
    pub batch: BatchLine,
    pub serials: Vec<String>,
    pub answering: answering::Answering,
    /// For a run printed for drawn people: which booklet goes to whom, for the school that
    /// hands them out (the booklets themselves carry no name).
    pub slips: Vec<Slip>,
}

/// A line of a drawn run's hand-out list.
#[derive(Debug, Clone, Serialize)]
pub struct Slip {
    pub serial: String,
    pub external_id: Option<String>,
    pub name: String,
    pub school: String,
    pub grade: Option<u8>,
    pub class: Option<String>,
}

/// The print run's booklets for printing (organisers).
pub async fn print_run(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    batch_id: i32,
) -> Result<PrintRun, AppError> {
    super::surveys::organized(ctx, actor, id).await?;
    let (survey, lines) = batches(ctx, actor, id).await?;
    let batch = lines
        .into_iter()
        .find(|b| b.id == batch_id)
        .ok_or(AppError::NotFound)?;
    let db = ctx.db.pool();
    let b = store::fieldwork::batch(db, id, batch_id)
        .await?
        .ok_or(AppError::NotFound)?;
    // Printed before the survey opens or while it takes answers, not after.
    match answering::answering_state(&survey, Utc::now()) {
        Ok(()) | Err(Refusal::NotYetOpen) => {}
        Err(r) => return Err(AppError::Conflict(refusal_message(r).into())),
    }
    let answering = paper_answering(ctx, &b, None, true).await?;
    let mut slips = Vec::new();
    if b.for_invitations {
        let geo = store::geography::load(db, id).await?;
        let people: std::collections::HashMap<i32, crate::domain::invitation::Addressed> =
            store::invitations::list_live(db, id, None)
                .await?
                .into_iter()
                .map(|a| (a.invitation.id, a))
                .collect();
        for (number, inv) in store::fieldwork::booklets_of(db, batch_id).await? {
            let Some(a) = inv.and_then(|i| people.get(&i)) else {
                continue;
            };
            slips.push(Slip {
                serial: serial(b.id, number).to_string(),
                external_id: a.external_id.clone(),
                name: a.name.as_deref().map(masked_name).unwrap_or_default(),
                school: geo.school_name(a.invitation.school_id).to_owned(),
                grade: a.invitation.grade,
                class: a.class.clone(),
            });
        }
    }
    Ok(PrintRun {
        serials: (1..=b.copies)
            .map(|n| serial(b.id, n).to_string())
            .collect(),
        survey,
        batch,
        answering,
        slips,
    })
}

/// The questionnaire a booklet carries: for a booklet printed for a drawn person, that
/// person's invitation answered on paper (`booklet` given), else the run's stratum. For
/// printing, whether or not the survey takes answers yet.
async fn paper_answering(
    ctx: &Context,
    b: &Batch,
    booklet: Option<&store::fieldwork::Booklet>,
    printing: bool,
) -> Result<answering::Answering, AppError> {
    if printing {
        return answering::paper_preview(
            ctx,
            b.survey_id,
            b.group,
            b.area_id,
            b.school_id,
            b.for_invitations,
        )
        .await;
    }
    let target = match booklet.and_then(|k| k.invitation_id) {
        Some(inv) => answering::on_behalf(ctx, inv, Source::Paper).await?,
        None if b.for_invitations => {
            return Err(AppError::internal(
                "a drawn run's booklet without its invitation",
            ));
        }
        None => answering::on_paper(ctx, b.survey_id, b.group, b.area_id, b.school_id).await?,
    };
    match target {
        Target::Ready(a) => Ok(a),
        Target::Refused(r) => Err(AppError::Conflict(refusal_message(r).into())),
    }
}

/// A booklet found by the serial an operator typed.
pub struct FoundBooklet {
    pub survey: Survey,
    pub serial: Serial,
    pub booklet: store::fieldwork::Booklet,
    pub batch: Batch,
    pub answering: answering::Answering,
    /// Who made its first entry, while it waits for the second.
    pub first_by: Option<i32>,
}

/// The booklet of a serial, with its questionnaire (for the entry form).
pub async fn booklet(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    serial_text: &str,
) -> Result<FoundBooklet, AppError> {
    // Paper entry: organisers and the survey's interviewers (any group: a booklet's group is
    // printed on it).
    let survey = fieldwork(ctx, actor, id).await?.survey;
    let serial = Serial::parse(serial_text).map_err(|m| AppError::invalid("serial", m))?;
    let db = ctx.db.pool();
    let missing = || AppError::invalid("serial", format!("本调查没有编号为 {serial} 的纸质问卷"));
    let batch_id = i32::try_from(serial.batch).map_err(|_| missing())?;
    let batch = store::fieldwork::batch(db, id, batch_id)
        .await?
        .ok_or_else(missing)?;
    let booklet = store::fieldwork::booklet(db, id, batch_id, serial.number)
        .await?
        .ok_or_else(missing)?;
    let answering = paper_answering(ctx, &batch, Some(&booklet), false).await?;
    let first_by = if booklet.status == BookletStatus::FirstEntered {
        store::fieldwork::entries(db, booklet.id)
            .await?
            .into_iter()
            .find(|(r, _, _)| *r == 1)
            .map(|(_, u, _)| u)
    } else {
        None
    };
    let found = FoundBooklet {
        survey,
        serial,
        booklet,
        batch,
        answering,
        first_by,
    };
    if found.booklet.status == BookletStatus::Entered {
        finish_claim(ctx, &found).await?;
    }
    Ok(found)
}

/// What came of an entry or a resolution, with the booklet's questionnaire (to name its
/// fields).
pub struct Entry {
    pub entered: Entered,
    pub answering: answering::Answering,
}

/// What came of entering a booklet.
#[derive(Debug)]
pub enum Entered {
    /// The first entry is kept; the booklet waits for a second operator.
    First,
    /// Both entries agreed: stored as a response.
    Stored,
    /// The entries differ in these fields: to be resolved.
    Mismatched(Vec<Mismatch>),
    /// The form was incomplete (fields named), nothing kept.
    Incomplete(answering::FormErrors),
}

/// A paper entry's nonce: one per booklet, so a booklet is stored at most once whatever
/// happens (a retry, two resolutions at once).
fn paper_form(found: &FoundBooklet) -> IssuedForm {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("paper booklet {}", found.booklet.id).as_bytes());
    IssuedForm {
        nonce: hex::encode(digest)[..22].to_owned(),
        started: Utc::now(),
    }
}

/// Checks an entry against the booklet's questionnaire (all items answered, the area and
/// grade where asked): the errors to show with the form, if any.
fn check_entry(found: &FoundBooklet, entry: &PaperEntry) -> Result<Result<(), Entered>, AppError> {
    if let Some(a) = entry.area
        && !found.answering.live.areas().any(|(id, _)| id == a)
    {
        return Err(AppError::invalid("area", "本调查没有这个乡镇（街道）"));
    }
    if entry.grade.is_some_and(|g| !(1..=9).contains(&g)) {
        return Err(AppError::invalid("grade", "年级须为 1 到 9"));
    }
    let issued = paper_form(found);
    let fields = entry.fields();
    Ok(
        match answering::check(
            &found.answering,
            &FilledForm {
                issued: &issued,
                fields: &fields,
                area: entry.area,
                grade: entry.grade,
                from: None,
            },
        ) {
            None => Ok(()),
            Some(Outcome::Incomplete(e)) => Err(Entered::Incomplete(e)),
            Some(_) => {
                return Err(AppError::invalid(
                    "answers",
                    "录入里有这份问卷没有的题目或选项",
                ));
            }
        },
    )
}

/// The round under which a booklet's agreed entry is kept while it is being stored.
const AGREED: i16 = 3;

/// Stores a booklet's agreed entry as a response (in its stratum's free place) and marks it
/// entered. The booklet is claimed first (moved from `from` to entered, with the agreed entry
/// kept beside it), so a void, a resolve or another entry racing this one finds it taken; if
/// the answer cannot be stored the claim is undone. A claim whose process died before it was
/// stored is finished the next time the booklet is opened (the store is idempotent: one nonce
/// per booklet).
async fn store_booklet(
    ctx: &Context,
    found: &FoundBooklet,
    entry: &PaperEntry,
    from: BookletStatus,
) -> Result<(), AppError> {
    let booklet = found.booklet.id;
    let txn = store::begin_write(&ctx.db).await?;
    let claimed = store::fieldwork::move_booklet(
        &txn,
        booklet,
        from,
        BookletStatus::Entered,
        Some(crate::domain::response::hour_of(Utc::now())),
    )
    .await?;
    if !claimed {
        return Err(AppError::Conflict(format!(
            "{} 刚被别人处理过（录入、处理或作废）：请重新打开查看",
            found.serial
        )));
    }
    store::fieldwork::put_entry(&txn, booklet, AGREED, 0, entry).await?;
    txn.commit().await?;
    match submit_booklet(ctx, found, entry).await {
        Ok(()) => {
            // What the operators typed goes: the response is what is kept.
            store::fieldwork::clear_entries(ctx.db.pool(), booklet).await?;
            Ok(())
        }
        Err(e) => {
            let txn = store::begin_write(&ctx.db).await?;
            store::fieldwork::move_booklet(&txn, booklet, BookletStatus::Entered, from, None)
                .await?;
            store::fieldwork::remove_entry(&txn, booklet, AGREED).await?;
            txn.commit().await?;
            Err(e)
        }
    }
}

/// Stores the agreed entry as the booklet's response.
async fn submit_booklet(
    ctx: &Context,
    found: &FoundBooklet,
    entry: &PaperEntry,
) -> Result<(), AppError> {
    let issued = paper_form(found);
    let fields = entry.fields();
    let outcome = answering::submit(
        ctx,
        &found.answering,
        FilledForm {
            issued: &issued,
            fields: &fields,
            area: entry.area,
            grade: entry.grade,
            from: None,
        },
        Utc::now(),
    )
    .await?;
    match outcome {
        Outcome::Stored | Outcome::Repeated => Ok(()),
        Outcome::PlaceTaken(stratum) => Err(AppError::Conflict(format!(
            "{stratum}的名额已满：这份纸质问卷不能再计入（可作废）"
        ))),
        Outcome::Refused(r) => Err(AppError::Conflict(refusal_message(r).into())),
        Outcome::Held | Outcome::Tampered | Outcome::Incomplete(_) => {
            Err(AppError::internal("a checked paper entry was not stored"))
        }
    }
}

/// A claim younger than this is taken to be in progress, not interrupted.
const CLAIM_GRACE: chrono::Duration = chrono::Duration::seconds(120);

/// Finishes a claim whose process died between claiming the booklet and storing its answer.
async fn finish_claim(ctx: &Context, found: &FoundBooklet) -> Result<(), AppError> {
    let db = ctx.db.pool();
    let Some((agreed, since)) =
        store::fieldwork::entry_of_round(db, found.booklet.id, AGREED).await?
    else {
        return Ok(());
    };
    // A young claim is a store in progress (another request's), not an interrupted one.
    if Utc::now() - since < CLAIM_GRACE {
        return Ok(());
    }
    submit_booklet(ctx, found, &agreed).await?;
    store::fieldwork::clear_entries(db, found.booklet.id).await?;
    tracing::warn!(
        booklet = found.booklet.id,
        "an interrupted paper entry was finished"
    );
    Ok(())
}

/// Enters a paper booklet: the first entry is kept blind; the second, by another operator, is
/// compared with it — if they agree the booklet is stored as a response, otherwise the
/// differing fields wait to be resolved.
pub async fn enter(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    serial_text: &str,
    entry: PaperEntry,
) -> Result<Entry, AppError> {
    let found = booklet(ctx, actor, id, serial_text).await?;
    if let Err(e) = check_entry(&found, &entry)? {
        return Ok(Entry {
            entered: e,
            answering: found.answering,
        });
    }
    // Nothing to type twice if it could not count.
    if let Some(stratum) =
        answering::place_full(ctx, &found.answering, entry.area, entry.grade).await?
    {
        return Err(AppError::Conflict(format!(
            "{stratum}的名额已满：这份纸质问卷不能再计入，请作废"
        )));
    }
    let user = actor.user_id().unwrap_or_default();
    let serial = found.serial;
    let txn = store::begin_write(&ctx.db).await?;
    let entries = store::fieldwork::entries(&txn, found.booklet.id).await?;
    let status = store::fieldwork::booklet(&txn, id, found.batch.id, serial.number)
        .await?
        .map_or(found.booklet.status, |b| b.status);
    let result = match status {
        BookletStatus::Blank => {
            store::fieldwork::put_entry(&txn, found.booklet.id, 1, user, &entry)
                .await
                .map_err(super::conflict_if(
                    store::DbFailure::UniqueViolation,
                    "这份问卷刚被另一位录入员录入了第一遍：请再提交一次，作为第二遍",
                ))?;
            store::fieldwork::move_booklet(
                &txn,
                found.booklet.id,
                BookletStatus::Blank,
                BookletStatus::FirstEntered,
                None,
            )
            .await?;
            txn.commit().await?;
            Entered::First
        }
        BookletStatus::FirstEntered => {
            let Some((_, first_user, first)) = entries.into_iter().find(|(r, _, _)| *r == 1) else {
                return Err(AppError::internal(format!(
                    "booklet {serial}: first entry missing"
                )));
            };
            if first_user == user {
                return Err(AppError::Conflict(format!(
                    "{serial} 的第一遍是您录入的：第二遍须由另一位录入员录入"
                )));
            }
            let mismatches = first.compare(&entry, &found.answering.questionnaire.definition);
            if mismatches.is_empty() {
                // Nothing of the second entry is kept: the response is.
                drop(txn);
                store_booklet(ctx, &found, &entry, BookletStatus::FirstEntered).await?;
                Entered::Stored
            } else {
                store::fieldwork::put_entry(&txn, found.booklet.id, 2, user, &entry)
                    .await
                    .map_err(super::conflict_if(
                        store::DbFailure::UniqueViolation,
                        "这份问卷刚被另一位录入员录入了第二遍：请刷新后查看",
                    ))?;
                store::fieldwork::move_booklet(
                    &txn,
                    found.booklet.id,
                    BookletStatus::FirstEntered,
                    BookletStatus::Mismatched,
                    None,
                )
                .await?;
                txn.commit().await?;
                Entered::Mismatched(mismatches)
            }
        }
        BookletStatus::Mismatched => {
            return Err(AppError::Conflict(format!(
                "{serial} 已录两遍且不一致：请核对后处理不一致的地方"
            )));
        }
        BookletStatus::Entered => {
            return Err(AppError::Conflict(format!("{serial} 已经录入过了")));
        }
        BookletStatus::Void => {
            return Err(AppError::Conflict(format!("{serial} 已作废")));
        }
    };
    audit(
        ctx,
        actor,
        AuditAction::PaperEntered,
        &format!("survey:{id}"),
        &format!(
            "{serial} {}",
            match &result {
                Entered::First => "first",
                Entered::Stored => "stored",
                Entered::Mismatched(_) => "mismatch",
                Entered::Incomplete(_) => "incomplete",
            }
        ),
    )
    .await;
    Ok(Entry {
        entered: result,
        answering: found.answering,
    })
}

/// A mismatched booklet's two entries and where they differ (for resolving).
pub struct Disagreement {
    pub found: FoundBooklet,
    pub first: PaperEntry,
    pub second: PaperEntry,
    pub mismatches: Vec<Mismatch>,
    /// Who made the two entries.
    pub operators: [i32; 2],
}

pub async fn disagreement(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    serial_text: &str,
) -> Result<Disagreement, AppError> {
    disagreement_of(ctx, booklet(ctx, actor, id, serial_text).await?).await
}

/// The disagreement of a booklet already found.
pub async fn disagreement_of(ctx: &Context, found: FoundBooklet) -> Result<Disagreement, AppError> {
    if found.booklet.status != BookletStatus::Mismatched {
        return Err(AppError::Conflict(format!(
            "{} 没有待处理的不一致（{}）",
            found.serial,
            found.booklet.status.label()
        )));
    }
    let entries = store::fieldwork::entries(ctx.db.pool(), found.booklet.id).await?;
    let round = |n: i16| entries.iter().find(|(r, _, _)| *r == n).cloned();
    let (Some((_, u1, first)), Some((_, u2, second))) = (round(1), round(2)) else {
        // Set aside or resolved a moment ago (its entries go with that).
        return Err(AppError::Conflict(format!(
            "{} 刚被别人处理过（作废或已处理）：请重新打开查看",
            found.serial
        )));
    };
    let mismatches = first.compare(&second, &found.answering.questionnaire.definition);
    Ok(Disagreement {
        found,
        first,
        second,
        mismatches,
        operators: [u1, u2],
    })
}

/// Resolves a mismatched booklet: the value read off the paper for each differing field
/// (`chosen`: field → value); the other fields are the ones both entries agree on.
pub async fn resolve(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    serial_text: &str,
    chosen: &BTreeMap<String, String>,
) -> Result<Entry, AppError> {
    let d = disagreement(ctx, actor, id, serial_text).await?;
    // The paper decides; an interviewer who typed one side does not decide alone.
    if let Actor::User(u) = actor
        && u.role == Role::Interviewer
        && d.operators.contains(&u.id)
    {
        return Err(AppError::Conflict(
            "这份问卷有一遍是您录入的：请由组织者或没有录入它的人对照原件处理".into(),
        ));
    }
    let mut entry = d.first.clone();
    for m in &d.mismatches {
        let value = chosen.get(&m.field).map(|v| v.trim()).unwrap_or("");
        match m.field.as_str() {
            "comment" => {
                entry.comment = (!value.is_empty()).then(|| value.to_owned());
            }
            "area" => {
                entry.area = if value.is_empty() {
                    None
                } else {
                    Some(
                        value
                            .parse()
                            .map_err(|_| AppError::invalid("area", "请选择乡镇（街道）"))?,
                    )
                };
            }
            "grade" => {
                entry.grade = if value.is_empty() {
                    None
                } else {
                    Some(
                        value
                            .parse()
                            .map_err(|_| AppError::invalid("grade", "请选择年级"))?,
                    )
                };
            }
            item => {
                if value.is_empty() {
                    let def = &d.found.answering.questionnaire.definition;
                    let n = def
                        .items
                        .iter()
                        .position(|i| i.id == item)
                        .map_or(0, |n| n + 1);
                    return Err(AppError::invalid(item, format!("请选定第 {n} 题的答案")));
                }
                match entry.answers.iter_mut().find(|(k, _)| k == item) {
                    Some(slot) => slot.1 = value.to_owned(),
                    None => entry.answers.push((item.to_owned(), value.to_owned())),
                }
            }
        }
    }
    if let Err(e) = check_entry(&d.found, &entry)? {
        return Ok(Entry {
            entered: e,
            answering: d.found.answering,
        });
    }
    store_booklet(ctx, &d.found, &entry, BookletStatus::Mismatched).await?;
    audit(
        ctx,
        actor,
        AuditAction::PaperResolved,
        &format!("survey:{id}"),
        &d.found.serial.to_string(),
    )
    .await;
    Ok(Entry {
        entered: Entered::Stored,
        answering: d.found.answering,
    })
}

/// Sets a booklet aside (unanswered items, unreadable, spoiled): it is never counted, and what
/// was typed of it goes.
pub async fn void(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    serial_text: &str,
) -> Result<(), AppError> {
    let found = booklet(ctx, actor, id, serial_text).await?;
    let from = found.booklet.status;
    if matches!(from, BookletStatus::Entered | BookletStatus::Void) {
        return Err(AppError::Conflict(format!(
            "{} {}，不能作废",
            found.serial,
            from.label()
        )));
    }
    let txn = store::begin_write(&ctx.db).await?;
    if !store::fieldwork::move_booklet(&txn, found.booklet.id, from, BookletStatus::Void, None)
        .await?
    {
        return Err(AppError::Conflict(
            "这份问卷刚被别人处理过，请刷新后再试".into(),
        ));
    }
    store::fieldwork::clear_entries(&txn, found.booklet.id).await?;
    txn.commit().await?;
    audit(
        ctx,
        actor,
        AuditAction::PaperVoided,
        &format!("survey:{id}"),
        &found.serial.to_string(),
    )
    .await;
    Ok(())
}
