//! The priority merge: several sources' contributions to one entity ref
//! become one entity, plus the [`Provenance`] of what each source supplied.
//!
//! Rules:
//!
//! - Precedence: higher `priority` first; on equal priority the source whose
//!   name sorts first (byte order) wins. Input order never matters (the same
//!   source twice at one priority, a caller's mistake, is ordered by the
//!   entities' content hashes).
//! - Objects merge recursively, as if each entity were deep-merged onto the
//!   ones below it, lowest first: at every path the highest-priority value
//!   wins, and two objects meet key by key. So `spec` merges field by field,
//!   and `metadata.annotations` and `metadata.labels` key by key, the higher
//!   priority winning each key. A non-object value (string, number, bool,
//!   null, array) is a leaf and replaces whatever lies below it: a higher
//!   scalar beats a lower object, and a higher object beats a lower scalar
//!   and hides anything under that scalar.
//! - Arrays are leaves: taken whole from the highest-priority source that
//!   has one at that path, never concatenated or merged by index.
//! - Except `metadata.tags`: when the winning value is an array, the result
//!   is the union of every source's `tags` array, the highest-priority
//!   source's tags first in their order, then each lower source's new tags
//!   in priority order, without duplicates.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::canonical::content_hash;
use super::json::Json;

/// One source's view of an entity.
#[derive(Debug, Clone, Copy)]
pub struct Contribution<'a> {
    pub source: &'a str,
    /// Higher wins.
    pub priority: i64,
    pub entity: &'a Value,
}

/// The merged entity and where its parts came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub entity: Value,
    pub provenance: Provenance,
}

/// Which sources supplied what. Source lists run from the highest priority
/// down and name the sources with at least one value in the result there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Provenance {
    /// Top-level field (`apiVersion`, `kind`, `metadata`, `spec`, …) → sources.
    pub fields: BTreeMap<String, Vec<String>>,
    /// `metadata` field (`name`, `annotations`, `tags`, …) → sources.
    pub metadata: BTreeMap<String, Vec<String>>,
    /// Annotation key → the source whose value won.
    pub annotations: BTreeMap<String, String>,
    /// Label key → the source whose value won.
    pub labels: BTreeMap<String, String>,
}

/// Merges the contributions to one entity ref; `None` when there are none.
pub fn merge(contributions: &[Contribution<'_>]) -> Option<Merged> {
    match contributions {
        [] => None,
        [only] => Some(single(only)),
        _ => Some(merge_many(contributions)),
    }
}

/// The common case, kept cheap: one source's entity as it is (its tags
/// deduplicated, as a union would), every part credited to that source.
fn single(contribution: &Contribution<'_>) -> Merged {
    let mut entity = contribution.entity.clone();
    if let Some(Value::Array(tags)) = entity.pointer_mut("/metadata/tags") {
        dedupe(tags);
    }
    Merged {
        entity,
        provenance: single_provenance(contribution),
    }
}

/// The provenance of a lone contribution: every part from its source.
pub fn single_provenance(contribution: &Contribution<'_>) -> Provenance {
    let source = contribution.source;
    let mut provenance = Provenance::default();
    if let Some(root) = contribution.entity.as_object() {
        provenance.fields = credit_keys(root, || vec![source.to_owned()]);
        if let Some(metadata) = root.get("metadata").and_then(Value::as_object) {
            provenance.metadata = credit_keys(metadata, || vec![source.to_owned()]);
            let winners = |key: &str| match metadata.get(key) {
                Some(Value::Object(map)) => credit_keys(map, || source.to_owned()),
                _ => BTreeMap::new(),
            };
            provenance.annotations = winners("annotations");
            provenance.labels = winners("labels");
        }
    }
    provenance
}

/// Whether merging `entity` alone gives it back unchanged (it has no
/// repeated tag), so a caller may reuse its text and hash as they are.
pub fn is_unchanged_alone(entity: &Json<'_>) -> bool {
    let tags = entity
        .as_object()
        .and_then(|root| root.get("metadata")?.as_object()?.get("tags"));
    match tags {
        Some(Json::Array(tags)) => tags
            .iter()
            .enumerate()
            .all(|(i, tag)| !tags[..i].contains(tag)),
        _ => true,
    }
}

fn credit_keys<T>(map: &Map<String, Value>, credit: impl Fn() -> T) -> BTreeMap<String, T> {
    map.keys().map(|key| (key.clone(), credit())).collect()
}

/// Drops repeats, keeping first occurrences in order (tag lists are short).
fn dedupe(items: &mut Vec<Value>) {
    let mut i = 0;
    while i < items.len() {
        if items[..i].contains(&items[i]) {
            items.remove(i);
        } else {
            i += 1;
        }
    }
}

fn merge_many(contributions: &[Contribution<'_>]) -> Merged {
    let ranked = rank(contributions);
    let layers: Vec<Layer<'_>> = ranked
        .iter()
        .enumerate()
        .map(|(rank, c)| Layer {
            rank,
            value: c.entity,
        })
        .collect();
    let mut merger = Merger {
        ranked: &ranked,
        provenance: Provenance::default(),
    };
    let entity = merger.root(&layers);
    Merged {
        entity,
        provenance: merger.provenance,
    }
}

/// Contributions in precedence order, the winner first.
fn rank<'c, 'a>(contributions: &'c [Contribution<'a>]) -> Vec<&'c Contribution<'a>> {
    let mut ranked: Vec<_> = contributions.iter().collect();
    ranked.sort_by(|a, b| precedence(a, b));
    ranked
}

fn precedence(a: &Contribution<'_>, b: &Contribution<'_>) -> Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| a.source.cmp(b.source))
        .then_with(|| content_hash(a.entity).cmp(&content_hash(b.entity)))
}

