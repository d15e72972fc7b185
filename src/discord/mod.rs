//! The live Discord bot (`ascolto run`): serenity for the gateway and REST, poise for the
//! slash commands. An adapter only: it translates Discord events into tracker calls and the
//! tracker's answers into messages, and holds no business rule.
//!
//! One file per feature: `ingest` (messages, edits, deletions), `alerts` (the moderators'
//! alert messages), `delivery` (posting what the outbox holds: alerts, their updates,
//! replies, escalations, digests, notices), `buttons` (clicks and the Edit modal), `commands` (slash commands),
//! `backfill` (catching up after downtime), `checks` (who is a moderator), `schedule` (target
//! warnings, escalations and the daily digest as time passes), `markdown` (what is Discord's
//! about writing: the message limit, escaping member text, links), `shards` (which gateway
//! shards this process runs and which guilds they bring), and `types` (the shared `Data`, the
//! error type, the poise context). [`start`] builds and connects the bot;
//! `main` and the integration tests share it, so tests run exactly what production runs.

pub mod alerts;
pub mod backfill;
pub mod buttons;
pub mod checks;
pub mod commands;
pub mod delivery;
pub mod ingest;
pub mod markdown;
pub mod order;
pub mod schedule;
pub mod shards;
pub mod types;

use std::sync::Arc;
use std::time::Duration;

use poise::serenity_prelude as serenity;
use secrecy::{ExposeSecret, SecretString};
use serenity::{
    ClientBuilder, EventHandler, GatewayIntents, GuildId, Http, HttpBuilder, Interaction, Message,
    MessageId, MessageUpdateEvent, Ready, ResumedEvent, ShardManager,
};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::app::App;
use crate::config::RoomKind;
use crate::metrics::Channel;
use crate::outbox::{self, Destination, Room};

use shards::{ShardPlan, ShardRange};

pub use types::{Context, Data, DiscordError};

/// How long shutdown waits for work in flight (a reply being posted) before giving up.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// What the bot receives: guild and DM messages with their text, and guild structure (to
/// know channel names, threads and the bot's permissions). Message Content is a privileged
/// intent that must be enabled in the Developer Portal.
pub fn intents() -> GatewayIntents {
    GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::DIRECT_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
}

/// The REST client: discord.com, or the configured proxy base URL. With a proxy serenity's own
/// rate limiter must be off: it would send requests without the proxy (and proxies that limit
/// on their own expect it off anyway).
fn http_client(token: &SecretString, api_base: &str) -> Http {
    let builder = HttpBuilder::new(token.expose_secret());
    let base = api_base.trim_end_matches('/');
    if base.is_empty() {
        builder.build()
    } else {
        builder.proxy(base).ratelimiter_disabled(true).build()
    }
}

/// Checks, before connecting, that the API answers and accepts the token, so a wrong base URL
/// or token is a clear error instead of a silent fallback or a reconnect loop.
async fn preflight(http: &Http, api_base: &str) -> Result<(), DiscordError> {
    let base = if api_base.is_empty() {
        "https://discord.com".to_owned()
    } else {
        api_base.to_owned()
    };
    let unreachable = |e: serenity::Error| DiscordError::Unreachable {
        base: base.clone(),
        message: e.to_string(),
    };
    match http.get_current_application_info().await {
        Ok(app) => info!(application = %app.id, name = %app.name, "Discord accepted the token"),
        Err(serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(r)))
            if r.status_code.as_u16() == 401 =>
        {
            return Err(DiscordError::Token(r.error.message));
        }
        Err(e) => return Err(unreachable(e)),
    }
    // Serenity asks for the gateway URL too, but silently falls back to discord.com when that
    // fails: behind a proxy that would bypass it, so a failure stops the start here.
    if !api_base.is_empty() {
        let gateway = http.get_gateway().await.map_err(unreachable)?;
        info!(url = %gateway.url, "gateway URL from the proxy");
    }
    Ok(())
}

/// The shards to run: as configured, or every one Discord recommends for this bot.
async fn resolve_shards(http: &Http, plan: ShardPlan) -> Result<ShardRange, DiscordError> {
    match plan {
        ShardPlan::Range(range) => Ok(range),
        ShardPlan::Recommended => {
            let gateway = http.get_bot_gateway().await?;
            Ok(ShardRange::all(gateway.shards))
        }
    }
}

