//! Outbound HTTP through `wasi:http`, the only network a source gets, and
//! only to the hosts the operator granted it (`[sources.NAME.outbound]`).
//!
//! A small blocking client: build a [`Request`], [`Request::send`] it, get
//! the whole [`Response`]. A request the host refuses (a host that was not
//! granted, or a name that resolves to a private address) fails with
//! [`HttpError::Denied`]; one that takes longer than the source's request
//! timeout with [`HttpError::Timeout`].
//!
//! ```no_run
//! use weir_guest::http::Request;
//!
//! # fn f() -> Result<(), weir_guest::http::HttpError> {
//! let response = Request::get("https://api.example.com/teams?page=1")
//!     .header("accept", "application/json")
//!     .send()?;
//! if response.status == 200 {
//!     let teams: serde_json::Value = response.json()?;
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use wasip2::io::streams::StreamError;

use crate::Error;

/// An HTTP request to send.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A whole HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code, e.g. 200.
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The whole body.
    pub body: Vec<u8>,
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The host refused it: the host was not granted to this source, or its
    /// name resolved to a private or loopback address.
    Denied(String),
    /// No answer within the source's request timeout.
    Timeout(String),
    /// The URL could not be used.
    InvalidUrl(String),
    /// Anything else: DNS, connection, TLS, protocol.
    Failed(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Denied(m) => write!(f, "request denied by the host: {m}"),
            HttpError::Timeout(m) => write!(f, "request timed out: {m}"),
            HttpError::InvalidUrl(m) => write!(f, "invalid URL: {m}"),
            HttpError::Failed(m) => write!(f, "request failed: {m}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// A refused request or a bad URL will not get better by retrying; anything
/// else might (a timeout, a dropped connection).
impl From<HttpError> for Error {
    fn from(error: HttpError) -> Error {
        match error {
            HttpError::Denied(_) | HttpError::InvalidUrl(_) => Error::fatal(error.to_string()),
            HttpError::Timeout(_) | HttpError::Failed(_) => Error::transient(error.to_string()),
        }
    }
}

impl Request {
    /// A request of `method` (`GET`, `POST`, …) to `url`, with no headers or body.
    pub fn new(method: &str, url: impl Into<String>) -> Request {
        Request {
            method: method.to_owned(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `GET` of `url`.
    pub fn get(url: impl Into<String>) -> Request {
        Request::new("GET", url)
    }

    /// A `POST` of `body` to `url`.
    pub fn post(url: impl Into<String>, body: impl Into<Vec<u8>>) -> Request {
        let mut request = Request::new("POST", url);
        request.body = body.into();
        request
    }

    /// Add a header (names may repeat).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Send it and read the whole response.
    pub fn send(&self) -> Result<Response, HttpError> {
        let (scheme, authority, path) = split_url(&self.url)?;
        let headers = Fields::new();
        for (name, value) in &self.headers {
            headers
                .append(name, value.as_bytes())
                .map_err(|e| HttpError::InvalidUrl(format!("header {name:?}: {e:?}")))?;
        }
        let request = OutgoingRequest::new(headers);
        let method = match self.method.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_owned()),
        };
        let invalid = |what: &str| HttpError::InvalidUrl(format!("{}: {what}", self.url));
        request
            .set_method(&method)
            .map_err(|()| invalid("method"))?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| invalid("scheme"))?;
        request
            .set_authority(Some(authority))
            .map_err(|()| invalid("host"))?;
        request
            .set_path_with_query(Some(&path))
            .map_err(|()| invalid("path"))?;
        let body = request.body().map_err(|()| invalid("body"))?;
        if !self.body.is_empty() {
            let stream = body.write().map_err(|()| invalid("body"))?;
            for chunk in self.body.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| HttpError::Failed(format!("writing the body: {e:?}")))?;
            }
        }
        let future = outgoing_handler::handle(request, None).map_err(|code| self.error(code))?;
        OutgoingBody::finish(body, None).map_err(|code| self.error(code))?;
        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(self.error(code)),
            Some(Err(())) | None => {
                return Err(HttpError::Failed(format!("{}: no response", self.url)));
            }
        };
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect();
        let incoming = response
            .consume()
            .map_err(|()| HttpError::Failed(format!("{}: no body", self.url)))?;
        let stream = incoming
            .stream()
            .map_err(|()| HttpError::Failed(format!("{}: no body", self.url)))?;
        let mut body = Vec::new();
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(error)) => {
                    return Err(match wasip2::http::types::http_error_code(&error) {
                        Some(code) => self.error(code),
                        None => HttpError::Failed(format!(
                            "{}: reading the body: {}",
                            self.url,
                            error.to_debug_string()
                        )),
                    });
                }
            }
        }
        drop(stream);
        IncomingBody::finish(incoming);
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn error(&self, code: ErrorCode) -> HttpError {
        let url = &self.url;
        match code {
            ErrorCode::HttpRequestDenied => HttpError::Denied(url.clone()),
            ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout
            | ErrorCode::HttpResponseTimeout
            | ErrorCode::DnsTimeout => HttpError::Timeout(format!("{url}: {code:?}")),
            code => HttpError::Failed(format!("{url}: {code:?}")),
        }
    }
}

impl Response {
    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| HttpError::Failed(format!("the response is not the JSON expected: {e}")))
    }

    /// The first value of a header (name in any case), as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    }
}

/// `scheme://authority/path?query` into its parts (path `/` when missing).
fn split_url(url: &str) -> Result<(Scheme, &str, String), HttpError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| HttpError::InvalidUrl(format!("{url}: expected http:// or https://")))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => {
            return Err(HttpError::InvalidUrl(format!(
                "{url}: expected http or https"
            )));
        }
    };
    let rest = rest.split('#').next().unwrap_or(rest);
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    if authority.is_empty() {
        return Err(HttpError::InvalidUrl(format!("{url}: no host")));
    }
    let path = match path {
        "" => "/".to_owned(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_owned(),
    };
    Ok((scheme, authority, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_host_and_path() {
        let (scheme, authority, path) =
            split_url("https://api.x.dev:8443/v1/items?page=2#top").unwrap();
        assert!(matches!(scheme, Scheme::Https));
        assert_eq!(
            (authority, path.as_str()),
            ("api.x.dev:8443", "/v1/items?page=2")
        );
        let (_, authority, path) = split_url("http://x.y?a=1").unwrap();
        assert_eq!((authority, path.as_str()), ("x.y", "/?a=1"));
        let (_, _, path) = split_url("http://x.y").unwrap();
        assert_eq!(path, "/");
        assert!(split_url("ftp://x.y").is_err());
        assert!(split_url("x.y/path").is_err());
        assert!(split_url("http:///path").is_err());
    }
}
