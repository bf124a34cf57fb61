//! The ingestion engine: drives each source through its cycles (bursts of
//! pages, pauses between them, a sweep at the end, rest) and hands every
//! page to the core and the store, committed with its cursor and marks.
//!
//! [`Supervisor`] owns the sources of one host process and the global bound on
//! bursts running at once; each source runs in its own task (`runner`),
//! whose state lives in the store so that any replica sharing the database
//! can continue it; `page` turns a page into what the store commits, and
//! `commits` commits a burst's pages in order while the burst goes on.

mod commits;
mod options;
mod page;
mod reload_book;
mod runner;
mod supervisor;
mod versions;

pub use options::{Rest, SourceOptions};
pub use page::ingest_page;
#[cfg(test)]
pub(crate) use runner::check_schedule;
pub use supervisor::{EngineError, PushReport, Supervisor, SupervisorOptions};
pub use versions::{BurstFigures, ReloadStatus, TRIAL_FAILURES};