/// A running bot.
pub struct BotHandle {
    shard_manager: Arc<ShardManager>,
    client: JoinHandle<Result<(), serenity::Error>>,
    schedule: JoinHandle<()>,
    ingest: JoinHandle<()>,
    outbox: outbox::Worker,
    data: Data,
    /// The REST client the bot uses (tests read ids through it).
    pub http: Arc<Http>,
}

impl BotHandle {
    /// The shared state (tracker, settings) the bot runs with.
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// Resolves when the client stops on its own: a fatal gateway error such as a revoked
    /// token or a privileged intent that is not enabled.
    pub async fn stopped(&mut self) -> Result<(), DiscordError> {
        match (&mut self.client).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(explain_gateway(e)),
            Err(e) => Err(DiscordError::Gateway(format!("the client task ended: {e}"))),
        }
    }

    /// Graceful stop: disconnects the gateway, then waits for work in flight to finish.
    pub async fn shutdown(self) -> Result<(), DiscordError> {
        info!("shutting down");
        self.shard_manager.shutdown_all().await;
        if !self.data.drain(DRAIN_LIMIT).await {
            warn!("work still in flight after {DRAIN_LIMIT:?}; stopping anyway");
        }
        // Between checks it only waits for the next tick; a check in flight was drained above.
        self.schedule.abort();
        // Events still queued are left alone: backfill reads those messages at the next start.
        self.ingest.abort();
        // A write in flight (a reply being posted) is finished and recorded; what is still
        // pending stays in the outbox for the next start.
        if !self.outbox.shutdown(DRAIN_LIMIT).await {
            warn!("a platform write still in flight after {DRAIN_LIMIT:?}; it is checked for before being retried at the next start");
        }
        let mut client = self.client;
        match tokio::time::timeout(Duration::from_secs(5), &mut client).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(explain_gateway(e)),
            Ok(Err(e)) => Err(DiscordError::Gateway(format!("the client task ended: {e}"))),
            Err(_) => {
                // The shard never got going (stopped right after start): nothing to wait for.
                client.abort();
                Ok(())
            }
        }
    }
}

/// Turns the gateway's fatal errors into what the operator has to do.
fn explain_gateway(error: serenity::Error) -> DiscordError {
    use serenity::GatewayError as G;
    match error {
        serenity::Error::Gateway(G::InvalidAuthentication) => {
            DiscordError::Token("the gateway refused it".to_owned())
        }
        serenity::Error::Gateway(G::DisallowedGatewayIntents) => DiscordError::Gateway(
            "the Message Content intent is not enabled: Developer Portal → your application → Bot → Privileged Gateway Intents → Message Content Intent".to_owned(),
        ),
        serenity::Error::Gateway(G::InvalidGatewayIntents) => {
            DiscordError::Gateway("Discord refused the requested intents".to_owned())
        }
        other => other.into(),
    }
}

/// Builds the client, catches up on what the last run left, and connects.
///
/// `app.settings.discord.api_base` sends REST (and the gateway URL lookup) to a proxy or, in
/// tests, to a fake Discord. The token is only handed to serenity; it is never logged.
pub async fn start(app: App, token: SecretString) -> Result<BotHandle, DiscordError> {
    app.settings.validate_for_discord()?;
    let api_base = app
        .settings
        .discord
        .api_base
        .trim_end_matches('/')
        .to_owned();
    let http = http_client(&token, &api_base);
    preflight(&http, &api_base).await?;
    let shards = resolve_shards(&http, ShardPlan::of(&app.settings.discord)).await?;
    if shards.is_all() {
        info!(shards = %shards, "this process runs every gateway shard");
    } else {
        info!(
            shards = %shards,
            direct_messages = shards.serves_direct_messages(),
            "this process runs some of the gateway shards: only their guilds' events reach it"
        );
    }

    let data = Data::new(app, shards);
    // `/readyz`: not ready until every shard's gateway session is up.
    data.tracker
        .metrics()
        .channel_connected(Channel::Discord, false);
    if data.settings.is_room(RoomKind::Discord) {
        data.tracker.add_room(Room {
            destination: Destination::Discord,
            channel: data.discord().alert_channel.to_string(),
        });
    }
    // The worker first: writes the last run left pending go out while the bot catches up.
    let outbox = outbox::Worker::spawn(
        data.tracker.clone(),
        std::sync::Arc::new(delivery::DiscordDelivery::new(data.clone(), token.clone())),
        data.settings.outbox.policy(),
    );
    if let Err(e) = backfill::before_connecting(&data).await {
        outbox.shutdown(DRAIN_LIMIT).await;
        return Err(e);
    }

    // `new_with_http` keeps the proxy; `ClientBuilder::token` would replace the Http and drop it.
    let client = ClientBuilder::new_with_http(http, intents())
        .framework(commands::framework(data.clone()))
        .event_handler(Handler { data: data.clone() })
        .await;
    let mut client = match client {
        Ok(client) => client,
        Err(e) => {
            outbox.shutdown(DRAIN_LIMIT).await;
            return Err(e.into());
        }
    };
    let ingest = ingest::spawn_queue(data.clone());
    let shard_manager = client.shard_manager.clone();
    let http = client.http.clone();
    // Serenity reads the end of this range as inclusive: `4..7` runs shards 4, 5, 6 and 7.
    let task = tokio::spawn(async move {
        client
            .start_shard_range(shards.first()..shards.last(), shards.count())
            .await
    });
    // Its first check runs at once: a digest missed while the bot was down goes out now.
    let schedule = schedule::spawn(data.clone());
    Ok(BotHandle {
        shard_manager,
        client: task,
        schedule,
        ingest,
        outbox,
        data,
        http,
    })
}

