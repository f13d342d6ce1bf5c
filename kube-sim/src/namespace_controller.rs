//! Namespace lifecycle controller, modelled on kube-controller-manager's namespace deleter:
//! ordered content deletion (pods first), five deletion conditions, finalize when empty.
use crate::ops::{self, finalizers, is_deleting, DeleteOptions};
use crate::state::{Shared, State, NAMESPACE_STORAGE};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const DISCOVERY_FAILURE: &str = "NamespaceDeletionDiscoveryFailure";
pub const GV_PARSING_FAILURE: &str = "NamespaceDeletionGroupVersionParsingFailure";
pub const CONTENT_FAILURE: &str = "NamespaceDeletionContentFailure";
pub const CONTENT_REMAINING: &str = "NamespaceContentRemaining";
pub const FINALIZERS_REMAINING: &str = "NamespaceFinalizersRemaining";

pub const CONDITION_TYPES: [&str; 5] = [
    DISCOVERY_FAILURE,
    GV_PARSING_FAILURE,
    CONTENT_FAILURE,
    CONTENT_REMAINING,
    FINALIZERS_REMAINING,
];

fn ok_reason_message(t: &str) -> (&'static str, &'static str) {
    match t {
        DISCOVERY_FAILURE => ("ResourcesDiscovered", "All resources successfully discovered"),
        GV_PARSING_FAILURE => ("ParsedGroupVersions", "All legacy kube types successfully parsed"),
        CONTENT_FAILURE => (
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        ),
        CONTENT_REMAINING => ("ContentRemoved", "All content successfully removed"),
        _ => ("ContentHasNoFinalizers", "All content-preserving finalizers finished"),
    }
}

/// A condition without its transition time.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub type_: String,
    pub status: &'static str,
    pub reason: String,
    pub message: String,
}

/// What one pass observed in a terminating namespace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassObservation {
    /// group/versions whose discovery failed (sorted).
    pub failed_group_versions: Vec<String>,
    /// Errors from deleting content, one per resource type.
    pub deletion_errors: Vec<String>,
    /// Set when pods remain and other content was not touched (ordered deletion early return);
    /// the remaining pods and their finalizers are in `remaining`/`finalizers`.
    pub pods_remaining_early: bool,
    /// "<resource>.<group>" → remaining instances.
    pub remaining: BTreeMap<String, usize>,
    /// finalizer → number of remaining instances carrying it.
    pub finalizers: BTreeMap<String, usize>,
}

impl PassObservation {
    /// Whether the namespace may be finalized (its `kubernetes` finalizer removed).
    pub fn can_finalize(&self) -> bool {
        self.failed_group_versions.is_empty()
            && self.deletion_errors.is_empty()
            && !self.pods_remaining_early
            && self.remaining.values().all(|n| *n == 0)
    }
}

/// The failing conditions upstream would write for this observation.
pub fn failing_conditions(obs: &PassObservation) -> Vec<Condition> {
    let mut out = Vec::new();
    if !obs.failed_group_versions.is_empty() {
        let detail = obs
            .failed_group_versions
            .iter()
            .map(|gv| format!("{gv}: stale GroupVersion discovery: {gv}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(Condition {
            type_: DISCOVERY_FAILURE.into(),
            status: "True",
            reason: "DiscoveryFailed".into(),
            message: format!(
                "Discovery failed for some groups, {} failing: unable to retrieve the complete list of server APIs: {detail}",
                obs.failed_group_versions.len()
            ),
        });
    }
    let mut errors = obs.deletion_errors.clone();
    errors.sort();
    if !errors.is_empty() {
        let joined = if errors.len() == 1 {
            errors[0].clone()
        } else {
            format!("[{}]", errors.join(", "))
        };
        out.push(Condition {
            type_: CONTENT_FAILURE.into(),
            status: "True",
            reason: "ContentDeletionFailed".into(),
            message: format!(
                "Failed to delete all resource types, {} remaining: {joined}",
                errors.len()
            ),
        });
    }
    let mut remaining: Vec<String> = obs
        .remaining
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{r} has {n} resource instances"))
        .collect();
    remaining.sort();
    if !remaining.is_empty() {
        out.push(Condition {
            type_: CONTENT_REMAINING.into(),
            status: "True",
            reason: "SomeResourcesRemain".into(),
            message: format!("Some resources are remaining: {}", remaining.join(", ")),
        });
    }
    let mut fins: Vec<String> = obs
        .finalizers
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(f, n)| format!("{f} in {n} resource instances"))
        .collect();
    fins.sort();
    if !fins.is_empty() {
        out.push(Condition {
            type_: FINALIZERS_REMAINING.into(),
            status: "True",
            reason: "SomeFinalizersRemain".into(),
            message: format!(
                "Some content in the namespace has finalizers remaining: {}",
                fins.join(", ")
            ),
        });
    }
    out
}

