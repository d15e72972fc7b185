//! Response-time targets: when a flagged comment is due, how much of its target is left, and
//! whether it is fine, nearing or breached.
//!
//! Everything here is a pure function of times and settings (no store, no clock reads), so
//! the alert, the escalation loop, the digest and the tests all agree on one arithmetic.
//! With business hours configured the clock only runs while the community is staffed: a
//! question at Friday 16:45 with a 30 minute target and Mon–Fri 09–17 hours is due Monday
//! 09:15. Local times are resolved with chrono-tz, so daylight-saving changes move the
//! opening hours with the wall clock instead of shifting them by an hour.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use crate::comment::{Comment, CommentId, Place};
use crate::config::SlaSettings;
use crate::lifecycle::{CommentState, StoredComment};
use crate::rules::Label;
use crate::triage::Verdict;

/// The opening hours of the community's staff, in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessHours {
    /// Open days, Monday first.
    days: [bool; 7],
    /// Minutes after local midnight.
    open: u32,
    /// Minutes after local midnight; up to 1440 (midnight at the end of the day).
    close: u32,
}

impl BusinessHours {
    /// `open..close` minutes after local midnight on `days`. `None` if no day is open or the
    /// span is empty, since such hours would never let a clock run.
    pub fn new(days: &[Weekday], open: u32, close: u32) -> Option<BusinessHours> {
        let mut open_days = [false; 7];
        for day in days {
            open_days[day.num_days_from_monday() as usize] = true;
        }
        (open_days.contains(&true) && open < close && close <= 24 * 60).then_some(BusinessHours {
            days: open_days,
            open,
            close,
        })
    }

    fn is_open_on(&self, day: Weekday) -> bool {
        self.days[day.num_days_from_monday() as usize]
    }
}

/// When the response clock runs: always, or only during business hours in a time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    tz: Tz,
    hours: Option<BusinessHours>,
}

/// A run of local days with business hours: after this many closed days in a row the
/// arithmetic gives up (only reachable with hours that never open, which `new` refuses).
const MAX_DAYS_SCANNED: i64 = 3 * 366;

impl Calendar {
    /// The clock runs around the clock; `tz` is only used to show local times.
    pub fn always(tz: Tz) -> Calendar {
        Calendar { tz, hours: None }
    }

