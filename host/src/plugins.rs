//! The plugins folder: one task owns loading and unloading, so two changes
//! never race. It watches the folder (inotify through `notify`, backed by a
//! periodic rescan), and for every `NAME.wasm` (with its optional manifest
//! `NAME.toml`) whose size and modification time have not changed for the
//! debounce window, it reads the bytes, checks that the files did not change
//! while it read them, and then:
//!
//! - a new file: load (validate, compile or take from the compiled-code
//!   cache), then start the source in the [`Engine`];
//! - a changed file or manifest: load the new version beside the old one and
//!   switch at the source's next burst ([`Engine::replace`]): the cycle, its
//!   cursor and its marks carry over; a changed provider name is a new source;
//! - a removed file: stop the source after its current page
//!   ([`Engine::remove`]); its entities follow its `expireAfter`.
//!
//! A file that fails to load, a manifest that is invalid and a second file
//! claiming a provider name already taken are logged and recorded as the
//! source's error (by provider name, or by file stem when the name is not
//! known); the version already running, if any, keeps running. A build the
//! engine rolled back stays quarantined until its file changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use crate::config::Config;
use crate::engine::{Engine, EngineError};
use crate::http::PushKeys;
use crate::runtime::{PluginBuild, Runtime};

/// How the plugins folder is watched.
#[derive(Debug, Clone)]
pub struct FolderOptions {
    /// The folder of `*.wasm` plugins and their `*.toml` manifests.
    pub dir: PathBuf,
    /// How long a file's size and modification time must stay unchanged
    /// before it is loaded.
    pub debounce: Duration,
    /// How often the folder is read again without a notification.
    pub rescan: Duration,
}

impl FolderOptions {
    pub fn new(dir: PathBuf) -> Self {
        FolderOptions {
            dir,
            debounce: Duration::from_millis(500),
            rescan: Duration::from_secs(5),
        }
    }
}

/// The owner of every plugin loaded from the folder.
pub struct PluginsFolder {
    options: FolderOptions,
    config: Config,
    runtime: Arc<Runtime>,
    engine: Arc<Engine>,
    /// How each running source's pushes authenticate, for the push route.
    push_keys: PushKeys,
    /// What runs from each `.wasm` file.
    loaded: BTreeMap<PathBuf, Loaded>,
    /// Files seen changing, and since when they have been as they are.
    settling: BTreeMap<PathBuf, (Signature, Instant)>,
    /// The state of each file when it was last handled (loaded or refused),
    /// so that it is not handled again until it changes.
    handled: BTreeMap<PathBuf, Signature>,
}

/// What runs from one file.
#[derive(Debug, Clone)]
struct Loaded {
    provider: String,
    build: String,
    /// The SHA-256 of the manifest's text, when there is one.
    manifest: Option<String>,
}

/// A `.wasm` file's and its manifest's size and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Signature {
    wasm: Stat,
    manifest: Option<Stat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    len: u64,
    modified: SystemTime,
}

impl Signature {
    /// When the newest of the two files was last written.
    fn newest(&self) -> SystemTime {
        self.manifest
            .map_or(self.wasm.modified, |m| m.modified.max(self.wasm.modified))
    }
}

impl PluginsFolder {
    pub fn new(
        options: FolderOptions,
        config: Config,
        runtime: Arc<Runtime>,
        engine: Arc<Engine>,
        push_keys: PushKeys,
    ) -> Self {
        PluginsFolder {
            options,
            config,
            runtime,
            engine,
            push_keys,
            loaded: BTreeMap::new(),
            settling: BTreeMap::new(),
            handled: BTreeMap::new(),
        }
    }

