//! [`InstanceState`]: the data each wasmtime `Store` of a source carries (one
//! store per burst or pushed event): the state of each capability the
//! source may import (see [`super::capabilities`]), its memory limiter, its
//! budgets and the current call's deadline.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;

use super::capabilities::config::ConfigValues;
use super::capabilities::http::{HttpState, OutboundCounters};
use super::capabilities::log::GuestLog;
use super::capabilities::secrets::GrantedSecrets;
use super::capabilities::wasi::WasiState;
use super::memory_limiter::MemoryLimiter;
use super::{Limits, SourceSettings};

pub(crate) struct InstanceState {
    /// How errors and logs name the source.
    pub(super) source: Arc<str>,
    /// The budgets of each call and page.
    pub(super) limits: Limits,
    pub(super) limiter: MemoryLimiter,
    /// When the guest call in progress runs out of wall-clock time.
    pub(super) call_deadline: Instant,
    pub(super) wasi: WasiState,
    pub(super) log: GuestLog,
    pub(super) config: ConfigValues,
    pub(super) secrets: GrantedSecrets,
    pub(super) http: HttpState,
    /// The resources of WASI and `wasi:http`.
    pub(super) table: ResourceTable,
}

impl InstanceState {
    pub(super) fn new(
        source: Arc<str>,
        settings: &SourceSettings,
        outbound: Arc<OutboundCounters>,
    ) -> Self {
        InstanceState {
            limits: settings.limits.clone(),
            limiter: MemoryLimiter::new(settings.limits.max_memory_bytes),
            call_deadline: Instant::now(),
            wasi: WasiState::new(&source),
            log: GuestLog::new(Arc::clone(&source)),
            config: ConfigValues::new(settings.config.clone()),
            secrets: GrantedSecrets::new(settings.secrets.clone()),
            http: HttpState::new(Arc::clone(&source), settings.outbound.clone(), outbound),
            table: ResourceTable::new(),
            source,
        }
    }
}
