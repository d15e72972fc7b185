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

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::comment::CommentId;
use crate::config::Settings;
use crate::digest;
use crate::discord::markdown::DiscordRoom;
use crate::duty::Duty;
use crate::escalation::{self, Escalation, EscalationPolicy};
use crate::lifecycle::StoredComment;
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

/// How long before the previous check a state change is looked for again: a change is
/// stamped with the time it is made (by its process's clock) and seen once committed, and a
/// write waits for the database at most [`BUSY_TIMEOUT`](crate::store::BUSY_TIMEOUT); one
/// stamped before the previous check but committed after it would otherwise be missed.
/// Reading a change twice changes nothing. A change seen later still than this (or stamped
/// by a clock more than this behind) is missed: a close leaves its reading remembered until
/// the next start; an alert posted nearing is edited only once missed, one posted missed
/// not at all (both were posted showing their reading then).
const LATE_WRITE: chrono::Duration = chrono::Duration::minutes(5);

/// What one platform's clock remembers of the alerts' target lines between its checks, so an
/// alert is edited when its reading changes (nearing, missed) and not at every check. Both
/// clocks (Discord's, Telegram's) keep one each and refresh through it.
///
/// The first check reads every open comment, which corrects the alerts left stale while the
/// bot was down. Later ones read only what can have changed since the previous check: the
/// comments whose nearing moment or deadline can fall between the two checks
/// ([`Sla::reading_bands`], by time through an index), those that needed an answer whose
/// state changed (a new alert, a reply given back, a close: closed ones are forgotten), and
/// those whose update could not be queued. Every other alert reads as it did, so the edits
/// queued are the ones reading every open comment at every check would queue, at the same
/// checks. (A comment edited into one that needs no answer is clear, not read: its reading
/// stays remembered, never edited, until the next start.)
#[derive(Debug, Default)]
pub struct TargetReadings {
    shown: ShownReadings,
    /// The time of the last check that read the store; `None` before the first.
    checked: Option<DateTime<Utc>>,
    /// Comments whose update could not be queued, read again at the next check.
    retry: Vec<CommentId>,
}

impl TargetReadings {
    /// Queues updates of the open alerts whose target reading changed since they were last
    /// shown (an update waiting already absorbs another), and gives their comments' ids, in
    /// the order the comments were written. An update that cannot be queued is logged and
    /// tried again at the next check; a check that cannot read the store changes nothing, and
    /// the next one looks back to the last check that could.
    pub async fn refresh(
        &mut self,
        tracker: &Tracker,
        sla: &Sla,
    ) -> Result<Vec<CommentId>, TrackerError> {
        let now = tracker.clock().now();
        let up = |s: &StoredComment| s.alert.is_some();
        let changed = match self.checked.filter(|previous| *previous <= now) {
            // First check (or a clock moved back): everything, as the bands assume a past.
            None => {
                let open = tracker.open().await?;
                self.shown.changed(&open, sla, now, up)
            }
            Some(previous) => {
                let store = tracker.store();
                let mut read = store.state_changed_since(previous - LATE_WRITE).await?;
                read.extend(
                    store
                        .alerted_in_bands(&sla.reading_bands(previous, now))
                        .await?,
                );
                if !self.retry.is_empty() {
                    let ids: Vec<&CommentId> = self.retry.iter().collect();
                    read.extend(store.comments(&ids).await?.into_values());
                }
                // Once each, in the order the comments were written, as a full read gives them.
                read.sort_by(|a, b| {
                    (a.comment.time, &a.comment.id).cmp(&(b.comment.time, &b.comment.id))
                });
                read.dedup_by(|a, b| a.comment.id == b.comment.id);
                self.shown.changed_among(&read, sla, now, up)
            }
        };
        self.checked = Some(now);
        self.retry.clear();
        let mut queued = Vec::new();
        for id in changed {
            match tracker.queue_alert_update(&id).await {
                Ok(()) => queued.push(id),
                Err(e) => {
                    warn!(comment = %id, error = %e, "could not queue the alert's target update");
                    self.shown.forget(&id);
                    self.retry.push(id);
                }
            }
        }
        Ok(queued)
    }

