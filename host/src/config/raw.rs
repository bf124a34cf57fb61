//! The shape of `weir.toml` and of a plugin's manifest, one struct per
//! table. Serde checks the keys (camelCase, unknown ones refused); every
//! value stays a [`Value`] so that [`super::read`] converts it with an error
//! naming the key.

use serde::Deserialize;
use toml::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawConfig {
    pub database: Option<Value>,
    pub plugins: Option<Value>,
    pub listen: Option<Value>,
    pub max_concurrent_bursts: Option<Value>,
    pub limits: Option<Value>,
    pub http: Option<Value>,
    pub postgres: Option<Value>,
    pub sqlite: Option<Value>,
    pub sources: Option<Value>,
}

/// `[postgres]`: Weir's connections to PostgreSQL.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawPostgres {
    pub statement_timeout: Option<Value>,
    pub lock_timeout: Option<Value>,
    pub idle_in_transaction_timeout: Option<Value>,
    pub keepalives_idle: Option<Value>,
    pub keepalives_interval: Option<Value>,
    pub keepalives_count: Option<Value>,
    pub connect_timeout: Option<Value>,
    pub write_timeout: Option<Value>,
}

/// `[sqlite]`: Weir's connections to its SQLite file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawSqlite {
    pub busy_timeout: Option<Value>,
    pub journal_size_limit: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawHttp {
    pub admin_token: Option<Value>,
    pub read_token: Option<Value>,
    pub read_access: Option<Value>,
    pub tombstone_retention: Option<Value>,
    pub purge_interval: Option<Value>,
    pub max_wait: Option<Value>,
    pub allowed_origins: Option<Value>,
    pub max_connections: Option<Value>,
    pub max_long_polls: Option<Value>,
    pub header_timeout: Option<Value>,
    pub body_timeout: Option<Value>,
    pub request_budget: Option<Value>,
    pub shutdown_timeout: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawPush {
    pub secret: Option<Value>,
    pub token: Option<Value>,
    pub max_body_bytes: Option<Value>,
    pub max_concurrent: Option<Value>,
    pub delivery_header: Option<Value>,
    pub replay_window: Option<Value>,
}

/// `[sources.NAME]` in `weir.toml` (the operator's settings of one source),
/// or a plugin's manifest (`NAME.toml`, what the plugin's author asks for:
/// [`super::read`] refuses the keys that are the operator's alone).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawSource {
    pub provider_name: Option<Value>,
    pub priority: Option<Value>,
    pub owner_rule: Option<Value>,
    pub kinds: Option<Value>,
    pub namespaces: Option<Value>,
    pub burst_length: Option<Value>,
    pub burst_interval: Option<Value>,
    pub rest_length: Option<Value>,
    pub schedule: Option<Value>,
    pub backoff: Option<Value>,
    pub reject_removals_above_percentage: Option<Value>,
    pub reject_empty_source_collections: Option<Value>,
    pub expire_after: Option<Value>,
    pub limits: Option<Value>,
    pub config: Option<Value>,
    pub secrets: Option<Value>,
    pub push: Option<Value>,
    pub outbound: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawOutbound {
    pub hosts: Option<Value>,
    pub allow_private_networks: Option<Value>,
    pub request_timeout: Option<Value>,
    pub max_concurrent_requests: Option<Value>,
    pub max_response_bytes: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawLimits {
    pub fuel: Option<Value>,
    pub deadline: Option<Value>,
    pub memory: Option<Value>,
    pub max_entities_per_page: Option<Value>,
    pub max_page_bytes: Option<Value>,
    pub max_cursor_bytes: Option<Value>,
    pub max_entity_bytes: Option<Value>,
}

/// A secret the operator grants, in its long form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecret {
    pub env: Option<Value>,
    pub file: Option<Value>,
}
