//! Weir: the ingestion engine between a software catalog and the systems its
//! data lives in. Data flows one way through these modules:
//!
//! source plugin → [`runtime`] (wasmtime: load, sandbox and call a source
//! component) → [`engine`] (bursts, cursors, marks) → [`core`] (validation,
//! canonical hash, merge) → [`store`] (sqlx) → events and [`http`].

pub mod config;
pub mod core;
pub mod engine;
pub mod http;
pub mod plugins;
pub mod runtime;
pub mod store;
