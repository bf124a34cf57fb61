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

/// How a source's pushed events are authenticated. With neither set, a
/// push is an admin action (the admin token, if one is configured).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushAuth {
    /// The key of the HMAC-SHA256 signature in `X-Hub-Signature-256`.
    pub hmac_secret: Option<Secret>,
    /// A bearer token for this source's pushes.
    pub token: Option<Secret>,
}

/// Each source's [`PushAuth`], by provider name, shared between the plugins
/// folder (which writes it as plugins load) and the push route (which reads
/// it for each request).
#[derive(Debug, Clone, Default)]
pub struct PushKeys(Arc<RwLock<BTreeMap<String, PushAuth>>>);

impl PushKeys {
    /// Set (or with `None`, forget) how `source`'s pushes authenticate.
    pub fn set(&self, source: &str, auth: Option<PushAuth>) {
        let mut keys = self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match auth {
            Some(auth) => keys.insert(source.to_owned(), auth),
            None => keys.remove(source),
        };
    }

    /// How `source`'s pushes authenticate, if it says.
    pub fn get(&self, source: &str) -> Option<PushAuth> {
        let keys = self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.get(source).cloned()
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

/// Proof that the request may use a read route.
pub struct Reader;

impl FromRequestParts<Arc<Api>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> Result<Self, ApiError> {
        check_admin(&api.settings, &parts.headers).map(|()| Admin)
    }
}

impl FromRequestParts<Arc<Api>> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> Result<Self, ApiError> {
        check_read(&api.settings, &parts.headers).map(|()| Reader)
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

/// Check a pushed event to `source` against its credentials: a valid
/// signature of `body`, or its token, or the admin token.
pub(super) fn check_push(
    settings: &HttpSettings,
    source: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let auth = settings.push.get(source);
    let Some(auth) = auth.filter(|auth| auth.hmac_secret.is_some() || auth.token.is_some()) else {
        return check_admin(settings, headers);
    };
    if let Some(token) = bearer(headers)? {
        let valid = [&auth.token, &settings.admin_token]
            .into_iter()
            .flatten()
            .any(|secret| secret.matches(token));
        return if valid {
            Ok(())
        } else {
            Err(ApiError::unauthorized(format!(
                "the bearer token is not valid for pushes to source `{source}`"
            )))
        };
    }
    let Some(key) = &auth.hmac_secret else {
        return Err(ApiError::unauthorized(format!(
            "pushes to source `{source}` need its token: send `Authorization: Bearer <token>`"
        )));
    };
    let Some(signature) = headers.get(SIGNATURE_HEADER) else {
        return Err(ApiError::unauthorized(format!(
            "pushes to source `{source}` must be signed: send `X-Hub-Signature-256: sha256=<hex \
             HMAC-SHA256 of the body>`"
        )));
    };
    let signature = signature
        .to_str()
        .ok()
        .and_then(|text| text.trim().strip_prefix("sha256="))
        .and_then(|hex_text| hex::decode(hex_text).ok())
        .ok_or_else(|| {
            ApiError::unauthorized("X-Hub-Signature-256 must be `sha256=<hex digest>`")
        })?;
    if verify_signature(key, body, &signature) {
        Ok(())
    } else {
        Err(ApiError::unauthorized(format!(
            "the signature of the event does not match source `{source}`'s secret"
        )))
    }
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
    }
}
