//! A [`Burst`]: one instance of a source, from set-up (`open`) through pages
//! (`next`) to tear-down (`close`). Every guest call runs under a
//! [`CallGuard`]: a fresh fuel budget, a wall-clock deadline enforced by
//! epochs inside the guest and by a tokio timeout around host calls, and a
//! precise error when either runs out.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceAny;
use wasmtime::{Store, Trap};

use super::bindings::SourcePlugin;
use super::bindings::weir::source::types;
use super::engine::EPOCH_TICK;
use super::error::{Call, SourceError, SourceErrorKind};
use super::page::{Page, check_page};
use super::state::SourceState;
use super::{Cursor, Instrumentation, Limits, Plugin, PluginBuild};

/// What a burst's guest calls have cost so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    pub calls: u64,
    /// Fuel used, summed over calls (0 when fuel is not counted).
    pub fuel: u64,
    /// Wall-clock time spent inside guest calls.
    pub guest_time: Duration,
    /// The largest linear memory the instance grew to, in bytes.
    pub peak_memory_bytes: usize,
}

/// One open burst of a source.
pub struct Burst {
    store: Store<SourceState>,
    bindings: SourcePlugin,
    handle: ResourceAny,
    limits: Limits,
    build: PluginBuild,
    instrumentation: Instrumentation,
    stats: CallStats,
    /// Set once a call trapped or ran out of a budget: the instance is then
    /// unusable and must not be entered again.
    broken: bool,
}

impl Burst {
    pub(crate) async fn open(plugin: &Plugin) -> Result<Burst, SourceError> {
        let mut store = plugin.new_store();
        let limits = plugin.settings().limits.clone();
        let instrumentation = plugin.instrumentation();
        let name = plugin.provider_name().into();
        let mut stats = CallStats::default();

        let guard = CallGuard::arm(&mut store, &limits, instrumentation, Call::Instantiate);
        let outcome = guard
            .within_deadline(plugin.pre().instantiate_async(&mut store))
            .await;
        let bindings = guard.settle_counted(&mut store, outcome, &name, &mut stats)?;

        let guard = CallGuard::arm(&mut store, &limits, instrumentation, Call::Open);
        let outcome = guard
            .within_deadline(bindings.weir_source_source().burst().call_open(&mut store))
            .await;
        let handle = guard
            .settle_counted(&mut store, outcome, &name, &mut stats)?
            .map_err(|error| guest_error(&name, Call::Open, error))?;

        Ok(Burst {
            store,
            bindings,
            handle,
            limits,
            build: plugin.build().clone(),
            instrumentation,
            stats,
            broken: false,
        })
    }

    /// Ask for the page after `cursor` (`None` starts a new cycle).
    pub async fn next(&mut self, cursor: Option<&Cursor>) -> Result<Page, SourceError> {
        self.ensure_usable(Call::Next)?;
        let guard = CallGuard::arm(
            &mut self.store,
            &self.limits,
            self.instrumentation,
            Call::Next,
        );
        let outcome = guard
            .within_deadline(self.bindings.weir_source_source().burst().call_next(
                &mut self.store,
                self.handle,
                cursor.map(Cursor::as_str),
            ))
            .await;
        let name = self.store.data().source.clone();
        let result = guard.settle_counted(&mut self.store, outcome, &name, &mut self.stats);
        self.broken = result.is_err();
        let page = result?.map_err(|error| guest_error(&name, Call::Next, error))?;
        check_page(page, &self.limits, &self.build).map_err(|kind| SourceError {
            source_name: name,
            call: Call::Next,
            kind,
        })
    }

    /// Tear down: call the source's `close`, then drop the instance. After a
    /// trap or a spent budget the instance cannot be entered, so it is only
    /// dropped. Returns what the burst's calls cost.
    pub async fn close(mut self) -> Result<CallStats, SourceError> {
        if self.broken {
            return Ok(self.stats);
        }
        let guard = CallGuard::arm(
            &mut self.store,
            &self.limits,
            self.instrumentation,
            Call::Close,
        );
        let outcome = guard
            .within_deadline(
                self.bindings
                    .weir_source_source()
                    .burst()
                    .call_close(&mut self.store, self.handle),
            )
            .await;
        let name = self.store.data().source.clone();
        guard
            .settle_counted(&mut self.store, outcome, &name, &mut self.stats)?
            .map_err(|error| guest_error(&name, Call::Close, error))?;
        Ok(self.stats)
    }

    /// What the burst's guest calls have cost so far.
    pub fn stats(&self) -> CallStats {
        self.stats
    }

