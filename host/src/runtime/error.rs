//! Typed failures. A [`LoadError`] names the file; a [`SourceError`] names the
//! source and the call, and says which budget ran out or what the guest did.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::SUPPORTED_CONTRACT_VERSIONS;

/// Why a plugin file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: cannot read: {error}", file.display())]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },

    #[error("{}: not a WebAssembly file (it does not start with the `\\0asm` magic bytes)", file.display())]
    NotWasm { file: PathBuf },

    #[error(
        "{}: a core WebAssembly module, not a component; build the source for `wasm32-wasip2` \
         (or wrap the module with `wasm-tools component new`)", file.display()
    )]
    CoreModule { file: PathBuf },

    #[error("{}: not a valid component: {message}", file.display())]
    InvalidComponent { file: PathBuf, message: String },

    #[error(
        "{}: does not implement the Weir source contract: it exports no \
         `weir:source/source` interface (its exports: {})", file.display(), list(exports)
    )]
    NotASource { file: PathBuf, exports: Vec<String> },

    #[error(
        "{}: implements weir:source@{found}, but this host implements {}{}",
        file.display(), supported_versions(),
        unsatisfied.as_deref().map(|m| format!("; also, {m}")).unwrap_or_default()
    )]
    WrongContractVersion {
        file: PathBuf,
        found: String,
        unsatisfied: Option<String>,
    },

    #[error("{}: {message}", file.display())]
    UnsatisfiedImport { file: PathBuf, message: String },

    #[error(
        "{}: exports `weir:source/push`, but not as the contract defines it: {message}",
        file.display()
    )]
    InvalidPushExport { file: PathBuf, message: String },

    #[error(
        "{}: provider name {name:?} is not usable: it must be 1-128 characters of letters, \
         digits, `.`, `_` and `-`, starting with a letter or digit", file.display()
    )]
    InvalidProviderName { file: PathBuf, name: String },

    #[error("{}: {error}", file.display())]
    Source { file: PathBuf, error: SourceError },

    #[error("cannot set up the WebAssembly engine: {message}")]
    Engine { message: String },

    #[error("the compiled-code cache {}: {reason}", dir.display())]
    CacheDir { dir: PathBuf, reason: String },
}

impl LoadError {
    /// The engine could not be set up; `{:#}` keeps the whole error chain.
    pub(crate) fn engine(error: impl fmt::Display) -> Self {
        LoadError::Engine {
            message: format!("{error:#}"),
        }
    }
}

/// `weir:source@0.1.0 and weir:source@0.1.1`.
fn supported_versions() -> String {
    let versions: Vec<String> = SUPPORTED_CONTRACT_VERSIONS
        .iter()
        .map(|version| format!("weir:source@{version}"))
        .collect();
    match versions.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => "no version".into(),
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// Which guest call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Instantiate,
    ProviderName,
    Open,
    Next,
    Close,
    /// The `push` export's `handle`, for one pushed event.
    Push,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Call::Instantiate => "instantiate",
            Call::ProviderName => "provider-name",
            Call::Open => "open (set-up)",
            Call::Next => "next",
            Call::Close => "close (tear-down)",
            Call::Push => "push",
        })
    }
}

/// A failure while running a source: which source, which call, what happened.
#[derive(Debug, thiserror::Error)]
#[error("source `{source_name}`: {call}: {kind}")]
pub struct SourceError {
    pub source_name: Arc<str>,
    pub call: Call,
    pub kind: SourceErrorKind,
}

