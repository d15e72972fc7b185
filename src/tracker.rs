//! The tracker owns what is open, what was answered and by whom. It is the only writer of the
//! store (comment state, drafts, alerts, the audit trail, channel checkpoints, escalations and
//! digest claims), and it persists each decision before any adapter acts on it. The moves it
//! may make are the ones [`lifecycle`](crate::lifecycle) allows.
//!
//! Adapters (the Discord bot, the replay) hand it comments and moderator actions; it runs
//! triage, writes the outcome, and tells the adapter what to show. Processing the same
//! comment twice changes nothing, and two moderators acting at once cannot both send a reply.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use tracing::{info, info_span, Instrument};

use crate::answer::{AnswerConfig, AnswerDetector, Answered};
use crate::clock::Clock;
use crate::comment::{ChannelId, Comment, CommentId};
use crate::draft::{draft, draft_wording, wording_count, Draft, DraftContext};
use crate::lifecycle::{
    after_edit, Action, ActionKind, AlertRef, CommentState, StoredComment, Transition,
};
use crate::rules::{Label, Library, LibraryError};
use crate::store::{PostedDigest, Store, StoreError};
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
}

/// Who acted on an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moderator {
    pub id: String,
    pub name: String,
}

/// What happened to an incoming comment.
#[derive(Debug, Clone)]
pub enum Ingested {
    /// Already stored: nothing changed.
    Duplicate,
    /// Triaged; nothing for moderators.
    Clear(Verdict),
    /// Needs a reply: show moderators an alert.
    Flagged(Box<StoredComment>),
}

/// The outcome of one incoming comment, including open comments it answered.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    pub ingested: Ingested,
    /// Open comments this comment answered (their alerts should be updated).
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
    /// Heuristic answers in channels where people answer without replying. In memory: it
    /// only looks a few dozen messages back, so a restart loses nothing that matters.
    detector: Mutex<AnswerDetector>,
    clock: Arc<dyn Clock>,
}

/// What the tracker needs besides the store.
#[derive(Debug, Clone)]
pub struct TrackerConfig {
    pub options: TriageOptions,
    pub values: BTreeMap<String, String>,
    pub moderator_fallback: String,
    pub policy: AnswerPolicy,
}

impl Tracker {
    pub fn new(
        store: Store,
        library: Library,
        config: TrackerConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            library: RwLock::new(Arc::new(library)),
            options: config.options,
            values: config.values,
            moderator_fallback: config.moderator_fallback,
            policy: config.policy,
            // Who may answer is decided here (staff, or anyone), so the detector hears everyone.
            detector: Mutex::new(AnswerDetector::new(AnswerConfig::default())),
            clock,
        }
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

    /// Takes in one comment: triage, persist, and detect whether it answers open comments.
    pub async fn ingest(&self, comment: &Comment) -> Result<IngestOutcome, TrackerError> {
        let span = info_span!("comment", id = %comment.id, channel = %comment.place.channel_name, rule = tracing::field::Empty);
        self.ingest_inner(comment, span.clone())
            .instrument(span)
            .await
    }

    async fn ingest_inner(
        &self,
        comment: &Comment,
        span: tracing::Span,
    ) -> Result<IngestOutcome, TrackerError> {
        let now = self.clock.now();
        let (verdict, draft) = self.dry_run(comment);
        if let Some(main) = verdict.main_match() {
            span.record("rule", main.rule.as_str());
        }
        let state = if verdict.needs_reply() && !comment.author.is_staff {
            CommentState::Flagged
        } else {
            CommentState::Clear
        };
        let draft = draft.filter(|_| state == CommentState::Flagged);
        let inserted = self
            .store
            .insert_triaged(comment, &verdict, state, draft.as_ref(), now)
            .await?;
        if !inserted {
            tracing::debug!("already processed; ignored");
            return Ok(IngestOutcome {
                ingested: Ingested::Duplicate,
                answered: Vec::new(),
            });
        }
        let answered = self
            .answers(comment, state == CommentState::Flagged)
            .await?;
        let ingested = if state == CommentState::Flagged {
            let labels: Vec<_> = verdict.labels.iter().map(|l| l.label.as_str()).collect();
            info!(labels = ?labels, "flagged");
            let stored = self
                .store
                .comment(&comment.id)
                .await?
                .ok_or_else(|| TrackerError::NotFound(comment.id.clone()))?;
            Ingested::Flagged(Box::new(stored))
        } else {
            Ingested::Clear(verdict)
        };
        Ok(IngestOutcome { ingested, answered })
    }

    /// Open comments that `comment` answers.
    ///
    /// Answers count when written by staff (or by anyone but the author, if so configured):
    /// an explicit reply, a message in the thread started from the comment, or, in channels
    /// where people answer without replying, what the answer detector recognises by name,
    /// turn-taking and content.
    async fn answers(
        &self,
        comment: &Comment,
        opened: bool,
    ) -> Result<Vec<StoredComment>, TrackerError> {
        // Every message goes through the detector, answer or not: turn-taking needs them all.
        let detected: Vec<Answered> = self
            .detector
            .lock()
            .expect("detector lock")
            .observe_open(comment, opened);
        if !(comment.author.is_staff || self.policy.anyone_answers) {
            return Ok(Vec::new());
        }
        let mut targets = Vec::new();
        if let Some(reply_to) = &comment.reply_to {
            targets.push(reply_to.clone());
        }
        // Writing in the thread that hangs from a comment answers it (the adapter knows which).
        if let Some(root) = &comment.thread_root {
            targets.push(root.clone());
        }
        for found in detected {
            tracing::debug!(answered = %found.comment, cue = ?found.cue, "answer detected");
            targets.push(found.comment);
        }
        let mut answered = Vec::new();
        for target in targets {
            let Some(open) = self.store.comment(&target).await? else {
                continue;
            };
            if !open.state.is_open() || open.comment.author.id == comment.author.id {
                continue;
            }
            if let Some(closed) = self
                .close(
                    &target,
                    Transition::ANSWER,
                    ActionKind::AnsweredInChannel,
                    &Moderator {
                        id: comment.author.id.0.clone(),
                        name: comment.author.name.clone(),
                    },
                )
                .await?
            {
                info!(answered = %target, by = %comment.author.name, "answered in channel");
                answered.push(closed);
            }
        }
        Ok(answered)
    }

