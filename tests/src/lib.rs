//! Support for Weir's integration tests (`tests/all/`): the test databases,
//! and the paths of the guest components that `build.rs` builds for
//! `wasm32-wasip2`.

pub mod db;

// `guest_components!()`: expand it once in the test binary for one `&str`
// constant per guest crate (`SYNTHETIC`, `HIERARCHY`, `PLUGIN_LOOPING`, ...).
include!(concat!(env!("OUT_DIR"), "/macros.rs"));
