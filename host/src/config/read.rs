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

use super::duration;
use super::raw::{
    RawConfig, RawHttp, RawLimits, RawOutbound, RawPostgres, RawPush, RawSecret, RawSource,
    RawSqlite,
};
use super::section::{GrantedSecret, LimitsSection, SecretOrigin, SourceSection};
use super::{Config, ConfigError, default_max_concurrent_bursts};
use crate::engine::Rest;
use crate::http::{HttpSettings, PushSettings, ReadAccess, Secret};
use crate::runtime::{HostRule, Limits, OutboundGrant};
use crate::store::{PostgresSettings, SqliteSettings, StoreSettings};

const DEFAULT_DATABASE: &str = "sqlite://weir.db";
const DEFAULT_PLUGINS: &str = "plugins";
const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    7007,
));
pub(super) const EMPTY_DATABASE: &str = "the database URL must not be empty";

/// The largest value of each duration and size a source section may set:
/// far beyond any real use, and far within what the host's clocks and
/// counters can add (a longer duration could overflow them).
const HOUR: Duration = Duration::from_secs(60 * 60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);
pub(super) const MAX_BURST_LENGTH: Duration = HOUR;
pub(super) const MAX_BURST_INTERVAL: Duration = DAY;
pub(super) const MAX_REST_LENGTH: Duration = Duration::from_secs(366 * 24 * 60 * 60);
pub(super) const MAX_BACKOFF_STEP: Duration = Duration::from_secs(30 * 24 * 60 * 60);
pub(super) const MAX_BACKOFF_STEPS: usize = 32;
pub(super) const MAX_EXPIRE_AFTER: Duration = Duration::from_secs(3650 * 24 * 60 * 60);
pub(super) const MAX_DEADLINE: Duration = HOUR;
pub(super) const MAX_REQUEST_TIMEOUT: Duration = HOUR;
pub(super) const MAX_PURGE_INTERVAL: Duration = DAY;
pub(super) const MAX_TOMBSTONE_RETENTION: Duration = Duration::from_secs(36_500 * 24 * 60 * 60);
pub(super) const MAX_FUEL: u64 = 1_000_000_000_000_000;
pub(super) const MAX_MEMORY_BYTES: usize = 4 << 30;
pub(super) const MAX_ENTITIES_PER_PAGE: usize = 1_000_000;
pub(super) const MAX_PAGE_BYTES: usize = 1 << 30;
pub(super) const MAX_CURSOR_BYTES: usize = 16 << 20;
pub(super) const MAX_ENTITY_BYTES: usize = 64 << 20;
pub(super) const MAX_CONCURRENT_REQUESTS: usize = 1024;
pub(super) const MAX_RESPONSE_BYTES: usize = 1 << 30;
pub(super) const MAX_PUSH_BODY_BYTES: usize = 32 << 20;
pub(super) const MAX_CONCURRENT_PUSHES: usize = 256;
pub(super) const MAX_REPLAY_WINDOW: Duration = Duration::from_secs(30 * 24 * 60 * 60);
pub(super) const MAX_HTTP_TIMEOUT: Duration = Duration::from_secs(10 * 60);
pub(super) const MAX_CONNECTIONS: usize = 1_000_000;
pub(super) const EMPTY_PLUGINS: &str = "the plugin folder must not be empty";
pub(super) const MAX_DB_TIMEOUT: Duration = DAY;
pub(super) const MAX_JOURNAL_SIZE: usize = 1 << 40;

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
            limits: Limits::default(),
            store: StoreSettings::default(),
            sections: BTreeMap::new(),
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
        if let Some(value) = raw.limits {
            config.limits = self
                .limits(&root.child("limits"), value)?
                .over(&Limits::default());
        }
        if let Some(value) = raw.http {
            config.http = self.http(&root.child("http"), value)?;
        }
        if let Some(value) = raw.postgres {
            config.store.postgres = self.postgres(&root.child("postgres"), value)?;
        }
        if let Some(value) = raw.sqlite {
            config.store.sqlite = self.sqlite(&root.child("sqlite"), value)?;
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
                let section = self.section(&name, &at, section, Author::Operator)?;
                config.sections.insert(name, section);
            }
        }
        Ok(config)
    }

    /// A source section: `[sources.NAME]` of `weir.toml` (the operator's),
    /// or a plugin's manifest at the root key (its author's, who may not set
    /// the keys that are the operator's alone, and names secrets rather
    /// than granting them).
    pub(super) fn section(
        &self,
        name: &str,
        key: &Key,
        value: Value,
        author: Author,
    ) -> Result<SourceSection, ConfigError> {
        let table = self.table(key, value)?;
        let raw: RawSource = self.structure(key, table)?;
        let at = |name: &str| key.child(name);
        if author == Author::Manifest {
            self.refuse_operator_keys(key, &raw)?;
        }
        let mut section = SourceSection {
            provider_name: raw
                .provider_name
                .map(|value| self.provider_name(&at("providerName"), value))
                .transpose()?,
            priority: raw
                .priority
                .map(|value| self.integer(&at("priority"), value))
                .transpose()?,
            owner_rule: raw
                .owner_rule
                .map(|value| self.boolean(&at("ownerRule"), value))
                .transpose()?,
            kinds: raw
                .kinds
                .map(|value| self.names(&at("kinds"), value))
                .transpose()?,
            namespaces: raw
                .namespaces
                .map(|value| self.names(&at("namespaces"), value))
                .transpose()?,
            burst_length: raw
                .burst_length
                .map(|value| {
                    self.duration_within(&at("burstLength"), value, false, MAX_BURST_LENGTH)
                })
                .transpose()?,
            burst_interval: raw
                .burst_interval
                .map(|value| {
                    self.duration_within(&at("burstInterval"), value, true, MAX_BURST_INTERVAL)
                })
                .transpose()?,
            rest: self.rest(key, raw.rest_length, raw.schedule)?,
            backoff: raw
                .backoff
                .map(|value| self.backoff(&at("backoff"), value))
                .transpose()?,
            reject_removals_above_percentage: raw
                .reject_removals_above_percentage
                .map(|value| self.percentage(&at("rejectRemovalsAbovePercentage"), value))
                .transpose()?,
            reject_empty_source_collections: raw
                .reject_empty_source_collections
                .map(|value| self.boolean(&at("rejectEmptySourceCollections"), value))
                .transpose()?,
            expire_after: raw
                .expire_after
                .map(|value| {
                    self.duration_within(&at("expireAfter"), value, true, MAX_EXPIRE_AFTER)
                })
                .transpose()?,
            limits: raw
                .limits
                .map(|value| self.limits(&at("limits"), value))
                .transpose()?
                .unwrap_or_default(),
            config: raw
                .config
                .map(|value| self.config_values(&at("config"), value))
                .transpose()?
                .unwrap_or_default(),
            outbound: raw
                .outbound
                .map(|value| self.outbound(&at("outbound"), value))
                .transpose()?,
            push: raw
                .push
                .map(|value| self.push(&at("push"), value))
                .transpose()?,
            ..SourceSection::default()
        };
        if let Some(value) = raw.secrets {
            match author {
                Author::Operator => {
                    section.granted_secrets = self.granted_secrets(name, &at("secrets"), value)?;
                }
                Author::Manifest => {
                    section.asked_secrets = self.asked_secrets(&at("secrets"), value)?;
                }
            }
        }
        Ok(section)
    }

    /// A manifest may not set what is the operator's alone: the source's
    /// identity, its weight in the merge, how long its entities outlive it,
    /// and who may push to it.
    fn refuse_operator_keys(&self, key: &Key, raw: &RawSource) -> Result<(), ConfigError> {
        let operator_only = [
            ("providerName", raw.provider_name.is_some()),
            ("priority", raw.priority.is_some()),
            ("ownerRule", raw.owner_rule.is_some()),
            ("expireAfter", raw.expire_after.is_some()),
            ("push", raw.push.is_some()),
        ];
        match operator_only.iter().find(|(_, set)| *set) {
            Some((name, _)) => Err(self.invalid(
                &key.child(name),
                "only the operator sets this, in weir.toml's [sources.NAME]; a plugin's manifest \
                 may only ask for less than the operator grants (see docs/configuration.md, \
                 \"A manifest asks; the operator grants\")",
            )),
            None => Ok(()),
        }
    }

    /// `restLength` or `schedule`, not both.
    fn rest(
        &self,
        key: &Key,
        rest_length: Option<Value>,
        schedule: Option<Value>,
    ) -> Result<Option<Rest>, ConfigError> {
        Ok(match (rest_length, schedule) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    &key.child("schedule"),
                    "set either restLength or schedule, not both",
                ));
            }
            (Some(value), None) => Some(Rest::For(self.duration_within(
                &key.child("restLength"),
                value,
                true,
                MAX_REST_LENGTH,
            )?)),
            (None, Some(value)) => Some(Rest::Schedule(Box::new(
                self.cron(&key.child("schedule"), value)?,
            ))),
            (None, None) => None,
        })
    }

    fn backoff(&self, key: &Key, value: Value) -> Result<Vec<Duration>, ConfigError> {
        let steps = self.array(key, value)?;
        if steps.is_empty() {
            return Err(self.invalid(key, "needs at least one duration"));
        }
        if steps.len() > MAX_BACKOFF_STEPS {
            return Err(self.invalid(
                key,
                format!("has {} steps; at most {MAX_BACKOFF_STEPS}", steps.len()),
            ));
        }
        steps
            .into_iter()
            .enumerate()
            .map(|(index, value)| {
                self.duration_within(&key.index(index), value, true, MAX_BACKOFF_STEP)
            })
            .collect()
    }

    /// `providerName`: what the plugin of this file stem answers to, when it
    /// is not the stem itself.
    fn provider_name(&self, key: &Key, value: Value) -> Result<String, ConfigError> {
        let name = self.string(key, value)?;
        if crate::runtime::is_valid_provider_name(&name) {
            Ok(name)
        } else {
            Err(self.invalid(
                key,
                format!(
                    "{name:?} is not a provider name: 1 to 128 ASCII letters, digits, `.`, `_` \
                     and `-`, starting with a letter or digit"
                ),
            ))
        }
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
                value => Some(self.duration_within(&key, value, false, MAX_TOMBSTONE_RETENTION)?),
            };
        }
        if let Some(value) = raw.purge_interval {
            http.purge_interval =
                self.duration_within(&at("purgeInterval"), value, false, MAX_PURGE_INTERVAL)?;
        }
        if let Some(value) = raw.max_wait {
            http.max_wait =
                self.duration_within(&at("maxWait"), value, true, Duration::from_secs(600))?;
        }
        if let Some(value) = raw.allowed_origins {
            http.allowed_origins = self.origins(&at("allowedOrigins"), value)?;
        }
        for (name, value, setting) in [
            (
                "maxConnections",
                raw.max_connections,
                &mut http.max_connections,
            ),
            ("maxLongPolls", raw.max_long_polls, &mut http.max_long_polls),
        ] {
            if let Some(value) = value {
                let key = at(name);
                *setting = self.count(&key, value)?;
                if !(1..=MAX_CONNECTIONS).contains(setting) {
                    return Err(self.invalid(&key, format!("must be from 1 to {MAX_CONNECTIONS}")));
                }
            }
        }
        for (name, value, setting) in [
            (
                "headerTimeout",
                raw.header_timeout,
                &mut http.header_timeout,
            ),
            ("bodyTimeout", raw.body_timeout, &mut http.body_timeout),
            (
                "requestBudget",
                raw.request_budget,
                &mut http.request_budget,
            ),
            (
                "shutdownTimeout",
                raw.shutdown_timeout,
                &mut http.shutdown_timeout,
            ),
        ] {
            if let Some(value) = value {
                *setting = self.duration_within(&at(name), value, false, MAX_HTTP_TIMEOUT)?;
            }
        }
        Ok(http)
    }

    /// `[postgres]`: the timeouts and keepalives of Weir's connections.
    fn postgres(&self, key: &Key, value: Value) -> Result<PostgresSettings, ConfigError> {
        let table = self.table(key, value)?;
        let raw: RawPostgres = self.structure(key, table)?;
        let mut postgres = PostgresSettings::default();
        for (name, value, setting) in [
            (
                "statementTimeout",
                raw.statement_timeout,
                &mut postgres.statement_timeout,
            ),
            ("lockTimeout", raw.lock_timeout, &mut postgres.lock_timeout),
            (
                "idleInTransactionTimeout",
                raw.idle_in_transaction_timeout,
                &mut postgres.idle_in_transaction_timeout,
            ),
            (
                "keepalivesIdle",
                raw.keepalives_idle,
                &mut postgres.keepalives_idle,
            ),
            (
                "keepalivesInterval",
                raw.keepalives_interval,
                &mut postgres.keepalives_interval,
            ),
            (
                "connectTimeout",
                raw.connect_timeout,
                &mut postgres.connect_timeout,
            ),
            (
                "writeTimeout",
                raw.write_timeout,
                &mut postgres.write_timeout,
            ),
        ] {
            if let Some(value) = value {
                *setting = self.duration_within(&key.child(name), value, false, MAX_DB_TIMEOUT)?;
            }
        }
        if let Some(value) = raw.keepalives_count {
            let at = key.child("keepalivesCount");
            let count = self.count(&at, value)?;
            postgres.keepalives_count = u32::try_from(count)
                .ok()
                .filter(|count| (1..=100).contains(count))
                .ok_or_else(|| self.invalid(&at, "must be from 1 to 100"))?;
        }
        Ok(postgres)
    }

    /// `[sqlite]`: how long a write waits for another process's lock, and
    /// the write-ahead log's size limit.
    fn sqlite(&self, key: &Key, value: Value) -> Result<SqliteSettings, ConfigError> {
        let table = self.table(key, value)?;
        let raw: RawSqlite = self.structure(key, table)?;
        let mut sqlite = SqliteSettings::default();
        if let Some(value) = raw.busy_timeout {
            sqlite.busy_timeout =
                self.duration_within(&key.child("busyTimeout"), value, true, MAX_DB_TIMEOUT)?;
        }
        if let Some(value) = raw.journal_size_limit {
            let at = key.child("journalSizeLimit");
            sqlite.journal_size_limit = self.size_within(&at, value, MAX_JOURNAL_SIZE)? as u64;
        }
        Ok(sqlite)
    }

    /// `[http] allowedOrigins`: the origins (`https://backstage.example.com`)
    /// whose browser pages may call the API.
    fn origins(&self, key: &Key, value: Value) -> Result<Vec<String>, ConfigError> {
        self.array(key, value)?
            .into_iter()
            .enumerate()
            .map(|(index, value)| {
                let at = key.index(index);
                let text = self.string(&at, value)?;
                crate::http::origin(&text).map_err(|reason| self.invalid(&at, reason))
            })
            .collect()
    }

    /// `[sources.NAME.push]`: environment variables holding the source's
    /// push signing key and token.
    fn push(&self, key: &Key, value: Value) -> Result<PushSettings, ConfigError> {
        let table = self.table(key, value)?;
        let raw: RawPush = self.structure(key, table)?;
        let mut push = PushSettings::default();
        let at = |name: &str| key.child(name);
        if let Some(value) = raw.secret {
            push.hmac_secret = Some(self.secret_token(&at("secret"), value)?);
        }
        if let Some(value) = raw.token {
            push.token = Some(self.secret_token(&at("token"), value)?);
        }
        if let Some(value) = raw.max_body_bytes {
            let key = at("maxBodyBytes");
            push.max_body_bytes = self.size_within(&key, value, MAX_PUSH_BODY_BYTES)?;
            if push.max_body_bytes == 0 {
                return Err(self.invalid(&key, "must be more than zero"));
            }
        }
        if let Some(value) = raw.max_concurrent {
            let key = at("maxConcurrent");
            push.max_concurrent = self.count(&key, value)?;
            if !(1..=MAX_CONCURRENT_PUSHES).contains(&push.max_concurrent) {
                return Err(
                    self.invalid(&key, format!("must be from 1 to {MAX_CONCURRENT_PUSHES}"))
                );
            }
        }
        if let Some(value) = raw.delivery_header {
            let key = at("deliveryHeader");
            let name = self.string(&key, value)?.to_ascii_lowercase();
            if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(self.invalid(&key, format!("{name:?} is not a header name")));
            }
            push.delivery_header = name;
        }
        if let Some(value) = raw.replay_window {
            let key = at("replayWindow");
            push.replay_window = self.duration_within(&key, value, true, MAX_REPLAY_WINDOW)?;
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
            grant.request_timeout =
                self.duration_within(&key, value, false, MAX_REQUEST_TIMEOUT)?;
        }
        if let Some(value) = raw.max_concurrent_requests {
            let key = at("maxConcurrentRequests");
            grant.max_concurrent_requests = self.count(&key, value)?;
            if !(1..=MAX_CONCURRENT_REQUESTS).contains(&grant.max_concurrent_requests) {
                return Err(
                    self.invalid(&key, format!("must be from 1 to {MAX_CONCURRENT_REQUESTS}"))
                );
            }
        }
        if let Some(value) = raw.max_response_bytes {
            let key = at("maxResponseBytes");
            let bytes = self.size_within(&key, value, MAX_RESPONSE_BYTES)?;
            grant.max_response_bytes = bytes as u64;
        }
        Ok(grant)
    }

    /// `[limits]` or `[sources.NAME.limits]`: each budget set, within its ceiling.
    fn limits(&self, key: &Key, value: Value) -> Result<LimitsSection, ConfigError> {
        let table = self.table(key, value)?;
        let raw: RawLimits = self.structure(key, table)?;
        let at = |name: &str| key.child(name);
        let size = |name: &str, value: Option<Value>, max: usize| {
            value
                .map(|value| self.size_within(&at(name), value, max))
                .transpose()
        };
        let fuel = match raw.fuel {
            None => None,
            Some(value) => {
                let key = at("fuel");
                let fuel = self.integer(&key, value)?;
                match u64::try_from(fuel) {
                    Ok(fuel) if fuel <= MAX_FUEL => Some(fuel),
                    _ => {
                        return Err(
                            self.invalid(&key, format!("must be from 0 to {MAX_FUEL}, got {fuel}"))
                        );
                    }
                }
            }
        };
        let max_entities_per_page = match raw.max_entities_per_page {
            None => None,
            Some(value) => {
                let key = at("maxEntitiesPerPage");
                let count = self.count(&key, value)?;
                if count > MAX_ENTITIES_PER_PAGE {
                    return Err(self.invalid(
                        &key,
                        format!("must be at most {MAX_ENTITIES_PER_PAGE}, got {count}"),
                    ));
                }
                Some(count)
            }
        };
        Ok(LimitsSection {
            fuel,
            deadline: raw
                .deadline
                .map(|value| self.duration_within(&at("deadline"), value, false, MAX_DEADLINE))
                .transpose()?,
            max_memory_bytes: size("memory", raw.memory, MAX_MEMORY_BYTES)?,
            max_entities_per_page,
            max_page_bytes: size("maxPageBytes", raw.max_page_bytes, MAX_PAGE_BYTES)?,
            max_cursor_bytes: size("maxCursorBytes", raw.max_cursor_bytes, MAX_CURSOR_BYTES)?,
            max_entity_bytes: size("maxEntityBytes", raw.max_entity_bytes, MAX_ENTITY_BYTES)?,
        })
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

    /// `[sources.NAME.secrets]` in `weir.toml`: each secret the operator
    /// grants, and where its value is read now: an environment variable
    /// (`token = "GITHUB_TOKEN"` or `token = { env = "GITHUB_TOKEN" }`) or a
    /// file (`token = { file = "/run/secrets/github" }`, one trailing
    /// newline dropped). The values read never enter an error.
    fn granted_secrets(
        &self,
        source: &str,
        key: &Key,
        value: Value,
    ) -> Result<BTreeMap<String, GrantedSecret>, ConfigError> {
        let mut secrets = BTreeMap::new();
        for (secret, value) in self.table(key, value)? {
            let at = key.child(&secret);
            if secret.is_empty() {
                return Err(self.invalid(&at, "a secret name must not be empty"));
            }
            let granted = match self.secret_origin(&at, value)? {
                SecretOrigin::Env(variable) => match (self.env)(&variable) {
                    Some(value) => GrantedSecret {
                        from: format!("env {variable}"),
                        value,
                    },
                    None => {
                        return Err(ConfigError::MissingSecret {
                            file: self.file.to_owned(),
                            source_name: source.to_owned(),
                            secret,
                            variable,
                        });
                    }
                },
                SecretOrigin::File(path) => GrantedSecret {
                    value: read_secret_file(&path).map_err(|reason| self.invalid(&at, reason))?,
                    from: format!("file {}", path.display()),
                },
            };
            secrets.insert(secret, granted);
        }
        Ok(secrets)
    }

    fn secret_origin(&self, key: &Key, value: Value) -> Result<SecretOrigin, ConfigError> {
        let table = match value {
            Value::String(variable) => return self.variable(key, variable).map(SecretOrigin::Env),
            Value::Table(table) => table,
            other => {
                return Err(self.expected(
                    key,
                    "an environment variable's name, or { env = \"NAME\" } or { file = \"PATH\" }",
                    &other,
                ));
            }
        };
        let raw: RawSecret = self.structure(key, table)?;
        match (raw.env, raw.file) {
            (Some(value), None) => {
                let variable = self.string(&key.child("env"), value)?;
                self.variable(&key.child("env"), variable)
                    .map(SecretOrigin::Env)
            }
            (None, Some(value)) => {
                let path = self.string(&key.child("file"), value)?;
                if path.is_empty() {
                    return Err(self.invalid(&key.child("file"), "the path must not be empty"));
                }
                Ok(SecretOrigin::File(PathBuf::from(path)))
            }
            _ => Err(self.invalid(key, "set exactly one of `env` and `file`")),
        }
    }

    fn variable(&self, key: &Key, variable: String) -> Result<String, ConfigError> {
        if variable.is_empty() || variable.contains(['=', '\0']) {
            return Err(self.invalid(
                key,
                format!("expected the name of an environment variable, found {variable:?}"),
            ));
        }
        Ok(variable)
    }

    /// `secrets` in a manifest: the names of the secrets the plugin needs
    /// (`secrets = ["token"]`). Which variable or file feeds each is the
    /// operator's choice, so a table naming variables is refused.
    fn asked_secrets(&self, key: &Key, value: Value) -> Result<Vec<String>, ConfigError> {
        let names = match value {
            Value::Array(names) => names,
            Value::Table(_) => {
                return Err(self.invalid(
                    key,
                    "a manifest only names the secrets the plugin needs, e.g. \
                     `secrets = [\"token\"]`; which environment variable or file feeds each is \
                     the operator's choice, in weir.toml's [sources.NAME.secrets]",
                ));
            }
            other => return Err(self.expected(key, "an array of secret names", &other)),
        };
        names
            .into_iter()
            .enumerate()
            .map(|(index, value)| {
                let at = key.index(index);
                let name = self.string(&at, value)?;
                if name.is_empty() {
                    return Err(self.invalid(&at, "a secret name must not be empty"));
                }
                Ok(name)
            })
            .collect()
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

    /// A duration: humantime's text or Backstage's `HumanDuration` table
    /// ([`super::duration`]).
    fn duration(&self, key: &Key, value: Value) -> Result<Duration, ConfigError> {
        match duration::parse(&value) {
            Some(Ok(duration)) => Ok(duration),
            Some(Err(error)) => {
                let at = error
                    .unit
                    .as_deref()
                    .map_or_else(|| key.clone(), |unit| key.child(unit));
                Err(self.invalid(&at, error.message))
            }
            None => Err(self.expected(
                key,
                "a duration such as \"3s\", \"10m\" or { minutes = 10 }",
                &value,
            )),
        }
    }

    /// A duration of at most `max` (and more than zero unless `zero_allowed`).
    fn duration_within(
        &self,
        key: &Key,
        value: Value,
        zero_allowed: bool,
        max: Duration,
    ) -> Result<Duration, ConfigError> {
        let duration = self.duration(key, value)?;
        if duration.is_zero() && !zero_allowed {
            return Err(self.invalid(key, "must be longer than zero"));
        }
        if duration > max {
            return Err(self.invalid(
                key,
                format!(
                    "must be at most {}, got {}",
                    humantime::format_duration(max),
                    humantime::format_duration(duration)
                ),
            ));
        }
        Ok(duration)
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

    /// A size of at most `max` bytes.
    fn size_within(&self, key: &Key, value: Value, max: usize) -> Result<usize, ConfigError> {
        let size = self.size(key, value)?;
        if size > max {
            return Err(self.invalid(key, format!("must be at most {} bytes, got {size}", max)));
        }
        Ok(size)
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
pub(super) fn found(value: &Value) -> String {
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

/// Who wrote a source section: the operator grants, a manifest asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Author {
    /// `[sources.NAME]` in `weir.toml`.
    Operator,
    /// A plugin's `NAME.toml`.
    Manifest,
}

/// A secret file's text, one trailing newline dropped.
fn read_secret_file(path: &Path) -> Result<String, String> {
    let mut text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read the secret file {}: {error}", path.display()))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}
