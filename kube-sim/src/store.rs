//! Generic object storage: `serde_json::Value` per object, one global resourceVersion,
//! an event log for watches and a compaction point.
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast;

/// (storage key "group/plural", namespace ("" for cluster-scoped), name)
pub type Key = (String, String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(&self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub rv: u64,
    pub storage: String,
    pub namespace: String,
    pub event: EventType,
    pub object: Value,
}

/// The watch start point is older than the compacted revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooOld {
    pub requested: u64,
    pub oldest: u64,
}

const LOG_CAPACITY: usize = 20_000;

pub struct Store {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    log: VecDeque<Arc<WatchEvent>>,
    compacted: u64,
    tx: broadcast::Sender<Arc<WatchEvent>>,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

/// The key of an object relative to the etcd prefix of a list: `<ns>/<name>` for a cluster-wide
/// list of a namespaced resource, `<name>` within one namespace or for cluster-scoped objects.
/// Comparing these strings orders objects exactly as etcd orders the full keys.
pub fn list_key(k: &Key, list_ns: Option<&str>) -> String {
    if k.1.is_empty() || list_ns.is_some() {
        k.2.clone()
    } else {
        format!("{}/{}", k.1, k.2)
    }
}

impl Store {
    pub fn new() -> Store {
        let (tx, _) = broadcast::channel(4096);
        Store {
            objects: BTreeMap::new(),
            rv: 1,
            log: VecDeque::new(),
            compacted: 0,
            tx,
        }
    }

    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    pub fn compacted_rv(&self) -> u64 {
        self.compacted
    }

    /// Forget history up to the current revision (like an etcd compaction).
    pub fn compact_to(&mut self, rv: u64) {
        self.compacted = self.compacted.max(rv.min(self.rv));
        while self.log.front().is_some_and(|e| e.rv <= self.compacted) {
            self.log.pop_front();
        }
    }

    /// Advance the revision and compact everything before it (all issued tokens expire).
    pub fn compact_all(&mut self) {
        let rv = self.next_rv();
        self.compact_to(rv);
    }

    pub fn get(&self, storage: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(storage.to_string(), ns.to_string(), name.to_string()))
    }

    /// All objects of one storage key (optionally one namespace), in etcd key order: the order
    /// of the key strings `/<prefix>/<ns>/<name>` (so `app-2/x` sorts before `app/x`, because
    /// `-` < `/`), not the order of (namespace, name) pairs.
    pub fn list(&self, storage: &str, ns: Option<&str>) -> Vec<(&Key, &Value)> {
        let start = (storage.to_string(), ns.unwrap_or("").to_string(), String::new());
        let mut out: Vec<(&Key, &Value)> = self
            .objects
            .range(start..)
            .take_while(|(k, _)| k.0 == storage && ns.is_none_or(|n| k.1 == n))
            .collect();
        if ns.is_none() {
            out.sort_by_cached_key(|(k, _)| list_key(k, None));
        }
        out
    }

    /// Storage keys that currently hold objects in a namespace.
    pub fn count_in_namespace(&self, storage: &str, ns: &str) -> usize {
        self.list(storage, Some(ns)).len()
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn emit(&mut self, storage: &str, ns: &str, event: EventType, object: Value, rv: u64) {
        let ev = Arc::new(WatchEvent {
            rv,
            storage: storage.to_string(),
            namespace: ns.to_string(),
            event,
            object,
        });
        self.log.push_back(ev.clone());
        if self.log.len() > LOG_CAPACITY {
            if let Some(old) = self.log.pop_front() {
                self.compacted = self.compacted.max(old.rv);
            }
        }
        let _ = self.tx.send(ev);
    }

    /// Insert or replace an object, assigning a new resourceVersion. Returns the stored object.
    pub fn put(&mut self, storage: &str, mut obj: Value) -> Value {
        let rv = self.next_rv();
        if let Some(m) = obj.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            m.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        let ns = meta_str(&obj, "namespace").to_string();
        let name = meta_str(&obj, "name").to_string();
        let key = (storage.to_string(), ns.clone(), name);
        let existed = self.objects.insert(key, obj.clone()).is_some();
        let ev = if existed { EventType::Modified } else { EventType::Added };
        self.emit(storage, &ns, ev, obj.clone(), rv);
        obj
    }

    /// Remove an object; the DELETED event carries the deletion's resourceVersion.
    pub fn remove(&mut self, storage: &str, ns: &str, name: &str) -> Option<Value> {
        let mut obj = self
            .objects
            .remove(&(storage.to_string(), ns.to_string(), name.to_string()))?;
        let rv = self.next_rv();
        if let Some(m) = obj.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            m.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        self.emit(storage, ns, EventType::Deleted, obj.clone(), rv);
        Some(obj)
    }

    /// Events with rv > `from` (for watches), or TooOld if history was compacted.
    pub fn events_since(&self, from: u64) -> Result<Vec<Arc<WatchEvent>>, TooOld> {
        if from < self.compacted {
            return Err(TooOld {
                requested: from,
                oldest: self.compacted + 1,
            });
        }
        Ok(self.log.iter().filter(|e| e.rv > from).cloned().collect())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<WatchEvent>> {
        self.tx.subscribe()
    }

    /// Every object, for controllers.
    pub fn all(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.objects.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rv_is_global_and_monotonic() {
        let mut s = Store::new();
        let a = s.put("/pods", json!({"metadata": {"name": "a", "namespace": "x"}}));
        let b = s.put("apps/deployments", json!({"metadata": {"name": "b", "namespace": "x"}}));
        let ra: u64 = meta_str(&a, "resourceVersion").parse().unwrap();
        let rb: u64 = meta_str(&b, "resourceVersion").parse().unwrap();
        assert!(rb > ra);
        let d = s.remove("/pods", "x", "a").unwrap();
        let rd: u64 = meta_str(&d, "resourceVersion").parse().unwrap();
        assert!(rd > rb);
        assert_eq!(s.events_since(ra).unwrap().len(), 2);
        s.compact_to(rd);
        assert!(s.events_since(ra).is_err());
    }

    #[test]
    fn list_is_scoped_and_ordered() {
        let mut s = Store::new();
        for (ns, n) in [("b", "2"), ("a", "9"), ("a", "1")] {
            s.put("/pods", json!({"metadata": {"name": n, "namespace": ns}}));
        }
        s.put("/configmaps", json!({"metadata": {"name": "c", "namespace": "a"}}));
        let all: Vec<_> = s.list("/pods", None).iter().map(|(k, _)| k.2.clone()).collect();
        assert_eq!(all, vec!["1", "9", "2"]);
        assert_eq!(s.list("/pods", Some("a")).len(), 2);
    }

    #[test]
    fn cluster_wide_list_uses_key_string_order() {
        let mut s = Store::new();
        for (ns, n) in [("app", "a"), ("app-2", "a"), ("app", "b"), ("app.x", "a")] {
            s.put("/pods", json!({"metadata": {"name": n, "namespace": ns}}));
        }
        let keys: Vec<String> = s.list("/pods", None).iter().map(|(k, _)| list_key(k, None)).collect();
        assert_eq!(keys, vec!["app-2/a", "app.x/a", "app/a", "app/b"]);
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }
}
