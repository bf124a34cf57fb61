//! The conformance suite: every guest language's conformance source
//! (`tests/conformance/LANGUAGE/`, specified by `tests/conformance/README.md`)
//! through the real runtime: exact entities (compared with the ones built
//! here, in Rust, from the README), cursors, errors (case and message), log
//! lines (level and message), repeated cursors and pushes; the canonical
//! hash of every entity identical across languages; the generic checks of
//! `weir::conformance` (`weir check --conformance`); and, through the real
//! engine on SQLite, a cycle over several bursts and a transient failure
//! resumed from the stored cursor.
//!
//! Rust's source is built by `tests/build.rs`. Python's, TypeScript's and
//! C's are built with `.ci/languages/X.sh build` into `target/conformance/`,
//! again only when their inputs changed; a language whose toolchain is not
//! installed is skipped, saying so on stderr, unless
//! `WEIR_REQUIRE_LANGUAGES=1` (CI), where that fails. Compiled code is shared
//! through the cache of the process tests, so an 18 MB Python component is
//! compiled once.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use weir::conformance::{self, GuestLine, Options, Outcome, Report, capture_guest_lines};
use weir::engine::{Rest, SourceOptions, Supervisor, SupervisorOptions};
use weir::runtime::{
    Call, Cursor, Page, Plugin, PluginRuntime, PushEvent, PushOutcome, RuntimeOptions, SourceError,
    SourceErrorKind, SourceSettings,
};
use weir::store::{Catalog, CycleRecord, Phase};
use weir_core::canonical::{canonical_json, content_hash};
use weir_tests::db::TestDb;

use crate::guests;
use crate::process::cache_dir;

/// A failure asked of a conformance source: its settings, the page that
/// fails, the error's case and its message.
type FailureCase = (
    &'static [(&'static str, &'static str)],
    u32,
    &'static str,
    &'static str,
);

/// Each entity, keyed by what it is, with its hash and its canonical JSON.
type HashesByRef = BTreeMap<String, (String, String)>;

// ---------------------------------------------------------------------------
// The languages and their components

/// A guest language with a conformance source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Language {
    name: &'static str,
    /// Its conformance source, under `tests/conformance/`.
    folder: &'static str,
    /// Its `.ci/languages/SCRIPT.sh`, its SDK `guest-sdk/SCRIPT` and its
    /// toolchain `.toolchains/SCRIPT`; `None` for Rust (built by `tests/build.rs`).
    script: Option<&'static str>,
}

const RUST: Language = Language {
    name: "rust",
    folder: "rust",
    script: None,
};
const PYTHON: Language = Language {
    name: "python",
    folder: "python",
    script: Some("python"),
};
const TYPESCRIPT: Language = Language {
    name: "typescript",
    folder: "typescript",
    script: Some("js"),
};
const C: Language = Language {
    name: "c",
    folder: "c",
    script: Some("c"),
};
const LANGUAGES: [Language; 4] = [RUST, PYTHON, TYPESCRIPT, C];

/// Set to `1` (CI does) to fail, instead of skipping, when a language's
/// toolchain is not installed.
const REQUIRE_VAR: &str = "WEIR_REQUIRE_LANGUAGES";

/// Each non-Rust language's component, built (or found up to date) and
/// compiled into the cache once per test process.
static PREPARED: [OnceCell<Result<PathBuf, String>>; 3] = [const { OnceCell::const_new() }; 3];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host package sits in the workspace")
        .to_path_buf()
}

/// A runtime whose compiled code is shared with the other process tests.
fn runtime() -> Arc<PluginRuntime> {
    Arc::new(
        PluginRuntime::new(RuntimeOptions {
            cache_dir: Some(cache_dir()),
            ..RuntimeOptions::default()
        })
        .expect("runtime"),
    )
}

/// `language`'s conformance component, or `None` (said on stderr) when its
/// toolchain is not installed and [`REQUIRE_VAR`] is not `1`.
async fn component(language: Language) -> Option<PathBuf> {
    let Some(script) = language.script else {
        return Some(PathBuf::from(guests::CONFORMANCE_RUST));
    };
    let slot = match language.name {
        "python" => 0,
        "typescript" => 1,
        _ => 2,
    };
    let prepared = PREPARED[slot]
        .get_or_init(|| async move {
            let built = tokio::task::spawn_blocking(move || build(language, script))
                .await
                .expect("the build thread");
            if let Ok(path) = &built {
                // Compile once into the shared cache before any test loads it.
                let started = Instant::now();
                runtime()
                    .load(path, SourceSettings::default())
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", language.name));
                eprintln!(
                    "conformance: {} loaded (compiled or from the cache) in {:.1?}",
                    language.name,
                    started.elapsed()
                );
            }
            built
        })
        .await;
    match prepared {
        Ok(path) => Some(path.clone()),
        Err(why) if std::env::var(REQUIRE_VAR).as_deref() == Ok("1") => panic!(
            "conformance: {} is required ({REQUIRE_VAR}=1) but cannot run: {why}",
            language.name
        ),
        Err(why) => {
            // Past the test harness's capture, so that a skip is seen.
            let _ = writeln!(
                std::io::stderr(),
                "conformance: skipped {}: {why}",
                language.name
            );
            None
        }
    }
}

