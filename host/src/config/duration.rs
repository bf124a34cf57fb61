//! Durations as `weir.toml` and manifests write them: humantime's text
//! (`"500ms"`, `"3s"`, `"10m"`, `"1d"`) or Backstage's `HumanDuration`
//! table (`{ seconds = 3 }`, `{ minutes = 10 }`, `{ hours = 1, minutes = 30
//! }`), so that a value copied from Backstage's `app-config.yaml` means the
//! same here. A table's units add up as Backstage's `durationToMilliseconds`
//! adds them: a year is 365 days, a month 30.

use std::time::Duration;

use toml::{Table, Value};

/// Backstage's units, in its order, with their length in milliseconds.
const UNITS: [(&str, u64); 8] = [
    ("years", 365 * DAY_MS),
    ("months", 30 * DAY_MS),
    ("weeks", 7 * DAY_MS),
    ("days", DAY_MS),
    ("hours", 60 * 60 * 1000),
    ("minutes", 60 * 1000),
    ("seconds", 1000),
    ("milliseconds", 1),
];
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// The longest duration a table may add up to before it is judged against
/// its key's ceiling (ten thousand years; every ceiling is far below it), so
/// that the sum can never overflow.
const MAX_TOTAL_MS: u64 = 10_000 * 365 * DAY_MS;

/// Why a duration was refused; `unit` is the table key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DurationError {
    pub(super) unit: Option<String>,
    pub(super) message: String,
}

impl DurationError {
    fn whole(message: impl Into<String>) -> Self {
        DurationError {
            unit: None,
            message: message.into(),
        }
    }

    fn at(unit: &str, message: impl Into<String>) -> Self {
        DurationError {
            unit: Some(unit.to_owned()),
            message: message.into(),
        }
    }
}

/// A duration written as text, or `None` when the value is neither text nor
/// a table (the caller names what it found).
pub(super) fn parse(value: &Value) -> Option<Result<Duration, DurationError>> {
    match value {
        Value::String(text) => Some(parse_text(text)),
        Value::Table(table) => Some(parse_table(table)),
        _ => None,
    }
}

fn parse_text(text: &str) -> Result<Duration, DurationError> {
    humantime::parse_duration(text).map_err(|error| {
        DurationError::whole(format!(
            "invalid duration {text:?}: {error} (e.g. \"500ms\", \"3s\", \"10m\", \"1d\", or a \
             table such as {{ minutes = 10 }})"
        ))
    })
}

