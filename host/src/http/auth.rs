//! Access control. Mutating routes need the admin token (`Authorization:
//! Bearer …`) when one is configured; read routes are open, or need the
//! admin or the read token; a pushed event needs its source's signature
//! (`X-Hub-Signature-256: sha256=…`, an HMAC-SHA256 of the body as GitHub
//! signs webhooks) or its source's token, or the admin token. Every secret
//! is compared in constant time, and none is ever logged or echoed.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::{Api, HttpSettings, ReadAccess};

/// A secret value (a token, a signing key): its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Whether `presented` is this secret, in time independent of where
    /// they differ and of their lengths (both are hashed first).
    pub fn matches(&self, presented: &str) -> bool {
        let expected = Sha256::digest(self.0.as_bytes());
        let presented = Sha256::digest(presented.as_bytes());
        expected.ct_eq(&presented).into()
    }

    fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How a source's pushed events are authenticated and bounded
/// (`[sources.NAME.push]`). With neither a secret nor a token, a push is an
/// admin action (the admin token, if one is configured).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSettings {
    /// The key of the HMAC-SHA256 signature in `X-Hub-Signature-256`.
    pub hmac_secret: Option<Secret>,
    /// A bearer token for this source's pushes.
    pub token: Option<Secret>,
    /// The largest body, in bytes; a longer one is refused while it arrives.
    pub max_body_bytes: usize,
    /// Pushes to this source handled at once (their bodies read, then run
    /// by the plugin); one more is answered 429.
    pub max_concurrent: usize,
    /// The header naming a delivery (lower case): a delivery seen within
    /// `replay_window` is acknowledged and not applied again.
    pub delivery_header: String,
    /// How long a delivery's id is remembered; zero remembers none.
    pub replay_window: Duration,
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            hmac_secret: None,
            token: None,
            max_body_bytes: 1 << 20,
            max_concurrent: 4,
            delivery_header: "x-github-delivery".to_owned(),
            replay_window: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// Each source's [`PushSettings`], by provider name, shared between the
/// plugins folder (which writes it as plugins load) and the push route
/// (which reads it for each request), with the permits of the pushes
/// handled at once.
#[derive(Debug, Clone, Default)]
pub struct PushKeys(Arc<RwLock<BTreeMap<String, PushEntry>>>);

/// A source's push settings and the permits of its pushes in progress.
#[derive(Debug, Clone)]
pub(super) struct PushEntry {
    pub settings: PushSettings,
    pub permits: Arc<tokio::sync::Semaphore>,
}

impl PushKeys {
    /// Set (or with `None`, forget) how `source`'s pushes authenticate and
    /// are bounded. The pushes in progress keep their permits.
    pub fn set(&self, source: &str, settings: Option<PushSettings>) {
        let mut keys = self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match settings {
            Some(settings) => {
                let permits = Arc::new(tokio::sync::Semaphore::new(settings.max_concurrent));
                keys.insert(source.to_owned(), PushEntry { settings, permits })
            }
            None => keys.remove(source),
        };
    }

    /// How `source`'s pushes authenticate, if it says.
    pub fn get(&self, source: &str) -> Option<PushSettings> {
        self.entry(source).map(|entry| entry.settings)
    }

    pub(super) fn entry(&self, source: &str) -> Option<PushEntry> {
        let keys = self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.get(source).cloned()
    }

    /// The entry of `source`, a running source: the default one when it was
    /// given none, kept so that its pushes share one set of permits.
    pub(super) fn entry_or_default(&self, source: &str) -> PushEntry {
        let mut keys = self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.entry(source.to_owned())
            .or_insert_with(|| {
                let settings = PushSettings::default();
                let permits = Arc::new(tokio::sync::Semaphore::new(settings.max_concurrent));
                PushEntry { settings, permits }
            })
            .clone()
    }
}

/// The bearer token of a request, if it carries one.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not ASCII text"))?;
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::unauthorized(
            "the Authorization header must be `Bearer <token>`",
        )),
    }
}

/// Proof that the request may use a mutating route.
pub struct Admin;

/// Proof that the request may use a read route, and whether it is an
/// admin's (who is shown what others are not: file paths, cursors, what a
/// plugin printed).
pub struct Reader {
    pub(super) is_admin: bool,
}

impl FromRequestParts<Arc<Api>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> Result<Self, ApiError> {
        check_admin(&api.settings, &parts.headers).map(|()| Admin)
    }
}

