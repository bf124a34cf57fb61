//! `GET /api/rejections`: the entities sources sent that were not taken in,
//! each with its source, when, the cycle and what was wrong, field by field
//! ("why is my entity missing?"). Filterable by source; in `(source, ref)`
//! order, in pages.

use axum::Json;
use axum::extract::{RawQuery, State};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::Reader;
use super::error::{ApiError, ErrorBody};
use super::query::Params;
use super::timestamp::timestamp;
use super::{Shared, within_budget};
use crate::store::{RejectionQuery, RejectionRecord};

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

/// The query parameters of `GET /api/rejections`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RejectionsParams {
    /// Only this source's rejections (a provider name).
    #[param(pattern = r"^[^\x00]*$")]
    source: Option<String>,
    /// Rejections per answer, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// The previous answer's `nextAfter`.
    #[param(pattern = r"^[^\x00]*$")]
    after: Option<String>,
}

/// A page of rejections.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RejectionsBody {
    pub items: Vec<RejectionItem>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// An entity a source sent that was not taken in: the latest time it was.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RejectionItem {
    pub source: String,
    /// `kind:namespace/name`, lower case; absent when the entity did not
    /// even have a usable ref.
    pub entity_ref: Option<String>,
    /// The whole message: the source, the entity and what was wrong.
    pub reason: String,
    /// What was wrong, field by field, when the message names fields (as
    /// validation does: `spec.lifecycle: …`); empty otherwise.
    pub problems: Vec<FieldProblem>,
    /// The source's cycle it was rejected in.
    pub cycle: i64,
    /// When (RFC 3339).
    pub at: String,
    /// Whether the catalog keeps the source's last good version of this
    /// ref (the rejection then sits beside it in the entity's `errors`).
    pub kept: bool,
    /// Whether the catalog holds this ref at all (from any source).
    pub in_catalog: bool,
}

#[derive(Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldProblem {
    /// `metadata.name`, `spec.lifecycle`, `metadata.annotations["a/b"]`…
    pub field: String,
    pub message: String,
}

/// The rejections sources' latest cycles produced, still current: an
/// entity the source has since sent valid is no longer listed.
#[utoipa::path(
    get,
    path = "/api/rejections",
    tag = "sources",
    params(RejectionsParams),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of rejections", body = RejectionsBody),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "Reading needs a token", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database does not answer, or the read took longer than the request budget; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn list_rejections(
    State(api): State<Shared>,
    _reader: Reader,
    RawQuery(raw): RawQuery,
) -> Result<Json<RejectionsBody>, ApiError> {
    within_budget(&api, list(&api, raw.as_deref())).await
}

async fn list(api: &Shared, raw: Option<&str>) -> Result<Json<RejectionsBody>, ApiError> {
    let params = Params::parse::<RejectionsParams>(raw)?;
    let limit = params
        .integer("limit", 1..=MAX_LIMIT)?
        .unwrap_or(DEFAULT_LIMIT);
    let source = params.single("source")?;
    let after = params.single("after")?.map(decode_after).transpose()?;
    let query = RejectionQuery {
        source,
        after: after.as_ref().map(|(s, k)| (s.as_str(), k.as_str())),
        limit: limit + 1,
    };
    let mut records = api.engine.store().rejections(&query).await?;
    let more = records.len() as i64 > limit;
    records.truncate(limit as usize);
    let next_after = more
        .then(|| records.last().map(|r| encode_after(&r.source, &r.key)))
        .flatten();
    Ok(Json(RejectionsBody {
        items: records.into_iter().map(item).collect(),
        next_after,
    }))
}

fn item(record: RejectionRecord) -> RejectionItem {
    RejectionItem {
        problems: problems(&record.reason, record.entity_ref.as_deref()),
        source: record.source,
        entity_ref: record.entity_ref,
        reason: record.reason,
        cycle: record.cycle,
        at: timestamp(record.at_ms),
        kept: record.kept,
        in_catalog: record.in_catalog,
    }
}

/// The field problems of a validation message (`source `s`: REF: field:
/// message; field: message`): none unless every part names a field.
fn problems(reason: &str, entity_ref: Option<&str>) -> Vec<FieldProblem> {
    let rest = reason
        .strip_prefix("source `")
        .and_then(|rest| rest.split_once("`: "))
        .map_or(reason, |(_, rest)| rest);
    let which = entity_ref.map(|r| format!("{r}: "));
    let rest = match &which {
        Some(prefix) if rest.starts_with(prefix.as_str()) => &rest[prefix.len()..],
        _ => match rest
            .strip_prefix("entity #")
            .and_then(|r| r.split_once(": "))
        {
            Some((_, rest)) => rest,
            None => return Vec::new(),
        },
    };
    let parts: Vec<Option<FieldProblem>> = rest
        .split("; ")
        .map(|part| {
            let (field, message) = part.split_once(": ")?;
            let is_field = !field.is_empty()
                && !field.contains(' ')
                && field
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '<');
            is_field.then(|| FieldProblem {
                field: field.to_owned(),
                message: message.to_owned(),
            })
        })
        .collect();
    parts
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default()
}

fn encode_after(source: &str, key: &str) -> String {
    let json = serde_json::json!([source, key]).to_string();
    URL_SAFE_NO_PAD.encode(json)
}

fn decode_after(text: &str) -> Result<(String, String), ApiError> {
    URL_SAFE_NO_PAD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| serde_json::from_slice::<(String, String)>(&bytes).ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "`after` is not a position this API issued: pass a page's `nextAfter` as it is",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_messages_split_into_field_problems() {
        let found = problems(
            "source `shop`: component:default/a: spec.lifecycle: is required; \
             metadata.tags[0]: must be a string",
            Some("component:default/a"),
        );
        assert_eq!(
            found,
            vec![
                FieldProblem {
                    field: "spec.lifecycle".into(),
                    message: "is required".into()
                },
                FieldProblem {
                    field: "metadata.tags[0]".into(),
                    message: "must be a string".into()
                },
            ]
        );
        let unnamed = problems(
            "source `shop`: entity #3 of the page: kind: is required",
            None,
        );
        assert_eq!(unnamed[0].field, "kind");
        assert!(problems("source `shop`: entity #3 of the page: not JSON: eof", None).is_empty());
        assert!(
            problems(
                "conflict: component:default/a is already provided by source `b`",
                Some("component:default/a")
            )
            .is_empty()
        );
    }

    #[test]
    fn positions_round_trip_and_refuse_garbage() {
        let text = encode_after("shop", "component:default/a");
        assert_eq!(
            decode_after(&text).unwrap(),
            ("shop".to_owned(), "component:default/a".to_owned())
        );
        assert!(decode_after("nope").is_err());
    }
}
