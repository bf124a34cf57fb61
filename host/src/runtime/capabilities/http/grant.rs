//! What the operator grants a source over HTTP: an [`OutboundGrant`], the
//! hosts (each a [`HostRule`]) it may send requests to, whether they may be
//! on private networks, and its per-request and per-instance bounds.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

/// What one source may reach over HTTP. The default grants nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundGrant {
    /// The hosts the source may send requests to; empty: none.
    pub hosts: Vec<HostRule>,
    /// Whether a granted name may resolve to (or be) a loopback, private or
    /// link-local address. Off by default.
    pub allow_private: bool,
    /// The longest one request may take, from connecting to the end of the
    /// response headers; the response body may then pause at most this long
    /// between chunks.
    pub request_timeout: Duration,
    /// Requests one instance may have in flight at once.
    pub max_concurrent_requests: usize,
    /// The longest response body one request may receive, in bytes.
    pub max_response_bytes: u64,
}

impl Default for OutboundGrant {
    fn default() -> Self {
        OutboundGrant {
            hosts: Vec::new(),
            allow_private: false,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// The request timeout when the operator sets none.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Requests in flight at once per instance when the operator sets no bound.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 16;

/// The longest response body when the operator sets no bound: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 << 20;

/// One granted host: `api.github.com` (HTTPS or HTTP on its default port),
/// `example.com:8443` (that port, either scheme), `https://x.y` (HTTPS only,
/// port 443), `*.example.com` (any subdomain, not `example.com` itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRule {
    /// Lower case; a leading `*.` matches any subdomain.
    pub host: String,
    /// `None`: the scheme's default port (443 for HTTPS, 80 for HTTP).
    pub port: Option<u16>,
    /// `Some("https")` or `Some("http")`; `None`: either.
    pub scheme: Option<String>,
}

impl HostRule {
    /// Parse `[SCHEME://]HOST[:PORT]`. IPv6 literals go in brackets.
    pub fn parse(text: &str) -> Result<HostRule, String> {
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => {
                let scheme = scheme.to_ascii_lowercase();
                if scheme != "http" && scheme != "https" {
                    return Err(format!(
                        "{text:?}: the scheme must be http or https, found {scheme:?}"
                    ));
                }
                (Some(scheme), rest)
            }
            None => (None, text),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "{text:?}: expected a host name with an optional scheme and port, such as \
                 \"api.github.com\", \"example.com:8443\" or \"https://x.y\""
            ));
        }
        let (host, port) = split_host_port(rest).ok_or_else(|| {
            format!(
                "{text:?}: invalid host or port (IPv6 addresses go in brackets: \"[::1]:8080\")"
            )
        })?;
        let wildcard = host.strip_prefix("*.");
        let name = wildcard.unwrap_or(&host);
        let valid_name = name.parse::<IpAddr>().is_ok()
            || (!name.is_empty()
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                }));
        if !valid_name || (wildcard.is_some() && name.parse::<IpAddr>().is_ok()) {
            return Err(format!("{text:?}: {host:?} is not a host name"));
        }
        Ok(HostRule {
            host: host.to_ascii_lowercase(),
            port,
            scheme,
        })
    }

    fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host_matches = match self.host.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => self.host == host,
        };
        let scheme_matches = self
            .scheme
            .as_deref()
            .is_none_or(|granted| granted == scheme);
        let port_matches = port == self.port.unwrap_or_else(|| default_port(scheme));
        host_matches && scheme_matches && port_matches
    }
}

impl fmt::Display for HostRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = &self.scheme {
            write!(f, "{scheme}://")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; the host without brackets.
fn split_host_port(text: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            after => Some(after.strip_prefix(':')?.parse().ok()?),
        };
        return Some((host.to_owned(), port));
    }
    match text.split_once(':') {
        Some((host, port)) => Some((host.to_owned(), Some(port.parse().ok()?))),
        None => Some((text.to_owned(), None)),
    }
}

pub(super) fn default_port(scheme: &str) -> u16 {
    if scheme == "http" { 80 } else { 443 }
}

impl OutboundGrant {
    /// Whether a request to this scheme, host (lower case, no brackets) and
    /// port is granted (before any address check).
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.hosts
            .iter()
            .any(|rule| rule.matches(scheme, host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(rules: &[&str]) -> OutboundGrant {
        OutboundGrant {
            hosts: rules.iter().map(|r| HostRule::parse(r).unwrap()).collect(),
            ..OutboundGrant::default()
        }
    }

    #[test]
    fn nothing_is_granted_by_default() {
        assert!(!OutboundGrant::default().allows("https", "api.github.com", 443));
    }

    #[test]
    fn rules_match_host_port_and_scheme() {
        let grant = grant(&[
            "api.github.com",
            "Example.com:8443",
            "https://x.y",
            "*.corp.dev",
        ]);
        assert!(grant.allows("https", "api.github.com", 443));
        assert!(grant.allows("http", "api.github.com", 80));
        assert!(!grant.allows("https", "api.github.com", 8443));
        assert!(!grant.allows("https", "github.com", 443));
        assert!(grant.allows("https", "example.com", 8443));
        assert!(grant.allows("http", "example.com", 8443));
        assert!(!grant.allows("https", "example.com", 443));
        assert!(grant.allows("https", "x.y", 443));
        assert!(!grant.allows("http", "x.y", 80));
        assert!(grant.allows("https", "a.corp.dev", 443));
        assert!(grant.allows("https", "a.b.corp.dev", 443));
        assert!(!grant.allows("https", "corp.dev", 443));
        assert!(!grant.allows("https", "evilcorp.dev", 443));
    }

    #[test]
    fn rules_parse_and_print() {
        for (text, shown) in [
            ("api.github.com", "api.github.com"),
            ("HTTPS://X.Y/", "https://x.y"),
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("[::1]:8080", "[::1]:8080"),
            ("*.corp.dev", "*.corp.dev"),
        ] {
            assert_eq!(HostRule::parse(text).unwrap().to_string(), shown, "{text}");
        }
        for bad in [
            "",
            "ftp://x.y",
            "x.y/path",
            "x.y:port",
            "user@x.y",
            "::1",
            "bad host",
            "*.1.2.3.4",
        ] {
            assert!(HostRule::parse(bad).is_err(), "{bad}");
        }
    }
}
