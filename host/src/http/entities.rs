//! The entities: `GET /api/entities`, a filtered listing in cursor pages
//! that also says from which event offset to follow the stream, and
//! `GET /api/entities/by-ref/{kind}/{namespace}/{name}` with the entity's
//! provenance.
//!
//! Bootstrapping a mirror: read every page of `/api/entities`, then follow
//! `/api/events` from the listing's `lastEventOffset`. That offset is the
//! log's head read *before* the first page (every page of one listing
//! carries the same one, through the cursor), so every change the pages may
//! have missed comes after it in the stream; a change they already show
//! comes again, and applying it twice leaves the same state.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use weir_core::entity_ref::EntityRef;

use super::auth::Reader;
use super::error::{ApiError, ErrorBody};
use super::query::{NoParams, Params};
use super::timestamp::timestamp;
use super::{Shared, within_budget};
use crate::store::{EntityQuery, EntityText, StoreError};

/// Items per page when `limit` is not given, and the most it may ask for.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 5000;
/// Rows one request looks at when a `filter` must be checked on each
/// entity: the page may come back short (even empty) with a `nextCursor`.
const SCAN_BUDGET: usize = 20_000;
/// The most `filter` alternatives one request may give, and the most
/// conditions one of them may join.
const MAX_FILTERS: usize = 20;
const MAX_CONDITIONS: usize = 20;

/// The query parameters of `GET /api/entities`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListEntitiesParams {
    /// Only these kinds (case-insensitive; repeat the parameter or separate
    /// with commas; each item must have a character other than spaces).
    #[param(
        pattern = r"^[^,\x00]*[^,\x00 \t\n\f\r][^,\x00]*(,[^,\x00]*[^,\x00 \t\n\f\r][^,\x00]*)*$"
    )]
    kind: Option<Vec<String>>,
    /// Only these namespaces (case-insensitive; repeatable, comma-separated).
    #[param(
        pattern = r"^[^,\x00]*[^,\x00 \t\n\f\r][^,\x00]*(,[^,\x00]*[^,\x00 \t\n\f\r][^,\x00]*)*$"
    )]
    namespace: Option<Vec<String>>,
    /// Only entities this source contributes to (a provider name).
    #[param(pattern = r"^[^\x00]*$")]
    source: Option<String>,
    /// `key=value` conditions on entity fields, Backstage-style: keys are
    /// dotted paths (`spec.type`, `metadata.annotations.backstage.io/owner`),
    /// values compare case-insensitively, an array matches if any element
    /// does, and a bare `key` asks that the field exists. Conditions joined
    /// by commas (at most 20) must all hold; repeated `filter` parameters
    /// (at most 20) are alternatives.
    #[param(
        max_items = 20,
        pattern = r"^[^,=\x00]*[^,=\x00 \t\n\f\r][^,=\x00]*(=[^,\x00]*)?(,[^,=\x00]*[^,=\x00 \t\n\f\r][^,=\x00]*(=[^,\x00]*)?){0,19}$"
    )]
    filter: Option<Vec<String>>,
    /// Items per page, 1 to 5000 (default 100).
    #[param(minimum = 1, maximum = 5000)]
    limit: Option<i64>,
    /// The `nextCursor` of the previous page. The other filters may be
    /// repeated with it, but not changed.
    #[param(pattern = r"^[^\x00]*$")]
    cursor: Option<String>,
}

/// One page of entities.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntityPage {
    pub items: Vec<EntityItem>,
    pub page_info: PageInfo,
    /// Follow `/api/events` from this offset once every page is read: the
    /// log's head before the listing's first page (the same on each page).
    pub last_event_offset: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntityItem {
    /// `kind:namespace/name`, lower case: the key of the event stream.
    pub entity_ref: String,
    /// The offset of the entity's latest event.
    pub event_offset: i64,
    #[schema(value_type = Object)]
    pub entity: Box<RawValue>,
    /// The source whose contribution wins the entity's merge (the highest
    /// priority, then the name that sorts first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The location key that source gave the entity; absent when it gave
    /// none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_key: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    /// Absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A listing's filters, as carried in its cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Listing {
    #[serde(rename = "k", default, skip_serializing_if = "Vec::is_empty")]
    kinds: Vec<String>,
    #[serde(rename = "n", default, skip_serializing_if = "Vec::is_empty")]
    namespaces: Vec<String>,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(rename = "f", default, skip_serializing_if = "Vec::is_empty")]
    filters: Vec<String>,
}

