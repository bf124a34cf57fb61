//! [`Supervisor`]: the sources of one host process. It starts a task per
//! source, bounds how many bursts run at once, carries out operator actions
//! (through the store, so they reach whichever replica runs the source),
//! expires the entities of sources no replica runs any more, and shuts
//! everything down cleanly.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Notify, Semaphore, oneshot, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};
use weir_core::entity_ref::EntityRef;
use weir_core::intake::Rejection;

use super::options::SourceOptions;
use super::page::{Recognise, prepare_page};
use super::reload_book::ReloadBook;
use super::runner::{Runner, RunnerContext, rest_until};
use super::versions::{BurstFigures, ReloadStatus, Slot, Version};
use crate::runtime::{OutboundStats, Plugin, PushEvent, SourceError};
use crate::store::{
    Catalog, Delivery, FailureStep, PageOutcome, PushApplied, RemovalOutcome, SourceRole,
    SourceStatus, StoreError, now_ms,
};

/// Host-wide engine settings.
#[derive(Debug, Clone)]
pub struct SupervisorOptions {
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

impl Default for SupervisorOptions {
    fn default() -> Self {
        SupervisorOptions {
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

    #[error(
        "{}: provider name `{name}` is already used by another plugin; this one does not run",
        file.display()
    )]
    AlreadyRunning { name: String, file: PathBuf },

    #[error("the engine is shutting down")]
    ShuttingDown,

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
    /// The delivery was applied before, within its replay window: nothing
    /// was done this time.
    pub duplicate: bool,
}

/// The running sources of this process.
pub struct Supervisor {
    store: Catalog,
    sources: Arc<RwLock<BTreeMap<Arc<str>, RunningSource>>>,
    shutdown: watch::Sender<bool>,
    tasks: tokio::sync::Mutex<JoinSet<()>>,
    owner: Arc<str>,
    permits: Arc<Semaphore>,
    options: SupervisorOptions,
    reloads: ReloadBook,
    /// While set, sources no process runs are not expired (the plugins are
    /// still being loaded).
    expiry_held: Arc<AtomicBool>,
}

struct RunningSource {
    slot: Arc<Slot>,
    wake: Arc<Notify>,
    /// Stops this source's runner.
    stop: watch::Sender<bool>,
    /// Fires when the runner has stopped.
    stopped: Option<oneshot::Receiver<()>>,
}

impl Supervisor {
    /// Start a task for each source (named by its plugin's provider name)
    /// and the expiry of sources no longer configured.
    pub fn start(
        store: Catalog,
        sources: Vec<(Plugin, SourceOptions)>,
        options: SupervisorOptions,
    ) -> Self {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let permits = Arc::new(Semaphore::new(options.max_concurrent_bursts.max(1)));
        let owner: Arc<str> = options.owner.as_str().into();
        let mut tasks = JoinSet::new();
        let running = Arc::new(RwLock::new(BTreeMap::new()));
        let expiry_held = Arc::new(AtomicBool::new(false));
        tasks.spawn(expire_unconfigured(
            store.clone(),
            Arc::clone(&running),
            Arc::clone(&expiry_held),
            options.clone(),
            shutdown_rx,
        ));
        let engine = Supervisor {
            store,
            sources: running,
            shutdown,
            tasks: tokio::sync::Mutex::new(tasks),
            owner,
            permits,
            options,
            reloads: ReloadBook::default(),
            expiry_held,
        };
        let count = sources.len();
        {
            let mut tasks = engine
                .tasks
                .try_lock()
                .expect("nothing else holds the new engine's tasks");
            for (plugin, source_options) in sources {
                if let Err(error) = engine.spawn_source(&mut tasks, plugin, source_options) {
                    warn!("{error}");
                }
            }
        }
        info!(owner = %engine.owner, sources = count, "engine started");
        engine
    }

    /// Start running a new source (named by its plugin's provider name).
    pub async fn add_source(
        &self,
        plugin: Plugin,
        options: SourceOptions,
    ) -> Result<(), EngineError> {
        let mut tasks = self.tasks.lock().await;
        if *self.shutdown.borrow() {
            return Err(EngineError::ShuttingDown);
        }
        self.spawn_source(&mut tasks, plugin, options)
    }

