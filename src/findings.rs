//! The findings every scanner produces: plain data, serialised as the `/findings` and
//! `scan -o json` schema (camelCase). Each finding carries the stable identity a later
//! remediation step needs: the object's uid and resourceVersion and the exact reference or
//! finalizer at fault.

use serde::Serialize;

use crate::discovery::DiscoveryFailure;

/// An object in the cluster, identified as a remediation step would need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectId {
    pub group: String,
    pub version: String,
    /// Plural resource name.
    pub resource: String,
    pub kind: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    /// RFC 3339; the age of a reference problem for the remediation queue's age gate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
}

impl ObjectId {
    /// `resource.group` (or `resource` for the core group).
    pub fn qualified_resource(&self) -> String {
        crate::discovery::qualified_resource(&self.resource, &self.group)
    }
}

/// Why an owner reference (or an HPA's scale target) is a problem. The wire names are a contract
/// shared with metrics, dashboards, alerts and remediation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum OwnerProblemReason {
    InvalidApiVersion,
    GroupNotServed,
    VersionNotServed,
    KindCaseMismatch,
    KindNotFound,
    OwnerNotFound,
    OwnerUidMismatch,
    NamespacedOwnerOfClusterScoped,
    OwnerInOtherNamespace,
    ScaleTargetNotFound,
    ScaleTargetUnresolvable,
}

impl OwnerProblemReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidApiVersion => "InvalidApiVersion",
            Self::GroupNotServed => "GroupNotServed",
            Self::VersionNotServed => "VersionNotServed",
            Self::KindCaseMismatch => "KindCaseMismatch",
            Self::KindNotFound => "KindNotFound",
            Self::OwnerNotFound => "OwnerNotFound",
            Self::OwnerUidMismatch => "OwnerUidMismatch",
            Self::NamespacedOwnerOfClusterScoped => "NamespacedOwnerOfClusterScoped",
            Self::OwnerInOtherNamespace => "OwnerInOtherNamespace",
            Self::ScaleTargetNotFound => "ScaleTargetNotFound",
            Self::ScaleTargetUnresolvable => "ScaleTargetUnresolvable",
        }
    }
}

/// Where in the dependent the faulty reference sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ReferenceField {
    /// `metadata.ownerReferences[index]`.
    OwnerReference,
    /// `spec.scaleTargetRef` of a HorizontalPodAutoscaler.
    ScaleTargetRef,
}

/// A reference exactly as written in the object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferenceAsWritten {
    pub field: ReferenceField,
    /// Index into `metadata.ownerReferences` (0 for a scale target).
    pub index: usize,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// Empty for scale targets, which carry no uid.
    pub uid: String,
    pub controller: bool,
}

/// One faulty owner reference or scale target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReferenceProblem {
    pub dependent: ObjectId,
    pub reference: ReferenceAsWritten,
    pub reason: OwnerProblemReason,
    /// What is wrong, in words.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_api_version: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub served_versions: Vec<String>,
    /// Whether the owner (looked up by uid, after correcting the kind where possible) exists where
    /// the garbage collector looks; `None` when it could not be looked up.
    pub owner_exists: Option<bool>,
    /// True when the garbage collector will never delete the dependent by itself.
    pub gc_blocked: bool,
    /// True when none of the dependent's owners exists any more: the dependent is garbage.
    pub orphan: bool,
    /// The suggested fix, in words.
    pub fix: String,
    /// The same fix as a structured action (what the remediation queue would do), when there is
    /// a safe one: `fix_owner_kind` or `delete_orphan`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_action: Option<crate::remediation::action::SuggestedAction>,
}

/// A reference that could not be judged because discovery of its group/version failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnresolvedReference {
    pub dependent: ObjectId,
    pub reference: ReferenceAsWritten,
    pub group_version: String,
}

/// A namespace-controller condition as read from `status.conditions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    /// What the message says, when it could be parsed: `(finalizer or resource, count)` pairs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parsed: Vec<ConditionItem>,
}

/// One `X in N resource instances` / `X has N resource instances` item of a condition message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionItem {
    pub subject: String,
    pub count: u64,
}

/// Why a namespace is stuck. Wire names are a contract shared with metrics and alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum StuckReason {
    DiscoveryFailure,
    GroupVersionParsingFailure,
    ContentDeletionFailure,
    PodsRemaining,
    FinalizersRemaining,
    ContentRemaining,
    NamespaceFinalizerOnly,
    Unknown,
}

impl StuckReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DiscoveryFailure => "DiscoveryFailure",
            Self::GroupVersionParsingFailure => "GroupVersionParsingFailure",
            Self::ContentDeletionFailure => "ContentDeletionFailure",
            Self::PodsRemaining => "PodsRemaining",
            Self::FinalizersRemaining => "FinalizersRemaining",
            Self::ContentRemaining => "ContentRemaining",
            Self::NamespaceFinalizerOnly => "NamespaceFinalizerOnly",
            Self::Unknown => "Unknown",
        }
    }
}

