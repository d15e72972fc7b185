//! Long polling: `getUpdates` from the offset stored in the database, each update handed to
//! `ingest` or `room`, then the new offset (last update id + 1) stored. A crash mid-batch means
//! the batch comes again, and the tracker ignores comments it already has; a restart neither
//! loses nor repeats what was handled.
//!
//! Flood control (429) is waited out as Telegram asks, network trouble and 5xx are retried
//! with a growing pause, and a rejected token or a second process polling the same bot stop
//! the channel with a message saying so.

use std::time::Duration;

use sqlx::Row;
use tokio::sync::watch;
use tracing::{debug, info_span, warn, Instrument};

use super::api::TelegramError;
use super::types::{Update, UpdateId, UpdateKind};
use super::{ingest, room, Telegram, TelegramChannelError};

/// Longest pause between attempts while Telegram cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The next update to ask for, as stored by the last run.
pub async fn stored_offset(tg: &Telegram) -> Result<Option<UpdateId>, TelegramChannelError> {
    let row = sqlx::query("SELECT next_update FROM telegram_offset WHERE id = 1")
        .fetch_optional(tg.tracker.store().writer())
        .await?;
    Ok(match row {
        Some(row) => Some(UpdateId(row.try_get("next_update")?)),
        None => None,
    })
}

/// Stores the next update to ask for. Written as it is, never as a maximum: Telegram may
/// restart its ids lower after a quiet week, and a maximum would then skip every update.
async fn store_offset(tg: &Telegram, next: UpdateId) -> Result<(), TelegramChannelError> {
    sqlx::query(
        "INSERT INTO telegram_offset (id, next_update, updated_at) VALUES (1, ?, ?)
         ON CONFLICT (id) DO UPDATE SET next_update = excluded.next_update,
            updated_at = excluded.updated_at",
    )
    .bind(next.0)
    .bind(tg.tracker.clock().now())
    .execute(tg.tracker.store().writer())
    .await?;
    Ok(())
}

/// Polls until `stop` turns true or Telegram refuses the bot for good.
pub async fn run(
    tg: Telegram,
    mut stop: watch::Receiver<bool>,
) -> Result<(), TelegramChannelError> {
    let timeout = tg
        .config()
        .poll_timeout
        .0
        .to_std()
        .unwrap_or(Duration::from_secs(30));
    let mut offset = stored_offset(&tg).await?;
    let mut backoff = Duration::from_secs(1);
    // `/readyz`: connected while getUpdates answers.
    let connected = |up| {
        tg.tracker
            .metrics()
            .channel_connected(crate::metrics::Channel::Telegram, up)
    };
    connected(false);
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let polled = tokio::select! {
            polled = tg.api.get_updates(offset, timeout) => polled,
            _ = stop.changed() => return Ok(()),
        };
        connected(matches!(polled, Ok(_) | Err(TelegramError::RetryAfter(_))));
        let pause = match polled {
            Ok(batch) => {
                let handled = handle_batch(&tg, &batch).await;
                let stored = match handled.next {
                    Some(next) => store_offset(&tg, next).await.map(|()| offset = Some(next)),
                    None => Ok(()),
                };
                match (handled.stalled, stored) {
                    (false, Ok(())) => {
                        backoff = Duration::from_secs(1);
                        continue;
                    }
                    (_, Err(e)) => {
                        warn!(error = %e, "could not store the update offset; the batch will come again")
                    }
                    (true, Ok(())) => {
                        warn!(retry_in = ?backoff, "the database failed; the update will be handled again")
                    }
                }
                let pause = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                pause
            }
            Err(TelegramError::RetryAfter(wait)) => {
                warn!(?wait, "Telegram asks the bot to slow down; waiting");
                wait
            }
            Err(e) if e.is_retryable() => {
                warn!(error = %e, retry_in = ?backoff, "could not get updates");
                let pause = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                pause
            }
            Err(e) => return Err(e.into()),
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// How far a batch got.
struct Handled {
    /// The offset that confirms what was handled.
    next: Option<UpdateId>,
    /// The database failed: the rest of the batch waits for it.
    stalled: bool,
}

/// Handles one batch in order. An update that cannot be read, or that Telegram fails on, is
/// logged and passed over: one bad update must not stop every later one from arriving. When
/// the database fails the batch stops there, so that update is asked for again.
async fn handle_batch(tg: &Telegram, batch: &[serde_json::Value]) -> Handled {
    let mut last: Option<UpdateId> = None;
    let confirm = |last: Option<UpdateId>| last.and_then(|id| id.0.checked_add(1)).map(UpdateId);
    for raw in batch {
        let update = match Update::parse(raw) {
            Ok(update) => update,
            Err(e) => {
                warn!(error = %e, "malformed update skipped");
                if let Some(id) = e.id {
                    last = Some(last.map_or(id, |l| l.max(id)));
                }
                continue;
            }
        };
        let span = info_span!("telegram.update", update = %update.id);
        let result = async {
            match &update.kind {
                UpdateKind::Message(msg) => ingest::on_message(tg, msg).await,
                UpdateKind::EditedMessage(msg) => ingest::on_edit(tg, msg).await,
                UpdateKind::CallbackQuery(query) => room::on_callback(tg, query).await,
                UpdateKind::Other => {
                    debug!("an update Ascolto does not use");
                    Ok(())
                }
            }
        }
        .instrument(span.clone())
        .await;
        match result {
            Ok(()) => {}
            Err(e) if e.is_database() => {
                span.in_scope(|| warn!(error = %e, "update not handled: the database failed"));
                return Handled {
                    next: confirm(last),
                    stalled: true,
                };
            }
            Err(e) => span.in_scope(|| warn!(error = %e, "update not fully handled")),
        }
        last = Some(last.map_or(update.id, |l| l.max(update.id)));
    }
    Handled {
        next: confirm(last),
        stalled: false,
    }
}
