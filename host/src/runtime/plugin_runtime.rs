//! The [`PluginRuntime`]: one wasmtime engine (async, fuel, epochs), the
//! linker with every host import, the compiled-code cache, and the epoch
//! ticker. One per process; it loads [`Plugin`]s.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine};

use super::cache::CodeCache;
use super::capabilities;
use super::epoch::start_epoch_ticker;
use super::error::LoadError;
use super::instance_state::InstanceState;
use super::plugin::Plugin;
use super::settings::SourceSettings;

/// Which sandbox instrumentation the engine compiles in. Both are on in
/// production; turning one off exists to measure what it costs (`weir bench`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instrumentation {
    /// Count fuel, so a call's CPU budget is enforced.
    pub fuel: bool,
    /// Check epochs, so a call's wall-clock deadline interrupts a busy guest.
    pub epochs: bool,
}

impl Default for Instrumentation {
    fn default() -> Self {
        Instrumentation {
            fuel: true,
            epochs: true,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Where compiled components are cached; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    pub instrumentation: Instrumentation,
}

/// Loads and runs source components. Cheap to share behind an `Arc`; one per process.
pub struct PluginRuntime {
    engine: Engine,
    linker: Arc<Linker<InstanceState>>,
    cache: Option<CodeCache>,
    instrumentation: Instrumentation,
}

impl PluginRuntime {
    pub fn new(options: RuntimeOptions) -> Result<Self, LoadError> {
        let instrumentation = options.instrumentation;
        let mut config = Config::new();
        config
            .consume_fuel(instrumentation.fuel)
            .epoch_interruption(instrumentation.epochs)
            .wasm_component_model(true);
        let engine = Engine::new(&config).map_err(LoadError::engine)?;
        let mut linker = Linker::new(&engine);
        capabilities::add_to_linker(&mut linker).map_err(LoadError::engine)?;
        if instrumentation.epochs {
            start_epoch_ticker(engine.weak()).map_err(|error| {
                LoadError::engine(format!("cannot start the epoch ticker thread: {error}"))
            })?;
        }
        let cache = options
            .cache_dir
            .map(|dir| CodeCache::new(dir, &engine))
            .transpose()?;
        Ok(PluginRuntime {
            engine,
            linker: Arc::new(linker),
            cache,
            instrumentation,
        })
    }

    /// Load the component at `path` for a source with these settings:
    /// compile it (or take it from the cache), check it implements the
    /// `weir:source` world, and ask its provider name.
    pub async fn load(&self, path: &Path, settings: SourceSettings) -> Result<Plugin, LoadError> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|error| LoadError::Read {
                file: path.to_owned(),
                error,
            })?;
        self.load_bytes(path, bytes, settings).await
    }

    /// Like [`PluginRuntime::load`], from bytes already read; `path` names them in errors.
    pub async fn load_bytes(
        &self,
        path: &Path,
        bytes: Vec<u8>,
        settings: SourceSettings,
    ) -> Result<Plugin, LoadError> {
        Plugin::load(self, path, bytes, settings).await
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn linker(&self) -> &Linker<InstanceState> {
        &self.linker
    }

    pub(crate) fn cache(&self) -> Option<&CodeCache> {
        self.cache.as_ref()
    }

    pub(crate) fn instrumentation(&self) -> Instrumentation {
        self.instrumentation
    }
}