    fn spawn_source(
        &self,
        tasks: &mut JoinSet<()>,
        plugin: Plugin,
        options: SourceOptions,
    ) -> Result<(), EngineError> {
        let name: Arc<str> = plugin.provider_name().into();
        let mut sources = self.write();
        if sources.contains_key(&name) {
            return Err(EngineError::AlreadyRunning {
                name: name.to_string(),
                file: plugin.file().to_owned(),
            });
        }
        self.reloads.running(&name, &plugin, false);
        let version = Version {
            plugin: Arc::new(plugin),
            options,
        };
        let slot = Arc::new(Slot::new(version));
        let wake = Arc::new(Notify::new());
        let (stop, stop_rx) = watch::channel(false);
        let (stopped_tx, stopped) = oneshot::channel();
        let context = RunnerContext {
            store: self.store.clone(),
            owner: Arc::clone(&self.owner),
            permits: Arc::clone(&self.permits),
            shutdown: stop_rx,
            reloads: self.reloads.clone(),
            poll: self.options.poll,
            lease_margin: self.options.lease_margin,
        };
        let seed = RunnerSeed {
            name: Arc::clone(&name),
            slot: Arc::clone(&slot),
            wake: Arc::clone(&wake),
            context,
        };
        tasks.spawn(async move {
            seed.run_until_stopped().await;
            let _ = stopped_tx.send(());
        });
        sources.insert(
            name,
            RunningSource {
                slot,
                wake,
                stop,
                stopped: Some(stopped),
            },
        );
        Ok(())
    }

    /// Run `plugin` (a new build, or new settings) in place of the version
    /// of the source with its provider name, from the source's next burst:
    /// a burst in flight finishes on the old version, and the cycle, its
    /// cursor and its marks carry over. The new version is on trial: if it
    /// fails its first [`TRIAL_FAILURES`](super::TRIAL_FAILURES) bursts in a row, the engine rolls
    /// back to the version it replaced and quarantines it.
    pub fn replace(&self, plugin: Plugin, options: SourceOptions) -> Result<(), EngineError> {
        let name = plugin.provider_name().to_owned();
        let sources = self.read();
        let source = sources.get(name.as_str()).ok_or_else(|| unknown(&name))?;
        self.reloads.running(&name, &plugin, true);
        let mut plugin = plugin;
        // Outbound request counts carry over to the new version.
        plugin.share_outbound_counters(source.slot.current().plugin.outbound_counters());
        let previous = source.slot.replace(Version {
            plugin: Arc::new(plugin),
            options,
        });
        let current = source.slot.current();
        info!(
            source = %name,
            from = %previous.plugin.build(),
            to = %current.plugin.build(),
            file = %current.plugin.file().display(),
            "plugin reloaded: the next burst runs the new version"
        );
        Ok(())
    }

    /// Stop the source: a page being committed finishes, a guest call in
    /// flight is abandoned (nothing of its page is written), its lease is
    /// released. Returns once its task has stopped. Its entities stay until
    /// its `expireAfter` passes (unless a replica runs it again).
    pub async fn remove(&self, name: &str) -> Result<(), EngineError> {
        let source = self.write().remove(name).ok_or_else(|| unknown(name))?;
        let _ = source.stop.send(true);
        if let Some(stopped) = source.stopped {
            let _ = stopped.await;
        }
        info!(
            source = name,
            "source removed: its entities follow its expireAfter"
        );
        Ok(())
    }

    /// Hold (`true`) or resume the expiry of sources this process does not
    /// run: `weir serve` holds it while it loads the plugins folder at
    /// start, so that a source whose plugin is still compiling is not taken
    /// for one that went away. Call it right after [`Supervisor::start`] (the
    /// first expiry happens one `poll` later).
    pub fn hold_expiry(&self, hold: bool) {
        self.expiry_held.store(hold, Ordering::SeqCst);
    }

    /// The build of the source's plugin that was rolled back and is not to
    /// be loaded again until its file changes.
    pub fn quarantined(&self, name: &str) -> Option<String> {
        self.read()
            .get(name)
            .and_then(|source| source.slot.quarantined())
    }

