//! [`FakeDiscord`]: a fake Discord (REST + WebSocket gateway) on 127.0.0.1 for end-to-end tests
//! that drive the real serenity/poise client.
//!
//! A test starts one fake per test (`FakeDiscord::start(World::default_test()).await`), points
//! the bot at it (`HttpBuilder::new(token).proxy(fake.api_base()).ratelimiter_disabled(true)`),
//! pushes user activity (`message_create`, `click_button`, `submit_modal`, `slash_command`) and
//! waits for what the bot does (`wait_for`, `posted_messages`, `interaction_responses`). At the end
//! `assert_clean()` fails the test if the bot sent anything Discord's spec does not describe,
//! hit a route the fake does not serve, or was refused the way Discord would refuse it.
//!
//! Sharded bots: a world with `with_shards(n)` (and more guilds, `with_guild`) expects each
//! connection to IDENTIFY with `[shard, n]` and sends each guild's events only to its shard's
//! connection, direct messages to shard 0's, as Discord does; `wait_shard_connected`,
//! `connected_shards` and `hold_shard` look at or steer one shard.
//!
//! The fake behaves like Discord where the bot can notice: the bot's own posts come back as
//! MESSAGE_CREATE, intents filter events and message content, REST messages carry no
//! `guild_id`, a second response to one interaction is refused, and so on.
//!
//! ```ignore
//! mod support;
//! use support::{ids, FakeDiscord, World};
//!
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn complaint_raises_an_alert() {
//!     let fake = FakeDiscord::start(World::default_test()).await;
//!     let http = serenity::http::HttpBuilder::new(fake.token())
//!         .proxy(fake.api_base())
//!         .ratelimiter_disabled(true)
//!         .build();
//!     let bot = tokio::spawn(run_bot_with(http)); // the bot's own startup, given this Http
//!
//!     fake.message_create(ids::SUPPORT, ids::NORA, "this is broken again!!", None);
//!     let alert = fake
//!         .wait_for_posted_message(ids::MODS, |m| m["content"].as_str().is_some(), WAIT)
//!         .await;
//!     let click = fake.click_button(id_of(&alert), "draft_reply", ids::MIA);
//!     fake.wait_for(|r| r.path.starts_with(&format!("/interactions/{click}/")), WAIT).await;
//!
//!     bot.abort();
//!     fake.assert_clean();
//! }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::objects::{self, id};
use super::schema;
use super::state::{ConnCmd, Inner, InteractionRecord, State, StoredMessage};
use super::world::{perms, ChannelKind, World};
use super::{gateway, rest};

/// How long helpers that wait implicitly (e.g. `slash_command` waiting for registration) wait.
const IMPLICIT_WAIT: Duration = Duration::from_secs(10);

/// One HTTP request the bot made, as the fake saw and answered it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path below `/api/v10`, e.g. `/channels/123/messages`.
    pub path: String,
    /// Query parameters in order (serenity's leading `&` is skipped).
    pub query: Vec<(String, String)>,
    /// The JSON body (for multipart requests, the `payload_json` part).
    pub body: Option<Value>,
    /// Files uploaded with a multipart request.
    pub files: Vec<RecordedFile>,
    /// Status the fake answered with.
    pub status: u16,
    /// JSON the fake answered with, if any.
    pub response: Option<Value>,
}

impl RecordedRequest {
    /// `req.is("POST", "/channels/1/messages")`.
    pub fn is(&self, method: &str, path: &str) -> bool {
        self.method == method && self.path == path
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body, or `Value::Null` when there was none (handy for indexing).
    pub fn json(&self) -> &Value {
        static NULL: Value = Value::Null;
        self.body.as_ref().unwrap_or(&NULL)
    }
}

/// A file part of a multipart request.
#[derive(Clone, Debug)]
pub struct RecordedFile {
    pub filename: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// A request that does not match Discord's OpenAPI description.
#[derive(Clone, Debug)]
pub struct SchemaViolation {
    pub method: String,
    pub path: String,
    /// The spec's `operationId`, e.g. `create_message`.
    pub operation: String,
    pub errors: Vec<String>,
}

impl fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({}):", self.method, self.path, self.operation)?;
        for error in &self.errors {
            write!(f, "\n    - {error}")?;
        }
        Ok(())
    }
}

/// One RESUME the fake accepted.
#[derive(Clone, Debug)]
pub struct ResumeRecord {
    /// Event names replayed because the client had missed them.
    pub replayed: Vec<String>,
}