    /// Whether a reading of `id` is remembered (tests: a closed comment is forgotten).
    pub fn remembers(&self, id: &CommentId) -> bool {
        self.shown.remembers(id)
    }

    /// How many readings are remembered: at most one per open comment with an alert up.
    pub fn remembered(&self) -> usize {
        self.shown.len()
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{Duration, Utc};

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::comment::{Author, Comment, Place, Source};
    use crate::escalation::tests::{labelled, sla, t0};
    use crate::lifecycle::{AlertRef, CommentState, Transition};
    use crate::rules::Label;
    use crate::store::{NewTriaged, Store, TERMINAL_ROOM};

    async fn tracker(clock: Arc<ManualClock>) -> Tracker {
        crate::tracker::tests::tracker_on(Store::in_memory().await.unwrap(), clock)
    }

    fn comment(id: &str, at: DateTime<Utc>) -> Comment {
        Comment::new(
            id,
            Source::Discord,
            Place::channel("c1", "support"),
            Author::member(format!("u-{id}"), "Member"),
            "text",
            at,
        )
    }

    /// Stores comments written at `written` with `label`, and shows their alerts at the
    /// clock's time (as the outbox would once it posted them).
    async fn alerted(tracker: &Tracker, ids: &[String], written: DateTime<Utc>, label: Label) {
        let store = tracker.store();
        let now = tracker.clock().now();
        let comments: Vec<Comment> = ids.iter().map(|id| comment(id, written)).collect();
        let verdict = labelled(label);
        let batch: Vec<NewTriaged<'_>> = comments
            .iter()
            .map(|comment| NewTriaged {
                comment,
                verdict: &verdict,
                state: CommentState::Flagged,
                draft: None,
                then: &[],
            })
            .collect();
        store.insert_triaged_many(&batch, now).await.unwrap();
        for c in &comments {
            let alert = AlertRef {
                channel: "mods".into(),
                message: c.id.0.clone(),
                posted_at: now,
            };
            let moved = store
                .set_alert_and_transition(&c.id, TERMINAL_ROOM, &alert, Transition::ALERT, now)
                .await
                .unwrap();
            assert!(moved);
        }
    }

    fn ids(names: &[&str]) -> Vec<CommentId> {
        names.iter().map(|n| CommentId::new(*n)).collect()
    }

    #[tokio::test]
    async fn an_alert_is_edited_once_as_it_nears_and_once_when_missed_among_thousands_on_time() {
        let clock = Arc::new(ManualClock::new(t0()));
        let tracker = tracker(clock.clone()).await;
        let sla = sla();
        // The complaint whose alert must change, thousands of questions on time all along (2 h
        // target), and a backlog of complaints missed long ago.
        alerted(&tracker, &["late".to_owned()], t0(), Label::Complaint).await;
        let on_time: Vec<String> = (0..3_000).map(|i| format!("q{i}")).collect();
        alerted(&tracker, &on_time, t0(), Label::Question).await;
        let backlog: Vec<String> = (0..200).map(|i| format!("old{i}")).collect();
        alerted(
            &tracker,
            &backlog,
            t0() - Duration::hours(5),
            Label::Complaint,
        )
        .await;
        // Reading every open comment at every check, as each clock did: the same edits, at
        // the same checks, are expected.
        let mut every = ShownReadings::default();
        let mut readings = TargetReadings::default();
        let mut edits: Vec<(DateTime<Utc>, CommentId)> = Vec::new();
        let mut at = t0() + Duration::minutes(1);
        while at <= t0() + Duration::minutes(40) {
            clock.set(at);
            match at - t0() {
                // A comment written long ago alerted only now (a catch-up), already nearing;
                // another one whose reply is being sent through its nearing moment, then
                // given back.
                d if d == Duration::minutes(26) => {
                    alerted(&tracker, &["caught-up".to_owned()], t0(), Label::Complaint).await;
                }
                d if d == Duration::minutes(20) => {
                    alerted(&tracker, &["sending".to_owned()], t0(), Label::Complaint).await;
                    let claimed = tracker
                        .store()
                        .transition(&CommentId::new("sending"), Transition::CLAIM_REPLY, at)
                        .await
                        .unwrap();
                    assert!(claimed);
                }
                d if d == Duration::minutes(33) => {
                    let given_back = tracker
                        .store()
                        .transition(&CommentId::new("sending"), Transition::GIVE_BACK, at)
                        .await
                        .unwrap();
                    assert!(given_back);
                }
                _ => {}
            }
            let got = readings.refresh(&tracker, &sla).await.unwrap();
            let open = tracker.open().await.unwrap();
            let want = every.changed(&open, &sla, at, |s| s.alert.is_some());
            assert_eq!(got, want, "at {at}");
            edits.extend(got.into_iter().map(|id| (at, id)));
            at += Duration::seconds(30);
        }
        let minutes = |m: i64| t0() + Duration::minutes(m);
        let mut backlog_ids: Vec<CommentId> = backlog
            .iter()
            .map(|id| CommentId::new(id.as_str()))
            .collect();
        backlog_ids.sort();
        let mut expected: Vec<(DateTime<Utc>, CommentId)> =
            backlog_ids.into_iter().map(|id| (minutes(1), id)).collect();
        for (m, id) in [
            (24, "late"),
            (26, "caught-up"),
            (30, "caught-up"),
            (30, "late"),
            (33, "sending"),
        ] {
            expected.push((minutes(m), CommentId::new(id)));
        }
        // The backlog once at the first check after start (missed while nobody looked);
        // "late" once nearing and once missed; the caught-up alert at the next check and when
        // missed; the one being sent once given back (missed by then); no question.
        assert_eq!(edits, expected);
    }

    #[tokio::test]
    async fn a_comment_closed_between_checks_is_forgotten() {
        let clock = Arc::new(ManualClock::new(t0()));
        let tracker = tracker(clock.clone()).await;
        let sla = sla();
        alerted(
            &tracker,
            &["a".to_owned(), "b".to_owned()],
            t0(),
            Label::Complaint,
        )
        .await;
        let mut readings = TargetReadings::default();
        clock.set(t0() + Duration::minutes(25));
        assert_eq!(
            readings.refresh(&tracker, &sla).await.unwrap(),
            ids(&["a", "b"])
        );
        assert_eq!(readings.remembered(), 2);
        clock.set(t0() + Duration::minutes(25) + Duration::seconds(10));
        let answered = tracker
            .store()
            .transition(&CommentId::new("a"), Transition::ANSWER, clock.now())
            .await
            .unwrap();
        assert!(answered);
        clock.set(t0() + Duration::minutes(25) + Duration::seconds(30));
        assert!(readings.refresh(&tracker, &sla).await.unwrap().is_empty());
        assert!(!readings.remembers(&CommentId::new("a")));
        assert!(readings.remembers(&CommentId::new("b")));
        // Missed: only the one still open is edited.
        clock.set(t0() + Duration::minutes(30));
        assert_eq!(readings.refresh(&tracker, &sla).await.unwrap(), ids(&["b"]));
        assert_eq!(readings.remembered(), 1);
    }

    #[tokio::test]
    async fn an_alert_whose_deadline_passed_while_the_bot_was_down_is_corrected_at_the_first_check()
    {
        let clock = Arc::new(ManualClock::new(t0()));
        let tracker = tracker(clock.clone()).await;
        let sla = sla();
        alerted(&tracker, &["a".to_owned()], t0(), Label::Complaint).await;
        let mut before = TargetReadings::default();
        clock.set(t0() + Duration::minutes(1));
        assert!(before.refresh(&tracker, &sla).await.unwrap().is_empty());
        // Down for two hours; started again with nothing remembered.
        clock.set(t0() + Duration::hours(2));
        let mut after = TargetReadings::default();
        assert_eq!(after.refresh(&tracker, &sla).await.unwrap(), ids(&["a"]));
        clock.advance(Duration::seconds(30));
        assert!(after.refresh(&tracker, &sla).await.unwrap().is_empty());
        // A clock that stalled as long without a restart catches up the same way.
        clock.set(t0() + Duration::hours(2));
        assert_eq!(before.refresh(&tracker, &sla).await.unwrap(), ids(&["a"]));
    }
}
