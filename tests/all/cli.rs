//! `weir run` and `weir check` as a source author uses them.

use std::process::{Command, Output};

use crate::guests;

fn weir(args: &[&str]) -> Output {
    let cache = std::env::temp_dir().join("weir-cli-test-cache");
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env("WEIR_CACHE_DIR", cache)
        .env("WEIR_LOG", "warn")
        .output()
        .expect("run weir")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn run_writes_one_json_line_per_entity_and_a_summary() {
    let output = weir(&[
        "run",
        guests::SYNTHETIC,
        "--set",
        "count=25",
        "--set",
        "page-size=10",
        "--burst-pages",
        "2",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 25);
    assert_eq!(lines[24]["metadata"]["name"], "entity-000025");
    let summary = stderr(&output);
    assert!(
        summary.contains("cycle complete: 25 entities in 3 pages over 2 bursts"),
        "{summary}"
    );
    assert!(summary.contains("fuel"), "{summary}");
}

#[test]
fn run_stops_at_max_pages() {
    let output = weir(&[
        "run",
        guests::SYNTHETIC,
        "--set",
        "count=25",
        "--set",
        "page-size=10",
        "--max-pages",
        "1",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).lines().count(), 10);
    assert!(
        stderr(&output).contains("cycle not complete"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn run_reports_a_spent_budget_and_exits_non_zero() {
    let output = weir(&["run", guests::PLUGIN_LOOPING, "--fuel", "1000000"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("source `looping`: next: fuel exhausted"),
        "{message}"
    );
}

#[test]
fn run_rejects_a_bad_config_value_with_the_key_named() {
    let output = weir(&["run", guests::SYNTHETIC, "--set", "count=many"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("count"), "{message}");
    assert!(message.contains("many"), "{message}");
}

#[test]
fn check_prints_name_contract_and_imports() {
    let output = weir(&["check", guests::SYNTHETIC]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stdout(&output);
    assert!(report.contains("provider:  synthetic"), "{report}");
    assert!(report.contains("contract:  weir:source@0.1.1"), "{report}");
    assert!(report.contains("weir:source/config@0.1.1"), "{report}");
    assert!(report.contains("build:     sha256:"), "{report}");
}

#[test]
fn check_prints_the_effective_settings_of_manifest_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("synthetic.wasm");
    std::fs::copy(guests::SYNTHETIC, &plugin).unwrap();
    // The plugin asks for two hosts; the operator grants one of them and
    // another: only the one both allow is granted.
    std::fs::write(
        dir.path().join("synthetic.toml"),
        "[config]\ncount = \"7\"\n\
         [outbound]\nhosts = [\"api.example.com\", \"extra.example.com\"]\n",
    )
    .unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(
        &config,
        "[sources.synthetic]\npriority = 5\n\
         [sources.synthetic.outbound]\nhosts = [\"api.example.com\", \"granted.example.com\"]\n",
    )
    .unwrap();
    let output = weir(&[
        "check",
        plugin.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stdout(&output);
    assert!(report.contains("within [sources.synthetic]"), "{report}");
    assert_eq!(row(&report, "priority"), ["priority", "-", "5", "5"]);
    assert_eq!(
        row(&report, "config.count"),
        ["config.count", "7", "-", "7"]
    );
    assert_eq!(
        row(&report, "outbound.hosts"),
        [
            "outbound.hosts",
            "api.example.com, extra.example.com",
            "api.example.com, granted.example.com",
            "api.example.com"
        ]
    );

    // An invalid manifest is an error naming its file and key.
    std::fs::write(
        dir.path().join("synthetic.toml"),
        "burstLength = \"soon\"\n",
    )
    .unwrap();
    let output = weir(&["check", plugin.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("synthetic.toml") && message.contains("burstLength"),
        "{message}"
    );
}

/// The cells of the settings table's row for `key` (cells are two or more
/// spaces apart).
fn row(report: &str, key: &str) -> Vec<String> {
    report
        .lines()
        .find(|line| line.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no row {key} in:\n{report}"))
        .split("  ")
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn check_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("readme.wasm");
    std::fs::write(&file, "# not wasm").unwrap();
    let output = weir(&["check", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("readme.wasm: not a WebAssembly file"),
        "{message}"
    );

    let output = weir(&["check", guests::PLUGIN_FUTURE_VERSION]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("implements weir:source@0.9.0"),
        "{message}"
    );
    assert!(message.contains("weir:source/http@0.9.0"), "{message}");
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["check", "--help"],
        &["bench", "--help"],
        &["bench", "runtime", "--help"],
        &["bench", "store", "--help"],
    ] {
        let output = weir(args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert!(stdout(&output).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn run_with_a_database_ingests_and_skips_what_did_not_change() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("weir.db").display());
    let first = weir(&["run", guests::HIERARCHY, "--database", &url]);
    assert!(first.status.success(), "{}", stderr(&first));
    let summary = stderr(&first);
    assert!(
        summary.contains("store: 315 written, 0 unchanged; 315 added, 0 updated; 0 rejected"),
        "{summary}"
    );
    let again = weir(&["run", guests::HIERARCHY, "--database", &url]);
    let summary = stderr(&again);
    assert!(
        summary.contains("store: 0 written, 315 unchanged; 0 added, 0 updated"),
        "{summary}"
    );
}

/// `weir bench languages` measures a component end to end through the
/// engine (a whole cycle into a new SQLite catalog) and prints its row.
#[test]
fn bench_languages_measures_a_component_through_the_engine() {
    let component = format!("synthetic={}", guests::SYNTHETIC);
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["bench", "languages", "--component", &component])
        .args(["--entities", "1200", "--runs", "1"])
        .env("WEIR_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start weir bench languages");
    // A cycle that never ends would keep the bench waiting: bound it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while child.try_wait().expect("poll the bench").is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().expect("kill the bench");
            panic!("weir bench languages did not finish within 300 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("the bench's output");
    let report = stdout(&output);
    assert!(output.status.success(), "{report}\n{}", stderr(&output));
    assert!(
        report.contains("end to end into SQLite:"),
        "no end-to-end figure:\n{report}"
    );
    let row = report
        .lines()
        .find(|line| line.starts_with("| synthetic |"))
        .unwrap_or_else(|| panic!("no table row for the component:\n{report}"));
    // The fuel per entity column: the synthetic source's ~1.2 KB entities
    // cost thousands of fuel each.
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    let fuel: f64 = cells[10].parse().expect("fuel per entity is a number");
    assert!(fuel > 1000.0, "{row}");
}
