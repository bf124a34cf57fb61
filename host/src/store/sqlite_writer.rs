//! SQLite's writer: the catalog file's one writer, as two connections used
//! one at a time. Most writes go through sqlx as elsewhere; a page's commit
//! (the hot path) runs whole on a blocking thread through rusqlite instead, each
//! row through a prepared statement bound by reference. Through sqlx every
//! statement was a round trip to its worker thread, every bound value was
//! copied twice, and a statement of thousands of placeholders was parsed
//! per batch: a page's commit took longer than producing the next page.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::TransactionBehavior;
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Row};

use super::{QueryContext, SqliteSettings, StoreError, StoreSettings};

/// The writer's two connections to the one file. Only one is used at a
/// time (they share the lock that holds this), so neither waits on SQLite's
/// own write lock for the other.
pub(crate) struct SqliteConnections {
    /// For the statements written for sqlx (state, sweeps, pushes).
    pub(super) sqlx: AnyConnection,
    /// For a page's commit.
    direct: rusqlite::Connection,
    /// Told of each write, to copy the log back in its own time.
    checkpoints: Checkpointer,
    /// Where the sqlx side was opened, to open it again.
    url: String,
    settings: StoreSettings,
}

/// SQLite's writer, shared by every clone of the store.
#[derive(Clone)]
pub(crate) struct SqliteWriter(Arc<tokio::sync::Mutex<SqliteConnections>>);

/// Held while writing through sqlx; derefs to the sqlx connection.
pub(crate) struct HeldWriter(tokio::sync::OwnedMutexGuard<SqliteConnections>);

impl SqliteWriter {
    /// Open the writer's two connections to the SQLite database at `url`
    /// (already migrated).
    pub(super) async fn open(
        url: &str,
        settings: &StoreSettings,
    ) -> Result<SqliteWriter, StoreError> {
        let mut sqlx = open_sqlx_side(url, settings).await?;
        let row = sqlx::query("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&mut sqlx)
            .await
            .doing("finding the database file")?;
        let file: String = row.try_get(0).doing("finding the database file")?;
        if file.is_empty() {
            return Err(StoreError::InMemorySqlite);
        }
        let sqlite = settings.sqlite.clone();
        let (direct, checkpoints) = tokio::task::spawn_blocking(move || {
            Ok::<_, StoreError>((
                open_direct(&file, &sqlite)?,
                Checkpointer::start(&file, &sqlite)?,
            ))
        })
        .await
        .map_err(|_| StoreError::WriterGone)??;
        Ok(SqliteWriter(Arc::new(tokio::sync::Mutex::new(
            SqliteConnections {
                sqlx,
                direct,
                checkpoints,
                url: url.to_owned(),
                settings: settings.clone(),
            },
        ))))
    }

    /// The sqlx connection, once every write before has finished.
    pub(super) async fn hold(&self) -> Result<HeldWriter, StoreError> {
        let mut held = HeldWriter(Arc::clone(&self.0).lock_owned().await);
        held.end_forgotten_transaction().await?;
        Ok(held)
    }

    /// Run `work` on `data` in one write transaction on the direct
    /// connection, on a blocking thread, and commit it; `doing` names the
    /// commit in an error. `data` is freed on another blocking thread
    /// meanwhile (freeing a page's parsed entities is a good share of its
    /// cost, and nothing need wait for it). Dropped before it is done, the
    /// transaction still finishes (or rolls back) on its own.
    pub(super) async fn transaction<D, R>(
        &self,
        doing: String,
        data: D,
        work: impl FnOnce(&mut rusqlite::Transaction<'_>, &D) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError>
    where
        D: Send + 'static,
        R: Send + 'static,
    {
        let mut connections = Arc::clone(&self.0).lock_owned().await;
        let task = tokio::task::spawn_blocking(move || {
            let result = commit(&mut connections.direct, doing, |tx| work(tx, &data));
            connections.checkpoints.committed();
            (result, data)
        });
        match task.await {
            Ok((result, data)) => {
                tokio::task::spawn_blocking(move || drop(data));
                result
            }
            Err(error) => match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_) => Err(StoreError::WriterGone),
            },
        }
    }
}

/// Run `work` in one transaction that takes the write lock at once, and
/// commit it (rolled back if `work` fails).
fn commit<R>(
    connection: &mut rusqlite::Connection,
    doing: String,
    work: impl FnOnce(&mut rusqlite::Transaction<'_>) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let mut tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .doing_with(|| "starting a write transaction".to_owned())?;
    let result = work(&mut tx)?;
    tx.commit().doing_with(|| doing)?;
    Ok(result)
}

impl HeldWriter {
    /// sqlx counts the transactions it began on a connection, and refuses a
    /// `BEGIN` while the count is above zero. When SQLite ends a transaction
    /// by itself (a write failing because the disk is full rolls the whole
    /// transaction back), sqlx's own `ROLLBACK` then fails, its count stays
    /// at one, and every later write on the connection would be refused
    /// until the process restarts. No transaction is open while the writer
    /// is free, so a count above zero here is that, and the connection is
    /// replaced by a new one.
    async fn end_forgotten_transaction(&mut self) -> Result<(), StoreError> {
        let connections = &mut *self.0;
        if !connections.sqlx.is_in_transaction() {
            return Ok(());
        }
        // The rollback of a transaction dropped unfinished may still be on
        // its way to the connection: a round trip lets it arrive.
        connections
            .sqlx
            .ping()
            .await
            .doing("checking the writer's connection")?;
        if !connections.sqlx.is_in_transaction() {
            return Ok(());
        }
        tracing::warn!(
            "the database ended a write transaction by itself (a full disk?); \
             the writer's connection is opened again"
        );
        connections.sqlx = open_sqlx_side(&connections.url, &connections.settings).await?;
        Ok(())
    }
}

impl Drop for HeldWriter {
    fn drop(&mut self) {
        self.0.checkpoints.committed();
    }
}

impl Deref for HeldWriter {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.0.sqlx
    }
}

impl DerefMut for HeldWriter {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.0.sqlx
    }
}

