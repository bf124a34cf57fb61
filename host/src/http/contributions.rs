//! `GET /api/entities/by-ref/{kind}/{namespace}/{name}/contributions`: each
//! source's own version of an entity (what it sent, before the merge, with
//! its plugin build and any error), and the entity's latest event, to read
//! beside the merged entity and its provenance.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::auth::Reader;
use super::entities::{RefPath, path_ref};
use super::error::{ApiError, ErrorBody};
use super::query::{NoParams, Params};
use super::timestamp::timestamp;
use super::{Shared, within_budget};
use crate::store::{ChangeKind, LatestEvent, OwnVersion, StoreError};

/// Each source's version of an entity, and its latest event.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContributionsBody {
    pub entity_ref: String,
    /// Highest priority first (the merge's order).
    pub contributions: Vec<OwnContribution>,
    /// The ref's latest event: the log is compacted, so it keeps one per
    /// ref. Absent if the ref never was in the catalog (or its removal was
    /// purged).
    pub latest_event: Option<LatestEventInfo>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnContribution {
    pub source: String,
    pub priority: i64,
    /// `sha256:<hex>` of the plugin build that produced it.
    pub plugin_build: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_key: Option<String>,
    /// The entity as the source sent it (its last good version when
    /// `error` is set).
    #[schema(value_type = Object)]
    pub entity: Box<RawValue>,
    /// Why the source's latest version was refused, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub first_seen_at: String,
    pub updated_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatestEventInfo {
    pub offset: i64,
    /// `added`, `updated` or `removed`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub at: String,
}

/// Each source's own version of an entity, and its latest event.
#[utoipa::path(
    get,
    path = "/api/entities/by-ref/{kind}/{namespace}/{name}/contributions",
    tag = "entities",
    params(RefPath),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The sources' versions (none for a removed ref)", body = ContributionsBody),
        (status = 400, description = "A malformed ref, or a query parameter (this route takes none)", body = ErrorBody),
        (status = 401, description = "Reading needs a token", body = ErrorBody),
        (status = 404, description = "No source ever sent this ref", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database does not answer, or the read took longer than the request budget; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn entity_contributions(
    State(api): State<Shared>,
    _reader: Reader,
    Path((kind, namespace, name)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ContributionsBody>, ApiError> {
    within_budget(&api, read(&api, (kind, namespace, name), raw.as_deref())).await
}

async fn read(
    api: &Shared,
    (kind, namespace, name): (String, String, String),
    raw: Option<&str>,
) -> Result<Json<ContributionsBody>, ApiError> {
    Params::parse::<NoParams>(raw)?;
    let entity_ref = path_ref(&kind, &namespace, &name)?;
    let store = api.engine.store();
    let versions = store.own_versions(&entity_ref).await?;
    let latest = store.latest_event(&entity_ref).await?;
    if versions.is_empty() && latest.is_none() {
        return Err(ApiError::not_found(format!(
            "no source contributes {entity_ref}, and the event log has no event of it"
        )));
    }
    let contributions = versions
        .into_iter()
        .map(|version| contribution(&entity_ref, version))
        .collect::<Result<_, _>>()?;
    Ok(Json(ContributionsBody {
        entity_ref,
        contributions,
        latest_event: latest.map(event_info),
    }))
}

fn contribution(entity_ref: &str, version: OwnVersion) -> Result<OwnContribution, ApiError> {
    let entity = RawValue::from_string(version.body).map_err(|error| {
        ApiError::from(StoreError::Corrupt {
            entity_ref: entity_ref.to_owned(),
            what: "source body",
            error: error.to_string(),
        })
    })?;
    Ok(OwnContribution {
        source: version.source,
        priority: version.priority,
        plugin_build: build_name(&version.plugin_build),
        location_key: version.location_key,
        entity,
        error: version.error,
        first_seen_at: timestamp(version.first_seen_ms),
        updated_at: timestamp(version.updated_ms),
    })
}

/// `sha256:<hex>`, whether or not the store kept the prefix.
fn build_name(build: &str) -> String {
    if build.starts_with("sha256:") {
        build.to_owned()
    } else {
        format!("sha256:{build}")
    }
}

fn event_info(event: LatestEvent) -> LatestEventInfo {
    let event_type = match event.kind {
        ChangeKind::Added => "added",
        ChangeKind::Updated => "updated",
        ChangeKind::Removed => "removed",
    };
    LatestEventInfo {
        offset: event.offset,
        event_type: event_type.to_owned(),
        at: timestamp(event.at_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_are_named_with_their_algorithm_once() {
        assert_eq!(build_name("ab12"), "sha256:ab12");
        assert_eq!(build_name("sha256:ab12"), "sha256:ab12");
    }

    #[test]
    fn a_corrupt_body_names_its_entity() {
        let version = OwnVersion {
            source: "s".into(),
            priority: 0,
            plugin_build: "b".into(),
            location_key: None,
            body: "{not json".into(),
            error: None,
            first_seen_ms: 0,
            updated_ms: 0,
        };
        let error = contribution("component:default/x", version)
            .err()
            .expect("a corrupt body is an error");
        assert_eq!(
            error.status(),
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
