//! The fake REST API (`/api/v10/...`), served by axum on 127.0.0.1.
//!
//! One fallback handler routes by hand on `(method, path segments)`, so every request, known or
//! not, goes through the same recording, schema check and error reporting. Handlers answer with
//! Discord's status codes, error bodies (`{"message", "code"}`) and full objects, and push the
//! gateway events real Discord sends after a change (MESSAGE_CREATE for the bot's own posts, ...).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::Utc;
use serde_json::{json, Value};

use super::fake_discord::{RecordedFile, RecordedRequest, SchemaViolation};
use super::objects::{self, id};
use super::schema;
use super::state::{
    message_flags, InjectedFailure, Inner, RegisteredCommand, State, StoredMessage,
};
use super::world::{perms, ChannelKind};

/// Bots may send at most this many characters of `content` (the spec's 4000 is for Nitro users).
const BOT_CONTENT_LIMIT: usize = 2000;

pub fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(handle).with_state(inner)
}

/// A response: status and optional JSON body.
struct Reply {
    status: u16,
    body: Option<Value>,
    /// Why the fake refused the request, for `rejections` (400/401/403 only).
    rejection: Option<String>,
    /// Extra response headers (rate limits).
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Reply {
            status: 200,
            body: Some(body),
            rejection: None,
            headers: Vec::new(),
        }
    }

    fn no_content() -> Self {
        Reply {
            status: 204,
            body: None,
            rejection: None,
            headers: Vec::new(),
        }
    }

    /// Discord's error shape. 404s are ordinary answers (the bot may probe for deleted
    /// messages); 400/401/403 mean the bot did something Discord refuses, so they are reported.
    fn error(status: u16, code: u32, message: &str) -> Self {
        Reply {
            status,
            body: Some(json!({"message": message, "code": code})),
            rejection: (status != 404).then(|| format!("{status} {message} (code {code})")),
            headers: Vec::new(),
        }
    }

    /// The answer to an injected failure, shaped like Discord's; not a rejection (the test
    /// asked for it).
    fn injected(failure: &InjectedFailure) -> Self {
        let (body, headers) = match failure.status {
            429 => {
                let after = failure.retry_after.unwrap_or(1.0);
                (
                    json!({"message": "You are being rate limited.", "retry_after": after, "global": false}),
                    vec![
                        ("retry-after", (after.ceil() as u64).to_string()),
                        ("x-ratelimit-limit", "5".to_owned()),
                        ("x-ratelimit-remaining", "0".to_owned()),
                        ("x-ratelimit-reset-after", format!("{after:.3}")),
                        ("x-ratelimit-bucket", "fake-bucket".to_owned()),
                        ("x-ratelimit-scope", "user".to_owned()),
                    ],
                )
            }
            403 => (
                json!({"message": "Missing Permissions", "code": 50013}),
                Vec::new(),
            ),
            404 => (
                json!({"message": "Unknown Message", "code": 10008}),
                Vec::new(),
            ),
            401 => (
                json!({"message": "401: Unauthorized", "code": 0}),
                Vec::new(),
            ),
            status => (
                json!({"message": format!("{status}: Internal Server Error"), "code": 0}),
                Vec::new(),
            ),
        };
        Reply {
            status: failure.status,
            body: Some(body),
            rejection: None,
            headers,
        }
    }

    fn invalid_form(problem: &str) -> Self {
        let mut reply = Reply::error(400, 50035, "Invalid Form Body");
        reply.rejection = Some(format!("400 Invalid Form Body: {problem}"));
        if let Some(body) = reply.body.as_mut() {
            body["errors"] =
                json!({"_errors": [{"code": "BASE_TYPE_INVALID", "message": problem}]});
        }
        reply
    }
}

enum Outcome {
    Reply(Reply),
    /// No such route in the fake: answered 404 and reported.
    Unknown,
}

impl From<Reply> for Outcome {
    fn from(reply: Reply) -> Self {
        Outcome::Reply(reply)
    }
}

/// A decoded request body: JSON (or multipart `payload_json`) plus uploaded files.
#[derive(Default)]
struct Decoded {
    json: Option<Value>,
    files: Vec<RecordedFile>,
    problem: Option<String>,
}

