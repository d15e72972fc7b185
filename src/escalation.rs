//! Escalation: when a flagged comment misses its response-time target, one message for the
//! moderators' channel, pinging a configured role within an hourly ping budget.
//!
//! The adapter (the Discord layer, or the replay) calls [`due_escalations`] periodically and
//! posts what it returns. Each escalation is recorded in the store before it is returned, so
//! a comment is escalated at most once, across restarts and across processes sharing the
//! store. The live bot queues the message in the outbox, which retries it; if it is given up
//! the escalation still shows in the digest's "targets missed", and the alert itself keeps
//! saying "missed by ...".
//!
//! Over budget, an escalation is still recorded and posted, only without the ping: moderators
//! keep a complete list in the channel, while a burst of breaches (an outage, a raid) cannot
//! ping their phones more than `max_pings_per_hour` times in any rolling hour.
//!
//! Breaches more than [`STALE_AFTER`] old (after downtime, or when targets are first turned on
//! over an old backlog) are recorded without being posted: a day-old "target missed" is noise
//! in the channel, and the digest already lists what is still waiting.

use chrono::{DateTime, Utc};

use crate::alert::Room;
use crate::comment::CommentId;
use crate::config::EscalationSettings;
use crate::lifecycle::StoredComment;
use crate::rules::Label;
use crate::sla::{format_target, format_wait, Sla, SlaClock, SlaStatus};
use crate::store::NewEscalation;
use crate::text::cut_chars;
use crate::tracker::{Tracker, TrackerError};

/// Comment text in an escalation is cut to this many characters.
const EXCERPT_CHARS: usize = 120;

/// Breaches whose deadline passed longer ago than this are recorded but not posted.
pub const STALE_AFTER: chrono::Duration = chrono::Duration::hours(24);

/// Whom to tell and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscalationPolicy {
    pub enabled: bool,
    /// The role to ping; `None` posts escalations without pinging.
    pub role_id: Option<u64>,
    pub max_pings_per_hour: u32,
}

impl EscalationPolicy {
    pub fn from_settings(settings: &EscalationSettings) -> EscalationPolicy {
        EscalationPolicy {
            enabled: settings.enabled,
            role_id: (settings.role_id != 0).then_some(settings.role_id),
            max_pings_per_hour: settings.max_pings_per_hour,
        }
    }
}

/// One message for the moderators' channel about a missed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub comment_id: CommentId,
    /// The label whose target was missed.
    pub label: Label,
    pub target: chrono::Duration,
    pub deadline: DateTime<Utc>,
    pub escalated_at: DateTime<Utc>,
    /// The role to ping with this message, if any: the adapter must allow exactly this role
    /// mention (Discord `allowed_mentions.roles`), since replies otherwise never ping roles.
    pub ping: Option<u64>,
    /// A role is configured but this hour's ping budget was spent, so it is posted silently.
    pub over_budget: bool,
    pub author: String,
    /// `#channel` or "direct message".
    pub place: String,
    /// "complaint, urgent".
    pub labels: String,
    /// How long the comment has waited (wall clock).
    pub waited: chrono::Duration,
    /// How far past the target it is, in running (business) time.
    pub missed_by: chrono::Duration,
    pub excerpt: String,
    pub link: Option<String>,
}

impl Escalation {
    /// "target 30 min missed by 5 min".
    pub fn headline(&self) -> String {
        format!(
            "target {} missed by {}",
            format_target(self.target),
            format_wait(self.missed_by)
        )
    }

    /// The message for a chat room: the role mention (when pinging), then the escalation.
    pub fn to_markdown(&self, room: &dyn Room) -> String {
        let mut out = String::new();
        if let Some(role) = self.ping {
            out.push_str(&format!("<@&{role}> "));
        }
        out.push_str(&format!(
            "⛔ **Response {}** — {} by {} in {}, waiting {}",
            self.headline(),
            self.labels,
            room.quote(&self.author),
            room.quote(&self.place),
            format_wait(self.waited)
        ));
        if let Some(link) = &self.link {
            out.push_str(&format!(" · [open](<{link}>)"));
        }
        out.push_str(&format!("\n> {}", room.quote(&self.excerpt)));
        if self.over_budget {
            out.push_str("\n-# no ping: the hourly ping budget is spent");
        }
        out
    }

    /// The message for the terminal.
    pub fn to_text(&self) -> String {
        let ping = match (self.ping, self.over_budget) {
            (Some(role), _) => format!(" [ping role {role}]"),
            (None, true) => " [no ping: hourly budget spent]".to_owned(),
            (None, false) => String::new(),
        };
        format!(
            "⛔ {} — {} by {} in {}, waiting {}{ping}\n  │ {}\n",
            self.headline(),
            self.labels,
            self.author,
            self.place,
            format_wait(self.waited),
            self.excerpt
        )
    }
}

