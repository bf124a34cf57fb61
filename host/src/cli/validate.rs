//! `weir validate`: checks catalog files (YAML or JSON) against Backstage's
//! entity rules, after resolving the `$text`, `$json` and `$yaml`
//! placeholders relative to each file, and prints every problem.

use std::fmt::Display;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use serde_json::Value;
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
/// `FILE: MESSAGE`. Exits 1 if there was any problem, 0 otherwise.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files to check: YAML, several documents separated by `---` (empty
    /// ones are skipped), or JSON (`*.json`: one entity or an array of them).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub fn validate_files(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut tally = Tally::default();
    let mut out = io::stdout().lock();
    for file in &args.files {
        for line in check_file(file, &mut tally) {
            writeln!(out, "{line}").context("cannot write to stdout")?;
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
}

impl Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entities = plural(self.entities, "entity", "entities");
        if self.problems == 0 {
            write!(f, "{entities} OK")
        } else {
            let problems = plural(self.problems, "problem", "problems");
            write!(f, "{problems}; {} of {entities} invalid", self.invalid)
        }
    }
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
fn check_file(file: &Path, tally: &mut Tally) -> Vec<String> {
    let shown = file.display();
    let Stream { documents, error } = match read_documents(file) {
        Ok(stream) => stream,
        Err(message) => {
            tally.problems += 1;
            return vec![format!("{shown}: {message}")];
        }
    };
    let base = file.parent().unwrap_or(Path::new("."));
    let mut lines = Vec::new();
    for document in documents.into_iter().filter(|d| !d.value.is_null()) {
        tally.entities += 1;
        let (label, problems) = check_document(document, base);
        if !problems.is_empty() {
            tally.invalid += 1;
            tally.problems += problems.len();
        }
        lines.extend(problems.iter().map(|p| format!("{shown}: {label}: {p}")));
    }
    if let Some((number, message)) = error {
        tally.problems += 1;
        lines.push(format!(
            "{shown}: document {number}: {}: {message}",
            FieldPath::root()
        ));
    }
    lines
}

/// The entity's label and its problems: placeholders first, then the rules
/// (leaving out what a placeholder that failed would have filled in).
fn check_document(document: Document, base: &Path) -> (String, Vec<Problem>) {
    let mut value = document.value;
    if !value.is_object() {
        let problem = Problem {
            field: FieldPath::root(),
            message: format!(
                "expected an entity object, found {}",
                type_name(&Json::from(&value))
            ),
        };
        return (format!("document {}", document.number), vec![problem]);
    }
    let mut problems = Vec::new();
    resolve_placeholders(&mut value, &FieldPath::root(), base, &mut problems);
    let entity = Json::from(&value);
    let label = EntityRef::from_entity(&entity).map_or_else(
        |_| format!("document {}", document.number),
        |r| r.to_string(),
    );
    if let Err(invalid) = validate(&entity) {
        let failed: Vec<FieldPath> = problems.iter().map(|p| p.field.clone()).collect();
        problems.extend(
            invalid
                .problems()
                .iter()
                .filter(|p| !failed.iter().any(|f| p.field.is_within(f)))
                .cloned(),
        );
    }
    (label, problems)
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

/// Replaces each `{"$text" | "$json" | "$yaml": "relative/path"}` with the
/// file's content, as Backstage does: an object with a `$` key is a
/// placeholder only when that is its one key (otherwise it is left as it
/// is, and not searched further), unknown `$` keys are left alone, and
/// what a placeholder brings in is not searched for more placeholders.
fn resolve_placeholders(
    value: &mut Value,
    at: &FieldPath,
    base: &Path,
    problems: &mut Vec<Problem>,
) {
    match value {
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                resolve_placeholders(item, &at.index(index), base, problems);
            }
        }
        Value::Object(object) if !object.keys().any(|key| key.starts_with('$')) => {
            for (key, item) in object.iter_mut() {
                resolve_placeholders(item, &at.key(key), base, problems);
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
            match resolve(placeholder, parameter, base) {
                Ok(resolved) => *value = resolved,
                Err(message) => problems.push(Problem {
                    field: at.clone(),
                    message: format!("{}: {message}", placeholder.key()),
                }),
            }
        }
        _ => {}
    }
}

fn resolve(placeholder: Placeholder, parameter: &Value, base: &Path) -> Result<Value, String> {
    let Some(relative) = parameter.as_str() else {
        return Err(format!(
            "expected a relative file path, found {}",
            type_name(&Json::from(parameter))
        ));
    };
    let path = placeholder_path(relative, base)?;
    let bytes = fs::read(&path)
        .map_err(|error| format!("cannot read {relative} ({}): {error}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    match placeholder {
        Placeholder::Text => Ok(Value::String(text.into_owned())),
        Placeholder::Json => serde_json::from_str(&text)
            .map_err(|error| format!("{relative} is not valid JSON: {error}")),
        Placeholder::Yaml => {
            single_yaml_document(&text).map_err(|message| format!("{relative}: {message}"))
        }
    }
}

/// Only paths relative to the entity's file: Weir reads no URLs, and an
/// absolute path would tie a catalog file to one machine.
fn placeholder_path(relative: &str, base: &Path) -> Result<PathBuf, String> {
    if relative.is_empty() {
        return Err("expected a relative file path, found an empty string".to_owned());
    }
    if url::Url::parse(relative).is_ok() {
        return Err(format!(
            "{relative} is a URL; only paths relative to this file are supported"
        ));
    }
    let path = Path::new(relative);
    if path.is_absolute() || path.has_root() {
        return Err(format!(
            "{relative} is an absolute path; only paths relative to this file are supported"
        ));
    }
    let parts = path
        .components()
        .filter(|part| !matches!(part, std::path::Component::CurDir));
    Ok(parts.fold(base.to_path_buf(), |joined, part| joined.join(part)))
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
    fn placeholder_paths_must_be_relative() {
        let base = Path::new("catalog");
        assert_eq!(
            placeholder_path("./api.yaml", base).unwrap(),
            Path::new("catalog/api.yaml")
        );
        assert_eq!(
            placeholder_path("../shared/api.yaml", base).unwrap(),
            Path::new("catalog/../shared/api.yaml")
        );
        for refused in [
            "/etc/passwd",
            "https://github.com/backstage/backstage/blob/master/x.json",
            "file:///etc/passwd",
            "",
        ] {
            assert!(placeholder_path(refused, base).is_err(), "{refused}");
        }
        let message = placeholder_path("https://example.com/x", base).unwrap_err();
        assert!(message.contains("is a URL"), "{message}");
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
        let mut problems = Vec::new();
        resolve_placeholders(
            &mut value,
            &FieldPath::root(),
            Path::new("."),
            &mut problems,
        );
        assert_eq!(value, before);
        let found: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "a: $text: expected a relative file path, found a number",
                "d[0]: $json: /abs.json is an absolute path; only paths relative to this \
                 file are supported",
            ]
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
    }
}
