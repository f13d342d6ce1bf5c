//! Watch streams: newline-delimited JSON events from a resourceVersion.
use crate::media::{partial, Rendering};
use crate::ops::present;
use crate::registry::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::state::Shared;
use crate::store::{TooOld, WatchEvent};
use crate::table::{self, IncludeObject, Printer};
use bytes::Bytes;
use serde_json::{json, Value};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

pub struct WatchRequest {
    pub rt: ResourceType,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub resource_version: String,
    pub timeout: Option<Duration>,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    pub rendering: Rendering,
    /// Set when the client asked for Table rendering.
    pub table: Option<TableWatch>,
}

/// Table rendering of watch events: every event's object is a Table with one row; column
/// definitions are sent with the first event only.
pub struct TableWatch {
    pub printer: Printer,
    pub include: IncludeObject,
    pub api_version: &'static str,
    pub headers_sent: Cell<bool>,
}

impl TableWatch {
    fn render(&self, obj: Option<&Value>, rv: &str, now: jiff::Timestamp) -> Value {
        let headers = !self.headers_sent.replace(true);
        let mut meta = serde_json::Map::new();
        meta.insert("resourceVersion".into(), json!(rv));
        let objs: Vec<Value> = obj.into_iter().cloned().collect();
        table::build(&self.printer, &objs, meta, self.include, self.api_version, headers, now)
    }
}

fn line(kind: &str, object: Value) -> Bytes {
    let mut s = serde_json::to_string(&json!({"type": kind, "object": object})).unwrap_or_default();
    s.push('\n');
    Bytes::from(s)
}

fn render(req: &WatchRequest, obj: &Value, now: jiff::Timestamp) -> Value {
    let obj = present(obj.clone(), &req.rt);
    if let Some(t) = &req.table {
        let rv = obj["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        return t.render(Some(&obj), &rv, now);
    }
    match req.rendering {
        Rendering::Full | Rendering::Table(_) => obj,
        Rendering::Metadata => partial(&obj),
    }
}

fn bookmark(req: &WatchRequest, rv: u64, initial_end: bool, now: jiff::Timestamp) -> Bytes {
    if let Some(t) = &req.table {
        return line("BOOKMARK", t.render(None, &rv.to_string(), now));
    }
    let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let (kind, api_version) = match req.rendering {
        Rendering::Full | Rendering::Table(_) => (req.rt.kind.clone(), req.rt.api_version()),
        Rendering::Metadata => ("PartialObjectMetadata".to_string(), "meta.k8s.io/v1".to_string()),
    };
    line(
        "BOOKMARK",
        json!({"kind": kind, "apiVersion": api_version, "metadata": meta}),
    )
}

fn expired(t: TooOld) -> Bytes {
    line(
        "ERROR",
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": format!("too old resource version: {} ({})", t.requested, t.oldest - 1),
               "reason": "Expired", "code": 410}),
    )
}

fn matches(req: &WatchRequest, ev: &WatchEvent) -> bool {
    ev.storage == req.rt.storage_key()
        && req.namespace.as_ref().is_none_or(|n| *n == ev.namespace)
        && req.labels.matches(&ev.object)
        && req.fields.matches(&ev.object)
}

/// Start a watch; returns the receiving side of the body stream.
pub fn start(shared: Arc<Shared>, req: WatchRequest) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut initial: Vec<Bytes> = Vec::new();
    let (mut sub, mut last_rv) = {
        let state = shared.lock();
        let sub = state.store.subscribe();
        let current = state.store.current_rv();
        let storage = req.rt.storage_key();
        let list_now = |initial: &mut Vec<Bytes>| {
            for (_, o) in state.store.list(&storage, req.namespace.as_deref()) {
                if req.labels.matches(o) && req.fields.matches(o) {
                    initial.push(line("ADDED", render(&req, o, shared.clock.now())));
                }
            }
        };
        if req.send_initial_events {
            list_now(&mut initial);
            initial.push(bookmark(&req, current, true, shared.clock.now()));
            (Some(sub), current)
        } else if req.resource_version.is_empty() || req.resource_version == "0" {
            list_now(&mut initial);
            (Some(sub), current)
        } else {
            let from: u64 = req.resource_version.parse().unwrap_or(0);
            match state.store.events_since(from) {
                Ok(evs) => {
                    for ev in evs.iter().filter(|e| matches(&req, e)) {
                        initial.push(line(ev.event.as_str(), render(&req, &ev.object, shared.clock.now())));
                    }
                    (Some(sub), current.max(from))
                }
                Err(t) => {
                    initial.push(expired(t));
                    (None, current)
                }
            }
        }
    };
    let bookmark_every = shared.tunables().bookmark_interval;
    tokio::spawn(async move {
        for b in initial {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        let Some(sub) = sub.as_mut() else { return };
        let deadline = req.timeout.map(|t| tokio::time::Instant::now() + t);
        let mut tick = tokio::time::interval(bookmark_every);
        tick.tick().await;
        loop {
            let sleep_until = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sleep_until => return,
                _ = tick.tick() => {
                    if req.bookmarks && tx.send(bookmark(&req, last_rv, false, shared.clock.now())).await.is_err() {
                        return;
                    }
                }
                ev = sub.recv() => match ev {
                    Ok(ev) => {
                        if ev.rv <= last_rv { continue; }
                        last_rv = ev.rv;
                        if matches(&req, &ev)
                            && tx.send(line(ev.event.as_str(), render(&req, &ev.object, shared.clock.now()))).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let _ = tx.send(expired(TooOld { requested: last_rv, oldest: last_rv + 1 })).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tx.closed() => return,
            }
        }
    });
    rx
}