async fn handle(
    AxumState(inner): AxumState<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let method = method.as_str().to_owned();
    let query = parse_query(uri.query().unwrap_or_default());
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let decoded = decode_body(header_text(header::CONTENT_TYPE), &body);
    let authorization = header_text(header::AUTHORIZATION).to_owned();
    // Everything real lives below /api/v10; anything else is an unknown route.
    let path = uri.path().strip_prefix("/api/v10").map(str::to_owned);

    let spec = schema::spec();
    let operation = path.as_deref().and_then(|p| spec.operation(&method, p));
    let mut problems: Vec<String> = decoded.problem.clone().into_iter().collect();
    if let Some(op) = &operation {
        problems.extend(spec.check_request(op, &query, decoded.json.as_ref()));
    }

    let mut self_checks = true;
    let outcome = match &path {
        Some(path) => {
            let mut state = inner.lock();
            self_checks = state.world.self_checks;
            let request = Request {
                method: &method,
                path,
                query: &query,
                body: decoded.json.as_ref(),
                files: &decoded.files,
                authorization: &authorization,
                api_base: &inner.api_base,
            };
            match state.take_failure(&method, path) {
                Some(failure) => {
                    if failure.after_applying {
                        let _ = route(&mut state, &request);
                    }
                    Outcome::Reply(Reply::injected(&failure))
                }
                None => route(&mut state, &request),
            }
        }
        None => Outcome::Unknown,
    };
    let reply = match outcome {
        Outcome::Reply(reply) => Some(reply),
        Outcome::Unknown => None,
    };
    let shown_path = path.clone().unwrap_or_else(|| uri.path().to_owned());

    // The fake checks its own answers against the spec's response schemas too.
    let mut defects = Vec::new();
    if let (
        Some(op),
        Some(Reply {
            status,
            body: Some(body),
            ..
        }),
    ) = (&operation, &reply)
    {
        if self_checks && (200..300).contains(status) {
            for problem in spec.check_response(op, *status, body) {
                defects.push(format!("response to {method} {shown_path}: {problem}"));
            }
        }
    }

    let (status, response_body) = match &reply {
        Some(r) => (r.status, r.body.clone()),
        None => (404, Some(json!({"message": "404: Not Found", "code": 0}))),
    };
    let extra_headers = reply
        .as_ref()
        .map(|r| r.headers.clone())
        .unwrap_or_default();
    inner.update(|state| {
        if reply.is_none() {
            let line = format!("{method} {}{}", uri.path(), query_suffix(&query));
            eprintln!("fake-discord: no route for {line} (answered 404)");
            state.unknown_routes.push(line);
        }
        if let Some(rejection) = reply.as_ref().and_then(|r| r.rejection.clone()) {
            eprintln!("fake-discord: refused {method} {shown_path}: {rejection}");
            state
                .rejections
                .push(format!("{method} {shown_path}: {rejection}"));
        }
        if !problems.is_empty() {
            let violation = SchemaViolation {
                method: method.clone(),
                path: shown_path.clone(),
                operation: operation
                    .as_ref()
                    .map_or("?".to_owned(), |op| op.operation_id.to_owned()),
                errors: problems,
            };
            eprintln!("fake-discord: schema violation: {violation}");
            state.violations.push(violation);
        }
        state.fake_defects.extend(defects);
        state.requests.push(RecordedRequest {
            method: method.clone(),
            path: shown_path,
            query,
            body: decoded.json,
            files: decoded.files,
            status,
            response: response_body.clone(),
        });
    });

    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match response_body {
        Some(body) => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response(),
        None => status.into_response(),
    };
    for (name, value) in extra_headers {
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// What a route handler gets to see.
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a [(String, String)],
    body: Option<&'a Value>,
    files: &'a [RecordedFile],
    authorization: &'a str,
    api_base: &'a str,
}

impl Request<'_> {
    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn body(&self) -> &Value {
        self.body.unwrap_or(&Value::Null)
    }
}

