//! The [`ReloadBook`]: each source's reload history (the running file and
//! build, reloads, the last reload's error, a quarantined build), kept by the
//! supervisor and the runners, read by the provider status and `/metrics`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::versions::ReloadStatus;
use crate::runtime::Plugin;
use crate::store::now_ms;

/// Reload counters per source (provider name, or the file stem of a file
/// whose provider name is unknown), shared with the runners.
#[derive(Clone, Default)]
pub(super) struct ReloadBook(Arc<Mutex<BTreeMap<String, ReloadStatus>>>);

impl ReloadBook {
    fn update(&self, name: &str, change: impl FnOnce(&mut ReloadStatus)) {
        let mut book = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        change(book.entry(name.to_owned()).or_default());
    }

    pub(super) fn running(&self, name: &str, plugin: &Plugin, reload: bool) {
        self.update(name, |status| {
            status.file = plugin.file().to_owned();
            status.build = plugin.build().sha256().to_owned();
            if reload {
                status.reloads += 1;
                status.last_reload_ms = Some(now_ms());
            }
            status.last_error = None;
            status.quarantined = None;
        });
    }

    pub(super) fn rolled_back(&self, name: &str, to: &Plugin, message: &str) {
        self.update(name, |status| {
            let quarantined = std::mem::take(&mut status.build);
            status.file = to.file().to_owned();
            status.build = to.build().sha256().to_owned();
            status.reloads += 1;
            status.last_reload_ms = Some(now_ms());
            status.last_error = Some(message.to_owned());
            status.quarantined = Some(quarantined);
        });
    }

    pub(super) fn missing_secrets(&self, name: &str, secrets: Vec<String>) {
        self.update(name, |status| status.missing_secrets = secrets);
    }

    pub(super) fn failed(&self, name: &str, message: &str) {
        self.update(name, |status| {
            status.last_reload_ms = Some(now_ms());
            status.last_error = Some(message.to_owned());
        });
    }

    pub(super) fn snapshot(&self) -> BTreeMap<String, ReloadStatus> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}
