//! The `owner_references` scanner: lists the audited resources, indexes the owners they name, and
//! classifies every reference with [`crate::ownerref`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::future::BoxFuture;

use super::{object_id, require_plausible, ScanContext, ScanError, Scanner};
use crate::discovery::{DiscoverySnapshot, ResourceType};
use crate::findings::ScannerFindings;
use crate::listed::{ListResult, ListedObject, OwnerRef};
use crate::readmodel::SharedList;
use futures::StreamExt;

use crate::ownerref::{classify, owners_to_confirm, resources_to_index, Dependent, ObjectIndex, OwnerIndex};

pub const NAME: &str = "owner_references";
pub const HPA_RESOURCE: &str = "horizontalpodautoscalers.autoscaling";

/// Which resources to audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditedResources {
    /// Every listable resource discovery finds.
    All,
    /// These `resource.group` names (`resource` for the core group).
    Named(Vec<String>),
}

impl AuditedResources {
    /// The resource types to audit. A named resource that is not served although its group was
    /// discovered is a configuration error; one whose group failed discovery is skipped and noted.
    pub fn resolve(
        &self,
        discovery: &DiscoverySnapshot,
        findings: &mut ScannerFindings,
    ) -> Result<Vec<ResourceType>, ScanError> {
        let names = match self {
            AuditedResources::All => {
                // Like the garbage collector: only resources it tracks (list, watch and delete).
                // Virtual lists such as metrics.k8s.io's pods/nodes (get, list) fan out to a
                // metrics server and hold nothing the collector could act on.
                return Ok(collectable_resources(discovery));
            }
            AuditedResources::Named(names) => names,
        };
        let served = discovery.preferred_resources();
        let mut out: Vec<ResourceType> = Vec::new();
        for name in names {
            let not_found = match crate::resource_names::resolve(name, &served) {
                Ok(rt) if !rt.supports("list") => {
                    return Err(ScanError::Config(format!(
                        "--owner-resources: {} cannot be listed (verbs: {})",
                        rt.qualified_name(),
                        rt.verbs.join(",")
                    )))
                }
                Ok(rt) => {
                    if !out.contains(rt) {
                        out.push(rt.clone());
                    }
                    continue;
                }
                Err(e @ crate::resource_names::NameError::Ambiguous { .. }) => {
                    return Err(ScanError::Config(format!("--owner-resources: {e}")))
                }
                Err(e) => e,
            };
            // A name without a group may live in any group, so any failed group could serve it.
            let group = name.split_once('.').map(|(_, g)| g.to_ascii_lowercase());
            let group_failed = discovery.failures().iter().any(|f| {
                f.group_version.is_empty()
                    || group
                        .as_deref()
                        .is_none_or(|g| f.group_version.split('/').next() == Some(g))
            });
            if !group_failed {
                return Err(ScanError::Config(format!("--owner-resources: {not_found}")));
            }
            findings
                .issues
                .push(format!("resource {name} not audited: discovery of its group failed"));
            findings.failed_resources.push(name.clone());
        }
        Ok(out)
    }
}

impl Default for AuditedResources {
    fn default() -> Self {
        AuditedResources::Named(vec![HPA_RESOURCE.to_string()])
    }
}

pub struct OwnerReferenceScanner {
    pub resources: AuditedResources,
}

impl Scanner for OwnerReferenceScanner {
    fn name(&self) -> &'static str {
        NAME
    }

    fn declares_lists(&self) -> bool {
        true
    }

    fn scan<'a>(&'a self, ctx: &'a ScanContext) -> BoxFuture<'a, Result<ScannerFindings, ScanError>> {
        Box::pin(self.run(ctx))
    }
}

/// A resource the garbage collector tracks: it supports list, watch and delete.
pub fn is_collectable(rt: &ResourceType) -> bool {
    ["list", "watch", "delete"].iter().all(|v| rt.supports(v))
}

