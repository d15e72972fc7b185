//! [`FakeTelegram`]: a fake Telegram Bot API on 127.0.0.1 for end-to-end tests of the
//! Telegram channel, serving `POST /bot<token>/<method>` with JSON (or multipart) bodies.
//!
//! Every request the bot sends is checked against the Bot API's own description
//! (`telegram-api/api.json`): the method must exist, every required field be present, no field
//! be unknown, and each value have the documented type (objects checked field by field, the
//! same rules). Every object the fake serves (updates, messages, chat members) is checked the
//! same way, so the updates a test hands out carry every field the spec marks required.
//! `assert_clean()` fails the test on any violation, like the fake Discord's.
//!
//! It behaves like Telegram where the bot can notice: `getUpdates` long-polls and forgets what
//! an offset confirmed, an edit that changes nothing is refused ("message is not modified"), a
//! callback query can be answered once, a `getUpdates` still waiting when another starts ends
//! with 409 (two processes polling one bot), a message to a group that became a supergroup is
//! refused with `migrate_to_chat_id`, and a test can make the next call to a method fail
//! (`fail_next`), e.g. with flood control's 429 and `retry_after`. In webhook mode a test
//! takes the waiting updates (`take_updates`) and POSTs them to the bot as Telegram would.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Ids of the fake's world.
pub mod tg {
    /// The bot.
    pub const BOT: i64 = 7_000_000_001;
    /// "Clienti": a private forum supergroup where members complain.
    pub const SHOP: i64 = -1_001_000_000_001;
    /// "Negozio": a public supergroup (username `negozio_it`).
    pub const PUBLIC: i64 = -1_001_000_000_002;
    /// "Vecchio gruppo": a basic group, upgraded to [`UPGRADED`] by `migrate`.
    pub const OLD_GROUP: i64 = -4_000_000_001;
    pub const UPGRADED: i64 = -1_001_000_000_003;
    /// "Moderatori": the moderators' chat.
    pub const MODS: i64 = -1_001_000_000_099;
    /// A member who complains.
    pub const NORA: i64 = 201;
    /// A moderator: administrator of MODS.
    pub const MIA: i64 = 301;
    /// Staff: administrator of SHOP.
    pub const LUCA: i64 = 401;
    /// Neither moderator nor staff.
    pub const EVE: i64 = 501;
    /// The forum topic "Spedizioni" in SHOP (its first message's id).
    pub const TOPIC: i64 = 3;
}

/// The token the fake accepts.
pub const TOKEN: &str = "7000000001:AAfake-token-for-tests";

/// The parsed Bot API description, shared by every fake in the test process.
pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/support/telegram-api/api.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).expect("api.json is JSON")
    })
}

/// One request the bot made, as the fake saw and answered it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The parameters (JSON body, or the text parts of a multipart body).
    pub params: Value,
    /// Files of a multipart body: (field, file name, bytes).
    pub files: Vec<(String, String, Vec<u8>)>,
    pub at: Instant,
    pub status: u16,
    pub response: Value,
}

#[derive(Debug)]
struct ChatInfo {
    chat: Value,
    admins: Vec<i64>,
    owner: Option<i64>,
    next_message: i64,
    migrated_to: Option<i64>,
}

#[derive(Debug, Default)]
struct State {
    users: HashMap<i64, Value>,
    chats: HashMap<i64, ChatInfo>,
    messages: HashMap<(i64, i64), Value>,
    /// Updates not yet confirmed by an offset.
    updates: VecDeque<Value>,
    next_update: i64,
    can_read_all_group_messages: bool,
    requests: Vec<Recorded>,
    violations: Vec<String>,
    failures: HashMap<String, VecDeque<(u16, String, Value)>>,
    /// Callback query id → how many times the bot answered it.
    callbacks: HashMap<String, usize>,
    /// Counts `getUpdates` calls: a newer one ends one still waiting with 409, as Telegram
    /// does when two processes poll the same bot.
    poll_generation: u64,
    next_callback: u64,
}