fn route(state: &mut State, req: &Request<'_>) -> Outcome {
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    // Interaction callbacks and webhooks authenticate with their token, `GET /gateway` needs no
    // authentication at all (which also matters here: if it failed, serenity would fall back to
    // the real gateway), everything else needs the bot token.
    let token_routes = matches!(segments.first(), Some(&"interactions" | &"webhooks"))
        || (req.method == "GET" && segments == ["gateway"]);
    let expected = format!("Bot {}", state.world.token);
    if !token_routes && req.authorization != expected {
        return Reply::error(401, 0, "401: Unauthorized").into();
    }

    match (req.method, segments.as_slice()) {
        ("GET", ["gateway"]) => Reply::ok(json!({"url": state.gateway_url})).into(),
        ("GET", ["gateway", "bot"]) => Reply::ok(json!({
            "url": state.gateway_url,
            "shards": state.world.shard_count,
            "session_start_limit": {
                "total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1
            },
        }))
        .into(),
        ("GET", ["users", "@me"]) => Reply::ok(objects::current_user(&state.world)).into(),
        ("GET", ["users", user]) => match parse_id(user).and_then(|u| state.world.member(u)) {
            Some(member) => Reply::ok(objects::user(member)).into(),
            None => Reply::error(404, 10013, "Unknown User").into(),
        },
        ("POST", ["users", "@me", "channels"]) => create_dm(state, req).into(),
        ("GET", ["oauth2", "applications", "@me"]) => {
            Reply::ok(objects::application(&state.world)).into()
        }

        (_, ["applications", app, "commands"]) => commands(state, req, app, None),
        (_, ["applications", app, "guilds", guild, "commands"]) => {
            commands(state, req, app, Some(guild))
        }

        ("GET", ["channels", channel]) => get_channel(state, channel).into(),
        ("GET", ["channels", channel, "messages"]) => list_messages(state, req, channel).into(),
        ("POST", ["channels", channel, "messages"]) => post_message(state, req, channel).into(),
        ("GET" | "PATCH" | "DELETE", ["channels", channel, "messages", message]) => {
            one_message(state, req, channel, message).into()
        }
        ("POST", ["channels", channel, "typing"]) => match parse_id(channel) {
            Some(c) if state.channel_exists(c) => Reply::no_content().into(),
            _ => Reply::error(404, 10003, "Unknown Channel").into(),
        },
        ("PUT" | "DELETE", ["channels", channel, "messages", message, "reactions", _, "@me"]) => {
            match (parse_id(channel), parse_id(message)) {
                (Some(c), Some(m)) if state.find(c, m).is_some() => Reply::no_content().into(),
                _ => Reply::error(404, 10008, "Unknown Message").into(),
            }
        }

        ("GET", ["guilds", guild, rest @ ..]) => {
            let world = &state.world;
            let Some(guild) = parse_id(guild).and_then(|g| world.guild(g)) else {
                return Reply::error(404, 10004, "Unknown Guild").into();
            };
            match rest {
                [] => Reply::ok(objects::guild(world, guild)).into(),
                ["roles"] => Reply::ok(
                    world
                        .roles_of(guild.id)
                        .map(|r| objects::role(world, r))
                        .collect(),
                )
                .into(),
                ["channels"] => Reply::ok(
                    world
                        .channels
                        .iter()
                        .filter(|c| c.guild_id == guild.id && c.kind != ChannelKind::PublicThread)
                        .map(|c| objects::channel(world, c, true))
                        .collect(),
                )
                .into(),
                ["members", user] => match parse_id(user).and_then(|u| world.member(u)) {
                    Some(member) => Reply::ok(objects::member(member, true)).into(),
                    None => Reply::error(404, 10007, "Unknown Member").into(),
                },
                _ => Outcome::Unknown,
            }
        }

        ("POST", ["interactions", interaction, token, "callback"]) => {
            interaction_callback(state, req, interaction, token).into()
        }
        (_, ["webhooks", app, token, rest @ ..]) => webhook(state, req, app, token, rest),

        _ => Outcome::Unknown,
    }
}

fn parse_id(text: &str) -> Option<u64> {
    text.parse().ok()
}

