//! `weir new`: a buildable source project in Rust, Python, TypeScript,
//! JavaScript or C, written from the templates in `host/templates/`
//! (embedded in the binary), with the Weir SDK referenced by path.
//!
//! Each template folder is an ordinary project whose files hold the
//! placeholders `{{name}}`, `{{name_snake}}`, `{{sdk_dir}}` and
//! `{{weir_dir}}`, plus `weir-template.toml` (not copied), which says how to
//! set up, build and find the component; `weir new` prints those commands.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use include_dir::{Dir, DirEntry, include_dir};
use serde::Deserialize;

/// Every template, one folder per language.
static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The file of a template folder that describes it; not copied.
const DESCRIPTION_FILE: &str = "weir-template.toml";

/// The SDKs of the source tree this binary was built from.
const BUILT_FROM_SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-sdk");

/// The longest source name `weir new` takes.
const MAX_NAME_CHARS: usize = 64;

/// Start a source project from a template: a working source (Component
/// entities generated from config, page by page) that builds as it is.
///
/// The SDKs are not published to crates.io, PyPI or npm: the project
/// references the SDK in a Weir source tree by path (`--sdk-dir`). At the
/// end, the commands to set up, build, run and serve it are printed.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The source's name: its provider name, package name and `.wasm` file's
    /// name. Lower-case letters, digits and `-`, starting with a letter.
    #[arg(required_unless_present = "list")]
    name: Option<String>,

    /// The language of the project.
    #[arg(long, value_enum, required_unless_present = "list")]
    lang: Option<Lang>,

    /// The folder to create [default: ./NAME].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    /// The `guest-sdk` folder of a Weir source tree, which the project
    /// references by path [default: the one this `weir` was built from].
    #[arg(long, value_name = "DIR", env = "WEIR_SDK_DIR")]
    sdk_dir: Option<PathBuf>,

    /// Write into the folder even when it is not empty; files of the
    /// template's names are replaced, others are left alone.
    #[arg(long)]
    force: bool,

    /// List the languages, then exit.
    #[arg(long, conflicts_with_all = ["name", "lang", "dir", "force"])]
    list: bool,
}

/// A language `weir new` has a template for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Lang {
    Rust,
    Python,
    #[value(alias = "typescript")]
    Ts,
    #[value(alias = "javascript")]
    Js,
    C,
}

impl Lang {
    /// The name on the command line, which is also the template's folder.
    fn id(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Ts => "ts",
            Lang::Js => "js",
            Lang::C => "c",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Ts => "TypeScript",
            Lang::Js => "JavaScript",
            Lang::C => "C",
        }
    }

    /// The SDK's folder inside `guest-sdk`.
    fn sdk_folder(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Ts | Lang::Js => "js",
            Lang::C => "c",
        }
    }

    /// Names this language's project cannot take, and why.
    fn reserved_name(self, name: &str) -> Option<&'static str> {
        if name == "weir-guest" {
            return Some("it is the SDK's own name, and the project depends on the SDK");
        }
        if self != Lang::Rust {
            return None;
        }
        if RUST_KEYWORDS.contains(&name) {
            Some("it is a Rust keyword, which Cargo refuses as a package name")
        } else if ["std", "core", "alloc", "test", "proc-macro"].contains(&name) {
            Some("it is the name of a crate of Rust's standard library")
        } else if ["serde", "serde-json"].contains(&name) {
            Some("the project depends on a crate of that name")
        } else {
            None
        }
    }
}

/// Rust's keywords, strict and reserved, that a source name could spell.
const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// How a project made from a template is set up, built and found: a
/// template's `weir-template.toml`. Commands run in the project's folder.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Description {
    /// One line for `weir new --list`.
    summary: String,
    /// Run once, before the first build.
    setup: Vec<String>,
    /// Run for every build.
    build: Vec<String>,
    /// The component the build writes, relative to the project's folder.
    output: String,
}

/// The values the placeholders of a template stand for.
#[derive(Debug)]
struct Placeholders {
    name: String,
    sdk_dir: String,
    weir_dir: String,
}