/// Open comments whose target is missed at `now`, earliest deadline first (so when the ping
/// budget is short, the longest-waiting breach gets the ping).
pub fn breached<'a>(
    open: &'a [StoredComment],
    sla: &Sla,
    now: DateTime<Utc>,
) -> Vec<(&'a StoredComment, SlaClock)> {
    let mut due: Vec<_> = open
        .iter()
        .filter(|s| s.state.is_open())
        .filter_map(|s| sla.clock_for(s).map(|clock| (s, clock)))
        .filter(|(_, clock)| clock.status(now) == SlaStatus::Breached)
        .collect();
    due.sort_by_key(|(s, clock)| (clock.deadline, s.comment.time, s.comment.id.clone()));
    due
}

fn escalation(
    stored: &StoredComment,
    clock: &SlaClock,
    now: DateTime<Utc>,
    ping: Option<u64>,
    over_budget: bool,
) -> Escalation {
    let comment = &stored.comment;
    let labels = stored
        .verdict
        .as_ref()
        .map(|v| v.label_names())
        .unwrap_or_default();
    Escalation {
        comment_id: comment.id.clone(),
        label: clock.label,
        target: clock.target,
        deadline: clock.deadline,
        escalated_at: now,
        ping,
        over_budget,
        author: comment.author.name.clone(),
        place: comment.place_described(),
        labels,
        waited: (now - comment.time).max(chrono::Duration::zero()),
        missed_by: -clock.remaining(now),
        excerpt: cut_chars(&comment.text, EXCERPT_CHARS).replace('\n', " "),
        link: comment.link.clone(),
    }
}

/// For each label with a target, the latest time a comment carrying it can have been
/// written and have missed that target by `now` (a deadline is never before the comment's
/// time plus its target: business hours only move it later).
fn candidate_cutoffs(sla: &Sla, now: DateTime<Utc>) -> Vec<(Label, DateTime<Utc>)> {
    sla.targets()
        .iter()
        .filter_map(|(label, target)| now.checked_sub_signed(*target).map(|at| (*label, at)))
        .collect()
}

/// When the next escalation can fall due: the earliest deadline among open comments not
/// escalated yet, `None` when none has a target. Read from the oldest such comment per label
/// rather than from every open comment: the deadline only grows with the comment's time,
/// and a comment's target is the shortest of its labels' ones, so the oldest comment
/// carrying a label gives that label's earliest deadline.
pub async fn next_deadline(
    tracker: &Tracker,
    sla: &Sla,
) -> Result<Option<DateTime<Utc>>, TrackerError> {
    let labels: Vec<Label> = sla.targets().iter().map(|(label, _)| *label).collect();
    let oldest = tracker.store().oldest_unescalated(&labels).await?;
    Ok(oldest
        .into_iter()
        .filter_map(|(label, at)| {
            let (_, target) = sla.target_for(&[label])?;
            Some(sla.calendar().add(at, target))
        })
        .min())
}