/// Where the next page starts.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    /// The last ref looked at.
    #[serde(rename = "a")]
    after: String,
    /// The listing's `lastEventOffset`.
    #[serde(rename = "o")]
    offset: i64,
    #[serde(rename = "q")]
    listing: Listing,
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a cursor serialises"))
    }

    fn decode(text: &str) -> Result<Cursor, ApiError> {
        URL_SAFE_NO_PAD
            .decode(text.trim())
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| {
                ApiError::bad_request(
                    "`cursor` is not a cursor this API issued: pass a page's `nextCursor` as it is",
                )
            })
    }
}

/// List entities in ref order, filtered, in cursor pages.
#[utoipa::path(
    get,
    path = "/api/entities",
    tag = "entities",
    params(ListEntitiesParams),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of entities", body = EntityPage),
        (status = 400, description = "A bad parameter or cursor", body = ErrorBody),
        (status = 401, description = "Reading needs a token", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database does not answer, or the listing took longer than the request budget; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn list_entities(
    State(api): State<Shared>,
    _reader: Reader,
    RawQuery(raw): RawQuery,
) -> Result<Json<EntityPage>, ApiError> {
    within_budget(&api, list(&api, raw.as_deref())).await
}

async fn list(api: &Shared, raw: Option<&str>) -> Result<Json<EntityPage>, ApiError> {
    let params = Params::parse::<ListEntitiesParams>(raw)?;
    let limit = params
        .integer("limit", 1..=MAX_LIMIT)?
        .unwrap_or(DEFAULT_LIMIT);
    let asked = Listing {
        kinds: params.list_lower("kind")?,
        namespaces: params.list_lower("namespace")?,
        source: params.single("source")?.map(str::to_owned),
        filters: params.all("filter").map(str::to_owned).collect(),
    };
    if asked.filters.len() > MAX_FILTERS {
        return Err(ApiError::bad_request(format!(
            "{} `filter` parameters given; at most {MAX_FILTERS} alternatives are taken",
            asked.filters.len()
        ))
        .with_code("too_many_filters"));
    }
    let store = api.engine.store();
    let (listing, after, offset) = match params.single("cursor")? {
        Some(text) => {
            let cursor = Cursor::decode(text)?;
            if asked != Listing::default() && asked != cursor.listing {
                return Err(ApiError::bad_request(
                    "the cursor belongs to a listing with other filters: repeat the same \
                     kind, namespace, source and filter parameters, or none",
                ));
            }
            (cursor.listing, Some(cursor.after), cursor.offset)
        }
        // The head first: the pages then show at least what it covers.
        None => (asked, None, store.last_offset().await?),
    };
    let conditions = listing
        .filters
        .iter()
        .map(|filter| parse_filter(filter))
        .collect::<Result<Vec<_>, _>>()?;
    let (items, next_after) = if conditions.is_empty() {
        plain_page(store, &listing, after, limit).await?
    } else {
        filtered_page(store, &listing, &conditions, after, limit).await?
    };
    let next_cursor = next_after.map(|after| {
        Cursor {
            after,
            offset,
            listing,
        }
        .encode()
    });
    Ok(Json(EntityPage {
        items,
        page_info: PageInfo { next_cursor },
        last_event_offset: offset,
    }))
}

fn query<'a>(listing: &'a Listing, after: Option<&'a str>, limit: i64) -> EntityQuery<'a> {
    EntityQuery {
        kinds: &listing.kinds,
        namespaces: &listing.namespaces,
        source: listing.source.as_deref(),
        after,
        limit,
    }
}

/// A page without field conditions: one query for one more row than the
/// page holds, to know whether another page follows.
async fn plain_page(
    store: &crate::store::Catalog,
    listing: &Listing,
    after: Option<String>,
    limit: i64,
) -> Result<(Vec<EntityItem>, Option<String>), ApiError> {
    let mut rows = store
        .entity_rows(&query(listing, after.as_deref(), limit + 1))
        .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = more
        .then(|| rows.last().map(|row| row.entity_ref.clone()))
        .flatten();
    let items = rows.into_iter().map(item).collect::<Result<_, _>>()?;
    Ok((items, next))
}

/// A page with field conditions, checked on each entity: rows are read in
/// batches until the page is full, the catalog ends or the scan budget is
/// spent (then the page is short and its cursor resumes the scan).
async fn filtered_page(
    store: &crate::store::Catalog,
    listing: &Listing,
    conditions: &[Vec<Condition>],
    mut after: Option<String>,
    limit: i64,
) -> Result<(Vec<EntityItem>, Option<String>), ApiError> {
    let batch = limit.clamp(500, 2000);
    let mut items = Vec::new();
    let mut scanned = 0;
    let conditions = std::sync::Arc::new(conditions.to_vec());
    loop {
        let rows = store
            .entity_rows(&query(listing, after.as_deref(), batch))
            .await?;
        let ended = (rows.len() as i64) < batch;
        scanned += rows.len();
        let last_looked_at = rows.last().map(|row| row.entity_ref.clone());
        // Parsing and matching each row is CPU work: off the async threads.
        let conditions = std::sync::Arc::clone(&conditions);
        let matching = tokio::task::spawn_blocking(move || matching_rows(rows, &conditions))
            .await
            .map_err(|error| ApiError::internal(format!("matching a filter failed: {error}")))??;
        for row in matching {
            let entity_ref = row.entity_ref.clone();
            items.push(item(row)?);
            if items.len() as i64 == limit {
                // The next page looks on after this one.
                return Ok((items, Some(entity_ref)));
            }
        }
        after = last_looked_at.or(after);
        if ended {
            return Ok((items, None));
        }
        if scanned >= SCAN_BUDGET {
            return Ok((items, after));
        }
    }
}

/// The rows whose entity meets one of the alternatives, in order.
fn matching_rows(
    rows: Vec<EntityText>,
    conditions: &[Vec<Condition>],
) -> Result<Vec<EntityText>, ApiError> {
    let mut matching = Vec::new();
    for row in rows {
        let entity: Value = serde_json::from_str(&row.body).map_err(|error| {
            ApiError::from(StoreError::Corrupt {
                entity_ref: row.entity_ref.clone(),
                what: "body",
                error: error.to_string(),
            })
        })?;
        if conditions
            .iter()
            .any(|all| all.iter().all(|condition| condition.holds(&entity)))
        {
            matching.push(row);
        }
    }
    Ok(matching)
}

fn item(row: EntityText) -> Result<EntityItem, ApiError> {
    let entity = RawValue::from_string(row.body).map_err(|error| {
        ApiError::from(StoreError::Corrupt {
            entity_ref: row.entity_ref.clone(),
            what: "body",
            error: error.to_string(),
        })
    })?;
    Ok(EntityItem {
        entity_ref: row.entity_ref,
        event_offset: row.event_offset,
        entity,
        source: row.winner.source,
        location_key: row.winner.location_key,
    })
}

/// One `key=value` (or bare `key`) condition of a `filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    /// The dotted path, lower case.
    key: String,
    /// Lower case; `None` asks only that the field exists.
    value: Option<String>,
}

