//! The fake's mutable state: stored messages, interactions, registered commands, the gateway
//! session with its dispatch log, and everything recorded for assertions.
//!
//! All of it sits behind one mutex in [`Inner`], so REST handlers, gateway connections and test
//! calls see a consistent world and dispatches keep a single order. Nothing here awaits while
//! holding the lock; sending a frame is a push onto an unbounded channel.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};
use tokio::task::AbortHandle;

use super::fake_discord::{RecordedRequest, ResumeRecord, SchemaViolation};
use super::objects::{self, id};
use super::world::{shard_of, World};

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds; snowflakes count from it.
const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

/// Gateway intent bits the fake honours.
pub mod intents {
    pub const GUILD_MESSAGES: u64 = 1 << 9;
    pub const DIRECT_MESSAGES: u64 = 1 << 12;
    pub const MESSAGE_CONTENT: u64 = 1 << 15;
}

/// Message flags the fake uses.
pub mod message_flags {
    pub const EPHEMERAL: u64 = 1 << 6;
    pub const LOADING: u64 = 1 << 7;
}

/// Shared between the test's [`FakeDiscord`](super::FakeDiscord) handle, the REST server and the
/// gateway connections.
pub struct Inner {
    pub state: Mutex<State>,
    /// Woken on every change (request recorded, dispatch sent, connection state); waiters
    /// re-check their condition, so tests never sleep for a fixed time.
    pub changed: Notify,
    pub api_base: String,
}

impl Inner {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the state from the rest of the test.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the state, then wakes the waiters.
    pub fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let result = f(&mut self.lock());
        self.changed.notify_waiters();
        result
    }

    /// Waits until `check` returns `Some`, re-checking after each change. After `timeout` it
    /// gives up with an error naming `what` and listing recent activity.
    pub async fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&State) -> Option<T>,
    ) -> Result<T, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Register interest before checking, so a change between check and await is not lost.
            notified.as_mut().enable();
            if let Some(found) = check(&self.lock()) {
                return Ok(found);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {what}\n{}",
                    self.lock().describe_recent()
                ));
            }
        }
    }
}

/// A message as the fake stores it. Rendered to Discord's JSON by [`State::message_json`].
#[derive(Clone, Debug)]
pub struct StoredMessage {
    pub id: u64,
    pub channel_id: u64,
    pub author_id: u64,
    pub content: String,
    pub embeds: Vec<Value>,
    pub components: Vec<Value>,
    pub attachments: Vec<Value>,
    pub edited_timestamp: Option<DateTime<Utc>>,
    /// Message type: 0 default, 19 reply, 20 slash command response.
    pub kind: u8,
    pub flags: u64,
    pub tts: bool,
    pub mentions: Vec<u64>,
    pub mention_roles: Vec<u64>,
    pub mention_everyone: bool,
    pub reply_to: Option<u64>,
    pub interaction_metadata: Option<Value>,
    /// Set for interaction responses (Discord sends them through the app's webhook).
    pub application_id: Option<u64>,
    pub nonce: Option<Value>,
}

impl StoredMessage {
    pub fn new(id: u64, channel_id: u64, author_id: u64, content: &str) -> Self {
        StoredMessage {
            id,
            channel_id,
            author_id,
            content: content.to_owned(),
            embeds: Vec::new(),
            components: Vec::new(),
            attachments: Vec::new(),
            edited_timestamp: None,
            kind: 0,
            flags: 0,
            tts: false,
            mentions: Vec::new(),
            mention_roles: Vec::new(),
            mention_everyone: false,
            reply_to: None,
            interaction_metadata: None,
            application_id: None,
            nonce: None,
        }
    }

    pub fn timestamp(&self) -> DateTime<Utc> {
        snowflake_time(self.id)
    }

    pub fn is_ephemeral(&self) -> bool {
        self.flags & message_flags::EPHEMERAL != 0
    }
}

/// The creation time encoded in a snowflake.
pub fn snowflake_time(id: u64) -> DateTime<Utc> {
    let ms = (id >> 22) as i64 + DISCORD_EPOCH_MS;
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(Utc::now)
}

/// Hands out snowflakes that encode their creation time and only ever grow, like Discord's.
#[derive(Default)]
pub struct Snowflakes {
    last: u64,
    counter: u64,
}

