//! A plugin's manifest: `NAME.toml` beside `NAME.wasm` in the plugins
//! folder, written by the plugin's author, with the keys of a
//! `[sources.NAME]` section at its root. It asks; the operator's
//! `[sources.NAME]` grants ([`super::grant`] says how each key combines).
//! A manifest never reads the environment, never names a variable or a
//! file, and may not set the keys that are the operator's alone. An invalid
//! manifest is an error naming the manifest's file and key.

use std::path::Path;

use toml::{Table, Value};

use super::read::{Author, Key, Reader};
use super::{Config, ConfigError, SourceConfig, grant, line_and_column};

impl Config {
    /// The settings of the plugin whose file stem is `stem`: what its
    /// manifest (`text`, read from `file`), when it has one, asks, within
    /// what the main config's `[sources.STEM]` grants.
    pub fn source_with_manifest(
        &self,
        stem: &str,
        manifest: Option<(&Path, &str)>,
    ) -> Result<SourceConfig, ConfigError> {
        let operator = self.sections.get(stem);
        let Some((file, text)) = manifest else {
            return Ok(grant::operator_only(stem, operator, &self.limits));
        };
        let table: Table = toml::from_str(text).map_err(|error| {
            let (line, column) = line_and_column(text, error.span().map_or(0, |span| span.start));
            ConfigError::Syntax {
                file: file.to_owned(),
                line,
                column,
                reason: error.message().trim().to_owned(),
            }
        })?;
        // A manifest reads no environment variable.
        let no_env = |_: &str| None;
        let reader = Reader { file, env: &no_env };
        let asked = reader.section(stem, &Key::root(), Value::Table(table), Author::Manifest)?;
        grant::with_manifest(stem, operator, file, &asked, &self.limits)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::time::Duration;

    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text, Path::new("weir.toml"), |_| None).unwrap()
    }

    fn with_manifest(config: &Config, manifest: &str) -> Result<SourceConfig, ConfigError> {
        config.source_with_manifest("github", Some((Path::new("plugins/github.toml"), manifest)))
    }

    fn grant<'a>(source: &'a SourceConfig, key: &str) -> &'a super::super::SettingGrant {
        source
            .grants
            .iter()
            .find(|grant| grant.key == key)
            .unwrap_or_else(|| panic!("no setting {key} in {:?}", source.grants))
    }

    #[test]
    fn a_manifest_lowers_budgets_but_never_raises_them() {
        let config = config(
            r#"
[limits]
memory = "256MiB"
[sources.github.limits]
fuel = 1000
deadline = "10s"
"#,
        );
        let manifest = r#"
burstLength = "1h"
[limits]
fuel = 10
deadline = "1h"
memory = "4GiB"
maxEntityBytes = "2KiB"
"#;
        let source = with_manifest(&config, manifest).unwrap();
        let limits = &source.settings.limits;
        assert_eq!(limits.fuel, 10, "lowered");
        assert_eq!(limits.deadline, Duration::from_secs(10), "not raised");
        assert_eq!(
            limits.max_memory_bytes,
            256 << 20,
            "not raised past [limits]"
        );
        assert_eq!(limits.max_entity_bytes, 2 << 10, "lowered");
        assert_eq!(
            source.options.burst_length,
            Duration::from_secs(3),
            "not raised"
        );
        let deadline = grant(&source, "limits.deadline");
        assert_eq!(deadline.asked.as_deref(), Some("1h"));
        assert_eq!(deadline.granted, "10s");
        assert_eq!(deadline.effective, "10s");
    }

    #[test]
    fn keys_that_are_the_operators_alone_are_refused_in_a_manifest() {
        let config = config("");
        for (text, key) in [
            ("priority = 1000", "priority"),
            ("ownerRule = true", "ownerRule"),
            ("expireAfter = \"3650d\"", "expireAfter"),
            ("providerName = \"other\"", "providerName"),
            ("[push]\ntoken = \"GUESSABLE_TOKEN_VAR\"", "push"),
        ] {
            let error = with_manifest(&config, text).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!(
                    "plugins/github.toml: {key}: only the operator sets this"
                )),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn a_manifest_names_secrets_and_the_operator_grants_them() {
        let read = RefCell::new(Vec::new());
        let env = |name: &str| {
            read.borrow_mut().push(name.to_owned());
            (name == "GITHUB_TOKEN").then(|| "gh-0123456789".to_owned())
        };
        let config = Config::parse(
            "[sources.github.secrets]\ntoken = \"GITHUB_TOKEN\"\n",
            Path::new("weir.toml"),
            env,
        )
        .unwrap();
        read.borrow_mut().clear();
        let source = with_manifest(&config, "secrets = [\"token\", \"webhook\"]").unwrap();
        assert!(
            read.borrow().is_empty(),
            "a manifest read {:?}",
            read.borrow()
        );
        assert_eq!(source.settings.secrets.len(), 1);
        assert_eq!(source.settings.secrets["token"], "gh-0123456789");
        assert_eq!(source.missing_secrets, ["webhook"]);
        let webhook = grant(&source, "secrets.webhook");
        assert_eq!(webhook.asked.as_deref(), Some("asked"));
        assert_eq!(webhook.effective, "none (missing)");
        assert_eq!(grant(&source, "secrets.token").granted, "env GITHUB_TOKEN");
    }

    #[test]
    fn a_manifest_cannot_name_an_environment_variable() {
        let error = with_manifest(&config(""), "[secrets]\nt = \"WEIR_ADMIN_TOKEN\"")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("plugins/github.toml: secrets: a manifest only names the secrets"),
            "{error}"
        );
    }

    #[test]
    fn a_manifest_narrows_the_scope_and_never_widens_it() {
        let narrowed = config("[sources.github]\nkinds = [\"Component\", \"API\"]\n");
        let source = with_manifest(&narrowed, "kinds = [\"component\", \"group\"]").unwrap();
        assert_eq!(source.options.scope.kinds, ["component"]);
        let error = with_manifest(&narrowed, "kinds = [\"Group\"]")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("kinds: asks for group but the operator allows only component, api"),
            "{error}"
        );
        let open = config("");
        let source = with_manifest(&open, "namespaces = [\"ops\"]").unwrap();
        assert_eq!(source.options.scope.namespaces, ["ops"]);
    }

    #[test]
    fn cadence_and_config_are_the_authors_defaults_under_the_operators_settings() {
        let config = config(
            r#"
[sources.github]
schedule = "0 * * * *"
[sources.github.config]
org = "main"
"#,
        );
        let manifest = r#"
burstInterval = "10s"
restLength = "1h"
[config]
org = "manifest"
team = "blue"
"#;
        let source = with_manifest(&config, manifest).unwrap();
        assert_eq!(source.options.burst_interval, Duration::from_secs(10));
        assert!(matches!(
            source.options.rest,
            crate::engine::Rest::Schedule(_)
        ));
        assert_eq!(source.settings.config["org"], "main");
        assert_eq!(source.settings.config["team"], "blue");
    }

    #[test]
    fn an_invalid_manifest_names_its_file_and_key() {
        let config = config("");
        let error = with_manifest(&config, "burstLength = \"soon\"")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("plugins/github.toml: burstLength: invalid duration"),
            "{error}"
        );
        let error = with_manifest(&config, "[limits]\nfeul = 3")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("plugins/github.toml: limits.feul: unknown key"),
            "{error}"
        );
        let error = with_manifest(&config, "priority = ")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("plugins/github.toml: line 1"), "{error}");
        let error = with_manifest(&config, "[limits]\ndeadline = \"300000000000y\"")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("plugins/github.toml: limits.deadline: must be at most 1h"),
            "{error}"
        );
    }

    #[test]
    fn outbound_hosts_are_what_both_the_manifest_and_the_main_config_allow() {
        let config = config(
            r#"
[sources.github.outbound]
hosts = ["api.github.com", "*.example.com", "https://uploads.github.com"]
allowPrivateNetworks = true
requestTimeout = "10s"
"#,
        );
        let manifest = r#"
[outbound]
hosts = ["api.github.com", "evil.com", "a.example.com", "uploads.github.com"]
requestTimeout = "60s"
maxConcurrentRequests = 1024
"#;
        let source = with_manifest(&config, manifest).unwrap();
        let outbound = source.settings.outbound;
        let hosts: Vec<&str> = outbound.hosts.iter().map(|h| h.host.as_str()).collect();
        // `uploads.github.com` asked for either scheme; only HTTPS is granted.
        assert_eq!(
            hosts,
            ["api.github.com", "a.example.com", "uploads.github.com"]
        );
        assert_eq!(
            outbound.hosts[2].scheme.as_deref(),
            Some("https"),
            "{outbound:?}"
        );
        assert!(!outbound.allow_private, "the manifest did not ask");
        assert_eq!(outbound.request_timeout, Duration::from_secs(10));
        assert_eq!(
            outbound.max_concurrent_requests,
            crate::runtime::DEFAULT_MAX_CONCURRENT_REQUESTS
        );

        // A manifest alone grants nothing.
        let bare = super::super::Config::parse("", Path::new("weir.toml"), |_| None).unwrap();
        let source = with_manifest(&bare, manifest).unwrap();
        assert!(source.settings.outbound.hosts.is_empty());
        // No `[outbound]` in the manifest: the operator's grant as it is.
        let source = with_manifest(&config, "burstInterval = \"1s\"").unwrap();
        assert_eq!(source.settings.outbound.hosts.len(), 3);
    }

    #[test]
    fn no_manifest_is_the_main_config_alone() {
        let config = config("[sources.github]\npriority = 3\nproviderName = \"gh\"\n");
        let source = config.source_with_manifest("github", None).unwrap();
        assert_eq!(source.options.priority, 3);
        assert_eq!(source.provider_name, "gh");
        assert_eq!(config.source("other").provider_name, "other");
    }
}