/// Merge new conditions into the stored ones like upstream's updateConditions: all five types
/// are written (OK variant with status False when not failing); lastTransitionTime changes only
/// when the status changes; other condition types are kept.
pub fn merge_conditions(existing: &[Value], failing: &[Condition], now: &str) -> Vec<Value> {
    let mut out: Vec<Value> = existing.to_vec();
    for t in CONDITION_TYPES {
        let new = failing.iter().find(|c| c.type_ == t).cloned().unwrap_or_else(|| {
            let (r, m) = ok_reason_message(t);
            Condition {
                type_: t.into(),
                status: "False",
                reason: r.into(),
                message: m.into(),
            }
        });
        match out.iter_mut().find(|c| c["type"] == t) {
            Some(old) => {
                let time = if old["status"] == new.status {
                    old["lastTransitionTime"].clone()
                } else {
                    json!(now)
                };
                *old = json!({"type": t, "status": new.status, "lastTransitionTime": time, "reason": new.reason, "message": new.message});
            }
            None => out.push(json!({"type": t, "status": new.status, "lastTransitionTime": now, "reason": new.reason, "message": new.message})),
        }
    }
    out
}

/// Namespaces one lock acquisition works on; the lock is released between batches.
pub const BATCH: usize = 64;

/// Take the namespace controller's queue: namespaces whose object or content was written since
/// the last pass (every terminating one after a REST-mapping or discovery change), as upstream's
/// namespace informer and workqueue feed syncNamespaceFromKey. Only terminating ones are kept.
pub fn take_queue(shared: &Shared) -> Vec<String> {
    let mut state = shared.lock();
    let mut names = std::mem::take(&mut state.store.changes.namespaces);
    if std::mem::take(&mut state.store.changes.namespaces_resync) {
        names.extend(
            state
                .store
                .list(NAMESPACE_STORAGE, None)
                .into_iter()
                .filter(|(_, o)| is_deleting(o))
                .map(|(k, _)| k.2.clone()),
        );
    }
    names
        .into_iter()
        .filter(|n| state.store.get(NAMESPACE_STORAGE, "", n).is_some_and(is_deleting))
        .collect()
}

/// One pass over the queued terminating namespaces.
pub fn run_pass(shared: &Shared) {
    let names = take_queue(shared);
    for chunk in names.chunks(BATCH) {
        sync_namespaces(shared, chunk);
    }
}

/// syncNamespace for each named namespace that is still terminating. A namespace whose content
/// deletion failed is queued again (upstream requeues it with backoff); one whose content is
/// held by finalizers is woken by the writes that release it.
pub fn sync_namespaces(shared: &Shared, names: &[String]) {
    let now = shared.clock.now_rfc3339();
    let mut state = shared.lock();
    for name in names {
        let Some(ns) = state
            .store
            .get(NAMESPACE_STORAGE, "", name)
            .filter(|o| is_deleting(o))
            .cloned()
        else {
            continue;
        };
        if reconcile(shared, &mut state, &ns, &now) {
            state.store.changes.namespaces.insert(name.clone());
        }
    }
}