impl Snowflakes {
    pub fn next(&mut self) -> u64 {
        self.at(Utc::now())
    }

    /// A snowflake for a given time (for seeded history). Keeps `next()` above it.
    pub fn at(&mut self, at: DateTime<Utc>) -> u64 {
        let ms = (at.timestamp_millis() - DISCORD_EPOCH_MS).max(0) as u64;
        self.counter = (self.counter + 1) & 0x3F_FFFF;
        let mut id = (ms << 22) | self.counter;
        if at >= Utc::now() - chrono::Duration::seconds(1) && id <= self.last {
            id = self.last + 1; // "now" ids must be strictly increasing
        }
        self.last = self.last.max(id);
        id
    }
}

/// What the fake remembers about an interaction it sent.
#[derive(Clone, Debug)]
pub struct InteractionRecord {
    pub id: u64,
    pub token: String,
    /// 2 application command, 3 component, 5 modal submit.
    pub kind: u8,
    pub channel_id: u64,
    pub user_id: u64,
    /// The message a component (or a modal opened from one) belongs to.
    pub message: Option<(u64, u64)>,
    pub acknowledged: bool,
    /// The original response message (`@original`), once there is one.
    pub original: Option<(u64, u64)>,
    /// Modal the bot answered with (callback type 9).
    pub modal: Option<Value>,
    /// `interaction_metadata` for messages created in response.
    pub metadata: Value,
}

/// A command registered through `PUT /applications/{app}/(guilds/{guild}/)commands`.
#[derive(Clone, Debug)]
pub struct RegisteredCommand {
    pub id: u64,
    pub guild_id: Option<u64>,
    /// The command as Discord answers it (ids filled in).
    pub json: Value,
}

/// Commands sent to a live gateway connection's task.
#[derive(Debug)]
pub enum ConnCmd {
    Frame(String),
    /// Send a close frame with this code, then hang up.
    Close(u16, String),
    /// Hang up without a close frame (an abrupt network drop).
    Drop,
}

pub struct LiveConnection {
    pub id: u64,
    pub tx: mpsc::UnboundedSender<ConnCmd>,
}

pub struct LoggedDispatch {
    pub seq: u64,
    pub name: String,
    pub frame: String,
}

pub struct Session {
    pub id: String,
    pub seq: u64,
    pub intents: u64,
    /// Every dispatch of the session, for replay on RESUME.
    pub log: Vec<LoggedDispatch>,
}

/// One shard's gateway session, as the fake keeps it for the connection that identified with
/// that shard id.
#[derive(Default)]
pub struct ShardGateway {
    pub session: Option<Session>,
    /// The connection this shard's dispatches go to. `None` while it is disconnected:
    /// dispatches are then only logged, and a RESUME replays them.
    pub live: Option<LiveConnection>,
    /// Dispatches for this shard pushed before its first IDENTIFY, delivered right after its
    /// GUILD_CREATEs.
    pub backlog: Vec<(String, Value)>,
}

#[derive(Default)]
pub struct GatewayState {
    /// Per shard id; a shard appears when its first dispatch or IDENTIFY does.
    pub shards: BTreeMap<u32, ShardGateway>,
    pub identify_count: usize,
    pub resumes: Vec<ResumeRecord>,
    pub heartbeats: usize,
    /// While set, IDENTIFY/RESUME on new connections wait (see `disconnect_gateway`).
    pub held: bool,
    /// Shards whose IDENTIFY waits (see `hold_shard`).
    pub held_shards: std::collections::BTreeSet<u32>,
    pub next_connection: u64,
    /// Other opcodes the bot sent (presence updates, member requests), for inspection.
    pub other_ops: Vec<Value>,
}

impl GatewayState {
    pub fn shard(&mut self, shard: u32) -> &mut ShardGateway {
        self.shards.entry(shard).or_default()
    }

    /// Whether `shard` has a session with a live connection.
    pub fn is_connected(&self, shard: u32) -> bool {
        self.shards
            .get(&shard)
            .is_some_and(|s| s.session.is_some() && s.live.is_some())
    }
}

