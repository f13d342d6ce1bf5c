//! The daemon's HTTP endpoints: `/metrics`, `/healthz`, `/readyz`, `/findings`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jiff::Timestamp;
use tokio::net::TcpListener;

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
            "/findings" => match serde_json::to_vec_pretty(&self.store.report(Timestamp::now())) {
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

/// Binds the listener (so bind errors surface before any scan starts).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until the future is dropped.
pub async fn serve(listener: TcpListener, endpoints: Endpoints) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection failed");
                continue;
            }
        };
        let endpoints = endpoints.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<Incoming>| {
                let response = endpoints.handle(req.method(), req.uri().path());
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}
