//! [`Engine`]: the sources of one host process. It starts a task per
//! source, bounds how many bursts run at once, carries out operator actions
//! (through the store, so they reach whichever replica runs the source),
//! expires the entities of sources no replica runs any more, and shuts
//! everything down cleanly.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::options::SourceOptions;
use super::page::prepare_page;
use super::runner::{Runner, RunnerContext, rest_until};
use crate::core::entity_ref::EntityRef;
use crate::core::intake::Rejection;
use crate::runtime::{Plugin, PushEvent, SourceError};
use crate::store::{
    PageOutcome, RemovalOutcome, SourceRole, SourceStatus, Store, StoreError, now_ms,
};

/// Host-wide engine settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// This replica's name in leases; unique per process by default.
    pub owner: String,
    /// Bursts running at once, across all sources.
    pub max_concurrent_bursts: usize,
    /// The longest a source's task sleeps before looking at its state again
    /// (other replicas and operator actions change it).
    pub poll: Duration,
    /// Lease time beyond two guest calls' deadlines: with them, how long a
    /// dead replica's source waits before another replica continues it.
    pub lease_margin: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            owner: replica_name(),
            max_concurrent_bursts: std::thread::available_parallelism().map_or(2, usize::from),
            poll: Duration::from_secs(5),
            lease_margin: Duration::from_secs(5),
        }
    }
}

/// An operator action or a push that could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no source named `{name}` runs on this host")]
    UnknownSource { name: String },

    #[error("source `{name}` takes no pushed events: its plugin exports no push handler")]
    PushUnsupported { name: String },

    #[error(transparent)]
    Source(#[from] SourceError),

    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What applying a pushed event did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// The upserts, as a page's outcome (rejections included).
    pub upserts: PageOutcome,
    pub removals: RemovalOutcome,
}

/// The running sources of this process.
pub struct Engine {
    store: Store,
    sources: BTreeMap<Arc<str>, RunningSource>,
    shutdown: watch::Sender<bool>,
    tasks: tokio::sync::Mutex<JoinSet<()>>,
}

struct RunningSource {
    plugin: Arc<Plugin>,
    options: SourceOptions,
    wake: Arc<Notify>,
}

impl Engine {
    /// Start a task for each source (named by its plugin's provider name)
    /// and the expiry of sources no longer configured.
    pub fn start(
        store: Store,
        sources: Vec<(Plugin, SourceOptions)>,
        options: EngineOptions,
    ) -> Self {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let permits = Arc::new(Semaphore::new(options.max_concurrent_bursts.max(1)));
        let owner: Arc<str> = options.owner.as_str().into();
        let mut tasks = JoinSet::new();
        let mut running = BTreeMap::new();
        for (plugin, source_options) in sources {
            let name: Arc<str> = plugin.provider_name().into();
            let plugin = Arc::new(plugin);
            let wake = Arc::new(Notify::new());
            let runner = Runner {
                name: Arc::clone(&name),
                plugin: Arc::clone(&plugin),
                options: source_options.clone(),
                wake: Arc::clone(&wake),
                context: RunnerContext {
                    store: store.clone(),
                    owner: Arc::clone(&owner),
                    permits: Arc::clone(&permits),
                    shutdown: shutdown_rx.clone(),
                    poll: options.poll,
                    lease_margin: options.lease_margin,
                },
            };
            tasks.spawn(runner.run());
            running.insert(
                name,
                RunningSource {
                    plugin,
                    options: source_options,
                    wake,
                },
            );
        }
        let configured: Vec<Arc<str>> = running.keys().cloned().collect();
        tasks.spawn(expire_unconfigured(
            store.clone(),
            configured,
            options.clone(),
            shutdown_rx,
        ));
        info!(owner = %owner, sources = running.len(), "engine started");
        Engine {
            store,
            sources: running,
            shutdown,
            tasks: tokio::sync::Mutex::new(tasks),
        }
    }

    /// The names of the sources this process runs.
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.sources.keys().map(|name| &**name)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The loaded plugin of source `name`.
    pub fn plugin(&self, name: &str) -> Option<&Plugin> {
        self.sources.get(name).map(|source| &*source.plugin)
    }

    pub async fn status(&self, name: &str) -> Result<SourceStatus, EngineError> {
        self.running(name)?;
        self.store
            .source_status(name)
            .await?
            .ok_or_else(|| unknown(name))
    }

    /// Do the source's next action now: the next burst when pausing or
    /// backing off, a new cycle when resting.
    pub async fn trigger(&self, name: &str) -> Result<(), EngineError> {
        let source = self.running(name)?;
        self.store.trigger_source(name, now_ms()).await?;
        source.wake.notify_one();
        Ok(())
    }