pub struct State {
    pub world: World,
    pub snowflakes: Snowflakes,
    /// Messages per channel (guild channels, threads and DMs), ordered by id.
    pub messages: HashMap<u64, BTreeMap<u64, StoredMessage>>,
    /// Ephemeral interaction responses: visible to one user, never in channel history.
    pub ephemeral: HashMap<u64, StoredMessage>,
    /// DM channel per user.
    pub dms: HashMap<u64, u64>,
    pub interactions: HashMap<u64, InteractionRecord>,
    pub commands: Vec<RegisteredCommand>,
    pub requests: Vec<RecordedRequest>,
    pub violations: Vec<SchemaViolation>,
    pub unknown_routes: Vec<String>,
    /// Requests the fake refused the way Discord would (400/401/403), with the reason.
    pub rejections: Vec<String>,
    /// Payloads the fake produced that serenity or the spec would not accept: bugs in the fake.
    pub fake_defects: Vec<String>,
    pub gateway: GatewayState,
    pub connection_tasks: Vec<AbortHandle>,
    pub gateway_url: String,
    /// Failures a test asked for, answered instead of (or after) the next matching requests.
    pub failures: Vec<InjectedFailure>,
    /// When each message the bot created was stored (for latency measurements).
    pub bot_posts: Vec<BotPost>,
}

/// One message the bot created, as a latency probe sees it.
#[derive(Clone, Debug)]
pub struct BotPost {
    pub channel_id: u64,
    pub at: std::time::Instant,
    /// The first embed's footer (an alert's `comment <id>`), or the content.
    pub label: String,
}

/// A failure the fake answers a request with, as Discord would (see
/// `FakeDiscord::fail_next`).
#[derive(Clone, Debug)]
pub struct InjectedFailure {
    pub method: String,
    /// The request's path (below `/api/v10`) starts with this.
    pub path_prefix: String,
    /// 429, 500, 403 (Missing Permissions, 50013), 404 (Unknown Message, 10008)...
    pub status: u16,
    /// For a 429: seconds, in the body's `retry_after` and the rate-limit headers.
    pub retry_after: Option<f64>,
    /// Carry the request out, then answer with the failure: the answer was lost on the way.
    pub after_applying: bool,
}

impl State {
    pub fn new(world: World, gateway_url: String) -> Self {
        State {
            world,
            snowflakes: Snowflakes::default(),
            messages: HashMap::new(),
            ephemeral: HashMap::new(),
            dms: HashMap::new(),
            interactions: HashMap::new(),
            commands: Vec::new(),
            requests: Vec::new(),
            violations: Vec::new(),
            unknown_routes: Vec::new(),
            rejections: Vec::new(),
            fake_defects: Vec::new(),
            gateway: GatewayState::default(),
            connection_tasks: Vec::new(),
            gateway_url,
            failures: Vec::new(),
            bot_posts: Vec::new(),
        }
    }

    // ----- channels and users ---------------------------------------------------------------

    /// The guild a channel belongs to; `None` for DM channels.
    pub fn guild_of(&self, channel_id: u64) -> Option<u64> {
        self.world.channel(channel_id).map(|c| c.guild_id)
    }

    pub fn channel_exists(&self, channel_id: u64) -> bool {
        self.world.channel(channel_id).is_some() || self.dm_recipient(channel_id).is_some()
    }

    pub fn dm_recipient(&self, channel_id: u64) -> Option<u64> {
        self.dms
            .iter()
            .find(|(_, c)| **c == channel_id)
            .map(|(u, _)| *u)
    }

    /// The DM channel with `user_id`, created on first use (as `POST /users/@me/channels` does).
    pub fn dm_channel(&mut self, user_id: u64) -> u64 {
        if let Some(channel) = self.dms.get(&user_id) {
            return *channel;
        }
        let channel = self.snowflakes.next();
        self.dms.insert(user_id, channel);
        channel
    }

    pub fn dm_channel_json(&self, channel_id: u64) -> Option<Value> {
        let user = self.dm_recipient(channel_id)?;
        let spec = self.world.member(user)?;
        let last = self.last_message_id(channel_id);
        Some(objects::dm_channel(channel_id, last, spec))
    }

    pub fn last_message_id(&self, channel_id: u64) -> Option<u64> {
        self.messages.get(&channel_id)?.keys().next_back().copied()
    }

    pub fn user_json(&self, user_id: u64) -> Value {
        match self.world.member(user_id) {
            Some(m) => objects::user(m),
            None => panic!("user {user_id} is not part of the World; add them with with_member"),
        }
    }

