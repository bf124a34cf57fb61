//! From a source's page to what the store takes: each entity parsed,
//! validated, checked against the source's scope, given its normalised ref
//! and its canonical hash. A bad entity is rejected on its own, with an error
//! naming the source, the entity and the field; the rest of the page goes on.

use sha2::{Digest, Sha256};

use super::canonical::{ContentHash, hex_of};
use super::json::Json;
use super::merge::is_unchanged_alone;
use super::named_ref::named_ref;
use super::sourced::SourcedEntity;
use super::validation::validate;

/// The kinds and namespaces a source may emit; empty means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Lower-case kind names, e.g. `component`.
    pub kinds: Vec<String>,
    /// Namespaces, e.g. `default`.
    pub namespaces: Vec<String>,
}

/// What an entity of a source must be to be taken in: within the source's
/// scope, and no larger than its largest entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// The kinds and namespaces the source may emit.
    pub scope: Scope,
    /// The largest entity, in bytes of JSON text.
    pub max_entity_bytes: usize,
}

impl Admission {
    /// Any kind, any namespace, and entities of up to `max_entity_bytes`.
    pub fn anything_up_to(max_entity_bytes: usize) -> Self {
        Admission {
            scope: Scope::default(),
            max_entity_bytes,
        }
    }
}

/// One valid entity from a source, ready to store.
#[derive(Debug, Clone)]
pub struct Contribution {
    /// The normalised ref, `kind:namespace/name` in lower case.
    pub entity_ref: String,
    /// The entity's JSON text as the source sent it (what is stored, and
    /// what is read again should the entity need merging).
    pub body: String,
    /// Hex SHA-256 of `body`: the same text next time skips all of this.
    pub raw_hash: String,
    /// Hex SHA-256 of the entity's canonical JSON.
    pub hash: String,
    /// Whether merging the entity alone gives it back as it is
    /// ([`super::merge::is_unchanged_alone`]): then a ref only this source
    /// provides is stored as its text and hash. Found here, beside the
    /// parse, so the commit need not read the entity again.
    pub merges_unchanged_alone: bool,
    pub location_key: Option<String>,
    /// SHA-256 of the plugin build that produced it.
    pub plugin_build: String,
}

/// An entity that was not stored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// `None` when the entity did not even have a usable ref.
    pub entity_ref: Option<String>,
    pub reason: String,
}

/// A page sorted into what can be stored and what cannot.
#[derive(Debug, Default)]
pub struct Intake {
    pub contributions: Vec<Contribution>,
    pub rejected: Vec<Rejection>,
}

/// An entity of a page, with its position and the hash of its exact text.
#[derive(Debug)]
pub struct PageEntity {
    pub index: usize,
    pub sourced: SourcedEntity,
    /// Hex SHA-256 of the entity's JSON text as the source sent it.
    pub raw_hash: String,
    /// The ref the text names, read without building or validating the
    /// entity; `None` when it names none, or was not read. Enough to find what the source
    /// stored under that ref, and so to recognise the same text again.
    pub named_ref: Option<String>,
}

/// Hash each entity's text and, with `read_refs`, read the ref it names:
/// cheap (nothing is built or validated), and enough to recognise an entity
/// the source sent before, byte for byte. `entities` start at position
/// `first` of their page.
pub fn hash_texts(entities: Vec<SourcedEntity>, first: usize, read_refs: bool) -> Vec<PageEntity> {
    entities
        .into_iter()
        .enumerate()
        .map(|(offset, sourced)| PageEntity {
            index: first + offset,
            raw_hash: hex_of(&Sha256::digest(sourced.json()).into()),
            named_ref: read_refs.then(|| named_ref(sourced.json())).flatten(),
            sourced,
        })
        .collect()
}

/// Sort entities of a page from `source` into contributions and rejections.
pub fn take_in(source: &str, admission: &Admission, entities: Vec<PageEntity>) -> Intake {
    let mut intake = Intake {
        contributions: Vec::with_capacity(entities.len()),
        rejected: Vec::new(),
    };
    for entity in entities {
        match take_one(source, admission, entity) {
            Ok(contribution) => intake.contributions.push(contribution),
            Err(rejection) => intake.rejected.push(rejection),
        }
    }
    intake
}