/// An object still present in a Terminating namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemainingObject {
    pub object: ObjectId,
    pub finalizers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    /// One `remove_finalizer` per finalizer that is not Kubernetes' own, once the object is
    /// being deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggested_actions: Vec<crate::remediation::action::SuggestedAction>,
}

/// Objects of one resource held by one finalizer (or by none: `finalizer` empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blocker {
    pub group: String,
    pub resource: String,
    pub finalizer: String,
    pub count: usize,
    pub objects: Vec<RemainingObject>,
}

impl Blocker {
    /// "2 × modeladapters.model.aibrix.ai waiting on adapter.model.aibrix.ai/finalizer".
    pub fn summary(&self) -> String {
        let resource = crate::discovery::qualified_resource(&self.resource, &self.group);
        if self.finalizer.is_empty() {
            format!("{} × {resource} not yet deleted", self.count)
        } else {
            format!("{} × {resource} waiting on {}", self.count, self.finalizer)
        }
    }
}

/// A Terminating namespace, and for a stuck one, everything known about why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminatingNamespace {
    pub namespace: String,
    pub uid: String,
    pub resource_version: String,
    pub deletion_timestamp: String,
    pub terminating_seconds: f64,
    pub stuck: bool,
    /// The primary cause (set for stuck namespaces).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<StuckReason>,
    /// Every cause that applies, primary first.
    pub reasons: Vec<StuckReason>,
    /// `spec.finalizers` of the namespace itself.
    pub spec_finalizers: Vec<String>,
    /// `metadata.finalizers` of the namespace itself (these hold it after the controller is done).
    pub metadata_finalizers: Vec<String>,
    /// The namespace controller's conditions as read (all of them, `False` included).
    pub conditions: Vec<NamespaceCondition>,
    /// What is really left in the namespace, grouped by (resource, finalizer).
    pub blockers: Vec<Blocker>,
    /// API group/versions whose discovery fails (they block every namespace deletion).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failing_group_versions: Vec<String>,
    /// APIServices reporting `Available=False`, named as `name: reason`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unavailable_api_services: Vec<String>,
    /// Resources in the namespace that could not be listed, or had an object that could not be
    /// read: the content picture is partial.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unlisted_resources: Vec<String>,
}

/// An object anywhere deleted longer than the threshold ago that still carries finalizers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StuckObject {
    pub object: RemainingObject,
    pub deleted_seconds: f64,
}

/// A problem that kept a scan from seeing everything (it does not fail the scan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanIssue {
    pub scanner: String,
    pub message: String,
}

/// What one scanner found in one scan.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScannerFindings {
    pub owner_reference_problems: Vec<OwnerReferenceProblem>,
    pub unresolved_references: Vec<UnresolvedReference>,
    pub terminating_namespaces: Vec<TerminatingNamespace>,
    pub stuck_objects: Vec<StuckObject>,
    /// Partial-data notes: resources that could not be listed, malformed objects, …
    pub issues: Vec<String>,
    /// `resource.group` names whose objects could not be listed in this scan: findings about
    /// them are carried over from the previous scan (and marked stale) instead of disappearing.
    pub failed_resources: Vec<String>,
    /// Objects listed but unreadable in this scan (malformed items): findings about them are
    /// carried over from the previous scan (and marked stale) instead of disappearing.
    #[serde(skip)]
    pub unreadable_objects: Vec<UnreadableObject>,
}

/// An object whose list item could not be read, as far as it identifies itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnreadableObject {
    /// `resource.group`.
    pub resource: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

impl ScannerFindings {
    /// Records a list's unreadable items of `resource` (`resource.group`): each is a scan issue,
    /// and each that names itself is remembered so its earlier findings are carried over.
    pub fn note_malformed(&mut self, resource: &str, malformed: &[crate::listed::MalformedItem]) {
        for item in malformed {
            self.issues.push(item.message.clone());
            if let Some((namespace, name)) = &item.key {
                self.unreadable_objects.push(UnreadableObject {
                    resource: resource.to_string(),
                    namespace: namespace.clone(),
                    name: name.clone(),
                });
            }
        }
    }
}

/// Why a scan failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorKind {
    /// The configuration names something the cluster does not have (e.g. an unknown `--owner-resources` entry).
    Config,
    /// The API server refused our credentials (401) or permissions (403).
    Auth,
    /// The cluster could not be read (connection, timeouts, server errors, implausible discovery).
    Cluster,
}

/// The state of one scanner as published.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScannerStatus {
    pub name: String,
    /// RFC 3339 time of the last successful scan.
    pub last_success: Option<String>,
    /// True when the latest scan failed and the findings are from an earlier one.
    pub stale: bool,
    /// True when the last successful scan saw only part of the cluster.
    pub incomplete: bool,
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_kind: Option<ErrorKind>,
}

