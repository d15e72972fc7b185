//! The bot's clock: every `discord.check_every` it queues the alerts of questions still open
//! at the end of their grace, refreshes the alerts whose response target changed reading (nearing, missed), posts the escalations that are due, and posts the daily
//! digest once it is due — including a digest missed while the bot was down, on the first
//! check after start.
//!
//! What to post is decided in the database and queued in the outbox, whose worker posts it
//! with retries (escalations are recorded by `escalation::due_escalations`, then queued; a
//! digest day is claimed and queued in one transaction with `Tracker::queue_digest`), so a
//! restart or a second process never repeats a message and a failed post is retried rather
//! than waiting for a restart. Time comes from the tracker's clock, so tests move it by hand.

use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{info, info_span, warn, Instrument};

use crate::digest::{self, DigestWindow};
use crate::escalation;
use crate::outbox::DigestOrder;
use crate::sla::ShownReadings;

use super::alerts;
use super::markdown::DiscordRoom;
use super::types::{Data, DiscordError};

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
        let mut shown = ShownReadings::default();
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

/// One round of checks. Each part logs its own failure and the others still run: a digest
/// that cannot be built must not hold back an escalation.
async fn check(data: &Data, shown: &mut ShownReadings) {
    if let Err(e) = data.tracker.queue_due_alerts().await {
        warn!(error = %e, "could not queue the alerts of questions past their grace; trying again at the next check");
    }
    if let Err(e) = refresh_targets(data, shown).await {
        warn!(error = %e, "could not refresh the alerts' targets; trying again at the next check");
    }
    if let Err(e) = escalate(data).await {
        warn!(error = %e, "could not check for missed targets; trying again at the next check");
    }
    if let Err(e) = scheduled_digest(data).await {
        warn!(error = %e, "could not queue the daily digest; trying again at the next check");
    }
}

/// Queues updates of the open alerts whose target reading changed since they were last shown.
async fn refresh_targets(data: &Data, shown: &mut ShownReadings) -> Result<(), DiscordError> {
    let open = data.tracker.open().await?;
    let now = data.tracker.clock().now();
    for id in shown.changed(&open, &data.sla, now, |s| s.alert.is_some()) {
        if let Err(e) = alerts::refresh(data, &id).await {
            warn!(comment = %id, error = %e, "could not queue the alert's target update");
            shown.forget(&id);
        }
    }
    Ok(())
}

/// Queues one message per comment that has just missed its target.
async fn escalate(data: &Data) -> Result<(), DiscordError> {
    let due = escalation::due_escalations(&data.tracker, &data.sla, &data.escalation).await?;
    for escalation in due {
        let id = escalation.comment_id.clone();
        let text = escalation.to_markdown(&DiscordRoom);
        match data
            .tracker
            .queue_escalation(&id, text, escalation.ping)
            .await
        {
            Ok(()) => info!(comment = %id, pinged = escalation.ping.is_some(), "escalation queued"),
            // Recorded but not queued: the digest still counts it; say so for the operator.
            Err(e) => warn!(comment = %id, error = %e, "escalation recorded but NOT queued"),
        }
    }
    Ok(())
}

/// The outbox order for a digest window.
pub fn digest_order(window: &DigestWindow) -> DigestOrder {
    DigestOrder {
        day: window.day,
        start: window.start,
        end: window.end,
        scheduled: window.scheduled,
        tz: window.tz.name().to_owned(),
    }
}

/// Queues the scheduled digest if it is due: the day is claimed in the same transaction, so it
/// goes out exactly once, and the outbox retries it if posting fails.
async fn scheduled_digest(data: &Data) -> Result<(), DiscordError> {
    let store = data.tracker.store();
    let now = data.tracker.clock().now();
    let last = store.last_digest().await?;
    let Some(window) = digest::digest_due(now, last.as_ref(), &data.settings) else {
        return Ok(());
    };
    if data
        .tracker
        .queue_digest(&window.posted(now), digest_order(&window))
        .await?
    {
        info!(day = %window.day, late = window.is_catch_up(), "daily digest queued");
    }
    Ok(())
}