/// Build `language`'s component into `target/conformance/NAME.wasm` unless
/// it is there already from the same inputs. `Err` when the toolchain is
/// not installed; a failing build panics.
fn build(language: Language, script: &str) -> Result<PathBuf, String> {
    let root = workspace();
    let toolchain = root.join(".toolchains").join(script);
    if !toolchain.is_dir() {
        return Err(format!(
            "its toolchain is not installed ({} is missing; run .ci/languages/{script}.sh install)",
            toolchain.display()
        ));
    }
    let out_dir = root.join("target").join("conformance");
    std::fs::create_dir_all(&out_dir).expect("create target/conformance");
    let wasm = out_dir.join(format!("{}.wasm", language.name));
    let stamp = out_dir.join(format!("{}.inputs", language.name));
    let fingerprint = inputs_fingerprint(&root, language, script);
    if wasm.is_file() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&fingerprint) {
        return Ok(wasm);
    }
    let partial = out_dir.join(format!(
        "{}.{}.partial.wasm",
        language.name,
        std::process::id()
    ));
    let started = Instant::now();
    let output = Command::new("bash")
        .arg(root.join(".ci/languages").join(format!("{script}.sh")))
        .arg("build")
        .arg(root.join("tests/conformance").join(language.folder))
        .arg(&partial)
        .current_dir(&root)
        .output()
        .expect("run the language's build script");
    assert!(
        output.status.success() && partial.is_file(),
        "conformance: building the {} source failed ({}):\n{}{}",
        language.name,
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&partial, &wasm).expect("move the component into place");
    std::fs::write(&stamp, &fingerprint).expect("write the inputs' fingerprint");
    eprintln!(
        "conformance: built {} in {:.1?}",
        wasm.display(),
        started.elapsed()
    );
    Ok(wasm)
}

/// SHA-256 over the path and bytes of every file a build reads: the source,
/// its SDK, the contract and the build script (generated and installed
/// folders aside).
fn inputs_fingerprint(root: &Path, language: Language, script: &str) -> String {
    let mut files = Vec::new();
    for input in [
        format!("tests/conformance/{}", language.folder),
        format!("guest-sdk/{script}"),
        "wit".to_owned(),
        format!(".ci/languages/{script}.sh"),
    ] {
        collect_files(&root.join(input), &mut files);
    }
    files.sort();
    let mut hash = Sha256::new();
    for file in files {
        hash.update(
            file.strip_prefix(root)
                .unwrap_or(&file)
                .to_string_lossy()
                .as_bytes(),
        );
        hash.update([0]);
        hash.update(std::fs::read(&file).unwrap_or_default());
    }
    hex::encode(hash.finalize())
}

