//! The durable inbox of webhook deliveries (`webhook_events`) and the direct-message windows
//! (`meta_conversations`), kept by the store (`store.rs` holds the SQL, on the store's one
//! writer connection and its readers: one pool for the whole application).
//!
//! A delivery is written here before Meta gets its 200, and processed from here afterwards:
//! a crash in between loses nothing, since rows left unprocessed are processed at the next
//! start. Rows are keyed by the SHA-256 of the raw body, so a retried delivery is one row.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::comment::ChannelId;
use crate::store::{Store, StoreError};

/// A stored delivery waiting to be processed.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// SHA-256 of the raw body, hex.
    pub id: String,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// The inbox: Meta's view of the store's webhook and conversation tables.
#[derive(Debug, Clone)]
pub struct Inbox {
    store: Store,
}

impl Inbox {
    /// The inbox in the application's store.
    pub fn new(store: Store) -> Inbox {
        Inbox { store }
    }

    /// The key a body is stored under.
    pub fn key(body: &[u8]) -> String {
        hex::encode(Sha256::digest(body))
    }

    /// Stores a delivery; false if the same body was stored before (a retry).
    pub async fn store(
        &self,
        channel: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.store
            .store_webhook(&Self::key(body), channel, body, now)
            .await
    }

    /// Unprocessed deliveries of `channel`, oldest first.
    pub async fn pending(&self, channel: &str, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        Ok(self
            .store
            .pending_webhooks(channel, limit)
            .await?
            .into_iter()
            .map(|w| Delivery {
                id: w.key,
                body: w.body,
                received_at: w.received_at,
            })
            .collect())
    }

    /// Marks a delivery processed, with why it could not be read if so.
    pub async fn mark_processed(
        &self,
        id: &str,
        now: DateTime<Utc>,
        problem: Option<&str>,
    ) -> Result<(), StoreError> {
        self.store.mark_webhook_processed(id, now, problem).await
    }

    /// How many deliveries of `channel` are stored, processed or not (tests, diagnostics).
    pub async fn count(&self, channel: &str) -> Result<i64, StoreError> {
        self.store.webhook_count(channel).await
    }

    /// Forgets processed deliveries received before `before`. Meta retries for at most a day
    /// or so, so older keys no longer catch duplicates; the bodies are kept a while for audits.
    pub async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.store.prune_webhooks(before).await
    }

    /// Records a person's message in a conversation (the latest one wins).
    pub async fn touch_conversation(
        &self,
        conversation: &ChannelId,
        page: &str,
        person: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store
            .touch_conversation(conversation, page, person, at)
            .await
    }

    /// When the person last wrote in a conversation, if known.
    pub async fn last_inbound(
        &self,
        conversation: &ChannelId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.store.last_inbound(conversation).await
    }
}