struct Inner {
    state: Mutex<State>,
    changed: tokio::sync::Notify,
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A fake Bot API. Dropping it stops its server.
pub struct FakeTelegram {
    inner: Arc<Inner>,
    task: JoinHandle<()>,
    base: String,
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn user(id: i64, first: &str, last: Option<&str>, username: Option<&str>, bot: bool) -> Value {
    let mut u = json!({"id": id, "is_bot": bot, "first_name": first});
    if let Some(last) = last {
        u["last_name"] = json!(last);
    }
    if let Some(username) = username {
        u["username"] = json!(username);
    }
    u
}

impl FakeTelegram {
    /// The world of the Telegram tests (see [`tg`]); privacy mode as given.
    pub async fn start(can_read_all_group_messages: bool) -> FakeTelegram {
        let mut state = State {
            next_update: 100,
            can_read_all_group_messages,
            ..State::default()
        };
        for u in [
            user(tg::NORA, "Nora", Some("Rossi"), Some("nora_r"), false),
            user(tg::MIA, "Mia", None, Some("mia_mod"), false),
            user(tg::LUCA, "Luca", None, None, false),
            user(tg::EVE, "Eve", None, Some("eve"), false),
            user(tg::BOT, "Ascolto", None, Some("ascolto_test_bot"), true),
        ] {
            state.users.insert(u["id"].as_i64().unwrap(), u);
        }
        let chat = |id: i64, kind: &str, title: &str, extra: Value| {
            let mut c = json!({"id": id, "type": kind, "title": title});
            for (k, v) in extra.as_object().unwrap() {
                c[k] = v.clone();
            }
            c
        };
        let chats = [
            (
                chat(tg::SHOP, "supergroup", "Clienti", json!({"is_forum": true})),
                vec![tg::LUCA],
                Some(tg::LUCA),
            ),
            (
                chat(
                    tg::PUBLIC,
                    "supergroup",
                    "Negozio",
                    json!({"username": "negozio_it"}),
                ),
                vec![],
                None,
            ),
            (
                chat(tg::OLD_GROUP, "group", "Vecchio gruppo", json!({})),
                vec![],
                None,
            ),
            (
                chat(tg::UPGRADED, "supergroup", "Vecchio gruppo", json!({})),
                vec![],
                None,
            ),
            (
                chat(tg::MODS, "supergroup", "Moderatori", json!({})),
                vec![tg::MIA],
                Some(tg::MIA),
            ),
        ];
        for (chat, admins, owner) in chats {
            let id = chat["id"].as_i64().unwrap();
            state.chats.insert(
                id,
                ChatInfo {
                    chat,
                    admins,
                    owner,
                    next_message: 10,
                    migrated_to: None,
                },
            );
        }
        for u in [tg::NORA, tg::EVE] {
            let private =
                json!({"id": u, "type": "private", "first_name": state.users[&u]["first_name"]});
            state.chats.insert(
                u,
                ChatInfo {
                    chat: private,
                    admins: vec![],
                    owner: None,
                    next_message: 10,
                    migrated_to: None,
                },
            );
        }
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
            changed: tokio::sync::Notify::new(),
        });
        // The topic "Spedizioni" exists: its first message is a service message.
        {
            let mut s = inner.lock();
            let root = json!({
                "message_id": tg::TOPIC, "date": 1_700_000_000, "chat": s.chats[&tg::SHOP].chat,
                "from": s.users[&tg::LUCA], "message_thread_id": tg::TOPIC,
                "forum_topic_created": {"name": "Spedizioni", "icon_color": 7322096}
            });
            s.messages.insert((tg::SHOP, tg::TOPIC), root);
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let router = Router::new().fallback(handle).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FakeTelegram { inner, task, base }
    }

    /// The Bot API base URL (`[telegram] api_base`).
    pub fn base(&self) -> String {
        self.base.clone()
    }

