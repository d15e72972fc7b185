//! The daily digest: what is still unanswered and for how long, the complaints of the day, how
//! fast the community got first answers, targets missed, and what moderators did with drafts.
//!
//! It is computed from the store by [`compute`], a pure function of the stored comments,
//! actions and escalations, and rendered three ways from the one [`Digest`]: Markdown for
//! a chat room ([`Digest::to_markdown`], always under the room's message limit), plain text
//! for the terminal ([`Digest::to_text`]) and a PNG chart ([`Digest::chart_png`]).
//!
//! Scheduling is a pure decision too: [`digest_due`] says whether a digest should go out now,
//! given the last one posted, so a digest missed while the bot was down goes out once at the
//! next start. The live bot claims the day and queues the posting in one transaction
//! (`Tracker::queue_digest`); the outbox builds it from the window when it delivers it.

pub mod chart;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::alert::Room;
use crate::clock::Clock;
use crate::config::Settings;
use crate::lifecycle::{Action, ActionKind, CommentState, StoredComment};
use crate::rules::Label;
use crate::sla::{format_target, format_wait, local_to_utc, Sla, SlaView};
use crate::store::{EscalationRecord, PostedDigest, Store, StoreError};
use crate::text::cut_chars;

pub use chart::{ChartError, CHART_SIZE};

/// Characters kept free under the room's message limit, for the adapter's additions.
const LIMIT_MARGIN: usize = 100;

/// Comment text in the digest's lists is cut to this many characters.
const EXCERPT_CHARS: usize = 60;

/// The age buckets of unanswered comments: label and upper bound in hours (none for the last).
pub const AGE_BUCKETS: [(&str, Option<i64>); 5] = [
    ("0–1 h", Some(1)),
    ("1–4 h", Some(4)),
    ("4–8 h", Some(8)),
    ("8–24 h", Some(24)),
    ("24 h+", None),
];

/// Which age bucket a waiting time falls in.
pub fn age_bucket(waited: Duration) -> usize {
    AGE_BUCKETS
        .iter()
        .position(|(_, upper)| upper.is_some_and(|h| waited < Duration::hours(h)))
        .unwrap_or(AGE_BUCKETS.len() - 1)
}

/// The stretch of time a digest reports on: events in `(start, end]`, and what is still
/// unanswered at `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestWindow {
    /// The local date the digest is for (in `tz`).
    pub day: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// When a scheduled digest was due; later than that means it is a catch-up.
    pub scheduled: Option<DateTime<Utc>>,
    /// The time zone local times are shown in.
    pub tz: Tz,
}

impl DigestWindow {
    /// The `length` of time up to `end` (for `ascolto digest --since` and the demo).
    pub fn ending(end: DateTime<Utc>, length: Duration, tz: Tz) -> DigestWindow {
        DigestWindow {
            day: end.with_timezone(&tz).date_naive(),
            start: end - length,
            end,
            scheduled: None,
            tz,
        }
    }

    /// Whether this is a scheduled digest posted more than a few minutes late.
    pub fn is_catch_up(&self) -> bool {
        self.scheduled
            .is_some_and(|s| self.end - s > Duration::minutes(5))
    }

    /// The record to store with `Store::mark_digest_posted` when posting this digest.
    pub fn posted(&self, at: DateTime<Utc>) -> PostedDigest {
        PostedDigest {
            day: self.day,
            window_start: self.start,
            window_end: self.end,
            posted_at: at,
        }
    }

    fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start < t && t <= self.end
    }
}

