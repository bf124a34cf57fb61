//! The event stream, followed as a consumer does.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::process::get;

/// A consumer's copy of the catalog built from `/api/events` alone.
#[derive(Default)]
pub(super) struct Mirror {
    pub(super) offset: i64,
    pub(super) entities: BTreeMap<String, Value>,
    pub(super) events: usize,
}

impl Mirror {
    /// Read `/api/events` from this mirror's offset to the log's head,
    /// checking that offsets strictly increase. `Ok(false)` when the process
    /// stopped answering (it was killed): the mirror keeps what it applied.
    pub(super) async fn follow(&mut self, port: u16) -> Result<bool, String> {
        loop {
            let path = format!("/api/events?offset={}&limit=1000", self.offset);
            let Some((status, body)) = get(port, &path).await else {
                return Ok(false);
            };
            if status != 200 {
                return Err(format!("GET {path}: {status} {body}"));
            }
            let Ok(answer) = serde_json::from_str::<Value>(&body) else {
                // Cut off mid-answer by the kill.
                return Ok(false);
            };
            let events = answer["events"].as_array().cloned().unwrap_or_default();
            for event in &events {
                let offset = event["offset"].as_i64().ok_or("an event without offset")?;
                if offset <= self.offset {
                    return Err(format!(
                        "event offset {offset} after {}: offsets must strictly increase \
                         ({event})",
                        self.offset
                    ));
                }
                self.offset = offset;
                self.events += 1;
                let entity_ref = event["entityRef"].as_str().unwrap_or_default().to_owned();
                match event["type"].as_str() {
                    Some("added" | "updated") => {
                        self.entities.insert(entity_ref, event["entity"].clone());
                    }
                    Some("removed") => {
                        self.entities.remove(&entity_ref);
                    }
                    other => return Err(format!("an event of type {other:?}: {event}")),
                }
            }
            let last = answer["lastEventOffset"]
                .as_i64()
                .ok_or_else(|| format!("no lastEventOffset: {answer}"))?;
            if last < self.offset {
                return Err(format!(
                    "lastEventOffset {last} below the last event delivered {}",
                    self.offset
                ));
            }
            self.offset = last;
            if events.is_empty() && answer["headOffset"].as_i64() == Some(last) {
                return Ok(true);
            }
        }
    }
}
