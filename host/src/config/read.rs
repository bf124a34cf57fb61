//! From the parsed TOML to typed settings: each value converted and checked,
//! with an error naming its key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::{Table, Value};
use weir_core::intake::Scope;

use super::raw::{RawConfig, RawHttp, RawLimits, RawOutbound, RawPush, RawSource};
use super::{Config, ConfigError, SourceConfig, default_max_concurrent_bursts};
use crate::engine::{Rest, SourceOptions};
use crate::http::{HttpSettings, PushAuth, ReadAccess, Secret};
use crate::runtime::{HostRule, Limits, OutboundGrant, SourceSettings};

const DEFAULT_DATABASE: &str = "sqlite://weir.db";
const DEFAULT_PLUGINS: &str = "plugins";
const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    7007,
));
pub(super) const EMPTY_DATABASE: &str = "the database URL must not be empty";
pub(super) const EMPTY_PLUGINS: &str = "the plugin folder must not be empty";

/// A key's dotted path, e.g. `sources.github.backoff[2]`; a segment that is
/// not a bare TOML key is quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key(String);

impl Key {
    pub(super) fn root() -> Key {
        Key(String::new())
    }

    pub(super) fn child(&self, name: &str) -> Key {
        let bare = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let segment = if bare {
            name.to_owned()
        } else {
            format!("{name:?}")
        };
        if self.0.is_empty() {
            Key(segment)
        } else {
            Key(format!("{}.{segment}", self.0))
        }
    }

    fn index(&self, index: usize) -> Key {
        Key(format!("{}[{index}]", self.0))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads one file's tables; `env` resolves the secrets.
pub(super) struct Reader<'a, E> {
    pub file: &'a Path,
    pub env: &'a E,
}

impl<E: Fn(&str) -> Option<String>> Reader<'_, E> {
    pub(super) fn config(&self, table: Table) -> Result<Config, ConfigError> {
        let root = Key::root();
        let raw: RawConfig = self.structure(&root, table)?;
        let mut config = Config {
            database: DEFAULT_DATABASE.to_owned(),
            plugins: PathBuf::from(DEFAULT_PLUGINS),
            listen: DEFAULT_LISTEN,
            max_concurrent_bursts: default_max_concurrent_bursts(),
            http: HttpSettings::default(),
            sources: BTreeMap::new(),
            source_tables: BTreeMap::new(),
        };
        if let Some(value) = raw.database {
            let key = root.child("database");
            config.database = self.string(&key, value)?;
            if config.database.is_empty() {
                return Err(self.invalid(&key, EMPTY_DATABASE));
            }
        }
        if let Some(value) = raw.plugins {
            let key = root.child("plugins");
            let plugins = self.string(&key, value)?;
            if plugins.is_empty() {
                return Err(self.invalid(&key, EMPTY_PLUGINS));
            }
            config.plugins = PathBuf::from(plugins);
        }
        if let Some(value) = raw.listen {
            let key = root.child("listen");
            let text = self.string(&key, value)?;
            config.listen = socket_address(&text).map_err(|reason| self.invalid(&key, reason))?;
        }
        if let Some(value) = raw.max_concurrent_bursts {
            let key = root.child("maxConcurrentBursts");
            config.max_concurrent_bursts = self.count(&key, value)?;
            if config.max_concurrent_bursts == 0 {
                return Err(self.invalid(&key, "must be at least 1"));
            }
        }
        if let Some(value) = raw.http {
            config.http = self.http(&root.child("http"), value)?;
        }
        if let Some(value) = raw.sources {
            let key = root.child("sources");
            for (name, section) in self.table(&key, value)? {
                let at = key.child(&name);
                if name.is_empty() || name.contains(['/', '\\']) {
                    return Err(self.invalid(
                        &at,
                        "a source is named by its plugin's file stem: not empty, without '/' or '\\'",
                    ));
                }
                if let Value::Table(table) = &section {
                    config.source_tables.insert(name.clone(), table.clone());
                }
                let source = self.source(&name, &at, section)?;
                config.sources.insert(name, source);
            }
        }
        Ok(config)
    }

