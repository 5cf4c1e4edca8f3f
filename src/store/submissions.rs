//! The group-commit writer. Concurrent submissions queue here and are stored together: one
//! transaction per batch, a handful of multi-row statements whatever its size, and every
//! submission acknowledged only after its batch has committed — so each acknowledged answer is
//! as durable as if it had committed alone, and a burst costs a few commits, not one each.
//!
//! A batch re-checks at commit what the request saw a moment earlier (the survey is still open,
//! the invitation still unanswered, the channel's quota cell not full), so several servers on
//! one PostgreSQL, each with its own writer, never overfill or double-count.
use super::{Database, DbFailure};
use crate::domain::invitation::InvitationStatus;
use crate::domain::response::{AddressLimit, Claim, NewResponse, Verdict, hour_of};
use crate::domain::survey::SurveyStatus;
use crate::domain::tally::Aggregates;
use crate::entity::{invitation, submission_receipt, survey};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, RuntimeErr,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use tokio::sync::{mpsc, oneshot};

/// The most submissions stored in one transaction.
pub const MAX_BATCH: usize = 256;

/// A checked, complete submission waiting to be stored.
pub struct Submission {
    /// SHA-256 of the form's one-time nonce: a retried submit finds it and stores nothing.
    pub nonce_hash: String,
    pub claim: Claim,
    pub response: NewResponse,
    /// The key of the release cell it waits in (`domain::release`).
    pub cell: String,
    /// What the response adds to the tally once its cell is released, with the keyed
    /// fingerprint of its answer set for its school's and channel's clusters
    /// (`domain::integrity`).
    pub tally: Aggregates,
    /// The survey's window end (settings cannot change once a survey is open).
    pub closes_at: Option<DateTime<Utc>>,
    /// For an open channel's answer: its client address and how many answers it may give.
    pub limit: Option<AddressLimit>,
}

type Reply = oneshot::Sender<Result<Verdict, DbErr>>;

/// The handle requests submit through; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<(Submission, Reply)>,
}

