//! The bot's clock: every `discord.check_every` it refreshes the alerts whose response target
//! changed reading (nearing, missed), posts the escalations that are due, and posts the daily
//! digest once it is due — including a digest missed while the bot was down, on the first
//! check after start.
//!
//! What to post is decided in the database before posting (escalations are recorded by
//! `escalation::due_escalations`, a digest day is claimed with `Tracker::claim_digest`), so a
//! restart or a second process never repeats a message. Time comes from the tracker's clock,
//! so tests move it by hand.

use std::collections::HashMap;
use std::time::Duration;

use poise::serenity_prelude as serenity;
use serenity::{
    ChannelId, CreateAllowedMentions, CreateAttachment, CreateMessage, Http, Message, RoleId,
};
use tokio::task::JoinHandle;
use tracing::{info, info_span, warn, Instrument};

use crate::comment::CommentId;
use crate::digest::{self, Digest};
use crate::escalation::{self, Escalation};
use crate::lifecycle::CommentState;
use crate::sla::SlaStatus;

use super::alerts;
use super::markdown::DiscordRoom;
use super::types::{Data, DiscordError};

/// The name of the chart attached to a digest.
const CHART_FILE: &str = "ascolto-digest.png";

/// The target reading each open alert was last shown with, so an alert is edited only when
/// its reading changes (not on every check).
type Shown = HashMap<CommentId, Option<SlaStatus>>;

/// Starts the periodic checks; the task ends when the bot begins shutting down.
pub(crate) fn spawn(http: std::sync::Arc<Http>, data: Data) -> JoinHandle<()> {
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
        let mut shown = Shown::new();
        loop {
            ticks.tick().await;
            let Some(_work) = data.begin_work().await else {
                break;
            };
            check(&http, &data, &mut shown)
                .instrument(info_span!("clock"))
                .await;
        }
    })
}

/// One round of checks. Each part logs its own failure and the others still run: a digest
/// that cannot be built must not hold back an escalation.
async fn check(http: &Http, data: &Data, shown: &mut Shown) {
    if let Err(e) = refresh_targets(http, data, shown).await {
        warn!(error = %e, "could not refresh the alerts' targets; trying again at the next check");
    }
    if let Err(e) = escalate(http, data).await {
        warn!(error = %e, "could not check for missed targets; trying again at the next check");
    }
    if let Err(e) = scheduled_digest(http, data).await {
        warn!(error = %e, "could not post the daily digest; trying again at the next check");
    }
}

/// Edits the open alerts whose target reading changed since they were last shown. Alerts seen
/// for the first time since start are edited only if they are not simply "on time", which
/// also corrects alerts left stale by downtime.
async fn refresh_targets(http: &Http, data: &Data, shown: &mut Shown) -> Result<(), DiscordError> {
    let now = data.tracker.clock().now();
    let open = data.tracker.open().await?;
    shown.retain(|id, _| open.iter().any(|s| &s.comment.id == id));
    for stored in open {
        if stored.alert.is_none() || stored.state == CommentState::Sending {
            continue;
        }
        let reading = data.sla.clock_for(&stored).map(|c| c.status(now));
        let id = stored.comment.id.clone();
        let changed = match shown.insert(id.clone(), reading) {
            Some(before) => before != reading,
            None => !matches!(reading, None | Some(SlaStatus::Ok)),
        };
        if changed {
            if let Err(e) = alerts::refresh(http, data, &id).await {
                warn!(comment = %id, error = %e, "could not update the alert's target");
                // Forget it, so the next check tries again.
                shown.remove(&id);
            }
        }
    }
    Ok(())
}

/// Posts one message per comment that has just missed its target.
async fn escalate(http: &Http, data: &Data) -> Result<(), DiscordError> {
    let due = escalation::due_escalations(&data.tracker, &data.sla, &data.escalation).await?;
    for escalation in due {
        let id = escalation.comment_id.clone();
        match post_escalation(http, data, &escalation).await {
            Ok(message) => {
                info!(comment = %id, message = %message.id, pinged = escalation.ping.is_some(), "escalation posted")
            }
            // Recorded but not posted: the digest still counts it; say so for the operator.
            Err(e) => warn!(comment = %id, error = %e, "escalation recorded but NOT posted"),
        }
    }
    Ok(())
}

/// The escalation message may ping the configured role and nobody else, whatever the
/// comment it quotes contains.
async fn post_escalation(
    http: &Http,
    data: &Data,
    escalation: &Escalation,
) -> Result<Message, DiscordError> {
    let mentions = match escalation.ping {
        Some(role) => CreateAllowedMentions::new().roles([RoleId::new(role)]),
        None => CreateAllowedMentions::new(),
    };
    let message = ChannelId::new(data.discord().alert_channel)
        .send_message(
            http,
            CreateMessage::new()
                .content(escalation.to_markdown(&DiscordRoom))
                .allowed_mentions(mentions),
        )
        .await?;
    Ok(message)
}

/// Posts the scheduled digest if it is due: the day is claimed in the database first, and
/// given back if posting fails, so it goes out exactly once.
async fn scheduled_digest(http: &Http, data: &Data) -> Result<(), DiscordError> {
    let store = data.tracker.store();
    let now = data.tracker.clock().now();
    let last = store.last_digest().await?;
    let Some(window) = digest::digest_due(now, last.as_ref(), &data.settings) else {
        return Ok(());
    };
    if !data.tracker.claim_digest(&window.posted(now)).await? {
        return Ok(());
    }
    let posted = async {
        let digest = digest::build_window(store, &window, &data.settings).await?;
        post_digest(http, data, &digest).await
    }
    .await;
    match posted {
        Ok(message) => {
            info!(day = %window.day, message = %message.id, late = window.is_catch_up(), "daily digest posted");
            Ok(())
        }
        Err(e) => {
            data.tracker.release_digest(window.day).await?;
            Err(e)
        }
    }
}

/// Posts a digest, with its chart, in the moderators' channel. It names people and quotes
/// comments, so it pings nobody.
pub async fn post_digest(
    http: &Http,
    data: &Data,
    digest: &Digest,
) -> Result<Message, DiscordError> {
    let mut message = CreateMessage::new()
        .content(digest.to_markdown(&DiscordRoom))
        .allowed_mentions(CreateAllowedMentions::new());
    match digest.chart_png() {
        Ok(png) => message = message.add_file(CreateAttachment::bytes(png, CHART_FILE)),
        // The figures are in the text; a chart that cannot be drawn must not hold them back.
        Err(e) => warn!(error = %e, "digest chart not drawn; posting the text alone"),
    }
    Ok(ChannelId::new(data.discord().alert_channel)
        .send_message(http, message)
        .await?)
}
