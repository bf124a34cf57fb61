//! The capabilities a source may import, each added to the linker here:
//! logging attributed to the source, reading its own config and secrets, and
//! `wasi:http`'s outgoing handler, checked against the source's grant
//! ([`super::outbound`]). WASI is linked with an empty context (no files,
//! environment or sockets).

use wasmtime::component::{HasSelf, Linker};

use super::bindings::weir::source::{config, log, secrets};
use super::instance_state::InstanceState;

pub(crate) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    log::add_to_linker::<_, HasSelf<_>>(linker, project)?;
    config::add_to_linker::<_, HasSelf<_>>(linker, project)?;
    secrets::add_to_linker::<_, HasSelf<_>>(linker, project)?;
    Ok(())
}

fn project(state: &mut InstanceState) -> &mut InstanceState {
    state
}

impl log::Host for InstanceState {
    fn log(&mut self, level: log::Level, message: String) {
        let source = &*self.source;
        if !self.log_budget.admit(source, "log") {
            return;
        }
        match level {
            log::Level::Trace => tracing::trace!(target: "weir::guest", source, "{message}"),
            log::Level::Debug => tracing::debug!(target: "weir::guest", source, "{message}"),
            log::Level::Info => tracing::info!(target: "weir::guest", source, "{message}"),
            log::Level::Warn => tracing::warn!(target: "weir::guest", source, "{message}"),
            log::Level::Error => tracing::error!(target: "weir::guest", source, "{message}"),
        }
    }
}

impl config::Host for InstanceState {
    fn get(&mut self, key: String) -> Option<String> {
        self.settings.config.get(&key).cloned()
    }
}

impl secrets::Host for InstanceState {
    fn get(&mut self, key: String) -> Option<String> {
        self.settings.secrets.get(&key).cloned()
    }
}

impl super::bindings::weir::source::types::Host for InstanceState {}
