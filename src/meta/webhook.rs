//! `GET` and `POST /webhooks/meta`: Meta's subscription check and its deliveries.
//!
//! A delivery is checked before anything else is done with it: the `X-Hub-Signature-256`
//! header must be the HMAC-SHA256 of the raw bytes, keyed by the app secret, compared in
//! constant time. Meta signs the bytes as sent (non-ASCII escaped as `\u00e4`), so parsing and
//! re-serialising would not match; nothing is parsed before the check. A signed delivery is
//! stored in the inbox and answered 200 at once; processing happens afterwards, from the
//! stored row, so Meta's short timeout never waits on triage or on Discord.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::Notify;
use tracing::{debug, error, warn};

use crate::clock::Clock;

use super::inbox::Inbox;

/// Where Meta delivers.
pub const PATH: &str = "/webhooks/meta";

/// The inbox's name for this channel's rows.
pub const CHANNEL: &str = "meta";

/// Why a delivery's signature was refused (logged; the body never is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no X-Hub-Signature-256 header")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not `sha256=` and 64 hex digits")]
    Malformed,
    #[error("the signature does not match the body (wrong app secret, or a forged delivery)")]
    Mismatch,
}

/// Checks `header` (`sha256=<hex>`) against the HMAC-SHA256 of `body` under `secret`, in
/// constant time.
pub fn verify_signature(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    if expected.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The header value Meta would send for `body` (tests, and replaying captured deliveries).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm cannot be reached.
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What the endpoint needs.
pub struct WebhookState {
    pub app_secret: SecretString,
    pub verify_token: SecretString,
    pub inbox: Inbox,
    pub clock: Arc<dyn Clock>,
    /// Wakes the processor once a delivery is stored.
    pub wake: Arc<Notify>,
    /// Counts refused signatures.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The routes of the endpoint, for [`crate::http`].
pub fn routes(state: Arc<WebhookState>) -> Router {
    Router::new()
        .route(PATH, get(subscribe).post(receive))
        .with_state(state)
}

/// Meta's subscription check: echo `hub.challenge` only for our verify token.
async fn subscribe(
    State(state): State<Arc<WebhookState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mode = query.get("hub.mode").map(String::as_str);
    let token = query.get("hub.verify_token").map(String::as_bytes);
    let ours = state.verify_token.expose_secret().as_bytes();
    let token_ok = token.is_some_and(|t| bool::from(t.ct_eq(ours)));
    match (mode, token_ok, query.get("hub.challenge")) {
        (Some("subscribe"), true, Some(challenge)) => {
            tracing::info!("Meta subscription check passed");
            (StatusCode::OK, challenge.clone()).into_response()
        }
        _ => {
            warn!("Meta subscription check refused: wrong verify token or mode");
            StatusCode::FORBIDDEN.into_response()
        }
    }
}

/// A delivery: verified, stored, acknowledged; processed later from the stored row.
async fn receive(
    State(state): State<Arc<WebhookState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if let Err(e) = verify_signature(state.app_secret.expose_secret().as_bytes(), header, &body) {
        warn!(reason = %e, bytes = body.len(), "Meta webhook refused");
        state
            .metrics
            .signature_failed(crate::metrics::Channel::Meta);
        return StatusCode::FORBIDDEN.into_response();
    }
    match state.inbox.store(CHANNEL, &body, state.clock.now()).await {
        Ok(true) => {
            debug!(bytes = body.len(), "Meta delivery stored");
            state.wake.notify_one();
        }
        Ok(false) => debug!("Meta delivered a body it had sent before; already stored"),
        Err(e) => {
            // Not acknowledged: Meta retries, and nothing is lost.
            error!(error = %e, "could not store a Meta delivery; Meta will retry it");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    (StatusCode::OK, "EVENT_RECEIVED").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-app-secret";

    #[test]
    fn a_correct_signature_passes_and_anything_else_fails() {
        let body = br#"{"object":"page","entry":[]}"#;
        let header = sign(SECRET, body);
        assert_eq!(verify_signature(SECRET, Some(&header), body), Ok(()));
        assert_eq!(
            verify_signature(SECRET, None, body),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(b"other", Some(&header), body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(SECRET, Some(&header), b"{\"object\":\"page\"}"),
            Err(SignatureError::Mismatch)
        );
        let sha1 = header.replacen("sha256=", "sha1=", 1);
        assert_eq!(
            verify_signature(SECRET, Some(&sha1), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(SECRET, Some("sha256=abc"), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(SECRET, Some("sha256=zz"), body),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn the_signature_covers_the_bytes_as_sent() {
        // Meta escapes non-ASCII; the same JSON written with the raw letter is another body.
        let escaped = br#"{"message":"Gr\u00fc\u00dfe"}"#;
        let raw = "{\"message\":\"Grüße\"}".as_bytes();
        let header = sign(SECRET, escaped);
        assert_eq!(verify_signature(SECRET, Some(&header), escaped), Ok(()));
        assert_eq!(
            verify_signature(SECRET, Some(&header), raw),
            Err(SignatureError::Mismatch)
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_headers_and_bodies_never_panic(
                header in proptest::option::of(".{0,100}"),
                body in proptest::collection::vec(any::<u8>(), 0..512),
            ) {
                let _ = verify_signature(SECRET, header.as_deref(), &body);
            }

            #[test]
            fn only_the_right_signature_passes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
                let header = sign(SECRET, &body);
                prop_assert!(verify_signature(SECRET, Some(&header), &body).is_ok());
                let mut other = body.clone();
                other.push(b'x');
                prop_assert!(verify_signature(SECRET, Some(&header), &other).is_err());
            }
        }
    }
}
