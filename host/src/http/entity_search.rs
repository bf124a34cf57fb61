//! `GET /api/entities/search?q=…`: entities found by part of their ref or
//! name, best matches first (the ref itself, then the name, then names that
//! start with it, then the rest in ref order).

use axum::Json;
use axum::extract::{RawQuery, State};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::Reader;
use super::error::{ApiError, ErrorBody};
use super::query::Params;
use super::{Shared, within_budget};

const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 200;
/// The longest text searched for, in characters.
const MAX_TEXT_CHARS: usize = 200;

/// The query parameters of `GET /api/entities/search`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SearchParams {
    /// What to look for: part of a ref (`component:default/shop`,
    /// `default/shop`) or of a name (`shop`); case-insensitive. At most 200
    /// characters, with one other than spaces (ASCII white space around it
    /// is ignored) and none NUL (U+0000).
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00]*[^\x00 \t\n\f\r][^\x00]*$"
    )]
    q: String,
    /// Entities per answer, 1 to 200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// The entities found.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchBody {
    pub items: Vec<FoundEntity>,
    /// Whether more entities matched than the answer holds.
    pub more: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FoundEntity {
    /// `kind:namespace/name`, lower case: read the entity at
    /// `/api/entities/by-ref/KIND/NAMESPACE/NAME`.
    pub entity_ref: String,
    /// The name as the entity spells it.
    pub name: String,
    /// The offset of the entity's latest event.
    pub event_offset: i64,
}

/// Find entities by part of their ref or name.
#[utoipa::path(
    get,
    path = "/api/entities/search",
    tag = "entities",
    params(SearchParams),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The entities found, best first", body = SearchBody),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "Reading needs a token", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database does not answer, or the read took longer than the request budget; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn search_entities(
    State(api): State<Shared>,
    _reader: Reader,
    RawQuery(raw): RawQuery,
) -> Result<Json<SearchBody>, ApiError> {
    within_budget(&api, search(&api, raw.as_deref())).await
}

async fn search(api: &Shared, raw: Option<&str>) -> Result<Json<SearchBody>, ApiError> {
    let params = Params::parse::<SearchParams>(raw)?;
    let limit = params
        .integer("limit", 1..=MAX_LIMIT)?
        .unwrap_or(DEFAULT_LIMIT);
    let text = params.single("q")?.unwrap_or("");
    // The length as given, as the document's `maxLength` counts it.
    let length = text.chars().count();
    if length > MAX_TEXT_CHARS {
        return Err(ApiError::bad_request(format!(
            "query parameter `q` is {length} characters long; at most {MAX_TEXT_CHARS} are taken"
        )));
    }
    // ASCII white space only, as the document's pattern says.
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if text.is_empty() {
        return Err(ApiError::bad_request(
            "query parameter `q` is missing or blank: give part of a ref or name to look for, \
             such as q=shop",
        ));
    }
    let mut found = api.engine.store().search_entities(text, limit + 1).await?;
    let more = found.len() as i64 > limit;
    found.truncate(limit as usize);
    Ok(Json(SearchBody {
        items: found
            .into_iter()
            .map(|found| FoundEntity {
                entity_ref: found.entity_ref,
                name: found.name,
                event_offset: found.event_offset,
            })
            .collect(),
        more,
    }))
}