    // ----- messages ---------------------------------------------------------------------------

    pub fn store(&mut self, message: StoredMessage) {
        if message.is_ephemeral() {
            self.ephemeral.insert(message.id, message);
        } else {
            self.messages
                .entry(message.channel_id)
                .or_default()
                .insert(message.id, message);
        }
    }

    /// Takes the first injected failure matching a request, if any.
    pub fn take_failure(&mut self, method: &str, path: &str) -> Option<InjectedFailure> {
        let index = self
            .failures
            .iter()
            .position(|f| f.method == method && path.starts_with(&f.path_prefix))?;
        Some(self.failures.remove(index))
    }

    pub fn find(&self, channel_id: u64, message_id: u64) -> Option<&StoredMessage> {
        self.messages
            .get(&channel_id)
            .and_then(|m| m.get(&message_id))
            .or_else(|| {
                self.ephemeral
                    .get(&message_id)
                    .filter(|m| m.channel_id == channel_id)
            })
    }

    pub fn find_mut(&mut self, channel_id: u64, message_id: u64) -> Option<&mut StoredMessage> {
        if let Some(m) = self
            .messages
            .get_mut(&channel_id)
            .and_then(|m| m.get_mut(&message_id))
        {
            return Some(m);
        }
        self.ephemeral
            .get_mut(&message_id)
            .filter(|m| m.channel_id == channel_id)
    }

    /// Any channel's message by id (tests name alert messages by id only).
    pub fn find_anywhere(&self, message_id: u64) -> Option<&StoredMessage> {
        self.messages
            .values()
            .find_map(|m| m.get(&message_id))
            .or_else(|| self.ephemeral.get(&message_id))
    }

    pub fn remove(&mut self, channel_id: u64, message_id: u64) -> Option<StoredMessage> {
        self.messages
            .get_mut(&channel_id)
            .and_then(|m| m.remove(&message_id))
            .or_else(|| self.ephemeral.remove(&message_id))
    }

    /// A message as Discord renders it. `gateway` adds what only gateway events carry:
    /// `guild_id` and the author's partial `member` in guild channels.
    pub fn message_json(&self, m: &StoredMessage, gateway: bool) -> Value {
        self.render_message(m, gateway, true)
    }

    fn render_message(&self, m: &StoredMessage, gateway: bool, with_reference: bool) -> Value {
        let guild = self.guild_of(m.channel_id);
        let mut value = json!({
            "id": id(m.id),
            "type": m.kind,
            "content": m.content,
            "channel_id": id(m.channel_id),
            "author": self.user_json(m.author_id),
            "attachments": m.attachments,
            "embeds": m.embeds,
            "mentions": m.mentions.iter().map(|u| self.user_json(*u)).collect::<Vec<_>>(),
            "mention_roles": m.mention_roles.iter().map(|r| id(*r)).collect::<Vec<_>>(),
            "pinned": false,
            "mention_everyone": m.mention_everyone,
            "tts": m.tts,
            "timestamp": objects::timestamp(m.timestamp()),
            "edited_timestamp": m.edited_timestamp.map(objects::timestamp),
            "flags": m.flags,
            "components": m.components,
        });
        if let Some(reply_to) = m.reply_to {
            let mut reference =
                json!({"type": 0, "channel_id": id(m.channel_id), "message_id": id(reply_to)});
            if let Some(guild) = guild {
                reference["guild_id"] = id(guild);
            }
            value["message_reference"] = reference;
            if with_reference {
                // One level deep, and `null` once the referenced message is deleted, like Discord.
                value["referenced_message"] = self
                    .find(m.channel_id, reply_to)
                    .map_or(Value::Null, |r| self.render_message(r, false, false));
            }
        }
        if let Some(metadata) = &m.interaction_metadata {
            value["interaction_metadata"] = metadata.clone();
        }
        if let Some(app) = m.application_id {
            value["application_id"] = id(app);
            value["webhook_id"] = id(app);
        }
        if let Some(nonce) = &m.nonce {
            value["nonce"] = nonce.clone();
        }
        if gateway {
            if let Some(guild) = guild {
                value["guild_id"] = id(guild);
                if let Some(member) = self.world.member(m.author_id) {
                    value["member"] = objects::member(member, false);
                }
            }
        }
        value
    }