    /// Count a failed attempt to load or reload the source `name` (a
    /// provider name, or a file stem when the provider name is unknown),
    /// and record it in the source's errors when the store knows it. The
    /// store has it before the counters show it, so whoever sees the one
    /// finds the other.
    pub async fn report_load_error(&self, name: &str, message: &str) {
        if let Err(error) = self.store.record_error(name, message, now_ms()).await {
            warn!("{error}");
        }
        self.reloads.failed(name, message);
    }

    /// Note the secrets the running version of source `name` asks for and
    /// the operator does not grant (shown in its provider status).
    pub fn report_missing_secrets(&self, name: &str, secrets: Vec<String>) {
        self.reloads.missing_secrets(name, secrets);
    }

    /// The reload counters of every source that was ever loaded or failed
    /// to load, by name.
    /// Each running source's burst figures and outbound HTTP counts.
    pub fn source_figures(&self) -> BTreeMap<String, (BurstFigures, OutboundStats)> {
        self.read()
            .iter()
            .map(|(name, source)| {
                let outbound = source.slot.current().plugin.outbound_stats();
                (name.to_string(), (source.slot.figures(), outbound))
            })
            .collect()
    }

    pub fn reload_statuses(&self) -> BTreeMap<String, ReloadStatus> {
        self.reloads.snapshot()
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<Arc<str>, RunningSource>> {
        self.sources
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<Arc<str>, RunningSource>> {
        self.sources
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The names of the sources this process runs.
    pub fn sources(&self) -> Vec<String> {
        self.read().keys().map(|name| name.to_string()).collect()
    }

    /// Whether this process runs the source `name`.
    pub fn runs(&self, name: &str) -> bool {
        self.read().contains_key(name)
    }

    pub fn store(&self) -> &Catalog {
        &self.store
    }

    /// The plugin the next burst of source `name` runs.
    pub fn plugin(&self, name: &str) -> Option<Arc<Plugin>> {
        self.read()
            .get(name)
            .map(|source| Arc::clone(&source.slot.current().plugin))
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
        let next = rest_until(&source.version.options.rest, now);
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
        let next = rest_until(&source.version.options.rest, now);
        self.store.reset_source(name, now, next).await?;
        source.wake.notify_one();
        Ok(())
    }

    /// Stop every source: a page being committed finishes, a guest call in
    /// flight is abandoned (nothing of its page is written), leases are
    /// released.
    pub async fn shutdown(&self) {
        let mut tasks = self.tasks.lock().await;
        let _ = self.shutdown.send(true);
        for source in self.read().values() {
            let _ = source.stop.send(true);
        }
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
    pub async fn push(
        &self,
        name: &str,
        event: PushEvent,
        delivery: Option<Delivery>,
    ) -> Result<PushReport, EngineError> {
        let source = self.running(name)?;
        let source = &source.version;
        if !source.plugin.supports_push() {
            return Err(EngineError::PushUnsupported {
                name: name.to_owned(),
            });
        }
        if let Some(delivery) = &delivery
            && self.store.delivery_applied(name, delivery).await?
        {
            return Ok(PushReport {
                duplicate: true,
                ..PushReport::default()
            });
        }
        let pushed = source.plugin.push(event).await?;
        let role = SourceRole {
            name,
            priority: source.options.priority,
            owner_rule: source.options.owner_rule,
        };
        let page = prepare_page(
            &self.store,
            role,
            &source.admission(),
            pushed.upserts,
            Recognise::AllBut(&HashSet::new()),
        )
        .await?;
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
        let applied = self
            .store
            .apply_push(
                role,
                page.contributions,
                &rejected,
                &page.marks,
                &removals,
                delivery.as_ref(),
            )
            .await?;
        let (mut upserts, removals) = match applied {
            PushApplied::Applied(upserts, removals) => (upserts, removals),
            PushApplied::Duplicate => {
                return Ok(PushReport {
                    duplicate: true,
                    ..PushReport::default()
                });
            }
        };
        upserts.unchanged += page.unchanged;
        upserts.rejected.extend(rejected);
        info!(
            source = name,
            stored = upserts.stored,
            removed = removals.deleted,
            rejected = upserts.rejected.len(),
            "push applied"
        );
        Ok(PushReport {
            upserts,
            removals,
            duplicate: false,
        })
    }

    /// The source's current version and its wake-up.
    fn running(&self, name: &str) -> Result<Running, EngineError> {
        let sources = self.read();
        let source = sources.get(name).ok_or_else(|| unknown(name))?;
        Ok(Running {
            version: source.slot.current(),
            wake: Arc::clone(&source.wake),
        })
    }
}

struct Running {
    version: Arc<Version>,
    wake: Arc<Notify>,
}

/// What a source's runner is made from, so that a runner that panicked is
/// made again.
struct RunnerSeed {
    name: Arc<str>,
    slot: Arc<Slot>,
    wake: Arc<Notify>,
    context: RunnerContext,
}

/// A runner that ran at least this long before panicking starts its
/// back-off over.
const PANIC_FORGOTTEN_AFTER: Duration = Duration::from_secs(60);

impl RunnerSeed {
    /// Run the source until it is stopped. A panic in its runner (a bug in
    /// the host, never the plugin's doing: a guest traps, it cannot panic
    /// the host) stops this source only: it is recorded as the source's
    /// error, its lease is released, and a new runner starts after the
    /// source's back-off, while the other sources go on.
    async fn run_until_stopped(self) {
        let mut panics: i64 = 0;
        loop {
            let runner = Runner::new(
                Arc::clone(&self.name),
                Arc::clone(&self.slot),
                Arc::clone(&self.wake),
                self.context.clone(),
            );
            let started = std::time::Instant::now();
            let panic = match tokio::spawn(runner.run()).await {
                Ok(()) => return,
                Err(error) if error.is_panic() => panic_message(error.into_panic()),
                Err(_) => return,
            };
            if started.elapsed() >= PANIC_FORGOTTEN_AFTER {
                panics = 0;
            }
            panics += 1;
            let wait = self.recover(&panic, panics).await;
            let mut stop = self.context.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Record a panic as the source's failed burst (releasing its lease and
    /// backing off) and say how long to wait before running it again.
    async fn recover(&self, panic: &str, panics: i64) -> Duration {
        let options = &self.slot.current().options;
        let step = usize::try_from(panics - 1).unwrap_or(0);
        let wait = options
            .backoff
            .get(step)
            .or(options.backoff.last())
            .copied()
            .unwrap_or(Duration::from_secs(60));
        let message = format!(
            "source `{}`: its task panicked ({panic}); it restarts in {} (a bug in Weir: please \
             report it)",
            self.name,
            humantime::format_duration(wait)
        );
        tracing::error!(source = %self.name, "{message}");
        let store = &self.context.store;
        let (name, owner) = (&*self.name, &*self.context.owner);
        let now = now_ms();
        let until_ms = now.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
        let step = FailureStep::BackOff { until_ms };
        if let Err(error) = store.fail_burst(name, owner, &message, now, step).await {
            // Not holding the lease (the panic was outside a burst): record
            // the error alone, and give up the lease should it be ours.
            if !matches!(error, StoreError::Fenced { .. }) {
                warn!("{error}");
            }
            if let Err(error) = store.record_error(name, &message, now).await {
                warn!("{error}");
            }
            if let Err(error) = store.release_lease(name, owner).await {
                warn!("{error}");
            }
        }
        wait
    }
}

/// The text a panic carried.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

fn unknown(name: &str) -> EngineError {
    EngineError::UnknownSource {
        name: name.to_owned(),
    }
}

/// Remove what sources that no replica has run for their `expireAfter`
/// contributed. Each runner renews its source's time as it goes.
async fn expire_unconfigured(
    store: Catalog,
    configured: Arc<RwLock<BTreeMap<Arc<str>, RunningSource>>>,
    held: Arc<AtomicBool>,
    options: SupervisorOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let every = options.poll.max(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        if held.load(Ordering::SeqCst) {
            continue;
        }
        let stale = match store.expired_sources(now_ms()).await {
            Ok(stale) => stale,
            Err(error) => {
                warn!("{error}");
                continue;
            }
        };
        for source in stale {
            let running = configured
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .contains_key(source.as_str());
            if running {
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