/// Whether a scheduled digest should be posted at `now`, given the last one posted.
///
/// The digest for a local day is due from its configured time on. If the bot was down then,
/// the first call after it comes back returns that day's digest (once: after it is marked
/// posted, this returns `None` until the next day's time). Only the most recent missed day is
/// posted, not one digest per day of downtime; with no digest ever posted (a new install),
/// only today's is considered, so a first start in the morning posts nothing until evening.
/// The window runs from the previous scheduled time (or the end of the last digest, if
/// later) to `now`, so nothing is counted twice.
pub fn digest_due(
    now: DateTime<Utc>,
    last_posted: Option<&PostedDigest>,
    settings: &Settings,
) -> Option<DigestWindow> {
    if !settings.digest.enabled {
        return None;
    }
    let tz = settings.digest_time_zone();
    let minutes = settings.digest.time.minutes();
    let today = now.with_timezone(&tz).date_naive();
    let at_today = local_to_utc(tz, today, minutes);
    let (day, scheduled) = if now >= at_today {
        (today, at_today)
    } else {
        last_posted?;
        let yesterday = today.pred_opt()?;
        (yesterday, local_to_utc(tz, yesterday, minutes))
    };
    if last_posted.is_some_and(|last| last.day >= day) {
        return None;
    }
    let previous = local_to_utc(tz, day.pred_opt()?, minutes);
    let start = last_posted
        .map(|last| last.window_end)
        .filter(|end| *end > previous && *end < now)
        .unwrap_or(previous);
    Some(DigestWindow {
        day,
        start,
        end: now,
        scheduled: Some(scheduled),
        tz,
    })
}

/// One comment still waiting for an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Unanswered {
    pub id: String,
    pub author: String,
    /// `#channel` or "direct message".
    pub place: String,
    pub labels: String,
    pub waited: Duration,
    pub link: Option<String>,
    pub excerpt: String,
    pub sla: Option<SlaView>,
}

/// How many complaints one rule found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCount {
    pub rule: String,
    pub topic: Option<String>,
    pub count: usize,
}

/// First-response times: for comments closed by a reply or an answer in the window, the
/// wall-clock time from the comment to that first reply or answer (dismissals excluded).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseTimes {
    /// Sorted, shortest first.
    pub samples: Vec<Duration>,
    pub median: Option<Duration>,
    pub p90: Option<Duration>,
}

impl ResponseTimes {
    pub fn new(mut samples: Vec<Duration>) -> ResponseTimes {
        samples.sort();
        ResponseTimes {
            median: percentile(&samples, 0.5),
            p90: percentile(&samples, 0.9),
            samples,
        }
    }
}

/// The `q` quantile of sorted samples, interpolating linearly between neighbours (so the
/// median of an even count is the mean of the middle two).
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    let last = sorted.len().checked_sub(1)?;
    let rank = q.clamp(0.0, 1.0) * last as f64;
    let low = rank.floor() as usize;
    let high = rank.ceil() as usize;
    let a = sorted[low].num_milliseconds() as f64;
    let b = sorted[high].num_milliseconds() as f64;
    Some(Duration::milliseconds(
        (a + (b - a) * (rank - low as f64)).round() as i64,
    ))
}

/// Response targets in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TargetSummary {
    /// Comments whose deadline fell in the window.
    pub due: usize,
    /// Of those, answered late or not at all.
    pub missed: usize,
    /// Of the missed, still unanswered at the end of the window.
    pub missed_still_open: usize,
    /// Escalations posted in the window, and how many pinged the role.
    pub escalated: usize,
    pub pinged: usize,
}

/// What moderators did with drafts in the window (from the audit trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Moderation {
    pub approved: usize,
    pub edited: usize,
    pub dismissed: usize,
    pub marked_answered: usize,
}

/// Everything one digest says.
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    pub window: DigestWindow,
    /// Every comment unanswered at the end of the window, oldest first.
    pub unanswered: Vec<Unanswered>,
    /// Counts per [`AGE_BUCKETS`].
    pub by_age: [usize; 5],
    /// How many of the oldest the lists show.
    pub oldest_shown: usize,
    /// Complaints written in the window, per rule that made them complaints, most first.
    pub complaints: Vec<RuleCount>,
    pub complaints_total: usize,
    pub first_response: ResponseTimes,
    pub targets: TargetSummary,
    /// The configured targets, strictest first (for the text and the chart's markers).
    pub target_settings: Vec<(Label, Duration)>,
    pub moderation: Moderation,
    /// Platform writes (alerts, replies, escalations...) the outbox gave up in the window.
    pub writes_given_up: usize,
    /// Comments Ascolto failed to process, first failing in the window (recorded, and tried
    /// again at the bot's next start).
    pub comments_failed: usize,
}