    /// Mentions a message resolves to. `allowed` is the request's `allowed_mentions`
    /// (absent: everything in the content pings, and a reply pings its author).
    pub fn resolve_mentions(
        &self,
        content: &str,
        allowed: Option<&Value>,
        replied_author: Option<u64>,
    ) -> (Vec<u64>, Vec<u64>, bool) {
        let parse: Option<Vec<&str>> = allowed.map(|a| {
            a["parse"]
                .as_array()
                .map(|p| p.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default()
        });
        let listed = |key: &str, id: u64| {
            allowed.is_some_and(|a| {
                a[key]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(&id.to_string())))
            })
        };
        let parses = |kind: &str| parse.as_ref().is_none_or(|p| p.contains(&kind));

        // Compiled once: compiling them for each message, under the state's lock, held up
        // every other request to the fake.
        static USER: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        static ROLE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let user_re = USER.get_or_init(|| regex::Regex::new(r"<@!?(\d+)>").expect("valid regex"));
        let role_re = ROLE.get_or_init(|| regex::Regex::new(r"<@&(\d+)>").expect("valid regex"));
        let mut users = Vec::new();
        for cap in user_re.captures_iter(content) {
            let Ok(user) = cap[1].parse::<u64>() else {
                continue;
            };
            if self.world.member(user).is_some()
                && (parses("users") || listed("users", user))
                && !users.contains(&user)
            {
                users.push(user);
            }
        }
        let mut roles = Vec::new();
        for cap in role_re.captures_iter(content) {
            let Ok(role) = cap[1].parse::<u64>() else {
                continue;
            };
            if self.world.role(role).is_some()
                && (parses("roles") || listed("roles", role))
                && !roles.contains(&role)
            {
                roles.push(role);
            }
        }
        let everyone =
            (content.contains("@everyone") || content.contains("@here")) && parses("everyone");
        if let Some(author) = replied_author {
            let ping = match allowed {
                None => true,
                Some(a) => a["replied_user"].as_bool().unwrap_or(false),
            };
            if ping && !users.contains(&author) {
                users.push(author);
            }
        }
        (users, roles, everyone)
    }

    // ----- gateway ------------------------------------------------------------------------------

    /// Sends a dispatch (op 0) to the bot on the shard Discord would use: a guild's events
    /// (`guild_id` in the payload) on that guild's shard, everything else (direct messages and
    /// their interactions) on shard 0. See [`Self::dispatch_to`].
    pub fn dispatch(&mut self, name: &str, data: Value) {
        let guild = data["guild_id"]
            .as_str()
            .and_then(|g| g.parse::<u64>().ok());
        let shard = guild.map_or(0, |g| shard_of(g, self.world.shard_count));
        self.dispatch_to(shard, name, data);
    }

    /// Sends a dispatch to one shard: numbered in that shard's session, logged for RESUME
    /// replay, and delivered at once if its connection is live. Before the shard's first
    /// IDENTIFY it is queued instead.
    pub fn dispatch_to(&mut self, shard: u32, name: &str, data: Value) {
        let bot = self.world.bot.user_id;
        let Some(intents) = self
            .gateway
            .shards
            .get(&shard)
            .and_then(|s| s.session.as_ref())
            .map(|s| s.intents)
        else {
            self.gateway
                .shard(shard)
                .backlog
                .push((name.to_owned(), data));
            return;
        };
        let Some(data) = apply_intents(name, data, intents, bot) else {
            return;
        };
        if self.world.self_checks {
            if let Err(problem) = serenity_accepts(name, &data) {
                self.fake_defects.push(problem);
            }
        }
        let gateway = self.gateway.shard(shard);
        let session = gateway.session.as_mut().expect("checked above");
        session.seq += 1;
        let frame = json!({"op": 0, "s": session.seq, "t": name, "d": data}).to_string();
        if let Some(live) = &gateway.live {
            let _ = live.tx.send(ConnCmd::Frame(frame.clone()));
        }
        session.log.push(LoggedDispatch {
            seq: session.seq,
            name: name.to_owned(),
            frame,
        });
    }

    /// Recent requests and problems, for timeout messages.
    pub fn describe_recent(&self) -> String {
        let mut out = String::from("recent requests:\n");
        for r in self.requests.iter().rev().take(15).rev() {
            out.push_str(&format!("  {} {} -> {}\n", r.method, r.path, r.status));
        }
        if self.requests.is_empty() {
            out.push_str("  (none)\n");
        }
        for (title, list) in [
            ("unknown routes", &self.unknown_routes),
            ("rejections", &self.rejections),
            ("fake defects", &self.fake_defects),
        ] {
            if !list.is_empty() {
                out.push_str(&format!("{title}:\n"));
                for item in list {
                    out.push_str(&format!("  {item}\n"));
                }
            }
        }
        for v in &self.violations {
            out.push_str(&format!("schema violation: {v}\n"));
        }
        let gw = &self.gateway;
        for (shard, g) in &gw.shards {
            out.push_str(&format!(
                "gateway shard {shard}: live={} session={}\n",
                g.live.is_some(),
                g.session.as_ref().map_or("none", |s| s.id.as_str()),
            ));
        }
        out.push_str(&format!(
            "gateway: identifies={} resumes={}\n",
            gw.identify_count,
            gw.resumes.len()
        ));
        out
    }
}