impl Placeholders {
    /// `text` with every placeholder replaced.
    fn fill(&self, text: &str) -> String {
        text.replace("{{name}}", &self.name)
            .replace("{{name_snake}}", &self.name.replace('-', "_"))
            .replace("{{sdk_dir}}", &self.sdk_dir)
            .replace("{{weir_dir}}", &self.weir_dir)
    }
}

pub fn new(args: &NewArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        print!("{}", language_list()?);
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(name), Some(lang)) = (&args.name, args.lang) else {
        bail!("weir new needs NAME and --lang (or --list)");
    };
    check_name(name, lang)?;
    let sdk_dir = sdk_dir(args.sdk_dir.as_deref(), lang)?;
    let placeholders = Placeholders {
        name: name.clone(),
        weir_dir: path_text(sdk_dir.parent().unwrap_or(&sdk_dir))?,
        sdk_dir: path_text(&sdk_dir)?,
    };
    let (files, description) = template(lang)?;
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    prepare_folder(&dir, args.force)?;
    write_project(files, &placeholders, &dir)?;
    let plugins = std::env::current_dir()
        .context("cannot read the current folder")?
        .join("plugins");
    print!(
        "{}",
        next_steps(lang, &description, &placeholders, &dir, &plugins)
    );
    Ok(ExitCode::SUCCESS)
}

/// `weir new --list`: one line per language.
fn language_list() -> anyhow::Result<String> {
    let mut list = String::new();
    for lang in Lang::value_variants() {
        let (_, description) = template(*lang)?;
        writeln!(list, "{:<8}{}", lang.id(), description.summary)?;
    }
    Ok(list)
}

/// Why `name` cannot name a `lang` source, if it cannot.
fn check_name(name: &str, lang: Lang) -> anyhow::Result<()> {
    let problem = name_problem(name).or_else(|| {
        lang.reserved_name(name)
            .map(|why| format!("{why} (a {} project)", lang.title()))
    });
    match problem {
        None => Ok(()),
        Some(problem) => bail!(
            "cannot use {name:?} as a source name: {problem}. A source name becomes the provider \
             name, the package name and the .wasm file's name: lower-case letters, digits and \
             single `-`s, starting with a letter and not ending with `-`, at most \
             {MAX_NAME_CHARS} characters"
        ),
    }
}

