//! Weir's integration tests, as one test binary (each test binary links
//! wasmtime, cranelift and sqlx; one link instead of one per area). Each
//! module is one area, against real components built from source by
//! `tests/build.rs`, real SQLite files, the real PostgreSQL (when
//! `WEIR_TEST_POSTGRES_URL` is set) and the real `weir` binary.

mod capabilities;
mod cli;
mod conformance;
mod engine;
mod faults;
mod hostile_clients;
mod http;
mod layers;
mod new;
mod process;
mod reload;
mod replayable;
mod runtime;
mod serve;
mod status_page;
mod store;
mod trust;
mod validate;

/// The guest components `tests/build.rs` built, one `&str` constant (the
/// `.wasm` file's absolute path) per guest crate found in
/// `example-sources/rust/` and `tests/plugins/`. Dead code is an error here,
/// so a guest that no test uses fails the build.
#[deny(dead_code)]
mod guests {
    weir_tests::guest_components!();
}