/// Ids in bodies may be strings or numbers.
fn body_id(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

// ----- users and channels ----------------------------------------------------------------------

fn create_dm(state: &mut State, req: &Request<'_>) -> Reply {
    let Some(user) = body_id(&req.body()["recipient_id"]) else {
        return Reply::invalid_form("recipient_id is required");
    };
    if state.world.member(user).is_none() {
        return Reply::error(404, 10013, "Unknown User");
    }
    if user == state.world.bot.user_id {
        return Reply::error(400, 50007, "Cannot send messages to this user");
    }
    let channel = state.dm_channel(user);
    Reply::ok(state.dm_channel_json(channel).expect("just created"))
}

fn get_channel(state: &State, channel: &str) -> Reply {
    let Some(channel) = parse_id(channel) else {
        return Reply::error(404, 10003, "Unknown Channel");
    };
    if let Some(spec) = state.world.channel(channel) {
        let mut value = objects::channel(&state.world, spec, true);
        value["last_message_id"] = state.last_message_id(channel).map_or(Value::Null, id);
        return Reply::ok(value);
    }
    match state.dm_channel_json(channel) {
        Some(value) => Reply::ok(value),
        None => Reply::error(404, 10003, "Unknown Channel"),
    }
}

/// Refuses like Discord when the bot lacks `needed` in a guild channel (DMs are always open).
fn require_bot_permissions(state: &State, channel: u64, needed: u64) -> Result<(), Reply> {
    if state.world.channel(channel).is_none() {
        return Ok(());
    }
    let have = state.world.permissions_in(state.world.bot.user_id, channel);
    if have & perms::VIEW_CHANNEL == 0 {
        return Err(Reply::error(403, 50001, "Missing Access"));
    }
    if have & needed != needed {
        return Err(Reply::error(403, 50013, "Missing Permissions"));
    }
    Ok(())
}

/// `GET /channels/{id}/messages`: newest first; `before`/`after`/`around` pick the window
/// closest to the given id (with `after`, the oldest messages after it), `limit` 1..=100.
fn list_messages(state: &State, req: &Request<'_>, channel: &str) -> Reply {
    let Some(channel) = parse_id(channel).filter(|c| state.channel_exists(*c)) else {
        return Reply::error(404, 10003, "Unknown Channel");
    };
    if let Err(reply) = require_bot_permissions(
        state,
        channel,
        perms::VIEW_CHANNEL | perms::READ_MESSAGE_HISTORY,
    ) {
        return reply;
    }
    let limit = match req.query("limit").map(str::parse::<usize>) {
        None => 50,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return Reply::invalid_form("limit must be between 1 and 100"),
    };
    let all: Vec<&StoredMessage> = state
        .messages
        .get(&channel)
        .map(|m| m.values().collect())
        .unwrap_or_default();
    let anchor = |name: &str| req.query(name).and_then(parse_id);
    let mut page: Vec<&StoredMessage> = if let Some(before) = anchor("before") {
        let older: Vec<_> = all.into_iter().filter(|m| m.id < before).collect();
        older[older.len().saturating_sub(limit)..].to_vec()
    } else if let Some(after) = anchor("after") {
        all.into_iter()
            .filter(|m| m.id > after)
            .take(limit)
            .collect()
    } else if let Some(around) = anchor("around") {
        let older: Vec<_> = all.iter().copied().filter(|m| m.id < around).collect();
        let newer: Vec<_> = all.iter().copied().filter(|m| m.id >= around).collect();
        let take_newer = newer.len().min(limit.div_ceil(2));
        let take_older = older.len().min(limit - take_newer);
        let mut window = older[older.len() - take_older..].to_vec();
        window.extend(&newer[..take_newer]);
        window
    } else {
        all[all.len().saturating_sub(limit)..].to_vec()
    };
    page.reverse();
    Reply::ok(page.iter().map(|m| state.message_json(m, false)).collect())
}

fn post_message(state: &mut State, req: &Request<'_>, channel: &str) -> Reply {
    let Some(channel) = parse_id(channel).filter(|c| state.channel_exists(*c)) else {
        return Reply::error(404, 10003, "Unknown Channel");
    };
    let send = match state.world.channel(channel).map(|c| c.kind) {
        Some(ChannelKind::PublicThread) => perms::SEND_MESSAGES_IN_THREADS,
        _ => perms::SEND_MESSAGES,
    };
    let mut needed = perms::VIEW_CHANNEL | send;
    if !req.files.is_empty() {
        needed |= perms::ATTACH_FILES;
    }
    if let Err(reply) = require_bot_permissions(state, channel, needed) {
        return reply;
    }
    // Like Discord: with `enforce_nonce`, a create repeating a recent nonce of the same author
    // answers with the message created the first time instead of posting again.
    let body = req.body();
    if body["enforce_nonce"] == true {
        if let Some(nonce) = body.get("nonce").filter(|n| !n.is_null()) {
            let bot = state.world.bot.user_id;
            let earlier = state.messages.get(&channel).and_then(|ms| {
                ms.values()
                    .find(|m| m.author_id == bot && m.nonce.as_ref() == Some(nonce))
            });
            if let Some(earlier) = earlier {
                return Reply::ok(state.message_json(earlier, false));
            }
        }
    }
    let id = state.snowflakes.next();
    let mut message = StoredMessage::new(id, channel, state.world.bot.user_id, "");
    if let Err(reply) = apply_message_body(state, &mut message, req, true) {
        return reply;
    }
    finish_create(state, message)
}

/// Stores a new message from the bot, sends MESSAGE_CREATE like Discord (the bot sees its own
/// posts) unless it is ephemeral, and answers with the REST shape.
fn finish_create(state: &mut State, message: StoredMessage) -> Reply {
    if message.author_id == state.world.bot.user_id {
        let label = message
            .embeds
            .first()
            .and_then(|e| e["footer"]["text"].as_str())
            .unwrap_or(&message.content)
            .to_owned();
        state.bot_posts.push(super::state::BotPost {
            channel_id: message.channel_id,
            at: std::time::Instant::now(),
            label,
        });
    }
    let rest = state.message_json(&message, false);
    let event = state.message_json(&message, true);
    let ephemeral = message.is_ephemeral();
    state.store(message);
    if !ephemeral {
        state.dispatch("MESSAGE_CREATE", event);
    }
    Reply::ok(rest)
}

fn one_message(state: &mut State, req: &Request<'_>, channel: &str, message: &str) -> Reply {
    let (Some(channel), Some(message_id)) = (parse_id(channel), parse_id(message)) else {
        return Reply::error(404, 10008, "Unknown Message");
    };
    if !state.channel_exists(channel) {
        return Reply::error(404, 10003, "Unknown Channel");
    }
    let Some(existing) = state.find(channel, message_id).cloned() else {
        return Reply::error(404, 10008, "Unknown Message");
    };
    match req.method {
        "GET" => Reply::ok(state.message_json(&existing, false)),
        "PATCH" => {
            if existing.author_id != state.world.bot.user_id {
                return Reply::error(403, 50005, "Cannot edit a message authored by another user");
            }
            edit_message(state, existing, req, false)
        }
        _ => delete_message(state, &existing),
    }
}

/// Applies an edit, sends MESSAGE_UPDATE (full message, as Discord does nowadays) and answers
/// with the edited message.
fn edit_message(
    state: &mut State,
    mut message: StoredMessage,
    req: &Request<'_>,
    finish_loading: bool,
) -> Reply {
    if let Err(reply) = apply_message_body(state, &mut message, req, false) {
        return reply;
    }
    if finish_loading {
        // Editing a deferred ("thinking") response completes it.
        message.flags &= !message_flags::LOADING;
    }
    message.edited_timestamp = Some(Utc::now());
    let rest = state.message_json(&message, false);
    let event = state.message_json(&message, true);
    let ephemeral = message.is_ephemeral();
    state.store(message);
    if !ephemeral {
        state.dispatch("MESSAGE_UPDATE", event);
    }
    Reply::ok(rest)
}

fn delete_message(state: &mut State, message: &StoredMessage) -> Reply {
    state.remove(message.channel_id, message.id);
    if !message.is_ephemeral() {
        let mut event = json!({"id": id(message.id), "channel_id": id(message.channel_id)});
        if let Some(guild) = state.guild_of(message.channel_id) {
            event["guild_id"] = id(guild);
        }
        state.dispatch("MESSAGE_DELETE", event);
    }
    Reply::no_content()
}

/// Applies the fields of a create/edit body (JSON or multipart `payload_json`) to a message,
/// refusing what Discord refuses.
fn apply_message_body(
    state: &State,
    message: &mut StoredMessage,
    req: &Request<'_>,
    creating: bool,
) -> Result<(), Reply> {
    let body = req.body();
    let mut content_changed = creating;
    match &body["content"] {
        Value::String(text) => {
            let length = text.chars().count();
            if length > BOT_CONTENT_LIMIT {
                return Err(Reply::invalid_form(&format!(
                    "content: must be {BOT_CONTENT_LIMIT} or fewer in length (got {length})"
                )));
            }
            message.content = text.clone();
            content_changed = true;
        }
        Value::Null if body.get("content").is_some() => {
            message.content.clear();
            content_changed = true;
        }
        _ => {}
    }
    if let Some(embeds) = body.get("embeds") {
        message.embeds = embeds
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|mut embed| {
                // Discord stores every embed a bot sends as a "rich" embed.
                if embed.get("type").is_none() {
                    embed["type"] = Value::from("rich");
                }
                embed
            })
            .collect();
    }
    if let Some(components) = body.get("components") {
        let mut components = components.as_array().cloned().unwrap_or_default();
        number_components(&mut components, &mut 0);
        message.components = components;
    }
    if let Some(flags) = body.get("flags").and_then(Value::as_u64) {
        message.flags = flags;
    }
    if let Some(tts) = body.get("tts").and_then(Value::as_bool) {
        message.tts = tts;
    }
    if creating {
        message.nonce = body.get("nonce").filter(|n| !n.is_null()).cloned();
    }
    apply_attachments(message, body, req.files, req.api_base);

    if creating {
        if let Some(reference) = body.get("message_reference").filter(|r| !r.is_null()) {
            let target = body_id(&reference["message_id"]);
            let exists = target.is_some_and(|t| state.find(message.channel_id, t).is_some());
            let must_exist = reference["fail_if_not_exists"].as_bool().unwrap_or(true);
            if exists {
                message.reply_to = target;
                message.kind = 19;
            } else if must_exist {
                return Err(Reply::invalid_form(
                    "message_reference: Unknown message (fail_if_not_exists is true)",
                ));
            }
        }
        let empty = message.content.is_empty()
            && message.embeds.is_empty()
            && message.components.is_empty()
            && message.attachments.is_empty()
            && body.get("sticker_ids").is_none_or(Value::is_null)
            && body.get("poll").is_none_or(Value::is_null);
        if empty && message.flags & message_flags::LOADING == 0 {
            return Err(Reply::error(400, 50006, "Cannot send an empty message"));
        }
    }
    if content_changed || body.get("allowed_mentions").is_some() {
        let replied = message
            .reply_to
            .and_then(|r| state.find(message.channel_id, r))
            .map(|r| r.author_id);
        let allowed = body.get("allowed_mentions").filter(|a| !a.is_null());
        let (users, roles, everyone) = state.resolve_mentions(&message.content, allowed, replied);
        message.mentions = users;
        message.mention_roles = roles;
        message.mention_everyone = everyone;
    }
    Ok(())
}

