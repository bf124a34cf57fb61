//! Which version of a source's plugin runs, and what happened to the others:
//! a [`Slot`] per running source holds the current version (read by its
//! runner at the start of each burst), the last version that proved good,
//! and the probation of a new version. A version that fails its first
//! [`TRIAL_FAILURES`] bursts in a row (a burst fails when a guest call or a
//! commit fails, or when more than half of its entities are refused) is
//! rolled back to the last good one and quarantined (its build is not loaded
//! again until its file changes).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use weir_core::intake::Admission;

use super::options::SourceOptions;
use crate::runtime::Plugin;

/// Failed bursts in a row, before its first good burst, after which a new
/// version of a plugin is rolled back to the last good one.
pub const TRIAL_FAILURES: u32 = 3;

/// One version of a source: a loaded plugin and the options it runs with.
pub(super) struct Version {
    pub plugin: Arc<Plugin>,
    pub options: SourceOptions,
}

impl Version {
    /// What this version's entities must be to be taken in: its scope, and
    /// its plugin's largest entity.
    pub fn admission(&self) -> Admission {
        Admission {
            scope: self.options.scope.clone(),
            max_entity_bytes: self.plugin.settings().limits.max_entity_bytes,
        }
    }
}

/// What the plugins folder and the engine did with one source's versions,
/// for logs, the provider status and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadStatus {
    /// The file of the version running now (empty when none runs).
    pub file: PathBuf,
    /// The SHA-256 of the running version's bytes.
    pub build: String,
    /// Versions switched in after the first (new builds, new settings,
    /// rollbacks).
    pub reloads: u64,
    /// When the last switch or failed attempt happened (Unix ms).
    pub last_reload_ms: Option<i64>,
    /// Why the last attempt to load or run a new version failed; cleared by
    /// the next successful switch.
    pub last_error: Option<String>,
    /// A build rolled back and not loaded again until its file changes.
    pub quarantined: Option<String>,
    /// Secrets the running version's manifest asks for and the operator
    /// does not grant.
    pub missing_secrets: Vec<String>,
}

/// What a source's bursts have cost and carried since this process started
/// running it (across its versions), for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BurstFigures {
    pub bursts: u64,
    /// Bursts that ended in an error.
    pub failed_bursts: u64,
    /// Wall-clock time of the bursts, from set-up to tear-down.
    pub burst_seconds: f64,
    /// Of which inside guest calls.
    pub guest_seconds: f64,
    /// Fuel the guest calls used.
    pub fuel: u64,
    pub pages: u64,
    pub entities: u64,
    /// Bytes of entity JSON the pages carried.
    pub page_bytes: u64,
    /// The largest linear memory an instance grew to, in bytes.
    pub peak_memory_bytes: u64,
}

impl BurstFigures {
    /// Count a page the source returned.
    pub(super) fn count(&mut self, page: &crate::runtime::Page) {
        self.pages += 1;
        self.entities += page.entities.len() as u64;
        self.page_bytes += page
            .entities
            .iter()
            .map(|entity| entity.json().len() as u64)
            .sum::<u64>();
    }
}

/// A source's versions, shared by the engine and the source's runner.
pub(super) struct Slot {
    state: Mutex<SlotState>,
    figures: Mutex<BurstFigures>,
}

struct SlotState {
    current: Arc<Version>,
    /// The last version that completed a burst, when the current one has
    /// not yet.
    last_good: Option<Arc<Version>>,
    /// Whether the current version has yet to complete a burst.
    on_trial: bool,
    trial_failures: u32,
    quarantined: Option<String>,
}

/// A new version that failed its trial, and the one that replaces it.
pub(super) struct Rollback {
    pub from: Arc<Version>,
    pub to: Arc<Version>,
}

impl Slot {
    pub(super) fn new(version: Version) -> Slot {
        Slot {
            state: Mutex::new(SlotState {
                current: Arc::new(version),
                last_good: None,
                // A first version has nothing to roll back to.
                on_trial: false,
                trial_failures: 0,
                quarantined: None,
            }),
            figures: Mutex::new(BurstFigures::default()),
        }
    }

    pub(super) fn figures(&self) -> BurstFigures {
        *self
            .figures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Add one burst's figures.
    pub(super) fn add_burst(&self, burst: BurstFigures) {
        let mut figures = self
            .figures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        figures.bursts += burst.bursts;
        figures.failed_bursts += burst.failed_bursts;
        figures.burst_seconds += burst.burst_seconds;
        figures.guest_seconds += burst.guest_seconds;
        figures.fuel += burst.fuel;
        figures.pages += burst.pages;
        figures.entities += burst.entities;
        figures.page_bytes += burst.page_bytes;
        figures.peak_memory_bytes = figures.peak_memory_bytes.max(burst.peak_memory_bytes);
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The version the next burst runs.
    pub(super) fn current(&self) -> Arc<Version> {
        Arc::clone(&self.lock().current)
    }

    pub(super) fn quarantined(&self) -> Option<String> {
        self.lock().quarantined.clone()
    }

    /// Switch to `version` at the next burst; it is on trial until it
    /// completes a burst. Returns the version it replaces.
    pub(super) fn replace(&self, version: Version) -> Arc<Version> {
        let mut state = self.lock();
        let previous = std::mem::replace(&mut state.current, Arc::new(version));
        if !state.on_trial {
            state.last_good = Some(Arc::clone(&previous));
        }
        state.on_trial = state.last_good.is_some();
        state.trial_failures = 0;
        state.quarantined = None;
        previous
    }

    /// Record how a burst of `version` ended (`ok`: it completed); a failed
    /// trial rolls back.
    pub(super) fn burst_ended(&self, version: &Arc<Version>, ok: bool) -> Option<Rollback> {
        let mut state = self.lock();
        if !Arc::ptr_eq(&state.current, version) || !state.on_trial {
            return None;
        }
        if ok {
            state.on_trial = false;
            state.last_good = None;
            state.trial_failures = 0;
            return None;
        }
        state.trial_failures += 1;
        if state.trial_failures < TRIAL_FAILURES {
            return None;
        }
        let to = state.last_good.take()?;
        let from = std::mem::replace(&mut state.current, Arc::clone(&to));
        state.on_trial = false;
        state.trial_failures = 0;
        state.quarantined = Some(from.plugin.build().sha256().to_owned());
        Some(Rollback { from, to })
    }
}