fn parse_filter(text: &str) -> Result<Vec<Condition>, ApiError> {
    let count = text.split(',').count();
    if count > MAX_CONDITIONS {
        return Err(ApiError::bad_request(format!(
            "a filter joins {count} conditions; at most {MAX_CONDITIONS} are taken"
        ))
        .with_code("too_many_filters"));
    }
    text.split(',')
        .map(|part| {
            // ASCII white space only, as the document's pattern says.
            let trim = |text: &str| {
                text.trim_matches(|c: char| c.is_ascii_whitespace())
                    .to_owned()
            };
            let (key, value) = match part.split_once('=') {
                Some((key, value)) => (trim(key), Some(trim(value).to_lowercase())),
                None => (trim(part), None),
            };
            if key.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "filter {text:?}: each condition is `key=value` or `key`, with a key such \
                     as `spec.type` or `metadata.annotations.backstage.io/owner`"
                )));
            }
            Ok(Condition {
                key: key.to_lowercase(),
                value,
            })
        })
        .collect()
}

impl Condition {
    fn holds(&self, entity: &Value) -> bool {
        matches_at(entity, &self.key, self.value.as_deref())
    }
}

/// Whether some field at the dotted path `key` below `value` matches. Keys
/// may contain dots themselves (`backstage.io/owner`), so at each object
/// every member whose name is a prefix of the path is tried; arrays are
/// looked through, as Backstage flattens them.
fn matches_at(value: &Value, key: &str, expected: Option<&str>) -> bool {
    match value {
        Value::Object(members) => members.iter().any(|(name, member)| {
            let name = name.to_lowercase();
            if key == name {
                leaf_matches(member, expected)
            } else {
                key.strip_prefix(name.as_str())
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|rest| matches_at(member, rest, expected))
            }
        }),
        Value::Array(items) => items.iter().any(|item| matches_at(item, key, expected)),
        _ => false,
    }
}

