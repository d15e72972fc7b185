//! Replay: reads comments from a JSONL file (one JSON object a line) and feeds them through
//! the live pipeline, so the demo and any exported history run as the bot would.
//!
//! The format is documented in the README. The file is read as a stream, one line at a time
//! in file order, so memory stays flat whatever its size: a replay file is expected in time
//! order, as exports are. A line that cannot be used (malformed JSON, bytes that are not
//! UTF-8, a time outside [`EARLIEST_YEAR`]..[`LATEST_YEAR`], a comment over the length limit)
//! is reported with its line number and skipped; the rest of the file is still replayed.

use std::io::{BufRead, Write};
use std::path::Path;

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::Deserialize;

use crate::alert::AlertView;
use crate::clock::{Clock, ManualClock};
use crate::comment::{Author, AuthorId, Comment, CommentId, Place, Source};
use crate::escalation::{due_escalations, next_deadline, EscalationPolicy};
use crate::failures::Stage;
use crate::lifecycle::{AlertRef, CommentState, StoredComment};
use crate::sla::Sla;
use crate::tracker::{Ingested, Tracker, TrackerError};

/// Replayed times must fall in `EARLIEST_YEAR..LATEST_YEAR` (from 2000-01-01 to before
/// 2100-01-01): a year such as 0000 or 9999 is a broken export, and replaying up to it would
/// move the clock through centuries.
pub const EARLIEST_YEAR: i32 = 2000;
pub const LATEST_YEAR: i32 = 2100;

/// A line longer than this many bytes per allowed character (plus [`LINE_SLACK`]) cannot hold
/// an acceptable comment: JSON writes one character in at most 12 bytes (`\ud83d\ude00`).
const BYTES_PER_CHAR: usize = 12;
/// Room for the other fields of a line besides the text.
const LINE_SLACK: usize = 64 * 1024;

/// After this many comments in a row the tracker could not process, the replay stops: the
/// store is gone (disk full, file removed), and every further comment would fail the same way.
const MAX_FAILURES_IN_A_ROW: usize = 50;

/// Why a replay line could not be used, or the replay could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// One line; the replay skips it and goes on.
    #[error("{path}:{line}: {message}")]
    Line {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: the replay stopped after {failures} comments in a row could not be processed (last, line {line}): {source}")]
    Failing {
        path: String,
        line: usize,
        failures: usize,
        #[source]
        source: TrackerError,
    },
    #[error("{path}: replay stopped while checking response targets: {source}")]
    Tracker {
        path: String,
        #[source]
        source: TrackerError,
    },
}

/// What a replay file may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest comment text, in characters (`[triage] max_comment_chars`). Longer comments are
    /// refused, not cut: a cut comment would be triaged and stored as something its author
    /// never wrote, and refusing a line unread keeps memory bounded.
    pub max_comment_chars: usize,
}

impl Limits {
    fn max_line_bytes(self) -> usize {
        self.max_comment_chars
            .saturating_mul(BYTES_PER_CHAR)
            .saturating_add(LINE_SLACK)
    }
}

/// One line of a replay file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    id: String,
    /// Read as any JSON value so a bad time is reported naming its field (serde's own
    /// message gives only a column).
    time: serde_json::Value,
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
    joined: Option<serde_json::Value>,
    #[serde(default)]
    mentions: Vec<String>,
    /// The platform the comment was written on (`discord`, `telegram`, `facebook`,
    /// `instagram`, `messenger`); absent, it is a replayed comment with no platform.
    #[serde(default)]
    platform: Option<String>,
    /// The post (Facebook) or media (Instagram) the comment is under.
    #[serde(default)]
    post_id: Option<String>,
    /// The platform's own id of the comment (`id` stays the replay's key).
    #[serde(default)]
    comment_id: Option<String>,
}

