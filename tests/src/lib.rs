//! Support for Weir's integration tests (`tests/tests/*.rs`): the paths of the
//! guest components that `build.rs` builds for `wasm32-wasip2`.

/// Absolute paths of the guest components, one `&str` constant per guest crate
/// (`SYNTHETIC`, `HIERARCHY`, `PLUGIN_LOOPING`, ...; `PLUGIN_FLAKY` fails on
/// demand, `PLUGIN_PUSHING` takes pushed events, `PLUGIN_CONTRACT_0_1_0` is
/// built against the 0.1.0 contract, before push; `HTTP_PAGES` pages through
/// a JSON HTTP API over granted `wasi:http`; `PLUGIN_SANDBOX_PROBE` tries
/// files, environment, sockets and an ungranted host and reports what happened).
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}
pub mod db;
