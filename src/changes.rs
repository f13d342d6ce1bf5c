//! What appeared, changed and disappeared between two rounds, by stable key: the daemon logs one
//! line per change instead of one per round, and a finding whose wording changes (a namespace's
//! blockers, a reference's reason) is "changed", not "resolved" and "found" again.
//!
//! Pure: keys and texts in, changes out.

use std::collections::BTreeMap;

use crate::findings::Report;
use crate::render;

/// One difference between the previous round and this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Appeared(String),
    /// The same key, new text.
    Changed(String),
    /// The key is gone; the text it last had.
    Cleared(String),
}

/// Remembers the last round's entries (key → text).
#[derive(Debug, Default)]
pub struct ChangeTracker {
    last: BTreeMap<String, String>,
}

impl ChangeTracker {
    /// Records this round's entries and returns what differs from the previous round, in key order.
    pub fn update(&mut self, now: BTreeMap<String, String>) -> Vec<Change> {
        let mut changes = Vec::new();
        for (key, text) in &now {
            match self.last.get(key) {
                None => changes.push(Change::Appeared(text.clone())),
                Some(old) if old != text => changes.push(Change::Changed(text.clone())),
                Some(_) => {}
            }
        }
        for (key, text) in &self.last {
            if !now.contains_key(key) {
                changes.push(Change::Cleared(text.clone()));
            }
        }
        self.last = now;
        changes
    }
}

/// Every finding a report shows, by stable identity, with a one-line description.
pub fn finding_entries(report: &Report) -> BTreeMap<String, String> {
    let namespaces = report.stuck_namespaces.iter().map(|n| {
        let text = format!(
            "namespace {} stuck ({}): {}",
            n.namespace,
            n.reason.map_or("Unknown", |r| r.as_str()),
            render::namespace_summary(n)
        );
        (n.key(), text)
    });
    let references = report.owner_reference_problems.iter().map(|p| {
        let text = format!(
            "{} {}/{}: {} {} — {}",
            p.reason.as_str(),
            p.dependent.namespace,
            p.dependent.name,
            p.dependent.qualified_resource(),
            render::reference_summary(p),
            p.fix
        );
        (p.key(), text)
    });
    let objects = report.stuck_objects.iter().map(|o| {
        let id = &o.object.object;
        let text = format!(
            "stuck object {}/{} {} waiting on {}",
            id.namespace,
            id.name,
            id.qualified_resource(),
            o.object.finalizers.join(",")
        );
        (o.key(), text)
    });
    namespaces.chain(references).chain(objects).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn one_change_per_real_difference() {
        let mut t = ChangeTracker::default();
        assert_eq!(
            t.update(entries(&[("ns-uid", "stuck: 2 modeladapters")])),
            vec![Change::Appeared("stuck: 2 modeladapters".into())]
        );
        // Same round again: nothing to say.
        assert!(t.update(entries(&[("ns-uid", "stuck: 2 modeladapters")])).is_empty());
        // Its blockers change: the same finding, changed (not resolved + found).
        assert_eq!(
            t.update(entries(&[("ns-uid", "stuck: 1 modeladapter")])),
            vec![Change::Changed("stuck: 1 modeladapter".into())]
        );
        assert_eq!(
            t.update(BTreeMap::new()),
            vec![Change::Cleared("stuck: 1 modeladapter".into())]
        );
    }

    #[test]
    fn a_namespace_is_one_finding_while_its_blockers_change() {
        let ns = |blockers: Vec<crate::findings::Blocker>| crate::findings::TerminatingNamespace {
            namespace: "aibrix-system".into(),
            uid: "u-1".into(),
            resource_version: "1".into(),
            deletion_timestamp: "2026-01-01T00:00:00Z".into(),
            terminating_seconds: 10_000.0,
            stuck: true,
            reason: Some(crate::findings::StuckReason::FinalizersRemaining),
            reasons: vec![],
            spec_finalizers: vec!["kubernetes".into()],
            metadata_finalizers: vec![],
            conditions: vec![],
            blockers,
            failing_group_versions: vec![],
            unavailable_api_services: vec![],
            unlisted_resources: vec![],
        };
        let blocker = |count| crate::findings::Blocker {
            group: "model.aibrix.ai".into(),
            resource: "modeladapters".into(),
            finalizer: "adapter.model.aibrix.ai/finalizer".into(),
            count,
            objects: vec![],
        };
        let report = |n| Report {
            generated_at: String::new(),
            complete: true,
            scanners: vec![],
            discovery_failures: vec![],
            owner_reference_problems: vec![],
            unresolved_references: vec![],
            stuck_namespaces: vec![n],
            terminating_namespaces: vec![],
            stuck_objects: vec![],
            scan_issues: vec![],
        };
        let mut t = ChangeTracker::default();
        t.update(finding_entries(&report(ns(vec![blocker(2)]))));
        let changes = t.update(finding_entries(&report(ns(vec![blocker(1)]))));
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(matches!(&changes[0], Change::Changed(text) if text.contains("aibrix-system")));
    }
}
