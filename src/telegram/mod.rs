//! The Telegram channel and moderators' room (`ascolto run` with `[telegram] enabled = true`).
//! An adapter only, like [`discord`](crate::discord): it turns Bot API updates into tracker
//! calls and the tracker's answers into messages, and holds no business rule.
//!
//! One file per feature: `api` (the Bot API client and its errors), `types` (the Bot API
//! objects Ascolto reads, and typed ids), `ingest` (messages and edits → comments → tracker),
//! `poll` (long polling from the offset stored in the database, and the lease that lets one
//! process read updates at a time), `webhook` (the alternative: Telegram calls the bot's HTTP
//! server, updates stored before they are acknowledged), `room` (the moderators'
//! chat: alert text and buttons, clicks, edits by reply), `delivery` (every Telegram write,
//! delivered from the outbox) and `schedule` (the clock: alerts' target readings,
//! escalations, the daily digest). [`start`] checks the bot, starts the outbox worker and
//! polling; `main` and the integration tests share it.

pub mod api;
pub mod delivery;
pub mod ingest;
pub mod poll;
pub mod room;
pub mod schedule;
pub mod types;
pub mod webhook;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::app::App;
use crate::config::{ConfigError, RoomKind, Settings, TelegramMode, TelegramSettings};
use crate::escalation::EscalationPolicy;
use crate::outbox::{self, Destination, Room};
use crate::sla::Sla;
use crate::store::StoreError;
use crate::tracker::{Tracker, TrackerError};

pub use api::{TelegramApi, TelegramError};
use types::{ChatId, User, UserId};

/// Why the Telegram channel could not start, or one update could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum TelegramChannelError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Api(#[from] TelegramError),
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TelegramChannelError {
    /// The database failed: what was being handled should be handled again later.
    pub fn is_database(&self) -> bool {
        matches!(
            self,
            TelegramChannelError::Store(_) | TelegramChannelError::Tracker(TrackerError::Store(_))
        )
    }
}

impl From<sqlx::Error> for TelegramChannelError {
    fn from(error: sqlx::Error) -> Self {
        TelegramChannelError::Store(StoreError::Db(error))
    }
}

/// What everything in the Telegram channel shares. Cheap to clone.
#[derive(Clone)]
pub struct Telegram {
    pub api: TelegramApi,
    pub tracker: Arc<Tracker>,
    pub settings: Arc<Settings>,
    pub sla: Arc<Sla>,
    pub escalation: Arc<EscalationPolicy>,
    /// The bot itself, from `getMe` at start.
    pub bot: Arc<User>,
    admins: Arc<AdminCache>,
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telegram")
            .field("bot", &self.bot.id)
            .finish_non_exhaustive()
    }
}

impl Telegram {
    pub fn config(&self) -> &TelegramSettings {
        &self.settings.telegram
    }

    pub fn moderators_chat(&self) -> ChatId {
        ChatId(self.settings.telegram.moderators_chat)
    }

    /// Whether `user` administers `chat`, from a list asked of Telegram at most once per
    /// `admin_cache`. When Telegram cannot say, nobody counts as an administrator: a
    /// staff answer is then missed, which is safer than taking a member for staff.
    pub async fn is_admin(&self, chat: ChatId, user: UserId) -> bool {
        if let Some(known) = self.admins.get(chat) {
            return known.contains(&user);
        }
        match self.api.get_chat_administrators(chat).await {
            Ok(members) => {
                let ids: HashSet<UserId> = members
                    .into_iter()
                    .filter(|m| m.status.is_admin())
                    .map(|m| m.user.id)
                    .collect();
                let is = ids.contains(&user);
                self.admins.put(chat, ids, self.admin_ttl());
                is
            }
            Err(e) => {
                warn!(%chat, error = %e, "could not list the chat's administrators; nobody counts as one for now");
                false
            }
        }
    }

    fn admin_ttl(&self) -> Duration {
        self.config()
            .admin_cache
            .0
            .to_std()
            .unwrap_or(Duration::from_secs(600))
    }
}