    fn ensure_usable(&self, call: Call) -> Result<(), SourceError> {
        if self.broken {
            return Err(SourceError {
                source_name: self.store.data().source.clone(),
                call,
                kind: SourceErrorKind::BurstUnusable,
            });
        }
        Ok(())
    }
}

pub(crate) fn guest_error(source: &Arc<str>, call: Call, error: types::SourceError) -> SourceError {
    let kind = match error {
        types::SourceError::Transient(message) => SourceErrorKind::Transient { message },
        types::SourceError::Fatal(message) => SourceErrorKind::Fatal { message },
    };
    SourceError {
        source_name: source.clone(),
        call,
        kind,
    }
}

/// The budgets of one guest call: armed before it, settled after it.
pub(crate) struct CallGuard {
    call: Call,
    started: Instant,
    fuel_budget: u64,
    deadline: Duration,
    fuel_counted: bool,
}

impl CallGuard {
    pub fn arm(
        store: &mut Store<SourceState>,
        limits: &Limits,
        instrumentation: Instrumentation,
        call: Call,
    ) -> CallGuard {
        let started = Instant::now();
        // Fuel can only fail to set when the engine does not count it.
        let fuel_counted = instrumentation.fuel && store.set_fuel(limits.fuel).is_ok();
        store.data_mut().call_deadline = started + limits.deadline;
        store.data_mut().limiter.refused_growth = None;
        if instrumentation.epochs {
            store.set_epoch_deadline(1);
        }
        CallGuard {
            call,
            started,
            fuel_budget: limits.fuel,
            deadline: limits.deadline,
            fuel_counted,
        }
    }

    /// Run a guest call, giving up at the deadline even when the time goes
    /// to a host call that epochs cannot interrupt. Epochs normally trap the
    /// guest first; the timeout is the backstop, a couple of ticks later.
    pub async fn within_deadline<F: Future>(&self, call: F) -> Option<F::Output> {
        tokio::time::timeout(self.deadline + 2 * EPOCH_TICK, call)
            .await
            .ok()
    }

    /// Turn the outcome of a call into its value or a precise error.
    pub fn settle<R>(
        self,
        store: &mut Store<SourceState>,
        outcome: Option<wasmtime::Result<R>>,
        source: &Arc<str>,
    ) -> Result<R, SourceError> {
        self.settle_counted(store, outcome, source, &mut CallStats::default())
    }

    pub fn settle_counted<R>(
        self,
        store: &mut Store<SourceState>,
        outcome: Option<wasmtime::Result<R>>,
        source: &Arc<str>,
        stats: &mut CallStats,
    ) -> Result<R, SourceError> {
        let elapsed = self.started.elapsed();
        let fuel_used = self.fuel_used(store);
        stats.calls += 1;
        stats.fuel += fuel_used;
        stats.guest_time += elapsed;
        stats.peak_memory_bytes = stats.peak_memory_bytes.max(store.data().limiter.peak_bytes);
        let kind = match outcome {
            Some(Ok(value)) => return Ok(value),
            None => SourceErrorKind::DeadlinePassed {
                deadline: self.deadline,
                fuel_used,
                fuel_budget: self.fuel_budget,
            },
            Some(Err(error)) => self.classify(store, error, elapsed, fuel_used),
        };
        Err(SourceError {
            source_name: source.clone(),
            call: self.call,
            kind,
        })
    }

    fn fuel_used(&self, store: &Store<SourceState>) -> u64 {
        if !self.fuel_counted {
            return 0;
        }
        self.fuel_budget
            .saturating_sub(store.get_fuel().unwrap_or(0))
    }

    fn classify(
        &self,
        store: &mut Store<SourceState>,
        error: wasmtime::Error,
        elapsed: Duration,
        fuel_used: u64,
    ) -> SourceErrorKind {
        let state = store.data_mut();
        if let Some(requested) = state.limiter.refused_growth.take() {
            return SourceErrorKind::MemoryLimit {
                requested,
                limit: state.settings.limits.max_memory_bytes,
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => SourceErrorKind::FuelExhausted {
                budget: self.fuel_budget,
                elapsed,
                deadline: self.deadline,
            },
            Some(Trap::Interrupt) => SourceErrorKind::DeadlinePassed {
                deadline: self.deadline,
                fuel_used,
                fuel_budget: self.fuel_budget,
            },
            Some(trap) => SourceErrorKind::Trap {
                message: trap.to_string(),
                stderr: state.stderr.tail(),
            },
            None => SourceErrorKind::Trap {
                message: format!("{error:#}"),
                stderr: state.stderr.tail(),
            },
        }
    }
}
