//! The plugins folder: one task owns loading and unloading, so two changes
//! never race. It watches the folder (inotify through `notify`, backed by a
//! periodic rescan), and for every `NAME.wasm` (with its optional manifest
//! `NAME.toml`) whose size and modification time have not changed for the
//! debounce window, it reads the bytes, checks that the files did not change
//! while it read them, and then:
//!
//! - a new file: load (validate, compile or take from the compiled-code
//!   cache), then start the source in the [`Supervisor`];
//! - a changed file or manifest: load the new version beside the old one and
//!   switch at the source's next burst ([`Supervisor::replace`]): the cycle, its
//!   cursor and its marks carry over; a changed provider name is a new source;
//! - a removed file: stop the source after its current page
//!   ([`Supervisor::remove`]); its entities follow its `expireAfter`.
//!
//! A file that fails to load, a manifest that is invalid and a second file
//! claiming a provider name already taken are logged and recorded as the
//! source's error (by provider name, or by file stem when the name is not
//! known); the version already running, if any, keeps running. A build the
//! engine rolled back stays quarantined until its file changes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};
use weir_core::sourced::PluginBuild;

use crate::config::Config;
use crate::engine::{EngineError, Supervisor};
use crate::http::PushKeys;
use crate::runtime::PluginRuntime;

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
    runtime: Arc<PluginRuntime>,
    engine: Arc<Supervisor>,
    /// How each running source's pushes authenticate, for the push route.
    push_keys: PushKeys,
    /// What runs from each `.wasm` file.
    loaded: BTreeMap<PathBuf, Loaded>,
    /// Files seen changing, and since when they have been as they are.
    settling: BTreeMap<PathBuf, (Signature, Instant)>,
    /// The state of each file when it was last handled (loaded or refused),
    /// so that it is not handled again until it changes.
    handled: BTreeMap<PathBuf, Signature>,
    /// Symbolic links refused, so that each is reported once.
    refused_links: BTreeSet<PathBuf>,
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
        runtime: Arc<PluginRuntime>,
        engine: Arc<Supervisor>,
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
            refused_links: BTreeSet::new(),
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
        let listing = match plugin_files(&self.options.dir) {
            Ok(listing) => listing,
            Err(error) => {
                warn!("{error}");
                return self.options.rescan;
            }
        };
        self.refuse_links(&listing.links).await;
        let files = listing.plugins;
        let mut next = self.options.rescan;
        for file in &files {
            // A manifest that is a link is refused with its plugin (reported
            // above); a version already running keeps running.
            if listing.links.contains(&file.with_extension("toml")) {
                continue;
            }
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

    /// Load the settled `file` (and its manifest) and run it: read it,
    /// skip it when nothing changed, else install the new version.
    async fn handle(&mut self, file: &Path, signature: Signature) {
        let Some(read) = read_settled(file, signature).await else {
            return;
        };
        self.handled.insert(file.to_owned(), signature);
        let previous = self.loaded.get(file).cloned();
        if let Some(previous) = &previous
            && self.needs_no_reload(file, previous, &read)
        {
            return;
        }
        self.install(file, read, previous).await;
    }

    /// Whether `read` is what already runs from `file`, or a build the
    /// engine rolled back (quarantined until the file changes).
    fn needs_no_reload(&self, file: &Path, previous: &Loaded, read: &ReadPlugin) -> bool {
        if previous.build != read.build {
            return false;
        }
        if previous.manifest == read.manifest_hash {
            return true;
        }
        let quarantined =
            self.engine.quarantined(&previous.provider).as_deref() == Some(&read.build);
        if quarantined {
            info!(
                source = %previous.provider,
                file = %file.display(),
                "build sha256:{} is quarantined (it was rolled back); \
                 it loads again once its file changes",
                read.build
            );
        }
        quarantined
    }

    /// Load the new version of `file` with its settings and run it in the
    /// engine: beside the `previous` one (switched in at the next burst),
    /// or as a new source. A failure is recorded as the source's error and
    /// leaves what runs as it is.
    async fn install(&mut self, file: &Path, read: ReadPlugin, previous: Option<Loaded>) {
        let stem = stem(file);
        let label = previous
            .as_ref()
            .map_or_else(|| stem.clone(), |loaded| loaded.provider.clone());
        let keeps = |error: &dyn std::fmt::Display, what: &str| match &previous {
            Some(_) => format!("{error}; the previous {what} keeps running"),
            None => format!("{error}; this source does not run"),
        };
        let manifest_path = file.with_extension("toml");
        let manifest = read
            .manifest
            .as_deref()
            .map(|text| (manifest_path.as_path(), text));
        let source = match self.config.source_with_manifest(&stem, manifest) {
            Ok(source) => source,
            Err(config_error) => {
                let message = match &previous {
                    Some(_) => format!("{config_error}; the previous settings stay"),
                    None => format!("{config_error}; this source does not run"),
                };
                return self.refuse(&label, &message).await;
            }
        };
        let started = Instant::now();
        let loading = self
            .runtime
            .load_bytes(file, read.bytes, source.settings.clone());
        let plugin = match loading.await {
            Ok(plugin) => plugin,
            Err(load_error) => return self.refuse(&label, &keeps(&load_error, "version")).await,
        };
        let provider = plugin.provider_name().to_owned();
        if provider != source.provider_name {
            let message = wrong_identity(file, &stem, &provider, &source.provider_name);
            return self.refuse(&label, &message).await;
        }
        if let Some(message) = self.name_taken(file, &provider) {
            return self.refuse(&provider, &message).await;
        }
        if !source.missing_secrets.is_empty() {
            warn!(
                source = %provider,
                "the plugin asks for secrets the operator did not grant ({}); it reads none for \
                 them (grant them in weir.toml's [sources.{stem}.secrets])",
                source.missing_secrets.join(", ")
            );
        }
        let loaded_in = started.elapsed();
        let from_cache = plugin.contract().from_cache;
        let push = source.push.clone();
        let outcome = match &previous {
            Some(previous) if previous.provider == provider => {
                crate::failpoints::hold("weir::hold::reload").await;
                self.engine.replace(plugin, source.options)
            }
            Some(previous) => {
                self.rename(file, previous, &provider).await;
                self.engine.add_source(plugin, source.options).await
            }
            None => self.engine.add_source(plugin, source.options).await,
        };
        match outcome {
            Ok(()) => {
                info!(
                    source = %provider,
                    file = %file.display(),
                    build = %format!("sha256:{}", read.build),
                    compile_ms = u64::try_from(loaded_in.as_millis()).unwrap_or(u64::MAX),
                    from_cache,
                    "plugin loaded"
                );
                self.push_keys.set(&provider, Some(push));
                self.engine
                    .report_missing_secrets(&provider, source.missing_secrets.clone());
                let loaded = Loaded {
                    provider,
                    build: read.build,
                    manifest: read.manifest_hash,
                };
                self.loaded.insert(file.to_owned(), loaded);
            }
            Err(EngineError::ShuttingDown) => {}
            Err(engine_error) => self.refuse(&provider, &engine_error.to_string()).await,
        }
    }

    /// Why `file` may not run as `provider`: another file runs under that name.
    fn name_taken(&self, file: &Path, provider: &str) -> Option<String> {
        let (other, _) = self
            .loaded
            .iter()
            .find(|(other, loaded)| *other != file && loaded.provider == provider)?;
        Some(format!(
            "{}: provider name `{provider}` is already used by {}; this file does not run",
            file.display(),
            other.display()
        ))
    }

    /// `file`'s plugin now answers to `provider`: stop the source it ran as.
    async fn rename(&mut self, file: &Path, previous: &Loaded, provider: &str) {
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

    /// Record each symbolic link in the folder once as its source's error:
    /// a plugin and its manifest must be regular files, so that what runs is
    /// what the operator put in the folder.
    async fn refuse_links(&mut self, links: &[PathBuf]) {
        self.refused_links.retain(|link| links.contains(link));
        for link in links {
            if self.refused_links.insert(link.clone()) {
                let message = format!(
                    "{} is a symbolic link: plugins and their manifests must be regular files in \
                     the plugins folder; it does not run",
                    link.display()
                );
                self.refuse(&stem(link), &message).await;
            }
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

/// What the plugins folder holds: its plugin files, and the symbolic links
/// that stand where a plugin or a manifest would (refused, not followed).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PluginFiles {
    /// Every `*.wasm` regular file, sorted.
    pub plugins: Vec<PathBuf>,
    /// Every `*.wasm` or `*.toml` symbolic link, sorted.
    pub links: Vec<PathBuf>,
}

/// Every `*.wasm` file in `dir`, sorted; dot files and temporary files
/// (`~`, `.tmp`, `.part`, `.swp`) are skipped, and symbolic links are set
/// apart. A missing folder is empty.
pub fn plugin_files(dir: &Path) -> Result<PluginFiles, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(PluginFiles::default());
        }
        Err(error) => return Err(format!("cannot read {}: {error}", dir.display())),
    };
    let mut files = PluginFiles::default();
    for entry in entries {
        let entry = entry.map_err(|error| format!("cannot read {}: {error}", dir.display()))?;
        let path = entry.path();
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let temporary = name.starts_with('.')
            || name.ends_with('~')
            || [".tmp", ".part", ".swp"]
                .iter()
                .any(|suffix| name.ends_with(suffix));
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if temporary {
            continue;
        }
        if file_type.is_symlink() && (name.ends_with(".wasm") || name.ends_with(".toml")) {
            files.links.push(path);
        } else if file_type.is_file() && name.ends_with(".wasm") {
            files.plugins.push(path);
        }
    }
    files.plugins.sort();
    files.links.sort();
    Ok(files)
}