/// A time field: an RFC 3339 string within the replayable years, or a message naming `field`.
fn time_field(field: &str, value: &serde_json::Value) -> Result<DateTime<Utc>, String> {
    let serde_json::Value::String(text) = value else {
        return Err(format!(
            "field `{field}`: {value} is not a time; write it as an RFC 3339 string such as \"2026-11-20T08:05:00Z\""
        ));
    };
    let time: DateTime<Utc> = text.parse().map_err(|e| {
        format!(
            "field `{field}`: `{text}` is not an RFC 3339 time such as 2026-11-20T08:05:00Z ({e})"
        )
    })?;
    if !(EARLIEST_YEAR..LATEST_YEAR).contains(&time.year()) {
        return Err(format!(
            "field `{field}`: {text} is out of range (replayed times must be from {EARLIEST_YEAR}-01-01 to before {LATEST_YEAR}-01-01)"
        ));
    }
    Ok(time)
}

/// How moderators read a channel's name on a platform that is not Discord, as the live
/// channels name them ("Telegram · Clienti").
fn platform_channel(source: Source, channel: &str) -> String {
    let platform = match source {
        Source::Discord | Source::Replay => return channel.to_owned(),
        Source::Telegram => "Telegram",
        Source::Facebook => "Facebook",
        Source::Instagram => "Instagram",
        Source::Messenger => "Messenger",
    };
    format!("{platform} · {channel}")
}

impl Record {
    /// The platform named by `platform`, or an error naming the field.
    fn source(&self) -> Result<Source, String> {
        match self.platform.as_deref() {
            None => Ok(Source::Replay),
            Some(name) => Source::parse(name)
                .filter(|s| *s != Source::Replay)
                .ok_or_else(|| {
                    format!(
                        "field `platform`: `{name}` is not one of discord, telegram, facebook, instagram, messenger"
                    )
                }),
        }
    }

    fn into_comment(
        self,
        source: Source,
        time: DateTime<Utc>,
        joined: Option<DateTime<Utc>>,
    ) -> Comment {
        let author_id = self.author_id.unwrap_or_else(|| self.author.clone());
        let channel_name = platform_channel(source, self.channel.trim_start_matches('#'));
        let channel = if self.dm {
            format!("dm-{author_id}")
        } else {
            match &self.post_id {
                Some(post) => format!("{}:{post}", source.as_str()),
                None => channel_name.clone(),
            }
        };
        // The same link the live channel gives a Facebook comment.
        let link = match (source, &self.post_id, &self.comment_id) {
            (Source::Facebook, Some(post), Some(comment)) => Some(format!(
                "https://www.facebook.com/{post}?comment_id={comment}"
            )),
            _ => None,
        };
        let place = Place {
            is_dm: self.dm,
            ..Place::channel(channel, channel_name)
        };
        let author = Author {
            is_staff: self.staff,
            is_bot: self.bot,
            joined_at: joined,
            ..Author::member(author_id, self.author)
        };
        Comment::new(self.id, source, place, author, self.text, time)
            .with_reply_to(self.reply_to.map(CommentId))
            .with_mentions(self.mentions.into_iter().map(AuthorId).collect())
            .with_link(link)
    }
}

/// Parses one JSONL line (1-based `line` for messages), with the default limits.
pub fn parse_line(path: &str, line: usize, text: &str) -> Result<Comment, ReplayError> {
    parse_line_within(path, line, text, Limits::default())
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_comment_chars: 20_000,
        }
    }
}

/// Parses one JSONL line (1-based `line` for messages), refusing a comment over `limits`.
pub fn parse_line_within(
    path: &str,
    line: usize,
    text: &str,
    limits: Limits,
) -> Result<Comment, ReplayError> {
    let at_line = |message: String| ReplayError::Line {
        path: path.to_owned(),
        line,
        message,
    };
    let record: Record = serde_json::from_str(text).map_err(|e| at_line(e.to_string()))?;
    let time = time_field("time", &record.time).map_err(at_line)?;
    let joined = record
        .joined
        .as_ref()
        .filter(|value| !value.is_null())
        .map(|value| time_field("joined", value))
        .transpose()
        .map_err(at_line)?;
    if record.text.trim().is_empty() {
        return Err(at_line("field `text` is empty".into()));
    }
    let chars = record.text.chars().count();
    if chars > limits.max_comment_chars {
        return Err(at_line(format!(
            "comment `{}`: field `text` is {chars} characters long, over the limit of {} (`[triage] max_comment_chars`); line skipped",
            record.id, limits.max_comment_chars
        )));
    }
    let source = record.source().map_err(at_line)?;
    Ok(record.into_comment(source, time, joined))
}

