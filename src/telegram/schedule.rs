//! The Telegram room's clock: every `telegram.check_every` it rewrites the alerts in the
//! moderators' chat whose response-target reading changed (nearing, missed), so a waiting
//! alert does not keep saying "on time". Alerts in another room are that room's to update.
//!
//! Escalations and the daily digest are not posted from here: which room announces what,
//! when several run, is decided in one place for all rooms, and that place is not this file.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info_span, warn, Instrument};

use crate::lifecycle::StoredComment;
use crate::sla::ShownReadings;

use super::{room, Telegram, TelegramChannelError};

/// Starts the periodic checks; the task ends when `stop` turns true.
pub(crate) fn spawn(tg: Telegram, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let every = tg
        .config()
        .check_every
        .0
        .to_std()
        .unwrap_or(Duration::from_secs(30));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        // After a stall, one check catches up on everything: no burst of checks.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shown = ShownReadings::default();
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
            if let Err(e) = refresh_targets(&tg, &mut shown)
                .instrument(info_span!("telegram.clock"))
                .await
            {
                warn!(error = %e, "could not refresh the alerts' targets; trying again at the next check");
            }
        }
    })
}

/// Edits the open alerts whose target reading changed since they were last shown.
async fn refresh_targets(
    tg: &Telegram,
    shown: &mut ShownReadings,
) -> Result<(), TelegramChannelError> {
    let open = tg.tracker.open().await?;
    let now = tg.tracker.clock().now();
    let up = |s: &StoredComment| room::alert_message(tg, s).is_some();
    for id in shown.changed(&open, &tg.sla, now, up) {
        if let Err(e) = room::refresh(tg, &id).await {
            warn!(comment = %id, error = %e, "could not update the alert's target");
            shown.forget(&id);
        }
    }
    Ok(())
}
