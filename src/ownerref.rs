//! Classification of owner references and HPA scale targets: pure functions over a discovery
//! snapshot and an index of the objects that could be owners. No I/O.
//!
//! The rules mirror kube-controller-manager's garbage collector: a reference is resolved through
//! the REST mapper (exact or all-lowercase kind), then the owner is looked up by uid in the
//! dependent's namespace (or cluster-wide for cluster-scoped owners).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::discovery::{DiscoverySnapshot, Mapping, ResourceType, Unmappable};
use crate::findings::{
    ObjectId, OwnerProblemReason, OwnerReferenceProblem, ReferenceAsWritten, ReferenceField, UnresolvedReference,
};
use crate::listed::{Body, ListResult, ListedObject, Namespaces, SlimMeta, Uid};

/// The objects of one resource type, indexed for owner lookups: positions into the round's list
/// (the objects are not copied), ordered by name and by uid. Live reads ([`OwnerIndex::confirm`])
/// replace what the list said about a name.
#[derive(Debug, Clone, Default)]
pub struct ObjectIndex {
    list: Arc<ListResult>,
    by_name: Vec<u32>,
    by_uid: Vec<u32>,
    /// What live reads found, by (namespace, name): the uid, or `None` when the object is gone.
    confirmed: HashMap<(String, String), Option<Uid>>,
}

impl ObjectIndex {
    pub fn new(list: Arc<ListResult>) -> Self {
        let objects = &list.objects;
        let positions = || (0..objects.len()).map(|i| i as u32).collect::<Vec<u32>>();
        let mut by_name = positions();
        by_name.sort_unstable_by(|&a, &b| {
            let (a, b) = (&objects[a as usize], &objects[b as usize]);
            (&*a.namespace, a.name.as_str()).cmp(&(&*b.namespace, b.name.as_str()))
        });
        let mut by_uid = positions();
        by_uid.sort_unstable_by(|&a, &b| objects[a as usize].uid.cmp(&objects[b as usize].uid));
        ObjectIndex {
            by_name,
            by_uid,
            list,
            confirmed: HashMap::new(),
        }
    }

    /// An index of `(namespace, name, uid)` entries (for tests and callers without a list).
    pub fn from_entries(entries: &[(&str, &str, &str)]) -> Self {
        let namespaces = Namespaces::default();
        let objects = entries
            .iter()
            .map(|(namespace, name, uid)| {
                let meta = SlimMeta {
                    name: Some(name.to_string()),
                    namespace: Some(namespace.to_string()),
                    uid: Some(uid.to_string()),
                    ..SlimMeta::default()
                };
                ListedObject::new(meta, Body::None, &namespaces).expect("entries have names")
            })
            .collect();
        ObjectIndex::new(Arc::new(ListResult {
            objects,
            ..ListResult::default()
        }))
    }

    fn object(&self, position: u32) -> &ListedObject {
        &self.list.objects[position as usize]
    }

    fn confirmed(&self, namespace: &str, name: &str) -> Option<&Option<Uid>> {
        if self.confirmed.is_empty() {
            return None;
        }
        self.confirmed.get(&(namespace.to_string(), name.to_string()))
    }

    fn uid_of(&self, namespace: &str, name: &str) -> Option<&Uid> {
        if let Some(confirmed) = self.confirmed(namespace, name) {
            return confirmed.as_ref();
        }
        let at = self
            .by_name
            .binary_search_by(|&p| {
                let o = self.object(p);
                (&*o.namespace, o.name.as_str()).cmp(&(namespace, name))
            })
            .ok()?;
        Some(&self.object(self.by_name[at]).uid)
    }

    /// Where the object with this uid is, as `(namespace, name)`.
    fn location_of(&self, uid: &str) -> Option<(&str, &str)> {
        let uid = Uid::parse(uid);
        if let Some(((namespace, name), _)) = self.confirmed.iter().find(|(_, u)| u.as_ref() == Some(&uid)) {
            return Some((namespace, name));
        }
        let at = self.by_uid.binary_search_by(|&p| self.object(p).uid.cmp(&uid)).ok()?;
        let o = self.object(self.by_uid[at]);
        // A live read of that name replaced what the list said.
        if self.confirmed(&o.namespace, &o.name).is_some() {
            return None;
        }
        Some((&o.namespace, &o.name))
    }
}

