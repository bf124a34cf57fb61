//! The plugin runtime: loads source components with wasmtime, sandboxes them
//! (fuel, wall-clock deadline, memory), and drives them one page at a time.
//!
//! One concept per file: [`Runtime`] owns the engine and the linker,
//! [`Plugin`] is a loaded, type-checked component bound to a source's
//! settings, [`Burst`] is one instance's set-up → `next`… → tear-down, and
//! [`Page`] is what a `next` call returns once the host has checked it.

mod bindings;
mod burst;
mod cache;
mod engine;
mod error;
mod guest_output;
mod host_imports;
mod limits;
mod page;
mod plugin;
mod settings;
mod state;

pub use burst::{Burst, CallStats};
pub use engine::{Instrumentation, Runtime, RuntimeOptions};
pub use error::{Call, LoadError, SourceError, SourceErrorKind};
pub use limits::Limits;
pub use page::{Cursor, Page, SourcedEntity};
pub use plugin::{ContractInfo, Plugin, PluginBuild};
pub use settings::SourceSettings;

/// The WIT package version this host implements.
pub const CONTRACT_VERSION: &str = "0.1.0";
