//! The generic source contract, checked by running a plugin through the
//! real runtime (`weir check --conformance`): whatever a source does, its
//! provider name is stable; a whole cycle read in one burst equals the same
//! cycle read one page per burst, each burst a fresh instance resuming from
//! the stored cursor; `next` with the same cursor twice gives the same page;
//! every cursor is JSON that round-trips within the limit, and none repeats;
//! every entity passes the host's validation; a failure is the source's own
//! error and keeps its severity when the call is run again; logs go through
//! the `log` import; and a plugin that exports `push` handles an event.
//!
//! [`check`] runs them all and returns a [`Report`]. Every loop is bounded:
//! a cycle is read for at most [`Options::max_pages`] pages, and every call
//! runs under the plugin's own limits (fuel, deadline, memory).

mod checks;
mod guest_log;
mod reading;
mod report;

pub use guest_log::{GuestLine, capture_guest_lines};
pub use report::{CheckResult, Outcome, Report};

use crate::runtime::{Call, Plugin, PluginRuntime, PushEvent, SourceError};
use reading::{Failure, PageSeen, Reader};

/// How many pages of a cycle [`check`] reads by default before it gives up
/// on the cycle ending.
pub const DEFAULT_MAX_PAGES: usize = 10_000;

/// What [`check`] runs with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The most pages of a cycle to read before the `cycle` check fails.
    pub max_pages: usize,
    /// The event handed to a plugin that exports `push`.
    pub push_event: PushEvent,
}

impl Default for Options {
    /// [`DEFAULT_MAX_PAGES`], and a push of the JSON body `{}`.
    fn default() -> Self {
        Options {
            max_pages: DEFAULT_MAX_PAGES,
            push_event: PushEvent {
                headers: vec![("content-type".into(), "application/json".into())],
                body: b"{}".to_vec(),
            },
        }
    }
}

/// Run every check of the contract on `plugin` (loaded by `runtime`, with the
/// settings it is to run with), in order: `provider-name`, `cycle`,
/// `resumed-cycle`, `repeated-next`, `cursors`, `entities`, `push`,
/// `errors`, `logs`. A check that cannot run (say, `resumed-cycle` when no
/// page could be read) is skipped, saying why.
pub async fn check(runtime: &PluginRuntime, plugin: &Plugin, options: &Options) -> Report {
    let (mut checks, lines) = capture_guest_lines(run_checks(runtime, plugin, options)).await;
    checks.push(checks::logs(&lines));
    Report {
        provider: plugin.provider_name().to_owned(),
        checks,
    }
}

async fn run_checks(
    runtime: &PluginRuntime,
    plugin: &Plugin,
    options: &Options,
) -> Vec<CheckResult> {
    let reader = Reader::new(plugin);
    let second_load = runtime
        .load(plugin.file(), plugin.settings().clone())
        .await
        .map(|again| again.provider_name().to_owned())
        .map_err(|error| error.to_string());
    let mut results = vec![checks::provider_name(plugin.provider_name(), second_load)];

    let cycle = reader.whole_cycle(options.max_pages).await;
    results.push(checks::cycle(&cycle, options.max_pages));
    let (resumed, resumed_failure) = read_resumed(&reader, &cycle.pages).await;
    results.push(checks::resumed_cycle(
        &cycle.pages,
        &resumed,
        resumed_failure.as_ref(),
    ));
    let (pairs, repeat_failure) = read_repeated(&reader, &cycle.pages).await;
    results.push(checks::repeated_next(&pairs, repeat_failure.as_ref()));
    let limits = &plugin.settings().limits;
    results.push(checks::cursors(&cycle, limits.max_cursor_bytes));
    results.push(checks::entities(&cycle.pages));

    let pushed = match plugin.supports_push() {
        true => Some(push(&reader, plugin, &options.push_event).await),
        false => None,
    };
    results.push(checks::push(pushed.as_ref()));

    let push_failure = match pushed {
        Some(Err(error)) => Some(Failure {
            call: Call::Push,
            after: None,
            error,
        }),
        _ => None,
    };
    let failures = distinct_failures(
        cycle
            .failures()
            .chain(&resumed_failure)
            .chain(&repeat_failure)
            .chain(&push_failure),
    );
    let mut retried = Vec::with_capacity(failures.len());
    for failure in failures {
        let again = match failure.call {
            Call::Push => plugin.push(options.push_event.clone()).await.err(),
            _ => reader.retry(failure).await,
        };
        retried.push((failure, again));
    }
    results.push(checks::errors(&retried));
    results
}

/// The cycle's pages read again one per burst, each from the stored cursor
/// its page was read with, up to the first failure.
async fn read_resumed(reader: &Reader<'_>, pages: &[PageSeen]) -> (Vec<PageSeen>, Option<Failure>) {
    let mut resumed = Vec::with_capacity(pages.len());
    for page in pages {
        match reader.one_page(page.after.as_deref()).await {
            Ok(seen) => resumed.push(seen),
            Err(failure) => return (resumed, Some(failure)),
        }
    }
    (resumed, None)
}

/// The first and the last page of the cycle, each asked for twice in one
/// burst, with their positions.
async fn read_repeated(
    reader: &Reader<'_>,
    pages: &[PageSeen],
) -> (Vec<(usize, PageSeen, PageSeen)>, Option<Failure>) {
    let mut positions = vec![0];
    if pages.len() > 1 {
        positions.push(pages.len() - 1);
    }
    let mut pairs = Vec::new();
    for position in positions {
        let Some(page) = pages.get(position) else {
            break;
        };
        match reader.same_cursor_twice(page.after.as_deref()).await {
            Ok((first, second)) => pairs.push((position, first, second)),
            Err(failure) => return (pairs, Some(failure)),
        }
    }
    (pairs, None)
}

/// The event pushed: the upserts judged like a page's entities, and the
/// number of removals; or the error.
async fn push(
    reader: &Reader<'_>,
    plugin: &Plugin,
    event: &PushEvent,
) -> Result<(Vec<reading::EntitySeen>, usize), SourceError> {
    let outcome = plugin.push(event.clone()).await?;
    Ok((reader.judge(outcome.upserts), outcome.removals.len()))
}

/// The failures, each call and cursor once (a page that fails in one burst
/// fails again when resumed: it is run again once).
fn distinct_failures<'f>(failures: impl Iterator<Item = &'f Failure>) -> Vec<&'f Failure> {
    let mut distinct: Vec<&Failure> = Vec::new();
    for failure in failures {
        if !distinct
            .iter()
            .any(|seen| seen.call == failure.call && seen.after == failure.after)
        {
            distinct.push(failure);
        }
    }
    distinct
}
