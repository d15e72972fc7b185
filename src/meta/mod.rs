//! Facebook Page comments, Instagram comments, and Messenger and Instagram direct messages:
//! Meta's webhooks in, through the same tracker as Discord, and the Graph API client that
//! posts replies.
//!
//! - `webhook`: `/webhooks/meta` (subscription check, signature check, durable storing).
//! - `inbox`: the stored deliveries and the direct-message windows.
//! - `events`: a body into [`events::MetaEvent`]s (pure).
//! - `graph`: the Graph API client (replies, error classification).
//! - `delivery`: the outbox's [`Deliver`](crate::outbox::Deliver) for Meta: approved replies
//!   posted through `graph`, retried and never doubled.
//! - `types`: pages, typed ids, how Meta places are encoded in the core's ids, secrets.
//!
//! [`Meta`] ties them: the webhook stores and wakes the processor, which turns each stored
//! delivery into tracker calls (`ingest`, `edit`, `delete`) and tells whoever shows alerts
//! (the Discord bot, wired in `main`) what changed, as [`Notice`]s.

pub mod delivery;
pub mod events;
pub mod graph;
pub mod inbox;
pub mod types;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::sync::{mpsc, Mutex, Notify};
use tokio::task::JoinHandle;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::app::App;
use crate::comment::{AuthorId, CommentId};
use crate::lifecycle::{CommentState, StoredComment};
use crate::metrics::Channel;
use crate::store::StoreError;
use crate::tracker::{Edited, IngestOutcome, Ingested, Tracker, TrackerError};

use events::{Conversation, MetaEvent};
use graph::GraphClient;
use inbox::{Delivery, Inbox};
use types::{MetaSecrets, Pages, SecretsError};

/// How often the processor looks at the inbox when nothing wakes it: a delivery whose
/// processing failed (the database was busy) is retried at this pace.
const RETRY_EVERY: Duration = Duration::from_secs(30);

/// How long processed deliveries are kept (their keys catch Meta's retries).
const KEEP_DELIVERIES: chrono::Duration = chrono::Duration::days(7);

/// What moderators should be shown after a Meta event.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A comment was flagged and has no alert yet: post one.
    Alert(Box<StoredComment>),
    /// A comment with an alert changed (answered, edited, withdrawn): update it.
    Refresh(CommentId),
}

/// Why the Meta channel failed.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("Meta inbox: {0}")]
    Inbox(#[from] StoreError),
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    #[error(transparent)]
    Graph(#[from] graph::GraphError),
}

/// The running Meta channel.
#[derive(Clone)]
pub struct Meta {
    inner: Arc<Inner>,
}

struct Inner {
    tracker: Arc<Tracker>,
    inbox: Inbox,
    pages: Pages,
    secrets: MetaSecrets,
    graph: GraphClient,
    wake: Arc<Notify>,
    /// One processor at a time, so deliveries are applied in the order they arrived.
    processing: Mutex<()>,
    notices: mpsc::UnboundedSender<Notice>,
}

impl std::fmt::Debug for Meta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meta")
            .field("pages", &self.inner.pages)
            .finish_non_exhaustive()
    }
}

impl Meta {
    /// Builds the channel on the application's store (its inbox is the store's webhook
    /// tables). Nothing is processed until [`Meta::spawn_processor`] or
    /// [`Meta::process_pending`]; the receiver gets what moderators should be shown.
    pub async fn start(
        app: &App,
        secrets: MetaSecrets,
    ) -> Result<(Meta, mpsc::UnboundedReceiver<Notice>), MetaError> {
        let inbox = Inbox::new(app.tracker.store().clone());
        let pages = Pages::from_settings(&app.settings.meta);
        let graph = GraphClient::new(
            &app.settings.meta,
            pages.clone(),
            secrets.page_tokens.clone(),
            app.tracker.clock().clone(),
            Some(inbox.clone()),
        )?;
        // Not ready until its deliveries are being taken in (the processor's first pass).
        app.tracker
            .metrics()
            .channel_connected(Channel::Meta, false);
        let (notices, receiver) = mpsc::unbounded_channel();
        let meta = Meta {
            inner: Arc::new(Inner {
                tracker: app.tracker.clone(),
                inbox,
                pages,
                secrets,
                graph,
                wake: Arc::new(Notify::new()),
                processing: Mutex::new(()),
                notices,
            }),
        };
        Ok((meta, receiver))
    }