/// Discord gives every component of a stored message a numeric `id` (depth first, from 1).
fn number_components(components: &mut [Value], next: &mut u64) {
    for component in components {
        *next += 1;
        if component.get("id").is_none_or(Value::is_null) {
            component["id"] = Value::from(*next);
        }
        if let Some(children) = component
            .get_mut("components")
            .and_then(Value::as_array_mut)
        {
            number_components(children, next);
        }
    }
}

/// Uploaded files become attachments; an `attachments` list in the body keeps existing ones by
/// id (on edits) and describes new uploads by their index.
fn apply_attachments(
    message: &mut StoredMessage,
    body: &Value,
    files: &[RecordedFile],
    base: &str,
) {
    let listed = body.get("attachments").and_then(Value::as_array);
    if listed.is_none() && files.is_empty() {
        return;
    }
    let mut kept: Vec<Value> = match listed {
        Some(list) => message
            .attachments
            .iter()
            .filter(|a| list.iter().any(|l| body_id(&l["id"]) == body_id(&a["id"])))
            .cloned()
            .collect(),
        None => message.attachments.clone(),
    };
    for (index, file) in files.iter().enumerate() {
        // Attachment ids are snowflakes; derive them from the message id so they stay unique.
        let attachment_id = message.id + 1 + index as u64;
        let described =
            listed.and_then(|l| l.iter().find(|a| body_id(&a["id"]) == Some(index as u64)));
        let mut attachment = json!({
            "id": id(attachment_id),
            "filename": file.filename,
            "size": file.bytes.len(),
            // Not served: nothing in the tests may leave the machine, and the bot has no
            // reason to download its own uploads.
            "url": format!("{base}/attachments/{}/{attachment_id}/{}", message.channel_id, file.filename),
            "proxy_url": format!("{base}/attachments/{}/{attachment_id}/{}", message.channel_id, file.filename),
        });
        if let Some(content_type) = &file.content_type {
            attachment["content_type"] = Value::from(content_type.clone());
        }
        if let Some(description) = described.and_then(|d| d["description"].as_str()) {
            attachment["description"] = Value::from(description);
        }
        kept.push(attachment);
    }
    message.attachments = kept;
}

