//! The source's configuration values, as the operator set them for it.

use std::fmt::Display;
use std::str::FromStr;

use crate::Error;
use crate::bindings::weir::source::config;

/// The value for `key`, or `None` when it is not set.
pub fn get(key: &str) -> Option<String> {
    config::get(key)
}

/// The value for `key` parsed as `T`, or `default` when it is not set. A value
/// that does not parse is a fatal error naming the key and the value.
pub fn get_or<T>(key: &str, default: T) -> Result<T, Error>
where
    T: FromStr,
    T::Err: Display,
{
    match get(key) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse()
            .map_err(|e| Error::fatal(format!("config `{key}`: cannot use {text:?}: {e}"))),
    }
}

/// The value for `key`, or a fatal error naming the key when it is not set.
pub fn require(key: &str) -> Result<String, Error> {
    get(key).ok_or_else(|| Error::fatal(format!("config `{key}` is required but not set")))
}
