//! The plugin runtime: loads source components with wasmtime, sandboxes them
//! (fuel, wall-clock deadline, memory), and drives them one page at a time.
//!
//! One concept per file: [`PluginRuntime`] owns the engine and the linker,
//! [`Plugin`] is a loaded, type-checked component bound to a source's
//! settings, [`Burst`] is one instance's set-up → `next`… → tear-down, every
//! guest call runs under a call guard (its budgets and its cost,
//! [`CallStats`]), and [`Page`] is what a `next` call returns once the host
//! has checked it; a plugin that exports `push` turns a [`PushEvent`] into a
//! [`PushOutcome`]. Each store's data is an instance state, with its memory
//! limiter; `capabilities` holds each capability a source may import (its
//! grant, its state and its imports).

mod bindings;
mod burst;
mod cache;
mod call_guard;
mod capabilities;
mod epoch;
mod error;
mod instance_state;
mod limits;
mod memory_limiter;
mod page;
mod plugin;
mod plugin_runtime;
mod push;
mod settings;

pub use burst::Burst;
pub use call_guard::CallStats;
pub use capabilities::http::{
    DEFAULT_MAX_CONCURRENT_REQUESTS, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REQUEST_TIMEOUT, HostRule,
    OutboundCounters, OutboundGrant, OutboundStats, is_public,
};
pub use error::{Call, LoadError, SourceError, SourceErrorKind};
pub use limits::Limits;
pub use page::{Cursor, Page};
pub use plugin::{ContractInfo, Plugin, is_valid_provider_name};
pub use plugin_runtime::{Instrumentation, PluginRuntime, RuntimeOptions};
pub use push::{PushEvent, PushOutcome};
pub use settings::SourceSettings;

/// The newest WIT package version this host implements: what the guest SDK
/// and `wit/source.wit` are at.
pub const CONTRACT_VERSION: &str = "0.1.1";

/// Every `weir:source` version a component may be built against, oldest
/// first. 0.1.1 only added the optional `push` export, so a 0.1.0 component
/// binds unchanged: wasmtime resolves its `@0.1.0` imports and exports to the
/// host's `@0.1.1` ones (same semver track). See `wit/README.md`.
pub const SUPPORTED_CONTRACT_VERSIONS: &[&str] = &["0.1.0", CONTRACT_VERSION];
