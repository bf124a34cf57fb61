use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use weir_core::intake::Scope;

use super::*;
use crate::engine::Rest;
use crate::runtime::Limits;

const FULL: &str = r#"
database = "postgres://weir@db.internal/weir"
plugins = "/srv/weir/plugins"
listen = "0.0.0.0:8080"
maxConcurrentBursts = 2

[sources.github]
priority = 10
ownerRule = true
kinds = ["Component", "API"]
namespaces = ["Default", "ops"]
burstLength = "10s"
burstInterval = "0s"
schedule = "0 */6 * * *"
backoff = ["1s", "1m"]
rejectRemovalsAbovePercentage = 12.5
rejectEmptySourceCollections = true
expireAfter = "7d"

[sources.github.limits]
fuel = 1000
deadline = "5s"
memory = "64MiB"
maxEntitiesPerPage = 50
maxPageBytes = 1048576
maxCursorBytes = "1KiB"

[sources.github.config]
org = "kestrel"
pages = 3
ratio = 0.5
dryRun = false

[sources.github.secrets]
token = "GITHUB_TOKEN"

[sources.hr]
restLength = "1h"
"#;

fn no_env(_: &str) -> Option<String> {
    None
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("weir.toml"), no_env)
}

/// The error message of a configuration that must not load.
fn error(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(error) => error.to_string(),
    }
}

fn source(text: &str) -> SourceConfig {
    let config = parse(&format!("[sources.s]\n{text}")).expect("valid configuration");
    config.source("s")
}

fn assert_defaults(config: &Config) {
    assert_eq!(config.database, "sqlite://weir.db");
    assert_eq!(config.plugins, PathBuf::from("plugins"));
    assert_eq!(
        config.listen,
        "127.0.0.1:7007".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        config.max_concurrent_bursts,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    assert!(config.max_concurrent_bursts >= 1);
    assert_eq!(config.section_names().count(), 0);
    assert_eq!(config.limits, Limits::default());
}

#[test]
fn an_empty_file_means_every_default() {
    assert_defaults(&parse("").unwrap());
    assert_defaults(&parse("# nothing here\n").unwrap());
}

#[test]
fn no_file_means_every_default() {
    let dir = tempfile::tempdir().unwrap();
    let config = load_from(None, &dir.path().join("weir.toml"), no_env).unwrap();
    assert_defaults(&config);
}

#[test]
fn the_implicit_file_is_read_when_it_exists() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("weir.toml");
    std::fs::write(&file, "maxConcurrentBursts = 5\n").unwrap();
    let config = load_from(None, &file, no_env).unwrap();
    assert_eq!(config.max_concurrent_bursts, 5);
}

#[test]
fn an_explicit_file_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("elsewhere.toml");
    let error = Config::load(Some(&missing), no_env).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{}: cannot read", missing.display())),
        "{message}"
    );
    // The cause is in the message once, not again as a source.
    assert!(std::error::Error::source(&error).is_none());
    let chain = format!("{:#}", anyhow::Error::from(error));
    assert_eq!(chain.matches("os error").count(), 1, "{chain}");
}

#[test]
fn an_explicit_file_is_read_and_named_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custom.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:9000\"\n").unwrap();
    let config = Config::load(Some(&file), no_env).unwrap();
    assert_eq!(config.listen.port(), 9000);

    std::fs::write(&file, "listen = \"nowhere\"\n").unwrap();
    let message = Config::load(Some(&file), no_env).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!(
            "{}: listen: invalid socket address",
            file.display()
        )),
        "{message}"
    );
}

#[test]
fn the_full_example_parses_to_the_expected_values() {
    let env = env_of(&[("GITHUB_TOKEN", "s3cr3t")]);
    let config = Config::parse(FULL, Path::new("weir.toml"), env).unwrap();
    assert_eq!(config.database, "postgres://weir@db.internal/weir");
    assert_eq!(config.plugins, PathBuf::from("/srv/weir/plugins"));
    assert_eq!(config.listen, "0.0.0.0:8080".parse::<SocketAddr>().unwrap());
    assert_eq!(config.max_concurrent_bursts, 2);
    assert_eq!(config.section_names().collect::<Vec<_>>(), ["github", "hr"]);

    let github = config.source("github");
    let options = &github.options;
    assert_eq!(options.priority, 10);
    assert!(options.owner_rule);
    assert_eq!(
        options.scope,
        Scope {
            kinds: vec!["component".into(), "api".into()],
            namespaces: vec!["default".into(), "ops".into()],
        }
    );
    assert_eq!(options.burst_length, Duration::from_secs(10));
    assert_eq!(options.burst_interval, Duration::ZERO);
    match &options.rest {
        Rest::Schedule(cron) => assert_eq!(cron.as_str(), "0 */6 * * *"),
        other => panic!("expected a schedule, got {other:?}"),
    }
    assert_eq!(
        options.backoff,
        [Duration::from_secs(1), Duration::from_secs(60)]
    );
    assert_eq!(options.reject_removals_above_percentage, Some(12.5));
    assert!(options.reject_empty_source_collections);
    assert_eq!(options.expire_after, Duration::from_secs(7 * 24 * 60 * 60));

    let settings = &github.settings;
    assert_eq!(
        settings.limits,
        Limits {
            fuel: 1000,
            deadline: Duration::from_secs(5),
            max_memory_bytes: 64 << 20,
            max_entities_per_page: 50,
            max_page_bytes: 1 << 20,
            max_cursor_bytes: 1 << 10,
            max_entity_bytes: Limits::default().max_entity_bytes,
        }
    );
    let config_values: Vec<(&str, &str)> = settings
        .config
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        config_values,
        [
            ("dryRun", "false"),
            ("org", "kestrel"),
            ("pages", "3"),
            ("ratio", "0.5")
        ]
    );
    assert_eq!(
        settings.secrets.get("token").map(String::as_str),
        Some("s3cr3t")
    );

    let hr = config.source("hr");
    assert_eq!(hr.options.rest, Rest::For(Duration::from_secs(60 * 60)));
    assert_eq!(
        SourceOptions {
            rest: SourceOptions::default().rest,
            ..hr.options
        },
        SourceOptions::default()
    );
    assert_eq!(hr.settings.limits, Limits::default());
    assert!(hr.settings.config.is_empty() && hr.settings.secrets.is_empty());
}

