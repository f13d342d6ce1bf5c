//! kube-sim: a simulated Kubernetes API server (plain HTTP, JSON) for tests and demos.
//!
//! Start it in-process with [`start`] and talk to it with kubectl or kube-rs.
#![forbid(unsafe_code)]
// ApiError carries a whole Status body; boxing it would only add noise on every handler path.
#![allow(clippy::result_large_err)]

mod clock;
pub mod discovery;
mod error;
pub mod faults;
pub mod fieldvalidation;
pub mod gc;
mod http;
pub mod kubeconfig;
pub mod load;
mod media;
pub mod namespace_controller;
pub mod openapi;
pub mod ops;
pub mod paging;
pub mod patch;
pub mod protobuf;
mod query;
pub mod registry;
pub mod reviews;
mod scenario;
pub mod schemas;
pub mod selectors;
mod sha256;
pub mod smp;
mod state;
pub mod status;
pub mod store;
pub mod table;
pub mod validation;
mod watch;

pub use error::Error;
pub use faults::Fault;
pub use scenario::scenario_names;
pub use state::RequestRecord;

use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use state::{Shared, Tunables, APISERVICE_STORAGE};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Configuration of a simulator instance.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// A named scenario (see [`scenario_names`]).
    pub scenario: Option<String>,
    /// Files or directories of YAML/JSON objects to load as stored state.
    pub load: Vec<PathBuf>,
    /// Group/versions whose discovery answers 503, like an unavailable aggregated APIService.
    pub fail_discovery: Vec<String>,
    /// Per-resource error rates (`pods`, `horizontalpodautoscalers.autoscaling`) in 0..=1.
    pub error_rates: Vec<(String, f64)>,
    /// Per-resource added latency.
    pub latencies: Vec<(String, Duration)>,
    /// How often the namespace controller runs.
    pub namespace_controller_interval: Duration,
    /// How often the garbage collector runs.
    pub gc_interval: Duration,
    /// Continue tokens and watch positions older than this are compacted away (410 Expired).
    pub compaction_window: Duration,
    /// Interval between watch BOOKMARK events (when the client allows them).
    pub bookmark_interval: Duration,
    /// Ordered namespace deletion (KEP-5080, feature gate `OrderedNamespaceDeletion`): pods are
    /// deleted first and other content waits while pods remain. Default true. Sources disagree
    /// on the gate's default in 1.30–1.32 (backported on by default vs. off until 1.33).
    pub ordered_namespace_deletion: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            scenario: None,
            load: vec![],
            fail_discovery: vec![],
            error_rates: vec![],
            latencies: vec![],
            namespace_controller_interval: Duration::from_millis(500),
            gc_interval: Duration::from_millis(500),
            compaction_window: Duration::from_secs(300),
            bookmark_interval: Duration::from_secs(5),
            ordered_namespace_deletion: true,
        }
    }
}

/// Pause between two batches of a controller pass (the global lock is free meanwhile).
const BATCH_PAUSE: Duration = Duration::from_millis(1);

/// Marker type naming the simulator; use [`start`] to run one.
pub struct SimServer;

impl SimServer {
    pub async fn start(config: SimConfig) -> Result<SimHandle, Error> {
        start(config).await
    }
}

/// A running simulator.
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    compaction_window: Arc<Mutex<Duration>>,
}

fn split_gv(gv: &str) -> Result<(String, String), Error> {
    match gv.split_once('/') {
        Some((g, v)) if !g.is_empty() && !v.is_empty() && !v.contains('/') => Ok((g.into(), v.into())),
        _ => Err(Error::InvalidGroupVersion(gv.to_string())),
    }
}

/// The APIService `fail_discovery` writes: an aggregated (non-Local) group/version whose backend
/// Service does not exist; the availability controller marks it `Available=False`
/// (`ServiceNotFound`) like any other APIService created through the API.
fn unavailable_apiservice(group: &str, version: &str, now: &str) -> Value {
    let svc = format!("{}-server", group.split('.').next().unwrap_or("aggregated"));
    json!({
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": format!("{version}.{group}"), "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": now, "labels": {"k8s-app": svc}},
        "spec": {
            "group": group, "version": version, "groupPriorityMinimum": 100, "versionPriority": 100,
            "insecureSkipTLSVerify": true,
            "service": {"name": svc, "namespace": "kube-system", "port": 443}
        }
    })
}