/// The escalations to post now: every open comment past its deadline that was not escalated
/// before. Each is recorded (with its ping decision) before being returned, so calling this
/// again returns nothing for the same comments. Nothing is returned when escalation is off.
pub async fn due_escalations(
    tracker: &Tracker,
    sla: &Sla,
    policy: &EscalationPolicy,
) -> Result<Vec<Escalation>, TrackerError> {
    if !policy.enabled {
        return Ok(Vec::new());
    }
    let now = tracker.clock().now();
    let open = tracker
        .store()
        .escalation_candidates(&candidate_cutoffs(sla, now))
        .await?;
    let role = policy.role_id.map(|r| r.to_string());
    let breached = breached(&open, sla, now);
    // Recorded together, in deadline order (so the ping budget goes to the oldest breach).
    let to_record: Vec<NewEscalation<'_>> = breached
        .iter()
        .map(|(stored, sla_clock)| NewEscalation {
            comment: &stored.comment.id,
            label: sla_clock.label,
            deadline: sla_clock.deadline,
            role_id: if now - sla_clock.deadline > STALE_AFTER {
                None
            } else {
                role.as_deref()
            },
        })
        .collect();
    let recorded = tracker
        .record_escalations(&to_record, policy.max_pings_per_hour)
        .await?;
    let mut out = Vec::new();
    let mut stale = 0;
    for ((stored, sla_clock), recorded) in breached.iter().zip(recorded) {
        let is_stale = now - sla_clock.deadline > STALE_AFTER;
        // None: another process escalated it between our read and this write.
        let Some(pinged) = recorded else { continue };
        if is_stale {
            stale += 1;
            continue;
        }
        let ping = policy.role_id.filter(|_| pinged);
        let over_budget = policy.role_id.is_some() && !pinged;
        tracing::info!(id = %stored.comment.id, pinged, "response target missed; escalated");
        out.push(escalation(stored, sla_clock, now, ping, over_budget));
    }
    if stale > 0 {
        tracing::info!(
            stale,
            "targets missed more than a day ago recorded without posting (the digest lists them)"
        );
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use chrono_tz::Tz;

    use crate::comment::{Author, Comment, Place, Source};
    use crate::discord::markdown::DiscordRoom;
    use crate::lifecycle::CommentState;
    use crate::rules::{Lang, RuleId};
    use crate::sla::Calendar;
    use crate::triage::{LabelScore, Verdict};

    /// Friday 20 November 2026, 09:00 UTC.
    pub(crate) fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
    }

    /// Complaints must be answered within 30 minutes, questions within 2 hours; warned at 80%.
    pub(crate) fn sla() -> Sla {
        Sla::new(
            Calendar::always(Tz::UTC),
            vec![
                (Label::Complaint, Duration::minutes(30)),
                (Label::Question, Duration::hours(2)),
            ],
            0.8,
        )
    }

    /// A verdict giving `label` alone, from a test rule.
    pub(crate) fn labelled(label: Label) -> Verdict {
        Verdict {
            language: Lang::En,
            language_confident: true,
            labels: vec![LabelScore {
                label,
                score: 1.0,
                rule: RuleId("en.test".into()),
            }],
            matches: Vec::new(),
            suppressed: Vec::<(Label, RuleId)>::new(),
            reply: None,
        }
    }

    pub(crate) fn stored(
        id: &str,
        minutes_after_t0: i64,
        label: Label,
        state: CommentState,
    ) -> StoredComment {
        StoredComment {
            comment: Comment::new(
                id,
                Source::Discord,
                Place {
                    guild: Some("7".into()),
                    ..Place::channel("42", "support")
                },
                Author::member("u1", "nora_*"),
                "My parcel is still not here\nplease help",
                t0() + Duration::minutes(minutes_after_t0),
            )
            .with_link(Some(format!("https://discord.com/channels/7/42/{id}"))),
            state,
            state_changed_at: t0(),
            verdict: Some(labelled(label)),
            draft: None,
            alert: None,
            answered_by: None,
            closed_at: None,
        }
    }

    #[test]
    fn only_open_comments_past_their_deadline_are_breached_oldest_deadline_first() {
        let open = vec![
            stored("q-old", 0, Label::Question, CommentState::Alerted), // due 11:00
            stored("c-new", 60, Label::Complaint, CommentState::Alerted), // due 10:30
            stored("c-fresh", 100, Label::Complaint, CommentState::Alerted), // due 11:10
            stored("praise", 0, Label::Praise, CommentState::Alerted),  // no target
            stored("gone", 0, Label::Complaint, CommentState::Replied),
        ];
        let now = t0() + Duration::minutes(125);
        let ids: Vec<_> = breached(&open, &sla(), now)
            .into_iter()
            .map(|(s, _)| s.comment.id.0.as_str())
            .collect();
        assert_eq!(ids, ["c-new", "q-old"]);
    }

    #[test]
    fn the_message_pings_only_when_told_and_keeps_member_text_inert() {
        let s = stored("1", 0, Label::Complaint, CommentState::Alerted);
        let clock = sla().clock_for(&s).unwrap();
        let now = t0() + Duration::minutes(95);
        let e = escalation(&s, &clock, now, Some(555), false);
        let md = e.to_markdown(&DiscordRoom);
        assert!(
            md.starts_with("<@&555> ⛔ **Response target 30 min missed by 1 h 05 min**"),
            "{md}"
        );
        assert!(
            md.contains("by nora\\_\\* in #support, waiting 1 h 35 min"),
            "{md}"
        );
        assert!(
            md.contains("[open](<https://discord.com/channels/7/42/1>)"),
            "{md}"
        );
        assert!(
            md.contains("> My parcel is still not here please help"),
            "{md}"
        );
        let quiet = escalation(&s, &clock, now, None, true);
        assert!(
            !quiet.to_markdown(&DiscordRoom).contains("<@&"),
            "{}",
            quiet.to_markdown(&DiscordRoom)
        );
        assert!(quiet.to_markdown(&DiscordRoom).contains("no ping"));
        assert!(quiet.to_text().contains("[no ping: hourly budget spent]"));
    }
}
