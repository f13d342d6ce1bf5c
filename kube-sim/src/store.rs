//! Generic object storage: `serde_json::Value` per object, one global resourceVersion,
//! an event log for watches and a compaction point.
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
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

/// What the controllers must look at again, fed by every write (their informers and
/// workqueues): the garbage collector's dirty dependents and the namespace controller's dirty
/// namespaces. `resync` asks for everything (the REST mapping changed).
#[derive(Debug, Default)]
pub struct Changes {
    /// Objects with ownerReferences that were written, and the dependents of removed owners.
    pub gc: BTreeSet<Key>,
    /// Namespaces whose object or content was written.
    pub namespaces: BTreeSet<String>,
    /// The REST mapping changed (a CRD or APIService write): every dependent must be re-checked.
    pub gc_resync: bool,
    /// The REST mapping or discovery failures changed: every terminating namespace is re-checked.
    pub namespaces_resync: bool,
}

/// Finalizers the garbage collector (and apiextensions' CRD finalizer) act on.
const OWNER_WORK_FINALIZERS: [&str; 3] = [
    "foregroundDeletion",
    "orphan",
    "customresourcecleanup.apiextensions.k8s.io",
];

/// Whether the garbage collector has work on this object as an owner: it is being deleted and
/// carries `foregroundDeletion`, `orphan` or (a CRD) the custom-resource cleanup finalizer.
fn needs_owner_work(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"].is_string()
        && obj["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|fs| fs.iter().any(|f| OWNER_WORK_FINALIZERS.iter().any(|w| f == w)))
}

fn owner_uids(obj: &Value) -> impl Iterator<Item = &str> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["uid"].as_str().unwrap_or_default())
}

