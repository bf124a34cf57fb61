//! The compiled-code cache: a component compiled once is kept on disk, keyed
//! by the SHA-256 of its bytes and by the engine's compatibility hash (which
//! covers the wasmtime version, its configuration and the CPU features), so
//! a restart skips compilation and a stale entry is never even looked at.

use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;
use weir_core::sourced::PluginBuild;

#[derive(Clone)]
pub(crate) struct CodeCache {
    dir: PathBuf,
    /// Hex of the engine's compatibility hash.
    engine_key: String,
}

/// Where a component came from on this load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Compiled,
    Cache,
}

impl CodeCache {
    pub fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex::encode(&hasher.0.finalize()[..12]);
        CodeCache { dir, engine_key }
    }

    /// The cached component for `build`, or `None` when there is none usable.
    /// Blocking: run it off the async executor.
    pub fn get(&self, engine: &Engine, build: &PluginBuild) -> Option<Component> {
        let path = self.path(build);
        // Read into memory rather than mapping the file: a mapped file
        // truncated or rewritten by someone else would crash the host.
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return None,
            Err(error) => {
                tracing::warn!(file = %path.display(), "cannot read a cache entry: {error}");
                return None;
            }
        };
        // SAFETY: the entry was written by `put` below from this engine
        // configuration's `Component::serialize`; the cache directory is
        // Weir's own and must not be writable by anyone else (see the
        // README). wasmtime checks the header and compatibility again and
        // refuses anything else, like the garbage a torn write would leave.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(file = %path.display(), "ignoring an unusable cache entry: {error}");
                None
            }
        }
    }

    /// Store `component` for `build`, atomically (temp file, then rename), so
    /// a crash never leaves a half-written entry. Blocking.
    pub fn put(&self, build: &PluginBuild, component: &Component) -> io::Result<()> {
        let bytes = component.serialize().map_err(io::Error::other)?;
        std::fs::create_dir_all(&self.dir)?;
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        temp.write_all(&bytes)?;
        temp.persist(self.path(build)).map_err(|e| e.error)?;
        Ok(())
    }

    fn path(&self, build: &PluginBuild) -> PathBuf {
        self.dir
            .join(format!("{}-{}.cwasm", build.sha256(), self.engine_key))
    }
}

/// Feeds `Hash` output into SHA-256, so the key is stable across processes
/// (std's `DefaultHasher` promises no such thing).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Only `write` is used; the digest is taken from the inner hasher.
        0
    }
}

pub(crate) fn load_or_compile(
    cache: Option<&CodeCache>,
    engine: &Engine,
    build: &PluginBuild,
    bytes: &[u8],
) -> wasmtime::Result<(Component, Origin)> {
    if let Some(component) = cache.and_then(|cache| cache.get(engine, build)) {
        return Ok((component, Origin::Cache));
    }
    let component = Component::new(engine, bytes)?;
    if let Some(cache) = cache
        && let Err(error) = cache.put(build, &component)
    {
        tracing::warn!(dir = %cache.dir.display(), "could not write the compiled-code cache: {error}");
    }
    Ok((component, Origin::Compiled))
}
