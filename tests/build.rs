//! Builds every guest crate (the Rust example sources and the test plugins,
//! found in their folders) for `wasm32-wasip2` with one nested `cargo
//! build`, and writes their paths to `$OUT_DIR/guests.rs` as constants
//! (`SYNTHETIC`, `PLUGIN_LOOPING`, ...), which the test binary takes in
//! through the `guest_components!` macro.
//!
//! Modelled on wasmtime's `crates/test-programs/artifacts/build.rs`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

/// The folders whose every subfolder is a guest crate, relative to the
/// workspace root (the workspace's `members` globs name the same folders).
const GUEST_FOLDERS: &[&str] = &["example-sources/rust", "tests/plugins", "tests/conformance"];

/// What the guests are built from, relative to the workspace root.
const INPUTS: &[&str] = &[
    "example-sources",
    "tests/plugins",
    "tests/conformance/rust",
    "guest-sdk",
    "wit",
    "Cargo.toml",
    "Cargo.lock",
];

/// Variables through which the outer build's settings (flags, wrappers such
/// as clippy's, target, target directory, jobserver) would leak into the
/// nested build.
const LEAKY_VARS: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_LINKER",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
];

/// Prefixes of variables that are the outer build's settings, or what it
/// tells this build script (cfgs, features, `links` metadata).
const LEAKY_PREFIXES: &[&str] = &[
    "CARGO_PROFILE_",
    "CARGO_CFG_",
    "CARGO_FEATURE_",
    "DEP_",
    "__CARGO",
];

fn main() {
    let workspace = workspace_root();
    for input in INPUTS {
        println!(
            "cargo::rerun-if-changed={}",
            workspace.join(input).display()
        );
    }
    // Fixed, so that test, clippy and hand-run builds share one cache, and
    // apart from `target/` itself, whose lock the outer build holds.
    let target_dir = workspace.join("target").join("guests");
    let guests = guest_packages(&workspace);
    build_guests(&workspace, &target_dir, &guests);
    let constants = constants(&target_dir.join(TARGET).join("release"), &guests);
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let guests_rs = out_dir.join("guests.rs");
    std::fs::write(&guests_rs, constants).expect("could not write guests.rs");
    std::fs::write(out_dir.join("macros.rs"), include_macro(&guests_rs))
        .expect("could not write macros.rs");
}

fn workspace_root() -> PathBuf {
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    Path::new(&manifest_dir)
        .parent()
        .expect("the tests package sits in the workspace root")
        .to_path_buf()
}

/// The package name of every guest crate in [`GUEST_FOLDERS`], sorted.
fn guest_packages(workspace: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for folder in GUEST_FOLDERS {
        let entries = std::fs::read_dir(workspace.join(folder))
            .unwrap_or_else(|e| panic!("cannot read the guest folder {folder}: {e}"));
        for entry in entries {
            let manifest = entry
                .expect("a guest folder entry")
                .path()
                .join("Cargo.toml");
            if manifest.is_file() {
                names.push(package_name(&manifest));
            }
        }
    }
    names.sort();
    names
}

/// `[package] name` of the crate whose manifest is `manifest`.
fn package_name(manifest: &Path) -> String {
    let text = std::fs::read_to_string(manifest)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest.display()));
    let table: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("{} is not TOML: {e}", manifest.display()));
    table
        .get("package")
        .and_then(|package| package.get("name"))
        .and_then(toml::Value::as_str)
        .unwrap_or_else(|| panic!("{} names no package", manifest.display()))
        .to_owned()
}

/// Every guest in one `cargo build`, release, for `wasm32-wasip2`.
fn build_guests(workspace: &Path, target_dir: &Path, guests: &[String]) {
    let mut command = nested_cargo(workspace);
    command
        .args(["build", "--release", "--locked", "--target", TARGET])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    for guest in guests {
        command.args(["--package", guest]);
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("could not run cargo to build the guest components: {e}"));
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if target_missing(&stderr) {
            panic!(
                "the tests need the `{TARGET}` Rust target to build their guest components, \
                 and it is not installed: run `rustup target add {TARGET}`"
            );
        }
        panic!("building the guest components for `{TARGET}` failed:\n{stderr}");
    }
}

/// The cargo running this script, without the outer build's settings.
fn nested_cargo(workspace: &Path) -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace);
    for (key, _) in env::vars_os() {
        if key.to_str().is_some_and(is_leaky) {
            command.env_remove(key);
        }
    }
    command
}

fn is_leaky(key: &str) -> bool {
    LEAKY_VARS.contains(&key) || LEAKY_PREFIXES.iter().any(|prefix| key.starts_with(prefix))
}

/// Whether rustc failed for want of the target's standard library.
fn target_missing(stderr: &str) -> bool {
    stderr.contains("target may not be installed")
        || stderr.contains("can't find crate for `core`")
        || stderr.contains("can't find crate for `std`")
}

/// `pub(crate) const NAME: &str = "/path/to/name.wasm";` for each guest.
fn constants(release_dir: &Path, guests: &[String]) -> String {
    guests
        .iter()
        .map(|guest| {
            let snake = guest.replace('-', "_");
            let wasm = release_dir.join(format!("{snake}.wasm"));
            assert!(
                wasm.is_file(),
                "cargo built the guests but {} is missing",
                wasm.display()
            );
            let path = wasm
                .to_str()
                .expect("the target directory's path is not UTF-8");
            let name = snake.to_uppercase();
            format!(
                "/// The `{guest}` guest component.\npub(crate) const {name}: &str = {path:?};\n"
            )
        })
        .collect()
}

/// `guest_components!()`, which expands to the constants in `guests_rs`: a
/// macro, so that the constants are items of the test binary, where an
/// unused one is dead code.
fn include_macro(guests_rs: &Path) -> String {
    format!(
        "/// Expands to one `const` per guest component (its `.wasm` file's path).\n\
         #[macro_export]\n\
         macro_rules! guest_components {{\n    () => {{\n        include!({:?});\n    }};\n}}\n",
        guests_rs.to_str().expect("OUT_DIR is not UTF-8")
    )
}
