//! The failpoints of Weir's fault-injection tests (the `fail` crate): one
//! function per point, called where the fault is injected. In a normal
//! build (without the `failpoints` feature) each compiles to nothing. The
//! tests configure them in-process (`fail::cfg`), or, for a `weir serve`
//! they start, through the `FAILPOINTS` environment variable
//! (`FAILPOINTS='weir::burst=return(github)'`), read by [`from_env`].
//!
//! | point | action | fault |
//! | --- | --- | --- |
//! | `weir::burst` | `return(NAME)` | the burst of source NAME panics as it starts |
//! | `weir::commit` | `return(NAME)` | each page commit of source NAME fails as if the database did not answer |
//! | `weir::stop_write` | `return(NAME)` | the first attempt at each write that gives source NAME back as it stops (ending its burst, releasing its lease) fails as if the database did not answer |
//! | `weir::hold::page` | `return` | a page has come from its source and is not yet committed |
//! | `weir::hold::commit` | `return` | a page's transaction has written everything and is not yet committed |
//! | `weir::hold::sweep` | `return` | the cycle's last page and its sweep are written, not yet committed |
//! | `weir::hold::reload` | `return` | a changed plugin is loaded and not yet switched in |
//! | `weir::hold::push` | `return` | a pushed event's transaction is written, not yet committed |
//!
//! A `weir::hold::…` point, when it fires, writes
//! `failpoint weir::hold::POINT: holding` to stderr and stops that task (or
//! thread) there for [`HOLD`]: a test waits for the line, then kills the
//! process at that precise moment. Counts and chances choose which hit
//! fires (`FAILPOINTS='weir::hold::commit=5*off->1*return->off'`: the sixth
//! commit).
//!
//! A leaf module: it uses nothing of the crate, and any layer may use it.

/// The burst of source `source` starts: with `weir::burst` set to
/// `return(SOURCE)`, its runner panics here (to prove one source's panic
/// leaves the others running, and is recorded and recovered from).
#[cfg_attr(not(feature = "failpoints"), allow(unused_variables))]
pub(crate) fn burst_start(source: &str) {
    fail::fail_point!("weir::burst", |victim: Option<String>| {
        if victim.as_deref() == Some(source) {
            panic!("failpoint weir::burst: source `{source}` panics as its burst starts");
        }
    });
}

/// A page of `source` is about to commit: with `weir::commit` set to
/// `return(SOURCE)`, say it must fail as a database that does not answer
/// would (to prove a store outage is not counted against a plugin).
#[cfg_attr(not(feature = "failpoints"), allow(unused_variables))]
pub(crate) fn commit_fails(source: &str) -> bool {
    fail::fail_point!("weir::commit", |victim: Option<String>| {
        victim.as_deref() == Some(source)
    });
    false
}

/// Source `source`'s runner is stopping and makes write attempt `attempt`
/// (from 1) to end its burst or to release its lease: with `weir::stop_write`
/// set to `return(SOURCE)`, say the first attempt must fail as a database
/// that does not answer would (to prove the lease is still given back).
#[cfg_attr(not(feature = "failpoints"), allow(unused_variables))]
pub(crate) fn stop_write_fails(source: &str, attempt: u32) -> bool {
    fail::fail_point!("weir::stop_write", |victim: Option<String>| {
        attempt == 1 && victim.as_deref() == Some(source)
    });
    false
}

/// How long a `weir::hold::…` point holds before it lets go.
pub const HOLD: std::time::Duration = std::time::Duration::from_secs(60);

/// An async task reaches `point` (`weir::hold::…`): when it fires, announce
/// it and wait there for [`HOLD`].
pub(crate) async fn hold(point: &'static str) {
    if reached(point) {
        tokio::time::sleep(HOLD).await;
    }
}

/// A blocking thread (SQLite's writer) reaches `point`: as [`hold`].
pub(crate) fn hold_blocking(point: &'static str) {
    if reached(point) {
        std::thread::sleep(HOLD);
    }
}

/// Whether `point` fires; if it does, say so on stderr.
#[cfg_attr(not(feature = "failpoints"), allow(unused_variables))]
fn reached(point: &'static str) -> bool {
    fail::fail_point!(point, |_| {
        eprintln!("failpoint {point}: holding");
        true
    });
    false
}

/// Configure the failpoints from the `FAILPOINTS` environment variable
/// (`NAME=ACTION;NAME=ACTION`), when the feature is on. Returns a guard to
/// hold for the life of the process.
pub fn from_env() -> Option<fail::FailScenario<'static>> {
    cfg!(feature = "failpoints").then(fail::FailScenario::setup)
}
