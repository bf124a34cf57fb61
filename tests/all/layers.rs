//! The layers only point down. Data flows one way, source plugin → runtime
//! → engine → core → store → events and HTTP, and a module may use only the
//! modules below it: this test reads every `crate::` path in the host's
//! source (comments aside) and fails on one that points up or sideways. The
//! core is a crate of its own (`host/core`), so it cannot import the host at
//! all; this checks it depends on nothing of the host's machinery either.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What each top-level module of the host may use (besides `weir_core`,
/// which every module may use, and itself). The binary's `cli` is the top
/// and may use anything.
const ALLOWED: &[(&str, &[&str])] = &[
    ("runtime", &[]),
    ("conformance", &["runtime"]),
    ("store", &[]),
    ("engine", &["runtime", "store"]),
    ("http", &["engine", "runtime", "store"]),
    ("config", &["engine", "http", "runtime", "store"]),
    ("plugins", &["config", "engine", "http", "runtime"]),
    ("failpoints", &[]),
];

/// Leaf modules any layer may use: they use nothing of the crate.
const LEAVES: &[&str] = &["failpoints"];

/// What the core may not depend on: the host's runtime, database, network
/// and async machinery.
const NOT_IN_CORE: &[&str] = &["wasmtime", "sqlx", "rusqlite", "tokio", "axum"];

fn host_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_module_uses_a_module_above_it() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut violations = Vec::new();
    for file in rust_files(&host_src()) {
        let relative = file.strip_prefix(host_src()).expect("under src");
        let Some(module) = top_module(relative) else {
            continue;
        };
        let Some(may_use) = allowed.get(module.as_str()) else {
            assert!(
                ["cli", "main", "lib"].contains(&module.as_str()),
                "{}: module `{module}` is missing from ALLOWED in {}",
                relative.display(),
                file!()
            );
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("read a source file");
        for (line_number, line) in code_lines(&text) {
            for used in crate_paths(line) {
                if used != module
                    && !may_use.contains(&used.as_str())
                    && !LEAVES.contains(&used.as_str())
                {
                    violations.push(format!(
                        "host/src/{}:{line_number}: `{module}` uses `crate::{used}`: {}",
                        relative.display(),
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "a lower layer uses a higher one (allowed: {ALLOWED:?}):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_core_depends_on_none_of_the_hosts_machinery() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("core/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("read host/core/Cargo.toml");
    let dependencies = text
        .split("[dependencies]")
        .nth(1)
        .expect("host/core/Cargo.toml has dependencies");
    for crate_name in NOT_IN_CORE {
        assert!(
            !dependencies
                .lines()
                .any(|line| line.trim_start().starts_with(crate_name)),
            "host/core depends on `{crate_name}`: the core must stay pure"
        );
    }
}

#[test]
fn the_checker_sees_through_braces_and_ignores_comments() {
    let text = "//! uses crate::http in a comment\nuse crate::{engine::Supervisor, store::Catalog};\n    let x = crate::runtime::f(); // crate::config\n";
    let found: Vec<String> = code_lines(text)
        .flat_map(|(_, line)| crate_paths(line))
        .collect();
    assert_eq!(found, ["engine", "store", "runtime"]);
}

/// The host module a file belongs to: `engine` for `engine/runner.rs`,
/// `plugins` for `plugins.rs`.
fn top_module(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_owned())
}

/// Each line with its number, with `//` comments cut off.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(index, line)| {
        let code = line.split("//").next().unwrap_or("");
        (!code.trim().is_empty()).then_some((index + 1, code))
    })
}

/// The top-level modules a line names after `crate::`, including those in
/// a braced group (`crate::{engine::X, store::Y}`).
fn crate_paths(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in line.match_indices("crate::") {
        let preceded_by_ident = line[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if preceded_by_ident {
            continue;
        }
        let rest = &line[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let group = group.split('}').next().unwrap_or("");
                found.extend(
                    group
                        .split(',')
                        .filter_map(|item| first_segment(item.trim())),
                );
            }
            None => found.extend(first_segment(rest)),
        }
    }
    found
}

fn first_segment(path: &str) -> Option<String> {
    let name: String = path
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && name.chars().next().is_some_and(|c| c.is_lowercase())).then_some(name)
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).expect("read a source folder");
    for entry in entries {
        let path = entry.expect("read a source folder entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}
