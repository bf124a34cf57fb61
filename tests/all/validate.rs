//! `weir validate` as a catalog author uses it: a whole example catalog
//! passes (checked against Backstage's own validation when it was written),
//! broken entities get every problem listed, placeholders are resolved
//! relative to the file, JSON works like YAML.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/validate")
}

/// Runs `weir validate` in the fixtures folder, so paths print as given.
fn validate(files: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("validate")
        .args(files)
        .current_dir(fixtures())
        .env("WEIR_LOG", "warn")
        .output()
        .expect("run weir")
}

fn stdout(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every entity file of the example catalog (a made-up logistics company),
/// relative to the fixtures: all YAML files but those in `specs` folders,
/// which hold what the placeholders read (an OpenAPI document, annotations).
fn example_catalog() -> Vec<String> {
    let mut files = Vec::new();
    collect_yaml(&fixtures().join("example-catalog"), &mut files);
    let mut files: Vec<String> = files
        .iter()
        .filter_map(|file| file.strip_prefix(fixtures()).ok())
        .map(|file| file.to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

fn collect_yaml(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read fixtures") {
        let path = entry.expect("fixture entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "specs") {
                collect_yaml(&path, files);
            }
        } else if path.extension().is_some_and(|e| e == "yaml") {
            files.push(path);
        }
    }
}

#[test]
fn the_example_catalog_is_valid() {
    let files = example_catalog();
    assert_eq!(files.len(), 19, "{files:?}");
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let output = validate(&args);
    assert_eq!(stdout(&output), Vec::<String>::new());
    assert!(output.status.success(), "{}", stderr(&output));
    // 19 files: company.yaml holds 2 entities, routing-team.yaml 4 and
    // fleet-team.yaml 3.
    assert_eq!(stderr(&output).trim(), "25 entities OK");
}

#[test]
fn the_invalid_example_gets_its_five_problems() {
    let file = "invalid-examples/invalid-component.yaml";
    let output = validate(&[file]);
    assert_eq!(output.status.code(), Some(1));
    let entity = "component:default/label-printer_";
    assert_eq!(
        stdout(&output),
        [
            format!(
                "{file}: {entity}: metadata.name: \"label-printer_\" is not a valid name; \
                 expected sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 \
                 characters in total"
            ),
            format!(
                "{file}: {entity}: metadata.labels[\"kestrel-freight.example/print queue\"]: \
                 \"kestrel-freight.example/print queue\" is not a valid label key; expected an \
                 optional DNS subdomain prefix and '/', then sequences of [a-zA-Z0-9] separated \
                 by any of [-_.], at most 63 characters"
            ),
            format!(
                "{file}: {entity}: metadata.tags[1]: \"Thermal-Printer\" is not a valid tag; \
                 expected sequences of [a-z0-9:+#] separated by [-], at most 63 characters in \
                 total"
            ),
            format!("{file}: {entity}: spec.lifecycle: is required"),
            format!(
                "{file}: {entity}: spec.dependsOn[0]: entity ref \"shipments-db\" has no kind; \
                 write it as <kind>:shipments-db"
            ),
        ]
    );
    assert_eq!(stderr(&output).trim(), "5 problems; 1 of 1 entity invalid");
}

#[test]
fn every_problem_of_every_entity_is_printed() {
    let output = validate(&["invalid.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let name_rule = "sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters \
                     in total";
    let tag_rule = "sequences of [a-z0-9:+#] separated by [-], at most 63 characters in total";
    let checkout = "invalid.yaml: component:payments/checkout service";
    let group = "invalid.yaml: group:default/platform_team.v2";
    let expected = [
        format!(
            "{checkout}: metadata.name: \"checkout service\" is not a valid name; expected {name_rule}"
        ),
        format!(
            "{checkout}: metadata.namespace: \"Payments\" is not a valid namespace; expected \
             sequences of [a-z0-9] separated by [-], at most 63 characters in total"
        ),
        format!(
            "{checkout}: metadata.labels.tier: \"gold plated\" is not a valid label value; \
             expected an empty string or {name_rule}"
        ),
        format!(
            "{checkout}: metadata.tags[0]: \"Payments\" is not a valid tag; expected {tag_rule}"
        ),
        format!(
            "{checkout}: metadata.tags[1]: \"go-1.22\" is not a valid tag; expected {tag_rule}"
        ),
        format!("{checkout}: metadata.links[0].url: \"not a url\" is not a valid URL"),
        format!("{checkout}: metadata.links[0].title: must not be blank"),
        format!("{checkout}: spec.owner: is required"),
        "invalid.yaml: document 3: kind: is required".to_owned(),
        "invalid.yaml: component:default/lower-case-kind: kind: \"component\" is not a \
         backstage.io/ kind; kinds are case-sensitive, did you mean Component?"
            .to_owned(),
        format!(
            "{group}: specs: is not a root field of an entity; expected apiVersion, kind, \
             metadata, spec, relations or status"
        ),
        format!("{group}: spec.children: must be an array, found a string"),
        format!(
            "{group}: spec.members[0]: entity ref \"user:\" has an empty name; expected \
             [<kind>:][<namespace>/]<name>"
        ),
        "invalid.yaml: document 6: <root>: expected an entity object, found an array".to_owned(),
    ];
    assert_eq!(stdout(&output), expected);
    assert_eq!(
        stderr(&output).trim(),
        "14 problems; 5 of 6 entities invalid"
    );
}

#[test]
fn a_yaml_syntax_error_names_its_document() {
    let output = validate(&["syntax.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let lines = stdout(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("syntax.yaml: document 2: <root>: invalid YAML: "),
        "{lines:?}"
    );
}

#[test]
fn a_missing_file_is_a_problem_not_a_crash() {
    let output = validate(&["entity.json", "no-such-file.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let lines = stdout(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("no-such-file.yaml: cannot read the file: "),
        "{lines:?}"
    );
}

#[test]
fn json_files_hold_one_entity_or_an_array() {
    let output = validate(&["entity.json"]);
    assert!(output.status.success(), "{:?}", stdout(&output));
    assert_eq!(stderr(&output).trim(), "1 entity OK");

    let output = validate(&["entities.json", "entity.json"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout(&output),
        [
            "entities.json: resource:default/cache: metadata.annotations[\"example.com/size\"]: \
             must be a string, found a number",
            "entities.json: resource:default/cache: spec.dependsOn[0]: entity ref \"orders\" has \
             no kind; write it as <kind>:orders",
        ]
    );
    assert_eq!(
        stderr(&output).trim(),
        "2 problems; 1 of 3 entities invalid"
    );
}

#[test]
fn text_json_and_yaml_placeholders_are_resolved_beside_the_file() {
    // The API's definition ($text), links ($json) and labels ($yaml) would
    // all be invalid if left unresolved.
    let output = validate(&["placeholders/api.yaml"]);
    assert_eq!(stdout(&output), Vec::<String>::new());
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output).trim(), "1 entity OK");
}

#[test]
fn placeholders_that_cannot_be_resolved_are_problems() {
    let output = validate(&["placeholders/broken.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let file = "placeholders/broken.yaml";
    let only_relative = "only paths relative to this file are supported";
    assert_eq!(
        stdout(&output),
        [
            format!(
                "{file}: api:default/missing-definition: spec.definition: $text: cannot read \
                 ./missing.yaml (placeholders/missing.yaml): No such file or directory (os error 2)"
            ),
            format!(
                "{file}: api:default/remote-definition: spec.definition: $text: \
                 https://github.com/backstage/backstage/blob/master/plugins/config-schema/dev/\
                 example-schema.json is a URL; {only_relative}"
            ),
            format!(
                "{file}: component:default/absolute: metadata.labels: $json: ./broken.json is \
                 not valid JSON: EOF while parsing a value at line 2 column 0"
            ),
            format!(
                "{file}: component:default/absolute: spec.owner: $text: /etc/hostname is an \
                 absolute path; {only_relative}"
            ),
            format!(
                "{file}: component:default/absolute: spec.system: $yaml: ./two-documents.yaml: \
                 expected exactly one YAML document, found 2"
            ),
        ]
    );
}
