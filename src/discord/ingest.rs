//! Messages in: translates Discord messages, edits and deletions into the core's terms and
//! hands them to the tracker. No business rule lives here: what is flagged, what counts as an
//! answer and what an edit changes are the tracker's decisions. What only Discord knows is
//! written onto the comment here: its jump link, and that a thread started from a message has
//! that message's id (so the thread's messages answer it).
//!
//! Live gateway messages and backfilled REST messages take the same path
//! ([`handle_message`]), so catching up after downtime behaves exactly like being online.
//!
//! Serenity runs each gateway event in its own task. Live messages, edits and deletions are
//! therefore put on one queue ([`spawn_queue`]) and handled in order, oldest message id
//! first, the messages that arrived together stored together: comments are stored (and their
//! alerts queued) in the order they arrived, and a burst costs one transaction per batch, not
//! a thousand tasks contending for the database's writer before the first complaint gets
//! through. A catch-up hands over its pages the same way.

use chrono::{DateTime, Utc};
use poise::serenity_prelude as serenity;
use serenity::{
    ChannelType, GuildId, Message, MessageReferenceKind, MessageType, MessageUpdateEvent,
    PartialMember, RoleId,
};
use tracing::{debug, info_span, warn, Instrument};

use crate::comment::{Author, AuthorId, ChannelId, Comment, CommentId, Place, Source};
use crate::config::DiscordSettings;
use crate::failures::Stage;
use crate::tracker::{Edited, Ingested};

use super::checks;
use super::markdown::jump_link;
use super::types::{Data, DiscordError};

/// What the core needs to know about the author's membership in the guild.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberFacts {
    pub roles: Vec<RoleId>,
    pub joined_at: Option<DateTime<Utc>>,
    pub nick: Option<String>,
}

impl From<&PartialMember> for MemberFacts {
    fn from(m: &PartialMember) -> Self {
        MemberFacts {
            roles: m.roles.clone(),
            joined_at: m.joined_at.map(|t| *t),
            nick: m.nick.clone(),
        }
    }
}

impl From<&serenity::Member> for MemberFacts {
    fn from(m: &serenity::Member) -> Self {
        MemberFacts {
            roles: m.roles.clone(),
            joined_at: m.joined_at.map(|t| *t),
            nick: m.nick.clone(),
        }
    }
}

/// Whether messages in `channel` (a thread of `parent`, if given) are watched: the configured
/// channels, or every channel when none is configured, never the excluded ones and never the
/// alert channel (the bot must not triage its own alerts or moderators' chat about them).
pub fn is_watched(discord: &DiscordSettings, channel: u64, parent: Option<u64>) -> bool {
    let ids = || std::iter::once(channel).chain(parent);
    if ids().any(|id| id == discord.alert_channel || discord.excluded_channels.contains(&id)) {
        return false;
    }
    discord.watched_channels.is_empty() || ids().any(|id| discord.watched_channels.contains(&id))
}

pub(crate) fn is_thread(kind: ChannelType) -> bool {
    matches!(
        kind,
        ChannelType::PublicThread | ChannelType::PrivateThread | ChannelType::NewsThread
    )
}

/// A guild channel's name and, for a thread, the channel it belongs to.
#[derive(Debug, Clone)]
pub struct Located {
    pub name: String,
    pub parent: Option<serenity::ChannelId>,
}

/// Finds a guild channel or thread in the cache, asking Discord when it is not there.
pub async fn locate(
    ctx: &serenity::Context,
    guild: GuildId,
    channel: serenity::ChannelId,
) -> Located {
    // The cache guard must not live across an await.
    let cached = ctx.cache.guild(guild).and_then(|g| {
        if let Some(c) = g.channels.get(&channel) {
            return Some(Located {
                name: c.name.clone(),
                parent: None,
            });
        }
        g.threads.iter().find(|t| t.id == channel).map(|t| Located {
            name: t.name.clone(),
            parent: t.parent_id,
        })
    });
    if let Some(found) = cached {
        return found;
    }
    match channel.to_channel(ctx).await {
        Ok(serenity::Channel::Guild(c)) => Located {
            parent: if is_thread(c.kind) { c.parent_id } else { None },
            name: c.name,
        },
        Ok(_) | Err(_) => {
            debug!(%channel, "channel unknown to the cache and to Discord; using its id as name");
            Located {
                name: channel.to_string(),
                parent: None,
            }
        }
    }
}