/// Indexes of every resource type the classifier may need, keyed by `resource.group`.
/// A missing entry means that resource could not be listed: lookups into it are unknown.
#[derive(Debug, Clone, Default)]
pub struct OwnerIndex {
    resources: HashMap<String, ObjectIndex>,
}

impl OwnerIndex {
    pub fn insert(&mut self, qualified_resource: &str, index: ObjectIndex) {
        self.resources.insert(qualified_resource.to_string(), index);
    }

    fn get(&self, resource: &ResourceType) -> Option<&ObjectIndex> {
        self.resources.get(&resource.qualified_name())
    }
}

/// An HPA's `spec.scaleTargetRef`, as listed.
pub use crate::listed::ScaleTargetRef as ScaleTarget;

/// An object to audit, with what it refers to.
#[derive(Debug, Clone)]
pub struct Dependent {
    pub id: ObjectId,
    pub owner_references: Vec<OwnerReference>,
    pub scale_target: Option<ScaleTarget>,
}

/// What the audit found on one object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    pub problems: Vec<OwnerReferenceProblem>,
    pub unresolved: Vec<UnresolvedReference>,
}

/// The resource types whose objects must be indexed to judge these dependents: every resource a
/// reference resolves to (directly or after the suggested correction).
pub fn resources_to_index(dependents: &[Dependent], discovery: &DiscoverySnapshot) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for dep in dependents {
        let refs = dep
            .owner_references
            .iter()
            .map(|r| (r.api_version.as_str(), r.kind.as_str()));
        let target = dep
            .scale_target
            .iter()
            .map(|t| (t.api_version.as_str(), t.kind.as_str()));
        for (api_version, kind) in refs.chain(target) {
            if let Some(r) = target_resource(&discovery.resolve(api_version, kind)) {
                out.insert(r.qualified_name());
            }
        }
    }
    out
}

/// Owners the index says are missing (or carry another uid) where the garbage collector would look:
/// `(resource, namespace, name)`. Lists are not a consistent snapshot, so before calling an owner
/// absent the scanner confirms each with a live read, as the garbage collector does.
pub fn owners_to_confirm(
    dep: &Dependent,
    discovery: &DiscoverySnapshot,
    owners: &OwnerIndex,
) -> Vec<(ResourceType, String, String)> {
    let mut out = Vec::new();
    for r in &dep.owner_references {
        let Some(owner) = target_resource(&discovery.resolve(&r.api_version, &r.kind)) else {
            continue;
        };
        if dep.id.namespace.is_empty() && owner.namespaced {
            continue;
        }
        let Some(index) = owners.get(owner) else { continue };
        let namespace = owner_namespace(dep, owner);
        if index.uid_of(namespace, &r.name).is_none_or(|u| *u != *r.uid) {
            out.push((owner.clone(), namespace.to_string(), r.name.clone()));
        }
    }
    out
}

impl OwnerIndex {
    /// Records what a live read found (replacing what the list said about that name).
    pub fn confirm(&mut self, resource: &ResourceType, namespace: &str, name: &str, uid: Option<&str>) {
        let index = self.resources.entry(resource.qualified_name()).or_default();
        index
            .confirmed
            .insert((namespace.to_string(), name.to_string()), uid.map(Uid::parse));
    }
}

/// The resource a mapping points at, after correction where a correction is known.
fn target_resource<'a>(mapping: &Mapping<'a>) -> Option<&'a ResourceType> {
    match mapping {
        Mapping::Resolved(r) => Some(r),
        Mapping::Unmappable(u) => u.suggestion(),
        Mapping::Unknown { .. } | Mapping::ListKind(_) => None,
    }
}

/// Whether the garbage collector can ever delete `dep` on its own.
fn gc_blocks(dep: &Dependent, discovery: &DiscoverySnapshot) -> bool {
    dep.owner_references
        .iter()
        .any(|r| match discovery.resolve(&r.api_version, &r.kind) {
            Mapping::Unmappable(_) => true,
            Mapping::Resolved(owner) => dep.id.namespace.is_empty() && owner.namespaced,
            Mapping::Unknown { .. } | Mapping::ListKind(_) => false,
        })
}

