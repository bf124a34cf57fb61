//! The data each store carries: the source's grants, its WASI context (which
//! grants nothing), its memory limiter and the current call's deadline.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::SourceSettings;
use super::guest_output::{GuestOutput, LineBudget};
use super::outbound::{OutboundCounters, OutboundHooks};

/// Table elements any one instance may grow to; generous for real guests,
/// small enough that a runaway table cannot exhaust the host.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

pub(crate) struct SourceState {
    /// How errors and logs name the source.
    pub source: Arc<str>,
    pub settings: Arc<SourceSettings>,
    pub limiter: MemoryLimiter,
    /// When the guest call in progress runs out of wall-clock time.
    pub call_deadline: Instant,
    /// The tail of what the guest wrote to stderr, for error reports.
    pub stderr: GuestOutput,
    /// Rate limit of the `log` import's lines.
    pub log_budget: LineBudget,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
    table: ResourceTable,
}

impl SourceState {
    pub fn new(
        source: Arc<str>,
        settings: Arc<SourceSettings>,
        outbound: Arc<OutboundCounters>,
    ) -> Self {
        let stdout = GuestOutput::new(source.clone(), "stdout");
        let stderr = GuestOutput::new(source.clone(), "stderr");
        // No preopened directories, no environment, no arguments, no sockets
        // and no name lookups (`WasiCtxBuilder` grants none of them unless
        // asked; the explicit calls keep it so): a source reaches the world
        // only through the imports the host grants, and the network only
        // through `wasi:http` behind its grant.
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .stdout(stdout)
            .stderr(stderr.clone())
            .build();
        let hooks = OutboundHooks::new(source.clone(), settings.outbound.clone(), outbound);
        SourceState {
            http: WasiHttpCtx::new(),
            hooks,
            limiter: MemoryLimiter::new(settings.limits.max_memory_bytes),
            source,
            settings,
            call_deadline: Instant::now(),
            stderr,
            log_budget: LineBudget::new(),
            wasi,
            table: ResourceTable::new(),
        }
    }
}

impl WasiView for SourceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl Drop for SourceState {
    fn drop(&mut self) {
        self.log_budget.report(&self.source, "log");
    }
}

impl WasiHttpView for SourceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Refuses linear memory past the source's limit and remembers that it did,
/// so the failure is reported as a memory limit rather than a bare trap.
pub(crate) struct MemoryLimiter {
    max_memory_bytes: usize,
    /// The size a refused growth asked for.
    pub refused_growth: Option<usize>,
    /// The largest linear memory the instance has grown to, in bytes.
    pub peak_bytes: usize,
}

impl MemoryLimiter {
    fn new(max_memory_bytes: usize) -> Self {
        MemoryLimiter {
            max_memory_bytes,
            refused_growth: None,
            peak_bytes: 0,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory_bytes {
            self.refused_growth = Some(desired);
            // An error traps at the `memory.grow` itself, which is clearer
            // than the allocator abort a refused growth would cause later.
            wasmtime::bail!(
                "memory limit: growing linear memory to {desired} bytes exceeds the limit of {} bytes",
                self.max_memory_bytes
            );
        }
        self.peak_bytes = self.peak_bytes.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
