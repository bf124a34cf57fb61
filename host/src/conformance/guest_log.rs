//! The lines a guest logs while a future runs, captured: what came through
//! the `log` import (with its level) and what it wrote to stdout or stderr.
//! The runtime writes both to `tracing` under the target `weir::guest`; this
//! module scopes a subscriber to one future that records those events and
//! passes every event on to the subscriber that was in place, so the host's
//! own log is unchanged.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::instrument::WithSubscriber;
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Level, Metadata, Subscriber};

/// The `tracing` target of guest output (the runtime's `log` capability and
/// the guest's stdout and stderr).
const GUEST_TARGET: &str = "weir::guest";

/// One line a guest logged or printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestLine {
    pub level: Level,
    pub message: String,
    /// `None` for a line of the `log` import; `stdout` or `stderr` for what
    /// the guest printed (the host logs it at `info`).
    pub stream: Option<String>,
}

impl GuestLine {
    /// Whether the line came through the `log` import (the host's own notes
    /// about dropped lines count as the stream they were about).
    pub fn from_log_import(&self) -> bool {
        matches!(self.stream.as_deref(), None | Some("log"))
    }
}

impl fmt::Display for GuestLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.stream {
            Some(stream) if !self.from_log_import() => write!(f, "{stream}: {}", self.message),
            _ => write!(f, "{} {}", self.level.as_str().to_lowercase(), self.message),
        }
    }
}

/// Run `future`, and return its output with every line the guests it calls
/// logged or printed meanwhile, in order.
pub async fn capture_guest_lines<F: Future>(future: F) -> (F::Output, Vec<GuestLine>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let outer = tracing::dispatcher::get_default(Dispatch::clone);
    let capture = Capture {
        lines: Arc::clone(&lines),
        outer,
    };
    let output = future.with_subscriber(Dispatch::new(capture)).await;
    let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(PoisonError::into_inner));
    (output, lines)
}

/// Records guest events, and hands everything to `outer`.
struct Capture {
    lines: Arc<Mutex<Vec<GuestLine>>>,
    outer: Dispatch,
}

impl Subscriber for Capture {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // Decided per event: the outer subscriber's filter may change.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == GUEST_TARGET || self.outer.enabled(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.outer.new_span(span)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.outer.record(span, values);
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.outer.record_follows_from(span, follows);
    }

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        if metadata.target() == GUEST_TARGET {
            let mut fields = LineFields::default();
            event.record(&mut fields);
            self.lines
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(GuestLine {
                    level: *metadata.level(),
                    message: fields.message,
                    stream: fields.stream,
                });
        }
        if self.outer.enabled(metadata) {
            self.outer.event(event);
        }
    }

    fn enter(&self, span: &Id) {
        self.outer.enter(span);
    }

    fn exit(&self, span: &Id) {
        self.outer.exit(span);
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.outer.clone_span(id)
    }

    fn try_close(&self, id: Id) -> bool {
        self.outer.try_close(id)
    }
}

/// The fields of a guest event that make a [`GuestLine`].
#[derive(Default)]
struct LineFields {
    message: String,
    stream: Option<String>,
}

impl Visit for LineFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_owned(),
            "stream" => self.stream = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "stream" => self.stream = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn guest_events_are_captured_in_order_and_others_are_not() {
        let ((), lines) = capture_guest_lines(async {
            tracing::debug!(target: "weir::guest", source = "s", "conformance: page {}", 0);
            tracing::info!(target: "weir::engine", "not a guest line");
            tokio::task::yield_now().await;
            tracing::info!(target: "weir::guest", source = "s", stream = "stderr", "printed");
        })
        .await;
        assert_eq!(
            lines,
            [
                GuestLine {
                    level: Level::DEBUG,
                    message: "conformance: page 0".into(),
                    stream: None,
                },
                GuestLine {
                    level: Level::INFO,
                    message: "printed".into(),
                    stream: Some("stderr".into()),
                },
            ]
        );
        assert!(lines[0].from_log_import());
        assert!(!lines[1].from_log_import());
        assert_eq!(lines[0].to_string(), "debug conformance: page 0");
        assert_eq!(lines[1].to_string(), "stderr: printed");
    }

    #[tokio::test]
    async fn nothing_leaks_outside_the_future() {
        let ((), lines) = capture_guest_lines(async {}).await;
        tracing::info!(target: "weir::guest", "after");
        assert!(lines.is_empty());
    }
}
