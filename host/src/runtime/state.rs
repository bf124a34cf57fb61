//! The data each store carries: the source's grants, its WASI context (which
//! grants nothing), its memory limiter and the current call's deadline.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::SourceSettings;
use super::guest_output::GuestOutput;

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
    wasi: WasiCtx,
    table: ResourceTable,
}

impl SourceState {
    pub fn new(source: Arc<str>, settings: Arc<SourceSettings>) -> Self {
        let stdout = GuestOutput::new(source.clone(), "stdout");
        let stderr = GuestOutput::new(source.clone(), "stderr");
        // No preopened directories, no environment, no arguments, no network:
        // a source reaches the world only through the imports the host grants.
        let wasi = WasiCtx::builder()
            .stdout(stdout)
            .stderr(stderr.clone())
            .build();
        SourceState {
            limiter: MemoryLimiter::new(settings.limits.max_memory_bytes),
            source,
            settings,
            call_deadline: Instant::now(),
            stderr,
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

/// Refuses linear memory past the source's limit and remembers that it did,
/// so the failure is reported as a memory limit rather than a bare trap.
pub(crate) struct MemoryLimiter {
    max_memory_bytes: usize,
    /// The size a refused growth asked for.
    pub refused_growth: Option<usize>,
}

impl MemoryLimiter {
    fn new(max_memory_bytes: usize) -> Self {
        MemoryLimiter {
            max_memory_bytes,
            refused_growth: None,
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
