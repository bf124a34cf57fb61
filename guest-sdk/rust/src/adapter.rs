//! Bridges a [`Source`] to the generated WIT bindings: cursor (de)serialisation,
//! the burst resource's life cycle, and error conversion.

use std::cell::RefCell;

use crate::bindings::exports::weir::source::source::{self as wit, GuestBurst};
use crate::bindings::weir::source::types;
use crate::{Error, Source};

/// The `burst` resource for source `S`: holds its context from `open` to `close`.
pub struct BurstAdapter<S: Source> {
    context: RefCell<Option<S::Context>>,
}

impl<S: Source> GuestBurst for BurstAdapter<S> {
    fn open() -> Result<wit::Burst, types::SourceError> {
        let context = S::open().map_err(types::SourceError::from)?;
        Ok(wit::Burst::new(BurstAdapter::<S> {
            context: RefCell::new(Some(context)),
        }))
    }

    fn next(&self, cursor: Option<String>) -> Result<types::Page, types::SourceError> {
        let mut context = self.context.borrow_mut();
        let context = context
            .as_mut()
            .ok_or_else(|| Error::fatal("`next` called on a burst that was already closed"))?;
        let cursor = cursor
            .map(|text| parse_cursor::<S::Cursor>(&text))
            .transpose()?;
        let page = S::next(context, cursor)?;
        let cursor = page
            .next
            .map(|cursor| {
                serde_json::to_string(&cursor)
                    .map_err(|e| Error::fatal(format!("could not serialise the next cursor: {e}")))
            })
            .transpose()?;
        Ok(types::Page {
            done: cursor.is_none(),
            cursor,
            entities: page.entities.into_iter().map(types::Entity::from).collect(),
        })
    }

    fn close(&self) -> Result<(), types::SourceError> {
        match self.context.borrow_mut().take() {
            Some(context) => S::close(context).map_err(types::SourceError::from),
            None => Ok(()),
        }
    }
}

impl<S: Source> Drop for BurstAdapter<S> {
    /// The safety net when the host drops a burst without `close`: tear down
    /// anyway. An error here has no one to report to.
    fn drop(&mut self) {
        if let Some(context) = self.context.get_mut().take() {
            let _ = S::close(context);
        }
    }
}

fn parse_cursor<C: serde::de::DeserializeOwned>(text: &str) -> Result<C, Error> {
    serde_json::from_str(text).map_err(|e| {
        Error::fatal(format!(
            "the stored cursor {text:.200} does not fit this source's cursor type ({e}); \
             reset the source to start a new cycle"
        ))
    })
}

impl From<Error> for types::SourceError {
    fn from(error: Error) -> Self {
        match error {
            Error::Transient(message) => types::SourceError::Transient(message),
            Error::Fatal(message) => types::SourceError::Fatal(message),
        }
    }
}

impl From<crate::Entity> for types::Entity {
    fn from(entity: crate::Entity) -> Self {
        types::Entity {
            json: entity.json,
            location_key: entity.location_key,
        }
    }
}
