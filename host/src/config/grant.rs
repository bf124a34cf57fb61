//! The one rule of a source's settings: **a manifest asks, the operator
//! grants.** A plugin and its manifest (`NAME.toml`) come from the plugin's
//! author; `weir.toml`, the command line and the environment are the
//! operator's. So every key a manifest may carry is a request the
//! operator's settings bound, and the source gets what both allow:
//!
//! - budgets (`[limits]`, `burstLength`): the manifest may lower each, never
//!   raise it past the operator's value (the source's own, else `[limits]`,
//!   else the default);
//! - scope (`kinds`, `namespaces`): the manifest may narrow the operator's,
//!   never widen it;
//! - outbound HTTP: what both allow (a host the operator's rules cover,
//!   private networks only if both allow them, the smaller bounds);
//! - secrets: the manifest names the secrets it needs; the operator says
//!   which variable or file feeds each; one asked for and not granted is
//!   reported and reads as none;
//! - cadence and guards (`burstInterval`, `restLength` or `schedule`,
//!   `backoff`, the sweep guards) and `[config]`: the author's defaults,
//!   each replaced by the operator's when the operator sets it;
//! - `providerName`, `priority`, `ownerRule`, `expireAfter` and `[push]`: the
//!   operator's alone (a manifest setting one is refused when it is read).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::Path;
use std::time::Duration;

use weir_core::intake::Scope;

use super::section::{LimitsSection, SourceSection};
use super::{ConfigError, SourceConfig};
use crate::engine::{Rest, SourceOptions};
use crate::runtime::{HostRule, Limits, OutboundGrant, SourceSettings};

/// One setting as `weir check` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingGrant {
    /// The key, as the files write it (`limits.fuel`, `kinds`).
    pub key: String,
    /// What the manifest asked for; `None` when it did not.
    pub asked: Option<String>,
    /// What the operator granted (with `(default)` when the operator's
    /// settings do not set it).
    pub granted: String,
    /// What the source gets.
    pub effective: String,
}

/// The settings of the plugin with file stem `stem` from the operator's
/// section alone (or every default when there is none).
pub(super) fn operator_only(
    stem: &str,
    operator: Option<&SourceSection>,
    base_limits: &Limits,
) -> SourceConfig {
    let default = SourceSection::default();
    build(stem, operator.unwrap_or(&default), None, base_limits)
}

/// The settings of the plugin with file stem `stem`: what its `manifest`
/// (read from `file`) asks, within what the `operator` grants. Fails,
/// naming the manifest's file and key, when a request cannot be granted at
/// all (a scope with nothing in common with the operator's).
pub(super) fn with_manifest(
    stem: &str,
    operator: Option<&SourceSection>,
    file: &Path,
    manifest: &SourceSection,
    base_limits: &Limits,
) -> Result<SourceConfig, ConfigError> {
    let default = SourceSection::default();
    let operator = operator.unwrap_or(&default);
    for (key, asked, granted) in [
        ("kinds", &manifest.kinds, &operator.kinds),
        ("namespaces", &manifest.namespaces, &operator.namespaces),
    ] {
        if let (Some(asked), Some(granted)) = (asked, granted)
            && narrowed(asked, granted).is_empty()
        {
            return Err(ConfigError::Invalid {
                file: file.to_owned(),
                key: key.to_owned(),
                reason: format!(
                    "asks for {} but the operator allows only {}: nothing in common",
                    asked.join(", "),
                    granted.join(", ")
                ),
            });
        }
    }
    Ok(build(stem, operator, Some(manifest), base_limits))
}

/// The report being built, one setting at a time.
#[derive(Default)]
struct Grants(Vec<SettingGrant>);

impl Grants {
    fn add(&mut self, key: &str, asked: Option<String>, granted: String, effective: String) {
        self.0.push(SettingGrant {
            key: key.to_owned(),
            asked,
            granted,
            effective,
        });
    }
}

