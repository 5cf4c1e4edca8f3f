//! Persistence: reads and writes on `&impl ConnectionTrait`, returning domain types.
//! Transactions live here, so a handler never holds one across its own logic.
pub mod audit;
pub mod channels;
pub mod clusters;
pub mod counties;
pub mod draws;
pub mod fieldwork;
pub mod frames;
pub mod geography;
pub mod holds;
pub mod invitations;
pub mod places;
pub mod progress;
pub mod questionnaires;
pub mod readiness;
pub mod releases;
pub mod responses;
pub mod sessions;
pub mod submissions;
pub mod surveys;
pub mod tally;
pub mod users;

use crate::config::Settings;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::Connection as _;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ActiveModelTrait, ConnectOptions, ConnectionTrait, Database as Connector, DatabaseConnection,
    DatabaseTransaction, EntityTrait, IntoActiveModel, RuntimeErr, SqlErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use sea_orm::DatabaseConnection as Pool;
pub use sea_orm::DatabaseTransaction as Transaction;
pub use sea_orm::{ConnectionTrait as Connection, DbErr};

/// A database pool, and what it has seen of its database file.
#[derive(Clone, Debug)]
pub struct Database {
    pool: DatabaseConnection,
    watch: Arc<FileWatch>,
}

impl Database {
    /// The pool, for the store's functions.
    pub fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    /// Noted when an operation met a database file that could not be read or written: for the
    /// next minute this pool's SQLite connections are examined before they are used or pooled
    /// again (see `fit_for_use`).
    pub fn file_failure_seen(&self) {
        self.watch.failure_seen();
    }

    pub async fn close(self) -> Result<(), DbErr> {
        self.pool.close().await
    }
}

/// Until when (milliseconds since the Unix epoch) one pool's SQLite connections are examined
/// as they come and go: a minute after the last file-level failure it met.
#[derive(Debug, Default)]
struct FileWatch {
    examine_until: AtomicU64,
}

impl FileWatch {
    fn failure_seen(&self) {
        self.examine_until
            .store(now_ms() + 60_000, Ordering::Relaxed);
    }

    fn examining(&self) -> bool {
        now_ms() < self.examine_until.load(Ordering::Relaxed)
    }
}

/// What kind of failure a database error is: the one classification every layer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFailure {
    /// The server cannot be reached, or no connection could be had in time.
    Unreachable,
    /// The database file cannot be read or written (read-only, full, I/O, corrupt).
    File,
    /// Another writer kept the lock past the busy timeout.
    Locked,
    UniqueViolation,
    ForeignKeyViolation,
    /// Anything else: a bug, a corrupt row, a schema that does not match.
    Other,
}

/// SQLite's primary result codes for a failure of the database file itself: READONLY, IOERR,
/// CORRUPT, FULL, CANTOPEN, NOTADB.
fn file_code(code: i32) -> bool {
    matches!(code & 0xff, 8 | 10 | 11 | 13 | 14 | 26)
}

impl DbFailure {
    pub fn of(e: &DbErr) -> DbFailure {
        use sea_orm::sqlx::Error as Sqlx;
        match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => return DbFailure::UniqueViolation,
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                return DbFailure::ForeignKeyViolation;
            }
            _ => {}
        }
        let sqlx = match e {
            DbErr::Exec(RuntimeErr::SqlxError(x))
            | DbErr::Query(RuntimeErr::SqlxError(x))
            | DbErr::Conn(RuntimeErr::SqlxError(x)) => Some(x.as_ref()),
            _ => None,
        };
        if let Some(Sqlx::Database(d)) = sqlx
            && d.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
                .is_some()
            && let Some(code) = d.code().and_then(|c| c.parse::<i32>().ok())
        {
            match code & 0xff {
                5 | 6 => return DbFailure::Locked,
                c if file_code(c) => return DbFailure::File,
                _ => {}
            }
        }
        // SQLite's own messages, also where an error travels as text (the writer hands one
        // failure to every submission of a batch) or comes with a connection that could not
        // be opened.
        let text = e.to_string();
        let file = [
            "readonly database",
            "disk is full",
            "disk I/O error",
            "database disk image is malformed",
        ];
        if file.iter().any(|m| text.contains(m)) {
            return DbFailure::File;
        }
        if text.contains("database is locked") {
            return DbFailure::Locked;
        }
        if text.contains("FOREIGN KEY constraint failed") {
            // SQLite reports ON DELETE RESTRICT with its own code (1811), which sea-orm does
            // not map.
            return DbFailure::ForeignKeyViolation;
        }
        match (e, sqlx) {
            (DbErr::Conn(_) | DbErr::ConnectionAcquire(_), _)
            | (
                _,
                Some(Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed),
            ) => DbFailure::Unreachable,
            _ => DbFailure::Other,
        }
    }

    /// The request may be retried once the database is back (503, not 500).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            DbFailure::Unreachable | DbFailure::File | DbFailure::Locked
        )
    }
}

