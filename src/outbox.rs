//! The outbox: every write Ascolto makes on a platform (an alert, an alert update, an approved
//! reply, an escalation, a digest, a notice to moderators) is first a row in the `outbox`
//! table, written by the tracker together with the decision behind it, then delivered by a
//! worker task with retries. Platforms fail in ordinary ways (rate limits, a 500, a missing
//! permission); a write must neither wait for the next restart nor go out twice.
//!
//! This module is the platform-neutral part: the row and its typed [`Payload`], the
//! [`RetryPolicy`], the [`Deliver`] trait a platform implements (Discord's is
//! `discord::delivery`, Telegram's `telegram::delivery`, Meta's approved replies
//! `meta::delivery`), and the [`Worker`] that claims rows and hands them to it.
//!
//! # States, claims and leases
//!
//! `pending → claimed → sent`, or `→ given_up`. A row is claimed with a compare-and-set that
//! also sets a lease (wall-clock, [`claim_lease`]) and counts the attempt; the attempt count is the
//! claim's token, so only the claimant can mark the row done. The tracker marks it sent in the
//! same transaction as what the write means (`mark_alerted`, `complete_reply`). A row whose
//! lease ran out (its process died) is claimed again, flagged `maybe_sent`.
//!
//! # Order
//!
//! Rows for one destination channel go out one at a time: only a channel's head may be claimed
//! (`Store::outbox_heads`: a write being delivered, then rows about comments in the order the
//! comments were written, a comment's own rows in the order they were queued, other rows by
//! when they were queued), so an alert update never overtakes its alert, and alerts appear in
//! the order their comments arrived. Different channels proceed independently. A channel with
//! more ready is served as a lane: its next row is claimed in the transaction that records the
//! one before, so a busy channel's writes follow one another at the platform's pace.
//!
//! # Never twice
//!
//! An attempt whose answer was lost (a timeout, a 5xx, a crash while holding the claim) may
//! have posted. Two guards keep a retry from posting again: every create carries a nonce
//! derived from the row with `enforce_nonce` (Discord answers a repeat within a few minutes
//! with the message it already created), and a row flagged `maybe_sent` is first looked for in
//! the channel's recent history by what identifies it (an alert's footer names its comment, a
//! reply references the original) — which covers a restart hours later, past the nonce
//! window. Edits are idempotent and need neither. Those guards are Discord's: Telegram offers
//! bots no way to look (see `telegram::delivery` for what that leaves).
//!
//! # Giving up
//!
//! At once when the platform refuses for good (401, 403, 404, an invalid request), else after
//! `[outbox] give_up_after` of failures. Moderators are then told in their channel (that
//! notice is itself a row, never followed by a notice about the notice), the digest counts the
//! write, and a reply given up hands the comment back to the moderators with the reason shown
//! on its alert.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, info, info_span, warn, Instrument};

use crate::comment::{CommentId, Source};
use crate::tracker::{Moderator, Tracker};

/// The shortest claim: another worker may take a row over once its claim ran out, so a claim
/// must outlast an attempt ([`ATTEMPT_TIMEOUT`]) with room to record its answer, whatever
/// `[cluster] lease` says.
pub const MIN_LEASE: Duration = Duration::from_secs(30);

/// How long a claim is held before another worker may take the row over (wall clock): the
/// cluster's lease, at least [`MIN_LEASE`].
pub fn claim_lease(cluster_lease: Duration) -> Duration {
    cluster_lease.max(MIN_LEASE)
}

/// One attempt is abandoned (and counted as maybe sent) after this long, well inside the lease.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

/// How often an idle worker looks for rows written by another process.
const IDLE_POLL: Duration = Duration::from_secs(2);

/// A row's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OutboxId(pub i64);

impl std::fmt::Display for OutboxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The platform that delivers a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Destination {
    Discord,
    Telegram,
    /// Facebook, Instagram and Messenger through the Graph API (`meta::delivery`); the row's
    /// channel is the comment's channel id, which names the page (`meta::types::MetaChannel`).
    Meta,
}

