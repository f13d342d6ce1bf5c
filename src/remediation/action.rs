//! Suggested actions: the one structured form of every fix the audit proposes. The JSON, the
//! kubectl lines and the remediation queue are all rendered from it. Pure.

use serde::Serialize;

use crate::findings::{ObjectId, OwnerProblemReason, OwnerReferenceProblem, ReferenceField, RemainingObject};

/// Which kind of repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    RemoveFinalizer,
    FixOwnerKind,
    DeleteOrphan,
}

impl ActionKind {
    pub const ALL: [ActionKind; 3] = [
        ActionKind::RemoveFinalizer,
        ActionKind::FixOwnerKind,
        ActionKind::DeleteOrphan,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::RemoveFinalizer => "remove_finalizer",
            ActionKind::FixOwnerKind => "fix_owner_kind",
            ActionKind::DeleteOrphan => "delete_orphan",
        }
    }

    pub fn parse(s: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One repair of one object, with everything needed to check it still applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SuggestedAction {
    pub action: ActionKind,
    pub object: ObjectId,
    /// `metadata.finalizers[index]` or `metadata.ownerReferences[index]`; none for a delete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The value at that index as written (the finalizer, or the kind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The value it becomes (the corrected kind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// When the object was marked for deletion (finalizer removals), RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
}

/// Finalizers that belong to Kubernetes itself: never removed by the queue.
pub fn is_kubernetes_finalizer(finalizer: &str) -> bool {
    matches!(finalizer, "kubernetes" | "orphan" | "foregroundDeletion")
        || finalizer.starts_with("kubernetes.io/")
        || finalizer.contains(".kubernetes.io/")
        || finalizer.ends_with(".k8s.io")
        || finalizer.contains(".k8s.io/")
}

impl SuggestedAction {
    /// The stable identity of this action across rounds: the object's uid, the exact place and
    /// the value as written. A re-created object, a moved finalizer or a corrected kind is a new key.
    pub fn key(&self) -> String {
        let o = &self.object;
        match self.action {
            ActionKind::RemoveFinalizer => format!(
                "remove_finalizer/{}/finalizers/{}={}",
                o.uid,
                self.index.unwrap_or_default(),
                self.expected.as_deref().unwrap_or_default()
            ),
            ActionKind::FixOwnerKind => format!(
                "fix_owner_kind/{}/ownerReferences/{}/kind={}",
                o.uid,
                self.index.unwrap_or_default(),
                self.expected.as_deref().unwrap_or_default()
            ),
            ActionKind::DeleteOrphan => format!("delete_orphan/{}", o.uid),
        }
    }

    /// The JSON patch this action sends (none for a delete): it tests the resourceVersion and the
    /// value at the index, so it changes exactly that value of exactly that version, or nothing.
    pub fn json_patch(&self) -> Option<serde_json::Value> {
        let rv = &self.object.resource_version;
        let index = self.index?;
        let expected = self.expected.as_deref()?;
        match self.action {
            ActionKind::RemoveFinalizer => Some(serde_json::json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
                {"op": "test", "path": format!("/metadata/finalizers/{index}"), "value": expected},
                {"op": "remove", "path": format!("/metadata/finalizers/{index}")},
            ])),
            ActionKind::FixOwnerKind => Some(serde_json::json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
                {"op": "test", "path": format!("/metadata/ownerReferences/{index}/kind"), "value": expected},
                {"op": "replace", "path": format!("/metadata/ownerReferences/{index}/kind"), "value": self.replacement.as_deref()?},
            ])),
            ActionKind::DeleteOrphan => None,
        }
    }

    /// The kubectl command a human would run for the same repair (with the same preconditions
    /// where kubectl can express them). `kubeconfig` is added when given.
    pub fn kubectl(&self, kubeconfig: Option<&str>) -> String {
        let o = &self.object;
        let resource = o.qualified_resource();
        let mut cmd = String::from("kubectl");
        if let Some(k) = kubeconfig {
            cmd.push_str(&format!(" --kubeconfig {k}"));
        }
        if !o.namespace.is_empty() {
            cmd.push_str(&format!(" -n {}", o.namespace));
        }
        match self.json_patch() {
            Some(patch) => format!("{cmd} patch {resource} {} --type=json -p '{patch}'", o.name),
            None => format!("{cmd} delete {resource} {} --cascade=background --wait=false", o.name),
        }
    }

    /// When the condition it repairs started, as far as the object tells (RFC 3339): its deletion
    /// for a finalizer removal, its creation for a reference fix or an orphan deletion.
    pub fn since(&self) -> Option<&str> {
        match self.action {
            ActionKind::RemoveFinalizer => self.deletion_timestamp.as_deref(),
            ActionKind::FixOwnerKind | ActionKind::DeleteOrphan => self.object.creation_timestamp.as_deref(),
        }
    }

    /// One line: what it does to what.
    pub fn describe(&self) -> String {
        let o = &self.object;
        let what = format!("{} {}/{}", o.qualified_resource(), o.namespace, o.name);
        match self.action {
            ActionKind::RemoveFinalizer => format!(
                "remove finalizer {} (index {}) from {what}",
                self.expected.as_deref().unwrap_or_default(),
                self.index.unwrap_or_default()
            ),
            ActionKind::FixOwnerKind => format!(
                "set ownerReferences[{}].kind {} → {} on {what}",
                self.index.unwrap_or_default(),
                self.expected.as_deref().unwrap_or_default(),
                self.replacement.as_deref().unwrap_or_default()
            ),
            ActionKind::DeleteOrphan => format!("delete orphan {what}"),
        }
    }
}

