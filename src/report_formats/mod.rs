//! Machine-readable reports for CI systems: `scan -o sarif` and `scan -o junit`.
//!
//! Both are built from one flat view of a report: the catalogue of [`Check`]s the auditor performs
//! (one per reason a finding can have) and the list of [`Finding`]s, each naming its check and the
//! Kubernetes object it is about. Pure: no I/O.

pub mod junit;
pub mod sarif;

use serde_json::Value;

use crate::findings::{ObjectId, OwnerProblemReason, Report, StuckReason};
use crate::render;
use crate::scanners::{namespaces, owner_references};

/// Where the runbooks live (the alerts' `runbook_url` base).
/// The runbooks of this release (the tag `v<version>`), so a finding links to the runbook that
/// matches the binary that reported it.
pub const RUNBOOK_BASE: &str = concat!(
    "https://github.com/kube-garbage-audit/kube-garbage-audit/blob/v",
    env!("CARGO_PKG_VERSION"),
    "/docs/runbooks/"
);

/// The check id of `--stuck-objects` findings (objects deleted long ago still held by finalizers).
pub const STUCK_OBJECT: &str = "StuckObject";

/// How serious a finding is, in SARIF's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Kubernetes will not clean this up by itself.
    Error,
    /// Worth a look; Kubernetes may still resolve it.
    Warning,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

/// One thing the auditor checks for: a finding's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// The reason's wire name (`KindCaseMismatch`, `FinalizersRemaining`, `StuckObject`).
    pub id: &'static str,
    /// The scanner that performs it (`owner_references`, `namespaces`).
    pub scanner: &'static str,
    /// What a finding of this check means, in one sentence.
    pub description: &'static str,
    /// The runbook page (an alert name) that explains what to do.
    pub runbook: &'static str,
    pub level: Level,
}

impl Check {
    pub fn help_uri(&self) -> String {
        format!("{RUNBOOK_BASE}{}.md", self.runbook)
    }
}

const OWNER_RUNBOOK: &str = "KubeOwnerReferenceUnresolvable";
const NAMESPACE_RUNBOOK: &str = "KubeNamespaceStuckTerminating";

fn owner_check(reason: OwnerProblemReason) -> Check {
    use OwnerProblemReason as R;
    let (description, level) = match reason {
        R::InvalidApiVersion => ("An ownerReference's apiVersion does not parse: the garbage collector can never resolve it.", Level::Error),
        R::GroupNotServed => ("An ownerReference names an API group the cluster does not serve: the garbage collector cannot map it.", Level::Error),
        R::VersionNotServed => ("An ownerReference names a version its API group does not serve: the garbage collector cannot map it.", Level::Error),
        R::KindCaseMismatch => ("An ownerReference's kind differs from the served kind in case only: kinds are case-sensitive, so the garbage collector cannot map it.", Level::Error),
        R::KindNotFound => ("An ownerReference names a kind its group/version does not serve: the garbage collector cannot map it.", Level::Error),
        R::OwnerNotFound => ("An ownerReference's owner does not exist.", Level::Warning),
        R::OwnerUidMismatch => ("An ownerReference's owner was deleted and re-created with another uid: the object is no longer owned by it.", Level::Warning),
        R::NamespacedOwnerOfClusterScoped => ("A cluster-scoped object names a namespaced owner: the garbage collector never collects it.", Level::Error),
        R::OwnerInOtherNamespace => ("An ownerReference's uid belongs to an object in another namespace: the garbage collector treats the owner as absent.", Level::Warning),
        R::ScaleTargetNotFound => ("A HorizontalPodAutoscaler's scaleTargetRef names an object that does not exist.", Level::Warning),
        R::ScaleTargetUnresolvable => ("A HorizontalPodAutoscaler's scaleTargetRef cannot be mapped to a served resource: it scales nothing.", Level::Warning),
    };
    Check {
        id: reason.as_str(),
        scanner: owner_references::NAME,
        description,
        runbook: OWNER_RUNBOOK,
        level,
    }
}

