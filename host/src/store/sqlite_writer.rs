//! SQLite's writer: the catalog file's one writer, as two connections used
//! one at a time. Most writes go through sqlx as elsewhere; a page's commit
//! (the hot path) runs whole on a blocking thread through rusqlite instead, each
//! row through a prepared statement bound by reference. Through sqlx every
//! statement was a round trip to its worker thread, every bound value was
//! copied twice, and a statement of thousands of placeholders was parsed
//! per batch: a page's commit took longer than producing the next page.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::apply::{MergedEntity, SourceRole};
use super::source_state::CycleTotals;
use super::writes::{
    CatalogWrites, EntityRow, MergedState, StoredContribution, Tombstone, split_ref,
};
use super::{QueryContext, SQLITE_PRAGMAS, StoreError};
use crate::core::intake::Contribution;

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
}

/// SQLite's writer, shared by every clone of the store.
#[derive(Clone)]
pub(crate) struct SqliteWriter(Arc<tokio::sync::Mutex<SqliteConnections>>);

/// Held while writing through sqlx; derefs to the sqlx connection.
pub(crate) struct HeldWriter(tokio::sync::OwnedMutexGuard<SqliteConnections>);

impl SqliteWriter {
    /// Open the direct connection beside `sqlx`, a connection to the same
    /// database file that is set up as a writer.
    pub(super) async fn open(mut sqlx: AnyConnection) -> Result<SqliteWriter, StoreError> {
        let row = sqlx::query("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&mut sqlx)
            .await
            .doing("finding the database file")?;
        let file: String = row.try_get(0).doing("finding the database file")?;
        if file.is_empty() {
            return Err(StoreError::InMemorySqlite);
        }
        // The sqlx side writes a source's state now and then, not pages: a
        // small cache will do. The log is copied back by the checkpointer.
        sqlx::raw_sql(AssertSqlSafe(format!(
            "PRAGMA cache_size = -{SQLX_SIDE_CACHE_KIB}; PRAGMA wal_autocheckpoint = 0"
        )))
        .execute(&mut sqlx)
        .await
        .doing("setting up the writer")?;
        let (direct, checkpoints) = tokio::task::spawn_blocking(move || {
            Ok::<_, StoreError>((open_direct(&file)?, Checkpointer::start(&file)?))
        })
        .await
        .map_err(|_| StoreError::WriterGone)??;
        Ok(SqliteWriter(Arc::new(tokio::sync::Mutex::new(
            SqliteConnections {
                sqlx,
                direct,
                checkpoints,
            },
        ))))
    }

    /// The sqlx connection, once every write before has finished.
    pub(super) async fn hold(&self) -> HeldWriter {
        HeldWriter(Arc::clone(&self.0).lock_owned().await)
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
trait SqliteContext<T> {
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

/// Prepared statements kept per connection: every statement below, with room.
const CACHED_STATEMENTS: usize = 64;

fn open_direct(file: &str) -> Result<rusqlite::Connection, StoreError> {
    let doing = || format!("opening {file} to write");
    let connection = rusqlite::Connection::open(file).doing_with(doing)?;
    connection.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
    connection
        .busy_timeout(Duration::from_secs(30))
        .doing_with(doing)?;
    let mut setup = SQLITE_PRAGMAS.join(";\n");
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
/// holds [`RESTART_LOG_FRAMES`], a restarting checkpoint holds the writer
/// back while it copies the little that is left, and the log starts over
/// from its beginning. That one waits at most [`RESTART_WAIT`] for the
/// writer and for readers of the log (a long read of the change log, say);
/// if they are not done by then it gives up until the next time.
struct Checkpointer {
    wake: std::sync::mpsc::SyncSender<()>,
    commits: u32,
}

impl Checkpointer {
    fn start(file: &str) -> Result<Self, StoreError> {
        let doing = || format!("opening {file} to copy its log back");
        let connection = rusqlite::Connection::open(file).doing_with(doing)?;
        connection.busy_timeout(RESTART_WAIT).doing_with(doing)?;
        connection
            .execute_batch("PRAGMA cache_size = -1024; PRAGMA wal_autocheckpoint = 0")
            .doing_with(doing)?;
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let file = file.to_owned();
        // Ends when the writer, and with it the sender, is dropped.
        std::thread::spawn(move || {
            while woken.recv().is_ok() {
                if let Err(error) = copy_back(&connection) {
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

/// A passive checkpoint, then a restarting one if the log is long. A
/// restart that had to give up says so in its row, not as an error.
fn copy_back(connection: &rusqlite::Connection) -> rusqlite::Result<()> {
    let log_frames: i64 =
        connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))?;
    if log_frames >= RESTART_LOG_FRAMES {
        connection.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
    }
    Ok(())
}

/// Commits between two passive checkpoints: a page's commit adds some fifty
/// to a hundred 16 KiB pages to the log.
const CHECKPOINT_EVERY_COMMITS: u32 = 32;

/// The log's length, in 16 KiB pages (256 MiB), past which it is made to
/// start over.
const RESTART_LOG_FRAMES: i64 = 16_384;

/// How long a restarting checkpoint waits for the writer and the log's
/// readers, holding new writes back meanwhile.
const RESTART_WAIT: Duration = Duration::from_millis(100);

/// One statement per row: each is prepared once per connection and costs a
/// B-tree lookup or insert, with no parsing and no copy of its values.
impl CatalogWrites for rusqlite::Transaction<'_> {
    async fn queue_behind_writers(&mut self) -> Result<(), StoreError> {
        // `BEGIN IMMEDIATE` took the write lock.
        Ok(())
    }

    async fn stored_hashes(
        &mut self,
        source: SourceRole<'_>,
        refs: &[&str],
    ) -> Result<HashMap<String, String>, StoreError> {
        let doing = || format!("reading stored hashes of source `{}`", source.name);
        let mut select = self
            .prepare_cached(
                "SELECT hash FROM source_entities \
                 WHERE source = ?1 AND entity_ref = ?2 AND error IS NULL AND priority = ?3",
            )
            .doing_with(doing)?;
        let mut hashes = HashMap::with_capacity(refs.len());
        for entity_ref in refs {
            let hash: Option<String> = select
                .query_row(params![source.name, entity_ref, source.priority], |row| {
                    row.get(0)
                })
                .optional()
                .doing_with(doing)?;
            if let Some(hash) = hash {
                hashes.insert((*entity_ref).to_owned(), hash);
            }
        }
        Ok(hashes)
    }

    async fn other_owners(
        &mut self,
        source: &str,
        refs: &[&str],
    ) -> Result<HashMap<String, Vec<(String, Option<String>)>>, StoreError> {
        let doing = || format!("reading other owners for source `{source}`");
        let mut select = self
            .prepare_cached(
                "SELECT source, location_key FROM source_entities \
                 WHERE entity_ref = ?1 AND source <> ?2",
            )
            .doing_with(doing)?;
        let mut owners: HashMap<String, Vec<(String, Option<String>)>> = HashMap::new();
        for entity_ref in refs {
            let mut rows = select
                .query(params![entity_ref, source])
                .doing_with(doing)?;
            while let Some(row) = rows.next().doing_with(doing)? {
                owners
                    .entry((*entity_ref).to_owned())
                    .or_default()
                    .push((row.get(0).doing_with(doing)?, row.get(1).doing_with(doing)?));
            }
        }
        Ok(owners)
    }

    async fn upsert_contributions(
        &mut self,
        source: SourceRole<'_>,
        batch: &[&Contribution],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let doing = || format!("storing entities of source `{}`", source.name);
        let mut upsert = self
            .prepare_cached(
                "INSERT INTO source_entities \
                 (source, entity_ref, body, hash, raw_hash, location_key, plugin_build, priority, \
                 first_seen_ms, updated_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) \
                 ON CONFLICT (source, entity_ref) DO UPDATE SET \
                 body = excluded.body, hash = excluded.hash, raw_hash = excluded.raw_hash, \
                 location_key = excluded.location_key, plugin_build = excluded.plugin_build, \
                 priority = excluded.priority, error = NULL, updated_ms = excluded.updated_ms",
            )
            .doing_with(doing)?;
        for contribution in batch {
            upsert
                .execute(params![
                    source.name,
                    contribution.entity_ref,
                    contribution.body,
                    contribution.hash,
                    contribution.raw_hash,
                    contribution.location_key,
                    contribution.plugin_build,
                    source.priority,
                    now_ms,
                ])
                .doing_with(doing)?;
        }
        Ok(())
    }

    async fn attach_error(
        &mut self,
        source: &str,
        entity_ref: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let doing = || format!("recording the error of {entity_ref} from source `{source}`");
        let changed = self
            .prepare_cached(
                "UPDATE source_entities SET error = ?1, updated_ms = ?2 \
                 WHERE source = ?3 AND entity_ref = ?4",
            )
            .doing_with(doing)?
            .execute(params![reason, now_ms, source, entity_ref])
            .doing_with(doing)?;
        Ok(changed > 0)
    }

    async fn delete_contributions(
        &mut self,
        source: &str,
        refs: &[&str],
    ) -> Result<Vec<String>, StoreError> {
        let doing = || format!("removing contributions of source `{source}`");
        let mut delete = self
            .prepare_cached("DELETE FROM source_entities WHERE source = ?1 AND entity_ref = ?2")
            .doing_with(doing)?;
        let mut deleted = Vec::new();
        for entity_ref in refs {
            if delete
                .execute(params![source, entity_ref])
                .doing_with(doing)?
                > 0
            {
                deleted.push((*entity_ref).to_owned());
            }
        }
        Ok(deleted)
    }

    async fn merged_states(
        &mut self,
        refs: &[&str],
    ) -> Result<HashMap<String, MergedState>, StoreError> {
        let doing = || "reading merged hashes".to_owned();
        let mut select = self
            .prepare_cached("SELECT hash, sole_source FROM entities WHERE entity_ref = ?1")
            .doing_with(doing)?;
        let mut states = HashMap::with_capacity(refs.len());
        for entity_ref in refs {
            let state = select
                .query_row([entity_ref], |row| {
                    Ok(MergedState {
                        hash: row.get(0)?,
                        sole_source: row.get(1)?,
                    })
                })
                .optional()
                .doing_with(doing)?;
            if let Some(state) = state {
                states.insert((*entity_ref).to_owned(), state);
            }
        }
        Ok(states)
    }

    async fn other_contributions(
        &mut self,
        source: &str,
        refs: &[&str],
    ) -> Result<Vec<StoredContribution>, StoreError> {
        let doing = || "reading contributions to re-merge".to_owned();
        let mut select = self
            .prepare_cached(
                "SELECT source, priority, body FROM source_entities \
                 WHERE entity_ref = ?1 AND source <> ?2",
            )
            .doing_with(doing)?;
        let mut contributions = Vec::new();
        for entity_ref in refs {
            let mut rows = select
                .query(params![entity_ref, source])
                .doing_with(doing)?;
            while let Some(row) = rows.next().doing_with(doing)? {
                contributions.push(StoredContribution {
                    entity_ref: (*entity_ref).to_owned(),
                    source: row.get(0).doing_with(doing)?,
                    priority: row.get(1).doing_with(doing)?,
                    body: row.get(2).doing_with(doing)?,
                });
            }
        }
        Ok(contributions)
    }

    async fn restate(
        &mut self,
        entity_ref: &str,
        merged: &MergedEntity,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let doing = || format!("storing the contributors of {entity_ref}");
        let (body, provenance, sole_source) = merged.columns();
        self.prepare_cached(
            "UPDATE entities SET body = ?1, provenance = ?2, sole_source = ?3, updated_ms = ?4 \
             WHERE entity_ref = ?5",
        )
        .doing_with(doing)?
        .execute(params![body, provenance, sole_source, now_ms, entity_ref])
        .doing_with(doing)?;
        Ok(())
    }

    async fn take_offsets(&mut self, count: i64) -> Result<i64, StoreError> {
        let doing = || "taking change-log offsets".to_owned();
        self.prepare_cached(
            "UPDATE log_head SET last_offset = last_offset + ?1 WHERE id = 1 RETURNING last_offset",
        )
        .doing_with(doing)?
        .query_row([count], |row| row.get(0))
        .doing_with(doing)
    }

    async fn write_entities(
        &mut self,
        rows: &[EntityRow<'_>],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let doing = || "writing merged entities".to_owned();
        let mut upsert = self
            .prepare_cached(
                "INSERT INTO entities \
                 (entity_ref, kind, namespace, name, body, hash, provenance, sole_source, \
                 updated_ms, event_offset, last_change) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT (entity_ref) DO UPDATE SET body = excluded.body, \
                 hash = excluded.hash, provenance = excluded.provenance, \
                 sole_source = excluded.sole_source, updated_ms = excluded.updated_ms, \
                 event_offset = excluded.event_offset, last_change = excluded.last_change",
            )
            .doing_with(doing)?;
        for row in rows {
            let (kind, namespace, name) = split_ref(row.entity_ref);
            let (body, provenance, sole_source) = row.merged.columns();
            upsert
                .execute(params![
                    row.entity_ref,
                    kind,
                    namespace,
                    name,
                    body,
                    row.merged.hash,
                    provenance,
                    sole_source,
                    now_ms,
                    row.offset,
                    row.change,
                ])
                .doing_with(doing)?;
        }
        Ok(())
    }

    async fn clear_tombstones(&mut self, refs: &[&str]) -> Result<(), StoreError> {
        let doing = || "deleting the tombstones of entities added again".to_owned();
        // Most catalogs hold few tombstones, often none: one look spares a
        // statement per added entity.
        let any: bool = self
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM removals)")
            .doing_with(doing)?
            .query_row([], |row| row.get(0))
            .doing_with(doing)?;
        if !any {
            return Ok(());
        }
        let mut delete = self
            .prepare_cached("DELETE FROM removals WHERE entity_ref = ?1")
            .doing_with(doing)?;
        for entity_ref in refs {
            delete.execute([entity_ref]).doing_with(doing)?;
        }
        Ok(())
    }

    async fn remove_entities(
        &mut self,
        rows: &[Tombstone<'_>],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let doing = || "removing entities".to_owned();
        let mut delete = self
            .prepare_cached("DELETE FROM entities WHERE entity_ref = ?1")
            .doing_with(doing)?;
        for row in rows {
            delete.execute([row.entity_ref]).doing_with(doing)?;
        }
        let mut insert = self
            .prepare_cached(
                "INSERT INTO removals (event_offset, entity_ref, kind, at_ms) \
                 VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (entity_ref) DO UPDATE SET event_offset = excluded.event_offset, \
                 kind = excluded.kind, at_ms = excluded.at_ms",
            )
            .doing_with(doing)?;
        for row in rows {
            let (kind, _, _) = split_ref(row.entity_ref);
            insert
                .execute(params![row.offset, row.entity_ref, kind, now_ms])
                .doing_with(doing)?;
        }
        Ok(())
    }

    async fn extend_lease(
        &mut self,
        source: &str,
        owner: &str,
        cycle: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let doing = || format!("checking the lease on source `{source}`");
        let changed = self
            .prepare_cached(
                "UPDATE source_state SET lease_until_ms = ?1 WHERE source = ?2 \
                 AND lease_owner = ?3 AND cycle = ?4 AND cycle_started_ms IS NOT NULL",
            )
            .doing_with(doing)?
            .execute(params![until_ms, source, owner, cycle])
            .doing_with(doing)?;
        Ok(changed > 0)
    }

    async fn mark(&mut self, source: &str, refs: &[String]) -> Result<(), StoreError> {
        let doing = || format!("marking the entities of source `{source}`");
        let mut insert = self
            .prepare_cached(
                "INSERT INTO source_marks (source, entity_ref) VALUES (?1, ?2) \
                 ON CONFLICT DO NOTHING",
            )
            .doing_with(doing)?;
        for entity_ref in refs {
            insert
                .execute(params![source, entity_ref])
                .doing_with(doing)?;
        }
        Ok(())
    }

    async fn add_totals(
        &mut self,
        source: &str,
        cursor: Option<&str>,
        totals: CycleTotals,
    ) -> Result<(), StoreError> {
        let doing = || format!("recording the progress of source `{source}`");
        self.prepare_cached(
            "UPDATE source_state SET cursor = ?1, pages = pages + ?2, entities = entities + ?3, \
             added = added + ?4, updated = updated + ?5, removed = removed + ?6, \
             rejected = rejected + ?7 WHERE source = ?8",
        )
        .doing_with(doing)?
        .execute(params![
            cursor,
            totals.pages,
            totals.entities,
            totals.added,
            totals.updated,
            totals.removed,
            totals.rejected,
            source,
        ])
        .doing_with(doing)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::canonical::ContentHash;
    use crate::core::json::Json;
    use crate::store::{Store, sqlite_url_for};

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
        let store = Store::open(&sqlite_url_for(&file)).await.unwrap();
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
}