/// Routes gateway events to the feature that handles them. Serenity runs each event in its
/// own task, so handlers must not assume an order between events; messages, edits and
/// deletions are put back in order by the ingest queue (`ingest::spawn_queue`).
struct Handler {
    data: Data,
}

impl Handler {
    /// One shard's connection changed: Discord counts as connected (`/readyz`) only while
    /// every shard of this process is.
    fn shard_connected(&self, shard: u32, up: bool) {
        let all = self.data.shards.set(shard, up);
        self.data
            .tracker
            .metrics()
            .channel_connected(Channel::Discord, all);
    }
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: serenity::Context, ready: Ready) {
        self.data.set_bot_id(ready.user.id);
        // From here on, the ingest queue knows the order the gateway gives messages in.
        self.data.announced.listen(&ctx.shard);
        self.shard_connected(ctx.shard_id.0, true);
        info!(user = %ready.user.name, shard = ctx.shard_id.0, guilds = ready.guilds.len(), "connected to Discord");
        // Each shard has its own READY; direct messages come on shard 0 only, so they are
        // caught up once, by the process running it.
        if ctx.shard_id.0 == 0 {
            backfill::direct_messages(&ctx, &self.data).await;
        }
    }

    async fn resume(&self, ctx: serenity::Context, _event: ResumedEvent) {
        info!(shard = ctx.shard_id.0, "gateway session resumed");
        self.shard_connected(ctx.shard_id.0, true);
    }

    async fn shard_stage_update(
        &self,
        _ctx: serenity::Context,
        event: serenity::ShardStageUpdateEvent,
    ) {
        // Connected from the handshake's end to the next drop; `ready` and `resume` say so
        // too, and are what a session's start is known by.
        let up = matches!(event.new, serenity::ConnectionStage::Connected);
        self.shard_connected(event.shard_id.0, up);
    }

    async fn guild_create(
        &self,
        ctx: serenity::Context,
        guild: serenity::Guild,
        _is_new: Option<bool>,
    ) {
        backfill::guild(&ctx, &self.data, &guild).await;
    }

    async fn message(&self, ctx: serenity::Context, msg: Message) {
        ingest::dispatch(&self.data, ingest::Incoming::Message(ctx, Box::new(msg))).await;
    }

    async fn message_update(
        &self,
        ctx: serenity::Context,
        _old: Option<Message>,
        _new: Option<Message>,
        event: MessageUpdateEvent,
    ) {
        ingest::dispatch(&self.data, ingest::Incoming::Edit(ctx, Box::new(event))).await;
    }

    async fn message_delete(
        &self,
        _ctx: serenity::Context,
        _channel: serenity::ChannelId,
        message: MessageId,
        _guild: Option<GuildId>,
    ) {
        ingest::dispatch(&self.data, ingest::Incoming::Delete(message)).await;
    }

    async fn message_delete_bulk(
        &self,
        _ctx: serenity::Context,
        _channel: serenity::ChannelId,
        messages: Vec<MessageId>,
        _guild: Option<GuildId>,
    ) {
        for message in messages {
            ingest::dispatch(&self.data, ingest::Incoming::Delete(message)).await;
        }
    }

    async fn interaction_create(&self, ctx: serenity::Context, interaction: Interaction) {
        buttons::on_interaction(&ctx, &self.data, &interaction).await;
    }
}
