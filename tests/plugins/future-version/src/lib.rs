//! Test plugin `future-version`: built without the SDK against its own copy
//! of the contract, `weir:source@0.9.0`, which adds an `http` import. `next`
//! calls it, so a host that does not provide it must refuse the component
//! and say which import and contract version are missing.

wit_bindgen::generate!({
    path: "wit",
    world: "source-plugin",
});

use exports::weir::source::source::{Burst, Guest, GuestBurst};
use weir::source::http;
use weir::source::types::{Entity, Page, SourceError};

struct FutureVersion;

impl Guest for FutureVersion {
    type Burst = FutureVersion;

    fn provider_name() -> String {
        "future-version".into()
    }
}

impl GuestBurst for FutureVersion {
    fn open() -> Result<Burst, SourceError> {
        Ok(Burst::new(FutureVersion))
    }

    fn next(&self, _cursor: Option<String>) -> Result<Page, SourceError> {
        let json = http::fetch("https://catalog.example.com/entities/1");
        let entity = Entity {
            json,
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

export!(FutureVersion);