/// Messages worth triaging: written by a person, with text. Join notices, pins, thread
/// starters and the bot's own replies are not comments.
fn is_comment(msg: &Message, bot: Option<serenity::UserId>) -> bool {
    !msg.author.bot
        && Some(msg.author.id) != bot
        && msg.webhook_id.is_none()
        && matches!(msg.kind, MessageType::Regular | MessageType::InlineReply)
        && !msg.content.trim().is_empty()
}

/// Translates a message into the core's [`Comment`].
pub fn to_comment(
    msg: &Message,
    guild: Option<GuildId>,
    place: Option<&Located>,
    member: Option<&MemberFacts>,
    discord: &DiscordSettings,
) -> Comment {
    let name = member
        .and_then(|m| m.nick.clone())
        .unwrap_or_else(|| msg.author.display_name().to_owned());
    let reply_to = msg
        .message_reference
        .as_ref()
        .filter(|r| r.kind == MessageReferenceKind::Default)
        .and_then(|r| r.message_id)
        .map(|id| CommentId(id.to_string()));
    let guild = guild.map(|g| g.to_string());
    let parent = place.and_then(|p| p.parent);
    let channel = msg.channel_id.to_string();
    let link = jump_link(guild.as_deref(), &channel, &msg.id.to_string());
    let place = Place {
        channel: ChannelId(channel.clone()),
        channel_name: place
            .map(|p| p.name.clone())
            .unwrap_or_else(|| "direct message".to_owned()),
        is_dm: guild.is_none(),
        guild,
        parent: parent.map(|p| ChannelId(p.to_string())),
    };
    let author = Author {
        id: AuthorId(msg.author.id.to_string()),
        name,
        is_staff: member.is_some_and(|m| checks::is_staff(&m.roles, discord)),
        is_bot: msg.author.bot,
        joined_at: member.and_then(|m| m.joined_at),
    };
    let mentions = msg
        .mentions
        .iter()
        .map(|u| AuthorId(u.id.to_string()))
        .collect();
    Comment::new(
        msg.id.to_string(),
        Source::Discord,
        place,
        author,
        msg.content.clone(),
        *msg.timestamp,
    )
    .with_reply_to(reply_to)
    .with_mentions(mentions)
    .with_link(Some(link))
    // A thread started from a message has that message's id.
    .with_thread_root(parent.map(|_| CommentId(channel)))
}

/// A message to handle, live or backfilled, with what the message itself may not carry.
pub struct Arrival<'a> {
    pub ctx: &'a serenity::Context,
    pub msg: &'a Message,
    /// The message's guild (REST messages do not carry it).
    pub guild: Option<GuildId>,
    /// The author's membership, when known.
    pub member: Option<MemberFacts>,
}

/// Handles one message, live or backfilled: see [`handle_messages`].
pub async fn handle_message(
    ctx: &serenity::Context,
    data: &Data,
    msg: &Message,
    guild: Option<GuildId>,
    member: Option<MemberFacts>,
) -> Result<(), DiscordError> {
    let one = Arrival {
        ctx,
        msg,
        guild,
        member,
    };
    handle_messages(data, &[one]).await
}