// ----- application commands ----------------------------------------------------------------------

fn commands(state: &mut State, req: &Request<'_>, app: &str, guild: Option<&str>) -> Outcome {
    if parse_id(app) != Some(state.world.bot.application_id) {
        return Reply::error(403, 50001, "Missing Access (wrong application id)").into();
    }
    let guild = match guild.map(parse_id) {
        None => None,
        Some(Some(g)) if state.world.guild(g).is_some() => Some(g),
        Some(_) => return Reply::error(403, 50001, "Missing Access (unknown guild)").into(),
    };
    let body = req.body();
    match req.method {
        "GET" => Reply::ok(
            state
                .commands
                .iter()
                .filter(|c| c.guild_id == guild)
                .map(|c| c.json.clone())
                .collect(),
        )
        .into(),
        // Bulk overwrite: the new list replaces the old one; same-named commands keep their id.
        "PUT" => {
            let Some(list) = body.as_array() else {
                return Reply::invalid_form("expected an array of commands").into();
            };
            let mut registered = Vec::new();
            for command in list {
                registered.push(register_command(state, command, guild));
            }
            state.commands.retain(|c| c.guild_id != guild);
            let answer = registered.iter().map(|c| c.json.clone()).collect();
            state.commands.extend(registered);
            Reply::ok(answer).into()
        }
        "POST" => {
            let command = register_command(state, body, guild);
            let existed = state.commands.iter().any(|c| c.id == command.id);
            state.commands.retain(|c| c.id != command.id);
            let mut reply = Reply::ok(command.json.clone());
            if !existed {
                reply.status = 201;
            }
            state.commands.push(command);
            reply.into()
        }
        _ => Outcome::Unknown,
    }
}

/// The command as Discord answers it: the request echoed back with ids and defaults.
fn register_command(state: &mut State, body: &Value, guild: Option<u64>) -> RegisteredCommand {
    let name = body["name"].as_str().unwrap_or_default().to_owned();
    let kind = body["type"].as_u64().unwrap_or(1);
    let existing = state
        .commands
        .iter()
        .find(|c| c.guild_id == guild && c.json["name"] == name.as_str() && c.json["type"] == kind);
    let command_id = existing.map_or_else(|| state.snowflakes.next(), |c| c.id);
    let version = state.snowflakes.next();
    // Discord sends permission bit sets as strings whichever form it was given.
    let permissions = match &body["default_member_permissions"] {
        Value::Null => Value::Null,
        Value::String(s) => Value::from(s.clone()),
        other => Value::from(other.to_string()),
    };
    let mut json = json!({
        "id": id(command_id),
        "application_id": id(state.world.bot.application_id),
        "version": id(version),
        "default_member_permissions": permissions,
        "type": kind,
        "name": name,
        "name_localizations": body.get("name_localizations").cloned().unwrap_or(Value::Null),
        "description": body["description"].as_str().unwrap_or_default(),
        "description_localizations": body.get("description_localizations").cloned().unwrap_or(Value::Null),
        "dm_permission": body["dm_permission"].as_bool().unwrap_or(true),
        "contexts": body.get("contexts").cloned().unwrap_or(Value::Null),
        "integration_types": body.get("integration_types").filter(|v| !v.is_null()).cloned().unwrap_or(json!([0])),
        "nsfw": body["nsfw"].as_bool().unwrap_or(false),
    });
    if let Some(options) = body.get("options").and_then(Value::as_array) {
        if !options.is_empty() {
            json["options"] = Value::from(options.iter().map(echo_option).collect::<Vec<_>>());
        }
    }
    if let Some(guild) = guild {
        json["guild_id"] = id(guild);
    }
    RegisteredCommand {
        id: command_id,
        guild_id: guild,
        json,
    }
}