fn leaf_matches(value: &Value, expected: Option<&str>) -> bool {
    let Some(expected) = expected else {
        return !value.is_null();
    };
    match value {
        Value::String(text) => text.to_lowercase() == expected,
        Value::Number(number) => number.to_string() == expected,
        Value::Bool(flag) => flag.to_string() == expected,
        Value::Array(items) => items.iter().any(|item| leaf_matches(item, Some(expected))),
        Value::Null | Value::Object(_) => false,
    }
}

/// A merged entity with its provenance.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntityDetail {
    pub entity_ref: String,
    #[schema(value_type = Object)]
    pub entity: Value,
    /// Hex SHA-256 of the entity's canonical JSON (RFC 8785).
    pub hash: String,
    pub event_offset: i64,
    /// Which source supplied each top-level and `metadata` field, and which
    /// won each annotation and label.
    #[schema(value_type = Object)]
    pub provenance: Value,
    /// Every source contributing to the entity, highest priority first.
    pub sources: Vec<ContributorInfo>,
    /// Sources whose latest version of the entity was invalid: their last
    /// good version is what was merged.
    pub errors: Vec<SourceErrorInfo>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContributorInfo {
    pub source: String,
    pub priority: i64,
    /// The SHA-256 of the plugin build that produced the contribution.
    pub plugin_build: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_key: Option<String>,
    /// When the source last changed its contribution (RFC 3339).
    pub updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct SourceErrorInfo {
    pub source: String,
    pub error: String,
}

/// The path parameters of the routes of one entity
/// (`/api/entities/by-ref/{kind}/{namespace}/{name}…`). Each part is
/// trimmed of ASCII white space and must keep a character; none may hold a
/// NUL (U+0000), which no entity's ref holds, and the kind may not hold a
/// `:` (`kind:namespace/name` is a ref, not a kind).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct RefPath {
    /// The entity's kind (case-insensitive); no `:`.
    #[param(pattern = r"^[^:\x00]*[^:\x00 \t\n\f\r][^:\x00]*$")]
    kind: String,
    /// Its namespace (`default` when it names none).
    #[param(pattern = r"^[^\x00]*[^\x00 \t\n\f\r][^\x00]*$")]
    namespace: String,
    /// Its name.
    #[param(pattern = r"^[^\x00]*[^\x00 \t\n\f\r][^\x00]*$")]
    name: String,
}

/// The ref the path parameters of an entity's route name, as
/// [`RefPath`] documents them: 400 naming the part that is wrong.
pub(super) fn path_ref(kind: &str, namespace: &str, name: &str) -> Result<String, ApiError> {
    for (part, value) in [("kind", kind), ("namespace", namespace), ("name", name)] {
        if value.contains('\0') {
            return Err(ApiError::bad_request(format!(
                "the {part} {value:?} contains a NUL character (U+0000), which no entity ref holds"
            )));
        }
    }
    if kind.contains(':') {
        return Err(ApiError::bad_request(format!(
            "kind {kind:?} contains `:`; the path is /api/entities/by-ref/KIND/NAMESPACE/NAME"
        )));
    }
    // ASCII white space only, as the document's patterns say.
    let trim = |part: &str| {
        part.trim_matches(|c: char| c.is_ascii_whitespace())
            .to_owned()
    };
    EntityRef::new(&trim(kind), &trim(namespace), &trim(name))
        .map(|entity_ref| entity_ref.to_string())
        .map_err(|error| ApiError::bad_request(error.to_string()))
}

