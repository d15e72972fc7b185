//! [`FakeGraph`]: a fake Meta Graph API on 127.0.0.1 that records every request (method, path,
//! query, JSON body, authorization) and answers like Graph does: `{"id": ...}` for comments
//! and replies, `{"recipient_id", "message_id"}` for messages, or a queued Graph error
//! (`{"error": {"message", "type", "code", "is_transient", "fbtrace_id"}}`).
//!
//! Replies it accepted are kept, by the page (Facebook, `message`) or the Instagram account
//! (`text`) it was told it serves ([`FakeGraph::acting_as`]), and listed again by
//! `GET /{comment-id}/comments` and `GET /{ig-comment-id}/replies` as `{"data": [...]}`;
//! messages sent are listed by `GET /{page-id}/conversations?user_id=…` as one conversation
//! with `messages.data` (newest first, `created_time` the fake's own time).
//! [`FakeGraph::fail_next_after_applying`] keeps a reply yet answers an error: an answer lost
//! after the write.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request the client made.
#[derive(Debug, Clone)]
pub struct GraphRequest {
    pub method: String,
    /// The path, version included: `/v21.0/5_77/comments`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Value,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct State {
    requests: Vec<GraphRequest>,
    /// Queued errors, and whether the write is carried out before the error is answered.
    errors: VecDeque<(u16, Value, bool)>,
    replies: u64,
    /// The page and Instagram account replies are written by.
    page: String,
    instagram: String,
    /// Replies kept, by the path they were posted to (`/v21.0/5_77/comments`).
    posted: std::collections::HashMap<String, Vec<Value>>,
}

/// The fake. Dropping it stops the server.
pub struct FakeGraph {
    base: String,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeGraph {
    pub async fn start() -> FakeGraph {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let app = Router::new().fallback(move |method, uri, headers, body| {
            let state = shared.clone();
            async move { answer(state, method, uri, headers, body) }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGraph { base, state, task }
    }

    /// `http://127.0.0.1:PORT`, for `[meta] graph_base`.
    pub fn base(&self) -> String {
        self.base.clone()
    }

    pub fn requests(&self) -> Vec<GraphRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The page and Instagram account whose token the client uses: replies are kept as
    /// theirs.
    pub fn acting_as(&self, page: &str, instagram: &str) {
        let mut state = self.state.lock().unwrap();
        state.page = page.to_owned();
        state.instagram = instagram.to_owned();
    }

    /// The next request is answered with this Graph error.
    pub fn fail_next(&self, status: u16, code: i64, message: &str) {
        self.queue_error(status, code, message, false);
    }

    /// The next request is carried out (a reply is kept), then answered with a Graph error
    /// of this HTTP status: the write happened, its answer says otherwise.
    pub fn fail_next_after_applying(&self, status: u16) {
        self.queue_error(status, 1, "An unknown error occurred", true);
    }

    fn queue_error(&self, status: u16, code: i64, message: &str, apply: bool) {
        let error = json!({"error": {
            "message": message, "type": "OAuthException", "code": code,
            "is_transient": false, "fbtrace_id": "AbCdEf"
        }});
        self.state
            .lock()
            .unwrap()
            .errors
            .push_back((status, error, apply));
    }
}

fn answer(
    state: Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = state.lock().unwrap();
    let query = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let path = uri.path().to_owned();
    state.requests.push(GraphRequest {
        method: method.to_string(),
        path: path.clone(),
        query,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let failure = state.errors.pop_front();
    if let Some((status, error, false)) = failure {
        let status = StatusCode::from_u16(status).unwrap();
        return (status, axum::Json(error)).into_response();
    }
    if method == Method::GET {
        let data = state.posted.get(&path).cloned().unwrap_or_default();
        if path.ends_with("/conversations") {
            let user = query_value(&uri, "user_id").unwrap_or_default();
            let mut messages: Vec<Value> = data
                .into_iter()
                .filter(|m| m["to"] == user.as_str())
                .collect();
            messages.reverse();
            let conversations = if messages.is_empty() {
                json!([])
            } else {
                json!([{"id": format!("t_{user}"), "messages": {"data": messages}}])
            };
            return axum::Json(json!({"data": conversations})).into_response();
        }
        return axum::Json(json!({"data": data})).into_response();
    }
    state.replies += 1;
    let n = state.replies;
    let id = format!("reply_{n}");
    if path.ends_with("/comments") {
        let from = json!({"id": state.page, "name": "the page"});
        let reply = json!({"id": id, "message": body["message"], "from": from});
        state.posted.entry(path.clone()).or_default().push(reply);
    } else if path.ends_with("/replies") {
        let from = json!({"id": state.instagram});
        let reply = json!({"id": id, "text": body["message"], "from": from});
        state.posted.entry(path.clone()).or_default().push(reply);
    }
    if let Some(page_path) = path.strip_suffix("/messages") {
        // Kept as the page's message in its conversation with the recipient.
        let message = json!({"id": format!("m_reply_{n}"), "message": body["message"]["text"],
            "from": {"id": state.page}, "to": body["recipient"]["id"],
            "created_time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%z").to_string()});
        let key = format!("{page_path}/conversations");
        state.posted.entry(key).or_default().push(message);
    }
    if let Some((status, error, true)) = failure {
        let status = StatusCode::from_u16(status).unwrap();
        return (status, axum::Json(error)).into_response();
    }
    if path.ends_with("/messages") {
        let recipient = body["recipient"]["id"].as_str().unwrap_or_default();
        axum::Json(json!({"recipient_id": recipient, "message_id": format!("m_reply_{n}")}))
            .into_response()
    } else {
        axum::Json(json!({"id": id})).into_response()
    }
}

/// A query parameter's raw value (the ids it is used for need no decoding).
fn query_value(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.to_owned())
    })
}
