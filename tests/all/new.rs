//! `weir new` as a source author uses it: the real `weir` binary scaffolds a
//! project in each language, the commands it printed build the project with
//! the real toolchain, and `weir run` runs the component.
//!
//! Two stand-ins keep this fast, and leave the printed commands as they
//! are: a Rust project's `target` is a link to the workspace's guest target
//! folder (with the workspace's `Cargo.lock`, so the SDK's dependencies are
//! already built), and a Python project's `.venv` is a link to the
//! repository's toolchain (`.ci/languages/python.sh install`), which is what
//! the printed set-up step would install. The set-up steps themselves are
//! not run.
//!
//! A language whose toolchain is not installed (`.ci/languages/X.sh
//! install` puts it in `.toolchains/X`) is skipped with a line
//! `new: skipped LANG: ...` on stderr, unless `WEIR_REQUIRE_LANGUAGES=1`
//! (CI sets it), where that fails the test.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::process::{POLL, cache_dir};

/// The longest one build or `weir run` may take (a Python build takes
/// about 20 s, and the first compile of its 18 MB component by a debug
/// host 30-40 s, on a quiet machine).
const STEP_TIMEOUT: Duration = Duration::from_secs(600);

/// Variables through which this test's own build settings would leak into
/// a project's build (as in `tests/build.rs`).
const LEAKY_VARS: &[&str] = &[
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "WEIR_SDK_DIR",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host package sits in the workspace")
        .to_path_buf()
}

/// What a language's project is run with, and what it must produce.
struct Case {
    lang: &'static str,
    /// The `weir run` options that set its config.
    config: &'static [&'static str],
    /// The entity names it returns with that config, in order.
    names: Vec<String>,
}

/// The Rust, Python and C templates: `count` entities `NAME-0`, `NAME-1`, ...
fn counted(lang: &'static str, name: &str) -> Case {
    Case {
        lang,
        config: &["--set", "count=5", "--set", "page-size=2"],
        names: (0..5).map(|index| format!("{name}-{index}")).collect(),
    }
}

/// The TypeScript and JavaScript templates: one entity per name in `names`.
fn named(lang: &'static str) -> Case {
    Case {
        lang,
        config: &[
            "--set",
            "names=ash,birch,cedar,elm,fir",
            "--set",
            "page-size=2",
        ],
        names: ["ash", "birch", "cedar", "elm", "fir"]
            .map(String::from)
            .to_vec(),
    }
}

#[test]
fn a_rust_project_builds_and_runs() {
    let name = "scaffold-rust";
    scaffold_build_and_run(name, counted("rust", name));
}

#[test]
fn a_python_project_builds_and_runs() {
    let name = "scaffold-python";
    scaffold_build_and_run(name, counted("python", name));
}

#[test]
fn a_typescript_project_builds_and_runs() {
    scaffold_build_and_run("scaffold-ts", named("ts"));
}

#[test]
fn a_javascript_project_builds_and_runs() {
    scaffold_build_and_run("scaffold-js", named("js"));
}

#[test]
fn a_c_project_builds_and_runs() {
    let name = "scaffold-c";
    scaffold_build_and_run(name, counted("c", name));
}

#[test]
fn new_lists_the_languages() {
    let output = weir(&["new", "--list"], &std::env::temp_dir());
    assert!(output.status.success(), "{}", stderr(&output));
    let languages: Vec<String> = stdout(&output)
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(String::from))
        .collect();
    assert_eq!(languages, ["rust", "python", "ts", "js", "c"]);
}

#[test]
fn new_refuses_a_bad_name_and_writes_nothing() {
    let scratch = tempfile::tempdir().expect("a temporary folder");
    let output = weir(&["new", "My_Source", "--lang", "rust"], scratch.path());
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("cannot use \"My_Source\" as a source name: character 1 is 'M'"),
        "{message}"
    );
    assert_eq!(fs::read_dir(scratch.path()).expect("read").count(), 0);
}

#[test]
fn new_writes_into_a_folder_that_is_not_empty_only_with_force() {
    let scratch = tempfile::tempdir().expect("a temporary folder");
    let dir = scratch.path().join("mine");
    fs::create_dir(&dir).expect("create");
    fs::write(dir.join("notes.txt"), "keep me").expect("write");
    let args = ["new", "teams", "--lang", "c", "--dir", "mine"];
    let refused = weir(&args, scratch.path());
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("mine exists and is not empty"),
        "{}",
        stderr(&refused)
    );
    assert!(!dir.join("source.c").exists());
    let forced = weir(&[&args[..], &["--force"]].concat(), scratch.path());
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(dir.join("source.c").is_file());
    assert_eq!(
        fs::read_to_string(dir.join("notes.txt")).expect("read"),
        "keep me"
    );
}

