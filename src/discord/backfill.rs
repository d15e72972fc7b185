//! Catching up after downtime, so nothing written while the bot was away is lost.
//!
//! - Before connecting: replies left mid-send by a crash go back to the queue unless the
//!   outbox still holds them (`tracker.recover_after_restart`), and flagged comments whose
//!   alert is neither posted nor on its way get one queued. The outbox worker, started first,
//!   delivers whatever the last run left pending.
//! - For each guild (on GUILD_CREATE, right after READY): every watched text channel and active
//!   thread is read over REST from its checkpoint on, oldest first, through the same path as
//!   live messages. Direct-message conversations the bot has seen before are read the same way.
//!
//! How much is read: with a checkpoint, the messages after it (re-reading one minute before it,
//! see [`OVERLAP_MS`]), at most `discord.backfill_limit`; without one (a channel seen for the
//! first time), the latest `backfill_limit` messages, so unanswered questions from just before
//! the first start are flagged too. `backfill_limit = 0` turns catching up off.
//! Reading a message twice is harmless: the tracker ignores comments it already has.
//!
//! With the bot split across processes (`[discord] shards`), a process catches up only on
//! the guilds on its own shards, and on direct messages only if it runs shard 0: the same
//! split as the live events, so no channel is read by two processes.

use std::collections::HashMap;

use poise::serenity_prelude as serenity;
use serenity::{ChannelType, GetMessages, GuildId, Http, Message, MessageId, UserId};
use tracing::{debug, info, info_span, warn, Instrument};

use crate::comment::ChannelId;

use super::alerts;
use super::ingest::{self, MemberFacts};
use super::types::{Data, DiscordError};

/// Discord returns at most 100 messages per request.
const PAGE: u32 = 100;

/// Backfill re-reads this much (in message-id time) before the checkpoint. Events are handled
/// concurrently, so a later message can be checkpointed while an earlier one is still in
/// flight; if the bot dies right then, the overlap brings the earlier one back.
pub const OVERLAP_MS: u64 = 60_000;

/// Before connecting: give back interrupted replies, queue alerts that were never posted, and
/// try again the comments that failed before.
pub async fn before_connecting(data: &Data) -> Result<(), DiscordError> {
    let recovered = data.tracker.recover_after_restart().await?;
    if recovered > 0 {
        info!(
            recovered,
            "replies interrupted by the last stop are back in the queue"
        );
    }
    let queued = data.tracker.queue_missing_alerts().await?;
    if queued > 0 {
        info!(queued, "alerts queued that were missing from the last run");
    }
    let retried = data.tracker.retry_failures().await?;
    if retried.succeeded + retried.failed > 0 {
        info!(
            succeeded = retried.succeeded,
            failed_again = retried.failed,
            "comments that had failed before were tried again"
        );
    }
    Ok(())
}

/// Catches up on every watched channel and active thread of a guild on this process's shards.
pub async fn guild(ctx: &serenity::Context, data: &Data, guild: &serenity::Guild) {
    if data.discord().backfill_limit == 0 {
        return;
    }
    let shards = data.shards.range();
    if !shards.serves_guild(guild.id.get()) {
        // Discord announces a guild on its own shard only, so this would be a guild another
        // process catches up on.
        warn!(guild = %guild.id, shards = %shards, "a guild not on this process's shards; left to the process running its shard");
        return;
    }
    let discord = data.discord();
    let mut channels: Vec<serenity::ChannelId> = guild
        .channels
        .values()
        .filter(|c| matches!(c.kind, ChannelType::Text | ChannelType::News))
        .filter(|c| ingest::is_watched(discord, c.id.get(), None))
        .map(|c| c.id)
        .collect();
    channels.extend(
        guild
            .threads
            .iter()
            .filter(|t| ingest::is_watched(discord, t.id.get(), t.parent_id.map(|p| p.get())))
            .map(|t| t.id),
    );
    channels.sort();
    let mut members = Members::default();
    for channel in channels {
        if data.is_stopping() {
            return;
        }
        let span = info_span!("discord.backfill", guild = %guild.id, channel = %channel);
        match read_channel(ctx, data, Some(guild.id), channel, &mut members)
            .instrument(span.clone())
            .await
        {
            Ok(0) => {}
            Ok(count) => span.in_scope(|| info!(count, "caught up")),
            Err(e) => span.in_scope(|| warn!(error = %e, "could not catch up on this channel")),
        }
    }
}

/// Catches up on direct-message conversations the bot has had before; only in the process
/// running shard 0, where Discord sends direct messages.
pub async fn direct_messages(ctx: &serenity::Context, data: &Data) {
    if data.discord().backfill_limit == 0 || !data.shards.range().serves_direct_messages() {
        return;
    }
    let channels = match data.tracker.store().dm_channels().await {
        Ok(channels) => channels,
        Err(e) => {
            warn!(error = %e, "cannot list direct-message conversations to catch up on");
            return;
        }
    };
    let mut members = Members::default();
    for channel in channels {
        if data.is_stopping() {
            return;
        }
        let Ok(id) = alerts::parse_snowflake(channel.as_str()) else {
            continue;
        };
        let span = info_span!("discord.backfill", channel = %channel, dm = true);
        match read_channel(ctx, data, None, serenity::ChannelId::new(id), &mut members)
            .instrument(span.clone())
            .await
        {
            Ok(0) => {}
            Ok(count) => span.in_scope(|| info!(count, "caught up")),
            Err(e) => {
                span.in_scope(|| warn!(error = %e, "could not catch up on this conversation"))
            }
        }
    }
}

