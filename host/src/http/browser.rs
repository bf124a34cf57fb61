//! Browsers: a web page must not drive this API, whatever its user can
//! reach. Every request passes [`guard`] before any route:
//!
//! - without an admin token (`weir serve` then listens on loopback only),
//!   the request's `Host` must be a loopback name or address: a page that
//!   reaches the port through a DNS name of its own (DNS rebinding) names
//!   that name in `Host`, and is refused;
//! - a request that changes anything (any method but `GET`, `HEAD` and
//!   `OPTIONS`) from a page of another origin is refused: its `Origin` must
//!   be this host's own, or, with an admin token, one the operator allows
//!   (`[http] allowedOrigins`, which also turns on CORS for those origins
//!   and no others);
//! - a request that changes anything must carry its route's content type
//!   (none or `application/json` for the actions; for pushes, what webhook
//!   senders use), so a cross-site HTML form cannot post to it.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::Shared;
use super::error::ApiError;

/// The content types a push may carry: what webhook senders use.
pub(super) const PUSH_CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
];

/// The route of pushed events, as the router names it.
const PUSH_ROUTE: &str = "/api/sources/{provider}/events";

/// Refuse what a browser page must not do (a host or an origin), before
/// any route; pass the rest on.
pub(super) async fn guard(State(api): State<Shared>, request: Request, next: Next) -> Response {
    match check(&api, &request) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// Refuse a request that changes something and carries another content
/// type than its route takes (run once the route is known).
pub(super) async fn content_type(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let route = request.extensions().get::<MatchedPath>();
    match check_content_type(request.headers(), route) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

fn check(api: &Shared, request: &Request) -> Result<(), ApiError> {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let token_set = api.settings.admin_token.is_some();
    if !token_set && !host.is_empty() && !is_loopback_host(host) {
        return Err(ApiError::forbidden(format!(
            "this server has no admin token and answers only requests to a loopback address; \
             `Host: {host}` is not one (a web page reaching it through a name of its own?)"
        ))
        .with_code("host_not_allowed"));
    }
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return Ok(());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let same = same_origin(origin, host);
        let allowed = token_set && api.settings.allowed_origins.iter().any(|o| o == origin);
        if !same && !allowed {
            return Err(ApiError::forbidden(format!(
                "a request that changes something may not come from a page of another origin \
                 ({origin}); an operator may allow an origin with [http] allowedOrigins"
            ))
            .with_code("cross_origin_refused"));
        }
    }
    Ok(())
}

/// The route's content type, or none: a form of another site cannot send
/// JSON without a preflight the API does not grant.
fn check_content_type(headers: &HeaderMap, route: Option<&MatchedPath>) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let is_push = route.is_some_and(|route| route.as_str() == PUSH_ROUTE);
    let allowed: &[&str] = if is_push {
        PUSH_CONTENT_TYPES
    } else {
        &["application/json"]
    };
    if allowed.contains(&essence.as_str()) {
        return Ok(());
    }
    Err(ApiError::new(
        axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaTypeError",
        format!(
            "content type {essence:?} is not taken here; this route takes {}",
            allowed.join(", ")
        ),
    )
    .with_code("unsupported_content_type"))
}

/// Whether `host` (a `Host` header: a name or address, maybe a port) names
/// this machine's loopback: `localhost`, a `.localhost` name, `127.0.0.0/8`
/// or `[::1]`.
pub(super) fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|address| address.is_loopback())
}

/// Whether `origin` (`scheme://host[:port]`) is the origin of a page served
/// by this very host (`Host: host[:port]`).
fn same_origin(origin: &str, host: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    let Some(origin_host) = url.host_str() else {
        return false;
    };
    let origin_authority = match url.port() {
        Some(port) => format!("{origin_host}:{port}"),
        None => origin_host.to_owned(),
    };
    !host.is_empty() && origin_authority.eq_ignore_ascii_case(host)
}

/// An origin as the operator writes it in `allowedOrigins`, checked and
/// normalised: `scheme://host[:port]`, nothing after it.
pub fn origin(text: &str) -> Result<String, String> {
    let url =
        url::Url::parse(text).map_err(|error| format!("{text:?} is not an origin: {error}"))?;
    let scheme = url.scheme();
    if !matches!(scheme, "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{text:?} is not an origin: expected http:// or https:// and a host, such as \
             \"https://backstage.example.com\""
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{text:?} is not an origin: an origin has no path, query or fragment"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

/// CORS for the origins the operator allows, or none.
pub(super) fn cors(allowed_origins: &[String]) -> Option<CorsLayer> {
    if allowed_origins.is_empty() {
        return None;
    }
    let origins = allowed_origins
        .iter()
        .filter_map(|origin| origin.parse().ok())
        .collect::<Vec<_>>();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(std::time::Duration::from_secs(60 * 60)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_names_and_addresses_of_this_machine() {
        for host in [
            "localhost",
            "localhost:7007",
            "LOCALHOST.",
            "weir.localhost:8080",
            "127.0.0.1",
            "127.0.0.1:7007",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:7007",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "attacker.example",
            "attacker.example:7007",
            "localhost.attacker.example",
            "10.0.0.1:7007",
            "[::2]:7007",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn a_page_is_same_origin_only_with_this_host_and_port() {
        assert!(same_origin("http://127.0.0.1:7007", "127.0.0.1:7007"));
        assert!(same_origin("http://localhost:7007", "LOCALHOST:7007"));
        assert!(!same_origin("http://127.0.0.1:7008", "127.0.0.1:7007"));
        assert!(!same_origin("https://attacker.example", "127.0.0.1:7007"));
        assert!(!same_origin("null", "127.0.0.1:7007"));
    }

    #[test]
    fn origins_are_checked_and_normalised() {
        assert_eq!(
            origin("https://Backstage.Example.com/").unwrap(),
            "https://backstage.example.com"
        );
        assert_eq!(origin("http://x.y:3000").unwrap(), "http://x.y:3000");
        for bad in ["x.y", "ftp://x.y", "https://x.y/path", "https://x.y/?q"] {
            assert!(origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn actions_take_json_or_nothing_and_pushes_what_webhooks_send() {
        let headers = |content_type: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
            headers
        };
        assert!(check_content_type(&HeaderMap::new(), None).is_ok());
        assert!(check_content_type(&headers("application/json; charset=utf-8"), None).is_ok());
        for form in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ] {
            assert!(check_content_type(&headers(form), None).is_err(), "{form}");
        }
    }
}
