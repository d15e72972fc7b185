//! Slash commands (poise): `/ascolto queue`, `/ascolto test`, `/ascolto reload`,
//! `/ascolto digest`.
//!
//! Answers are ephemeral: they are for the person who asked, not for the channel. Commands that
//! change something, or show members' private messages, carry the moderator check from
//! `checks.rs`; `/ascolto test` stores nothing and is open to everyone.

use std::time::Duration;

use chrono::Utc;
use poise::serenity_prelude as serenity;
use poise::CreateReply;
use tracing::{info, warn};

use crate::alert::{queue_message, QUEUE_SHOWN};
use crate::comment::{Author, Comment, Place, Source};
use crate::explain;
use crate::outbox::OutboxState;
use crate::text::cut_chars;

use super::checks;
use super::ingest;
use super::markdown::{DiscordRoom, MESSAGE_LIMIT};
use super::types::{Context, Data, DiscordError};

/// How long `/ascolto digest` waits for the outbox to post the digest before answering.
const DIGEST_WAIT: Duration = Duration::from_secs(10);

/// Ascolto: the moderators' queue, trying rules, reloading them, the digest.
#[poise::command(
    slash_command,
    subcommands("queue", "test", "reload", "digest"),
    subcommand_required
)]
pub async fn ascolto(_ctx: Context<'_>) -> Result<(), DiscordError> {
    Ok(())
}