impl Destination {
    pub fn as_str(self) -> &'static str {
        match self {
            Destination::Discord => "discord",
            Destination::Telegram => "telegram",
            Destination::Meta => "meta",
        }
    }

    pub fn parse(value: &str) -> Option<Destination> {
        match value {
            "discord" => Some(Destination::Discord),
            "telegram" => Some(Destination::Telegram),
            "meta" => Some(Destination::Meta),
            _ => None,
        }
    }

    /// Where a reply to a comment from `source` is posted through the outbox (always the
    /// comment's own platform, whichever room approved it); `None` for sources with nowhere
    /// to post (a replayed file).
    pub fn for_source(source: Source) -> Option<Destination> {
        match source {
            Source::Discord => Some(Destination::Discord),
            Source::Telegram => Some(Destination::Telegram),
            Source::Facebook | Source::Instagram | Source::Messenger => Some(Destination::Meta),
            Source::Replay => None,
        }
    }

    /// How long after a person's last direct message the platform still accepts a reply to
    /// it, for platforms that limit it: Meta's standard messaging window. Past it an
    /// approval is refused before anything is queued.
    pub fn direct_reply_window(self) -> Option<chrono::Duration> {
        match self {
            Destination::Discord | Destination::Telegram => None,
            Destination::Meta => Some(chrono::Duration::hours(24)),
        }
    }
}

/// What a row writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxKind {
    Alert,
    AlertUpdate,
    Reply,
    Escalation,
    Digest,
    Notice,
}

impl OutboxKind {
    pub const ALL: [OutboxKind; 6] = [
        OutboxKind::Alert,
        OutboxKind::AlertUpdate,
        OutboxKind::Reply,
        OutboxKind::Escalation,
        OutboxKind::Digest,
        OutboxKind::Notice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Alert => "alert",
            OutboxKind::AlertUpdate => "alert_update",
            OutboxKind::Reply => "reply",
            OutboxKind::Escalation => "escalation",
            OutboxKind::Digest => "digest",
            OutboxKind::Notice => "notice",
        }
    }

    pub fn parse(value: &str) -> Option<OutboxKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// What moderators read: "the alert", "the reply"...
    pub fn described(self) -> &'static str {
        match self {
            OutboxKind::Alert => "the alert",
            OutboxKind::AlertUpdate => "an update of the alert",
            OutboxKind::Reply => "the approved reply",
            OutboxKind::Escalation => "the escalation",
            OutboxKind::Digest => "the daily digest",
            OutboxKind::Notice => "a notice",
        }
    }
}

/// Where a row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxState {
    Pending,
    Claimed,
    Sent,
    GivenUp,
}

impl OutboxState {
    pub const ALL: [OutboxState; 4] = [
        OutboxState::Pending,
        OutboxState::Claimed,
        OutboxState::Sent,
        OutboxState::GivenUp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Claimed => "claimed",
            OutboxState::Sent => "sent",
            OutboxState::GivenUp => "given_up",
        }
    }

    pub fn parse(value: &str) -> Option<OutboxState> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// An approved reply, with what the audit trail records once it is out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyOrder {
    pub comment: CommentId,
    /// The draft as proposed.
    pub draft_text: String,
    /// What is posted (the draft, or the moderator's edit).
    pub text: String,
    pub moderator: Moderator,
    pub edited: bool,
}

/// The digest window to build and post; built when delivered, so a retry posts the same day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestOrder {
    pub day: chrono::NaiveDate,
    pub start: chrono::DateTime<chrono::Utc>,
    pub end: chrono::DateTime<chrono::Utc>,
    pub scheduled: Option<chrono::DateTime<chrono::Utc>>,
    /// IANA name of the time zone local times are shown in.
    pub tz: String,
}

impl DigestOrder {
    /// The order for a digest window (its time zone by name).
    pub fn of(window: &crate::digest::DigestWindow) -> DigestOrder {
        DigestOrder {
            day: window.day,
            start: window.start,
            end: window.end,
            scheduled: window.scheduled,
            tz: window.tz.name().to_owned(),
        }
    }

    /// The window to build, with its time zone read back.
    pub fn window(&self) -> Result<crate::digest::DigestWindow, DeliveryError> {
        let tz = self
            .tz
            .parse()
            .map_err(|_| DeliveryError::Local(format!("unknown time zone `{}`", self.tz)))?;
        Ok(crate::digest::DigestWindow {
            day: self.day,
            start: self.start,
            end: self.end,
            scheduled: self.scheduled,
            tz,
        })
    }
}

