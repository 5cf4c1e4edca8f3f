//! Integrity of the count: the open-channel answers held past their address's hourly
//! threshold, reviewed and accepted or rejected in bulk by an organiser; and the panel that
//! shows, per school and per channel, whether answers look dictated.
use super::surveys::{organized, visible};
use super::{Actor, Context, audit};
use crate::domain::audit::AuditAction;
use crate::domain::disclosure::K;
use crate::domain::integrity::{
    CLUSTER_MINUTES, MIN_ANSWERS, Rates, SUSPECT_P, UnitKey, UnitKind, UnitReport, reports,
};
use crate::domain::places::PlaceKey;
use crate::domain::release::{self, ReleaseCell};
use crate::domain::response::{HeldFilter, HeldGroup};
use crate::domain::survey::Survey;
use crate::domain::tally::Aggregates;
use crate::error::AppError;
use crate::store;
use serde::Serialize;
use std::collections::HashMap;

/// A survey's held answers per channel, address and hour (organisers).
pub async fn held(ctx: &Context, actor: &Actor<'_>, id: i32) -> Result<Vec<HeldGroup>, AppError> {
    let survey = organized(ctx, actor, id).await?;
    Ok(store::holds::groups(ctx.db.pool(), survey.id).await?)
}

/// What a decision on held answers did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Accepted: now counted responses.
    pub accepted: u64,
    /// Rejected: kept, counted nowhere.
    pub rejected: u64,
    /// Accepted but their stratum had no place left: still held.
    pub without_place: u64,
}

/// Accepts the held answers a filter names, in the order they arrived: each takes a free place
/// of its stratum and becomes a response (its held row, the link to an address, goes); those
/// whose stratum is full stay held. One transaction.
pub async fn accept(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    filter: &HeldFilter,
) -> Result<Decision, AppError> {
    let survey = organized(ctx, actor, id).await?;
    let txn = store::begin_write(&ctx.db).await?;
    let held = store::holds::held(&txn, survey.id, filter).await?;
    let mut decision = Decision::default();
    let (mut accepted, mut responses) = (Vec::new(), Vec::new());
    let own = store::releases::own_cells(&txn, survey.id).await?;
    for h in held {
        let a = &h.answer;
        let key = PlaceKey {
            group: a.group,
            area: a.area,
            band: a.band,
        };
        if !store::places::claim(&txn, survey.id, &key).await? {
            decision.without_place += 1;
            continue;
        }
        let q = ctx.questionnaire(a.questionnaire_id).await?;
        let facts = a.facts();
        let cell = ReleaseCell::of(&facts, &own);
        let piece = release::waiting_piece(&facts, &q.definition, &cell, None);
        accepted.push(h.id);
        responses.push((h.answer, cell.key(), piece));
    }
    store::responses::insert_many(&txn, responses.iter().map(|(r, k, _)| (r, k.as_str()))).await?;
    let waiting: Vec<store::releases::Waiting<'_>> = responses
        .iter()
        .map(|(r, cell, piece)| store::releases::Waiting {
            survey_id: r.survey_id,
            cell,
            piece,
        })
        .collect();
    store::releases::add(&txn, &waiting, chrono::Utc::now()).await?;
    store::holds::remove(&txn, &accepted).await?;
    txn.commit().await?;
    decision.accepted = accepted.len() as u64;
    let detail = format!(
        "{} accepted, {} without a place ({})",
        decision.accepted,
        decision.without_place,
        describe(filter)
    );
    audit(
        ctx,
        actor,
        AuditAction::HeldAccepted,
        &format!("survey {}", survey.id),
        &detail,
    )
    .await;
    Ok(decision)
}

/// Rejects the held answers a filter names: they stay, marked, counted nowhere.
pub async fn reject(
    ctx: &Context,
    actor: &Actor<'_>,
    id: i32,
    filter: &HeldFilter,
) -> Result<Decision, AppError> {
    let survey = organized(ctx, actor, id).await?;
    let txn = store::begin_write(&ctx.db).await?;
    let rejected = store::holds::reject(&txn, survey.id, filter).await?;
    txn.commit().await?;
    let detail = format!("{rejected} rejected ({})", describe(filter));
    audit(
        ctx,
        actor,
        AuditAction::HeldRejected,
        &format!("survey {}", survey.id),
        &detail,
    )
    .await;
    Ok(Decision {
        rejected,
        ..Default::default()
    })
}

fn describe(filter: &HeldFilter) -> String {
    let mut parts = Vec::new();
    if let Some(c) = filter.channel_id {
        parts.push(format!("channel {c}"));
    }
    if let Some(a) = &filter.address {
        parts.push(format!("address {a}"));
    }
    if let Some(h) = filter.hour {
        parts.push(format!("hour {}", h.to_rfc3339()));
    }
    if parts.is_empty() {
        "all".into()
    } else {
        parts.join(", ")
    }
}

/// The integrity panel of a survey: each school's and channel's line, and the rate with and
/// without what it flags.
#[derive(Debug, Clone, Serialize)]
pub struct Panel {
    pub units: Vec<UnitReport>,
    pub rates: Rates,
    pub held: u64,
    /// Answers stored before the panel's counts were kept (a tally rebuild counts them in; their
    /// clusters cannot be recovered).
    pub uncounted: i64,
    pub min_answers: i64,
    pub suspect_p: f64,
    pub cluster_minutes: i64,
}

/// The integrity panel of a survey the actor may see, with the survey.
pub async fn panel(ctx: &Context, actor: &Actor<'_>, id: i32) -> Result<(Survey, Panel), AppError> {
    let survey = visible(ctx, actor, id).await?;
    let db = ctx.db.pool();
    let aggregates = store::tally::load(db, survey.id).await?;
    let clusters = store::clusters::peaks(db, survey.id).await?;
    let (channels, geo) = super::sampling::channel_states(ctx, &survey).await?;
    let held_answers = store::holds::held(db, survey.id, &HeldFilter::default()).await?;

    let mut held: HashMap<UnitKey, u64> = HashMap::new();
    let mut with_held = Aggregates::default();
    // The rate "with the held answers" takes them in fives, oldest first, so it never moves by
    // one person's answers (`domain::release`); their number is shown as it is.
    let in_rate = held_answers.len() / K as usize * K as usize;
    for (i, h) in held_answers.iter().enumerate() {
        let a = &h.answer;
        for key in [
            a.channel.map(UnitKey::channel),
            a.school.map(UnitKey::school),
        ]
        .into_iter()
        .flatten()
        {
            *held.entry(key).or_default() += 1;
        }
        if i < in_rate {
            let q = ctx.questionnaire(a.questionnaire_id).await?;
            with_held.add(&a.facts(), &q.definition);
        }
    }
    let units = reports(&aggregates.units, &clusters, &held, |key| match key.kind {
        UnitKind::School => geo
            .school_index(key.id)
            .map(|_| geo.school_name(Some(key.id)).to_owned()),
        UnitKind::Channel => channels
            .iter()
            .find(|c| c.channel.id == key.id)
            .map(|c| c.label()),
        UnitKind::County => None,
    });
    let rates = Rates::of(&aggregates, &units, &with_held);
    let in_units = aggregates
        .units
        .get(&UnitKey::COUNTY)
        .map_or(0, |u| u.answers);
    let panel = Panel {
        units,
        rates,
        held: held_answers.len() as u64,
        uncounted: (rates.counted.respondents - in_units).max(0),
        min_answers: MIN_ANSWERS,
        suspect_p: SUSPECT_P,
        cluster_minutes: CLUSTER_MINUTES,
    };
    Ok((survey, panel))
}
