//! Persistence: reads and writes on `&impl ConnectionTrait`, returning domain types.
//! Transactions live here, so a handler never holds one across its own logic.
pub mod audit;
pub mod channels;
pub mod counties;
pub mod draws;
pub mod frames;
pub mod geography;
pub mod invitations;
pub mod questionnaires;
pub mod readiness;
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
    ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel, SqlErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Opens the pool. SQLite is tuned for a server: WAL, a busy timeout, foreign keys on, and
/// `synchronous = FULL` so an acknowledged write survives a crash or power loss.
pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, DbErr> {
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
pub async fn connect_writer(
    settings: &Settings,
    pool: &DatabaseConnection,
) -> Result<DatabaseConnection, DbErr> {
    if crate::config::sqlite_in_memory(&settings.database_url) {
        return Ok(pool.clone());
    }
    open(settings, 1, true).await
}

async fn open(
    settings: &Settings,
    connections: u32,
    memory_temp_store: bool,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(settings.database_url.clone());
    let synchronous = if settings.sqlite_full_sync {
        SqliteSynchronous::Full
    } else {
        SqliteSynchronous::Normal
    };
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
        .map_sqlx_sqlite_pool_opts(|o| {
            o.after_release(|conn, _| {
                Box::pin(async move { Ok(!conn.is_in_transaction() && fit_for_use(conn).await?) })
            })
            .before_acquire(|conn, _| Box::pin(fit_for_use(conn)))
        })
        .map_sqlx_postgres_pool_opts(|o| {
            o.after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
        })
        .map_sqlx_sqlite_opts(move |o| {
            let o = o
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            if memory_temp_store {
                o.pragma("temp_store", "memory")
            } else {
                o
            }
        });
    if let Some(schema) = &settings.database_schema {
        options.set_schema_search_path(schema.clone());
    }
    Database::connect(options).await
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

/// Until when (milliseconds since the Unix epoch) pooled SQLite connections are examined as
/// they come and go: a minute after the last file-level failure a request met.
static EXAMINE_CONNECTIONS_UNTIL: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Called (by the error mapping) when a request met a database file that could not be read or
/// written: for the next minute every pooled SQLite connection is examined before it is used or
/// pooled again.
pub fn file_failure_seen() {
    EXAMINE_CONNECTIONS_UNTIL.store(now_ms() + 60_000, Ordering::Relaxed);
}

/// False for an SQLite connection whose last call failed at the file (I/O, a read-only or full
/// disk, corruption): it can keep that state — while the file cannot be written SQLite reopens
/// its log read-only, and that connection would refuse every write from then on. Examined only
/// near a failure (asking SQLite is a round trip to the connection's thread).
async fn fit_for_use(
    conn: &mut sea_orm::sqlx::SqliteConnection,
) -> Result<bool, sea_orm::sqlx::Error> {
    if now_ms() >= EXAMINE_CONNECTIONS_UNTIL.load(Ordering::Relaxed) {
        return Ok(true);
    }
    let last = conn.lock_handle().await?.last_error();
    Ok(!last.is_some_and(|e| failed_at_file(&e)))
}

/// SQLite's primary result codes for a failure of the database file itself: READONLY, IOERR,
/// CORRUPT, FULL, CANTOPEN, NOTADB.
fn failed_at_file(error: &sea_orm::sqlx::sqlite::SqliteError) -> bool {
    use sea_orm::sqlx::error::DatabaseError;
    let code = error
        .code()
        .and_then(|c| c.parse::<i32>().ok())
        .unwrap_or(0);
    matches!(code & 0xff, 8 | 10 | 11 | 13 | 14 | 26)
}

/// Begins a transaction that is going to write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), waiting its turn under the busy timeout: a deferred transaction that
/// reads first cannot take the lock later once another connection has committed meanwhile
/// (SQLite answers "database is locked" at once, without waiting) — and during a burst the
/// submission writer commits many times a second. PostgreSQL ignores the option.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// True when the error is a unique-constraint violation (a duplicate name, say).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// True when the error is a foreign-key violation (deleting a row others still point at).
/// SQLite reports ON DELETE RESTRICT with its own code (1811), which sea-orm does not map.
pub fn is_foreign_key_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    ) || err.to_string().contains("FOREIGN KEY constraint failed")
}

/// Writes a consistent copy of a live SQLite database to `to` (`VACUUM INTO`: one read
/// transaction, so writers carry on and the copy is a single point in time).
pub async fn backup_sqlite(db: &DatabaseConnection, to: &std::path::Path) -> Result<(), DbErr> {
    use sea_orm::{ConnectionTrait, Statement};
    let path = to.to_string_lossy().into_owned();
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "VACUUM INTO ?",
        [path.into()],
    ))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Every `.rs` file below `dir`.
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// sea-orm's `ActiveModel::insert`/`update`/`save` read one `RETURNING` row and can lose a
    /// failed SQLite commit (see `insert_row`): none may come back into the code.
    #[test]
    fn no_active_model_write_bypasses_insert_row() {
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut found = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let compact: String = text.split_whitespace().collect();
            for call in [".insert(", ".update(", ".save("] {
                for conn in ["db)", "txn)", "&txn)", "&db)", "&state.db)", "conn)"] {
                    if compact.contains(&format!("{call}{conn}.await")) {
                        found.push(format!("{}: {call}{conn}", file.display()));
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "use store::insert_row/update_row: {found:?}"
        );
    }
}