/// Each group's administrators, remembered for a while: every message needs the answer, and
/// Telegram limits how often a bot may ask.
#[derive(Debug, Default)]
struct AdminCache {
    chats: Mutex<HashMap<ChatId, (Instant, HashSet<UserId>)>>,
}

impl AdminCache {
    fn get(&self, chat: ChatId) -> Option<HashSet<UserId>> {
        let chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        chats
            .get(&chat)
            .filter(|(until, _)| Instant::now() < *until)
            .map(|(_, ids)| ids.clone())
    }

    fn put(&self, chat: ChatId, ids: HashSet<UserId>, ttl: Duration) {
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        chats.insert(chat, (Instant::now() + ttl, ids));
    }
}

/// What operators are told when privacy mode hides group messages from the bot, or `None`.
pub fn privacy_notice(bot: &User) -> Option<String> {
    if bot.can_read_all_group_messages == Some(false) {
        let name = bot.username.as_deref().unwrap_or(&bot.first_name);
        Some(format!(
            "privacy mode is on for @{name}: in groups it only receives commands and replies to \
             its own messages, so it cannot read complaints. Turn it off in @BotFather \
             (/setprivacy → choose the bot → Disable), then remove the bot from each group and \
             add it again; or make the bot an administrator of the groups"
        ))
    } else {
        None
    }
}

/// A running Telegram channel.
pub struct TelegramHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), TelegramChannelError>>,
    schedule: JoinHandle<()>,
    outbox: outbox::Worker,
    telegram: Telegram,
    /// In webhook mode, what the HTTP endpoint needs.
    webhook: Option<Arc<webhook::WebhookState>>,
}

impl TelegramHandle {
    /// The shared state (bot, tracker, settings) the channel runs with.
    pub fn telegram(&self) -> &Telegram {
        &self.telegram
    }

    /// In webhook mode, the route the bot's HTTP server must serve (`telegram.webhook_path`).
    pub fn webhook_routes(&self) -> Option<axum::Router> {
        self.webhook
            .as_ref()
            .map(|state| webhook::routes(&self.telegram.config().webhook_path, state.clone()))
    }

    /// Whether privacy mode keeps group messages from the bot (see [`privacy_notice`]).
    pub fn privacy_mode(&self) -> bool {
        privacy_notice(&self.telegram.bot).is_some()
    }

    /// Resolves when polling stops on its own: a rejected token, or another process polling.
    pub async fn stopped(&mut self) -> Result<(), TelegramChannelError> {
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(TelegramError::Transient(format!("the polling task ended: {e}")).into()),
        }
    }

    /// Graceful stop: the batch being handled is finished and its offset stored; a long poll
    /// in progress is abandoned (its updates come again at the next start); a write in flight
    /// is finished and recorded, and what is still queued is delivered at the next start.
    pub async fn shutdown(self) -> Result<(), TelegramChannelError> {
        info!("stopping Telegram polling");
        let _ = self.stop.send(true);
        // Between checks it only waits for the next tick; a check in flight only queues.
        if tokio::time::timeout(Duration::from_secs(5), self.schedule)
            .await
            .is_err()
        {
            warn!("the Telegram clock did not stop within 5s; leaving it");
        }
        let polled = tokio::time::timeout(Duration::from_secs(15), self.task).await;
        if !self.outbox.shutdown(OUTBOX_DRAIN).await {
            warn!("a Telegram write was still in flight after {OUTBOX_DRAIN:?}; it is retried at the next start");
        }
        match polled {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => {
                Err(TelegramError::Transient(format!("the polling task ended: {e}")).into())
            }
            Err(_) => {
                warn!("Telegram polling did not stop within 15s; leaving it");
                Ok(())
            }
        }
    }
}

/// How long a stop waits for a Telegram write in flight.
const OUTBOX_DRAIN: Duration = Duration::from_secs(10);

