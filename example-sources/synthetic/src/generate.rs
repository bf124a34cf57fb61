//! The pure part of the source: entity `n` of a cycle from the parameters alone.
//!
//! Built for speed: every entity is one `#[derive(Serialize)]` value whose
//! strings are written piece by piece straight into the output JSON (see
//! [`Concat`]), so the output string is the only allocation per entity.

use std::fmt::{self, Display, Formatter};

use serde::{Deserialize, Serialize, Serializer};
use weir_guest::{Entity, Error, Page};

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
}

impl Default for Params {
    fn default() -> Self {
        Params {
            count: 1000,
            page_size: 500,
            entity_bytes: 1200,
            seed: 0,
        }
    }
}

/// Where the next page starts: how many entities the cycle has returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub offset: u64,
}

/// The page starting at `cursor`; the last one when it reaches `count`.
pub fn page(params: &Params, cursor: Cursor) -> Result<Page<Cursor>, Error> {
    let start = cursor.offset.min(params.count);
    let end = start
        .saturating_add(params.page_size as u64)
        .min(params.count);
    let padding = padding_for(params, start + 1)?;
    let entities = (start + 1..=end)
        .map(|index| entity(params, index, padding))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if end < params.count {
        Page::more(entities, Cursor { offset: end })
    } else {
        Page::last(entities)
    })
}

/// How much to pad descriptions so entities come out near `entity_bytes`,
/// measured once per page on the entity at `index` (the others differ from it
/// by a few bytes at most).
fn padding_for(params: &Params, index: u64) -> Result<usize, Error> {
    if params.entity_bytes == 0 || index > params.count {
        return Ok(0);
    }
    let natural = entity(params, index, 0)?.json().len();
    Ok(params.entity_bytes.saturating_sub(natural))
}

/// Entity number `index` (1-based), its description padded by `padding` bytes.
fn entity(params: &Params, index: u64, padding: usize) -> Result<Entity, Error> {
    let hash = mix(params.seed, index);
    // Each varying piece is rendered once, on the stack; the fields below borrow them.
    let name = Short::new(format_args!("entity-{index:06}"));
    let seed = Short::new(format_args!("{}", params.seed));
    let revision = Short::new(format_args!("{hash:016x}"));
    let pagerduty_id = Short::new(format_args!("P{:016x}", hash.rotate_left(17)));
    let cost_center = Short::new(format_args!("cc-{}", 1000 + hash % 9000));
    let team = Short::new(format_args!("team-{}", index % 23));
    let system = Short::new(format_args!("system-{}", index % 11));
    let shard = Short::new(format_args!("shard-{}", index % 16));
    let name = name.as_str();
    // A different slice of the hash for each choice, so they vary independently.
    let pick = |salt: u32, choices: &'static [&'static str]| {
        choices[(hash.rotate_left(salt) % choices.len() as u64) as usize]
    };
    Entity::from_serialize(&Component {
        api_version: "backstage.io/v1alpha1",
        kind: "Component",
        metadata: Metadata {
            name,
            namespace: "default",
            description: Padded(
                Concat(&[
                    "Synthetic component, seed ",
                    seed.as_str(),
                    ", revision ",
                    revision.as_str(),
                    ".",
                ]),
                padding,
            ),
            annotations: Annotations {
                location: Concat(&["url:https://synthetic.example.com/", name]),
                origin_location: Concat(&["url:https://synthetic.example.com/", name]),
                source_location: Concat(&["url:https://git.example.com/synthetic/", name]),
                techdocs_ref: "dir:.",
                project_slug: Concat(&["synthetic/", name]),
                kubernetes_id: name,
                sonarqube_project_key: Concat(&["synthetic:", name]),
                pagerduty_service_id: pagerduty_id.as_str(),
                seed: seed.as_str(),
                revision: revision.as_str(),
            },
            labels: Labels {
                tier: pick(8, &["tier-1", "tier-2", "tier-3"]),
                team: team.as_str(),
                region: pick(16, &["eu-west-1", "us-east-1", "ap-south-1"]),
                cost_center: cost_center.as_str(),
                shard: shard.as_str(),
            },
            tags: [
                "synthetic",
                pick(24, &["rust", "go", "java", "python", "typescript"]),
                shard.as_str(),
            ],
            links: [Link {
                url: Concat(&["https://synthetic.example.com/", name, "/dashboard"]),
                title: "Dashboard",
            }],
        },
        spec: Spec {
            kind: pick(32, &["service", "website", "library"]),
            lifecycle: pick(40, &["production", "experimental", "deprecated"]),
            owner: Concat(&["group:default/", team.as_str()]),
            system: system.as_str(),
        },
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Component<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata<'a>,
    spec: Spec<'a>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    name: &'a str,
    namespace: &'static str,
    description: Padded<'a>,
    annotations: Annotations<'a>,
    labels: Labels<'a>,
    tags: [&'a str; 3],
    links: [Link<'a>; 1],
}

#[derive(Serialize)]
struct Annotations<'a> {
    #[serde(rename = "backstage.io/managed-by-location")]
    location: Concat<'a>,
    #[serde(rename = "backstage.io/managed-by-origin-location")]
    origin_location: Concat<'a>,
    #[serde(rename = "backstage.io/source-location")]
    source_location: Concat<'a>,
    #[serde(rename = "backstage.io/techdocs-ref")]
    techdocs_ref: &'static str,
    #[serde(rename = "github.com/project-slug")]
    project_slug: Concat<'a>,
    #[serde(rename = "backstage.io/kubernetes-id")]
    kubernetes_id: &'a str,
    #[serde(rename = "sonarqube.org/project-key")]
    sonarqube_project_key: Concat<'a>,
    #[serde(rename = "pagerduty.com/service-id")]
    pagerduty_service_id: &'a str,
    #[serde(rename = "synthetic.example.com/seed")]
    seed: &'a str,
    #[serde(rename = "synthetic.example.com/revision")]
    revision: &'a str,
}

#[derive(Serialize)]
struct Labels<'a> {
    tier: &'static str,
    team: &'a str,
    region: &'static str,
    #[serde(rename = "cost-center")]
    cost_center: &'a str,
    #[serde(rename = "synthetic.example.com/shard")]
    shard: &'a str,
}

#[derive(Serialize)]
struct Link<'a> {
    url: Concat<'a>,
    title: &'static str,
}