fn unit_names() -> String {
    UNITS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Backstage's `HumanDuration`: at least one of its units, each a number
/// not below zero; a fraction is allowed where the unit's amount is a whole
/// number of milliseconds (`{ hours = 1.5 }`, not `{ milliseconds = 0.5 }`).
fn parse_table(table: &Table) -> Result<Duration, DurationError> {
    if table.is_empty() {
        return Err(DurationError::whole(format!(
            "an empty table is no duration: give one or more of {}",
            unit_names()
        )));
    }
    let mut total_ms: u64 = 0;
    for (unit, amount) in table {
        let Some(&(_, unit_ms)) = UNITS.iter().find(|(name, _)| name == unit) else {
            return Err(DurationError::at(
                unit,
                format!(
                    "unknown unit `{unit}` of a duration; expected one or more of {}",
                    unit_names()
                ),
            ));
        };
        let ms = unit_milliseconds(unit, amount, unit_ms)?;
        total_ms = total_ms
            .checked_add(ms)
            .filter(|total| *total <= MAX_TOTAL_MS)
            .ok_or_else(|| DurationError::whole("is too long: over 10,000 years"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// One unit's amount in milliseconds.
fn unit_milliseconds(unit: &str, amount: &Value, unit_ms: u64) -> Result<u64, DurationError> {
    let too_long = || DurationError::at(unit, "is too long: over 10,000 years");
    match amount {
        Value::Integer(number) => {
            let number = u64::try_from(*number).map_err(|_| {
                DurationError::at(unit, format!("must not be negative, got {number}"))
            })?;
            number
                .checked_mul(unit_ms)
                .filter(|ms| *ms <= MAX_TOTAL_MS)
                .ok_or_else(too_long)
        }
        Value::Float(number) => {
            if !number.is_finite() {
                return Err(DurationError::at(
                    unit,
                    format!("must be a finite number, got {number}"),
                ));
            }
            if *number < 0.0 {
                return Err(DurationError::at(
                    unit,
                    format!("must not be negative, got {number}"),
                ));
            }
            let ms = number * unit_ms as f64;
            if ms > MAX_TOTAL_MS as f64 {
                return Err(too_long());
            }
            let whole = ms.round();
            // A product such as 0.57 × 1000 lands a hair off its integer.
            if (ms - whole).abs() > 1e-6 {
                return Err(DurationError::at(
                    unit,
                    format!(
                        "{number} {unit} is not a whole number of milliseconds; use a smaller \
                         unit with an integer"
                    ),
                ));
            }
            Ok(whole as u64)
        }
        other => Err(DurationError::at(
            unit,
            format!("expected a number, found {}", super::read::found(other)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Value {
        let parsed: Table = toml::from_str(&format!("d = {text}")).expect("TOML");
        parsed["d"].clone()
    }

    fn ok(text: &str) -> Duration {
        parse(&table(text))
            .expect("a duration's type")
            .unwrap_or_else(|error| panic!("{text}: {error:?}"))
    }

    fn refused(text: &str) -> DurationError {
        match parse(&table(text)).expect("a duration's type") {
            Ok(duration) => panic!("{text} was accepted as {duration:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn text_is_humantimes() {
        assert_eq!(ok("\"3s\""), Duration::from_secs(3));
        assert_eq!(ok("\"1h 30m\""), Duration::from_secs(5400));
        let error = refused("\"3 parsecs\"");
        assert_eq!(error.unit, None);
        assert!(error.message.contains("invalid duration"), "{error:?}");
    }

    #[test]
    fn tables_add_up_backstages_units() {
        assert_eq!(ok("{ seconds = 3 }"), Duration::from_secs(3));
        assert_eq!(ok("{ minutes = 10 }"), Duration::from_secs(600));
        assert_eq!(ok("{ hours = 1, minutes = 30 }"), Duration::from_secs(5400));
        assert_eq!(ok("{ milliseconds = 250 }"), Duration::from_millis(250));
        assert_eq!(
            ok("{ weeks = 1, days = 1 }"),
            Duration::from_secs(8 * 86_400)
        );
        // Backstage's `durationToMilliseconds`: 365-day years, 30-day months.
        assert_eq!(ok("{ years = 1 }"), Duration::from_secs(365 * 86_400));
        assert_eq!(ok("{ months = 2 }"), Duration::from_secs(60 * 86_400));
        assert_eq!(ok("{ seconds = 0 }"), Duration::ZERO);
    }

    #[test]
    fn fractions_are_allowed_where_they_make_whole_milliseconds() {
        assert_eq!(ok("{ hours = 1.5 }"), Duration::from_secs(5400));
        assert_eq!(ok("{ seconds = 0.57 }"), Duration::from_millis(570));
        assert_eq!(ok("{ milliseconds = 2.0 }"), Duration::from_millis(2));
        let error = refused("{ milliseconds = 0.5 }");
        assert_eq!(error.unit.as_deref(), Some("milliseconds"));
        assert!(
            error.message.contains("not a whole number of milliseconds"),
            "{error:?}"
        );
        assert!(refused("{ seconds = 0.0001 }").message.contains("whole"));
        assert!(refused("{ seconds = nan }").message.contains("finite"));
        assert!(refused("{ seconds = inf }").message.contains("finite"));
    }

    #[test]
    fn bad_tables_say_what_is_wrong() {
        let unknown = refused("{ secs = 3 }");
        assert_eq!(unknown.unit.as_deref(), Some("secs"));
        assert!(
            unknown.message.contains("unknown unit `secs`")
                && unknown
                    .message
                    .contains("years, months, weeks, days, hours, minutes, seconds, milliseconds"),
            "{unknown:?}"
        );
        let negative = refused("{ minutes = -1 }");
        assert_eq!(negative.unit.as_deref(), Some("minutes"));
        assert_eq!(negative.message, "must not be negative, got -1");
        assert!(refused("{ minutes = -0.5 }").message.contains("negative"));
        let text = refused("{ seconds = \"3\" }");
        assert_eq!(text.message, "expected a number, found the string \"3\"");
        assert!(refused("{}").message.contains("empty table"));
        assert!(refused("{ seconds = true }").message.contains("found true"));
    }

    #[test]
    fn huge_tables_are_refused_without_overflowing() {
        for huge in [
            "{ years = 9223372036854775807 }",
            "{ years = 1e300 }",
            "{ years = 9999, months = 9000 }",
            "{ milliseconds = 9223372036854775807 }",
        ] {
            assert!(refused(huge).message.contains("too long"), "{huge}");
        }
    }

    #[test]
    fn other_types_are_left_to_the_caller() {
        assert!(parse(&Value::Integer(3)).is_none());
        assert!(parse(&Value::Boolean(true)).is_none());
    }
}