#[test]
fn new_names_the_sdk_folder_it_cannot_use() {
    let scratch = tempfile::tempdir().expect("a temporary folder");
    let output = weir(
        &[
            "new",
            "teams",
            "--lang",
            "python",
            "--sdk-dir",
            "no-such-sdk",
        ],
        scratch.path(),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("--sdk-dir no-such-sdk"),
        "{}",
        stderr(&output)
    );
    let output = weir(
        &["new", "teams", "--lang", "python", "--sdk-dir", "."],
        scratch.path(),
    );
    assert!(
        stderr(&output).contains("has no `python` folder"),
        "{}",
        stderr(&output)
    );
}

/// `weir new NAME --lang LANG` in a fresh folder, then the printed build
/// commands, `weir run` of the printed component, and the printed copy
/// into the plugins folder.
fn scaffold_build_and_run(name: &str, case: Case) {
    let Some(toolchain_env) = toolchain(case.lang) else {
        return;
    };
    let scratch = tempfile::tempdir().expect("a temporary folder");
    let created = weir(&["new", name, "--lang", case.lang], scratch.path());
    assert!(created.status.success(), "{}", stderr(&created));
    let steps = Steps::parse(&stdout(&created));
    assert_eq!(steps.cd, name, "{}", stdout(&created));
    let project = scratch.path().join(name);
    stand_in_for_set_up(case.lang, &project);

    let build = steps.build.join(" && ");
    let script = format!("{toolchain_env}{build}");
    let built = bounded(shell(&script, &project), &format!("{}: {build}", case.lang));
    assert!(
        built.status.success(),
        "{}: `{build}` failed:\n{}\n{}",
        case.lang,
        stdout(&built),
        stderr(&built)
    );

    let mut args = vec!["run", steps.output.as_str(), "--burst-pages", "1"];
    args.extend(case.config);
    let ran = weir(&args, &project);
    assert!(ran.status.success(), "{}", stderr(&ran));
    let names: Vec<String> = stdout(&ran)
        .lines()
        .map(|line| {
            let entity: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            entity["metadata"]["name"]
                .as_str()
                .expect("a name")
                .to_owned()
        })
        .collect();
    assert_eq!(names, case.names, "{}", stderr(&ran));
    let summary = format!("{name}: cycle complete: 5 entities in 3 pages over 3 bursts");
    assert!(stderr(&ran).contains(&summary), "{}", stderr(&ran));

    fs::create_dir(scratch.path().join("plugins")).expect("create plugins");
    let copied = bounded(shell(&steps.copy, &project), "cp");
    assert!(copied.status.success(), "{}", stderr(&copied));
    let plugin = scratch.path().join("plugins").join(format!("{name}.wasm"));
    assert!(plugin.is_file(), "{} is missing", plugin.display());
}

/// The commands `weir new` printed: the lines indented by two spaces.
struct Steps {
    cd: String,
    build: Vec<String>,
    output: String,
    copy: String,
}

impl Steps {
    fn parse(printed: &str) -> Steps {
        let mut commands = printed.lines().filter_map(|line| line.strip_prefix("  "));
        let cd = commands.next().and_then(|line| line.strip_prefix("cd "));
        let mut steps = Steps {
            cd: cd.expect("a `cd` first").to_owned(),
            build: Vec::new(),
            output: String::new(),
            copy: String::new(),
        };
        for command in commands {
            if command.ends_with("  # once") {
                continue;
            } else if let Some(output) = command.strip_prefix("weir run ") {
                steps.output = output.to_owned();
            } else if command.starts_with("cp ") {
                steps.copy = command.to_owned();
            } else {
                steps.build.push(command.to_owned());
            }
        }
        assert!(!steps.build.is_empty(), "no build command in:\n{printed}");
        assert!(!steps.output.is_empty(), "no `weir run` in:\n{printed}");
        assert!(!steps.copy.is_empty(), "no `cp` in:\n{printed}");
        steps
    }
}

