//! Webhook mode (`[telegram] mode = "webhook"`): Telegram POSTs each update to the bot's HTTP
//! server ([`http`](crate::http)) at `telegram.webhook_path`, instead of the bot polling.
//!
//! Each call must carry `X-Telegram-Bot-Api-Secret-Token` equal to `TELEGRAM_WEBHOOK_SECRET`
//! (compared in constant time; a missing or wrong one gets 403 and is logged without its
//! body). An accepted update is stored in `telegram_updates` under its `update_id` before the
//! 200 — Telegram's retries of it are stored once — and handled right after from the stored
//! row, by the same code polling uses; rows not handled when the bot stopped are handled at
//! the next start. So, as with polling, nothing is lost or handled twice across restarts.
//! Only the holder of the lease (see `poll`) handles stored rows when several processes run.

use crate::store::db_time;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;
use subtle::ConstantTimeEq;
use tokio::sync::{watch, Notify};
use tracing::{debug, info, warn};

use crate::tracker::Tracker;

use super::poll::{handle_batch, lease_for, lease_holder, release_lease, wait_for_lease};
use super::{Telegram, TelegramChannelError};

/// The header Telegram sends the webhook's secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// How long handled rows are kept (Telegram's retries come within minutes; its ids restart
/// lower only after a week without updates).
const KEEP_HANDLED: chrono::Duration = chrono::Duration::days(1);

/// How long a batch of stored updates may take before the lease is renewed.
const HANDLING_LEASE: Duration = Duration::from_secs(60);

/// How often the processor looks for rows stored by another process.
const IDLE_POLL: Duration = Duration::from_secs(2);

/// What the endpoint needs.
pub struct WebhookState {
    pub secret: SecretString,
    pub tracker: Arc<Tracker>,
    /// Wakes the processor when an update is stored.
    pub wake: Arc<Notify>,
}

/// The route Telegram calls.
pub fn routes(path: &str, state: Arc<WebhookState>) -> Router {
    Router::new().route(path, post(receive)).with_state(state)
}

/// Whether the header carries our secret, compared in constant time.
pub fn secret_matches(headers: &HeaderMap, secret: &SecretString) -> bool {
    headers
        .get(SECRET_HEADER)
        .is_some_and(|v| bool::from(v.as_bytes().ct_eq(secret.expose_secret().as_bytes())))
}

async fn receive(
    State(state): State<Arc<WebhookState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if !secret_matches(&headers, &state.secret) {
        warn!(
            bytes = body.len(),
            "a Telegram webhook call without the right secret token; refused"
        );
        return StatusCode::FORBIDDEN;
    }
    let update_id = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("update_id").and_then(serde_json::Value::as_i64));
    let Some(update_id) = update_id else {
        // Not an update: nothing to store, and retrying it would not help.
        warn!(
            bytes = body.len(),
            "a Telegram webhook call that is not an update; ignored"
        );
        return StatusCode::BAD_REQUEST;
    };
    let text = String::from_utf8_lossy(&body);
    let stored = sqlx::query(
        "INSERT INTO telegram_updates (update_id, body, received_at) VALUES ($1, $2, $3)
         ON CONFLICT (update_id) DO NOTHING",
    )
    .bind(update_id)
    .bind(text.as_ref())
    .bind(db_time(state.tracker.clock().now()))
    .execute(state.tracker.store().writer())
    .await;
    match stored {
        Ok(done) => {
            if done.rows_affected() == 0 {
                debug!(
                    update_id,
                    "a Telegram update stored already; acknowledged again"
                );
            }
            state.wake.notify_one();
            StatusCode::OK
        }
        // Telegram retries a failed call: the update is not lost.
        Err(e) => {
            warn!(update_id, error = %e, "could not store a Telegram update; Telegram will send it again");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// Handles the stored updates, oldest first, until `stop` turns true: what the last run left
/// at once, then each update as it is stored.
pub async fn process(
    tg: Telegram,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), TelegramChannelError> {
    let holder = lease_holder();
    let mut backoff = Duration::from_secs(1);
    loop {
        if !wait_for_lease(&tg, &holder, lease_for(HANDLING_LEASE), &mut stop).await {
            break;
        }
        let pause = match handle_stored(&tg).await {
            Ok(Batch::More) => {
                backoff = Duration::from_secs(1);
                continue;
            }
            Ok(Batch::Done) => {
                backoff = Duration::from_secs(1);
                IDLE_POLL
            }
            Ok(Batch::Stalled) => {
                warn!(retry_in = ?backoff, "a stored Telegram update was not handled: the database failed; it is handled again");
                let pause = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(60));
                pause
            }
            Err(e) => {
                warn!(error = %e, retry_in = ?backoff, "stored Telegram updates not handled: the database failed");
                let pause = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(60));
                pause
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = wake.notified() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            break;
        }
    }
    release_lease(&tg, &holder).await;
    Ok(())
}

/// How far one round of stored updates got.
enum Batch {
    /// A full batch was handled: there may be more.
    More,
    /// Everything stored is handled.
    Done,
    /// The database failed on an update: it stays stored, to be handled again.
    Stalled,
}

/// Handles up to 100 stored updates, oldest first.
async fn handle_stored(tg: &Telegram) -> Result<Batch, TelegramChannelError> {
    let store = tg.tracker.store();
    let rows = sqlx::query(
        "SELECT update_id, body FROM telegram_updates WHERE handled_at IS NULL
         ORDER BY update_id LIMIT 100",
    )
    .fetch_all(store.writer())
    .await?;
    let full = rows.len() == 100;
    for row in &rows {
        let id: i64 = row.try_get("update_id")?;
        let body: String = row.try_get("body")?;
        let raw: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|_| {
            // Stored only if it parsed with an update_id; kept as unreadable if not.
            serde_json::json!({"update_id": id})
        });
        let handled = handle_batch(tg, std::slice::from_ref(&raw)).await;
        if handled.stalled {
            return Ok(Batch::Stalled);
        }
        sqlx::query("UPDATE telegram_updates SET handled_at = $1 WHERE update_id = $2")
            .bind(db_time(tg.tracker.clock().now()))
            .bind(id)
            .execute(store.writer())
            .await?;
    }
    if !rows.is_empty() {
        info!(handled = rows.len(), "stored Telegram updates handled");
        let pruned = sqlx::query(
            "DELETE FROM telegram_updates WHERE handled_at IS NOT NULL AND handled_at < $1",
        )
        .bind(db_time(tg.tracker.clock().now() - KEEP_HANDLED))
        .execute(store.writer())
        .await?
        .rows_affected();
        if pruned > 0 {
            debug!(
                pruned,
                "handled Telegram updates older than a day forgotten"
            );
        }
    }
    Ok(if full { Batch::More } else { Batch::Done })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_the_exact_secret_is_accepted() {
        let secret = SecretString::from("s3cret-Token_1".to_owned());
        let mut headers = HeaderMap::new();
        assert!(!secret_matches(&headers, &secret));
        headers.insert(SECRET_HEADER, HeaderValue::from_static("s3cret-Token_"));
        assert!(!secret_matches(&headers, &secret));
        headers.insert(SECRET_HEADER, HeaderValue::from_static("s3cret-Token_1x"));
        assert!(!secret_matches(&headers, &secret));
        headers.insert(SECRET_HEADER, HeaderValue::from_static("s3cret-Token_1"));
        assert!(secret_matches(&headers, &secret));
    }
}