impl Writer {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Database) -> Writer {
        let (jobs, queue) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(db, queue));
        Writer { jobs }
    }

    /// Stores a submission; returns once its batch has committed (or failed).
    pub async fn submit(&self, submission: Submission) -> Result<Verdict, DbErr> {
        let (reply, answer) = oneshot::channel();
        let stopped = || DbErr::Conn(RuntimeErr::Internal("the submission writer stopped".into()));
        self.jobs
            .send((submission, reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(db: Database, mut queue: mpsc::Receiver<(Submission, Reply)>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (batch, replies): (Vec<Submission>, Vec<Reply>) = jobs.drain(..).unzip();
        let result = store_batch(&db, &batch).await;
        if let Err(e) = &result
            && DbFailure::of(e) == DbFailure::File
        {
            db.file_failure_seen();
        }
        match result {
            Ok(verdicts) => {
                for (reply, v) in replies.into_iter().zip(verdicts) {
                    let _ = reply.send(Ok(v));
                }
            }
            // One bad submission must not sink the others: store them one by one.
            Err(e) if batch.len() > 1 && !unreachable(&e) => {
                tracing::warn!(error = %e, size = batch.len(), "batch failed; storing singly");
                for (s, reply) in batch.iter().zip(replies) {
                    let result = store_batch(&db, std::slice::from_ref(s)).await;
                    let _ = reply.send(result.map(|v| v[0]));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(copy(&e)));
                }
            }
        }
    }
}

/// The database cannot be reached at all: retrying each submission alone would only wait longer.
fn unreachable(e: &DbErr) -> bool {
    DbFailure::of(e) == DbFailure::Unreachable
}

/// The same error for every submission of a failed batch (`DbErr` is not `Clone`); the kind
/// and the text, which decide the HTTP status, are kept.
fn copy(e: &DbErr) -> DbErr {
    if unreachable(e) {
        DbErr::Conn(RuntimeErr::Internal(e.to_string()))
    } else {
        DbErr::Custom(e.to_string())
    }
}

/// Stores a batch in one transaction and returns each submission's verdict, in order.
pub async fn store_batch(db: &Database, batch: &[Submission]) -> Result<Vec<Verdict>, DbErr> {
    let mut verdicts: Vec<Option<Verdict>> = vec![None; batch.len()];
    // The same nonce twice in one batch (a double tap): the later ones are retries and share
    // the first one's fate.
    let mut first: HashMap<&str, usize> = HashMap::new();
    let mut copy_of: Vec<Option<usize>> = vec![None; batch.len()];
    for (i, s) in batch.iter().enumerate() {
        let f = *first.entry(s.nonce_hash.as_str()).or_insert(i);
        if f != i {
            copy_of[i] = Some(f);
            verdicts[i] = Some(Verdict::Repeated);
        }
    }
    let txn = super::begin_write(db).await?;

    let survey_ids: BTreeSet<i32> = batch.iter().map(|s| s.response.survey_id).collect();
    let open: HashSet<i32> = survey::Entity::find()
        .select_only()
        .column(survey::Column::Id)
        .filter(survey::Column::Id.is_in(survey_ids))
        .filter(survey::Column::Status.eq(SurveyStatus::Open.code()))
        .into_tuple::<i32>()
        .all(&txn)
        .await?
        .into_iter()
        .collect();
    let now = Utc::now();
    for (i, s) in batch.iter().enumerate() {
        let closed = !open.contains(&s.response.survey_id) || s.closes_at.is_some_and(|t| now >= t);
        if verdicts[i].is_none() && closed {
            verdicts[i] = Some(Verdict::Closed);
        }
    }

    // Receipts: a nonce already stored is a retry of a stored submission.
    let pending = |v: &[Option<Verdict>]| -> Vec<usize> {
        (0..batch.len()).filter(|&i| v[i].is_none()).collect()
    };
    let candidates = pending(&verdicts);
    if candidates.is_empty() {
        txn.rollback().await?;
        return Ok(finish(verdicts, &copy_of));
    }
    let mut insert = Query::insert();
    insert
        .into_table(submission_receipt::Entity)
        .columns([submission_receipt::Column::NonceHash])
        .on_conflict(
            OnConflict::column(submission_receipt::Column::NonceHash)
                .do_nothing()
                .to_owned(),
        )
        .returning_col(submission_receipt::Column::NonceHash);
    for &i in &candidates {
        insert.values_panic([batch[i].nonce_hash.clone().into()]);
    }
    let taken: HashSet<String> = txn
        .query_all(&insert)
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "nonce_hash"))
        .collect::<Result<_, _>>()?;
    for &i in &candidates {
        if !taken.contains(&batch[i].nonce_hash) {
            verdicts[i] = Some(Verdict::Repeated);
        }
    }

    // Invitations: one conditional UPDATE marks every still-pending one answered. Each waits
    // with its answer's cell (the first in the batch's, which wins below) and shows as
    // answered when the cell is released.
    let mut wanted: BTreeMap<i32, &str> = BTreeMap::new();
    for i in pending(&verdicts) {
        if let Claim::Invitation(id) = batch[i].claim {
            wanted.entry(id).or_insert(batch[i].cell.as_str());
        }
    }
    let mut marked: HashSet<i32> = HashSet::new();
    if !wanted.is_empty() {
        let mut cells = CaseStatement::new();
        for (&id, &cell) in &wanted {
            cells = cells.case(Expr::col(invitation::Column::Id).eq(id), cell);
        }
        let mut update = Query::update();
        update
            .table(invitation::Entity)
            .value(
                invitation::Column::Status,
                InvitationStatus::Answered.code(),
            )
            .value(invitation::Column::AnsweredAt, hour_of(now))
            .value(
                invitation::Column::ReleaseCell,
                cells.finally(Expr::value(Option::<String>::None)),
            )
            .and_where(Expr::col(invitation::Column::Id).is_in(wanted.keys().copied()))
            .and_where(Expr::col(invitation::Column::Status).eq(InvitationStatus::Pending.code()))
            .returning_col(invitation::Column::Id);
        for row in txn.query_all(&update).await? {
            marked.insert(row.try_get::<i32>("", "id")?);
        }
    }
    let unmarked: Vec<i32> = wanted
        .keys()
        .copied()
        .filter(|id| !marked.contains(id))
        .collect();
    let withdrawn: HashSet<i32> = if unmarked.is_empty() {
        HashSet::new()
    } else {
        invitation::Entity::find()
            .select_only()
            .column(invitation::Column::Id)
            .filter(invitation::Column::Id.is_in(unmarked))
            .filter(invitation::Column::Status.eq(InvitationStatus::Revoked.code()))
            .into_tuple::<i32>()
            .all(&txn)
            .await?
            .into_iter()
            .collect()
    };
    for i in pending(&verdicts) {
        match batch[i].claim {
            Claim::Invitation(id) if withdrawn.contains(&id) => {
                verdicts[i] = Some(Verdict::Withdrawn);
            }
            // Two different submissions for one invitation: the first in the batch wins.
            Claim::Invitation(id) => {
                if !marked.remove(&id) {
                    verdicts[i] = Some(Verdict::Answered);
                }
            }
            Claim::Place(key) => {
                let s = &batch[i].response;
                // A full stratum is said so, whoever asks; an answer with a place is then
                // counted per address: past its threshold it is held, past its bound refused,
                // and neither keeps the place.
                if !super::places::claim(&txn, s.survey_id, &key).await? {
                    verdicts[i] = Some(Verdict::QuotaFull);
                    continue;
                }
                if let Some(limit) = &batch[i].limit {
                    let (hour, day) =
                        super::holds::count(&txn, s.survey_id, &limit.address, hour_of(now))
                            .await?;
                    let verdict = if day > u64::from(limit.refuse_after) {
                        Verdict::TooMany
                    } else if hour > u64::from(limit.hold_after) {
                        super::holds::hold(&txn, &limit.address, s).await?;
                        Verdict::Held
                    } else {
                        continue;
                    };
                    super::places::release(&txn, s.survey_id, &key).await?;
                    verdicts[i] = Some(verdict);
                }
            }
        }
    }

    // Receipts of refused submissions go: a later retry must be judged afresh.
    let refused: Vec<String> = candidates
        .iter()
        .filter(|&&i| {
            matches!(
                verdicts[i],
                Some(
                    Verdict::Answered | Verdict::Withdrawn | Verdict::QuotaFull | Verdict::TooMany
                )
            )
        })
        .map(|&i| batch[i].nonce_hash.clone())
        .collect();
    if !refused.is_empty() {
        submission_receipt::Entity::delete_many()
            .filter(submission_receipt::Column::NonceHash.is_in(refused))
            .exec(&txn)
            .await?;
    }

    let stored = pending(&verdicts);
    let writes = super::responses::inserts(
        stored
            .iter()
            .map(|&i| (&batch[i].response, batch[i].cell.as_str())),
    );
    for w in &writes {
        txn.execute(w).await?;
    }
    let waiting: Vec<super::releases::Waiting<'_>> = stored
        .iter()
        .map(|&i| super::releases::Waiting {
            survey_id: batch[i].response.survey_id,
            cell: &batch[i].cell,
            piece: &batch[i].tally,
        })
        .collect();
    super::releases::add(&txn, &waiting, now).await?;
    txn.commit().await?;
    for i in stored {
        verdicts[i] = Some(Verdict::Stored);
    }
    Ok(finish(verdicts, &copy_of))
}

/// Every verdict; a copy of a stored submission is a repeat, a copy of a refused one is refused
/// alike.
fn finish(verdicts: Vec<Option<Verdict>>, copy_of: &[Option<usize>]) -> Vec<Verdict> {
    let settled: Vec<Verdict> = verdicts
        .into_iter()
        .map(|v| v.unwrap_or(Verdict::Closed))
        .collect();
    settled
        .iter()
        .zip(copy_of)
        .map(|(&v, copy)| match copy.map(|f| settled[f]) {
            Some(Verdict::Stored | Verdict::Repeated) | None => v,
            Some(refused) => refused,
        })
        .collect()
}

/// Whether a submission with this nonce was stored (a retry of it is thanked again).
pub async fn receipt_exists(db: &impl ConnectionTrait, nonce_hash: &str) -> Result<bool, DbErr> {
    Ok(
        submission_receipt::Entity::find_by_id(nonce_hash.to_owned())
            .all(db)
            .await?
            .pop()
            .is_some(),
    )
}