/// How tables whose primary key holds an area, a school or a grade band store "none" (a key
/// column cannot be NULL): area 0 for the whole county, school 0, band −1.
pub(crate) mod key_columns {
    use crate::domain::geography::AreaScope;
    use crate::domain::group::RespondentGroup;
    use crate::domain::strata::Band;
    use sea_orm::DbErr;

    const NO_AREA: i32 = 0;
    const NO_SCHOOL: i32 = 0;
    const NO_BAND: i16 = -1;

    pub fn area(scope: AreaScope) -> i32 {
        scope.area().unwrap_or(NO_AREA)
    }

    pub fn area_of(stored: i32) -> AreaScope {
        AreaScope::of((stored != NO_AREA).then_some(stored))
    }

    pub fn school(school: Option<i32>) -> i32 {
        school.unwrap_or(NO_SCHOOL)
    }

    pub fn school_of(stored: i32) -> Option<i32> {
        (stored != NO_SCHOOL).then_some(stored)
    }

    pub fn band(band: Option<Band>) -> i16 {
        band.map_or(NO_BAND, |b| b.index() as i16)
    }

    /// The band a row of `table` (of survey `id`) stores for `group`.
    pub fn band_of(
        table: &str,
        id: i32,
        group: RespondentGroup,
        stored: i16,
    ) -> Result<Option<Band>, DbErr> {
        match stored {
            NO_BAND => Ok(None),
            b => super::draws::band(table, id, group, Some(b)),
        }
    }
}

/// A stored row that does not read as what it should be: an error that says which row.
pub fn corrupt(table: &str, id: impl std::fmt::Display, what: impl std::fmt::Display) -> DbErr {
    DbErr::Custom(format!("corrupt row {table} {id}: {what}"))
}

/// Opens the pool. SQLite is tuned for a server: WAL, a busy timeout, foreign keys on, and
/// `synchronous = FULL` so an acknowledged write survives a crash or power loss.
pub async fn connect(settings: &Settings) -> Result<Database, DbErr> {
    open(settings, settings.db_pool, false).await
}

/// One connection of its own for the submission writer: its page cache (SQLite) and its
/// prepared statements (both backends) stay warm from batch to batch, where a pooled connection
/// would be a different one each time. Its SQLite temporary storage is in memory: a batch's
/// multi-row statements each need a statement journal, which would otherwise spill to a
/// temporary file created, written and deleted per statement (BENCHMARKS.md). A batch is at
/// most `MAX_BATCH` submissions, so that memory is bounded; the pool's queries (exports,
/// migrations) may sort far more and keep spilling to disk. An in-memory SQLite database
/// exists only within `pool`, so there the writer shares it.
pub async fn connect_writer(settings: &Settings, pool: &Database) -> Result<Database, DbErr> {
    if crate::config::sqlite_in_memory(&settings.database_url) {
        return Ok(pool.clone());
    }
    open(settings, 1, true).await
}

