//! The `log` capability: a source's log lines, written to the host's log
//! under the source's name. Granted to every source, and bounded: a message
//! is cut at [`MAX_LOG_MESSAGE_BYTES`] and its control characters escaped (a
//! guest cannot forge a line of the host's log, or colour a terminal), and
//! a source may log [`MAX_LINES_PER_SECOND`] lines per second and stream,
//! the rest dropped and counted ([`LineBudget`], also used by the guest's
//! stdout and stderr, and by refusals of outbound requests).

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker};

use super::super::bindings::weir::source::log::{self, Level};
use super::super::instance_state::InstanceState;

/// The longest message a source may log, in bytes; longer ones are cut.
pub(crate) const MAX_LOG_MESSAGE_BYTES: usize = 4096;

/// Lines a source may log per second and stream (stdout, stderr, the `log`
/// import); the rest are dropped and counted.
pub(crate) const MAX_LINES_PER_SECOND: u32 = 200;

/// The `log` capability's state in one instance.
pub(crate) struct GuestLog {
    source: Arc<str>,
    budget: LineBudget,
}

impl GuestLog {
    pub(crate) fn new(source: Arc<str>) -> Self {
        GuestLog {
            source,
            budget: LineBudget::new(),
        }
    }
}

impl Drop for GuestLog {
    fn drop(&mut self) {
        self.budget.report(&self.source, "log");
    }
}

impl log::Host for GuestLog {
    fn log(&mut self, level: Level, message: String) {
        let source = &*self.source;
        if !self.budget.admit(source, "log") {
            return;
        }
        let message = printable(&message, MAX_LOG_MESSAGE_BYTES);
        match level {
            Level::Trace => tracing::trace!(target: "weir::guest", source, "{message}"),
            Level::Debug => tracing::debug!(target: "weir::guest", source, "{message}"),
            Level::Info => tracing::info!(target: "weir::guest", source, "{message}"),
            Level::Warn => tracing::warn!(target: "weir::guest", source, "{message}"),
            Level::Error => tracing::error!(target: "weir::guest", source, "{message}"),
        }
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    log::add_to_linker::<_, HasSelf<GuestLog>>(linker, |state| &mut state.log)
}

/// `text` as one line of the host's log: cut at `max_bytes` (on a character
/// boundary, saying how long it was) and with every control character
/// escaped (`\n`, `\r`, `\u{1b}`…).
pub(crate) fn printable(text: &str, max_bytes: usize) -> String {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut line = String::with_capacity(end + 16);
    for c in text[..end].chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    if end < text.len() {
        line.push_str(&format!("… (cut; {} bytes in all)", text.len()));
    }
    line
}

/// A fixed one-second window of log lines. When a window ends with lines
/// dropped, one warning says how many.
pub(crate) struct LineBudget {
    window_start: Instant,
    lines: u32,
    dropped: u64,
}

impl LineBudget {
    pub(crate) fn new() -> Self {
        LineBudget {
            window_start: Instant::now(),
            lines: 0,
            dropped: 0,
        }
    }

    /// Whether the next line may be logged.
    pub(crate) fn admit(&mut self, source: &str, stream: &str) -> bool {
        if self.window_start.elapsed() >= Duration::from_secs(1) {
            self.report(source, stream);
            self.window_start = Instant::now();
            self.lines = 0;
        }
        if self.lines < MAX_LINES_PER_SECOND {
            self.lines += 1;
            true
        } else {
            self.dropped += 1;
            false
        }
    }

    /// Say how many lines were dropped, if any.
    pub(crate) fn report(&mut self, source: &str, stream: &str) {
        if self.dropped > 0 {
            tracing::warn!(
                target: "weir::guest",
                source,
                stream,
                "{} lines dropped: over {MAX_LINES_PER_SECOND} lines per second",
                self.dropped
            );
            self.dropped = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_so_a_message_stays_one_line() {
        let forged = "done\n2026-01-01T00:00:00Z  INFO weir: admin token accepted\r\u{1b}[31m";
        let line = printable(forged, MAX_LOG_MESSAGE_BYTES);
        assert!(!line.contains(['\n', '\r', '\u{1b}']), "{line}");
        assert_eq!(
            line,
            "done\\n2026-01-01T00:00:00Z  INFO weir: admin token accepted\\r\\u{1b}[31m"
        );
        assert_eq!(printable("ünïcødé ✓", 100), "ünïcødé ✓");
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_LOG_MESSAGE_BYTES);
        let line = printable(&long, MAX_LOG_MESSAGE_BYTES);
        assert!(line.len() < MAX_LOG_MESSAGE_BYTES + 64, "{}", line.len());
        assert!(
            line.ends_with(&format!("… (cut; {} bytes in all)", long.len())),
            "{line}"
        );
    }

    #[test]
    fn the_log_import_admits_lines_within_its_budget() {
        let mut log = GuestLog::new("test".into());
        for _ in 0..MAX_LINES_PER_SECOND + 5 {
            log::Host::log(&mut log, Level::Info, "x".repeat(10 << 20));
        }
        assert_eq!(log.budget.dropped, 5);
    }

    #[test]
    fn lines_past_the_budget_are_dropped_and_counted() {
        let mut budget = LineBudget::new();
        let admitted = (0..MAX_LINES_PER_SECOND + 50)
            .filter(|_| budget.admit("test", "stderr"))
            .count();
        assert_eq!(admitted, MAX_LINES_PER_SECOND as usize);
        assert_eq!(budget.dropped, 50);
        budget.window_start -= Duration::from_secs(1);
        assert!(budget.admit("test", "stderr"));
        assert_eq!(budget.dropped, 0);
    }
}