    fn push_update(&self, kind: &str, object: Value) -> i64 {
        let mut s = self.inner.lock();
        let id = s.next_update;
        s.next_update += 1;
        let update = json!({"update_id": id, kind: object});
        let errors = check_type(&json!(["Update"]), &update, "update", false);
        assert!(
            errors.is_empty(),
            "the fake built an update the spec does not allow: {errors:?}"
        );
        s.updates.push_back(update);
        drop(s);
        self.inner.changed.notify_waiters();
        id
    }

    /// Hands out an update as it is (for malformed ones); returns its id if it has one.
    pub fn push_raw(&self, update: Value) {
        let mut s = self.inner.lock();
        if let Some(id) = update["update_id"].as_i64() {
            s.next_update = s.next_update.max(id + 1);
        }
        s.updates.push_back(update);
        drop(s);
        self.inner.changed.notify_waiters();
    }

    /// Takes the updates waiting for the bot, as Telegram does when it delivers them by
    /// webhook instead of `getUpdates` (the test then POSTs them to the bot).
    pub fn take_updates(&self) -> Vec<Value> {
        self.inner.lock().updates.drain(..).collect()
    }

    /// The next update id the fake will give out.
    pub fn next_update_id(&self) -> i64 {
        self.inner.lock().next_update
    }

    /// A member's message in `chat`, optionally replying to a message and in a forum topic.
    /// Returns its message id.
    pub fn post(
        &self,
        chat: i64,
        from: i64,
        text: &str,
        reply_to: Option<i64>,
        topic: Option<i64>,
    ) -> i64 {
        let message = {
            let mut s = self.inner.lock();
            let info = s.chats.get_mut(&chat).expect("known chat");
            let id = info.next_message;
            info.next_message += 1;
            let mut m = json!({
                "message_id": id, "date": crate::support::app::t0().timestamp(),
                "chat": info.chat, "from": s.users[&from], "text": text,
            });
            // In a forum topic, a message that replies to nobody replies to the topic's root.
            let reply = reply_to.or(topic);
            if let Some(topic) = topic {
                m["message_thread_id"] = json!(topic);
                m["is_topic_message"] = json!(true);
            }
            if let Some(to) = reply {
                let replied = s.messages.get(&(chat, to)).cloned().expect("known message");
                m["reply_to_message"] = replied;
            }
            s.messages.insert((chat, id), m.clone());
            m
        };
        let id = message["message_id"].as_i64().unwrap();
        self.push_update("message", message);
        id
    }

    /// The author edits a message.
    pub fn edit(&self, chat: i64, message: i64, text: &str) {
        let edited = {
            let mut s = self.inner.lock();
            let m = s.messages.get_mut(&(chat, message)).expect("known message");
            m["text"] = json!(text);
            m["edit_date"] = json!(crate::support::app::t0().timestamp() + 60);
            m.clone()
        };
        self.push_update("edited_message", edited);
    }

    /// Someone presses a button of the bot's message `message` in `chat`; returns the query id.
    pub fn click(&self, from: i64, chat: i64, message: i64, data: &str) -> String {
        let query = {
            let mut s = self.inner.lock();
            s.next_callback += 1;
            let id = format!("cb{}", s.next_callback);
            s.callbacks.insert(id.clone(), 0);
            let m = s
                .messages
                .get(&(chat, message))
                .cloned()
                .expect("known message");
            json!({
                "id": id, "from": s.users[&from], "message": m,
                "chat_instance": format!("ci{chat}"), "data": data,
            })
        };
        let id = query["id"].as_str().unwrap().to_owned();
        self.push_update("callback_query", query);
        id
    }

    /// `old` is upgraded to supergroup `new`: Telegram posts the service messages in both.
    pub fn migrate(&self, old: i64, new: i64) {
        self.upgrade(old, new, true);
    }

    /// As [`FakeTelegram::migrate`], without the service messages reaching the bot (sent
    /// while it was not polling and lost, say): it learns of the upgrade when it writes there.
    pub fn migrate_unannounced(&self, old: i64, new: i64) {
        self.upgrade(old, new, false);
    }

