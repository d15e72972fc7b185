//! [`FakeGraph`]: a fake Meta Graph API on 127.0.0.1 that records every request (method, path,
//! query, JSON body, authorization) and answers like Graph does: `{"id": ...}` for comments
//! and replies, `{"recipient_id", "message_id"}` for messages, or a queued Graph error
//! (`{"error": {"message", "type", "code", "is_transient", "fbtrace_id"}}`).

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
    errors: VecDeque<(u16, Value)>,
    replies: u64,
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

    /// The next request is answered with this Graph error.
    pub fn fail_next(&self, status: u16, code: i64, message: &str) {
        let error = json!({"error": {
            "message": message, "type": "OAuthException", "code": code,
            "is_transient": false, "fbtrace_id": "AbCdEf"
        }});
        self.state.lock().unwrap().errors.push_back((status, error));
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
    if let Some((status, error)) = state.errors.pop_front() {
        let status = StatusCode::from_u16(status).unwrap();
        return (status, axum::Json(error)).into_response();
    }
    state.replies += 1;
    let n = state.replies;
    if path.ends_with("/messages") {
        let recipient = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|b| b["recipient"]["id"].as_str().map(str::to_owned))
            .unwrap_or_default();
        axum::Json(json!({"recipient_id": recipient, "message_id": format!("m_reply_{n}")}))
            .into_response()
    } else {
        axum::Json(json!({"id": format!("reply_{n}")})).into_response()
    }
}
