//! The `config` capability: a source reads its own configuration values, as
//! the operator set them (`[sources.NAME.config]`, over the manifest's
//! defaults). Values are data to the source; they grant nothing.

use std::collections::BTreeMap;

use wasmtime::component::{HasSelf, Linker};

use super::super::bindings::weir::source::config;
use super::super::instance_state::InstanceState;

/// The `config` capability's state in one instance: the source's values.
pub(crate) struct ConfigValues(BTreeMap<String, String>);

impl ConfigValues {
    pub(crate) fn new(values: BTreeMap<String, String>) -> Self {
        ConfigValues(values)
    }
}

impl config::Host for ConfigValues {
    fn get(&mut self, key: String) -> Option<String> {
        self.0.get(&key).cloned()
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    config::add_to_linker::<_, HasSelf<ConfigValues>>(linker, |state| &mut state.config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_reads_its_own_values_and_nothing_else() {
        let values = BTreeMap::from([("org".to_owned(), "kestrel".to_owned())]);
        let mut config = ConfigValues::new(values);
        assert_eq!(
            config::Host::get(&mut config, "org".into()),
            Some("kestrel".into())
        );
        assert_eq!(config::Host::get(&mut config, "HOME".into()), None);
    }
}
