//! The pure part of the source: entity `n` of a cycle from the parameters alone.
//!
//! Built for speed: each entity's JSON text is written straight into one
//! `String` of the right size (see [`entity_json`]), the only allocation per
//! entity.

use serde::{Deserialize, Serialize};
use weir_guest::{Entity, Page};

#[cfg(test)]
mod reference;

/// What the generated cycle looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Entities per cycle.
    pub count: u64,
    /// Entities per page, at least 1.
    pub page_size: usize,
    /// Rough JSON size of each entity; below the natural size it has no effect.
    pub entity_bytes: usize,
    /// Mixed into every entity's content, so a new seed updates them all.
    pub seed: u64,
    /// The share (0-100) of entities generated as if with the next seed:
    /// those whose number modulo 100 is below it. A cycle with a few changes.
    pub changed_percent: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            count: 1000,
            page_size: 500,
            entity_bytes: 1200,
            seed: 0,
            changed_percent: 0,
        }
    }
}

/// Where the next page starts: how many entities the cycle has returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub offset: u64,
}

/// The page starting at `cursor`; the last one when it reaches `count`.
pub fn page(params: &Params, cursor: Cursor) -> Page<Cursor> {
    let start = cursor.offset.min(params.count);
    let end = start
        .saturating_add(params.page_size as u64)
        .min(params.count);
    let padding = padding_for(params, start + 1);
    let changed = Params {
        seed: params.seed.wrapping_add(1),
        ..*params
    };
    let entities = (start + 1..=end)
        .map(|index| {
            let params = if index % 100 < params.changed_percent {
                &changed
            } else {
                params
            };
            Entity::from_json_text(entity_json(params, index, padding))
        })
        .collect();
    if end < params.count {
        Page::more(entities, Cursor { offset: end })
    } else {
        Page::last(entities)
    }
}

/// How much to pad descriptions so entities come out near `entity_bytes`,
/// measured once per page on the entity at `index` (the others differ from it
/// by a few bytes at most).
fn padding_for(params: &Params, index: u64) -> usize {
    if params.entity_bytes == 0 || index > params.count {
        return 0;
    }
    let natural = entity_json(params, index, 0).len();
    params.entity_bytes.saturating_sub(natural)
}

/// The JSON text of entity number `index` (1-based), its description padded
/// by `padding` bytes.
///
/// Written by hand rather than with serde because serde_json checks every
/// byte of every string for characters to escape, and inside wasm that was
/// most of the cost of an entity. Nothing here needs escaping: the fixed
/// text, the choices and [`FILLER`] are plain ASCII without `"`, `\` or
/// control characters, and the varying pieces are digits, hex digits and
/// those. The tests hold this to the serde version (`reference.rs`) byte for
/// byte.
fn entity_json(params: &Params, index: u64, padding: usize) -> String {
    let hash = mix(params.seed, index);
    // Each varying piece is rendered once, on the stack; the text below borrows them.
    let name = Short::new("entity-").decimal(index, 6);
    let seed = Short::new("").decimal(params.seed, 1);
    let revision = Short::new("").hex(hash);
    let pagerduty_id = Short::new("P").hex(hash.rotate_left(17));
    let cost_center = Short::new("cc-").decimal(1000 + hash % 9000, 1);
    let team = Short::new("team-").decimal(index % 23, 1);
    let system = Short::new("system-").decimal(index % 11, 1);
    let shard = Short::new("shard-").decimal(index % 16, 1);
    let name = name.as_str();
    let seed = seed.as_str();
    let revision = revision.as_str();
    let team = team.as_str();
    let shard = shard.as_str();
    // A different slice of the hash for each choice, so they vary independently.
    let pick = |salt: u32, choices: &'static [&'static str]| {
        choices[(hash.rotate_left(salt) % choices.len() as u64) as usize]
    };
    // The text up to the description's padding, then the rest.
    let head = [
        r#"{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":""#,
        name,
        r#"","namespace":"default","description":"Synthetic component, seed "#,
        seed,
        ", revision ",
        revision,
        ".",
    ];
    let tail = [
        r#"","annotations":{"backstage.io/managed-by-location":"url:https://synthetic.example.com/"#,
        name,
        r#"","backstage.io/managed-by-origin-location":"url:https://synthetic.example.com/"#,
        name,
        r#"","backstage.io/source-location":"url:https://git.example.com/synthetic/"#,
        name,
        r#"","backstage.io/techdocs-ref":"dir:.","github.com/project-slug":"synthetic/"#,
        name,
        r#"","backstage.io/kubernetes-id":""#,
        name,
        r#"","sonarqube.org/project-key":"synthetic:"#,
        name,
        r#"","pagerduty.com/service-id":""#,
        pagerduty_id.as_str(),
        r#"","synthetic.example.com/seed":""#,
        seed,
        r#"","synthetic.example.com/revision":""#,
        revision,
        r#""},"labels":{"tier":""#,
        pick(8, &["tier-1", "tier-2", "tier-3"]),
        r#"","team":""#,
        team,
        r#"","region":""#,
        pick(16, &["eu-west-1", "us-east-1", "ap-south-1"]),
        r#"","cost-center":""#,
        cost_center.as_str(),
        r#"","synthetic.example.com/shard":""#,
        shard,
        r#""},"tags":["synthetic",""#,
        pick(24, &["rust", "go", "java", "python", "typescript"]),
        r#"",""#,
        shard,
        r#""],"links":[{"url":"https://synthetic.example.com/"#,
        name,
        r#"/dashboard","title":"Dashboard"}]},"spec":{"type":""#,
        pick(32, &["service", "website", "library"]),
        r#"","lifecycle":""#,
        pick(40, &["production", "experimental", "deprecated"]),
        r#"","owner":"group:default/"#,
        team,
        r#"","system":""#,
        system.as_str(),
        r#""}}"#,
    ];
    let length = |parts: &[&str]| parts.iter().map(|part| part.len()).sum::<usize>();
    let mut json = String::with_capacity(length(&head) + padding + length(&tail));
    head.iter().for_each(|part| json.push_str(part));
    push_filler(&mut json, padding);
    tail.iter().for_each(|part| json.push_str(part));
    json
}