/// Audits one object's owner references and scale target.
pub fn classify(dep: &Dependent, discovery: &DiscoverySnapshot, owners: &OwnerIndex) -> Verdict {
    let gc_blocked = gc_blocks(dep, discovery);
    let mut verdict = Verdict::default();
    // Some(true) while every owner seen so far is known to be gone.
    let mut all_owners_gone = (!dep.owner_references.is_empty()).then_some(true);
    for (index, reference) in dep.owner_references.iter().enumerate() {
        let written = ReferenceAsWritten {
            field: ReferenceField::OwnerReference,
            index,
            api_version: reference.api_version.clone(),
            kind: reference.kind.clone(),
            name: reference.name.clone(),
            uid: reference.uid.clone(),
            controller: reference.controller.unwrap_or(false),
        };
        match classify_owner_reference(dep, reference, discovery, owners) {
            RefOutcome::Fine => all_owners_gone = Some(false),
            RefOutcome::Unknown(group_version) => {
                all_owners_gone = None;
                verdict.unresolved.push(UnresolvedReference {
                    dependent: dep.id.clone(),
                    reference: written,
                    group_version,
                })
            }
            RefOutcome::Problem(p) => {
                if p.owner_exists != Some(false) {
                    all_owners_gone = all_owners_gone.and(p.owner_exists.map(|_| false));
                }
                verdict.problems.push(p.into_problem(dep, written, gc_blocked))
            }
        }
    }
    if let Some(target) = &dep.scale_target {
        let written = ReferenceAsWritten {
            field: ReferenceField::ScaleTargetRef,
            index: 0,
            api_version: target.api_version.to_string(),
            kind: target.kind.to_string(),
            name: target.name.to_string(),
            uid: String::new(),
            controller: false,
        };
        match classify_scale_target(dep, target, discovery, owners) {
            RefOutcome::Fine => {}
            RefOutcome::Unknown(group_version) => verdict.unresolved.push(UnresolvedReference {
                dependent: dep.id.clone(),
                reference: written,
                group_version,
            }),
            RefOutcome::Problem(p) => verdict.problems.push(p.into_problem(dep, written, gc_blocked)),
        }
    }
    let orphan = all_owners_gone == Some(true);
    for p in &mut verdict.problems {
        p.orphan = orphan;
        p.suggested_action = crate::remediation::action::for_owner_problem(p);
    }
    verdict
}

enum RefOutcome {
    Fine,
    Unknown(String),
    Problem(Judgement),
}

/// A problem before it is dressed as a finding.
struct Judgement {
    reason: OwnerProblemReason,
    message: String,
    suggested_kind: Option<String>,
    suggested_api_version: Option<String>,
    served_versions: Vec<String>,
    owner_exists: Option<bool>,
    fix: String,
}

impl Judgement {
    fn new(reason: OwnerProblemReason, message: String, fix: String) -> Self {
        Self {
            reason,
            message,
            suggested_kind: None,
            suggested_api_version: None,
            served_versions: Vec::new(),
            owner_exists: None,
            fix,
        }
    }

    fn into_problem(self, dep: &Dependent, reference: ReferenceAsWritten, gc_blocked: bool) -> OwnerReferenceProblem {
        OwnerReferenceProblem {
            dependent: dep.id.clone(),
            reference,
            reason: self.reason,
            message: self.message,
            suggested_kind: self.suggested_kind,
            suggested_api_version: self.suggested_api_version,
            served_versions: self.served_versions,
            owner_exists: self.owner_exists,
            gc_blocked,
            orphan: false,
            fix: self.fix,
            suggested_action: None,
        }
    }
}

/// Where the garbage collector looks for an owner of this type.
fn owner_namespace<'a>(dep: &'a Dependent, owner: &ResourceType) -> &'a str {
    if owner.namespaced {
        &dep.id.namespace
    } else {
        ""
    }
}

/// Does an object with this uid exist where the GC looks? `None` when the type was not listed.
fn owner_exists_by_uid(dep: &Dependent, owner: &ResourceType, uid: &str, owners: &OwnerIndex) -> Option<bool> {
    let index = owners.get(owner)?;
    Some(
        index
            .location_of(uid)
            .is_some_and(|(ns, _)| ns == owner_namespace(dep, owner)),
    )
}