    /// The clock runs during `hours`, local time in `tz`.
    pub fn business(tz: Tz, hours: BusinessHours) -> Calendar {
        Calendar {
            tz,
            hours: Some(hours),
        }
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    pub fn has_business_hours(&self) -> bool {
        self.hours.is_some()
    }

    /// The business span of one local date, in UTC; `None` on closed days.
    fn span(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let hours = self.hours?;
        if !hours.is_open_on(date.weekday()) {
            return None;
        }
        Some((
            local_to_utc(self.tz, date, hours.open),
            local_to_utc(self.tz, date, hours.close),
        ))
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The instant `amount` of running clock after `from`.
    pub fn add(&self, from: DateTime<Utc>, amount: Duration) -> DateTime<Utc> {
        if self.hours.is_none() {
            return from + amount;
        }
        let mut left = amount;
        let mut date = self.local_date(from);
        for _ in 0..MAX_DAYS_SCANNED {
            if let Some((open, close)) = self.span(date) {
                let begin = open.max(from);
                if close > begin {
                    if left <= close - begin {
                        return begin + left;
                    }
                    left -= close - begin;
                }
            }
            date = date.succ_opt().unwrap_or(date);
        }
        from + amount
    }

    /// The latest instant from which the clock has run `amount` by `end`: [`Calendar::add`]
    /// backwards. A comment written at or before it has used at least `amount` of its clock
    /// by `end`; one written after it has not.
    pub fn latest_start(&self, end: DateTime<Utc>, amount: Duration) -> DateTime<Utc> {
        if self.hours.is_none() {
            return end - amount;
        }
        let mut left = amount;
        let mut date = self.local_date(end);
        for _ in 0..MAX_DAYS_SCANNED {
            if let Some((open, close)) = self.span(date) {
                let finish = close.min(end);
                if finish > open {
                    if left <= finish - open {
                        return finish - left;
                    }
                    left -= finish - open;
                }
            }
            date = date.pred_opt().unwrap_or(date);
        }
        // Unreachable with hours that open (`BusinessHours::new`); earlier is the safe side.
        end - amount - Duration::days(MAX_DAYS_SCANNED)
    }

    /// How long the clock ran between `from` and `to` (zero if `to` is not after `from`).
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        if self.hours.is_none() {
            return to - from;
        }
        let mut total = Duration::zero();
        let mut date = self.local_date(from);
        let last = self.local_date(to);
        while date <= last {
            if let Some((open, close)) = self.span(date) {
                let begin = open.max(from);
                let end = close.min(to);
                if end > begin {
                    total += end - begin;
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        total
    }

    /// Whether the clock is running at `t`.
    pub fn is_running(&self, t: DateTime<Utc>) -> bool {
        match self.span(self.local_date(t)) {
            Some((open, close)) => open <= t && t < close,
            None => self.hours.is_none(),
        }
    }
}

/// The UTC instant of `minutes` after midnight of a local `date` in `tz`.
///
/// Daylight saving makes some local times happen twice (the earlier one is used, so a
/// deadline is never later than promised) and some never (the first valid instant after
/// the jump is used, e.g. 02:30 on the spring-forward night in Europe becomes 03:00).
pub fn local_to_utc(tz: Tz, date: NaiveDate, minutes: u32) -> DateTime<Utc> {
    let naive = date.and_time(chrono::NaiveTime::MIN) + Duration::minutes(i64::from(minutes));
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earliest, _) => earliest.with_timezone(&Utc),
        LocalResult::None => {
            // Gaps are whole quarter hours in every zone in use; probe forward to the end.
            let mut probe = naive;
            for _ in 0..(4 * 24) {
                probe += Duration::minutes(15);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
            Utc.from_utc_datetime(&naive)
        }
    }
}

/// Where a comment stands against its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SlaStatus {
    /// Within the target, with time to spare.
    Ok,
    /// Within the target, but at least the warning share of it is used.
    Nearing,
    /// The deadline passed before the clock stopped.
    Breached,
}

impl SlaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SlaStatus::Ok => "ok",
            SlaStatus::Nearing => "nearing",
            SlaStatus::Breached => "breached",
        }
    }
}

/// The question grace: how long a comment whose only reason to reply is a question waits for
/// the community's own answer before moderators are alerted. Complaints and urgent comments
/// never wait. The grace only delays the alert: the response target still counts from the
/// comment's time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuestionGrace {
    default: Duration,
    /// By channel name (without `#`) or id.
    channels: HashMap<String, Duration>,
}

impl QuestionGrace {
    pub fn new(default: Duration, channels: HashMap<String, Duration>) -> QuestionGrace {
        QuestionGrace { default, channels }
    }

    pub fn from_settings(settings: &SlaSettings) -> QuestionGrace {
        QuestionGrace::new(
            settings.question_grace.0,
            settings
                .question_grace_channels
                .iter()
                .map(|(channel, grace)| (channel.trim_start_matches('#').to_owned(), grace.0))
                .collect(),
        )
    }

    /// The grace in a channel (an id's setting wins over a name's).
    pub fn in_channel(&self, place: &Place) -> Duration {
        self.channels
            .get(place.channel.as_str())
            .or_else(|| {
                self.channels
                    .get(place.channel_name.trim_start_matches('#'))
            })
            .copied()
            .unwrap_or(self.default)
    }

    /// When a flagged comment's grace ends, if it has one: a question is its only reason to be
    /// answered and its channel's grace is not zero. `None`: it is alerted at once.
    pub fn ends(&self, comment: &Comment, verdict: &Verdict) -> Option<DateTime<Utc>> {
        let grace = self.in_channel(&comment.place);
        if !verdict.only_question() || grace <= Duration::zero() {
            return None;
        }
        comment.time.checked_add_signed(grace)
    }
}

/// The response-time policy: targets per label, the calendar, and when to warn.
#[derive(Debug, Clone, PartialEq)]
pub struct Sla {
    calendar: Calendar,
    targets: Vec<(Label, Duration)>,
    warn_fraction: f64,
}