#[test]
fn the_example_in_the_configuration_reference_parses() {
    let doc: String = include_str!("../../../docs/configuration.md")
        .lines()
        .skip_while(|line| !line.starts_with("```toml"))
        .skip(1)
        .take_while(|line| !line.starts_with("```"))
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(doc.contains("[sources.github.secrets]"));
    // The documented example sets both restLength and schedule as
    // alternatives; drop the schedule to load it.
    let doc = doc.replace("schedule = ", "# schedule = ");
    let secret_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret_file.path(), "from-a-file\n").unwrap();
    let doc = doc.replace(
        "/run/secrets/github-webhook",
        &secret_file.path().display().to_string(),
    );
    let env = env_of(&[
        ("GITHUB_TOKEN", "t"),
        ("GITHUB_APP_KEY", "k"),
        ("WEIR_ADMIN_TOKEN", "admin-0123456789abcdef"),
        ("WEIR_READ_TOKEN", "read-0123456789abcdef"),
        ("GITHUB_WEBHOOK_SECRET", "hook-0123456789abcdef"),
        ("GITHUB_PUSH_TOKEN", "push-0123456789abcdef"),
    ]);
    let config = Config::parse(&doc, Path::new("weir.toml"), env).unwrap();
    let github = config.source("github");
    assert!(config.http.admin_token.is_some());
    assert!(github.push.hmac_secret.is_some() && github.push.token.is_some());
    assert_eq!(github.options.priority, 10);
    assert_eq!(github.provider_name, "github");
    let limits = Limits {
        deadline: Duration::from_secs(30),
        ..Limits::default()
    };
    assert_eq!(github.settings.limits, limits);
    assert_eq!(config.limits, Limits::default());
    assert_eq!(github.settings.secrets["webhook"], "from-a-file");
    assert_eq!(github.settings.secrets["app-key"], "k");
    assert_eq!(github.options.reject_removals_above_percentage, Some(10.0));
    // The documented store settings are the defaults.
    assert_eq!(config.store, crate::store::StoreSettings::default());
    let outbound = &github.settings.outbound;
    assert_eq!(outbound.hosts.len(), 3);
    assert!(outbound.allows("https", "api.github.com", 443));
    assert!(outbound.allows("http", "example.com", 8443));
    assert!(outbound.allows("https", "x.y", 443) && !outbound.allows("http", "x.y", 80));
    assert!(!outbound.allow_private);
    assert_eq!(outbound.request_timeout, Duration::from_secs(30));
    assert_eq!(outbound.max_concurrent_requests, 16);
    assert_eq!(outbound.max_response_bytes, 64 << 20);
    // The documented HTTP and push values are the defaults.
    let defaults = crate::http::HttpSettings::default();
    let http = &config.http;
    assert_eq!(
        (http.max_connections, http.max_long_polls),
        (defaults.max_connections, defaults.max_long_polls)
    );
    assert_eq!(
        [
            http.header_timeout,
            http.body_timeout,
            http.request_budget,
            http.shutdown_timeout
        ],
        [
            defaults.header_timeout,
            defaults.body_timeout,
            defaults.request_budget,
            defaults.shutdown_timeout
        ]
    );
    assert!(http.allowed_origins.is_empty());
    let push = PushSettings {
        hmac_secret: github.push.hmac_secret.clone(),
        token: github.push.token.clone(),
        ..PushSettings::default()
    };
    assert_eq!(github.push, push);
}

#[test]
fn outbound_grants_nothing_by_default_and_reads_its_keys() {
    let none = source("");
    assert_eq!(
        none.settings.outbound,
        crate::runtime::OutboundGrant::default()
    );
    assert!(none.settings.outbound.hosts.is_empty());

    let granted = source(
        "[sources.s.outbound]\nhosts = [\"127.0.0.1:8080\", \"http://[::1]:9000\"]\n\
         allowPrivateNetworks = true\nrequestTimeout = \"2s\"\n",
    );
    let outbound = &granted.settings.outbound;
    assert!(outbound.allow_private);
    assert_eq!(outbound.request_timeout, Duration::from_secs(2));
    assert!(outbound.allows("http", "127.0.0.1", 8080));
    assert!(outbound.allows("http", "::1", 9000) && !outbound.allows("https", "::1", 9000));
}

