//! The audit trail: who drew, exported, opened, closed, purged, logged in.
use crate::domain::audit::{AuditAction, Entry, GENESIS, entry_hash};
use crate::entity::audit_log;
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

/// Appends an entry chained to the last one. A concurrent append that chained to the same entry
/// fails on the unique `prev_hash` and is retried on the new last entry.
pub async fn append(
    db: &impl ConnectionTrait,
    actor: &str,
    action: AuditAction,
    subject: &str,
    detail: &str,
) -> Result<(), DbErr> {
    let action = action.code();
    let mut last_err = None;
    for _ in 0..8 {
        let prev = audit_log::Entity::find()
            .order_by_desc(audit_log::Column::Id)
            .limit(1)
            .one(db)
            .await?
            .map_or_else(|| GENESIS.to_owned(), |e| e.hash);
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let hash = entry_hash(&prev, &at, actor, action, subject, detail);
        let inserted = super::insert_row(
            db,
            audit_log::ActiveModel {
                at: Set(at),
                actor: Set(actor.chars().take(64).collect()),
                action: Set(action.to_owned()),
                subject: Set(subject.chars().take(200).collect()),
                detail: Set(detail.to_owned()),
                prev_hash: Set(prev),
                hash: Set(hash),
                ..Default::default()
            },
        )
        .await;
        match inserted {
            Ok(_) => return Ok(()),
            Err(e) if super::DbFailure::of(&e) == super::DbFailure::UniqueViolation => {
                last_err = Some(e)
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| DbErr::Custom("audit append failed".into())))
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

/// Walks the chain from the first entry: the number of entries if intact, else the id of the
/// first entry that does not follow from the one before, and why.
pub async fn verify(db: &impl ConnectionTrait) -> Result<Result<u64, (i32, String)>, DbErr> {
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
            return Ok(Ok(count));
        }
        for e in page {
            if e.prev_hash != prev {
                return Ok(Err((
                    e.id,
                    "does not chain to the entry before it (one was removed or changed)".into(),
                )));
            }
            let expected = entry_hash(
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
                    "its content was changed after it was written".into(),
                )));
            }
            prev = e.hash;
            after = e.id;
            count += 1;
        }
    }
}
