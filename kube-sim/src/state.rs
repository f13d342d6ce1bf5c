//! Shared server state: the store plus the registry derived from CRDs and APIServices.
use crate::clock::Clock;
use crate::faults::Faults;
use crate::registry::Registry;
use crate::store::Store;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub const CRD_STORAGE: &str = "apiextensions.k8s.io/customresourcedefinitions";
pub const APISERVICE_STORAGE: &str = "apiregistration.k8s.io/apiservices";
pub const NAMESPACE_STORAGE: &str = "/namespaces";

pub struct State {
    pub store: Store,
    pub registry: Arc<Registry>,
}

/// Group/versions an APIService marks unavailable (`spec.service` set, Available=False).
pub fn failing_apiservices(store: &Store) -> BTreeSet<String> {
    store
        .list(APISERVICE_STORAGE, None)
        .into_iter()
        .filter(|(_, o)| !o["spec"]["service"].is_null())
        .filter(|(_, o)| {
            o["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Available" && c["status"] == "False"))
        })
        .filter_map(|(_, o)| {
            let g = o["spec"]["group"].as_str()?;
            let v = o["spec"]["version"].as_str()?;
            Some(format!("{g}/{v}"))
        })
        .collect()
}

impl State {
    pub fn new() -> State {
        State {
            store: Store::new(),
            registry: Arc::new(Registry::builtin()),
        }
    }

    pub fn refresh_registry(&mut self) {
        let crds: Vec<&Value> = self.store.list(CRD_STORAGE, None).into_iter().map(|(_, v)| v).collect();
        let failing = failing_apiservices(&self.store);
        self.registry = Arc::new(Registry::build(&crds, failing));
    }

    fn after_write(&mut self, storage: &str) {
        if storage == CRD_STORAGE || storage == APISERVICE_STORAGE {
            self.refresh_registry();
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

pub struct Shared {
    state: Mutex<State>,
    pub clock: Clock,
    pub faults: Faults,
    pub server_address: Mutex<String>,
    pub tunables: Mutex<Tunables>,
}

impl Shared {
    pub fn new(tunables: Tunables) -> Shared {
        Shared {
            state: Mutex::new(State::new()),
            clock: Clock::default(),
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