impl SourceError {
    /// Whether retrying the burst (or redelivering the pushed event) later,
    /// with back-off, may succeed. Only a source's own fatal error and a push
    /// to a source without push say it will not; traps and limits are
    /// retried, as a flaky upstream can cause them too.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self.kind,
            SourceErrorKind::Fatal { .. } | SourceErrorKind::PushUnsupported
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceErrorKind {
    #[error("transient error from the source: {message}")]
    Transient { message: String },

    #[error("fatal error from the source: {message}")]
    Fatal { message: String },

    #[error(
        "fuel exhausted: the call used its whole CPU budget of {budget} fuel after {} \
         (its wall-clock deadline of {} was not reached)", secs(*elapsed), secs(*deadline)
    )]
    FuelExhausted {
        budget: u64,
        elapsed: Duration,
        deadline: Duration,
    },

    #[error(
        "deadline passed: the call ran past its wall-clock deadline of {} \
         (it had used {fuel_used} of its {fuel_budget} fuel)", secs(*deadline)
    )]
    DeadlinePassed {
        deadline: Duration,
        fuel_used: u64,
        fuel_budget: u64,
    },

    #[error(
        "memory limit hit: the guest tried to grow its memory to {requested} bytes, \
         over its limit of {limit} bytes"
    )]
    MemoryLimit { requested: usize, limit: usize },

    #[error("the guest trapped: {message}{}", guest_said(stderr))]
    Trap { message: String, stderr: String },

    #[error("page has {count} entities, over the limit of {limit} per page")]
    TooManyEntities { count: usize, limit: usize },

    #[error("page carries {bytes} bytes, over the limit of {limit} bytes per page")]
    PageTooLarge { bytes: usize, limit: usize },

    #[error("cursor is {bytes} bytes, over the limit of {limit} bytes")]
    CursorTooLarge { bytes: usize, limit: usize },

    #[error("entity #{index} of the page is not valid JSON ({error}): {excerpt}")]
    InvalidEntityJson {
        index: usize,
        error: String,
        excerpt: String,
    },

    #[error("entity #{index} of the page is JSON but not an object: {excerpt}")]
    EntityNotAnObject { index: usize, excerpt: String },

    #[error("the cursor is not valid JSON ({error}): {excerpt}")]
    InvalidCursorJson { error: String, excerpt: String },

    #[error("the page is not marked done but carries no cursor for the next page")]
    MissingCursor,

    #[error("the burst is unusable after an earlier failure; open a new one")]
    BurstUnusable,

    #[error(
        "the source does not take pushed events: it exports no `weir:source/push` interface \
         (it implements the pull-only `source-plugin` world)"
    )]
    PushUnsupported,

    #[error("push removes {count} entities, over the limit of {limit} per push")]
    TooManyRemovals { count: usize, limit: usize },

    #[error("removal #{index} of the push is not an entity ref: {error}")]
    InvalidRemovalRef { index: usize, error: String },

    #[error("the host failed: {message}")]
    Host { message: String },
}

fn secs(duration: Duration) -> String {
    format!("{:.3}s", duration.as_secs_f64())
}

fn guest_said(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; the guest's last output: {stderr}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_source_and_the_call() {
        let error = SourceError {
            source_name: "github".into(),
            call: Call::Next,
            kind: SourceErrorKind::FuelExhausted {
                budget: 1000,
                elapsed: Duration::from_millis(1500),
                deadline: Duration::from_secs(60),
            },
        };
        assert_eq!(
            error.to_string(),
            "source `github`: next: fuel exhausted: the call used its whole CPU budget of 1000 \
             fuel after 1.500s (its wall-clock deadline of 60.000s was not reached)"
        );
        assert!(error.is_retryable());
    }

    #[test]
    fn only_a_fatal_source_error_or_a_push_without_push_is_final() {
        let fatal = SourceError {
            source_name: "github".into(),
            call: Call::Open,
            kind: SourceErrorKind::Fatal {
                message: "bad token".into(),
            },
        };
        assert!(!fatal.is_retryable());
        let unsupported = SourceError {
            source_name: "github".into(),
            call: Call::Push,
            kind: SourceErrorKind::PushUnsupported,
        };
        assert!(!unsupported.is_retryable());
        assert!(
            unsupported
                .to_string()
                .starts_with("source `github`: push: the source does not take pushed events"),
            "{unsupported}"
        );
    }

    #[test]
    fn a_wrong_version_names_every_version_the_host_implements() {
        let error = LoadError::WrongContractVersion {
            file: "p.wasm".into(),
            found: "0.9.0".into(),
            unsatisfied: None,
        };
        assert_eq!(
            error.to_string(),
            "p.wasm: implements weir:source@0.9.0, but this host implements \
             weir:source@0.1.0 and weir:source@0.1.1"
        );
    }
}