fn classify_owner_reference(
    dep: &Dependent,
    reference: &OwnerReference,
    discovery: &DiscoverySnapshot,
    owners: &OwnerIndex,
) -> RefOutcome {
    let written = format!("{}/{}", reference.api_version, reference.kind);
    match discovery.resolve(&reference.api_version, &reference.kind) {
        Mapping::Unknown { group_version } => RefOutcome::Unknown(group_version),
        Mapping::Unmappable(unmappable) => RefOutcome::Problem(judge_unmappable(
            dep,
            discovery,
            reference,
            &written,
            &unmappable,
            owners,
        )),
        Mapping::Resolved(owner) => judge_resolved_owner(dep, reference, owner, owners),
        Mapping::ListKind(item) => {
            let mut j = Judgement::new(
                OwnerProblemReason::OwnerNotFound,
                format!("{} is a list kind: no object of that kind can exist, so the garbage collector treats this owner as absent", reference.kind),
                format!("The reference can never resolve to an owner; it probably meant kind {}. The garbage collector will delete this object once its other owners are gone.", item.kind),
            );
            j.owner_exists = Some(false);
            j.suggested_kind = Some(item.kind.clone());
            RefOutcome::Problem(j)
        }
    }
}

fn judge_unmappable(
    dep: &Dependent,
    discovery: &DiscoverySnapshot,
    reference: &OwnerReference,
    written: &str,
    unmappable: &Unmappable<'_>,
    owners: &OwnerIndex,
) -> Judgement {
    let mapping_error = format!("unable to get REST mapping for {written}");
    let suggestion = unmappable.suggestion();
    let owner_exists = match suggestion {
        Some(owner) => owner_exists_by_uid(dep, owner, &reference.uid, owners),
        // No served version of the group has such a kind (e.g. its CRD was deleted): the owner cannot exist.
        None => crate::discovery::parse_api_version(&reference.api_version)
            .ok()
            .filter(|(group, _)| discovery.kind_absent_everywhere(group, &reference.kind))
            .map(|_| false),
    };
    let mut j = match unmappable {
        Unmappable::InvalidApiVersion { error } => Judgement::new(
            OwnerProblemReason::InvalidApiVersion,
            format!("apiVersion {:?} does not parse ({error}); the garbage collector can never resolve this reference", reference.api_version),
            "Correct the apiVersion of this ownerReference, or remove the reference. While it stays, the garbage collector will never delete this object.".to_string(),
        ),
        Unmappable::GroupNotServed { group, .. } => Judgement::new(
            OwnerProblemReason::GroupNotServed,
            format!("{mapping_error}: API group {group:?} is not served (its CRD or APIService may have been deleted)"),
            match suggestion {
                Some(s) => format!("Change the reference's apiVersion to {} (the group that serves kind {} now).", s.api_version(), s.kind),
                None => format!("Restore the API group {group:?} if its owner should live on; otherwise the owner is gone and this object is garbage the collector cannot delete: delete it."),
            },
        ),
        Unmappable::VersionNotServed { served_versions, .. } => {
            let mut j = Judgement::new(
                OwnerProblemReason::VersionNotServed,
                format!("{mapping_error}: version not served; served versions: {}", served_versions.join(", ")),
                match suggestion {
                    Some(s) => format!("Change the reference's apiVersion to {}.", s.api_version()),
                    None => "Point the reference at a served version, or remove it.".to_string(),
                },
            );
            j.served_versions = served_versions.clone();
            j
        }
        Unmappable::KindCaseMismatch { actual } => Judgement::new(
            OwnerProblemReason::KindCaseMismatch,
            format!("{mapping_error}: kinds are case-sensitive; the served kind is {}", actual.kind),
            match owner_exists {
                Some(true) => format!("Correct the kind: {} → {}. The owner exists; once corrected, the garbage collector tracks this object again.", reference.kind, actual.kind),
                Some(false) => format!("This object is an orphan the garbage collector cannot collect: its owner {} {:?} (uid {}) is gone. Delete it, or correct the kind to {} and the garbage collector will delete it.", actual.kind, reference.name, reference.uid, actual.kind),
                None => format!("Correct the kind: {} → {}.", reference.kind, actual.kind),
            },
        ),
        Unmappable::KindNotFound => Judgement::new(
            OwnerProblemReason::KindNotFound,
            format!("{mapping_error}: {} serves no kind {:?}", reference.api_version, reference.kind),
            "Correct the kind, or remove the reference. While it stays, the garbage collector will never delete this object.".to_string(),
        ),
    };
    if let Some(s) = suggestion {
        if s.kind != reference.kind {
            j.suggested_kind = Some(s.kind.clone());
        }
        if s.api_version() != reference.api_version {
            j.suggested_api_version = Some(s.api_version());
        }
    }
    j.owner_exists = owner_exists;
    j
}

