//! `weir validate`: checks catalog files (YAML or JSON) against Backstage's
//! entity rules, after resolving the `$text`, `$json` and `$yaml`
//! placeholders (a path relative to each file, or a URL, which Backstage
//! reads too: fetched with `--fetch` under [`remote`]'s rules, and
//! otherwise noted as not fetched, the rest of the entity still checked),
//! and prints every problem.

mod remote;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use serde_json::Value;
use url::Url;
use weir_core::entity_ref::EntityRef;
use weir_core::json::Json;
use weir_core::validation::{FieldPath, Problem, type_name, validate};

/// Check catalog entity files the way Backstage would ingest them.
///
/// Prints each problem on stdout as `FILE: ENTITY: FIELD: MESSAGE`, where
/// ENTITY is the entity's ref (`kind:namespace/name`) or `document N` when
/// it has no usable kind and name. A YAML syntax error is reported as
/// `FILE: document N: <root>: invalid YAML: ...` (later documents of that
/// file are not read), a file that cannot be read or is not JSON as
/// `FILE: MESSAGE`. A placeholder naming a URL (`$text:
/// https://…/openapi.yaml`) is read only with `--fetch`; without it the rest
/// of the entity is checked and a note on stderr says the URL was not
/// fetched. Exits 1 if there was any problem, 0 otherwise.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files to check: YAML, several documents separated by `---` (empty
    /// ones are skipped), or JSON (`*.json`: one entity or an array of them).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,

    /// Fetch the URLs that placeholders name (`$text: https://…`), as
    /// Backstage does when it reads the file: HTTPS only, public addresses
    /// only, within the size and time limits below.
    #[arg(long)]
    fetch: bool,

    /// With --fetch: plain http:// URLs too.
    #[arg(long, requires = "fetch")]
    allow_http: bool,

    /// With --fetch: names that are (or resolve to) loopback, private or
    /// link-local addresses too.
    #[arg(long, requires = "fetch")]
    allow_private_networks: bool,

    /// With --fetch: the longest body read from one URL (bytes, or
    /// "512KiB", "10MiB").
    #[arg(long, value_name = "SIZE", value_parser = size, default_value = "64MiB", requires = "fetch")]
    max_fetch_bytes: u64,

    /// With --fetch: how long one URL may take, redirects included.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30s", requires = "fetch")]
    fetch_timeout: std::time::Duration,
}

fn size(text: &str) -> Result<u64, String> {
    text.parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|error| format!("invalid size {text:?}: {error} (e.g. 65536, \"10MiB\")"))
}

pub async fn validate_files(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut tally = Tally::default();
    let rules = args.fetch.then_some(remote::FetchRules {
        allow_http: args.allow_http,
        allow_private: args.allow_private_networks,
        max_bytes: args.max_fetch_bytes,
        timeout: args.fetch_timeout,
    });
    let mut fetched = Fetched::default();
    let mut out = io::stdout();
    for file in &args.files {
        let read = read_documents(file);
        if let (Ok(stream), Some(rules)) = (&read, &rules) {
            fetched.fetch_missing(stream, file, rules).await;
        }
        let Checked { problems, notes } = check_read(file, read, &fetched, &mut tally);
        for line in problems {
            writeln!(out, "{line}").context("cannot write to stdout")?;
        }
        out.flush().context("cannot write to stdout")?;
        for line in notes {
            eprintln!("{line}");
        }
    }
    out.flush().context("cannot write to stdout")?;
    eprintln!("{tally}");
    Ok(if tally.problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Counts for the closing summary.
#[derive(Debug, Default)]
struct Tally {
    entities: usize,
    invalid: usize,
    problems: usize,
    /// Placeholders whose URL was not fetched (no `--fetch`).
    not_fetched: usize,
}

impl Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entities = plural(self.entities, "entity", "entities");
        if self.problems == 0 {
            write!(f, "{entities} OK")?;
        } else {
            let problems = plural(self.problems, "problem", "problems");
            write!(f, "{problems}; {} of {entities} invalid", self.invalid)?;
        }
        if self.not_fetched > 0 {
            let urls = plural(self.not_fetched, "placeholder URL", "placeholder URLs");
            write!(f, "; {urls} not fetched (pass --fetch to read them)")?;
        }
        Ok(())
    }
}