/// What is wrong with `name` in any language.
fn name_problem(name: &str) -> Option<String> {
    let Some(first) = name.chars().next() else {
        return Some("it is empty".into());
    };
    let count = name.chars().count();
    if count > MAX_NAME_CHARS {
        return Some(format!("it is {count} characters long"));
    }
    if let Some((position, bad)) = name
        .chars()
        .enumerate()
        .find(|(_, c)| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
    {
        let hint = if bad.is_ascii_uppercase() {
            format!(" (try {:?})", name.to_ascii_lowercase())
        } else {
            String::new()
        };
        return Some(format!(
            "character {} is {bad:?}{hint}",
            position.saturating_add(1)
        ));
    }
    if !first.is_ascii_lowercase() {
        return Some(format!("it starts with {first:?}, not a letter"));
    }
    if name.ends_with('-') {
        return Some("it ends with `-`".into());
    }
    if name.contains("--") {
        return Some("it has two `-`s in a row".into());
    }
    None
}

/// The `guest-sdk` folder to reference, made absolute, checked to hold
/// `lang`'s SDK.
fn sdk_dir(given: Option<&Path>, lang: Lang) -> anyhow::Result<PathBuf> {
    let dir = match given {
        Some(dir) => dir
            .canonicalize()
            .with_context(|| format!("--sdk-dir {}", dir.display()))?,
        None => Path::new(BUILT_FROM_SDK_DIR).canonicalize().map_err(|_| {
            anyhow::anyhow!(
                "this weir was built from a source tree whose SDK folder {BUILT_FROM_SDK_DIR} \
                 is gone, and the SDKs are not published to crates.io, PyPI or npm: pass \
                 --sdk-dir DIR, the `guest-sdk` folder of a Weir source tree"
            )
        })?,
    };
    let sdk = dir.join(lang.sdk_folder());
    if !sdk.is_dir() {
        bail!(
            "{} has no `{}` folder, so it is not the `guest-sdk` folder of a Weir source tree \
             (the {} SDK is its `{}` folder); pass that folder with --sdk-dir",
            dir.display(),
            lang.sdk_folder(),
            lang.title(),
            lang.sdk_folder()
        );
    }
    Ok(dir)
}

/// `path` as the text written into the project's build files (`Cargo.toml`,
/// `package.json`, `requirements.txt`, `Makefile`), which hold it unquoted:
/// refused if it has a character one of them would read otherwise.
fn path_text(path: &Path) -> anyhow::Result<String> {
    let Some(text) = path.to_str() else {
        bail!(
            "the SDK folder {} is not a UTF-8 path, which the project's build files cannot hold",
            path.display()
        );
    };
    if let Some(bad) = text.chars().find(|c| !is_plain_path_char(*c)) {
        bail!(
            "the SDK folder {text:?} has {bad:?} in its path, which the project's build files \
             (Cargo.toml, package.json, requirements.txt, Makefile) cannot hold unquoted; use a \
             path of letters, digits and `/._-+@,=~` (a symbolic link will do) with --sdk-dir"
        );
    }
    Ok(text.to_owned())
}

fn is_plain_path_char(c: char) -> bool {
    c.is_alphanumeric() || "/._-+@,=~".contains(c)
}

/// The files of `lang`'s template and its description.
fn template(lang: Lang) -> anyhow::Result<(&'static Dir<'static>, Description)> {
    let files = TEMPLATES
        .get_dir(lang.id())
        .with_context(|| format!("this weir was built without the `{}` template", lang.id()))?;
    let path = Path::new(lang.id()).join(DESCRIPTION_FILE);
    let text = files
        .get_file(&path)
        .and_then(|file| file.contents_utf8())
        .with_context(|| format!("the template has no UTF-8 {}", path.display()))?;
    let description = toml::from_str(text)
        .with_context(|| format!("the template's {} is not valid", path.display()))?;
    Ok((files, description))
}

/// Creates `dir`, or checks it may be written into.
fn prepare_folder(dir: &Path, force: bool) -> anyhow::Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            bail!("{} exists and is not a folder", dir.display());
        }
        let mut entries =
            fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        if entries.next().is_some() && !force {
            bail!(
                "{} exists and is not empty; choose another folder with --dir, or pass --force to \
                 write the template's files into it (replacing files of the same names)",
                dir.display()
            );
        }
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// Writes every file of `template` but its description into `dir`, placeholders filled.
fn write_project(
    template: &Dir<'static>,
    placeholders: &Placeholders,
    dir: &Path,
) -> anyhow::Result<()> {
    let mut pending: Vec<&DirEntry<'static>> = template.entries().iter().collect();
    while let Some(entry) = pending.pop() {
        match entry {
            DirEntry::Dir(sub) => pending.extend(sub.entries()),
            DirEntry::File(file) => {
                let relative = file.path().strip_prefix(template.path()).with_context(|| {
                    format!(
                        "template file {} is outside its folder",
                        file.path().display()
                    )
                })?;
                if relative == Path::new(DESCRIPTION_FILE) {
                    continue;
                }
                let target = dir.join(relative);
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                let contents = match file.contents_utf8() {
                    Some(text) => Cow::Owned(placeholders.fill(text).into_bytes()),
                    None => Cow::Borrowed(file.contents()),
                };
                fs::write(&target, contents)
                    .with_context(|| format!("cannot write {}", target.display()))?;
            }
        }
    }
    Ok(())
}

/// What to do next: the commands to set up, build, run and serve the
/// project, each on a line of its own indented by two spaces.
fn next_steps(
    lang: Lang,
    description: &Description,
    placeholders: &Placeholders,
    dir: &Path,
    plugins: &Path,
) -> String {
    let name = &placeholders.name;
    let output = placeholders.fill(&description.output);
    let shown = dir.display().to_string();
    let mut text = format!(
        "Created {shown}: a Weir source in {}, provider name `{name}`.\n\nBuild it and run it:\n\n  cd {}\n",
        lang.title(),
        shell_word(&shown)
    );
    for command in &description.setup {
        let _ = writeln!(text, "  {}  # once", placeholders.fill(command));
    }
    for command in &description.build {
        let _ = writeln!(text, "  {}", placeholders.fill(command));
    }
    let plugin = plugins.join(format!("{name}.wasm"));
    let _ = write!(
        text,
        "  weir run {output}\n\nServe it: copy it into the plugins folder of `weir serve` run \
         from here, named for its provider name:\n\n  cp {output} {}\n\n{} has more.\n",
        shell_word(&plugin.display().to_string()),
        dir.join("README.md").display()
    );
    text
}

