//! A guest's stdout and stderr: each complete line is logged, attributed to
//! the source, its control characters escaped and rate-limited (as the `log`
//! capability's lines), and the last few kilobytes are kept so a trap's
//! error can say what the guest printed before it died (a Rust panic
//! message, say).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use super::log::{LineBudget, printable};

/// How much of the output's end is kept for error reports.
const TAIL_BYTES: usize = 4096;
/// A line longer than this is logged in pieces.
const MAX_LINE_BYTES: usize = 8192;
#[derive(Clone)]
pub(crate) struct GuestOutput {
    inner: Arc<Mutex<Output>>,
}

struct Output {
    source: Arc<str>,
    stream: &'static str,
    line: Vec<u8>,
    tail: Vec<u8>,
    budget: LineBudget,
}

impl GuestOutput {
    pub fn new(source: Arc<str>, stream: &'static str) -> Self {
        GuestOutput {
            inner: Arc::new(Mutex::new(Output {
                source,
                stream,
                line: Vec::new(),
                tail: Vec::new(),
                budget: LineBudget::new(),
            })),
        }
    }

    /// The last lines written, joined into one line of text.
    pub fn tail(&self) -> String {
        let output = self.lock();
        let text = String::from_utf8_lossy(&output.tail);
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn write(&self, bytes: &[u8]) {
        self.lock().write(bytes);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Output> {
        // A poisoned lock only means a panic elsewhere while logging; the
        // buffered text is still fine to use.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Output {
    fn write(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        if self.tail.len() > TAIL_BYTES {
            let excess = self.tail.len() - TAIL_BYTES;
            self.tail.drain(..excess);
        }
        for &byte in bytes {
            if byte == b'\n' || self.line.len() >= MAX_LINE_BYTES {
                self.emit_line();
            }
            if byte != b'\n' {
                self.line.push(byte);
            }
        }
    }

    fn emit_line(&mut self) {
        let line = printable(&String::from_utf8_lossy(&self.line), MAX_LINE_BYTES);
        if line.trim().is_empty() {
            self.line.clear();
            return;
        }
        if self.budget.admit(&self.source, self.stream) {
            tracing::info!(target: "weir::guest", source = %self.source, stream = self.stream, "{line}");
        }
        self.line.clear();
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.emit_line();
        }
        self.budget.report(&self.source, self.stream);
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        GuestOutput::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        GuestOutput::write(&self, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_tail() {
        let output = GuestOutput::new("test".into(), "stderr");
        output.write(&vec![b'a'; TAIL_BYTES]);
        output.write(b"\npanicked at src/lib.rs:1: boom\n");
        let tail = output.tail();
        assert!(tail.ends_with("panicked at src/lib.rs:1: boom"), "{tail}");
        assert!(tail.len() <= TAIL_BYTES);
    }

    #[test]
    fn the_tail_is_kept_even_for_dropped_lines() {
        let output = GuestOutput::new("test".into(), "stderr");
        for i in 0..super::super::log::MAX_LINES_PER_SECOND + 10 {
            output.write(format!("line {i}\n").as_bytes());
        }
        assert!(output.tail().ends_with(&format!(
            "line {}",
            super::super::log::MAX_LINES_PER_SECOND + 9
        )));
    }
}
