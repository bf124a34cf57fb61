//! The core: turns what sources produce into one validated, merged catalog.
//! Validation against Backstage's catalog-model rules, entity refs, the
//! canonical JSON hash that skips unchanged work, the priority merge of
//! several sources' contributions and Backstage's owner rule between them. Pure functions: no I/O, no database, no
//! WebAssembly runtime: its own crate, so that nothing of the host can creep in.

pub mod canonical;
#[cfg(test)]
mod differential;
pub mod entity_ref;
pub mod intake;
pub mod json;
pub mod merge;
mod named_ref;
pub mod owner_rule;
pub mod sourced;
pub mod validation;