/// Start a simulator: bind, load state, spawn controllers and serve.
pub async fn start(config: SimConfig) -> Result<SimHandle, Error> {
    let shared = Arc::new(Shared::new(Tunables {
        namespace_controller_interval: config.namespace_controller_interval,
        gc_interval: config.gc_interval,
        bookmark_interval: config.bookmark_interval,
        ordered_namespace_deletion: config.ordered_namespace_deletion,
    }));
    // state
    let now = shared.clock.now();
    {
        let mut st = shared.lock();
        load::inject(&mut st, scenario::base_objects(), now)?;
        if let Some(name) = &config.scenario {
            let docs = scenario::scenario_documents(name)
                .ok_or_else(|| Error::UnknownScenario(name.clone(), scenario_names().join(", ")))?;
            let mut objs = Vec::new();
            for (file, text) in docs {
                objs.extend(load::parse_documents(text, file)?);
            }
            load::inject(&mut st, objs, now)?;
        }
        for p in &config.load {
            let objs = load::read_path(p)?;
            load::inject(&mut st, objs, now)?;
        }
    }
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    if let Ok(mut a) = shared.server_address.lock() {
        *a = addr.to_string();
    }
    let handle_base = SimHandle {
        addr,
        shared: shared.clone(),
        tasks: vec![],
        compaction_window: Arc::new(Mutex::new(config.compaction_window)),
    };
    for gv in &config.fail_discovery {
        split_gv(gv)?;
        handle_base.fail_discovery(gv);
    }
    for (r, rate) in &config.error_rates {
        shared.faults.set_error_rate(r, *rate);
    }
    for (r, l) in &config.latencies {
        shared.faults.set_latency(r, *l);
    }
    let mut handle = handle_base;
    // server
    let srv_shared = shared.clone();
    handle.tasks.push(tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let s = srv_shared.clone();
            conns.spawn(async move {
                let svc = hyper::service::service_fn(move |req: ::http::Request<hyper::body::Incoming>| {
                    let s = s.clone();
                    let method = req.method().to_string();
                    let uri = req.uri().to_string();
                    let accept = req
                        .headers()
                        .get(::http::header::ACCEPT)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    async move {
                        let resp = http::handle(s.clone(), req).await;
                        if let Ok(r) = &resp {
                            use hyper::body::Body as _;
                            s.stats.record(state::RequestRecord {
                                method,
                                uri,
                                accept,
                                status: r.status().as_u16(),
                                bytes: r.body().size_hint().exact().unwrap_or(0),
                            });
                        }
                        resp
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
            while conns.try_join_next().is_some() {}
        }
    }));
    // namespace controller and garbage collector: each pass works through what changed since the
    // last one (queues fed by the store's writes), a batch per lock acquisition, pausing between
    // batches so that requests are served while a large queue (e.g. after loading) drains.
    let ns_shared = shared.clone();
    handle.tasks.push(tokio::spawn(async move {
        loop {
            let every = ns_shared.tunables().namespace_controller_interval;
            let names = namespace_controller::take_queue(&ns_shared);
            for (i, chunk) in names.chunks(namespace_controller::BATCH).enumerate() {
                if i > 0 {
                    tokio::time::sleep(BATCH_PAUSE).await;
                }
                namespace_controller::sync_namespaces(&ns_shared, chunk);
            }
            tokio::time::sleep(every).await;
        }
    }));
    let gc_shared = shared.clone();
    handle.tasks.push(tokio::spawn(async move {
        loop {
            let every = gc_shared.tunables().gc_interval;
            let keys = gc::take_queue(&gc_shared);
            for (i, chunk) in keys.chunks(gc::BATCH).enumerate() {
                if i > 0 {
                    tokio::time::sleep(BATCH_PAUSE).await;
                }
                gc::collect_dependents(&gc_shared, chunk);
            }
            gc::process_deleting_owners(&gc_shared);
            tokio::time::sleep(every).await;
        }
    }));
    // compactor: every window, compact to the revision seen one window ago
    let c_shared = shared.clone();
    let window = handle.compaction_window.clone();
    handle.tasks.push(tokio::spawn(async move {
        let mut previous = c_shared.lock().store.current_rv();
        loop {
            let w = *window.lock().unwrap_or_else(|e| e.into_inner());
            tokio::time::sleep(w.max(Duration::from_millis(10))).await;
            let mut st = c_shared.lock();
            st.store.compact_to(previous);
            previous = st.store.current_rv();
        }
    }));
    Ok(handle)
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig::render(&self.url())
    }

    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// A kube client pointed at the simulator (must be called inside a tokio runtime).
    pub fn client(&self) -> kube::Client {
        let uri: ::http::Uri = self.url().parse().expect("valid url");
        let mut cfg = kube::Config::new(uri);
        cfg.default_namespace = "default".into();
        cfg.read_timeout = Some(Duration::from_secs(30));
        kube::Client::try_from(cfg).expect("kube client for kube-sim")
    }

    /// Make a group/version's discovery answer 503, like an unavailable aggregated APIService
    /// (an `APIService` `<version>.<group>` with `Available=False` is written).
    pub fn fail_discovery(&self, group_version: &str) {
        let Ok((g, v)) = split_gv(group_version) else { return };
        let now = self.shared.clock.now_rfc3339();
        let mut st = self.shared.lock();
        st.put(APISERVICE_STORAGE, unavailable_apiservice(&g, &v, &now));
    }

    /// Undo [`SimHandle::fail_discovery`] (the APIService is deleted).
    pub fn restore_discovery(&self, group_version: &str) {
        let Ok((g, v)) = split_gv(group_version) else { return };
        let mut st = self.shared.lock();
        st.remove(APISERVICE_STORAGE, "", &format!("{v}.{g}"));
    }

    /// Fraction (0..=1) of requests for `resource` answered with a 500 Status.
    pub fn set_error_rate(&self, resource: &str, rate: f64) {
        self.shared.faults.set_error_rate(resource, rate);
    }

    pub fn set_latency(&self, resource: &str, latency: Duration) {
        self.shared.faults.set_latency(resource, latency);
    }

    /// Answers the next `times` requests for `resource` (`pods`, `<plural>.<group>`; every
    /// request until [`SimHandle::clear_faults`] when `None`) with `fault`.
    pub fn inject_fault(&self, resource: &str, fault: Fault, times: Option<u32>) {
        self.shared.faults.inject(resource, fault, times);
    }

    /// Removes the scripted faults of `resource` (error rate and latency stay).
    pub fn clear_faults(&self, resource: &str) {
        self.shared.faults.clear(resource);
    }

    /// How many requests for `resource` were answered with a scripted fault so far.
    pub fn injected_faults(&self, resource: &str) -> u32 {
        self.shared.faults.injected(resource)
    }

    /// Move the simulated clock forward (affects timestamps the simulator writes).
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// Inject objects as stored state (like `--load`).
    pub fn load_objects(&self, objects: Vec<Value>) -> Result<(), Error> {
        let now = self.shared.clock.now();
        let mut st = self.shared.lock();
        load::inject(&mut st, objects, now)
    }

    /// Change the compaction window (takes effect after the current window elapses).
    pub fn set_compaction_window(&self, window: Duration) {
        *self.compaction_window.lock().unwrap_or_else(|e| e.into_inner()) = window;
    }

    /// Compact now: every continue token and watch position issued so far becomes too old.
    pub fn compact_now(&self) {
        self.shared.lock().store.compact_all();
    }

    /// Change how often the namespace controller and the garbage collector run.
    pub fn set_controller_intervals(&self, namespace_controller: Duration, gc: Duration) {
        let mut t = self.shared.tunables.lock().unwrap_or_else(|e| e.into_inner());
        t.namespace_controller_interval = namespace_controller;
        t.gc_interval = gc;
    }

    /// (requests answered, response body bytes) since start; bodies of unknown length (watches)
    /// count as 0 bytes.
    pub fn request_totals(&self) -> (u64, u64) {
        self.shared.stats.totals()
    }

    /// Start (true) or stop (false) keeping a record of every request.
    pub fn record_requests(&self, on: bool) {
        self.shared.stats.set_recording(on);
    }

    /// The requests recorded since recording started or the last call (recording continues).
    pub fn take_request_log(&self) -> Vec<RequestRecord> {
        self.shared.stats.take_log()
    }

    /// A stored object as JSON (storage key like "/pods" or "apps/deployments").
    pub fn get_stored(&self, storage: &str, namespace: &str, name: &str) -> Option<Value> {
        self.shared.lock().store.get(storage, namespace, name).cloned()
    }

    pub async fn shutdown(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
