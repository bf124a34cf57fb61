//! The store: the catalog's tables in SQLite (the default: one file, nothing
//! to install) or PostgreSQL (for production and several replicas), through
//! sqlx (and, for SQLite's page commits, rusqlite on a blocking thread). It
//! applies a page of contributions in one transaction (source records, the
//! re-merge of the refs they touch, change-log entries), removes a source's
//! contributions, and reads entities and changes back.
//!
//! One concept per file: [`Catalog`] (this file) opens the database and
//! hands out its writer; `apply` decides what a page writes, `writes` is the
//! trait of the statements it runs, with one implementation per way of
//! running them (`sqlx_writes`, `sqlite_writes` on SQLite's writer,
//! `sqlite_writer`), and `model` the plain data both sides share. A source's
//! records: `source_status` (phase, lease), `cycle` (its cycle's
//! transitions and page commits), `sweep` (marks and the guarded sweep),
//! `cycle_history` (finished cycles and errors). `read` reads entities and
//! the event log; `sql` builds batched statements.

mod apply;
mod contributions;
mod cycle;
mod cycle_history;
mod entity_search;
mod model;
mod push;
mod read;
mod rejections;
mod settings;
mod source_status;
mod sql;
mod sqlite_writer;
mod sqlite_writes;
mod sqlx_writes;
mod sweep;
mod writes;

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection};

use sqlite_writer::{HeldWriter, SqliteWriter};

pub use apply::{PageOutcome, RemovalOutcome};
pub use contributions::{LatestEvent, OwnVersion};
pub use cycle::{FailureStep, PageProgress};
pub use cycle_history::{CycleRecord, ErrorRecord};
pub use entity_search::EntityMatch;
pub use model::{CycleTotals, SourceRole};
pub use push::{Delivery, PushApplied};
pub use read::{
    Change, ChangeKind, ContributorRecord, EntityQuery, EntityText, EventText, EventTexts,
    LogBounds, PurgeOutcome, SourceCounters, StoredEntity, Winner,
};
pub use rejections::{RejectionQuery, RejectionRecord};
pub use settings::{PostgresSettings, SqliteSettings, StoreSettings};
pub use source_status::{Phase, SourceStatus};
pub use sweep::{SweepGuards, SweepOutcome};

/// Failures of the store, naming what they concern.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL {url:?} is not supported: use sqlite://PATH or postgres://…")]
    UnsupportedUrl { url: String },

    #[error("cannot open the database {url}: {error}")]
    Open { url: String, error: sqlx::Error },

    #[error("cannot migrate the database {url}: {error}")]
    Migrate {
        url: String,
        error: sqlx::migrate::MigrateError,
    },

    #[error("database error while {doing}: {error}")]
    Query { doing: String, error: sqlx::Error },

    #[error("database error while {doing}: {error}")]
    Sqlite {
        doing: String,
        error: rusqlite::Error,
    },

    #[error(
        "an in-memory SQLite database is not supported: Weir's connections must share one \
         file (use sqlite://PATH)"
    )]
    InMemorySqlite,

    #[error("a write was abandoned: the process is shutting down")]
    WriterGone,

    #[error(
        "database error while {doing}: no answer within {} (postgres.writeTimeout); the \
         connection is dropped",
        humantime::format_duration(*after)
    )]
    TimedOut { doing: String, after: Duration },

    #[error(
        "source `{source_name}`: this replica no longer holds the source's lease, or its cycle \
         was cancelled or reset meanwhile; the page was not committed"
    )]
    Fenced { source_name: String },

    #[error("entity {entity_ref}: stored {what} is corrupt: {error}")]
    Corrupt {
        entity_ref: String,
        what: &'static str,
        error: String,
    },
}

impl StoreError {
    /// What a database that did not answer gives while `doing`: the fault
    /// the failpoints inject.
    pub(crate) fn unanswered(doing: String) -> StoreError {
        StoreError::Query {
            doing,
            error: sqlx::Error::PoolTimedOut,
        }
    }