/// Reads one channel from its checkpoint and handles each message, oldest first.
async fn read_channel(
    ctx: &serenity::Context,
    data: &Data,
    guild: Option<GuildId>,
    channel: serenity::ChannelId,
    members: &mut Members,
) -> Result<usize, DiscordError> {
    let checkpoint = data
        .tracker
        .store()
        .checkpoint(&ChannelId(channel.to_string()))
        .await?
        .and_then(|id| id.parse::<u64>().ok());
    let limit = data.discord().backfill_limit;
    let mut messages = match checkpoint {
        Some(last) => after(&ctx.http, channel, overlap_start(last), limit).await?,
        None => latest(&ctx.http, channel, limit).await?,
    };
    messages.sort_by_key(|m| m.id);
    messages.dedup_by_key(|m| m.id);
    let count = messages.len();
    for page in messages.chunks_mut(PAGE as usize) {
        let Some(_working) = data.begin_work().await else {
            break;
        };
        let mut facts = Vec::with_capacity(page.len());
        for msg in page.iter_mut() {
            // Messages read over REST carry neither their guild nor the author's membership.
            msg.guild_id = guild;
            facts.push(match guild {
                Some(guild) if !msg.author.bot => members.get(ctx, guild, msg.author.id).await,
                _ => None,
            });
        }
        let arrivals: Vec<ingest::Arrival<'_>> = page
            .iter()
            .zip(facts)
            .map(|(msg, member)| ingest::Arrival {
                ctx,
                msg,
                guild,
                member,
            })
            .collect();
        // A page at a time, stored together, as live messages arriving together are.
        ingest::handle_messages(data, &arrivals).await?;
    }
    Ok(count)
}

/// The id one overlap before `last` (message ids start with their time in milliseconds).
fn overlap_start(last: u64) -> u64 {
    last.saturating_sub(OVERLAP_MS << 22).max(1)
}

/// Up to `limit` messages after `after`, oldest pages first.
async fn after(
    http: &Http,
    channel: serenity::ChannelId,
    after: u64,
    limit: u32,
) -> Result<Vec<Message>, DiscordError> {
    let mut out = Vec::new();
    let mut cursor = MessageId::new(after);
    while (out.len() as u32) < limit {
        let want = (limit - out.len() as u32).min(PAGE);
        let page = channel
            .messages(http, GetMessages::new().after(cursor).limit(want as u8))
            .await?;
        let got = page.len() as u32;
        match page.iter().map(|m| m.id).max() {
            Some(max) => cursor = max,
            None => break,
        }
        out.extend(page);
        if got < want {
            break;
        }
    }
    Ok(out)
}

/// The latest `limit` messages.
async fn latest(
    http: &Http,
    channel: serenity::ChannelId,
    limit: u32,
) -> Result<Vec<Message>, DiscordError> {
    let mut out: Vec<Message> = Vec::new();
    let mut before: Option<MessageId> = None;
    while (out.len() as u32) < limit {
        let want = (limit - out.len() as u32).min(PAGE);
        let mut request = GetMessages::new().limit(want as u8);
        if let Some(before) = before {
            request = request.before(before);
        }
        let page = channel.messages(http, request).await?;
        let got = page.len() as u32;
        match page.iter().map(|m| m.id).min() {
            Some(min) => before = Some(min),
            None => break,
        }
        out.extend(page);
        if got < want {
            break;
        }
    }
    Ok(out)
}

/// Authors' memberships during one catch-up: from the cache, else asked once from Discord.
#[derive(Default)]
struct Members(HashMap<(GuildId, UserId), Option<MemberFacts>>);

impl Members {
    async fn get(
        &mut self,
        ctx: &serenity::Context,
        guild: GuildId,
        user: UserId,
    ) -> Option<MemberFacts> {
        if let Some(known) = self.0.get(&(guild, user)) {
            return known.clone();
        }
        let cached = ctx
            .cache
            .guild(guild)
            .and_then(|g| g.members.get(&user).map(MemberFacts::from));
        let facts = match cached {
            Some(facts) => Some(facts),
            None => match ctx.http.get_member(guild, user).await {
                Ok(member) => Some(MemberFacts::from(&member)),
                Err(e) => {
                    // Left the guild, or no access: treated as a member without roles.
                    debug!(%user, error = %e, "membership unknown");
                    None
                }
            },
        };
        self.0.insert((guild, user), facts.clone());
        facts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overlap_is_one_minute_of_message_ids_and_never_zero() {
        // 2026-ish snowflake: its time part moves back by exactly 60 000 ms.
        let last: u64 = 1_441_234_567_890_123_456;
        assert_eq!((last >> 22) - (overlap_start(last) >> 22), OVERLAP_MS);
        assert_eq!(overlap_start(5), 1);
    }
}