/// The comment an approved reply answers, as long as it is still waiting for that reply
/// (`Sending`): a comment closed meanwhile is never replied to.
pub async fn awaiting_reply(
    store: &crate::store::Store,
    order: &ReplyOrder,
) -> Result<crate::lifecycle::StoredComment, DeliveryError> {
    let stored = store
        .comment(&order.comment)
        .await
        .map_err(|e| DeliveryError::Local(e.to_string()))?
        .ok_or_else(|| DeliveryError::Local(format!("comment {} is not stored", order.comment)))?;
    if stored.state != crate::lifecycle::CommentState::Sending {
        return Err(DeliveryError::Local(format!(
            "the comment is {} now, no longer waiting for this reply",
            stored.state.as_str()
        )));
    }
    Ok(stored)
}

/// What a row writes, stored as JSON. Alerts and their updates carry only the comment: they
/// are rendered from the database when delivered, so they always show the latest truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    Alert {
        comment: CommentId,
    },
    AlertUpdate {
        comment: CommentId,
    },
    Reply(ReplyOrder),
    /// The text is rendered by the adapter for its room when the escalation is recorded.
    Escalation {
        comment: CommentId,
        text: String,
        /// The one role this message may ping.
        ping_role: Option<u64>,
    },
    Digest(DigestOrder),
    /// A message to moderators (a write given up).
    Notice {
        text: String,
    },
}

impl Payload {
    pub fn kind(&self) -> OutboxKind {
        match self {
            Payload::Alert { .. } => OutboxKind::Alert,
            Payload::AlertUpdate { .. } => OutboxKind::AlertUpdate,
            Payload::Reply(_) => OutboxKind::Reply,
            Payload::Escalation { .. } => OutboxKind::Escalation,
            Payload::Digest(_) => OutboxKind::Digest,
            Payload::Notice { .. } => OutboxKind::Notice,
        }
    }

    pub fn comment(&self) -> Option<&CommentId> {
        match self {
            Payload::Alert { comment }
            | Payload::AlertUpdate { comment }
            | Payload::Escalation { comment, .. } => Some(comment),
            Payload::Reply(order) => Some(&order.comment),
            Payload::Digest(_) | Payload::Notice { .. } => None,
        }
    }
}

/// The moderators' room: where alerts, escalations, digests and notices go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub destination: Destination,
    pub channel: String,
}

/// A row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutbox {
    pub destination: Destination,
    pub channel: String,
    pub payload: Payload,
}

impl NewOutbox {
    /// A row for the moderators' room.
    pub fn to_room(room: &Room, payload: Payload) -> NewOutbox {
        NewOutbox {
            destination: room.destination,
            channel: room.channel.clone(),
            payload,
        }
    }
}

/// A stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: OutboxId,
    pub destination: Destination,
    pub channel: String,
    pub payload: Payload,
    pub state: OutboxState,
    /// Attempts started so far (the current claim's token once claimed).
    pub attempts: u32,
    /// An earlier attempt may have reached the platform: look before posting again.
    pub maybe_sent: bool,
    /// Wall-clock milliseconds: when it may be tried again, when its lease ends, when it
    /// first failed.
    pub due_ms: Option<i64>,
    pub lease_ms: Option<i64>,
    pub first_failed_ms: Option<i64>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub message_id: Option<String>,
    pub last_error: Option<String>,
}

