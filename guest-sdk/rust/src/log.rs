//! Logging through the host: each line is attributed to this source.

use crate::bindings::weir::source::log::{Level, log};

/// Log `message` at trace level, attributed to this source.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Log `message` at debug level, attributed to this source.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Log `message` at info level, attributed to this source.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Log `message` at warn level, attributed to this source.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Log `message` at error level, attributed to this source.
pub fn error(message: &str) {
    log(Level::Error, message);
}