/// A comment read from a replay file, with the line it came from.
#[derive(Debug, Clone)]
pub struct Entry {
    pub line: usize,
    pub comment: Comment,
}

/// Reads a replay file one line at a time: yields each comment in file order, a
/// [`ReplayError::Line`] for each line skipped, and at most one [`ReplayError::Io`], last,
/// if the file cannot be read on.
#[derive(Debug)]
pub struct Reader<R> {
    path: String,
    input: R,
    limits: Limits,
    line: usize,
    buf: Vec<u8>,
    finished: bool,
}

/// Opens a replay file for reading as a stream.
pub fn open(
    path: &Path,
    limits: Limits,
) -> Result<Reader<std::io::BufReader<std::fs::File>>, ReplayError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ReplayError::Io {
        path: name.clone(),
        source,
    })?;
    Ok(Reader::new(name, std::io::BufReader::new(file), limits))
}

impl<R: BufRead> Reader<R> {
    /// Reads `input`, naming it `path` in messages.
    pub fn new(path: impl Into<String>, input: R, limits: Limits) -> Reader<R> {
        Reader {
            path: path.into(),
            input,
            limits,
            line: 0,
            buf: Vec::new(),
            finished: false,
        }
    }

    /// The name messages give the file.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn skipped_line(&self, message: String) -> ReplayError {
        ReplayError::Line {
            path: self.path.clone(),
            line: self.line,
            message,
        }
    }
}

/// Reads one line into `buf` without its `\n`, keeping at most `cap` bytes: a longer line is
/// read to its end and the rest dropped, so one huge line cannot fill memory. `None` at the end
/// of the input, else whether the line was cut.
fn read_line_capped(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut read_any = false;
    let mut cut = false;
    loop {
        let available = match input.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(read_any.then_some(cut));
        }
        read_any = true;
        let newline = available.iter().position(|b| *b == b'\n');
        let part = newline.map_or(available.len(), |at| at);
        let room = cap.saturating_sub(buf.len());
        cut |= part > room;
        buf.extend(available.iter().take(part.min(room)));
        let used = newline.map_or(part, |at| at + 1);
        input.consume(used);
        if newline.is_some() {
            return Ok(Some(cut));
        }
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Entry, ReplayError>;

    fn next(&mut self) -> Option<Self::Item> {
        let cap = self.limits.max_line_bytes();
        while !self.finished {
            let cut = match read_line_capped(&mut self.input, &mut self.buf, cap) {
                Ok(Some(cut)) => cut,
                Ok(None) => {
                    self.finished = true;
                    return None;
                }
                Err(source) => {
                    self.finished = true;
                    return Some(Err(ReplayError::Io {
                        path: self.path.clone(),
                        source,
                    }));
                }
            };
            self.line += 1;
            if cut {
                return Some(Err(self.skipped_line(format!(
                    "line is longer than {cap} bytes, more than a comment of at most {} characters (`[triage] max_comment_chars`) can take; line skipped",
                    self.limits.max_comment_chars
                ))));
            }
            let mut bytes = self.buf.as_slice();
            // Editors on Windows start files with a byte order mark; it is not part of the JSON.
            if self.line == 1 {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            let text = match std::str::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    return Some(Err(self.skipped_line(format!(
                    "not valid UTF-8 (byte {} of the line); line skipped (save the file as UTF-8)",
                    e.valid_up_to() + 1
                ))))
                }
            };
            if text.trim().is_empty() || text.trim_start().starts_with("//") {
                continue;
            }
            return Some(
                parse_line_within(&self.path, self.line, text, self.limits).map(|comment| Entry {
                    line: self.line,
                    comment,
                }),
            );
        }
        None
    }
}

/// Counts of what a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Comments replayed (bots' messages and failed comments are not counted).
    pub comments: usize,
    pub flagged: usize,
    pub answered_in_channel: usize,
    pub duplicates: usize,
    /// Missed response targets escalated (only with a [`Watch`]), and how many pinged.
    pub escalated: usize,
    pub pinged: usize,
    /// Lines skipped as unusable (each reported as a problem).
    pub skipped: usize,
    /// Comments the tracker failed on (each reported with its line and id).
    pub failed: usize,
    /// Comments earlier than the one before them, replayed at the replay's current time.
    pub out_of_order: usize,
    /// Questions still within their grace when the file ended (not alerted, not answered).
    pub in_grace: usize,
}

