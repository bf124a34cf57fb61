//! Support for Weir's integration tests (`tests/tests/*.rs`): the paths of the
//! guest components that `build.rs` builds for `wasm32-wasip2`.

/// Absolute paths of the guest components, one `&str` constant per guest crate
/// (`SYNTHETIC`, `HIERARCHY`, `PLUGIN_LOOPING`, ...).
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}