fn namespace_check(reason: StuckReason) -> Check {
    use StuckReason as R;
    let description = match reason {
        R::DiscoveryFailure => {
            "A namespace is stuck in Terminating because API discovery fails for some group/version."
        }
        R::GroupVersionParsingFailure => {
            "A namespace is stuck in Terminating because the namespace controller cannot parse an API group/version."
        }
        R::ContentDeletionFailure => "A namespace is stuck in Terminating because deleting its content fails.",
        R::PodsRemaining => "A namespace is stuck in Terminating because pods in it do not go away.",
        R::FinalizersRemaining => {
            "A namespace is stuck in Terminating because objects in it keep finalizers nothing removes."
        }
        R::ContentRemaining => "A namespace is stuck in Terminating because objects in it are not deleted.",
        R::NamespaceFinalizerOnly => "A namespace is stuck in Terminating held only by its own finalizers.",
        R::Unknown => "A namespace is stuck in Terminating for a reason the auditor cannot tell.",
    };
    Check {
        id: reason.as_str(),
        scanner: namespaces::NAME,
        description,
        runbook: NAMESPACE_RUNBOOK,
        level: Level::Error,
    }
}

const OWNER_REASONS: [OwnerProblemReason; 11] = [
    OwnerProblemReason::InvalidApiVersion,
    OwnerProblemReason::GroupNotServed,
    OwnerProblemReason::VersionNotServed,
    OwnerProblemReason::KindCaseMismatch,
    OwnerProblemReason::KindNotFound,
    OwnerProblemReason::OwnerNotFound,
    OwnerProblemReason::OwnerUidMismatch,
    OwnerProblemReason::NamespacedOwnerOfClusterScoped,
    OwnerProblemReason::OwnerInOtherNamespace,
    OwnerProblemReason::ScaleTargetNotFound,
    OwnerProblemReason::ScaleTargetUnresolvable,
];

const STUCK_REASONS: [StuckReason; 8] = [
    StuckReason::DiscoveryFailure,
    StuckReason::GroupVersionParsingFailure,
    StuckReason::ContentDeletionFailure,
    StuckReason::PodsRemaining,
    StuckReason::FinalizersRemaining,
    StuckReason::ContentRemaining,
    StuckReason::NamespaceFinalizerOnly,
    StuckReason::Unknown,
];

/// Every check, in a fixed order: owner-reference reasons, namespace reasons, stuck objects.
pub fn checks() -> Vec<Check> {
    OWNER_REASONS
        .into_iter()
        .map(owner_check)
        .chain(STUCK_REASONS.into_iter().map(namespace_check))
        .chain(std::iter::once(Check {
            id: STUCK_OBJECT,
            scanner: namespaces::NAME,
            description:
                "An object was deleted longer than --stuck-after ago and still carries finalizers nothing removes.",
            runbook: NAMESPACE_RUNBOOK,
            level: Level::Warning,
        }))
        .collect()
}

/// A Kubernetes object as a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectLocation {
    /// The object's path on the API server, without the leading slash
    /// (`apis/autoscaling/v2/namespaces/llm/horizontalpodautoscalers/x`): `kubectl get --raw /<uri>`.
    pub uri: String,
    /// `namespace/resource.group/name` (`resource.group/name` when cluster-scoped).
    pub display: String,
    pub uid: String,
}

impl ObjectLocation {
    pub fn of(id: &ObjectId) -> Self {
        let root = if id.group.is_empty() {
            format!("api/{}", id.version)
        } else {
            format!("apis/{}/{}", id.group, id.version)
        };
        let scope = if id.namespace.is_empty() {
            String::new()
        } else {
            format!("namespaces/{}/", uri_segment(&id.namespace))
        };
        let uri = format!("{root}/{scope}{}/{}", id.resource, uri_segment(&id.name));
        let display = if id.namespace.is_empty() {
            format!("{}/{}", id.qualified_resource(), id.name)
        } else {
            format!("{}/{}/{}", id.namespace, id.qualified_resource(), id.name)
        };
        Self {
            uri,
            display,
            uid: id.uid.clone(),
        }
    }

    /// A namespace, which findings identify by name and uid only.
    pub fn namespace(name: &str, uid: &str) -> Self {
        Self {
            uri: format!("api/v1/namespaces/{}", uri_segment(name)),
            display: format!("namespaces/{name}"),
            uid: uid.to_string(),
        }
    }
}

/// Percent-encodes everything but RFC 3986 `pchar`s except `:` (Kubernetes names are mostly
/// DNS names; RBAC names may hold `:`, which a relative reference's first segment must not).
fn uri_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One finding, flattened for CI formats.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub check: Check,
    pub level: Level,
    pub location: ObjectLocation,
    /// Objects that hold it (a stuck namespace's blockers).
    pub related: Vec<(ObjectLocation, String)>,
    /// What is wrong and what to do, in words.
    pub message: String,
    /// Stable across scans while the finding stays the same (object uid + the reference at fault).
    pub fingerprint: String,
    /// The finding as `/findings` shows it.
    pub details: Value,
}

