//! Backstage's incremental-ingestion admin routes, at the same paths
//! (`/api/catalog/incremental/…`) with the same JSON bodies and the same
//! meaning, so that existing scripts keep working; Weir's extra fields sit
//! beside Backstage's (camelCase where Backstage's are snake_case). Where
//! Weir differs on purpose (the marks are refs, not pages) the difference
//! and its reason are in `docs/http-api.md`, "Differences from Backstage".
//! An unknown provider is 404 with Backstage's body plus the JSON error;
//! mutating routes need the admin token.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::Shared;
use super::auth::{Admin, Reader};
use super::error::{ApiError, ErrorBody};
use super::query::{NoParams, Params};
use super::timestamp::timestamp;
use crate::store::{CycleTotals, Phase, SourceStatus};

/// Finished cycles shown in a provider's status.
const CYCLES_SHOWN: i64 = 10;

/// 404 for a provider this host does not run, with Backstage's body beside
/// the error (`message` for actions, `status`/`last_error` for reads).
fn unknown_provider(provider: &str, read: bool) -> ApiError {
    let text = format!("Provider '{provider}' not found");
    let error = ApiError::not_found(format!(
        "no source named `{provider}` runs on this host; GET /api/catalog/incremental/providers \
         lists them"
    ))
    .with("success", false);
    if read {
        error.with("status", json!({})).with("last_error", text)
    } else {
        error.with("message", text)
    }
}

fn running(api: &Shared, provider: &str, read: bool) -> Result<(), ApiError> {
    if api.engine.runs(provider) {
        Ok(())
    } else {
        Err(unknown_provider(provider, read))
    }
}

/// Backstage's health answer: `healthy` is false only when some provider
/// has more than one open ingestion (`duplicateIngestions`, absent
/// otherwise), which Weir's store cannot hold (one state row per source).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthBody {
    pub healthy: bool,
    /// The providers with duplicate open ingestions (Backstage); absent when
    /// healthy.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicate_ingestions: Vec<String>,
    /// Sources backing off after failed bursts (Weir). They do not make
    /// `healthy` false: Backstage's answer to an unhealthy report is
    /// `POST …/cleanup`, which would reset every provider. Absent when none
    /// is, so a healthy answer is Backstage's `{"healthy": true}` exactly.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backing_off: Vec<String>,
}