/// What the printed set-up step would have made, from what is already here.
fn stand_in_for_set_up(lang: &str, project: &Path) {
    let workspace = workspace();
    match lang {
        "rust" => {
            let guests = workspace.join("target/guests");
            fs::create_dir_all(&guests).expect("create target/guests");
            std::os::unix::fs::symlink(&guests, project.join("target")).expect("link target");
            fs::copy(workspace.join("Cargo.lock"), project.join("Cargo.lock")).expect("copy lock");
        }
        "python" => {
            let venv = workspace.join(".toolchains/python/venv");
            std::os::unix::fs::symlink(venv, project.join(".venv")).expect("link .venv");
        }
        _ => {}
    }
}

/// The shell lines that put `lang`'s toolchain in the environment (empty
/// for Rust, which the tests' build needs anyway), or `None`, with a line
/// saying why, when it is not installed and no language is required.
fn toolchain(lang: &str) -> Option<String> {
    let workspace = workspace();
    let tools = workspace.join(".toolchains");
    let (markers, script): (&[&str], _) = match lang {
        "rust" => return Some(String::new()),
        "python" => (&["python/venv/bin/weir-guest"], "python"),
        "ts" | "js" => (&["js/bin/weir-guest", "js/sdk/node_modules"], "js"),
        "c" => (
            &[
                "c/npm/node_modules/.bin/jco",
                "c/adapter/wasi_snapshot_preview1.reactor.wasm",
            ],
            "c",
        ),
        other => panic!("no toolchain known for {other}"),
    };
    let missing = markers.iter().find(|marker| !tools.join(marker).exists());
    if let Some(marker) = missing {
        let why = format!(
            ".toolchains/{marker} is missing (.ci/languages/{script}.sh install puts it there)"
        );
        skip_or_fail(lang, &why);
        return None;
    }
    if script == "c" && Command::new("clang").arg("--version").output().is_err() {
        skip_or_fail(
            lang,
            "clang is not installed (.ci/languages/c.sh install installs it)",
        );
        return None;
    }
    let script = workspace.join(format!(".ci/languages/{script}.sh"));
    let mut lines = format!("eval \"$('{}' env)\"\n", script.display());
    if script.ends_with("js.sh") {
        // npm finds the template's TypeScript in the toolchain's cache.
        let cache = tools.join("js/npm-cache");
        lines.push_str(&format!(
            "export npm_config_cache='{}' npm_config_prefer_offline=true npm_config_update_notifier=false\n",
            cache.display()
        ));
    }
    Some(lines)
}

fn skip_or_fail(lang: &str, why: &str) {
    if std::env::var("WEIR_REQUIRE_LANGUAGES").as_deref() == Ok("1") {
        panic!("new: {lang}: {why}, and WEIR_REQUIRE_LANGUAGES=1 requires every language");
    }
    // Straight to stderr: the test harness captures `eprintln!`.
    let _ = writeln!(std::io::stderr(), "new: skipped {lang}: {why}");
}

/// `bash -c SCRIPT` in `dir`, without this test's build settings.
fn shell(script: &str, dir: &Path) -> Command {
    let mut command = Command::new("bash");
    command
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir);
    for var in LEAKY_VARS {
        command.env_remove(var);
    }
    command
}

/// The real `weir` binary with `args`, in `dir`.
fn weir(args: &[&str], dir: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    command
        .args(args)
        .current_dir(dir)
        .env("WEIR_CACHE_DIR", cache_dir())
        .env("WEIR_LOG", "warn")
        .env_remove("WEIR_SDK_DIR");
    bounded(command, &format!("weir {}", args.join(" ")))
}

/// Runs `command` to its end, its output in files (no pipe to fill up);
/// kills its whole process group and fails after [`STEP_TIMEOUT`].
fn bounded(mut command: Command, what: &str) -> Output {
    let scratch = tempfile::tempdir().expect("a temporary folder");
    let out_path = scratch.path().join("stdout");
    let err_path = scratch.path().join("stderr");
    let out = File::create(&out_path).expect("create stdout file");
    let err = File::create(&err_path).expect("create stderr file");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {what}: {error}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > STEP_TIMEOUT {
            let group = rustix::process::Pid::from_child(&child);
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            let _ = child.wait();
            panic!(
                "{what} took longer than {STEP_TIMEOUT:?}; its output:\n{}",
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(POLL.max(Duration::from_millis(100)));
    };
    Output {
        status,
        stdout: fs::read(&out_path).expect("read stdout"),
        stderr: fs::read(&err_path).expect("read stderr"),
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
