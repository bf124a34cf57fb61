//! Weir: the ingestion engine between a software catalog and the systems its
//! data lives in. Data flows one way through these modules:
//!
//! source plugin → [`runtime`] (wasmtime: load, sandbox and call a source
//! component) → ingestion engine → core → store → events and HTTP.

pub mod core;
pub mod engine;
pub mod runtime;
pub mod store;