/// Returns true when the namespace must be retried (content deletion failed).
fn reconcile(shared: &Shared, state: &mut State, ns_obj: &Value, now: &str) -> bool {
    let name = ns_obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let spec_fins: Vec<String> = ns_obj["spec"]["finalizers"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    if !spec_fins.iter().any(|f| f == "kubernetes") {
        if spec_fins.is_empty() && finalizers(ns_obj).is_empty() {
            state.remove(NAMESPACE_STORAGE, "", &name);
        }
        return false;
    }
    let registry = state.registry.clone();
    let mut obs = PassObservation {
        failed_group_versions: registry.failing.iter().cloned().collect(),
        ..Default::default()
    };
    let types: Vec<_> = registry
        .storage_types()
        .into_iter()
        .filter(|t| t.namespaced && t.has_verb("delete") && t.has_verb("list"))
        .collect();
    let opts = DeleteOptions::default();
    let ordered = shared.tunables().ordered_namespace_deletion;
    // Storage keys whose deletion failed in this pass: not counted as remaining content
    // (deleteAllContentForGroupVersionResource returns an error and no counts).
    let mut errored: Vec<String> = Vec::new();
    let delete_all =
        |state: &mut State, t: &crate::registry::ResourceType, obs: &mut PassObservation, errored: &mut Vec<String>| {
            let storage = t.storage_key();
            let names: Vec<(String, bool)> = state
                .store
                .list(&storage, Some(&name))
                .into_iter()
                .map(|(k, o)| (k.2.clone(), is_deleting(o)))
                .collect();
            if names.is_empty() {
                return;
            }
            if shared.faults.should_fail(&t.plural, &t.group) {
                obs.deletion_errors.push(format!(
                    "an error on the server (\"injected fault\") has prevented the request from succeeding (delete {})",
                    t.group_resource().qualified()
                ));
                errored.push(storage);
                return;
            }
            for (n, deleting) in names {
                if !deleting {
                    let _ = ops::delete(state, t, &name, &n, &opts, now);
                }
            }
        };
    let count = |state: &State, t: &crate::registry::ResourceType, obs: &mut PassObservation| {
        let left = state.store.list(&t.storage_key(), Some(&name));
        if left.is_empty() {
            return;
        }
        obs.remaining.insert(format!("{}.{}", t.plural, t.group), left.len());
        for (_, o) in left {
            for f in finalizers(o) {
                *obs.finalizers.entry(f).or_default() += 1;
            }
        }
    };
    // Ordered namespace deletion (KEP-5080): pods first; while pods remain (e.g. held by a
    // finalizer) they are reported as remaining content and nothing else is touched.
    let pods = types.iter().find(|t| t.storage_key() == "/pods");
    if let (true, Some(pods)) = (ordered, pods) {
        delete_all(state, pods, &mut obs, &mut errored);
        if state.store.count_in_namespace("/pods", &name) > 0 {
            obs.pods_remaining_early = true;
            if !errored.iter().any(|e| e == "/pods") {
                count(state, pods, &mut obs);
            }
        }
    }
    if !obs.pods_remaining_early {
        for t in types.iter().filter(|t| !ordered || t.storage_key() != "/pods") {
            delete_all(state, t, &mut obs, &mut errored);
        }
        for t in &types {
            if !errored.contains(&t.storage_key()) {
                count(state, t, &mut obs);
            }
        }
    }
    let failing = failing_conditions(&obs);
    let retry = !obs.deletion_errors.is_empty();
    let Some(current) = state.store.get(NAMESPACE_STORAGE, "", &name).cloned() else {
        return false;
    };
    let existing = current["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let merged = merge_conditions(&existing, &failing, now);
    let mut updated = current.clone();
    updated["status"]["conditions"] = Value::Array(merged);
    if obs.can_finalize() {
        let rest: Vec<String> = spec_fins.into_iter().filter(|f| f != "kubernetes").collect();
        if rest.is_empty() && finalizers(&updated).is_empty() {
            // UpdateStatus (conditions), then PUT finalize, which deletes the namespace at once
            // (ShouldDeleteNamespaceDuringUpdate): the DELETED event carries the last stored
            // state, still listing the `kubernetes` finalizer.
            if updated != current {
                state.put(NAMESPACE_STORAGE, updated);
            }
            state.remove(NAMESPACE_STORAGE, "", &name);
            return false;
        }
        updated["spec"]["finalizers"] = json!(rest);
    }
    if updated != current {
        state.put(NAMESPACE_STORAGE, updated);
    }
    retry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finalizer_and_remaining_messages() {
        let mut obs = PassObservation::default();
        obs.remaining.insert("modeladapters.model.aibrix.ai".into(), 1);
        obs.remaining.insert("pods.".into(), 2);
        obs.finalizers.insert("adapter.model.aibrix.ai/finalizer".into(), 1);
        let c = failing_conditions(&obs);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].type_, CONTENT_REMAINING);
        assert_eq!(c[0].reason, "SomeResourcesRemain");
        assert_eq!(
            c[0].message,
            "Some resources are remaining: modeladapters.model.aibrix.ai has 1 resource instances, pods. has 2 resource instances"
        );
        assert_eq!(
            c[1].message,
            "Some content in the namespace has finalizers remaining: adapter.model.aibrix.ai/finalizer in 1 resource instances"
        );
        assert_eq!(c[1].reason, "SomeFinalizersRemain");
        assert!(!obs.can_finalize());
    }

    #[test]
    fn discovery_failure_blocks_finalize() {
        let obs = PassObservation {
            failed_group_versions: vec!["metrics.k8s.io/v1beta1".into()],
            ..Default::default()
        };
        let c = failing_conditions(&obs);
        assert_eq!(c[0].reason, "DiscoveryFailed");
        // kube-controller-manager 1.32 uses aggregated discovery: a failing aggregated
        // group/version is reported as stale (legacy discovery: "…: the server is currently
        // unable to handle the request")
        assert_eq!(c[0].message, "Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: stale GroupVersion discovery: metrics.k8s.io/v1beta1");
        assert!(!obs.can_finalize());
        assert!(PassObservation::default().can_finalize());
    }

    #[test]
    fn merge_writes_all_five_and_keeps_transition_time() {
        let failing = vec![Condition {
            type_: FINALIZERS_REMAINING.into(),
            status: "True",
            reason: "SomeFinalizersRemain".into(),
            message: "m1".into(),
        }];
        let first = merge_conditions(&[], &failing, "t1");
        assert_eq!(first.len(), 5);
        let ok = first.iter().find(|c| c["type"] == CONTENT_FAILURE).unwrap();
        assert_eq!(ok["status"], "False");
        assert_eq!(ok["reason"], "ContentDeleted");
        let fin = first.iter().find(|c| c["type"] == FINALIZERS_REMAINING).unwrap();
        assert_eq!(fin["status"], "True");
        let mut failing2 = failing.clone();
        failing2[0].message = "m2".into();
        let second = merge_conditions(&first, &failing2, "t2");
        let fin = second.iter().find(|c| c["type"] == FINALIZERS_REMAINING).unwrap();
        assert_eq!(fin["lastTransitionTime"], "t1");
        assert_eq!(fin["message"], "m2");
        let third = merge_conditions(&second, &[], "t3");
        let fin = third.iter().find(|c| c["type"] == FINALIZERS_REMAINING).unwrap();
        assert_eq!(
            (fin["status"].as_str(), fin["lastTransitionTime"].as_str()),
            (Some("False"), Some("t3"))
        );
        assert_eq!(fin["reason"], "ContentHasNoFinalizers");
    }

    #[test]
    fn pods_held_by_a_finalizer_are_remaining_content() {
        let mut obs = PassObservation {
            pods_remaining_early: true,
            ..Default::default()
        };
        obs.remaining.insert("pods.".into(), 1);
        obs.finalizers.insert("example.com/hold".into(), 1);
        let c = failing_conditions(&obs);
        assert_eq!(c.len(), 2, "no ContentFailure: {c:?}");
        assert_eq!(
            c[0].message,
            "Some resources are remaining: pods. has 1 resource instances"
        );
        assert_eq!(
            c[1].message,
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        );
        assert!(!obs.can_finalize());
    }
}
