//! Shared server state: the store plus the registry derived from CRDs and APIServices.
use crate::clock::Clock;
use crate::faults::Faults;
use crate::registry::Registry;
use crate::store::Store;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub const CRD_STORAGE: &str = "apiextensions.k8s.io/customresourcedefinitions";
pub const APISERVICE_STORAGE: &str = "apiregistration.k8s.io/apiservices";
pub const NAMESPACE_STORAGE: &str = "/namespaces";
pub const SERVICE_STORAGE: &str = "/services";
pub const ENDPOINTS_STORAGE: &str = "/endpoints";

pub struct State {
    pub store: Store,
    pub registry: Arc<Registry>,
    /// The simulated clock (timestamps written by controllers that run inside writes).
    pub clock: Arc<Clock>,
}

/// Group/versions of non-Local APIServices (`spec.service` set). kube-sim has no aggregated
/// API servers behind Services, so every one of them is unavailable: the aggregator answers 503
/// for its group/version and the availability controller writes `Available=False`.
pub fn failing_apiservices(store: &Store) -> BTreeSet<String> {
    store
        .list(APISERVICE_STORAGE, None)
        .into_iter()
        .filter(|(_, o)| !o["spec"]["service"].is_null())
        .filter_map(|(_, o)| {
            let g = o["spec"]["group"].as_str()?;
            let v = o["spec"]["version"].as_str()?;
            Some(format!("{g}/{v}"))
        })
        .collect()
}

/// The `Available` condition (status, reason, message) kube-aggregator's availability controllers
/// compute for an APIService: Local ones (no `spec.service`) are always available; for the
/// others the checks of `remote_available_controller.go` in order (Service present, port,
/// Endpoints with an address on that port name) and then the discovery request, which always
/// fails in kube-sim (nothing listens behind a Service).
pub fn apiservice_availability(store: &Store, apiservice: &Value) -> (&'static str, &'static str, String) {
    let svc_ref = &apiservice["spec"]["service"];
    if svc_ref.is_null() {
        return ("True", "Local", "Local APIServices are always available".into());
    }
    let name = svc_ref["name"].as_str().unwrap_or_default();
    let ns = svc_ref["namespace"].as_str().unwrap_or_default();
    let port = svc_ref["port"].as_i64().unwrap_or(443);
    let Some(svc) = store.get(SERVICE_STORAGE, ns, name) else {
        return (
            "False",
            "ServiceNotFound",
            format!("service/{name} in {ns:?} is not present"),
        );
    };
    let svc_type = svc["spec"]["type"].as_str().unwrap_or("ClusterIP");
    if svc_type == "ClusterIP" {
        let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
        let Some(p) = ports.iter().find(|p| p["port"].as_i64() == Some(port)) else {
            return (
                "False",
                "ServicePortError",
                format!("service/{name} in {ns:?} is not listening on port {port}"),
            );
        };
        let port_name = p["name"].as_str().unwrap_or_default();
        let Some(ep) = store.get(ENDPOINTS_STORAGE, ns, name) else {
            return (
                "False",
                "EndpointsNotFound",
                format!("cannot find endpoints for service/{name} in {ns:?}"),
            );
        };
        let active = ep["subsets"].as_array().is_some_and(|subsets| {
            subsets.iter().any(|s| {
                s["addresses"].as_array().is_some_and(|a| !a.is_empty())
                    && s["ports"]
                        .as_array()
                        .is_some_and(|ps| ps.iter().any(|ep| ep["name"].as_str().unwrap_or_default() == port_name))
            })
        });
        if !active {
            return (
                "False",
                "MissingEndpoints",
                format!("endpoints for service/{name} in {ns:?} have no addresses with port name {port_name:?}"),
            );
        }
    }
    let host = match svc["spec"]["clusterIP"].as_str() {
        Some(ip) if !ip.is_empty() && ip != "None" => ip.to_string(),
        _ => format!("{name}.{ns}.svc"),
    };
    let gv = format!(
        "{}/{}",
        apiservice["spec"]["group"].as_str().unwrap_or_default(),
        apiservice["spec"]["version"].as_str().unwrap_or_default()
    );
    let url = format!("https://{host}:{port}/apis/{gv}");
    (
        "False",
        "FailedDiscoveryCheck",
        format!("failing or missing response from {url}: Get \"{url}\": dial tcp {host}:{port}: connect: connection refused"),
    )
}

impl State {
    pub fn new() -> State {
        State::with_clock(Arc::new(Clock::default()))
    }

    pub fn with_clock(clock: Arc<Clock>) -> State {
        State {
            store: Store::new(),
            registry: Arc::new(Registry::builtin()),
            clock,
        }
    }

