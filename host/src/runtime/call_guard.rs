//! The [`CallGuard`] every guest call runs under: a fresh fuel budget, a
//! wall-clock deadline enforced by epochs inside the guest and by a tokio
//! timeout around host calls, and, once the call returns, its cost
//! ([`CallStats`]) and a precise error when a budget ran out or it trapped.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Store, Trap};

use super::bindings::weir::source::types;
use super::epoch::EPOCH_TICK;
use super::error::{Call, SourceError, SourceErrorKind};
use super::instance_state::InstanceState;
use super::{Instrumentation, Limits};

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
        store: &mut Store<InstanceState>,
        limits: &Limits,
        instrumentation: Instrumentation,
        call: Call,
    ) -> CallGuard {
        let started = Instant::now();
        // Fuel can only fail to set when the engine does not count it.
        let fuel_counted = instrumentation.fuel && store.set_fuel(limits.fuel).is_ok();
        store.data_mut().call_deadline = deadline_after(started, limits.deadline);
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
        tokio::time::timeout(self.deadline.saturating_add(2 * EPOCH_TICK), call)
            .await
            .ok()
    }

    /// Turn the outcome of a call into its value or a precise error.
    pub fn settle<R>(
        self,
        store: &mut Store<InstanceState>,
        outcome: Option<wasmtime::Result<R>>,
        source: &Arc<str>,
    ) -> Result<R, SourceError> {
        self.settle_counted(store, outcome, source, &mut CallStats::default())
    }

    pub fn settle_counted<R>(
        self,
        store: &mut Store<InstanceState>,
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

    fn fuel_used(&self, store: &Store<InstanceState>) -> u64 {
        if !self.fuel_counted {
            return 0;
        }
        self.fuel_budget
            .saturating_sub(store.get_fuel().unwrap_or(0))
    }

    fn classify(
        &self,
        store: &mut Store<InstanceState>,
        error: wasmtime::Error,
        elapsed: Duration,
        fuel_used: u64,
    ) -> SourceErrorKind {
        let state = store.data_mut();
        if let Some(requested) = state.limiter.refused_growth.take() {
            return SourceErrorKind::MemoryLimit {
                requested,
                limit: state.limits.max_memory_bytes,
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
                stderr: state.wasi.stderr.tail(),
            },
            None => SourceErrorKind::Trap {
                message: format!("{error:#}"),
                stderr: state.wasi.stderr.tail(),
            },
        }
    }
}

/// `deadline` after `started`, or a year after it when the deadline is
/// longer than the clock can add (a deadline set through the library's API
/// rather than the configuration, whose ceiling is an hour).
fn deadline_after(started: Instant, deadline: Duration) -> Instant {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);
    started.checked_add(deadline.min(YEAR)).unwrap_or(started)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_deadline_cannot_overflow_the_clock() {
        let now = Instant::now();
        assert!(deadline_after(now, Duration::MAX) > now);
        assert_eq!(
            deadline_after(now, Duration::from_secs(3)),
            now + Duration::from_secs(3)
        );
    }
}
