//! The three names every part of the bot shares: [`Data`] (the state handed to every event
//! handler and command), [`DiscordError`] and the poise [`Context`] alias.
//!
//! `Data` is cheap to clone (everything behind `Arc`s) because serenity runs each event in its
//! own task and poise wants its own copy for commands.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use poise::serenity_prelude as serenity;
use tokio::sync::{OwnedRwLockReadGuard, RwLock};

use crate::app::App;
use crate::config::{ConfigError, DiscordSettings, Settings};
use crate::escalation::EscalationPolicy;
use crate::sla::Sla;
use crate::store::StoreError;
use crate::tracker::{Tracker, TrackerError};

use super::shards::{ShardRange, ShardStatus};

/// Why the bot could not start, or why one Discord action failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Boxed: serenity's error is large and most results here are small.
    #[error("Discord request failed: {0}")]
    Discord(#[source] Box<serenity::Error>),
    #[error("Discord rejected the bot token ({0}); copy a fresh one from the Developer Portal (Bot → Reset Token) into DISCORD_TOKEN")]
    Token(String),
    #[error("cannot reach the Discord API at {base}: {message} (check discord.api_base and the network)")]
    Unreachable { base: String, message: String },
    #[error("Discord closed the gateway: {0}")]
    Gateway(String),
    #[error("`{value}` is not a Discord id (a comment from another source cannot be answered on Discord)")]
    NotASnowflake { value: String },
}

impl From<serenity::Error> for DiscordError {
    fn from(error: serenity::Error) -> Self {
        DiscordError::Discord(Box::new(error))
    }
}

/// The poise context every command receives.
pub type Context<'a> = poise::Context<'a, Data, DiscordError>;

/// State shared by every handler and command.
#[derive(Clone)]
pub struct Data {
    pub tracker: Arc<Tracker>,
    pub settings: Arc<Settings>,
    /// Response-time targets and the escalation policy, built once by [`App`].
    pub sla: Arc<Sla>,
    pub escalation: Arc<EscalationPolicy>,
    /// The gateway shards this process runs, and which are connected.
    pub shards: Arc<ShardStatus>,
    bot_id: Arc<OnceLock<serenity::UserId>>,
    /// Handlers hold a read guard while they work; shutdown takes the write guard, so it waits
    /// for in-flight work (a reply being posted, an alert being written) to finish.
    work: Arc<RwLock<()>>,
    stopping: Arc<AtomicBool>,
    /// Messages, edits and deletions from the gateway, handled one at a time in arrival order
    /// (see `ingest::spawn_queue`); set once the bot starts.
    incoming: Arc<OnceLock<tokio::sync::mpsc::UnboundedSender<super::ingest::Incoming>>>,
    /// The messages the gateway gave whose handlers have not reached the queue yet.
    pub(crate) announced: Arc<super::order::Announced>,
}

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Data")
            .field("bot_id", &self.bot_id.get())
            .finish_non_exhaustive()
    }
}

impl Data {
    pub fn new(app: App, shards: ShardRange) -> Data {
        Data {
            tracker: app.tracker,
            sla: app.sla,
            escalation: app.escalation,
            shards: Arc::new(ShardStatus::new(shards)),
            settings: Arc::new(app.settings),
            bot_id: Arc::new(OnceLock::new()),
            work: Arc::new(RwLock::new(())),
            stopping: Arc::new(AtomicBool::new(false)),
            incoming: Arc::new(OnceLock::new()),
            announced: Arc::new(super::order::Announced::default()),
        }
    }

    pub fn discord(&self) -> &DiscordSettings {
        &self.settings.discord
    }

    /// The bot's own user id, known from READY on.
    pub fn bot_id(&self) -> Option<serenity::UserId> {
        self.bot_id.get().copied()
    }

    pub(crate) fn set_bot_id(&self, id: serenity::UserId) {
        let _ = self.bot_id.set(id);
    }

    /// A guard to hold while handling one event; `None` once shutdown has begun (the event is
    /// then left alone: messages come back through backfill at the next start).
    pub(crate) async fn begin_work(&self) -> Option<OwnedRwLockReadGuard<()>> {
        if self.stopping.load(Ordering::SeqCst) {
            return None;
        }
        Some(self.work.clone().read_owned().await)
    }

    pub(crate) fn set_incoming(
        &self,
        sender: tokio::sync::mpsc::UnboundedSender<super::ingest::Incoming>,
    ) {
        let _ = self.incoming.set(sender);
    }

    /// Hands a gateway event to the ingest queue; gives it back if there is no queue.
    pub(crate) fn queue_incoming(
        &self,
        event: super::ingest::Incoming,
    ) -> Result<(), super::ingest::Incoming> {
        match self.incoming.get() {
            Some(sender) => {
                sender.send(event).map_err(|e| e.0)?;
                self.announced.handed_over(std::time::Instant::now());
                Ok(())
            }
            None => Err(event),
        }
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Stops new work and waits (up to `limit`) for the work in flight.
    pub(crate) async fn drain(&self, limit: std::time::Duration) -> bool {
        self.stopping.store(true, Ordering::SeqCst);
        tokio::time::timeout(limit, self.work.write()).await.is_ok()
    }
}