fn take_one(
    source: &str,
    admission: &Admission,
    page_entity: PageEntity,
) -> Result<Contribution, Rejection> {
    let PageEntity {
        index,
        sourced,
        raw_hash,
        ..
    } = page_entity;
    let bytes = sourced.json().len();
    if bytes > admission.max_entity_bytes {
        // Refused before it is parsed; the ref its text names (read from
        // its front) says which entity it was.
        let entity_ref = named_ref(sourced.json());
        let which = entity_ref
            .clone()
            .unwrap_or_else(|| format!("entity #{index} of the page"));
        return Err(Rejection {
            entity_ref,
            reason: format!(
                "source `{source}`: {which}: the entity is {bytes} bytes of JSON, above the \
                 limit of {} bytes (limits.maxEntityBytes)",
                admission.max_entity_bytes
            ),
        });
    }
    // The runtime checked the text is a JSON object; this cannot fail but
    // for a bug, and then it is reported like any other bad entity.
    let entity = Json::parse(sourced.json()).map_err(|error| Rejection {
        entity_ref: None,
        reason: format!("source `{source}`: entity #{index} of the page: not JSON: {error}"),
    })?;
    let valid = validate(&entity).map_err(|invalid| Rejection {
        entity_ref: invalid.entity_ref().map(ToString::to_string),
        reason: format!(
            "source `{source}`: {}: {}",
            invalid.entity_ref().map_or_else(
                || format!("entity #{index} of the page"),
                ToString::to_string
            ),
            invalid
                .problems()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    })?;
    let entity_ref = valid.entity_ref();
    if let Some(reason) = out_of_scope(&admission.scope, entity_ref.kind(), entity_ref.namespace())
    {
        return Err(Rejection {
            entity_ref: Some(entity_ref.to_string()),
            reason: format!("source `{source}`: {entity_ref}: {reason}"),
        });
    }
    let hash = ContentHash::of(&entity).to_hex();
    let merges_unchanged_alone = is_unchanged_alone(&entity);
    drop(entity);
    Ok(Contribution {
        entity_ref: entity_ref.to_string(),
        hash,
        merges_unchanged_alone,
        location_key: sourced.location_key().map(ToOwned::to_owned),
        plugin_build: sourced.build().sha256().to_owned(),
        body: sourced.into_json(),
        raw_hash,
    })
}

fn out_of_scope(scope: &Scope, kind: &str, namespace: &str) -> Option<String> {
    if !scope.kinds.is_empty() && !scope.kinds.iter().any(|k| k.eq_ignore_ascii_case(kind)) {
        return Some(format!(
            "kind: the source may emit only kinds {}",
            scope.kinds.join(", ")
        ));
    }
    if !scope.namespaces.is_empty() && !scope.namespaces.iter().any(|n| n == namespace) {
        return Some(format!(
            "metadata.namespace: the source may emit only namespaces {}",
            scope.namespaces.join(", ")
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sourced::{PluginBuild, SourcedEntity};

    fn page_entity(json: String) -> PageEntity {
        let sourced = SourcedEntity::new(json, None, PluginBuild::of(b"test"));
        hash_texts(vec![sourced], 0, false).remove(0)
    }

    #[test]
    fn an_entity_above_the_size_limit_is_refused_with_its_ref_and_size() {
        let description = "x".repeat(2000);
        let json = format!(
            r#"{{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{{"name":"big","description":"{description}"}},"spec":{{"type":"service","lifecycle":"production","owner":"team"}}}}"#
        );
        let bytes = json.len();
        let intake = take_in(
            "s",
            &Admission::anything_up_to(1024),
            vec![page_entity(json.clone())],
        );
        assert!(intake.contributions.is_empty());
        let rejection = &intake.rejected[0];
        assert_eq!(
            rejection.entity_ref.as_deref(),
            Some("component:default/big")
        );
        assert_eq!(
            rejection.reason,
            format!(
                "source `s`: component:default/big: the entity is {bytes} bytes of JSON, above \
                 the limit of 1024 bytes (limits.maxEntityBytes)"
            )
        );
        let intake = take_in(
            "s",
            &Admission::anything_up_to(bytes),
            vec![page_entity(json)],
        );
        assert_eq!(intake.contributions.len(), 1, "{:?}", intake.rejected);
    }

    #[test]
    fn scope_limits_kinds_and_namespaces() {
        let scope = Scope {
            kinds: vec!["component".into()],
            namespaces: vec!["default".into()],
        };
        assert_eq!(out_of_scope(&scope, "component", "default"), None);
        assert!(
            out_of_scope(&scope, "group", "default")
                .unwrap()
                .starts_with("kind:")
        );
        assert!(
            out_of_scope(&scope, "component", "ops")
                .unwrap()
                .starts_with("metadata.namespace:")
        );
        assert_eq!(
            out_of_scope(&Scope::default(), "anything", "anywhere"),
            None
        );
    }
}