fn check_for(id: &str) -> Check {
    checks()
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| unreachable!("check {id} missing from the catalogue"))
}

/// Every finding of `report`, in report order.
pub fn findings(report: &Report) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in &report.owner_reference_problems {
        let check = check_for(p.reason.as_str());
        let location = ObjectLocation::of(&p.dependent);
        let reference = render::reference_summary(p);
        let mut message = format!("{} {}: {}.", location.display, reference, p.message);
        if !p.fix.is_empty() {
            message = format!("{message} {}", p.fix);
        }
        out.push(Finding {
            check,
            level: if p.gc_blocked { Level::Error } else { check.level },
            fingerprint: format!("{}:{reference}", p.dependent.uid),
            location,
            related: Vec::new(),
            message,
            details: serde_json::to_value(p).unwrap_or(Value::Null),
        });
    }
    for ns in &report.stuck_namespaces {
        let check = check_for(ns.reason.unwrap_or(StuckReason::Unknown).as_str());
        let related = ns
            .blockers
            .iter()
            .flat_map(|b| {
                b.objects.iter().map(move |o| {
                    let why = if b.finalizer.is_empty() {
                        "not yet deleted".to_string()
                    } else {
                        format!("waiting on finalizer {}", b.finalizer)
                    };
                    (ObjectLocation::of(&o.object), why)
                })
            })
            .collect();
        out.push(Finding {
            check,
            level: check.level,
            location: ObjectLocation::namespace(&ns.namespace, &ns.uid),
            related,
            message: format!(
                "Namespace {} has been Terminating for {} ({}): {}.",
                ns.namespace,
                render::age(ns.terminating_seconds),
                check.id,
                render::namespace_summary(ns)
            ),
            fingerprint: ns.uid.clone(),
            details: serde_json::to_value(ns).unwrap_or(Value::Null),
        });
    }
    for o in &report.stuck_objects {
        let check = check_for(STUCK_OBJECT);
        let location = ObjectLocation::of(&o.object.object);
        out.push(Finding {
            check,
            level: check.level,
            message: format!(
                "{} was deleted {} ago and still waits on finalizers {}.",
                location.display,
                render::age(o.deleted_seconds),
                o.object.finalizers.join(", ")
            ),
            fingerprint: o.object.object.uid.clone(),
            location,
            related: Vec::new(),
            details: serde_json::to_value(o).unwrap_or(Value::Null),
        });
    }
    out
}