/// Where a replay reports what is not an alert: the lines it skipped, the comments it could
/// not process, and how far it has got.
pub trait Notes {
    /// One problem, already worded with its file and line.
    fn problem(&mut self, message: &str);
    /// Called after each comment with the counts so far.
    fn progress(&mut self, _summary: &ReplaySummary) {}
}

/// Problems collected in memory (tests, callers that print them later).
impl Notes for Vec<String> {
    fn problem(&mut self, message: &str) {
        self.push(message.to_owned());
    }
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

/// Feeds comments through the tracker in the order given, with the clock following the
/// comments, and writes each alert as a moderator would see it to `out`.
pub async fn run<I>(
    tracker: &Tracker,
    clock: &ManualClock,
    path: &str,
    entries: I,
    out: &mut dyn Write,
    notes: &mut dyn Notes,
) -> Result<ReplaySummary, ReplayError>
where
    I: IntoIterator<Item = Result<Entry, ReplayError>>,
{
    run_watched(tracker, clock, path, entries, None, out, notes).await
}

/// As [`run`], also checking response-time targets every `watch.every` of replayed time:
/// alerts show their target, and each missed target is escalated once.
///
/// Entries are taken one at a time (a [`Reader`] streams them from a file). A skipped line is
/// reported to `notes` and counted; so is a comment the tracker fails on, and the replay goes
/// on, unless that happens to [`MAX_FAILURES_IN_A_ROW`] comments in a row. A comment earlier
/// than the replay's clock is replayed at the clock's time (time never goes back: targets and
/// escalations already decided stay decided), with its own time kept, and reported, unless it
/// repeats an id already replayed (ignored, as the bot would).
pub async fn run_watched<I>(
    tracker: &Tracker,
    clock: &ManualClock,
    path: &str,
    entries: I,
    watch: Option<&Watch<'_>>,
    out: &mut dyn Write,
    notes: &mut dyn Notes,
) -> Result<ReplaySummary, ReplayError>
where
    I: IntoIterator<Item = Result<Entry, ReplayError>>,
{
    let mut summary = ReplaySummary::default();
    let mut due = DueCheck::default();
    let mut started = false;
    let mut failures_in_a_row = 0;
    for entry in entries {
        let Entry { line, comment } = match entry {
            Ok(entry) => entry,
            Err(problem @ ReplayError::Line { .. }) => {
                summary.skipped += 1;
                notes.problem(&format!("skipped: {problem}"));
                continue;
            }
            Err(fatal) => return Err(fatal),
        };
        if comment.author.is_bot {
            continue;
        }
        let mut late = None;
        if !started {
            // The clock starts at the first comment, not at whatever it was built with.
            clock.set(comment.time);
            started = true;
        } else if comment.time < clock.now() {
            late = Some(clock.now());
        } else if let Some(watch) = watch {
            watch_until(
                tracker,
                clock,
                watch,
                &mut due,
                comment.time,
                &mut summary,
                out,
            )
            .await
            .map_err(|source| ReplayError::Tracker {
                path: path.to_owned(),
                source,
            })?;
        }
        if comment.time > clock.now() {
            clock.set(comment.time);
        }
        show_graced(tracker, clock, watch, &mut due, out)
            .await
            .map_err(|source| ReplayError::Tracker {
                path: path.to_owned(),
                source,
            })?;
        let duplicates = summary.duplicates;
        match replay_one(tracker, clock, watch, &mut due, &comment, &mut summary, out).await {
            Ok(()) => failures_in_a_row = 0,
            Err(source) => {
                summary.failed += 1;
                // A bug met on one comment says nothing about the next; a database that
                // keeps failing does, and stops the run.
                if !matches!(source, TrackerError::Panicked { .. }) {
                    failures_in_a_row += 1;
                }
                if failures_in_a_row >= MAX_FAILURES_IN_A_ROW {
                    return Err(ReplayError::Failing {
                        path: path.to_owned(),
                        line,
                        failures: failures_in_a_row,
                        source,
                    });
                }
                let recorded = match tracker
                    .record_failure(&comment, Stage::Ingest, &source)
                    .await
                {
                    Ok(()) => {
                        "recorded; replaying the file again into this database tries it again"
                    }
                    Err(_) => "and it could not be recorded",
                };
                notes.problem(&format!(
                    "{path}:{line}: comment `{}` could not be processed (database {}; {recorded}): {source}",
                    comment.id,
                    tracker.store().name()
                ));
            }
        }
        // A repeated id is ignored wherever it comes, so only a new comment can be late.
        if let (Some(now), false) = (late, summary.duplicates > duplicates) {
            summary.out_of_order += 1;
            notes.problem(&format!(
                "{path}:{line}: comment `{}` at {} is earlier than the comment before it: replayed at {} (a replay file is expected in time order)",
                comment.id,
                comment.time.to_rfc3339(),
                now.to_rfc3339(),
            ));
        }
        notes.progress(&summary);
    }
    if let Some(watch) = watch {
        let now = clock.now();
        watch_until(tracker, clock, watch, &mut due, now, &mut summary, out)
            .await
            .map_err(|source| ReplayError::Tracker {
                path: path.to_owned(),
                source,
            })?;
    }
    // Questions still within their grace when the file ends would be alerted later, if
    // nobody answers them first: the bot's next check after their grace would post them.
    summary.in_grace = due.graced.len();
    Ok(summary)
}

/// One comment through the tracker, at the clock's time; its alert (if any) written to `out`.
async fn replay_one(
    tracker: &Tracker,
    clock: &ManualClock,
    watch: Option<&Watch<'_>>,
    due: &mut DueCheck,
    comment: &Comment,
    summary: &mut ReplaySummary,
    out: &mut dyn Write,
) -> Result<(), TrackerError> {
    let outcome = tracker.ingest(comment).await?;
    summary.comments += 1;
    for answered in &outcome.answered {
        summary.answered_in_channel += 1;
        let _ = writeln!(
            out,
            "✓ {} answered {}'s comment in {} ({})\n",
            comment.author.name,
            answered.comment.author.name,
            answered.comment.place_described(),
            answered.comment.id
        );
    }
    match outcome.ingested {
        Ingested::Duplicate => {
            summary.duplicates += 1;
            // A replay killed between storing a flag and showing it left the flag unshown;
            // shown now, as the bot posts such alerts at its next start.
            if let Some(stored) = tracker.store().comment(&comment.id).await? {
                if stored.state == CommentState::Flagged && stored.alert.is_none() {
                    show_or_hold(tracker, clock, watch, due, &stored, out).await?;
                }
            }
        }
        Ingested::Clear(_) => {}
        Ingested::Flagged(stored) => {
            summary.flagged += 1;
            if let Some(watch) = watch {
                due.flagged(&stored, watch.sla);
            }
            show_or_hold(tracker, clock, watch, due, &stored, out).await?;
        }
    }
    Ok(())
}

/// Shows a flagged comment's alert now, or holds it until the end of its question grace.
async fn show_or_hold(
    tracker: &Tracker,
    clock: &ManualClock,
    watch: Option<&Watch<'_>>,
    due: &mut DueCheck,
    stored: &StoredComment,
    out: &mut dyn Write,
) -> Result<(), TrackerError> {
    if let Some(ends) = tracker
        .grace_ends(stored)
        .filter(|ends| *ends > clock.now())
    {
        due.graced.push((ends, stored.comment.id.clone()));
        return Ok(());
    }
    show_alert(tracker, clock, watch, stored, out).await
}

/// Shows the held questions whose grace has run out by the clock's time and that are still
/// unanswered (answered within the grace, they are never shown), in the order they fell due.
async fn show_graced(
    tracker: &Tracker,
    clock: &ManualClock,
    watch: Option<&Watch<'_>>,
    due: &mut DueCheck,
    out: &mut dyn Write,
) -> Result<(), TrackerError> {
    let now = clock.now();
    if !due.graced.iter().any(|(at, _)| *at <= now) {
        return Ok(());
    }
    due.graced.sort();
    let split = due.graced.partition_point(|(at, _)| *at <= now);
    let ready: Vec<_> = due.graced.drain(..split).collect();
    for (_, id) in ready {
        if let Some(stored) = tracker.store().comment(&id).await? {
            if stored.state == CommentState::Flagged && stored.alert.is_none() {
                show_alert(tracker, clock, watch, &stored, out).await?;
            }
        }
    }
    Ok(())
}

/// Writes a flagged comment's alert to `out`, the terminal being this adapter's alert
/// channel, and records it as shown.
async fn show_alert(
    tracker: &Tracker,
    clock: &ManualClock,
    watch: Option<&Watch<'_>>,
    stored: &StoredComment,
    out: &mut dyn Write,
) -> Result<(), TrackerError> {
    let comment = &stored.comment;
    let mut view = AlertView::new(stored, clock.now());
    if let Some(watch) = watch {
        view = view.with_sla(stored, watch.sla, clock.now());
    }
    // Shown at the replay's time: a question's alert comes at the end of its grace.
    let _ = writeln!(out, "[{}] {}", clock.now().format("%H:%M"), view.to_text());
    tracker
        .mark_alerted(
            &comment.id,
            AlertRef {
                channel: "terminal".into(),
                message: comment.id.0.clone(),
                posted_at: clock.now(),
            },
        )
        .await
}

/// The earliest moment an escalation can fall due, kept between the replay's steps: the open
/// comments are read again only once a check may really find something, not at every step
/// (reading them at every comment made a day with thousands of open comments quadratic).
/// It is a lower bound: an answer only moves the true earliest deadline later.
#[derive(Debug, Default)]
struct DueCheck {
    /// `None` when unknown (the store must be asked); `Some(None)` when nothing is due.
    earliest: Option<Option<DateTime<Utc>>>,
    /// Questions flagged within their grace: when each alert is due, if still unanswered.
    graced: Vec<(DateTime<Utc>, CommentId)>,
}

impl DueCheck {
    async fn earliest(
        &mut self,
        tracker: &Tracker,
        sla: &Sla,
    ) -> Result<Option<DateTime<Utc>>, TrackerError> {
        if let Some(known) = self.earliest {
            return Ok(known);
        }
        let earliest = next_deadline(tracker, sla).await?;
        self.earliest = Some(earliest);
        Ok(earliest)
    }