/// One source's value at some path; `rank` is its place in precedence order.
#[derive(Clone, Copy)]
struct Layer<'a> {
    rank: usize,
    value: &'a Value,
}

/// The sources (by rank) with a value in some part of the result.
struct Marks(Vec<bool>);

impl Marks {
    fn new(sources: usize) -> Self {
        Self(vec![false; sources])
    }

    fn mark(&mut self, rank: usize) {
        if let Some(seen) = self.0.get_mut(rank) {
            *seen = true;
        }
    }

    fn absorb(&mut self, other: &Marks) {
        self.0.iter_mut().zip(&other.0).for_each(|(a, b)| *a |= b);
    }
}

struct Merger<'c, 'a> {
    ranked: &'c [&'c Contribution<'a>],
    provenance: Provenance,
}

impl Merger<'_, '_> {
    fn root(&mut self, layers: &[Layer<'_>]) -> Value {
        let objects = object_run(layers);
        if objects.is_empty() {
            // Not an entity at all: the winner's value, with no provenance.
            return merge_value(layers, &mut Marks::new(0));
        }
        let mut out = Map::new();
        for_each_key(objects, |key, at_key| {
            let mut marks = Marks::new(self.ranked.len());
            let value = match key {
                "metadata" => self.metadata(at_key, &mut marks),
                _ => merge_value(at_key, &mut marks),
            };
            let sources = self.names(&marks);
            self.provenance.fields.insert(key.to_owned(), sources);
            out.insert(key.to_owned(), value);
        });
        Value::Object(out)
    }

    fn metadata(&mut self, layers: &[Layer<'_>], marks: &mut Marks) -> Value {
        let objects = object_run(layers);
        if objects.is_empty() {
            return merge_value(layers, marks);
        }
        let mut out = Map::new();
        for_each_key(objects, |key, at_key| {
            let mut field = Marks::new(self.ranked.len());
            let value = match key {
                "tags" => union_tags(at_key, &mut field),
                _ => merge_value(at_key, &mut field),
            };
            match key {
                "annotations" => self.provenance.annotations = self.key_winners(&value, at_key),
                "labels" => self.provenance.labels = self.key_winners(&value, at_key),
                _ => {}
            }
            marks.absorb(&field);
            let sources = self.names(&field);
            self.provenance.metadata.insert(key.to_owned(), sources);
            out.insert(key.to_owned(), value);
        });
        mark_if_empty(&out, objects, marks);
        Value::Object(out)
    }

    /// For each key of a merged object, the source whose value won it.
    fn key_winners(&self, merged: &Value, layers: &[Layer<'_>]) -> BTreeMap<String, String> {
        let Some(merged) = merged.as_object() else {
            return BTreeMap::new();
        };
        let objects = object_run(layers);
        let winner = |key: &str| objects.iter().find(|layer| layer.value.get(key).is_some());
        merged
            .keys()
            .filter_map(|key| Some((key.clone(), self.source(winner(key)?.rank).to_owned())))
            .collect()
    }

    fn names(&self, marks: &Marks) -> Vec<String> {
        let ranks = marks.0.iter().enumerate().filter(|(_, seen)| **seen);
        ranks
            .map(|(rank, _)| self.source(rank).to_owned())
            .collect()
    }

    fn source(&self, rank: usize) -> &str {
        self.ranked.get(rank).map_or("", |c| c.source)
    }
}

/// Merges the values at one path, highest precedence first.
fn merge_value(layers: &[Layer<'_>], marks: &mut Marks) -> Value {
    let Some(top) = layers.first() else {
        return Value::Null;
    };
    let objects = object_run(layers);
    if objects.len() < 2 {
        // A leaf, or an object that nothing below adds to: taken whole.
        marks.mark(top.rank);
        return top.value.clone();
    }
    let mut out = Map::new();
    for_each_key(objects, |key, at_key| {
        out.insert(key.to_owned(), merge_value(at_key, marks));
    });
    mark_if_empty(&out, objects, marks);
    Value::Object(out)
}

/// The union of the `metadata.tags` arrays, or the winning leaf if the
/// highest value is not an array (lower non-arrays are ignored).
fn union_tags(layers: &[Layer<'_>], marks: &mut Marks) -> Value {
    let Some(top) = layers.first().filter(|top| top.value.is_array()) else {
        return merge_value(layers, marks);
    };
    let mut tags: Vec<Value> = Vec::new();
    for layer in layers {
        for tag in layer.value.as_array().into_iter().flatten() {
            if !tags.contains(tag) {
                tags.push(tag.clone());
                marks.mark(layer.rank);
            }
        }
    }
    if tags.is_empty() {
        marks.mark(top.rank);
    }
    Value::Array(tags)
}

/// The leading run of objects: those are merged, and the first non-object
/// hides everything below it.
fn object_run<'l, 'a>(layers: &'l [Layer<'a>]) -> &'l [Layer<'a>] {
    let objects = layers
        .iter()
        .take_while(|layer| layer.value.is_object())
        .count();
    &layers[..objects]
}

/// Calls `f` once for every key of the union of `objects`, with the values
/// under that key in precedence order.
fn for_each_key<'a>(objects: &[Layer<'a>], mut f: impl FnMut(&'a str, &[Layer<'a>])) {
    let mut at_key = Vec::with_capacity(objects.len());
    for (i, layer) in objects.iter().enumerate() {
        let Some(map) = layer.value.as_object() else {
            continue;
        };
        for (key, value) in map {
            if objects[..i]
                .iter()
                .any(|higher| higher.value.get(key).is_some())
            {
                continue;
            }
            at_key.clear();
            at_key.push(Layer {
                rank: layer.rank,
                value,
            });
            at_key.extend(objects[i + 1..].iter().filter_map(|lower| {
                let value = lower.value.get(key)?;
                Some(Layer {
                    rank: lower.rank,
                    value,
                })
            }));
            f(key, &at_key);
        }
    }
}

