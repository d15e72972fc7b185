//! The fake gateway: a WebSocket server speaking Discord's gateway protocol (v10, plain JSON
//! text frames, no compression) well enough for serenity's shard runner.
//!
//! Per connection: HELLO first; IDENTIFY starts a new session for the shard it names (READY,
//! a GUILD_CREATE per guild on that shard, then the shard's backlog); RESUME replays the logged
//! dispatches of the session after the client's sequence number and ends with RESUMED;
//! heartbeats get op 11. Which connection receives dispatches is decided in [`State`] under its
//! lock, so a dispatch is either sent live or replayed later, never both.
//!
//! Shards: IDENTIFY's `shard: [id, count]` (absent = `[0, 1]`) must use the world's
//! `shard_count` and an id below it, or the connection is closed with 4010 (Invalid shard) as
//! Discord does. Each shard has its own session; several connections (from one process or
//! several) may be live at once, one per shard.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::fake_discord::ResumeRecord;
use super::objects::{self, id};
use super::state::{ConnCmd, Inner, LiveConnection, Session, State};

/// Accepts gateway connections until the fake is dropped.
pub async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // Each dispatch goes out at once, as from Discord: with Nagle's algorithm a small
        // frame waits for the previous one's acknowledgement, tens of milliseconds on loopback.
        let _ = stream.set_nodelay(true);
        let task = tokio::spawn(connection(inner.clone(), stream));
        inner.lock().connection_tasks.push(task.abort_handle());
    }
}