#[test]
fn outbound_errors_name_the_key() {
    for (text, expected) in [
        (
            "hosts = [\"ftp://x.y\"]",
            "weir.toml: sources.s.outbound.hosts[0]: \"ftp://x.y\": the scheme must be http or https",
        ),
        (
            "hosts = [\"a.b\", \"x.y/path\"]",
            "weir.toml: sources.s.outbound.hosts[1]: \"x.y/path\": expected a host name",
        ),
        (
            "hosts = \"a.b\"",
            "weir.toml: sources.s.outbound.hosts: expected an array",
        ),
        (
            "allowPrivateNetworks = \"yes\"",
            "weir.toml: sources.s.outbound.allowPrivateNetworks: expected true or false",
        ),
        (
            "requestTimeout = \"0s\"",
            "weir.toml: sources.s.outbound.requestTimeout: must be longer than zero",
        ),
        (
            "timeout = \"1s\"",
            "weir.toml: sources.s.outbound.timeout: unknown key",
        ),
    ] {
        let message = error(&format!("[sources.s.outbound]\n{text}\n"));
        assert!(message.starts_with(expected), "{text}: {message}");
    }
}

#[test]
fn a_source_without_a_section_gets_every_default() {
    let config = parse(FULL_WITHOUT_SECRETS).unwrap();
    let other = config.source("not-configured");
    assert_eq!(other.options, SourceOptions::default());
    assert_eq!(other.settings.limits, Limits::default());
    assert!(other.settings.config.is_empty() && other.settings.secrets.is_empty());

    // An empty section is the same as none.
    let empty = source("");
    assert_eq!(empty.options, SourceOptions::default());
    assert_eq!(empty.settings.limits, Limits::default());
}

const FULL_WITHOUT_SECRETS: &str = "[sources.github]\npriority = 1\n";

#[test]
fn environment_variables_override_the_file() {
    let text = "database = \"sqlite://file.db\"\nplugins = \"p\"\nlisten = \"127.0.0.1:1\"\n";
    let env = env_of(&[
        ("WEIR_DATABASE_URL", "postgres://elsewhere/weir"),
        ("WEIR_PLUGINS", "/opt/plugins"),
        ("WEIR_LISTEN", "[::1]:9999"),
    ]);
    let config = Config::parse(text, Path::new("weir.toml"), env).unwrap();
    assert_eq!(config.database, "postgres://elsewhere/weir");
    assert_eq!(config.plugins, PathBuf::from("/opt/plugins"));
    assert_eq!(config.listen, "[::1]:9999".parse::<SocketAddr>().unwrap());

    // Each one alone, without a file.
    let env = env_of(&[("WEIR_PLUGINS", "elsewhere")]);
    let config = Config::parse("", Path::new("weir.toml"), env).unwrap();
    assert_eq!(config.plugins, PathBuf::from("elsewhere"));
    assert_eq!(config.database, "sqlite://weir.db");
}

#[test]
fn invalid_overrides_name_the_variable() {
    for (variable, value, reason) in [
        (
            "WEIR_LISTEN",
            "localhost",
            "invalid socket address \"localhost\"",
        ),
        ("WEIR_DATABASE_URL", "", "must not be empty"),
        ("WEIR_PLUGINS", "", "must not be empty"),
    ] {
        let env = env_of(&[(variable, value)]);
        let error = Config::parse("", Path::new("weir.toml"), env).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("environment variable {variable}: ")),
            "{message}"
        );
        assert!(message.contains(reason), "{message}");
    }
}

#[test]
fn secrets_are_read_from_the_environment() {
    let text = "[sources.github.secrets]\ntoken = \"GH_TOKEN\"\nkey = \"GH_KEY\"\n";
    let env = env_of(&[("GH_TOKEN", "t0ken-value"), ("GH_KEY", "k3y-value")]);
    let config = Config::parse(text, Path::new("weir.toml"), env).unwrap();
    let settings = config.source("github").settings;
    assert_eq!(settings.secrets["token"], "t0ken-value");
    assert_eq!(settings.secrets["key"], "k3y-value");

    let shown = format!("{config:?}");
    assert!(shown.contains("token"), "{shown}");
    assert!(
        !shown.contains("t0ken-value") && !shown.contains("k3y-value"),
        "{shown}"
    );
}

#[test]
fn a_missing_secret_variable_names_the_source_the_secret_and_the_variable() {
    let text = "[sources.github.secrets]\ntoken = \"GH_TOKEN\"\nkey = \"GH_KEY\"\n";
    // GH_KEY is set (and must not leak); GH_TOKEN is not.
    let env = env_of(&[("GH_KEY", "k3y-value")]);
    let error = Config::parse(text, Path::new("weir.toml"), env).unwrap_err();
    match &error {
        ConfigError::MissingSecret {
            source_name,
            secret,
            variable,
            ..
        } => {
            assert_eq!(source_name, "github");
            assert_eq!(secret, "token");
            assert_eq!(variable, "GH_TOKEN");
        }
        other => panic!("expected MissingSecret, got {other:?}"),
    }
    let message = error.to_string();
    assert_eq!(
        message,
        "weir.toml: sources.github.secrets.token: environment variable GH_TOKEN is not set"
    );
    assert!(!format!("{error:?}").contains("k3y-value"));
}

#[test]
fn a_secret_must_name_a_variable() {
    let message = error("[sources.github.secrets]\ntoken = 42\n");
    assert!(
        message.starts_with(
            "weir.toml: sources.github.secrets.token: expected an environment variable's name, \
             or { env = \"NAME\" } or { file = \"PATH\" }"
        ),
        "{message}"
    );
    let message = error("[sources.github.secrets]\ntoken = \"\"\n");
    assert!(
        message.starts_with(
            "weir.toml: sources.github.secrets.token: expected the name of an environment variable"
        ),
        "{message}"
    );
    let message = error("[sources.github.secrets]\ntoken = { env = \"A\", file = \"b\" }\n");
    assert!(
        message.starts_with(
            "weir.toml: sources.github.secrets.token: set exactly one of `env` and `file`"
        ),
        "{message}"
    );
}

