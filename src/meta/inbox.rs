//! The durable inbox of webhook deliveries (`webhook_events`) and the direct-message windows
//! (`meta_conversations`), in the same SQLite database as the store.
//!
//! A delivery is written here before Meta gets its 200, and processed from here afterwards:
//! a crash in between loses nothing, since rows left unprocessed are processed at the next
//! start. Rows are keyed by the SHA-256 of the raw body, so a retried delivery is one row.
//!
//! The inbox keeps its own small connection pool: the tracker's store owns its pool and the
//! schema (its migrations create these tables too, at start, before the inbox opens).

use std::str::FromStr;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};

use crate::comment::ChannelId;

/// A stored delivery waiting to be processed.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// SHA-256 of the raw body, hex.
    pub id: String,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// The inbox.
#[derive(Debug, Clone)]
pub struct Inbox {
    pool: SqlitePool,
}

impl Inbox {
    /// Opens the database the store already prepared at `url`.
    pub async fn connect(url: &str) -> Result<Inbox, sqlx::Error> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)?
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { 2 })
            .connect_with(options)
            .await?;
        if memory {
            // A private in-memory database has no schema yet: give it the store's.
            sqlx::migrate!("./migrations")
                .run(&pool)
                .await
                .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        }
        Ok(Inbox { pool })
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
    ) -> Result<bool, sqlx::Error> {
        let inserted = sqlx::query(
            "INSERT INTO webhook_events (id, channel, body, received_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(Self::key(body))
        .bind(channel)
        .bind(body)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        Ok(inserted)
    }

    /// Unprocessed deliveries of `channel`, oldest first.
    pub async fn pending(&self, channel: &str, limit: u32) -> Result<Vec<Delivery>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, body, received_at FROM webhook_events
             WHERE channel = ? AND processed_at IS NULL
             ORDER BY received_at, rowid LIMIT ?",
        )
        .bind(channel)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Delivery {
                    id: row.try_get("id")?,
                    body: row.try_get("body")?,
                    received_at: row.try_get("received_at")?,
                })
            })
            .collect()
    }

    /// Marks a delivery processed, with why it could not be read if so.
    pub async fn mark_processed(
        &self,
        id: &str,
        now: DateTime<Utc>,
        problem: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE webhook_events SET processed_at = ?, problem = ? WHERE id = ?")
            .bind(now)
            .bind(problem)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many deliveries of `channel` are stored, processed or not (tests, diagnostics).
    pub async fn count(&self, channel: &str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events WHERE channel = ?")
            .bind(channel)
            .fetch_one(&self.pool)
            .await
    }

    /// Forgets processed deliveries received before `before`. Meta retries for at most a day
    /// or so, so older keys no longer catch duplicates; the bodies are kept a while for audits.
    pub async fn prune(&self, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM webhook_events WHERE processed_at IS NOT NULL AND received_at < ?",
        )
        .bind(before)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Records a person's message in a conversation (the latest one wins).
    pub async fn touch_conversation(
        &self,
        conversation: &ChannelId,
        page: &str,
        person: &str,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO meta_conversations (conversation, page_id, person_id, last_inbound_at)
             VALUES (?, ?, ?, ?)
             ON CONFLICT (conversation) DO UPDATE SET last_inbound_at = excluded.last_inbound_at
             WHERE excluded.last_inbound_at > meta_conversations.last_inbound_at",
        )
        .bind(conversation.as_str())
        .bind(page)
        .bind(person)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// When the person last wrote in a conversation, if known.
    pub async fn last_inbound(
        &self,
        conversation: &ChannelId,
    ) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        sqlx::query_scalar("SELECT last_inbound_at FROM meta_conversations WHERE conversation = ?")
            .bind(conversation.as_str())
            .fetch_optional(&self.pool)
            .await
    }
}
