//! The Telegram channel's clock: every `telegram.check_every` it queues updates of the alerts
//! whose response-target reading changed (nearing, missed), so a waiting alert does not keep
//! saying "on time", then what every platform's clock checks ([`crate::announce::tick`]): the
//! alerts of questions still open at the end of their grace, the escalations that are due and
//! the daily digest, queued for every room, and never twice even when Discord's clock runs
//! the same checks.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info_span, warn, Instrument};

use crate::lifecycle::StoredComment;
use crate::sla::ShownReadings;

use crate::announce;

use super::{Telegram, TelegramChannelError};

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
            check(&tg, &mut shown)
                .instrument(info_span!("telegram.clock"))
                .await;
        }
    })
}

/// One round of checks: this room's target readings, then what every clock checks.
async fn check(tg: &Telegram, shown: &mut ShownReadings) {
    if let Err(e) = refresh_targets(tg, shown).await {
        warn!(error = %e, "could not refresh the alerts' targets; trying again at the next check");
    }
    announce::tick(&tg.tracker, &tg.sla, &tg.escalation, &tg.settings).await;
}

/// Queues updates of the open alerts whose target reading changed since they were last shown
/// (an update waiting already absorbs another).
async fn refresh_targets(
    tg: &Telegram,
    shown: &mut ShownReadings,
) -> Result<(), TelegramChannelError> {
    let open = tg.tracker.open().await?;
    let now = tg.tracker.clock().now();
    let up = |s: &StoredComment| s.alert.is_some();
    for id in shown.changed(&open, &tg.sla, now, up) {
        if let Err(e) = tg.tracker.queue_alert_update(&id).await {
            warn!(comment = %id, error = %e, "could not queue the alert's target update");
            shown.forget(&id);
        }
    }
    Ok(())
}
