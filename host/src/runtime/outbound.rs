//! Outbound HTTP (`wasi:http`): the only way out of the sandbox, and only to
//! the hosts a source was granted.
//!
//! Every request a guest sends passes through [`OutboundHooks::send_request`]:
//!
//! 1. its scheme, host and port are checked against the source's
//!    [`OutboundGrant`]; anything else fails in the guest with
//!    `HTTP-request-denied` and one host log line naming the source and URL;
//! 2. the host name is resolved here, on the host, and *every* address is
//!    checked: loopback, private, link-local, unique-local and other
//!    non-public addresses are refused unless the grant allows private
//!    networks, so a DNS answer cannot open the internal network;
//! 3. a plain-HTTP request is then sent to the address that was checked (the
//!    `Host` header keeps the name), so a second DNS answer cannot differ;
//!    an HTTPS request is sent by name, and the TLS certificate check
//!    against that name stops a rebinding answer (an internal server cannot
//!    present a certificate for the granted name);
//! 4. the whole exchange runs under the grant's request timeout, and the
//!    requests and the bytes sent and received are counted per source.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::guest_output::LineBudget;

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
}

impl Default for OutboundGrant {
    fn default() -> Self {
        OutboundGrant {
            hosts: Vec::new(),
            allow_private: false,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// The request timeout when the operator sets none.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

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

fn default_port(scheme: &str) -> u16 {
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

/// Whether an address is on the public internet. Loopback, private
/// (RFC 1918, unique-local), link-local, shared (CGNAT), unspecified,
/// broadcast, multicast, documentation, benchmarking and reserved ranges are
/// not; an IPv4-mapped or NAT64 IPv6 address is judged by its IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let segments = v6.segments();
            // 64:ff9b::/96, NAT64 of an IPv4 address.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = segments[6].to_be_bytes();
                let [c, d] = segments[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            let first = segments[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (first == 0x2001 && segments[1] == 0x0db8) // documentation
                || segments[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
        }
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

/// What a source's outbound requests have cost so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundStats {
    /// Requests sent (allowed by the grant and the address check).
    pub requests: u64,
    /// Requests refused: not granted, or to a non-public address.
    pub denied: u64,
    /// Requests that were sent but failed (connection, TLS, timeout).
    pub failed: u64,
    /// Request body bytes sent.
    pub bytes_sent: u64,
    /// Response body bytes received.
    pub bytes_received: u64,
}

/// The counters behind [`OutboundStats`], shared by every store of a plugin.
#[derive(Debug, Default)]
pub struct OutboundCounters {
    requests: AtomicU64,
    denied: AtomicU64,
    failed: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
}

impl OutboundCounters {
    pub fn snapshot(&self) -> OutboundStats {
        OutboundStats {
            requests: self.requests.load(Ordering::Relaxed),
            denied: self.denied.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
        }
    }
}

/// The `wasi:http` hooks of one store: the source's grant and counters.
pub(crate) struct OutboundHooks {
    source: Arc<str>,
    grant: OutboundGrant,
    counters: Arc<OutboundCounters>,
    /// Refusals are logged at most as often as guest lines, so a guest
    /// looping on a refused URL cannot flood the log.
    log_budget: Arc<std::sync::Mutex<LineBudget>>,
}

impl OutboundHooks {
    pub fn new(source: Arc<str>, grant: OutboundGrant, counters: Arc<OutboundCounters>) -> Self {
        OutboundHooks {
            source,
            grant,
            counters,
            log_budget: Arc::new(std::sync::Mutex::new(LineBudget::new())),
        }
    }

    fn deny(&self, url: &str, reason: &str) -> HttpError {
        self.counters.denied.fetch_add(1, Ordering::Relaxed);
        refused(&self.source, &self.log_budget, url, reason);
        HttpError::HttpRequestDenied
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>;

/// Where a granted request goes: the checked address, or the name for TLS.
struct Target {
    scheme: &'static str,
    host: String,
    port: u16,
}

impl OutboundHooks {
    /// The grant check on the URL alone.
    fn check_url(&self, uri: &http::Uri, url: &str) -> Result<Target, HttpError> {
        let scheme = match uri.scheme() {
            Some(scheme) if *scheme == Scheme::HTTPS => "https",
            Some(scheme) if *scheme == Scheme::HTTP => "http",
            _ => return Err(self.deny(url, "only http and https are supported")),
        };
        let Some(authority) = uri.authority() else {
            return Err(self.deny(url, "the URL has no host"));
        };
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let host = host.strip_suffix('.').unwrap_or(&host).to_owned();
        let port = authority.port_u16().unwrap_or_else(|| default_port(scheme));
        if !self.grant.allows(scheme, &host, port) {
            return Err(self.deny(
                url,
                &format!("{scheme}://{host}:{port} is not among the source's granted hosts"),
            ));
        }
        Ok(Target { scheme, host, port })
    }
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> SendFuture {
        drop(fut);
        let url = request.uri().to_string();
        let target = match self.check_url(request.uri(), &url) {
            Ok(target) => target,
            Err(error) => return Box::new(async move { Err(error) }),
        };
        let timeout = self.grant.request_timeout;
        let allow_private = self.grant.allow_private;
        let source = self.source.clone();
        let counters = self.counters.clone();
        let log_budget = self.log_budget.clone();
        let options = clamp(options, timeout);
        Box::new(async move {
            let addresses = resolve(&target).await.inspect_err(|_| {
                counters.failed.fetch_add(1, Ordering::Relaxed);
            })?;
            if !allow_private && let Some(ip) = addresses.iter().find(|a| !is_public(a.ip())) {
                counters.denied.fetch_add(1, Ordering::Relaxed);
                let reason = format!(
                    "{} resolves to the non-public address {} (allowPrivateNetworks is off)",
                    target.host,
                    ip.ip()
                );
                refused(&source, &log_budget, &url, &reason);
                return Err(HttpError::HttpRequestDenied);
            }
            if target.scheme == "http" {
                // Connect to the address just checked, not to a fresh answer.
                let address = addresses[0];
                let authority = Authority::try_from(address.to_string())
                    .map_err(|_| HttpError::HttpRequestUriInvalid)?;
                let mut parts = request.uri().clone().into_parts();
                parts.authority = Some(authority);
                *request.uri_mut() =
                    http::Uri::from_parts(parts).map_err(|_| HttpError::HttpRequestUriInvalid)?;
            }
            counters.requests.fetch_add(1, Ordering::Relaxed);
            let sent = counters.clone();
            let request = request.map(|body| {
                body.map_frame(move |frame| {
                    if let Some(data) = frame.data_ref() {
                        sent.bytes_sent
                            .fetch_add(data.len() as u64, Ordering::Relaxed);
                    }
                    frame
                })
                .boxed_unsync()
            });
            let exchange = wasmtime_wasi_http::default_send_request(request, Some(options));
            let (response, io) = match tokio::time::timeout(timeout, exchange).await {
                Ok(Ok(done)) => done,
                Ok(Err(error)) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(source = %source, url, "outbound request failed: {error}");
                    return Err(error);
                }
                Err(_) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(source = %source, url, "outbound request timed out after {timeout:?}");
                    return Err(HttpError::ConnectionReadTimeout);
                }
            };
            let received = counters.clone();
            let response = response.map(|body| {
                body.map_frame(move |frame| {
                    if let Some(data) = frame.data_ref() {
                        received
                            .bytes_received
                            .fetch_add(data.len() as u64, Ordering::Relaxed);
                    }
                    frame
                })
                .boxed_unsync()
            });
            Ok((response, Box::new(io) as IoFuture))
        })
    }
}

/// Log one refusal, within the budget.
fn refused(source: &str, budget: &std::sync::Mutex<LineBudget>, url: &str, reason: &str) {
    let admitted = budget
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .admit(source, "outbound");
    if admitted {
        tracing::warn!(source = %source, url, "outbound request refused: {reason}");
    }
}

impl Drop for OutboundHooks {
    fn drop(&mut self) {
        self.log_budget
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .report(&self.source, "outbound");
    }
}

/// The guest's own timeouts, none longer than the grant's.
fn clamp(options: Option<RequestOptions>, limit: Duration) -> RequestOptions {
    let options = options.unwrap_or_default();
    let bound = |asked: Option<Duration>| Some(asked.map_or(limit, |asked| asked.min(limit)));
    RequestOptions {
        connect_timeout: bound(options.connect_timeout),
        first_byte_timeout: bound(options.first_byte_timeout),
        between_bytes_timeout: bound(options.between_bytes_timeout),
    }
}

/// Every address of the target (an IP literal is its own answer).
async fn resolve(target: &Target) -> Result<Vec<SocketAddr>, HttpError> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
    let addresses: Vec<SocketAddr> = match tokio::time::timeout(DNS_TIMEOUT, lookup).await {
        Ok(Ok(addresses)) => addresses.collect(),
        Ok(Err(error)) => {
            return Err(HttpError::DnsError {
                rcode: Some(error.to_string()),
                info_code: None,
            });
        }
        Err(_) => return Err(HttpError::DnsTimeout),
    };
    if addresses.is_empty() {
        return Err(HttpError::DestinationNotFound);
    }
    Ok(addresses)
}

const DNS_TIMEOUT: Duration = Duration::from_secs(10);

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

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "140.82.112.6",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn guest_timeouts_never_exceed_the_grant() {
        let limit = Duration::from_secs(5);
        let options = clamp(
            Some(RequestOptions {
                connect_timeout: Some(Duration::from_secs(1)),
                first_byte_timeout: Some(Duration::from_secs(60)),
                between_bytes_timeout: None,
            }),
            limit,
        );
        assert_eq!(options.connect_timeout, Some(Duration::from_secs(1)));
        assert_eq!(options.first_byte_timeout, Some(limit));
        assert_eq!(options.between_bytes_timeout, Some(limit));
    }
}
