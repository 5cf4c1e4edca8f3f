//! The use cases: everything Renke does, whoever asks (the web pages, the JSON API, the command
//! line, the demo). Each operation takes the [`Context`] and the [`Actor`], checks who may,
//! opens its write transaction, re-reads and checks the state inside it (compare-and-set),
//! calls `store` and `domain`, commits, and then records its audit entry. No HTTP and no
//! templates here: `web` extracts, calls `app`, renders.
pub mod accounts;
pub mod answering;
pub mod comments;
pub mod draws;
pub mod exports;
pub mod fieldwork;
pub mod integrity;
pub mod progress;
pub mod questionnaires;
pub mod readiness;
pub mod sampling;
pub mod school_results;
pub mod sheets;
pub mod surveys;
pub mod tally;

use crate::config::Settings;
use crate::domain::account::{Role, User};
use crate::domain::audit::AuditAction;
use crate::domain::invitation::TokenKey;
use crate::domain::questionnaire::Questionnaire;
use crate::error::AppError;
use crate::store::{self, Database, submissions::Writer};
use std::sync::Arc;
use std::time::Duration;

/// Who asks for an operation.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// A logged-in user.
    User(&'a User),
    /// Whoever runs the command line (or the demo) on the server: a platform admin's rights,
    /// recorded under this name.
    Operator(&'a str),
}

impl Actor<'_> {
    /// The name the audit trail records.
    pub fn name(&self) -> &str {
        match self {
            Actor::User(u) => &u.username,
            Actor::Operator(name) => name,
        }
    }

    pub fn user_id(&self) -> Option<i32> {
        match self {
            Actor::User(u) => Some(u.id),
            Actor::Operator(_) => None,
        }
    }

    /// The county whose data the actor may see; `None`: every county.
    pub fn county_scope(&self) -> Option<i32> {
        match self {
            Actor::User(u) => u.county_scope(),
            Actor::Operator(_) => None,
        }
    }

    pub fn can_see_county(&self, county_id: i32) -> bool {
        self.county_scope().is_none_or(|c| c == county_id)
    }

    pub fn can_organize(&self) -> bool {
        match self {
            Actor::User(u) => u.role.can_organize(),
            Actor::Operator(_) => true,
        }
    }

    /// The school a school user reads, `None` for everyone else.
    pub fn school(&self) -> Option<&str> {
        match self {
            Actor::User(u) if u.role == Role::School => u.school.as_deref(),
            _ => None,
        }
    }

    /// Fails with 403 for a school user (who reads only its own school's results).
    pub fn require_county_reader(&self) -> Result<(), AppError> {
        match self {
            Actor::User(u) if !u.role.reads_county() => Err(AppError::forbidden()),
            _ => Ok(()),
        }
    }

    /// Fails with 403 unless the actor may change surveys.
    pub fn require_organizer(&self) -> Result<(), AppError> {
        if self.can_organize() {
            Ok(())
        } else {
            Err(AppError::forbidden())
        }
    }

    /// Fails with 403 unless the actor is a platform admin.
    pub fn require_admin(&self) -> Result<(), AppError> {
        match self {
            Actor::User(u) if u.role != Role::Admin => Err(AppError::forbidden()),
            _ => Ok(()),
        }
    }
}

/// Parsed questionnaire versions by id. A stored version never changes, so every server may
/// keep its own copy for as long as it likes.
type QuestionnaireCache = moka::future::Cache<i32, Arc<Questionnaire>>;