#[test]
fn secrets_are_read_from_a_variable_or_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("github");
    std::fs::write(&file, "from-a-file\n").unwrap();
    let text = format!(
        "[sources.github.secrets]\nfile = {{ file = {:?} }}\nenv = {{ env = \"GH\" }}\n",
        file.display().to_string()
    );
    let config =
        Config::parse(&text, Path::new("weir.toml"), env_of(&[("GH", "from-env")])).unwrap();
    let secrets = config.source("github").settings.secrets;
    assert_eq!(secrets["file"], "from-a-file");
    assert_eq!(secrets["env"], "from-env");
    let missing = dir.path().join("missing");
    let text = format!(
        "[sources.github.secrets]\ntoken = {{ file = {:?} }}\n",
        missing.display().to_string()
    );
    let message = error(&text);
    assert!(
        message.starts_with("weir.toml: sources.github.secrets.token: cannot read the secret file"),
        "{message}"
    );
}

#[test]
fn the_global_limits_are_every_sources_budgets() {
    let config = parse("[limits]\nfuel = 5\n[sources.github.limits]\ndeadline = \"2s\"\n").unwrap();
    let github = config.source("github").settings.limits;
    assert_eq!((github.fuel, github.deadline), (5, Duration::from_secs(2)));
    assert_eq!(config.source("other").settings.limits.fuel, 5);
}

#[test]
fn every_duration_and_size_has_a_ceiling() {
    for (text, key) in [
        (
            "[sources.s]\nburstLength = \"2h\"",
            "sources.s.burstLength: must be at most 1h",
        ),
        (
            "[sources.s]\nburstInterval = \"2d\"",
            "sources.s.burstInterval: must be at most 1day",
        ),
        (
            "[sources.s]\nrestLength = \"300000000000y\"",
            "sources.s.restLength: must be at most",
        ),
        (
            "[sources.s]\nbackoff = [\"1y\"]",
            "sources.s.backoff[0]: must be at most",
        ),
        (
            "[sources.s]\nexpireAfter = \"11y\"",
            "sources.s.expireAfter: must be at most",
        ),
        (
            "[limits]\ndeadline = \"2h\"",
            "limits.deadline: must be at most 1h",
        ),
        (
            "[limits]\nfuel = 9223372036854775807",
            "limits.fuel: must be from 0 to",
        ),
        (
            "[limits]\nmemory = \"5GiB\"",
            "limits.memory: must be at most",
        ),
        (
            "[limits]\nmaxEntityBytes = \"1GiB\"",
            "limits.maxEntityBytes: must be at most",
        ),
        (
            "[sources.s.outbound]\nmaxConcurrentRequests = 0",
            "sources.s.outbound.maxConcurrentRequests: must be from 1",
        ),
        (
            "[sources.s.outbound]\nrequestTimeout = \"2h\"",
            "sources.s.outbound.requestTimeout: must be at most 1h",
        ),
        (
            "[http]\ntombstoneRetention = \"200y\"",
            "http.tombstoneRetention: must be at most",
        ),
    ] {
        let message = error(text);
        assert!(
            message.starts_with(&format!("weir.toml: {key}")),
            "{text}: {message}"
        );
    }
}

#[test]
fn the_database_password_is_not_in_debug_output() {
    let env = env_of(&[("WEIR_DATABASE_URL", "postgres://weir:hunter2@db/weir")]);
    let config = Config::parse("", Path::new("weir.toml"), env).unwrap();
    assert_eq!(config.database, "postgres://weir:hunter2@db/weir");
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("postgres://weir:***@db/weir"), "{shown}");
    assert!(format!("{:?}", parse("").unwrap()).contains("sqlite://weir.db"));
}

#[test]
fn unknown_keys_are_named() {
    for (text, key) in [
        ("databse = \"x\"\n", "weir.toml: databse: unknown key"),
        (
            "[sources.github]\nburstLenght = \"3s\"\n",
            "weir.toml: sources.github.burstLenght: unknown key",
        ),
        (
            "[sources.github]\nburst_length = \"3s\"\n",
            "weir.toml: sources.github.burst_length: unknown key",
        ),
        (
            "[sources.github.limits]\nmaxMemory = 1\n",
            "weir.toml: sources.github.limits.maxMemory: unknown key",
        ),
    ] {
        let message = error(text);
        assert!(message.starts_with(key), "{message}");
    }
    let message = error("[sources.github]\nburstLenght = \"3s\"\n");
    assert!(
        message.contains("`burstLength`"),
        "lists the known keys: {message}"
    );
}

#[test]
fn rest_length_and_schedule_together_are_refused() {
    let message = error("[sources.s]\nrestLength = \"1d\"\nschedule = \"0 * * * *\"\n");
    assert_eq!(
        message,
        "weir.toml: sources.s.schedule: set either restLength or schedule, not both"
    );
}

#[test]
fn a_bad_cron_expression_is_named() {
    for bad in ["every hour", "61 * * * *", ""] {
        let message = error(&format!("[sources.s]\nschedule = \"{bad}\"\n"));
        assert!(
            message.starts_with(&format!(
                "weir.toml: sources.s.schedule: invalid cron expression {bad:?}: "
            )),
            "{message}"
        );
    }
    // Seconds are optional.
    assert!(matches!(
        source("schedule = \"30 0 */6 * * *\"").options.rest,
        Rest::Schedule(_)
    ));
}

