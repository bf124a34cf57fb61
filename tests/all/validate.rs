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
    assert_eq!(
        stdout(&output),
        [
            format!(
                "{file}: api:default/missing-definition: spec.definition: $text: cannot read \
                 ./missing.yaml (placeholders/missing.yaml): No such file or directory (os error 2)"
            ),
            format!(
                "{file}: component:default/absolute: metadata.labels: $json: ./broken.json is \
                 not valid JSON: EOF while parsing a value at line 2 column 0"
            ),
            format!(
                "{file}: component:default/absolute: spec.owner: $text: /etc/hostname is an \
                 absolute path; only paths relative to this file and http(s) URLs are supported"
            ),
            format!(
                "{file}: component:default/absolute: spec.system: $yaml: ./two-documents.yaml: \
                 expected exactly one YAML document, found 2"
            ),
        ]
    );
    // The URL is Backstage's to read: not a problem, only noted.
    let notes = stderr(&output);
    assert!(
        notes.contains(
            "placeholders/broken.yaml: api:default/remote-definition: spec.definition: $text: \
             https://github.com/backstage/backstage/blob/master/plugins/config-schema/dev/\
             example-schema.json was not fetched (pass --fetch to read and check it)"
        ),
        "{notes}"
    );
    assert!(
        notes.trim_end().ends_with(
            "4 problems; 2 of 3 entities invalid; 1 placeholder URL not fetched (pass --fetch \
             to read them)"
        ),
        "{notes}"
    );
}

