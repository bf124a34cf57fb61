//! WASI, granted empty: no preopened directories, no environment, no
//! arguments, no sockets and no name lookups (`WasiCtxBuilder` grants none
//! of them unless asked; the explicit calls keep it so). A source's stdout
//! and stderr are captured as log lines ([`GuestOutput`]); the clocks and
//! randomness are WASI's own.

use std::sync::Arc;

use wasmtime::component::Linker;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::super::instance_state::InstanceState;
use super::guest_output::GuestOutput;

/// The WASI context of one instance, and its captured stderr.
pub(crate) struct WasiState {
    ctx: WasiCtx,
    /// The tail of what the guest wrote to stderr, for error reports.
    pub(crate) stderr: GuestOutput,
}

impl WasiState {
    pub(crate) fn new(source: &Arc<str>) -> Self {
        let stdout = GuestOutput::new(source.clone(), "stdout");
        let stderr = GuestOutput::new(source.clone(), "stderr");
        let ctx = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .stdout(stdout)
            .stderr(stderr.clone())
            .build();
        WasiState { ctx, stderr }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi.ctx,
            table: &mut self.table,
        }
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)
}
