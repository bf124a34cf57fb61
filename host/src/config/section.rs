//! One source's settings as one file wrote them: the operator's
//! `[sources.NAME]` in `weir.toml`, or the plugin author's manifest
//! `NAME.toml`. Every key is `None` when the file does not set it, so that
//! [`super::grant`] can tell a default from a choice.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::engine::Rest;
use crate::http::PushSettings;
use crate::runtime::{Limits, OutboundGrant};

/// A source section of one file.
#[derive(Debug, Clone, Default)]
pub(super) struct SourceSection {
    pub provider_name: Option<String>,
    pub priority: Option<i64>,
    pub owner_rule: Option<bool>,
    pub kinds: Option<Vec<String>>,
    pub namespaces: Option<Vec<String>>,
    pub burst_length: Option<Duration>,
    pub burst_interval: Option<Duration>,
    pub rest: Option<Rest>,
    pub backoff: Option<Vec<Duration>>,
    pub reject_removals_above_percentage: Option<f64>,
    pub reject_empty_source_collections: Option<bool>,
    pub expire_after: Option<Duration>,
    pub limits: LimitsSection,
    pub config: BTreeMap<String, String>,
    /// The operator's: each secret granted, with where its value was read.
    pub granted_secrets: BTreeMap<String, GrantedSecret>,
    /// The manifest's: the names of the secrets the plugin needs.
    pub asked_secrets: Vec<String>,
    pub outbound: Option<OutboundGrant>,
    pub push: Option<PushSettings>,
}

/// A secret the operator granted, read when the configuration was loaded.
#[derive(Clone)]
pub(super) struct GrantedSecret {
    /// Where it was read, as the settings report shows it: `env GITHUB_TOKEN`
    /// or `file /run/secrets/github`.
    pub from: String,
    pub value: String,
}

/// `Debug` shows where the secret comes from, never its value.
impl std::fmt::Debug for GrantedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantedSecret")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// Where a secret's value comes from, as the operator wrote it.
pub(super) enum SecretOrigin {
    Env(String),
    File(PathBuf),
}

/// `[limits]` or `[sources.NAME.limits]` of one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct LimitsSection {
    pub fuel: Option<u64>,
    pub deadline: Option<Duration>,
    pub max_memory_bytes: Option<usize>,
    pub max_entities_per_page: Option<usize>,
    pub max_page_bytes: Option<usize>,
    pub max_cursor_bytes: Option<usize>,
    pub max_entity_bytes: Option<usize>,
}

impl LimitsSection {
    /// `base` with every key this section sets in its place.
    pub fn over(&self, base: &Limits) -> Limits {
        Limits {
            fuel: self.fuel.unwrap_or(base.fuel),
            deadline: self.deadline.unwrap_or(base.deadline),
            max_memory_bytes: self.max_memory_bytes.unwrap_or(base.max_memory_bytes),
            max_entities_per_page: self
                .max_entities_per_page
                .unwrap_or(base.max_entities_per_page),
            max_page_bytes: self.max_page_bytes.unwrap_or(base.max_page_bytes),
            max_cursor_bytes: self.max_cursor_bytes.unwrap_or(base.max_cursor_bytes),
            max_entity_bytes: self.max_entity_bytes.unwrap_or(base.max_entity_bytes),
        }
    }
}