/// Attach "while doing X" to a SQLite error, building the text only for an
/// error: most statements here run once per row.
pub(super) trait SqliteContext<T> {
    fn doing_with(self, doing: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> SqliteContext<T> for rusqlite::Result<T> {
    fn doing_with(self, doing: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|error| StoreError::Sqlite {
            doing: doing(),
            error,
        })
    }
}

/// The page cache of the writer's sqlx connection, in KiB.
const SQLX_SIDE_CACHE_KIB: u32 = 2048;

/// The sqlx side of the writer: a connection set up as the pool's are,
/// with a small cache (it writes a source's state now and then, not pages)
/// and no automatic checkpoint (the checkpointer copies the log back).
async fn open_sqlx_side(url: &str, settings: &StoreSettings) -> Result<AnyConnection, StoreError> {
    let mut sqlx = super::sqlite_connection(url, settings).await?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "PRAGMA cache_size = -{SQLX_SIDE_CACHE_KIB}; PRAGMA wal_autocheckpoint = 0"
    )))
    .execute(&mut sqlx)
    .await
    .doing("setting up the writer")?;
    Ok(sqlx)
}

/// Prepared statements kept per connection: every statement below, with room.
const CACHED_STATEMENTS: usize = 64;

fn open_direct(file: &str, settings: &SqliteSettings) -> Result<rusqlite::Connection, StoreError> {
    let doing = || format!("opening {file} to write");
    let connection = rusqlite::Connection::open(file).doing_with(doing)?;
    connection.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
    connection
        .busy_timeout(settings.busy_timeout)
        .doing_with(doing)?;
    let mut setup = settings.pragmas().join(";\n");
    setup.push_str(";\nPRAGMA wal_autocheckpoint = 0");
    connection.execute_batch(&setup).doing_with(doing)?;
    Ok(connection)
}

/// Copies the write-ahead log back into the database file on a thread and a
/// connection of its own, so that no commit waits for it. (SQLite's
/// automatic checkpoint ran inside the commit that crossed its threshold,
/// and stalled the writer, and with it the whole pipeline, for a quarter to
/// half a second every second or so of a first ingest.)
///
/// Every [`CHECKPOINT_EVERY_COMMITS`] commits it runs a passive checkpoint,
/// which SQLite lets run beside the writer. Under a steady stream of commits
/// such a checkpoint never quite catches up, and the log only grows; once it
/// holds `journalSizeLimit` ([`SqliteSettings::restart_log_frames`]), a
/// restarting checkpoint holds the writer back while it copies the little
/// that is left, and the log starts over from its beginning (the next
/// commit truncates its file to `journalSizeLimit`). That one waits at most
/// [`RESTART_WAIT`] for the writer and for readers of the log (a long read
/// of the change log, say); if they are not done by then it gives up until
/// the next time. So that readers cannot put it off for ever, after
/// [`PATIENT_AFTER`] give-ups in a row the next restart waits up to
/// [`PATIENT_RESTART_WAIT`].
struct Checkpointer {
    wake: std::sync::mpsc::SyncSender<()>,
    commits: u32,
}

impl Checkpointer {
    fn start(file: &str, settings: &SqliteSettings) -> Result<Self, StoreError> {
        let doing = || format!("opening {file} to copy its log back");
        let connection = rusqlite::Connection::open(file).doing_with(doing)?;
        connection.busy_timeout(RESTART_WAIT).doing_with(doing)?;
        connection
            .execute_batch(&format!(
                "PRAGMA cache_size = -1024; PRAGMA wal_autocheckpoint = 0; \
                 PRAGMA journal_size_limit = {}",
                settings.journal_size_limit
            ))
            .doing_with(doing)?;
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let file = file.to_owned();
        let mut copier = LogCopier {
            connection,
            restart_frames: settings.restart_log_frames(),
            give_ups: 0,
        };
        // Ends when the writer, and with it the sender, is dropped.
        std::thread::spawn(move || {
            while woken.recv().is_ok() {
                if let Err(error) = copier.copy_back() {
                    tracing::warn!("copying the write-ahead log of {file} back: {error}");
                }
            }
        });
        Ok(Checkpointer { wake, commits: 0 })
    }