    /// End the current cycle (nothing is swept) and start a new one now.
    pub async fn restart(&self, name: &str) -> Result<(), EngineError> {
        let source = self.running(name)?;
        let now = now_ms();
        self.store.cancel_cycle(name, now, now).await?;
        source.wake.notify_one();
        Ok(())
    }

    /// End the current cycle (nothing is swept); the source rests until its
    /// next scheduled start (`restLength` from now, or the next cron time).
    pub async fn cancel(&self, name: &str) -> Result<(), EngineError> {
        let source = self.running(name)?;
        let now = now_ms();
        let next = rest_until(&source.options.rest, now);
        self.store.cancel_cycle(name, now, next).await?;
        source.wake.notify_one();
        Ok(())
    }

    /// Forget the source's ingestion records (cursor, marks, history,
    /// errors; its entities stay) and start a new cycle at its next
    /// scheduled start.
    pub async fn reset(&self, name: &str) -> Result<(), EngineError> {
        let source = self.running(name)?;
        let now = now_ms();
        let next = rest_until(&source.options.rest, now);
        self.store.reset_source(name, now, next).await?;
        source.wake.notify_one();
        Ok(())
    }

    /// Stop every source: a page being committed finishes, a guest call in
    /// flight is abandoned (nothing of its page is written), leases are
    /// released.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let mut tasks = self.tasks.lock().await;
        while let Some(joined) = tasks.join_next().await {
            if let Err(error) = joined {
                warn!("a source task failed: {error}");
            }
        }
        info!("engine stopped");
    }

    /// Hand `event` to the source's push handler and apply what it returns
    /// at once: upserts (validated and merged like a page's entities, and
    /// marked in the current cycle so its sweep keeps them) and removals.
    pub async fn push(&self, name: &str, event: PushEvent) -> Result<PushReport, EngineError> {
        let source = self.running(name)?;
        if !source.plugin.supports_push() {
            return Err(EngineError::PushUnsupported {
                name: name.to_owned(),
            });
        }
        let pushed = source.plugin.push(event).await?;
        let role = SourceRole {
            name,
            priority: source.options.priority,
            owner_rule: source.options.owner_rule,
        };
        let page = prepare_page(&self.store, role, &source.options.scope, &pushed.upserts).await?;
        let mut rejected = page.rejected;
        let mut removals = Vec::with_capacity(pushed.removals.len());
        for text in &pushed.removals {
            match EntityRef::parse(text) {
                Ok(entity_ref) => removals.push(entity_ref.to_string()),
                Err(error) => rejected.push(Rejection {
                    entity_ref: None,
                    reason: format!("source `{name}`: push: removal {text:?}: {error}"),
                }),
            }
        }
        let (mut upserts, removals) = self
            .store
            .apply_push(role, page.contributions, &rejected, &page.marks, &removals)
            .await?;
        upserts.unchanged += page.unchanged;
        upserts.rejected.extend(rejected);
        info!(
            source = name,
            stored = upserts.stored,
            removed = removals.deleted,
            rejected = upserts.rejected.len(),
            "push applied"
        );
        Ok(PushReport { upserts, removals })
    }

    fn running(&self, name: &str) -> Result<&RunningSource, EngineError> {
        self.sources.get(name).ok_or_else(|| unknown(name))
    }
}

fn unknown(name: &str) -> EngineError {
    EngineError::UnknownSource {
        name: name.to_owned(),
    }
}

/// Remove what sources that no replica has run for their `expireAfter`
/// contributed. Each runner renews its source's time as it goes.
async fn expire_unconfigured(
    store: Store,
    configured: Vec<Arc<str>>,
    options: EngineOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let every = options.poll.max(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let stale = match store.expired_sources(now_ms()).await {
            Ok(stale) => stale,
            Err(error) => {
                warn!("{error}");
                continue;
            }
        };
        for source in stale {
            if configured.iter().any(|name| **name == *source) {
                continue;
            }
            match store.expire_source(&source).await {
                Ok(removal) => info!(
                    source = %source,
                    deleted = removal.deleted,
                    removed = removal.removed,
                    "source expired: no replica has run it for its expireAfter"
                ),
                Err(error) => warn!(source = %source, "{error}"),
            }
        }
    }
}

/// `host-pid-nanos`: unique per process, readable in the provider status.
fn replica_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "weir".to_owned());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    format!("{host}-{}-{nanos:08x}", std::process::id())
}
