//! Pushed events: the [`Push`] trait a source implements to take them (a
//! webhook delivery, say), the [`PushEvent`] it is handed, the
//! [`PushOutcome`] it returns, and the bridge to the `push` export.

use serde::de::DeserializeOwned;

use crate::bindings::weir::source::types;
use crate::push_bindings::exports::weir::source::push as wit;
use crate::{Entity, Error};

/// A source that also takes pushed events. Export it beside the source with
/// `export_source!(MySource, push = MyPush)` (one type may implement both);
/// the component then implements the `pushing-source-plugin` world, and the
/// host hands it events (for example webhook deliveries) as they come.
///
/// Each event runs in a fresh instance, apart from any burst: `open` does not
/// run first, so read what the handler needs (`config`, `secrets`) here. The
/// upserts obey a page's rules and limits; the next full cycle still decides
/// what the source provides.
///
/// ```no_run
/// use serde::Deserialize;
/// use weir_guest::{Entity, Error, Page, Push, PushEvent, PushOutcome, Source, secrets};
///
/// struct Teams;
///
/// impl Source for Teams {
///     type Context = ();
///     type Cursor = ();
///     fn provider_name() -> String {
///         "teams".into()
///     }
///     fn open() -> Result<(), Error> {
///         Ok(())
///     }
///     fn next(_: &mut (), _: Option<()>) -> Result<Page<()>, Error> {
///         Ok(Page::last(vec![team("platform")]))
///     }
/// }
///
/// /// The webhook's body: `{"action": "created" | "deleted", "team": "..."}`.
/// #[derive(Deserialize)]
/// struct TeamEvent {
///     action: String,
///     team: String,
/// }
///
/// impl Push for Teams {
///     fn handle(event: PushEvent) -> Result<PushOutcome, Error> {
///         if event.header("x-token") != Some(secrets::require("webhook-token")?.as_str()) {
///             return Err(Error::fatal("the webhook token does not match"));
///         }
///         let TeamEvent { action, team: name } = event.json()?;
///         Ok(match action.as_str() {
///             "deleted" => PushOutcome::new().remove(format!("group:default/{name}")),
///             _ => PushOutcome::new().upsert(team(&name)),
///         })
///     }
/// }
///
/// fn team(name: &str) -> Entity {
///     Entity::builder("Group", name)
///         .spec("type", "team")
///         .spec("children", serde_json::json!([]))
///         .managed_by("url:https://teams.example.com")
///         .build()
/// }
///
/// weir_guest::export_source!(Teams, push = Teams);
/// ```
pub trait Push: 'static {
    /// Turn one event into upserts and removals, which the host applies at
    /// once. Return `Error::transient` when the event could not be handled now
    /// (the sender may deliver it again) and `Error::fatal` when it never will
    /// be (a bad signature, an event this source does not understand).
    fn handle(event: PushEvent) -> Result<PushOutcome, Error>;
}

/// One event pushed to the source, as the host received it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushEvent {
    /// The request's headers in the order received, names as sent.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl PushEvent {
    /// The value of the first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body parsed as JSON into `T`, or a fatal error (an event that does
    /// not parse never will).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::fatal(format!("the pushed body is not the JSON expected: {e}")))
    }
}

/// What an event changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// Entities to add or replace: the same rules and limits as a page's.
    pub upserts: Vec<Entity>,
    /// Refs of entities this source no longer provides: `kind:namespace/name`,
    /// or `kind:name` in the default namespace.
    pub removals: Vec<String>,
}

impl PushOutcome {
    /// Nothing changes.
    pub fn new() -> Self {
        PushOutcome::default()
    }

    /// Add or replace `entity`.
    pub fn upsert(mut self, entity: Entity) -> Self {
        self.upserts.push(entity);
        self
    }

    /// Remove the entity `entity_ref` (`kind:namespace/name`).
    pub fn remove(mut self, entity_ref: impl Into<String>) -> Self {
        self.removals.push(entity_ref.into());
        self
    }
}

/// The `push` export's `handle`, for push handler `P`.
#[doc(hidden)]
pub fn handle_push<P: Push>(event: wit::PushEvent) -> Result<wit::PushResult, types::SourceError> {
    let outcome = P::handle(PushEvent {
        headers: event.headers,
        body: event.body,
    })?;
    Ok(wit::PushResult {
        upserts: outcome
            .upserts
            .into_iter()
            .map(types::Entity::from)
            .collect(),
        removals: outcome.removals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_found_whatever_their_case() {
        let event = PushEvent {
            headers: vec![
                ("X-Hub-Signature-256".into(), "sha256=abc".into()),
                ("x-hub-signature-256".into(), "second".into()),
            ],
            body: br#"{"action":"created"}"#.to_vec(),
        };
        assert_eq!(event.header("x-hub-signature-256"), Some("sha256=abc"));
        assert_eq!(event.header("content-type"), None);
        let body: serde_json::Value = event.json().unwrap();
        assert_eq!(body["action"], "created");
        let error = PushEvent::default()
            .json::<serde_json::Value>()
            .unwrap_err();
        assert!(matches!(error, Error::Fatal(_)), "{error}");
    }

    #[test]
    fn an_outcome_collects_upserts_and_removals() {
        let outcome = PushOutcome::new()
            .upsert(Entity::builder("Group", "team-a").build())
            .remove("component:default/old");
        assert_eq!(outcome.upserts.len(), 1);
        assert_eq!(outcome.removals, ["component:default/old"]);
    }
}