async fn open(
    settings: &Settings,
    connections: u32,
    memory_temp_store: bool,
) -> Result<Database, DbErr> {
    let watch = Arc::new(FileWatch::default());
    let mut options = ConnectOptions::new(settings.database_url.clone());
    let synchronous = if settings.sqlite_full_sync {
        SqliteSynchronous::Full
    } else {
        SqliteSynchronous::Normal
    };
    let (on_release, on_acquire) = (watch.clone(), watch.clone());
    options
        .max_connections(connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        // A connection the driver still counts as inside a transaction goes, never back to the
        // pool. A failed COMMIT leaves sqlx so while SQLite has already rolled back (a full disk
        // does it): sqlx's next BEGIN would then be a SAVEPOINT and its next COMMIT a RELEASE,
        // which can report success having stored nothing.
        // An SQLite connection whose last call failed at the file goes too (see `fit_for_use`).
        .map_sqlx_sqlite_pool_opts(move |o| {
            let (on_release, on_acquire) = (on_release.clone(), on_acquire.clone());
            o.after_release(move |conn, _| {
                let watch = on_release.clone();
                Box::pin(async move {
                    Ok(!conn.is_in_transaction() && fit_for_use(conn, &watch).await?)
                })
            })
            .before_acquire(move |conn, _| {
                let watch = on_acquire.clone();
                Box::pin(async move { fit_for_use(conn, &watch).await })
            })
        })
        .map_sqlx_postgres_pool_opts(|o| {
            o.after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
        })
        .map_sqlx_sqlite_opts(move |o| {
            let o = o
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // What is deleted is overwritten, not left in free pages (purged rosters).
                .pragma("secure_delete", "on");
            if memory_temp_store {
                o.pragma("temp_store", "memory")
            } else {
                o
            }
        });
    if let Some(schema) = &settings.database_schema {
        options.set_schema_search_path(schema.clone());
    }
    let pool = Connector::connect(options).await?;
    Ok(Database { pool, watch })
}

/// Inserts one row and returns it as stored. Every insert in the store goes through here, not
/// through sea-orm's `ActiveModel::insert`: on SQLite that runs `INSERT … RETURNING` and reads
/// only the first row, and sqlx then resets the statement without stepping it to its end — but
/// outside a transaction the commit happens exactly there, so a commit that fails (a full or
/// read-only disk) was lost and the insert reported success with nothing stored. Reading every
/// returned row steps the statement to its end, and a failed commit is an error.
pub async fn insert_row<A>(
    db: &impl ConnectionTrait,
    row: A,
) -> Result<<A::Entity as EntityTrait>::Model, DbErr>
where
    A: ActiveModelTrait,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    <A::Entity as EntityTrait>::insert_many([row])
        .exec_with_returning(db)
        .await?
        .pop()
        .ok_or(DbErr::RecordNotInserted)
}

