//! A [`Plugin`]: a source component compiled (or taken from the cache),
//! checked against the `weir:source` world (and its optional `push` export),
//! and bound to the settings of the source it runs as. Instantiating it again
//! for each burst or pushed event is cheap.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;
use wasmtime::{Store, UpdateDeadline};
use weir_core::sourced::PluginBuild;

use super::bindings::push::PushExportIndices;
use super::bindings::{SourcePlugin, SourcePluginPre};
use super::burst::Burst;
use super::cache::{self, Origin};
use super::call_guard::CallGuard;
use super::capabilities::http::{OutboundCounters, OutboundStats};
use super::error::{Call, LoadError, SourceError, SourceErrorKind};
use super::instance_state::InstanceState;
use super::push::{self, PushEvent, PushOutcome};
use super::{
    CONTRACT_VERSION, Instrumentation, PluginRuntime, SUPPORTED_CONTRACT_VERSIONS, SourceSettings,
};

/// The interface every source exports, without its version.
const SOURCE_INTERFACE: &str = "weir:source/source";
/// The interface a source that takes pushed events also exports, without its version.
const PUSH_INTERFACE: &str = "weir:source/push";

/// What a component declares about itself, read from its type without running it.
#[derive(Debug, Clone)]
pub struct ContractInfo {
    /// The `weir:source` version it implements.
    pub version: String,
    /// Every interface it imports (WASI ones included).
    pub imports: Vec<String>,
    /// Whether the compiled code came from the cache rather than a compilation.
    pub from_cache: bool,
}

/// A loaded source component, ready to open bursts.
pub struct Plugin {
    file: PathBuf,
    build: PluginBuild,
    provider_name: Arc<str>,
    settings: Arc<SourceSettings>,
    contract: ContractInfo,
    pre: SourcePluginPre<InstanceState>,
    /// Where the `push` export's functions are, when the plugin has one.
    push: Option<PushExportIndices>,
    instrumentation: Instrumentation,
    /// Outbound HTTP requests and bytes, over every store of this plugin.
    outbound: Arc<OutboundCounters>,
}

impl Plugin {
    pub(crate) async fn load(
        runtime: &PluginRuntime,
        file: &Path,
        bytes: Vec<u8>,
        settings: SourceSettings,
    ) -> Result<Plugin, LoadError> {
        check_header(file, &bytes)?;
        let build = PluginBuild::of(&bytes);
        let (component, origin) = compile(runtime, file, &build, bytes).await?;
        let contract = read_contract(runtime, file, &component, origin)?;
        let pre = runtime
            .linker()
            .instantiate_pre(&component)
            .and_then(SourcePluginPre::new)
            .map_err(|error| LoadError::UnsatisfiedImport {
                file: file.to_owned(),
                message: format!("{error:#}"),
            })?;
        let push = find_push(file, &pre)?;
        let mut plugin = Plugin {
            file: file.to_owned(),
            build,
            provider_name: file_label(file).into(),
            settings: Arc::new(settings),
            contract,
            pre,
            push,
            instrumentation: runtime.instrumentation(),
            outbound: Arc::default(),
        };
        let name = plugin.call_provider_name().await?;
        if !is_valid_provider_name(&name) {
            return Err(LoadError::InvalidProviderName {
                file: file.to_owned(),
                name,
            });
        }
        plugin.provider_name = name.into();
        Ok(plugin)
    }

    /// The source's stable, unique name, as the plugin reports it.
    pub fn provider_name(&self) -> &str {
        &self.provider_name
    }