/// Every served resource the garbage collector tracks, at its preferred version.
pub fn collectable_resources(discovery: &DiscoverySnapshot) -> Vec<ResourceType> {
    discovery
        .preferred_resources()
        .into_iter()
        .filter(|r| is_collectable(r))
        .cloned()
        .collect()
}

/// The dependent an audited object is, when it refers to anything (`Ok(None)` when it does not);
/// `Err` says what makes its references invalid. Built when needed and dropped after: the round
/// keeps only the listed objects.
fn dependent(rt: &ResourceType, listed: &ListedObject) -> Result<Option<Dependent>, String> {
    let references = listed.owner_references();
    if let Some(missing) = invalid_reference(references) {
        return Err(missing);
    }
    let scale_target = listed.scale_target().cloned();
    if references.is_empty() && scale_target.is_none() {
        return Ok(None);
    }
    Ok(Some(Dependent {
        id: object_id(rt, listed),
        owner_references: references.iter().map(Into::into).collect(),
        scale_target,
    }))
}

/// Every dependent among the audited objects that listed (objects with invalid references left out).
fn dependents<'a>(lists: &'a [(ResourceType, SharedList)]) -> impl Iterator<Item = Dependent> + 'a {
    lists
        .iter()
        .filter_map(|(rt, result)| Some((rt, result.as_ref().ok()?)))
        .flat_map(|(rt, list)| list.objects.iter().filter_map(move |o| dependent(rt, o).ok().flatten()))
}

impl OwnerReferenceScanner {
    async fn run(&self, ctx: &ScanContext) -> Result<ScannerFindings, ScanError> {
        let discovery = &ctx.discovery;
        // Declared (on drop at the latest) once every cluster-wide list this scan wants is known.
        let declaration = ctx.lists.declaration();
        require_plausible(discovery)?;
        let mut findings = ScannerFindings::default();

        let audited = self.resources.resolve(discovery, &mut findings)?;
        ctx.lists.reserve(&audited);
        // Through the round's read model (HPAs are read with their scale targets there).
        let lists = ctx.lists.list_many(audited, None).await;
        let mut listed: BTreeMap<String, Arc<ListResult>> = BTreeMap::new();
        let mut needed: BTreeSet<String> = BTreeSet::new();
        for (rt, result) in &lists {
            let result = match result {
                Ok(r) => r,
                Err(e) => {
                    findings
                        .issues
                        .push(format!("could not list {}: {e}", rt.qualified_name()));
                    findings.failed_resources.push(rt.qualified_name());
                    continue;
                }
            };
            findings.note_malformed(&rt.qualified_name(), &result.malformed);
            listed.insert(rt.qualified_name(), result.clone());
            for object in &result.objects {
                match dependent(rt, object) {
                    Ok(Some(dep)) => needed.extend(resources_to_index(std::slice::from_ref(&dep), discovery)),
                    Ok(None) => {}
                    // The API server refuses such references (ValidateOwnerReferences): this one
                    // came from elsewhere (a restore, a bug). Nothing about the object is judged
                    // (dropping only that reference would shift the others' indices).
                    Err(missing) => findings.issues.push(format!(
                        "{} {}/{}: {missing}: its ownerReferences are not audited",
                        rt.qualified_name(),
                        object.namespace,
                        object.name
                    )),
                }
            }
        }

        let mut owners = OwnerIndex::default();
        let mut to_list = Vec::new();
        for name in needed {
            match listed.remove(&name) {
                Some(list) => owners.insert(&name, ObjectIndex::new(list)),
                None => to_list.extend(discovery.find_by_qualified_name(&name).cloned()),
            }
        }
        drop(listed);
        ctx.lists.reserve(&to_list);
        declaration.done();
        for (rt, result) in ctx.lists.list_many(to_list, None).await {
            match result {
                Ok(list) => owners.insert(&rt.qualified_name(), ObjectIndex::new(list)),
                Err(e) => findings
                    .issues
                    .push(format!("could not list owners {}: {e}", rt.qualified_name())),
            }
        }

        let wanted = dependents(&lists)
            .flat_map(|d| owners_to_confirm(&d, discovery, &owners))
            .collect();
        self.confirm_missing_owners(ctx, wanted, &mut owners, &mut findings)
            .await;
        for dep in dependents(&lists) {
            let verdict = classify(&dep, discovery, &owners);
            findings.owner_reference_problems.extend(verdict.problems);
            findings.unresolved_references.extend(verdict.unresolved);
        }
        Ok(findings)
    }
}

