//! The tracker owns what is open, what was answered and by whom. It is the only writer of the
//! store (comment state, drafts, alerts, the audit trail, channel checkpoints, escalations and
//! digest claims), and it persists each decision before any adapter acts on it. The moves it
//! may make are the ones [`lifecycle`](crate::lifecycle) allows.
//!
//! Adapters (the Discord bot, the replay) hand it comments and moderator actions; it runs
//! triage, writes the outcome, and tells the adapter what to show. Processing the same
//! comment twice changes nothing, and two moderators acting at once cannot both send a reply.
//!
//! What a live platform must write (alerts, their updates, approved replies, escalations,
//! digests, notices) the tracker queues in the [`outbox`](crate::outbox), in the same
//! transaction as the decision, once the moderators' rooms are named ([`Tracker::add_room`]:
//! a Discord channel, a Telegram chat, or both, and then every alert, update, escalation,
//! digest and notice goes to each); the outbox worker delivers it and reports back here
//! ([`Tracker::outbox_delivered`], [`Tracker::outbox_retry`], [`Tracker::outbox_give_up`]),
//! so the platform's answer is recorded in the same place as what it means. Without a room
//! (the replay, the demo) nothing is queued.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tracing::{info, info_span, Instrument};

use crate::answer::{AnswerDetector, Answered};
use crate::clock::Clock;
use crate::comment::{AuthorId, ChannelId, Comment, CommentId, Source};
use crate::draft::{draft, draft_wording, wording_count, Draft, DraftContext};
use crate::duty::Duties;
use crate::failures::{panic_message, FailureKind, Stage, MAX_ATTEMPTS};
use crate::lifecycle::{
    after_edit, Action, ActionKind, AlertRef, CommentState, StoredComment, Transition,
};
use crate::metrics::{Metrics, ReplyOutcome};
use crate::outbox::{
    self, DeliveryError, Destination, DigestOrder, NewOutbox, OutboxId, OutboxKind, OutboxRow,
    Payload, ReplyOrder, Room,
};
use crate::rules::{Label, Library, LibraryError};
use crate::sla::QuestionGrace;
use crate::store::{
    as_inserted, AnswerClose, Closing, NewEscalation, NewTriaged, OpenQueue, OutboxDone,
    PostedDigest, Store, StoreError,
};
use crate::triage::{triage, TriageOptions, Verdict};

/// Why a tracker operation could not be done.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("comment {0} is not known to Ascolto")]
    NotFound(CommentId),
    #[error("comment {id} was already {} — nothing was changed", state.as_str())]
    AlreadyClosed { id: CommentId, state: CommentState },
    #[error("comment {0} has no draft to send")]
    NoDraft(CommentId),
    #[error("comment {0} came from a replayed file: there is no platform to post a reply on")]
    Unpostable(CommentId),
    /// A bug met on this comment; caught at the comment's boundary so the rest move on.
    #[error("Ascolto failed on comment {id} ({message}); it was recorded and is tried again at the next start — please report it with the comment's text")]
    Panicked { id: CommentId, message: String },
    /// The platform only accepts a reply to a direct message within `window` of the person's
    /// last message, and that has passed: nothing was queued.
    #[error("comment {id}: the person last wrote at {last_message}, more than {} hours ago, and the platform accepts replies to a direct message only within {} hours of it", window.num_hours(), window.num_hours())]
    ReplyWindowClosed {
        id: CommentId,
        last_message: DateTime<Utc>,
        window: chrono::Duration,
        /// When the approval was refused.
        at: DateTime<Utc>,
    },
}

impl TrackerError {
    fn failure_kind(&self) -> FailureKind {
        match self {
            TrackerError::Panicked { .. } => FailureKind::Panic,
            _ => FailureKind::Error,
        }
    }
}

/// How long a comment may wait for the database before the log says why.
const SLOW_WRITE: std::time::Duration = std::time::Duration::from_secs(3);

/// What [`Tracker::retry_failures`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetriedFailures {
    pub succeeded: usize,
    /// Failed again (tried again at the next start, until [`MAX_ATTEMPTS`]).
    pub failed: usize,
}

/// A direct message whose platform no longer accepts a reply (see
/// [`Destination::direct_reply_window`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedWindow {
    /// When the person last wrote in the conversation.
    pub last_message: DateTime<Utc>,
    /// How long after it replies were accepted.
    pub window: chrono::Duration,
}

/// Who acted on an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moderator {
    pub id: String,
    pub name: String,
}

/// A comment's triage and what follows from it, before it is stored.
#[derive(Debug)]
struct Decided {
    verdict: Verdict,
    draft: Option<Draft>,
    state: CommentState,
    /// The rows posting its alert, stored with it (none while a question waits out its grace).
    alert: Vec<NewOutbox>,
}

impl Decided {
    /// A question with nothing in it that repeats `question`, still open: the same wait, not a
    /// second one. It is stored clear, with no alert of its own; the open question's alert and
    /// answer stand for both.
    fn repeats(&mut self, question: &CommentId) {
        info!(nudges = %question, "repeats an open question; no alert of its own");
        self.state = CommentState::Clear;
        self.draft = None;
        self.alert.clear();
    }
}

/// What happened to an incoming comment.
#[derive(Debug, Clone)]
pub enum Ingested {
    /// Already stored: nothing changed.
    Duplicate,
    /// Triaged; nothing for moderators.
    Clear(Verdict),
    /// Needs a reply: moderators get an alert (queued in the outbox with the comment when a
    /// room is set; otherwise the adapter shows it, as the replay does).
    Flagged(Box<StoredComment>),
}

/// The outcome of one incoming comment, including open comments it answered.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    pub ingested: Ingested,
    /// Open comments this comment answered (their alerts' updates are queued when a room is
    /// set).
    pub answered: Vec<StoredComment>,
}

/// The result of an edit: the comment's new standing.
#[derive(Debug, Clone)]
pub enum Edited {
    /// The comment was unknown (never seen, or before the bot started): ingest it instead.
    Unknown,
    /// Closed already (replied, dismissed, withdrawn): the edit changes nothing and is not
    /// stored, since nobody will read that comment again.
    Closed(Box<StoredComment>),
    /// Re-triaged: still flagged, now flagged, or no longer flagged.
    Retriaged(Box<StoredComment>),
}

/// A moderator's claim to send the reply for a comment; only one can exist at a time.
#[derive(Debug, Clone)]
pub struct ReplyClaim {
    pub comment: StoredComment,
    /// The draft as proposed.
    pub draft_text: String,
    /// What will be posted (the draft, or the moderator's edit).
    pub text: String,
    pub moderator: Moderator,
    pub edited: bool,
}

/// Policy for deciding that a message answers an open comment.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnswerPolicy {
    /// Anyone but the author answers, not only staff.
    pub anyone_answers: bool,
}

/// The tracker.
#[derive(Debug)]
pub struct Tracker {
    store: Store,
    library: RwLock<Arc<Library>>,
    options: TriageOptions,
    values: BTreeMap<String, String>,
    moderator_fallback: String,
    policy: AnswerPolicy,
    grace: QuestionGrace,
    /// Heuristic answers in channels where people answer without replying. In memory: it
    /// only looks a few dozen messages back, so a restart loses nothing that matters.
    detector: Mutex<Hearing>,
    clock: Arc<dyn Clock>,
    /// The moderators' rooms, once named: until then nothing is queued.
    rooms: RwLock<Vec<Room>>,
    /// Test-only fault: triage panics on a comment containing this text.
    #[cfg(test)]
    panic_on: Option<&'static str>,
    /// Wakes the outbox worker when a row is queued.
    outbox_wake: Arc<Notify>,
    /// Makes "not up, not on its way, so queue it" one step in this process: Discord's and
    /// Telegram's clocks may look for due alerts at the same moment.
    alert_queueing: tokio::sync::Mutex<()>,
    /// The figures `/metrics` shows, counted here where comments, alerts and writes happen.
    metrics: Arc<Metrics>,
    /// What this process does once for all processes on the store, and its leases.
    duties: Duties,
    /// When this process last forgot old sent writes ([`Tracker::prune_sent`]).
    pruned_at: Mutex<Option<DateTime<Utc>>>,
}

/// What the tracker needs besides the store.
#[derive(Debug, Clone)]
pub struct TrackerConfig {
    pub options: TriageOptions,
    pub values: BTreeMap<String, String>,
    pub moderator_fallback: String,
    pub policy: AnswerPolicy,
    /// How long questions wait for the community's answer before they are alerted.
    pub grace: QuestionGrace,
    /// How long this process holds a duty or a claimed platform write without renewing it
    /// (`[cluster] lease`).
    pub lease: std::time::Duration,
}

impl Tracker {
    pub fn new(
        store: Store,
        library: Library,
        config: TrackerConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let store_for_duties = store.clone();
        Self {
            store,
            library: RwLock::new(Arc::new(library)),
            options: config.options,
            values: config.values,
            moderator_fallback: config.moderator_fallback,
            policy: config.policy,
            grace: config.grace,
            // Who may answer is decided here (staff, or anyone), so the detector hears everyone.
            detector: Mutex::new(Hearing::default()),
            clock,
            rooms: RwLock::new(Vec::new()),
            #[cfg(test)]
            panic_on: None,
            outbox_wake: Arc::new(Notify::new()),
            alert_queueing: tokio::sync::Mutex::new(()),
            metrics: Arc::new(Metrics::new()),
            duties: Duties::new(store_for_duties, config.lease),
            pruned_at: Mutex::new(None),
        }
    }