/// Checks the settings and the token (`getMe`), warns about privacy mode, names the
/// moderators' chat a room (unless `[alerts] rooms` leaves it out), starts the outbox worker
/// that makes every Telegram write, queues the alerts a failure left unposted, and starts
/// polling and the clock.
///
/// Replies left mid-send by a crash are not given back here: with Discord running in the same
/// process that would race its clicks, so `main` does it once, before any channel starts.
/// The token is only handed to the client; it is never logged.
pub async fn start(app: App, token: SecretString) -> Result<TelegramHandle, TelegramChannelError> {
    start_with(app, token, None).await
}

/// As [`start`]; in webhook mode (`telegram.mode = "webhook"`) with the webhook's secret
/// (`TELEGRAM_WEBHOOK_SECRET`): `setWebhook` is called with it and the stored updates are
/// handled instead of polling, and [`TelegramHandle::webhook_routes`] is what the HTTP server
/// must serve.
pub async fn start_with(
    app: App,
    token: SecretString,
    webhook_secret: Option<SecretString>,
) -> Result<TelegramHandle, TelegramChannelError> {
    app.settings.validate_for_telegram()?;
    let webhook_secret = match app.settings.telegram.mode {
        TelegramMode::Polling => None,
        TelegramMode::Webhook => {
            Some(webhook_secret.ok_or(ConfigError::MissingTelegramWebhookSecret)?)
        }
    };
    let api = TelegramApi::new(&app.settings.telegram.api_base, token)?;
    let bot = api.get_me().await?;
    info!(bot = %bot.id, username = ?bot.username, "Telegram accepted the token");
    if let Some(notice) = privacy_notice(&bot) {
        warn!("{notice}");
    }
    let telegram = Telegram {
        api,
        tracker: app.tracker,
        settings: Arc::new(app.settings),
        sla: app.sla,
        escalation: app.escalation,
        bot: Arc::new(bot),
        admins: Arc::new(AdminCache::default()),
    };
    if telegram.settings.is_room(RoomKind::Telegram) {
        telegram.tracker.add_room(Room {
            destination: Destination::Telegram,
            channel: telegram.moderators_chat().to_string(),
        });
    }
    // The worker first: writes the last run left pending go out while polling catches up.
    let outbox = outbox::Worker::spawn(
        telegram.tracker.clone(),
        Arc::new(delivery::TelegramDelivery::new(telegram.clone())),
        telegram.settings.outbox.policy(),
    );
    // Alerts a failure left unposted (given up, or from before a room was added).
    let queued = telegram.tracker.queue_missing_alerts().await?;
    if queued > 0 {
        info!(queued, "alerts left over from the last run queued");
    }
    let (stop, stopping) = watch::channel(false);
    let (task, webhook) = match webhook_secret {
        None => (
            tokio::spawn(poll::run(telegram.clone(), stopping.clone())),
            None,
        ),
        Some(secret) => {
            let url = &telegram.config().webhook_url;
            if let Err(e) = telegram.api.set_webhook(url, &secret).await {
                outbox.shutdown(OUTBOX_DRAIN).await;
                return Err(e.into());
            }
            info!(%url, "Telegram delivers updates to the webhook");
            let wake = Arc::new(tokio::sync::Notify::new());
            let state = Arc::new(webhook::WebhookState {
                secret,
                tracker: telegram.tracker.clone(),
                wake: wake.clone(),
            });
            let task = tokio::spawn(webhook::process(telegram.clone(), wake, stopping.clone()));
            (task, Some(state))
        }
    };
    let schedule = schedule::spawn(telegram.clone(), stopping);
    Ok(TelegramHandle {
        stop,
        task,
        schedule,
        outbox,
        telegram,
        webhook,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privacy_mode_is_explained_with_the_way_out() {
        let mut bot: User = serde_json::from_value(serde_json::json!({
            "id": 1, "is_bot": true, "first_name": "Ascolto", "username": "ascolto_bot",
            "can_read_all_group_messages": false
        }))
        .unwrap();
        let notice = privacy_notice(&bot).unwrap();
        assert!(notice.contains("/setprivacy"), "{notice}");
        assert!(notice.contains("administrator"), "{notice}");
        bot.can_read_all_group_messages = Some(true);
        assert_eq!(privacy_notice(&bot), None);
    }
}
