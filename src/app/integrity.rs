//! Integrity of the count: the open-channel answers held past their address's hourly
//! threshold, reviewed and accepted or rejected in bulk by an organiser.
use super::surveys::organized;
use super::{Actor, Context, audit};
use crate::domain::audit::AuditAction;
use crate::domain::places::PlaceKey;
use crate::domain::response::{HeldFilter, HeldGroup};
use crate::domain::tally::Aggregates;
use crate::error::AppError;
use crate::store;
use serde::Serialize;

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
    let mut tally = Aggregates::default();
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
        tally.add(&a.facts(), &q.definition);
        accepted.push(h.id);
        responses.push(h.answer);
    }
    store::responses::insert_many(&txn, &responses).await?;
    store::tally::add(&txn, survey.id, &tally).await?;
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