pub struct Store {
    objects: BTreeMap<Key, Value>,
    /// Cluster-wide list order of namespaced objects: storage → `<ns>/<name>` (etcd key order).
    cluster_order: HashMap<String, BTreeSet<String>>,
    /// ownerReference uid → the objects that name it (the garbage collector's graph).
    dependents: HashMap<String, BTreeSet<Key>>,
    /// Objects being deleted with a finalizer the garbage collector acts on.
    owner_work: BTreeSet<Key>,
    /// Dirty keys and namespaces for the controllers.
    pub changes: Changes,
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
            cluster_order: HashMap::new(),
            dependents: HashMap::new(),
            owner_work: BTreeSet::new(),
            changes: Changes::default(),
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
        self.iter_from(storage, ns, None).collect()
    }

    /// Objects of one storage key (optionally one namespace) in etcd key order, starting
    /// strictly after the list key `after` (see [`list_key`]). Lazy: a page costs its own size
    /// and a tree lookup, not the size of the store.
    pub fn iter_from<'a>(
        &'a self,
        storage: &str,
        ns: Option<&str>,
        after: Option<&str>,
    ) -> Box<dyn Iterator<Item = (&'a Key, &'a Value)> + 'a> {
        let scoped = |ns: &str, after: Option<&str>| {
            let start = (storage.to_string(), ns.to_string(), after.unwrap_or("").to_string());
            let lower = match after {
                Some(_) => Bound::Excluded(start),
                None => Bound::Included(start),
            };
            let (storage, ns) = (storage.to_string(), ns.to_string());
            self.objects
                .range((lower, Bound::Unbounded))
                .take_while(move |(k, _)| k.0 == storage && k.1 == ns)
        };
        match ns {
            Some(ns) => Box::new(scoped(ns, after)),
            None => {
                // cluster-scoped objects (namespace "") come first in the primary order
                let cluster_scoped = scoped("", after);
                let lower = match after {
                    Some(a) => Bound::Excluded(a.to_string()),
                    None => Bound::Unbounded,
                };
                let st = storage.to_string();
                let namespaced = self.cluster_order.get(storage).into_iter().flat_map(move |set| {
                    let st = st.clone();
                    set.range((lower.clone(), Bound::Unbounded)).filter_map(move |k| {
                        let (ns, name) = k.split_once('/')?;
                        self.objects
                            .get_key_value(&(st.clone(), ns.to_string(), name.to_string()))
                    })
                });
                Box::new(cluster_scoped.chain(namespaced))
            }
        }
    }

    /// Number of objects of one storage key (optionally one namespace) after `after`.
    pub fn count_from(&self, storage: &str, ns: Option<&str>, after: Option<&str>) -> usize {
        match ns {
            None => {
                let lower = match after {
                    Some(a) => Bound::Excluded(a.to_string()),
                    None => Bound::Unbounded,
                };
                let namespaced = self
                    .cluster_order
                    .get(storage)
                    .map_or(0, |set| set.range((lower, Bound::Unbounded)).count());
                let start = (storage.to_string(), String::new(), after.unwrap_or("").to_string());
                let lower = match after {
                    Some(_) => Bound::Excluded(start),
                    None => Bound::Included(start),
                };
                let cluster_scoped = self
                    .objects
                    .range((lower, Bound::Unbounded))
                    .take_while(|(k, _)| k.0 == storage && k.1.is_empty())
                    .count();
                namespaced + cluster_scoped
            }
            Some(_) => self.iter_from(storage, ns, after).count(),
        }
    }

    /// The objects whose ownerReferences name `uid`.
    pub fn dependents_of(&self, uid: &str) -> Vec<Key> {
        self.dependents
            .get(uid)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Objects being deleted with `foregroundDeletion`, `orphan` or the CRD cleanup finalizer.
    pub fn owner_work(&self) -> Vec<Key> {
        self.owner_work.iter().cloned().collect()
    }

    /// Every object that has ownerReferences (for a resync of the garbage collector).
    pub fn all_dependents(&self) -> BTreeSet<Key> {
        self.dependents.values().flatten().cloned().collect()
    }

    /// Ask the controllers to re-check everything (the REST mapping changed).
    pub fn resync_controllers(&mut self) {
        self.changes.gc_resync = true;
        self.changes.namespaces_resync = true;
    }

    /// Keep the indexes and the controllers' queues up to date with one write (`old` → `new`).
    fn track(&mut self, key: &Key, old: Option<&Value>, new: Option<&Value>) {
        if !key.1.is_empty() {
            let order = self.cluster_order.entry(key.0.clone()).or_default();
            let lk = format!("{}/{}", key.1, key.2);
            if new.is_some() {
                order.insert(lk);
            } else {
                order.remove(&lk);
            }
            self.changes.namespaces.insert(key.1.clone());
        } else if key.0 == "/namespaces" {
            self.changes.namespaces.insert(key.2.clone());
        }
        if let Some(old) = old {
            for uid in owner_uids(old) {
                if let Some(d) = self.dependents.get_mut(uid) {
                    d.remove(key);
                    if d.is_empty() {
                        self.dependents.remove(uid);
                    }
                }
            }
            // an owner disappeared (or was replaced by another uid): its dependents are re-checked
            let old_uid = meta_str(old, "uid");
            if new.is_none_or(|n| meta_str(n, "uid") != old_uid) {
                if let Some(d) = self.dependents.get(old_uid) {
                    self.changes.gc.extend(d.iter().cloned());
                }
            }
        }
        match new {
            Some(new) => {
                let mut has_refs = false;
                for uid in owner_uids(new) {
                    has_refs = true;
                    self.dependents.entry(uid.to_string()).or_default().insert(key.clone());
                }
                if has_refs {
                    self.changes.gc.insert(key.clone());
                }
                if needs_owner_work(new) {
                    self.owner_work.insert(key.clone());
                } else {
                    self.owner_work.remove(key);
                }
            }
            None => {
                self.owner_work.remove(key);
            }
        }
    }

    /// Storage keys that currently hold objects in a namespace.
    pub fn count_in_namespace(&self, storage: &str, ns: &str) -> usize {
        self.count_from(storage, Some(ns), None)
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
        let old = self.objects.insert(key.clone(), obj.clone());
        self.track(&key, old.as_ref(), Some(&obj));
        let ev = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.emit(storage, &ns, ev, obj.clone(), rv);
        obj
    }

    /// Remove an object; the DELETED event carries the deletion's resourceVersion.
    pub fn remove(&mut self, storage: &str, ns: &str, name: &str) -> Option<Value> {
        let key = (storage.to_string(), ns.to_string(), name.to_string());
        let mut obj = self.objects.remove(&key)?;
        self.track(&key, Some(&obj), None);
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
        let after: Vec<String> = s
            .iter_from("/pods", None, Some("app.x/a"))
            .map(|(k, _)| list_key(k, None))
            .collect();
        assert_eq!(after, vec!["app/a", "app/b"]);
        assert_eq!(s.count_from("/pods", None, Some("app-2/a")), 3);
        assert_eq!(s.count_from("/pods", Some("app"), Some("a")), 1);
        s.remove("/pods", "app", "a");
        assert_eq!(s.count_from("/pods", None, None), 3);
        s.put("/namespaces", json!({"metadata": {"name": "z"}}));
        let names: Vec<&str> = s
            .iter_from("/namespaces", None, None)
            .map(|(k, _)| k.2.as_str())
            .collect();
        assert_eq!(names, vec!["z"]);
    }

    #[test]
    fn writes_feed_the_controllers_queues_and_the_owner_index() {
        let mut s = Store::new();
        let owner = json!({"metadata": {"name": "o", "namespace": "a", "uid": "u1"}});
        s.put("apps/deployments", owner);
        let dep = json!({"metadata": {"name": "d", "namespace": "a", "uid": "u2",
            "ownerReferences": [{"uid": "u1", "kind": "Deployment", "apiVersion": "apps/v1", "name": "o"}]}});
        s.put("apps/replicasets", dep);
        let dep_key: Key = ("apps/replicasets".into(), "a".into(), "d".into());
        assert!(s.changes.gc.contains(&dep_key));
        assert_eq!(s.dependents_of("u1"), vec![dep_key.clone()]);
        assert!(s.changes.namespaces.contains("a"));
        std::mem::take(&mut s.changes);
        s.remove("apps/deployments", "a", "o");
        assert!(
            s.changes.gc.contains(&dep_key),
            "dependents of a removed owner are re-checked"
        );
        s.put(
            "apps/deployments",
            json!({"metadata": {"name": "x", "namespace": "a", "uid": "u3", "deletionTimestamp": "t",
                "finalizers": ["foregroundDeletion"]}}),
        );
        assert_eq!(s.owner_work().len(), 1);
        s.remove("apps/replicasets", "a", "d");
        assert!(s.dependents_of("u1").is_empty());
    }
}