    /// The webhook's routes, for [`crate::http::router`].
    pub fn routes(&self) -> Router {
        webhook::routes(Arc::new(webhook::WebhookState {
            app_secret: self.inner.secrets.app_secret.clone(),
            verify_token: self.inner.secrets.verify_token.clone(),
            inbox: self.inner.inbox.clone(),
            clock: self.inner.tracker.clock().clone(),
            wake: self.inner.wake.clone(),
            metrics: self.inner.tracker.metrics().clone(),
        }))
    }

    pub fn inbox(&self) -> &Inbox {
        &self.inner.inbox
    }

    pub fn pages(&self) -> &Pages {
        &self.inner.pages
    }

    /// The Graph API client, with the pages' tokens.
    pub fn graph(&self) -> &GraphClient {
        &self.inner.graph
    }

    /// Starts posting approved replies from the outbox (`Destination::Meta` rows): those the
    /// last run left pending at once.
    pub fn spawn_delivery(&self, policy: crate::outbox::RetryPolicy) -> crate::outbox::Worker {
        crate::outbox::Worker::spawn(
            self.inner.tracker.clone(),
            Arc::new(delivery::MetaDelivery::new(
                self.inner.tracker.clone(),
                self.inner.graph.clone(),
            )),
            policy,
        )
    }

    /// Processes what the last run left, then each delivery as it is stored.
    pub fn spawn_processor(&self) -> JoinHandle<()> {
        let meta = self.clone();
        tokio::spawn(async move {
            let cutoff = meta.inner.tracker.clock().now() - KEEP_DELIVERIES;
            match meta.inner.inbox.prune(cutoff).await {
                Ok(0) => {}
                Ok(pruned) => debug!(pruned, "old Meta deliveries forgotten"),
                Err(e) => warn!(error = %e, "could not prune old Meta deliveries"),
            }
            loop {
                match meta.process_pending().await {
                    Ok(0) => {}
                    Ok(count) => debug!(count, "Meta deliveries processed"),
                    Err(e) => warn!(error = %e, "Meta deliveries left for the next attempt"),
                }
                tokio::select! {
                    () = meta.inner.wake.notified() => {}
                    () = tokio::time::sleep(RETRY_EVERY) => {}
                }
            }
        })
    }

    /// Processes every stored, unprocessed delivery, oldest first; returns how many. A
    /// delivery whose processing fails on the database stays pending and stops the run, so
    /// later ones are not applied before it.
    pub async fn process_pending(&self) -> Result<usize, MetaError> {
        let _one_at_a_time = self.inner.processing.lock().await;
        let result = self.process_all().await;
        // Ready while deliveries are taken in; a database failure leaves them waiting.
        self.inner
            .tracker
            .metrics()
            .channel_connected(Channel::Meta, result.is_ok());
        result
    }

    async fn process_all(&self) -> Result<usize, MetaError> {
        let mut count = 0;
        loop {
            let batch = self.inner.inbox.pending(webhook::CHANNEL, 50).await?;
            if batch.is_empty() {
                return Ok(count);
            }
            for delivery in batch {
                self.process(&delivery).await?;
                count += 1;
            }
        }
    }