/// The action an owner-reference problem calls for, if any:
/// - `fix_owner_kind` for a mis-cased kind whose owner exists with the same uid;
/// - `delete_orphan` for an object the garbage collector cannot collect although none of its
///   owners exists (never "fix the kind" of an orphan: the collector would then delete it with no
///   record from us).
pub fn for_owner_problem(p: &OwnerReferenceProblem) -> Option<SuggestedAction> {
    if p.gc_blocked && p.orphan {
        return Some(SuggestedAction {
            action: ActionKind::DeleteOrphan,
            object: p.dependent.clone(),
            index: None,
            expected: None,
            replacement: None,
            deletion_timestamp: None,
        });
    }
    let fixable = p.reason == OwnerProblemReason::KindCaseMismatch
        && p.reference.field == ReferenceField::OwnerReference
        && p.owner_exists == Some(true)
        && !p.reference.uid.is_empty();
    let kind = p.suggested_kind.as_ref().filter(|_| fixable)?;
    Some(SuggestedAction {
        action: ActionKind::FixOwnerKind,
        object: p.dependent.clone(),
        index: Some(p.reference.index),
        expected: Some(p.reference.kind.clone()),
        replacement: Some(kind.clone()),
        deletion_timestamp: None,
    })
}

/// One `remove_finalizer` per non-Kubernetes finalizer of an object that is already being
/// deleted (a live object's finalizers are never candidates).
pub fn for_remaining_object(o: &RemainingObject) -> Vec<SuggestedAction> {
    let Some(deleted) = &o.deletion_timestamp else {
        return Vec::new();
    };
    o.finalizers
        .iter()
        .enumerate()
        .filter(|(_, f)| !is_kubernetes_finalizer(f))
        .map(|(i, f)| SuggestedAction {
            action: ActionKind::RemoveFinalizer,
            object: o.object.clone(),
            index: Some(i),
            expected: Some(f.clone()),
            replacement: None,
            deletion_timestamp: Some(deleted.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::fixtures::hpa_problem;

    fn remaining(finalizers: &[&str], deleted: bool) -> RemainingObject {
        RemainingObject {
            object: hpa_problem("x", OwnerProblemReason::KindCaseMismatch, true, false).dependent,
            finalizers: finalizers.iter().map(|f| f.to_string()).collect(),
            deletion_timestamp: deleted.then(|| "2026-11-30T10:00:00Z".to_string()),
            suggested_actions: Vec::new(),
        }
    }

    #[test]
    fn owner_problems_map_to_exactly_one_safe_action() {
        // Live owner, mis-cased kind: fix the kind.
        let live = for_owner_problem(&hpa_problem("live", OwnerProblemReason::KindCaseMismatch, true, false)).unwrap();
        assert_eq!(live.action, ActionKind::FixOwnerKind);
        assert_eq!(
            (live.expected.as_deref(), live.replacement.as_deref()),
            (Some("PodAutoScaler"), Some("PodAutoscaler"))
        );
        // Owner gone: delete the orphan, never fix its kind.
        let orphan = for_owner_problem(&hpa_problem("gone", OwnerProblemReason::KindCaseMismatch, true, true)).unwrap();
        assert_eq!(orphan.action, ActionKind::DeleteOrphan);
        // Owner unknown (could not be looked up): nothing.
        let mut unknown = hpa_problem("unknown", OwnerProblemReason::KindCaseMismatch, true, false);
        unknown.owner_exists = None;
        assert_eq!(for_owner_problem(&unknown), None);
        // Collectable problems are the garbage collector's business.
        assert_eq!(
            for_owner_problem(&hpa_problem("c", OwnerProblemReason::OwnerNotFound, false, true)),
            None
        );
        // A scale target is not an ownerReference.
        let mut target = hpa_problem("t", OwnerProblemReason::KindCaseMismatch, true, false);
        target.reference.field = ReferenceField::ScaleTargetRef;
        assert_eq!(for_owner_problem(&target), None);
    }

    #[test]
    fn age_counts_from_deletion_for_finalizers_and_from_creation_for_references() {
        let fin = &for_remaining_object(&remaining(&["example.com/a"], true))[0];
        assert_eq!(fin.since(), Some("2026-11-30T10:00:00Z"));
        let fix = for_owner_problem(&hpa_problem("live", OwnerProblemReason::KindCaseMismatch, true, false)).unwrap();
        assert_eq!(fix.since(), Some("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn finalizer_actions_skip_kubernetes_finalizers_and_live_objects() {
        let acts = for_remaining_object(&remaining(
            &[
                "kubernetes",
                "example.com/a",
                "kubernetes.io/pvc-protection",
                "foregroundDeletion",
                "example.com/b",
            ],
            true,
        ));
        let got: Vec<(usize, &str)> = acts
            .iter()
            .map(|a| (a.index.unwrap(), a.expected.as_deref().unwrap()))
            .collect();
        assert_eq!(got, vec![(1, "example.com/a"), (4, "example.com/b")]);
        assert!(for_remaining_object(&remaining(&["example.com/a"], false)).is_empty());
        for f in [
            "orphan",
            "kubernetes.io/x",
            "batch.kubernetes.io/job-tracking",
            "resource.k8s.io/delete-protection",
        ] {
            assert!(is_kubernetes_finalizer(f), "{f}");
        }
        assert!(!is_kubernetes_finalizer("adapter.model.aibrix.ai/finalizer"));
    }

    #[test]
    fn patches_test_the_version_and_the_value_and_touch_one_index() {
        let a = &for_remaining_object(&remaining(&["orphan", "example.com/a"], true))[0];
        assert_eq!(
            a.json_patch().unwrap(),
            serde_json::json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
                {"op": "test", "path": "/metadata/finalizers/1", "value": "example.com/a"},
                {"op": "remove", "path": "/metadata/finalizers/1"},
            ])
        );
        assert_eq!(a.key(), "remove_finalizer/uid-x/finalizers/1=example.com/a");
        let fix = for_owner_problem(&hpa_problem("live", OwnerProblemReason::KindCaseMismatch, true, false)).unwrap();
        assert_eq!(
            fix.json_patch().unwrap()[2],
            serde_json::json!({"op": "replace", "path": "/metadata/ownerReferences/0/kind", "value": "PodAutoscaler"})
        );
        assert_eq!(
            fix.key(),
            "fix_owner_kind/uid-live/ownerReferences/0/kind=PodAutoScaler"
        );
        let kubectl = fix.kubectl(Some("/tmp/k"));
        assert!(
            kubectl.starts_with(
                "kubectl --kubeconfig /tmp/k -n llm patch horizontalpodautoscalers.autoscaling live --type=json -p '["
            ),
            "{kubectl}"
        );
        let delete = for_owner_problem(&hpa_problem("gone", OwnerProblemReason::KindCaseMismatch, true, true)).unwrap();
        assert_eq!(delete.json_patch(), None);
        assert_eq!(
            delete.kubectl(None),
            "kubectl -n llm delete horizontalpodautoscalers.autoscaling gone --cascade=background --wait=false"
        );
    }
}