impl Sla {
    pub fn new(calendar: Calendar, targets: Vec<(Label, Duration)>, warn_fraction: f64) -> Sla {
        Sla {
            calendar,
            targets,
            warn_fraction,
        }
    }

    /// The policy described by validated settings.
    pub fn from_settings(settings: &SlaSettings) -> Sla {
        let tz = settings.time_zone.0;
        let bh = &settings.business_hours;
        let calendar = if bh.enabled {
            let days: Vec<Weekday> = bh.days.iter().map(|d| d.0).collect();
            match BusinessHours::new(&days, bh.start.minutes(), bh.end.minutes()) {
                Some(hours) => Calendar::business(tz, hours),
                // Settings::validate refuses such hours; running always is the safe reading.
                None => Calendar::always(tz),
            }
        } else {
            Calendar::always(tz)
        };
        let t = &settings.targets;
        let targets = [
            (Label::Complaint, t.complaint),
            (Label::Question, t.question),
            (Label::Urgent, t.urgent),
        ]
        .into_iter()
        .filter_map(|(label, d)| d.map(|d| (label, d.0)))
        .collect();
        Sla::new(calendar, targets, settings.warn_fraction)
    }

    /// Which comments' readings can change between a check at `previous` and one at `now`:
    /// for each label with a target, the spans of comment times (`from..=to`) whose nearing
    /// moment or deadline can fall in `(previous, now]`. A comment carrying the label and
    /// written outside its spans reads at `now` as it read at `previous` (unless something
    /// else than time changed it); one inside may or may not have changed, which
    /// [`SlaClock::status`] decides. Readings only move with time as
    /// ok → nearing → missed, so two moments per comment are all there is to watch.
    ///
    /// The spans are loose on the safe side: a moment is never before the comment's time plus
    /// its share of the target (business hours only move it later), which bounds `to`; and
    /// the calendar run backwards from `previous` ([`Calendar::latest_start`]) bounds
    /// `from`, less a minute for rounding. Empty spans are left out.
    pub fn reading_bands(
        &self,
        previous: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<(Label, DateTime<Utc>, DateTime<Utc>)> {
        let margin = Duration::minutes(1);
        let mut bands = Vec::new();
        for (label, target) in &self.targets {
            let seconds = target.num_seconds() as f64 * self.warn_fraction.clamp(0.0, 1.0);
            // Nearing once `used` reaches `seconds` (whole seconds are compared): it has by
            // `previous` from `ceil` seconds before, and cannot by `now` in less than `floor`.
            let nearing_by = Duration::seconds(seconds.ceil() as i64);
            let nearing_least = Duration::seconds(seconds.floor() as i64);
            for (amount, least) in [(nearing_by, nearing_least), (*target, *target)] {
                let from = self.calendar.latest_start(previous, amount) - margin;
                let to = now - least;
                if from <= to {
                    bands.push((*label, from, to));
                }
            }
        }
        bands
    }

    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    pub fn targets(&self) -> &[(Label, Duration)] {
        &self.targets
    }

    /// The strictest target among `labels`, with the label it comes from.
    pub fn target_for(&self, labels: &[Label]) -> Option<(Label, Duration)> {
        self.targets
            .iter()
            .filter(|(label, _)| labels.contains(label))
            .min_by_key(|(_, d)| *d)
            .copied()
    }

    /// The clock of a comment written at `started` with `labels`, stopped at `stopped` if it
    /// was answered, replied to or dismissed. `None` when no label has a target.
    pub fn clock(
        &self,
        started: DateTime<Utc>,
        labels: &[Label],
        stopped: Option<DateTime<Utc>>,
    ) -> Option<SlaClock> {
        let (label, target) = self.target_for(labels)?;
        Some(SlaClock {
            label,
            target,
            started,
            deadline: self.calendar.add(started, target),
            stopped,
            calendar: self.calendar,
            warn_fraction: self.warn_fraction,
        })
    }

    /// The clock of a stored comment. Comments that never needed an answer (clear) or that
    /// their author deleted (withdrawn) have none.
    pub fn clock_for(&self, stored: &StoredComment) -> Option<SlaClock> {
        if matches!(
            stored.state,
            CommentState::New | CommentState::Clear | CommentState::Withdrawn
        ) {
            return None;
        }
        let labels: Vec<Label> = stored
            .verdict
            .as_ref()
            .map(|v| v.labels.iter().map(|l| l.label).collect())
            .unwrap_or_default();
        // closed_at is the stop; a closed comment without one (older rows) stopped when its
        // state last changed.
        let stopped = stored
            .closed_at
            .or_else(|| (!stored.state.is_open()).then_some(stored.state_changed_at));
        self.clock(stored.comment.time, &labels, stopped)
    }
}

/// One comment's response clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlaClock {
    /// The label whose target applies.
    pub label: Label,
    pub target: Duration,
    pub started: DateTime<Utc>,
    /// When the target is missed if nobody answers.
    pub deadline: DateTime<Utc>,
    /// When the clock stopped (answer, reply, dismissal), if it did.
    pub stopped: Option<DateTime<Utc>>,
    calendar: Calendar,
    warn_fraction: f64,
}