/// `word` as one shell word: as it is when it needs no quoting, else in
/// single quotes.
fn shell_word(word: &str) -> Cow<'_, str> {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+@,=:~%".contains(c))
    {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(name: &str) -> Placeholders {
        Placeholders {
            name: name.into(),
            sdk_dir: "/src/weir/guest-sdk".into(),
            weir_dir: "/src/weir".into(),
        }
    }

    fn problem(name: &str, lang: Lang) -> String {
        format!("{:#}", check_name(name, lang).unwrap_err())
    }

    #[test]
    fn names_are_lower_case_letters_digits_and_single_dashes() {
        for good in ["a", "teams", "github-teams", "hr2-people", &"x".repeat(64)] {
            for lang in Lang::value_variants() {
                check_name(good, *lang).unwrap();
            }
        }
        for (bad, why) in [
            ("", "is empty"),
            ("Teams", "character 1 is 'T' (try \"teams\")"),
            ("my_source", "character 3 is '_'"),
            ("my source", "character 3 is ' '"),
            ("ünïcode", "character 1 is 'ü'"),
            ("2teams", "starts with '2', not a letter"),
            ("-teams", "starts with '-', not a letter"),
            ("teams-", "ends with `-`"),
            ("my--source", "two `-`s in a row"),
            (&"x".repeat(65), "65 characters long"),
        ] {
            let message = problem(bad, Lang::Python);
            assert!(message.contains(why), "{bad:?}: {message}");
            assert!(
                message.starts_with(&format!("cannot use {bad:?} as a source name")),
                "{message}"
            );
        }
    }

    #[test]
    fn a_rust_project_cannot_take_a_name_cargo_refuses() {
        assert!(problem("fn", Lang::Rust).contains("Rust keyword"));
        assert!(problem("core", Lang::Rust).contains("standard library"));
        assert!(problem("serde", Lang::Rust).contains("depends on a crate"));
        check_name("fn", Lang::Python).unwrap();
        check_name("core", Lang::C).unwrap();
        for lang in Lang::value_variants() {
            assert!(problem("weir-guest", *lang).contains("the SDK's own name"));
        }
    }

    #[test]
    fn placeholders_are_filled_everywhere_and_nothing_else_is_touched() {
        let text =
            "{{name}} {{name_snake}} {{sdk_dir}}/rust {{weir_dir}}/.ci {{ names: x }} {name}";
        assert_eq!(
            placeholders("my-source").fill(text),
            "my-source my_source /src/weir/guest-sdk/rust /src/weir/.ci {{ names: x }} {name}"
        );
    }

    /// The `{{...}}` words in `text` that look like placeholders.
    fn placeholder_words(text: &str) -> Vec<&str> {
        text.split("{{")
            .skip(1)
            .filter_map(|rest| rest.split_once("}}").map(|(word, _)| word))
            .filter(|word| word.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect()
    }

    /// Every file under `dir`.
    fn files(dir: &'static Dir<'static>) -> Vec<&'static include_dir::File<'static>> {
        let mut files: Vec<_> = dir.files().collect();
        for sub in dir.dirs() {
            files.extend(self::files(sub));
        }
        files
    }

    #[test]
    fn every_template_uses_only_the_placeholders_weir_new_fills() {
        let known = ["name", "name_snake", "sdk_dir", "weir_dir"];
        for lang in Lang::value_variants() {
            let (dir, _) = template(*lang).unwrap();
            for file in files(dir) {
                let text = file.contents_utf8().unwrap_or_default();
                for word in placeholder_words(text) {
                    assert!(
                        known.contains(&word),
                        "{}: {{{{{word}}}}} is not a placeholder weir new fills",
                        file.path().display()
                    );
                }
            }
        }
    }

    #[test]
    fn every_template_folder_is_a_language_and_describes_itself() {
        let languages: Vec<&str> = Lang::value_variants().iter().map(|l| l.id()).collect();
        for dir in TEMPLATES.dirs() {
            let folder = dir.path().to_str().unwrap();
            assert!(
                languages.contains(&folder),
                "templates/{folder} is no language"
            );
        }
        for lang in Lang::value_variants() {
            let (_, description) = template(*lang).unwrap();
            assert!(!description.build.is_empty(), "{}", lang.id());
            assert!(description.output.ends_with(".wasm"), "{}", lang.id());
        }
        let list = language_list().unwrap();
        assert_eq!(list.lines().count(), languages.len(), "{list}");
    }

    #[test]
    fn a_project_is_written_with_its_placeholders_filled_and_no_description() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("my-source");
        prepare_folder(&dir, false).unwrap();
        let (template, _) = template(Lang::Rust).unwrap();
        write_project(template, &placeholders("my-source"), &dir).unwrap();
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"my-source\""), "{manifest}");
        assert!(
            manifest.contains("path = \"/src/weir/guest-sdk/rust\""),
            "{manifest}"
        );
        let lib = fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains("const PROVIDER_NAME: &str = \"my-source\";"));
        assert!(!dir.join(DESCRIPTION_FILE).exists());
        assert!(dir.join(".gitignore").is_file());
    }

    #[test]
    fn a_folder_that_is_not_empty_needs_force() {
        let scratch = tempfile::tempdir().unwrap();
        fs::write(scratch.path().join("notes.txt"), "mine").unwrap();
        let message = format!("{:#}", prepare_folder(scratch.path(), false).unwrap_err());
        assert!(message.contains("exists and is not empty"), "{message}");
        assert!(message.contains("--force"), "{message}");
        prepare_folder(scratch.path(), true).unwrap();
        let file = scratch.path().join("notes.txt");
        let message = format!("{:#}", prepare_folder(&file, true).unwrap_err());
        assert!(message.contains("is not a folder"), "{message}");
        prepare_folder(&scratch.path().join("a/b"), false).unwrap();
        assert!(scratch.path().join("a/b").is_dir());
    }

    #[test]
    fn sdk_paths_that_build_files_cannot_hold_are_refused() {
        assert_eq!(
            path_text(Path::new("/home/me/src/weir-2.0/guest-sdk")).unwrap(),
            "/home/me/src/weir-2.0/guest-sdk"
        );
        for bad in ["/home/my files/weir", "/a\"b", "/a\\b", "/a$b", "/a#b"] {
            let message = format!("{:#}", path_text(Path::new(bad)).unwrap_err());
            assert!(message.contains("cannot hold unquoted"), "{message}");
        }
    }

    #[test]
    fn the_sdk_folder_must_hold_the_language_s_sdk() {
        let scratch = tempfile::tempdir().unwrap();
        fs::create_dir(scratch.path().join("python")).unwrap();
        sdk_dir(Some(scratch.path()), Lang::Python).unwrap();
        let message = format!("{:#}", sdk_dir(Some(scratch.path()), Lang::Ts).unwrap_err());
        assert!(message.contains("has no `js` folder"), "{message}");
        let missing = scratch.path().join("missing");
        let message = format!("{:#}", sdk_dir(Some(&missing), Lang::C).unwrap_err());
        assert!(message.contains("--sdk-dir"), "{message}");
    }

    #[test]
    fn the_next_steps_are_commands_in_order() {
        let description = Description {
            summary: String::new(),
            setup: vec!["rustup target add wasm32-wasip2".into()],
            build: vec!["cargo build --target wasm32-wasip2 --release".into()],
            output: "target/wasm32-wasip2/release/{{name_snake}}.wasm".into(),
        };
        let text = next_steps(
            Lang::Rust,
            &description,
            &placeholders("my-source"),
            Path::new("src/my source"),
            Path::new("/srv/weir/plugins"),
        );
        let commands: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("  "))
            .collect();
        assert_eq!(
            commands,
            [
                "cd 'src/my source'",
                "rustup target add wasm32-wasip2  # once",
                "cargo build --target wasm32-wasip2 --release",
                "weir run target/wasm32-wasip2/release/my_source.wasm",
                "cp target/wasm32-wasip2/release/my_source.wasm /srv/weir/plugins/my-source.wasm",
            ]
        );
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("a/b-c.wasm"), "a/b-c.wasm");
        assert_eq!(shell_word("my dir"), "'my dir'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