/// The rule that made a comment a complaint: the complaint label's strongest rule (the
/// verdict's main rule can be a question rule when the reply answers the question).
fn complaint_rule(stored: &StoredComment) -> Option<RuleCount> {
    let verdict = stored.verdict.as_ref()?;
    let label = verdict
        .labels
        .iter()
        .find(|l| l.label == Label::Complaint)?;
    let topic = verdict
        .matches
        .iter()
        .find(|m| m.rule == label.rule)
        .and_then(|m| m.topic.as_deref().map(str::to_owned));
    Some(RuleCount {
        rule: label.rule.to_string(),
        topic,
        count: 1,
    })
}

/// Whether a comment was waiting for an answer at `t` (reconstructed from its times, so a
/// digest for a past window is right even if the comment was answered since).
fn open_at(stored: &StoredComment, t: DateTime<Utc>) -> bool {
    let needed_answer = !matches!(stored.state, CommentState::New | CommentState::Clear);
    let withdrawn_before = stored.state == CommentState::Withdrawn && stored.state_changed_at <= t;
    needed_answer
        && !withdrawn_before
        && stored.comment.time <= t
        && stored.closed_at.is_none_or(|closed| closed > t)
}

/// Computes a digest from what the store holds about the window (see
/// `Store::comments_for_digest`, `Store::actions_since`, `Store::escalations_since`).
pub fn compute(
    window: &DigestWindow,
    comments: &[StoredComment],
    actions: &[Action],
    escalations: &[EscalationRecord],
    sla: &Sla,
    oldest_shown: usize,
) -> Digest {
    let now = window.end;
    let mut unanswered: Vec<Unanswered> = comments
        .iter()
        .filter(|s| open_at(s, now))
        .map(|s| {
            let c = &s.comment;
            Unanswered {
                id: c.id.0.clone(),
                author: c.author.name.clone(),
                place: c.place.describe(),
                labels: s
                    .verdict
                    .as_ref()
                    .map(|v| v.label_names())
                    .unwrap_or_default(),
                waited: (now - c.time).max(Duration::zero()),
                link: c.link.clone(),
                excerpt: cut_chars(&c.text, EXCERPT_CHARS).replace('\n', " "),
                sla: sla.clock_for(s).map(|clock| clock.view(now)),
            }
        })
        .collect();
    unanswered.sort_by(|a, b| b.waited.cmp(&a.waited).then_with(|| a.id.cmp(&b.id)));
    let mut by_age = [0; 5];
    for u in &unanswered {
        by_age[age_bucket(u.waited)] += 1;
    }

    let mut complaints: Vec<RuleCount> = Vec::new();
    let mut complaints_total = 0;
    for stored in comments.iter().filter(|s| {
        window.contains(s.comment.time)
            && !matches!(s.state, CommentState::New | CommentState::Clear)
    }) {
        let Some(found) = complaint_rule(stored) else {
            continue;
        };
        complaints_total += 1;
        match complaints.iter_mut().find(|r| r.rule == found.rule) {
            Some(existing) => existing.count += 1,
            None => complaints.push(found),
        }
    }
    complaints.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.rule.cmp(&b.rule)));

    let first_response = ResponseTimes::new(
        comments
            .iter()
            .filter(|s| matches!(s.state, CommentState::Replied | CommentState::Answered))
            .filter_map(|s| {
                let closed = s.closed_at?;
                window
                    .contains(closed)
                    .then(|| (closed - s.comment.time).max(Duration::zero()))
            })
            .collect(),
    );

    let mut targets = TargetSummary::default();
    for stored in comments {
        let Some(clock) = sla.clock_for(stored) else {
            continue;
        };
        if !window.contains(clock.deadline) {
            continue;
        }
        targets.due += 1;
        if clock
            .stopped
            .is_none_or(|stopped| stopped >= clock.deadline)
        {
            targets.missed += 1;
            if open_at(stored, now) {
                targets.missed_still_open += 1;
            }
        }
    }
    for e in escalations
        .iter()
        .filter(|e| window.contains(e.escalated_at))
    {
        targets.escalated += 1;
        targets.pinged += usize::from(e.pinged);
    }

    let mut moderation = Moderation::default();
    for action in actions.iter().filter(|a| window.contains(a.at)) {
        match action.kind {
            ActionKind::Approved => moderation.approved += 1,
            ActionKind::Edited => moderation.edited += 1,
            ActionKind::Dismissed => moderation.dismissed += 1,
            ActionKind::MarkedAnswered => moderation.marked_answered += 1,
            ActionKind::AnotherWording | ActionKind::AnsweredInChannel => {}
        }
    }

    let mut target_settings = sla.targets().to_vec();
    target_settings.sort_by_key(|(_, d)| *d);
    Digest {
        window: *window,
        unanswered,
        by_age,
        oldest_shown,
        complaints,
        complaints_total,
        first_response,
        targets,
        target_settings,
        moderation,
        // Read by `build_window` from the outbox; the computation only sees comments.
        writes_given_up: 0,
        comments_failed: 0,
    }
}