impl SlaClock {
    /// The moment the clock is read at: `now`, or when it stopped if that was earlier.
    fn reading(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.stopped.map_or(now, |s| s.min(now))
    }

    /// Running time used so far.
    pub fn used(&self, now: DateTime<Utc>) -> Duration {
        self.calendar.between(self.started, self.reading(now))
    }

    /// Running time left before the deadline; negative once missed (by that much).
    pub fn remaining(&self, now: DateTime<Utc>) -> Duration {
        self.target - self.used(now)
    }

    pub fn status(&self, now: DateTime<Utc>) -> SlaStatus {
        let at = self.reading(now);
        if at >= self.deadline {
            SlaStatus::Breached
        } else if self.used(now).num_seconds() as f64
            >= self.warn_fraction * self.target.num_seconds() as f64
        {
            SlaStatus::Nearing
        } else {
            SlaStatus::Ok
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.is_some()
    }

    /// What an alert shows about this clock.
    pub fn view(&self, now: DateTime<Utc>) -> SlaView {
        let status = self.status(now);
        let tz = self.calendar.tz;
        let local_deadline = self.deadline.with_timezone(&tz);
        // Off-hours the remaining time and the wall clock disagree; say when it is due.
        let due = (self.calendar.has_business_hours()
            && self.stopped.is_none()
            && status != SlaStatus::Breached
            && local_deadline.date_naive() != now.with_timezone(&tz).date_naive())
        .then(|| local_deadline.format("%a %H:%M").to_string());
        SlaView {
            label: self.label,
            target: self.target,
            status,
            remaining: self.remaining(now),
            stopped: self.is_stopped(),
            due,
        }
    }
}

/// An SLA reading ready to show: the alert's "target 30 min: 5 min left" line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaView {
    pub label: Label,
    pub target: Duration,
    pub status: SlaStatus,
    /// Negative once missed.
    pub remaining: Duration,
    /// The comment was answered, replied to or dismissed.
    pub stopped: bool,
    /// Local deadline ("Mon 09:15") when it is on another day than today.
    pub due: Option<String>,
}

impl SlaView {
    /// "target 30 min: 5 min left", "target 30 min: missed by 1 h 05 min", "target 2 h: met".
    pub fn text(&self) -> String {
        let target = format_target(self.target);
        match (self.status, self.stopped) {
            (SlaStatus::Breached, _) => format!(
                "target {target}: missed by {}",
                format_wait(-self.remaining)
            ),
            (_, true) => format!("target {target}: met"),
            (_, false) => {
                let due = self
                    .due
                    .as_ref()
                    .map(|d| format!(" (due {d})"))
                    .unwrap_or_default();
                format!("target {target}: {} left{due}", format_wait(self.remaining))
            }
        }
    }

    /// A symbol for the status, for terminals and chat.
    pub fn symbol(&self) -> &'static str {
        match (self.status, self.stopped) {
            (SlaStatus::Breached, _) => "⛔",
            (_, true) => "✓",
            (SlaStatus::Nearing, false) => "⚠",
            (SlaStatus::Ok, false) => "⏱",
        }
    }
}