#[test]
fn zero_is_allowed_for_the_burst_interval_but_not_the_burst_length() {
    assert_eq!(
        source("burstInterval = \"0s\"").options.burst_interval,
        Duration::ZERO
    );
    assert_eq!(
        source("restLength = \"0s\"").options.rest,
        Rest::For(Duration::ZERO)
    );
    let message = error("[sources.s]\nburstLength = \"0s\"\n");
    assert_eq!(
        message,
        "weir.toml: sources.s.burstLength: must be longer than zero"
    );
}

#[test]
fn durations_take_humantime_units() {
    let options = source(
        "burstLength = \"1ms\"\nburstInterval = \"10m\"\nexpireAfter = \"1d\"\nbackoff = [\"3h\"]",
    )
    .options;
    assert_eq!(options.burst_length, Duration::from_millis(1));
    assert_eq!(options.burst_interval, Duration::from_secs(600));
    assert_eq!(options.expire_after, Duration::from_secs(86_400));
    assert_eq!(options.backoff, [Duration::from_secs(3 * 3600)]);
}

#[test]
fn durations_take_backstages_human_duration_tables() {
    let options = source(
        "burstLength = { seconds = 3 }\nburstInterval = { minutes = 10 }\n\
         restLength = { hours = 1, minutes = 30 }\nexpireAfter = { days = 1.5 }\n\
         backoff = [{ seconds = 5 }, \"30s\", { milliseconds = 250 }]",
    )
    .options;
    assert_eq!(options.burst_length, Duration::from_secs(3));
    assert_eq!(options.burst_interval, Duration::from_secs(600));
    assert!(
        matches!(options.rest, crate::engine::Rest::For(rest) if rest == Duration::from_secs(5400)),
        "{:?}",
        options.rest
    );
    assert_eq!(options.expire_after, Duration::from_secs(36 * 3600));
    assert_eq!(
        options.backoff,
        [
            Duration::from_secs(5),
            Duration::from_secs(30),
            Duration::from_millis(250)
        ]
    );
    // The [http] and [limits] durations, the new purge interval among them.
    let config = parse(
        "[limits]\ndeadline = { seconds = 20 }\n[http]\npurgeInterval = { minutes = 5 }\n\
         tombstoneRetention = { weeks = 2 }\nmaxWait = { seconds = 30 }\n",
    )
    .unwrap();
    assert_eq!(config.http.purge_interval, Duration::from_secs(300));
    assert_eq!(
        config.http.tombstone_retention,
        Some(Duration::from_secs(14 * 86_400))
    );
    assert_eq!(config.http.max_wait, Duration::from_secs(30));
    assert_eq!(
        parse("").unwrap().http.purge_interval,
        Duration::from_secs(3600)
    );
    // A manifest takes them too.
    let manifest = "burstLength = { seconds = 2 }\nbackoff = [{ minutes = 1 }]\n";
    let source = parse("")
        .unwrap()
        .source_with_manifest("s", Some((Path::new("plugins/s.toml"), manifest)))
        .unwrap();
    assert_eq!(source.options.burst_length, Duration::from_secs(2));
    assert_eq!(source.options.backoff, [Duration::from_secs(60)]);
}

#[test]
fn bad_duration_tables_name_the_key_the_unit_and_the_reason() {
    for (text, expected) in [
        (
            "[sources.s]\nburstLength = { secs = 3 }",
            "weir.toml: sources.s.burstLength.secs: unknown unit `secs` of a duration; expected \
             one or more of years, months, weeks, days, hours, minutes, seconds, milliseconds",
        ),
        (
            "[sources.s]\nrestLength = { minutes = -10 }",
            "weir.toml: sources.s.restLength.minutes: must not be negative, got -10",
        ),
        (
            "[sources.s]\nbackoff = [\"5s\", { milliseconds = 1.5 }]",
            "weir.toml: sources.s.backoff[1].milliseconds: 1.5 milliseconds is not a whole \
             number of milliseconds",
        ),
        (
            "[sources.s]\nburstLength = { hours = 2 }",
            "weir.toml: sources.s.burstLength: must be at most 1h, got 2h",
        ),
        (
            "[sources.s]\nburstLength = { seconds = 0 }",
            "weir.toml: sources.s.burstLength: must be longer than zero",
        ),
        (
            "[sources.s]\nexpireAfter = {}",
            "weir.toml: sources.s.expireAfter: an empty table is no duration",
        ),
        (
            "[sources.s]\nburstLength = { seconds = \"3\" }",
            "weir.toml: sources.s.burstLength.seconds: expected a number, found the string \"3\"",
        ),
        (
            "[sources.s]\nburstLength = 3",
            "weir.toml: sources.s.burstLength: expected a duration such as \"3s\", \"10m\" or \
             { minutes = 10 }, found the integer 3",
        ),
        (
            "[http]\npurgeInterval = { days = 2 }",
            "weir.toml: http.purgeInterval: must be at most 1day, got 2days",
        ),
        (
            "[http]\npurgeInterval = \"0s\"",
            "weir.toml: http.purgeInterval: must be longer than zero",
        ),
    ] {
        let message = error(text);
        assert!(message.starts_with(expected), "{text}:\n{message}");
    }
}

#[test]
fn percentages_are_integers_or_floats_from_0_to_100() {
    let share = |text: &str| {
        source(&format!("rejectRemovalsAbovePercentage = {text}"))
            .options
            .reject_removals_above_percentage
    };
    assert_eq!(share("0"), Some(0.0));
    assert_eq!(share("100"), Some(100.0));
    assert_eq!(share("33.3"), Some(33.3));
}