/// The bodies (or errors) of the URLs fetched so far, by URL.
#[derive(Debug, Default)]
struct Fetched {
    /// `None` until `--fetch` fetched something: then a URL missing here
    /// is one that was not asked for.
    bodies: Option<BTreeMap<Url, Result<Vec<u8>, String>>>,
}

impl Fetched {
    /// Fetch the URLs the file's placeholders name that were not fetched
    /// for an earlier file, one after the other.
    async fn fetch_missing(&mut self, stream: &Stream, file: &Path, rules: &remote::FetchRules) {
        let base = file.parent().unwrap_or(Path::new("."));
        let mut urls = BTreeSet::new();
        for document in &stream.documents {
            placeholder_urls(&document.value, base, &mut urls);
        }
        let bodies = self.bodies.get_or_insert_with(BTreeMap::new);
        for url in urls {
            if let std::collections::btree_map::Entry::Vacant(slot) = bodies.entry(url) {
                let body = remote::fetch(slot.key(), rules).await;
                slot.insert(body);
            }
        }
    }

    fn body(&self, url: &Url) -> Read {
        match self.bodies.as_ref().and_then(|bodies| bodies.get(url)) {
            None => Read::NotFetched,
            Some(Ok(body)) => Read::Text(String::from_utf8_lossy(body).into_owned()),
            Some(Err(message)) => Read::Failed(message.clone()),
        }
    }
}

/// The URLs (http and https) that a value's placeholders name, found as
/// [`resolve_placeholders`] finds placeholders.
fn placeholder_urls(value: &Value, base: &Path, urls: &mut BTreeSet<Url>) {
    match value {
        Value::Array(items) => {
            for item in items {
                placeholder_urls(item, base, urls);
            }
        }
        Value::Object(object) if !object.keys().any(|key| key.starts_with('$')) => {
            for item in object.values() {
                placeholder_urls(item, base, urls);
            }
        }
        Value::Object(object) if object.len() == 1 => {
            let target = object
                .iter()
                .next()
                .filter(|(key, _)| Placeholder::from_key(key).is_some())
                .and_then(|(_, parameter)| parameter.as_str())
                .and_then(|parameter| placeholder_target(parameter, base).ok());
            if let Some(Target::Url(url)) = target {
                urls.insert(url);
            }
        }
        _ => {}
    }
}

/// What reading a placeholder's target gave.
enum Read {
    Text(String),
    Failed(String),
    NotFetched,
}

/// The output of one file: problems (stdout) and notes (stderr).
#[derive(Debug, Default)]
struct Checked {
    problems: Vec<String>,
    notes: Vec<String>,
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// One document of a file: its number (from 1) and what it parsed to.
#[derive(Debug)]
struct Document {
    number: usize,
    value: Value,
}

/// The documents of a file up to the first syntax error, and that error
/// with the number of its document (the parser cannot resume after one).
#[derive(Debug, Default)]
struct Stream {
    documents: Vec<Document>,
    error: Option<(usize, String)>,
}

/// The output lines for one file.
fn check_read(
    file: &Path,
    read: Result<Stream, String>,
    fetched: &Fetched,
    tally: &mut Tally,
) -> Checked {
    let shown = file.display();
    let Stream { documents, error } = match read {
        Ok(stream) => stream,
        Err(message) => {
            tally.problems += 1;
            return Checked {
                problems: vec![format!("{shown}: {message}")],
                notes: Vec::new(),
            };
        }
    };
    let base = file.parent().unwrap_or(Path::new("."));
    let mut checked = Checked::default();
    for document in documents.into_iter().filter(|d| !d.value.is_null()) {
        tally.entities += 1;
        let (label, problems, notes) = check_document(document, base, fetched);
        if !problems.is_empty() {
            tally.invalid += 1;
            tally.problems += problems.len();
        }
        tally.not_fetched += notes.len();
        let line = |p: &Problem| format!("{shown}: {label}: {p}");
        checked.problems.extend(problems.iter().map(line));
        checked.notes.extend(notes.iter().map(line));
    }
    if let Some((number, message)) = error {
        tally.problems += 1;
        checked.problems.push(format!(
            "{shown}: document {number}: {}: {message}",
            FieldPath::root()
        ));
    }
    checked
}

/// The entity's label, its problems and its notes (the URLs not fetched):
/// placeholders first, then the rules (leaving out what a placeholder that
/// failed, or was not fetched, would have filled in).
fn check_document(
    document: Document,
    base: &Path,
    fetched: &Fetched,
) -> (String, Vec<Problem>, Vec<Problem>) {
    let mut value = document.value;
    if !value.is_object() {
        let problem = Problem {
            field: FieldPath::root(),
            message: format!(
                "expected an entity object, found {}",
                type_name(&Json::from(&value))
            ),
        };
        return (
            format!("document {}", document.number),
            vec![problem],
            Vec::new(),
        );
    }
    let mut unresolved = Unresolved::default();
    let sources = Sources { base, fetched };
    resolve_placeholders(&mut value, &FieldPath::root(), &sources, &mut unresolved);
    let Unresolved {
        mut problems,
        notes,
    } = unresolved;
    let entity = Json::from(&value);
    let label = EntityRef::from_entity(&entity).map_or_else(
        |_| format!("document {}", document.number),
        |r| r.to_string(),
    );
    if let Err(invalid) = validate(&entity) {
        let skipped: Vec<FieldPath> = problems
            .iter()
            .chain(&notes)
            .map(|p| p.field.clone())
            .collect();
        problems.extend(
            invalid
                .problems()
                .iter()
                .filter(|p| !skipped.iter().any(|f| p.field.is_within(f)))
                .cloned(),
        );
    }
    (label, problems, notes)
}

/// Where placeholders are read from: the entity file's folder, and the
/// URLs fetched.
struct Sources<'a> {
    base: &'a Path,
    fetched: &'a Fetched,
}

