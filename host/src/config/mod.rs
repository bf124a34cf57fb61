//! The configuration of `weir serve`: `weir.toml` loaded into typed settings.
//!
//! Every key is optional; a missing key takes its default. Keys are camelCase
//! (the source options have the names and meaning of Backstage's
//! incremental-ingestion options), and an unknown key is an error naming it.
//!
//! Every key, with its default and limits, is in the configuration
//! reference, `docs/configuration.md` (its example is parsed by a test here).
//!
//! Durations are [`humantime`]'s text (`"500ms"`, `"3s"`, `"10m"`, `"1d"`) or
//! Backstage's `HumanDuration` tables (`{ minutes = 10 }`): see `duration`.
//! A plugin without a `[sources.NAME]` section runs with every default
//! ([`Config::source`]).
//!
//! The environment variables `WEIR_DATABASE_URL`, `WEIR_PLUGINS`,
//! `WEIR_LISTEN` and `WEIR_ADMIN_TOKEN` override `database`, `plugins`,
//! `listen` and `http.adminToken`.
//!
//! Every error names the file and the key, e.g.
//! `weir.toml: sources.github.burstLength: invalid duration "3 parsecs": …`.
//! Secret values never appear in an error or in `Debug` output.

mod duration;
mod grant;
mod manifest;
mod raw;
mod read;
mod section;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use crate::engine::SourceOptions;
use crate::http::{HttpSettings, PushSettings};
use crate::runtime::{Limits, SourceSettings};
use crate::store::StoreSettings;

pub use grant::SettingGrant;
use read::{Key, Reader};
use section::SourceSection;

/// The file read when no `--config` path is given, if it exists.
const DEFAULT_FILE: &str = "weir.toml";

/// The whole configuration of `weir serve`.
#[derive(Clone)]
pub struct Config {
    /// The store's URL: `sqlite://…` or `postgres://…`.
    pub database: String,
    /// The folder of plugin components (relative to the working directory).
    pub plugins: PathBuf,
    /// The HTTP API's address.
    pub listen: SocketAddr,
    /// The global bound on bursts running at once.
    pub max_concurrent_bursts: usize,
    /// The HTTP API's settings (tokens, read access, retention). Its `push`
    /// map is empty here: each source's [`SourceConfig::push`] is keyed by
    /// provider name once the plugins are loaded.
    pub http: HttpSettings,
    /// Every source's budgets unless its own section sets them (`[limits]`
    /// over [`Limits::default`]): the ceilings a manifest may ask under.
    pub limits: Limits,
    /// How the store's connections behave under faults (`[postgres]`,
    /// `[sqlite]`).
    pub store: StoreSettings,
    /// The operator's `[sources.NAME]` sections, by plugin file stem.
    sections: BTreeMap<String, SourceSection>,
}

/// One source's configuration, as the operator granted it: how the engine
/// drives it, and what the runtime grants it.
#[derive(Debug, Clone, Default)]
pub struct SourceConfig {
    /// The provider name its plugin must answer with: the file stem, or the
    /// operator's `providerName`.
    pub provider_name: String,
    pub options: SourceOptions,
    pub settings: SourceSettings,
    /// How pushed events to this source authenticate.
    pub push: PushSettings,
    /// Each setting: what the manifest asked, what the operator granted, and
    /// what the source gets (`weir check` prints it).
    pub grants: Vec<SettingGrant>,
    /// Secrets the manifest named and the operator did not grant: the
    /// source reads none for them.
    pub missing_secrets: Vec<String>,
}

/// Why the configuration could not be loaded. Each names the file (or the
/// environment variable) and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The reason is in the message, not in `source()`, so that a chain
    /// printed with `{:#}` does not repeat it.
    #[error("{}: cannot read the configuration: {error}", file.display())]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: line {line}, column {column}: {reason}", file.display())]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
    /// A key with a value of the wrong type or out of range, or an unknown key.
    #[error("{}: {key}: {reason}", file.display())]
    Invalid {
        file: PathBuf,
        /// The key's dotted path, e.g. `sources.github.burstLength`.
        key: String,
        reason: String,
    },
    #[error("{}: {}: environment variable {variable} is not set", file.display(),
            Key::root().child("sources").child(source_name).child("secrets").child(secret))]
    MissingSecret {
        file: PathBuf,
        source_name: String,
        secret: String,
        variable: String,
    },
    /// An override (`WEIR_LISTEN`…) with an invalid value.
    #[error("environment variable {variable}: {reason}")]
    Env { variable: String, reason: String },
}