/// A target as people say it: "30 min", "2 h", "1 h 30 min", "1 d".
pub fn format_target(d: Duration) -> String {
    let minutes = d.num_minutes();
    if minutes % (24 * 60) == 0 && minutes > 0 {
        format!("{} d", minutes / (24 * 60))
    } else if minutes % 60 == 0 && minutes > 0 {
        format!("{} h", minutes / 60)
    } else if minutes > 60 {
        format!("{} h {} min", minutes / 60, minutes % 60)
    } else {
        format!("{minutes} min")
    }
}

/// The target reading each open alert was last shown with, so a room edits an alert only when
/// its reading changes (nearing, missed), not at every check. Shared by every moderators'
/// room: which alerts need an edit is not a platform's question.
#[derive(Debug, Default)]
pub struct ShownReadings(HashMap<CommentId, Option<SlaStatus>>);

impl ShownReadings {
    /// The open comments whose alert (those `shown` says are up in the room) needs its target
    /// line edited now. Alerts seen for the first time since start count only if they are not
    /// simply "on time", which also corrects alerts left stale by downtime. Closed comments are
    /// forgotten.
    pub fn changed(
        &mut self,
        open: &[StoredComment],
        sla: &Sla,
        now: DateTime<Utc>,
        shown: impl Fn(&StoredComment) -> bool,
    ) -> Vec<CommentId> {
        // A set, not a search of `open` per entry: with many open comments that was
        // quadratic at every check.
        let still_open: std::collections::HashSet<&CommentId> =
            open.iter().map(|s| &s.comment.id).collect();
        self.0.retain(|id, _| still_open.contains(id));
        open.iter()
            .filter(|stored| self.see(stored, sla, now, &shown))
            .map(|stored| stored.comment.id.clone())
            .collect()
    }

    /// As [`ShownReadings::changed`], given only the comments whose reading can have changed
    /// since the previous check (see [`Sla::reading_bands`]), open or closed: the closed ones
    /// are forgotten, and what is remembered of the comments not given stays as it is.
    pub fn changed_among(
        &mut self,
        read: &[StoredComment],
        sla: &Sla,
        now: DateTime<Utc>,
        shown: impl Fn(&StoredComment) -> bool,
    ) -> Vec<CommentId> {
        let mut changed = Vec::new();
        for stored in read {
            if !stored.state.is_open() {
                self.0.remove(&stored.comment.id);
            } else if self.see(stored, sla, now, &shown) {
                changed.push(stored.comment.id.clone());
            }
        }
        changed
    }

    /// Remembers an open comment's reading at `now`; whether its alert needs an edit.
    fn see(
        &mut self,
        stored: &StoredComment,
        sla: &Sla,
        now: DateTime<Utc>,
        shown: &impl Fn(&StoredComment) -> bool,
    ) -> bool {
        if !shown(stored) || stored.state == CommentState::Sending {
            return false;
        }
        let reading = sla.clock_for(stored).map(|c| c.status(now));
        match self.0.insert(stored.comment.id.clone(), reading) {
            Some(before) => before != reading,
            None => !matches!(reading, None | Some(SlaStatus::Ok)),
        }
    }

    /// The edit failed: forget what was shown, so the next check tries again.
    pub fn forget(&mut self, id: &CommentId) {
        self.0.remove(id);
    }

    /// Whether a reading of `id` is remembered.
    pub fn remembers(&self, id: &CommentId) -> bool {
        self.0.contains_key(id)
    }