    /// Whether the database is away or busy for now, not failing: asking
    /// again shortly may work (unreachable, timed out, locked by another
    /// connection, its connection terminated, the disk full, the process
    /// shutting down). HTTP answers such an error 503 with `Retry-After`.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Open { .. } | StoreError::TimedOut { .. } | StoreError::WriterGone => true,
            StoreError::Query { error, .. } => transient_sqlx(error),
            StoreError::Sqlite { error, .. } => matches!(
                error.sqlite_error_code(),
                Some(
                    rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::DiskFull
                )
            ),
            _ => false,
        }
    }
}

/// SQLite's busy, locked and full (by primary code), and PostgreSQL's
/// connection exceptions (class 08), operator interventions (57: a backend
/// terminated, the server shutting down, a statement timed out), locks not
/// available, serialization failures and deadlocks, and too many
/// connections.
fn transient_sqlx(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| {
            let primary_sqlite = code.parse::<i32>().ok().map(|code| code & 0xff);
            matches!(primary_sqlite, Some(5 | 6 | 13))
                || code.starts_with("08")
                || code.starts_with("57")
                || matches!(code.as_ref(), "55P03" | "40001" | "40P01" | "53300")
        }),
        _ => false,
    }
}

/// Attach "while doing X" to a database error.
pub(crate) trait QueryContext<T> {
    fn doing(self, doing: impl Into<String>) -> Result<T, StoreError>;
}

