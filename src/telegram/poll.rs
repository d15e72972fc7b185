//! Long polling: `getUpdates` from the offset stored in the database, each update handed to
//! `ingest` or `room`, then the new offset (last update id + 1) stored. A crash mid-batch means
//! the batch comes again, and the tracker ignores comments it already has; a restart neither
//! loses nor repeats what was handled.
//!
//! Flood control (429) is waited out as Telegram asks; network trouble, 5xx and a 409 (another
//! `getUpdates` open for the bot: a request of ours Telegram still holds, or a process not
//! sharing this database) are retried with a growing pause and a warning; a rejected token
//! stops the channel with a message saying so.
//!
//! Several processes on one database take turns: only the holder of the lease row
//! (`telegram_lease`, renewed before every poll) reads updates, the others wait and take over
//! once it runs out (a process that died holds it at most [`lease_for`] longer). Webhook mode
//! uses the same lease to handle the updates it stored (`webhook`).

use crate::store::db_time;
use std::time::Duration;

use sqlx::Row;
use tokio::sync::watch;
use tracing::{debug, info, info_span, warn, Instrument};

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
        "INSERT INTO telegram_offset (id, next_update, updated_at) VALUES (1, $1, $2)
         ON CONFLICT (id) DO UPDATE SET next_update = excluded.next_update,
            updated_at = excluded.updated_at",
    )
    .bind(next.0)
    .bind(db_time(tg.tracker.clock().now()))
    .execute(tg.tracker.store().writer())
    .await?;
    Ok(())
}

/// How often a process without the lease looks whether it ran out.
const LEASE_RETRY: Duration = Duration::from_secs(2);

/// This process's name in the lease row: unique per reader started.
pub fn lease_holder() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos}", std::process::id())
}

/// How long a lease taken before a poll of `timeout` lasts: the poll and its grace, and a
/// margin for handling the batch.
pub fn lease_for(timeout: Duration) -> Duration {
    timeout + Duration::from_secs(30)
}

/// Takes or renews the lease for `holder` until `for_` from now: true when it is ours.
pub async fn take_lease(
    tg: &Telegram,
    holder: &str,
    for_: Duration,
) -> Result<bool, TelegramChannelError> {
    let now = crate::outbox::wall_ms();
    let until = now + for_.as_millis() as i64;
    let taken = sqlx::query(
        "INSERT INTO telegram_lease (id, holder, until_ms) VALUES (1, $1, $2)
         ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
         WHERE telegram_lease.holder = $1 OR telegram_lease.until_ms <= $3",
    )
    .bind(holder)
    .bind(until)
    .bind(now)
    .execute(tg.tracker.store().writer())
    .await?
    .rows_affected()
        == 1;
    Ok(taken)
}

/// Gives the lease up (a graceful stop), so another process takes over at once.
pub async fn release_lease(tg: &Telegram, holder: &str) {
    let released = sqlx::query("DELETE FROM telegram_lease WHERE id = 1 AND holder = $1")
        .bind(holder)
        .execute(tg.tracker.store().writer())
        .await;
    if let Err(e) = released {
        warn!(error = %e, "could not give the Telegram lease up; another process takes over once it runs out");
    }
}

/// Waits until this process holds the lease (true), or `stop` turns true (false).
pub async fn wait_for_lease(
    tg: &Telegram,
    holder: &str,
    for_: Duration,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut said = false;
    loop {
        if *stop.borrow() {
            return false;
        }
        match take_lease(tg, holder, for_).await {
            Ok(true) => {
                if said {
                    info!(
                        "the other process stopped reading this bot's updates; this one takes over"
                    );
                }
                return true;
            }
            Ok(false) if !said => {
                info!("another process on this database reads this bot's updates; waiting to take over");
                said = true;
            }
            Ok(false) => {}
            Err(e) => warn!(error = %e, "could not check the Telegram lease; trying again"),
        }
        tokio::select! {
            () = tokio::time::sleep(LEASE_RETRY) => {}
            _ = stop.changed() => return false,
        }
    }
}

/// Polls until `stop` turns true or Telegram refuses the bot for good, holding the lease
/// while it does.
pub async fn run(tg: Telegram, stop: watch::Receiver<bool>) -> Result<(), TelegramChannelError> {
    let holder = lease_holder();
    let result = poll(&tg, &holder, stop).await;
    release_lease(&tg, &holder).await;
    result
}

async fn poll(
    tg: &Telegram,
    holder: &str,
    mut stop: watch::Receiver<bool>,
) -> Result<(), TelegramChannelError> {
    let tg = tg.clone();
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
        if !wait_for_lease(&tg, holder, lease_for(timeout), &mut stop).await {
            return Ok(());
        }
        // Another process may have polled meanwhile: start from where it stopped.
        match stored_offset(&tg).await {
            Ok(Some(stored)) => offset = Some(stored),
            Ok(None) => {}
            Err(e) => {
                warn!(error = %e, "could not read the stored update offset; going on from the last known")
            }
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
            // A process that took the lease over (ours ran out while a batch was handled)
            // polls now: wait for our turn again instead of stopping.
            Err(TelegramError::Conflict(detail))
                if !take_lease(&tg, holder, lease_for(timeout))
                    .await
                    .unwrap_or(true) =>
            {
                info!(%detail, "another process on this database took over reading updates");
                continue;
            }
            // Ours: a long poll of ours that timed out here may still be open at Telegram
            // (which answers the next one 409), or a process not sharing this database polls
            // the same bot. Neither is a reason to stop reading; the warning repeats while
            // it lasts.
            Err(e @ TelegramError::Conflict(_)) => {
                warn!(error = %e, retry_in = ?backoff, "another getUpdates request is open for this bot; trying again");
                let pause = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                pause
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
pub(super) struct Handled {
    /// The offset that confirms what was handled.
    pub next: Option<UpdateId>,
    /// The database failed: the rest of the batch waits for it.
    pub stalled: bool,
}

/// Handles one batch in order. An update that cannot be read, or that Telegram fails on, is
/// logged and passed over: one bad update must not stop every later one from arriving. When
/// the database fails the batch stops there, so that update is asked for again.
pub(super) async fn handle_batch(tg: &Telegram, batch: &[serde_json::Value]) -> Handled {
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
