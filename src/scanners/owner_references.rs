//! The `owner_references` scanner: lists the audited resources, indexes the owners they name, and
//! classifies every reference with [`crate::ownerref`].

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;

use super::{object_id, require_plausible, ScanContext, ScanError, Scanner};
use crate::discovery::ResourceType;
use crate::findings::ScannerFindings;
use crate::kubeapi::ListResult;
use crate::ownerref::{classify, resources_to_index, Dependent, ObjectIndex, OwnerIndex, ScaleTarget};

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

        let audited: Vec<ResourceType> = match &self.resources {
            AuditedResources::All => discovery
                .preferred_resources()
                .into_iter()
                .filter(|r| r.supports("list"))
                .cloned()
                .collect(),
            AuditedResources::Named(names) => names
                .iter()
                .filter_map(|n| {
                    let found = discovery.find_by_qualified_name(n).cloned();
                    if found.is_none() {
                        findings.issues.push(format!(
                            "resource {n} is not served by the cluster (or its discovery failed); not audited"
                        ));
                    }
                    found
                })
                .collect(),
        };

        let (hpas, others): (Vec<ResourceType>, Vec<ResourceType>) = audited.into_iter().partition(is_hpa);
        let mut lists = ctx.api.list_many(hpas, None, false).await;
        lists.extend(ctx.api.list_many(others, None, true).await);
        let mut dependents = Vec::new();
        let mut listed_indexes: BTreeMap<String, ObjectIndex> = BTreeMap::new();
        for (rt, result) in &lists {
            let result = match result {
                Ok(r) => r,
                Err(e) => {
                    findings
                        .issues
                        .push(format!("could not list {}: {e}", rt.qualified_name()));
                    continue;
                }
            };
            findings.issues.extend(result.malformed.iter().cloned());
            listed_indexes.insert(rt.qualified_name(), index_of(result));
            for listed in &result.objects {
                let owner_references = listed.metadata.owner_references.clone().unwrap_or_default();
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
        for (rt, result) in ctx.api.list_many(to_list, None, true).await {
            match result {
                Ok(r) => owners.insert(&rt.qualified_name(), index_of(&r)),
                Err(e) => findings
                    .issues
                    .push(format!("could not list owners {}: {e}", rt.qualified_name())),
            }
        }

        for dep in &dependents {
            let verdict = classify(dep, discovery, &owners);
            findings.owner_reference_problems.extend(verdict.problems);
            findings.unresolved_references.extend(verdict.unresolved);
        }
        Ok(findings)
    }
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