    /// Watch the folder until `shutdown` becomes true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let (notify, mut notified) = mpsc::unbounded_channel();
        let mut watcher = None;
        loop {
            if watcher.is_none() {
                watcher = watch(&self.options.dir, notify.clone());
            }
            let wait = self.scan().await.min(self.options.rescan);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                Some(()) = notified.recv() => {
                    // A burst of events is one change: settle, then look.
                    while notified.try_recv().is_ok() {}
                }
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Read the folder once and handle every file that settled; returns how
    /// long until a file still settling may have settled.
    pub async fn scan(&mut self) -> Duration {
        let files = match plugin_files(&self.options.dir) {
            Ok(files) => files,
            Err(error) => {
                warn!("{error}");
                return self.options.rescan;
            }
        };
        let mut next = self.options.rescan;
        for file in &files {
            let Some(signature) = signature(file) else {
                continue;
            };
            if self.handled.get(file) == Some(&signature) {
                self.settling.remove(file);
                continue;
            }
            if let Some(wait) = self.settled(file, signature) {
                next = next.min(wait);
                continue;
            }
            self.settling.remove(file);
            self.handle(file, signature).await;
        }
        let gone: Vec<PathBuf> = self
            .loaded
            .keys()
            .chain(self.handled.keys())
            .filter(|file| !files.contains(file))
            .cloned()
            .collect();
        if !gone.is_empty() {
            for file in gone {
                self.settling.remove(&file);
                self.handled.remove(&file);
                self.unload(&file).await;
            }
            // A file refused for a provider name the removed one held may run
            // now: look at every file again.
            self.handled.clear();
            next = Duration::ZERO;
        }
        self.settling.retain(|file, _| files.contains(file));
        next
    }

    /// `None` when `file` has kept `signature` for the debounce window;
    /// otherwise how long it must still stay unchanged.
    fn settled(&mut self, file: &Path, signature: Signature) -> Option<Duration> {
        let debounce = self.options.debounce;
        // Nothing written for the whole window (e.g. at start): settled.
        let quiet = SystemTime::now()
            .duration_since(signature.newest())
            .is_ok_and(|age| age >= debounce);
        let since = match self.settling.get(file) {
            Some((seen, since)) if *seen == signature => *since,
            _ => {
                self.settling
                    .insert(file.to_owned(), (signature, Instant::now()));
                if quiet {
                    return None;
                }
                return Some(debounce);
            }
        };
        let elapsed = since.elapsed();
        if elapsed >= debounce || quiet {
            None
        } else {
            Some(debounce - elapsed)
        }
    }

    /// Load the settled `file` (and its manifest) and run it.
    async fn handle(&mut self, file: &Path, signature: Signature) {
        let manifest_path = file.with_extension("toml");
        let read = async {
            let bytes = tokio::fs::read(file).await?;
            let manifest = match tokio::fs::read_to_string(&manifest_path).await {
                Ok(text) => Some(text),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                Err(error) => return Err(error),
            };
            Ok((bytes, manifest))
        };
        let (bytes, manifest) = match read.await {
            Ok(read) => read,
            Err(error) => {
                debug!(file = %file.display(), "cannot read yet: {error}");
                return;
            }
        };
        // Written to while being read: wait for it to settle again.
        if crate::plugins::signature(file) != Some(signature)
            || signature.manifest.is_some() != manifest.is_some()
        {
            debug!(file = %file.display(), "changed while being read; waiting");
            return;
        }
        self.handled.insert(file.to_owned(), signature);
        let build = PluginBuild::of(&bytes).sha256().to_owned();
        let manifest_hash = manifest
            .as_deref()
            .map(|text| hex::encode(Sha256::digest(text.as_bytes())));
        let stem = stem(file);
        let previous = self.loaded.get(file).cloned();
        let label = previous
            .as_ref()
            .map_or_else(|| stem.clone(), |loaded| loaded.provider.clone());
        if let Some(previous) = &previous {
            if previous.build == build && previous.manifest == manifest_hash {
                return;
            }
            if previous.build == build
                && self.engine.quarantined(&previous.provider).as_deref() == Some(&build)
            {
                info!(
                    source = %previous.provider,
                    file = %file.display(),
                    "build sha256:{build} is quarantined (it was rolled back); \
                     it loads again once its file changes"
                );
                return;
            }
        }
        let source = match self.config.source_with_manifest(
            &stem,
            manifest
                .as_deref()
                .map(|text| (manifest_path.as_path(), text)),
            |name| std::env::var(name).ok(),
        ) {
            Ok(source) => source,
            Err(config_error) => {
                let message = match &previous {
                    Some(_) => format!("{config_error}; the previous settings stay"),
                    None => format!("{config_error}; this source does not run"),
                };
                self.refuse(&label, &message).await;
                return;
            }
        };
        let push = source.push.clone();
        let started = Instant::now();
        let plugin = match self
            .runtime
            .load_bytes(file, bytes, source.settings.clone())
            .await
        {
            Ok(plugin) => plugin,
            Err(load_error) => {
                let message = match &previous {
                    Some(_) => format!("{load_error}; the previous version keeps running"),
                    None => format!("{load_error}; this source does not run"),
                };
                self.refuse(&label, &message).await;
                return;
            }
        };
        let provider = plugin.provider_name().to_owned();
        if let Some((other, _)) = self
            .loaded
            .iter()
            .find(|(other, loaded)| *other != file && loaded.provider == provider)
        {
            let message = format!(
                "{}: provider name `{provider}` is already used by {}; this file does not run",
                file.display(),
                other.display()
            );
            self.refuse(&provider, &message).await;
            return;
        }
        let compile_ms = started.elapsed().as_millis();
        let from_cache = plugin.contract().from_cache;
        let outcome = match &previous {
            Some(previous) if previous.provider == provider => {
                self.engine.replace(plugin, source.options)
            }
            Some(previous) => {
                info!(
                    from = %previous.provider,
                    to = %provider,
                    file = %file.display(),
                    "the plugin's provider name changed: a new source replaces the old one"
                );
                if let Err(error) = self.engine.remove(&previous.provider).await {
                    warn!("{error}");
                }
                self.push_keys.set(&previous.provider, None);
                self.loaded.remove(file);
                self.engine.add_source(plugin, source.options).await
            }
            None => self.engine.add_source(plugin, source.options).await,
        };
        match outcome {
            Ok(()) => {
                info!(
                    source = %provider,
                    file = %file.display(),
                    build = %format!("sha256:{build}"),
                    compile_ms = u64::try_from(compile_ms).unwrap_or(u64::MAX),
                    from_cache,
                    "plugin loaded"
                );
                self.push_keys.set(&provider, Some(push));
                self.loaded.insert(
                    file.to_owned(),
                    Loaded {
                        provider,
                        build,
                        manifest: manifest_hash,
                    },
                );
            }
            Err(EngineError::ShuttingDown) => {}
            Err(engine_error) => {
                let message = engine_error.to_string();
                self.refuse(&provider, &message).await;
            }
        }
    }

    /// Stop what runs from the removed `file`.
    async fn unload(&mut self, file: &Path) {
        let Some(loaded) = self.loaded.remove(file) else {
            return;
        };
        info!(source = %loaded.provider, file = %file.display(), "plugin removed");
        self.push_keys.set(&loaded.provider, None);
        if let Err(error) = self.engine.remove(&loaded.provider).await {
            warn!("{error}");
        }
    }

    async fn refuse(&self, name: &str, message: &str) {
        error!(source = name, "{message}");
        self.engine.report_load_error(name, message).await;
    }
}

/// Watch `dir` for changes; each event is a nudge to scan. `None` when the
/// folder does not exist (yet) or cannot be watched: the rescan covers it.
fn watch(dir: &Path, nudge: mpsc::UnboundedSender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    if !dir.is_dir() {
        return None;
    }
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Opening and reading files is reported too (inotify's OPEN and
        // CLOSE_NOWRITE), and a scan opens the folder: reacting to those
        // would make every scan trigger the next, a busy loop. Of the
        // accesses only a writer closing its file is news.
        use notify::event::{AccessKind, AccessMode, EventKind};
        let news = |kind: &EventKind| match kind {
            EventKind::Access(access) => *access == AccessKind::Close(AccessMode::Write),
            _ => true,
        };
        if event.is_ok_and(|event| news(&event.kind)) {
            let _ = nudge.send(());
        }
    })
    .map_err(|error| {
        warn!(
            "cannot watch {}: {error}; rescanning instead",
            dir.display()
        )
    })
    .ok()?;
    watcher
        .watch(dir, notify::RecursiveMode::NonRecursive)
        .map_err(|error| {
            warn!(
                "cannot watch {}: {error}; rescanning instead",
                dir.display()
            )
        })
        .ok()?;
    Some(watcher)
}