    pub fn refresh_registry(&mut self) {
        self.reconcile_apiservices();
        let crds: Vec<&Value> = self.store.list(CRD_STORAGE, None).into_iter().map(|(_, v)| v).collect();
        let failing = failing_apiservices(&self.store);
        self.registry = Arc::new(Registry::build(&crds, failing));
        self.store.resync_controllers();
    }

    /// The aggregator's availability controllers: write each APIService's `Available` condition
    /// (overwriting what clients wrote; lastTransitionTime changes only when the status flips).
    pub fn reconcile_apiservices(&mut self) {
        let now = self.clock.now_rfc3339();
        let items: Vec<Value> = self
            .store
            .list(APISERVICE_STORAGE, None)
            .into_iter()
            .map(|(_, o)| o.clone())
            .collect();
        for old in items {
            let (status, reason, message) = apiservice_availability(&self.store, &old);
            let mut new = old.clone();
            if !new["status"].is_object() {
                new["status"] = serde_json::json!({});
            }
            let mut conds = new["status"]["conditions"].as_array().cloned().unwrap_or_default();
            let ltt = conds
                .iter()
                .find(|c| c["type"] == "Available" && c["status"] == status)
                .and_then(|c| c["lastTransitionTime"].as_str().map(str::to_string))
                .unwrap_or_else(|| now.clone());
            let cond = serde_json::json!({"type": "Available", "status": status, "lastTransitionTime": ltt,
                "reason": reason, "message": message});
            match conds.iter_mut().find(|c| c["type"] == "Available") {
                Some(c) => *c = cond,
                None => conds.push(cond),
            }
            new["status"]["conditions"] = Value::Array(conds);
            if new != old {
                self.store.put(APISERVICE_STORAGE, new);
            }
        }
    }

    fn after_write(&mut self, storage: &str) {
        if storage == CRD_STORAGE || storage == APISERVICE_STORAGE {
            self.refresh_registry();
        } else if storage == SERVICE_STORAGE || storage == ENDPOINTS_STORAGE {
            self.reconcile_apiservices();
        }
    }

    /// Write (create or replace) an object; bumps resourceVersion and emits a watch event.
    pub fn put(&mut self, storage: &str, obj: Value) -> Value {
        let out = self.store.put(storage, obj);
        self.after_write(storage);
        out
    }

    /// Remove an object now (DELETED event).
    pub fn remove(&mut self, storage: &str, ns: &str, name: &str) -> Option<Value> {
        let out = self.store.remove(storage, ns, name);
        self.after_write(storage);
        out
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

/// Tunables of a running simulator.
#[derive(Debug, Clone)]
pub struct Tunables {
    pub namespace_controller_interval: Duration,
    pub gc_interval: Duration,
    pub bookmark_interval: Duration,
    pub ordered_namespace_deletion: bool,
}

/// One answered request, as recorded while [`RequestStats::set_recording`] is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    /// Path and query, as sent.
    pub uri: String,
    pub accept: String,
    pub status: u16,
    /// Response body bytes (0 for streamed bodies such as watches).
    pub bytes: u64,
}

/// Requests answered and response body bytes sent (bodies of known length: everything but
/// watches and faults that cut a body), plus an optional log of every request.
#[derive(Default)]
pub struct RequestStats {
    requests: AtomicU64,
    bytes: AtomicU64,
    log: Mutex<Option<Vec<RequestRecord>>>,
}

impl RequestStats {
    pub fn record(&self, record: RequestRecord) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(record.bytes, Ordering::Relaxed);
        if let Some(log) = self.log.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            log.push(record);
        }
    }

    /// (requests, bytes) since start.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }

    /// Start (true) or stop (false) keeping every request; stopping drops what was kept.
    pub fn set_recording(&self, on: bool) {
        *self.log.lock().unwrap_or_else(|e| e.into_inner()) = on.then(Vec::new);
    }

    /// The requests kept since recording started (recording continues).
    pub fn take_log(&self) -> Vec<RequestRecord> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

pub struct Shared {
    state: Mutex<State>,
    pub stats: RequestStats,
    pub clock: Arc<Clock>,
    pub faults: Faults,
    pub server_address: Mutex<String>,
    pub tunables: Mutex<Tunables>,
}

impl Shared {
    pub fn new(tunables: Tunables) -> Shared {
        let clock = Arc::new(Clock::default());
        Shared {
            state: Mutex::new(State::with_clock(clock.clone())),
            stats: RequestStats::default(),
            clock,
            faults: Faults::default(),
            server_address: Mutex::new(String::new()),
            tunables: Mutex::new(tunables),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn tunables(&self) -> Tunables {
        self.tunables.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
