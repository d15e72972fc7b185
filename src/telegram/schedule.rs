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

use crate::announce::{self, TargetReadings};

use super::Telegram;

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
        let mut shown = TargetReadings::default();
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

/// One round of checks: the alerts' target readings, then what every clock checks.
async fn check(tg: &Telegram, shown: &mut TargetReadings) {
    if let Err(e) = shown.refresh(&tg.tracker, &tg.sla).await {
        warn!(error = %e, "could not refresh the alerts' targets; trying again at the next check");
    }
    announce::tick(&tg.tracker, &tg.sla, &tg.escalation, &tg.settings).await;
}