#[test]
fn sizes_are_bytes_or_units() {
    let limits = source(
        "[sources.s.limits]\nmemory = 4096\nmaxPageBytes = \"1 MiB\"\nmaxCursorBytes = \"2KiB\"",
    )
    .settings
    .limits;
    assert_eq!(limits.max_memory_bytes, 4096);
    assert_eq!(limits.max_page_bytes, 1 << 20);
    assert_eq!(limits.max_cursor_bytes, 2 << 10);
    assert_eq!(limits.fuel, Limits::default().fuel);
}

#[test]
fn each_invalid_value_is_named_with_its_key_and_reason() {
    let cases: &[(&str, &str)] = &[
        (
            "listen = \"localhost:7007\"",
            "listen: invalid socket address \"localhost:7007\"",
        ),
        (
            "listen = 7007",
            "listen: expected a string, found the integer 7007",
        ),
        (
            "database = \"\"",
            "database: the database URL must not be empty",
        ),
        (
            "plugins = \"\"",
            "plugins: the plugin folder must not be empty",
        ),
        (
            "maxConcurrentBursts = 0",
            "maxConcurrentBursts: must be at least 1",
        ),
        (
            "maxConcurrentBursts = -2",
            "maxConcurrentBursts: must not be negative, got -2",
        ),
        (
            "maxConcurrentBursts = \"2\"",
            "maxConcurrentBursts: expected an integer, found the string \"2\"",
        ),
        (
            "sources = 1",
            "sources: expected a table, found the integer 1",
        ),
        (
            "[sources]\ngithub = \"x\"",
            "sources.github: expected a table, found the string \"x\"",
        ),
        (
            "[sources.\"a/b\"]",
            "sources.\"a/b\": a source is named by its plugin's file stem",
        ),
        (
            "[sources.\"\"]",
            "sources.\"\": a source is named by its plugin's file stem",
        ),
        (
            "[sources.github]\npriority = \"high\"",
            "sources.github.priority: expected an integer",
        ),
        (
            "[sources.github]\nownerRule = 1",
            "sources.github.ownerRule: expected true or false, found the integer 1",
        ),
        (
            "[sources.github]\nkinds = \"Component\"",
            "sources.github.kinds: expected an array",
        ),
        (
            "[sources.github]\nkinds = [\"Component\", 3]",
            "sources.github.kinds[1]: expected a string",
        ),
        (
            "[sources.github]\nnamespaces = [\"\"]",
            "sources.github.namespaces[0]: must not be empty",
        ),
        (
            "[sources.github]\nburstLength = \"3 parsecs\"",
            "sources.github.burstLength: invalid duration \"3 parsecs\": ",
        ),
        (
            "[sources.github]\nburstLength = 3",
            "sources.github.burstLength: expected a duration",
        ),
        (
            "[sources.github]\nburstInterval = \"soon\"",
            "sources.github.burstInterval: invalid duration \"soon\"",
        ),
        (
            "[sources.github]\nrestLength = \"-1s\"",
            "sources.github.restLength: invalid duration \"-1s\"",
        ),
        (
            "[sources.github]\nexpireAfter = \"\"",
            "sources.github.expireAfter: invalid duration \"\"",
        ),
        (
            "[sources.github]\nbackoff = []",
            "sources.github.backoff: needs at least one duration",
        ),
        (
            "[sources.github]\nbackoff = \"5s\"",
            "sources.github.backoff: expected an array",
        ),
        (
            "[sources.github]\nbackoff = [\"5s\", \"later\"]",
            "sources.github.backoff[1]: invalid duration \"later\"",
        ),
        (
            "[sources.github]\nrejectRemovalsAbovePercentage = 101",
            "sources.github.rejectRemovalsAbovePercentage: must be from 0 to 100, got 101",
        ),
        (
            "[sources.github]\nrejectRemovalsAbovePercentage = -0.5",
            "sources.github.rejectRemovalsAbovePercentage: must be from 0 to 100, got -0.5",
        ),
        (
            "[sources.github]\nrejectRemovalsAbovePercentage = nan",
            "sources.github.rejectRemovalsAbovePercentage: must be from 0 to 100, got NaN",
        ),
        (
            "[sources.github]\nrejectRemovalsAbovePercentage = \"10%\"",
            "sources.github.rejectRemovalsAbovePercentage: expected a number from 0 to 100",
        ),
        (
            "[sources.github]\nrejectEmptySourceCollections = \"yes\"",
            "sources.github.rejectEmptySourceCollections: expected true or false",
        ),
        (
            "[sources.github]\nlimits = 1",
            "sources.github.limits: expected a table",
        ),
        (
            "[sources.github.limits]\nfuel = -1",
            "sources.github.limits.fuel: must be from 0 to 1000000000000000, got -1",
        ),
        (
            "[sources.github.limits]\nfuel = 1.5",
            "sources.github.limits.fuel: expected an integer, found the number 1.5",
        ),
        (
            "[sources.github.limits]\ndeadline = \"1 fortnight\"",
            "sources.github.limits.deadline: invalid duration \"1 fortnight\"",
        ),
        (
            "[sources.github.limits]\nmemory = \"lots\"",
            "sources.github.limits.memory: invalid size \"lots\"",
        ),
        (
            "[sources.github.limits]\nmemory = -1",
            "sources.github.limits.memory: must not be negative, got -1",
        ),
        (
            "[sources.github.limits]\nmaxEntitiesPerPage = -5",
            "sources.github.limits.maxEntitiesPerPage: must not be negative",
        ),
        (
            "[sources.github.limits]\nmaxPageBytes = true",
            "sources.github.limits.maxPageBytes: expected a size",
        ),
        (
            "[sources.github.limits]\nmaxCursorBytes = \"64 parsecs\"",
            "sources.github.limits.maxCursorBytes: invalid size \"64 parsecs\"",
        ),
        (
            "[sources.github]\nconfig = [1]",
            "sources.github.config: expected a table, found an array",
        ),
        (
            "[sources.github.config]\nteams = [\"a\"]",
            "sources.github.config.teams: expected a string, number or boolean, found an array",
        ),
        (
            "[sources.github.config]\n\"\" = \"x\"",
            "sources.github.config.\"\": a config key must not be empty",
        ),
        (
            "[sources.github]\nsecrets = \"GH_TOKEN\"",
            "sources.github.secrets: expected a table",
        ),
        (
            "[sources.\"my source\"]\npriority = \"x\"",
            "sources.\"my source\".priority: expected an integer",
        ),
    ];
    for (text, expected) in cases {
        let message = error(text);
        assert!(
            message.starts_with(&format!("weir.toml: {expected}")),
            "for {text:?}:\n  got      {message}\n  expected weir.toml: {expected}…"
        );
    }
}

