//! The HTTP server channels that receive webhooks share (today Meta's), with `GET /healthz`
//! for the reverse proxy or the service manager to see the bot is alive, `GET /readyz` (the
//! store answers and every channel started is connected) and `GET /metrics` (Prometheus'
//! text format, from [`metrics`](crate::metrics)).
//!
//! It listens on plain HTTP (`[http] listen`, 127.0.0.1 by default): TLS, the public host name
//! and any IP filtering belong to the reverse proxy in front, which the operator already runs.
//! Bodies larger than `[http] max_body_kb` are refused with 413 before they are read whole.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::tracker::Tracker;

/// How long `/readyz` waits for the store: a database locked by another process would
/// otherwise hold the probe for the store's two-minute busy timeout.
const STORE_PROBE: Duration = Duration::from_secs(5);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("`{0}` is not an address and port such as 127.0.0.1:8080 (setting http.listen)")]
    Address(String),
    #[error("cannot listen on {addr} (setting http.listen): {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// The whole application: `/healthz`, then each channel's routes, under one body limit.
pub fn router(channels: Vec<Router>, max_body_bytes: usize) -> Router {
    let mut app = Router::new().route("/healthz", get(healthz));
    for routes in channels {
        app = app.merge(routes);
    }
    app.layer(DefaultBodyLimit::max(max_body_bytes))
}

async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz` and `GET /metrics`, read from the tracker's store and figures.
pub fn status_routes(tracker: Arc<Tracker>) -> Router {
    Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(tracker)
}

/// 200 `ready` when the store answers and every channel started is connected; otherwise 503
/// with one line per thing not ready.
async fn readyz(State(tracker): State<Arc<Tracker>>) -> Response {
    let mut problems = Vec::new();
    match tokio::time::timeout(STORE_PROBE, tracker.store().ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => problems.push(format!("store: {e}")),
        Err(_) => problems.push(format!(
            "store: no answer within {} s",
            STORE_PROBE.as_secs()
        )),
    }
    for channel in tracker.metrics().channels_down() {
        problems.push(format!("{}: not connected", channel.as_str()));
    }
    if problems.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let mut body = problems.join("\n");
        body.push('\n');
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

async fn metrics(State(tracker): State<Arc<Tracker>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        tracker.metrics().render(),
    )
        .into_response()
}

/// A running server.
pub struct HttpServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Binds `listen` and serves `app` until [`HttpServer::shutdown`].
    pub async fn start(listen: &str, app: Router) -> Result<HttpServer, HttpError> {
        let addr: SocketAddr = listen
            .parse()
            .map_err(|_| HttpError::Address(listen.to_owned()))?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| HttpError::Bind {
                addr: listen.to_owned(),
                source,
            })?;
        let addr = listener.local_addr().unwrap_or(addr);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                warn!(error = %e, "the HTTP server stopped");
            }
        });
        info!(%addr, "HTTP server listening");
        Ok(HttpServer {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// Where it listens (the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish (a few seconds at most).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(std::time::Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