/// An empty merged object still came from somewhere: its highest source.
fn mark_if_empty(out: &Map<String, Value>, objects: &[Layer<'_>], marks: &mut Marks) {
    if let (true, Some(top)) = (out.is_empty(), objects.first()) {
        marks.mark(top.rank);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contribution<'a>(source: &'a str, priority: i64, entity: &'a Value) -> Contribution<'a> {
        Contribution {
            source,
            priority,
            entity,
        }
    }

    /// Merges `(source, priority, entity)` triples.
    fn merged(inputs: &[(&str, i64, Value)]) -> Merged {
        let contributions: Vec<_> = inputs
            .iter()
            .map(|(source, priority, entity)| contribution(source, *priority, entity))
            .collect();
        merge(&contributions).expect("some contributions")
    }

    fn component(name: &str, spec: Value) -> Value {
        json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": { "name": name },
            "spec": spec,
        })
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nothing_to_merge() {
        assert_eq!(merge(&[]), None);
    }

    #[test]
    fn one_source_is_taken_as_is() {
        let entity = json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {
                "name": "svc",
                "annotations": { "a/b": "1" },
                "labels": { "tier": "1" },
                "tags": ["x", "y"],
            },
            "spec": { "type": "service", "owner": "team-a", "deps": [1, 2] },
        });
        let result = merged(&[("github", 5, entity.clone())]);
        assert_eq!(result.entity, entity);
        let p = result.provenance;
        let github = names(&["github"]);
        assert!(p.fields.values().all(|sources| *sources == github));
        assert_eq!(p.fields.len(), 4);
        assert!(p.metadata.values().all(|sources| *sources == github));
        assert_eq!(p.metadata.len(), 4);
        assert_eq!(p.annotations["a/b"], "github");
        assert_eq!(p.labels["tier"], "github");
    }

    #[test]
    fn the_single_source_shortcut_agrees_with_the_general_merge() {
        let entities = [
            component("svc", json!({ "type": "service", "deploy": { "env": {} } })),
            with_metadata(json!({})),
            with_metadata(json!({ "tags": [] , "annotations": {}, "labels": "junk" })),
            with_metadata(
                json!({ "tags": ["a", "b", "a", "c", "b"], "annotations": { "k": "v" } }),
            ),
            with_metadata(json!({ "tags": "not-a-list", "annotations": ["x"] })),
            json!({ "metadata": "flat", "spec": [] }),
            json!({}),
            json!([1, 2]),
            Value::Null,
        ];
        for entity in &entities {
            let only = contribution("only", 1, entity);
            assert_eq!(single(&only), merge_many(&[only]), "{entity}");
        }
        let deduped = merged(&[("only", 1, entities[3].clone())]);
        assert_eq!(deduped.entity["metadata"]["tags"], json!(["a", "b", "c"]));
    }

    #[test]
    fn higher_priority_wins_a_leaf() {
        let high = component("svc", json!({ "owner": "team-a" }));
        let low = component("svc", json!({ "owner": "team-b" }));
        for (a, b) in [(10, 1), (-1, -5)] {
            let result = merged(&[("low", b, low.clone()), ("high", a, high.clone())]);
            assert_eq!(result.entity["spec"]["owner"], "team-a");
            assert_eq!(result.provenance.fields["spec"], names(&["high"]));
        }
    }

    #[test]
    fn three_sources_layer_by_priority() {
        let result = merged(&[
            (
                "mid",
                5,
                component(
                    "svc",
                    json!({ "owner": "mid", "type": "mid", "system": "mid" }),
                ),
            ),
            (
                "low",
                1,
                component(
                    "svc",
                    json!({ "owner": "low", "type": "low", "system": "low", "lifecycle": "low" }),
                ),
            ),
            ("high", 9, component("svc", json!({ "owner": "high" }))),
        ]);
        assert_eq!(
            result.entity["spec"],
            json!({ "owner": "high", "type": "mid", "system": "mid", "lifecycle": "low" })
        );
        assert_eq!(
            result.provenance.fields["spec"],
            names(&["high", "mid", "low"])
        );
        // Equal leaves are credited to the highest source alone.
        assert_eq!(result.provenance.fields["kind"], names(&["high"]));
    }

    #[test]
    fn ties_go_to_the_source_name_that_sorts_first() {
        let a = component("svc", json!({ "owner": "from-a" }));
        let b = component("svc", json!({ "owner": "from-b" }));
        for inputs in [
            [("beta", 3, b.clone()), ("alpha", 3, a.clone())],
            [("alpha", 3, a.clone()), ("beta", 3, b.clone())],
        ] {
            let result = merged(&inputs);
            assert_eq!(result.entity["spec"]["owner"], "from-a");
            assert_eq!(result.provenance.fields["spec"], names(&["alpha"]));
        }
    }

    #[test]
    fn the_same_source_twice_is_still_deterministic() {
        let a = component("svc", json!({ "owner": "one" }));
        let b = component("svc", json!({ "owner": "two" }));
        let forward = merged(&[("s", 1, a.clone()), ("s", 1, b.clone())]);
        let backward = merged(&[("s", 1, b), ("s", 1, a)]);
        assert_eq!(forward, backward);
    }

    fn with_metadata(metadata: Value) -> Value {
        json!({ "kind": "Component", "metadata": metadata })
    }

    #[test]
    fn annotations_merge_key_by_key_and_the_higher_priority_wins() {
        let high = with_metadata(json!({ "annotations": { "shared": "high", "only-high": "h" } }));
        let low = with_metadata(json!({ "annotations": { "shared": "low", "only-low": "l" } }));
        // Both ways round: the higher priority wins whichever side it is on.
        for (high_priority, low_priority) in [(2, 1), (-1, -2)] {
            let result = merged(&[
                ("low", low_priority, low.clone()),
                ("high", high_priority, high.clone()),
            ]);
            assert_eq!(
                result.entity["metadata"]["annotations"],
                json!({ "shared": "high", "only-high": "h", "only-low": "l" })
            );
            let winners = &result.provenance.annotations;
            assert_eq!(winners["shared"], "high");
            assert_eq!(winners["only-high"], "high");
            assert_eq!(winners["only-low"], "low");
        }
        // Swap the priorities and the other value wins.
        let result = merged(&[("low", 2, low), ("high", 1, high)]);
        assert_eq!(result.entity["metadata"]["annotations"]["shared"], "low");
        assert_eq!(result.provenance.annotations["shared"], "low");
    }

    #[test]
    fn labels_merge_key_by_key_and_the_higher_priority_wins() {
        let a = with_metadata(json!({ "labels": { "tier": "1", "team": "a" } }));
        let b = with_metadata(json!({ "labels": { "tier": "2", "region": "eu" } }));
        let result = merged(&[("a", 7, a.clone()), ("b", 3, b.clone())]);
        assert_eq!(
            result.entity["metadata"]["labels"],
            json!({ "tier": "1", "team": "a", "region": "eu" })
        );
        let expected: BTreeMap<String, String> = [("tier", "a"), ("team", "a"), ("region", "b")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        assert_eq!(result.provenance.labels, expected);
        let result = merged(&[("a", 3, a), ("b", 7, b)]);
        assert_eq!(result.entity["metadata"]["labels"]["tier"], "2");
        assert_eq!(result.provenance.labels["tier"], "b");
    }

    #[test]
    fn spec_merges_recursively() {
        let high = component(
            "svc",
            json!({ "owner": "team-a", "deploy": { "replicas": 3, "env": { "A": "high" } } }),
        );
        let low = component(
            "svc",
            json!({ "owner": "team-b", "type": "service", "deploy": { "region": "eu", "env": { "A": "low", "B": "low" } } }),
        );
        let result = merged(&[("high", 2, high), ("low", 1, low)]);
        assert_eq!(
            result.entity["spec"],
            json!({
                "owner": "team-a",
                "type": "service",
                "deploy": { "replicas": 3, "region": "eu", "env": { "A": "high", "B": "low" } },
            })
        );
        assert_eq!(result.provenance.fields["spec"], names(&["high", "low"]));
    }

    #[test]
    fn arrays_are_taken_whole_from_the_highest_source() {
        let high = component("svc", json!({ "providesApis": ["a"], "links": [] }));
        let low = component(
            "svc",
            json!({ "providesApis": ["b", "c"], "links": [{ "url": "x" }], "dependsOn": ["d"] }),
        );
        let result = merged(&[("low", 1, low), ("high", 2, high)]);
        assert_eq!(
            result.entity["spec"],
            json!({ "providesApis": ["a"], "links": [], "dependsOn": ["d"] })
        );
        // Other arrays in metadata are not unions either.
        let high = with_metadata(json!({ "links": [{ "url": "h" }] }));
        let low = with_metadata(json!({ "links": [{ "url": "l" }] }));
        let result = merged(&[("low", 1, low), ("high", 2, high)]);
        assert_eq!(result.entity["metadata"]["links"], json!([{ "url": "h" }]));
        assert_eq!(result.provenance.metadata["links"], names(&["high"]));
    }

    #[test]
    fn tags_are_the_union_in_priority_order() {
        let result = merged(&[
            (
                "low",
                1,
                with_metadata(json!({ "tags": ["z", "shared", "low"] })),
            ),
            (
                "high",
                9,
                with_metadata(json!({ "tags": ["shared", "high", "high"] })),
            ),
            (
                "mid",
                5,
                with_metadata(json!({ "tags": ["mid", "shared", "high"] })),
            ),
            ("none", 7, with_metadata(json!({ "name": "svc" }))),
        ]);
        assert_eq!(
            result.entity["metadata"]["tags"],
            json!(["shared", "high", "mid", "z", "low"])
        );
        assert_eq!(
            result.provenance.metadata["tags"],
            names(&["high", "mid", "low"])
        );
        // A source that adds nothing new is not listed.
        let result = merged(&[
            ("a", 2, with_metadata(json!({ "tags": ["x"] }))),
            ("b", 1, with_metadata(json!({ "tags": ["x"] }))),
        ]);
        assert_eq!(result.entity["metadata"]["tags"], json!(["x"]));
        assert_eq!(result.provenance.metadata["tags"], names(&["a"]));
        // If the winner's tags are not an array, it wins as any leaf does.
        let result = merged(&[
            ("a", 2, with_metadata(json!({ "tags": "oops" }))),
            ("b", 1, with_metadata(json!({ "tags": ["x"] }))),
        ]);
        assert_eq!(result.entity["metadata"]["tags"], "oops");
    }

    #[test]
    fn tags_elsewhere_are_ordinary_arrays() {
        let result = merged(&[
            ("a", 2, component("svc", json!({ "tags": ["a"] }))),
            ("b", 1, component("svc", json!({ "tags": ["b"] }))),
        ]);
        assert_eq!(result.entity["spec"]["tags"], json!(["a"]));
    }

    #[test]
    fn a_higher_scalar_beats_a_lower_object() {
        let result = merged(&[
            ("high", 2, component("svc", json!({ "owner": "team-a" }))),
            (
                "low",
                1,
                component("svc", json!({ "owner": { "group": "team-b" } })),
            ),
        ]);
        assert_eq!(result.entity["spec"]["owner"], "team-a");
        let result = merged(&[
            ("high", 2, component("svc", json!({ "deploy": null }))),
            (
                "low",
                1,
                component("svc", json!({ "deploy": { "replicas": 2 } })),
            ),
        ]);
        assert_eq!(result.entity["spec"]["deploy"], Value::Null);
        assert_eq!(result.provenance.fields["spec"], names(&["high"]));
    }

    #[test]
    fn a_higher_object_beats_a_lower_scalar_and_what_it_hides() {
        let result = merged(&[
            (
                "high",
                3,
                component("svc", json!({ "owner": { "group": "a" } })),
            ),
            ("mid", 2, component("svc", json!({ "owner": "team-b" }))),
            (
                "low",
                1,
                component("svc", json!({ "owner": { "user": "c" } })),
            ),
        ]);
        // As if low, then mid, then high were deep-merged in turn.
        assert_eq!(result.entity["spec"]["owner"], json!({ "group": "a" }));
        assert_eq!(result.provenance.fields["spec"], names(&["high"]));
        // A whole entity that is not an object is a leaf too.
        let result = merged(&[
            ("high", 2, json!("junk")),
            ("low", 1, component("svc", json!({}))),
        ]);
        assert_eq!(result.entity, json!("junk"));
        assert_eq!(result.provenance, Provenance::default());
    }

    #[test]
    fn provenance_records_contributors_and_winners() {
        let catalog = json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {
                "name": "svc",
                "annotations": { "backstage.io/source-location": "url:x", "shared": "catalog" },
                "labels": { "tier": "1" },
                "tags": ["java"],
            },
            "spec": { "type": "service", "owner": "team-a" },
        });
        let pagerduty = json!({
            "metadata": {
                "name": "svc",
                "annotations": { "pagerduty.com/service-id": "P1", "shared": "pagerduty" },
                "tags": ["java", "oncall"],
            },
            "spec": { "owner": "team-oncall" },
            "status": { "incidents": 0 },
        });
        let result = merged(&[("pagerduty", 5, pagerduty), ("catalog", 10, catalog)]);
        let expected = json!({
            "fields": {
                "apiVersion": ["catalog"],
                "kind": ["catalog"],
                "metadata": ["catalog", "pagerduty"],
                "spec": ["catalog"],
                "status": ["pagerduty"],
            },
            "metadata": {
                "annotations": ["catalog", "pagerduty"],
                "labels": ["catalog"],
                "name": ["catalog"],
                "tags": ["catalog", "pagerduty"],
            },
            "annotations": {
                "backstage.io/source-location": "catalog",
                "pagerduty.com/service-id": "pagerduty",
                "shared": "catalog",
            },
            "labels": { "tier": "catalog" },
        });
        let json = serde_json::to_value(&result.provenance).expect("serializes");
        assert_eq!(json, expected);
        let back: Provenance = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, result.provenance);
        assert_eq!(result.entity["metadata"]["tags"], json!(["java", "oncall"]));
        assert_eq!(result.entity["status"], json!({ "incidents": 0 }));
    }

    #[test]
    fn provenance_json_shape_is_stable_when_empty() {
        let json = serde_json::to_value(Provenance::default()).expect("serializes");
        assert_eq!(
            json,
            json!({ "fields": {}, "metadata": {}, "annotations": {}, "labels": {} })
        );
        let parsed: Provenance = serde_json::from_value(json!({})).expect("lenient");
        assert_eq!(parsed, Provenance::default());
    }

    #[test]
    fn input_order_does_not_matter() {
        let inputs = [
            (
                "a",
                1,
                component("svc", json!({ "x": 1, "l": [1], "o": { "p": 1 } })),
            ),
            (
                "b",
                2,
                component("svc", json!({ "y": 2, "l": [2], "o": { "q": 2 } })),
            ),
            ("c", 2, component("svc", json!({ "x": 3, "o": { "p": 3 } }))),
            (
                "d",
                0,
                with_metadata(json!({ "tags": ["d"], "annotations": { "k": "d" } })),
            ),
        ];
        let expected = merged(&inputs);
        let expected_hash = content_hash(&expected.entity);
        let mut order = [0, 1, 2, 3];
        // Every permutation (Heap's algorithm, iteratively).
        let mut counters = [0; 4];
        let mut i = 0;
        while i < order.len() {
            if counters[i] < i {
                order.swap(if i % 2 == 0 { 0 } else { counters[i] }, i);
                let permuted: Vec<_> = order.iter().map(|&j| inputs[j].clone()).collect();
                let result = merged(&permuted);
                assert_eq!(result, expected, "order {order:?}");
                assert_eq!(content_hash(&result.entity), expected_hash);
                counters[i] += 1;
                i = 0;
            } else {
                counters[i] = 0;
                i += 1;
            }
        }
        assert_eq!(
            expected.entity["spec"],
            json!({ "x": 3, "y": 2, "l": [2], "o": { "p": 3, "q": 2 } })
        );
    }
}