    /// A write was committed: every so many, wake the checkpoint (unless it
    /// is still busy with the last one).
    fn committed(&mut self) {
        self.commits += 1;
        if self.commits >= CHECKPOINT_EVERY_COMMITS {
            self.commits = 0;
            // Full: a checkpoint is already due, and it will copy this too.
            let _ = self.wake.try_send(());
        }
    }
}

/// The checkpointer's connection, and how its restarts have gone.
struct LogCopier {
    connection: rusqlite::Connection,
    /// The log's length, in pages, past which it is restarted.
    restart_frames: i64,
    /// Restarts given up in a row (the writer or readers were busy).
    give_ups: u32,
}

impl LogCopier {
    /// A passive checkpoint, then a restarting one if the log is long. A
    /// restart that had to give up says so in its row, not as an error.
    fn copy_back(&mut self) -> rusqlite::Result<()> {
        let log_frames: i64 =
            self.connection
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))?;
        if log_frames < self.restart_frames {
            return Ok(());
        }
        let patient = self.give_ups >= PATIENT_AFTER;
        if patient {
            self.connection.busy_timeout(PATIENT_RESTART_WAIT)?;
        }
        let busy: rusqlite::Result<i64> =
            self.connection
                .query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| row.get(0));
        if patient {
            self.connection.busy_timeout(RESTART_WAIT)?;
        }
        self.give_ups = match busy? {
            0 => 0,
            _ => self.give_ups.saturating_add(1),
        };
        Ok(())
    }
}

/// Commits between two passive checkpoints: a page's commit adds some fifty
/// to a hundred 16 KiB pages to the log.
const CHECKPOINT_EVERY_COMMITS: u32 = 32;

/// How long a restarting checkpoint waits for the writer and the log's
/// readers, holding new writes back meanwhile.
const RESTART_WAIT: Duration = Duration::from_millis(100);

/// Restarts given up in a row before one waits longer.
const PATIENT_AFTER: u32 = 3;

/// How long that one waits.
const PATIENT_RESTART_WAIT: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use weir_core::canonical::ContentHash;
    use weir_core::intake::Contribution;
    use weir_core::json::Json;

    use super::*;
    use crate::store::{Catalog, SourceRole, sqlite_url_for};

    fn component(name: &str) -> Contribution {
        let body = format!(
            r#"{{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{{"name":"{name}","description":"{}"}},"spec":{{"type":"service","lifecycle":"production","owner":"team"}}}}"#,
            "x".repeat(2000)
        );
        let hash = ContentHash::of(&Json::parse(&body).expect("test JSON")).to_hex();
        Contribution {
            entity_ref: format!("component:default/{name}"),
            raw_hash: hash.clone(),
            hash,
            body,
            merges_unchanged_alone: true,
            location_key: None,
            plugin_build: "test".into(),
        }
    }

    /// No commit copies the log back itself: the checkpointer does, beside
    /// the writer, and the database file grows with what was committed.
    #[tokio::test]
    async fn the_log_is_copied_back_beside_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("weir.db");
        let store = Catalog::open(&sqlite_url_for(&file)).await.unwrap();
        let size = || std::fs::metadata(&file).unwrap().len();
        let before = size();
        let role = SourceRole {
            name: "source",
            priority: 0,
            owner_rule: false,
        };
        for page in 0..CHECKPOINT_EVERY_COMMITS {
            let contributions = (0..20)
                .map(|i| component(&format!("c{page}-{i}")))
                .collect();
            store.apply_page(role, contributions, &[]).await.unwrap();
        }
        let waited = std::time::Instant::now();
        while size() <= before {
            assert!(
                waited.elapsed() < Duration::from_secs(20),
                "the log was not copied back: the file stayed at {before} bytes"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A transaction SQLite ended by itself (as a write on a full disk
    /// does) leaves sqlx counting it as open: the next write must still
    /// begin, not fail for ever with "non-zero transaction depth".
    #[tokio::test]
    async fn a_transaction_sqlite_ended_by_itself_does_not_wedge_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Catalog::open(&sqlite_url_for(&dir.path().join("weir.db")))
            .await
            .unwrap();
        for _ in 0..2 {
            let mut writer = store.writer().await.unwrap();
            let mut tx = writer.begin().await.unwrap();
            // Behind sqlx's back, as SQLite does on SQLITE_FULL.
            sqlx::raw_sql("ROLLBACK").execute(&mut *tx).await.unwrap();
            let refused = tx.commit().await;
            assert!(refused.is_err(), "the commit of an ended transaction");
        }
        let mut writer = store.writer().await.unwrap();
        let mut tx = writer.begin().await.unwrap();
        sqlx::raw_sql("CREATE TABLE later (x)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}
