//! Replay: reads comments from a JSONL file (one JSON object a line) and turns them into
//! [`Comment`]s, so the demo and any exported history run through the live pipeline.
//!
//! The format is documented in the README. A broken line is reported with its line number
//! and skipped; the rest of the file is still replayed.

use std::io::BufRead;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::alert::AlertView;
use crate::clock::{Clock, ManualClock};
use crate::comment::{Author, AuthorId, Comment, CommentId, Place, Source};
use crate::escalation::{due_escalations, EscalationPolicy};
use crate::lifecycle::AlertRef;
use crate::sla::Sla;
use crate::tracker::{Ingested, Tracker, TrackerError};

/// Why a replay line could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: String,
        line: usize,
        message: String,
    },
}

/// One line of a replay file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    id: String,
    time: DateTime<Utc>,
    channel: String,
    author: String,
    #[serde(default)]
    author_id: Option<String>,
    text: String,
    #[serde(default)]
    staff: bool,
    #[serde(default)]
    bot: bool,
    #[serde(default)]
    dm: bool,
    #[serde(default)]
    reply_to: Option<String>,
    /// When the author joined (for new-member rules).
    #[serde(default)]
    joined: Option<DateTime<Utc>>,
    #[serde(default)]
    mentions: Vec<String>,
}

impl Record {
    fn into_comment(self) -> Comment {
        let author_id = self.author_id.unwrap_or_else(|| self.author.clone());
        let channel_name = self.channel.trim_start_matches('#').to_owned();
        let channel = if self.dm {
            format!("dm-{author_id}")
        } else {
            channel_name.clone()
        };
        let place = Place {
            is_dm: self.dm,
            ..Place::channel(channel, channel_name)
        };
        let author = Author {
            is_staff: self.staff,
            is_bot: self.bot,
            joined_at: self.joined,
            ..Author::member(author_id, self.author)
        };
        Comment::new(self.id, Source::Replay, place, author, self.text, self.time)
            .with_reply_to(self.reply_to.map(CommentId))
            .with_mentions(self.mentions.into_iter().map(AuthorId).collect())
    }
}

/// Parses one JSONL line (1-based `line` for messages).
pub fn parse_line(path: &str, line: usize, text: &str) -> Result<Comment, ReplayError> {
    let record: Record = serde_json::from_str(text).map_err(|e| ReplayError::Line {
        path: path.to_owned(),
        line,
        message: e.to_string(),
    })?;
    if record.text.trim().is_empty() {
        return Err(ReplayError::Line {
            path: path.to_owned(),
            line,
            message: "field `text` is empty".into(),
        });
    }
    Ok(record.into_comment())
}

/// Reads a whole replay file: the comments in time order, and the lines that were skipped.
pub fn read(path: &Path) -> Result<(Vec<Comment>, Vec<ReplayError>), ReplayError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ReplayError::Io {
        path: name.clone(),
        source,
    })?;
    let mut comments = Vec::new();
    let mut skipped = Vec::new();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| ReplayError::Io {
            path: name.clone(),
            source,
        })?;
        if line.trim().is_empty() || line.trim_start().starts_with("//") {
            continue;
        }
        match parse_line(&name, index + 1, &line) {
            Ok(c) => comments.push(c),
            Err(e) => skipped.push(e),
        }
    }
    // Stable: comments with the same time keep file order.
    comments.sort_by_key(|c| c.time);
    Ok((comments, skipped))
}

/// Counts of what a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    pub comments: usize,
    pub flagged: usize,
    pub answered_in_channel: usize,
    pub duplicates: usize,
    /// Missed response targets escalated (only with a [`Watch`]), and how many pinged.
    pub escalated: usize,
    pub pinged: usize,
}

/// What the replay checks as its clock moves, the way the live bot's scheduler would:
/// response-time targets, with escalations printed when one is missed.
#[derive(Debug, Clone, Copy)]
pub struct Watch<'a> {
    pub sla: &'a Sla,
    pub escalation: &'a EscalationPolicy,
    /// How often targets are checked between comments.
    pub every: Duration,
}