impl<T> QueryContext<T> for Result<T, sqlx::Error> {
    fn doing(self, doing: impl Into<String>) -> Result<T, StoreError> {
        self.map_err(|error| StoreError::Query {
            doing: doing.into(),
            error,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Rows written between two `ANALYZE`s on PostgreSQL.
const ANALYZE_EVERY_ROWS: u64 = 20_000;

/// The catalog database: a pool of readers and, on SQLite, its one held
/// writer. Cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    pool: AnyPool,
    /// The connections that serve reads (the HTTP API's): apart from the
    /// writers' on PostgreSQL, so that a crowd of readers can never hold
    /// up a commit; on SQLite the same readers' pool (its writer is held
    /// apart anyway).
    read_pool: AnyPool,
    /// On SQLite, the one writer every write transaction runs on, held
    /// rather than pooled: its page cache stays warm from one page to the
    /// next (SQLite drops a connection's cache whenever another connection
    /// wrote), and a pool would test the connection with a round trip to
    /// its worker thread every time it came back, between any two pages.
    /// A page's commit runs on it through rusqlite, the rest through sqlx
    /// (see [`sqlite_writer`]). On PostgreSQL writes take connections from
    /// `pool`.
    sqlite_writer: Option<SqliteWriter>,
    backend: Backend,
    /// Rows written since the planner's statistics were last refreshed.
    unanalyzed_rows: Arc<AtomicU64>,
    /// Bumped after every commit that may have written events, so that
    /// readers waiting at the log's head (long polls) wake at once.
    commits: Arc<tokio::sync::watch::Sender<u64>>,
    /// On PostgreSQL, Weir's own deadline on the engine's writes
    /// ([`PostgresSettings::write_timeout`]).
    write_timeout: Option<Duration>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Catalog {
    /// Open the database at `url` (`sqlite://weir.db`, `postgres://…`),
    /// creating a SQLite file if there is none, and run the migrations, with
    /// the default [`StoreSettings`].
    pub async fn open(url: &str) -> Result<Catalog, StoreError> {
        Catalog::open_with(url, &StoreSettings::default()).await
    }

    /// [`Catalog::open`] with the operator's connection settings.
    pub async fn open_with(url: &str, settings: &StoreSettings) -> Result<Catalog, StoreError> {
        install_default_drivers();
        let backend = backend_of(url)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url(url),
            Backend::Postgres => url.to_owned(),
        };
        let open_error = |error| StoreError::Open {
            url: url.clone(),
            error,
        };
        let pool = pool_options(
            backend,
            settings,
            match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 10,
            },
        )
        .connect(&url)
        .await
        .map_err(open_error)?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|error| StoreError::Migrate {
                url: url.clone(),
                error,
            })?;
        let read_pool = match backend {
            Backend::Sqlite => pool.clone(),
            Backend::Postgres => pool_options(backend, settings, 10)
                .connect(&url)
                .await
                .map_err(open_error)?,
        };
        let sqlite_writer = match backend {
            Backend::Sqlite => Some(SqliteWriter::open(&url, settings).await?),
            Backend::Postgres => None,
        };
        Ok(Catalog {
            pool,
            read_pool,
            sqlite_writer,
            backend,
            unanalyzed_rows: Arc::new(AtomicU64::new(0)),
            commits: Arc::new(tokio::sync::watch::Sender::new(0)),
            write_timeout: (backend == Backend::Postgres)
                .then_some(settings.postgres.write_timeout),
        })
    }
}

/// One connection to the SQLite database at `url`, set up as the pool's are.
async fn sqlite_connection(
    url: &str,
    settings: &StoreSettings,
) -> Result<AnyConnection, StoreError> {
    let open_error = |error| StoreError::Open {
        url: url.to_owned(),
        error,
    };
    Ok(pool_options(Backend::Sqlite, settings, 1)
        .connect(url)
        .await
        .map_err(open_error)?
        .acquire()
        .await
        .map_err(open_error)?
        .detach())
}

/// A pool of up to `connections`, each set up for `backend` with the
/// operator's `settings`. A PostgreSQL connection is tested before it is
/// handed out (the server may have dropped it while idle); a SQLite one, in
/// this process, cannot go away, and the test would cost a round trip to its
/// worker thread per lookup.
fn pool_options(backend: Backend, settings: &StoreSettings, connections: u32) -> AnyPoolOptions {
    let statements: Arc<[String]> = match backend {
        Backend::Sqlite => settings.sqlite.pragmas(),
        Backend::Postgres => settings.postgres.session_statements(),
    }
    .into();
    let options = AnyPoolOptions::new()
        .max_connections(connections)
        .test_before_acquire(backend == Backend::Postgres);
    let options = match backend {
        Backend::Postgres => options.acquire_timeout(settings.postgres.connect_timeout),
        Backend::Sqlite => options,
    };
    options.after_connect(move |connection, _| {
        let statements = Arc::clone(&statements);
        Box::pin(async move {
            for statement in statements.iter() {
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(&mut *connection)
                    .await?;
            }
            Ok(())
        })
    })
}

impl Catalog {
    /// Changes after every commit of this process that may have written
    /// events (other processes' commits are not seen here).
    pub fn subscribe_commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Wake the readers waiting for events: call after a commit.
    pub(crate) fn committed(&self) {
        self.commits
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Run one of the engine's writes within `postgres.writeTimeout` (on
    /// PostgreSQL; a SQLite file cannot be cut off): past it the write is
    /// abandoned (its transaction, if any, is rolled back by the server
    /// once the connection is dropped) and fails as [`StoreError::TimedOut`].
    pub(crate) async fn bounded<T>(
        &self,
        doing: impl FnOnce() -> String,
        write: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match self.write_timeout {
            None => write.await,
            Some(after) => match tokio::time::timeout(after, write).await {
                Ok(result) => result,
                Err(_) => Err(StoreError::TimedOut {
                    doing: doing(),
                    after,
                }),
            },
        }
    }

    /// The connections that serve reads.
    pub(crate) fn read_pool(&self) -> &AnyPool {
        &self.read_pool
    }

    /// Count rows written; on PostgreSQL, refresh the planner's statistics
    /// once enough have been. Without them (autovacuum may be off, or not yet
    /// run on a table that grew fast) the planner takes a big table for an
    /// empty one and scans it whole for every batch.
    pub(crate) async fn wrote_rows(&self, rows: usize) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let before = self
            .unanalyzed_rows
            .fetch_add(rows as u64, Ordering::Relaxed);
        if before < ANALYZE_EVERY_ROWS && before + rows as u64 >= ANALYZE_EVERY_ROWS {
            self.unanalyzed_rows.store(0, Ordering::Relaxed);
            sqlx::raw_sql("ANALYZE source_entities, entities, removals")
                .execute(&self.pool)
                .await
                .doing("refreshing the planner's statistics")?;
        }
        Ok(())
    }

