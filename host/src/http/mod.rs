//! The HTTP API (axum), the last stage of the flow: it reads the store and
//! hands operator actions and pushed events to the [`Supervisor`].
//!
//! - `entities`: `GET /api/entities` (filters, cursor pages, the log offset
//!   to follow the stream from) and `GET /api/entities/by-ref/…`;
//! - `events`: `GET /api/events`, the ordered, compacted change stream with
//!   long polling, and the retention of removal tombstones;
//! - `admin`: Backstage's incremental-ingestion admin routes
//!   (`/api/catalog/incremental/…`), same paths and bodies, with Weir's
//!   extra fields beside them;
//! - `push`: `POST /api/sources/{provider}/events`;
//! - `status_page`: `GET /` and `/ui/…`, the operators' HTML page, which
//!   reads only the routes here; `entity_search`, `contributions`,
//!   `rejections` and `event_log`: the routes it needed that scripts use too;
//! - `ops`: `/healthz`, `/readyz`, and the middleware that counts requests;
//! - `metrics`: `/metrics` (Prometheus text) and the request metrics;
//! - `auth`: tokens and signatures; `error`: errors as JSON; `query`:
//!   query strings; `timestamp`: how times are written.
//!
//! The OpenAPI document (`GET /api/openapi.json`) is built from the
//! handlers' annotations as they are routed, so it lists exactly the routes
//! the router serves.

mod admin;
mod auth;
mod browser;
mod contributions;
mod entities;
mod entity_search;
mod error;
mod event_log;
mod events;
mod metrics;
mod ops;
mod push;
mod query;
mod rejections;
mod request_id;
mod server;
mod status_page;
mod timestamp;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Components, InfoBuilder, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{PushKeys, PushSettings, SIGNATURE_HEADER, Secret, check_exposure, sign};
pub use browser::origin;
pub use error::{ApiError, ErrorBody};
pub use server::{ListenerLimits, serve};

use crate::engine::Supervisor;

/// Who may use the read routes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReadAccess {
    /// Anyone who can reach the API.
    #[default]
    Open,
    /// Requests with the admin or the read token.
    Token,
}

/// The HTTP API's settings (`[http]` in `weir.toml`).
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Needed by mutating routes when set. Without it `weir serve` listens
    /// on loopback only ([`check_exposure`]).
    pub admin_token: Option<Secret>,
    /// Gives read routes only (with [`ReadAccess::Token`]).
    pub read_token: Option<Secret>,
    pub read_access: ReadAccess,
    /// Per source (provider name): how its pushed events authenticate.
    /// Shared with the plugins folder, which keeps it up to date as plugins
    /// and their manifests come, change and go.
    pub push: PushKeys,
    /// How long removal tombstones stay in the change log; `None` keeps
    /// them forever.
    pub tombstone_retention: Option<Duration>,
    /// How often old tombstones are purged.
    pub purge_interval: Duration,
    /// The longest `wait=` a long poll may ask for.
    pub max_wait: Duration,
    /// How often a long poll looks at the log's head in the database, for
    /// commits of other processes (this process's own wake it at once).
    pub event_poll: Duration,
    /// Origins whose browser pages may call the API (CORS), with an admin
    /// token set; none by default.
    pub allowed_origins: Vec<String>,
    /// Connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Long polls waiting at once; one more answers at once with what it has.
    pub max_long_polls: usize,
    /// How long a client may take to send a request's head (also how long
    /// a kept-alive connection may sit idle).
    pub header_timeout: Duration,
    /// How long a request's body may take to arrive.
    pub body_timeout: Duration,
    /// How long one request's work may take (a long poll's wait aside):
    /// past it, the answer is 503 with `Retry-After`.
    pub request_budget: Duration,
    /// How long a shutdown waits for the requests in flight.
    pub shutdown_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            admin_token: None,
            read_token: None,
            read_access: ReadAccess::Open,
            push: PushKeys::default(),
            tombstone_retention: Some(Duration::from_secs(7 * 24 * 60 * 60)),
            purge_interval: Duration::from_secs(60 * 60),
            max_wait: Duration::from_secs(60),
            event_poll: Duration::from_millis(25),
            allowed_origins: Vec::new(),
            max_connections: 1024,
            max_long_polls: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            request_budget: Duration::from_secs(15),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// What every handler shares.
pub(crate) struct Api {
    engine: Arc<Supervisor>,
    settings: HttpSettings,
    tail: events::Tail,
    /// Reads of the event log shared by the requests that ask the same.
    shared_reads: events::SharedReads,
    /// A permit per long poll waiting.
    long_polls: Arc<tokio::sync::Semaphore>,
    metrics: metrics::HttpMetrics,
    /// The OpenAPI document, rendered once.
    openapi: String,
    /// Becomes `true` when the server shuts down: long polls answer at once.
    closing: tokio::sync::watch::Receiver<bool>,
}

type Shared = Arc<Api>;

/// The routes of `weir serve` with default settings (read routes open, no
/// admin token: for loopback only).
pub fn router(engine: Arc<Supervisor>) -> Router {
    router_with(engine, HttpSettings::default())
}

/// The routes of `weir serve`. Within a tokio runtime this also starts the
/// purge of old tombstones (when a retention is set), which stops when the
/// router is dropped.
pub fn router_with(engine: Arc<Supervisor>, settings: HttpSettings) -> Router {
    let (closing, closed) = tokio::sync::watch::channel(false);
    // Never closing: dropping the sender leaves the last value, `false`.
    drop(closing);
    router_closing(engine, settings, closed)
}