#[test]
fn the_documented_error_example_holds() {
    let message = error("[sources.github]\nburstLength = \"3 parsecs\"\n");
    assert!(
        message
            .starts_with("weir.toml: sources.github.burstLength: invalid duration \"3 parsecs\": "),
        "{message}"
    );
}

#[test]
fn syntax_errors_give_the_line_and_column() {
    let error = parse("listen = \"127.0.0.1:7007\"\npriority = \n").unwrap_err();
    match &error {
        ConfigError::Syntax { line, .. } => assert_eq!(*line, 2),
        other => panic!("expected a syntax error, got {other:?}"),
    }
    assert!(
        error.to_string().starts_with("weir.toml: line 2, column "),
        "{error}"
    );

    let message = parse("a = 1\na = 2\n").unwrap_err().to_string();
    assert!(message.starts_with("weir.toml: line 2"), "{message}");
}

#[test]
fn line_and_column_count_characters() {
    assert_eq!(line_and_column("abc", 0), (1, 1));
    assert_eq!(line_and_column("ab\ncd", 4), (2, 2));
    assert_eq!(line_and_column("é\nxé", 5), (2, 3));
    assert_eq!(line_and_column("ab", 99), (1, 3));
}

#[test]
fn config_values_become_text() {
    let config = source(
        "[sources.s.config]\ns = \"x\"\ni = -7\nf = 2.0\nb = true\nd = 1979-05-27\nempty = \"\"",
    )
    .settings
    .config;
    assert_eq!(config["s"], "x");
    assert_eq!(config["i"], "-7");
    assert_eq!(config["f"], "2.0");
    assert_eq!(config["b"], "true");
    assert_eq!(config["d"], "1979-05-27");
    assert_eq!(config["empty"], "");
}

#[test]
fn source_names_may_hold_dots_and_dashes() {
    let config =
        parse("[sources.\"team.catalog\"]\npriority = 1\n[sources.hr-system]\npriority = 2\n")
            .unwrap();
    assert_eq!(config.source("team.catalog").options.priority, 1);
    assert_eq!(config.source("hr-system").options.priority, 2);
}