fn build(
    stem: &str,
    operator: &SourceSection,
    manifest: Option<&SourceSection>,
    base_limits: &Limits,
) -> SourceConfig {
    let grants = &mut Grants::default();
    let none = SourceSection::default();
    let asked = manifest.unwrap_or(&none);
    let defaults = SourceOptions::default();
    let options = SourceOptions {
        priority: operators(grants, "priority", operator.priority, defaults.priority),
        owner_rule: operators(
            grants,
            "ownerRule",
            operator.owner_rule,
            defaults.owner_rule,
        ),
        expire_after: operators_duration(
            grants,
            "expireAfter",
            operator.expire_after,
            defaults.expire_after,
        ),
        scope: Scope {
            kinds: scope(grants, "kinds", &asked.kinds, &operator.kinds),
            namespaces: scope(
                grants,
                "namespaces",
                &asked.namespaces,
                &operator.namespaces,
            ),
        },
        burst_length: ceiling(
            grants,
            "burstLength",
            asked.burst_length,
            operator.burst_length,
            defaults.burst_length,
            human,
        ),
        burst_interval: author_default(
            grants,
            "burstInterval",
            asked.burst_interval,
            operator.burst_interval,
            defaults.burst_interval,
            human,
        ),
        rest: author_default(
            grants,
            "restLength/schedule",
            asked.rest.clone(),
            operator.rest.clone(),
            defaults.rest,
            rest_text,
        ),
        backoff: author_default(
            grants,
            "backoff",
            asked.backoff.clone(),
            operator.backoff.clone(),
            defaults.backoff,
            |steps: &Vec<Duration>| list(steps.iter().map(human)),
        ),
        reject_removals_above_percentage: author_default(
            grants,
            "rejectRemovalsAbovePercentage",
            asked.reject_removals_above_percentage.map(Some),
            operator.reject_removals_above_percentage.map(Some),
            defaults.reject_removals_above_percentage,
            |share: &Option<f64>| share.map_or_else(|| "no guard".to_owned(), |s| format!("{s}%")),
        ),
        reject_empty_source_collections: author_default(
            grants,
            "rejectEmptySourceCollections",
            asked.reject_empty_source_collections,
            operator.reject_empty_source_collections,
            defaults.reject_empty_source_collections,
            ToString::to_string,
        ),
    };
    let granted_limits = operator.limits.over(base_limits);
    let settings = SourceSettings {
        limits: limits(grants, &asked.limits, &granted_limits),
        config: config_values(grants, &asked.config, &operator.config),
        secrets: operator
            .granted_secrets
            .iter()
            .map(|(name, secret)| (name.clone(), secret.value.clone()))
            .collect(),
        outbound: outbound(grants, asked.outbound.as_ref(), operator.outbound.as_ref()),
    };
    let missing_secrets = secrets(grants, &asked.asked_secrets, operator);
    let provider_name = operator
        .provider_name
        .clone()
        .unwrap_or_else(|| stem.to_owned());
    grants.add(
        "providerName",
        None,
        operator
            .provider_name
            .clone()
            .unwrap_or_else(|| format!("{stem} (the file stem)")),
        provider_name.clone(),
    );
    SourceConfig {
        provider_name,
        options,
        settings,
        push: operator.push.clone().unwrap_or_default(),
        grants: std::mem::take(&mut grants.0),
        missing_secrets,
    }
}

/// A setting only the operator sets.
fn operators<T: Clone + Display>(grants: &mut Grants, key: &str, set: Option<T>, default: T) -> T {
    let value = set.clone().unwrap_or(default);
    grants.add(
        key,
        None,
        granted_text(set.as_ref(), &value, T::to_string),
        value.to_string(),
    );
    value
}

fn operators_duration(
    grants: &mut Grants,
    key: &str,
    set: Option<Duration>,
    default: Duration,
) -> Duration {
    let value = set.unwrap_or(default);
    grants.add(
        key,
        None,
        granted_text(set.as_ref(), &value, human),
        human(&value),
    );
    value
}

/// A budget: what the manifest asks, at most what the operator grants.
fn ceiling<T: Copy + Ord>(
    grants: &mut Grants,
    key: &str,
    asked: Option<T>,
    set: Option<T>,
    default: T,
    show: impl Fn(&T) -> String,
) -> T {
    let granted = set.unwrap_or(default);
    let value = asked.map_or(granted, |asked| asked.min(granted));
    grants.add(
        key,
        asked.as_ref().map(&show),
        granted_text(set.as_ref(), &granted, &show),
        show(&value),
    );
    value
}

