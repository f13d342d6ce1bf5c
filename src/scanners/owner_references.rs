//! The `owner_references` scanner: lists the audited resources, indexes the owners they name, and
//! classifies every reference with [`crate::ownerref`].

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;

use super::{object_id, require_plausible, ScanContext, ScanError, Scanner};
use crate::discovery::{DiscoverySnapshot, ResourceType};
use crate::findings::ScannerFindings;
use crate::kubeapi::ListResult;
use futures::StreamExt;

use crate::ownerref::{
    classify, owners_to_confirm, resources_to_index, Dependent, ObjectIndex, OwnerIndex, ScaleTarget,
};

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
                return Ok(discovery
                    .preferred_resources()
                    .into_iter()
                    .filter(|r| is_collectable(r))
                    .cloned()
                    .collect());
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

    fn scan<'a>(&'a self, ctx: &'a ScanContext) -> BoxFuture<'a, Result<ScannerFindings, ScanError>> {
        Box::pin(self.run(ctx))
    }
}

/// A resource the garbage collector tracks: it supports list, watch and delete.
pub fn is_collectable(rt: &ResourceType) -> bool {
    ["list", "watch", "delete"].iter().all(|v| rt.supports(v))
}

fn is_hpa(rt: &ResourceType) -> bool {
    rt.qualified_name() == HPA_RESOURCE
}

fn scale_target(body: &serde_json::Value) -> Option<ScaleTarget> {
    let t = body.get("spec")?.get("scaleTargetRef")?;
    let field = |k: &str| t.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    Some(ScaleTarget {
        api_version: field("apiVersion"),
        kind: field("kind"),
        name: field("name"),
    })
}

impl OwnerReferenceScanner {
    async fn run(&self, ctx: &ScanContext) -> Result<ScannerFindings, ScanError> {
        let discovery = &ctx.discovery;
        require_plausible(discovery)?;
        let mut findings = ScannerFindings::default();

        let audited = self.resources.resolve(discovery, &mut findings)?;
        // Through the round's read model (HPAs are read in full there: their scale targets).
        let lists = ctx.lists.list_many(audited, None).await;
        let mut dependents = Vec::new();
        let mut listed_indexes: BTreeMap<String, ObjectIndex> = BTreeMap::new();
        for (rt, result) in &lists {
            let result = match result.as_ref() {
                Ok(r) => r,
                Err(e) => {
                    findings
                        .issues
                        .push(format!("could not list {}: {e}", rt.qualified_name()));
                    findings.failed_resources.push(rt.qualified_name());
                    continue;
                }
            };
            findings.issues.extend(result.malformed.iter().cloned());
            listed_indexes.insert(rt.qualified_name(), index_of(result));
            for listed in &result.objects {
                let owner_references = listed.metadata.owner_references.clone().unwrap_or_default();
                if let Some(missing) = invalid_reference(&owner_references) {
                    // The API server refuses such references (ValidateOwnerReferences): this one
                    // came from elsewhere (a restore, a bug). Nothing about the object is judged
                    // (dropping only that reference would shift the others' indices).
                    let m = &listed.metadata;
                    findings.issues.push(format!(
                        "{} {}/{}: {missing}: its ownerReferences are not audited",
                        rt.qualified_name(),
                        m.namespace.as_deref().unwrap_or_default(),
                        m.name.as_deref().unwrap_or_default()
                    ));
                    continue;
                }
                let scale_target = if is_hpa(rt) { scale_target(&listed.body) } else { None };
                if owner_references.is_empty() && scale_target.is_none() {
                    continue;
                }
                dependents.push(Dependent {
                    id: object_id(rt, listed),
                    owner_references,
                    scale_target,
                });
            }
        }

        let needed: BTreeSet<String> = resources_to_index(&dependents, discovery);
        let mut owners = OwnerIndex::default();
        let mut to_list = Vec::new();
        for name in needed {
            match listed_indexes.remove(&name) {
                Some(index) => owners.insert(&name, index),
                None => to_list.extend(discovery.find_by_qualified_name(&name).cloned()),
            }
        }
        for (rt, result) in ctx.lists.list_many(to_list, None).await {
            match result.as_ref() {
                Ok(r) => owners.insert(&rt.qualified_name(), index_of(r)),
                Err(e) => findings
                    .issues
                    .push(format!("could not list owners {}: {e}", rt.qualified_name())),
            }
        }

        self.confirm_missing_owners(ctx, &dependents, &mut owners, &mut findings)
            .await;
        for dep in &dependents {
            let verdict = classify(dep, discovery, &owners);
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
        dependents: &[Dependent],
        owners: &mut OwnerIndex,
        findings: &mut ScannerFindings,
    ) {
        let mut wanted: Vec<(ResourceType, String, String)> = dependents
            .iter()
            .flat_map(|d| owners_to_confirm(d, &ctx.discovery, owners))
            .collect();
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
                Ok(meta) => owners.confirm(&rt, &ns, &name, meta.as_ref().and_then(|m| m.uid.as_deref())),
                Err(e) => findings.issues.push(format!(
                    "could not re-read owner {}/{ns}/{name}: {e}",
                    rt.qualified_name()
                )),
            }
        }
    }
}

/// What makes a reference invalid (`ownerReferences[I] has no uid`), for the first one that is.
fn invalid_reference(references: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference]) -> Option<String> {
    references.iter().enumerate().find_map(|(i, r)| {
        let missing: Vec<&str> = [
            ("apiVersion", &r.api_version),
            ("kind", &r.kind),
            ("name", &r.name),
            ("uid", &r.uid),
        ]
        .into_iter()
        .filter(|(_, v)| v.trim().is_empty())
        .map(|(k, _)| k)
        .collect();
        (!missing.is_empty()).then(|| format!("ownerReferences[{i}] has no {}", missing.join(", ")))
    })
}

fn index_of(result: &ListResult) -> ObjectIndex {
    let mut index = ObjectIndex::default();
    for o in &result.objects {
        let m = &o.metadata;
        index.insert(
            m.namespace.as_deref().unwrap_or_default(),
            m.name.as_deref().unwrap_or_default(),
            m.uid.as_deref().unwrap_or_default(),
        );
    }
    index
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