#[test]
fn relative_placeholders_are_read_from_the_files_folder_not_the_working_directory() {
    let file = fixtures().join("placeholders/api.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("validate")
        .arg(&file)
        .current_dir(std::env::temp_dir())
        .env("WEIR_LOG", "warn")
        .output()
        .expect("run weir");
    assert_eq!(stdout(&output), Vec::<String>::new());
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn url_placeholders_are_noted_and_the_rest_is_checked() {
    let output = validate(&["remote/apis.yaml"]);
    // The second entity's missing owner is still found; the unresolved
    // definitions and links are no problem.
    assert_eq!(
        stdout(&output),
        ["remote/apis.yaml: api:default/remote-without-owner: spec.owner: is required"]
    );
    assert_eq!(output.status.code(), Some(1));
    let notes = stderr(&output);
    for (entity, field, placeholder, url) in [
        ("remote-orders", "metadata.links", "$json", "links.json"),
        ("remote-orders", "spec.definition", "$text", "openapi.yaml"),
        (
            "remote-without-owner",
            "spec.definition",
            "$text",
            "openapi.yaml",
        ),
    ] {
        let note = format!(
            "remote/apis.yaml: api:default/{entity}: {field}: {placeholder}: \
             https://example.com/catalog/{url} was not fetched (pass --fetch to read and check it)"
        );
        assert!(notes.contains(&note), "{note}\nnot in\n{notes}");
    }
    assert!(
        notes.trim_end().ends_with(
            "1 problem; 1 of 2 entities invalid; 3 placeholder URLs not fetched (pass --fetch \
             to read them)"
        ),
        "{notes}"
    );
}

/// A plain HTTP server on loopback for `--fetch`: `/openapi.yaml`,
/// `/links.json`, `/labels.yaml`, `/moved` (a redirect to `/openapi.yaml`),
/// `/big` (2 KiB), `/slow` (no answer for 10 s) and anything else 404. Each
/// connection gets one answer. Returns its port; it serves until the test
/// process ends.
fn serve_catalog_files() -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("port").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request.split(' ').nth(1).unwrap_or("/").to_owned();
                let (status, extra, body) = match path.as_str() {
                    "/openapi.yaml" => ("200 OK", String::new(), "openapi: 3.0.0\n".to_owned()),
                    "/links.json" => (
                        "200 OK",
                        String::new(),
                        r#"[{"url": "https://orders.example.com", "title": "Orders"}]"#.to_owned(),
                    ),
                    "/labels.yaml" => ("200 OK", String::new(), "tier: gold plated\n".to_owned()),
                    "/moved" => (
                        "302 Found",
                        "Location: /openapi.yaml\r\n".to_owned(),
                        String::new(),
                    ),
                    "/big" => ("200 OK", String::new(), "x".repeat(2048)),
                    "/slow" => {
                        std::thread::sleep(std::time::Duration::from_secs(10));
                        return;
                    }
                    _ => ("404 Not Found", String::new(), String::new()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

/// A catalog file in a fresh folder naming URLs of the server on `port`.
fn remote_catalog(port: u16, definition: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let base = format!("http://127.0.0.1:{port}");
    std::fs::write(
        dir.path().join("api.yaml"),
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: orders\n  \
             links:\n    $json: {base}/links.json\n  labels:\n    $yaml: {base}/labels.yaml\n\
             spec:\n  type: openapi\n  lifecycle: production\n  owner: team-a\n  \
             definition:\n    $text: {base}{definition}\n"
        ),
    )
    .expect("write the catalog file");
    dir
}

fn validate_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("validate")
        .args(args)
        .arg("api.yaml")
        .current_dir(dir)
        .env("WEIR_LOG", "warn")
        .output()
        .expect("run weir")
}

#[test]
fn fetch_reads_urls_under_the_outbound_rules() {
    let port = serve_catalog_files();
    let base = format!("http://127.0.0.1:{port}");
    let dir = remote_catalog(port, "/moved");
    let open = ["--fetch", "--allow-http", "--allow-private-networks"];

    // Plain HTTP, then a loopback address, each refused until allowed.
    let output = validate_in(dir.path(), &["--fetch"]);
    assert_eq!(output.status.code(), Some(1));
    let lines = stdout(&output);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines.contains(&format!(
            "api.yaml: api:default/orders: spec.definition: $text: {base}/moved: plain http is \
             refused (pass --allow-http to fetch it)"
        )),
        "{lines:?}"
    );
    let output = validate_in(dir.path(), &["--fetch", "--allow-http"]);
    let lines = stdout(&output);
    assert!(
        lines.iter().all(|line| line.contains(
            "is (or resolves to) the non-public address 127.0.0.1 (pass \
             --allow-private-networks to fetch it)"
        )) && lines.len() == 3,
        "{lines:?}"
    );

    // Allowed: every URL is read (the definition through a redirect) and its
    // content checked like a file's: the labels are not valid.
    let output = validate_in(dir.path(), &open);
    assert_eq!(
        stdout(&output),
        [
            "api.yaml: api:default/orders: metadata.labels.tier: \"gold plated\" is not a valid \
          label value; expected an empty string or sequences of [a-zA-Z0-9] separated by any \
          of [-_.], at most 63 characters in total"
        ]
    );
    assert_eq!(
        stderr(&output).trim(),
        "1 problem; 1 of 1 entity invalid",
        "no URL is left unfetched"
    );

    // A missing file, a body over the size limit, an answer past the time
    // limit: each a problem of its field.
    for (definition, extra, expected) in [
        (
            "/missing.yaml",
            None,
            format!("{base}/missing.yaml: HTTP 404 Not Found"),
        ),
        (
            "/big",
            Some(["--max-fetch-bytes", "1KiB"]),
            format!("{base}/big: the body is longer than 1024 bytes (--max-fetch-bytes)"),
        ),
        (
            "/slow",
            Some(["--fetch-timeout", "1s"]),
            format!("{base}/slow: no complete answer within 1s (--fetch-timeout)"),
        ),
    ] {
        let dir = remote_catalog(port, definition);
        let mut args = open.to_vec();
        args.extend(extra.into_iter().flatten());
        let output = validate_in(dir.path(), &args);
        let line = format!("api.yaml: api:default/orders: spec.definition: $text: {expected}");
        assert!(
            stdout(&output).contains(&line),
            "{line}\nnot in {:?}",
            stdout(&output)
        );
        assert_eq!(output.status.code(), Some(1));
    }
}
