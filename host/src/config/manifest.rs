//! A plugin's manifest: `NAME.toml` beside `NAME.wasm` in the plugins
//! folder holds that source's settings, with the keys of a `[sources.NAME]`
//! section at its root (`priority`, `burstLength`, `[limits]`, `[config]`,
//! `[secrets]`…). The main config's `[sources.NAME]` overrides it key by
//! key; in the tables `limits`, `config`, `secrets` and `push`, entry by
//! entry. An invalid manifest is an error naming the manifest's file and key.
//!
//! Capabilities are not overridden but intersected: a manifest's
//! `[outbound]` is what the plugin asks for, the main config's
//! `[sources.NAME.outbound]` what the operator grants, and the source gets
//! only what both allow (a host the operator's rules cover, private networks
//! only when both allow them, the shorter request timeout). A manifest that
//! asks for nothing leaves the operator's grant as it is; a manifest cannot
//! grant itself anything.

use std::path::Path;

use toml::{Table, Value};

use super::read::{Key, Reader};
use super::{Config, ConfigError, SourceConfig, line_and_column};
use crate::runtime::{HostRule, OutboundGrant};

/// The tables of a source section merged entry by entry rather than replaced.
const MERGED_TABLES: &[&str] = &["limits", "config", "secrets", "push"];

/// Keys of which the main config's one replaces the manifest's other.
const EXCLUSIVE: &[(&str, &str)] = &[("restLength", "schedule"), ("schedule", "restLength")];

impl Config {
    /// The settings of the plugin whose file stem is `stem`: its manifest
    /// (`text`, read from `file`), when it has one, overridden by the main
    /// config's `[sources.STEM]`. `env` resolves the secrets' environment
    /// variables.
    pub fn source_with_manifest(
        &self,
        stem: &str,
        manifest: Option<(&Path, &str)>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<SourceConfig, ConfigError> {
        let Some((file, text)) = manifest else {
            return Ok(self.source(stem));
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
        let reader = Reader { file, env: &env };
        // The manifest alone first, so that an error names its own key.
        let asked = reader.source(stem, &Key::root(), Value::Table(table.clone()))?;
        let asks_outbound = table.contains_key("outbound");
        let mut merged = match self.source_tables.get(stem) {
            Some(main) => merge(table, main),
            None => table,
        };
        merged.remove("outbound");
        let mut source = reader.source(stem, &Key::root(), Value::Table(merged))?;
        let granted = self.source(stem).settings.outbound;
        source.settings.outbound = if asks_outbound {
            intersect(&asked.settings.outbound, &granted)
        } else {
            granted
        };
        Ok(source)
    }
}

/// What both the plugin `asked` for and the operator `granted`.
fn intersect(asked: &OutboundGrant, granted: &OutboundGrant) -> OutboundGrant {
    let mut hosts: Vec<HostRule> = Vec::new();
    for ask in &asked.hosts {
        if granted.hosts.iter().any(|grant| covers(grant, ask)) && !hosts.contains(ask) {
            hosts.push(ask.clone());
        }
    }
    for grant in &granted.hosts {
        if asked.hosts.iter().any(|ask| covers(ask, grant)) && !hosts.contains(grant) {
            hosts.push(grant.clone());
        }
    }
    OutboundGrant {
        hosts,
        allow_private: asked.allow_private && granted.allow_private,
        request_timeout: asked.request_timeout.min(granted.request_timeout),
    }
}

/// Whether every request `narrow` allows, `wide` allows too.
fn covers(wide: &HostRule, narrow: &HostRule) -> bool {
    let host = wide.host == narrow.host
        || wide
            .host
            .strip_prefix("*.")
            .is_some_and(|suffix| narrow.host.ends_with(&format!(".{suffix}")));
    let scheme = wide.scheme.is_none() || wide.scheme == narrow.scheme;
    host && scheme && wide.port == narrow.port
}

/// `manifest` with every key of `main` over it.
fn merge(mut manifest: Table, main: &Table) -> Table {
    for (key, value) in main {
        if let Some((_, other)) = EXCLUSIVE.iter().find(|(name, _)| name == key) {
            manifest.remove(*other);
        }
        match (manifest.get_mut(key), value) {
            (Some(Value::Table(below)), Value::Table(above))
                if MERGED_TABLES.contains(&key.as_str()) =>
            {
                for (name, value) in above {
                    below.insert(name.clone(), value.clone());
                }
            }
            _ => {
                manifest.insert(key.clone(), value.clone());
            }
        }
    }
    manifest
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text, Path::new("weir.toml"), |_| None).unwrap()
    }

    #[test]
    fn the_main_config_overrides_the_manifest_key_by_key() {
        let config = config(
            r#"
[sources.github]
priority = 7
schedule = "0 * * * *"
[sources.github.config]
org = "main"
"#,
        );
        let manifest = r#"
priority = 1
burstLength = "2s"
restLength = "1h"
[config]
org = "manifest"
team = "blue"
[limits]
deadline = "5s"
"#;
        let source = config
            .source_with_manifest(
                "github",
                Some((Path::new("plugins/github.toml"), manifest)),
                |_| None,
            )
            .unwrap();
        assert_eq!(source.options.priority, 7);
        assert_eq!(source.options.burst_length, Duration::from_secs(2));
        assert!(matches!(
            source.options.rest,
            crate::engine::Rest::Schedule(_)
        ));
        assert_eq!(source.settings.config["org"], "main");
        assert_eq!(source.settings.config["team"], "blue");
        assert_eq!(source.settings.limits.deadline, Duration::from_secs(5));
    }

    #[test]
    fn an_invalid_manifest_names_its_file_and_key() {
        let config = config("");
        let error = config
            .source_with_manifest(
                "github",
                Some((Path::new("plugins/github.toml"), "burstLength = \"soon\"")),
                |_| None,
            )
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("plugins/github.toml: burstLength: invalid duration"),
            "{error}"
        );
        let error = config
            .source_with_manifest(
                "github",
                Some((Path::new("plugins/github.toml"), "[limits]\nfeul = 3")),
                |_| None,
            )
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("plugins/github.toml: limits.feul: unknown key"),
            "{error}"
        );
        let error = config
            .source_with_manifest(
                "github",
                Some((Path::new("plugins/github.toml"), "priority = ")),
                |_| None,
            )
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("plugins/github.toml: line 1"), "{error}");
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
"#;
        let source = config
            .source_with_manifest(
                "github",
                Some((Path::new("plugins/github.toml"), manifest)),
                |_| None,
            )
            .unwrap();
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

        // A manifest alone grants nothing.
        let bare = Config::parse("", Path::new("weir.toml"), |_| None).unwrap();
        let source = bare
            .source_with_manifest(
                "github",
                Some((Path::new("plugins/github.toml"), manifest)),
                |_| None,
            )
            .unwrap();
        assert!(source.settings.outbound.hosts.is_empty());
        // No `[outbound]` in the manifest: the operator's grant as it is.
        let source = config
            .source_with_manifest(
                "github",
                Some((Path::new("plugins/github.toml"), "priority = 1")),
                |_| None,
            )
            .unwrap();
        assert_eq!(source.settings.outbound.hosts.len(), 3);
    }

    #[test]
    fn no_manifest_is_the_main_config_alone() {
        let config = config("[sources.github]\npriority = 3\n");
        let source = config
            .source_with_manifest("github", None, |_| None)
            .unwrap();
        assert_eq!(source.options.priority, 3);
    }
}