/// The placeholders that could not be resolved: failures, and URLs not
/// fetched.
#[derive(Debug, Default)]
struct Unresolved {
    problems: Vec<Problem>,
    notes: Vec<Problem>,
}

/// The documents of a file, or why it could not be read at all.
fn read_documents(file: &Path) -> Result<Stream, String> {
    let text =
        fs::read_to_string(file).map_err(|error| format!("cannot read the file: {error}"))?;
    let is_json = file
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("json"));
    if is_json {
        json_documents(&text).map(|documents| Stream {
            documents,
            error: None,
        })
    } else {
        Ok(yaml_documents(&text))
    }
}

/// A JSON file holds one entity, or an array of them.
fn json_documents(text: &str) -> Result<Vec<Document>, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| format!("invalid JSON: {error}"))?;
    let values = match value {
        Value::Array(items) => items,
        value => vec![value],
    };
    Ok(values
        .into_iter()
        .enumerate()
        .map(|(index, value)| Document {
            number: index + 1,
            value,
        })
        .collect())
}

/// Every document of a YAML stream, up to the first syntax error. As in
/// Backstage, merge keys (`<<`) are not applied and duplicate keys are errors.
fn yaml_documents(text: &str) -> Stream {
    let mut stream = Stream::default();
    for (index, document) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let number = index + 1;
        let parsed = yaml_serde::Value::deserialize(document)
            .map_err(|error| format!("invalid YAML: {error}"))
            .and_then(yaml_to_json);
        match parsed {
            Ok(value) => stream.documents.push(Document { number, value }),
            Err(message) => {
                stream.error = Some((number, message));
                break;
            }
        }
    }
    stream
}

/// YAML's data model in JSON's: scalar keys become strings, tags are
/// dropped, and numbers JSON cannot hold (NaN, infinities) become null.
fn yaml_to_json(value: yaml_serde::Value) -> Result<Value, String> {
    use yaml_serde::Value as Yaml;
    Ok(match value {
        Yaml::Null => Value::Null,
        Yaml::Bool(flag) => Value::Bool(flag),
        Yaml::Number(number) => yaml_number(&number),
        Yaml::String(text) => Value::String(text),
        Yaml::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(mapping) => {
            let mut object = serde_json::Map::new();
            for (key, value) in mapping {
                object.insert(yaml_key(key)?, yaml_to_json(value)?);
            }
            Value::Object(object)
        }
        Yaml::Tagged(tagged) => yaml_to_json(tagged.value)?,
    })
}

fn yaml_number(number: &yaml_serde::Number) -> Value {
    if let Some(integer) = number.as_i64() {
        Value::from(integer)
    } else if let Some(integer) = number.as_u64() {
        Value::from(integer)
    } else {
        number
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number)
    }
}