impl OutboxRow {
    /// A nonce for creates, the same at every attempt of a row and different for every other
    /// row, within Discord's 25 characters. Discord answers a repeated nonce of the same bot
    /// with the message it already has, so two processes with stores of their own (one per
    /// shard) must not produce the same one: their first rows share an id and, started
    /// together, can share the millisecond too. What the row says (the comment of an alert,
    /// the text of a notice) and where it goes are part of it, hashed with its time.
    pub fn nonce(&self) -> String {
        // FNV-1a 64: stable across builds and platforms, as a retry after an upgrade needs.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let payload = serde_json::to_string(&self.payload).unwrap_or_default();
        let time = self.created_at.timestamp_micros().to_le_bytes();
        for byte in [payload.as_bytes(), self.channel.as_bytes(), &time[..]]
            .into_iter()
            .flatten()
        {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
        // 12 digits of id (a trillion rows), a dot and 11 hex digits: at most 25 characters.
        format!("a{}.{:011x}", self.id.0, hash & 0xFFF_FFFF_FFFF)
    }

    /// Whether the worker may claim it at `now_ms`.
    pub fn claimable_at(&self, now_ms: i64) -> bool {
        match self.state {
            OutboxState::Pending => self.due_ms.is_none_or(|due| due <= now_ms),
            OutboxState::Claimed => self.lease_ms.is_none_or(|lease| lease <= now_ms),
            OutboxState::Sent | OutboxState::GivenUp => false,
        }
    }

    /// When it becomes claimable, if not now.
    pub fn ready_at(&self) -> Option<i64> {
        match self.state {
            OutboxState::Pending => self.due_ms,
            OutboxState::Claimed => self.lease_ms,
            OutboxState::Sent | OutboxState::GivenUp => None,
        }
    }
}

/// Why a platform refused a write for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 401: the token is no longer valid.
    Unauthorized,
    /// 403: the bot lacks a permission in that channel.
    MissingPermission,
    /// 403 on Telegram: the bot is no longer a member of the chat (removed, kicked), or the
    /// person blocked it.
    NotMember,
    /// 404: the channel or the message is gone.
    NotFound,
    /// 400: the platform says the request is invalid (e.g. the original message was deleted).
    Invalid,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Unauthorized => "the bot's token is no longer accepted",
            Refusal::MissingPermission => "the bot is missing a permission there",
            Refusal::NotMember => {
                "the bot is not a member of that chat any more (removed, or blocked by the person)"
            }
            Refusal::NotFound => "the channel or message no longer exists (deleted?)",
            Refusal::Invalid => "the platform refused the message",
        })
    }
}

/// Why one delivery attempt failed. `detail` is the platform's own words, for operators.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    #[error("rate limited; asked to wait {:.1} s", retry_after.as_secs_f64())]
    RateLimited { retry_after: Duration },
    /// The answer was lost or was a server error: the write may or may not have happened.
    #[error("the platform is unavailable ({detail})")]
    Unavailable { detail: String },
    #[error("{reason} ({detail})")]
    Refused { reason: Refusal, detail: String },
    /// Something on our side (the database, a row that cannot be delivered as written).
    #[error("{0}")]
    Local(String),
}

impl DeliveryError {
    /// Whether retrying can help.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            DeliveryError::Refused { .. } | DeliveryError::Local(_)
        )
    }

    /// Whether the platform may have carried out the write despite the error.
    pub fn maybe_sent(&self) -> bool {
        matches!(self, DeliveryError::Unavailable { .. })
    }

    /// The reason in moderators' words.
    pub fn for_moderators(&self) -> String {
        match self {
            DeliveryError::RateLimited { .. } => {
                "the platform kept asking the bot to slow down".to_owned()
            }
            DeliveryError::Unavailable { .. } => "the platform was unavailable".to_owned(),
            // The platform's words (or the adapter's, for Meta's token and permissions) say
            // what to fix.
            DeliveryError::Refused { reason, detail } => format!("{reason} ({detail})"),
            DeliveryError::Local(_) => {
                "Ascolto could not prepare it (see the bot's log)".to_owned()
            }
        }
    }
}

/// A write carried out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// The platform's id of the message posted (or edited); `None` when there was nothing to
    /// do (an update of an alert that was never posted).
    pub message_id: Option<String>,
    /// The platform asked to wait before the next write in this channel (its rate-limit
    /// headers said the bucket is empty).
    pub pause: Option<Duration>,
}

/// A platform's delivery of outbox rows.
pub trait Deliver: Send + Sync + 'static {
    fn destination(&self) -> Destination;

    /// Carries out one row's write. Called with the row claimed; at most one call per channel
    /// at a time.
    fn deliver(
        &self,
        row: &OutboxRow,
    ) -> impl Future<Output = Result<Delivered, DeliveryError>> + Send;
}

/// When to try again, and when to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure; doubled after each further one.
    pub first: Duration,
    /// The longest wait between two attempts.
    pub max: Duration,
    /// Failures for longer than this give the write up.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first: Duration::from_secs(1),
            max: Duration::from_secs(300),
            give_up_after: Duration::from_secs(3600),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    RetryIn(Duration),
    GiveUp,
}