    /// A comment was just flagged: its deadline may be the earliest.
    fn flagged(&mut self, stored: &StoredComment, sla: &Sla) {
        if let (Some(known), Some(new)) = (self.earliest.as_mut(), deadline(stored, sla)) {
            *known = Some(known.map_or(new, |k| k.min(new)));
        }
    }
}

/// When an open comment misses its target, if its clock is still running by then.
fn deadline(stored: &StoredComment, sla: &Sla) -> Option<DateTime<Utc>> {
    if !stored.state.is_open() {
        return None;
    }
    let clock = sla.clock_for(stored)?;
    clock
        .stopped
        .is_none_or(|stopped| stopped >= clock.deadline)
        .then_some(clock.deadline)
}

/// Moves the clock to `until` in `watch.every` steps, escalating what is due at each step.
///
/// Steps before the earliest deadline are skipped (nothing can be escalated in them), so a
/// gap of months between two comments costs a few steps, not one every few minutes; the
/// steps taken are the same as without skipping, so escalations show the same times.
async fn watch_until(
    tracker: &Tracker,
    clock: &ManualClock,
    watch: &Watch<'_>,
    due: &mut DueCheck,
    until: DateTime<Utc>,
    summary: &mut ReplaySummary,
    out: &mut dyn std::io::Write,
) -> Result<(), TrackerError> {
    let step = watch.every.max(Duration::seconds(1));
    let step_ms = step.num_milliseconds().max(1);
    let mut at = clock.now();
    loop {
        let earliest = if watch.escalation.enabled {
            due.earliest(tracker, watch.sla).await?
        } else {
            None
        };
        let mut steps = 1;
        if until - at > step {
            // A held question falling due is a step too, so its alert comes before later
            // escalations.
            let graced = due.graced.iter().map(|(at, _)| *at).min();
            let target = [earliest, graced]
                .into_iter()
                .flatten()
                .fold(until, |target, at| target.min(at));
            // The first step at or after `target`.
            let ms = (target - at).num_milliseconds();
            steps = ms.saturating_add(step_ms - 1).div_euclid(step_ms).max(1);
        }
        at = at
            .checked_add_signed(Duration::milliseconds(steps.saturating_mul(step_ms)))
            .map_or(until, |next| next.min(until));
        clock.set(at);
        show_graced(tracker, clock, Some(watch), due, out).await?;
        // Before the earliest deadline nothing can be escalated: no need to look.
        if earliest.is_some_and(|deadline| at >= deadline) {
            for escalation in due_escalations(tracker, watch.sla, watch.escalation).await? {
                summary.escalated += 1;
                summary.pinged += usize::from(escalation.ping.is_some());
                let _ = writeln!(out, "[{}] {}", at.format("%H:%M"), escalation.to_text());
            }
            due.earliest = None;
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

    fn line(id: &str, time: &str, text: &str) -> String {
        format!(
            r#"{{"id":"{id}","time":"{time}","channel":"general","author":"ann","text":"{text}"}}"#
        )
    }

    /// What a reader makes of `input`: comment ids, and the problems as text.
    fn read_all(input: &[u8], limits: Limits) -> (Vec<String>, Vec<String>) {
        let mut ids = Vec::new();
        let mut problems = Vec::new();
        for entry in Reader::new("x.jsonl", input, limits) {
            match entry {
                Ok(entry) => ids.push(format!("{}@{}", entry.comment.id.0, entry.line)),
                Err(e) => problems.push(e.to_string()),
            }
        }
        (ids, problems)
    }

    #[test]
    fn a_byte_that_is_not_utf8_skips_its_line_only() {
        let mut input = Vec::new();
        input.extend(line("c1", "2026-11-20T09:00:00Z", "hi").bytes());
        input.push(b'\n');
        input.extend(line("c2", "2026-11-20T09:01:00Z", "caf").bytes());
        // A Latin-1 é in the middle of the second line.
        let at = input.len() - 3;
        input.insert(at, 0xE9);
        input.push(b'\n');
        input.extend(line("c3", "2026-11-20T09:02:00Z", "ok").bytes());
        let (ids, problems) = read_all(&input, Limits::default());
        assert_eq!(ids, ["c1@1", "c3@3"]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("x.jsonl:2: not valid UTF-8"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_byte_order_mark_and_windows_line_ends_are_tolerated() {
        let input = format!(
            "\u{feff}{}\r\n{}\r\n",
            line("c1", "2026-11-20T09:00:00Z", "hi"),
            line("c2", "2026-11-20T09:01:00Z", "yo")
        );
        let (ids, problems) = read_all(input.as_bytes(), Limits::default());
        assert_eq!(ids, ["c1@1", "c2@2"]);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn the_platform_and_its_ids_are_read_and_a_wrong_platform_is_named() {
        let fb = r#"{"id":"f1","time":"2026-11-20T12:00:00Z","channel":"Acme Shop","author":"Nora","text":"hi","platform":"facebook","post_id":"100_5","comment_id":"5_77"}"#;
        let comment = parse_line("x.jsonl", 1, fb).unwrap();
        assert_eq!(comment.source, Source::Facebook);
        assert_eq!(comment.place.channel_name, "Facebook · Acme Shop");
        assert_eq!(comment.place.channel.as_str(), "facebook:100_5");
        assert_eq!(
            comment.link.as_deref(),
            Some("https://www.facebook.com/100_5?comment_id=5_77")
        );
        let tg = r#"{"id":"t1","time":"2026-11-20T10:00:00Z","channel":"Clienti","author":"nora","text":"Il pacco non è arrivato","platform":"telegram"}"#;
        let comment = parse_line("x.jsonl", 1, tg).unwrap();
        assert_eq!(comment.source, Source::Telegram);
        assert_eq!(comment.place.channel_name, "Telegram · Clienti");
        let plain = parse_line("x.jsonl", 2, &line("c1", "2026-11-20T12:00:00Z", "hi")).unwrap();
        assert_eq!(plain.source, Source::Replay);
        assert_eq!(plain.link, None);
        let err = parse_line(
            "x.jsonl",
            3,
            r#"{"id":"c2","time":"2026-11-20T12:00:00Z","channel":"a","author":"b","text":"t","platform":"myspace"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("x.jsonl:3: field `platform`: `myspace` is not one of"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_time_names_the_time_field() {
        let err = parse_line("x.jsonl", 4, &line("c1", "yesterday", "hi"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("x.jsonl:4: field `time`: `yesterday` is not an RFC 3339 time"),
            "{err}"
        );
        let err = parse_line(
            "x.jsonl",
            5,
            r#"{"id":"c1","time":1700000000,"channel":"a","author":"b","text":"t"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("x.jsonl:5: field `time`: 1700000000 is not a time"),
            "{err}"
        );
    }

    #[test]
    fn times_outside_the_replayable_years_are_refused_naming_the_field() {
        for time in [
            "9999-12-31T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "2100-01-01T00:00:00Z",
            "1999-12-31T23:59:59Z",
        ] {
            let err = parse_line("x.jsonl", 1, &line("c1", time, "hi"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("field `time`"), "{err}");
            assert!(err.contains("out of range"), "{err}");
        }
        assert!(parse_line("x.jsonl", 1, &line("c1", "2000-01-01T00:00:00Z", "hi")).is_ok());
        assert!(parse_line("x.jsonl", 1, &line("c1", "2099-12-31T23:59:59Z", "hi")).is_ok());
        let err = parse_line(
            "x.jsonl",
            1,
            r#"{"id":"c1","time":"2026-11-20T09:00:00Z","channel":"a","author":"b","text":"t","joined":"0001-01-01T00:00:00Z"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("field `joined`"), "{err}");
    }

    #[test]
    fn a_comment_over_the_length_limit_is_refused_with_its_id() {
        let limits = Limits {
            max_comment_chars: 5,
        };
        let err = parse_line_within(
            "x.jsonl",
            3,
            &line("c9", "2026-11-20T09:00:00Z", "éééééé"),
            limits,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("comment `c9`: field `text` is 6 characters long, over the limit of 5"),
            "{err}"
        );
        assert!(parse_line_within(
            "x.jsonl",
            3,
            &line("c9", "2026-11-20T09:00:00Z", "ééééé"),
            limits
        )
        .is_ok());
    }

    #[test]
    fn a_line_too_long_for_any_allowed_comment_is_skipped_unread() {
        let limits = Limits {
            max_comment_chars: 10,
        };
        let huge = "x".repeat(LINE_SLACK + 1_000);
        let input = format!(
            "{}\n{}\n",
            line("c1", "2026-11-20T09:00:00Z", &huge),
            line("c2", "2026-11-20T09:01:00Z", "fine")
        );
        let (ids, problems) = read_all(input.as_bytes(), limits);
        assert_eq!(ids, ["c2@2"]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("x.jsonl:1: line is longer than"),
            "{problems:?}"
        );
        assert!(problems[0].contains("max_comment_chars"), "{problems:?}");
    }

    /// Input that never ends: the same line over and over.
    struct Endless(Vec<u8>, usize);

    impl std::io::Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let mut n = 0;
            for slot in buf.iter_mut() {
                *slot = self.0[self.1 % self.0.len()];
                self.1 += 1;
                n += 1;
            }
            Ok(n)
        }
    }

    #[test]
    fn the_file_is_read_as_a_stream() {
        // Reading everything first would never return on endless input.
        let one = format!("{}\n", line("c", "2026-11-20T09:00:00Z", "hi"));
        let input = std::io::BufReader::new(Endless(one.into_bytes(), 0));
        let lines: Vec<usize> = Reader::new("x.jsonl", input, Limits::default())
            .take(3)
            .map(|entry| entry.unwrap().line)
            .collect();
        assert_eq!(lines, [1, 2, 3]);
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

    proptest::proptest! {
        #[test]
        fn any_line_is_read_or_refused_with_its_line_never_a_panic(
            text in "\\PC{0,200}",
            fields in proptest::collection::vec(("(id|time|channel|author|text|platform|post_id|comment_id|reply_to|joined|dm|staff)", "\\PC{0,30}"), 0..8),
        ) {
            let _ = parse_line("x.jsonl", 9, &text);
            let object: serde_json::Map<String, serde_json::Value> = fields
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            if let Err(e) = parse_line("x.jsonl", 9, &serde_json::Value::Object(object).to_string()) {
                proptest::prop_assert!(e.to_string().starts_with("x.jsonl:9: "), "{}", e);
            }
        }
    }
}