    /// The connection to write on: SQLite's one writer (waiting while
    /// another write holds it), or one of PostgreSQL's pool. Start the
    /// transaction with [`WriteConnection::begin`].
    pub(crate) async fn writer(&self) -> Result<WriteConnection, StoreError> {
        match &self.sqlite_writer {
            Some(writer) => Ok(WriteConnection::Held(writer.hold().await?)),
            None => Ok(WriteConnection::Pooled(
                self.pool.acquire().await.doing("connecting to write")?,
            )),
        }
    }
}

/// A connection that write transactions run on.
pub(crate) enum WriteConnection {
    Held(HeldWriter),
    Pooled(PoolConnection<Any>),
}

impl WriteConnection {
    /// Start a write transaction. SQLite's takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so writers of other processes queue instead of
    /// failing. Dropped without a commit, it rolls back.
    pub(crate) async fn begin(&mut self) -> Result<sqlx::Transaction<'_, Any>, StoreError> {
        let statement = match self {
            WriteConnection::Held(_) => "BEGIN IMMEDIATE",
            WriteConnection::Pooled(_) => "BEGIN",
        };
        Connection::begin_with(&mut **self, statement)
            .await
            .doing("starting a write transaction")
    }
}

impl Deref for WriteConnection {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            WriteConnection::Held(connection) => connection,
            WriteConnection::Pooled(connection) => connection,
        }
    }
}

impl DerefMut for WriteConnection {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            WriteConnection::Held(connection) => connection,
            WriteConnection::Pooled(connection) => connection,
        }
    }
}

fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::UnsupportedUrl {
            url: url.to_owned(),
        })
    }
}

/// Ask sqlx to create the SQLite file when it does not exist yet.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// A SQLite URL for a file path.
pub fn sqlite_url_for(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// The store's clock: milliseconds since the Unix epoch, as every recorded
/// time (cycles, errors, leases) is written.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_in_memory_sqlite_database_is_refused() {
        assert!(matches!(
            Catalog::open("sqlite::memory:").await,
            Err(StoreError::InMemorySqlite)
        ));
    }

    #[test]
    fn urls_choose_the_backend() {
        assert_eq!(backend_of("sqlite://weir.db").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert_eq!(
            backend_of("postgresql://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert!(matches!(
            backend_of("mysql://x"),
            Err(StoreError::UnsupportedUrl { .. })
        ));
        assert_eq!(sqlite_url("sqlite://a.db"), "sqlite://a.db?mode=rwc");
        assert_eq!(
            sqlite_url("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
    }

    #[test]
    fn busy_locked_full_and_unreachable_databases_are_transient() {
        let sqlite = |code: i32| StoreError::Sqlite {
            doing: "committing a page".into(),
            error: rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None),
        };
        assert!(sqlite(rusqlite::ffi::SQLITE_BUSY).is_transient());
        assert!(sqlite(rusqlite::ffi::SQLITE_LOCKED).is_transient());
        assert!(sqlite(rusqlite::ffi::SQLITE_FULL).is_transient());
        assert!(!sqlite(rusqlite::ffi::SQLITE_CONSTRAINT).is_transient());
        assert!(!sqlite(rusqlite::ffi::SQLITE_CORRUPT).is_transient());
        let query = |error| StoreError::Query {
            doing: "reading".into(),
            error,
        };
        assert!(query(sqlx::Error::PoolTimedOut).is_transient());
        assert!(!query(sqlx::Error::RowNotFound).is_transient());
        assert!(StoreError::WriterGone.is_transient());
        assert!(
            !StoreError::Fenced {
                source_name: "github".into()
            }
            .is_transient()
        );
    }
}