    /// A `[sources.NAME]` table (or a plugin's manifest, at the root key).
    pub(super) fn source(
        &self,
        name: &str,
        key: &Key,
        value: Value,
    ) -> Result<SourceConfig, ConfigError> {
        let table = self.table(key, value)?;
        let raw: RawSource = self.structure(key, table)?;
        let mut options = SourceOptions::default();
        let at = |name: &str| key.child(name);
        if let Some(value) = raw.priority {
            options.priority = self.integer(&at("priority"), value)?;
        }
        if let Some(value) = raw.owner_rule {
            options.owner_rule = self.boolean(&at("ownerRule"), value)?;
        }
        options.scope = Scope {
            kinds: raw
                .kinds
                .map(|value| self.names(&at("kinds"), value))
                .transpose()?
                .unwrap_or_default(),
            namespaces: raw
                .namespaces
                .map(|value| self.names(&at("namespaces"), value))
                .transpose()?
                .unwrap_or_default(),
        };
        if let Some(value) = raw.burst_length {
            let key = at("burstLength");
            options.burst_length = self.duration(&key, value)?;
            if options.burst_length.is_zero() {
                return Err(self.invalid(&key, "must be longer than zero"));
            }
        }
        if let Some(value) = raw.burst_interval {
            options.burst_interval = self.duration(&at("burstInterval"), value)?;
        }
        match (raw.rest_length, raw.schedule) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    &at("schedule"),
                    "set either restLength or schedule, not both",
                ));
            }
            (Some(value), None) => {
                options.rest = Rest::For(self.duration(&at("restLength"), value)?);
            }
            (None, Some(value)) => {
                options.rest = Rest::Schedule(Box::new(self.cron(&at("schedule"), value)?));
            }
            (None, None) => {}
        }
        if let Some(value) = raw.backoff {
            let key = at("backoff");
            options.backoff = self
                .array(&key, value)?
                .into_iter()
                .enumerate()
                .map(|(index, value)| self.duration(&key.index(index), value))
                .collect::<Result<_, _>>()?;
            if options.backoff.is_empty() {
                return Err(self.invalid(&key, "needs at least one duration"));
            }
        }
        if let Some(value) = raw.reject_removals_above_percentage {
            options.reject_removals_above_percentage =
                Some(self.percentage(&at("rejectRemovalsAbovePercentage"), value)?);
        }
        if let Some(value) = raw.reject_empty_source_collections {
            options.reject_empty_source_collections =
                self.boolean(&at("rejectEmptySourceCollections"), value)?;
        }
        if let Some(value) = raw.expire_after {
            options.expire_after = self.duration(&at("expireAfter"), value)?;
        }
        let settings = SourceSettings {
            config: raw
                .config
                .map(|value| self.config_values(&at("config"), value))
                .transpose()?
                .unwrap_or_default(),
            secrets: raw
                .secrets
                .map(|value| self.secrets(name, &at("secrets"), value))
                .transpose()?
                .unwrap_or_default(),
            limits: raw
                .limits
                .map(|value| self.limits(&at("limits"), value))
                .transpose()?
                .unwrap_or_default(),
            outbound: raw
                .outbound
                .map(|value| self.outbound(&at("outbound"), value))
                .transpose()?
                .unwrap_or_default(),
        };
        let push = raw
            .push
            .map(|value| self.push(&at("push"), value))
            .transpose()?
            .unwrap_or_default();
        Ok(SourceConfig {
            options,
            settings,
            push,
        })
    }

    /// `[http]`.
    fn http(&self, key: &Key, value: Value) -> Result<HttpSettings, ConfigError> {
        let table = self.table(key, value)?;
        let raw: RawHttp = self.structure(key, table)?;
        let mut http = HttpSettings::default();
        let at = |name: &str| key.child(name);
        if let Some(value) = raw.admin_token {
            http.admin_token = Some(self.secret_token(&at("adminToken"), value)?);
        }
        if let Some(value) = raw.read_token {
            http.read_token = Some(self.secret_token(&at("readToken"), value)?);
        }
        if let Some(value) = raw.read_access {
            let key = at("readAccess");
            http.read_access = match self.string(&key, value)?.as_str() {
                "open" => ReadAccess::Open,
                "token" => ReadAccess::Token,
                other => {
                    return Err(self.invalid(
                        &key,
                        format!("expected \"open\" or \"token\", found {other:?}"),
                    ));
                }
            };
        }
        if let Some(value) = raw.tombstone_retention {
            let key = at("tombstoneRetention");
            http.tombstone_retention = match value {
                Value::String(text) if text == "forever" => None,
                value => {
                    let retention = self.duration(&key, value)?;
                    if retention.is_zero() {
                        return Err(self.invalid(&key, "must be longer than zero (or \"forever\")"));
                    }
                    Some(retention)
                }
            };
        }
        if let Some(value) = raw.max_wait {
            let key = at("maxWait");
            http.max_wait = self.duration(&key, value)?;
            if http.max_wait > Duration::from_secs(600) {
                return Err(self.invalid(&key, "must be at most 10m"));
            }
        }
        Ok(http)
    }

    /// `[sources.NAME.push]`: environment variables holding the source's
    /// push signing key and token.
    fn push(&self, key: &Key, value: Value) -> Result<PushAuth, ConfigError> {
        let table = self.table(key, value)?;
        let raw: RawPush = self.structure(key, table)?;
        let mut push = PushAuth::default();
        if let Some(value) = raw.secret {
            push.hmac_secret = Some(self.secret_token(&key.child("secret"), value)?);
        }
        if let Some(value) = raw.token {
            push.token = Some(self.secret_token(&key.child("token"), value)?);
        }
        Ok(push)
    }

    /// A token or key read from the environment variable `value` names.
    /// The value read never enters an error.
    fn secret_token(&self, key: &Key, value: Value) -> Result<Secret, ConfigError> {
        let variable = self.string(key, value)?;
        if variable.is_empty() || variable.contains(['=', '\0']) {
            return Err(self.invalid(
                key,
                format!("expected the name of an environment variable, found {variable:?}"),
            ));
        }
        let Some(text) = (self.env)(&variable) else {
            return Err(self.invalid(key, format!("environment variable {variable} is not set")));
        };
        token(text).map_err(|reason| self.invalid(key, format!("{variable}: {reason}")))
    }

    /// `[sources.NAME.outbound]`: the hosts the source may reach over HTTP.
    fn outbound(&self, key: &Key, value: Value) -> Result<OutboundGrant, ConfigError> {
        let table = self.table(key, value)?;
        let raw: RawOutbound = self.structure(key, table)?;
        let mut grant = OutboundGrant::default();
        let at = |name: &str| key.child(name);
        if let Some(value) = raw.hosts {
            let key = at("hosts");
            grant.hosts = self
                .array(&key, value)?
                .into_iter()
                .enumerate()
                .map(|(index, value)| {
                    let at = key.index(index);
                    let text = self.string(&at, value)?;
                    HostRule::parse(&text).map_err(|reason| self.invalid(&at, reason))
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(value) = raw.allow_private_networks {
            grant.allow_private = self.boolean(&at("allowPrivateNetworks"), value)?;
        }
        if let Some(value) = raw.request_timeout {
            let key = at("requestTimeout");
            grant.request_timeout = self.duration(&key, value)?;
            if grant.request_timeout.is_zero() {
                return Err(self.invalid(&key, "must be longer than zero"));
            }
        }
        Ok(grant)
    }

    fn limits(&self, key: &Key, value: Value) -> Result<Limits, ConfigError> {
        let table = self.table(key, value)?;
        let raw: RawLimits = self.structure(key, table)?;
        let mut limits = Limits::default();
        let at = |name: &str| key.child(name);
        if let Some(value) = raw.fuel {
            let key = at("fuel");
            let fuel = self.integer(&key, value)?;
            limits.fuel = u64::try_from(fuel)
                .map_err(|_| self.invalid(&key, format!("must not be negative, got {fuel}")))?;
        }
        if let Some(value) = raw.deadline {
            limits.deadline = self.duration(&at("deadline"), value)?;
        }
        if let Some(value) = raw.memory {
            limits.max_memory_bytes = self.size(&at("memory"), value)?;
        }
        if let Some(value) = raw.max_entities_per_page {
            limits.max_entities_per_page = self.count(&at("maxEntitiesPerPage"), value)?;
        }
        if let Some(value) = raw.max_page_bytes {
            limits.max_page_bytes = self.size(&at("maxPageBytes"), value)?;
        }
        if let Some(value) = raw.max_cursor_bytes {
            limits.max_cursor_bytes = self.size(&at("maxCursorBytes"), value)?;
        }
        Ok(limits)
    }

    /// `[sources.NAME.config]`: strings as they are, other scalars as their
    /// TOML text (what `weir run --set key=value` would have given).
    fn config_values(
        &self,
        key: &Key,
        value: Value,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut values = BTreeMap::new();
        for (name, value) in self.table(key, value)? {
            let at = key.child(&name);
            if name.is_empty() {
                return Err(self.invalid(&at, "a config key must not be empty"));
            }
            let text = match value {
                Value::String(text) => text,
                Value::Integer(_) | Value::Float(_) | Value::Boolean(_) | Value::Datetime(_) => {
                    value.to_string()
                }
                Value::Array(_) | Value::Table(_) => {
                    return Err(self.invalid(
                        &at,
                        format!(
                            "expected a string, number or boolean, found {}",
                            found(&value)
                        ),
                    ));
                }
            };
            values.insert(name, text);
        }
        Ok(values)
    }

    /// `[sources.NAME.secrets]`: each names an environment variable, read now.
    /// The values read never enter an error.
    fn secrets(
        &self,
        source: &str,
        key: &Key,
        value: Value,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut secrets = BTreeMap::new();
        for (secret, value) in self.table(key, value)? {
            let at = key.child(&secret);
            if secret.is_empty() {
                return Err(self.invalid(&at, "a secret name must not be empty"));
            }
            let variable = self.string(&at, value)?;
            if variable.is_empty() || variable.contains(['=', '\0']) {
                return Err(self.invalid(
                    &at,
                    format!("expected the name of an environment variable, found {variable:?}"),
                ));
            }
            let Some(secret_value) = (self.env)(&variable) else {
                return Err(ConfigError::MissingSecret {
                    file: self.file.to_owned(),
                    source_name: source.to_owned(),
                    secret,
                    variable,
                });
            };
            secrets.insert(secret, secret_value);
        }
        Ok(secrets)
    }

    fn invalid(&self, key: &Key, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    /// The keys of a table, checked by serde: an unknown one is named.
    fn structure<T: DeserializeOwned>(&self, key: &Key, table: Table) -> Result<T, ConfigError> {
        Value::Table(table).try_into().map_err(|error| {
            let message = error.message().trim();
            // serde's wording: "unknown field `NAME`, expected one of `a`, `b`"
            // (or "expected `a`", or "there are no fields").
            match message
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split_once("`, "))
            {
                Some((name, expected)) => {
                    self.invalid(&key.child(name), format!("unknown key ({expected})"))
                }
                None => self.invalid(key, message),
            }
        })
    }

    fn table(&self, key: &Key, value: Value) -> Result<Table, ConfigError> {
        match value {
            Value::Table(table) => Ok(table),
            other => Err(self.expected(key, "a table", &other)),
        }
    }

    fn array(&self, key: &Key, value: Value) -> Result<Vec<Value>, ConfigError> {
        match value {
            Value::Array(array) => Ok(array),
            other => Err(self.expected(key, "an array", &other)),
        }
    }

    fn string(&self, key: &Key, value: Value) -> Result<String, ConfigError> {
        match value {
            Value::String(text) => Ok(text),
            other => Err(self.expected(key, "a string", &other)),
        }
    }

    fn boolean(&self, key: &Key, value: Value) -> Result<bool, ConfigError> {
        match value {
            Value::Boolean(flag) => Ok(flag),
            other => Err(self.expected(key, "true or false", &other)),
        }
    }

    fn integer(&self, key: &Key, value: Value) -> Result<i64, ConfigError> {
        match value {
            Value::Integer(number) => Ok(number),
            other => Err(self.expected(key, "an integer", &other)),
        }
    }

    /// A non-negative integer.
    fn count(&self, key: &Key, value: Value) -> Result<usize, ConfigError> {
        let number = self.integer(key, value)?;
        usize::try_from(number)
            .map_err(|_| self.invalid(key, format!("must not be negative, got {number}")))
    }

    fn percentage(&self, key: &Key, value: Value) -> Result<f64, ConfigError> {
        let share = match value {
            // Every integer from 0 to 100 converts exactly.
            Value::Integer(number) => number as f64,
            Value::Float(number) => number,
            other => return Err(self.expected(key, "a number from 0 to 100", &other)),
        };
        if (0.0..=100.0).contains(&share) {
            Ok(share)
        } else {
            Err(self.invalid(key, format!("must be from 0 to 100, got {share}")))
        }
    }

    fn duration(&self, key: &Key, value: Value) -> Result<Duration, ConfigError> {
        let text = match value {
            Value::String(text) => text,
            other => {
                return Err(self.expected(key, "a duration such as \"3s\" or \"10m\"", &other));
            }
        };
        humantime::parse_duration(&text).map_err(|error| {
            self.invalid(
                key,
                format!(
                    "invalid duration {text:?}: {error} (e.g. \"500ms\", \"3s\", \"10m\", \"1d\")"
                ),
            )
        })
    }

    fn size(&self, key: &Key, value: Value) -> Result<usize, ConfigError> {
        let bytes = match value {
            Value::Integer(number) => u64::try_from(number)
                .map_err(|_| self.invalid(key, format!("must not be negative, got {number}")))?,
            Value::String(text) => bytesize::ByteSize::from_str(&text)
                .map_err(|error| {
                    self.invalid(
                        key,
                        format!(
                            "invalid size {text:?}: {error} (e.g. 65536, \"64KiB\", \"512MiB\")"
                        ),
                    )
                })?
                .as_u64(),
            other => return Err(self.expected(key, "a size such as \"64KiB\"", &other)),
        };
        usize::try_from(bytes).map_err(|_| self.invalid(key, "too large for this machine"))
    }

    fn cron(&self, key: &Key, value: Value) -> Result<croner::Cron, ConfigError> {
        let text = self.string(key, value)?;
        croner::Cron::from_str(&text).map_err(|error| {
            self.invalid(key, format!("invalid cron expression {text:?}: {error}"))
        })
    }

    /// Kinds or namespaces: non-empty strings, kept in lower case.
    fn names(&self, key: &Key, value: Value) -> Result<Vec<String>, ConfigError> {
        self.array(key, value)?
            .into_iter()
            .enumerate()
            .map(|(index, value)| {
                let at = key.index(index);
                let name = self.string(&at, value)?;
                if name.is_empty() {
                    return Err(self.invalid(&at, "must not be empty"));
                }
                Ok(name.to_ascii_lowercase())
            })
            .collect()
    }

    fn expected(&self, key: &Key, what: &str, value: &Value) -> ConfigError {
        self.invalid(key, format!("expected {what}, found {}", found(value)))
    }
}

/// A token or signing key: at least 16 characters, so it cannot be guessed.
pub(super) fn token(text: String) -> Result<Secret, String> {
    const MIN_CHARS: usize = 16;
    if text.chars().count() < MIN_CHARS {
        return Err(format!(
            "a token must have at least {MIN_CHARS} characters (e.g. `openssl rand -hex 32`)"
        ));
    }
    Ok(Secret::new(text))
}

/// `IP:PORT`, for `listen` and `WEIR_LISTEN`.
pub(super) fn socket_address(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!(
            "invalid socket address {text:?}: expected IP:PORT such as 127.0.0.1:7007 or [::1]:7007"
        )
    })
}

/// A value as an error shows it.
fn found(value: &Value) -> String {
    match value {
        Value::String(text) => format!("the string {text:?}"),
        Value::Integer(number) => format!("the integer {number}"),
        Value::Float(number) => format!("the number {number}"),
        Value::Boolean(flag) => format!("{flag}"),
        Value::Datetime(date) => format!("the date {date}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Table(_) => "a table".to_owned(),
    }
}