    fn upgrade(&self, old: i64, new: i64, announce: bool) {
        let (in_old, in_new) = {
            let mut s = self.inner.lock();
            let date = crate::support::app::t0().timestamp();
            let old_chat = s.chats[&old].chat.clone();
            let new_chat = s.chats[&new].chat.clone();
            let from = s.users[&tg::LUCA].clone();
            s.chats.get_mut(&old).unwrap().migrated_to = Some(new);
            // Message ids stay the same in the supergroup.
            let carried: Vec<((i64, i64), Value)> = s
                .messages
                .iter()
                .filter(|((c, _), _)| *c == old)
                .map(|((_, m), v)| ((new, *m), v.clone()))
                .collect();
            s.messages.extend(carried);
            let next = s.chats[&old].next_message;
            s.chats.get_mut(&new).unwrap().next_message = next + 1;
            (
                json!({"message_id": next, "date": date, "chat": old_chat, "from": from, "migrate_to_chat_id": new}),
                json!({"message_id": 1, "date": date, "chat": new_chat, "sender_chat": old_chat, "migrate_from_chat_id": old}),
            )
        };
        if announce {
            self.push_update("message", in_old);
            self.push_update("message", in_new);
        }
    }

    /// The next call to `method` fails with `code`, `description` and `parameters`.
    pub fn fail_next(&self, method: &str, code: u16, description: &str, parameters: Value) {
        self.inner
            .lock()
            .failures
            .entry(method.to_owned())
            .or_default()
            .push_back((code, description.to_owned(), parameters));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().requests.clone()
    }

