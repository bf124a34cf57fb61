//! A [`Burst`]: one instance of a source, from set-up (`open`) through pages
//! (`next`) to tear-down (`close`). Every guest call runs under a
//! [`CallGuard`], which turns a trap or a spent budget into a precise error.

use wasmtime::Store;
use wasmtime::component::ResourceAny;
use weir_core::sourced::PluginBuild;

use super::bindings::SourcePlugin;
use super::call_guard::{CallGuard, CallStats, guest_error};
use super::error::{Call, SourceError, SourceErrorKind};
use super::instance_state::InstanceState;
use super::page::{Page, check_page};
use super::{Cursor, Instrumentation, Limits, Plugin};

/// One open burst of a source.
pub struct Burst {
    store: Store<InstanceState>,
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
