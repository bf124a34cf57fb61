//! [`InstanceState`]: the data each wasmtime `Store` of a source carries (one
//! store per burst or pushed event): the source's grants, its WASI context
//! (which grants nothing), its memory limiter and the current call's deadline.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::SourceSettings;
use super::guest_output::{GuestOutput, LineBudget};
use super::memory_limiter::MemoryLimiter;
use super::outbound::{OutboundCounters, OutboundHooks};

pub(crate) struct InstanceState {
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

impl InstanceState {
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
        InstanceState {
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

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl Drop for InstanceState {
    fn drop(&mut self) {
        self.log_budget.report(&self.source, "log");
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
