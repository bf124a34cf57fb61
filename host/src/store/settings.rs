//! How Weir's database connections behave when the database misbehaves: the
//! operator's `[postgres]` and `[sqlite]` settings in `weir.toml`, turned
//! into the per-connection statements that set them up.
//!
//! On PostgreSQL the server is told to give up on Weir's behalf
//! (`statement_timeout`, `lock_timeout`, `idle_in_transaction_session_timeout`,
//! and TCP keepalives and a user timeout on the server's end of each
//! connection, so that a dead or partitioned Weir does not hold its locks
//! for long), and Weir gives up on the server after `writeTimeout` (sqlx
//! sets no keepalive on its own sockets, so without that deadline a
//! partition would hang a commit until the kernel gave up, a quarter of an
//! hour later). On SQLite, `busyTimeout` bounds how long a write waits for
//! another process's lock, and `journalSizeLimit` bounds the write-ahead log.

use std::time::Duration;

/// The operator's settings of the store's connections.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreSettings {
    pub postgres: PostgresSettings,
    pub sqlite: SqliteSettings,
}

/// `[postgres]`: Weir's connections to PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresSettings {
    /// The server cancels a statement of Weir's that runs longer.
    pub statement_timeout: Duration,
    /// The server stops a statement of Weir's that waits longer for a lock
    /// (another session's `LOCK TABLE`, or its open transaction).
    pub lock_timeout: Duration,
    /// The server ends a session of Weir's left idle inside a transaction
    /// longer (a process frozen or cut off mid-commit), releasing its locks.
    pub idle_in_transaction_timeout: Duration,
    /// TCP keepalives on the server's end of each connection: the first
    /// probe after this long idle, then one every `keepalives_interval`;
    /// after `keepalives_count` unanswered probes the server drops the
    /// connection (and its `tcp_user_timeout` is the sum of the three).
    pub keepalives_idle: Duration,
    pub keepalives_interval: Duration,
    pub keepalives_count: u32,
    /// The longest wait for a connection, from the pool or a new one.
    pub connect_timeout: Duration,
    /// Weir's own deadline on each write of the engine (a page's commit,
    /// a cycle's start, a lease): past it the write fails as the database
    /// not answering, and the source backs off and retries.
    pub write_timeout: Duration,
}

impl Default for PostgresSettings {
    fn default() -> Self {
        PostgresSettings {
            statement_timeout: Duration::from_secs(120),
            lock_timeout: Duration::from_secs(30),
            idle_in_transaction_timeout: Duration::from_secs(60),
            keepalives_idle: Duration::from_secs(30),
            keepalives_interval: Duration::from_secs(10),
            keepalives_count: 3,
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(150),
        }
    }
}

/// `[sqlite]`: Weir's connections to its SQLite file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSettings {
    /// How long a statement waits for another process's lock on the file
    /// (a `BEGIN IMMEDIATE` held elsewhere) before it fails.
    pub busy_timeout: Duration,
    /// The write-ahead log is truncated to this many bytes once it has been
    /// copied back, and copying back restarts it once it grows past this.
    pub journal_size_limit: u64,
}

impl Default for SqliteSettings {
    fn default() -> Self {
        SqliteSettings {
            busy_timeout: Duration::from_secs(30),
            journal_size_limit: 256 << 20,
        }
    }
}

impl PostgresSettings {
    /// The statements that set up each new connection.
    pub(super) fn session_statements(&self) -> Vec<String> {
        let ms = |duration: Duration| duration.as_millis().max(1);
        let secs = |duration: Duration| duration.as_secs().max(1);
        let user_timeout = self
            .keepalives_idle
            .saturating_add(
                self.keepalives_interval
                    .saturating_mul(self.keepalives_count),
            )
            .min(Duration::from_millis(i32::MAX as u64));
        vec![
            // Statements are prepared once per connection; a generic plan
            // made while a table was still small would keep scanning it
            // whole after it grew, so plan each execution afresh (planning
            // is cheap next to a batch of hundreds of rows).
            "SET plan_cache_mode = force_custom_plan".to_owned(),
            format!("SET statement_timeout = {}", ms(self.statement_timeout)),
            format!("SET lock_timeout = {}", ms(self.lock_timeout)),
            format!(
                "SET idle_in_transaction_session_timeout = {}",
                ms(self.idle_in_transaction_timeout)
            ),
            format!("SET tcp_keepalives_idle = {}", secs(self.keepalives_idle)),
            format!(
                "SET tcp_keepalives_interval = {}",
                secs(self.keepalives_interval)
            ),
            format!("SET tcp_keepalives_count = {}", self.keepalives_count),
            format!("SET tcp_user_timeout = {}", ms(user_timeout)),
        ]
    }
}

impl SqliteSettings {
    /// The pragmas that set up each connection. WAL lets readers run beside
    /// the one writer, and with it `synchronous = NORMAL` is safe (a crash
    /// may lose the last commits before an fsync on power loss, never
    /// corrupts; a killed process loses nothing committed). A 32 MiB page
    /// cache per connection keeps most B-tree lookups off the system-call
    /// path while memory stays bounded however large the catalog grows (4
    /// connections: at most 128 MiB; memory-mapped reads were faster still
    /// but count the whole file as resident memory). Pages of 16 KiB rather
    /// than 4 KiB suit rows of 1 KB bodies: fewer B-tree levels and page
    /// reads and writes per entity (a first ingest ran about a fifth
    /// faster); the size applies when the file is created, before WAL mode
    /// is set.
    pub(super) fn pragmas(&self) -> Vec<String> {
        vec![
            "PRAGMA page_size = 16384".to_owned(),
            "PRAGMA journal_mode = WAL".to_owned(),
            "PRAGMA synchronous = NORMAL".to_owned(),
            format!("PRAGMA busy_timeout = {}", self.busy_timeout.as_millis()),
            format!("PRAGMA journal_size_limit = {}", self.journal_size_limit),
            "PRAGMA cache_size = -32768".to_owned(),
            "PRAGMA temp_store = MEMORY".to_owned(),
        ]
    }

    /// The write-ahead log's length, in 16 KiB pages, past which the
    /// checkpoint restarts it: the size limit, and at least 1 MiB.
    pub(super) fn restart_log_frames(&self) -> i64 {
        i64::try_from(self.journal_size_limit / 16_384)
            .unwrap_or(i64::MAX)
            .max(64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_postgres_session_is_told_every_timeout() {
        let statements = PostgresSettings::default().session_statements();
        for expected in [
            "SET statement_timeout = 120000",
            "SET lock_timeout = 30000",
            "SET idle_in_transaction_session_timeout = 60000",
            "SET tcp_keepalives_idle = 30",
            "SET tcp_keepalives_interval = 10",
            "SET tcp_keepalives_count = 3",
            "SET tcp_user_timeout = 60000",
        ] {
            assert!(
                statements.iter().any(|s| s == expected),
                "{expected}: {statements:#?}"
            );
        }
    }

    #[test]
    fn sqlite_pragmas_carry_the_settings() {
        let settings = SqliteSettings {
            busy_timeout: Duration::from_millis(2500),
            journal_size_limit: 4 << 20,
        };
        let pragmas = settings.pragmas();
        assert!(pragmas.contains(&"PRAGMA busy_timeout = 2500".to_owned()));
        assert!(pragmas.contains(&"PRAGMA journal_size_limit = 4194304".to_owned()));
        assert_eq!(settings.restart_log_frames(), 256);
        let tiny = SqliteSettings {
            journal_size_limit: 0,
            ..settings
        };
        assert_eq!(tiny.restart_log_frames(), 64);
    }
}