/// Backstage's health: `{healthy: true}` (Weir cannot hold duplicate
/// ingestions), plus the sources backing off after failed bursts.
#[utoipa::path(
    get,
    path = "/api/catalog/incremental/health",
    tag = "admin",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Health of the providers", body = HealthBody),
        (status = 401, description = "Reading needs a token", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database cannot be read", body = ErrorBody),
    )
)]
pub(super) async fn health(
    State(api): State<Shared>,
    _reader: Reader,
) -> Result<Json<HealthBody>, ApiError> {
    let statuses = api
        .engine
        .store()
        .source_statuses()
        .await
        .map_err(|error| ApiError::from(error).with("healthy", false))?;
    let backing_off: Vec<String> = statuses
        .into_iter()
        .filter(|status| api.engine.runs(&status.source))
        .filter(|status| status.phase == Phase::BackingOff)
        .map(|status| status.source)
        .collect();
    // `source_state` is keyed by source: a second open ingestion of one
    // provider cannot be stored, so there is never a duplicate to report.
    let duplicate_ingestions = Vec::new();
    Ok(Json(HealthBody {
        healthy: true,
        duplicate_ingestions,
        backing_off,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ProvidersBody {
    pub success: bool,
    /// The provider names (Backstage).
    pub providers: Vec<String>,
    /// Each provider's phase and next action (Weir).
    pub sources: Vec<ProviderSummary>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSummary {
    pub name: String,
    /// `resting`, `interstitial`, `bursting` or `backing off`; absent
    /// before the source's first start.
    pub phase: Option<String>,
    pub next_action_at: Option<String>,
    pub cycle: i64,
    /// Whether the source's plugin takes pushed events.
    pub push: bool,
}

/// The providers this host runs.
#[utoipa::path(
    get,
    path = "/api/catalog/incremental/providers",
    tag = "admin",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The providers", body = ProvidersBody),
        (status = 401, description = "Reading needs a token", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database does not answer, or the server is shutting down; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn providers(
    State(api): State<Shared>,
    _reader: Reader,
) -> Result<Json<ProvidersBody>, ApiError> {
    let statuses = api.engine.store().source_statuses().await?;
    let providers: Vec<String> = api.engine.sources();
    let sources = providers
        .iter()
        .map(|name| {
            let status = statuses.iter().find(|status| &status.source == name);
            ProviderSummary {
                name: name.clone(),
                phase: status.map(|status| status.phase.as_str().to_owned()),
                next_action_at: status.map(|status| timestamp(status.next_action_ms)),
                cycle: status.map_or(0, |status| status.cycle),
                push: api
                    .engine
                    .plugin(name)
                    .is_some_and(|plugin| plugin.supports_push()),
            }
        })
        .collect();
    Ok(Json(ProvidersBody {
        success: true,
        providers,
        sources,
    }))
}

/// Backstage's `status` object.
#[derive(Serialize, ToSchema)]
pub struct BackstageStatus {
    /// The phase, or `rest complete, waiting to start` before the first.
    pub current_action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_action_at: Option<String>,
}

/// A provider's status: Backstage's fields, then Weir's.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStatusBody {
    pub success: bool,
    pub status: BackstageStatus,
    #[serde(rename = "last_error")]
    pub last_error: Option<String>,
    pub provider: String,
    /// `resting`, `interstitial`, `bursting` or `backing off`.
    pub phase: Option<String>,
    pub next_action_at: Option<String>,
    /// The current (or last) cycle's number; 0 before the first.
    pub cycle: i64,
    /// When the current cycle started; absent between cycles.
    pub cycle_started_at: Option<String>,
    /// The stored cursor: where the next burst resumes.
    #[schema(value_type = Option<Object>)]
    pub cursor: Option<Value>,
    /// The current cycle's totals so far.
    pub totals: Totals,
    /// Consecutive failed bursts (the back-off step).
    pub failures: i64,
    pub last_error_at: Option<String>,
    /// What the last sweep did, or why it was refused.
    pub last_sweep: Option<String>,
    /// The replica running the source's burst, and until when.
    pub lease: Option<Lease>,
    /// Entities the source contributes to now.
    pub entities: i64,
    /// Whether the plugin takes pushed events.
    pub push: bool,
    /// The latest errors, newest first.
    pub recent_errors: Vec<ErrorInfo>,
    /// The latest finished cycles, newest first.
    pub cycles: Vec<CycleInfo>,
    /// Which file and build run, and its reloads.
    pub plugin: Option<PluginInfo>,
}

/// The plugin a source runs, and what happened to its other versions.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginInfo {
    pub file: String,
    /// `sha256:<hex>` of the running version's bytes.
    pub build: String,
    /// Versions switched in after the first (new builds, new settings,
    /// rollbacks).
    pub reloads: u64,
    pub last_reload_at: Option<String>,
    /// Why the last attempt to load or run a new version failed.
    pub last_reload_error: Option<String>,
    /// `sha256:<hex>` of a build that was rolled back; it is not loaded
    /// again until its file changes.
    pub quarantined: Option<String>,
    /// Secrets the plugin's manifest asks for that the operator does not
    /// grant: the source reads none for them.
    pub missing_secrets: Vec<String>,
}

fn plugin_info(api: &Shared, provider: &str) -> Option<PluginInfo> {
    let status = api.engine.reload_statuses().remove(provider)?;
    Some(PluginInfo {
        file: status.file.display().to_string(),
        build: format!("sha256:{}", status.build),
        reloads: status.reloads,
        last_reload_at: status.last_reload_ms.map(timestamp),
        last_reload_error: status.last_error,
        quarantined: status.quarantined.map(|build| format!("sha256:{build}")),
        missing_secrets: status.missing_secrets,
    })
}

#[derive(Serialize, ToSchema)]
pub struct Totals {
    pub pages: i64,
    pub entities: i64,
    pub added: i64,
    pub updated: i64,
    pub removed: i64,
    pub rejected: i64,
    pub errors: i64,
}

impl From<CycleTotals> for Totals {
    fn from(t: CycleTotals) -> Self {
        Totals {
            pages: t.pages,
            entities: t.entities,
            added: t.added,
            updated: t.updated,
            removed: t.removed,
            rejected: t.rejected,
            errors: t.errors,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Lease {
    pub owner: String,
    pub until: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorInfo {
    pub at: String,
    pub cycle: i64,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CycleInfo {
    pub cycle: i64,
    pub started_at: String,
    pub ended_at: String,
    /// `completed`, `failed` or `cancelled`.
    pub outcome: String,
    pub totals: Totals,
    pub sweep: Option<String>,
}

/// A provider's status: phase, next action, the cycle so far, cursor,
/// lease, latest errors and cycles.
#[utoipa::path(
    get,
    path = "/api/catalog/incremental/providers/{provider}",
    tag = "admin",
    params(("provider" = String, Path, description = "The provider (source) name")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The provider's status", body = ProviderStatusBody),
        (status = 400, description = "A query parameter (this route takes none)", body = ErrorBody),
        (status = 401, description = "Reading needs a token", body = ErrorBody),
        (status = 404, description = "No such provider", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database does not answer, or the server is shutting down; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn provider_status(
    State(api): State<Shared>,
    reader: Reader,
    Path(provider): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ProviderStatusBody>, ApiError> {
    Params::parse::<NoParams>(raw.as_deref())?;
    running(&api, &provider, true)?;
    let store = api.engine.store();
    let push = api
        .engine
        .plugin(&provider)
        .is_some_and(|plugin| plugin.supports_push());
    let entities = store.contribution_count(&provider).await?;
    let Some(status) = store.source_status(&provider).await? else {
        let mut body = waiting_to_start(provider, entities, push);
        body.plugin = plugin_info(&api, &body.provider);
        return Ok(Json(body));
    };
    let recent_errors = store
        .recent_errors(&provider)
        .await?
        .into_iter()
        .map(|e| ErrorInfo {
            at: timestamp(e.at_ms),
            cycle: e.cycle,
            message: e.message,
        })
        .collect();
    let cycles = store
        .cycles(&provider, CYCLES_SHOWN)
        .await?
        .into_iter()
        .map(|c| CycleInfo {
            cycle: c.cycle,
            started_at: timestamp(c.started_ms),
            ended_at: timestamp(c.ended_ms),
            outcome: c.outcome,
            totals: c.totals.into(),
            sweep: c.sweep,
        })
        .collect();
    let mut body = status_body(status, entities, push, recent_errors, cycles);
    body.plugin = plugin_info(&api, &provider);
    if !reader.is_admin {
        body.redact();
    }
    Ok(Json(body))
}

impl ProviderStatusBody {
    /// What a reader who is not an admin may see: no cursor, no file paths,
    /// nothing a plugin printed.
    fn redact(&mut self) {
        self.cursor = None;
        self.last_error = self.last_error.as_deref().map(redacted);
        for error in &mut self.recent_errors {
            error.message = redacted(&error.message);
        }
        if let Some(plugin) = &mut self.plugin {
            plugin.file = file_name(&plugin.file);
            plugin.last_reload_error = plugin.last_reload_error.as_deref().map(redacted);
        }
    }
}

/// An error message without what the guest printed and with each path
/// reduced to its last part.
fn redacted(message: &str) -> String {
    let message = message
        .split("; the guest's last output:")
        .next()
        .unwrap_or(message);
    message
        .split(' ')
        .map(|word| {
            if word.contains('/') {
                file_name(word)
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last part of a path (`plugins/github.wasm` → `github.wasm`).
fn file_name(path: &str) -> String {
    let trimmed = path.trim_end_matches([':', ',', ';', ')']);
    let name = trimmed.rsplit('/').next().unwrap_or(trimmed);
    format!("{name}{}", &path[trimmed.len()..])
}

fn waiting_to_start(provider: String, entities: i64, push: bool) -> ProviderStatusBody {
    ProviderStatusBody {
        success: true,
        status: BackstageStatus {
            current_action: "rest complete, waiting to start".into(),
            next_action_at: None,
        },
        last_error: None,
        provider,
        phase: None,
        next_action_at: None,
        cycle: 0,
        cycle_started_at: None,
        cursor: None,
        totals: CycleTotals::default().into(),
        failures: 0,
        last_error_at: None,
        last_sweep: None,
        lease: None,
        entities,
        push,
        recent_errors: Vec::new(),
        cycles: Vec::new(),
        plugin: None,
    }
}

fn status_body(
    status: SourceStatus,
    entities: i64,
    push: bool,
    recent_errors: Vec<ErrorInfo>,
    cycles: Vec<CycleInfo>,
) -> ProviderStatusBody {
    let next_action_at = timestamp(status.next_action_ms);
    ProviderStatusBody {
        success: true,
        status: BackstageStatus {
            current_action: status.phase.as_str().to_owned(),
            next_action_at: Some(next_action_at.clone()),
        },
        last_error: status.last_error,
        provider: status.source,
        phase: Some(status.phase.as_str().to_owned()),
        next_action_at: Some(next_action_at),
        cycle: status.cycle,
        cycle_started_at: status.cycle_started_ms.map(timestamp),
        cursor: status
            .cursor
            .map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text))),
        totals: status.totals.into(),
        failures: status.failures,
        last_error_at: status.last_error_ms.map(timestamp),
        last_sweep: status.last_sweep,
        lease: status.lease_owner.map(|owner| Lease {
            owner,
            until: status.lease_until_ms.map(timestamp),
        }),
        entities,
        push,
        recent_errors,
        cycles,
        plugin: None,
    }
}

/// Backstage's answer to an action.
#[derive(Serialize, ToSchema)]
pub struct ActionBody {
    pub success: bool,
    pub message: String,
}

/// Backstage's answer to a trigger, and whether it changed anything.
#[derive(Serialize, ToSchema)]
pub struct TriggerBody {
    pub success: bool,
    pub message: String,
    /// Whether the next action was moved to now (Weir): false while a burst
    /// runs, whose next action follows it as scheduled (as in Backstage,
    /// where a trigger during a burst changes nothing either).
    pub triggered: bool,
}

/// Do the provider's next action now: the next burst when pausing or
/// backing off, a new cycle when resting. While a burst runs it changes
/// nothing (`triggered: false`), and answers 200 as Backstage does.
#[utoipa::path(
    post,
    path = "/api/catalog/incremental/providers/{provider}/trigger",
    tag = "admin",
    params(("provider" = String, Path, description = "The provider (source) name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Triggered (or, while a burst runs, nothing to trigger: `triggered` is false)", body = TriggerBody),
        (status = 401, description = "The admin token is missing or wrong", body = ErrorBody),
        (status = 403, description = "The read token was sent: this route needs the admin token", body = ErrorBody),
        (status = 404, description = "No such provider", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database does not answer, or the server is shutting down; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn trigger(
    State(api): State<Shared>,
    _admin: Admin,
    Path(provider): Path<String>,
) -> Result<Json<TriggerBody>, ApiError> {
    running(&api, &provider, false)?;
    let status = api.engine.store().source_status(&provider).await?;
    let bursting = status.is_some_and(|status| status.phase == Phase::Bursting);
    if !bursting {
        api.engine.trigger(&provider).await?;
    }
    Ok(Json(TriggerBody {
        success: true,
        message: format!("{provider}: Next action triggered."),
        triggered: !bursting,
    }))
}

/// End the current cycle (nothing is swept) and start a new one now.
#[utoipa::path(
    post,
    path = "/api/catalog/incremental/providers/{provider}/start",
    tag = "admin",
    params(("provider" = String, Path, description = "The provider (source) name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A new cycle starts", body = ActionBody),
        (status = 401, description = "The admin token is missing or wrong", body = ErrorBody),
        (status = 403, description = "The read token was sent: this route needs the admin token", body = ErrorBody),
        (status = 404, description = "No such provider", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database does not answer, or the server is shutting down; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn start(
    State(api): State<Shared>,
    _admin: Admin,
    Path(provider): Path<String>,
) -> Result<Json<ActionBody>, ApiError> {
    running(&api, &provider, false)?;
    api.engine.restart(&provider).await?;
    Ok(Json(ActionBody {
        success: true,
        message: format!("{provider}: Next cycle triggered."),
    }))
}

/// End the current cycle (nothing is swept); the source rests until its
/// next scheduled start.
#[utoipa::path(
    post,
    path = "/api/catalog/incremental/providers/{provider}/cancel",
    tag = "admin",
    params(("provider" = String, Path, description = "The provider (source) name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled", body = ActionBody),
        (status = 401, description = "The admin token is missing or wrong", body = ErrorBody),
        (status = 403, description = "The read token was sent: this route needs the admin token", body = ErrorBody),
        (status = 404, description = "No such provider", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database does not answer, or the server is shutting down; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn cancel(
    State(api): State<Shared>,
    _admin: Admin,
    Path(provider): Path<String>,
) -> Result<Json<ActionBody>, ApiError> {
    running(&api, &provider, false)?;
    api.engine.cancel(&provider).await?;
    Ok(Json(ActionBody {
        success: true,
        message: format!("{provider}: Current ingestion canceled."),
    }))
}

/// What resetting a provider deleted (Backstage's counts: an ingestion is a
/// cycle, a mark a committed page, a mark entity a marked ref).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResetBody {
    pub success: bool,
    pub provider: String,
    pub ingestions_deleted: i64,
    pub marks_deleted: i64,
    pub mark_entities_deleted: i64,
}

/// Forget the provider's ingestion records (cursor, marks, history,
/// errors; its entities stay) and start again at its next scheduled start.
#[utoipa::path(
    delete,
    path = "/api/catalog/incremental/providers/{provider}",
    tag = "admin",
    params(("provider" = String, Path, description = "The provider (source) name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Reset", body = ResetBody),
        (status = 401, description = "The admin token is missing or wrong", body = ErrorBody),
        (status = 403, description = "The read token was sent: this route needs the admin token", body = ErrorBody),
        (status = 404, description = "No such provider", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database does not answer, or the server is shutting down; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn reset_provider(
    State(api): State<Shared>,
    _admin: Admin,
    Path(provider): Path<String>,
) -> Result<Json<ResetBody>, ApiError> {
    running(&api, &provider, false)?;
    Ok(Json(reset(&api, &provider).await?))
}

async fn reset(api: &Arc<super::Api>, provider: &str) -> Result<ResetBody, ApiError> {
    let store = api.engine.store();
    let status = store.source_status(provider).await?;
    let in_cycle = status
        .as_ref()
        .is_some_and(|status| status.cycle_started_ms.is_some());
    let ingestions = store.cycle_count(provider).await? + i64::from(in_cycle);
    let pages = status.map_or(0, |status| status.totals.pages);
    let marks = store.mark_count(provider).await?;
    api.engine.reset(provider).await?;
    Ok(ResetBody {
        success: true,
        provider: provider.to_owned(),
        ingestions_deleted: ingestions,
        marks_deleted: pages,
        mark_entities_deleted: marks,
    })
}

/// The query parameters of the marks listing.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct MarksParams {
    /// Marks per answer, 1 to 100000 (default 10000).
    #[param(minimum = 1, maximum = 100000)]
    limit: Option<i64>,
    /// Marks after this ref (the previous answer's `nextAfter`).
    #[param(pattern = r"^[^\x00]*$")]
    after: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarksBody {
    pub success: bool,
    /// The refs marked in the current cycle, in ref order.
    pub records: Vec<MarkRecord>,
    pub cycle: i64,
    /// The stored cursor the next burst resumes from.
    #[schema(value_type = Option<Object>)]
    pub cursor: Option<Value>,
    /// How many marks the cycle has.
    pub total: i64,
    /// Pass as `after` for the next marks; absent at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarkRecord {
    pub entity_ref: String,
}

/// The refs marked in the provider's current cycle (what its sweep keeps).
#[utoipa::path(
    get,
    path = "/api/catalog/incremental/providers/{provider}/marks",
    tag = "admin",
    params(("provider" = String, Path, description = "The provider (source) name"), MarksParams),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The marks", body = MarksBody),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "Reading needs a token", body = ErrorBody),
        (status = 404, description = "No such provider", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database does not answer, or the server is shutting down; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn marks(
    State(api): State<Shared>,
    reader: Reader,
    Path(provider): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<MarksBody>, ApiError> {
    let params = Params::parse::<MarksParams>(raw.as_deref())?;
    let limit = params.integer("limit", 1..=100_000)?.unwrap_or(10_000);
    let after = params.single("after")?;
    running(&api, &provider, true)?;
    let store = api.engine.store();
    let status = store.source_status(&provider).await?;
    let mut refs = store.marks_page(&provider, after, limit + 1).await?;
    let more = refs.len() as i64 > limit;
    refs.truncate(limit as usize);
    let total = store.mark_count(&provider).await?;
    Ok(Json(MarksBody {
        success: true,
        next_after: more.then(|| refs.last().cloned()).flatten(),
        records: refs
            .into_iter()
            .map(|entity_ref| MarkRecord { entity_ref })
            .collect(),
        cycle: status.as_ref().map_or(0, |status| status.cycle),
        cursor: status
            .and_then(|status| status.cursor)
            .filter(|_| reader.is_admin)
            .map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text))),
        total,
    }))
}

/// Backstage's answer to clearing marks: the counts nest twice
/// (`deletions.deletions`), as Backstage's route wraps what its database
/// manager returns.
#[derive(Serialize, ToSchema)]
pub struct ClearMarksBody {
    pub success: bool,
    pub message: String,
    pub deletions: Deletions,
}

#[derive(Serialize, ToSchema)]
pub struct Deletions {
    pub deletions: MarkDeletions,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarkDeletions {
    /// Marked refs deleted.
    pub mark_entities_deleted: i64,
    /// Mark records (Backstage: one per committed page) deleted.
    pub marks_deleted: i64,
    /// Finished ingestions (cycles) whose records were deleted.
    pub ingestions_deleted: i64,
}

/// The query parameters of clearing marks.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ClearMarksParams {
    /// `current` (Weir): drop the current cycle's marks instead. Careful:
    /// its sweep then removes what the rest of the cycle does not mark
    /// again.
    #[param(inline)]
    cycle: Option<CycleChoice>,
}

// The one value `cycle` takes (no doc comment: it would become the
// schema's description, beside the parameter's own).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum CycleChoice {
    Current,
}

/// Backstage's clean-up of finished ingestions' marks. Weir has none to
/// delete: a cycle's marks are cleared in the transaction that ends it
/// (its sweep), and a finished cycle keeps only its one-row summary (the
/// status's `cycles`, the metrics), which stays. So it answers zeros and
/// changes nothing. `?cycle=current` drops the current cycle's marks.
#[utoipa::path(
    delete,
    path = "/api/catalog/incremental/providers/{provider}/marks",
    tag = "admin",
    params(("provider" = String, Path, description = "The provider (source) name"), ClearMarksParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Marks of finished cycles (none) or, with `cycle=current`, of the current cycle dropped", body = ClearMarksBody),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "The admin token is missing or wrong", body = ErrorBody),
        (status = 403, description = "The read token was sent: this route needs the admin token", body = ErrorBody),
        (status = 404, description = "No such provider", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database does not answer, or the server is shutting down; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn clear_marks(
    State(api): State<Shared>,
    _admin: Admin,
    Path(provider): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ClearMarksBody>, ApiError> {
    let params = Params::parse::<ClearMarksParams>(raw.as_deref())?;
    let current = match params.single("cycle")? {
        None => false,
        Some("current") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "cycle: expected `current` (drop the current cycle's marks), found {other:?}; \
                 without it, the marks of finished cycles are cleared"
            )));
        }
    };
    running(&api, &provider, false)?;
    let mut deleted = MarkDeletions {
        mark_entities_deleted: 0,
        marks_deleted: 0,
        ingestions_deleted: 0,
    };
    if current {
        let store = api.engine.store();
        deleted.mark_entities_deleted = store.mark_count(&provider).await?;
        store.clear_marks(&provider).await?;
    }
    Ok(Json(ClearMarksBody {
        success: true,
        message: format!("Expired marks for provider '{provider}' removed."),
        deletions: Deletions { deletions: deleted },
    }))
}

/// What cleaning up every provider deleted (Backstage's counts).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CleanupBody {
    pub success: bool,
    pub ingestions_deleted: i64,
    pub ingestion_marks_deleted: i64,
    pub mark_entities_deleted: i64,
    /// The providers reset.
    pub providers: Vec<String>,
}

/// Reset every provider (as `DELETE …/providers/{provider}` does each):
/// their entities stay; each starts again at its next scheduled start.
#[utoipa::path(
    post,
    path = "/api/catalog/incremental/cleanup",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every provider reset", body = CleanupBody),
        (status = 401, description = "The admin token is missing or wrong", body = ErrorBody),
        (status = 403, description = "The read token was sent: this route needs the admin token", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database does not answer, or the server is shutting down; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn cleanup(
    State(api): State<Shared>,
    _admin: Admin,
) -> Result<Json<CleanupBody>, ApiError> {
    let providers: Vec<String> = api.engine.sources();
    let mut body = CleanupBody {
        success: true,
        ingestions_deleted: 0,
        ingestion_marks_deleted: 0,
        mark_entities_deleted: 0,
        providers: Vec::new(),
    };
    for provider in providers {
        let reset = reset(&api, &provider).await?;
        body.ingestions_deleted += reset.ingestions_deleted;
        body.ingestion_marks_deleted += reset.marks_deleted;
        body.mark_entities_deleted += reset.mark_entities_deleted;
        body.providers.push(provider);
    }
    Ok(Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redacted_message_keeps_no_path_and_no_guest_output() {
        assert_eq!(
            redacted(
                "/srv/weir/plugins/github.wasm: source `github`: next: the guest trapped: \
                 unreachable; the guest's last output: token=abc /etc/passwd"
            ),
            "github.wasm: source `github`: next: the guest trapped: unreachable"
        );
        assert_eq!(file_name("plugins/a.wasm"), "a.wasm");
        assert_eq!(file_name("(plugins/a.wasm),"), "a.wasm),");
        assert_eq!(redacted("no paths here"), "no paths here");
    }
}