/// Handles messages, live or backfilled, oldest first: triage through the tracker, which
/// stores their comments together (one transaction for the lot: under a burst or a catch-up
/// that is what lets the first complaint's alert out early) and queues their alerts and the
/// updates of the alerts of comments they answered; then each channel's checkpoint moves past
/// its last message here.
///
/// A comment the tracker fails on (the database refusing it included) is recorded, and tried
/// again at the next start, so the checkpoint may move past it; if even that fails, its
/// channel's checkpoint stays, catch-up reads the messages again, and the first such error is
/// returned after the other channels moved on.
pub(crate) async fn handle_messages(
    data: &Data,
    arrivals: &[Arrival<'_>],
) -> Result<(), DiscordError> {
    // READY's handler may not have run yet (events run concurrently); the cache knows already.
    let bot = match (data.bot_id(), arrivals.first()) {
        (Some(bot), _) => Some(bot),
        (None, Some(first)) => Some(first.ctx.cache.current_user().id),
        (None, None) => return Ok(()),
    };
    let mut comments = Vec::with_capacity(arrivals.len());
    let mut channels = Vec::with_capacity(arrivals.len());
    // Each channel's last watched message: where its checkpoint moves.
    let mut last_in_channel: Vec<(serenity::ChannelId, serenity::MessageId)> = Vec::new();
    for arrival in arrivals {
        let msg = arrival.msg;
        let place = match arrival.guild {
            Some(guild) => {
                let place = locate(arrival.ctx, guild, msg.channel_id).await;
                let parent = place.parent.map(|p| p.get());
                if !is_watched(data.discord(), msg.channel_id.get(), parent) {
                    continue;
                }
                Some(place)
            }
            None => None,
        };
        match last_in_channel
            .iter_mut()
            .find(|(c, _)| *c == msg.channel_id)
        {
            Some((_, last)) => *last = (*last).max(msg.id),
            None => last_in_channel.push((msg.channel_id, msg.id)),
        }
        if is_comment(msg, bot) {
            let facts = arrival.member.as_ref();
            comments.push(to_comment(
                msg,
                arrival.guild,
                place.as_ref(),
                facts,
                data.discord(),
            ));
            channels.push(msg.channel_id);
        } else if msg.content.trim().is_empty() {
            // Not a sign of a missing Message Content intent: without it Discord refuses the
            // connection (close code 4014), which stops the start with that diagnosis. Here
            // the message simply has no text (a poll, a forward, a sticker, an empty edit).
            debug!(message = %msg.id, "a message without text; nothing to triage");
        }
    }
    // The tracker queues each alert (and the updates of the alerts these answer) with its
    // comment; the outbox worker posts them, so ingesting never waits for Discord.
    let outcomes = data.tracker.ingest_batch(&comments).await;
    let mut stuck: Vec<serenity::ChannelId> = Vec::new();
    let mut first_error = None;
    for ((comment, channel), outcome) in comments.iter().zip(channels).zip(outcomes) {
        match outcome {
            Ok(outcome) => {
                if let Ingested::Flagged(stored) = &outcome.ingested {
                    debug!(comment = %stored.comment.id, "alert queued");
                }
            }
            Err(error) => {
                if let Err(unrecorded) = data
                    .tracker
                    .record_failure(comment, Stage::Ingest, &error)
                    .await
                {
                    warn!(comment = %comment.id, error = %unrecorded, "a comment that failed could not be recorded either; its channel is read again at the next start");
                    stuck.push(channel);
                    first_error.get_or_insert(unrecorded);
                }
            }
        }
    }
    // After the tracker has stored them: a crash before this means catch-up reads the
    // messages again at the next start, and the tracker ignores what it already has.
    for (channel, last) in last_in_channel {
        if !stuck.contains(&channel) {
            data.tracker
                .advance_checkpoint(&ChannelId(channel.to_string()), &last.to_string())
                .await?;
        }
    }
    match first_error {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

/// A gateway event for the ingest queue.
pub enum Incoming {
    Message(serenity::Context, Box<Message>),
    Edit(serenity::Context, Box<MessageUpdateEvent>),
    Delete(serenity::MessageId),
}

impl Incoming {
    /// Arrival order: Discord's ids grow with time; for one message, create before edit
    /// before delete.
    fn order(&self) -> (u64, u8) {
        match self {
            Incoming::Message(_, m) => (m.id.get(), 0),
            Incoming::Edit(_, e) => (e.id.get(), 1),
            Incoming::Delete(id) => (id.get(), 2),
        }
    }

    async fn handle(self, data: &Data) {
        match self {
            Incoming::Message(ctx, msg) => on_message(&ctx, data, &msg).await,
            Incoming::Edit(ctx, event) => on_edit(&ctx, data, &event).await,
            Incoming::Delete(id) => on_delete(data, id).await,
        }
    }
}

/// Most events taken off the queue and put back in order at once.
const BATCH: usize = 64;

/// How long the queue waits, once an event arrives, for the ones serenity hands over out of
/// order. Serenity spawns a task per event and tokio runs the newest spawned task first, so
/// in a burst the latest message can reach the queue a moment before those just before it.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(2);

/// While more events wait in the queue, this many of the latest sorted ones are held back to
/// be sorted again with the next ones: an event handed over late can still go before them.
const HOLD: usize = 128;

/// Starts the task that handles gateway events in arrival order: events that reached the
/// queue together are sorted by message id, and while the queue is backed up (a burst) the
/// latest few wait to be sorted with the next batch. Each run of messages in a batch is
/// stored in one transaction ([`handle_messages`]), so a burst costs a commit per batch, not
/// per message, and each channel's checkpoint is written once per run.
pub(crate) fn spawn_queue(data: Data) -> tokio::task::JoinHandle<()> {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Incoming>();
    data.set_incoming(sender);
    tokio::spawn(async move {
        let mut pending: Vec<Incoming> = Vec::with_capacity(BATCH + HOLD);
        loop {
            let before = pending.len();
            if pending.is_empty() && receiver.recv_many(&mut pending, BATCH).await == 0 {
                break;
            }
            tokio::time::sleep(SETTLE).await;
            // New events are taken in even while many wait: one they wait for may be among them.
            while pending.len() < before + BATCH + HOLD {
                match receiver.try_recv() {
                    Ok(event) => pending.push(event),
                    Err(_) => break,
                }
            }
            for event in pending.iter().skip(before) {
                if let Incoming::Message(_, msg) = event {
                    data.announced.arrived(msg.id.get());
                }
            }
            pending.sort_by_key(Incoming::order);
            let hold = if receiver.is_empty() {
                0
            } else {
                HOLD.min(pending.len())
            };
            let mut release = pending.len() - hold;
            // Nothing goes ahead of a message the gateway gave before it.
            if let Some(missing) = data.announced.first_missing(std::time::Instant::now()) {
                release = release.min(pending.partition_point(|e| e.order() < (missing, 0)));
            }
            let mut ready = pending.drain(..release).peekable();
            // Runs of messages are handled as one batch; edits and deletions one at a time,
            // in their place.
            while let Some(event) = ready.next() {
                let Incoming::Message(ctx, msg) = event else {
                    event.handle(&data).await;
                    continue;
                };
                let mut run = vec![(ctx, msg)];
                while let Some(Incoming::Message(..)) = ready.peek() {
                    if let Some(Incoming::Message(ctx, msg)) = ready.next() {
                        run.push((ctx, msg));
                    }
                }
                on_messages(&data, &run).await;
            }
        }
    })
}

/// A gateway event: through the queue when there is one, else handled here.
pub async fn dispatch(data: &Data, event: Incoming) {
    if let Err(event) = data.queue_incoming(event) {
        event.handle(data).await;
    }
}

/// A message from the gateway.
pub async fn on_message(ctx: &serenity::Context, data: &Data, msg: &Message) {
    on_messages(data, &[(ctx.clone(), Box::new(msg.clone()))]).await
}

/// Messages from the gateway, oldest first, handled as one batch.
async fn on_messages(data: &Data, run: &[(serenity::Context, Box<Message>)]) {
    let Some(_working) = data.begin_work().await else {
        return;
    };
    let span = match run {
        [(_, msg)] => info_span!("discord.message", message = %msg.id, channel = %msg.channel_id),
        _ => info_span!("discord.messages", count = run.len()),
    };
    let arrivals: Vec<Arrival<'_>> = run
        .iter()
        .map(|(ctx, msg)| Arrival {
            ctx,
            msg,
            guild: msg.guild_id,
            member: msg.member.as_deref().map(MemberFacts::from),
        })
        .collect();
    if let Err(e) = handle_messages(data, &arrivals)
        .instrument(span.clone())
        .await
    {
        span.in_scope(
            || warn!(error = %e, "messages not handled; backfill will read them again at the next start"),
        );
    }
}

/// An edited message: triaged again, and its alert kept in step.
pub async fn on_edit(ctx: &serenity::Context, data: &Data, event: &MessageUpdateEvent) {
    let Some(_working) = data.begin_work().await else {
        return;
    };
    let span = info_span!("discord.edit", message = %event.id, channel = %event.channel_id);
    if let Err(e) = handle_edit(ctx, data, event).instrument(span.clone()).await {
        span.in_scope(|| warn!(error = %e, "edit not handled"));
    }
}

async fn handle_edit(
    ctx: &serenity::Context,
    data: &Data,
    event: &MessageUpdateEvent,
) -> Result<(), DiscordError> {
    // Updates without text are Discord adding link previews or similar: nothing to triage.
    let Some(content) = &event.content else {
        return Ok(());
    };
    if event.author.as_ref().is_some_and(|a| a.bot) {
        return Ok(());
    }
    let id = CommentId(event.id.to_string());
    let Some(stored) = data.tracker.store().comment(&id).await? else {
        // Never seen (written before the bot watched, or missed): if Discord sent the whole
        // message, take it in as a new one.
        if event.author.is_some() && event.timestamp.is_some() {
            let mut msg = Message::default();
            event.apply_to_message(&mut msg);
            let member = msg.member.as_deref().map(MemberFacts::from);
            return handle_message(ctx, data, &msg, event.guild_id, member).await;
        }
        return Ok(());
    };
    let mut comment = stored.comment.clone();
    comment.text = content.clone();
    if let Some(mentions) = &event.mentions {
        comment.mentions = mentions
            .iter()
            .map(|u| AuthorId(u.id.to_string()))
            .collect();
    }
    // The tracker queues the alert's update (or a new alert) itself.
    match data.tracker.edit(&comment).await {
        Ok(Edited::Retriaged(now)) => debug!(state = now.state.as_str(), "re-triaged"),
        Ok(Edited::Closed(_) | Edited::Unknown) => {}
        Err(error) => {
            data.tracker
                .record_failure(&comment, Stage::Edit, &error)
                .await?
        }
    }
    Ok(())
}

/// A deleted message: its alert is withdrawn ("deleted by the author", buttons off).
pub async fn on_delete(data: &Data, message: serenity::MessageId) {
    let Some(_working) = data.begin_work().await else {
        return;
    };
    let id = CommentId(message.to_string());
    let span = info_span!("discord.delete", message = %id);
    // The tracker queues the alert's update ("deleted by the author") itself.
    let result = async {
        data.tracker.delete(&id).await?;
        Ok::<_, DiscordError>(())
    }
    .instrument(span.clone())
    .await;
    if let Err(e) = result {
        span.in_scope(|| warn!(error = %e, "deletion not handled"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(watched: Vec<u64>, excluded: Vec<u64>) -> DiscordSettings {
        DiscordSettings {
            watched_channels: watched,
            excluded_channels: excluded,
            ..DiscordSettings::for_tests()
        }
    }

    #[test]
    fn everything_is_watched_by_default_except_alerts_and_exclusions() {
        let s = settings(vec![], vec![5]);
        assert!(is_watched(&s, 1, None));
        assert!(!is_watched(&s, 5, None));
        assert!(
            !is_watched(&s, 6, Some(5)),
            "threads of excluded channels too"
        );
        assert!(!is_watched(&s, 900, None));
        assert!(
            !is_watched(&s, 901, Some(900)),
            "threads under the alert channel"
        );
    }

    #[test]
    fn configured_channels_and_their_threads_are_watched() {
        let s = settings(vec![1], vec![]);
        assert!(is_watched(&s, 1, None));
        assert!(is_watched(&s, 2, Some(1)));
        assert!(!is_watched(&s, 3, None));
        let s = settings(vec![1], vec![2]);
        assert!(
            !is_watched(&s, 2, Some(1)),
            "an excluded thread stays excluded"
        );
    }

    fn message(json: serde_json::Value) -> Message {
        serde_json::from_value(json).expect("a valid message")
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "id": "300", "channel_id": "20", "guild_id": "1",
            "author": {"id": "99", "username": "nora", "global_name": "Nora", "discriminator": "0"},
            "content": "Il pacco non è arrivato", "timestamp": "2026-11-20T09:00:00+00:00",
            "tts": false, "mention_everyone": false,
            "mentions": [{"id": "98", "username": "mia", "discriminator": "0"}],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 19,
            "message_reference": {"type": 0, "message_id": "250", "channel_id": "20"}
        })
    }

    #[test]
    fn a_guild_reply_in_a_thread_becomes_a_comment_with_its_context() {
        let msg = message(base());
        let place = Located {
            name: "supporto".into(),
            parent: Some(serenity::ChannelId::new(10)),
        };
        let member = MemberFacts {
            roles: vec![RoleId::new(20)],
            joined_at: Some("2026-11-19T00:00:00Z".parse().unwrap()),
            nick: None,
        };
        let s = settings(vec![], vec![]);
        let c = to_comment(&msg, Some(GuildId::new(1)), Some(&place), Some(&member), &s);
        assert_eq!(c.id.as_str(), "300");
        assert_eq!(c.source, Source::Discord);
        assert_eq!(c.place.channel.as_str(), "20");
        assert_eq!(c.place.parent.as_ref().unwrap().as_str(), "10");
        assert_eq!(c.place.guild.as_deref(), Some("1"));
        assert!(!c.place.is_dm);
        assert_eq!(c.author.name, "Nora");
        assert!(c.author.is_staff);
        assert!(c.author.joined_at.is_some());
        assert_eq!(c.reply_to.as_ref().unwrap().as_str(), "250");
        assert_eq!(c.mentions, vec![AuthorId::new("98")]);
        assert!(is_comment(&msg, Some(serenity::UserId::new(1))));
    }

    #[test]
    fn a_direct_message_has_no_guild_and_bots_are_not_comments() {
        let mut json = base();
        json.as_object_mut().unwrap().remove("guild_id");
        json["type"] = 0.into();
        json.as_object_mut().unwrap().remove("message_reference");
        let msg = message(json.clone());
        let c = to_comment(&msg, None, None, None, &settings(vec![], vec![]));
        assert!(c.place.is_dm);
        assert!(!c.author.is_staff);
        assert_eq!(c.reply_to, None);
        json["author"]["bot"] = true.into();
        assert!(!is_comment(&message(json.clone()), None));
        json["author"]["bot"] = false.into();
        assert!(!is_comment(&message(json), Some(serenity::UserId::new(99))));
    }
}
