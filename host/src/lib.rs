//! Weir: the ingestion engine between a software catalog and the systems its
//! data lives in. Data flows one way through these modules:
//!
//! source plugin → [`runtime`] (wasmtime: load, sandbox and call a source
//! component) → [`engine`] (bursts, cursors, marks) → the core (the
//! `weir-core` crate: validation, canonical hash, merge) → [`store`] (sqlx)
//! → events and [`http`].
//!
//! Each module uses only those below it (`tests/all/layers.rs` checks it):
//! the core (its own crate, pure) is at the bottom; [`runtime`] and
//! [`store`] use only the core; [`engine`] drives the runtime into the
//! store; [`http`] serves the store and hands actions to the engine;
//! [`config`] reads the operator's settings for all of them; [`plugins`]
//! watches the plugins folder and feeds the engine; [`conformance`] checks a
//! plugin against the source contract through the runtime. [`failpoints`] (fault
//! injection for tests) is a leaf any of them may call.

pub mod config;
pub mod conformance;
pub mod engine;
pub mod failpoints;
pub mod http;
pub mod plugins;
pub mod runtime;
pub mod store;