/// At most this many live reads per scan to confirm owners the lists did not show.
pub const MAX_CONFIRMATIONS: usize = 500;

impl OwnerReferenceScanner {
    /// Re-reads owners the lists say are missing: an owner created between two lists is not absent.
    async fn confirm_missing_owners(
        &self,
        ctx: &ScanContext,
        mut wanted: Vec<(ResourceType, String, String)>,
        owners: &mut OwnerIndex,
        findings: &mut ScannerFindings,
    ) {
        wanted.sort_by(|a, b| (a.0.qualified_name(), &a.1, &a.2).cmp(&(b.0.qualified_name(), &b.1, &b.2)));
        wanted.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1 && a.2 == b.2);
        if wanted.len() > MAX_CONFIRMATIONS {
            findings.issues.push(format!(
                "{} missing owners not re-read (limit {MAX_CONFIRMATIONS} per scan); judged from lists",
                wanted.len() - MAX_CONFIRMATIONS
            ));
            wanted.truncate(MAX_CONFIRMATIONS);
        }
        let reads = futures::stream::iter(wanted)
            .map(|(rt, ns, name)| async move {
                let got = ctx.api.find_by_name(&rt, &ns, &name).await;
                (rt, ns, name, got)
            })
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await;
        for (rt, ns, name, got) in reads {
            match got {
                Ok(found) => owners.confirm(&rt, &ns, &name, found.map(|o| o.uid.to_string()).as_deref()),
                Err(e) => findings.issues.push(format!(
                    "could not re-read owner {}/{ns}/{name}: {e}",
                    rt.qualified_name()
                )),
            }
        }
    }
}

/// What makes a reference invalid (`ownerReferences[I] has no uid`), for the first one that is.
fn invalid_reference(references: &[OwnerRef]) -> Option<String> {
    references.iter().enumerate().find_map(|(i, r)| {
        let missing: Vec<&str> = [
            ("apiVersion", r.api_version.trim().is_empty()),
            ("kind", r.kind.trim().is_empty()),
            ("name", r.name.trim().is_empty()),
            ("uid", r.uid.to_string().trim().is_empty()),
        ]
        .into_iter()
        .filter(|(_, empty)| *empty)
        .map(|(k, _)| k)
        .collect();
        (!missing.is_empty()).then(|| format!("ownerReferences[{i}] has no {}", missing.join(", ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::tests::rt;

    #[test]
    fn all_means_what_the_garbage_collector_tracks() {
        let mut d = DiscoverySnapshot::new(true);
        d.add_group("", vec!["v1".into()]);
        d.add_group("metrics.k8s.io", vec!["v1beta1".into()]);
        d.add_resources(
            "",
            "v1",
            vec![rt("", "v1", "ConfigMap", "configmaps", true), {
                let mut cs = rt("", "v1", "ComponentStatus", "componentstatuses", false);
                cs.verbs = vec!["get".into(), "list".into()];
                cs
            }],
        );
        let mut metrics = rt("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", true);
        metrics.verbs = vec!["get".into(), "list".into()];
        d.add_resources("metrics.k8s.io", "v1beta1", vec![metrics]);
        let mut findings = ScannerFindings::default();
        let names: Vec<String> = AuditedResources::All
            .resolve(&d, &mut findings)
            .unwrap()
            .iter()
            .map(|r| r.qualified_name())
            .collect();
        assert_eq!(names, vec!["configmaps"]);
    }
}
