//! The status page: `GET /` and `/ui/…`, an HTML page for operators over
//! the public API (sources, entities and their provenance, rejections, the
//! event log), served from files embedded in the binary (`status_page/`:
//! plain HTML, CSS and JavaScript, no build step, nothing from elsewhere).
//!
//! The files hold no data: every figure on the page is read by its script
//! through the same JSON routes a script uses, with the token the operator
//! types (kept in the tab's `sessionStorage`, sent as `Authorization:
//! Bearer`), so `readAccess` and the admin token rule the page as they rule
//! those routes. Each answer carries a strict Content-Security-Policy (the
//! page's own script and style only, no inline code, no other origin) and an
//! `ETag`, so a browser revalidates with one cheap request.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::Shared;
use super::error::ApiError;

/// What the page may load and do: its own files and the API, nothing else.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'none'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    /// Its name under `/ui/assets/` (the page itself has none).
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const PAGE: Asset = Asset {
    name: "",
    content_type: "text/html; charset=utf-8",
    body: include_str!("status_page/index.html"),
};

const ASSETS: &[Asset] = &[
    Asset {
        name: "status.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("status_page/status.css"),
    },
    Asset {
        name: "status.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("status_page/status.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_str!("status_page/icon.svg"),
    },
];

/// The page's routes (not part of the API's OpenAPI document).
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(page))
        .route("/ui", get(page))
        .route("/ui/", get(page))
        .route("/ui/{*path}", get(view_or_asset))
}

async fn page(headers: HeaderMap) -> Response {
    serve(&PAGE, &headers)
}

/// `/ui/assets/NAME` is a file; any other path under `/ui/` is a view of
/// the page (`/ui/sources`, `/ui/entities`, …), which its script shows.
async fn view_or_asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match path.strip_prefix("assets/") {
        Some(name) => match ASSETS.iter().find(|asset| asset.name == name) {
            Some(asset) => serve(asset, &headers),
            None => ApiError::not_found(format!(
                "no file /ui/assets/{name}: the status page has {}",
                ASSETS
                    .iter()
                    .map(|asset| asset.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into_response(),
        },
        None => serve(&PAGE, &headers),
    }
}

/// The asset, or 304 when the browser's copy is current.
fn serve(asset: &Asset, headers: &HeaderMap) -> Response {
    let etag = etag_of(asset);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let status = if fresh {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let mut response = if fresh {
        status.into_response()
    } else {
        (status, asset.body).into_response()
    };
    let headers = response.headers_mut();
    let fixed = [
        (header::CONTENT_TYPE, asset.content_type),
        (header::CACHE_CONTROL, "no-cache"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

/// A strong ETag of the asset's bytes (which only change with the binary).
fn etag_of(asset: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        std::iter::once(&PAGE)
            .chain(ASSETS)
            .map(|asset| {
                let digest = Sha256::digest(asset.body.as_bytes());
                let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    });
    let index = if asset.name.is_empty() {
        0
    } else {
        1 + ASSETS
            .iter()
            .position(|a| a.name == asset.name)
            .unwrap_or_default()
    };
    tags.get(index).map_or("\"\"", String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_its_own_tag() {
        let mut tags: Vec<&str> = std::iter::once(&PAGE).chain(ASSETS).map(etag_of).collect();
        assert!(tags.iter().all(|tag| tag.len() == 34), "{tags:?}");
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len() + 1);
    }

    #[test]
    fn the_page_loads_no_inline_code_and_nothing_from_elsewhere() {
        let page = PAGE.body;
        assert!(!page.contains("<script>"), "inline script");
        assert!(!page.contains("<style"), "inline style");
        assert!(!page.contains(" style="), "inline style attribute");
        let handler = page.split(" on").skip(1).any(|rest| {
            let name: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert!(!handler, "inline event handler");
        for asset in std::iter::once(&PAGE).chain(ASSETS) {
            // An SVG names its XML namespace with a URL it never loads.
            let body = asset.body.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !body.contains("http://") && !body.contains("https://"),
                "{} refers to another origin",
                asset.name
            );
        }
    }
}