fn judge_resolved_owner(
    dep: &Dependent,
    reference: &OwnerReference,
    owner: &ResourceType,
    owners: &OwnerIndex,
) -> RefOutcome {
    let what = format!("{} {:?}", owner.kind, reference.name);
    if dep.id.namespace.is_empty() && owner.namespaced {
        let mut j = Judgement::new(
            OwnerProblemReason::NamespacedOwnerOfClusterScoped,
            format!("cluster-scoped object names namespaced owner {what}; the garbage collector never collects it"),
            "Remove this ownerReference: a cluster-scoped object cannot be owned by a namespaced one. Delete the object yourself if it is garbage.".to_string(),
        );
        j.owner_exists = None;
        return RefOutcome::Problem(j);
    }
    let Some(index) = owners.get(owner) else {
        return RefOutcome::Unknown(owner.api_version());
    };
    let namespace = owner_namespace(dep, owner);
    let uid_here = index.uid_of(namespace, &reference.name);
    if uid_here.is_some_and(|u| *u == *reference.uid) {
        return RefOutcome::Fine;
    }
    let elsewhere = index.location_of(&reference.uid).filter(|(ns, _)| *ns != namespace);
    let j = if let Some((other_ns, other_name)) = elsewhere {
        let mut j = Judgement::new(
            OwnerProblemReason::OwnerInOtherNamespace,
            format!("owner uid {} belongs to {} {other_ns}/{other_name}, outside the dependent's namespace; the garbage collector treats the owner as absent", reference.uid, owner.kind),
            "Cross-namespace owner references are not allowed: remove the reference (the garbage collector will otherwise delete this object once its other owners are gone).".to_string(),
        );
        j.owner_exists = Some(false);
        j
    } else if let Some(current_uid) = uid_here {
        let mut j = Judgement::new(
            OwnerProblemReason::OwnerUidMismatch,
            format!("{what} exists with uid {current_uid}, not {}: the owner was deleted and re-created", reference.uid),
            "This object is no longer owned by the re-created owner. Delete it if it is garbage, or update the reference's uid if the new owner should own it.".to_string(),
        );
        j.owner_exists = Some(false);
        j
    } else {
        let mut j = Judgement::new(
            OwnerProblemReason::OwnerNotFound,
            format!("owner {what} (uid {}) does not exist", reference.uid),
            "The owner is gone. The garbage collector should delete this object once all its owners are gone; if it stays, check kube-controller-manager's garbage collector or delete it.".to_string(),
        );
        j.owner_exists = Some(false);
        j
    };
    RefOutcome::Problem(j)
}

