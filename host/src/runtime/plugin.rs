//! A [`Plugin`]: a source component compiled (or taken from the cache),
//! checked against the `weir:source` world, and bound to the settings of the
//! source it runs as. Instantiating it again for each burst is cheap.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;
use wasmtime::{Store, UpdateDeadline};

use super::bindings::SourcePluginPre;
use super::burst::{Burst, CallGuard};
use super::cache::{self, Origin};
use super::error::{Call, LoadError, SourceError};
use super::state::SourceState;
use super::{CONTRACT_VERSION, Instrumentation, Runtime, SourceSettings};

/// The interface every source exports, without its version.
const SOURCE_INTERFACE: &str = "weir:source/source";

/// The SHA-256 of a plugin's `.wasm` bytes: which build produced an entity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PluginBuild(Arc<str>);

impl PluginBuild {
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
    pre: SourcePluginPre<SourceState>,
    instrumentation: Instrumentation,
}

impl Plugin {
    pub(crate) async fn load(
        runtime: &Runtime,
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
        let mut plugin = Plugin {
            file: file.to_owned(),
            build,
            provider_name: file_label(file).into(),
            settings: Arc::new(settings),
            contract,
            pre,
            instrumentation: runtime.instrumentation(),
        };
        let name = plugin
            .call_provider_name()
            .await
            .map_err(|error| LoadError::Source {
                file: file.to_owned(),
                error,
            })?;
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

    /// Instantiate the plugin in a fresh store and run its set-up. Each burst
    /// gets its own store, so a trap or a spent budget never outlives it.
    pub async fn open_burst(&self) -> Result<Burst, SourceError> {
        Burst::open(self).await
    }

    /// A fresh store with this source's grants, limits and deadline checks.
    pub(crate) fn new_store(&self) -> Store<SourceState> {
        let state = SourceState::new(self.provider_name.clone(), self.settings.clone());
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

    pub(crate) fn pre(&self) -> &SourcePluginPre<SourceState> {
        &self.pre
    }

    pub(crate) fn instrumentation(&self) -> Instrumentation {
        self.instrumentation
    }

    async fn call_provider_name(&self) -> Result<String, SourceError> {
        let mut store = self.new_store();
        let limits = &self.settings.limits;
        let guard = CallGuard::arm(&mut store, limits, self.instrumentation, Call::Instantiate);
        let outcome = guard
            .within_deadline(self.pre.instantiate_async(&mut store))
            .await;
        let bindings = guard.settle(&mut store, outcome, &self.provider_name)?;
        let guard = CallGuard::arm(&mut store, limits, self.instrumentation, Call::ProviderName);
        let outcome = guard
            .within_deadline(bindings.weir_source_source().call_provider_name(&mut store))
            .await;
        guard.settle(&mut store, outcome, &self.provider_name)
    }
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
    runtime: &Runtime,
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
    runtime: &Runtime,
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
    if version != CONTRACT_VERSION {
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

fn is_valid_provider_name(name: &str) -> bool {
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