/// An option as Discord echoes it: only the fields that apply to its type, no nulls, no empty
/// lists (serenity sends every field for every type), integer bounds as integers.
fn echo_option(option: &Value) -> Value {
    let kind = option["type"].as_u64().unwrap_or(0);
    let mut keys = vec![
        "type",
        "name",
        "name_localizations",
        "description",
        "description_localizations",
        "required",
    ];
    match kind {
        1 | 2 => keys.push("options"),
        3 => keys.extend(["choices", "min_length", "max_length", "autocomplete"]),
        4 | 10 => keys.extend(["choices", "min_value", "max_value", "autocomplete"]),
        7 => keys.push("channel_types"),
        _ => {}
    }
    let mut echoed = serde_json::Map::new();
    for key in keys {
        let value = match option.get(key) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) if items.is_empty() => continue,
            Some(Value::Bool(false)) if key == "autocomplete" || key == "required" => continue,
            Some(Value::Array(items)) if key == "options" => {
                Value::from(items.iter().map(echo_option).collect::<Vec<_>>())
            }
            Some(Value::Number(n)) if kind == 4 && n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
                Value::from(n.as_f64().unwrap_or_default() as i64)
            }
            Some(other) => other.clone(),
        };
        echoed.insert(key.to_owned(), value);
    }
    Value::Object(echoed)
}

// ----- interactions --------------------------------------------------------------------------------

fn interaction_callback(
    state: &mut State,
    req: &Request<'_>,
    interaction: &str,
    token: &str,
) -> Reply {
    let Some(mut record) = parse_id(interaction).and_then(|i| state.interactions.get(&i).cloned())
    else {
        return Reply::error(404, 10062, "Unknown interaction");
    };
    if record.token != token {
        return Reply::error(401, 50027, "Invalid Webhook Token");
    }
    if record.acknowledged {
        return Reply::error(400, 40060, "Interaction has already been acknowledged.");
    }
    let body = req.body();
    let data = body.get("data").filter(|d| !d.is_null());
    match body["type"].as_u64() {
        // Reply with a message now (4) or show "thinking..." and reply later (5).
        Some(kind @ (4 | 5)) => {
            let id = state.snowflakes.next();
            let mut message =
                StoredMessage::new(id, record.channel_id, state.world.bot.user_id, "");
            message.kind = if record.kind == 2 { 20 } else { 0 };
            message.application_id = Some(state.world.bot.application_id);
            message.interaction_metadata = Some(record.metadata.clone());
            let data_request = Request { body: data, ..*req };
            if kind == 5 {
                let ephemeral =
                    data.and_then(|d| d["flags"].as_u64()).unwrap_or(0) & message_flags::EPHEMERAL;
                message.flags = message_flags::LOADING | ephemeral;
            } else {
                if data.is_none() {
                    return Reply::invalid_form("data is required for callback type 4");
                }
                if let Err(reply) = apply_message_body(state, &mut message, &data_request, true) {
                    return reply;
                }
            }
            record.original = Some((message.channel_id, message.id));
            let reply = finish_create(state, message);
            if reply.status >= 300 {
                return reply;
            }
        }
        // Acknowledge a component (6) or update the message it belongs to (7).
        Some(kind @ (6 | 7)) => {
            let Some((channel, message_id)) = record.message else {
                return Reply::invalid_form("callback types 6 and 7 need a component interaction");
            };
            if kind == 7 {
                let Some(existing) = state.find(channel, message_id).cloned() else {
                    return Reply::error(404, 10008, "Unknown Message");
                };
                let data_request = Request { body: data, ..*req };
                let reply = edit_message(state, existing, &data_request, false);
                if reply.status >= 300 {
                    return reply;
                }
            }
            record.original = Some((channel, message_id));
        }
        Some(9) => {
            if !matches!(record.kind, 2 | 3) {
                return Reply::invalid_form("a modal can only answer a command or component");
            }
            record.modal = data.cloned();
        }
        Some(other) => {
            return Reply::invalid_form(&format!(
                "callback type {other} is not valid for a gateway interaction of type {}",
                record.kind
            ))
        }
        None => return Reply::invalid_form("type is required"),
    }
    record.acknowledged = true;
    state.interactions.insert(record.id, record);
    Reply::no_content()
}

