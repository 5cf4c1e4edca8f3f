//! The audit trail: who drew, exported, opened, closed, purged, logged in.
use crate::domain::audit::{AuditAction, ChainKey, Entry, GENESIS};
use crate::entity::{audit_anchor, audit_log};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

impl From<audit_log::Model> for Entry {
    fn from(m: audit_log::Model) -> Self {
        Entry {
            id: m.id,
            at: m.at,
            actor: m.actor,
            action: m.action,
            subject: m.subject,
            detail: m.detail,
            prev_hash: m.prev_hash,
            hash: m.hash,
        }
    }
}

/// Appends an entry chained to the last one, and moves the anchor to it, in one transaction. A
/// concurrent append that chained to the same entry fails on the unique `prev_hash` and is
/// retried on the new last entry.
pub async fn append(
    db: &super::Database,
    key: &ChainKey,
    actor: &str,
    action: AuditAction,
    subject: &str,
    detail: &str,
) -> Result<(), DbErr> {
    let action = action.code();
    let actor: String = actor.chars().take(64).collect();
    let subject: String = subject.chars().take(200).collect();
    let mut last_err = None;
    for _ in 0..8 {
        let txn = super::begin_write(db).await?;
        let prev = audit_log::Entity::find()
            .order_by_desc(audit_log::Column::Id)
            .limit(1)
            .one(&txn)
            .await?
            .map_or_else(|| GENESIS.to_owned(), |e| e.hash);
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let hash = key.entry(&prev, &at, &actor, action, &subject, detail);
        let inserted = super::insert_row(
            &txn,
            audit_log::ActiveModel {
                at: Set(at),
                actor: Set(actor.clone()),
                action: Set(action.to_owned()),
                subject: Set(subject.clone()),
                detail: Set(detail.to_owned()),
                prev_hash: Set(prev),
                hash: Set(hash.clone()),
                ..Default::default()
            },
        )
        .await;
        match inserted {
            Ok(_) => {
                // A pending or missing anchor stays so: `verify` says which.
                if let Some(a) = audit_anchor::Entity::find_by_id(ANCHOR).one(&txn).await?
                    && a.entries >= 0
                {
                    set_anchor(&txn, key, a.entries + 1, &hash).await?;
                }
                txn.commit().await?;
                return Ok(());
            }
            Err(e) if super::DbFailure::of(&e) == super::DbFailure::UniqueViolation => {
                txn.rollback().await.ok();
                last_err = Some(e)
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| DbErr::Custom("audit append failed".into())))
}

/// The anchor's one row.
const ANCHOR: i32 = 1;

/// Signs the anchor for `entries` entries ending at `head`.
pub async fn set_anchor(
    db: &impl ConnectionTrait,
    key: &ChainKey,
    entries: i64,
    head: &str,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    audit_anchor::Entity::update_many()
        .col_expr(audit_anchor::Column::Entries, Expr::value(entries))
        .col_expr(audit_anchor::Column::HeadHash, Expr::value(head))
        .col_expr(
            audit_anchor::Column::Mac,
            Expr::value(key.anchor(entries, head)),
        )
        .filter(audit_anchor::Column::Id.eq(ANCHOR))
        .exec(db)
        .await?;
    Ok(())
}

/// Whether the anchor waits for a trail from before the chain was keyed to be keyed.
pub async fn anchor_pending(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    Ok(audit_anchor::Entity::find_by_id(ANCHOR)
        .one(db)
        .await?
        .is_some_and(|a| a.entries < 0))
}

/// Every entry, oldest first.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<Entry>, DbErr> {
    Ok(audit_log::Entity::find()
        .order_by_asc(audit_log::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Entry::from)
        .collect())
}