/// A fake Discord serving one [`World`]. Dropping it stops its servers.
pub struct FakeDiscord {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in &self.inner.lock().connection_tasks {
            task.abort();
        }
    }
}

/// Keeps one shard from identifying while alive: see [`FakeDiscord::hold_shard`]. It owns a
/// handle on the fake, so the test may start bots meanwhile.
pub struct ShardHeld {
    inner: Arc<Inner>,
    shard: u32,
}

impl Drop for ShardHeld {
    fn drop(&mut self) {
        let shard = self.shard;
        self.inner
            .update(|state| state.gateway.held_shards.remove(&shard));
    }
}

/// Keeps the gateway "down" while alive: see [`FakeDiscord::disconnect_gateway`].
pub struct GatewayDown<'a> {
    fake: &'a FakeDiscord,
}

impl Drop for GatewayDown<'_> {
    fn drop(&mut self) {
        self.fake.inner.update(|state| state.gateway.held = false);
    }
}

impl FakeDiscord {
    /// Starts the REST server and the gateway on two free ports of 127.0.0.1.
    pub async fn start(world: World) -> FakeDiscord {
        // Parse the spec now, so a broken spec fails here and not inside a request.
        let _ = schema::spec();
        let rest_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind REST port");
        let gateway_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway port");
        let api_base = format!("http://{}", rest_listener.local_addr().expect("REST addr"));
        let gateway_url = format!(
            "ws://{}",
            gateway_listener.local_addr().expect("gateway addr")
        );
        let inner = Arc::new(Inner {
            state: std::sync::Mutex::new(State::new(world, gateway_url.clone())),
            changed: tokio::sync::Notify::new(),
            api_base,
        });
        let router = rest::router(inner.clone());
        let rest_task = tokio::spawn(async move {
            // Answers go out at once (no Nagle delay), as from Discord.
            let listener = axum::serve::ListenerExt::tap_io(rest_listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(listener, router).await;
        });
        let gateway_task = tokio::spawn(gateway::accept_loop(inner.clone(), gateway_listener));
        FakeDiscord {
            inner,
            tasks: vec![rest_task, gateway_task],
        }
    }

    /// `http://127.0.0.1:PORT`, for `HttpBuilder::proxy`.
    pub fn api_base(&self) -> String {
        self.inner.api_base.clone()
    }

    /// The token the fake accepts.
    pub fn token(&self) -> String {
        self.inner.lock().world.token.clone()
    }

    /// Messages the bot created from the `from`-th on, with when the fake stored each (for
    /// latency measurements: cheap, unlike `posted_messages`).
    pub fn bot_posts_since(&self, from: usize) -> Vec<super::state::BotPost> {
        let state = self.inner.lock();
        state.bot_posts.get(from..).unwrap_or_default().to_vec()
    }

    /// Waits (up to `timeout`) until the bot has created more than `count` messages.
    pub async fn wait_for_bot_posts(&self, count: usize, timeout: Duration) -> bool {
        self.inner
            .wait_until("bot posts", timeout, |state| {
                (state.bot_posts.len() > count).then_some(())
            })
            .await
            .is_ok()
    }

    // ----- failure injection -------------------------------------------------------------------

    /// The next request `method` whose path (below `/api/v10`) starts with `path_prefix` is
    /// answered with `status` instead of being carried out, shaped like Discord's answers: 429
    /// with `retry_after` (seconds, default 1) in the JSON body and `Retry-After` /
    /// `X-RateLimit-*` headers; 403 Missing Permissions (code 50013); 404 Unknown Message
    /// (10008); 5xx with a plain error body. Call it several times to fail several requests.
    pub fn fail_next(
        &self,
        method: &str,
        path_prefix: &str,
        status: u16,
        retry_after: Option<f64>,
    ) {
        self.inject(method, path_prefix, status, retry_after, false);
    }

    /// As [`Self::fail_next`], but the request is carried out first: the write happens and
    /// its answer is lost (a 500 or a timeout after Discord acted).
    pub fn fail_next_after_applying(&self, method: &str, path_prefix: &str, status: u16) {
        self.inject(method, path_prefix, status, None, true);
    }

    fn inject(
        &self,
        method: &str,
        path_prefix: &str,
        status: u16,
        retry_after: Option<f64>,
        after_applying: bool,
    ) {
        self.inner.update(|state| {
            state.failures.push(super::state::InjectedFailure {
                method: method.to_owned(),
                path_prefix: path_prefix.to_owned(),
                status,
                retry_after,
                after_applying,
            })
        });
    }

    // ----- pushing user activity -----------------------------------------------------------------

    /// A user posts in a guild channel or thread (MESSAGE_CREATE with `guild_id` and `member`).
    /// Mentions are parsed from `content` (`<@id>`, `<@&id>`, `@everyone`); a reply also pings
    /// the replied-to author. Returns the message id.
    ///
    /// Events pushed before the bot's first IDENTIFY are delivered right after its GUILD_CREATE;
    /// events pushed while it is disconnected are delivered by RESUME replay.
    ///
    /// Panics if the user cannot post there (unknown user, no permission), as Discord would not
    /// let them.
    pub fn message_create(
        &self,
        channel_id: u64,
        author_id: u64,
        content: &str,
        reply_to: Option<u64>,
    ) -> u64 {
        self.inner.update(|state| {
            assert_can_post(state, channel_id, author_id);
            let id = state.snowflakes.next();
            let message = user_message(state, id, channel_id, author_id, content, reply_to);
            let event = state.message_json(&message, true);
            state.store(message);
            state.dispatch("MESSAGE_CREATE", event);
            id
        })
    }

    /// A user writes to the bot in DMs (the DM channel is created on first use). Returns the
    /// message id; [`Self::dm_channel`] gives the channel.
    pub fn dm_message_create(&self, user_id: u64, content: &str) -> u64 {
        self.inner.update(|state| {
            assert!(
                state.world.member(user_id).is_some(),
                "unknown user {user_id}"
            );
            let channel = state.dm_channel(user_id);
            let id = state.snowflakes.next();
            let message = user_message(state, id, channel, user_id, content, None);
            let event = state.message_json(&message, true);
            state.store(message);
            state.dispatch("MESSAGE_CREATE", event);
            id
        })
    }

    /// The DM channel between the bot and `user_id` (created if needed).
    pub fn dm_channel(&self, user_id: u64) -> u64 {
        self.inner.update(|state| state.dm_channel(user_id))
    }

    /// Stores a message that existed before the bot connected: visible to
    /// `GET /channels/{id}/messages`, never dispatched. Its id encodes `at`, so history sorts
    /// by time as on Discord. Returns the message id.
    pub fn seed_message(
        &self,
        channel_id: u64,
        author_id: u64,
        content: &str,
        reply_to: Option<u64>,
        at: DateTime<Utc>,
    ) -> u64 {
        self.inner.update(|state| {
            assert!(
                state.channel_exists(channel_id),
                "unknown channel {channel_id}"
            );
            let id = state.snowflakes.at(at);
            let message = user_message(state, id, channel_id, author_id, content, reply_to);
            state.store(message);
            id
        })
    }

    /// A user edits their message (MESSAGE_UPDATE with the full message).
    pub fn message_update(&self, channel_id: u64, message_id: u64, content: &str) {
        self.inner.update(|state| {
            let message = state
                .find_mut(channel_id, message_id)
                .unwrap_or_else(|| panic!("no message {message_id} in channel {channel_id}"));
            message.content = content.to_owned();
            message.edited_timestamp = Some(Utc::now());
            let message = message.clone();
            let replied = message
                .reply_to
                .and_then(|r| state.find(channel_id, r))
                .map(|r| r.author_id);
            let (users, roles, everyone) = state.resolve_mentions(content, None, replied);
            let message = StoredMessage {
                mentions: users,
                mention_roles: roles,
                mention_everyone: everyone,
                ..message
            };
            let event = state.message_json(&message, true);
            state.store(message);
            state.dispatch("MESSAGE_UPDATE", event);
        })
    }

    /// A message is deleted (MESSAGE_DELETE).
    pub fn message_delete(&self, channel_id: u64, message_id: u64) {
        self.inner.update(|state| {
            state
                .remove(channel_id, message_id)
                .unwrap_or_else(|| panic!("no message {message_id} in channel {channel_id}"));
            let mut event = json!({"id": id(message_id), "channel_id": id(channel_id)});
            if let Some(guild) = state.guild_of(channel_id) {
                event["guild_id"] = id(guild);
            }
            state.dispatch("MESSAGE_DELETE", event);
        })
    }

    /// A user clicks a button on a message (INTERACTION_CREATE, type 3). Returns the
    /// interaction id.
    ///
    /// Panics unless the message has an enabled button with this `custom_id`: a user cannot
    /// click what the bot did not send.
    pub fn click_button(&self, message_id: u64, custom_id: &str, user_id: u64) -> u64 {
        self.inner.update(|state| {
            let message = state
                .find_anywhere(message_id)
                .unwrap_or_else(|| panic!("no message {message_id} to click on"))
                .clone();
            let button = find_component(&message.components, &|c| {
                c["type"] == 2 && c["custom_id"] == custom_id
            })
            .unwrap_or_else(|| {
                panic!(
                    "message {message_id} has no button `{custom_id}`; its components: {}",
                    Value::from(message.components.clone())
                )
            });
            assert!(
                button["disabled"] != true,
                "button `{custom_id}` on message {message_id} is disabled; users cannot click it"
            );
            let data = json!({"custom_id": custom_id, "component_type": 2});
            let message_ref = Some((message.channel_id, message.id));
            new_interaction(
                state,
                3,
                message.channel_id,
                user_id,
                data,
                message_ref,
                None,
            )
        })
    }

    /// A user submits a modal the bot opened (INTERACTION_CREATE, type 5), filling the given
    /// text inputs (others are sent empty). Returns the interaction id.
    ///
    /// Panics unless the bot answered an interaction of `user_id` with a modal of this
    /// `custom_id`, or if a field is unknown or a required one is missing.
    pub fn submit_modal(&self, custom_id: &str, user_id: u64, fields: &[(&str, &str)]) -> u64 {
        self.inner.update(|state| {
            let opener = state
                .interactions
                .values()
                .filter(|r| r.modal.as_ref().is_some_and(|m| m["custom_id"] == custom_id))
                .max_by_key(|r| r.id)
                .cloned()
                .unwrap_or_else(|| panic!("the bot never opened a modal `{custom_id}`"));
            assert_eq!(
                opener.user_id, user_id,
                "modal `{custom_id}` was shown to user {}, not {user_id}",
                opener.user_id
            );
            let modal = opener.modal.clone().expect("filtered on modal");
            let inputs = text_inputs(&modal);
            for (field, _) in fields {
                assert!(
                    inputs.iter().any(|i| i["custom_id"] == *field),
                    "modal `{custom_id}` has no text input `{field}`"
                );
            }
            let rows: Vec<Value> = inputs
                .iter()
                .map(|input| {
                    let input_id = input["custom_id"].as_str().unwrap_or_default();
                    let value = fields.iter().find(|(f, _)| *f == input_id).map(|(_, v)| *v);
                    let required = input["required"].as_bool().unwrap_or(true);
                    assert!(
                        value.is_some() || !required,
                        "modal `{custom_id}`: required input `{input_id}` was not filled"
                    );
                    json!({
                        "type": 1,
                        "components": [{"type": 4, "custom_id": input_id, "value": value.unwrap_or("")}],
                    })
                })
                .collect();
            let data = json!({"custom_id": custom_id, "components": rows});
            let trigger = Some(opener.metadata.clone());
            new_interaction(state, 5, opener.channel_id, user_id, data, opener.message, trigger)
        })
    }

    /// A user runs a slash command in `general` (or the first text channel). See
    /// [`Self::slash_command_in`].
    pub async fn slash_command(
        &self,
        name: &str,
        subcommand: Option<&str>,
        options: &[(&str, Value)],
        user_id: u64,
    ) -> u64 {
        let channel = {
            let state = self.inner.lock();
            let world = &state.world;
            world
                .channel_named("general")
                .or_else(|| world.channels.iter().find(|c| c.kind == ChannelKind::Text))
                .map(|c| c.id)
                .expect("the world has a text channel")
        };
        self.slash_command_in(channel, name, subcommand, options, user_id)
            .await
    }

    /// A user runs `/name [subcommand] options...` in a channel (INTERACTION_CREATE, type 2).
    /// `subcommand` may be `"group sub"`. Option types come from the command the bot
    /// registered; user/channel/role options get their `resolved` entries. Returns the
    /// interaction id.
    ///
    /// Waits (up to 10 s) for the bot to register the command, and panics if it never does:
    /// Discord cannot invoke an unregistered command, and a poise setup that failed leaves the
    /// bot without them.
    pub async fn slash_command_in(
        &self,
        channel_id: u64,
        name: &str,
        subcommand: Option<&str>,
        options: &[(&str, Value)],
        user_id: u64,
    ) -> u64 {
        let what = format!("the bot to register the command /{name}");
        let command = self
            .inner
            .wait_until(&what, IMPLICIT_WAIT, |state| {
                state
                    .commands
                    .iter()
                    .find(|c| c.json["name"] == name && c.json["type"] == 1)
                    .cloned()
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.inner.update(|state| {
            let (data, resolved) = command_data(state, &command.json, subcommand, options);
            let mut data = json!({
                "id": id(command.id),
                "name": name,
                "type": 1,
                "options": data,
            });
            if !resolved.as_object().is_some_and(|r| r.is_empty()) {
                data["resolved"] = resolved;
            }
            if let Some(guild) = command.guild_id {
                data["guild_id"] = id(guild);
            }
            new_interaction(state, 2, channel_id, user_id, data, None, None)
        })
    }

    // ----- gateway control -----------------------------------------------------------------------

    /// Closes the bot's gateway sockets (every shard's) without a close frame, like a network
    /// drop. Serenity reconnects and RESUMEs; events pushed after this call reach it by replay
    /// or live, exactly once either way. Returns whether a connection was live.
    pub fn drop_gateway_connection(&self) -> bool {
        self.inner.update(|state| {
            let mut dropped = false;
            for shard in state.gateway.shards.values_mut() {
                if let Some(live) = shard.live.take() {
                    let _ = live.tx.send(ConnCmd::Drop);
                    dropped = true;
                }
            }
            dropped
        })
    }

    /// Drops the connection and keeps the gateway down until the returned guard is dropped: a
    /// reconnecting client's RESUME waits, so everything pushed meanwhile is delivered by the
    /// RESUME replay. Keep the window short (well under the heartbeat interval).
    pub fn disconnect_gateway(&self) -> GatewayDown<'_> {
        self.inner.update(|state| state.gateway.held = true);
        self.drop_gateway_connection();
        GatewayDown { fake: self }
    }

    /// Until the returned guard is dropped, an IDENTIFY for `shard` waits unanswered, so a test
    /// can see a bot with some of its shards connected and this one not yet.
    pub fn hold_shard(&self, shard: u32) -> ShardHeld {
        self.inner
            .update(|state| state.gateway.held_shards.insert(shard));
        ShardHeld {
            inner: self.inner.clone(),
            shard,
        }
    }

    /// Runs `push` while the bot is disconnected (see [`Self::disconnect_gateway`]).
    pub fn dispatch_while_disconnected<R>(&self, push: impl FnOnce(&Self) -> R) -> R {
        let _down = self.disconnect_gateway();
        push(self)
    }

    pub fn identify_count(&self) -> usize {
        self.inner.lock().gateway.identify_count
    }

    pub fn resume_count(&self) -> usize {
        self.inner.lock().gateway.resumes.len()
    }

    pub fn resumes(&self) -> Vec<ResumeRecord> {
        self.inner.lock().gateway.resumes.clone()
    }

    pub fn heartbeat_count(&self) -> usize {
        self.inner.lock().gateway.heartbeats
    }

    /// Waits until every shard of the world has a live gateway session (READY and its
    /// GUILD_CREATEs sent on an open socket).
    pub async fn wait_connected(&self, timeout: Duration) {
        let count = self.inner.lock().world.shard_count;
        for shard in 0..count {
            self.wait_shard_connected(shard, timeout).await;
        }
    }

    /// Waits until `shard` has a live gateway session.
    pub async fn wait_shard_connected(&self, shard: u32, timeout: Duration) {
        self.inner
            .wait_until(
                &format!("a live session on shard {shard}"),
                timeout,
                |state| state.gateway.is_connected(shard).then_some(()),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The `[shard_id, shard_count]` of each shard with a live connection now.
    pub fn connected_shards(&self) -> Vec<[u32; 2]> {
        let state = self.inner.lock();
        let count = state.world.shard_count;
        (0..count)
            .filter(|shard| state.gateway.is_connected(*shard))
            .map(|shard| [shard, count])
            .collect()
    }

    // ----- what the bot did ----------------------------------------------------------------------

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.lock().requests.clone()
    }

    /// Waits for the first recorded request matching `matches` (including ones already made),
    /// or panics after `timeout` listing the recent requests.
    pub async fn wait_for(
        &self,
        matches: impl Fn(&RecordedRequest) -> bool,
        timeout: Duration,
    ) -> RecordedRequest {
        self.inner
            .wait_until("a matching request", timeout, |state| {
                state.requests.iter().find(|r| matches(r)).cloned()
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits until at least `count` requests match; returns all matching ones.
    pub async fn wait_for_count(
        &self,
        matches: impl Fn(&RecordedRequest) -> bool,
        count: usize,
        timeout: Duration,
    ) -> Vec<RecordedRequest> {
        let what = format!("{count} matching requests");
        self.inner
            .wait_until(&what, timeout, |state| {
                let found: Vec<_> = state
                    .requests
                    .iter()
                    .filter(|r| matches(r))
                    .cloned()
                    .collect();
                (found.len() >= count).then_some(found)
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits until `condition` holds, re-checking after every change of the fake. `condition`
    /// may call the fake's accessors.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        condition: impl Fn(&Self) -> bool,
    ) {
        // The state lock is not held while `condition` runs (accessors take it themselves).
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if condition(self) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n{}",
                    self.inner.lock().describe_recent()
                );
            }
        }
    }

    /// Messages the bot has in a channel now (posts, interaction responses and follow-ups;
    /// edits applied, deleted ones gone), oldest first, as Discord's REST returns them.
    pub fn posted_messages(&self, channel_id: u64) -> Vec<Value> {
        let state = self.inner.lock();
        let bot = state.world.bot.user_id;
        state
            .messages
            .get(&channel_id)
            .map(|ms| {
                ms.values()
                    .filter(|m| m.author_id == bot)
                    .map(|m| state.message_json(m, false))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until the bot has a message in `channel_id` satisfying `matches`; returns it.
    pub async fn wait_for_posted_message(
        &self,
        channel_id: u64,
        matches: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        let what = format!("a bot message in channel {channel_id}");
        self.inner
            .wait_until(&what, timeout, |state| {
                let bot = state.world.bot.user_id;
                state.messages.get(&channel_id).and_then(|ms| {
                    ms.values()
                        .filter(|m| m.author_id == bot)
                        .map(|m| state.message_json(m, false))
                        .find(|m| matches(m))
                })
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// One stored message (including ephemeral ones), as REST returns it.
    pub fn message(&self, channel_id: u64, message_id: u64) -> Option<Value> {
        let state = self.inner.lock();
        state
            .find(channel_id, message_id)
            .map(|m| state.message_json(m, false))
    }

    /// Requests that answered one interaction: its callback and its webhook (`@original`,
    /// follow-up) calls, in order.
    pub fn interaction_responses(&self, interaction_id: u64) -> Vec<RecordedRequest> {
        let state = self.inner.lock();
        let Some(record) = state.interactions.get(&interaction_id) else {
            return Vec::new();
        };
        let callback = format!("/interactions/{interaction_id}/");
        let webhook = format!(
            "/webhooks/{}/{}",
            state.world.bot.application_id, record.token
        );
        state
            .requests
            .iter()
            .filter(|r| r.path.starts_with(&callback) || r.path.starts_with(&webhook))
            .cloned()
            .collect()
    }

    /// The original response message of an interaction (also when ephemeral).
    pub fn interaction_original(&self, interaction_id: u64) -> Option<Value> {
        let state = self.inner.lock();
        let (channel, message) = state.interactions.get(&interaction_id)?.original?;
        state
            .find(channel, message)
            .map(|m| state.message_json(m, false))
    }

    /// The modal the bot answered an interaction with (callback type 9), if any.
    pub fn interaction_modal(&self, interaction_id: u64) -> Option<Value> {
        self.inner
            .lock()
            .interactions
            .get(&interaction_id)?
            .modal
            .clone()
    }

    /// Commands the bot registered (global and guild), as the fake answered them.
    pub fn registered_commands(&self) -> Vec<Value> {
        self.inner
            .lock()
            .commands
            .iter()
            .map(|c| c.json.clone())
            .collect()
    }

    pub fn schema_violations(&self) -> Vec<SchemaViolation> {
        self.inner.lock().violations.clone()
    }

    pub fn unknown_routes(&self) -> Vec<String> {
        self.inner.lock().unknown_routes.clone()
    }

    /// Requests refused like Discord refuses them (400/401/403), with the reason.
    pub fn rejections(&self) -> Vec<String> {
        self.inner.lock().rejections.clone()
    }

    /// Panics listing every schema violation, unknown route, refused request and fake defect.
    /// Call at the end of each test.
    pub fn assert_clean(&self) {
        let state = self.inner.lock();
        let mut report = String::new();
        for v in &state.violations {
            report.push_str(&format!("schema violation: {v}\n"));
        }
        for route in &state.unknown_routes {
            report.push_str(&format!("unknown route (the fake answered 404): {route}\n"));
        }
        for rejection in &state.rejections {
            report.push_str(&format!("refused like Discord would: {rejection}\n"));
        }
        for defect in &state.fake_defects {
            report.push_str(&format!("fake defect: {defect}\n"));
        }
        assert!(
            report.is_empty(),
            "the fake Discord saw problems:\n{report}"
        );
    }
}

/// Panics unless `author` may post in `channel` (test mistakes surface at once).
fn assert_can_post(state: &State, channel_id: u64, author_id: u64) {
    let world = &state.world;
    let channel = world.channel(channel_id).unwrap_or_else(|| {
        panic!("unknown guild channel {channel_id} (use dm_message_create for DMs)")
    });
    let member = world
        .member(author_id)
        .unwrap_or_else(|| panic!("user {author_id} is not a member of the World"));
    let send = match channel.kind {
        ChannelKind::PublicThread => perms::SEND_MESSAGES_IN_THREADS,
        ChannelKind::Text => perms::SEND_MESSAGES,
    };
    let needed = perms::VIEW_CHANNEL | send;
    assert!(
        world.permissions_in(author_id, channel_id) & needed == needed,
        "{} cannot post in #{}: missing View Channel/Send Messages",
        member.name,
        channel.name
    );
}

/// A message from a (non-bot) user, mentions resolved as Discord does for users.
fn user_message(
    state: &State,
    id: u64,
    channel_id: u64,
    author_id: u64,
    content: &str,
    reply_to: Option<u64>,
) -> StoredMessage {
    assert!(
        state.world.member(author_id).is_some(),
        "unknown user {author_id}"
    );
    let mut message = StoredMessage::new(id, channel_id, author_id, content);
    let replied = reply_to.map(|r| {
        state
            .find(channel_id, r)
            .unwrap_or_else(|| panic!("reply_to: no message {r} in channel {channel_id}"))
            .author_id
    });
    if reply_to.is_some() {
        message.reply_to = reply_to;
        message.kind = 19;
    }
    let (users, roles, everyone) = state.resolve_mentions(content, None, replied);
    message.mentions = users;
    message.mention_roles = roles;
    message.mention_everyone = everyone;
    message
}

/// Creates, records and dispatches an interaction; returns its id.
///
/// `trigger` is the metadata of the interaction that opened a modal (for modal submits).
fn new_interaction(
    state: &mut State,
    kind: u8,
    channel_id: u64,
    user_id: u64,
    data: Value,
    message: Option<(u64, u64)>,
    trigger: Option<Value>,
) -> u64 {
    let world = &state.world;
    let member = world
        .member(user_id)
        .unwrap_or_else(|| panic!("user {user_id} is not part of the World"));
    let interaction_id = state.snowflakes.next();
    let token = format!("fake-interaction-token-{interaction_id}");
    let guild = state.guild_of(channel_id);
    let user = objects::user(member);
    let owners = json!({"0": guild.map_or(Value::from("0"), id)});

    let mut metadata = json!({
        "id": id(interaction_id),
        "type": kind,
        "user": user,
        "authorizing_integration_owners": owners,
    });
    if let Some((_, message_id)) = message.filter(|_| kind == 3) {
        metadata["interacted_message_id"] = id(message_id);
    }
    if let Some(trigger) = trigger {
        metadata["triggering_interaction_metadata"] = trigger;
    }

    let mut payload = json!({
        "id": id(interaction_id),
        "application_id": id(world.bot.application_id),
        "type": kind,
        "data": data,
        "channel_id": id(channel_id),
        "token": token,
        "version": 1,
        "locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": owners,
        "attachment_size_limit": 10_485_760,
    });
    match guild {
        Some(guild) => {
            let spec = world.channel(channel_id).expect("guild channel");
            let mut channel = objects::channel(world, spec, true);
            channel["permissions"] = world.permissions_in(user_id, channel_id).to_string().into();
            payload["guild_id"] = id(guild);
            payload["guild_locale"] = "en-US".into();
            payload["member"] = objects::interaction_member(world, member, channel_id);
            payload["channel"] = channel;
            payload["context"] = 0.into();
            payload["app_permissions"] = world
                .permissions_in(world.bot.user_id, channel_id)
                .to_string()
                .into();
        }
        None => {
            payload["user"] = user;
            payload["channel"] = state.dm_channel_json(channel_id).unwrap_or(Value::Null);
            payload["context"] = 1.into();
            payload["app_permissions"] = perms::BOT_ROLE.to_string().into();
        }
    }
    if let Some((channel, message_id)) = message {
        let message = state
            .find(channel, message_id)
            .expect("interaction message exists");
        payload["message"] = state.message_json(message, false);
    }

    state.interactions.insert(
        interaction_id,
        InteractionRecord {
            id: interaction_id,
            token,
            kind,
            channel_id,
            user_id,
            message,
            acknowledged: false,
            original: None,
            modal: None,
            metadata,
        },
    );
    state.dispatch("INTERACTION_CREATE", payload);
    interaction_id
}

/// Depth-first search through components (action rows, containers, sections, labels).
fn find_component(components: &[Value], matches: &dyn Fn(&Value) -> bool) -> Option<Value> {
    for component in components {
        if matches(component) {
            return Some(component.clone());
        }
        for key in ["components", "accessory", "component"] {
            let found = match component.get(key) {
                Some(Value::Array(items)) => find_component(items, matches),
                Some(single @ Value::Object(_)) => {
                    find_component(std::slice::from_ref(single), matches)
                }
                _ => None,
            };
            if found.is_some() {
                return found;
            }
        }
    }
    None
}

/// Text inputs of a modal, in order: inside action rows (type 1) or labels (type 18).
fn text_inputs(modal: &Value) -> Vec<Value> {
    let mut inputs = Vec::new();
    for row in modal["components"].as_array().into_iter().flatten() {
        let children: Vec<&Value> = match row["type"].as_u64() {
            Some(1) => row["components"].as_array().into_iter().flatten().collect(),
            Some(18) => vec![&row["component"]],
            _ => Vec::new(),
        };
        inputs.extend(children.into_iter().filter(|c| c["type"] == 4).cloned());
    }
    inputs
}

/// Builds `data.options` (and `resolved`) for a slash command from the registered definition.
fn command_data(
    state: &State,
    command: &Value,
    subcommand: Option<&str>,
    options: &[(&str, Value)],
) -> (Value, Value) {
    let name = command["name"].as_str().unwrap_or_default();
    let mut definitions = command["options"].as_array().cloned().unwrap_or_default();
    let mut path: Vec<(String, u64)> = Vec::new();
    for part in subcommand.into_iter().flat_map(str::split_whitespace) {
        let definition = definitions
            .iter()
            .find(|o| o["name"] == part && matches!(o["type"].as_u64(), Some(1 | 2)))
            .unwrap_or_else(|| panic!("/{name} has no subcommand (group) `{part}`"))
            .clone();
        path.push((part.to_owned(), definition["type"].as_u64().unwrap_or(1)));
        definitions = definition["options"]
            .as_array()
            .cloned()
            .unwrap_or_default();
    }

    let world = &state.world;
    let mut resolved = json!({});
    let mut leaf = Vec::new();
    for (option, value) in options {
        let definition = definitions
            .iter()
            .find(|o| o["name"] == *option)
            .unwrap_or_else(|| panic!("/{name} {subcommand:?} has no option `{option}`"));
        let kind = definition["type"].as_u64().unwrap_or(3);
        let target = value.as_str().and_then(|s| s.parse::<u64>().ok());
        match (kind, target) {
            (6, Some(user)) | (9, Some(user)) if world.member(user).is_some() => {
                let member = world.member(user).expect("checked");
                resolved["users"][user.to_string()] = objects::user(member);
                resolved["members"][user.to_string()] = objects::member(member, false);
            }
            (7, Some(channel)) => {
                let spec = world
                    .channel(channel)
                    .unwrap_or_else(|| panic!("option `{option}`: unknown channel {channel}"));
                let mut partial = objects::channel(world, spec, true);
                partial["permissions"] = perms::ALL.to_string().into();
                resolved["channels"][channel.to_string()] = partial;
            }
            (8, Some(role)) | (9, Some(role)) if world.role(role).is_some() => {
                let spec = world.role(role).expect("checked");
                resolved["roles"][role.to_string()] = objects::role(world, spec);
            }
            (6..=9, _) => panic!("option `{option}` needs the id (as a string) of a known entity"),
            _ => {}
        }
        leaf.push(json!({"name": option, "type": kind, "value": value}));
    }
    for definition in &definitions {
        let required = definition["required"].as_bool().unwrap_or(false);
        let given = options.iter().any(|(o, _)| definition["name"] == *o);
        assert!(
            !required || given,
            "/{name}: required option `{}` missing",
            definition["name"]
        );
    }

    let mut options_json = Value::from(leaf);
    for (part, kind) in path.into_iter().rev() {
        options_json = json!([{"name": part, "type": kind, "options": options_json}]);
    }
    (options_json, resolved)
}