/// Why `file` may not run: its plugin answers to `provider`, not to the
/// name the operator expects for its stem.
fn wrong_identity(file: &Path, stem: &str, provider: &str, expected: &str) -> String {
    format!(
        "{}: the plugin answers to provider name `{provider}`, but a plugin file named \
         `{stem}.wasm` runs as `{expected}`; it does not run. A plugin runs under its file's \
         name only, so that no file can take over another source's cursor, marks and \
         entities: rename the file to `{provider}.wasm`, or map the name in weir.toml with \
         [sources.{stem}] providerName = \"{provider}\"",
        file.display()
    )
}

/// A plugin's bytes and manifest as read once they settled.
struct ReadPlugin {
    bytes: Vec<u8>,
    manifest: Option<String>,
    /// The SHA-256 of `bytes`, hex.
    build: String,
    /// The SHA-256 of the manifest's text, hex.
    manifest_hash: Option<String>,
}

/// Read `file` and its manifest, which have kept `signature` for the
/// debounce window. `None` when they cannot be read yet, or changed while
/// being read (they are handled once they settle again).
async fn read_settled(file: &Path, signature: Signature) -> Option<ReadPlugin> {
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
            return None;
        }
    };
    if self::signature(file) != Some(signature)
        || signature.manifest.is_some() != manifest.is_some()
    {
        debug!(file = %file.display(), "changed while being read; waiting");
        return None;
    }
    Some(ReadPlugin {
        build: PluginBuild::of(&bytes).sha256().to_owned(),
        manifest_hash: manifest
            .as_deref()
            .map(|text| hex::encode(Sha256::digest(text.as_bytes()))),
        bytes,
        manifest,
    })
}

/// The plugin's and its manifest's size and modification time, not
/// following links (a manifest that is a link counts as none here; the
/// link itself is refused).
fn signature(file: &Path) -> Option<Signature> {
    let stat = |path: &Path| {
        std::fs::symlink_metadata(path)
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
        assert_eq!(files.plugins, vec![dir.path().join("a.wasm")]);
        assert!(files.links.is_empty());
        assert_eq!(
            plugin_files(&dir.path().join("missing")).unwrap(),
            PluginFiles::default()
        );
    }
}