impl FromRequestParts<Arc<Api>> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> Result<Self, ApiError> {
        check_read(&api.settings, &parts.headers)?;
        let is_admin = check_admin(&api.settings, &parts.headers).is_ok();
        Ok(Reader { is_admin })
    }
}

pub(super) fn check_admin(settings: &HttpSettings, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(admin) = &settings.admin_token else {
        // No token: `weir serve` listens on loopback only (see `check_exposure`).
        return Ok(());
    };
    match bearer(headers)? {
        None => Err(ApiError::unauthorized(
            "this route needs the admin token: send `Authorization: Bearer <token>`",
        )),
        Some(token) if admin.matches(token) => Ok(()),
        Some(token)
            if settings
                .read_token
                .as_ref()
                .is_some_and(|r| r.matches(token)) =>
        {
            Err(ApiError::forbidden(
                "the read token does not allow this route; it needs the admin token",
            ))
        }
        Some(_) => Err(ApiError::unauthorized("the bearer token is not valid")),
    }
}

pub(super) fn check_read(settings: &HttpSettings, headers: &HeaderMap) -> Result<(), ApiError> {
    if settings.read_access == ReadAccess::Open {
        return Ok(());
    }
    match bearer(headers)? {
        None => Err(ApiError::unauthorized(
            "reading needs a token (readAccess = \"token\"): send `Authorization: Bearer <token>`",
        )),
        Some(token)
            if [&settings.admin_token, &settings.read_token]
                .into_iter()
                .flatten()
                .any(|secret| secret.matches(token)) =>
        {
            Ok(())
        }
        Some(_) => Err(ApiError::unauthorized("the bearer token is not valid")),
    }
}

/// The signature header GitHub sends with each webhook delivery.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// What a push must still prove once its body has arrived.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum PushProof {
    /// Nothing: its token was valid, or none is needed.
    Done,
    /// The `X-Hub-Signature-256` signature of its body, under this key.
    Signature { key: Secret, signature: Vec<u8> },
}

/// The one answer to a push that may not go on, whether its source is
/// unknown or its credential wrong, so that no one can tell the two apart.
pub(super) fn push_refused(source: &str) -> ApiError {
    ApiError::unauthorized(format!(
        "pushes to source `{source}` need its valid signature or token (or the admin token)"
    ))
    .with_code("push_unauthorized")
}

/// Check what a push to `source` can show before its body is read: a valid
/// token, or a well-formed signature to check against the body once it has
/// arrived. `settings` is `None` for a source this host does not run, which
/// only the admin token may learn (it is then told the source is unknown).
pub(super) fn check_push_head(
    settings: &HttpSettings,
    source: &str,
    push: Option<&PushSettings>,
    headers: &HeaderMap,
) -> Result<PushProof, ApiError> {
    let bearer = bearer(headers).map_err(|_| push_refused(source))?;
    let is_admin = |token: &str| {
        settings
            .admin_token
            .as_ref()
            .is_some_and(|admin| admin.matches(token))
    };
    let Some(push) = push else {
        return match (settings.admin_token.is_some(), bearer) {
            (false, _) => Err(unknown_source(source)),
            (true, Some(token)) if is_admin(token) => Err(unknown_source(source)),
            _ => Err(push_refused(source)),
        };
    };
    if push.hmac_secret.is_none() && push.token.is_none() {
        // A push is then an admin action.
        return match (settings.admin_token.is_some(), bearer) {
            (false, _) => Ok(PushProof::Done),
            (true, Some(token)) if is_admin(token) => Ok(PushProof::Done),
            _ => Err(push_refused(source)),
        };
    }
    if let Some(token) = bearer {
        let valid = push.token.as_ref().is_some_and(|t| t.matches(token)) || is_admin(token);
        return if valid {
            Ok(PushProof::Done)
        } else {
            Err(push_refused(source))
        };
    }
    let (Some(key), Some(signature)) = (&push.hmac_secret, headers.get(SIGNATURE_HEADER)) else {
        return Err(push_refused(source));
    };
    let signature = signature
        .to_str()
        .ok()
        .and_then(|text| text.trim().strip_prefix("sha256="))
        .and_then(|hex_text| hex::decode(hex_text).ok())
        .ok_or_else(|| push_refused(source))?;
    Ok(PushProof::Signature {
        key: key.clone(),
        signature,
    })
}

