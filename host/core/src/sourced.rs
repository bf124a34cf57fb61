//! What a source hands the catalog, before any of the catalog's checks: an
//! entity's JSON text with its location key, and the [`PluginBuild`] that
//! produced it. The runtime makes these from a page; the intake takes them in.

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// The SHA-256 of a plugin's `.wasm` bytes: which build produced an entity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PluginBuild(Arc<str>);

impl PluginBuild {
    /// The build of the component whose bytes are `wasm`.
    pub fn of(wasm: &[u8]) -> Self {
        PluginBuild(hex::encode(Sha256::digest(wasm)).into())
    }

    /// Lower-case hex of the digest.
    pub fn sha256(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PluginBuild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

/// An entity as a source produced it: the text of a JSON object (the
/// runtime checked its syntax), not yet checked against the catalog's rules.
#[derive(Debug, Clone)]
pub struct SourcedEntity {
    json: String,
    location_key: Option<String>,
    build: PluginBuild,
}

impl SourcedEntity {
    /// An entity of `build` whose JSON text is `json`. The intake rejects a
    /// text that is not a JSON object, so nothing here can be trusted yet.
    pub fn new(json: String, location_key: Option<String>, build: PluginBuild) -> Self {
        SourcedEntity {
            json,
            location_key,
            build,
        }
    }

    /// The entity's JSON text, exactly as the source wrote it.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The location that owns the entity (Backstage's `locationKey`).
    pub fn location_key(&self) -> Option<&str> {
        self.location_key.as_deref()
    }

    /// The plugin build that produced it, so a bad release can be traced.
    pub fn build(&self) -> &PluginBuild {
        &self.build
    }

    /// The JSON text, taken without copying it.
    pub fn into_json(self) -> String {
        self.json
    }
}
