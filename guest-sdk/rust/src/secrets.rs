//! The source's secrets (tokens, passwords), kept apart from config so the
//! host never prints them.

use crate::Error;
use crate::bindings::weir::source::secrets;

/// The secret for `key`, or `None` when it is not set.
pub fn get(key: &str) -> Option<String> {
    secrets::get(key)
}

/// The secret for `key`, or a fatal error naming the key when it is not set.
pub fn require(key: &str) -> Result<String, Error> {
    get(key).ok_or_else(|| Error::fatal(format!("secret `{key}` is required but not set")))
}