impl RetryPolicy {
    /// The backoff after the `failures`-th failure in a row (1-based): `first`, doubled each
    /// time, never more than `max`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.first
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// After `failures` failed attempts, the first of them at `first_failed_ms`: retry when
    /// the platform said (a rate limit's `retry_after`) or after the backoff, unless the
    /// platform refused for good or the next attempt would come after `give_up_after`.
    pub fn decide(
        &self,
        error: &DeliveryError,
        failures: u32,
        first_failed_ms: i64,
        now_ms: i64,
    ) -> Decision {
        if error.is_final() {
            return Decision::GiveUp;
        }
        let wait = match error {
            // Honoured as given, plus a hair: arriving early earns another 429.
            DeliveryError::RateLimited { retry_after } => *retry_after + Duration::from_millis(20),
            _ => self.backoff(failures),
        };
        let failing_for = Duration::from_millis(now_ms.saturating_sub(first_failed_ms) as u64);
        if failing_for + wait > self.give_up_after {
            Decision::GiveUp
        } else {
            Decision::RetryIn(wait)
        }
    }
}

/// Wall-clock milliseconds since the epoch (leases and retry times; see the module doc).
pub fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A running worker for one destination.
pub struct Worker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Worker {
    /// Starts delivering `deliverer`'s rows: pending ones left by an earlier run at once.
    pub fn spawn<D: Deliver>(
        tracker: Arc<Tracker>,
        deliverer: Arc<D>,
        policy: RetryPolicy,
    ) -> Worker {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(tracker, deliverer, policy, stopped));
        Worker { stop, task }
    }

    /// Stops claiming, and waits up to `limit` for the writes in flight to finish.
    pub async fn shutdown(self, limit: Duration) -> bool {
        let _ = self.stop.send(true);
        let mut task = self.task;
        match tokio::time::timeout(limit, &mut task).await {
            Ok(_) => true,
            Err(_) => {
                task.abort();
                false
            }
        }
    }
}

