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
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, SqlErr};
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
        .map_sqlx_sqlite_pool_opts(|o| {
            o.after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
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
