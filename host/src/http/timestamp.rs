//! How the API writes a time: Unix milliseconds (as the store records every
//! time) as RFC 3339 UTC text.

use chrono::{DateTime, SecondsFormat, Utc};

/// Unix milliseconds as RFC 3339 UTC (`2024-05-01T12:00:00.000Z`).
pub(super) fn timestamp(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}
