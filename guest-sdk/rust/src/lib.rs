//! Write a Weir data source in Rust.
//!
//! Implement [`Source`] for a type and export it with [`export_source!`]; build
//! with `cargo build --target wasm32-wasip2 --release` and hand the `.wasm` to
//! Weir. The SDK hides the WIT bindings: it turns cursors into your own serde
//! type, entities into JSON text and errors into the contract's variant.
//!
//! ```no_run
//! use weir_guest::{Entity, Error, Page, Source};
//!
//! struct Teams;
//!
//! impl Source for Teams {
//!     type Context = ();
//!     type Cursor = u32; // the page number
//!
//!     fn provider_name() -> String {
//!         "teams".into()
//!     }
//!     fn open() -> Result<(), Error> {
//!         Ok(())
//!     }
//!     fn next(_: &mut (), page: Option<u32>) -> Result<Page<u32>, Error> {
//!         let page = page.unwrap_or(0);
//!         let team = Entity::builder("Group", format!("team-{page}"))
//!             .spec("type", "team")
//!             .spec("children", serde_json::json!([]))
//!             .managed_by("url:https://teams.example.com")
//!             .build();
//!         Ok(if page < 9 { Page::more(vec![team], page + 1) } else { Page::last(vec![team]) })
//!     }
//! }
//!
//! weir_guest::export_source!(Teams);
//! ```
//!
//! A source may also take pushed events (webhooks): implement [`Push`] too and
//! export both with `export_source!(Teams, push = Teams)`; see [`Push`].

#![warn(missing_docs)]

mod adapter;
pub mod config;
mod entity;
pub mod http;
pub mod log;
mod push;
pub mod secrets;

pub use entity::{ANNOTATION_LOCATION, ANNOTATION_ORIGIN_LOCATION, Entity, EntityBuilder};
pub use push::{Push, PushEvent, PushOutcome};

#[doc(hidden)]
pub use adapter::BurstAdapter;
#[doc(hidden)]
pub use push::handle_push;

/// The WIT bindings the SDK is built on; use the SDK's own items instead.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "source-plugin",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "weir_guest::bindings",
    });
}

/// The bindings of the optional `push` export, alone: a world of its own, so
/// that only a source exported with `push = ...` exports it (the export macro
/// of a world exports all of that world's interfaces). wit-component unions it
/// with `source-plugin` into the contract's `pushing-source-plugin` world.
#[doc(hidden)]
pub mod push_bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        inline: "
            package weir:guest-sdk;

            world push-export {
                export weir:source/push@0.1.1;
            }
        ",
        world: "weir:guest-sdk/push-export",
        with: { "weir:source/types@0.1.1": crate::bindings::weir::source::types },
        pub_export_macro: true,
        export_macro_name: "export_push",
        default_bindings_module: "weir_guest::push_bindings",
    });
}

/// A data source: what Weir calls, burst after burst.
///
/// A burst is `open`, then `next` as often as the host's burst length allows,
/// then `close`. Nothing survives between bursts except the cursor, which
/// the host stores after every page: the next burst may run in another
/// process, so keep everything needed to resume in the cursor.
pub trait Source: 'static {
    /// What one burst needs: a client, a token, a connection.
    type Context: 'static;
    /// Where the next page starts. Serialised to JSON and stored by the host;
    /// keep it small (the host refuses cursors over its `max-cursor-bytes`).
    type Cursor: serde::Serialize + serde::de::DeserializeOwned;

    /// The source's stable, unique name. Cursors and entities are stored under
    /// it: changing it makes Weir treat the plugin as a new source.
    fn provider_name() -> String;

    /// Set-up for one burst.
    fn open() -> Result<Self::Context, Error>;

    /// One page after `cursor` (`None` on the first page of a cycle).
    fn next(
        context: &mut Self::Context,
        cursor: Option<Self::Cursor>,
    ) -> Result<Page<Self::Cursor>, Error>;

    /// Tear-down at the end of a burst. The default drops the context.
    fn close(context: Self::Context) -> Result<(), Error> {
        drop(context);
        Ok(())
    }
}

/// One page of entities, and where the next one starts.
#[derive(Debug)]
pub struct Page<C> {
    /// The page's entities.
    pub entities: Vec<Entity>,
    /// `Some`: more pages follow, starting at this cursor. `None`: the cycle is done.
    pub next: Option<C>,
}

impl<C> Page<C> {
    /// A page with more to come after `cursor`.
    pub fn more(entities: Vec<Entity>, cursor: C) -> Self {
        Page {
            entities,
            next: Some(cursor),
        }
    }

    /// The last page of the cycle.
    pub fn last(entities: Vec<Entity>) -> Self {
        Page {
            entities,
            next: None,
        }
    }
}

/// Why a call failed; the case tells the host what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Retrying later may help: the host backs off and retries from the last cursor.
    Transient(String),
    /// Retrying will not help: the cycle stops until an operator acts.
    Fatal(String),
}

impl Error {
    /// A transient error: retrying later may help.
    pub fn transient(message: impl std::fmt::Display) -> Self {
        Error::Transient(message.to_string())
    }

    /// A fatal error: retrying will not help.
    pub fn fatal(message: impl std::fmt::Display) -> Self {
        Error::Fatal(message.to_string())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Transient(message) => write!(f, "transient: {message}"),
            Error::Fatal(message) => write!(f, "fatal: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// Export a [`Source`] implementation as the component's `weir:source` world.
///
/// Call it once, at the crate root of a `cdylib` crate:
///
/// - `export_source!(MySource)`: a source the host pulls page by page (the
///   `source-plugin` world);
/// - `export_source!(MySource, push = MyPush)`: one that also takes pushed
///   events through `MyPush`'s [`Push`] implementation (the
///   `pushing-source-plugin` world).
#[macro_export]
macro_rules! export_source {
    ($source:ty, push = $push:ty $(,)?) => {
        $crate::export_source!($source);

        struct __WeirPushExport;

        impl $crate::push_bindings::exports::weir::source::push::Guest for __WeirPushExport {
            fn handle(
                event: $crate::push_bindings::exports::weir::source::push::PushEvent,
            ) -> ::std::result::Result<
                $crate::push_bindings::exports::weir::source::push::PushResult,
                $crate::bindings::weir::source::types::SourceError,
            > {
                $crate::handle_push::<$push>(event)
            }
        }

        $crate::push_bindings::export_push!(__WeirPushExport with_types_in $crate::push_bindings);
    };
    ($source:ty) => {
        struct __WeirSourceExport;

        impl $crate::bindings::exports::weir::source::source::Guest for __WeirSourceExport {
            type Burst = $crate::BurstAdapter<$source>;

            fn provider_name() -> ::std::string::String {
                <$source as $crate::Source>::provider_name()
            }
        }

        $crate::bindings::export!(__WeirSourceExport with_types_in $crate::bindings);
    };
}