fn yaml_key(key: yaml_serde::Value) -> Result<String, String> {
    use yaml_serde::Value as Yaml;
    match key {
        Yaml::String(text) => Ok(text),
        Yaml::Null => Ok("null".to_owned()),
        Yaml::Bool(flag) => Ok(flag.to_string()),
        Yaml::Number(number) => Ok(number.to_string()),
        Yaml::Tagged(tagged) => yaml_key(tagged.value),
        Yaml::Sequence(_) | Yaml::Mapping(_) => {
            Err("invalid YAML: a mapping key must be a scalar, not a list or mapping".to_owned())
        }
    }
}

/// A placeholder Backstage's `PlaceholderProcessor` resolves by default.
#[derive(Debug, Clone, Copy)]
enum Placeholder {
    Text,
    Json,
    Yaml,
}

impl Placeholder {
    fn from_key(key: &str) -> Option<Self> {
        match key {
            "$text" => Some(Self::Text),
            "$json" => Some(Self::Json),
            "$yaml" => Some(Self::Yaml),
            _ => None,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Self::Text => "$text",
            Self::Json => "$json",
            Self::Yaml => "$yaml",
        }
    }
}

/// Replaces each `{"$text" | "$json" | "$yaml": "relative/path" or URL}`
/// with the content it names, as Backstage does: an object with a `$` key
/// is a placeholder only when that is its one key (otherwise it is left as
/// it is, and not searched further), unknown `$` keys are left alone, and
/// what a placeholder brings in is not searched for more placeholders.
fn resolve_placeholders(
    value: &mut Value,
    at: &FieldPath,
    sources: &Sources<'_>,
    unresolved: &mut Unresolved,
) {
    match value {
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                resolve_placeholders(item, &at.index(index), sources, unresolved);
            }
        }
        Value::Object(object) if !object.keys().any(|key| key.starts_with('$')) => {
            for (key, item) in object.iter_mut() {
                resolve_placeholders(item, &at.key(key), sources, unresolved);
            }
        }
        Value::Object(object) if object.len() == 1 => {
            let placeholder = object
                .iter()
                .next()
                .and_then(|(key, parameter)| Some((Placeholder::from_key(key)?, parameter)));
            let Some((placeholder, parameter)) = placeholder else {
                return;
            };
            match resolve(placeholder, parameter, sources) {
                Ok(resolved) => *value = resolved,
                Err(Unread::Failed(message)) => unresolved.problems.push(Problem {
                    field: at.clone(),
                    message: format!("{}: {message}", placeholder.key()),
                }),
                Err(Unread::NotFetched(url)) => unresolved.notes.push(Problem {
                    field: at.clone(),
                    message: format!(
                        "{}: {url} was not fetched (pass --fetch to read and check it)",
                        placeholder.key()
                    ),
                }),
            }
        }
        _ => {}
    }
}

/// Why a placeholder was not resolved.
enum Unread {
    Failed(String),
    NotFetched(Url),
}

fn resolve(
    placeholder: Placeholder,
    parameter: &Value,
    sources: &Sources<'_>,
) -> Result<Value, Unread> {
    let Some(relative) = parameter.as_str() else {
        return Err(Unread::Failed(format!(
            "expected a relative file path or a URL, found {}",
            type_name(&Json::from(parameter))
        )));
    };
    let text = match placeholder_target(relative, sources.base).map_err(Unread::Failed)? {
        Target::File(path) => {
            let bytes = fs::read(&path).map_err(|error| {
                Unread::Failed(format!(
                    "cannot read {relative} ({}): {error}",
                    path.display()
                ))
            })?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Target::Url(url) => match sources.fetched.body(&url) {
            Read::Text(text) => text,
            Read::Failed(message) => return Err(Unread::Failed(message)),
            Read::NotFetched => return Err(Unread::NotFetched(url)),
        },
    };
    match placeholder {
        Placeholder::Text => Ok(Value::String(text)),
        Placeholder::Json => serde_json::from_str(&text)
            .map_err(|error| Unread::Failed(format!("{relative} is not valid JSON: {error}"))),
        Placeholder::Yaml => single_yaml_document(&text)
            .map_err(|message| Unread::Failed(format!("{relative}: {message}"))),
    }
}

/// What a placeholder names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// A file, by its path relative to the entity's file.
    File(PathBuf),
    /// An `http` or `https` URL, which Backstage reads through its URL
    /// readers.
    Url(Url),
}

