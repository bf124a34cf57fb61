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

/// Configure the failpoints from the `FAILPOINTS` environment variable
/// (`NAME=ACTION;NAME=ACTION`), when the feature is on. Returns a guard to
/// hold for the life of the process.
pub fn from_env() -> Option<fail::FailScenario<'static>> {
    cfg!(feature = "failpoints").then(fail::FailScenario::setup)
}
