//! The capabilities a source may import, one module each (the shape of
//! Spin's factors): each owns its grant (what the operator allows), its
//! state in an instance, the imports it adds to the linker, and its tests,
//! which call its host functions directly. Adding a capability is a new
//! module here and a line in [`add_to_linker`] (and its state in
//! [`InstanceState`]).
//!
//! - [`wasi`]: WASI with an empty context (no files, environment, arguments
//!   or sockets); stdout and stderr become log lines (`guest_output`);
//! - [`log`]: log lines under the source's name, cut, escaped and rate-limited;
//! - [`config`]: the source's own configuration values;
//! - [`secrets`]: the secrets the operator granted it;
//! - [`http`]: outbound `wasi:http`, only to the granted hosts.

pub(crate) mod config;
mod guest_output;
pub(crate) mod http;
pub(crate) mod log;
pub(crate) mod secrets;
pub(crate) mod wasi;

use wasmtime::component::Linker;

use super::bindings::weir::source::types;
use super::instance_state::InstanceState;

/// Every capability's imports.
pub(crate) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    wasi::add_to_linker(linker)?;
    http::add_to_linker(linker)?;
    log::add_to_linker(linker)?;
    config::add_to_linker(linker)?;
    secrets::add_to_linker(linker)?;
    Ok(())
}

/// The contract's shared types need no host functions.
impl types::Host for InstanceState {}