impl Config {
    /// Load the configuration. `path` is an explicit `--config` path, which
    /// must exist; `None` reads `weir.toml` in the working directory if it
    /// exists, and otherwise takes every default. `env` looks up environment
    /// variables (the binary passes `|name| std::env::var(name).ok()`): the
    /// overrides `WEIR_DATABASE_URL`, `WEIR_PLUGINS`, `WEIR_LISTEN` and the
    /// variables the secrets name.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        load_from(path, Path::new(DEFAULT_FILE), env)
    }

    /// Parse the text of a configuration file; `file` names it in errors.
    pub fn parse(
        text: &str,
        file: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|error| {
            let (line, column) = line_and_column(text, error.span().map_or(0, |span| span.start));
            ConfigError::Syntax {
                file: file.to_owned(),
                line,
                column,
                reason: error.message().trim().to_owned(),
            }
        })?;
        let mut config = Reader { file, env: &env }.config(table)?;
        apply_overrides(&mut config, &env)?;
        Ok(config)
    }

    /// The configuration of the plugin whose file stem is `stem`, without a
    /// manifest: its `[sources.STEM]` section, or every default when it has
    /// none (see [`Config::source_with_manifest`]).
    pub fn source(&self, stem: &str) -> SourceConfig {
        grant::operator_only(stem, self.sections.get(stem), &self.limits)
    }

    /// Whether the operator wrote a `[sources.STEM]` section.
    pub fn has_section(&self, stem: &str) -> bool {
        self.sections.contains_key(stem)
    }

    /// The file stems of the operator's `[sources.NAME]` sections.
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections.keys().map(String::as_str)
    }
}

/// The global bound on bursts when the file does not set one.
fn default_max_concurrent_bursts() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// [`Config::load`] with the implicit file's path as a parameter (for tests).
fn load_from(
    path: Option<&Path>,
    implicit: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let file = path.unwrap_or(implicit);
    match std::fs::read_to_string(file) {
        Ok(text) => Config::parse(&text, file, env),
        Err(error) if path.is_none() && error.kind() == std::io::ErrorKind::NotFound => {
            Config::parse("", file, env)
        }
        Err(error) => Err(ConfigError::Read {
            file: file.to_owned(),
            error,
        }),
    }
}

fn apply_overrides(
    config: &mut Config,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let invalid = |variable: &str, reason: String| ConfigError::Env {
        variable: variable.to_owned(),
        reason,
    };
    if let Some(database) = env("WEIR_DATABASE_URL") {
        if database.is_empty() {
            return Err(invalid("WEIR_DATABASE_URL", read::EMPTY_DATABASE.into()));
        }
        config.database = database;
    }
    if let Some(plugins) = env("WEIR_PLUGINS") {
        if plugins.is_empty() {
            return Err(invalid("WEIR_PLUGINS", read::EMPTY_PLUGINS.into()));
        }
        config.plugins = PathBuf::from(plugins);
    }
    if let Some(listen) = env("WEIR_LISTEN") {
        config.listen =
            read::socket_address(&listen).map_err(|reason| invalid("WEIR_LISTEN", reason))?;
    }
    if let Some(token) = env("WEIR_ADMIN_TOKEN") {
        config.http.admin_token =
            Some(read::token(token).map_err(|reason| invalid("WEIR_ADMIN_TOKEN", reason))?);
    }
    Ok(())
}

/// 1-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before
        .get(line_start..)
        .map_or(0, |rest| rest.chars().count())
        + 1;
    (line, column)
}

/// `Debug` hides a password in the database URL (as `SourceSettings` hides
/// secret values).
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database", &redacted_url(&self.database))
            .field("plugins", &self.plugins)
            .field("listen", &self.listen)
            .field("max_concurrent_bursts", &self.max_concurrent_bursts)
            .field("http", &self.http)
            .field("limits", &self.limits)
            .field("store", &self.store)
            .field("sections", &self.sections)
            .finish()
    }
}

fn redacted_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => match url.set_password(Some("***")) {
            Ok(()) => url.to_string(),
            Err(()) => "<redacted>".to_owned(),
        },
        Ok(_) => text.to_owned(),
        // Not a URL we can read: it may still hold a password.
        Err(_) if text.contains('@') => "<redacted>".to_owned(),
        Err(_) => text.to_owned(),
    }
}