    async fn process(&self, delivery: &Delivery) -> Result<(), MetaError> {
        let short = delivery.id.get(..12).unwrap_or(&delivery.id).to_owned();
        let span = info_span!("meta.delivery", delivery = %short);
        async {
            let now = self.inner.tracker.clock().now();
            let parsed =
                match events::parse(&delivery.body, &self.inner.pages, delivery.received_at) {
                    Ok(parsed) => parsed,
                    Err(e) => {
                        warn!(problem = %e, "Meta delivery skipped");
                        let problem = e.to_string();
                        self.inner
                            .inbox
                            .mark_processed(&delivery.id, now, Some(&problem))
                            .await?;
                        return Ok(());
                    }
                };
            for skipped in &parsed.skipped {
                warn!(at = %skipped.at, reason = %skipped.reason, "Meta event skipped");
            }
            for event in parsed.events {
                let span = info_span!("meta.event", comment = %event.comment_id(), channel = tracing::field::Empty);
                if let MetaEvent::New { comment, .. } | MetaEvent::Echo { comment, .. } = &event {
                    span.record("channel", comment.place.channel_name.as_str());
                }
                match self.apply(event).instrument(span.clone()).await {
                    Ok(()) => {}
                    // The database failed: leave the delivery pending, retry it whole later
                    // (what was applied already is ignored the second time).
                    Err(TrackerError::Store(e)) => return Err(TrackerError::Store(e).into()),
                    Err(e) => span.in_scope(|| warn!(error = %e, "Meta event not applied")),
                }
            }
            self.inner
                .inbox
                .mark_processed(&delivery.id, now, None)
                .await?;
            Ok(())
        }
        .instrument(span)
        .await
    }

    async fn apply(&self, event: MetaEvent) -> Result<(), TrackerError> {
        let tracker = &self.inner.tracker;
        match event {
            MetaEvent::New {
                comment,
                conversation,
            } => {
                if let Some(conversation) = conversation {
                    self.inner
                        .inbox
                        .touch_conversation(
                            &conversation.channel,
                            conversation.page.as_str(),
                            &conversation.person,
                            comment.time,
                        )
                        .await
                        .map_err(TrackerError::Store)?;
                }
                if let Some(outcome) = tracker.ingest_or_set_aside(&comment).await? {
                    self.show(&outcome);
                }
            }
            MetaEvent::Echo {
                comment,
                conversation,
            } => {
                let answers = self.last_open_message(&conversation).await?;
                let echo = comment.with_reply_to(answers);
                if let Some(outcome) = tracker.ingest_or_set_aside(&echo).await? {
                    self.show(&outcome);
                }
            }
            MetaEvent::Edited { id, text, whole } => {
                let Some(stored) = tracker.store().comment(&id).await? else {
                    match whole {
                        Some(comment) => {
                            debug!("an edit of a comment never seen: taken in as new");
                            if let Some(outcome) = tracker.ingest_or_set_aside(&comment).await? {
                                self.show(&outcome);
                            }
                        }
                        None => debug!("an edit of a message never seen; nothing to do"),
                    }
                    return Ok(());
                };
                let mut comment = stored.comment;
                comment.text = text;
                match tracker.edit_or_set_aside(&comment).await? {
                    Some(Edited::Retriaged(now)) if now.alert.is_some() => {
                        self.notify(Notice::Refresh(id));
                    }
                    Some(Edited::Retriaged(now)) if now.state == CommentState::Flagged => {
                        self.notify(Notice::Alert(now));
                    }
                    Some(Edited::Retriaged(_) | Edited::Closed(_) | Edited::Unknown) | None => {}
                }
            }
            MetaEvent::Removed(id) => {
                if tracker.delete(&id).await?.is_some() {
                    self.notify(Notice::Refresh(id));
                }
            }
        }
        Ok(())
    }

    /// The person's latest open message in a conversation: what the page's message answers.
    /// Earlier open messages in the same conversation stay open (moderators close them).
    async fn last_open_message(
        &self,
        conversation: &Conversation,
    ) -> Result<Option<CommentId>, TrackerError> {
        self.inner
            .tracker
            .latest_open_by(
                &conversation.channel,
                &AuthorId::new(conversation.person.as_str()),
            )
            .await
    }

    fn show(&self, outcome: &IngestOutcome) {
        if let Ingested::Flagged(stored) = &outcome.ingested {
            info!("flagged; alert requested");
            self.notify(Notice::Alert(stored.clone()));
        }
        for answered in &outcome.answered {
            self.notify(Notice::Refresh(answered.comment.id.clone()));
        }
    }

    fn notify(&self, notice: Notice) {
        // Nobody listening (a test, or the bot stopping): the store has it all anyway, and
        // alerts missing at the next start are posted then.
        let _ = self.inner.notices.send(notice);
    }
}