/// An author's default: the manifest's value unless the operator set one.
fn author_default<T: Clone>(
    grants: &mut Grants,
    key: &str,
    asked: Option<T>,
    set: Option<T>,
    default: T,
    show: impl Fn(&T) -> String,
) -> T {
    let value = set.clone().or(asked.clone()).unwrap_or(default.clone());
    grants.add(
        key,
        asked.as_ref().map(&show),
        granted_text(set.as_ref(), &default, &show),
        show(&value),
    );
    value
}

/// Kinds or namespaces: the manifest may narrow the operator's scope.
fn scope(
    grants: &mut Grants,
    key: &str,
    asked: &Option<Vec<String>>,
    set: &Option<Vec<String>>,
) -> Vec<String> {
    let value = match (asked, set) {
        (Some(asked), Some(set)) => narrowed(asked, set),
        (Some(only), None) | (None, Some(only)) => only.clone(),
        (None, None) => Vec::new(),
    };
    let show = |names: &Vec<String>| {
        if names.is_empty() {
            "any".to_owned()
        } else {
            names.join(", ")
        }
    };
    grants.add(
        key,
        asked.as_ref().map(show),
        set.as_ref()
            .map_or_else(|| "any (default)".to_owned(), show),
        show(&value),
    );
    value
}

/// The names of `asked` that `granted` allows.
fn narrowed(asked: &[String], granted: &[String]) -> Vec<String> {
    asked
        .iter()
        .filter(|name| granted.contains(name))
        .cloned()
        .collect()
}

/// Each budget: the manifest's, when it asks, at most the operator's grant.
fn limits(grants: &mut Grants, asked: &LimitsSection, granted: &Limits) -> Limits {
    let effective = asked.over(granted);
    let effective = Limits {
        fuel: effective.fuel.min(granted.fuel),
        deadline: effective.deadline.min(granted.deadline),
        max_memory_bytes: effective.max_memory_bytes.min(granted.max_memory_bytes),
        max_entities_per_page: effective
            .max_entities_per_page
            .min(granted.max_entities_per_page),
        max_page_bytes: effective.max_page_bytes.min(granted.max_page_bytes),
        max_cursor_bytes: effective.max_cursor_bytes.min(granted.max_cursor_bytes),
        max_entity_bytes: effective.max_entity_bytes.min(granted.max_entity_bytes),
    };
    let count = |n: &u64| n.to_string();
    let bytes = |n: &usize| format!("{n} bytes");
    let entities = |n: &usize| n.to_string();
    let mut add = |key: &str, asked: Option<String>, granted: String, effective: String| {
        grants.add(key, asked, granted, effective);
    };
    add(
        "limits.fuel",
        asked.fuel.as_ref().map(count),
        count(&granted.fuel),
        count(&effective.fuel),
    );
    add(
        "limits.deadline",
        asked.deadline.as_ref().map(human),
        human(&granted.deadline),
        human(&effective.deadline),
    );
    for (key, asked, granted, effective) in [
        (
            "limits.memory",
            asked.max_memory_bytes,
            granted.max_memory_bytes,
            effective.max_memory_bytes,
        ),
        (
            "limits.maxPageBytes",
            asked.max_page_bytes,
            granted.max_page_bytes,
            effective.max_page_bytes,
        ),
        (
            "limits.maxCursorBytes",
            asked.max_cursor_bytes,
            granted.max_cursor_bytes,
            effective.max_cursor_bytes,
        ),
        (
            "limits.maxEntityBytes",
            asked.max_entity_bytes,
            granted.max_entity_bytes,
            effective.max_entity_bytes,
        ),
    ] {
        add(
            key,
            asked.as_ref().map(bytes),
            bytes(&granted),
            bytes(&effective),
        );
    }
    add(
        "limits.maxEntitiesPerPage",
        asked.max_entities_per_page.as_ref().map(entities),
        entities(&granted.max_entities_per_page),
        entities(&effective.max_entities_per_page),
    );
    effective
}