async fn connection(inner: Arc<Inner>, stream: TcpStream) {
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (conn_id, hello) = {
        let mut state = inner.lock();
        state.gateway.next_connection += 1;
        let interval = state.world.heartbeat_interval.as_millis() as u64;
        (
            state.gateway.next_connection,
            json!({"op": 10, "d": {"heartbeat_interval": interval}}),
        )
    };
    let _ = tx.send(ConnCmd::Frame(hello.to_string()));

    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(ConnCmd::Frame(text)) => {
                    if sink.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                Some(ConnCmd::Close(code, reason)) => {
                    let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
                // Dropping both halves closes the TCP socket without a close frame: serenity sees
                // a reset, keeps its session and RESUMEs.
                Some(ConnCmd::Drop) | None => break,
            },
            msg = source.next() => match msg {
                Some(Ok(Message::Text(text))) => on_payload(&inner, conn_id, &tx, &text).await,
                Some(Ok(Message::Close(_))) => {
                    // Let tungstenite answer the close handshake (serenity waits for it on shutdown).
                    let _ = sink.close().await;
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }

    inner.update(|state| {
        for shard in state.gateway.shards.values_mut() {
            if shard.live.as_ref().is_some_and(|l| l.id == conn_id) {
                shard.live = None;
            }
        }
    });
}

async fn on_payload(inner: &Inner, conn_id: u64, tx: &mpsc::UnboundedSender<ConnCmd>, text: &str) {
    let Ok(payload) = serde_json::from_str::<Value>(text) else {
        let _ = tx.send(ConnCmd::Close(4002, "Error while decoding payload.".into()));
        return;
    };
    let data = &payload["d"];
    match payload["op"].as_u64() {
        Some(1) => inner.update(|state| {
            state.gateway.heartbeats += 1;
            let _ = tx.send(ConnCmd::Frame(json!({"op": 11}).to_string()));
        }),
        Some(2) => {
            // IDENTIFY names its shard (none: shard 0), so one shard can be held back alone.
            let shard = data["shard"][0].as_u64().map_or(0, |s| s as u32);
            wait_while_held(inner, Some(shard)).await;
            inner.update(|state| identify(state, conn_id, tx, data));
        }
        Some(6) => {
            wait_while_held(inner, None).await;
            inner.update(|state| resume(state, conn_id, tx, data));
        }
        // Presence updates, voice state, member requests...: accepted and kept for inspection.
        Some(3 | 4 | 8 | 31) => inner.update(|state| state.gateway.other_ops.push(payload.clone())),
        _ => {
            let _ = tx.send(ConnCmd::Close(4001, "Unknown opcode.".into()));
        }
    }
}

/// While a test holds the gateway down (`FakeDiscord::disconnect_gateway`), a reconnecting
/// client's IDENTIFY/RESUME waits here, so events pushed meanwhile can only arrive by replay.
/// An IDENTIFY for a shard held alone (`FakeDiscord::hold_shard`) waits here too.
async fn wait_while_held(inner: &Inner, identifying: Option<u32>) {
    loop {
        let notified = inner.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let held = {
            let state = inner.lock();
            state.gateway.held
                || identifying.is_some_and(|shard| state.gateway.held_shards.contains(&shard))
        };
        if !held {
            return;
        }
        notified.await;
    }
}

/// Serenity sends the token with its `Bot ` prefix; Discord accepts either form.
fn token_ok(state: &State, token: &Value) -> bool {
    let token = token.as_str().unwrap_or_default();
    token.strip_prefix("Bot ").unwrap_or(token) == state.world.token
}

fn identify(state: &mut State, conn_id: u64, tx: &mpsc::UnboundedSender<ConnCmd>, data: &Value) {
    if !token_ok(state, &data["token"]) {
        let _ = tx.send(ConnCmd::Close(4004, "Authentication failed.".into()));
        return;
    }
    let (shard, count) = match data["shard"].as_array().map(|s| s.as_slice()) {
        None => (0, 1),
        Some([shard, count]) => (
            shard.as_u64().unwrap_or(u64::MAX),
            count.as_u64().unwrap_or(0),
        ),
        Some(_) => (u64::MAX, 0),
    };
    let expected = u64::from(state.world.shard_count);
    if count != expected || shard >= count {
        // What Discord answers a shard id out of range or a count it does not accept.
        let _ = tx.send(ConnCmd::Close(4010, "Invalid shard.".into()));
        return;
    }
    let shard = shard as u32;
    state.gateway.identify_count += 1;
    let session_id = format!("fake-session-{}", state.gateway.identify_count);
    let gateway = state.gateway.shard(shard);
    gateway.session = Some(Session {
        id: session_id.clone(),
        seq: 0,
        intents: data["intents"].as_u64().unwrap_or(0),
        log: Vec::new(),
    });
    gateway.live = Some(LiveConnection {
        id: conn_id,
        tx: tx.clone(),
    });

    let world = &state.world;
    let guilds = world.guilds_on_shard(shard);
    let mut ready = json!({
        "v": 10,
        "user": objects::current_user(world),
        "guilds": guilds.iter().map(|g| json!({"id": id(g.id), "unavailable": true})).collect::<Vec<_>>(),
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": state.gateway_url,
        "application": {"id": id(world.bot.application_id), "flags": 0},
        "private_channels": [],
        "presences": [],
        "relationships": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": [],
        "user_settings": {},
        "_trace": ["[\"fake-discord\"]"],
    });
    if data["shard"].is_array() {
        ready["shard"] = data["shard"].clone();
    }
    let creates: Vec<Value> = guilds
        .iter()
        .map(|g| objects::guild_create(world, g))
        .collect();
    state.dispatch_to(shard, "READY", ready);
    for guild in creates {
        state.dispatch_to(shard, "GUILD_CREATE", guild);
    }
    for (name, data) in std::mem::take(&mut state.gateway.shard(shard).backlog) {
        state.dispatch_to(shard, &name, data);
    }
}

fn resume(state: &mut State, conn_id: u64, tx: &mpsc::UnboundedSender<ConnCmd>, data: &Value) {
    let wanted = data["session_id"].as_str().unwrap_or_default();
    // RESUME names the session, not the shard: the session says which shard it is.
    let shard = state
        .gateway
        .shards
        .iter()
        .find(|(_, g)| g.session.as_ref().is_some_and(|s| s.id == wanted))
        .map(|(shard, _)| *shard);
    let shard = match shard {
        Some(shard) if token_ok(state, &data["token"]) => shard,
        _ => {
            // Invalid session, not resumable: serenity re-identifies (after a 5 s pause).
            let _ = tx.send(ConnCmd::Frame(json!({"op": 9, "d": false}).to_string()));
            return;
        }
    };
    let from_seq = data["seq"].as_u64().unwrap_or(0);
    let gateway = state.gateway.shard(shard);
    let session = gateway.session.as_ref().expect("found above");
    let mut replayed = Vec::new();
    for logged in session.log.iter().filter(|l| l.seq > from_seq) {
        let _ = tx.send(ConnCmd::Frame(logged.frame.clone()));
        replayed.push(logged.name.clone());
    }
    gateway.live = Some(LiveConnection {
        id: conn_id,
        tx: tx.clone(),
    });
    state.gateway.resumes.push(ResumeRecord { replayed });
    state.dispatch_to(shard, "RESUMED", json!({}));
}