/// Gives an entry a new place in the chain: the hash before it and its own.
pub async fn rechain(
    db: &impl ConnectionTrait,
    id: i32,
    prev_hash: &str,
    hash: &str,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    audit_log::Entity::update_many()
        .col_expr(audit_log::Column::PrevHash, Expr::value(prev_hash))
        .col_expr(audit_log::Column::Hash, Expr::value(hash))
        .filter(audit_log::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The anchor as stored: how many entries and the last one's hash (`None`: pending or gone).
pub async fn anchor(db: &impl ConnectionTrait) -> Result<Option<(i64, String)>, DbErr> {
    Ok(audit_anchor::Entity::find_by_id(ANCHOR)
        .one(db)
        .await?
        .filter(|a| a.entries >= 0)
        .map(|a| (a.entries, a.head_hash)))
}

/// The newest entries first.
pub async fn recent(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<Entry>, DbErr> {
    Ok(audit_log::Entity::find()
        .order_by_desc(audit_log::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(Entry::from)
        .collect())
}

/// Whether `actor` has an entry of this action with exactly this detail.
pub async fn has(
    db: &impl ConnectionTrait,
    action: AuditAction,
    actor: &str,
    detail: &str,
) -> Result<bool, DbErr> {
    Ok(audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq(action.code()))
        .filter(audit_log::Column::Actor.eq(actor))
        .filter(audit_log::Column::Detail.eq(detail))
        .one(db)
        .await?
        .is_some())
}

/// The newest entry of this action and subject whose detail starts with `detail_prefix`.
pub async fn find(
    db: &impl ConnectionTrait,
    action: AuditAction,
    subject: &str,
    detail_prefix: &str,
) -> Result<Option<Entry>, DbErr> {
    Ok(audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq(action.code()))
        .filter(audit_log::Column::Subject.eq(subject))
        .filter(audit_log::Column::Detail.starts_with(detail_prefix))
        .order_by_desc(audit_log::Column::Id)
        .one(db)
        .await?
        .map(Entry::from))
}

/// The entries of this action whose subject starts with `subject_prefix`, oldest first (at most
/// `limit`).
pub async fn with_subject_prefix(
    db: &impl ConnectionTrait,
    action: AuditAction,
    subject_prefix: &str,
    limit: u64,
) -> Result<Vec<Entry>, DbErr> {
    Ok(audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq(action.code()))
        .filter(audit_log::Column::Subject.starts_with(subject_prefix))
        .order_by_asc(audit_log::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(Entry::from)
        .collect())
}

/// Walks the chain from the first entry, each hash keyed, and holds its end against the
/// anchor: the number of entries and the last one's hash if intact, else the id of the first
/// entry that does not follow from the one before (0: the trail as a whole), and why.
pub async fn verify(
    db: &impl ConnectionTrait,
    key: &ChainKey,
) -> Result<Result<(u64, String), (i32, String)>, DbErr> {
    let mut prev = GENESIS.to_owned();
    let mut count = 0u64;
    let mut after = 0;
    loop {
        let page = audit_log::Entity::find()
            .filter(audit_log::Column::Id.gt(after))
            .order_by_asc(audit_log::Column::Id)
            .limit(1000)
            .all(db)
            .await?;
        if page.is_empty() {
            break;
        }
        for e in page {
            if e.prev_hash != prev {
                return Ok(Err((
                    e.id,
                    "does not chain to the entry before it (one was removed or changed)".into(),
                )));
            }
            let expected = key.entry(
                &e.prev_hash,
                &e.at,
                &e.actor,
                &e.action,
                &e.subject,
                &e.detail,
            );
            if e.hash != expected {
                return Ok(Err((
                    e.id,
                    "its content was changed after it was written (or it was hashed without the server's key)".into(),
                )));
            }
            prev = e.hash;
            after = e.id;
            count += 1;
        }
    }
    let Some(anchor) = audit_anchor::Entity::find_by_id(ANCHOR).one(db).await? else {
        return Ok(Err((0, "the trail's anchor is missing".into())));
    };
    if anchor.entries < 0 {
        return Ok(Err((
            0,
            "the trail has not been keyed: it was not intact when the server last started".into(),
        )));
    }
    if anchor.mac != key.anchor(anchor.entries, &anchor.head_hash) {
        return Ok(Err((0, "the trail's anchor was changed".into())));
    }
    if anchor.entries != count as i64 || anchor.head_hash != prev {
        return Ok(Err((
            after,
            format!(
                "the trail ends at entry {after} ({count} entries) but its anchor records {} entries: entries were removed from its end",
                anchor.entries
            ),
        )));
    }
    Ok(Ok((count, prev)))
}