/// Check the body of a push against what its head left to prove.
pub(super) fn check_push_body(
    source: &str,
    proof: &PushProof,
    body: &[u8],
) -> Result<(), ApiError> {
    match proof {
        PushProof::Done => Ok(()),
        PushProof::Signature { key, signature } if verify_signature(key, body, signature) => Ok(()),
        PushProof::Signature { .. } => Err(push_refused(source)),
    }
}

fn unknown_source(source: &str) -> ApiError {
    ApiError::not_found(format!("no source named `{source}` runs on this host"))
}

/// Whether `signature` is the HMAC-SHA256 of `body` under `key` (compared
/// in constant time).
fn verify_signature(key: &Secret, body: &[u8], signature: &[u8]) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.expose()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(signature).is_ok()
}

/// The `X-Hub-Signature-256` value for `body` under `key` (for clients and tests).
pub fn sign(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Refuse settings that would expose the API: listening beyond loopback
/// without an admin token, or closing read access without any token.
pub fn check_exposure(listen: SocketAddr, settings: &HttpSettings) -> Result<(), String> {
    if settings.read_access == ReadAccess::Token
        && settings.admin_token.is_none()
        && settings.read_token.is_none()
    {
        return Err(
            "readAccess is \"token\" but no token is configured: set WEIR_ADMIN_TOKEN (or a read \
             token)"
                .into(),
        );
    }
    if !settings.allowed_origins.is_empty() && settings.admin_token.is_none() {
        return Err(
            "[http] allowedOrigins is set but no admin token is: pages of other origins may \
             only call a server that has one. Set WEIR_ADMIN_TOKEN (or the `[http]` adminToken), \
             or remove allowedOrigins"
                .into(),
        );
    }
    if !listen.ip().is_loopback() && settings.admin_token.is_none() {
        return Err(format!(
            "refusing to listen on {listen} without an admin token: anyone who can reach it could \
             trigger, cancel or reset sources. Set WEIR_ADMIN_TOKEN (or the `[http]` adminToken), \
             or listen on a loopback address such as 127.0.0.1"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_as_github_sends_them() {
        // GitHub's documented example: secret "It's a Secret to Everybody",
        // payload "Hello, World!".
        let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(
            sign("It's a Secret to Everybody", b"Hello, World!"),
            expected
        );
        let key = Secret::new("It's a Secret to Everybody");
        let digest = hex::decode(&expected["sha256=".len()..]).unwrap();
        assert!(verify_signature(&key, b"Hello, World!", &digest));
        assert!(!verify_signature(&key, b"Hello, World?", &digest));
        assert!(!verify_signature(&key, b"Hello, World!", &digest[..31]));
    }

    #[test]
    fn secrets_compare_whole_and_never_print() {
        let secret = Secret::new("s3cret");
        assert!(secret.matches("s3cret"));
        assert!(!secret.matches("s3cre"));
        assert!(!secret.matches("s3cret "));
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }

    #[test]
    fn listening_beyond_loopback_needs_a_token() {
        let open = HttpSettings::default();
        assert!(check_exposure("127.0.0.1:7007".parse().unwrap(), &open).is_ok());
        assert!(check_exposure("[::1]:7007".parse().unwrap(), &open).is_ok());
        let refused = check_exposure("0.0.0.0:7007".parse().unwrap(), &open).unwrap_err();
        assert!(refused.contains("WEIR_ADMIN_TOKEN"), "{refused}");
        let guarded = HttpSettings {
            admin_token: Some(Secret::new("t")),
            ..HttpSettings::default()
        };
        assert!(check_exposure("0.0.0.0:7007".parse().unwrap(), &guarded).is_ok());
        let closed = HttpSettings {
            read_access: ReadAccess::Token,
            ..HttpSettings::default()
        };
        assert!(check_exposure("127.0.0.1:7007".parse().unwrap(), &closed).is_err());
        let origins = vec!["https://backstage.example.com".to_owned()];
        let cors_without_token = HttpSettings {
            allowed_origins: origins.clone(),
            ..HttpSettings::default()
        };
        let refused =
            check_exposure("127.0.0.1:7007".parse().unwrap(), &cors_without_token).unwrap_err();
        assert!(refused.contains("allowedOrigins"), "{refused}");
        let cors_with_token = HttpSettings {
            allowed_origins: origins,
            ..guarded
        };
        assert!(check_exposure("127.0.0.1:7007".parse().unwrap(), &cors_with_token).is_ok());
    }
}
