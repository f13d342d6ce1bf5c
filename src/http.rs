//! The daemon's HTTP endpoints: `/metrics`, `/healthz`, `/readyz`, `/findings`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use jiff::Timestamp;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use crate::store::FindingsStore;

#[derive(Clone)]
pub struct Endpoints {
    pub store: Arc<FindingsStore>,
    pub metrics: Arc<Metrics>,
    /// The remediation queue, when enabled (`/remediations`).
    pub remediations: Option<Arc<crate::remediation::runner::Remediator>>,
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()))
        .expect("static response parts are valid")
}

impl Endpoints {
    pub fn handle(&self, method: &Method, path: &str) -> Response<Full<Bytes>> {
        const TEXT: &str = "text/plain; charset=utf-8";
        if method != Method::GET && method != Method::HEAD {
            return reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "method not allowed\n");
        }
        match path {
            "/metrics" => match self.metrics.render() {
                Ok(text) => reply(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", text),
                Err(e) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    TEXT,
                    format!("encoding metrics: {e}\n"),
                ),
            },
            "/healthz" => reply(StatusCode::OK, TEXT, "ok\n"),
            "/readyz" => {
                let reasons = self.store.not_ready_reasons();
                if reasons.is_empty() {
                    reply(StatusCode::OK, TEXT, "ok\n")
                } else {
                    // Say why: a scanner that keeps failing (e.g. an --owner-resources name the
                    // cluster does not serve) is not the same as one still scanning.
                    let mut body = String::from("not ready: waiting for the first successful scan of every scanner\n");
                    for r in reasons {
                        body.push_str(&r);
                        body.push('\n');
                    }
                    reply(StatusCode::SERVICE_UNAVAILABLE, TEXT, body)
                }
            }
            // The latest round's document, serialised once per round; before the first round
            // the (empty) report is built on demand.
            "/findings" => match self
                .store
                .published_document()
                .map(|d| Ok(d.to_vec()))
                .unwrap_or_else(|| {
                    self.store
                        .report(Timestamp::now())
                        .to_json()
                        .and_then(|doc| serde_json::to_vec_pretty(&doc))
                }) {
                Ok(body) => reply(StatusCode::OK, "application/json", body),
                Err(e) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    TEXT,
                    format!("encoding findings: {e}\n"),
                ),
            },
            "/remediations" => match &self.remediations {
                Some(r) => reply(
                    StatusCode::OK,
                    "application/json",
                    Bytes::from(r.status_json().to_vec()),
                ),
                None => reply(
                    StatusCode::NOT_FOUND,
                    TEXT,
                    "remediation is off (--remediation off): no plan, no writes\n",
                ),
            },
            _ => reply(
                StatusCode::NOT_FOUND,
                TEXT,
                "not found; try /metrics, /findings, /remediations, /healthz or /readyz\n",
            ),
        }
    }
}

/// Connections the kernel queues for us while [`MAX_CONNECTIONS`] are being served (capped by
/// `net.core.somaxconn`). Past it, new connections are dropped or reset by the kernel.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds the listener (so bind errors surface before any scan starts).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As std's TcpListener::bind does on Unix: a restarted daemon can bind at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A client must send a request's headers within this time (also an idle keep-alive
/// connection's next request), or its connection is closed: a slow-header client cannot hold a
/// connection for ever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; further clients wait in the listen backlog until one ends.
pub const MAX_CONNECTIONS: usize = 256;
/// A connection is closed after this long, whatever it is doing (a client that never reads).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// The longest pause after failing accepts (e.g. out of file descriptors), doubled from 10 ms.
pub const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves until the future is dropped: at most [`MAX_CONNECTIONS`] connections at once, each
/// with [`HEADER_READ_TIMEOUT`] and [`CONNECTION_LIFETIME`]; failing accepts back off (10 ms
/// doubling to [`MAX_ACCEPT_BACKOFF`]) instead of spinning, and are logged once per streak.
pub async fn serve(listener: TcpListener, endpoints: Endpoints) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = Duration::ZERO;
    loop {
        let permit = permits.clone().acquire_owned().await.expect("never closed");
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                if backoff > Duration::ZERO {
                    tracing::info!("accepting connections again");
                    backoff = Duration::ZERO;
                }
                stream
            }
            Err(e) => {
                if backoff == Duration::ZERO {
                    tracing::warn!(error = %e, "accepting a connection failed; backing off until it works again");
                }
                backoff = (backoff * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_BACKOFF);
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let endpoints = endpoints.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req: hyper::Request<Incoming>| {
                let response = endpoints.handle(req.method(), req.uri().path());
                async move { Ok::<_, Infallible>(response) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_LIFETIME, conn).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "connection ended with an error"),
                Err(_) => tracing::debug!("connection closed: lifetime exceeded"),
            }
        });
    }
}