async fn run<D: Deliver>(
    tracker: Arc<Tracker>,
    deliverer: Arc<D>,
    policy: RetryPolicy,
    mut stopped: watch::Receiver<bool>,
) {
    let destination = deliverer.destination();
    let wake = tracker.outbox_wake();
    let mut in_flight: HashSet<String> = HashSet::new();
    // Channels whose rate-limit bucket is empty, until when (wall ms).
    let mut paused: HashMap<String, i64> = HashMap::new();
    let mut running: JoinSet<(String, Option<Duration>)> = JoinSet::new();
    loop {
        if *stopped.borrow() {
            break;
        }
        let now = wall_ms();
        paused.retain(|_, until| *until > now);
        let mut next: Option<i64> = None;
        match tracker.store().outbox_heads(destination).await {
            Ok(heads) => {
                for head in heads {
                    if in_flight.contains(&head.channel) {
                        continue;
                    }
                    if let Some(until) = paused.get(&head.channel) {
                        next = Some(next.map_or(*until, |n| n.min(*until)));
                        continue;
                    }
                    if !head.claimable_at(now) {
                        if let Some(at) = head.ready_at() {
                            next = Some(next.map_or(at, |n| n.min(at)));
                        }
                        continue;
                    }
                    match tracker.outbox_claim(head.id, now).await {
                        Ok(Some(row)) => {
                            in_flight.insert(row.channel.clone());
                            let (tracker, deliverer) = (tracker.clone(), deliverer.clone());
                            running.spawn(lane(tracker, deliverer, policy, row, stopped.clone()));
                        }
                        // Another worker got there first.
                        Ok(None) => {}
                        Err(e) => {
                            warn!(row = %head.id, error = %e, "could not claim an outbox row")
                        }
                    }
                }
            }
            Err(e) => warn!(error = %e, "could not read the outbox; trying again shortly"),
        }
        let wait = next
            .map(|at| Duration::from_millis(at.saturating_sub(wall_ms()).max(0) as u64))
            .unwrap_or(IDLE_POLL)
            .min(IDLE_POLL);
        tokio::select! {
            Some(done) = running.join_next(), if !running.is_empty() => {
                match done {
                    Ok((channel, pause)) => {
                        if let Some(pause) = pause {
                            paused.insert(channel.clone(), wall_ms() + pause.as_millis() as i64);
                        }
                        in_flight.remove(&channel);
                    }
                    // A panicking delivery must not take the worker down; its lease expires
                    // and the row is tried again (flagged maybe-sent). Which channel it held
                    // is unknown here; forgetting them all is safe, since a claimed row is
                    // not claimable again before its lease ends.
                    Err(e) => {
                        warn!(error = %e, "an outbox delivery task failed");
                        in_flight.clear();
                    }
                }
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => {}
        }
    }
    // A write in flight (a reply being posted) is finished and recorded before stopping.
    while running.join_next().await.is_some() {}
    debug!(destination = destination.as_str(), "outbox worker stopped");
}

/// Delivers a claimed row, then, while its channel has more ready and the worker is not
/// stopping, the channel's next rows one after the other, each claimed as the one before is
/// recorded (one commit for both, no round of reading every channel's heads in between:
/// during a burst a channel's alerts follow each other at the pace of the platform). Returns
/// the channel and how long it should pause.
async fn lane<D: Deliver>(
    tracker: Arc<Tracker>,
    deliverer: Arc<D>,
    policy: RetryPolicy,
    row: OutboxRow,
    stopped: watch::Receiver<bool>,
) -> (String, Option<Duration>) {
    let channel = row.channel.clone();
    let mut next = Some(row);
    let mut pause = None;
    while let Some(row) = next.take() {
        let keep_going = !*stopped.borrow();
        (pause, next) = attempt(&tracker, &*deliverer, policy, row, keep_going).await;
    }
    (channel, pause)
}

/// One attempt at one claimed row, and its outcome recorded. Returns how long the row's
/// channel should pause and, when `claim_next` and it was delivered without a pause, the
/// channel's next row, claimed.
async fn attempt<D: Deliver>(
    tracker: &Tracker,
    deliverer: &D,
    policy: RetryPolicy,
    row: OutboxRow,
    claim_next: bool,
) -> (Option<Duration>, Option<OutboxRow>) {
    let comment = row
        .payload
        .comment()
        .map(|c| c.to_string())
        .unwrap_or_default();
    let span = info_span!("outbox.deliver", row = %row.id, kind = row.payload.kind().as_str(), comment = %comment, channel = %row.channel, attempt = row.attempts);
    async {
        let result = match tokio::time::timeout(ATTEMPT_TIMEOUT, deliverer.deliver(&row)).await {
            Ok(result) => result,
            Err(_) => Err(DeliveryError::Unavailable {
                detail: format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs()),
            }),
        };
        match result {
            Ok(delivered) => {
                let pause = delivered.pause;
                let claim_next_at = (claim_next && pause.is_none()).then(wall_ms);
                match tracker
                    .outbox_delivered(&row, delivered.message_id.as_deref(), claim_next_at)
                    .await
                {
                    Ok((true, next)) => {
                        info!(message = ?delivered.message_id, "delivered");
                        return (pause, next);
                    }
                    Ok((false, _)) => {
                        warn!("delivered, but the claim had passed to another worker")
                    }
                    Err(e) => {
                        warn!(error = %e, message = ?delivered.message_id, "delivered but NOT recorded; it is retried after the lease and checked for before posting again")
                    }
                }
                (pause, None)
            }
            Err(error) => {
                let now = wall_ms();
                let first = row.first_failed_ms.unwrap_or(now);
                let decision = policy.decide(&error, row.attempts.max(1), first, now);
                let recorded = match decision {
                    Decision::RetryIn(wait) => {
                        info!(error = %error, retry_in_ms = wait.as_millis() as u64, "not delivered; will retry");
                        tracker
                            .outbox_retry(&row, &error, now + wait.as_millis() as i64, first)
                            .await
                    }
                    Decision::GiveUp => {
                        warn!(error = %error, "not delivered; given up");
                        tracker.outbox_give_up(&row, &error).await
                    }
                };
                if let Err(e) = recorded {
                    warn!(error = %e, "could not record the failed attempt; it is retried after the lease");
                }
                let pause = match error {
                    DeliveryError::RateLimited { retry_after } => Some(retry_after),
                    _ => None,
                };
                (pause, None)
            }
        }
    }
    .instrument(span)
    .await
}