    pub fn build(&self) -> &PluginBuild {
        &self.build
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn contract(&self) -> &ContractInfo {
        &self.contract
    }

    pub fn settings(&self) -> &SourceSettings {
        &self.settings
    }

    /// The outbound HTTP requests and bytes of every burst and pushed event
    /// of this plugin so far: a cheap snapshot of atomic counters.
    pub fn outbound_stats(&self) -> OutboundStats {
        self.outbound.snapshot()
    }

    /// The shared counters behind [`Plugin::outbound_stats`], for a caller
    /// that keeps them across reloads ([`Plugin::share_outbound_counters`]).
    pub fn outbound_counters(&self) -> Arc<OutboundCounters> {
        self.outbound.clone()
    }

    /// Count this plugin's requests in `counters` (say, those of the version
    /// it replaces, so a source's figures survive a reload).
    pub fn share_outbound_counters(&mut self, counters: Arc<OutboundCounters>) {
        self.outbound = counters;
    }

    /// Instantiate the plugin in a fresh store and run its set-up. Each burst
    /// gets its own store, so a trap or a spent budget never outlives it.
    pub async fn open_burst(&self) -> Result<Burst, SourceError> {
        Burst::open(self).await
    }

    /// Whether the plugin exports `push`, so [`Plugin::push`] can hand it
    /// events. Plugins built against `weir:source@0.1.0`, or for the
    /// `source-plugin` world, do not.
    pub fn supports_push(&self) -> bool {
        self.push.is_some()
    }

    /// Hand one pushed event to the source's `push` export, in a fresh store
    /// and instance with the same budgets as a page (fuel, deadline, memory),
    /// and check what it returns like a page. Fails with
    /// [`SourceErrorKind::PushUnsupported`] when the plugin has no `push`.
    pub async fn push(&self, event: PushEvent) -> Result<PushOutcome, SourceError> {
        let Some(indices) = &self.push else {
            return Err(SourceError {
                source_name: self.provider_name.clone(),
                call: Call::Push,
                kind: SourceErrorKind::PushUnsupported,
            });
        };
        push::handle(self, indices, event).await
    }

    /// A fresh store with this source's grants, limits and deadline checks.
    pub(crate) fn new_store(&self) -> Store<InstanceState> {
        let state = InstanceState::new(
            self.provider_name.clone(),
            &self.settings,
            self.outbound.clone(),
        );
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        if self.instrumentation.epochs {
            store.epoch_deadline_callback(|context| {
                if std::time::Instant::now() >= context.data().call_deadline {
                    Ok(UpdateDeadline::Interrupt)
                } else {
                    // Let other tasks run, then check again on the next tick.
                    Ok(UpdateDeadline::Yield(1))
                }
            });
        }
        store
    }

    pub(crate) fn pre(&self) -> &SourcePluginPre<InstanceState> {
        &self.pre
    }

    pub(crate) fn instrumentation(&self) -> Instrumentation {
        self.instrumentation
    }

    /// Instantiate the plugin once to ask its provider name, and to
    /// type-check its `push` export, if any, against the contract (wasmtime
    /// checks an export's types on an instance).
    async fn call_provider_name(&self) -> Result<String, LoadError> {
        let source_error = |error| LoadError::Source {
            file: self.file.clone(),
            error,
        };
        let mut store = self.new_store();
        let limits = &self.settings.limits;
        let guard = CallGuard::arm(&mut store, limits, self.instrumentation, Call::Instantiate);
        let outcome = guard
            .within_deadline(self.pre.instance_pre().instantiate_async(&mut store))
            .await;
        let instance = guard
            .settle(&mut store, outcome, &self.provider_name)
            .map_err(source_error)?;
        if let Some(push) = &self.push {
            push.load(&mut store, &instance)
                .map_err(|error| LoadError::InvalidPushExport {
                    file: self.file.clone(),
                    message: format!("{error:#}"),
                })?;
        }
        let bindings = SourcePlugin::new(&mut store, &instance).map_err(|error| {
            LoadError::UnsatisfiedImport {
                file: self.file.clone(),
                message: format!(
                    "its `{SOURCE_INTERFACE}` export does not match the contract: {error:#}"
                ),
            }
        })?;
        let guard = CallGuard::arm(&mut store, limits, self.instrumentation, Call::ProviderName);
        let outcome = guard
            .within_deadline(bindings.weir_source_source().call_provider_name(&mut store))
            .await;
        guard
            .settle(&mut store, outcome, &self.provider_name)
            .map_err(source_error)
    }
}

/// The `push` export's indices when the component has one; an error when it
/// exports an interface of that name without the contract's functions.
fn find_push(
    file: &Path,
    pre: &SourcePluginPre<InstanceState>,
) -> Result<Option<PushExportIndices>, LoadError> {
    let name = format!("{PUSH_INTERFACE}@{CONTRACT_VERSION}");
    // A semver-compatible lookup, like every export lookup in wasmtime.
    if pre
        .instance_pre()
        .component()
        .get_export_index(None, &name)
        .is_none()
    {
        return Ok(None);
    }
    PushExportIndices::new(pre.instance_pre())
        .map(Some)
        .map_err(|error| LoadError::InvalidPushExport {
            file: file.to_owned(),
            message: format!("{error:#}"),
        })
}

/// Tell a component from a core module or a stray file before compiling.
fn check_header(file: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    const MAGIC: &[u8] = b"\0asm";
    const CORE_MODULE_VERSION: &[u8] = &[1, 0, 0, 0];
    if !bytes.starts_with(MAGIC) {
        return Err(LoadError::NotWasm {
            file: file.to_owned(),
        });
    }
    if bytes.get(4..8) == Some(CORE_MODULE_VERSION) {
        return Err(LoadError::CoreModule {
            file: file.to_owned(),
        });
    }
    Ok(())
}

/// Compile (or load from the cache) off the async executor: compiling a large
/// guest takes seconds of CPU.
async fn compile(
    runtime: &PluginRuntime,
    file: &Path,
    build: &PluginBuild,
    bytes: Vec<u8>,
) -> Result<(Component, Origin), LoadError> {
    let engine = runtime.engine().clone();
    let cache = runtime.cache().cloned();
    let build = build.clone();
    let compiled = tokio::task::spawn_blocking(move || {
        cache::load_or_compile(cache.as_ref(), &engine, &build, &bytes)
    })
    .await
    .map_err(|error| LoadError::InvalidComponent {
        file: file.to_owned(),
        message: format!("compilation did not finish: {error}"),
    })?;
    compiled.map_err(|error| LoadError::InvalidComponent {
        file: file.to_owned(),
        message: format!("{error:#}"),
    })
}

/// Read which `weir:source` version the component exports and what it imports.
fn read_contract(
    runtime: &PluginRuntime,
    file: &Path,
    component: &Component,
    origin: Origin,
) -> Result<ContractInfo, LoadError> {
    let engine = runtime.engine();
    let ty = component.component_type();
    let mut imports: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    imports.sort();
    imports.dedup();
    let exports: Vec<String> = ty
        .exports(engine)
        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentInstance(_)))
        .map(|(name, _)| name.to_owned())
        .collect();
    let version = exports
        .iter()
        .find_map(|name| name.strip_prefix(SOURCE_INTERFACE)?.strip_prefix('@'))
        .ok_or_else(|| LoadError::NotASource {
            file: file.to_owned(),
            exports: exports.clone(),
        })?
        .to_owned();
    if !SUPPORTED_CONTRACT_VERSIONS.contains(&version.as_str()) {
        let unsatisfied = runtime
            .linker()
            .instantiate_pre(component)
            .err()
            .map(|error| format!("{error:#}"));
        return Err(LoadError::WrongContractVersion {
            file: file.to_owned(),
            found: version,
            unsatisfied,
        });
    }
    Ok(ContractInfo {
        version,
        imports,
        from_cache: origin == Origin::Cache,
    })
}

