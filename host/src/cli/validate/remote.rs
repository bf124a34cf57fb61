//! Reading a placeholder's URL (`$text: https://…/openapi.yaml`) for
//! `weir validate --fetch`, under the rules a source's outbound HTTP obeys:
//! HTTPS only unless plain HTTP is allowed; the host name resolved here and
//! every address checked, none loopback, private or link-local unless
//! private networks are allowed; a plain-HTTP request sent to the address
//! that was checked (an HTTPS one by name, the certificate check binding
//! it); the whole exchange under a time limit and the body under a size
//! limit. Redirects are followed (at most [`MAX_REDIRECTS`]), each hop
//! checked again.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, LOCATION, USER_AGENT};
use http_body_util::{BodyExt, Empty};
use url::Url;
use wasmtime_wasi_http::RequestOptions;

use weir::runtime::is_public;

/// Hops followed before giving up on a chain of redirects.
const MAX_REDIRECTS: usize = 5;

/// What a fetch may do.
#[derive(Debug, Clone, Copy)]
pub(super) struct FetchRules {
    /// Plain `http://` URLs too.
    pub(super) allow_http: bool,
    /// Names that are, or resolve to, loopback, private or link-local
    /// addresses.
    pub(super) allow_private: bool,
    /// The longest body read.
    pub(super) max_bytes: u64,
    /// For the whole fetch, redirects included.
    pub(super) timeout: Duration,
}

/// The body at `url`, or why it could not be had (naming the URL's part at
/// fault: scheme, address, status, size, time).
pub(super) async fn fetch(url: &Url, rules: &FetchRules) -> Result<Vec<u8>, String> {
    match tokio::time::timeout(rules.timeout, follow(url.clone(), rules)).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "{url}: no complete answer within {} (--fetch-timeout)",
            humantime::format_duration(rules.timeout)
        )),
    }
}

async fn follow(mut url: Url, rules: &FetchRules) -> Result<Vec<u8>, String> {
    for _ in 0..=MAX_REDIRECTS {
        match get(&url, rules).await? {
            Answer::Body(body) => return Ok(body),
            Answer::Redirect(location) => {
                url = url
                    .join(&location)
                    .map_err(|error| format!("redirected to {location:?}, not a URL: {error}"))?;
            }
        }
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

enum Answer {
    Body(Vec<u8>),
    Redirect(String),
}

/// One request, checked against the rules before anything is sent.
async fn get(url: &Url, rules: &FetchRules) -> Result<Answer, String> {
    let scheme = url.scheme();
    match scheme {
        "https" => {}
        "http" if rules.allow_http => {}
        "http" => {
            return Err(format!(
                "{url}: plain http is refused (pass --allow-http to fetch it)"
            ));
        }
        other => {
            return Err(format!(
                "{url}: only https (and http) URLs are fetched, not {other}"
            ));
        }
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("{url}: the URL has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| format!("{url}: the URL has no port"))?;
    let addresses = resolve(&host, port)
        .await
        .map_err(|error| format!("{url}: {error}"))?;
    if !rules.allow_private
        && let Some(address) = addresses.iter().find(|address| !is_public(address.ip()))
    {
        return Err(format!(
            "{url}: {host} is (or resolves to) the non-public address {} (pass \
             --allow-private-networks to fetch it)",
            address.ip()
        ));
    }
    // Plain HTTP goes to the address just checked, not to a new DNS answer;
    // HTTPS goes by name, and the certificate must be the name's.
    let target = match (scheme, addresses.first()) {
        ("http", Some(address)) => format!("http://{address}"),
        _ => format!("{scheme}://{}", url.authority()),
    };
    let uri = format!("{target}{}", &url[url::Position::BeforePath..]);
    let request = http::Request::get(&uri)
        .header(HOST, url.authority())
        .header(
            USER_AGENT,
            concat!("weir-validate/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new().map_err(|never| match never {}))
        .map_err(|error| format!("{url}: cannot build the request: {error}"))?;
    // The whole fetch's deadline (in `fetch`) is what the user set and what
    // an error names; these only keep the connection from outliving it, so
    // they fall a second later and never race it.
    let backstop = Some(rules.timeout.saturating_add(Duration::from_secs(1)));
    let options = RequestOptions {
        connect_timeout: backstop,
        first_byte_timeout: backstop,
        between_bytes_timeout: backstop,
    };
    let (response, connection) = wasmtime_wasi_http::default_send_request(request, Some(options))
        .await
        .map_err(|error| format!("{url}: the request failed: {error}"))?;
    tokio::spawn(connection);
    let status = response.status();
    if status.is_redirection() {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| format!("{url}: HTTP {status} without a Location"))?;
        return Ok(Answer::Redirect(location.to_owned()));
    }
    if !status.is_success() {
        return Err(format!("{url}: HTTP {status}"));
    }
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| format!("{url}: reading the body: {error}"))?;
        if let Some(data) = frame.data_ref() {
            let total = bytes.len() as u64 + data.len() as u64;
            if total > rules.max_bytes {
                return Err(format!(
                    "{url}: the body is longer than {} bytes (--max-fetch-bytes)",
                    rules.max_bytes
                ));
            }
            bytes.extend_from_slice(data);
        }
    }
    Ok(Answer::Body(bytes))
}

/// Every address of the host (an IP literal is its own answer).
async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|error| format!("cannot resolve {host}: {error}"))?
        .collect();
    if addresses.is_empty() {
        return Err(format!("{host} has no address"));
    }
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> FetchRules {
        FetchRules {
            allow_http: false,
            allow_private: false,
            max_bytes: 1024,
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn refusals_come_before_anything_is_sent() {
        let url = Url::parse("http://example.com/x.yaml").unwrap();
        let refused = fetch(&url, &rules()).await.unwrap_err();
        assert!(refused.contains("--allow-http"), "{refused}");
        let url = Url::parse("https://127.0.0.1:9/x.yaml").unwrap();
        let refused = fetch(&url, &rules()).await.unwrap_err();
        assert!(
            refused.contains("non-public address 127.0.0.1")
                && refused.contains("--allow-private-networks"),
            "{refused}"
        );
        let url = Url::parse("https://[::1]:9/x.yaml").unwrap();
        assert!(fetch(&url, &rules()).await.unwrap_err().contains("::1"));
        let url = Url::parse("ftp://example.com/x.yaml").unwrap();
        assert!(fetch(&url, &rules()).await.unwrap_err().contains("not ftp"));
    }
}
