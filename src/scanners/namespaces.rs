//! The `namespaces` scanner: finds Terminating namespaces, lists what is really left inside the
//! stuck ones, and judges them with [`crate::namespace`]. Optionally reports objects anywhere that
//! have been waiting on finalizers for longer than the threshold.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::future::BoxFuture;

use super::{remaining_object, require_plausible, ScanContext, ScanError, Scanner};
use crate::discovery::ResourceType;
use crate::findings::{RemainingObject, ScannerFindings, StuckObject};
use crate::namespace::{assess, is_stuck, terminating_seconds, NamespaceFacts, NamespaceView};
use crate::scanners::owner_references::collectable_resources;

pub const NAME: &str = "namespaces";

pub struct NamespaceScanner {
    pub stuck_after: Duration,
    /// Also report objects anywhere deleted longer than `stuck_after` ago that still have finalizers.
    pub stuck_objects: bool,
}

impl Scanner for NamespaceScanner {
    fn name(&self) -> &'static str {
        NAME
    }

    fn scan<'a>(&'a self, ctx: &'a ScanContext) -> BoxFuture<'a, Result<ScannerFindings, ScanError>> {
        Box::pin(self.run(ctx))
    }
}

fn namespaces_type() -> ResourceType {
    ResourceType {
        group: String::new(),
        version: "v1".into(),
        kind: "Namespace".into(),
        plural: "namespaces".into(),
        namespaced: false,
        verbs: vec!["list".into()],
        singular: "namespace".into(),
        short_names: vec!["ns".into()],
    }
}

impl NamespaceScanner {
    async fn run(&self, ctx: &ScanContext) -> Result<ScannerFindings, ScanError> {
        require_plausible(&ctx.discovery)?;
        let mut findings = ScannerFindings::default();
        if self.stuck_objects {
            // Listed cluster-wide anyway: content of stuck namespaces is read from these lists.
            ctx.lists.reserve(&collectable_resources(&ctx.discovery));
        }
        // Through the round's read model: with `--owner-resources all` the owner scanner lists
        // namespaces too.
        let listed = ctx
            .lists
            .list(&namespaces_type(), None)
            .await
            .map_err(ScanError::List)?;
        findings.note_malformed("namespaces", &listed.malformed);

        let terminating: Vec<(NamespaceView, jiff::Timestamp)> = listed
            .objects
            .iter()
            .filter_map(|item| Some((NamespaceView::from_json(item.json()?), item.deletion_timestamp()?)))
            .collect();

        let failing: Vec<String> = ctx
            .discovery
            .failures()
            .iter()
            .map(|f| f.group_version.clone())
            .collect();
        let stuck: Vec<&str> = terminating
            .iter()
            .filter(|(_, deleted)| is_stuck(*deleted, ctx.now, self.stuck_after))
            .map(|(ns, _)| ns.name.as_str())
            .collect();
        let unavailable = if !stuck.is_empty() && !failing.is_empty() {
            self.unavailable_api_services(ctx, &mut findings).await
        } else {
            Vec::new()
        };
        let mut content = self.remaining_content(ctx, &stuck, &mut findings).await;

        for (ns, deleted) in &terminating {
            let is_stuck = stuck.contains(&ns.name.as_str());
            let (remaining, unlisted) = content.remove(&ns.name).unwrap_or_default();
            let facts = NamespaceFacts {
                namespace: ns,
                deletion_timestamp: *deleted,
                remaining,
                failing_group_versions: if is_stuck { failing.clone() } else { Vec::new() },
                unavailable_api_services: if is_stuck { unavailable.clone() } else { Vec::new() },
                unlisted_resources: unlisted,
            };
            findings
                .terminating_namespaces
                .push(assess(facts, ctx.now, self.stuck_after));
        }

        if self.stuck_objects {
            self.find_stuck_objects(ctx, &mut findings).await;
        }
        Ok(findings)
    }