/// The digest of `window`, read from the store.
pub async fn build_window(
    store: &Store,
    window: &DigestWindow,
    settings: &Settings,
) -> Result<Digest, StoreError> {
    let comments = store.comments_for_digest(window.start).await?;
    let actions = store.actions_since(window.start).await?;
    let escalations = store.escalations_since(window.start).await?;
    let mut digest = compute(
        window,
        &comments,
        &actions,
        &escalations,
        &Sla::from_settings(&settings.sla),
        settings.digest.oldest,
    );
    digest.writes_given_up = store
        .outbox_given_up_between(window.start, window.end)
        .await?;
    digest.comments_failed = store.failures_between(window.start, window.end).await?;
    Ok(digest)
}

/// The digest of the 24 hours up to now: what the scheduled digest shows when it is on time.
pub async fn build(
    store: &Store,
    clock: &dyn Clock,
    settings: &Settings,
) -> Result<Digest, StoreError> {
    let window = DigestWindow::ending(
        clock.now(),
        Duration::hours(24),
        settings.digest_time_zone(),
    );
    build_window(store, &window, settings).await
}

/// How many of each list a rendering shows.
#[derive(Debug, Clone, Copy)]
struct Shown {
    oldest: usize,
    rules: usize,
}

impl Digest {
    /// Renders the PNG chart (see [`chart`]).
    pub fn chart_png(&self) -> Result<Vec<u8>, ChartError> {
        chart::render_png(self)
    }

    fn title_day(&self) -> String {
        self.window.day.format("%a %-d %b %Y").to_string()
    }

    fn window_text(&self) -> String {
        let tz = self.window.tz;
        let fmt = |t: DateTime<Utc>| t.with_timezone(&tz).format("%a %-d %b %H:%M").to_string();
        let mut out = format!(
            "{} → {} ({})",
            fmt(self.window.start),
            fmt(self.window.end),
            tz.name()
        );
        if let (true, Some(s)) = (self.window.is_catch_up(), self.window.scheduled) {
            out.push_str(&format!(
                "; posted late: the bot was offline at {}",
                s.with_timezone(&tz).format("%H:%M")
            ));
        }
        out
    }

    fn ages_text(&self, separator: &str) -> String {
        AGE_BUCKETS
            .iter()
            .zip(self.by_age)
            .map(|((label, _), n)| format!("{label}: {n}"))
            .collect::<Vec<_>>()
            .join(separator)
    }

    fn rule_text(rule: &RuleCount) -> String {
        match &rule.topic {
            Some(topic) => format!("{} ({topic})", rule.rule),
            None => rule.rule.clone(),
        }
    }

    fn response_text(&self) -> String {
        let r = &self.first_response;
        match (r.median, r.p90) {
            (Some(median), Some(p90)) => format!(
                "median {}, 90th percentile {} ({} answered)",
                format_wait(median),
                format_wait(p90),
                r.samples.len()
            ),
            _ => "no comment was answered in this window".to_owned(),
        }
    }