/// A path relative to the entity's file, or an http(s) URL. An absolute
/// path (it would tie a catalog file to one machine) and other URL schemes
/// (`file:`, which Backstage refuses too) are refused.
fn placeholder_target(relative: &str, base: &Path) -> Result<Target, String> {
    if relative.is_empty() {
        return Err("expected a relative file path or a URL, found an empty string".to_owned());
    }
    if let Ok(url) = Url::parse(relative) {
        return match url.scheme() {
            "http" | "https" => Ok(Target::Url(url)),
            scheme => Err(format!(
                "{relative} is a {scheme}: URL; only http(s) URLs and paths relative to this \
                 file are supported"
            )),
        };
    }
    let path = Path::new(relative);
    if path.is_absolute() || path.has_root() {
        return Err(format!(
            "{relative} is an absolute path; only paths relative to this file and http(s) URLs \
             are supported"
        ));
    }
    let parts = path
        .components()
        .filter(|part| !matches!(part, std::path::Component::CurDir));
    Ok(Target::File(
        parts.fold(base.to_path_buf(), |joined, part| joined.join(part)),
    ))
}

/// `$yaml` wants exactly one document, as in Backstage.
fn single_yaml_document(text: &str) -> Result<Value, String> {
    let Stream {
        mut documents,
        error,
    } = yaml_documents(text);
    if let Some((_, message)) = error {
        return Err(message);
    }
    match documents.len() {
        1 => Ok(documents.remove(0).value),
        found => Err(format!("expected exactly one YAML document, found {found}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn values(text: &str) -> (Vec<Value>, Option<(usize, String)>) {
        let Stream { documents, error } = yaml_documents(text);
        (documents.into_iter().map(|d| d.value).collect(), error)
    }

    #[test]
    fn yaml_streams_keep_empty_documents_for_numbering() {
        let (documents, failure) = values("a: 1\n---\n---\n# just a comment\n---\nb: [x]\n");
        assert!(failure.is_none());
        assert_eq!(
            documents,
            [
                json!({"a": 1}),
                json!(null),
                json!(null),
                json!({"b": ["x"]})
            ]
        );
        assert_eq!(values("").0, [json!(null)]);
    }

    #[test]
    fn yaml_errors_stop_the_stream_with_their_document_number() {
        let (documents, failure) = values("a: 1\n---\nb: [\n---\nc: 3\n");
        assert_eq!(documents, [json!({"a": 1})]);
        let (number, message) = failure.unwrap();
        assert_eq!(number, 2);
        assert!(message.starts_with("invalid YAML: "), "{message}");
    }

    #[test]
    fn duplicate_yaml_keys_are_errors() {
        let (_, failure) = values("a: 1\na: 2\n");
        let (_, message) = failure.unwrap();
        assert!(message.contains("duplicate"), "{message}");
    }

    #[test]
    fn yaml_becomes_json_without_merging_keys() {
        let (documents, _) = values(
            "base: &b {x: 1}\nd:\n  <<: *b\n1: one\ntrue: yes\nn: .nan\ntagged: !foo bar\nold: on\n",
        );
        assert_eq!(
            documents[0],
            json!({"base": {"x": 1}, "d": {"<<": {"x": 1}}, "1": "one", "true": "yes",
                   "n": null, "tagged": "bar", "old": "on"})
        );
        let (_, failure) = values("? [1, 2]\n: x\n");
        assert!(failure.unwrap().1.contains("mapping key must be a scalar"));
    }

    #[test]
    fn json_files_hold_one_entity_or_an_array() {
        assert_eq!(json_documents("{\"a\": 1}").unwrap().len(), 1);
        let documents = json_documents("[{}, {}, 3]").unwrap();
        assert_eq!(documents.len(), 3);
        assert_eq!(documents[2].number, 3);
        assert!(
            json_documents("{")
                .unwrap_err()
                .starts_with("invalid JSON: ")
        );
    }

    #[test]
    fn placeholders_name_relative_paths_or_http_urls() {
        let base = Path::new("catalog");
        let file = |path: &str| Target::File(PathBuf::from(path));
        assert_eq!(
            placeholder_target("./api.yaml", base).unwrap(),
            file("catalog/api.yaml")
        );
        assert_eq!(
            placeholder_target("../shared/api.yaml", base).unwrap(),
            file("catalog/../shared/api.yaml")
        );
        for url in [
            "https://github.com/backstage/backstage/blob/master/x.json",
            "http://example.com/x.yaml",
        ] {
            assert_eq!(
                placeholder_target(url, base).unwrap(),
                Target::Url(Url::parse(url).unwrap())
            );
        }
        for refused in ["/etc/passwd", "file:///etc/passwd", "ftp://x/y", ""] {
            assert!(placeholder_target(refused, base).is_err(), "{refused}");
        }
        let message = placeholder_target("file:///etc/passwd", base).unwrap_err();
        assert!(message.contains("is a file: URL"), "{message}");
    }

    #[test]
    fn only_lone_known_dollar_keys_are_placeholders() {
        let mut value = json!({
            "a": {"$text": 3},
            "b": {"$text": "x", "other": {"$text": "y"}},
            "c": {"$file": "x"},
            "d": [{"$json": "/abs.json"}],
        });
        let before = value.clone();
        let mut unresolved = Unresolved::default();
        let fetched = Fetched::default();
        let sources = Sources {
            base: Path::new("."),
            fetched: &fetched,
        };
        resolve_placeholders(&mut value, &FieldPath::root(), &sources, &mut unresolved);
        assert_eq!(value, before);
        let found: Vec<String> = unresolved
            .problems
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "a: $text: expected a relative file path or a URL, found a number",
                "d[0]: $json: /abs.json is an absolute path; only paths relative to this \
                 file and http(s) URLs are supported",
            ]
        );
        assert!(unresolved.notes.is_empty());
    }

    #[test]
    fn a_url_not_fetched_is_a_note_and_a_fetched_one_is_read() {
        let url = "https://example.com/openapi.yaml";
        let mut value = json!({ "definition": { "$text": url }, "other": { "$yaml": url } });
        let mut unresolved = Unresolved::default();
        let mut fetched = Fetched::default();
        let mut urls = BTreeSet::new();
        placeholder_urls(&value, Path::new("."), &mut urls);
        assert_eq!(urls.len(), 1);
        let sources = Sources {
            base: Path::new("."),
            fetched: &fetched,
        };
        resolve_placeholders(
            &mut value.clone(),
            &FieldPath::root(),
            &sources,
            &mut unresolved,
        );
        assert!(unresolved.problems.is_empty());
        assert_eq!(
            unresolved.notes[0].to_string(),
            "definition: $text: https://example.com/openapi.yaml was not fetched (pass --fetch \
             to read and check it)"
        );
        let parsed = Url::parse(url).unwrap();
        fetched.bodies = Some(BTreeMap::from([(parsed, Ok(b"a: 1\n".to_vec()))]));
        let sources = Sources {
            base: Path::new("."),
            fetched: &fetched,
        };
        let mut unresolved = Unresolved::default();
        resolve_placeholders(&mut value, &FieldPath::root(), &sources, &mut unresolved);
        assert!(unresolved.problems.is_empty() && unresolved.notes.is_empty());
        assert_eq!(
            value,
            json!({ "definition": "a: 1\n", "other": { "a": 1 } })
        );
    }

    #[test]
    fn yaml_placeholders_want_one_document() {
        assert_eq!(single_yaml_document("a: 1\n").unwrap(), json!({"a": 1}));
        assert!(
            single_yaml_document("a: 1\n---\nb: 2\n")
                .unwrap_err()
                .contains("found 2")
        );
    }

    #[test]
    fn the_summary_counts_entities_and_problems() {
        let mut tally = Tally {
            entities: 1,
            ..Tally::default()
        };
        assert_eq!(tally.to_string(), "1 entity OK");
        tally.entities = 12;
        assert_eq!(tally.to_string(), "12 entities OK");
        tally.problems = 3;
        tally.invalid = 2;
        assert_eq!(tally.to_string(), "3 problems; 2 of 12 entities invalid");
        tally.not_fetched = 1;
        assert_eq!(
            tally.to_string(),
            "3 problems; 2 of 12 entities invalid; 1 placeholder URL not fetched (pass --fetch \
             to read them)"
        );
    }
}
