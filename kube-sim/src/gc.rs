//! Garbage collector modelled on kube-controller-manager's: dependents whose owners are all
//! absent are deleted; unmappable owner references pin a dependent for ever; foreground and
//! orphan finalizers; CRD instance cleanup.
use crate::ops::{self, finalizers, is_deleting, DeleteOptions, Part, CRD_CLEANUP_FINALIZER, FOREGROUND, ORPHAN};
use crate::registry::{Registry, ResourceType};
use crate::state::{Shared, State, CRD_STORAGE};
use crate::store::{meta_str, Key};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq)]
pub struct OwnerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
}

pub fn owner_refs(obj: &Value) -> Vec<OwnerRef> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .map(|r| OwnerRef {
                    api_version: r["apiVersion"].as_str().unwrap_or_default().into(),
                    kind: r["kind"].as_str().unwrap_or_default().into(),
                    name: r["name"].as_str().unwrap_or_default().into(),
                    uid: r["uid"].as_str().unwrap_or_default().into(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What looking up one owner reference found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerLookup {
    /// No REST mapping for apiVersion/kind ("unable to get REST mapping").
    Unmappable,
    /// A cluster-scoped dependent names a namespaced owner.
    NamespacedOwnerOfClusterScoped,
    /// An object with that name and uid exists.
    Present,
    /// Nothing with that uid exists where the owner must live.
    Absent,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Leave the dependent alone (reason for tests/logs).
    Keep(&'static str),
    /// All owners are gone: delete the dependent (background).
    Delete,
    /// Some owners remain: drop the references to the absent ones (by uid).
    RemoveDangling(Vec<String>),
}

/// Decide about one dependent from the lookups of its owner references (in order).
pub fn decide(lookups: &[(OwnerRef, OwnerLookup)]) -> Decision {
    if lookups.is_empty() {
        return Decision::Keep("no owner references");
    }
    for (_, l) in lookups {
        match l {
            OwnerLookup::Unmappable => return Decision::Keep("unable to get REST mapping for an owner"),
            OwnerLookup::NamespacedOwnerOfClusterScoped => {
                return Decision::Keep("cluster-scoped dependent refers to a namespaced owner")
            }
            _ => {}
        }
    }
    let dangling: Vec<String> = lookups
        .iter()
        .filter(|(_, l)| *l == OwnerLookup::Absent)
        .map(|(r, _)| r.uid.clone())
        .collect();
    if dangling.len() == lookups.len() {
        Decision::Delete
    } else if dangling.is_empty() {
        Decision::Keep("owners present")
    } else {
        Decision::RemoveDangling(dangling)
    }
}

/// Another owner of a dependent whose owner is being deleted in the foreground
/// (`attemptToDeleteItem`'s classification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherOwner {
    /// Exists and is not deleting its dependents.
    Solid,
    /// Does not exist (or has another uid).
    Dangling,
    /// Exists and is being deleted with `foregroundDeletion`.
    WaitingForDependentsDeletion,
}

/// What the GC does to a blocking dependent of an owner being deleted in the foreground.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForegroundStep {
    /// Another live owner remains: only the references to the deleting (and dangling) owners
    /// are removed; the dependent stays.
    RemoveReferences,
    /// Delete the dependent: `Some("Foreground")` when it has dependents itself, else `None`
    /// (its own finalizers/default policy: background).
    Delete(Option<&'static str>),
}

/// Upstream's attemptToDeleteItem for a dependent of a foreground-deleting owner; `others` are
/// its other owner references.
pub fn foreground_dependent(others: &[OtherOwner], has_dependents: bool) -> ForegroundStep {
    if others.contains(&OtherOwner::Solid) {
        ForegroundStep::RemoveReferences
    } else if has_dependents {
        ForegroundStep::Delete(Some("Foreground"))
    } else {
        ForegroundStep::Delete(None)
    }
}

/// Whether `obj` has a reference to `owner_uid` with `blockOwnerDeletion: true`.
pub fn blocks_owner(obj: &Value, owner_uid: &str) -> bool {
    obj["metadata"]["ownerReferences"].as_array().is_some_and(|refs| {
        refs.iter()
            .any(|r| r["uid"] == owner_uid && r["blockOwnerDeletion"] == true)
    })
}

/// Look up one reference for a dependent living in `dep_ns` ("" = cluster-scoped).
pub fn lookup(state: &State, registry: &Registry, dep_ns: &str, r: &OwnerRef) -> OwnerLookup {
    let Some(t) = registry.map_kind(&r.api_version, &r.kind) else {
        return OwnerLookup::Unmappable;
    };
    if t.namespaced && dep_ns.is_empty() {
        return OwnerLookup::NamespacedOwnerOfClusterScoped;
    }
    let ns = if t.namespaced { dep_ns } else { "" };
    match state.store.get(&t.storage_key(), ns, &r.name) {
        Some(o) if meta_str(o, "uid") == r.uid => OwnerLookup::Present,
        _ => OwnerLookup::Absent,
    }
}

fn remove_finalizer(state: &mut State, registry: &Registry, key: &Key, finalizer: &str) {
    let Some(t) = registry.by_storage_key(&key.0) else {
        return;
    };
    let Some(obj) = state.store.get(&key.0, &key.1, &key.2).cloned() else {
        return;
    };
    let mut new = obj.clone();
    let rest: Vec<String> = finalizers(&obj).into_iter().filter(|f| f != finalizer).collect();
    new["metadata"]["finalizers"] = json!(rest);
    let _ = ops::update(state, &t, &key.1, &key.2, new, Part::Main, false, false);
}

/// Whether a CRD (or any object with `status.conditions`) has condition `type` with status True.
pub fn crd_condition_true(obj: &Value, type_: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == type_ && c["status"] == "True"))
}

/// lastTransitionTime of a CRD's `Terminating=True` condition.
fn terminating_since(crd: &Value) -> Option<jiff::Timestamp> {
    let c = crd["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Terminating" && c["status"] == "True")?;
    jiff::Timestamp::from_str(c["lastTransitionTime"].as_str()?).ok()
}

/// apiextensions' SetCRDCondition + UpdateStatus: lastTransitionTime changes only when the
/// status flips; nothing is written when the condition is unchanged.
fn set_crd_condition(state: &mut State, key: &Key, status: &str, reason: &str, message: &str, now: &str) {
    let Some(old) = state.store.get(&key.0, &key.1, &key.2).cloned() else {
        return;
    };
    let mut new = old.clone();
    let mut conds = new["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let ltt = conds
        .iter()
        .find(|c| c["type"] == "Terminating" && c["status"] == status)
        .and_then(|c| c["lastTransitionTime"].as_str().map(str::to_string))
        .unwrap_or_else(|| now.to_string());
    let cond = json!({"type": "Terminating", "status": status, "lastTransitionTime": ltt, "reason": reason, "message": message});
    match conds.iter_mut().find(|c| c["type"] == "Terminating") {
        Some(c) => *c = cond,
        None => conds.push(cond),
    }
    new["status"]["conditions"] = Value::Array(conds);
    if new != old {
        state.put(&key.0, new);
    }
}

/// Keys of dependents one lock acquisition works on; between batches the lock is released so
/// requests are served while a large queue drains.
pub const BATCH: usize = 256;

/// Take the garbage collector's queue: the dependents written since the last pass and those of
/// owners that disappeared (everything with ownerReferences after a REST-mapping change), as
/// upstream's graph builder feeds attemptToDelete from its informers.
pub fn take_queue(shared: &Shared) -> Vec<Key> {
    let mut state = shared.lock();
    let mut keys = std::mem::take(&mut state.store.changes.gc);
    if std::mem::take(&mut state.store.changes.gc_resync) {
        keys.extend(state.store.all_dependents());
    }
    keys.into_iter().collect()
}

/// One garbage-collector pass: the queued dependents in batches, then the owners being deleted
/// with `foregroundDeletion`/`orphan` and deleting CRDs. Work is proportional to what changed
/// (and to the objects being deleted with those finalizers), not to the size of the store.
pub fn run_pass(shared: &Shared) {
    let keys = take_queue(shared);
    for chunk in keys.chunks(BATCH) {
        collect_dependents(shared, chunk);
    }
    process_deleting_owners(shared);
}

/// attemptToDeleteItem for queued dependents: delete those whose owners are all absent, prune
/// dangling references when other owners remain; unmappable references pin them.
pub fn collect_dependents(shared: &Shared, keys: &[Key]) {
    let now = shared.clock.now_rfc3339();
    let mut state = shared.lock();
    let registry = state.registry.clone();
    let types: HashMap<String, ResourceType> = registry
        .storage_types()
        .into_iter()
        .map(|t| (t.storage_key(), t))
        .collect();
    for key in keys {
        let Some(obj) = state.store.get(&key.0, &key.1, &key.2) else {
            continue;
        };
        if is_deleting(obj) {
            continue;
        }
        let refs = owner_refs(obj);
        if refs.is_empty() {
            continue;
        }
        let lookups: Vec<(OwnerRef, OwnerLookup)> = refs
            .into_iter()
            .map(|r| {
                let l = lookup(&state, &registry, &key.1, &r);
                (r, l)
            })
            .collect();
        let Some(t) = types.get(&key.0) else {
            continue;
        };
        match decide(&lookups) {
            Decision::Keep(_) => {}
            Decision::Delete => {
                if ops::delete(&mut state, t, &key.1, &key.2, &DeleteOptions::default(), &now).is_err() {
                    // retried on the next pass, as the workqueue requeues with backoff
                    state.store.changes.gc.insert(key.clone());
                }
            }
            Decision::RemoveDangling(uids) => {
                if let Some(obj) = state.store.get(&key.0, &key.1, &key.2).cloned() {
                    let mut new = obj.clone();
                    if let Some(arr) = new["metadata"]["ownerReferences"].as_array_mut() {
                        arr.retain(|r| !uids.iter().any(|u| r["uid"] == json!(u)));
                    }
                    let _ = ops::update(&mut state, t, &key.1, &key.2, new, Part::Main, false, false);
                }
            }
        }
    }
}

/// Owners being deleted in the foreground / with orphaning, and CRD cleanup (a few objects at
/// a time in a real cluster: only those being deleted with these finalizers are visited).
pub fn process_deleting_owners(shared: &Shared) {
    let now = shared.clock.now_rfc3339();
    let mut state = shared.lock();
    let registry = state.registry.clone();
    // 2. owners being deleted in the foreground / with orphaning, and CRD cleanup
    let deleting: Vec<(Key, Value)> = state
        .store
        .owner_work()
        .into_iter()
        .filter_map(|k| {
            let o = state.store.get(&k.0, &k.1, &k.2)?.clone();
            Some((k, o))
        })
        .collect();
    for (key, owner) in deleting {
        let fins = finalizers(&owner);
        let uid = meta_str(&owner, "uid").to_string();
        let dependents: Vec<Key> = state.store.dependents_of(&uid);
        if fins.iter().any(|f| f == FOREGROUND) {
            // processDeletingDependentsItem: only dependents with blockOwnerDeletion=true are
            // worked on (and block); the others are collected as dangling once the owner is gone.
            for d in &dependents {
                let Some(t) = registry.by_storage_key(&d.0) else {
                    continue;
                };
                let Some(dep) = state.store.get(&d.0, &d.1, &d.2).cloned() else {
                    continue;
                };
                if !blocks_owner(&dep, &uid) || is_deleting(&dep) {
                    continue;
                }
                let mut others = Vec::new();
                let mut unresolvable = false;
                for r in owner_refs(&dep).into_iter().filter(|r| r.uid != uid) {
                    let l = lookup(&state, &registry, &d.1, &r);
                    let o = match l {
                        OwnerLookup::Unmappable | OwnerLookup::NamespacedOwnerOfClusterScoped => {
                            unresolvable = true;
                            break;
                        }
                        OwnerLookup::Absent => OtherOwner::Dangling,
                        OwnerLookup::Present => {
                            let t = registry.map_kind(&r.api_version, &r.kind);
                            let ns = if t.as_ref().is_some_and(|t| t.namespaced) {
                                d.1.as_str()
                            } else {
                                ""
                            };
                            let deleting_dependents = t
                                .and_then(|t| state.store.get(&t.storage_key(), ns, &r.name))
                                .is_some_and(|o| is_deleting(o) && finalizers(o).iter().any(|f| f == FOREGROUND));
                            if deleting_dependents {
                                OtherOwner::WaitingForDependentsDeletion
                            } else {
                                OtherOwner::Solid
                            }
                        }
                    };
                    others.push((r.uid.clone(), o));
                }
                if unresolvable {
                    continue;
                }
                let dep_uid = meta_str(&dep, "uid").to_string();
                let has_dependents = !state.store.dependents_of(&dep_uid).is_empty();
                let others_kinds: Vec<OtherOwner> = others.iter().map(|(_, o)| *o).collect();
                match foreground_dependent(&others_kinds, has_dependents) {
                    ForegroundStep::RemoveReferences => {
                        let drop: Vec<String> = std::iter::once(uid.clone())
                            .chain(
                                others
                                    .iter()
                                    .filter(|(_, o)| *o != OtherOwner::Solid)
                                    .map(|(u, _)| u.clone()),
                            )
                            .collect();
                        let mut new = dep.clone();
                        if let Some(arr) = new["metadata"]["ownerReferences"].as_array_mut() {
                            arr.retain(|r| !drop.iter().any(|u| r["uid"] == json!(u)));
                        }
                        let _ = ops::update(&mut state, &t, &d.1, &d.2, new, Part::Main, false, false);
                    }
                    ForegroundStep::Delete(policy) => {
                        let opts = DeleteOptions {
                            propagation: policy.map(str::to_string),
                            ..Default::default()
                        };
                        let _ = ops::delete(&mut state, &t, &d.1, &d.2, &opts, &now);
                    }
                }
            }
            let blocking_left = state
                .store
                .dependents_of(&uid)
                .iter()
                .filter_map(|k| state.store.get(&k.0, &k.1, &k.2))
                .any(|o| blocks_owner(o, &uid));
            if !blocking_left {
                remove_finalizer(&mut state, &registry, &key, FOREGROUND);
            }
        } else if fins.iter().any(|f| f == ORPHAN) {
            for d in &dependents {
                let Some(t) = registry.by_storage_key(&d.0) else {
                    continue;
                };
                if let Some(obj) = state.store.get(&d.0, &d.1, &d.2).cloned() {
                    let mut new = obj.clone();
                    if let Some(arr) = new["metadata"]["ownerReferences"].as_array_mut() {
                        arr.retain(|r| r["uid"] != json!(uid));
                    }
                    let _ = ops::update(&mut state, &t, &d.1, &d.2, new, Part::Main, false, false);
                }
            }
            remove_finalizer(&mut state, &registry, &key, ORPHAN);
        } else if key.0 == CRD_STORAGE && fins.iter().any(|f| f == CRD_CLEANUP_FINALIZER) {
            let group = owner["spec"]["group"].as_str().unwrap_or_default();
            let plural = owner["spec"]["names"]["plural"].as_str().unwrap_or_default();
            let storage = format!("{group}/{plural}");
            let instances: Vec<Key> = state
                .store
                .list(&storage, None)
                .into_iter()
                .map(|(k, _)| k.clone())
                .collect();
            if !crd_condition_true(&owner, "Established") {
                set_crd_condition(
                    &mut state,
                    &key,
                    "False",
                    "NeverEstablished",
                    "resource was never established",
                    &now,
                );
                remove_finalizer(&mut state, &registry, &key, CRD_CLEANUP_FINALIZER);
                continue;
            }
            // crd_finalizer.go: Terminating=True InstanceDeletionInProgress before deleting;
            // when instances remain after its one-minute poll, InstanceDeletionCheck.
            let (reason, message) = match terminating_since(&owner).zip(jiff::Timestamp::from_str(&now).ok()) {
                Some((since, now_t)) if !instances.is_empty() && now_t.duration_since(since).as_secs() >= 60 => (
                    "InstanceDeletionCheck",
                    "could not confirm zero CustomResources remaining: timed out waiting for the condition",
                ),
                _ => ("InstanceDeletionInProgress", "CustomResource deletion is in progress"),
            };
            set_crd_condition(&mut state, &key, "True", reason, message, &now);
            if let Some(t) = registry.by_storage_key(&storage) {
                for i in &instances {
                    let _ = ops::delete(&mut state, &t, &i.1, &i.2, &DeleteOptions::default(), &now);
                }
            }
            if state.store.list(&storage, None).is_empty() {
                // Terminating=False InstanceDeletionCompleted and the finalizer removal are one
                // UpdateStatus that deletes the CRD: the DELETED event shows the last stored state.
                remove_finalizer(&mut state, &registry, &key, CRD_CLEANUP_FINALIZER);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(kind: &str) -> OwnerRef {
        OwnerRef {
            api_version: "autoscaling.aibrix.ai/v1alpha1".into(),
            kind: kind.into(),
            name: "pa".into(),
            uid: format!("uid-{kind}"),
        }
    }

    #[test]
    fn decisions() {
        assert_eq!(decide(&[]), Decision::Keep("no owner references"));
        assert_eq!(decide(&[(r("A"), OwnerLookup::Absent)]), Decision::Delete);
        assert_eq!(
            decide(&[(r("A"), OwnerLookup::Present)]),
            Decision::Keep("owners present")
        );
        // one unmappable ref pins the object even when the other owner is gone
        assert!(matches!(
            decide(&[(r("A"), OwnerLookup::Absent), (r("B"), OwnerLookup::Unmappable)]),
            Decision::Keep(_)
        ));
        assert!(matches!(
            decide(&[(r("A"), OwnerLookup::NamespacedOwnerOfClusterScoped)]),
            Decision::Keep(_)
        ));
        assert_eq!(
            decide(&[(r("A"), OwnerLookup::Absent), (r("B"), OwnerLookup::Present)]),
            Decision::RemoveDangling(vec!["uid-A".into()])
        );
    }

    #[test]
    fn foreground_keeps_dependents_with_another_live_owner() {
        use OtherOwner::*;
        assert_eq!(foreground_dependent(&[Solid], false), ForegroundStep::RemoveReferences);
        assert_eq!(
            foreground_dependent(&[Dangling, Solid], true),
            ForegroundStep::RemoveReferences
        );
        assert_eq!(foreground_dependent(&[], false), ForegroundStep::Delete(None));
        assert_eq!(foreground_dependent(&[Dangling], false), ForegroundStep::Delete(None));
        assert_eq!(
            foreground_dependent(&[WaitingForDependentsDeletion], true),
            ForegroundStep::Delete(Some("Foreground"))
        );
        let dep = json!({"metadata": {"ownerReferences": [{"uid": "a", "blockOwnerDeletion": true}, {"uid": "b"}]}});
        assert!(blocks_owner(&dep, "a"));
        assert!(!blocks_owner(&dep, "b"));
    }

    #[test]
    fn lookups_use_mapping_namespace_and_uid() {
        let crd = json!({"spec": {"group": "autoscaling.aibrix.ai", "scope": "Namespaced",
            "names": {"kind": "PodAutoscaler", "plural": "podautoscalers"},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true}]}});
        let reg = Registry::build(&[&crd], Default::default());
        let mut s = State::new();
        s.store.put(
            "autoscaling.aibrix.ai/podautoscalers",
            json!({"metadata": {"name": "pa", "namespace": "a", "uid": "u1"}}),
        );
        let mut good = r("PodAutoscaler");
        good.uid = "u1".into();
        assert_eq!(lookup(&s, &reg, "a", &good), OwnerLookup::Present);
        assert_eq!(
            lookup(&s, &reg, "b", &good),
            OwnerLookup::Absent,
            "owner in another namespace is absent"
        );
        let mut lower = good.clone();
        lower.kind = "podautoscaler".into();
        assert_eq!(lookup(&s, &reg, "a", &lower), OwnerLookup::Present);
        let mut bad_case = good.clone();
        bad_case.kind = "PodAutoScaler".into();
        assert_eq!(lookup(&s, &reg, "a", &bad_case), OwnerLookup::Unmappable);
        let mut other_uid = good.clone();
        other_uid.uid = "u2".into();
        assert_eq!(lookup(&s, &reg, "a", &other_uid), OwnerLookup::Absent);
        assert_eq!(lookup(&s, &reg, "", &good), OwnerLookup::NamespacedOwnerOfClusterScoped);
    }
}