/// Feeds comments through the tracker in time order, with the clock following the comments,
/// and writes each alert as a moderator would see it.
pub async fn run(
    tracker: &Tracker,
    clock: &ManualClock,
    comments: &[Comment],
    out: &mut dyn std::io::Write,
) -> Result<ReplaySummary, TrackerError> {
    run_watched(tracker, clock, comments, None, out).await
}

/// As [`run`], also checking response-time targets every `watch.every` of replayed time:
/// alerts show their target, and each missed target is escalated once.
pub async fn run_watched(
    tracker: &Tracker,
    clock: &ManualClock,
    comments: &[Comment],
    watch: Option<&Watch<'_>>,
    out: &mut dyn std::io::Write,
) -> Result<ReplaySummary, TrackerError> {
    let mut summary = ReplaySummary::default();
    for comment in comments {
        if comment.author.is_bot {
            continue;
        }
        if let Some(watch) = watch {
            watch_until(tracker, clock, watch, comment.time, &mut summary, out).await?;
        }
        clock.set(comment.time);
        summary.comments += 1;
        let outcome = tracker.ingest(comment).await?;
        for answered in &outcome.answered {
            summary.answered_in_channel += 1;
            let _ = writeln!(
                out,
                "✓ {} answered {}'s comment in #{} ({})\n",
                comment.author.name,
                answered.comment.author.name,
                answered.comment.place.channel_name,
                answered.comment.id
            );
        }
        match outcome.ingested {
            Ingested::Duplicate => summary.duplicates += 1,
            Ingested::Clear(_) => {}
            Ingested::Flagged(stored) => {
                summary.flagged += 1;
                let mut view = AlertView::new(&stored, clock.now());
                if let Some(watch) = watch {
                    view = view.with_sla(&stored, watch.sla, clock.now());
                }
                let _ = writeln!(out, "[{}] {}", comment.time.format("%H:%M"), view.to_text());
                // The terminal is this adapter's alert channel.
                tracker
                    .mark_alerted(
                        &comment.id,
                        AlertRef {
                            channel: "terminal".into(),
                            message: comment.id.0.clone(),
                            posted_at: clock.now(),
                        },
                    )
                    .await?;
            }
        }
    }
    if let Some(watch) = watch {
        let now = clock.now();
        watch_until(tracker, clock, watch, now, &mut summary, out).await?;
    }
    Ok(summary)
}

/// Moves the clock to `until` in `watch.every` steps, escalating what is due at each step.
async fn watch_until(
    tracker: &Tracker,
    clock: &ManualClock,
    watch: &Watch<'_>,
    until: DateTime<Utc>,
    summary: &mut ReplaySummary,
    out: &mut dyn std::io::Write,
) -> Result<(), TrackerError> {
    let step = watch.every.max(Duration::seconds(1));
    let mut at = clock.now();
    loop {
        at = (at + step).min(until);
        clock.set(at);
        for escalation in due_escalations(tracker, watch.sla, watch.escalation).await? {
            summary.escalated += 1;
            summary.pinged += usize::from(escalation.ping.is_some());
            let _ = writeln!(out, "[{}] {}", at.format("%H:%M"), escalation.to_text());
        }
        if at >= until {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_minimal_line() {
        let c = parse_line(
            "x.jsonl",
            1,
            r##"{"id":"c1","time":"2026-11-20T09:00:00Z","channel":"#support","author":"nora","text":"hi?"}"##,
        )
        .unwrap();
        assert_eq!(c.place.channel_name, "support");
        assert_eq!(c.author.id.as_str(), "nora");
        assert!(!c.place.is_dm);
    }

    #[test]
    fn a_bad_line_names_file_line_and_field() {
        let err = parse_line(
            "x.jsonl",
            7,
            r#"{"id":"c1","channel":"a","author":"b","text":"t"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("x.jsonl:7: missing field `time`"), "{err}");
    }

    #[test]
    fn unknown_fields_are_reported() {
        let err = parse_line(
            "x.jsonl",
            2,
            r#"{"id":"c1","time":"2026-11-20T09:00:00Z","channel":"a","author":"b","txt":"t","text":"t"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `txt`"), "{err}");
    }
}