    /// Successful calls to `method` matching `pred`.
    pub fn calls(&self, method: &str, pred: impl Fn(&Value) -> bool) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.status == 200 && pred(&r.params))
            .collect()
    }

    /// Waits until a successful call to `method` matches `pred`, and returns it.
    pub async fn wait_for(
        &self,
        method: &str,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Recorded {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self.calls(method, &pred).into_iter().next() {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no {method} call as expected within {timeout:?}; requests: {:#?}",
                self.requests()
                    .iter()
                    .map(|r| (&r.method, &r.params, r.status))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the bot has confirmed (by its offset) every update given out so far.
    pub async fn wait_until_confirmed(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let next = self.next_update_id();
        loop {
            let confirmed = self.requests().iter().any(|r| {
                r.method == "getUpdates" && r.params["offset"].as_i64().is_some_and(|o| o >= next)
            });
            if confirmed {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "updates before {next} were not confirmed within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A message as it stands now (the bot's alerts after their edits).
    pub fn message(&self, chat: i64, id: i64) -> Option<Value> {
        self.inner.lock().messages.get(&(chat, id)).cloned()
    }

    /// How many times the bot answered callback query `id`.
    pub fn answers(&self, id: &str) -> usize {
        self.inner.lock().callbacks.get(id).copied().unwrap_or(0)
    }

    /// What the bot sent that the Bot API does not describe, so far.
    pub fn violations(&self) -> Vec<String> {
        self.inner.lock().violations.clone()
    }

    /// Fails the test if the bot sent anything the Bot API does not describe.
    pub fn assert_clean(&self) {
        let s = self.inner.lock();
        assert!(
            s.violations.is_empty(),
            "the bot's requests do not match the Bot API:\n{}",
            s.violations.join("\n")
        );
    }
}

async fn handle(
    AxumState(inner): AxumState<Arc<Inner>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let Some((token, method)) = path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return reply(
            StatusCode::NOT_FOUND,
            json!({"ok": false, "error_code": 404, "description": "Not Found"}),
        );
    };
    if token != TOKEN {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
        );
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (params, files, form) = if content_type.starts_with("multipart/form-data") {
        let (params, files) = parse_multipart(&content_type, &body);
        (params, files, true)
    } else if body.is_empty() {
        (json!({}), Vec::new(), false)
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => (v, Vec::new(), false),
            Err(e) => {
                inner
                    .lock()
                    .violations
                    .push(format!("{method}: body is not JSON: {e}"));
                return reply(
                    StatusCode::BAD_REQUEST,
                    json!({"ok": false, "error_code": 400, "description": "Bad Request: invalid JSON"}),
                );
            }
        }
    };
    let problems = check_request(method, &params, &files, form);
    let (status, response) = if method == "getUpdates" && problems.is_empty() {
        get_updates(&inner, &params).await
    } else {
        let mut s = inner.lock();
        if !problems.is_empty() {
            s.violations
                .extend(problems.iter().map(|p| format!("{method}: {p}")));
        }
        match s.failures.get_mut(method).and_then(VecDeque::pop_front) {
            Some((code, description, parameters)) => {
                let mut error =
                    json!({"ok": false, "error_code": code, "description": description});
                if !parameters.is_null() {
                    error["parameters"] = parameters;
                }
                (code, error)
            }
            None => answer(&mut s, method, &params),
        }
    };
    {
        let mut s = inner.lock();
        // Updates were checked as they were queued (malformed ones are queued on purpose).
        if status == 200 && method != "getUpdates" {
            let returns = &spec()["methods"][method]["returns"];
            let errors = check_type(returns, &response["result"], "result", false);
            assert!(
                errors.is_empty(),
                "the fake answered {method} against the spec: {errors:?}"
            );
        }
        s.requests.push(Recorded {
            method: method.to_owned(),
            params,
            files,
            at: Instant::now(),
            status,
            response: response.clone(),
        });
    }
    inner.changed.notify_waiters();
    reply(
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        response,
    )
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn ok(result: Value) -> (u16, Value) {
    (200, json!({"ok": true, "result": result}))
}

fn bad(description: &str) -> (u16, Value) {
    (
        400,
        json!({"ok": false, "error_code": 400, "description": format!("Bad Request: {description}")}),
    )
}

async fn get_updates(inner: &Inner, params: &Value) -> (u16, Value) {
    let offset = params["offset"].as_i64();
    let timeout = Duration::from_secs(params["timeout"].as_u64().unwrap_or(0));
    let allowed: Option<Vec<String>> = params["allowed_updates"].as_array().map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    });
    let deadline = tokio::time::Instant::now() + timeout;
    let generation = {
        let mut s = inner.lock();
        s.poll_generation += 1;
        s.poll_generation
    };
    inner.changed.notify_waiters();
    loop {
        let notified = inner.changed.notified();
        {
            let mut s = inner.lock();
            if s.poll_generation != generation {
                return (
                    409,
                    json!({"ok": false, "error_code": 409,
                        "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}),
                );
            }
            if let Some(failure) = s
                .failures
                .get_mut("getUpdates")
                .and_then(VecDeque::pop_front)
            {
                let (code, description, parameters) = failure;
                return (
                    code,
                    json!({"ok": false, "error_code": code, "description": description, "parameters": parameters}),
                );
            }
            if let Some(offset) = offset {
                s.updates
                    .retain(|u| u["update_id"].as_i64().is_none_or(|id| id >= offset));
            }
            let batch: Vec<Value> = s
                .updates
                .iter()
                .filter(|u| {
                    let kinds: Vec<&String> = u
                        .as_object()
                        .map(|o| o.keys().filter(|k| *k != "update_id").collect())
                        .unwrap_or_default();
                    // A malformed update (no kind at all) is handed out as Telegram would.
                    match &allowed {
                        Some(allowed) if !allowed.is_empty() && !kinds.is_empty() => {
                            kinds.iter().any(|k| allowed.contains(k))
                        }
                        _ => true,
                    }
                })
                .take(100)
                .cloned()
                .collect();
            if !batch.is_empty() {
                return ok(Value::Array(batch));
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return ok(json!([]));
        }
    }
}

fn answer(s: &mut State, method: &str, p: &Value) -> (u16, Value) {
    match method {
        "getMe" => {
            let mut me = s.users[&tg::BOT].clone();
            me["can_join_groups"] = json!(true);
            me["can_read_all_group_messages"] = json!(s.can_read_all_group_messages);
            me["supports_inline_queries"] = json!(false);
            me["can_connect_to_business"] = json!(false);
            me["has_main_web_app"] = json!(false);
            ok(me)
        }
        "sendMessage" | "sendPhoto" => send(s, method, p),
        // The webhook is only recorded: a test delivers updates to the bot itself.
        "setWebhook" | "deleteWebhook" => ok(json!(true)),
        "editMessageText" | "editMessageReplyMarkup" => {
            let (Some(chat), Some(id)) = (p["chat_id"].as_i64(), p["message_id"].as_i64()) else {
                return bad("message identifier is not specified");
            };
            let Some(m) = s.messages.get_mut(&(chat, id)) else {
                return bad("message to edit not found");
            };
            if m["from"]["id"].as_i64() != Some(tg::BOT) {
                return bad("message can't be edited");
            }
            let markup = match &p["reply_markup"] {
                Value::Null => Value::Null,
                k if k["inline_keyboard"]
                    .as_array()
                    .is_some_and(|rows| rows.is_empty()) =>
                {
                    Value::Null
                }
                k => k.clone(),
            };
            let text = if method == "editMessageText" {
                p["text"].clone()
            } else {
                m["text"].clone()
            };
            if m["text"] == text && m["reply_markup"] == markup {
                return bad("message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message");
            }
            m["text"] = text;
            match markup {
                Value::Null => {
                    m.as_object_mut().unwrap().remove("reply_markup");
                }
                k => m["reply_markup"] = k,
            }
            m["edit_date"] = json!(crate::support::app::t0().timestamp());
            ok(m.clone())
        }
        "answerCallbackQuery" => {
            let id = p["callback_query_id"].as_str().unwrap_or("");
            match s.callbacks.get_mut(id) {
                Some(0) => {
                    s.callbacks.insert(id.to_owned(), 1);
                    ok(json!(true))
                }
                Some(n) => {
                    *n += 1;
                    bad("query is too old and response timeout expired or query ID is invalid")
                }
                None => bad("query is too old and response timeout expired or query ID is invalid"),
            }
        }
        "getChatMember" => {
            let (Some(chat), Some(user)) = (p["chat_id"].as_i64(), p["user_id"].as_i64()) else {
                return bad("chat not found");
            };
            let (Some(info), Some(u)) = (s.chats.get(&chat), s.users.get(&user)) else {
                return bad("chat not found");
            };
            ok(member(info, u))
        }
        "getChatAdministrators" => {
            let Some(info) = p["chat_id"].as_i64().and_then(|c| s.chats.get(&c)) else {
                return bad("chat not found");
            };
            let admins = info
                .admins
                .iter()
                .filter_map(|a| s.users.get(a))
                .map(|u| member(info, u))
                .collect();
            ok(Value::Array(admins))
        }
        _ => (
            404,
            json!({"ok": false, "error_code": 404, "description": "Not Found: method not found"}),
        ),
    }
}

fn member(info: &ChatInfo, user: &Value) -> Value {
    let id = user["id"].as_i64();
    if id == info.owner {
        json!({"status": "creator", "user": user, "is_anonymous": false})
    } else if id.is_some_and(|id| info.admins.contains(&id)) {
        fill_required(
            "ChatMemberAdministrator",
            json!({"status": "administrator", "user": user}),
        )
    } else {
        json!({"status": "member", "user": user})
    }
}

/// `value` with every required Boolean field of `type_name` the test left out set to false.
fn fill_required(type_name: &str, mut value: Value) -> Value {
    for field in spec()["types"][type_name]["fields"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = field["name"].as_str().unwrap_or("");
        if field["required"] == true
            && value.get(name).is_none()
            && field["types"] == json!(["Boolean"])
        {
            value[name] = json!(false);
        }
    }
    value
}

fn send(s: &mut State, method: &str, p: &Value) -> (u16, Value) {
    let chat = p["chat_id"]
        .as_i64()
        .or_else(|| p["chat_id"].as_str().and_then(|c| c.parse().ok()));
    let Some(info) = chat.and_then(|c| s.chats.get(&c)) else {
        return bad("chat not found");
    };
    let chat = info.chat["id"].as_i64().unwrap_or_default();
    if let Some(to) = info.migrated_to {
        return (
            400,
            json!({"ok": false, "error_code": 400,
            "description": "Bad Request: group chat was upgraded to a supergroup chat",
            "parameters": {"migrate_to_chat_id": to}}),
        );
    }
    let mut m = json!({
        "message_id": info.next_message, "date": crate::support::app::t0().timestamp(),
        "chat": info.chat, "from": s.users[&tg::BOT],
    });
    if method == "sendMessage" {
        let text = p["text"].as_str().unwrap_or("");
        let units = text.encode_utf16().count();
        if units == 0 {
            return bad("message text is empty");
        }
        if units > 4096 {
            return bad("message is too long");
        }
        m["text"] = json!(text);
    } else {
        m["photo"] =
            json!([{"file_id": "f1", "file_unique_id": "u1", "width": 800, "height": 400}]);
        if let Some(caption) = p["caption"].as_str() {
            m["caption"] = json!(caption);
        }
    }
    if let Some(thread) = p["message_thread_id"].as_i64() {
        if info.chat["is_forum"] != true {
            return bad("message thread not found");
        }
        m["message_thread_id"] = json!(thread);
        m["is_topic_message"] = json!(true);
    }
    if let Some(to) = p["reply_parameters"]["message_id"].as_i64() {
        match s.messages.get(&(chat, to)) {
            Some(replied) => m["reply_to_message"] = replied.clone(),
            None if p["reply_parameters"]["allow_sending_without_reply"] == true => {}
            None => return bad("message to be replied not found"),
        }
    }
    if let Some(k) = p.get("reply_markup").filter(|k| {
        k["inline_keyboard"]
            .as_array()
            .is_some_and(|rows| !rows.is_empty())
    }) {
        for button in k["inline_keyboard"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r.as_array().into_iter().flatten())
        {
            let data = button["callback_data"].as_str().unwrap_or("");
            if data.is_empty() || data.len() > 64 {
                return bad("BUTTON_DATA_INVALID");
            }
        }
        m["reply_markup"] = k.clone();
    }
    if let Some(info) = s.chats.get_mut(&chat) {
        info.next_message += 1;
    }
    let id = m["message_id"].as_i64().unwrap_or_default();
    s.messages.insert((chat, id), m.clone());
    ok(m)
}

/// Problems with a request: unknown method, missing or unknown fields, wrong types.
fn check_request(
    method: &str,
    params: &Value,
    files: &[(String, String, Vec<u8>)],
    form: bool,
) -> Vec<String> {
    let Some(spec) = spec()["methods"].get(method) else {
        return vec![format!("`{method}` is not a Bot API method")];
    };
    let Some(params) = params.as_object() else {
        return vec!["the parameters are not an object".to_owned()];
    };
    let fields: Vec<&Value> = spec["fields"]
        .as_array()
        .map(|f| f.iter().collect())
        .unwrap_or_default();
    let mut errors = Vec::new();
    for field in &fields {
        let name = field["name"].as_str().unwrap_or("");
        let present = params.contains_key(name) || files.iter().any(|(f, _, _)| f == name);
        if field["required"] == true && !present {
            errors.push(format!("required field `{name}` is missing"));
        }
    }
    for (name, value) in params {
        match fields.iter().find(|f| f["name"] == name.as_str()) {
            None => errors.push(format!("`{name}` is not a field of {method}")),
            Some(field) => errors.extend(check_type(&field["types"], value, name, form)),
        }
    }
    for (name, _, _) in files {
        match fields.iter().find(|f| f["name"] == name.as_str()) {
            Some(field)
                if field["types"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == "InputFile")) => {}
            _ => errors.push(format!(
                "file part `{name}` is not an InputFile field of {method}"
            )),
        }
    }
    errors
}

/// Checks `value` against one of the spec's type lists (`["Integer", "String"]`): it is fine
/// when any alternative fits. `form` reads form values, which are all text, leniently.
fn check_type(types: &Value, value: &Value, at: &str, form: bool) -> Vec<String> {
    let Some(types) = types.as_array() else {
        return vec![format!("{at}: the spec gives no type")];
    };
    let mut first = None;
    for t in types.iter().filter_map(Value::as_str) {
        let errors = check_one(t, value, at, form);
        if errors.is_empty() {
            return errors;
        }
        first.get_or_insert(errors);
    }
    first.unwrap_or_default()
}

fn check_one(t: &str, value: &Value, at: &str, form: bool) -> Vec<String> {
    let text = value.as_str();
    let fits = match t {
        "Integer" => value.is_i64() || (form && text.is_some_and(|s| s.parse::<i64>().is_ok())),
        "String" => value.is_string(),
        "Boolean" | "True" => {
            value.is_boolean() || (form && matches!(text, Some("true" | "false")))
        }
        "Float" => value.is_number(),
        "InputFile" => false,
        _ => {
            if let Some(inner) = t.strip_prefix("Array of ") {
                let Some(items) = value.as_array() else {
                    return vec![format!("{at}: expected {t}, got {value}")];
                };
                return items
                    .iter()
                    .enumerate()
                    .flat_map(|(i, item)| check_one(inner, item, &format!("{at}[{i}]"), form))
                    .collect();
            }
            return check_object(t, value, at);
        }
    };
    if fits {
        Vec::new()
    } else {
        vec![format!("{at}: expected {t}, got {value}")]
    }
}

/// An object against a type of the spec: required fields present, no unknown field, each
/// field's type right. A type with subtypes (`ChatMember`) fits when one subtype does.
fn check_object(type_name: &str, value: &Value, at: &str) -> Vec<String> {
    let Some(spec) = spec()["types"].get(type_name) else {
        return vec![format!("{at}: `{type_name}` is not a Bot API type")];
    };
    if let Some(subtypes) = spec["subtypes"].as_array() {
        let names: Vec<Value> = subtypes.clone();
        return check_type(&Value::Array(names), value, at, false);
    }
    let Some(object) = value.as_object() else {
        return vec![format!("{at}: expected a {type_name} object, got {value}")];
    };
    let fields: Vec<&Value> = spec["fields"]
        .as_array()
        .map(|f| f.iter().collect())
        .unwrap_or_default();
    let mut errors = Vec::new();
    for field in &fields {
        let name = field["name"].as_str().unwrap_or("");
        if field["required"] == true && !object.contains_key(name) {
            errors.push(format!("{at}: {type_name} lacks required `{name}`"));
        }
    }
    for (name, v) in object {
        match fields.iter().find(|f| f["name"] == name.as_str()) {
            None => errors.push(format!("{at}: `{name}` is not a field of {type_name}")),
            Some(field) => errors.extend(check_type(
                &field["types"],
                v,
                &format!("{at}.{name}"),
                false,
            )),
        }
    }
    errors
}

/// A small multipart/form-data reader: text parts become parameters, parts with a file name
/// become files.
fn parse_multipart(content_type: &str, body: &[u8]) -> (Value, Vec<(String, String, Vec<u8>)>) {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .unwrap_or("")
        .trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    let mut params = Map::new();
    let mut files = Vec::new();
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(pos) = find(rest, &delimiter) {
        parts.push(&rest[..pos]);
        rest = &rest[pos + delimiter.len()..];
    }
    for part in parts.into_iter().skip(1) {
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let Some(split) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]).to_string();
        let mut content = &part[split + 4..];
        content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let attr = |key: &str| {
            head.split(';')
                .find_map(|p| p.trim().strip_prefix(&format!("{key}=")))
                .map(|v| {
                    v.trim_matches('"')
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim_matches('"')
                        .to_owned()
                })
        };
        let Some(name) = attr("name") else { continue };
        match attr("filename") {
            Some(file) => files.push((name, file, content.to_vec())),
            None => {
                params.insert(name, json!(String::from_utf8_lossy(content)));
            }
        }
    }
    (Value::Object(params), files)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
