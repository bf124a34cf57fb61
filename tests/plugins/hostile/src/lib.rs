//! Test plugin `hostile`: one page that tries the doors of the trust
//! boundary its config names, and reports what happened in its entities.
//!
//! - `provider-name`: the name it claims (default `hostile`): another
//!   source's name, to take over its cursor, marks and entities;
//! - `echo-secrets`: secret names, comma-separated: each value it can read
//!   goes into an annotation `hostile/secret-NAME` and a log line (`(none)`
//!   when it reads none);
//! - `log-bytes`: logs one message of that many bytes, with a forged host
//!   log line and an escape sequence embedded;
//! - `entity-bytes`: adds an entity `hostile-big` padded to that many bytes;
//! - `requests` and `url`: sends that many requests to `url` at once, and
//!   reports in `hostile-requests`'s description how many got a response
//!   and how many were refused, and why;
//! - `read-url`: reads the body of `read-url` and reports its length or
//!   the error in `hostile-read`'s description;
//! - `pages`: the pages of a cycle (default 1), each with an entity
//!   `hostile-page-N`; the doors above are tried on the first.

use std::collections::BTreeMap;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, OutgoingRequest, Scheme};
use weir_guest::http::Request;
use weir_guest::{Entity, Error, Page, Source, config, log, secrets};

struct Hostile;

impl Source for Hostile {
    type Context = ();
    /// The page to read.
    type Cursor = usize;

    fn provider_name() -> String {
        config::get("provider-name").unwrap_or_else(|| "hostile".into())
    }

    fn open() -> Result<(), Error> {
        Ok(())
    }

    fn next(_: &mut (), page: Option<usize>) -> Result<Page<usize>, Error> {
        let page = page.unwrap_or(0);
        let pages = number("pages")?.unwrap_or(1);
        let mut entities = if page == 0 { doors()? } else { Vec::new() };
        if pages > 1 {
            entities.push(component(&format!("hostile-page-{page}")).build());
        }
        Ok(if page + 1 < pages {
            Page::more(entities, page + 1)
        } else {
            Page::last(entities)
        })
    }
}

weir_guest::export_source!(Hostile);

/// The first page: an entity per door the config names.
fn doors() -> Result<Vec<Entity>, Error> {
    let mut entities = vec![secrets_entity()];
    if let Some(bytes) = number("log-bytes")? {
        log::info(&forged_log_line(bytes));
    }
    if let Some(bytes) = number("entity-bytes")? {
        entities.push(padded("hostile-big", bytes));
    }
    if let Some(requests) = number("requests")? {
        let url = config::require("url")?;
        entities.push(report("hostile-requests", &flood(&url, requests)));
    }
    if let Some(url) = config::get("read-url") {
        let outcome = match Request::get(&url).send() {
            Ok(response) => format!("read {} bytes", response.body.len()),
            Err(error) => format!("refused: {error}"),
        };
        entities.push(report("hostile-read", &outcome));
    }
    Ok(entities)
}

/// An entity whose annotations carry every secret named in `echo-secrets`.
fn secrets_entity() -> Entity {
    let mut builder = component("hostile-secrets");
    for name in config::get("echo-secrets")
        .unwrap_or_default()
        .split(',')
        .filter(|name| !name.is_empty())
    {
        let value = secrets::get(name).unwrap_or_else(|| "(none)".into());
        log::info(&format!("hostile: secret {name} = {value}"));
        builder = builder.annotation(format!("hostile/secret-{name}"), value);
    }
    builder.build()
}

/// A message of `bytes` bytes that starts with a line forged to look like
/// the host's own, and an escape sequence that would colour a terminal.
fn forged_log_line(bytes: usize) -> String {
    let mut message =
        String::from("hostile\n2026-01-01T00:00:00Z  INFO weir: admin token accepted\u{1b}[31m");
    message.extend(std::iter::repeat_n(
        'x',
        bytes.saturating_sub(message.len()),
    ));
    message
}

/// Send `count` GET requests to `url` at once, then wait for each.
fn flood(url: &str, count: usize) -> String {
    let Some((scheme, authority, path)) = split(url) else {
        return format!("bad url {url:?}");
    };
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut pending = Vec::new();
    for _ in 0..count {
        let request = OutgoingRequest::new(Fields::new());
        let _ = request.set_scheme(Some(&scheme));
        let _ = request.set_authority(Some(authority));
        let _ = request.set_path_with_query(Some(path));
        match outgoing_handler::handle(request, None) {
            Ok(future) => pending.push(future),
            Err(error) => *outcomes.entry(describe(&error)).or_default() += 1,
        }
    }
    for future in pending {
        future.subscribe().block();
        let outcome = match future.get() {
            Some(Ok(Ok(response))) => format!("HTTP {}", response.status()),
            Some(Ok(Err(error))) => describe(&error),
            _ => "no answer".to_owned(),
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    outcomes
        .iter()
        .map(|(outcome, count)| format!("{count} × {outcome}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe(error: &ErrorCode) -> String {
    match error {
        ErrorCode::ConnectionLimitReached => "connection-limit-reached".to_owned(),
        ErrorCode::HttpRequestDenied => "denied".to_owned(),
        other => format!("{other:?}"),
    }
}

fn split(url: &str) -> Option<(Scheme, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return None,
    };
    let slash = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(slash);
    Some((scheme, authority, if path.is_empty() { "/" } else { path }))
}

fn number(key: &str) -> Result<Option<usize>, Error> {
    config::get(key)
        .map(|text| {
            text.parse()
                .map_err(|e| Error::fatal(format!("config `{key}`: {text:?}: {e}")))
        })
        .transpose()
}

fn component(name: &str) -> weir_guest::EntityBuilder {
    Entity::builder("Component", name)
        .spec("type", "service")
        .spec("lifecycle", "test")
        .spec("owner", "team-hostile")
        .managed_by("url:https://hostile.invalid/")
}

fn padded(name: &str, bytes: usize) -> Entity {
    component(name).description("x".repeat(bytes)).build()
}

fn report(name: &str, outcome: &str) -> Entity {
    component(name).description(outcome).build()
}