fn collect_files(path: &Path, files: &mut Vec<PathBuf>) {
    const SKIPPED: &[&str] = &[
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "build",
    ];
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_file() {
        if path.extension().is_none_or(|ext| ext != "wasm") {
            files.push(path.to_owned());
        }
    } else if meta.is_dir() {
        let skipped = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| SKIPPED.contains(&name));
        if let (false, Ok(entries)) = (skipped, std::fs::read_dir(path)) {
            for entry in entries.flatten() {
                collect_files(&entry.path(), files);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The README, in Rust

/// The entity numbered `index` on page `page`, exactly as the README writes it.
fn spec_entity(index: u32, page: u32) -> Value {
    let location = format!("url:https://conformance.example/entities/{index}");
    let depends_on: Vec<String> = index
        .checked_sub(1)
        .map(|previous| format!("component:default/conformance-{previous}"))
        .into_iter()
        .collect();
    json!({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {
            "name": format!("conformance-{index}"),
            "namespace": "default",
            "title": format!("Conformance {index}"),
            "description": format!(
                "Entity \"{index}\" of the conformance source: ünïcødé ✓, a tab\tand a newline\n."
            ),
            "tags": ["conformance", format!("page-{page}")],
            "labels": { "weir.dev/index": index.to_string() },
            "annotations": {
                "backstage.io/managed-by-location": location,
                "backstage.io/managed-by-origin-location": location,
            },
        },
        "spec": {
            "type": "service",
            "lifecycle": "production",
            "owner": "group:default/conformance",
            "index": index,
            "even": index.is_multiple_of(2),
            "ratio": f64::from(index) / 4.0,
            "dependsOn": depends_on,
        },
    })
}

/// An entity as compared: its canonical JSON and its location key.
type Compared = (String, Option<String>);

fn spec_compared(index: u32, page: u32) -> Compared {
    (
        canonical_json(&spec_entity(index, page)),
        Some(format!("conformance:{index}")),
    )
}

fn compared(json: &str, location_key: Option<&str>) -> Compared {
    let value: Value = serde_json::from_str(json).expect("the runtime checked it is JSON");
    (canonical_json(&value), location_key.map(str::to_owned))
}

fn page_entities(page: &Page) -> Vec<Compared> {
    page.entities
        .iter()
        .map(|e| compared(e.json(), e.location_key()))
        .collect()
}

/// `{"page":N}`, the cursor text every language writes.
fn cursor_text(page: u32) -> String {
    format!("{{\"page\":{page}}}")
}

fn cursor(text: &str) -> Cursor {
    Cursor::parse(text).expect("a JSON cursor")
}

/// Page `number` of a cycle of `pages` pages of `per_page`, as the README says.
fn assert_page(language: Language, page: &Page, number: u32, pages: u32, per_page: u32) {
    let expected: Vec<Compared> = (number * per_page..(number + 1) * per_page)
        .map(|index| spec_compared(index, number))
        .collect();
    let actual = page_entities(page);
    assert_eq!(
        actual.len(),
        expected.len(),
        "{}: page {number} of {pages} (per-page {per_page}) has {} entities",
        language.name,
        actual.len()
    );
    for (index, (actual, expected)) in actual.iter().zip(&expected).enumerate() {
        assert_eq!(
            actual, expected,
            "{}: page {number}, entity #{index}: canonical JSON and location key",
            language.name
        );
    }
    let last = number + 1 == pages;
    assert_eq!(page.done, last, "{}: page {number}: done", language.name);
    assert_eq!(
        page.cursor.as_ref().map(Cursor::as_str),
        (!last).then(|| cursor_text(number + 1)).as_deref(),
        "{}: page {number}: cursor",
        language.name
    );
}

/// The log lines of the `log` import as `(level, message)`; no line may
/// have been printed to stdout or stderr.
fn logged(language: Language, lines: &[GuestLine]) -> Vec<(String, String)> {
    let printed: Vec<String> = lines
        .iter()
        .filter(|line| !line.from_log_import())
        .map(ToString::to_string)
        .collect();
    assert!(
        printed.is_empty(),
        "{}: printed instead of logging: {printed:?}",
        language.name
    );
    lines
        .iter()
        .map(|line| (line.level.as_str().to_lowercase(), line.message.clone()))
        .collect()
}

fn expected_lines(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(level, message)| (level.to_string(), message.to_string()))
        .collect()
}

const OPEN: (&str, &str) = ("info", "conformance: open (no token)");
const CLOSE: (&str, &str) = ("info", "conformance: close");

/// The source's own error of case `kind` (`transient` or `fatal`) with
/// exactly `message`, from `call`.
fn assert_error(
    language: Language,
    what: &str,
    error: &SourceError,
    call: Call,
    kind: &str,
    message: &str,
) {
    let (actual_kind, actual_message) = match &error.kind {
        SourceErrorKind::Transient { message } => ("transient", message),
        SourceErrorKind::Fatal { message } => ("fatal", message),
        _ => panic!(
            "{}: {what}: expected the source's own {kind} error, got: {error}",
            language.name
        ),
    };
    assert_eq!(
        (error.call, actual_kind, actual_message.as_str()),
        (call, kind, message),
        "{}: {what}",
        language.name
    );
}

/// One language's component, with the runtime it is loaded by.
struct Subject {
    language: Language,
    path: PathBuf,
    runtime: Arc<PluginRuntime>,
}

impl Subject {
    async fn of(language: Language) -> Option<Subject> {
        Some(Subject {
            language,
            path: component(language).await?,
            runtime: runtime(),
        })
    }

    async fn load(&self, config: &[(&str, &str)]) -> Plugin {
        self.load_with(config, &[]).await
    }

    async fn load_with(&self, config: &[(&str, &str)], secrets: &[(&str, &str)]) -> Plugin {
        let pairs = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let settings = SourceSettings {
            config: pairs(config),
            secrets: pairs(secrets),
            ..SourceSettings::default()
        };
        let plugin = self
            .runtime
            .load(&self.path, settings)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", self.language.name));
        assert_eq!(
            plugin.provider_name(),
            "conformance",
            "{}",
            self.language.name
        );
        plugin
    }
}

/// A whole cycle in one burst: its pages and what the source logged.
async fn cycle_in_one_burst(plugin: &Plugin) -> (Result<Vec<Page>, SourceError>, Vec<GuestLine>) {
    capture_guest_lines(async {
        let mut burst = plugin.open_burst().await?;
        let mut pages: Vec<Page> = Vec::new();
        let mut after: Option<Cursor> = None;
        while pages.len() <= 1000 {
            let page = burst.next(after.as_ref()).await?;
            after = page.cursor.clone();
            let done = page.done;
            pages.push(page);
            if done {
                break;
            }
        }
        burst.close().await?;
        Ok(pages)
    })
    .await
}

// ---------------------------------------------------------------------------
// The scenarios of the README, through the runtime

/// Default config, one burst: three pages of two, and the log lines.
async fn default_cycle(subject: &Subject) {
    let language = subject.language;
    let plugin = subject.load(&[]).await;
    let (pages, lines) = cycle_in_one_burst(&plugin).await;
    let pages = pages.unwrap_or_else(|e| panic!("{}: {e}", language.name));
    assert_eq!(pages.len(), 3, "{}", language.name);
    for (number, page) in (0..).zip(&pages) {
        assert_page(language, page, number, 3, 2);
    }
    assert_eq!(
        logged(language, &lines),
        expected_lines(&[
            OPEN,
            ("debug", "conformance: page 0"),
            ("debug", "conformance: page 1"),
            ("debug", "conformance: page 2"),
            CLOSE,
        ]),
        "{}",
        language.name
    );
}

/// Other sizes, read one page per burst, each a fresh instance resuming
/// from the cursor's stored text; the token is logged as present, never echoed.
async fn resumed_cycles(subject: &Subject) {
    let language = subject.language;
    const TOKEN: &str = "s3cr3t-t0ken";
    for (pages, per_page) in [(4, 3), (2, 0), (1, 5), (7, 1)] {
        // `007`: leading zeros are allowed.
        let (pages_text, per_page_text) = (format!("{pages:03}"), per_page.to_string());
        let config = [
            ("pages", pages_text.as_str()),
            ("per-page", per_page_text.as_str()),
        ];
        let plugin = subject.load_with(&config, &[("token", TOKEN)]).await;
        let mut after: Option<String> = None;
        for number in 0..pages {
            let (page, lines) = capture_guest_lines(async {
                let mut burst = plugin.open_burst().await?;
                let stored = after.as_deref().map(cursor);
                let page = burst.next(stored.as_ref()).await?;
                burst.close().await?;
                Ok::<_, SourceError>(page)
            })
            .await;
            let page = page.unwrap_or_else(|e| panic!("{}: page {number}: {e}", language.name));
            assert_page(language, &page, number, pages, per_page);
            assert_eq!(
                logged(language, &lines),
                expected_lines(&[
                    ("info", "conformance: open (token present)"),
                    ("debug", &format!("conformance: page {number}")),
                    CLOSE,
                ]),
                "{}",
                language.name
            );
            for entity in &page.entities {
                assert!(
                    !entity.json().contains(TOKEN),
                    "{}: the token leaked",
                    language.name
                );
            }
            after = page.cursor.map(|c| c.as_str().to_owned());
        }
    }
}

/// `next` with the same cursor twice, in one burst and in two: the same page.
async fn repeated_cursor(subject: &Subject) {
    let language = subject.language;
    let plugin = subject.load(&[("pages", "4"), ("per-page", "3")]).await;
    let at_two = cursor(&cursor_text(2));
    let (pages, lines) = capture_guest_lines(async {
        let mut burst = plugin.open_burst().await?;
        let first = burst.next(Some(&at_two)).await?;
        let second = burst.next(Some(&at_two)).await?;
        burst.close().await?;
        let mut other = plugin.open_burst().await?;
        let third = other.next(Some(&at_two)).await?;
        other.close().await?;
        Ok::<_, SourceError>([first, second, third])
    })
    .await;
    let pages = pages.unwrap_or_else(|e| panic!("{}: {e}", language.name));
    for page in &pages {
        assert_page(language, page, 2, 4, 3);
    }
    let page_two = ("debug", "conformance: page 2");
    assert_eq!(
        logged(language, &lines),
        expected_lines(&[OPEN, page_two, page_two, CLOSE, OPEN, page_two, CLOSE]),
        "{}",
        language.name
    );
}

/// Cursors that are not `{"page": N}` within the cycle: fatal, quoting the
/// text as received, not logged; the burst goes on.
async fn bad_cursors(subject: &Subject) {
    let language = subject.language;
    let plugin = subject.load(&[]).await;
    let bad = [
        r#"{"page":3}"#,
        r#"{"page":-1}"#,
        r#"{"page":"1"}"#,
        r#"{"page":1.5}"#,
        r#"{"pages":1}"#,
        r#"{"page":1,"x":2}"#,
        r#"{ "page" : 99 }"#,
        "[1]",
        "null",
        r#""page""#,
        "{}",
    ];
    let (results, lines) = capture_guest_lines(async {
        let mut burst = plugin.open_burst().await.expect("open");
        let mut results = Vec::new();
        for text in bad {
            results.push(burst.next(Some(&cursor(text))).await);
        }
        let good = burst.next(Some(&cursor(r#"{"page":1}"#))).await;
        burst.close().await.expect("close");
        (results, good)
    })
    .await;
    let (results, good) = results;
    for (text, result) in bad.iter().zip(results) {
        let error = result.expect_err(&format!("{}: cursor {text} is bad", language.name));
        assert_error(
            language,
            &format!("cursor {text}"),
            &error,
            Call::Next,
            "fatal",
            &format!("conformance: bad cursor: {text}"),
        );
    }
    let good = good.unwrap_or_else(|e| panic!("{}: after bad cursors: {e}", language.name));
    assert_page(language, &good, 1, 3, 2);
    assert_eq!(
        logged(language, &lines),
        expected_lines(&[OPEN, ("debug", "conformance: page 1"), CLOSE]),
        "{}",
        language.name
    );
}

/// Config values `open` refuses: logged first, then the first bad key in
/// the README's order, the value quoted raw.
async fn bad_config(subject: &Subject) {
    let language = subject.language;
    let number = |key: &str, low: u32, high: u32, value: &str| {
        format!(
            "conformance: config `{key}`: expected a number from {low} to {high}, got \"{value}\""
        )
    };
    let kind = |key: &str, value: &str| {
        format!("conformance: config `{key}`: expected transient or fatal, got \"{value}\"")
    };
    let cases: Vec<(Vec<(&str, &str)>, String)> = vec![
        (vec![("pages", "0")], number("pages", 1, 1000, "0")),
        (vec![("pages", "1001")], number("pages", 1, 1000, "1001")),
        (vec![("pages", "abc")], number("pages", 1, 1000, "abc")),
        (vec![("pages", "")], number("pages", 1, 1000, "")),
        (vec![("pages", "+1")], number("pages", 1, 1000, "+1")),
        (vec![("pages", " 1")], number("pages", 1, 1000, " 1")),
        (vec![("pages", "1.0")], number("pages", 1, 1000, "1.0")),
        (vec![("pages", "a\"b")], number("pages", 1, 1000, "a\"b")),
        (
            vec![("pages", "99999999999999999999")],
            number("pages", 1, 1000, "99999999999999999999"),
        ),
        (
            vec![("per-page", "1001")],
            number("per-page", 0, 1000, "1001"),
        ),
        (vec![("per-page", "-1")], number("per-page", 0, 1000, "-1")),
        (
            vec![("transient-at", "1000")],
            number("transient-at", 0, 999, "1000"),
        ),
        (vec![("fatal-at", "x")], number("fatal-at", 0, 999, "x")),
        (vec![("fail-open", "maybe")], kind("fail-open", "maybe")),
        (vec![("fail-open", "Fatal")], kind("fail-open", "Fatal")),
        (
            vec![("fail-close", "sometimes")],
            kind("fail-close", "sometimes"),
        ),
        (
            vec![("per-page", "xyz"), ("pages", "abc")],
            number("pages", 1, 1000, "abc"),
        ),
        (
            vec![
                ("fail-close", "bad"),
                ("fail-open", "fatal"),
                ("per-page", "x"),
            ],
            number("per-page", 0, 1000, "x"),
        ),
        (
            vec![("fail-close", "bad"), ("fail-open", "fatal")],
            kind("fail-close", "bad"),
        ),
        (
            vec![("fail-open", "fatal"), ("transient-at", "x")],
            number("transient-at", 0, 999, "x"),
        ),
        (
            vec![("fail-open", "fatal")],
            "conformance: open failed".into(),
        ),
    ];
    for (config, message) in cases {
        let plugin = subject.load(&config).await;
        let (opened, lines) = capture_guest_lines(plugin.open_burst()).await;
        let error = opened
            .err()
            .unwrap_or_else(|| panic!("{}: {config:?} opened", language.name));
        assert_error(
            language,
            &format!("{config:?}"),
            &error,
            Call::Open,
            "fatal",
            &message,
        );
        assert_eq!(
            logged(language, &lines),
            expected_lines(&[OPEN]),
            "{}",
            language.name
        );
    }
    let plugin = subject.load(&[("fail-open", "transient")]).await;
    let error = plugin
        .open_burst()
        .await
        .err()
        .expect("fail-open transient");
    assert_error(
        language,
        "fail-open",
        &error,
        Call::Open,
        "transient",
        "conformance: open failed",
    );
}

/// `transient-at`, `fatal-at` and `fail-close`: the page (or close) fails
/// with the case asked for, after logging; the burst still closes.
/// Each case: the settings, the page that fails, the case and the message.
async fn failures_on_demand(subject: &Subject) {
    let language = subject.language;
    let cases: [FailureCase; 3] = [
        (
            &[("transient-at", "1")],
            1,
            "transient",
            "conformance: transient at page 1",
        ),
        (
            &[("fatal-at", "0")],
            0,
            "fatal",
            "conformance: fatal at page 0",
        ),
        (
            &[("fatal-at", "2"), ("transient-at", "2")],
            2,
            "transient",
            "conformance: transient at page 2",
        ),
    ];
    for (config, at, kind, message) in cases {
        let plugin = subject.load(config).await;
        let (outcome, lines) = capture_guest_lines(async {
            let mut burst = plugin.open_burst().await.expect("open");
            let mut after: Option<Cursor> = None;
            let mut read = 0;
            let error = loop {
                match burst.next(after.as_ref()).await {
                    Ok(page) if page.done => break None,
                    Ok(page) => {
                        after = page.cursor;
                        read += 1;
                    }
                    Err(error) => break Some(error),
                }
            };
            (read, error, burst.close().await)
        })
        .await;
        let (read, error, closed) = outcome;
        let error =
            error.unwrap_or_else(|| panic!("{}: {config:?}: no page failed", language.name));
        assert_eq!(
            read, at,
            "{}: {config:?}: pages before the failure",
            language.name
        );
        assert_error(
            language,
            &format!("{config:?}"),
            &error,
            Call::Next,
            kind,
            message,
        );
        closed.unwrap_or_else(|e| panic!("{}: close after a failed next: {e}", language.name));
        let mut expected = vec![OPEN];
        let page_lines: Vec<String> = (0..=at).map(|n| format!("conformance: page {n}")).collect();
        expected.extend(page_lines.iter().map(|line| ("debug", line.as_str())));
        expected.push(CLOSE);
        assert_eq!(
            logged(language, &lines),
            expected_lines(&expected),
            "{}",
            language.name
        );
    }
    // A page number past the cycle is valid and never reached.
    let plugin = subject
        .load(&[("transient-at", "999"), ("pages", "2")])
        .await;
    let (pages, _) = cycle_in_one_burst(&plugin).await;
    assert_eq!(pages.expect("a cycle").len(), 2, "{}", language.name);

    for kind in ["transient", "fatal"] {
        let plugin = subject.load(&[("fail-close", kind), ("pages", "1")]).await;
        let (closed, lines) = capture_guest_lines(async {
            let mut burst = plugin.open_burst().await.expect("open");
            let page = burst.next(None).await.expect("next");
            assert_page(language, &page, 0, 1, 2);
            burst.close().await
        })
        .await;
        let error = closed.expect_err("close fails");
        assert_error(
            language,
            "fail-close",
            &error,
            Call::Close,
            kind,
            "conformance: close failed",
        );
        assert_eq!(
            logged(language, &lines),
            expected_lines(&[OPEN, ("debug", "conformance: page 0"), CLOSE]),
            "{}",
            language.name
        );
    }
}

fn event(headers: &[(&str, &str)], body: &str) -> PushEvent {
    PushEvent {
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

/// The upserts as compared, and the removals.
fn pushed(outcome: &PushOutcome) -> (Vec<Compared>, Vec<String>) {
    (
        outcome
            .upserts
            .iter()
            .map(|e| compared(e.json(), e.location_key()))
            .collect(),
        outcome.removals.clone(),
    )
}

/// Pushed events: upserts and removals by number, the transient header, and
/// bodies that are not valid.
async fn pushes(subject: &Subject) {
    let language = subject.language;
    let name = language.name;
    let plugin = subject.load(&[("per-page", "2")]).await;
    assert!(plugin.supports_push(), "{name}: exports push");
    let json_type = [("Content-Type", "application/json")];
    let (outcome, lines) =
        capture_guest_lines(plugin.push(event(&json_type, r#"{"upsert": [0, 5], "remove": [3]}"#)))
            .await;
    let outcome = outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        pushed(&outcome),
        (
            vec![spec_compared(0, 0), spec_compared(5, 2)],
            vec!["component:default/conformance-3".to_owned()]
        ),
        "{name}"
    );
    assert_eq!(
        logged(language, &lines),
        expected_lines(&[]),
        "{name}: push logs nothing"
    );

    let outcome = plugin
        .push(event(
            &[],
            r#"{"remove": [3, 3], "upsert": [999999, 1, 1]}"#,
        ))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        pushed(&outcome),
        (
            vec![
                spec_compared(999_999, 499_999),
                spec_compared(1, 0),
                spec_compared(1, 0)
            ],
            vec!["component:default/conformance-3".to_owned(); 2]
        ),
        "{name}: the body's order and repetitions"
    );
    let empty = plugin.push(event(&[], "{}")).await.expect("an empty body");
    assert_eq!(pushed(&empty), (vec![], vec![]), "{name}");
    // Another value of the header is ignored.
    let ignored = plugin
        .push(event(
            &[("x-conformance-fail", "fatal")],
            r#"{"remove": [1]}"#,
        ))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        ignored.removals,
        ["component:default/conformance-1"],
        "{name}"
    );

    let failing = [
        ("Content-Type", "text/plain"),
        ("X-Conformance-FAIL", "transient"),
    ];
    let error = plugin
        .push(event(&failing, "not even JSON"))
        .await
        .expect_err("the fail header");
    assert_error(
        language,
        "push header",
        &error,
        Call::Push,
        "transient",
        "conformance: push failed",
    );

    for body in [
        "not json",
        "[]",
        "1",
        r#"{"upsert": "1"}"#,
        r#"{"upsert": null}"#,
        r#"{"upsert": [-1]}"#,
        r#"{"upsert": [1000000]}"#,
        r#"{"upsert": [1.5]}"#,
        r#"{"remove": ["1"]}"#,
        r#"{"upserts": [1]}"#,
    ] {
        let error = plugin.push(event(&[], body)).await.err();
        let error = error.unwrap_or_else(|| panic!("{name}: body {body} is not valid"));
        match &error.kind {
            SourceErrorKind::Fatal { message }
                if message.starts_with("conformance: push body is not valid: ") => {}
            _ => panic!(
                "{name}: body {body}: expected a fatal `push body is not valid`, got {error}"
            ),
        }
    }

    let no_pages = subject.load(&[("per-page", "0")]).await;
    let error = no_pages.push(event(&[], r#"{"upsert": [1]}"#)).await.err();
    assert!(
        matches!(&error, Some(SourceError { kind: SourceErrorKind::Fatal { message }, .. })
            if message.starts_with("conformance: push body is not valid: ")),
        "{name}: an upsert with per-page 0: {error:?}"
    );
    let removal = no_pages.push(event(&[], r#"{"remove": [1]}"#)).await;
    assert!(
        removal.is_ok(),
        "{name}: a removal with per-page 0: {removal:?}"
    );

    let bad_config = subject.load(&[("pages", "x")]).await;
    let error = bad_config
        .push(event(&[], "{}"))
        .await
        .expect_err("bad config");
    assert_error(
        language,
        "push with bad config",
        &error,
        Call::Push,
        "fatal",
        "conformance: config `pages`: expected a number from 1 to 1000, got \"x\"",
    );
}

/// The generic checks of `weir check --conformance`: all pass by default;
/// with a failure asked for, the cycle fails and the error keeps its case.
async fn generic_checks(subject: &Subject) {
    let name = subject.language.name;
    let report = check(subject, &[]).await;
    assert!(report.passed(), "{name}:\n{report}");
    for check in &report.checks {
        match (check.name, &check.outcome) {
            ("errors", Outcome::Skipped(_)) | (_, Outcome::Passed(_)) => {}
            _ => panic!("{name}: {} did not pass:\n{report}", check.name),
        }
    }
    assert!(
        passed_with(&report, "cycle").contains("3 pages, 6 entities"),
        "{name}:\n{report}"
    );

    let report = check(subject, &[("transient-at", "1")]).await;
    assert!(
        report.check("cycle").is_some_and(|c| c.failed()),
        "{name}:\n{report}"
    );
    assert!(
        passed_with(&report, "errors")
            .contains(r#"next after cursor {"page":1}: transient, and transient again"#),
        "{name}:\n{report}"
    );

    let report = check(subject, &[("fail-close", "fatal")]).await;
    assert!(
        report.check("cycle").is_some_and(|c| c.failed()),
        "{name}:\n{report}"
    );
    assert!(
        passed_with(&report, "errors").contains("close (tear-down): fatal, and fatal again"),
        "{name}:\n{report}"
    );
}

async fn check(subject: &Subject, config: &[(&str, &str)]) -> Report {
    let plugin = subject.load(config).await;
    conformance::check(&subject.runtime, &plugin, &Options::default()).await
}

/// The detail of check `name`, which must have passed.
fn passed_with<'r>(report: &'r Report, name: &str) -> &'r str {
    match report.check(name).map(|check| &check.outcome) {
        Some(Outcome::Passed(detail)) => detail,
        _ => panic!("{name} did not pass:\n{report}"),
    }
}

// ---------------------------------------------------------------------------
// Through the engine, on SQLite

fn engine_options(backoff: Vec<Duration>) -> SourceOptions {
    SourceOptions {
        burst_length: Duration::from_millis(1),
        burst_interval: Duration::ZERO,
        rest: Rest::For(Duration::from_secs(60 * 60)),
        backoff,
        ..SourceOptions::default()
    }
}

fn start(store: &Catalog, plugin: Plugin, options: SourceOptions) -> Supervisor {
    Supervisor::start(
        store.clone(),
        vec![(plugin, options)],
        SupervisorOptions {
            poll: Duration::from_millis(100),
            ..SupervisorOptions::default()
        },
    )
}

/// Poll `check` on the store until it gives `Some`, for a minute at most.
async fn wait_for<T>(
    store: &Catalog,
    what: &str,
    mut check: impl AsyncFnMut(&Catalog) -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = check(store).await {
            return found;
        }
        if Instant::now() > deadline {
            let status = store.source_status("conformance").await;
            let errors = store.recent_errors("conformance").await;
            panic!("timed out waiting for {what}: {status:#?} {errors:#?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A cycle over several bursts of one page, each resuming from the stored
/// cursor, stores exactly the README's entities; a transient failure at a
/// page backs off and is retried from the stored cursor.
async fn through_the_engine(subject: &Subject) {
    let name = subject.language.name;
    let (db, url) = TestDb::sqlite();
    let store = Catalog::open(&url).await.expect("open the store");

    let plugin = subject.load(&[("pages", "5"), ("per-page", "2")]).await;
    let engine = start(
        &store,
        plugin,
        engine_options(vec![Duration::from_millis(100)]),
    );
    let cycle: CycleRecord = wait_for(&store, "the end of cycle 1", async |store| {
        store
            .cycles("conformance", 10)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.cycle == 1)
    })
    .await;
    engine.shutdown().await;
    let (figures, _) = engine.source_figures()["conformance"];
    assert_eq!(cycle.outcome, "completed", "{name}: {cycle:#?}");
    assert_eq!(
        (cycle.totals.pages, cycle.totals.entities),
        (5, 10),
        "{name}: {cycle:#?}"
    );
    assert!(
        figures.bursts >= 2,
        "{name}: over several bursts: {figures:?}"
    );
    let stored = store.entities(None, None, 100).await.unwrap();
    let mut refs: Vec<&str> = stored.iter().map(|e| e.entity_ref.as_str()).collect();
    refs.sort_unstable();
    let mut expected: Vec<String> = (0..10)
        .map(|i| format!("component:default/conformance-{i}"))
        .collect();
    expected.sort_unstable();
    assert_eq!(refs, expected, "{name}");
    for index in 0..10 {
        let entity = store
            .entity(&format!("component:default/conformance-{index}"))
            .await
            .unwrap()
            .expect("stored");
        let spec = spec_entity(index, index / 2);
        assert_eq!(
            canonical_json(&entity.entity),
            canonical_json(&spec),
            "{name}: stored entity {index}"
        );
        assert_eq!(
            entity.hash,
            content_hash(&spec).to_hex(),
            "{name}: hash of entity {index}"
        );
    }
    let offsets: Vec<i64> = store
        .changes(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|c| c.offset)
        .collect();
    assert_eq!(
        offsets,
        (1..=10).collect::<Vec<_>>(),
        "{name}: each entity added once"
    );
    db.drop_database().await;

    // A transient failure at page 2: retried from the stored cursor, after
    // a back-off; the second back-off is long, so the source stays there.
    let (db, url) = TestDb::sqlite();
    let store = Catalog::open(&url).await.expect("open the store");
    let plugin = subject
        .load(&[("pages", "4"), ("per-page", "2"), ("transient-at", "2")])
        .await;
    let backoff = vec![Duration::from_millis(100), Duration::from_secs(60 * 60)];
    let engine = start(&store, plugin, engine_options(backoff));
    let errors = wait_for(&store, "two failed bursts", async |store| {
        let errors = store.recent_errors("conformance").await.unwrap();
        (errors.len() >= 2).then_some(errors)
    })
    .await;
    let status = store
        .source_status("conformance")
        .await
        .unwrap()
        .expect("a status");
    engine.shutdown().await;
    assert_eq!(errors.len(), 2, "{name}: {errors:#?}");
    for error in &errors {
        assert!(
            error.message.contains("conformance: transient at page 2"),
            "{name}: {}",
            error.message
        );
    }
    assert_eq!(status.phase, Phase::BackingOff, "{name}: {status:#?}");
    assert_eq!(
        status.cursor.as_deref(),
        Some(r#"{"page":2}"#),
        "{name}: {status:#?}"
    );
    assert_eq!(
        status.totals.pages, 2,
        "{name}: pages 0 and 1 once: {status:#?}"
    );
    assert_eq!(
        store.contribution_count("conformance").await.unwrap(),
        4,
        "{name}"
    );
    let offsets: Vec<i64> = store
        .changes(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|c| c.offset)
        .collect();
    assert_eq!(
        offsets,
        (1..=4).collect::<Vec<_>>(),
        "{name}: nothing read twice"
    );
    db.drop_database().await;
}

// ---------------------------------------------------------------------------
// The tests

/// Every scenario for `language`, or a skip.
async fn follows_the_spec(language: Language) {
    let Some(subject) = Subject::of(language).await else {
        return;
    };
    default_cycle(&subject).await;
    resumed_cycles(&subject).await;
    repeated_cursor(&subject).await;
    bad_cursors(&subject).await;
    bad_config(&subject).await;
    failures_on_demand(&subject).await;
    pushes(&subject).await;
    generic_checks(&subject).await;
    through_the_engine(&subject).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_follows_the_spec() {
    follows_the_spec(RUST).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_follows_the_spec() {
    follows_the_spec(PYTHON).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_follows_the_spec() {
    follows_the_spec(TYPESCRIPT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_follows_the_spec() {
    follows_the_spec(C).await;
}

/// The canonical hash of every entity (two cycles' pages and a push's
/// upserts) in every language, keyed by what it is.
async fn hashes(subject: &Subject) -> HashesByRef {
    let mut found = BTreeMap::new();
    let mut add = |key: String, json: &str, location_key: Option<&str>| {
        let value: Value = serde_json::from_str(json).expect("JSON");
        found.insert(
            key,
            (
                content_hash(&value).to_hex(),
                format!("{} @ {location_key:?}", canonical_json(&value)),
            ),
        );
    };
    for (pages, per_page) in [("3", "2"), ("2", "7")] {
        let plugin = subject
            .load(&[("pages", pages), ("per-page", per_page)])
            .await;
        let (read, _) = cycle_in_one_burst(&plugin).await;
        for (number, page) in read.expect("a cycle").iter().enumerate() {
            for (index, entity) in page.entities.iter().enumerate() {
                let key = format!("pages {pages} per-page {per_page}: page {number} #{index}");
                add(key, entity.json(), entity.location_key());
            }
        }
    }
    let plugin = subject.load(&[("per-page", "3")]).await;
    let outcome = plugin
        .push(event(&[], r#"{"upsert": [0, 4, 13, 999999]}"#))
        .await
        .expect("a push");
    for (index, entity) in outcome.upserts.iter().enumerate() {
        add(
            format!("push upsert #{index}"),
            entity.json(),
            entity.location_key(),
        );
    }
    found
}

/// The same hashes, from the README.
fn spec_hashes() -> HashesByRef {
    let mut expected = BTreeMap::new();
    let mut add = |key: String, index: u32, page: u32| {
        let value = spec_entity(index, page);
        let location_key = Some(format!("conformance:{index}"));
        expected.insert(
            key,
            (
                content_hash(&value).to_hex(),
                format!("{} @ {:?}", canonical_json(&value), location_key.as_deref()),
            ),
        );
    };
    for (pages, per_page) in [(3u32, 2u32), (2, 7)] {
        for page in 0..pages {
            for index in 0..per_page {
                let key = format!("pages {pages} per-page {per_page}: page {page} #{index}");
                add(key, page * per_page + index, page);
            }
        }
    }
    for (index, number) in [0u32, 4, 13, 999_999].into_iter().enumerate() {
        add(format!("push upsert #{index}"), number, number / 3);
    }
    expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canonical_hashes_are_identical_across_languages() {
    let mut by_language: Vec<(&str, HashesByRef)> = vec![("the README", spec_hashes())];
    for language in LANGUAGES {
        if let Some(subject) = Subject::of(language).await {
            by_language.push((language.name, hashes(&subject).await));
        }
    }
    let differences = hash_differences(&by_language);
    assert!(
        differences.is_empty(),
        "canonical hashes differ between languages:\n{}",
        differences.join("\n")
    );
}

/// For each entity whose hash is not the same in every language, which
/// languages have which hash, and their canonical JSON.
fn hash_differences(by_language: &[(&str, HashesByRef)]) -> Vec<String> {
    let mut keys: Vec<&String> = by_language
        .iter()
        .flat_map(|(_, hashes)| hashes.keys())
        .collect();
    keys.sort();
    keys.dedup();
    let mut differences = Vec::new();
    for key in keys {
        let mut groups: BTreeMap<&str, (Vec<&str>, &str)> = BTreeMap::new();
        for (language, hashes) in by_language {
            let (hash, text) = hashes.get(key).map_or(("(missing)", ""), |(hash, text)| {
                (hash.as_str(), text.as_str())
            });
            groups
                .entry(hash)
                .or_insert((Vec::new(), text))
                .0
                .push(language);
        }
        if groups.len() > 1 {
            differences.push(format!("{key}:"));
            for (hash, (languages, text)) in groups {
                differences.push(format!("  {hash} in {}: {text}", languages.join(", ")));
            }
        }
    }
    differences
}

#[test]
fn a_hash_that_differs_in_one_language_is_named() {
    let entry = |hash: &str| {
        BTreeMap::from([(
            "page 0 #0".to_owned(),
            (hash.to_owned(), format!("json {hash}")),
        )])
    };
    let same = [("rust", entry("aa")), ("c", entry("aa"))];
    assert!(hash_differences(&same).is_empty());
    let differing = [
        ("rust", entry("aa")),
        ("python", entry("aa")),
        ("c", entry("bb")),
    ];
    assert_eq!(
        hash_differences(&differing),
        [
            "page 0 #0:",
            "  aa in rust, python: json aa",
            "  bb in c: json bb"
        ]
    );
}

// ---------------------------------------------------------------------------
// The generic checks catch what they are for (Rust test plugins)

async fn report_of(path: &str, config: &[(&str, &str)], options: &Options) -> Report {
    let runtime = runtime();
    let settings = SourceSettings {
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..SourceSettings::default()
    };
    let plugin = runtime
        .load(Path::new(path), settings)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    conformance::check(&runtime, &plugin, options).await
}

fn failures_of<'r>(report: &'r Report, name: &str) -> &'r [String] {
    match report.check(name).map(|check| &check.outcome) {
        Some(Outcome::Failed(problems)) => problems,
        _ => panic!("{name} did not fail:\n{report}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generic_checks_catch_printing_invalid_entities_traps_and_endless_cycles() {
    // `well-behaved` writes a line to stderr in every burst.
    let report = report_of(
        guests::PLUGIN_WELL_BEHAVED,
        &[("broken", "1")],
        &Options::default(),
    )
    .await;
    assert!(!report.passed());
    assert!(
        failures_of(&report, "logs")[0].starts_with("printed to stderr: "),
        "{report}"
    );
    assert!(
        failures_of(&report, "entities")[0].contains("well-behaved-1"),
        "{report}"
    );
    assert!(
        report.check("resumed-cycle").is_some_and(|c| !c.failed()),
        "{report}"
    );

    let report = report_of(guests::PLUGIN_PANICKING, &[], &Options::default()).await;
    assert!(
        failures_of(&report, "cycle")[0].contains("trapped"),
        "{report}"
    );
    assert!(
        failures_of(&report, "errors")[0].contains("not the source's own error"),
        "{report}"
    );

    let capped = Options {
        max_pages: 4,
        ..Options::default()
    };
    let report = report_of(
        guests::SYNTHETIC,
        &[("count", "1000000"), ("page-size", "1")],
        &capped,
    )
    .await;
    assert!(
        failures_of(&report, "cycle")[0].starts_with("not done after 4 pages"),
        "{report}"
    );
    assert!(
        report.check("resumed-cycle").is_some_and(|c| !c.failed()),
        "{report}"
    );
}

#[test]
fn weir_check_conformance_prints_the_report_and_fails_on_a_failed_check() {
    let run = |extra: &[&str]| {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let output = Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("check")
            .arg(guests::CONFORMANCE_RUST)
            .arg("--conformance")
            .args(extra)
            .current_dir(dir.path())
            .env("WEIR_CACHE_DIR", cache_dir())
            .env("WEIR_LOG", "warn")
            .output()
            .expect("run weir");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("provider:  conformance"), "{stdout}");
    assert!(stdout.contains("  PASS  resumed-cycle "), "{stdout}");
    assert!(
        stdout.contains("conformance of `conformance`: 8 passed, 0 failed, 1 skipped"),
        "{stdout}"
    );

    let (code, stdout, _) = run(&["--max-pages", "2", "--set", "pages=3"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("  FAIL  cycle\n        - not done after 2 pages"),
        "{stdout}"
    );

    let (code, stdout, stderr) = run(&["--push-header", "x-conformance-fail=transient"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("the event was refused with the source's own transient error"),
        "{stdout}"
    );
    assert!(
        stdout.contains("push: transient, and transient again"),
        "{stdout}"
    );
}