/// Why the picture may be partial, in words: discovery failures, references that could not be
/// judged, scan issues. CI formats show these next to the findings.
pub fn partial_data_notes(report: &Report) -> Vec<(Option<&str>, String)> {
    let mut notes: Vec<(Option<&str>, String)> = report
        .discovery_failures
        .iter()
        .map(|f| {
            let gv = if f.group_version.is_empty() {
                "the API group list"
            } else {
                &f.group_version
            };
            (None, format!("API discovery failed for {gv}: {}", f.error))
        })
        .collect();
    if !report.unresolved_references.is_empty() {
        notes.push((
            Some(owner_references::NAME),
            format!(
                "{} reference(s) could not be judged: their API group could not be discovered or listed",
                report.unresolved_references.len()
            ),
        ));
    }
    notes.extend(
        report
            .scan_issues
            .iter()
            .map(|i| (Some(i.scanner.as_str()), i.message.clone())),
    );
    notes
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::findings::fixtures::hpa_problem;
    use crate::findings::{Blocker, RemainingObject, ScannerStatus, TerminatingNamespace};

    pub fn status(name: &str, error: Option<&str>) -> ScannerStatus {
        ScannerStatus {
            name: name.into(),
            last_success: error.is_none().then(|| "2026-11-21T10:00:00Z".into()),
            stale: false,
            incomplete: false,
            last_error: error.map(str::to_string),
            last_error_kind: None,
        }
    }

    pub fn stuck_namespace() -> TerminatingNamespace {
        TerminatingNamespace {
            namespace: "aibrix-system".into(),
            uid: "ns-uid".into(),
            resource_version: "7".into(),
            deletion_timestamp: "2026-11-21T07:00:00Z".into(),
            terminating_seconds: 10_800.0,
            stuck: true,
            reason: Some(StuckReason::FinalizersRemaining),
            reasons: vec![StuckReason::FinalizersRemaining],
            spec_finalizers: vec!["kubernetes".into()],
            metadata_finalizers: vec![],
            conditions: vec![],
            blockers: vec![Blocker {
                group: "model.aibrix.ai".into(),
                resource: "modeladapters".into(),
                finalizer: "adapter.model.aibrix.ai/finalizer".into(),
                count: 1,
                objects: vec![RemainingObject {
                    object: ObjectId {
                        group: "model.aibrix.ai".into(),
                        version: "v1alpha1".into(),
                        resource: "modeladapters".into(),
                        kind: "ModelAdapter".into(),
                        namespace: "aibrix-system".into(),
                        name: "qwen-code-lora".into(),
                        uid: "ma-uid".into(),
                        resource_version: "5".into(),
                        creation_timestamp: None,
                    },
                    finalizers: vec!["adapter.model.aibrix.ai/finalizer".into()],
                    deletion_timestamp: Some("2026-11-21T07:00:00Z".into()),
                    suggested_actions: Vec::new(),
                }],
            }],
            failing_group_versions: vec![],
            unavailable_api_services: vec![],
            unlisted_resources: vec![],
        }
    }

    /// Two owner-reference problems (one the garbage collector is blocked on) and a stuck namespace.
    pub fn report() -> Report {
        Report {
            generated_at: "2026-11-21T10:00:00Z".into(),
            complete: true,
            scanners: vec![status("owner_references", None), status("namespaces", None)],
            discovery_failures: vec![],
            owner_reference_problems: vec![
                hpa_problem("mistral-7b-hpa", OwnerProblemReason::KindCaseMismatch, true, true),
                hpa_problem("old-hpa", OwnerProblemReason::OwnerUidMismatch, false, true),
            ],
            unresolved_references: vec![],
            stuck_namespaces: vec![stuck_namespace()],
            terminating_namespaces: vec![],
            stuck_objects: vec![],
            scan_issues: vec![],
        }
    }

    #[test]
    fn every_reason_is_a_check_once() {
        let ids: Vec<&str> = checks().iter().map(|c| c.id).collect();
        let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(ids.len(), unique.len(), "{ids:?}");
        assert_eq!(ids.len(), 11 + 8 + 1);
        assert!(checks().iter().all(|c| c.help_uri().ends_with(".md")));
    }

    #[test]
    fn objects_are_located_by_their_api_path() {
        let p = hpa_problem("mistral-7b-hpa", OwnerProblemReason::KindCaseMismatch, true, true);
        let loc = ObjectLocation::of(&p.dependent);
        assert_eq!(
            loc.uri,
            "apis/autoscaling/v2/namespaces/llm/horizontalpodautoscalers/mistral-7b-hpa"
        );
        assert_eq!(loc.display, "llm/horizontalpodautoscalers.autoscaling/mistral-7b-hpa");
        let role = ObjectId {
            group: String::new(),
            version: "v1".into(),
            resource: "nodes".into(),
            kind: "Node".into(),
            namespace: String::new(),
            name: "system:node/a b".into(),
            uid: "u".into(),
            resource_version: "1".into(),
            creation_timestamp: None,
        };
        assert_eq!(ObjectLocation::of(&role).uri, "api/v1/nodes/system%3Anode%2Fa%20b");
        assert_eq!(ObjectLocation::namespace("ns", "u").uri, "api/v1/namespaces/ns");
    }

    #[test]
    fn findings_carry_check_level_and_blockers() {
        let f = findings(&report());
        let ids: Vec<(&str, Level)> = f.iter().map(|f| (f.check.id, f.level)).collect();
        assert_eq!(
            ids,
            [
                ("KindCaseMismatch", Level::Error),
                ("OwnerUidMismatch", Level::Warning),
                ("FinalizersRemaining", Level::Error)
            ]
        );
        assert_eq!(f[2].related.len(), 1);
        assert_eq!(
            f[2].related[0].1,
            "waiting on finalizer adapter.model.aibrix.ai/finalizer"
        );
        assert!(f[2].message.contains("Terminating for 3h0m"), "{}", f[2].message);
        assert_ne!(f[0].fingerprint, f[1].fingerprint);
    }
}