    /// Every object left in each stuck namespace, with the content types that could not be listed.
    /// Lists only what the namespace controller deletes (namespaced, list + delete), each type
    /// from a cluster-wide list the round wants anyway, else cluster-wide or namespace by
    /// namespace by cost ([`crate::readmodel::RoundLists::list_in_namespaces`]).
    async fn remaining_content(
        &self,
        ctx: &ScanContext,
        stuck: &[&str],
        findings: &mut ScannerFindings,
    ) -> HashMap<String, (Vec<RemainingObject>, Vec<String>)> {
        use futures::stream::{self, StreamExt};
        let types: Vec<ResourceType> = ctx
            .discovery
            .preferred_resources()
            .into_iter()
            .filter(|r| r.namespaced && r.supports("list") && r.supports("delete"))
            .cloned()
            .collect();
        let mut out: HashMap<String, (Vec<RemainingObject>, Vec<String>)> =
            stuck.iter().map(|n| (n.to_string(), Default::default())).collect();
        if stuck.is_empty() {
            return out;
        }
        let stuck: Vec<String> = stuck.iter().map(|s| s.to_string()).collect();
        let stuck = &stuck;
        let lists: Vec<(Option<String>, ResourceType, crate::readmodel::SharedList)> = stream::iter(types)
            .map(|rt| async move {
                let lists = ctx.lists.list_in_namespaces(&rt, stuck).await;
                lists
                    .into_iter()
                    .map(|(scope, list)| (scope, rt.clone(), list))
                    .collect::<Vec<_>>()
            })
            .buffer_unordered(ctx.api.concurrency())
            .flat_map(stream::iter)
            .collect()
            .await;
        let mut seen = HashSet::new();
        for (scope, rt, result) in lists {
            match result.as_ref() {
                Ok(list) => {
                    let resource = rt.qualified_name();
                    findings.note_malformed(&resource, &list.malformed);
                    // An unreadable object in a stuck namespace: this type's blockers there could
                    // not be judged, so they are carried over like those of an unlisted type.
                    for (ns, _) in list.malformed.iter().filter_map(|m| m.key.as_ref()) {
                        if let Some((_, unlisted)) = out.get_mut(ns.as_str()) {
                            if !unlisted.contains(&resource) {
                                unlisted.push(resource.clone());
                            }
                        }
                    }
                    for listed in &list.objects {
                        let Some((remaining, _)) = out.get_mut(&*listed.namespace) else {
                            continue;
                        };
                        // The same object can be served by two groups (events in core and events.k8s.io).
                        if listed.uid.is_empty() || seen.insert(listed.uid.clone()) {
                            remaining.push(remaining_object(&rt, listed));
                        }
                    }
                }
                Err(e) => {
                    let where_ = scope.as_deref().unwrap_or("all namespaces");
                    findings
                        .issues
                        .push(format!("{where_}: could not list {}: {e}", rt.qualified_name()));
                    for (name, (_, unlisted)) in out.iter_mut() {
                        if scope.as_deref().is_none_or(|s| s == name) {
                            unlisted.push(rt.qualified_name());
                        }
                    }
                }
            }
        }
        for (remaining, _) in out.values_mut() {
            remaining.sort_by(|a, b| {
                (&a.object.group, &a.object.resource, &a.object.name).cmp(&(
                    &b.object.group,
                    &b.object.resource,
                    &b.object.name,
                ))
            });
        }
        out
    }

    /// APIServices whose `Available` condition is `False`, as `name: reason: message`.
    async fn unavailable_api_services(&self, ctx: &ScanContext, findings: &mut ScannerFindings) -> Vec<String> {
        let Some(rt) = ctx
            .discovery
            .find_by_qualified_name("apiservices.apiregistration.k8s.io")
            .cloned()
        else {
            return Vec::new();
        };
        match ctx.lists.list(&rt, None).await.as_ref() {
            Ok(list) => list
                .objects
                .iter()
                .filter_map(|o| {
                    let conditions = o.json()?.pointer("/status/conditions")?.as_array()?;
                    let available = conditions
                        .iter()
                        .find(|c| c.get("type").and_then(|t| t.as_str()) == Some("Available"))?;
                    if available.get("status").and_then(|s| s.as_str()) != Some("False") {
                        return None;
                    }
                    let text = |k: &str| {
                        available
                            .get(k)
                            .and_then(|v| v.as_str())
                            .unwrap_or_default()
                            .to_string()
                    };
                    Some(format!("{}: {}: {}", o.name, text("reason"), text("message")))
                })
                .collect(),
            Err(e) => {
                findings.issues.push(format!("could not list apiservices: {e}"));
                Vec::new()
            }
        }
    }

    /// Objects anywhere whose deletion has waited on finalizers for longer than the threshold.
    async fn find_stuck_objects(&self, ctx: &ScanContext, findings: &mut ScannerFindings) {
        // Objects stuck on finalizers are deletable ones: what the collector tracks.
        let results = ctx.lists.list_many(collectable_resources(&ctx.discovery), None).await;
        let mut seen = HashSet::new();
        for (rt, result) in results {
            let list = match result.as_ref() {
                Ok(list) => list,
                Err(e) => {
                    findings
                        .issues
                        .push(format!("could not list {}: {e}", rt.qualified_name()));
                    // Stuck objects of this type are carried over from the previous scan.
                    findings.failed_resources.push(rt.qualified_name());
                    continue;
                }
            };
            findings.note_malformed(&rt.qualified_name(), &list.malformed);
            for listed in &list.objects {
                let Some(deleted) = listed.deletion_timestamp() else {
                    continue;
                };
                let has_finalizers = !listed.finalizers().is_empty();
                if has_finalizers && is_stuck(deleted, ctx.now, self.stuck_after) && seen.insert(listed.uid.clone()) {
                    findings.stuck_objects.push(StuckObject {
                        object: remaining_object(&rt, listed),
                        deleted_seconds: terminating_seconds(deleted, ctx.now),
                    });
                }
            }
        }
    }
}