/// [`router_with`], whose long polls answer at once (with what they have)
/// when `closing` becomes `true`, so that a graceful shutdown does not wait
/// for them.
pub fn router_closing(
    engine: Arc<Supervisor>,
    settings: HttpSettings,
    closing: tokio::sync::watch::Receiver<bool>,
) -> Router {
    let (routes, openapi) = api_routes().split_for_parts();
    let openapi = as_enforced(openapi, &settings)
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    let cors = browser::cors(&settings.allowed_origins);
    let long_polls = Arc::new(tokio::sync::Semaphore::new(settings.max_long_polls.max(1)));
    let api = Arc::new(Api {
        engine,
        settings,
        tail: events::Tail::default(),
        shared_reads: events::SharedReads::default(),
        long_polls,
        metrics: metrics::HttpMetrics::default(),
        openapi,
        closing,
    });
    events::start_purge(&api);
    let router = routes
        .merge(status_page::routes())
        .route_layer(axum::middleware::from_fn(browser::content_type))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&api),
            ops::track,
        ))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&api),
            browser::guard,
        ));
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(axum::middleware::from_fn(request_id::request_id))
        .with_state(api)
}

/// Do one request's work within the settings' request budget: past it,
/// the answer is 503 with `Retry-After`, and the work is dropped.
async fn within_budget<T>(
    api: &Api,
    work: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let budget = api.settings.request_budget;
    tokio::time::timeout(budget, work)
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::unavailable(
                "over_budget",
                "the request took longer than this server gives one; try again, or ask for less",
                format!("a request ran past its budget of {budget:?}"),
            ))
        })
}

impl HttpSettings {
    /// The bounds of the listener these settings ask for.
    pub fn listener_limits(&self) -> ListenerLimits {
        ListenerLimits {
            max_connections: self.max_connections,
            header_timeout: self.header_timeout,
            shutdown_timeout: self.shutdown_timeout,
        }
    }
}

/// The OpenAPI document of every route, as a server with an admin token
/// serves it.
pub fn openapi() -> OpenApi {
    api_routes().into_openapi()
}

fn api_routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::with_openapi(document())
        .routes(routes!(entities::list_entities))
        .routes(routes!(entities::entity_by_ref))
        .routes(routes!(entity_search::search_entities))
        .routes(routes!(contributions::entity_contributions))
        .routes(routes!(rejections::list_rejections))
        .routes(routes!(event_log::event_log))
        .routes(routes!(events::list_events))
        .routes(routes!(admin::health))
        .routes(routes!(admin::providers))
        .routes(routes!(admin::provider_status, admin::reset_provider))
        .routes(routes!(admin::trigger))
        .routes(routes!(admin::start))
        .routes(routes!(admin::cancel))
        .routes(routes!(admin::marks, admin::clear_marks))
        .routes(routes!(admin::cleanup))
        .routes(routes!(push::push_event))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi_json))
}

fn document() -> OpenApi {
    let mut document = OpenApi::new(
        InfoBuilder::new()
            .title("Weir")
            .version(env!("CARGO_PKG_VERSION"))
            .description(Some(
                "The catalog that Weir keeps: its entities, their ordered change stream, and \
                 the admin routes of its sources (Backstage's incremental-ingestion routes).",
            ))
            .build(),
        utoipa::openapi::Paths::new(),
    );
    let mut components = Components::new();
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    document.components = Some(components);
    document
}

/// The document as a server with `settings` enforces it: without an admin
/// token, the routes that need it are open to anyone who can reach the
/// server (loopback only, see [`check_exposure`]), so their operations
/// carry no security requirement. The read routes, whose token is optional
/// in the document, stay as they are.
fn as_enforced(mut openapi: OpenApi, settings: &HttpSettings) -> OpenApi {
    if settings.admin_token.is_some() {
        return openapi;
    }
    let admin_only = vec![SecurityRequirement::new("bearer", Vec::<String>::new())];
    for item in openapi.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            if operation.security.as_ref() == Some(&admin_only) {
                operation.security = None;
            }
        }
    }
    openapi
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json"))
)]
async fn openapi_json(State(api): State<Shared>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        api.openapi.clone(),
    )
        .into_response()
}

async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route {}: see /api/openapi.json for the routes",
        uri.path()
    ))
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowedError",
        format!("{} does not take {method}", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security(openapi: &OpenApi, path: &str) -> (Option<String>, Option<String>) {
        let item = &openapi.paths.paths[path];
        let text = |operation: &Option<utoipa::openapi::path::Operation>| {
            operation
                .as_ref()
                .and_then(|operation| operation.security.as_ref())
                .map(|security| serde_json::to_string(security).unwrap())
        };
        (text(&item.get), text(&item.post))
    }

    #[test]
    fn without_an_admin_token_the_admin_routes_are_documented_open() {
        let open = as_enforced(openapi(), &HttpSettings::default());
        assert_eq!(
            security(&open, "/api/catalog/incremental/cleanup"),
            (None, None)
        );
        assert_eq!(
            security(
                &open,
                "/api/catalog/incremental/providers/{provider}/trigger"
            ),
            (None, None)
        );
        // The read routes and pushes keep their optional token.
        let optional = Some(r#"[{},{"bearer":[]}]"#.to_owned());
        assert_eq!(security(&open, "/api/entities").0, optional);
        assert_eq!(
            security(&open, "/api/sources/{provider}/events").1,
            optional
        );

        let guarded = as_enforced(
            openapi(),
            &HttpSettings {
                admin_token: Some(Secret::new("admin-token-1234")),
                ..HttpSettings::default()
            },
        );
        assert_eq!(
            security(&guarded, "/api/catalog/incremental/cleanup").1,
            Some(r#"[{"bearer":[]}]"#.to_owned())
        );
        assert_eq!(security(&guarded, "/api/entities").0, optional);
    }
}