/// Applies the session's intents to a dispatch the way Discord does: message events need
/// GUILD_MESSAGES / DIRECT_MESSAGES, and without MESSAGE_CONTENT a guild message that neither
/// comes from nor mentions the bot arrives with empty content, embeds, attachments and components.
fn apply_intents(name: &str, mut data: Value, session_intents: u64, bot: u64) -> Option<Value> {
    if !matches!(name, "MESSAGE_CREATE" | "MESSAGE_UPDATE" | "MESSAGE_DELETE") {
        return Some(data);
    }
    let in_guild = data.get("guild_id").is_some();
    let needed = if in_guild {
        intents::GUILD_MESSAGES
    } else {
        intents::DIRECT_MESSAGES
    };
    if session_intents & needed == 0 {
        return None;
    }
    if name != "MESSAGE_DELETE" && in_guild && session_intents & intents::MESSAGE_CONTENT == 0 {
        let bot = bot.to_string();
        let from_bot = data["author"]["id"].as_str() == Some(bot.as_str());
        let mentions_bot = data["mentions"]
            .as_array()
            .is_some_and(|m| m.iter().any(|u| u["id"].as_str() == Some(bot.as_str())));
        if !from_bot && !mentions_bot {
            data["content"] = Value::from("");
            data["embeds"] = json!([]);
            data["attachments"] = json!([]);
            data["components"] = json!([]);
            if let Some(map) = data.as_object_mut() {
                map.remove("poll");
            }
        }
    }
    Some(data)
}

/// Checks that serenity 0.12.5 turns this dispatch into a known event. A payload missing a field
/// serenity requires becomes `Event::Unknown` and is dropped without a trace, so the fake checks
/// its own output and reports the serde error.
fn serenity_accepts(name: &str, data: &Value) -> Result<(), String> {
    use serde::de::DeserializeOwned;
    use serenity::model::event::{self as ev, Event};

    fn why<T: DeserializeOwned>(data: &Value) -> String {
        match serde_json::from_value::<T>(data.clone()) {
            Err(e) => e.to_string(),
            Ok(_) => "parses alone but not as an Event".to_owned(),
        }
    }
    let frame = json!({"t": name, "d": data});
    match serde_json::from_value::<Event>(frame) {
        Ok(Event::Unknown(_)) | Err(_) => {
            let detail = match name {
                "READY" => why::<ev::ReadyEvent>(data),
                "GUILD_CREATE" => why::<ev::GuildCreateEvent>(data),
                "MESSAGE_CREATE" => why::<ev::MessageCreateEvent>(data),
                "MESSAGE_UPDATE" => why::<ev::MessageUpdateEvent>(data),
                "MESSAGE_DELETE" => why::<ev::MessageDeleteEvent>(data),
                "INTERACTION_CREATE" => why::<ev::InteractionCreateEvent>(data),
                "RESUMED" => why::<ev::ResumedEvent>(data),
                _ => "no detail for this event type".to_owned(),
            };
            Err(format!("serenity cannot parse the fake's {name}: {detail}"))
        }
        Ok(_) => Ok(()),
    }
}