/// Scale targets are mapped the way the HPA controller maps them: by group and kind, at any served
/// version (`RESTMappings(GroupKind)`), so an old version in `apiVersion` is not a problem.
fn classify_scale_target(
    dep: &Dependent,
    target: &ScaleTarget,
    discovery: &DiscoverySnapshot,
    owners: &OwnerIndex,
) -> RefOutcome {
    let written = format!("{}/{}", target.api_version, target.kind);
    let resolved = crate::discovery::parse_api_version(&target.api_version)
        .ok()
        .and_then(|(group, _)| discovery.resolve_group_kind(&group, &target.kind));
    let mapping = match resolved {
        Some(resource) => Mapping::Resolved(resource),
        None => discovery.resolve(&target.api_version, &target.kind),
    };
    match mapping {
        Mapping::ListKind(item) => {
            let mut j = Judgement::new(
                OwnerProblemReason::ScaleTargetUnresolvable,
                format!(
                    "scaleTargetRef {written} {:?} names a list kind, which has no scale subresource",
                    target.name
                ),
                format!(
                    "Correct scaleTargetRef's kind to {}; until then the HPA scales nothing.",
                    item.kind
                ),
            );
            j.suggested_kind = Some(item.kind.clone());
            RefOutcome::Problem(j)
        }
        Mapping::Unknown { group_version } => RefOutcome::Unknown(group_version),
        Mapping::Unmappable(u) => {
            let suggestion = u.suggestion();
            let mut j = Judgement::new(
                OwnerProblemReason::ScaleTargetUnresolvable,
                format!(
                    "scaleTargetRef {written} {:?} cannot be mapped to a served resource",
                    target.name
                ),
                match suggestion {
                    Some(s) => format!(
                        "Correct scaleTargetRef to {}/{}; until then the HPA scales nothing.",
                        s.api_version(),
                        s.kind
                    ),
                    None => {
                        "The HPA scales nothing: point scaleTargetRef at a served kind, or delete the HPA.".to_string()
                    }
                },
            );
            if let Some(s) = suggestion {
                j.suggested_kind = (s.kind != target.kind).then(|| s.kind.clone());
                j.suggested_api_version = (s.api_version() != target.api_version).then(|| s.api_version());
                j.owner_exists = owners
                    .get(s)
                    .map(|i| i.uid_of(owner_namespace(dep, s), &target.name).is_some());
            }
            if let Unmappable::VersionNotServed { served_versions, .. } = &u {
                j.served_versions = served_versions.clone();
            }
            RefOutcome::Problem(j)
        }
        Mapping::Resolved(resource) => {
            let Some(index) = owners.get(resource) else {
                return RefOutcome::Unknown(resource.api_version());
            };
            if index.uid_of(owner_namespace(dep, resource), &target.name).is_some() {
                return RefOutcome::Fine;
            }
            let mut j = Judgement::new(
                OwnerProblemReason::ScaleTargetNotFound,
                format!("scale target {} {:?} does not exist", resource.kind, target.name),
                "The HPA is dead weight: delete it, or restore its scale target.".to_string(),
            );
            j.owner_exists = Some(false);
            RefOutcome::Problem(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::tests::snapshot;

    fn oref(api_version: &str, kind: &str, name: &str, uid: &str) -> OwnerReference {
        OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: None,
        }
    }

    fn hpa(namespace: &str, refs: Vec<OwnerReference>, target: Option<(&str, &str, &str)>) -> Dependent {
        Dependent {
            id: ObjectId {
                group: "autoscaling".into(),
                version: "v2".into(),
                resource: "horizontalpodautoscalers".into(),
                kind: "HorizontalPodAutoscaler".into(),
                namespace: namespace.into(),
                name: "hpa".into(),
                uid: "hpa-uid".into(),
                resource_version: "7".into(),
                creation_timestamp: None,
            },
            owner_references: refs,
            scale_target: target.map(|(a, k, n)| ScaleTarget {
                api_version: a.into(),
                kind: k.into(),
                name: n.into(),
            }),
        }
    }

    fn cluster_scoped(refs: Vec<OwnerReference>) -> Dependent {
        let mut d = hpa("", refs, None);
        d.id.resource = "persistentvolumes".into();
        d.id.group = String::new();
        d.id.kind = "PersistentVolume".into();
        d
    }

    /// Owners: PodAutoscaler llm/live (uid pa-1), Deployment llm/web (uid dep-1), Deployment other/web (uid dep-2).
    fn owners() -> OwnerIndex {
        let mut idx = OwnerIndex::default();
        let pa = ObjectIndex::from_entries(&[("llm", "live", "pa-1")]);
        idx.insert("podautoscalers.autoscaling.aibrix.ai", pa);
        let dep = ObjectIndex::from_entries(&[("llm", "web", "dep-1"), ("other", "web", "dep-2")]);
        idx.insert("deployments.apps", dep);
        idx
    }

    /// One line per finding: `reason suggestedKind ownerExists gcBlocked`, or `unknown gv`.
    fn check(dep: Dependent, expect: &[&str]) {
        let v = classify(&dep, &snapshot(), &owners());
        let mut got: Vec<String> = v
            .problems
            .iter()
            .map(|p| {
                format!(
                    "{} {} {} {}",
                    p.reason.as_str(),
                    p.suggested_kind
                        .clone()
                        .or_else(|| p.suggested_api_version.clone())
                        .unwrap_or("-".into()),
                    p.owner_exists.map_or("?".into(), |b| b.to_string()),
                    if p.gc_blocked { "blocked" } else { "collectable" }
                ) + if p.orphan { " orphan" } else { "" }
            })
            .collect();
        got.extend(v.unresolved.iter().map(|u| format!("unknown {}", u.group_version)));
        assert_eq!(got, expect);
    }

    const PA: &str = "autoscaling.aibrix.ai/v1alpha1";

    #[test]
    fn exact_and_lowercase_kinds_are_fine() {
        check(hpa("llm", vec![oref(PA, "PodAutoscaler", "live", "pa-1")], None), &[]);
        check(hpa("llm", vec![oref(PA, "podautoscaler", "live", "pa-1")], None), &[]);
    }

    #[test]
    fn case_mismatch_with_live_owner_says_correct_the_kind() {
        let dep = hpa("llm", vec![oref(PA, "PodAutoScaler", "live", "pa-1")], None);
        check(dep.clone(), &["KindCaseMismatch PodAutoscaler true blocked"]);
        let v = classify(&dep, &snapshot(), &owners());
        assert!(
            v.problems[0]
                .fix
                .starts_with("Correct the kind: PodAutoScaler → PodAutoscaler"),
            "{}",
            v.problems[0].fix
        );
        assert!(v.problems[0]
            .message
            .contains("unable to get REST mapping for autoscaling.aibrix.ai/v1alpha1/PodAutoScaler"));
    }

    #[test]
    fn case_mismatch_with_missing_owner_is_an_uncollectable_orphan() {
        let dep = hpa("llm", vec![oref(PA, "PodAutoScaler", "gone", "pa-9")], None);
        check(dep.clone(), &["KindCaseMismatch PodAutoscaler false blocked orphan"]);
        let v = classify(&dep, &snapshot(), &owners());
        assert!(
            v.problems[0]
                .fix
                .contains("orphan the garbage collector cannot collect"),
            "{}",
            v.problems[0].fix
        );
    }

    #[test]
    fn every_unmappable_reason() {
        check(
            hpa("llm", vec![oref("a/b/c", "X", "x", "u")], None),
            &["InvalidApiVersion - ? blocked"],
        );
        check(
            hpa("llm", vec![oref("", "X", "x", "u")], None),
            &["InvalidApiVersion - ? blocked"],
        );
        check(
            hpa(
                "llm",
                vec![oref("model.aibrix.ai/v1alpha1", "ModelAdapter", "x", "u")],
                None,
            ),
            &["GroupNotServed - false blocked orphan"],
        );
        check(
            hpa(
                "llm",
                vec![oref("extensions/v1beta1", "Deployment", "web", "dep-1")],
                None,
            ),
            &["GroupNotServed apps/v1 true blocked"],
        );
        check(
            hpa(
                "llm",
                vec![oref("autoscaling.aibrix.ai/v1beta1", "PodAutoscaler", "live", "pa-1")],
                None,
            ),
            &["VersionNotServed autoscaling.aibrix.ai/v1alpha1 true blocked"],
        );
        check(
            hpa("llm", vec![oref(PA, "Autoscaler", "live", "pa-1")], None),
            &["KindNotFound - false blocked orphan"],
        );
    }

    #[test]
    fn resolvable_owner_problems() {
        check(
            hpa("llm", vec![oref("apps/v1", "Deployment", "gone", "dep-9")], None),
            &["OwnerNotFound - false collectable orphan"],
        );
        check(
            hpa("llm", vec![oref("apps/v1", "Deployment", "web", "dep-old")], None),
            &["OwnerUidMismatch - false collectable orphan"],
        );
        check(
            hpa("llm", vec![oref("apps/v1", "Deployment", "web", "dep-2")], None),
            &["OwnerInOtherNamespace - false collectable orphan"],
        );
        check(
            cluster_scoped(vec![oref("apps/v1", "Deployment", "web", "dep-1")]),
            &["NamespacedOwnerOfClusterScoped - ? blocked"],
        );
    }

    #[test]
    fn one_unmappable_reference_blocks_the_whole_object() {
        let dep = hpa(
            "llm",
            vec![
                oref("apps/v1", "Deployment", "gone", "dep-9"),
                oref(PA, "PodAutoScaler", "live", "pa-1"),
            ],
            None,
        );
        check(
            dep,
            &[
                "OwnerNotFound - false blocked",
                "KindCaseMismatch PodAutoscaler true blocked",
            ],
        );
        let gone = hpa(
            "llm",
            vec![
                oref("apps/v1", "Deployment", "gone", "dep-9"),
                oref(PA, "PodAutoScaler", "x", "pa-9"),
            ],
            None,
        );
        check(
            gone,
            &[
                "OwnerNotFound - false blocked orphan",
                "KindCaseMismatch PodAutoscaler false blocked orphan",
            ],
        );
    }

    #[test]
    fn a_list_kind_maps_but_never_names_an_owner() {
        check(
            hpa("llm", vec![oref("apps/v1", "DeploymentList", "web", "dep-1")], None),
            &["OwnerNotFound Deployment false collectable orphan"],
        );
    }

    #[test]
    fn a_live_read_replaces_what_the_list_said() {
        let s = snapshot();
        let deployments = s.find_by_qualified_name("deployments.apps").unwrap().clone();
        // The list missed llm/new (created after it); the live read finds it.
        let fresh = hpa("llm", vec![oref("apps/v1", "Deployment", "new", "dep-new")], None);
        let mut idx = owners();
        assert_eq!(
            owners_to_confirm(&fresh, &s, &idx),
            [(deployments.clone(), "llm".to_string(), "new".to_string())]
        );
        idx.confirm(&deployments, "llm", "new", Some("dep-new"));
        assert!(classify(&fresh, &s, &idx).problems.is_empty());
        // The list showed other/web (dep-2); the live read says it is gone: a reference to that uid
        // from another namespace is now about an absent owner, not one in another namespace.
        idx.confirm(&deployments, "other", "web", None);
        let elsewhere = hpa("llm", vec![oref("apps/v1", "Deployment", "web", "dep-2")], None);
        let verdict = classify(&elsewhere, &s, &idx);
        assert_eq!(
            verdict.problems[0].reason,
            OwnerProblemReason::OwnerUidMismatch,
            "web exists in llm with another uid"
        );
        let gone = hpa("third", vec![oref("apps/v1", "Deployment", "web", "dep-2")], None);
        assert_eq!(
            classify(&gone, &s, &idx).problems[0].reason,
            OwnerProblemReason::OwnerNotFound
        );
    }

    #[test]
    fn failed_discovery_is_unknown_not_broken() {
        check(
            hpa(
                "llm",
                vec![oref("metrics.k8s.io/v1beta1", "PodMetrics", "x", "u")],
                None,
            ),
            &["unknown metrics.k8s.io/v1beta1"],
        );
    }

    #[test]
    fn unlisted_owner_type_is_unknown() {
        check(
            hpa("llm", vec![oref("v1", "ConfigMap", "cm", "u")], None),
            &["unknown v1"],
        );
    }

    #[test]
    fn scale_targets() {
        check(hpa("llm", vec![], Some(("apps/v1", "Deployment", "web"))), &[]);
        check(
            hpa("llm", vec![], Some(("apps/v1", "Deployment", "nope"))),
            &["ScaleTargetNotFound - false collectable"],
        );
        check(
            hpa("llm", vec![], Some(("apps/v1", "deployMent", "web"))),
            &["ScaleTargetUnresolvable Deployment true collectable"],
        );
        check(
            hpa("llm", vec![], Some(("apps/v1", "Widget", "web"))),
            &["ScaleTargetUnresolvable - ? collectable"],
        );
        // The HPA controller maps scale targets by group and kind: an old version still works.
        check(hpa("llm", vec![], Some(("apps/v1beta2", "Deployment", "web"))), &[]);
        check(
            hpa("llm", vec![], Some(("apps/v1beta2", "Deployment", "nope"))),
            &["ScaleTargetNotFound - false collectable"],
        );
    }

    #[test]
    fn index_needs_cover_corrected_kinds() {
        let deps = vec![
            hpa(
                "llm",
                vec![oref(PA, "PodAutoScaler", "live", "pa-1")],
                Some(("apps/v1", "Deployment", "web")),
            ),
            hpa(
                "llm",
                vec![oref("metrics.k8s.io/v1beta1", "PodMetrics", "x", "u")],
                None,
            ),
        ];
        let need: Vec<_> = resources_to_index(&deps, &snapshot()).into_iter().collect();
        assert_eq!(need, ["deployments.apps", "podautoscalers.autoscaling.aibrix.ai"]);
    }
}