    /// Records that the alert for a comment is up.
    pub async fn mark_alerted(&self, id: &CommentId, alert: AlertRef) -> Result<(), TrackerError> {
        self.store.set_alert(id, &alert).await?;
        self.store
            .transition(id, Transition::ALERT, self.clock.now())
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

    /// Claims a day's digest for posting: true for exactly one caller per day, across restarts
    /// and processes. Post only on true, and [`Tracker::release_digest`] if posting fails.
    pub async fn claim_digest(&self, digest: &PostedDigest) -> Result<bool, TrackerError> {
        Ok(self.store.mark_digest_posted(digest).await?)
    }

    /// Gives back a digest claim whose posting failed, so it is tried again rather than lost.
    pub async fn release_digest(&self, day: chrono::NaiveDate) -> Result<(), TrackerError> {
        Ok(self.store.unmark_digest(day).await?)
    }

    async fn stored(&self, id: &CommentId) -> Result<StoredComment, TrackerError> {
        self.store
            .comment(id)
            .await?
            .ok_or_else(|| TrackerError::NotFound(id.clone()))
    }

    /// Claims the right to send the reply. Exactly one claim succeeds per comment.
    pub async fn claim_reply(
        &self,
        id: &CommentId,
        moderator: &Moderator,
        edited_text: Option<String>,
    ) -> Result<ReplyClaim, TrackerError> {
        let stored = self.stored(id).await?;
        let draft_text = stored
            .draft
            .as_ref()
            .map(|d| d.text.clone())
            .ok_or_else(|| TrackerError::NoDraft(id.clone()))?;
        let claimed = self
            .store
            .transition(id, Transition::CLAIM_REPLY, self.clock.now())
            .await?;
        if !claimed {
            let state = self.stored(id).await?.state;
            return Err(TrackerError::AlreadyClosed {
                id: id.clone(),
                state,
            });
        }
        let edited = edited_text.as_ref().is_some_and(|t| t != &draft_text);
        // An approved draft speaks with the approving moderator's name where it says
        // `{moderator}`; an edited one is sent exactly as the moderator wrote it.
        let text = match edited_text {
            Some(text) => text,
            None => self
                .signed_draft(&stored, moderator)
                .unwrap_or_else(|| draft_text.clone()),
        };
        Ok(ReplyClaim {
            text,
            draft_text,
            comment: stored,
            moderator: moderator.clone(),
            edited,
        })
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
            .close_with_action(Transition::REPLY_SENT, Some(&claim.moderator.name), &action)
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

    /// Comments left mid-send by a crash go back to the moderators' queue.
    pub async fn recover_after_restart(&self) -> Result<usize, TrackerError> {
        let mut count = 0;
        for open in self.store.open_comments().await? {
            if open.state == CommentState::Sending
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

    /// A moderator decided no reply is needed.
    pub async fn dismiss(
        &self,
        id: &CommentId,
        moderator: &Moderator,
    ) -> Result<StoredComment, TrackerError> {
        self.close_or_explain(id, Transition::DISMISS, ActionKind::Dismissed, moderator)
            .await
    }

    /// A moderator says the comment was answered elsewhere.
    pub async fn mark_answered(
        &self,
        id: &CommentId,
        moderator: &Moderator,
    ) -> Result<StoredComment, TrackerError> {
        self.close_or_explain(
            id,
            Transition::ANSWER,
            ActionKind::MarkedAnswered,
            moderator,
        )
        .await
    }

    async fn close_or_explain(
        &self,
        id: &CommentId,
        change: Transition,
        kind: ActionKind,
        moderator: &Moderator,
    ) -> Result<StoredComment, TrackerError> {
        match self.close(id, change, kind, moderator).await? {
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
            .close_with_action(change, answered_by, &action)
            .await?;
        if !closed {
            return Ok(None);
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
        let (verdict, draft) = self.dry_run(comment);
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
        Ok(Edited::Retriaged(Box::new(self.stored(&comment.id).await?)))
    }

    /// The author deleted a comment: withdraw it. Returns it if it had been open.
    pub async fn delete(&self, id: &CommentId) -> Result<Option<StoredComment>, TrackerError> {
        let moved = self
            .store
            .transition(id, Transition::WITHDRAW, self.clock.now())
            .await?;
        if !moved {
            return Ok(None);
        }
        let stored = self.stored(id).await?;
        Ok(stored.alert.is_some().then_some(stored))
    }

    /// Comments waiting for an answer, oldest first.
    pub async fn open(&self) -> Result<Vec<StoredComment>, TrackerError> {
        Ok(self.store.open_comments().await?)
    }
}