    /// The duties this process may hold (see [`duty`](crate::duty)).
    pub fn duties(&self) -> &Duties {
        &self.duties
    }

    /// Adds a moderators' room: from now on every alert, alert update, escalation, digest and
    /// notice is queued for it too. `ascolto run` names every configured room before any
    /// channel starts, so no comment is alerted in one room only; naming a room again changes
    /// nothing.
    pub fn add_room(&self, room: Room) {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        if !rooms.contains(&room) {
            info!(destination = room.destination.as_str(), channel = %room.channel, "moderators' room");
            rooms.push(room);
        }
    }

    /// The moderators' rooms, in the order they were named.
    pub fn rooms(&self) -> Vec<Room> {
        self.rooms.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The room on `destination`, if it is one.
    pub fn room_on(&self, destination: Destination) -> Option<Room> {
        self.rooms()
            .into_iter()
            .find(|r| r.destination == destination)
    }

    /// The figures for monitoring (`/metrics`, `/readyz`).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Notified whenever a row is queued (the worker waits on it).
    pub fn outbox_wake(&self) -> Arc<Notify> {
        self.outbox_wake.clone()
    }

    fn wake(&self) {
        self.outbox_wake.notify_one();
    }

    /// The rows that post a comment's alert, one per room.
    fn alert_rows(&self, id: &CommentId) -> Vec<NewOutbox> {
        self.rooms()
            .iter()
            .map(|room| {
                NewOutbox::to_room(
                    room,
                    Payload::Alert {
                        comment: id.clone(),
                    },
                )
            })
            .collect()
    }

    /// The rows that re-render a comment's alert, one per room. Each is queued in its room's
    /// channel, so it follows that alert's own post.
    fn update_rows(&self, id: &CommentId) -> Vec<NewOutbox> {
        self.update_rows_except(id, None)
    }

    /// As [`Tracker::update_rows`], leaving out the room on `except` (whose adapter shows the
    /// update itself, as the answer to the click).
    fn update_rows_except(&self, id: &CommentId, except: Option<Destination>) -> Vec<NewOutbox> {
        self.rooms()
            .iter()
            .filter(|room| Some(room.destination) != except)
            .map(|room| {
                NewOutbox::to_room(
                    room,
                    Payload::AlertUpdate {
                        comment: id.clone(),
                    },
                )
            })
            .collect()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn library(&self) -> Arc<Library> {
        self.library.read().expect("library lock").clone()
    }

    pub fn triage_options(&self) -> &TriageOptions {
        &self.options
    }

    /// Loads the library again from `dir`; a broken library is refused and the old one stays.
    pub fn reload(&self, dir: &Path) -> Result<usize, LibraryError> {
        let library = Library::load(dir, &self.values)?;
        let count = library.rules.len();
        *self.library.write().expect("library lock") = Arc::new(library);
        info!(rules = count, "rule library reloaded");
        Ok(count)
    }

    fn draft_context(&self) -> DraftContext<'_> {
        DraftContext {
            moderator: &self.moderator_fallback,
            values: &self.values,
        }
    }

    /// Triage without storing anything (`rules test`, `/ascolto test`).
    pub fn dry_run(&self, comment: &Comment) -> (Verdict, Option<Draft>) {
        let library = self.library();
        let verdict = triage(comment, &library, &self.options);
        let draft = draft(comment, &verdict, &library, self.draft_context());
        (verdict, draft)
    }

    /// Triage as [`Tracker::dry_run`], with a panic caught and turned into an error about this
    /// comment, so one comment that meets a bug cannot stop the comments after it.
    fn triage_caught(&self, comment: &Comment) -> Result<(Verdict, Option<Draft>), TrackerError> {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            #[cfg(test)]
            if self
                .panic_on
                .is_some_and(|text| comment.text.contains(text))
            {
                panic!("injected fault");
            }
            self.dry_run(comment)
        }))
        .map_err(|payload| TrackerError::Panicked {
            id: comment.id.clone(),
            message: panic_message(payload.as_ref()),
        })
    }

    /// Takes in one comment: triage, persist, and detect whether it answers open comments.
    pub async fn ingest(&self, comment: &Comment) -> Result<IngestOutcome, TrackerError> {
        let span = comment_span(comment);
        let work = self
            .ingest_many_inner(std::slice::from_ref(comment), vec![span.clone()])
            .instrument(span.clone());
        let mut outcomes = self.warn_if_slow(&span, work).await?;
        outcomes.pop().unwrap_or_else(|| {
            Err(TrackerError::Panicked {
                id: comment.id.clone(),
                message: "the tracker gave no outcome for it (a bug in Ascolto)".to_owned(),
            })
        })
    }

    /// Takes in many comments as [`Tracker::ingest`] takes in each, in order: the comments
    /// they may answer are read in one query, then the comments are stored and the open ones
    /// they answer closed in one transaction (over a network, to PostgreSQL, each commit and
    /// read is a round trip; and an answer is never stored without its closes). Each comment
    /// gets the outcome `ingest` would have given it, at the same place in the result; a
    /// comment that meets a bug fails alone (its `Err`, nothing of it stored). The outer error
    /// is the database's: nothing of the batch was stored. The batch's alerts are queued
    /// together, before the alert updates its answers cause (each comment's own rows keep
    /// their order).
    pub async fn ingest_many(
        &self,
        comments: &[Comment],
    ) -> Result<Vec<Result<IngestOutcome, TrackerError>>, TrackerError> {
        let span = info_span!("comments", count = comments.len());
        let spans = comments.iter().map(comment_span).collect();
        let work = self
            .ingest_many_inner(comments, spans)
            .instrument(span.clone());
        self.warn_if_slow(&span, work).await
    }

    /// As [`Tracker::ingest_many`], except that when the database refuses the batch, each
    /// comment is taken in alone, so only the comments the database refuses fail (a bad row
    /// must not take its batch-mates down with it). Each comment's result, in order.
    pub async fn ingest_batch(
        &self,
        comments: &[Comment],
    ) -> Vec<Result<IngestOutcome, TrackerError>> {
        match self.ingest_many(comments).await {
            Ok(outcomes) => outcomes,
            Err(error) if comments.len() == 1 => vec![Err(error)],
            Err(error) => {
                tracing::warn!(%error, count = comments.len(), "the database refused a batch of comments; taking them in one at a time");
                let mut outcomes = Vec::with_capacity(comments.len());
                for comment in comments {
                    outcomes.push(self.ingest(comment).await);
                }
                outcomes
            }
        }
    }

    /// Runs `work`, saying in the log why nothing moves when the database takes long: SQLite
    /// waits for another process's lock silently.
    async fn warn_if_slow<T>(
        &self,
        span: &tracing::Span,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        tokio::pin!(work);
        tokio::select! {
            outcome = &mut work => outcome,
            () = tokio::time::sleep(SLOW_WRITE) => {
                span.in_scope(|| tracing::warn!(
                    database = %self.store.name(),
                    "the database has not answered for {} s: another process probably holds its lock; waiting for it (up to {} s)",
                    SLOW_WRITE.as_secs(),
                    crate::store::BUSY_TIMEOUT.as_secs()
                ));
                work.await
            }
        }
    }

    /// Triage and what follows from it: the state to store, the draft kept, and the alert
    /// rows to queue with the comment.
    fn decide(&self, comment: &Comment, now: DateTime<Utc>) -> Result<Decided, TrackerError> {
        let (verdict, draft) = self.triage_caught(comment)?;
        let state = if verdict.needs_reply() && !comment.author.is_staff {
            CommentState::Flagged
        } else {
            CommentState::Clear
        };
        let draft = draft.filter(|_| state == CommentState::Flagged);
        // A question within its grace is alerted later, by `queue_due_alerts`, if still open.
        let alert_now = self
            .grace
            .ends(comment, &verdict)
            .is_none_or(|ends| ends <= now);
        let alert = if state == CommentState::Flagged && alert_now {
            self.alert_rows(&comment.id)
        } else {
            Vec::new()
        };
        Ok(Decided {
            verdict,
            draft,
            state,
            alert,
        })
    }

    /// [`Tracker::ingest_many`], each comment's own steps logged in its span of `spans`.
    async fn ingest_many_inner(
        &self,
        comments: &[Comment],
        spans: Vec<tracing::Span>,
    ) -> Result<Vec<Result<IngestOutcome, TrackerError>>, TrackerError> {
        let now = self.clock.now();
        let mut decided: Vec<Result<Decided, TrackerError>> = Vec::with_capacity(comments.len());
        for (comment, span) in comments.iter().zip(&spans) {
            let this = span.in_scope(|| self.decide(comment, now));
            if let Some(main) = this.as_ref().ok().and_then(|d| d.verdict.main_match()) {
                span.record("rule", main.rule.as_str());
            }
            decided.push(this);
        }
        // Where each comment stands in the batch: it can only answer one before it, as when
        // they are ingested one at a time.
        let mut position: HashMap<&CommentId, usize> = HashMap::new();
        for (at, (comment, decided)) in comments.iter().zip(&decided).enumerate() {
            if decided.is_ok() {
                position.entry(&comment.id).or_insert(at);
            }
        }
        // Every comment is heard by the answer detector before it is stored, so that the
        // answer and its closes can be stored together. A comment stored already is heard
        // too: after a restart, catching up rebuilds what the detector knew.
        let mut candidates: Vec<(usize, Vec<CommentId>)> = Vec::new();
        for (at, ((comment, decided), span)) in
            comments.iter().zip(&mut decided).zip(&spans).enumerate()
        {
            let Ok(decided) = decided else { continue };
            let (mut ids, nudged) = span.in_scope(|| self.answer_candidates(comment, decided));
            if let Some(question) = nudged {
                span.in_scope(|| decided.repeats(&question));
            }
            ids.retain(|id| position.get(id).is_none_or(|before| *before < at));
            if !ids.is_empty() {
                candidates.push((at, ids));
            }
        }
        let wanted: HashSet<&CommentId> = candidates.iter().flat_map(|(_, ids)| ids).collect();
        let mut read = if wanted.is_empty() {
            HashMap::new()
        } else {
            self.store
                .comments(&wanted.iter().copied().collect::<Vec<_>>())
                .await?
        };
        // Earlier comments of this batch are not stored yet: as they will be, unless stored
        // already (then the store's word stands, and the close checks it again).
        for id in wanted {
            if read.contains_key(id) {
                continue;
            }
            let Some(&at) = position.get(id) else {
                continue;
            };
            if let (Some(comment), Some(Ok(before))) = (comments.get(at), decided.get(at)) {
                read.insert(
                    id.clone(),
                    as_inserted(
                        comment,
                        &before.verdict,
                        before.state,
                        before.draft.as_ref(),
                        now,
                    ),
                );
            }
        }
        let mut answers: Vec<(usize, StoredComment)> = Vec::new();
        for (at, ids) in &candidates {
            for target in answered_among(&comments[*at], ids, &read) {
                answers.push((*at, target));
            }
        }
        drop(read);
        // Places in the batch the store is given: the comments whose triage succeeded.
        let mut in_batch = vec![usize::MAX; comments.len()];
        let mut batch: Vec<NewTriaged<'_>> = Vec::with_capacity(comments.len());
        for (at, (comment, decided)) in comments.iter().zip(&decided).enumerate() {
            if let Ok(decided) = decided {
                in_batch[at] = batch.len();
                batch.push(NewTriaged {
                    comment,
                    verdict: &decided.verdict,
                    state: decided.state,
                    draft: decided.draft.as_ref(),
                    then: &decided.alert,
                });
            }
        }
        let planned: Vec<(Action, String, Vec<NewOutbox>)> = answers
            .iter()
            .map(|(at, target)| {
                let who = answerer(&comments[*at]);
                let action = Action {
                    comment: target.comment.id.clone(),
                    kind: ActionKind::AnsweredInChannel,
                    moderator_id: Some(who.id),
                    moderator_name: Some(who.name.clone()),
                    at: now,
                    draft_text: target.draft.as_ref().map(|d| d.text.clone()),
                    sent_text: None,
                    reply_message_id: None,
                };
                (action, who.name, self.update_rows(&target.comment.id))
            })
            .collect();
        let closes: Vec<AnswerClose<'_>> = answers
            .iter()
            .zip(&planned)
            .map(|((at, _), (action, name, then))| AnswerClose {
                by: in_batch[*at],
                close: Closing {
                    change: Transition::ANSWER,
                    answered_by: Some(name.as_str()),
                    action,
                    then,
                },
            })
            .collect();
        let stored = self.store.insert_answering(&batch, now, &closes).await?;
        drop(closes);
        drop(batch);
        let mut outcomes = Vec::with_capacity(comments.len());
        let mut wake = false;
        for (at, ((comment, decided), span)) in comments.iter().zip(decided).zip(&spans).enumerate()
        {
            let decided = match decided {
                Ok(decided) => decided,
                Err(error) => {
                    outcomes.push(Err(error));
                    continue;
                }
            };
            if !stored.inserted.get(in_batch[at]).copied().unwrap_or(false) {
                span.in_scope(|| tracing::debug!("already processed; ignored"));
                outcomes.push(Ok(IngestOutcome {
                    ingested: Ingested::Duplicate,
                    answered: Vec::new(),
                }));
                continue;
            }
            wake |= !decided.alert.is_empty();
            outcomes.push(Ok(
                span.in_scope(|| self.stored_outcome(comment, decided, now))
            ));
        }
        for ((at, target), made) in answers.into_iter().zip(&stored.closed) {
            if !made {
                continue;
            }
            let by = &comments[at];
            let id = &target.comment.id;
            spans[at]
                .in_scope(|| info!(answered = %id, by = %by.author.name, "answered in channel"));
            wake |= !self.update_rows(id).is_empty();
            // As the store now holds it, built rather than read back: only this close
            // changed it since it was read (another would have refused this one).
            let mut closed = target;
            closed.state = Transition::ANSWER.to;
            closed.state_changed_at = now;
            if Transition::ANSWER.to.closes() && closed.closed_at.is_none() {
                closed.closed_at = Some(now);
            }
            if closed.answered_by.is_none() {
                closed.answered_by = Some(by.author.name.clone());
            }
            if let Some(Ok(outcome)) = outcomes.get_mut(at) {
                outcome.answered.push(closed);
            }
        }
        if wake {
            self.wake();
        }
        Ok(outcomes)
    }

    /// What a comment's storing gives: it is counted, and given back as the store now holds
    /// it.
    fn stored_outcome(
        &self,
        comment: &Comment,
        decided: Decided,
        now: DateTime<Utc>,
    ) -> IngestOutcome {
        let Decided {
            verdict,
            draft,
            state,
            ..
        } = decided;
        let labels: Vec<Label> = verdict.labels.iter().map(|l| l.label).collect();
        self.metrics.comment_ingested(comment.source, &labels);
        let ingested = if state == CommentState::Flagged {
            let labels: Vec<_> = verdict.labels.iter().map(|l| l.label.as_str()).collect();
            info!(labels = ?labels, "flagged");
            // Built rather than read back: the row was just written, and nothing but this
            // comment's own moves changes it (answering others does not).
            let stored = as_inserted(comment, &verdict, state, draft.as_ref(), now);
            Ingested::Flagged(Box::new(stored))
        } else {
            Ingested::Clear(verdict)
        };
        IngestOutcome {
            ingested,
            answered: Vec::new(),
        }
    }

    /// The comments `comment` may answer, each once, most certain first; which of them it
    /// answers depends on how they are stored ([`answered_among`]).
    ///
    /// Answers count when written by staff (or by anyone but the author, if so configured):
    /// an explicit reply, a message in the thread started from the comment, or, in channels
    /// where people answer without replying, what the answer detector recognises by name,
    /// turn-taking and content.
    ///
    /// Also gives the open question `comment` only repeats, if it is a flagged question with
    /// nothing in it ("?", "anyone?") while its author's real question is still open: the
    /// detector hears it as not open, and the caller stores it as [`Decided::repeats`] says.
    fn answer_candidates(
        &self,
        comment: &Comment,
        decided: &Decided,
    ) -> (Vec<CommentId>, Option<CommentId>) {
        let opened = decided.state == CommentState::Flagged;
        // Every message goes through the detector, answer or not: turn-taking needs them all.
        let (detected, nudged): (Vec<Answered>, Option<CommentId>) = {
            // A panic inside the detector must not poison it for every later comment: the
            // lock is taken back, and a detector caught mid-update starts afresh (it only
            // remembers a few dozen messages).
            let mut hearing = self.detector.lock().unwrap_or_else(PoisonError::into_inner);
            let heard = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let nudged = if opened && decided.verdict.only_question() {
                    hearing.detector.nudged(comment)
                } else {
                    None
                };
                (hearing.hear(comment, opened && nudged.is_none()), nudged)
            }));
            heard.unwrap_or_else(|payload| {
                *hearing = Hearing::default();
                tracing::error!(panic = %panic_message(payload.as_ref()), "answer detection failed on this comment; the detector was reset");
                (Vec::new(), None)
            })
        };
        if !(comment.author.is_staff || self.policy.anyone_answers) {
            return (Vec::new(), nudged);
        }
        let mut candidates = Vec::new();
        if let Some(reply_to) = &comment.reply_to {
            candidates.push(reply_to.clone());
        }
        // Writing in the thread that hangs from a comment answers it (the adapter knows which).
        if let Some(root) = &comment.thread_root {
            candidates.push(root.clone());
        }
        for found in detected {
            tracing::debug!(answered = %found.comment, cue = ?found.cue, "answer detected");
            candidates.push(found.comment);
        }
        let mut seen = HashSet::new();
        candidates.retain(|id| seen.insert(id.clone()));
        (candidates, nudged)
    }

    /// Records that the alert for a comment is up outside any platform room: the replay
    /// prints it (platform rooms' alerts are recorded when the outbox delivers them).
    pub async fn mark_alerted(&self, id: &CommentId, alert: AlertRef) -> Result<(), TrackerError> {
        // One transaction: killed between the two, a comment would keep its alert yet stay
        // flagged, and a replay run again would not show it (it shows flagged comments
        // without an alert).
        self.store
            .set_alert_and_transition(
                id,
                crate::store::TERMINAL_ROOM,
                &alert,
                Transition::ALERT,
                self.clock.now(),
            )
            .await?;
        Ok(())
    }

    /// The draft a moderator may edit before sending: refused, as a claim would be, once the
    /// comment is no longer claimable or has no draft.
    pub async fn editable_draft(&self, id: &CommentId) -> Result<Draft, TrackerError> {
        let stored = self.stored(id).await?;
        if !stored.state.is_claimable() {
            return Err(TrackerError::AlreadyClosed {
                id: id.clone(),
                state: stored.state,
            });
        }
        stored
            .draft
            .ok_or_else(|| TrackerError::NoDraft(id.clone()))
    }

    /// Records that a channel was read up to `message`, so catching up after downtime starts
    /// there. Call it once the message is handled: a crash before then means it is read again,
    /// and ingesting it again changes nothing.
    pub async fn advance_checkpoint(
        &self,
        channel: &ChannelId,
        message: &str,
    ) -> Result<(), TrackerError> {
        self.store
            .advance_checkpoint(channel, message, self.clock.now())
            .await?;
        Ok(())
    }

    /// Records a missed target before it is announced: `None` if the comment was escalated
    /// already (by another process, or before a restart), else whether this one may ping.
    pub async fn record_escalation(
        &self,
        id: &CommentId,
        label: Label,
        deadline: chrono::DateTime<chrono::Utc>,
        role_id: Option<&str>,
        max_pings_per_hour: u32,
    ) -> Result<Option<bool>, TrackerError> {
        Ok(self
            .store
            .record_escalation(
                id,
                label,
                deadline,
                self.clock.now(),
                role_id,
                max_pings_per_hour,
            )
            .await?)
    }

    /// Records several missed targets at once, as [`Tracker::record_escalation`] records
    /// each, in one transaction: for each, `None` if already escalated, else whether it pings.
    pub async fn record_escalations(
        &self,
        escalations: &[NewEscalation<'_>],
        max_pings_per_hour: u32,
    ) -> Result<Vec<Option<bool>>, TrackerError> {
        Ok(self
            .store
            .record_escalations(escalations, self.clock.now(), max_pings_per_hour)
            .await?)
    }

    async fn stored(&self, id: &CommentId) -> Result<StoredComment, TrackerError> {
        self.store
            .comment(id)
            .await?
            .ok_or_else(|| TrackerError::NotFound(id.clone()))
    }

    /// Claims the right to send the reply, for a caller that posts it itself (the replay,
    /// tests) and then calls [`Tracker::complete_reply`] or [`Tracker::abandon_reply`].
    /// Exactly one claim succeeds per comment.
    pub async fn claim_reply(
        &self,
        id: &CommentId,
        moderator: &Moderator,
        edited_text: Option<String>,
    ) -> Result<ReplyClaim, TrackerError> {
        self.claim(id, moderator, edited_text, false).await
    }

    /// A moderator approved (or edited) the draft: claims the reply as
    /// [`Tracker::claim_reply`] does and, in the same transaction, queues its posting and an
    /// update of the alert ("sending"). The outbox worker posts it and records the outcome.
    pub async fn approve(
        &self,
        id: &CommentId,
        moderator: &Moderator,
        edited_text: Option<String>,
    ) -> Result<ReplyClaim, TrackerError> {
        self.claim(id, moderator, edited_text, true).await
    }

    async fn claim(
        &self,
        id: &CommentId,
        moderator: &Moderator,
        edited_text: Option<String>,
        queue: bool,
    ) -> Result<ReplyClaim, TrackerError> {
        let stored = self.stored(id).await?;
        let draft_text = stored
            .draft
            .as_ref()
            .map(|d| d.text.clone())
            .ok_or_else(|| TrackerError::NoDraft(id.clone()))?;
        let edited = edited_text.as_ref().is_some_and(|t| t != &draft_text);
        // An approved draft speaks with the approving moderator's name where it says
        // `{moderator}`; an edited one is sent exactly as the moderator wrote it.
        let text = match edited_text {
            Some(text) => text,
            None => self
                .signed_draft(&stored, moderator)
                .unwrap_or_else(|| draft_text.clone()),
        };
        let mut rows = Vec::new();
        if queue {
            let Some(destination) = Destination::for_source(stored.comment.source) else {
                self.metrics.reply(ReplyOutcome::Refused);
                return Err(TrackerError::Unpostable(id.clone()));
            };
            if let Some(closed) = self.reply_window_closed(&stored).await? {
                self.metrics.reply(ReplyOutcome::Refused);
                return Err(TrackerError::ReplyWindowClosed {
                    id: id.clone(),
                    last_message: closed.last_message,
                    window: closed.window,
                    at: self.clock.now(),
                });
            }
            rows.push(NewOutbox {
                destination,
                channel: stored.comment.place.channel.0.clone(),
                payload: Payload::Reply(ReplyOrder {
                    comment: id.clone(),
                    draft_text: draft_text.clone(),
                    text: text.clone(),
                    moderator: moderator.clone(),
                    edited,
                }),
            });
            rows.extend(self.update_rows(id));
        }
        let claimed = self
            .store
            .transition_then(id, Transition::CLAIM_REPLY, self.clock.now(), &rows)
            .await?;
        if !claimed {
            let state = self.stored(id).await?.state;
            return Err(TrackerError::AlreadyClosed {
                id: id.clone(),
                state,
            });
        }
        if !rows.is_empty() {
            self.wake();
        }
        Ok(ReplyClaim {
            text,
            draft_text,
            comment: stored,
            moderator: moderator.clone(),
            edited,
        })
    }

    /// Whether a reply to this direct message would come too late for its platform: the
    /// person's last message in the conversation (as the channel recorded it, or this one)
    /// is older than the platform's window. `None` for comments that are not direct messages
    /// and platforms without a window.
    pub async fn reply_window_closed(
        &self,
        stored: &StoredComment,
    ) -> Result<Option<ClosedWindow>, TrackerError> {
        let comment = &stored.comment;
        let Some(window) = Destination::for_source(comment.source)
            .and_then(Destination::direct_reply_window)
            .filter(|_| comment.place.is_dm)
        else {
            return Ok(None);
        };
        let recorded = self.store.last_inbound(&comment.place.channel).await?;
        let last_message = recorded.map_or(comment.time, |r| r.max(comment.time));
        Ok(
            (self.clock.now() - last_message > window).then_some(ClosedWindow {
                last_message,
                window,
            }),
        )
    }

    fn signed_draft(&self, stored: &StoredComment, moderator: &Moderator) -> Option<String> {
        let (draft, verdict) = (stored.draft.as_ref()?, stored.verdict.as_ref()?);
        let ctx = DraftContext {
            moderator: &moderator.name,
            values: &self.values,
        };
        let library = self.library();
        draft_wording(
            &stored.comment,
            verdict,
            &library,
            ctx,
            &draft.template,
            draft.lang,
            draft.wording,
        )
        .map(|d| d.text)
    }

    /// The reply was posted: close the comment and write the audit trail.
    pub async fn complete_reply(
        &self,
        claim: &ReplyClaim,
        reply_message_id: Option<String>,
    ) -> Result<StoredComment, TrackerError> {
        let id = &claim.comment.comment.id;
        let action = Action {
            comment: id.clone(),
            kind: if claim.edited {
                ActionKind::Edited
            } else {
                ActionKind::Approved
            },
            moderator_id: Some(claim.moderator.id.clone()),
            moderator_name: Some(claim.moderator.name.clone()),
            at: self.clock.now(),
            draft_text: Some(claim.draft_text.clone()),
            sent_text: Some(claim.text.clone()),
            reply_message_id,
        };
        let closed = self
            .store
            .close_with_action(
                Transition::REPLY_SENT,
                Some(&claim.moderator.name),
                &action,
                &[],
            )
            .await?;
        if !closed {
            // The claim was taken back meanwhile (a restart's recovery), yet the reply is out:
            // the audit trail must still say what was sent.
            self.store.record_action(&action).await?;
        }
        self.stored(id).await
    }

    /// Posting failed: give the comment back to the moderators.
    pub async fn abandon_reply(&self, claim: &ReplyClaim) -> Result<(), TrackerError> {
        self.store
            .transition(
                &claim.comment.comment.id,
                Transition::GIVE_BACK,
                self.clock.now(),
            )
            .await?;
        Ok(())
    }

    /// Comments left mid-send by a crash go back to the moderators' queue, unless their reply
    /// waits in the outbox (it is delivered then, once).
    pub async fn recover_after_restart(&self) -> Result<usize, TrackerError> {
        let mut count = 0;
        for open in self.store.open_comments().await? {
            if open.state == CommentState::Sending
                && !self
                    .store
                    .outbox_open(&open.comment.id, OutboxKind::Reply)
                    .await?
                && self
                    .store
                    .transition(&open.comment.id, Transition::GIVE_BACK, self.clock.now())
                    .await?
            {
                tracing::warn!(id = %open.comment.id, "reply was in flight at shutdown; back in the queue");
                count += 1;
            }
        }
        Ok(count)
    }

    /// A moderator decided no reply is needed. `shown_by`: the room whose adapter shows the
    /// updated alert itself (as the answer to the click); every other room gets an update.
    pub async fn dismiss(
        &self,
        id: &CommentId,
        moderator: &Moderator,
        shown_by: Option<Destination>,
    ) -> Result<StoredComment, TrackerError> {
        self.close_or_explain(
            id,
            Transition::DISMISS,
            ActionKind::Dismissed,
            moderator,
            shown_by,
        )
        .await
    }

    /// A moderator says the comment was answered elsewhere (`shown_by` as for
    /// [`Tracker::dismiss`]).
    pub async fn mark_answered(
        &self,
        id: &CommentId,
        moderator: &Moderator,
        shown_by: Option<Destination>,
    ) -> Result<StoredComment, TrackerError> {
        self.close_or_explain(
            id,
            Transition::ANSWER,
            ActionKind::MarkedAnswered,
            moderator,
            shown_by,
        )
        .await
    }

    async fn close_or_explain(
        &self,
        id: &CommentId,
        change: Transition,
        kind: ActionKind,
        moderator: &Moderator,
        shown_by: Option<Destination>,
    ) -> Result<StoredComment, TrackerError> {
        let updates = self.update_rows_except(id, shown_by);
        match self.close(id, change, kind, moderator, updates).await? {
            Some(stored) => Ok(stored),
            None => {
                let state = self.stored(id).await?.state;
                Err(TrackerError::AlreadyClosed {
                    id: id.clone(),
                    state,
                })
            }
        }
    }

    async fn close(
        &self,
        id: &CommentId,
        change: Transition,
        kind: ActionKind,
        who: &Moderator,
        update: Vec<NewOutbox>,
    ) -> Result<Option<StoredComment>, TrackerError> {
        let draft_text = self.stored(id).await?.draft.map(|d| d.text);
        let action = Action {
            comment: id.clone(),
            kind,
            moderator_id: Some(who.id.clone()),
            moderator_name: Some(who.name.clone()),
            at: self.clock.now(),
            draft_text,
            sent_text: None,
            reply_message_id: None,
        };
        let answered_by = (change.to == CommentState::Answered).then_some(who.name.as_str());
        let closed = self
            .store
            .close_with_action(change, answered_by, &action, &update)
            .await?;
        if !closed {
            return Ok(None);
        }
        if !update.is_empty() {
            self.wake();
        }
        Ok(Some(self.stored(id).await?))
    }

    /// Swaps the draft for the template's next wording.
    pub async fn another_wording(
        &self,
        id: &CommentId,
        moderator: &Moderator,
    ) -> Result<StoredComment, TrackerError> {
        let stored = self.stored(id).await?;
        if !stored.state.is_open() {
            return Err(TrackerError::AlreadyClosed {
                id: id.clone(),
                state: stored.state,
            });
        }
        let (Some(current), Some(verdict)) = (&stored.draft, &stored.verdict) else {
            return Err(TrackerError::NoDraft(id.clone()));
        };
        let library = self.library();
        let count = wording_count(&library, current).max(1);
        let next = draft_wording(
            &stored.comment,
            verdict,
            &library,
            self.draft_context(),
            &current.template,
            current.lang,
            (current.wording + 1) % count,
        )
        .ok_or_else(|| TrackerError::NoDraft(id.clone()))?;
        let now = self.clock.now();
        self.store.set_draft(id, &next, now).await?;
        self.store
            .record_action(&Action {
                comment: id.clone(),
                kind: ActionKind::AnotherWording,
                moderator_id: Some(moderator.id.clone()),
                moderator_name: Some(moderator.name.clone()),
                at: now,
                draft_text: Some(next.text.clone()),
                sent_text: None,
                reply_message_id: None,
            })
            .await?;
        self.stored(id).await
    }

    /// The author edited a comment: triage it again and keep its alert in step. A comment
    /// flagged again while its alert is still up is alerted at once (the alert shows it).
    pub async fn edit(&self, comment: &Comment) -> Result<Edited, TrackerError> {
        let Some(stored) = self.store.comment(&comment.id).await? else {
            return Ok(Edited::Unknown);
        };
        let (verdict, draft) = self.triage_caught(comment)?;
        let now = self.clock.now();
        let needs = verdict.needs_reply() && !comment.author.is_staff;
        let Some(state) = after_edit(stored.state, needs, stored.alert.is_some()) else {
            return Ok(Edited::Closed(Box::new(stored)));
        };
        self.store
            .update_triaged(
                comment,
                &verdict,
                state,
                draft.as_ref().filter(|_| needs),
                now,
            )
            .await?;
        let now_stored = self.stored(&comment.id).await?;
        // An alert up, or on its way (the update follows it in its channel), shows the edit.
        if now_stored.alert.is_some()
            || self
                .store
                .outbox_open(&comment.id, OutboxKind::Alert)
                .await?
        {
            self.queue_alert_update(&comment.id).await?;
        } else if now_stored.state == CommentState::Flagged
            && self
                .grace_ends(&now_stored)
                .is_none_or(|ends| ends <= self.clock.now())
        {
            // A question within its grace is left to `queue_due_alerts`, as when it came in.
            self.queue_alert(&comment.id).await?;
        }
        Ok(Edited::Retriaged(Box::new(now_stored)))
    }

    /// Records that a comment could not be processed, so the adapter can move past it (advance
    /// its checkpoint, go on with a replay) without losing it: it is tried again at the next
    /// start ([`Tracker::retry_failures`]) and the digest counts it. An error here means the
    /// database is unreachable, and the adapter must not move past the comment.
    pub async fn record_failure(
        &self,
        comment: &Comment,
        stage: Stage,
        error: &TrackerError,
    ) -> Result<(), TrackerError> {
        tracing::error!(comment = %comment.id, channel = %comment.place.channel_name, stage = stage.as_str(), error = %error, "comment not processed; recorded, and tried again at the next start");
        self.store
            .record_failure(
                comment,
                stage,
                error.failure_kind(),
                &error.to_string(),
                self.clock.now(),
            )
            .await?;
        Ok(())
    }

    /// Ingests a comment for a channel that keeps what it received until it is handled
    /// (Telegram's stored updates, Meta's inbox): a database failure is returned, so the
    /// channel tries again later; any other failure (a bug met on this comment) is recorded as
    /// [`Tracker::record_failure`] does and gives `None`, so the channel moves on.
    pub async fn ingest_or_set_aside(
        &self,
        comment: &Comment,
    ) -> Result<Option<IngestOutcome>, TrackerError> {
        match self.ingest(comment).await {
            Ok(outcome) => Ok(Some(outcome)),
            Err(error @ TrackerError::Store(_)) => Err(error),
            Err(error) => {
                self.record_failure(comment, Stage::Ingest, &error).await?;
                Ok(None)
            }
        }
    }

    /// As [`Tracker::ingest_or_set_aside`], for an edit.
    pub async fn edit_or_set_aside(
        &self,
        comment: &Comment,
    ) -> Result<Option<Edited>, TrackerError> {
        match self.edit(comment).await {
            Ok(edited) => Ok(Some(edited)),
            Err(error @ TrackerError::Store(_)) => Err(error),
            Err(error) => {
                self.record_failure(comment, Stage::Edit, &error).await?;
                Ok(None)
            }
        }
    }

    /// Tries again every live comment whose processing failed before (a database that was
    /// down, a bug since fixed), up to [`MAX_ATTEMPTS`] in all; the bot calls it at start.
    /// Replayed comments are left out: replaying their file again tries them. Returns how many
    /// went through now.
    pub async fn retry_failures(&self) -> Result<RetriedFailures, TrackerError> {
        let mut retried = RetriedFailures::default();
        for failure in self.store.open_failures(MAX_ATTEMPTS).await? {
            let comment = &failure.comment;
            if comment.source == Source::Replay {
                continue;
            }
            let outcome = match failure.stage {
                Stage::Ingest => self.ingest(comment).await.map(|_| ()),
                Stage::Edit => self.edit(comment).await.map(|_| ()),
            };
            match outcome {
                Ok(()) => {
                    self.store
                        .resolve_failure(&comment.id, self.clock.now())
                        .await?;
                    info!(comment = %comment.id, attempts = failure.attempts + 1, "a comment that had failed went through");
                    retried.succeeded += 1;
                }
                Err(error) => {
                    self.record_failure(comment, failure.stage, &error).await?;
                    retried.failed += 1;
                }
            }
        }
        Ok(retried)
    }

    /// The author deleted a comment: withdraw it. Returns it if it had been open.
    pub async fn delete(&self, id: &CommentId) -> Result<Option<StoredComment>, TrackerError> {
        let Some(before) = self.store.comment(id).await? else {
            return Ok(None);
        };
        // A flagged comment's alert may be on its way: the update queued behind it (same
        // channel, so after it) withdraws it once it is up.
        let update: Vec<NewOutbox> = if before.state.is_open() {
            self.update_rows(id)
        } else {
            Vec::new()
        };
        let moved = self
            .store
            .transition_then(id, Transition::WITHDRAW, self.clock.now(), &update)
            .await?;
        if !moved {
            return Ok(None);
        }
        if !update.is_empty() {
            self.wake();
        }
        let stored = self.stored(id).await?;
        Ok(stored.alert.is_some().then_some(stored))
    }

    /// Queues an update of a comment's alert in every room (coalescing with one already
    /// waiting there).
    pub async fn queue_alert_update(&self, id: &CommentId) -> Result<(), TrackerError> {
        let rows = self.update_rows(id);
        for row in &rows {
            self.store.enqueue(row, self.clock.now()).await?;
        }
        if !rows.is_empty() {
            self.wake();
        }
        Ok(())
    }

    /// Queues the alert of a waiting comment in each room where it is neither up nor on its
    /// way. Returns whether any was queued.
    pub async fn queue_alert(&self, id: &CommentId) -> Result<bool, TrackerError> {
        let _one_at_a_time = self.alert_queueing.lock().await;
        let mut queued = false;
        for row in self.alert_rows(id) {
            let up = self
                .store
                .alert_in(id, row.destination, &row.channel)
                .await?
                .is_some();
            if up
                || self
                    .store
                    .outbox_open_in(id, OutboxKind::Alert, row.destination, &row.channel)
                    .await?
            {
                continue;
            }
            self.store.enqueue(&row, self.clock.now()).await?;
            queued = true;
        }
        if queued {
            self.wake();
        }
        Ok(queued)
    }

    /// When a flagged comment's question grace ends, if it has one (else it is alerted at once).
    pub fn grace_ends(&self, stored: &StoredComment) -> Option<chrono::DateTime<chrono::Utc>> {
        stored
            .verdict
            .as_ref()
            .and_then(|verdict| self.grace.ends(&stored.comment, verdict))
    }

    /// At start: comments waiting for moderators whose alert is due and missing in a room
    /// (written before the outbox existed, given up last time, or a room added since) get it
    /// queued there. Returns how many comments.
    pub async fn queue_missing_alerts(&self) -> Result<usize, TrackerError> {
        let now = self.clock.now();
        let mut count = 0;
        for open in self.store.open_comments().await? {
            if open.state.is_claimable()
                && self.grace_ends(&open).is_none_or(|ends| ends <= now)
                && self.queue_alert(&open.comment.id).await?
            {
                count += 1;
            }
        }
        Ok(count)
    }

    /// At each scheduler check: questions whose grace ran out while still open get their
    /// alert queued (answered within the grace, they were closed and are never alerted).
    /// Only alerts never queued before: one given up waits for the next start, as others do.
    pub async fn queue_due_alerts(&self) -> Result<usize, TrackerError> {
        if self.rooms().is_empty() {
            return Ok(0);
        }
        let now = self.clock.now();
        let mut count = 0;
        for open in self.store.flagged_never_alerted().await? {
            if self.grace_ends(&open).is_some_and(|ends| ends <= now)
                && self.queue_alert(&open.comment.id).await?
            {
                info!(comment = %open.comment.id, "question still unanswered after its grace: alerted");
                count += 1;
            }
        }
        Ok(count)
    }

    /// Queues an escalation already recorded (see `escalation::due_escalations`) in every
    /// room, its text rendered for each room's platform by `text_for`.
    pub async fn queue_escalation(
        &self,
        id: &CommentId,
        text_for: impl Fn(Destination) -> String,
        ping_role: Option<u64>,
    ) -> Result<(), TrackerError> {
        let rooms = self.rooms();
        for room in &rooms {
            let payload = Payload::Escalation {
                comment: id.clone(),
                text: text_for(room.destination),
                ping_role,
            };
            self.store
                .enqueue(&NewOutbox::to_room(room, payload), self.clock.now())
                .await?;
        }
        if !rooms.is_empty() {
            self.wake();
        }
        Ok(())
    }

    /// Queues a message to moderators in the room on `destination` (what an adapter answers
    /// a moderator there, e.g. why an edited reply was not sent). False without that room.
    pub async fn queue_notice(
        &self,
        destination: Destination,
        text: String,
    ) -> Result<bool, TrackerError> {
        let Some(room) = self.room_on(destination) else {
            return Ok(false);
        };
        self.queue_notice_in(&room, text).await?;
        Ok(true)
    }

    /// Queues a message in `room`, whether or not alerts go there: the answer to a command,
    /// in the chat where it was typed.
    pub async fn queue_notice_in(&self, room: &Room, text: String) -> Result<(), TrackerError> {
        self.store
            .enqueue(
                &NewOutbox::to_room(room, Payload::Notice { text }),
                self.clock.now(),
            )
            .await?;
        self.wake();
        Ok(())
    }

    /// Claims a day's digest and queues its posting, in one transaction: true for exactly one
    /// caller per day, across restarts and processes. False without a room.
    pub async fn queue_digest(
        &self,
        digest: &PostedDigest,
        order: DigestOrder,
    ) -> Result<bool, TrackerError> {
        let rows: Vec<NewOutbox> = self
            .rooms()
            .iter()
            .map(|room| NewOutbox::to_room(room, Payload::Digest(order.clone())))
            .collect();
        if rows.is_empty() {
            return Ok(false);
        }
        let queued = self.store.claim_digest_with(digest, &rows).await?;
        if queued {
            self.wake();
        }
        Ok(queued)
    }

    /// Queues a digest asked for now in `room` (`/ascolto digest` and Telegram's `/digest`
    /// post it in the moderators' chat of the platform they were typed on, whether or not
    /// alerts go there); it is not a day's claim.
    pub async fn queue_digest_now(
        &self,
        order: DigestOrder,
        room: &Room,
    ) -> Result<Option<OutboxId>, TrackerError> {
        let row = NewOutbox::to_room(room, Payload::Digest(order));
        let id = self.store.enqueue(&row, self.clock.now()).await?;
        self.wake();
        Ok(id)
    }

    /// Claims an outbox row for delivery (see [`outbox`](crate::outbox)).
    pub async fn outbox_claim(
        &self,
        id: OutboxId,
        now_ms: i64,
    ) -> Result<Option<OutboxRow>, TrackerError> {
        Ok(self
            .store
            .outbox_claim(id, now_ms, self.claim_lease_ms())
            .await?)
    }

    /// How long a claim on a platform write holds, in ms.
    fn claim_lease_ms(&self) -> i64 {
        i64::try_from(outbox::claim_lease(self.duties.lease()).as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// A row was delivered: mark it sent together with what that means (the alert is up, the
    /// reply is out and the comment closed). False if the claim had passed to someone else.
    /// With `claim_next_at` (wall ms), the next row of the same channel is claimed in the same
    /// transaction, if it may be claimed then, and given back for the caller to deliver.
    pub async fn outbox_delivered(
        &self,
        row: &OutboxRow,
        message_id: Option<&str>,
        claim_next_at: Option<i64>,
    ) -> Result<(bool, Option<OutboxRow>), TrackerError> {
        let now = self.clock.now();
        let alert_ref;
        let action;
        let mut done = OutboxDone {
            message_id,
            ..OutboxDone::default()
        };
        match &row.payload {
            Payload::Alert { comment } => {
                if let Some(message) = message_id {
                    alert_ref = AlertRef {
                        channel: row.channel.clone(),
                        message: message.to_owned(),
                        posted_at: now,
                    };
                    done.alert = Some((comment, &alert_ref));
                }
            }
            Payload::Reply(order) => {
                action = Action {
                    comment: order.comment.clone(),
                    kind: if order.edited {
                        ActionKind::Edited
                    } else {
                        ActionKind::Approved
                    },
                    moderator_id: Some(order.moderator.id.clone()),
                    moderator_name: Some(order.moderator.name.clone()),
                    at: now,
                    draft_text: Some(order.draft_text.clone()),
                    sent_text: Some(order.text.clone()),
                    reply_message_id: message_id.map(str::to_owned),
                };
                done.close = Some((
                    Transition::REPLY_SENT,
                    Some(order.moderator.name.as_str()),
                    &action,
                ));
                done.then.extend(self.update_rows(&order.comment));
            }
            Payload::AlertUpdate { .. }
            | Payload::Escalation { .. }
            | Payload::Digest(_)
            | Payload::Notice { .. } => {}
        }
        let (marked, next) = match claim_next_at {
            None => (self.store.outbox_finish(row, &done, now).await?, None),
            Some(now_ms) => {
                self.store
                    .outbox_finish_then_claim_next(row, &done, now, now_ms, self.claim_lease_ms())
                    .await?
            }
        };
        if marked && !done.then.is_empty() {
            self.wake();
        }
        if marked {
            match &row.payload {
                Payload::Alert { comment } if message_id.is_some() => {
                    if let Some(stored) = self.store.comment(comment).await? {
                        let latency = (now - stored.comment.time).to_std().unwrap_or_default();
                        self.metrics.alert_posted(row.destination, latency);
                    }
                }
                Payload::Reply(_) => self.metrics.reply(ReplyOutcome::Sent),
                _ => {}
            }
        }
        Ok((marked, next))
    }

    /// A row failed and will be tried again at `due_ms` (wall clock).
    pub async fn outbox_retry(
        &self,
        row: &OutboxRow,
        error: &DeliveryError,
        due_ms: i64,
        first_failed_ms: i64,
    ) -> Result<bool, TrackerError> {
        let recorded = self
            .store
            .outbox_retry(
                row,
                &error.to_string(),
                due_ms,
                first_failed_ms,
                error.maybe_sent(),
            )
            .await?;
        if recorded {
            self.metrics
                .write_retried(row.destination, row.payload.kind());
        }
        Ok(recorded)
    }

    /// A row is given up: mark it, tell the moderators (unless it was itself a notice), and
    /// for a reply give the comment back to them with its alert saying why.
    pub async fn outbox_give_up(
        &self,
        row: &OutboxRow,
        error: &DeliveryError,
    ) -> Result<bool, TrackerError> {
        let now = self.clock.now();
        let reason = error.to_string();
        let kind = row.payload.kind();
        let mut done = OutboxDone {
            given_up: Some(&reason),
            ..OutboxDone::default()
        };
        if let Payload::Reply(order) = &row.payload {
            done.transition = Some((&order.comment, Transition::GIVE_BACK));
            done.then.extend(self.update_rows(&order.comment));
        }
        // A refusal is told once per outage of that channel (a bot removed from a chat would
        // otherwise send one notice per write still queued there).
        let told_already = matches!(error, DeliveryError::Refused { .. })
            && self
                .store
                .given_up_since_last_sent(row.destination, &row.channel, row.id)
                .await?;
        if kind != OutboxKind::Notice && !told_already {
            let about = match &row.payload {
                Payload::Digest(order) => Some(format!("for {}", order.day)),
                other => match other.comment() {
                    Some(id) => self.store.comment(id).await?.map(|c| {
                        let place = match c.comment.place_described() {
                            dm if dm == "direct message" => "a direct message".to_owned(),
                            place => place,
                        };
                        format!("about {} in {place}", c.comment.author.name)
                    }),
                    None => None,
                },
            };
            let text = outbox::give_up_notice(kind, about.as_deref(), error);
            // Every room is told; a room that refuses the notice too gets no notice about it,
            // but with two rooms the other one still hears.
            for room in self.rooms() {
                done.then.push(NewOutbox::to_room(
                    &room,
                    Payload::Notice { text: text.clone() },
                ));
            }
        }
        let marked = self.store.outbox_finish(row, &done, now).await?;
        if marked && !done.then.is_empty() {
            self.wake();
        }
        if marked {
            self.metrics.write_failed(row.destination, kind);
            if kind == OutboxKind::Reply {
                self.metrics.reply(ReplyOutcome::GivenUp);
            }
        }
        Ok(marked)
    }

    /// Forgets the platform writes sent more than [`KEEP_SENT`] ago (each channel's latest
    /// stays), at most once a day per process, so the outbox of a bot that runs for months
    /// holds what is still useful: the writes on their way, those given up (the digest and
    /// the alerts report them), and a month of sent ones to audit. How many were forgotten
    /// (0 when it was not yet time).
    pub async fn prune_sent(&self) -> Result<u64, TrackerError> {
        let now = self.clock.now();
        let due = {
            let last = self
                .pruned_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            last.is_none_or(|at| now - at >= chrono::Duration::days(1))
        };
        if !due {
            return Ok(0);
        }
        let pruned = self.store.prune_sent(now - KEEP_SENT).await?;
        *self
            .pruned_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(now);
        Ok(pruned)
    }

    /// Comments waiting for an answer, oldest first.
    pub async fn open(&self) -> Result<Vec<StoredComment>, TrackerError> {
        Ok(self.store.open_comments().await?)
    }

    /// How many comments wait for an answer, and the oldest `limit` of them.
    pub async fn open_queue(&self, limit: usize) -> Result<OpenQueue, TrackerError> {
        Ok(self.store.open_queue(limit).await?)
    }

    /// The latest comment `author` wrote in `channel` that still waits for an answer.
    pub async fn latest_open_by(
        &self,
        channel: &ChannelId,
        author: &AuthorId,
    ) -> Result<Option<CommentId>, TrackerError> {
        Ok(self.store.latest_open_by(channel, author).await?)
    }
}

/// How many comment ids [`Hearing`] remembers: far more than the detector looks back.
const HEARD_IDS: usize = 10_000;

/// The answer detector, and what it said of the comments it heard lately. A comment given
/// twice in one run (a batch the database refused, taken again one at a time; a catch-up
/// re-reading what the gateway gave) is heard once: hearing it again would make the
/// conversation look longer than it is, and its answers are the ones it gave the first time.
#[derive(Debug, Default)]
struct Hearing {
    detector: AnswerDetector,
    said: HashMap<CommentId, Vec<Answered>>,
    order: std::collections::VecDeque<CommentId>,
}

impl Hearing {
    fn hear(&mut self, comment: &Comment, opened: bool) -> Vec<Answered> {
        if let Some(said) = self.said.get(&comment.id) {
            return said.clone();
        }
        let said = self.detector.observe_open(comment, opened);
        if self.order.len() >= HEARD_IDS {
            if let Some(oldest) = self.order.pop_front() {
                self.said.remove(&oldest);
            }
        }
        self.order.push_back(comment.id.clone());
        self.said.insert(comment.id.clone(), said.clone());
        said
    }
}

/// The span each comment's path is logged in: its id, channel, and the rule that flagged it.
fn comment_span(comment: &Comment) -> tracing::Span {
    info_span!("comment", id = %comment.id, channel = %comment.place.channel_name, rule = tracing::field::Empty)
}

/// Which of `candidates` (as [`Tracker::answer_candidates`] lists them, in that order)
/// `comment` answers, given how they are stored (`read`, by id; the unstored left out):
/// those still open and written by someone else.
fn answered_among(
    comment: &Comment,
    candidates: &[CommentId],
    read: &HashMap<CommentId, StoredComment>,
) -> Vec<StoredComment> {
    candidates
        .iter()
        .filter_map(|id| read.get(id))
        .filter(|open| open.state.is_open() && open.comment.author.id != comment.author.id)
        .cloned()
        .collect()
}

/// How long a sent platform write is kept in the outbox before [`Tracker::prune_sent`]
/// forgets it: a month of what was posted, for audits.
pub const KEEP_SENT: chrono::Duration = chrono::Duration::days(30);

/// The author of an answer, as the audit trail names who closed the comment it answers.
fn answerer(comment: &Comment) -> Moderator {
    Moderator {
        id: comment.author.id.0.clone(),
        name: comment.author.name.clone(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::comment::{Author, Place};

    async fn tracker(clock: Arc<ManualClock>) -> Tracker {
        tracker_on(Store::in_memory().await.unwrap(), clock)
    }

    /// The stores a test that compares two trackers runs on: two fresh SQLite databases in
    /// memory, and two fresh PostgreSQL databases when a server is given.
    async fn store_pairs() -> Vec<(Store, Store)> {
        use crate::store::testing;
        let mut all = vec![(
            Store::in_memory().await.unwrap(),
            Store::in_memory().await.unwrap(),
        )];
        if let Some(server) = testing::postgres_server() {
            let mut fresh = Vec::new();
            for _ in 0..2 {
                let url = testing::fresh_postgres_database(&server).await.unwrap();
                fresh.push(Store::connect(&url).await.unwrap());
            }
            let (b, a) = (fresh.pop().unwrap(), fresh.pop().unwrap());
            all.push((a, b));
        }
        all
    }

    /// A tracker on `store` with the test rules and the default settings.
    pub(crate) fn tracker_on(store: Store, clock: Arc<ManualClock>) -> Tracker {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let settings =
            crate::config::Settings::load_with_env(&root.join("config"), Some(Default::default()))
                .unwrap();
        let values = settings.templates.values.clone();
        let library = Library::load(&root.join("tests/fixtures/rules"), &values).unwrap();
        let config = TrackerConfig {
            options: settings.triage_options(),
            values,
            moderator_fallback: settings.templates.moderator_fallback.clone(),
            policy: AnswerPolicy::default(),
            grace: QuestionGrace::default(),
            lease: settings.cluster.lease(),
        };
        Tracker::new(store, library, config, clock)
    }

    fn comment(id: &str, text: &str, clock: &ManualClock) -> Comment {
        Comment::new(
            id,
            Source::Discord,
            Place::channel("c1", "support"),
            Author::member(format!("u-{id}"), "Member"),
            text,
            clock.now(),
        )
    }

    #[tokio::test]
    async fn a_comment_that_panics_triage_fails_alone_is_recorded_and_goes_through_on_retry() {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let mut tracker = tracker(clock.clone()).await;
        tracker.panic_on = Some("\u{1F4A5}");
        let before = comment("1", "My order never arrived and nobody answers", &clock);
        let bad = comment("2", "\u{1F4A5} my order never arrived", &clock);
        let after = comment("3", "My order never arrived, this is unacceptable", &clock);
        let start = clock.now() - chrono::Duration::seconds(1);

        tracker.ingest(&before).await.unwrap();
        let error = tracker.ingest(&bad).await.unwrap_err();
        assert!(
            matches!(&error, TrackerError::Panicked { id, .. } if id.as_str() == "2"),
            "{error}"
        );
        assert!(error.to_string().contains("comment 2"), "{error}");
        tracker
            .record_failure(&bad, Stage::Ingest, &error)
            .await
            .unwrap();
        // The detector and the store still work for the next comment.
        let outcome = tracker.ingest(&after).await.unwrap();
        assert!(matches!(outcome.ingested, Ingested::Flagged(_)));
        assert!(tracker.store.comment(&bad.id).await.unwrap().is_none());
        let end = clock.now() + chrono::Duration::seconds(1);
        assert_eq!(tracker.store.failures_between(start, end).await.unwrap(), 1);

        // Still failing: counted again, not lost.
        let retried = tracker.retry_failures().await.unwrap();
        assert_eq!((retried.succeeded, retried.failed), (0, 1));
        // Fixed (a new version, say): the next start takes it in.
        tracker.panic_on = None;
        let retried = tracker.retry_failures().await.unwrap();
        assert_eq!((retried.succeeded, retried.failed), (1, 0));
        let stored = tracker.store.comment(&bad.id).await.unwrap().unwrap();
        assert_eq!(stored.state, CommentState::Flagged);
        assert!(tracker
            .store
            .open_failures(MAX_ATTEMPTS)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn a_channel_with_its_own_inbox_moves_past_a_comment_that_meets_a_bug() {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let mut tracker = tracker(clock.clone()).await;
        tracker.panic_on = Some("\u{1F4A5}");
        let bad = comment("7", "\u{1F4A5} where is my parcel?", &clock);
        assert!(tracker.ingest_or_set_aside(&bad).await.unwrap().is_none());
        let failures = tracker.store.open_failures(MAX_ATTEMPTS).await.unwrap();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].stage, Stage::Ingest);
        let good = comment("8", "My order never arrived and nobody answers", &clock);
        let outcome = tracker.ingest_or_set_aside(&good).await.unwrap().unwrap();
        assert!(matches!(outcome.ingested, Ingested::Flagged(_)));
        // An edit that meets the bug is set aside too, as an edit.
        let edited = comment("8", "\u{1F4A5} still nothing", &clock);
        assert!(tracker.edit_or_set_aside(&edited).await.unwrap().is_none());
        let failures = tracker.store.open_failures(MAX_ATTEMPTS).await.unwrap();
        assert_eq!(failures.len(), 2);
        assert!(failures.iter().any(|f| f.stage == Stage::Edit));
    }

    /// What a tracker's store holds, in a form two runs can be compared by.
    async fn everything(tracker: &Tracker) -> Vec<String> {
        let store = tracker.store();
        let mut rows = Vec::new();
        for id in ["1", "2", "3", "4", "5", "6"] {
            let id = CommentId::new(id);
            rows.push(format!("{:?}", store.comment(&id).await.unwrap()));
            rows.push(format!("{:?}", store.actions_for(&id).await.unwrap()));
            // Per comment, in order; ids differ, since a batch queues its alerts before the
            // alert updates its answers cause.
            let queued: Vec<String> = store
                .outbox_for(&id)
                .await
                .unwrap()
                .into_iter()
                .map(|row| format!("{:?} {} {:?}", row.destination, row.channel, row.payload))
                .collect();
            rows.push(format!("{queued:?}"));
        }
        rows
    }

    /// An outcome without the comment's triage time-independent parts: what a caller sees.
    fn seen(outcome: &Result<IngestOutcome, TrackerError>) -> String {
        match outcome {
            Ok(o) => format!("{:?} / {:?}", o.ingested, o.answered),
            Err(e) => format!("error: {e}"),
        }
    }

    #[tokio::test]
    async fn ingest_many_gives_each_comment_what_ingest_gives_it_and_stores_the_same() {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let staff_reply = |id: &str, to: &str| {
            let mut c = comment(id, "We are on it, sorry for the wait", &clock);
            c.author = Author::staff("s1", "Staff");
            c.with_reply_to(Some(CommentId::new(to)))
        };
        let mut with_extras = comment("5", "My refund never arrived and nobody answers", &clock);
        with_extras.mentions = vec![crate::comment::AuthorId::new("u-1")];
        with_extras.thread_root = Some(CommentId::new("9"));
        let comments = vec![
            comment("1", "My order never arrived and nobody answers", &clock),
            comment("2", "Lovely stream yesterday", &clock),
            // Answers 1, which came before it; 4 comes after it and stays open.
            staff_reply("3", "1"),
            comment("1", "My order never arrived and nobody answers", &clock),
            comment("\u{1F4A5}", "\u{1F4A5} where is my parcel?", &clock),
            comment("4", "This is unacceptable, my parcel is lost", &clock),
            staff_reply("6", "4"),
            with_extras,
            // A second answer to 1: closed by 3 already, so this one closes nothing.
            staff_reply("7", "1"),
        ];
        // On each store: what one store computes in SQL, the other must too.
        for (one_store, many_store) in store_pairs().await {
            let mut one = tracker_on(one_store, clock.clone());
            one.panic_on = Some("\u{1F4A5}");
            let mut many = tracker_on(many_store, clock.clone());
            many.panic_on = Some("\u{1F4A5}");
            // Alerts are queued with their comments, in the same order.
            for tracker in [&one, &many] {
                tracker.add_room(Room {
                    destination: Destination::Discord,
                    channel: "mods".into(),
                });
            }
            let mut singly = Vec::new();
            for c in &comments {
                singly.push(seen(&one.ingest(c).await));
            }
            let batched: Vec<String> = many
                .ingest_many(&comments)
                .await
                .unwrap()
                .iter()
                .map(seen)
                .collect();
            assert_eq!(batched, singly);
            assert!(singly[2].contains("Answered"), "{}", singly[2]);
            assert!(singly[3].starts_with("Duplicate"), "{}", singly[3]);
            assert!(singly[4].starts_with("error: "), "{}", singly[4]);
            assert!(singly[8].ends_with("/ []"), "{}", singly[8]);
            assert_eq!(everything(&many).await, everything(&one).await);
            // A flagged comment is given back as the store reads it (what the store does not
            // keep, such as mentions and the thread root, left out).
            let read = many
                .store
                .comment(&CommentId::new("5"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(batched[7], format!("Flagged({read:?}) / []"));
        }
    }

    /// A drill: the database refuses the inserts `into` names ("table", or "table WHEN
    /// condition") with "drill: refused", until the trigger `refuse` is dropped.
    async fn refuse(tracker: &Tracker, into: &str) {
        sqlx::query(&format!(
            "CREATE TRIGGER refuse BEFORE INSERT ON {into}
             BEGIN SELECT RAISE(ABORT, 'drill: refused'); END"
        ))
        .execute(tracker.store().writer())
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_row_the_database_refuses_fails_alone_and_its_batch_mates_are_stored() {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let tracker = tracker(clock.clone()).await;
        // A drill: the database refuses this one comment, as a failing disk would.
        refuse(&tracker, "comments WHEN NEW.id = '2'").await;
        let batch = [
            comment("1", "My order never arrived and nobody answers", &clock),
            comment("2", "My refund never arrived either", &clock),
            comment("3", "My order never arrived and nobody answers", &clock),
        ];
        let outcomes = tracker.ingest_batch(&batch).await;
        assert!(matches!(&outcomes[0], Ok(o) if matches!(o.ingested, Ingested::Flagged(_))));
        assert!(
            matches!(&outcomes[1], Err(e) if e.to_string().contains("drill: refused")),
            "{}",
            seen(&outcomes[1])
        );
        assert!(matches!(&outcomes[2], Ok(o) if matches!(o.ingested, Ingested::Flagged(_))));
        for (id, stored) in [("1", true), ("2", false), ("3", true)] {
            let found = tracker.store().comment(&CommentId::new(id)).await.unwrap();
            assert_eq!(found.is_some(), stored, "comment {id}");
        }
    }

    #[tokio::test]
    async fn an_answer_is_stored_with_the_close_of_what_it_answers_or_not_at_all() {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let tracker = tracker(clock.clone()).await;
        let question = comment("1", "My order never arrived and nobody answers", &clock);
        tracker.ingest(&question).await.unwrap();
        let mut answer = comment("2", "We are on it, sorry for the wait", &clock);
        answer.author = Author::staff("s1", "Staff");
        let answer = answer.with_reply_to(Some(question.id.clone()));
        // A drill: the database refuses the close's audit line, as a crash at that moment
        // would leave it unwritten.
        refuse(&tracker, "actions").await;
        let error = tracker.ingest(&answer).await.unwrap_err();
        assert!(error.to_string().contains("drill: refused"), "{error}");
        // Neither the answer nor the close: taken again, the answer is new, not a duplicate.
        assert!(tracker.store().comment(&answer.id).await.unwrap().is_none());
        let open = tracker
            .store()
            .comment(&question.id)
            .await
            .unwrap()
            .unwrap();
        assert!(open.state.is_open(), "{:?}", open.state);

        sqlx::query("DROP TRIGGER refuse")
            .execute(tracker.store().writer())
            .await
            .unwrap();
        let outcome = tracker.ingest(&answer).await.unwrap();
        assert!(matches!(outcome.ingested, Ingested::Clear(_)));
        assert_eq!(outcome.answered.len(), 1);
        let closed = tracker
            .store()
            .comment(&question.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(closed.state, CommentState::Answered);
        assert_eq!(closed.answered_by.as_deref(), Some("Staff"));
    }

    #[tokio::test]
    async fn an_answer_heard_in_a_refused_batch_still_closes_its_question_when_taken_alone() {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let tracker = tracker(clock.clone()).await;
        refuse(&tracker, "comments WHEN NEW.id = '2'").await;
        let question = comment("1", "How do I change the address on my order?", &clock);
        let mut answer = comment("3", "Member: open Settings, then Addresses", &clock);
        answer.author = Author::staff("s1", "Staff");
        // The staff member answers by naming the asker, without the reply feature: only the
        // detector sees it, and it hears each comment once.
        let batch = [
            question.clone(),
            comment("2", "lovely stream yesterday", &clock),
            answer,
        ];
        let outcomes = tracker.ingest_batch(&batch).await;
        assert!(outcomes[1].is_err());
        let answered = match &outcomes[2] {
            Ok(outcome) => outcome.answered.len(),
            Err(error) => panic!("{error}"),
        };
        assert_eq!(answered, 1);
        let closed = tracker
            .store()
            .comment(&question.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(closed.state, CommentState::Answered);
    }

    #[tokio::test]
    async fn old_sent_writes_are_pruned_at_most_once_a_day() {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let tracker = tracker(clock.clone()).await;
        let store = tracker.store();
        // Two writes to one channel, sent two months ago: the older can go.
        let now = &clock;
        let sent_long_ago = |text: &'static str| async move {
            let long_ago = now.now() - chrono::Duration::days(60);
            let row = NewOutbox {
                destination: Destination::Discord,
                channel: "mods".into(),
                payload: Payload::Notice { text: text.into() },
            };
            let id = store.enqueue(&row, long_ago).await.unwrap().unwrap();
            let claimed = store.outbox_claim(id, 0, 60_000).await.unwrap().unwrap();
            let done = crate::store::OutboxDone::default();
            assert!(store
                .outbox_finish(&claimed, &done, long_ago)
                .await
                .unwrap());
        };
        sent_long_ago("one").await;
        sent_long_ago("two").await;
        assert_eq!(tracker.prune_sent().await.unwrap(), 1);
        sent_long_ago("three").await;
        // The same day: not yet again, although "two" could go now.
        clock.advance(chrono::Duration::hours(23));
        assert_eq!(tracker.prune_sent().await.unwrap(), 0);
        clock.advance(chrono::Duration::hours(1));
        assert_eq!(tracker.prune_sent().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_failure_is_retried_at_most_max_attempts_times() {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let mut tracker = tracker(clock.clone()).await;
        tracker.panic_on = Some("\u{1F4A5}");
        let bad = comment("9", "\u{1F4A5}", &clock);
        let error = tracker.ingest(&bad).await.unwrap_err();
        tracker
            .record_failure(&bad, Stage::Ingest, &error)
            .await
            .unwrap();
        let mut tries = 0;
        while tracker.retry_failures().await.unwrap().failed > 0 {
            tries += 1;
            assert!(tries < 10, "retried without end");
        }
        assert_eq!(tries, MAX_ATTEMPTS as usize - 1);
    }
}