/// One entity by its ref, with its provenance.
#[utoipa::path(
    get,
    path = "/api/entities/by-ref/{kind}/{namespace}/{name}",
    tag = "entities",
    params(RefPath),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The entity", body = EntityDetail),
        (status = 400, description = "A malformed ref, or a query parameter (this route takes none)", body = ErrorBody),
        (status = 401, description = "Reading needs a token", body = ErrorBody),
        (status = 404, description = "No such entity", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database does not answer, or the read took longer than the request budget; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn entity_by_ref(
    State(api): State<Shared>,
    _reader: Reader,
    Path((kind, namespace, name)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<EntityDetail>, ApiError> {
    within_budget(&api, detail(&api, (kind, namespace, name), raw.as_deref())).await
}

async fn detail(
    api: &Shared,
    (kind, namespace, name): (String, String, String),
    raw: Option<&str>,
) -> Result<Json<EntityDetail>, ApiError> {
    Params::parse::<NoParams>(raw)?;
    let entity_ref = path_ref(&kind, &namespace, &name)?;
    let store = api.engine.store();
    let Some(stored) = store.entity(&entity_ref).await? else {
        return Err(ApiError::not_found(format!(
            "no entity {entity_ref} in the catalog"
        )));
    };
    let sources = store
        .contributors(&entity_ref)
        .await?
        .into_iter()
        .map(|c| ContributorInfo {
            source: c.source,
            priority: c.priority,
            plugin_build: c.plugin_build,
            location_key: c.location_key,
            updated_at: timestamp(c.updated_ms),
        })
        .collect();
    Ok(Json(EntityDetail {
        entity_ref: stored.entity_ref,
        entity: stored.entity,
        hash: stored.hash,
        event_offset: stored.event_offset,
        provenance: stored.provenance,
        sources,
        errors: stored
            .errors
            .into_iter()
            .map(|(source, error)| SourceErrorInfo { source, error })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn holds(filter: &str, entity: &Value) -> bool {
        parse_filter(filter)
            .unwrap()
            .iter()
            .all(|condition| condition.holds(entity))
    }

    #[test]
    fn filters_match_as_backstage_flattens_entities() {
        let entity = json!({
            "kind": "Component",
            "metadata": {
                "name": "Svc",
                "tags": ["Java", "web"],
                "annotations": { "backstage.io/owner": "Team-A", "github.com/slug": "x/y" },
            },
            "spec": { "type": "service", "replicas": 3, "public": true, "links": [{ "url": "u" }] },
        });
        assert!(holds("kind=component", &entity));
        assert!(holds("metadata.name=svc,spec.type=SERVICE", &entity));
        assert!(holds("metadata.tags=java", &entity));
        assert!(holds(
            "metadata.annotations.backstage.io/owner=team-a",
            &entity
        ));
        assert!(holds("spec.replicas=3,spec.public=true", &entity));
        assert!(holds("spec.links.url=u", &entity));
        assert!(holds("metadata.annotations.github.com/slug", &entity));
        assert!(!holds("metadata.annotations.github.com/other", &entity));
        assert!(!holds("spec.type=website", &entity));
        assert!(!holds("kind=component,spec.type=website", &entity));
        assert!(parse_filter("=x").is_err());
    }

    #[test]
    fn path_refs_are_checked_as_documented() {
        assert_eq!(
            path_ref(" Component\t", "default", "Shop").unwrap(),
            "component:default/shop"
        );
        // Only ASCII white space is trimmed, as the pattern says.
        assert_eq!(
            path_ref("component", "default", "\u{a0}").unwrap(),
            "component:default/\u{a0}"
        );
        let colon = path_ref("component:default", "default", "x").unwrap_err();
        assert!(
            colon.message().contains("contains `:`"),
            "{}",
            colon.message()
        );
        let nul = path_ref("component", "default", "a\0b").unwrap_err();
        assert!(nul.message().contains("name"), "{}", nul.message());
        let blank = path_ref("component", " \r\n", "x").unwrap_err();
        assert!(blank.message().contains("namespace"), "{}", blank.message());
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = Cursor {
            after: "component:default/a".into(),
            offset: 42,
            listing: Listing {
                kinds: vec!["component".into()],
                ..Listing::default()
            },
        };
        let decoded = Cursor::decode(&cursor.encode()).unwrap();
        assert_eq!(decoded.after, cursor.after);
        assert_eq!(decoded.offset, 42);
        assert_eq!(decoded.listing, cursor.listing);
        assert!(Cursor::decode("not a cursor").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode(b"{}")).is_err());
    }
}