/// The whole published report: the `/findings` and `scan -o json` document.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub generated_at: String,
    /// True when every enabled scanner succeeded on complete data.
    pub complete: bool,
    pub scanners: Vec<ScannerStatus>,
    pub discovery_failures: Vec<DiscoveryFailure>,
    pub owner_reference_problems: Vec<OwnerReferenceProblem>,
    pub unresolved_references: Vec<UnresolvedReference>,
    /// Namespaces Terminating longer than the threshold.
    pub stuck_namespaces: Vec<TerminatingNamespace>,
    /// Namespaces Terminating for less than the threshold (not yet a problem).
    pub terminating_namespaces: Vec<TerminatingNamespace>,
    pub stuck_objects: Vec<StuckObject>,
    pub scan_issues: Vec<ScanIssue>,
}

impl OwnerReferenceProblem {
    /// Stable identity across scans: the object (by uid) and the reference's position in it. The
    /// reason, message or suggested fix may change while it stays the same finding.
    pub fn key(&self) -> String {
        format!(
            "reference {}/{:?}/{}",
            self.dependent.uid, self.reference.field, self.reference.index
        )
    }
}

impl TerminatingNamespace {
    /// Stable identity across scans: the namespace's uid (its blockers and reason may change).
    pub fn key(&self) -> String {
        format!("namespace {}", self.uid)
    }
}

impl StuckObject {
    /// Stable identity across scans: the object's uid.
    pub fn key(&self) -> String {
        format!("object {}", self.object.object.uid)
    }
}

impl Report {
    /// The report as the `/findings` and `scan -o json` document: each finding also carries its
    /// stable `id` (the same key the logs use for found/changed/resolved), which stays the same
    /// while a namespace's blockers or a reference's reason change wording.
    pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        let mut doc = serde_json::to_value(self)?;
        let mut add = |field: &str, ids: Vec<String>| {
            if let Some(items) = doc.get_mut(field).and_then(|v| v.as_array_mut()) {
                for (item, id) in items.iter_mut().zip(ids) {
                    if let Some(map) = item.as_object_mut() {
                        map.insert("id".into(), serde_json::Value::String(id));
                    }
                }
            }
        };
        add(
            "ownerReferenceProblems",
            self.owner_reference_problems.iter().map(|p| p.key()).collect(),
        );
        add(
            "stuckNamespaces",
            self.stuck_namespaces.iter().map(|n| n.key()).collect(),
        );
        add(
            "terminatingNamespaces",
            self.terminating_namespaces.iter().map(|n| n.key()).collect(),
        );
        add("stuckObjects", self.stuck_objects.iter().map(|o| o.key()).collect());
        Ok(doc)
    }

    /// Every finding's suggested action, in report order: the finalizer removals of the objects
    /// that hold stuck namespaces and of stuck objects, then the owner-reference fixes. An action
    /// can appear twice (an orphan with two faulty references); its `key()` tells.
    pub fn suggested_actions(&self) -> impl Iterator<Item = &crate::remediation::action::SuggestedAction> {
        let held = self
            .stuck_namespaces
            .iter()
            .flat_map(|ns| ns.blockers.iter().flat_map(|b| b.objects.iter()))
            .chain(self.stuck_objects.iter().map(|o| &o.object))
            .flat_map(|o| o.suggested_actions.iter());
        held.chain(
            self.owner_reference_problems
                .iter()
                .filter_map(|p| p.suggested_action.as_ref()),
        )
    }

    /// True when the report shows anything an operator should act on.
    pub fn has_findings(&self) -> bool {
        !self.owner_reference_problems.is_empty() || !self.stuck_namespaces.is_empty() || !self.stuck_objects.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// An HPA whose ownerReference names kind `PodAutoScaler`.
    pub fn hpa_problem(name: &str, reason: OwnerProblemReason, blocked: bool, orphan: bool) -> OwnerReferenceProblem {
        OwnerReferenceProblem {
            dependent: ObjectId {
                group: "autoscaling".into(),
                version: "v2".into(),
                resource: "horizontalpodautoscalers".into(),
                kind: "HorizontalPodAutoscaler".into(),
                namespace: "llm".into(),
                name: name.into(),
                uid: format!("uid-{name}"),
                resource_version: "1".into(),
                creation_timestamp: Some("2026-01-01T00:00:00Z".into()),
            },
            reference: ReferenceAsWritten {
                field: ReferenceField::OwnerReference,
                index: 0,
                api_version: "autoscaling.aibrix.ai/v1alpha1".into(),
                kind: "PodAutoScaler".into(),
                name: name.into(),
                uid: "x".into(),
                controller: true,
            },
            reason,
            message: String::new(),
            suggested_kind: Some("PodAutoscaler".into()),
            suggested_api_version: None,
            served_versions: vec![],
            owner_exists: Some(!orphan),
            gc_blocked: blocked,
            orphan,
            fix: String::new(),
            suggested_action: None,
        }
    }
}
