//! The serde version of [`super::entity`], kept as the reference the
//! hand-written JSON must match byte for byte (see the tests in the parent).

use std::fmt::{self, Display, Formatter};

use serde::{Serialize, Serializer};
use weir_guest::{Entity, Error};

use super::{FILLER, Params, mix};

/// Entity number `index` (1-based), its description padded by `padding` bytes.
pub(super) fn entity(params: &Params, index: u64, padding: usize) -> Result<Entity, Error> {
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