/// `[config]`: the manifest's defaults, each replaced by the operator's.
fn config_values(
    grants: &mut Grants,
    asked: &BTreeMap<String, String>,
    set: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut values = asked.clone();
    values.extend(set.iter().map(|(key, value)| (key.clone(), value.clone())));
    for (key, value) in &values {
        grants.add(
            &format!("config.{key}"),
            asked.get(key).cloned(),
            set.get(key).cloned().unwrap_or_else(|| "-".to_owned()),
            value.clone(),
        );
    }
    values
}

/// `[outbound]`: what both the manifest and the operator allow. A manifest
/// without it leaves the operator's grant as it is.
fn outbound(
    grants: &mut Grants,
    asked: Option<&OutboundGrant>,
    set: Option<&OutboundGrant>,
) -> OutboundGrant {
    let granted = set.cloned().unwrap_or_default();
    let value = match asked {
        Some(asked) => intersect(asked, &granted),
        None => granted.clone(),
    };
    let hosts = |grant: &OutboundGrant| {
        if grant.hosts.is_empty() {
            "none".to_owned()
        } else {
            list(grant.hosts.iter().map(ToString::to_string))
        }
    };
    grants.add(
        "outbound.hosts",
        asked.map(hosts),
        if set.is_some() {
            hosts(&granted)
        } else {
            "none (default)".to_owned()
        },
        hosts(&value),
    );
    grants.add(
        "outbound.allowPrivateNetworks",
        asked.map(|a| a.allow_private.to_string()),
        granted.allow_private.to_string(),
        value.allow_private.to_string(),
    );
    grants.add(
        "outbound.requestTimeout",
        asked.map(|a| human(&a.request_timeout)),
        human(&granted.request_timeout),
        human(&value.request_timeout),
    );
    grants.add(
        "outbound.maxConcurrentRequests",
        asked.map(|a| a.max_concurrent_requests.to_string()),
        granted.max_concurrent_requests.to_string(),
        value.max_concurrent_requests.to_string(),
    );
    grants.add(
        "outbound.maxResponseBytes",
        asked.map(|a| format!("{} bytes", a.max_response_bytes)),
        format!("{} bytes", granted.max_response_bytes),
        format!("{} bytes", value.max_response_bytes),
    );
    value
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
        max_concurrent_requests: asked
            .max_concurrent_requests
            .min(granted.max_concurrent_requests),
        max_response_bytes: asked.max_response_bytes.min(granted.max_response_bytes),
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

/// Report each secret: the ones the manifest named, and the ones the
/// operator granted. Returns the ones asked for and not granted.
fn secrets(grants: &mut Grants, asked: &[String], operator: &SourceSection) -> Vec<String> {
    let mut names: Vec<&String> = asked
        .iter()
        .chain(operator.granted_secrets.keys())
        .collect();
    names.sort();
    names.dedup();
    let mut missing = Vec::new();
    for name in names {
        let is_asked = asked.contains(name);
        let granted = operator.granted_secrets.get(name);
        if is_asked && granted.is_none() {
            missing.push(name.clone());
        }
        grants.add(
            &format!("secrets.{name}"),
            is_asked.then(|| "asked".to_owned()),
            granted.map_or_else(|| "not granted".to_owned(), |secret| secret.from.clone()),
            if granted.is_some() {
                "granted"
            } else {
                "none (missing)"
            }
            .to_owned(),
        );
    }
    missing
}

/// The operator's value as the report shows it: marked `(default)` when the
/// operator's settings do not set it.
fn granted_text<T>(set: Option<&T>, value: &T, show: impl Fn(&T) -> String) -> String {
    match set {
        Some(set) => show(set),
        None => format!("{} (default)", show(value)),
    }
}

fn human(duration: &Duration) -> String {
    humantime::format_duration(*duration).to_string()
}

fn rest_text(rest: &Rest) -> String {
    match rest {
        Rest::For(length) => format!("restLength {}", human(length)),
        Rest::Schedule(cron) => format!("schedule {:?}", cron.as_str()),
    }
}

fn list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}
