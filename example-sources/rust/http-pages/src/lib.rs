//! `http-pages`: a Weir source that pages through a JSON HTTP API whose
//! responses carry a list of items and the cursor of the next page, and maps
//! each item to an entity. A template for real integrations: it uses only the
//! SDK's `http` client, which reaches only the hosts the operator granted
//! (`[sources.http-pages.outbound] hosts = [...]`).
//!
//! Config (all but `base-url` optional):
//!
//! | key | default | meaning |
//! | --- | --- | --- |
//! | `base-url` | required | the first page's URL (may carry a query) |
//! | `cursor-param` | `cursor` | the query parameter that carries the next cursor |
//! | `page-size-param`, `page-size` | unset | a page size to ask for, when both are set |
//! | `items-pointer` | `/items` | JSON pointer to the items array in a response |
//! | `next-pointer` | `/next` | JSON pointer to the next cursor (a string or number; missing, `null` or `""`: last page) |
//! | `kind` | `Component` | the entities' kind |
//! | `name-field` | `/name` | JSON pointer, in an item, to the entity's name (required in each item) |
//! | `title-field`, `description-field` | `/title`, `/description` | optional fields |
//! | `owner-field`, `type-field`, `lifecycle-field` | `/owner`, `/type`, `/lifecycle` | `spec.owner`, `spec.type`, `spec.lifecycle` |
//! | `default-owner`, `default-type`, `default-lifecycle` | unset | used when an item lacks the field |
//!
//! A secret `token`, when set, is sent as `Authorization: Bearer TOKEN`.
//!
//! Errors: 429 and 5xx answers, timeouts and dropped connections are
//! transient (the engine backs off and retries from the stored cursor);
//! other 4xx answers, a refused host, a body that is not the JSON expected
//! and bad config are fatal.

mod mapping;

use mapping::Mapping;
use weir_guest::http::Request;
use weir_guest::{Error, Page, Source, config, secrets};

struct HttpPages;

/// What a burst read from config at set-up.
struct Settings {
    base_url: String,
    cursor_param: String,
    page_size: Option<(String, u32)>,
    token: Option<String>,
    mapping: Mapping,
}

impl Source for HttpPages {
    type Context = Settings;
    /// The API's own next cursor, as text.
    type Cursor = String;

    fn provider_name() -> String {
        "http-pages".into()
    }

    fn open() -> Result<Settings, Error> {
        let base_url = config::require("base-url")?;
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(Error::fatal(format!(
                "config `base-url`: cannot use {base_url:?}: expected an http:// or https:// URL"
            )));
        }
        let page_size = match (config::get("page-size-param"), config::get("page-size")) {
            (Some(param), Some(_)) => Some((param, config::get_or("page-size", 100u32)?)),
            _ => None,
        };
        Ok(Settings {
            base_url,
            cursor_param: config::get("cursor-param").unwrap_or_else(|| "cursor".into()),
            page_size,
            token: secrets::get("token"),
            mapping: Mapping::from_config(config::get)?,
        })
    }

    fn next(settings: &mut Settings, cursor: Option<String>) -> Result<Page<String>, Error> {
        let url = settings.url(cursor.as_deref());
        let mut request = Request::get(&url).header("accept", "application/json");
        if let Some(token) = &settings.token {
            request = request.header("authorization", &format!("Bearer {token}"));
        }
        let response = request.send()?;
        check_status(&url, response.status, response.header("retry-after"))?;
        let body: serde_json::Value = serde_json::from_slice(&response.body)
            .map_err(|e| Error::fatal(format!("{url}: the response is not JSON: {e}")))?;
        let (entities, next) = settings
            .mapping
            .page(&body, &format!("url:{}", settings.base_url))
            .map_err(|message| Error::fatal(format!("{url}: {message}")))?;
        Ok(match next {
            Some(next) => Page::more(entities, next),
            None => Page::last(entities),
        })
    }
}

weir_guest::export_source!(HttpPages);

impl Settings {
    /// The URL of the page after `cursor`.
    fn url(&self, cursor: Option<&str>) -> String {
        let mut url = self.base_url.clone();
        let mut add = |name: &str, value: &str| {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&encode(name));
            url.push('=');
            url.push_str(&encode(value));
        };
        if let Some((param, size)) = &self.page_size {
            add(param, &size.to_string());
        }
        if let Some(cursor) = cursor {
            add(&self.cursor_param, cursor);
        }
        url
    }
}

/// 2xx is a page; 429 and 5xx may pass (transient); anything else will not (fatal).
fn check_status(url: &str, status: u16, retry_after: Option<String>) -> Result<(), Error> {
    match status {
        200..=299 => Ok(()),
        429 | 500..=599 => {
            let wait = retry_after
                .map(|after| format!(" (Retry-After: {after})"))
                .unwrap_or_default();
            Err(Error::transient(format!("{url}: HTTP {status}{wait}")))
        }
        _ => Err(Error::fatal(format!("{url}: HTTP {status}"))),
    }
}

/// Percent-encode a query component (RFC 3986 unreserved characters stay).
fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_transient_and_fatal() {
        assert!(check_status("u", 200, None).is_ok());
        for transient in [429, 500, 502, 503] {
            let error = check_status("u", transient, Some("5".into())).unwrap_err();
            assert!(matches!(error, Error::Transient(_)), "{transient}");
        }
        for fatal in [400, 401, 403, 404, 302] {
            assert!(matches!(
                check_status("u", fatal, None).unwrap_err(),
                Error::Fatal(_)
            ));
        }
    }

    #[test]
    fn urls_carry_the_page_size_and_the_cursor() {
        let settings = Settings {
            base_url: "http://x.y/items?org=a".into(),
            cursor_param: "after".into(),
            page_size: Some(("limit".into(), 50)),
            token: None,
            mapping: Mapping::from_config(|_| None).unwrap(),
        };
        assert_eq!(settings.url(None), "http://x.y/items?org=a&limit=50");
        assert_eq!(
            settings.url(Some("a b/=")),
            "http://x.y/items?org=a&limit=50&after=a%20b%2F%3D"
        );
    }
}