/// Updates one row by its primary key without `RETURNING` (see [`insert_row`]: the statement
/// runs to its end, so a failed commit is an error); `RecordNotUpdated` when no row matched.
pub async fn update_row<A: ActiveModelTrait>(
    db: &impl ConnectionTrait,
    row: A,
) -> Result<(), DbErr> {
    <A::Entity as EntityTrait>::update(row)
        .exec_without_returning(db)
        .await
        .map(|_| ())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// False for an SQLite connection whose last call failed at the file (I/O, a read-only or full
/// disk, corruption): it can keep that state — while the file cannot be written SQLite reopens
/// its log read-only, and that connection would refuse every write from then on. Examined only
/// near a failure its pool has seen (asking SQLite is a round trip to the connection's thread).
async fn fit_for_use(
    conn: &mut sea_orm::sqlx::SqliteConnection,
    watch: &FileWatch,
) -> Result<bool, sea_orm::sqlx::Error> {
    use sea_orm::sqlx::error::DatabaseError;
    if !watch.examining() {
        return Ok(true);
    }
    let last = conn.lock_handle().await?.last_error();
    Ok(!last.is_some_and(|e| {
        e.code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(file_code)
    }))
}

/// Begins a transaction that is going to write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), waiting its turn under the busy timeout: a deferred transaction that
/// reads first cannot take the lock later once another connection has committed meanwhile
/// (SQLite answers "database is locked" at once, without waiting) — and during a burst the
/// submission writer commits many times a second. PostgreSQL ignores the option.
pub async fn begin_write(db: &Database) -> Result<DatabaseTransaction, DbErr> {
    db.pool
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
}

/// Applies every pending migration.
pub async fn migrate(db: &Database) -> Result<(), DbErr> {
    Migrator::up(&db.pool, None).await
}

/// After personal data is deleted: no copy of it left in the database's files. SQLite (its
/// connections delete securely): the write-ahead log checkpointed and emptied, the file
/// rewritten (`VACUUM`) and the log emptied again. PostgreSQL: the roster and draw tables
/// rewritten (`VACUUM FULL`: brief exclusive locks on tables no respondent uses) and the
/// invitations vacuumed in place (their old versions' space reused, not rewritten: respondents
/// of other surveys keep answering).
pub async fn scrub_deleted(db: &Database) -> Result<(), DbErr> {
    let statements: &[&str] = match db.pool.get_database_backend() {
        sea_orm::DbBackend::Sqlite => &[
            "PRAGMA wal_checkpoint(TRUNCATE)",
            "VACUUM",
            "PRAGMA wal_checkpoint(TRUNCATE)",
        ],
        _ => &[
            "VACUUM FULL frame_person",
            "VACUUM FULL draw_pick",
            "VACUUM invitation",
        ],
    };
    for s in statements {
        db.pool.execute_unprepared(s).await?;
    }
    Ok(())
}

/// Held while a server or a command migrates the database and seeds what it needs: on
/// PostgreSQL an advisory lock on a connection of its own, so servers started together on a
/// fresh database take turns (the second finds the work done). Nothing on SQLite, whose
/// writers take turns anyway.
pub struct StartupLock(Option<Database>);

/// The advisory lock's key: "renke" spelt in bytes.
const STARTUP_LOCK_KEY: i64 = 0x72_65_6e_6b_65;

pub async fn startup_lock(settings: &Settings) -> Result<StartupLock, DbErr> {
    if !settings.database_url.starts_with("postgres") {
        return Ok(StartupLock(None));
    }
    let db = open(settings, 1, false).await?;
    db.pool
        .execute_unprepared(&format!("SELECT pg_advisory_lock({STARTUP_LOCK_KEY})"))
        .await?;
    Ok(StartupLock(Some(db)))
}

impl StartupLock {
    /// Lets the next server start (closing the connection would release it too).
    pub async fn release(self) {
        if let Some(db) = self.0 {
            let _ = db
                .pool
                .execute_unprepared(&format!("SELECT pg_advisory_unlock({STARTUP_LOCK_KEY})"))
                .await;
            let _ = db.pool.close().await;
        }
    }
}

/// A round trip to the database.
pub async fn ping(db: &Database) -> Result<(), DbErr> {
    db.pool.ping().await
}

/// Writes a consistent copy of a live SQLite database to `to` (`VACUUM INTO`: one read
/// transaction, so writers carry on and the copy is a single point in time).
pub async fn backup_sqlite(db: &Database, to: &std::path::Path) -> Result<(), DbErr> {
    use sea_orm::Statement;
    let path = to.to_string_lossy().into_owned();
    db.pool
        .execute_raw(Statement::from_sql_and_values(
            db.pool.get_database_backend(),
            "VACUUM INTO ?",
            [path.into()],
        ))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_once() {
        let text = |t: &str| DbFailure::of(&DbErr::Custom(t.into()));
        assert_eq!(text("database or disk is full"), DbFailure::File);
        assert_eq!(
            text("attempt to write a readonly database"),
            DbFailure::File
        );
        assert_eq!(text("database is locked"), DbFailure::Locked);
        assert_eq!(text("no such column"), DbFailure::Other);
        assert_eq!(text("malformed array literal: \"x\""), DbFailure::Other);
        // A connection that could not be opened because of the file is a file failure.
        assert_eq!(
            DbFailure::of(&DbErr::Conn(RuntimeErr::Internal("disk I/O error".into()))),
            DbFailure::File
        );
        assert_eq!(
            DbFailure::of(&DbErr::Conn(RuntimeErr::Internal("gone".into()))),
            DbFailure::Unreachable
        );
        assert!(DbFailure::File.is_transient() && !DbFailure::Other.is_transient());
    }
}
