//! The compiled-code cache: a component compiled once is kept on disk, keyed
//! by the SHA-256 of its bytes and by the engine's compatibility hash (which
//! covers the wasmtime version, its configuration and the CPU features), so
//! a restart skips compilation and a stale entry is never even looked at.
//!
//! An entry is native code the host runs, so whoever can write the directory
//! can make the host run anything: the directory is created `0700`, one
//! owned by another user or writable by group or others is refused, and
//! entries are written owner-only (`0600`).

use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;
use weir_core::sourced::PluginBuild;

use super::error::LoadError;

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
    /// The cache in `dir`, created (`0700`) if missing. Fails, saying why,
    /// when the directory is not this process's user's alone.
    pub fn new(dir: PathBuf, engine: &Engine) -> Result<Self, LoadError> {
        own_private_dir(&dir).map_err(|reason| LoadError::CacheDir {
            dir: dir.clone(),
            reason,
        })?;
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex::encode(&hasher.0.finalize()[..12]);
        Ok(CodeCache { dir, engine_key })
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
        // A temporary file is created owner-only (`0600`) and keeps its mode.
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

/// Create `dir` (`0700`, its parents as usual) unless it exists, and check
/// that it is a directory of this process's user that no one else may write.
fn own_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|error| format!("cannot create it: {error}"))?;
    }
    let meta = std::fs::metadata(dir).map_err(|error| format!("cannot read it: {error}"))?;
    if !meta.is_dir() {
        return Err("it is not a directory".to_owned());
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(format!(
            "it is owned by user {}, not by this process's user ({me}); its entries are native \
             code this host would run, so it must be this user's own",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "it is writable by its group or by others (mode {mode:o}); anyone who can write \
             there could make this host run their code: `chmod go-w` it, or choose another \
             cache directory"
        ));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_cache_directory_is_the_users_alone() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("a/b/cache");
        own_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn a_directory_others_may_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for writable in [0o777, 0o770, 0o702] {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(writable))
                .unwrap();
            let reason = own_private_dir(dir.path()).unwrap_err();
            assert!(
                reason.contains("writable by its group or by others"),
                "{reason}"
            );
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        own_private_dir(dir.path()).unwrap();
    }

    #[test]
    fn a_file_is_not_a_cache_directory() {
        let file = tempfile::NamedTempFile::new().unwrap();
        assert_eq!(
            own_private_dir(file.path()).unwrap_err(),
            "it is not a directory"
        );
    }

    #[test]
    fn entries_are_written_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let temp = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
        assert_eq!(mode(temp.path()), 0o600);
    }
}