/// Whether `name` may name a source: 1 to 128 ASCII letters, digits, `.`,
/// `_` and `-`, starting with a letter or digit.
pub fn is_valid_provider_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// How to name a plugin in errors before it has told its provider name.
fn file_label(file: &Path) -> String {
    file.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_must_be_url_safe() {
        for good in ["synthetic", "github-teams", "a", "org.team_1"] {
            assert!(is_valid_provider_name(good), "{good}");
        }
        for bad in [
            "",
            "-leading",
            "with space",
            "slash/name",
            "ünïcode",
            &"x".repeat(129),
        ] {
            assert!(!is_valid_provider_name(bad), "{bad}");
        }
    }

    #[test]
    fn headers_tell_components_from_modules_and_strays() {
        let file = Path::new("p.wasm");
        assert!(matches!(
            check_header(file, b"hello"),
            Err(LoadError::NotWasm { .. })
        ));
        assert!(matches!(
            check_header(file, b"\0asm\x01\0\0\0"),
            Err(LoadError::CoreModule { .. })
        ));
        assert!(check_header(file, b"\0asm\x0d\0\x01\0").is_ok());
    }

    #[test]
    fn build_is_the_sha256_of_the_bytes() {
        let build = PluginBuild::of(b"abc");
        assert_eq!(
            build.sha256(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(build.to_string(), format!("sha256:{}", build.sha256()));
    }
}
