//! The config, read and checked as the README's "Config" says: every key in
//! the table's order, the first bad one the error.

use weir_guest::Error;

/// What `open` (and a push) read from config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) pages: u32,
    pub(crate) per_page: u32,
    pub(crate) fail_open: Option<FailureKind>,
    pub(crate) transient_at: Option<u32>,
    pub(crate) fatal_at: Option<u32>,
    pub(crate) fail_close: Option<FailureKind>,
}

/// The case `fail-open` and `fail-close` ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    Transient,
    Fatal,
}

impl FailureKind {
    pub(crate) fn error(self, message: &str) -> Error {
        match self {
            FailureKind::Transient => Error::transient(message),
            FailureKind::Fatal => Error::fatal(message),
        }
    }
}

/// The highest page number a cycle can have (`pages` is at most 1000).
const LAST_PAGE: u32 = 999;

impl Settings {
    /// The settings from `get` (the config import, or a map in tests).
    pub(crate) fn read(get: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        Ok(Settings {
            pages: number(&get, "pages", 1, 1000)?.unwrap_or(3),
            per_page: number(&get, "per-page", 0, 1000)?.unwrap_or(2),
            fail_open: failure_kind(&get, "fail-open")?,
            transient_at: number(&get, "transient-at", 0, LAST_PAGE)?,
            fatal_at: number(&get, "fatal-at", 0, LAST_PAGE)?,
            fail_close: failure_kind(&get, "fail-close")?,
        })
    }

    /// The page a cursor's JSON text names: an object whose only member is
    /// `page`, an integer within the cycle; else the bad-cursor error.
    pub(crate) fn page_of(&self, text: &str) -> Result<u32, Error> {
        let bad_cursor = || Error::fatal(format!("conformance: bad cursor: {text}"));
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|_| bad_cursor())?;
        if object.len() != 1 {
            return Err(bad_cursor());
        }
        object
            .get("page")
            .and_then(serde_json::Value::as_u64)
            .and_then(|page| u32::try_from(page).ok())
            .filter(|page| *page < self.pages)
            .ok_or_else(bad_cursor)
    }
}

/// Config `key` as a number from `low` to `high`; `None` when unset.
fn number(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    low: u32,
    high: u32,
) -> Result<Option<u32>, Error> {
    let Some(text) = get(key) else {
        return Ok(None);
    };
    let digits = !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    match text.parse::<u32>() {
        Ok(value) if digits && (low..=high).contains(&value) => Ok(Some(value)),
        _ => Err(Error::fatal(format!(
            "conformance: config `{key}`: expected a number from {low} to {high}, got \"{text}\""
        ))),
    }
}

/// Config `key` as `transient` or `fatal`; `None` when unset.
fn failure_kind(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
) -> Result<Option<FailureKind>, Error> {
    match get(key).as_deref() {
        None => Ok(None),
        Some("transient") => Ok(Some(FailureKind::Transient)),
        Some("fatal") => Ok(Some(FailureKind::Fatal)),
        Some(text) => Err(Error::fatal(format!(
            "conformance: config `{key}`: expected transient or fatal, got \"{text}\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, Error> {
        Settings::read(|key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_and_values() {
        let settings = read(&[]).unwrap();
        assert_eq!((settings.pages, settings.per_page), (3, 2));
        let settings = read(&[("pages", "007"), ("fail-close", "transient")]).unwrap();
        assert_eq!(settings.pages, 7);
        assert_eq!(settings.fail_close, Some(FailureKind::Transient));
    }

    #[test]
    fn the_first_bad_key_in_table_order_is_the_error() {
        let error = read(&[("fail-close", "x"), ("per-page", "+1"), ("pages", " 1")]).unwrap_err();
        assert_eq!(
            error,
            Error::fatal(
                "conformance: config `pages`: expected a number from 1 to 1000, got \" 1\""
            )
        );
        for (key, value) in [
            ("per-page", "1001"),
            ("fatal-at", "99999999999999999999"),
            ("transient-at", ""),
        ] {
            let error = read(&[(key, value)]).unwrap_err();
            assert!(
                matches!(&error, Error::Fatal(m) if m.ends_with(&format!("got \"{value}\""))),
                "{error}"
            );
        }
        assert_eq!(
            read(&[("fail-open", "Fatal")]).unwrap_err(),
            Error::fatal(
                "conformance: config `fail-open`: expected transient or fatal, got \"Fatal\""
            )
        );
    }

    #[test]
    fn cursors_are_a_page_object_within_the_cycle() {
        let settings = read(&[]).unwrap();
        assert_eq!(settings.page_of(r#"{"page":2}"#), Ok(2));
        assert_eq!(settings.page_of(r#"{ "page" : 0 }"#), Ok(0));
        for bad in [
            r#"{"page":3}"#,
            r#"{"page":-1}"#,
            r#"{"page":"1"}"#,
            r#"{"page":1.5}"#,
            "[1]",
            "null",
            r#"{"page":1,"x":2}"#,
        ] {
            assert_eq!(
                settings.page_of(bad),
                Err(Error::fatal(format!("conformance: bad cursor: {bad}")))
            );
        }
    }
}