/// The notice moderators read when a write is given up.
pub fn give_up_notice(kind: OutboxKind, about: Option<&str>, error: &DeliveryError) -> String {
    let what = kind.described();
    let about = about.map(|a| format!(" ({a})")).unwrap_or_default();
    let then = match kind {
        OutboxKind::Reply => {
            " Nothing was sent; the comment is back in the queue and its alert says why."
        }
        OutboxKind::Alert => {
            " The comment is still in `/ascolto queue`; the alert is tried again at the next start."
        }
        OutboxKind::AlertUpdate => " The alert may show an old status.",
        OutboxKind::Escalation | OutboxKind::Digest | OutboxKind::Notice => "",
    };
    format!(
        "⚠️ Ascolto gave up posting {what}{about}: {}.{then}",
        error.for_moderators()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
            give_up_after: Duration::from_secs(3600),
        }
    }

    fn unavailable() -> DeliveryError {
        DeliveryError::Unavailable {
            detail: "500".into(),
        }
    }

    #[test]
    fn backoff_doubles_from_the_first_wait_up_to_the_cap() {
        let p = policy();
        let waits: Vec<u64> = (1..=8).map(|n| p.backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(p.backoff(0), Duration::from_secs(1));
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn a_rate_limit_is_waited_out_as_the_platform_asked() {
        let p = policy();
        let limited = DeliveryError::RateLimited {
            retry_after: Duration::from_millis(1500),
        };
        assert_eq!(
            p.decide(&limited, 5, 0, 0),
            Decision::RetryIn(Duration::from_millis(1520))
        );
    }

    #[test]
    fn refusals_are_given_up_at_once_and_failures_after_the_bound() {
        let p = policy();
        let refused = DeliveryError::Refused {
            reason: Refusal::MissingPermission,
            detail: "50013".into(),
        };
        assert_eq!(p.decide(&refused, 1, 0, 0), Decision::GiveUp);
        assert_eq!(
            p.decide(&unavailable(), 3, 0, 10_000),
            Decision::RetryIn(Duration::from_secs(4))
        );
        let hour = 3_600_000;
        assert_eq!(
            p.decide(&unavailable(), 40, 0, hour - 61_000),
            Decision::RetryIn(Duration::from_secs(60))
        );
        assert_eq!(
            p.decide(&unavailable(), 40, 0, hour - 59_000),
            Decision::GiveUp
        );
    }

    #[test]
    fn payloads_and_names_survive_storage() {
        for kind in OutboxKind::ALL {
            assert_eq!(OutboxKind::parse(kind.as_str()), Some(kind));
        }
        for state in OutboxState::ALL {
            assert_eq!(OutboxState::parse(state.as_str()), Some(state));
        }
        let payload = Payload::Reply(ReplyOrder {
            comment: CommentId::new("7"),
            draft_text: "d".into(),
            text: "t".into(),
            moderator: Moderator {
                id: "1".into(),
                name: "mia".into(),
            },
            edited: false,
        });
        let json = serde_json::to_string(&payload).unwrap();
        assert!(json.contains("\"kind\":\"reply\""), "{json}");
        assert_eq!(serde_json::from_str::<Payload>(&json).unwrap(), payload);
        assert_eq!(payload.kind(), OutboxKind::Reply);
    }

    #[test]
    fn a_nonce_fits_discord_and_differs_per_row() {
        let row = |id| OutboxRow {
            id: OutboxId(id),
            destination: Destination::Discord,
            channel: "1".into(),
            payload: Payload::Notice { text: "x".into() },
            state: OutboxState::Pending,
            attempts: 0,
            maybe_sent: false,
            due_ms: None,
            lease_ms: None,
            first_failed_ms: None,
            created_at: chrono::Utc::now(),
            message_id: None,
            last_error: None,
        };
        let a = row(999_999_999_999).nonce();
        assert!(a.len() <= 25, "{a}");
        assert_ne!(row(1).nonce(), row(2).nonce());
        let first = row(1);
        assert_eq!(
            first.nonce(),
            first.clone().nonce(),
            "the same at every attempt"
        );
        // Row 1 of two stores, queued in the same instant: one per comment, never the same.
        let alert = |comment: &str| OutboxRow {
            payload: Payload::Alert {
                comment: CommentId::new(comment),
            },
            ..first.clone()
        };
        assert_ne!(alert("111").nonce(), alert("222").nonce());
        let elsewhere = OutboxRow {
            channel: "2".into(),
            ..alert("111")
        };
        assert_ne!(alert("111").nonce(), elsewhere.nonce());
    }
}
