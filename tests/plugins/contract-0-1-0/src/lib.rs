//! Test plugin `contract-0-1-0`: a source built without the SDK against a
//! frozen copy of `weir:source@0.1.0` (`wit/source.wit` before `push`), as
//! every plugin built before 0.1.1 was. Hosts must keep loading and running
//! it unchanged, and report that it takes no pushed events. It returns 2
//! pages of 2 Components and uses the `log` and `config` imports (config
//! `greeting` goes into an annotation), so their `@0.1.0` names must bind.

wit_bindgen::generate!({
    path: "wit",
    world: "source-plugin",
});

use exports::weir::source::source::{Burst, Guest, GuestBurst};
use weir::source::config;
use weir::source::log::{self, Level};
use weir::source::types::{Entity, Page, SourceError};

const PAGES: u32 = 2;

struct Contract010;

impl Guest for Contract010 {
    type Burst = Contract010;

    fn provider_name() -> String {
        "contract-0-1-0".into()
    }
}

impl GuestBurst for Contract010 {
    fn open() -> Result<Burst, SourceError> {
        log::log(Level::Info, "contract-0-1-0: burst opened");
        Ok(Burst::new(Contract010))
    }

    fn next(&self, cursor: Option<String>) -> Result<Page, SourceError> {
        let page = match cursor.as_deref() {
            None => 0,
            Some(text) => text
                .parse::<u32>()
                .map_err(|e| SourceError::Fatal(format!("cursor {text:?}: {e}")))?,
        };
        let greeting = config::get("greeting").unwrap_or_else(|| "(unset)".into());
        let entities = (0..2).map(|i| entity(page, i, &greeting)).collect();
        let done = page + 1 >= PAGES;
        Ok(Page {
            entities,
            cursor: (!done).then(|| (page + 1).to_string()),
            done,
        })
    }

    fn close(&self) -> Result<(), SourceError> {
        Ok(())
    }
}

/// The JSON text of one Component, written by hand: this plugin has no SDK.
fn entity(page: u32, i: u32, greeting: &str) -> Entity {
    let greeting = json_escape(greeting);
    let json = format!(
        r#"{{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{{"name":"contract-0-1-0-{page}-{i}","annotations":{{"backstage.io/managed-by-location":"url:https://contract.example.com","backstage.io/managed-by-origin-location":"url:https://contract.example.com","weir.test/greeting":"{greeting}"}}}},"spec":{{"type":"service","owner":"group:default/test","lifecycle":"production"}}}}"#
    );
    Entity {
        json,
        location_key: None,
    }
}

/// `text` as the inside of a JSON string.
fn json_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            c if u32::from(c) < 0x20 => escaped.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => escaped.push(c),
        }
    }
    escaped
}

export!(Contract010);
