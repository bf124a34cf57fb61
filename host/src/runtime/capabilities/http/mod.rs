//! The `http` capability: outbound HTTP through `wasi:http`, the only way
//! out of the sandbox, and only to the hosts a source was granted
//! ([`OutboundGrant`]).
//!
//! Every request a guest sends passes through [`OutboundHooks::send_request`]:
//!
//! 1. at most the grant's `max_concurrent_requests` may be in flight in one
//!    instance (a request counts until its response body is dropped); one
//!    more fails in the guest with `connection-limit-reached`;
//! 2. its scheme, host and port are checked against the grant; anything
//!    else fails in the guest with `HTTP-request-denied` and one host log
//!    line naming the source and URL;
//! 3. the host name is resolved here, on the host, and *every* address is
//!    checked ([`address`]): loopback, private, link-local, unique-local and
//!    other non-public addresses are refused unless the grant allows
//!    private networks, so a DNS answer cannot open the internal network;
//! 4. a plain-HTTP request is then sent to the address that was checked (the
//!    `Host` header keeps the name), so a second DNS answer cannot differ;
//!    an HTTPS request is sent by name, and the TLS certificate check
//!    against that name stops a rebinding answer (an internal server cannot
//!    present a certificate for the granted name);
//! 5. the whole exchange runs under the grant's request timeout, a response
//!    body longer than the grant's `max_response_bytes` fails in the guest
//!    with `HTTP-response-body-size`, and the requests and the bytes sent
//!    and received are counted per source.

mod address;
#[cfg(test)]
mod address_differential;
mod grant;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::Linker;
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

pub use address::is_public;
pub use grant::{
    DEFAULT_MAX_CONCURRENT_REQUESTS, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REQUEST_TIMEOUT, HostRule,
    OutboundGrant,
};

use super::super::instance_state::InstanceState;
use super::log::LineBudget;
use address::resolve;
use grant::default_port;

/// The `http` capability's state in one instance.
pub(crate) struct HttpState {
    ctx: WasiHttpCtx,
    hooks: OutboundHooks,
}

impl HttpState {
    pub(crate) fn new(
        source: Arc<str>,
        grant: OutboundGrant,
        counters: Arc<OutboundCounters>,
    ) -> Self {
        HttpState {
            ctx: WasiHttpCtx::new(),
            hooks: OutboundHooks::new(source, grant, counters),
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http.ctx,
            table: &mut self.table,
            hooks: &mut self.http.hooks,
        }
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
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
    /// A permit per request in flight in this instance.
    in_flight: Arc<Semaphore>,
    /// Refusals are logged at most as often as guest lines, so a guest
    /// looping on a refused URL cannot flood the log.
    log_budget: Arc<std::sync::Mutex<LineBudget>>,
}

impl OutboundHooks {
    fn new(source: Arc<str>, grant: OutboundGrant, counters: Arc<OutboundCounters>) -> Self {
        OutboundHooks {
            in_flight: Arc::new(Semaphore::new(grant.max_concurrent_requests)),
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
        let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
            let limit = self.grant.max_concurrent_requests;
            self.counters.denied.fetch_add(1, Ordering::Relaxed);
            let reason = format!("{limit} requests are in flight already (maxConcurrentRequests)");
            refused(&self.source, &self.log_budget, &url, &reason);
            return Box::new(async { Err(HttpError::ConnectionLimitReached) });
        };
        let target = match self.check_url(request.uri(), &url) {
            Ok(target) => target,
            Err(error) => return Box::new(async move { Err(error) }),
        };
        let max_response_bytes = self.grant.max_response_bytes;
        let timeout = self.grant.request_timeout;
        let allow_private = self.grant.allow_private;
        let source = self.source.clone();
        let counters = self.counters.clone();
        let log_budget = self.log_budget.clone();
        let options = clamp(options, timeout);
        Box::new(async move {
            let addresses = resolve(&target.host, target.port).await.inspect_err(|_| {
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
            let response = response.map(|body| {
                BoundedBody {
                    inner: body.boxed_unsync(),
                    remaining: max_response_bytes,
                    limit: max_response_bytes,
                    counters,
                    _permit: permit,
                }
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

/// A response body, counted, cut off with an error past the grant's
/// `max_response_bytes`, and holding its request's place among the
/// instance's requests in flight until the guest drops it.
struct BoundedBody {
    inner: WasiBody,
    remaining: u64,
    limit: u64,
    counters: Arc<OutboundCounters>,
    _permit: OwnedSemaphorePermit,
}

impl Body for BoundedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(context);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let bytes = data.len() as u64;
            self.counters
                .bytes_received
                .fetch_add(bytes, Ordering::Relaxed);
            match self.remaining.checked_sub(bytes) {
                Some(remaining) => self.remaining = remaining,
                None => {
                    self.remaining = 0;
                    let limit = self.limit;
                    return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(limit)))));
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