/// `/webhooks/{app}/{token}...`: the follow-up API of an interaction.
fn webhook(state: &mut State, req: &Request<'_>, app: &str, token: &str, rest: &[&str]) -> Outcome {
    let Some(record) = state
        .interactions
        .values()
        .find(|r| r.token == token)
        .cloned()
        .filter(|_| parse_id(app) == Some(state.world.bot.application_id))
    else {
        return Reply::error(404, 10015, "Unknown Webhook").into();
    };
    let target = match rest {
        [] => None,
        ["messages", "@original"] => Some(record.original),
        ["messages", message] => match parse_id(message) {
            Some(m) => Some(Some((record.channel_id, m))),
            None => return Reply::error(404, 10008, "Unknown Message").into(),
        },
        _ => return Outcome::Unknown,
    };
    match (req.method, target) {
        ("POST", None) => followup(state, req, record).into(),
        (method @ ("GET" | "PATCH" | "DELETE"), Some(target)) => {
            let Some(existing) = target.and_then(|(c, m)| state.find(c, m).cloned()) else {
                return Reply::error(404, 10008, "Unknown Message").into();
            };
            match method {
                "GET" => Reply::ok(state.message_json(&existing, false)).into(),
                "PATCH" => edit_message(state, existing, req, true).into(),
                _ => delete_message(state, &existing).into(),
            }
        }
        _ => Outcome::Unknown,
    }
}

fn followup(
    state: &mut State,
    req: &Request<'_>,
    record: super::state::InteractionRecord,
) -> Reply {
    if !record.acknowledged {
        return Reply::error(400, 40060, "Interaction has not been acknowledged yet");
    }
    // After a deferred response, the first follow-up replaces the "thinking" message.
    if let Some((channel, message)) = record.original {
        if let Some(original) = state.find(channel, message).cloned() {
            if original.flags & message_flags::LOADING != 0 {
                return edit_message(state, original, req, true);
            }
        }
    }
    let id = state.snowflakes.next();
    let mut message = StoredMessage::new(id, record.channel_id, state.world.bot.user_id, "");
    message.application_id = Some(state.world.bot.application_id);
    message.interaction_metadata = Some(record.metadata.clone());
    if let Err(reply) = apply_message_body(state, &mut message, req, true) {
        return reply;
    }
    finish_create(state, message)
}

// ----- body decoding ---------------------------------------------------------------------------------

/// Parses `?&limit=50&after=1` (serenity's style: a leading `&`, values not encoded).
fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (part.to_owned(), String::new()),
        })
        .collect()
}

fn query_suffix(query: &[(String, String)]) -> String {
    if query.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("?{}", parts.join("&"))
}

fn decode_body(content_type: &str, bytes: &[u8]) -> Decoded {
    if bytes.is_empty() {
        return Decoded::default();
    }
    if let Some(boundary) = content_type
        .strip_prefix("multipart/form-data")
        .and_then(|rest| rest.split("boundary=").nth(1))
    {
        return decode_multipart(boundary.trim_matches('"'), bytes);
    }
    match serde_json::from_slice(bytes) {
        Ok(json) => Decoded {
            json: Some(json),
            ..Decoded::default()
        },
        Err(e) => Decoded {
            problem: Some(format!("body is not valid JSON ({e})")),
            ..Decoded::default()
        },
    }
}

/// Minimal `multipart/form-data` reader: `payload_json` is the JSON body, `files[n]` parts are
/// uploads. Enough for what serenity sends.
fn decode_multipart(boundary: &str, body: &[u8]) -> Decoded {
    let mut decoded = Decoded::default();
    let delimiter = format!("--{boundary}");
    for part in split_bytes(body, delimiter.as_bytes()).into_iter().skip(1) {
        if part.starts_with(b"--") {
            break; // closing delimiter
        }
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let Some(split) = find(part, b"\r\n\r\n") else {
            decoded.problem = Some("malformed multipart part (no header end)".into());
            continue;
        };
        let headers = String::from_utf8_lossy(&part[..split]);
        let content = &part[split + 4..];
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in headers.lines() {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-disposition:") {
                name = disposition_param(line, "name");
                filename = disposition_param(line, "filename");
            } else if lower.starts_with("content-type:") {
                content_type = line.split_once(':').map(|(_, v)| v.trim().to_owned());
            }
        }
        match (name.as_deref(), filename) {
            (Some("payload_json"), _) => match serde_json::from_slice(content) {
                Ok(json) => decoded.json = Some(json),
                Err(e) => decoded.problem = Some(format!("payload_json is not valid JSON ({e})")),
            },
            (Some(_), Some(filename)) => decoded.files.push(RecordedFile {
                filename,
                content_type,
                bytes: content.to_vec(),
            }),
            (field, None) => {
                decoded.problem = Some(format!("unexpected multipart field {field:?}"));
            }
            (None, Some(_)) => decoded.problem = Some("multipart file part without a name".into()),
        }
    }
    decoded
}

fn disposition_param(line: &str, key: &str) -> Option<String> {
    line.split(';').map(str::trim).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        (k.eq_ignore_ascii_case(key)).then(|| v.trim_matches('"').to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split_bytes<'a>(mut data: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(at) = find(data, delimiter) {
        parts.push(&data[..at]);
        data = &data[at + delimiter.len()..];
    }
    parts.push(data);
    parts
}