#[derive(Serialize)]
struct Spec<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    lifecycle: &'static str,
    owner: Concat<'a>,
    system: &'a str,
}

/// A string made of parts, serialised by writing each part into the output
/// in turn: no intermediate `String`.
struct Concat<'a>(&'a [&'a str]);

impl Display for Concat<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|part| f.write_str(part))
    }
}

impl Serialize for Concat<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A [`Concat`] followed by that many bytes of filler prose (plain ASCII, so
/// as many bytes of JSON too).
struct Padded<'a>(Concat<'a>, usize);

const FILLER: &str = " Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod \
    tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud \
    exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.";

impl Display for Padded<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)?;
        let mut left = self.1;
        while left > 0 {
            let chunk = &FILLER[..left.min(FILLER.len())];
            f.write_str(chunk)?;
            left -= chunk.len();
        }
        Ok(())
    }
}

impl Serialize for Padded<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A short string rendered on the stack (numbers, hashes, names).
struct Short {
    bytes: [u8; 32],
    len: usize,
}

impl Short {
    fn new(args: fmt::Arguments<'_>) -> Short {
        let mut short = Short {
            bytes: [0; 32],
            len: 0,
        };
        fmt::Write::write_fmt(&mut short, args).expect("a `Short` holds 32 bytes");
        short
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).expect("written from `str`s")
    }
}

impl fmt::Write for Short {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len + text.len();
        self.bytes
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
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
        let mut pages = vec![page(params, Cursor::default()).unwrap()];
        while let Some(cursor) = pages.last().unwrap().next {
            pages.push(page(params, cursor).unwrap());
        }
        pages
    }

    #[test]
    fn entities_look_like_backstage_components() {
        let page = page(&params(1, 10), Cursor::default()).unwrap();
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

    #[test]
    fn generation_is_deterministic() {
        let params = params(50, 20);
        assert_eq!(
            page(&params, Cursor { offset: 20 }).unwrap().entities,
            page(&params, Cursor { offset: 20 }).unwrap().entities,
        );
    }

    #[test]
    fn a_new_seed_changes_every_entity_but_not_the_names() {
        let before = page(&params(100, 100), Cursor::default()).unwrap();
        let after = page(
            &Params {
                seed: 7,
                ..params(100, 100)
            },
            Cursor::default(),
        )
        .unwrap();
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
        let natural = page(&natural, Cursor::default()).unwrap();
        let tiny = page(&tiny, Cursor::default()).unwrap();
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
        let page = page(&params(10, 5), Cursor { offset: 99 }).unwrap();
        assert!(page.entities.is_empty());
        assert!(page.next.is_none());
    }

    #[test]
    fn the_cursor_is_small_json() {
        let text = serde_json::to_string(&Cursor { offset: 500 }).unwrap();
        assert_eq!(text, r#"{"offset":500}"#);
    }
}