    /// "(urgent 15 min, complaint 30 min): 6 came due, 2 missed (1 still unanswered); ...".
    fn targets_text(&self) -> String {
        if self.target_settings.is_empty() {
            return ": none configured".to_owned();
        }
        let t = &self.targets;
        let list = self
            .target_settings
            .iter()
            .map(|(label, d)| format!("{} {}", label.as_str(), format_target(*d)))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            " ({list}): {} came due, {} missed ({} still unanswered); {} escalated, {} with a ping",
            t.due, t.missed, t.missed_still_open, t.escalated, t.pinged
        )
    }

    fn moderation_text(&self) -> String {
        let m = &self.moderation;
        format!(
            "{} approved, {} edited, {} dismissed, {} marked answered",
            m.approved, m.edited, m.dismissed, m.marked_answered
        )
    }

    fn markdown_with(&self, shown: Shown, room: &dyn Room) -> String {
        let mut out = format!("## Ascolto digest · {}\n", self.title_day());
        out.push_str(&format!("-# {}\n", self.window_text()));
        out.push_str(&format!(
            "**Unanswered now: {}** — {}\n",
            self.unanswered.len(),
            self.ages_text(" · ")
        ));
        for (i, u) in self.unanswered.iter().take(shown.oldest).enumerate() {
            let link = u
                .link
                .as_ref()
                .map(|l| format!(" [open](<{l}>)"))
                .unwrap_or_default();
            out.push_str(&format!(
                "{}. **{}** · {} · {} in {}: “{}”{link}\n",
                i + 1,
                format_wait(u.waited),
                u.labels,
                room.quote(&u.author),
                room.quote(&u.place),
                room.quote(&u.excerpt)
            ));
        }
        let hidden = self.unanswered.len().saturating_sub(shown.oldest);
        if hidden > 0 {
            out.push_str(&format!("…and {hidden} more waiting less long.\n"));
        }
        out.push_str(&format!("**New complaints: {}**", self.complaints_total));
        if !self.complaints.is_empty() {
            let rules: Vec<String> = self
                .complaints
                .iter()
                .take(shown.rules)
                .map(|r| format!("`{}` {}", Self::rule_text(r), r.count))
                .collect();
            out.push_str(&format!(" — {}", rules.join(" · ")));
            let more = self.complaints.len().saturating_sub(shown.rules);
            if more > 0 {
                out.push_str(&format!(" · {more} more rules"));
            }
        }
        out.push('\n');
        out.push_str(&format!(
            "**First response**: {}\n-# from a comment to its first reply or answer, wall-clock time; dismissed comments not counted\n",
            self.response_text()
        ));
        out.push_str(&format!("**Targets**{}\n", self.targets_text()));
        out.push_str(&format!("**Drafts**: {}\n", self.moderation_text()));
        out.push_str(&format!(
            "**Platform writes given up**: {}\n",
            self.writes_given_up
        ));
        if self.comments_failed > 0 {
            out.push_str(&format!(
                "**Comments not processed**: {} (see the bot's log; each is tried again at its next start)\n",
                self.comments_failed
            ));
        }
        out
    }

    /// The digest as a chat message that fits the room (a margin under its limit): the lists
    /// are cut (saying how many are left out) until it does.
    pub fn to_markdown(&self, room: &dyn Room) -> String {
        let limit = room.message_limit().saturating_sub(LIMIT_MARGIN);
        let mut shown = Shown {
            oldest: self.oldest_shown.min(self.unanswered.len()),
            rules: self.complaints.len().min(10),
        };
        loop {
            let text = self.markdown_with(shown, room);
            if text.chars().count() <= limit {
                return text;
            }
            if shown.rules > 3 {
                shown.rules -= 1;
            } else if shown.oldest > 0 {
                shown.oldest -= 1;
            } else if shown.rules > 0 {
                shown.rules -= 1;
            } else {
                // Only absurdly long names or settings get here; cutting is better than failing.
                return cut_chars(&text, limit);
            }
        }
    }

    /// The digest as plain text for the terminal.
    pub fn to_text(&self) -> String {
        let mut out = format!("══ Ascolto digest · {} ══\n", self.title_day());
        out.push_str(&format!("{}\n\n", self.window_text()));
        out.push_str(&format!("Unanswered now: {}\n", self.unanswered.len()));
        let widest = self.by_age.iter().copied().max().unwrap_or(0).max(1);
        for ((label, _), n) in AGE_BUCKETS.iter().zip(self.by_age) {
            // Bars scaled to at most 30 characters.
            let bar = "█".repeat((n * 30).div_ceil(widest));
            let line = format!("  {label:<7} {n:>3}  {bar}");
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let shown = self.oldest_shown.min(self.unanswered.len());
        if shown > 0 {
            out.push_str("Oldest waiting:\n");
        }
        for (i, u) in self.unanswered.iter().take(shown).enumerate() {
            let sla = u
                .sla
                .as_ref()
                .map(|s| format!(" [{}]", s.text()))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {}. {} · {} · {} in {}{sla}: {}\n",
                i + 1,
                format_wait(u.waited),
                u.labels,
                u.author,
                u.place,
                u.excerpt
            ));
            if let Some(link) = &u.link {
                out.push_str(&format!("     {link}\n"));
            }
        }
        if self.unanswered.len() > shown {
            out.push_str(&format!(
                "  …and {} more waiting less long\n",
                self.unanswered.len() - shown
            ));
        }
        out.push_str(&format!("\nNew complaints: {}\n", self.complaints_total));
        for rule in &self.complaints {
            out.push_str(&format!("  {:>3}  {}\n", rule.count, Self::rule_text(rule)));
        }
        out.push_str(&format!(
            "\nFirst response (from a comment to its first reply or answer, wall-clock time;\ndismissed comments not counted): {}\n",
            self.response_text()
        ));
        out.push_str(&format!("Targets{}\n", self.targets_text()));
        out.push_str(&format!("Drafts: {}\n", self.moderation_text()));
        out.push_str(&format!(
            "Platform writes given up: {}\n",
            self.writes_given_up
        ));
        if self.comments_failed > 0 {
            out.push_str(&format!(
                "Comments not processed: {} (see the log; each is tried again at the bot's next start)\n",
                self.comments_failed
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::PathBuf;

    use chrono::TimeZone;

    fn settings(env: &[(&str, &str)]) -> Settings {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load_with_env(&dir, Some(env)).unwrap()
    }

    fn rome_settings() -> Settings {
        settings(&[("ASCOLTO__SLA__TIME_ZONE", "Europe/Rome")])
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn ages_fall_in_their_buckets() {
        assert_eq!(age_bucket(Duration::minutes(59)), 0);
        assert_eq!(age_bucket(Duration::hours(1)), 1);
        assert_eq!(age_bucket(Duration::minutes(239)), 1);
        assert_eq!(age_bucket(Duration::hours(8)), 3);
        assert_eq!(age_bucket(Duration::hours(24)), 4);
        assert_eq!(age_bucket(Duration::days(9)), 4);
    }

    #[test]
    fn percentiles_interpolate() {
        let m = |v: &[i64]| v.iter().map(|x| Duration::minutes(*x)).collect::<Vec<_>>();
        assert_eq!(percentile(&m(&[]), 0.5), None);
        assert_eq!(percentile(&m(&[7]), 0.9), Some(Duration::minutes(7)));
        assert_eq!(percentile(&m(&[10, 20]), 0.5), Some(Duration::minutes(15)));
        let ten = m(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 100]);
        assert_eq!(percentile(&ten, 0.5), Some(Duration::seconds(330)));
        // rank 8.1: 9 min + 0.1 × 91 min.
        assert_eq!(percentile(&ten, 0.9), Some(Duration::seconds(540 + 546)));
    }

    #[test]
    fn the_digest_is_due_at_its_local_time_and_only_once() {
        let s = rome_settings(); // 18:00 Europe/Rome = 17:00 UTC in November
        assert_eq!(
            digest_due(utc(2026, 11, 20, 16, 59), None, &s),
            None,
            "a new install waits for today's time"
        );
        let window = digest_due(utc(2026, 11, 20, 17, 0), None, &s).unwrap();
        assert_eq!(window.day, NaiveDate::from_ymd_opt(2026, 11, 20).unwrap());
        assert_eq!(window.scheduled, Some(utc(2026, 11, 20, 17, 0)));
        assert_eq!(window.start, utc(2026, 11, 19, 17, 0));
        assert!(!window.is_catch_up());
        let posted = window.posted(utc(2026, 11, 20, 17, 0));
        assert_eq!(
            digest_due(utc(2026, 11, 20, 17, 1), Some(&posted), &s),
            None
        );
        assert_eq!(
            digest_due(utc(2026, 11, 21, 16, 59), Some(&posted), &s),
            None
        );
        let next = digest_due(utc(2026, 11, 21, 17, 0), Some(&posted), &s).unwrap();
        assert_eq!(next.day, NaiveDate::from_ymd_opt(2026, 11, 21).unwrap());
        assert_eq!(next.start, utc(2026, 11, 20, 17, 0));
    }

    #[test]
    fn a_digest_missed_while_down_is_posted_once_at_start() {
        let s = rome_settings();
        let thursday = DigestWindow {
            day: NaiveDate::from_ymd_opt(2026, 11, 19).unwrap(),
            start: utc(2026, 11, 18, 17, 0),
            end: utc(2026, 11, 19, 17, 0),
            scheduled: Some(utc(2026, 11, 19, 17, 0)),
            tz: chrono_tz::Europe::Rome,
        }
        .posted(utc(2026, 11, 19, 17, 0));
        // Down from Friday 15:00 to Friday 21:30 local: the 18:00 digest is caught up.
        let back = utc(2026, 11, 20, 20, 30);
        let window = digest_due(back, Some(&thursday), &s).unwrap();
        assert_eq!(window.day, NaiveDate::from_ymd_opt(2026, 11, 20).unwrap());
        assert!(window.is_catch_up());
        assert_eq!((window.start, window.end), (utc(2026, 11, 19, 17, 0), back));
        let posted = window.posted(back);
        assert_eq!(
            digest_due(back + Duration::minutes(1), Some(&posted), &s),
            None
        );
        // Back on Friday before 18:00, with Wednesday's the last posted: Thursday's is due.
        let wednesday = PostedDigest {
            day: NaiveDate::from_ymd_opt(2026, 11, 18).unwrap(),
            ..thursday.clone()
        };
        let window = digest_due(utc(2026, 11, 20, 15, 0), Some(&wednesday), &s).unwrap();
        assert_eq!(window.day, NaiveDate::from_ymd_opt(2026, 11, 19).unwrap());
        assert!(window.is_catch_up());
        // Down for three days: one digest, for the latest day, covering the day before it.
        let later = utc(2026, 11, 23, 18, 0);
        let window = digest_due(later, Some(&thursday), &s).unwrap();
        assert_eq!(window.day, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
        assert_eq!(window.start, utc(2026, 11, 22, 17, 0));
        let text = compute(&window, &[], &[], &[], &Sla::from_settings(&s.sla), 5).to_text();
        assert!(
            text.contains("posted late: the bot was offline at 18:00"),
            "{text}"
        );
    }

    #[test]
    fn the_digest_time_follows_daylight_saving() {
        let s = rome_settings();
        // Sunday 29 March 2026: Rome moves to UTC+2, so 18:00 local is 16:00 UTC.
        let window = digest_due(utc(2026, 3, 29, 16, 0), None, &s).unwrap();
        assert_eq!(window.day, NaiveDate::from_ymd_opt(2026, 3, 29).unwrap());
        // The window before it is 23 hours long: Saturday 18:00 CET was 17:00 UTC.
        assert_eq!(window.start, utc(2026, 3, 28, 17, 0));
    }

    #[test]
    fn a_disabled_digest_is_never_due() {
        let s = settings(&[("ASCOLTO__DIGEST__ENABLED", "false")]);
        assert_eq!(digest_due(utc(2026, 11, 20, 20, 0), None, &s), None);
    }
}