/// Filler prose for padding descriptions: plain ASCII that needs no escaping
/// in JSON, so `n` bytes of it are `n` bytes of JSON too.
const FILLER: &str = " Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod \
    tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud \
    exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.";

/// Append `len` bytes of [`FILLER`], repeated as often as needed.
fn push_filler(json: &mut String, len: usize) {
    let mut left = len;
    while left > 0 {
        let chunk = &FILLER[..left.min(FILLER.len())];
        json.push_str(chunk);
        left -= chunk.len();
    }
}

/// A short ASCII string built on the stack (numbers, hashes, names): a fixed
/// prefix followed by a decimal or hexadecimal number.
struct Short {
    bytes: [u8; 32],
    len: usize,
}

impl Short {
    fn new(prefix: &str) -> Short {
        let mut short = Short {
            bytes: [0; 32],
            len: 0,
        };
        short.push(prefix.as_bytes());
        short
    }

    /// Append `n` in decimal, with leading zeros up to `min_width` digits
    /// (as `format!("{n:0min_width$}")`; `min_width` at most 20).
    fn decimal(mut self, mut n: u64, min_width: usize) -> Short {
        let mut digits = [b'0'; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[start.min(digits.len() - min_width)..]);
        self
    }

    /// Append `n` as 16 lowercase hex digits (as `format!("{n:016x}")`).
    fn hex(mut self, n: u64) -> Short {
        let mut digits = [0; 16];
        for (i, digit) in digits.iter_mut().enumerate() {
            *digit = b"0123456789abcdef"[(n >> (60 - 4 * i)) as usize & 0xf];
        }
        self.push(&digits);
        self
    }

    /// Panics past 32 bytes, which the pieces above never reach.
    fn push(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        self.bytes[self.len..end].copy_from_slice(bytes);
        self.len = end;
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).expect("written from ASCII")
    }
}