/// What every operation works with, built once at start-up and shared.
pub struct Context {
    db: Database,
    writer: Writer,
    questionnaires: QuestionnaireCache,
    live: answering::LiveSurveys,
    shown: answering::ShownInvitations,
    /// Signs invitation tokens.
    tokens: TokenKey,
    /// Signs the questionnaire forms the server issues.
    forms: TokenKey,
    /// Turns client addresses into the keyed hashes that are counted (never stored as such).
    addresses: TokenKey,
    /// Fingerprints answer sets for the integrity panel's clusters.
    patterns: TokenKey,
    /// Keys the audit trail's hash chain and its anchor.
    audit_key: crate::domain::audit::ChainKey,
    /// Open-channel answers an address may give a survey per hour before they are held, and
    /// per day before they are refused.
    hold_after: u32,
    refuse_after: u32,
    /// Operations that read a whole frame (a draw, its verification, its lines): one at a time.
    /// Shared so a turn can go with the blocking work it guards (a request given up on does not
    /// end the work, so must not end its turn).
    heavy: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Context {
    /// For the server: opens the pool, applies the migrations, stores the built-in
    /// questionnaires, and starts the submission writer on a connection of its own.
    pub async fn start(settings: &Settings) -> Result<Context, AppError> {
        Self::boot(settings, true).await
    }

    /// For a command: the same, with the writer sharing the pool.
    pub async fn open(settings: &Settings) -> Result<Context, AppError> {
        Self::boot(settings, false).await
    }

    /// Migrates and seeds under the start-up lock (servers started together take turns), the
    /// writer on a connection of its own or sharing the pool.
    async fn boot(settings: &Settings, own_writer: bool) -> Result<Context, AppError> {
        let lock = store::startup_lock(settings).await?;
        let ctx = async {
            let db = store::connect(settings).await?;
            store::migrate(&db).await?;
            let writer_db = if own_writer {
                store::connect_writer(settings, &db).await?
            } else {
                db.clone()
            };
            Self::with(settings, db, writer_db).await
        }
        .await;
        lock.release().await;
        ctx
    }

    async fn with(
        settings: &Settings,
        db: Database,
        writer_db: Database,
    ) -> Result<Context, AppError> {
        store::questionnaires::ensure_built_in(db.pool()).await?;
        let audit_key = crate::domain::audit::ChainKey::derive(settings.secret_key.expose());
        if accounts::key_trail_if_pending(&db, &audit_key).await? {
            tracing::info!("audit trail keyed with the server secret");
        }
        let ctx = Context {
            audit_key,
            writer: Writer::start(writer_db),
            questionnaires: moka::future::Cache::builder()
                .max_capacity(1_000)
                .time_to_idle(Duration::from_secs(3_600))
                .build(),
            live: answering::LiveSurveys::new(),
            shown: answering::ShownInvitations::new(),
            tokens: TokenKey::derive(settings.secret_key.expose(), "invitation tokens"),
            forms: TokenKey::derive(settings.secret_key.expose(), "issued forms"),
            addresses: TokenKey::derive(settings.secret_key.expose(), "client addresses"),
            patterns: TokenKey::derive(settings.secret_key.expose(), "answer patterns"),
            hold_after: settings.hold_after,
            refuse_after: settings.refuse_after,
            heavy: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
            db,
        };
        tally::upgrade(&ctx).await?;
        Ok(ctx)
    }

    /// Open-channel answers one address may give a survey in an hour before they are held.
    pub fn hold_after(&self) -> u32 {
        self.hold_after
    }

    /// The link path of an invitation (`/s/{token}`).
    pub fn invitation_path(&self, invitation_id: i32) -> String {
        format!("/s/{}", self.tokens.token(i64::from(invitation_id)))
    }

    /// A round trip to the database (the health check).
    pub async fn ping(&self) -> Result<(), AppError> {
        Ok(store::ping(&self.db).await?)
    }

    /// Learns from an error a request met: a database file that failed makes the pool examine
    /// its connections for a while (see `store::Database::file_failure_seen`).
    pub fn noticed(&self, error: &AppError) {
        if error.failed_at_file() {
            self.db.file_failure_seen();
        }
    }

    /// A questionnaire version by id (kept in memory: versions never change).
    async fn questionnaire(&self, id: i32) -> Result<Arc<Questionnaire>, AppError> {
        self.questionnaires
            .try_get_with(id, async {
                store::questionnaires::find(self.db.pool(), id)
                    .await?
                    .map(Arc::new)
                    .ok_or_else(|| AppError::internal(format!("questionnaire {id} missing")))
            })
            .await
            .map_err(|e: Arc<AppError>| Arc::try_unwrap(e).unwrap_or_else(|e| copy(&e)))
    }

    /// Closes the pool (for commands that are done).
    pub async fn close(self) -> Result<(), AppError> {
        Ok(self.db.close().await?)
    }
}

/// Writes a consistent copy of a live SQLite database to `to` (a single point in time, while
/// writers carry on). It only reads the database: no migration runs first.
pub async fn backup(settings: &Settings, to: &std::path::Path) -> Result<(), AppError> {
    let db = store::connect(settings).await?;
    store::backup_sqlite(&db, to).await?;
    Ok(db.close().await?)
}

/// The same error again (a cache hands one load's failure to every request that waited on it).
fn copy(e: &AppError) -> AppError {
    match e {
        AppError::Unavailable { failure, cause } => AppError::Unavailable {
            failure: *failure,
            cause: cause.clone(),
        },
        AppError::NotFound => AppError::NotFound,
        AppError::Internal(cause) => AppError::Internal(cause.clone()),
        other => AppError::Internal(format!("{other:?}")),
    }
}

/// A database error of the given kind as a conflict with this message (a duplicate name, a row
/// others still point at); any other error as it is.
fn conflict_if(failure: store::DbFailure, message: &str) -> impl FnOnce(store::DbErr) -> AppError {
    move |e| {
        if store::DbFailure::of(&e) == failure {
            AppError::Conflict(message.into())
        } else {
            e.into()
        }
    }
}

/// Records an action in the audit trail. The action has happened: a failure to record it is
/// logged loudly but does not undo it.
async fn audit(ctx: &Context, actor: &Actor<'_>, action: AuditAction, subject: &str, detail: &str) {
    if let Err(e) = store::audit::append(
        &ctx.db,
        &ctx.audit_key,
        actor.name(),
        action,
        subject,
        detail,
    )
    .await
    {
        tracing::error!(error = %e, action = action.code(), subject, "could not append to the audit trail");
    }
}

/// Runs blocking work (hashing a password, parsing a large file, drawing a sample) on the
/// blocking thread pool, off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(AppError::internal)
}
