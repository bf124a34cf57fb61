//! What an operator grants one source: config values, secrets, limits, and
//! the hosts it may reach over HTTP.

use std::collections::BTreeMap;
use std::fmt;

use super::{Limits, OutboundGrant};

/// A source's configuration as the host holds it. Secrets are never printed:
/// `Debug` shows their keys only.
#[derive(Clone, Default)]
pub struct SourceSettings {
    pub config: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub limits: Limits,
    /// Where the source may send HTTP requests; nowhere by default.
    pub outbound: OutboundGrant,
}

impl fmt::Debug for SourceSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceSettings")
            .field("config", &self.config)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("limits", &self.limits)
            .field("outbound", &self.outbound)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secret_values() {
        let mut settings = SourceSettings::default();
        settings.secrets.insert("token".into(), "s3cr3t".into());
        let shown = format!("{settings:?}");
        assert!(shown.contains("token"));
        assert!(!shown.contains("s3cr3t"));
    }
}