/// Comments still waiting for an answer, oldest first, with links and waiting times.
#[poise::command(slash_command, ephemeral, check = "checks::moderator")]
async fn queue(ctx: Context<'_>) -> Result<(), DiscordError> {
    let data = ctx.data();
    let queue = data.tracker.open_queue(QUEUE_SHOWN).await?;
    let text = queue_message(&queue, data.tracker.clock().now(), &DiscordRoom);
    ctx.send(
        CreateReply::default()
            .content(cut_chars(&text, MESSAGE_LIMIT))
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// Try a text against the rules: language, labels, why, and the draft. Nothing is stored.
#[poise::command(slash_command, ephemeral)]
async fn test(
    ctx: Context<'_>,
    #[description = "The text to triage"] text: String,
) -> Result<(), DiscordError> {
    let channel = ctx.channel_id();
    let guild = ctx.guild_id();
    let channel_name = match guild {
        Some(guild) => {
            ingest::locate(ctx.serenity_context(), guild, channel)
                .await
                .name
        }
        None => "direct message".to_owned(),
    };
    let author = ctx.author();
    let place = Place {
        guild: guild.map(|g| g.to_string()),
        is_dm: guild.is_none(),
        ..Place::channel(channel.to_string(), channel_name)
    };
    // As a member would be treated: staff are never flagged, which is not what a moderator
    // trying a text wants to see.
    let author = Author::member(author.id.to_string(), author.display_name());
    let comment = Comment::new(
        ctx.id().to_string(),
        Source::Discord,
        place,
        author,
        text,
        Utc::now(),
    );
    let (verdict, draft) = ctx.data().tracker.dry_run(&comment);
    // The same report `ascolto rules test` prints; a code block keeps member text inert.
    let report = explain::report(&verdict, draft.as_ref());
    let report = report.trim_end().replace("```", "`\u{200B}``");
    let out = format!("```\n{}\n```", cut_chars(&report, MESSAGE_LIMIT - 10));
    ctx.send(
        CreateReply::default()
            .content(out)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// Load the rule library again; a broken library is refused and the current one stays.
#[poise::command(slash_command, ephemeral, check = "checks::moderator")]
async fn reload(ctx: Context<'_>) -> Result<(), DiscordError> {
    let data = ctx.data();
    let dir = data.settings.rules.dir.clone();
    let text = match data.tracker.reload(&dir) {
        Ok(count) => {
            info!(rules = count, by = %ctx.author().id, "rule library reloaded from Discord");
            format!("Rule library reloaded: {count} rules.")
        }
        Err(e) => {
            warn!(error = %e, "reload refused");
            let problems: Vec<String> = e.problems().iter().map(|p| p.to_string()).collect();
            format!(
                "The rule library has problems, so it was **not** loaded; the current rules stay in use.\n```\n{}\n```",
                cut_chars(&problems.join("\n"), MESSAGE_LIMIT - 200)
            )
        }
    };
    ctx.send(
        CreateReply::default()
            .content(text)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// Post the digest of the last 24 hours in the moderators' channel now.
///
/// The daily digest is still posted at its time.
#[poise::command(slash_command, ephemeral, check = "checks::moderator")]
async fn digest(ctx: Context<'_>) -> Result<(), DiscordError> {
    // Reading the day and drawing the chart can outlast Discord's three seconds.
    ctx.defer_ephemeral().await?;
    let data = ctx.data();
    let window = crate::digest::DigestWindow::ending(
        data.tracker.clock().now(),
        chrono::Duration::hours(24),
        data.settings.digest_time_zone(),
    );
    let channel = data.discord().alert_channel;
    let room = crate::outbox::Room {
        destination: crate::outbox::Destination::Discord,
        channel: channel.to_string(),
    };
    let queued = data
        .tracker
        .queue_digest_now(crate::outbox::DigestOrder::of(&window), &room)
        .await?;
    info!(by = %ctx.author().id, "digest queued on request");
    // The outbox posts it within moments when Discord answers; wait that long to give the link.
    let mut posted = None;
    if let Some(id) = queued {
        let deadline = tokio::time::Instant::now() + DIGEST_WAIT;
        while tokio::time::Instant::now() < deadline {
            match data.tracker.store().outbox_row(id).await? {
                Some(row) if row.state == OutboxState::Sent => {
                    posted = row.message_id;
                    break;
                }
                Some(row) if row.state == OutboxState::GivenUp => break,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    let text = match posted {
        Some(message) => {
            let guild = ctx.guild_id().map_or("@me".to_owned(), |g| g.to_string());
            format!(
                "Digest posted in <#{channel}>: https://discord.com/channels/{guild}/{channel}/{message}"
            )
        }
        None => format!(
            "The digest is queued and will appear in <#{channel}> as soon as Discord takes it."
        ),
    };
    ctx.send(
        CreateReply::default()
            .content(text)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// Errors in commands are logged and, where possible, told to the person who asked.
async fn on_error(error: poise::FrameworkError<'_, Data, DiscordError>) {
    match error {
        poise::FrameworkError::Command { error, ctx, .. } => {
            warn!(command = %ctx.command().qualified_name, error = %error, "command failed");
            let _ = ctx
                .send(
                    CreateReply::default()
                        .content("That did not work; the details are in the bot's log.")
                        .ephemeral(true),
                )
                .await;
        }
        // The check already told the member why.
        poise::FrameworkError::CommandCheckFailed { ctx, .. } => {
            info!(command = %ctx.command().qualified_name, user = %ctx.author().id, "refused: not a moderator");
        }
        other => {
            if let Err(e) = poise::builtins::on_error(other).await {
                warn!(error = %e, "could not report a command error");
            }
        }
    }
}

/// The poise framework with Ascolto's commands; registers them once the bot is logged in.
pub fn framework(data: Data) -> poise::Framework<Data, DiscordError> {
    poise::Framework::builder()
        .options(poise::FrameworkOptions {
            commands: vec![ascolto()],
            on_error: |error| Box::pin(on_error(error)),
            allowed_mentions: Some(serenity::CreateAllowedMentions::new()),
            ..Default::default()
        })
        // Owners are not used; skipping the lookup saves a request at start.
        .initialize_owners(false)
        .setup(move |ctx, _ready, framework| {
            Box::pin(async move {
                // A failed registration must not disable the commands: they may be registered
                // from an earlier start already.
                match poise::builtins::register_globally(ctx, &framework.options().commands).await {
                    Ok(()) => info!("slash commands registered"),
                    Err(e) => warn!(error = %e, "could not register the slash commands"),
                }
                Ok(data)
            })
        })
        .build()
}
