//! The `secrets` capability: a source reads the secrets the operator granted
//! it. A plugin's manifest may only *name* the secrets it needs; which
//! environment variable or file feeds each is said in `weir.toml` alone, and
//! read by the host at load. A secret that was asked for and not granted is
//! none here (and reported in the source's status and by `weir check`).

use std::collections::BTreeMap;

use wasmtime::component::{HasSelf, Linker};

use super::super::bindings::weir::source::secrets;
use super::super::instance_state::InstanceState;

/// The `secrets` capability's state in one instance: the granted values.
pub(crate) struct GrantedSecrets(BTreeMap<String, String>);

impl GrantedSecrets {
    pub(crate) fn new(values: BTreeMap<String, String>) -> Self {
        GrantedSecrets(values)
    }
}

impl secrets::Host for GrantedSecrets {
    fn get(&mut self, key: String) -> Option<String> {
        self.0.get(&key).cloned()
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    secrets::add_to_linker::<_, HasSelf<GrantedSecrets>>(linker, |state| &mut state.secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_granted_secrets_are_readable() {
        let granted = BTreeMap::from([("token".to_owned(), "s3cr3t".to_owned())]);
        let mut secrets = GrantedSecrets::new(granted);
        assert_eq!(
            secrets::Host::get(&mut secrets, "token".into()),
            Some("s3cr3t".into())
        );
        assert_eq!(
            secrets::Host::get(&mut secrets, "WEIR_ADMIN_TOKEN".into()),
            None
        );
    }
}