#[test]
fn the_http_section_reads_tokens_from_the_environment() {
    use crate::http::{ReadAccess, Secret};
    let env = env_of(&[
        ("ADMIN", "admin-0123456789abcdef"),
        ("HOOK", "hook-0123456789abcdef"),
        ("SHORT", "short"),
    ]);
    let text = "[http]\nadminToken = \"ADMIN\"\nreadAccess = \"token\"\n\
                tombstoneRetention = \"forever\"\nmaxWait = \"30s\"\n\
                [sources.github.push]\nsecret = \"HOOK\"\n";
    let config = Config::parse(text, Path::new("weir.toml"), &env).unwrap();
    assert_eq!(
        config.http.admin_token,
        Some(Secret::new("admin-0123456789abcdef"))
    );
    assert_eq!(config.http.read_access, ReadAccess::Token);
    assert_eq!(config.http.tombstone_retention, None);
    assert_eq!(config.http.max_wait, Duration::from_secs(30));
    assert_eq!(
        config.source("github").push.hmac_secret,
        Some(Secret::new("hook-0123456789abcdef"))
    );
    // Defaults: open reads, a week of tombstones, no token.
    let plain = parse("").unwrap();
    assert_eq!(plain.http.read_access, ReadAccess::Open);
    assert_eq!(
        plain.http.tombstone_retention,
        Some(Duration::from_secs(7 * 86_400))
    );
    assert!(plain.http.admin_token.is_none());
    // WEIR_ADMIN_TOKEN alone sets the admin token.
    let config = Config::parse(
        "",
        Path::new("weir.toml"),
        env_of(&[("WEIR_ADMIN_TOKEN", "env-0123456789abcdef")]),
    )
    .unwrap();
    assert!(config.http.admin_token.is_some());

    // Errors name the key and never the value.
    let fails = |text: &str| {
        Config::parse(text, Path::new("weir.toml"), &env)
            .unwrap_err()
            .to_string()
    };
    let short = fails("[http]\nadminToken = \"SHORT\"\n");
    assert!(
        short.contains("http.adminToken: SHORT: a token must have at least 16 characters"),
        "{short}"
    );
    assert!(!short.contains("short\""), "{short}");
    let missing = fails("[sources.s.push]\ntoken = \"NOPE\"\n");
    assert!(
        missing.contains("sources.s.push.token: environment variable NOPE is not set"),
        "{missing}"
    );
    assert!(fails("[http]\nreadAccess = \"closed\"\n").contains("http.readAccess"));
    assert!(fails("[http]\ntombstoneRetention = \"0s\"\n").contains("longer than zero"));
    assert!(fails("[http]\nadminTokn = \"ADMIN\"\n").contains("http.adminTokn: unknown key"));
    let empty = Config::parse(
        "",
        Path::new("weir.toml"),
        env_of(&[("WEIR_ADMIN_TOKEN", "")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        empty.starts_with("environment variable WEIR_ADMIN_TOKEN:"),
        "{empty}"
    );
}

/// Any value at any key of a source section, in `weir.toml` or in a
/// manifest, is an error naming it or settings the host can run: never a
/// panic (a duration past the clock's end, a size past memory, NaN).
mod never_panics {
    use proptest::prelude::*;
    use toml::{Table, Value};

    use super::*;

    /// The keys of a source section, with the nested tables' keys.
    const KEYS: &[&str] = &[
        "providerName",
        "priority",
        "ownerRule",
        "kinds",
        "namespaces",
        "burstLength",
        "burstInterval",
        "restLength",
        "schedule",
        "backoff",
        "rejectRemovalsAbovePercentage",
        "rejectEmptySourceCollections",
        "expireAfter",
        "limits",
        "config",
        "secrets",
        "outbound",
        "push",
    ];
    const NESTED: &[&str] = &[
        "fuel",
        "deadline",
        "memory",
        "maxEntitiesPerPage",
        "maxPageBytes",
        "maxCursorBytes",
        "maxEntityBytes",
        "hosts",
        "allowPrivateNetworks",
        "requestTimeout",
        "maxConcurrentRequests",
        "maxResponseBytes",
        "token",
        "secret",
        "env",
        "file",
    ];

    /// Durations and sizes of every magnitude, and other wild text.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            (
                prop_oneof![0u64..10_000, any::<u64>()],
                prop::sample::select(vec![
                    "ns", "ms", "s", "m", "h", "d", "y", "KiB", "GiB", "TiB", ""
                ])
            )
                .prop_map(|(n, unit)| format!("{n}{unit}")),
            "[ -~]{0,24}",
            Just("forever".to_owned()),
            Just("0 */6 * * *".to_owned()),
        ]
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            prop_oneof![0i64..2_000, any::<i64>()].prop_map(Value::Integer),
            any::<f64>().prop_map(Value::Float),
            any::<bool>().prop_map(Value::Boolean),
            text().prop_map(Value::String),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(2, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(NESTED), inner), 0..4).prop_map(
                    |entries| {
                        Value::Table(
                            entries
                                .into_iter()
                                .map(|(key, value)| (key.to_owned(), value))
                                .collect(),
                        )
                    }
                ),
            ]
        })
    }

    fn section() -> impl Strategy<Value = Table> {
        prop::collection::vec((prop::sample::select(KEYS), value()), 0..8).prop_map(|entries| {
            entries
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_source_section_is_an_error_or_runnable_settings(
            operator in section(),
            manifest in section(),
        ) {
            let mut root = Table::new();
            let mut sources = Table::new();
            sources.insert("s".to_owned(), Value::Table(operator));
            root.insert("sources".to_owned(), Value::Table(sources));
            let text = toml::to_string(&root).expect("TOML");
            let env = |_: &str| Some("a-value-from-the-environment".to_owned());
            let Ok(config) = Config::parse(&text, Path::new("weir.toml"), env) else {
                return Ok(());
            };
            let manifest = toml::to_string(&manifest).expect("TOML");
            let file = Path::new("plugins/s.toml");
            if let Ok(source) = config.source_with_manifest("s", Some((file, &manifest))) {
                crate::engine::check_schedule(&source.options, &source.settings.limits);
            }
        }
    }
}

#[test]
fn store_settings_are_read_and_checked() {
    let config = parse(
        "[postgres]\nlockTimeout = \"2s\"\nwriteTimeout = \"9s\"\nkeepalivesCount = 5\n\
         [sqlite]\nbusyTimeout = \"1500ms\"\njournalSizeLimit = \"4MiB\"\n",
    )
    .unwrap();
    let postgres = &config.store.postgres;
    assert_eq!(postgres.lock_timeout, Duration::from_secs(2));
    assert_eq!(postgres.write_timeout, Duration::from_secs(9));
    assert_eq!(postgres.keepalives_count, 5);
    assert_eq!(
        postgres.statement_timeout,
        crate::store::PostgresSettings::default().statement_timeout
    );
    assert_eq!(
        config.store.sqlite.busy_timeout,
        Duration::from_millis(1500)
    );
    assert_eq!(config.store.sqlite.journal_size_limit, 4 << 20);
    for (text, expected) in [
        (
            "[postgres]\nlockTimeout = \"0s\"",
            "postgres.lockTimeout: must be longer than zero",
        ),
        (
            "[postgres]\nkeepalivesCount = 0",
            "postgres.keepalivesCount: must be from 1 to 100",
        ),
        ("[postgres]\nlockTimout = \"1s\"", "lockTimout"),
        ("[sqlite]\njournalSizeLimit = -1", "sqlite.journalSizeLimit"),
    ] {
        let message = error(text);
        assert!(message.contains(expected), "{text}: {message}");
    }
}
