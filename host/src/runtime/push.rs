//! Pushed events: a [`PushEvent`] (a webhook delivery, say) handed to a
//! source's optional `push` export in a fresh store and instance, under the
//! same budgets as a page, and the [`PushOutcome`] it returns, checked like a
//! page before the host applies it.

use std::sync::Arc;

use weir_core::entity_ref::EntityRef;
use weir_core::sourced::{PluginBuild, SourcedEntity};

use super::bindings::push::PushExportIndices;
use super::bindings::push::exports::weir::source::push as wit;
use super::call_guard::{CallGuard, guest_error};
use super::error::{Call, SourceError, SourceErrorKind};
use super::page::{check_entity, excerpt};
use super::{Limits, Plugin};

/// One event pushed to a source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushEvent {
    /// The request's headers in the order received, names as sent.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

/// What a pushed event changes, checked: apply it at once.
#[derive(Debug)]
pub struct PushOutcome {
    /// Entities to add or replace, each the text of a JSON object (checked),
    /// carrying the plugin build like a page's entities.
    pub upserts: Vec<SourcedEntity>,
    /// Refs of entities the source no longer provides, normalised to
    /// `kind:namespace/name` in lower case, as the store keys them.
    pub removals: Vec<String>,
}

/// Run `handle` for one event in a fresh instance of `plugin`.
pub(crate) async fn handle(
    plugin: &Plugin,
    indices: &PushExportIndices,
    event: PushEvent,
) -> Result<PushOutcome, SourceError> {
    let mut store = plugin.new_store();
    let limits = &plugin.settings().limits;
    let instrumentation = plugin.instrumentation();
    let name: Arc<str> = store.data().source.clone();

    let guard = CallGuard::arm(&mut store, limits, instrumentation, Call::Instantiate);
    let outcome = guard
        .within_deadline(async {
            let instance = plugin
                .pre()
                .instance_pre()
                .instantiate_async(&mut store)
                .await?;
            indices.load(&mut store, &instance)
        })
        .await;
    let bindings = guard.settle(&mut store, outcome, &name)?;

    let event = wit::PushEvent {
        headers: event.headers,
        body: event.body,
    };
    let guard = CallGuard::arm(&mut store, limits, instrumentation, Call::Push);
    let outcome = guard
        .within_deadline(bindings.weir_source_push().call_handle(&mut store, &event))
        .await;
    let result = guard
        .settle(&mut store, outcome, &name)?
        .map_err(|error| guest_error(&name, Call::Push, error))?;
    check_push(result, limits, plugin.build()).map_err(|kind| SourceError {
        source_name: name,
        call: Call::Push,
        kind,
    })
}

/// Check what a push returned against the page limits and the contract: the
/// upserts as a page's entities, the removals as entity refs.
pub(crate) fn check_push(
    result: wit::PushResult,
    limits: &Limits,
    build: &PluginBuild,
) -> Result<PushOutcome, SourceErrorKind> {
    let limit = limits.max_entities_per_page;
    if result.upserts.len() > limit {
        return Err(SourceErrorKind::TooManyEntities {
            count: result.upserts.len(),
            limit,
        });
    }
    if result.removals.len() > limit {
        return Err(SourceErrorKind::TooManyRemovals {
            count: result.removals.len(),
            limit,
        });
    }
    let bytes = result
        .upserts
        .iter()
        .map(|e| e.json.len() + e.location_key.as_ref().map_or(0, String::len))
        .chain(result.removals.iter().map(String::len))
        .sum::<usize>();
    if bytes > limits.max_page_bytes {
        return Err(SourceErrorKind::PageTooLarge {
            bytes,
            limit: limits.max_page_bytes,
        });
    }
    let upserts = result
        .upserts
        .into_iter()
        .enumerate()
        .map(|(index, entity)| check_entity(index, entity, build))
        .collect::<Result<_, _>>()?;
    let removals = result
        .removals
        .iter()
        .enumerate()
        .map(|(index, text)| {
            EntityRef::parse(text)
                .map(|entity_ref| entity_ref.to_string())
                .map_err(|error| SourceErrorKind::InvalidRemovalRef {
                    index,
                    // The error quotes the ref, which may be long.
                    error: excerpt(&error.to_string()),
                })
        })
        .collect::<Result<_, _>>()?;
    Ok(PushOutcome { upserts, removals })
}

#[cfg(test)]
mod tests {
    use super::super::bindings::weir::source::types;
    use super::*;

    fn build() -> PluginBuild {
        PluginBuild::of(b"test")
    }

    fn entity(json: &str) -> types::Entity {
        types::Entity {
            json: json.into(),
            location_key: None,
        }
    }

    fn result(upserts: Vec<types::Entity>, removals: &[&str]) -> wit::PushResult {
        wit::PushResult {
            upserts,
            removals: removals.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn a_good_push_passes_with_normalised_refs_and_the_build() {
        let outcome = check_push(
            result(
                vec![entity(r#"{"kind":"Group"}"#)],
                &["Component:Shop/Payments", "group:team-a"],
            ),
            &Limits::default(),
            &build(),
        )
        .unwrap();
        assert_eq!(outcome.upserts.len(), 1);
        assert_eq!(outcome.upserts[0].json(), r#"{"kind":"Group"}"#);
        assert_eq!(outcome.upserts[0].build(), &build());
        assert_eq!(
            outcome.removals,
            ["component:shop/payments", "group:default/team-a"]
        );
    }

    #[test]
    fn upserts_are_checked_like_a_page() {
        let error = check_push(
            result(vec![entity("{}"), entity("[1]")], &[]),
            &Limits::default(),
            &build(),
        )
        .unwrap_err();
        assert!(
            matches!(error, SourceErrorKind::EntityNotAnObject { index: 1, .. }),
            "{error}"
        );
        let limits = Limits {
            max_entities_per_page: 1,
            max_page_bytes: 20,
            ..Limits::default()
        };
        assert!(matches!(
            check_push(
                result(vec![entity("{}"), entity("{}")], &[]),
                &limits,
                &build()
            ),
            Err(SourceErrorKind::TooManyEntities { count: 2, limit: 1 })
        ));
        assert!(matches!(
            check_push(result(vec![], &["a:b", "c:d"]), &limits, &build()),
            Err(SourceErrorKind::TooManyRemovals { count: 2, limit: 1 })
        ));
        assert!(matches!(
            check_push(
                result(vec![entity("{}")], &["component:default/a-long-name"]),
                &limits,
                &build()
            ),
            Err(SourceErrorKind::PageTooLarge {
                bytes: 31,
                limit: 20
            })
        ));
    }

    #[test]
    fn a_removal_must_be_an_entity_ref_with_a_kind() {
        let error = check_push(
            result(vec![], &["component:a", "payments"]),
            &Limits::default(),
            &build(),
        )
        .unwrap_err();
        match error {
            SourceErrorKind::InvalidRemovalRef { index, error } => {
                assert_eq!(index, 1);
                assert!(error.contains("has no kind"), "{error}");
            }
            other => panic!("expected an invalid ref, got: {other}"),
        }
    }
}
