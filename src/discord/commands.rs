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

use crate::alert::AlertView;
use crate::comment::{Author, Comment, Place, Source};
use crate::explain;
use crate::outbox::OutboxState;
use crate::sla::format_wait;
use crate::store::OpenQueue;
use crate::text::cut_chars;

use super::checks;
use super::ingest;
use super::markdown::MESSAGE_LIMIT;
use super::types::{Context, Data, DiscordError};

/// How long `/ascolto digest` waits for the outbox to post the digest before answering.
const DIGEST_WAIT: Duration = Duration::from_secs(10);

/// Open alerts listed at most, so the answer fits in one message.
const QUEUE_LINES: usize = 15;

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
    let queue = data.tracker.open_queue(QUEUE_LINES).await?;
    let text = queue_text(&queue, data.tracker.clock().now());
    ctx.send(
        CreateReply::default()
            .content(cut_chars(&text, MESSAGE_LIMIT))
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// The queue as one Discord message: the oldest comments, as many whole lines as fit, and how
/// many more wait. Lines are never cut, so the count of the rest is always shown.
fn queue_text(queue: &OpenQueue, now: chrono::DateTime<Utc>) -> String {
    // Counted apart from the page read: a comment closed in between must not show "0 waiting".
    let waiting = queue.waiting.max(queue.oldest.len() as u64);
    if waiting == 0 {
        return "Nothing is waiting for an answer. 🎉".to_owned();
    }
    let mut text = format!("**{waiting} waiting for an answer** (oldest first)\n");
    let mut shown = 0u64;
    for stored in &queue.oldest {
        let view = AlertView::new(stored, now);
        let labels = match view.labels_text() {
            l if l.is_empty() => "flagged".to_owned(),
            l => l,
        };
        let link = stored
            .comment
            .link
            .as_ref()
            .map(|l| format!(" — [open]({l})"))
            .unwrap_or_default();
        let line = format!(
            "• **{labels}** — {} in {}, waiting {}{link}\n  > {}\n",
            view.author,
            view.place(),
            format_wait(view.waited),
            cut_chars(&view.excerpt.replace('\n', " "), 80),
        );
        let rest = more_line(waiting - shown - 1);
        let length = |s: &str| s.chars().count();
        if length(&text) + length(&line) + length(&rest) > MESSAGE_LIMIT {
            break;
        }
        text.push_str(&line);
        shown += 1;
    }
    text.push_str(&more_line(waiting - shown));
    text
}

fn more_line(more: u64) -> String {
    if more == 0 {
        String::new()
    } else {
        format!("…and {more} more.\n")
    }
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
    let queued = data
        .tracker
        .queue_digest_now(
            crate::outbox::DigestOrder::of(&window),
            crate::outbox::Destination::Discord,
        )
        .await?;
    info!(by = %ctx.author().id, "digest queued on request");
    let channel = data.discord().alert_channel;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escalation::tests::{stored, t0};
    use crate::lifecycle::CommentState;
    use crate::rules::Label;

    fn queue(waiting: u64, shown: usize, text: &str) -> OpenQueue {
        queue_of(waiting, shown, text, "nora_*")
    }

    fn queue_of(waiting: u64, shown: usize, text: &str, author: &str) -> OpenQueue {
        OpenQueue {
            waiting,
            oldest: (0..shown)
                .map(|i| {
                    let mut s = stored(
                        &format!("c{i}"),
                        i as i64,
                        Label::Complaint,
                        CommentState::Alerted,
                    );
                    s.comment.text = text.to_owned();
                    s.comment.author.name = author.to_owned();
                    s
                })
                .collect(),
        }
    }

    #[test]
    fn a_long_queue_shows_whole_lines_within_one_message_and_counts_the_rest() {
        let long = "è ".repeat(200);
        let text = queue_text(&queue(40, QUEUE_LINES, &long), t0());
        assert!(
            text.chars().count() <= MESSAGE_LIMIT,
            "{}",
            text.chars().count()
        );
        let lines = text.matches("• **complaint**").count();
        assert!((5..QUEUE_LINES).contains(&lines), "{lines} lines: {text}");
        assert!(
            text.ends_with(&format!("…and {} more.\n", 40 - lines)),
            "{text}"
        );
        assert!(text.contains("/c0)") && !text.contains(&format!("/c{lines})")));
    }

    #[test]
    fn a_short_queue_is_shown_whole_and_an_empty_one_says_so() {
        let text = queue_text(&queue(2, 2, "Where is my parcel?"), t0());
        assert!(text.starts_with("**2 waiting for an answer**"), "{text}");
        assert_eq!(text.matches("• **complaint**").count(), 2, "{text}");
        assert!(!text.contains("more."), "{text}");
        // Closed between the count and the read: never "0 waiting" above a listed comment.
        assert!(queue_text(&queue(0, 1, "hi"), t0()).starts_with("**1 waiting"));
        assert_eq!(
            queue_text(&queue(0, 0, ""), t0()),
            "Nothing is waiting for an answer. 🎉"
        );
    }

    proptest::proptest! {
        /// Whatever members write and however long the queue, the answer is one Discord
        /// message of whole lines, and the lines shown plus the "…and N more" add up to the
        /// count.
        #[test]
        fn any_queue_fits_one_message_and_accounts_for_every_comment(
            text in "\\PC{0,300}",
            author in "\\PC{1,40}",
            shown in 0usize..=QUEUE_LINES,
            more in 0u64..100_000,
        ) {
            let waiting = shown as u64 + more;
            let answer = queue_text(&queue_of(waiting, shown, &text, &author), t0());
            proptest::prop_assert!(answer.chars().count() <= MESSAGE_LIMIT);
            let lines = answer.matches("\n• **complaint** — ").count() as u64;
            let rest = waiting - lines;
            if rest > 0 {
                let tail = format!("…and {rest} more.\n");
                proptest::prop_assert!(answer.ends_with(&tail), "{}", answer);
            } else {
                proptest::prop_assert!(!answer.contains("more.\n"), "{}", answer);
            }
        }
    }
}
