//! The bot's clock: every `discord.check_every` it refreshes the alerts whose response target
//! changed reading (nearing, missed), then makes what every platform's clock checks
//! ([`crate::announce::tick`]): the alerts of questions still open at the end of their grace,
//! the escalations that are due, and the daily digest once it is due — including a digest
//! missed while the bot was down, on the first check after start.
//!
//! What to post is decided in the database and queued in the outbox for every moderators'
//! room (see [`crate::announce`], shared with Telegram's clock), whose workers post
//! it with retries, so a restart, a second process or the other platform's clock never
//! repeats a message and a failed post is retried rather than waiting for a restart. Time
//! comes from the tracker's clock, so tests move it by hand.

use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{info_span, warn, Instrument};

use crate::announce::{self, TargetReadings};

use super::types::Data;

/// Starts the periodic checks; the task ends when the bot begins shutting down.
pub(crate) fn spawn(data: Data) -> JoinHandle<()> {
    let every = data
        .settings
        .discord
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
            ticks.tick().await;
            let Some(_work) = data.begin_work().await else {
                break;
            };
            check(&data, &mut shown)
                .instrument(info_span!("clock"))
                .await;
        }
    })
}

/// One round of checks: the alerts' target readings, then what every clock checks.
async fn check(data: &Data, shown: &mut TargetReadings) {
    if let Err(e) = shown.refresh(&data.tracker, &data.sla).await {
        warn!(error = %e, "could not refresh the alerts' targets; trying again at the next check");
    }
    announce::tick(&data.tracker, &data.sla, &data.escalation, &data.settings).await;
}