    /// How many readings are remembered: at most one per open comment.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A waiting time as people say it: "45 min", "2 h 05 min", "3 d 4 h".
pub fn format_wait(d: Duration) -> String {
    let minutes = d.num_minutes().max(0);
    if minutes < 60 {
        format!("{minutes} min")
    } else if minutes < 24 * 60 {
        format!("{} h {:02} min", minutes / 60, minutes % 60)
    } else {
        format!("{} d {} h", minutes / (24 * 60), (minutes / 60) % 24)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_naturally() {
        assert_eq!(format_wait(Duration::minutes(45)), "45 min");
        assert_eq!(format_wait(Duration::minutes(125)), "2 h 05 min");
        assert_eq!(format_wait(Duration::hours(76)), "3 d 4 h");
        assert_eq!(format_wait(Duration::minutes(-3)), "0 min");
    }

    const WEEKDAYS: [Weekday; 5] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];

    fn rome() -> Tz {
        "Europe/Rome".parse().unwrap()
    }

    /// A local time in `tz` as UTC.
    fn at(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn office(tz: Tz) -> Calendar {
        Calendar::business(tz, BusinessHours::new(&WEEKDAYS, 9 * 60, 17 * 60).unwrap())
    }

    fn sla(calendar: Calendar) -> Sla {
        Sla::new(
            calendar,
            vec![
                (Label::Complaint, Duration::minutes(30)),
                (Label::Question, Duration::minutes(30)),
                (Label::Urgent, Duration::minutes(15)),
            ],
            0.8,
        )
    }

    #[test]
    fn a_friday_afternoon_question_breaches_monday_at_nine_fifteen() {
        let tz = rome();
        let sla = sla(office(tz));
        // Friday 20 November 2026, 16:45 local.
        let asked = at(tz, 2026, 11, 20, 16, 45);
        let clock = sla.clock(asked, &[Label::Question], None).unwrap();
        assert_eq!(clock.deadline, at(tz, 2026, 11, 23, 9, 15));
        // 15 minutes used on Friday; the weekend does not count.
        let saturday = at(tz, 2026, 11, 21, 12, 0);
        assert_eq!(clock.remaining(saturday), Duration::minutes(15));
        assert_eq!(clock.status(saturday), SlaStatus::Ok);
        let monday_9_10 = at(tz, 2026, 11, 23, 9, 10);
        assert_eq!(clock.status(monday_9_10), SlaStatus::Nearing);
        assert_eq!(clock.remaining(monday_9_10), Duration::minutes(5));
        let monday_9_15 = at(tz, 2026, 11, 23, 9, 15);
        assert_eq!(clock.status(monday_9_15), SlaStatus::Breached);
        assert_eq!(
            clock.status(monday_9_15 - Duration::seconds(1)),
            SlaStatus::Nearing
        );
    }

    #[test]
    fn around_the_clock_the_deadline_is_the_target_later() {
        let sla = sla(Calendar::always(Tz::UTC));
        let t = at(Tz::UTC, 2026, 11, 21, 23, 50); // a Saturday night
        let clock = sla.clock(t, &[Label::Complaint], None).unwrap();
        assert_eq!(clock.deadline, t + Duration::minutes(30));
        assert_eq!(clock.status(t + Duration::minutes(23)), SlaStatus::Ok);
        assert_eq!(clock.status(t + Duration::minutes(24)), SlaStatus::Nearing);
        assert_eq!(clock.status(t + Duration::minutes(30)), SlaStatus::Breached);
        assert_eq!(
            clock.remaining(t + Duration::minutes(95)),
            Duration::minutes(-65)
        );
    }

    #[test]
    fn a_comment_outside_hours_waits_for_the_next_opening() {
        let tz = rome();
        let sla = sla(office(tz));
        // Tuesday 20:00: closed; the clock starts Wednesday 09:00.
        let late = at(tz, 2026, 11, 24, 20, 0);
        let clock = sla.clock(late, &[Label::Complaint], None).unwrap();
        assert_eq!(clock.deadline, at(tz, 2026, 11, 25, 9, 30));
        assert_eq!(clock.used(at(tz, 2026, 11, 25, 8, 59)), Duration::zero());
        assert!(!sla.calendar().is_running(late));
        assert!(sla.calendar().is_running(at(tz, 2026, 11, 25, 9, 0)));
        // And one written before opening on the same day.
        let early = at(tz, 2026, 11, 25, 7, 30);
        let clock = sla.clock(early, &[Label::Question], None).unwrap();
        assert_eq!(clock.deadline, at(tz, 2026, 11, 25, 9, 30));
    }

    #[test]
    fn business_hours_follow_the_wall_clock_across_daylight_saving() {
        let tz = rome();
        let every_day = BusinessHours::new(
            &[
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ],
            9 * 60,
            17 * 60,
        )
        .unwrap();
        let sla = sla(Calendar::business(tz, every_day));
        // Saturday 28 March 2026 16:45 CET (UTC+1); Sunday is CEST (UTC+2).
        let asked = at(tz, 2026, 3, 28, 16, 45);
        assert_eq!(asked, Utc.with_ymd_and_hms(2026, 3, 28, 15, 45, 0).unwrap());
        let clock = sla.clock(asked, &[Label::Question], None).unwrap();
        // 09:15 local on Sunday is 07:15 UTC, not 08:15 as a fixed offset would say.
        assert_eq!(
            clock.deadline,
            Utc.with_ymd_and_hms(2026, 3, 29, 7, 15, 0).unwrap()
        );
        // And back in autumn: Sunday 25 October 2026 is CET again.
        let asked = at(tz, 2026, 10, 24, 16, 45);
        let clock = sla.clock(asked, &[Label::Question], None).unwrap();
        assert_eq!(
            clock.deadline,
            Utc.with_ymd_and_hms(2026, 10, 25, 8, 15, 0).unwrap()
        );
    }

    #[test]
    fn local_times_in_a_daylight_saving_gap_or_overlap_resolve() {
        let tz = rome();
        // 02:30 does not exist on 29 March 2026: the first valid instant is 03:00 CEST.
        let gap = local_to_utc(tz, NaiveDate::from_ymd_opt(2026, 3, 29).unwrap(), 150);
        assert_eq!(gap, Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap());
        // 02:30 happens twice on 25 October 2026: the earlier (CEST) one is used.
        let twice = local_to_utc(tz, NaiveDate::from_ymd_opt(2026, 10, 25).unwrap(), 150);
        assert_eq!(twice, Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap());
    }

    #[test]
    fn around_the_clock_targets_are_real_time_across_daylight_saving() {
        let tz = rome();
        let sla = sla(Calendar::always(tz));
        // 01:50 local on the spring-forward night; 30 minutes later it is 03:20 local.
        let t = at(tz, 2026, 3, 29, 1, 50);
        let clock = sla.clock(t, &[Label::Complaint], None).unwrap();
        assert_eq!(clock.deadline, at(tz, 2026, 3, 29, 3, 20));
    }

    #[test]
    fn the_strictest_label_wins_and_unlisted_labels_have_no_target() {
        let sla = sla(Calendar::always(Tz::UTC));
        let (label, target) = sla.target_for(&[Label::Complaint, Label::Urgent]).unwrap();
        assert_eq!((label, target), (Label::Urgent, Duration::minutes(15)));
        assert!(sla.target_for(&[Label::Praise, Label::Negative]).is_none());
    }

    #[test]
    fn the_clock_stops_when_the_comment_is_answered() {
        let sla = sla(Calendar::always(Tz::UTC));
        let t = at(Tz::UTC, 2026, 11, 20, 9, 0);
        let met = sla
            .clock(t, &[Label::Complaint], Some(t + Duration::minutes(12)))
            .unwrap();
        let much_later = t + Duration::hours(5);
        assert_eq!(met.status(much_later), SlaStatus::Ok);
        assert_eq!(met.remaining(much_later), Duration::minutes(18));
        assert_eq!(met.view(much_later).text(), "target 30 min: met");
        let late = sla
            .clock(t, &[Label::Complaint], Some(t + Duration::minutes(95)))
            .unwrap();
        assert_eq!(late.status(much_later), SlaStatus::Breached);
        assert_eq!(
            late.view(much_later).text(),
            "target 30 min: missed by 1 h 05 min"
        );
    }

    #[test]
    fn views_read_naturally() {
        let tz = rome();
        let sla = sla(office(tz));
        let t = at(tz, 2026, 11, 23, 10, 0);
        let clock = sla.clock(t, &[Label::Complaint], None).unwrap();
        let view = clock.view(t + Duration::minutes(25));
        assert_eq!(view.text(), "target 30 min: 5 min left");
        assert_eq!(view.symbol(), "⚠");
        let friday = sla
            .clock(at(tz, 2026, 11, 20, 16, 45), &[Label::Question], None)
            .unwrap();
        assert_eq!(
            friday.view(at(tz, 2026, 11, 20, 16, 50)).text(),
            "target 30 min: 25 min left (due Mon 09:15)"
        );
        assert_eq!(format_target(Duration::hours(2)), "2 h");
        assert_eq!(format_target(Duration::minutes(90)), "1 h 30 min");
        assert_eq!(format_target(Duration::days(1)), "1 d");
    }

    fn labelled(labels: &[Label]) -> Verdict {
        Verdict {
            language: crate::rules::Lang::En,
            language_confident: true,
            labels: labels
                .iter()
                .map(|label| crate::triage::LabelScore {
                    label: *label,
                    score: 1.0,
                    rule: crate::rules::RuleId("test.rule".into()),
                })
                .collect(),
            matches: Vec::new(),
            suppressed: Vec::new(),
            reply: None,
        }
    }

    #[test]
    fn only_a_question_waits_out_its_channels_grace() {
        let grace = QuestionGrace::new(
            Duration::minutes(10),
            HashMap::from([
                ("support".to_owned(), Duration::zero()),
                ("555".to_owned(), Duration::minutes(30)),
            ]),
        );
        let asked = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
        let in_channel = |id: &str, name: &str| {
            Comment::new(
                "c1",
                crate::comment::Source::Discord,
                Place::channel(id, name),
                crate::comment::Author::member("u", "u"),
                "?",
                asked,
            )
        };
        let general = in_channel("1", "general");
        assert_eq!(
            grace.ends(&general, &labelled(&[Label::Question])),
            Some(asked + Duration::minutes(10))
        );
        // A question that also complains, or is urgent, is alerted at once.
        for labels in [
            &[Label::Question, Label::Complaint][..],
            &[Label::Urgent, Label::Question][..],
            &[Label::Complaint][..],
        ] {
            assert_eq!(grace.ends(&general, &labelled(labels)), None, "{labels:?}");
        }
        // A channel set to 0s by name alerts at once; an id's setting is found too.
        assert_eq!(
            grace.ends(&in_channel("2", "support"), &labelled(&[Label::Question])),
            None
        );
        assert_eq!(
            grace.ends(&in_channel("555", "help"), &labelled(&[Label::Question])),
            Some(asked + Duration::minutes(30))
        );
        assert_eq!(
            QuestionGrace::default().ends(&general, &labelled(&[Label::Question])),
            None
        );
    }

    /// Every comment whose reading differs between two checks lies in one of its label's
    /// bands, around the clock and with office hours (over a weekend, across the
    /// spring-forward night), checks 30 s apart or hours apart.
    #[test]
    fn a_reading_that_changes_between_two_checks_lies_in_its_labels_band() {
        let tz = rome();
        let calendars = [Calendar::always(tz), office(tz)];
        // Friday 27 March 2026, 14:00 local, to Monday 30 March; Europe/Rome springs forward
        // on the Sunday.
        let start = at(tz, 2026, 3, 27, 14, 0);
        for calendar in calendars {
            let sla = sla(calendar);
            for gap in [
                Duration::seconds(30),
                Duration::minutes(7),
                Duration::hours(3),
            ] {
                let mut previous = start;
                while previous < start + Duration::days(3) {
                    let now = previous + gap;
                    let bands = sla.reading_bands(previous, now);
                    // Comments every minute over the two days before the check.
                    let mut written = previous - Duration::days(2);
                    while written <= now {
                        for label in [Label::Complaint, Label::Urgent] {
                            let clock = sla.clock(written, &[label], None).unwrap();
                            if clock.status(previous) != clock.status(now) {
                                assert!(
                                    bands.iter().any(|(l, from, to)| {
                                        *l == label && *from <= written && written <= *to
                                    }),
                                    "{label:?} written {written}: {:?} at {previous}, {:?} at {now}, bands {bands:?}",
                                    clock.status(previous),
                                    clock.status(now)
                                );
                            }
                        }
                        written += Duration::minutes(1);
                    }
                    // Not a whole number of minutes, so each check meets the comments differently.
                    previous = now + Duration::minutes(37) + Duration::seconds(13);
                }
            }
        }
    }
}