/// A well-spread hash of the seed and the index (SplitMix64's finaliser).
fn mix(seed: u64, index: u64) -> u64 {
    let mut z =
        seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ index.wrapping_add(0x632b_e59b_d9b4_e019);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn params(count: u64, page_size: usize) -> Params {
        Params {
            count,
            page_size,
            ..Params::default()
        }
    }

    fn jsons(page: &Page<Cursor>) -> Vec<&str> {
        page.entities.iter().map(Entity::json).collect()
    }

    fn names(page: &Page<Cursor>) -> Vec<String> {
        jsons(page)
            .into_iter()
            .map(|json| {
                let value: Value = serde_json::from_str(json).unwrap();
                value["metadata"]["name"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    /// Every page of a cycle, following the cursors from the start.
    fn walk(params: &Params) -> Vec<Page<Cursor>> {
        let mut pages = vec![page(params, Cursor::default())];
        while let Some(cursor) = pages.last().unwrap().next {
            pages.push(page(params, cursor));
        }
        pages
    }

    #[test]
    fn entities_look_like_backstage_components() {
        let page = page(&params(1, 10), Cursor::default());
        let value: Value = serde_json::from_str(page.entities[0].json()).unwrap();
        assert_eq!(value["apiVersion"], "backstage.io/v1alpha1");
        assert_eq!(value["kind"], "Component");
        let metadata = &value["metadata"];
        assert_eq!(metadata["name"], "entity-000001");
        assert_eq!(metadata["namespace"], "default");
        assert!(
            metadata["description"]
                .as_str()
                .unwrap()
                .starts_with("Synthetic component")
        );
        let annotations = metadata["annotations"].as_object().unwrap();
        assert_eq!(annotations.len(), 10);
        let location = "url:https://synthetic.example.com/entity-000001";
        assert_eq!(annotations[weir_guest::ANNOTATION_LOCATION], location);
        assert_eq!(
            annotations[weir_guest::ANNOTATION_ORIGIN_LOCATION],
            location
        );
        assert!(annotations.values().all(Value::is_string));
        assert_eq!(metadata["labels"].as_object().unwrap().len(), 5);
        assert_eq!(metadata["tags"].as_array().unwrap().len(), 3);
        assert_eq!(metadata["links"].as_array().unwrap().len(), 1);
        for field in ["type", "lifecycle", "owner", "system"] {
            assert!(value["spec"][field].is_string(), "spec.{field}");
        }
    }

    /// Seeds, indexes and paddings around every width and boundary the
    /// hand-written text has to get right.
    const SEEDS: [u64; 6] = [0, 1, 7, 1 << 32, 0x9e37_79b9_7f4a_7c15, u64::MAX];
    const PADDINGS: [usize; 9] = [
        0,
        1,
        2,
        FILLER.len() - 1,
        FILLER.len(),
        FILLER.len() + 1,
        2 * FILLER.len() + 3,
        1000,
        8800,
    ];

    fn indexes() -> impl Iterator<Item = u64> {
        (1..=1000).chain([9_999, 99_999, 999_999, 1_000_000, 12_345_678, u64::MAX])
    }

    #[test]
    fn the_hand_written_json_is_the_serde_json_byte_for_byte() {
        for (s, &seed) in SEEDS.iter().enumerate() {
            let params = Params {
                seed,
                ..Params::default()
            };
            for index in indexes() {
                let other = PADDINGS[(index as usize).wrapping_add(s) % PADDINGS.len()];
                for padding in [0, other] {
                    let fast = entity_json(&params, index, padding);
                    let serde = reference::entity(&params, index, padding).unwrap();
                    assert_eq!(
                        fast,
                        serde.json(),
                        "seed {seed}, index {index}, padding {padding}"
                    );
                    assert_eq!(fast.capacity(), fast.len(), "pre-sized exactly");
                }
            }
        }
    }

    #[test]
    fn pages_are_the_serde_pages_and_padding_lands_near_entity_bytes() {
        for seed in [0, 99] {
            for entity_bytes in [0, 10, 500, 1200, 2000, 10_000] {
                let params = Params {
                    seed,
                    entity_bytes,
                    ..params(1200, 500)
                };
                let mut first = 1;
                for page in walk(&params) {
                    let natural = reference::entity(&params, first, 0).unwrap().json().len();
                    let padding = entity_bytes.saturating_sub(natural);
                    for (index, json) in (first..).zip(jsons(&page)) {
                        let serde = reference::entity(&params, index, padding).unwrap();
                        assert_eq!(json, serde.json(), "seed {seed}, index {index}");
                        if padding > 0 {
                            let size = json.len() as i64;
                            assert!(
                                (size - entity_bytes as i64).abs() <= 32,
                                "{size} bytes for {entity_bytes}"
                            );
                        }
                    }
                    first += page.entities.len() as u64;
                }
            }
        }
    }

    #[test]
    fn no_generated_string_needs_escaping() {
        fn check(value: &Value) {
            match value {
                Value::String(text) => assert!(
                    text.bytes()
                        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\'),
                    "{text:?}"
                ),
                Value::Array(items) => items.iter().for_each(check),
                Value::Object(fields) => fields.iter().for_each(|(key, value)| {
                    check(&Value::String(key.clone()));
                    check(value);
                }),
                _ => panic!("only strings, arrays and objects: {value}"),
            }
        }
        for seed in SEEDS {
            let params = Params {
                seed,
                ..Params::default()
            };
            for index in indexes() {
                let json = entity_json(&params, index, 500);
                check(&serde_json::from_str(&json).unwrap());
            }
        }
    }

    #[test]
    fn generation_is_deterministic() {
        let params = params(50, 20);
        assert_eq!(
            page(&params, Cursor { offset: 20 }).entities,
            page(&params, Cursor { offset: 20 }).entities,
        );
    }

    #[test]
    fn changed_percent_changes_that_share_of_entities() {
        let before = page(&params(200, 200), Cursor::default());
        let after = page(
            &Params {
                changed_percent: 10,
                ..params(200, 200)
            },
            Cursor::default(),
        );
        let changed = jsons(&before)
            .into_iter()
            .zip(jsons(&after))
            .filter(|(old, new)| old != new)
            .count();
        assert_eq!(changed, 20);
        assert_eq!(names(&before), names(&after));
    }

    #[test]
    fn a_new_seed_changes_every_entity_but_not_the_names() {
        let before = page(&params(100, 100), Cursor::default());
        let after = page(
            &Params {
                seed: 7,
                ..params(100, 100)
            },
            Cursor::default(),
        );
        assert_eq!(names(&before), names(&after));
        for (old, new) in jsons(&before).into_iter().zip(jsons(&after)) {
            assert_ne!(old, new);
        }
    }

    #[test]
    fn entities_come_out_near_entity_bytes() {
        for entity_bytes in [1200, 2000, 10_000] {
            let params = Params {
                entity_bytes,
                ..params(300, 100)
            };
            for json in walk(&params).iter().flat_map(jsons) {
                let size = json.len() as i64;
                assert!(
                    (size - entity_bytes as i64).abs() <= 32,
                    "{size} bytes for {entity_bytes}"
                );
            }
        }
    }

    #[test]
    fn small_entity_bytes_give_the_natural_size() {
        let natural = Params {
            entity_bytes: 0,
            ..params(1, 1)
        };
        let tiny = Params {
            entity_bytes: 10,
            ..natural
        };
        let natural = page(&natural, Cursor::default());
        let tiny = page(&tiny, Cursor::default());
        assert_eq!(jsons(&natural), jsons(&tiny));
        assert!(jsons(&natural)[0].len() < Params::default().entity_bytes);
    }

    #[test]
    fn pages_cover_every_entity_once_in_order() {
        let pages = walk(&params(1234, 500));
        let sizes: Vec<usize> = pages.iter().map(|page| page.entities.len()).collect();
        assert_eq!(sizes, [500, 500, 234]);
        let names: Vec<String> = pages.iter().flat_map(names).collect();
        let expected: Vec<String> = (1..=1234).map(|n| format!("entity-{n:06}")).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn a_count_that_fills_the_pages_exactly_has_no_empty_last_page() {
        let pages = walk(&params(1000, 500));
        let sizes: Vec<usize> = pages.iter().map(|page| page.entities.len()).collect();
        assert_eq!(sizes, [500, 500]);
        assert_eq!(pages[0].next, Some(Cursor { offset: 500 }));
    }

    #[test]
    fn a_count_of_zero_is_one_empty_last_page() {
        let pages = walk(&params(0, 500));
        assert_eq!(pages.len(), 1);
        assert!(pages[0].entities.is_empty());
        assert!(pages[0].next.is_none());
    }

    #[test]
    fn a_cursor_past_the_end_is_the_last_page() {
        let page = page(&params(10, 5), Cursor { offset: 99 });
        assert!(page.entities.is_empty());
        assert!(page.next.is_none());
    }

    #[test]
    fn the_cursor_is_small_json() {
        let text = serde_json::to_string(&Cursor { offset: 500 }).unwrap();
        assert_eq!(text, r#"{"offset":500}"#);
    }
}