/// Every `*.wasm` file in `dir`, sorted; dot files and temporary files
/// (`~`, `.tmp`, `.part`, `.swp`) are skipped. A missing folder is empty.
pub fn plugin_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(format!("cannot read {}: {error}", dir.display())),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|error| format!("cannot read {}: {error}", dir.display()))?
            .path();
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let temporary = name.starts_with('.')
            || name.ends_with('~')
            || [".tmp", ".part", ".swp"]
                .iter()
                .any(|suffix| name.ends_with(suffix));
        if !temporary && name.ends_with(".wasm") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn signature(file: &Path) -> Option<Signature> {
    let stat = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map(|meta| Stat {
                len: meta.len(),
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            })
    };
    Some(Signature {
        wasm: stat(file)?,
        manifest: stat(&file.with_extension("toml")),
    })
}

fn stem(file: &Path) -> String {
    file.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_and_hidden_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "a.wasm",
            ".b.wasm",
            "c.wasm~",
            "d.wasm.tmp",
            "e.wasm.part",
            "f.wasm.swp",
            "g.toml",
            "h.txt",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let files = plugin_files(dir.path()).unwrap();
        assert_eq!(files, vec![dir.path().join("a.wasm")]);
        assert!(
            plugin_files(&dir.path().join("missing"))
                .unwrap()
                .is_empty()
        );
    }
}
