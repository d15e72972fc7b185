//! What the moderators' rooms are told as time passes: the alerts whose response target
//! nears or is missed ([`TargetReadings`]), the escalations of missed targets and the daily
//! digest, queued in the outbox for every room (a Discord channel, a Telegram chat, or both),
//! each rendered for its platform.
//!
//! Every platform's clock (`discord::schedule`, `telegram::schedule`) runs these checks, so
//! Telegram alone announces too. With several processes on one store, one process at a time
//! holds them ([`Duty::Announce`]), and another takes them over when it dies. Running them
//! twice anyway (two clocks of one process, or a lease changing hands mid-check) repeats
//! nothing: an escalation is recorded in the database before it is queued (only the caller
//! that records it gets it back), a digest day is claimed and queued in one transaction, and
//! a room has at most one alert on its way per comment (a unique index).

use tracing::{info, warn};

use crate::comment::CommentId;
use crate::config::Settings;
use crate::digest;
use crate::discord::markdown::DiscordRoom;
use crate::duty::Duty;
use crate::escalation::{self, Escalation, EscalationPolicy};
use crate::outbox::{Destination, DigestOrder};
use crate::sla::{ShownReadings, Sla};
use crate::telegram::room::TelegramRoom;
use crate::tracker::{Tracker, TrackerError};

/// An escalation as a room on `destination` shows it: Discord's markdown with its role
/// mention; on Telegram plain text (no markup), and no Discord role to ping.
pub fn escalation_text(escalation: &Escalation, destination: Destination) -> String {
    match destination {
        Destination::Discord => escalation.to_markdown(&DiscordRoom),
        // Meta's platforms are never a moderators' room; plain text is what they would take.
        Destination::Telegram | Destination::Meta => TelegramRoom::escalation(escalation),
    }
}

/// The checks every platform's clock makes, besides refreshing its own alerts: alerts of
/// questions whose grace ran out, escalations that are due, the daily digest, and once a day
/// forgetting sent writes older than a month (`Tracker::prune_sent`); only in the
/// process holding [`Duty::Announce`] (all of them, with one process). Each part logs
/// its own failure and the others still run: a digest that cannot be built must not hold
/// back an escalation.
pub async fn tick(tracker: &Tracker, sla: &Sla, policy: &EscalationPolicy, settings: &Settings) {
    if !tracker.duties().hold(Duty::Announce).await {
        return;
    }
    if let Err(e) = tracker.queue_due_alerts().await {
        warn!(error = %e, "could not queue the alerts of questions past their grace; trying again at the next check");
    }
    if let Err(e) = escalate(tracker, sla, policy).await {
        warn!(error = %e, "could not check for missed targets; trying again at the next check");
    }
    if let Err(e) = scheduled_digest(tracker, settings).await {
        warn!(error = %e, "could not queue the daily digest; trying again at the next check");
    }
    match tracker.prune_sent().await {
        Ok(0) => {}
        Ok(pruned) => info!(pruned, "sent platform writes older than a month forgotten"),
        Err(e) => {
            warn!(error = %e, "could not forget old sent platform writes; trying again at the next check")
        }
    }
}

/// What one platform's clock remembers of the alerts' target lines between its checks, so an
/// alert is edited when its reading changes (nearing, missed) and not at every check. Both
/// clocks (Discord's, Telegram's) keep one each and refresh through it.
#[derive(Debug, Default)]
pub struct TargetReadings {
    shown: ShownReadings,
}

impl TargetReadings {
    /// Queues updates of the open alerts whose target reading changed since they were last
    /// shown (an update waiting already absorbs another), and gives their comments' ids. An
    /// update that cannot be queued is logged and tried again at the next check.
    pub async fn refresh(
        &mut self,
        tracker: &Tracker,
        sla: &Sla,
    ) -> Result<Vec<CommentId>, TrackerError> {
        let open = tracker.open().await?;
        let now = tracker.clock().now();
        let mut queued = Vec::new();
        for id in self.shown.changed(&open, sla, now, |s| s.alert.is_some()) {
            match tracker.queue_alert_update(&id).await {
                Ok(()) => queued.push(id),
                Err(e) => {
                    warn!(comment = %id, error = %e, "could not queue the alert's target update");
                    self.shown.forget(&id);
                }
            }
        }
        Ok(queued)
    }
}

/// Queues one message per comment that has just missed its target, in every room.
pub async fn escalate(
    tracker: &Tracker,
    sla: &Sla,
    policy: &EscalationPolicy,
) -> Result<(), TrackerError> {
    let due = escalation::due_escalations(tracker, sla, policy).await?;
    for escalation in due {
        let id = escalation.comment_id.clone();
        match tracker
            .queue_escalation(
                &id,
                |destination| escalation_text(&escalation, destination),
                escalation.ping,
            )
            .await
        {
            Ok(()) => info!(comment = %id, pinged = escalation.ping.is_some(), "escalation queued"),
            // Recorded but not queued: the digest still counts it; say so for the operator.
            Err(e) => warn!(comment = %id, error = %e, "escalation recorded but NOT queued"),
        }
    }
    Ok(())
}

/// Queues the scheduled digest for every room if it is due: the day is claimed in the same
/// transaction, so it goes out exactly once, and the outbox retries it if posting fails.
pub async fn scheduled_digest(tracker: &Tracker, settings: &Settings) -> Result<(), TrackerError> {
    let store = tracker.store();
    let now = tracker.clock().now();
    let last = store.last_digest().await?;
    let Some(window) = digest::digest_due(now, last.as_ref(), settings) else {
        return Ok(());
    };
    if tracker
        .queue_digest(&window.posted(now), DigestOrder::of(&window))
        .await?
    {
        info!(day = %window.day, late = window.is_catch_up(), "daily digest queued");
    }
    Ok(())
}
