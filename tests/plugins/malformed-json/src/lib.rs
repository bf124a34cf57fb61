//! Test plugin `malformed-json`: `next` returns an entity whose JSON text does
//! not parse. The SDK cannot produce one, so this implements the raw bindings.

use weir_guest::bindings::exports::weir::source::source::{Burst, Guest, GuestBurst};
use weir_guest::bindings::weir::source::types::{Entity, Page, SourceError};

/// Cut off in the middle of the object.
const BROKEN_JSON: &str =
    r#"{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"broken""#;

struct MalformedJson;

impl Guest for MalformedJson {
    type Burst = MalformedJson;

    fn provider_name() -> String {
        "malformed-json".into()
    }
}

impl GuestBurst for MalformedJson {
    fn open() -> Result<Burst, SourceError> {
        Ok(Burst::new(MalformedJson))
    }

    fn next(&self, _cursor: Option<String>) -> Result<Page, SourceError> {
        let entity = Entity {
            json: BROKEN_JSON.into(),
            location_key: None,
        };
        Ok(Page {
            entities: vec![entity],
            cursor: None,
            done: true,
        })
    }

    fn close(&self) -> Result<(), SourceError> {
        Ok(())
    }
}

weir_guest::bindings::export!(MalformedJson with_types_in weir_guest::bindings);
