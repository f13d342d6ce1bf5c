//! The findings store: the latest findings of every scanner, and whether they are fresh.
//! The scheduler writes it; `/findings`, `/readyz`, `scan` and the metrics read it.

use std::collections::BTreeMap;
use std::sync::RwLock;

use jiff::Timestamp;

use crate::discovery::DiscoveryFailure;
use crate::findings::{Report, ScanIssue, ScannerFindings, ScannerStatus};

#[derive(Debug, Clone, Default)]
struct ScannerState {
    findings: Option<ScannerFindings>,
    last_success: Option<Timestamp>,
    last_error: Option<String>,
    last_error_kind: Option<crate::findings::ErrorKind>,
    /// The latest scan failed; `findings` are from an earlier one.
    stale: bool,
}

impl ScannerState {
    /// A successful scan replaces the findings, except where it could not look: those parts are
    /// carried over from the previous scan and the whole is marked stale.
    fn record_success(&mut self, mut findings: ScannerFindings, at: Timestamp) {
        let carried = self
            .findings
            .as_ref()
            .is_some_and(|previous| carry_over(previous, &mut findings));
        *self = ScannerState {
            findings: Some(findings),
            last_success: Some(at),
            last_error: None,
            last_error_kind: None,
            stale: carried,
        };
    }

    /// Keeps the previous findings and marks them stale: a failed scan never reads as "all clear".
    fn record_failure(&mut self, error: String, kind: crate::findings::ErrorKind) {
        self.last_error = Some(error);
        self.last_error_kind = Some(kind);
        self.stale = true;
    }

    fn incomplete(&self, discovery_failed: bool) -> bool {
        discovery_failed
            || self
                .findings
                .as_ref()
                .is_some_and(|f| !f.issues.is_empty() || !f.unresolved_references.is_empty())
    }
}

/// What one scanner's scan produced.
#[derive(Debug)]
pub enum ScanOutcome {
    Success(ScannerFindings),
    Failure {
        error: String,
        kind: crate::findings::ErrorKind,
    },
}

/// Carries findings the current scan could not re-check (their resource could not be listed,
/// their object could not be read, or their reference could not be judged) over from the previous
/// scan. Returns whether anything was carried. Pure.
pub fn carry_over(previous: &ScannerFindings, current: &mut ScannerFindings) -> bool {
    let mut carried = false;
    let failed = |resource: &str| current.failed_resources.iter().any(|f| f == resource);
    let unreadable_set: std::collections::HashSet<&crate::findings::UnreadableObject> =
        current.unreadable_objects.iter().collect();
    let unreadable = |resource: String, namespace: &str, name: &str| {
        unreadable_set.contains(&crate::findings::UnreadableObject {
            resource,
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    };
    // Most scans read every object: then no key is built.
    let unread = |o: &crate::findings::ObjectId| {
        !unreadable_set.is_empty() && unreadable(o.qualified_resource(), &o.namespace, &o.name)
    };
    // A reference is the same one only if it still says the same thing: a corrected kind is new.
    let reference_key = |uid: &str, r: &crate::findings::ReferenceAsWritten| {
        (
            uid.to_string(),
            r.field,
            r.index,
            r.api_version.clone(),
            r.kind.clone(),
            r.name.clone(),
            r.uid.clone(),
        )
    };
    let unjudged: std::collections::HashSet<_> = current
        .unresolved_references
        .iter()
        .map(|u| reference_key(&u.dependent.uid, &u.reference))
        .collect();
    let present: std::collections::HashSet<_> = current
        .owner_reference_problems
        .iter()
        .map(|p| reference_key(&p.dependent.uid, &p.reference))
        .collect();
    let old_problems: Vec<_> = previous
        .owner_reference_problems
        .iter()
        .filter(|p| {
            let key = reference_key(&p.dependent.uid, &p.reference);
            (failed(&p.dependent.qualified_resource()) || unjudged.contains(&key) || unread(&p.dependent))
                && !present.contains(&key)
        })
        .cloned()
        .collect();
    carried |= !old_problems.is_empty();
    current.owner_reference_problems.extend(old_problems);

    // A namespace whose object could not be read this time keeps what was found about it.
    let old_namespaces: Vec<_> = previous
        .terminating_namespaces
        .iter()
        .filter(|o| {
            !unreadable_set.is_empty()
                && unreadable("namespaces".into(), "", &o.namespace)
                && !current
                    .terminating_namespaces
                    .iter()
                    .any(|n| n.namespace == o.namespace)
        })
        .cloned()
        .collect();
    carried |= !old_namespaces.is_empty();
    current.terminating_namespaces.extend(old_namespaces);

    for ns in current
        .terminating_namespaces
        .iter_mut()
        .filter(|n| n.stuck && !n.unlisted_resources.is_empty())
    {
        let Some(old) = previous
            .terminating_namespaces
            .iter()
            .find(|o| o.uid == ns.uid && o.stuck)
        else {
            continue;
        };
        let mut carried_blockers = false;
        for b in &old.blockers {
            let resource = crate::discovery::qualified_resource(&b.resource, &b.group);
            let already = ns
                .blockers
                .iter()
                .any(|n| n.group == b.group && n.resource == b.resource && n.finalizer == b.finalizer);
            if ns.unlisted_resources.contains(&resource) && !already {
                ns.blockers.push(b.clone());
                carried_blockers = true;
            }
        }
        // The old cause is only worth keeping when what it was based on was carried too.
        let old_cause_known = old.reason.is_some_and(|r| r != crate::findings::StuckReason::Unknown);
        if carried_blockers && ns.reason == Some(crate::findings::StuckReason::Unknown) && old_cause_known {
            ns.reason = old.reason;
            ns.reasons = old.reasons.clone();
        }
        carried |= carried_blockers;
    }

    let seen: std::collections::HashSet<String> = current
        .stuck_objects
        .iter()
        .map(|o| o.object.object.uid.clone())
        .collect();
    let old_objects: Vec<_> = previous
        .stuck_objects
        .iter()
        .filter(|o| {
            let object = &o.object.object;
            (failed(&object.qualified_resource()) || unread(object)) && !seen.contains(&object.uid)
        })
        .cloned()
        .collect();
    carried |= !old_objects.is_empty();
    current.stuck_objects.extend(old_objects);
    carried
}

#[derive(Debug, Default)]
struct Inner {
    scanners: BTreeMap<String, ScannerState>,
    discovery_failures: Vec<DiscoveryFailure>,
}

/// Shared between the scheduler (writer) and every reader.
#[derive(Debug, Default)]
pub struct FindingsStore {
    inner: RwLock<Inner>,
    /// The `/findings` document of the latest round, serialised once per round (not per request).
    published: RwLock<Option<std::sync::Arc<Vec<u8>>>>,
}

impl FindingsStore {
    /// A store expecting results from these scanners.
    pub fn new<'a>(scanners: impl IntoIterator<Item = &'a str>) -> Self {
        let inner = Inner {
            scanners: scanners
                .into_iter()
                .map(|s| (s.to_string(), ScannerState::default()))
                .collect(),
            discovery_failures: Vec::new(),
        };
        Self {
            inner: RwLock::new(inner),
            published: RwLock::new(None),
        }
    }

    /// Keeps the serialised report of the round just committed, for `/findings`.
    pub fn publish_document(&self, document: Vec<u8>) {
        *self
            .published
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(std::sync::Arc::new(document));
    }

    /// The latest round's `/findings` document; `None` before the first round.
    pub fn published_document(&self) -> Option<std::sync::Arc<Vec<u8>>> {
        self.published
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Publishes one round at once: its discovery failures and every scanner's outcome, so that
    /// readers never see two rounds mixed.
    pub fn commit_round(
        &self,
        discovery_failures: Vec<DiscoveryFailure>,
        outcomes: Vec<(String, ScanOutcome)>,
        at: Timestamp,
    ) {
        let mut inner = self.write();
        inner.discovery_failures = discovery_failures;
        for (scanner, outcome) in outcomes {
            let state = inner.scanners.entry(scanner).or_default();
            match outcome {
                ScanOutcome::Success(findings) => state.record_success(findings, at),
                ScanOutcome::Failure { error, kind } => state.record_failure(error, kind),
            }
        }
    }

    pub fn record_success(&self, scanner: &str, findings: ScannerFindings, at: Timestamp) {
        self.write()
            .scanners
            .entry(scanner.to_string())
            .or_default()
            .record_success(findings, at);
    }

    pub fn record_failure(&self, scanner: &str, error: String, kind: crate::findings::ErrorKind) {
        self.write()
            .scanners
            .entry(scanner.to_string())
            .or_default()
            .record_failure(error, kind);
    }

    /// True once every scanner has completed at least one scan.
    pub fn ready(&self) -> bool {
        self.read().scanners.values().all(|s| s.last_success.is_some())
    }

    /// Why the daemon is not ready yet: one line per scanner without a successful scan, with its
    /// latest error when it has one. Empty when ready.
    pub fn not_ready_reasons(&self) -> Vec<String> {
        self.read()
            .scanners
            .iter()
            .filter(|(_, s)| s.last_success.is_none())
            .map(|(name, s)| match &s.last_error {
                Some(e) => format!("scanner {name} failed: {e}"),
                None => format!("scanner {name}: waiting for its first scan"),
            })
            .collect()
    }

    /// True when the scanner has completed a scan at least once.
    pub fn has_succeeded(&self, scanner: &str) -> bool {
        self.read()
            .scanners
            .get(scanner)
            .is_some_and(|s| s.last_success.is_some())
    }

    /// The discovery failures of the last round that reached the API server.
    pub fn discovery_failures(&self) -> Vec<DiscoveryFailure> {
        self.read().discovery_failures.clone()
    }

    /// The published report, assembled from every scanner's latest findings.
    pub fn report(&self, now: Timestamp) -> Report {
        let inner = self.read();
        let mut report = Report {
            generated_at: now.to_string(),
            complete: inner.discovery_failures.is_empty(),
            scanners: Vec::new(),
            discovery_failures: inner.discovery_failures.clone(),
            owner_reference_problems: Vec::new(),
            unresolved_references: Vec::new(),
            stuck_namespaces: Vec::new(),
            terminating_namespaces: Vec::new(),
            stuck_objects: Vec::new(),
            scan_issues: Vec::new(),
        };
        for (name, state) in &inner.scanners {
            let incomplete = state.last_success.is_some() && state.incomplete(!inner.discovery_failures.is_empty());
            report.complete &= state.last_success.is_some() && !state.stale && !incomplete;
            report.scanners.push(ScannerStatus {
                name: name.clone(),
                last_success: state.last_success.map(|t| t.to_string()),
                stale: state.stale,
                incomplete,
                last_error: state.last_error.clone(),
                last_error_kind: state.last_error_kind,
            });
            if let Some(err) = &state.last_error {
                report.scan_issues.push(ScanIssue {
                    scanner: name.clone(),
                    message: format!("latest scan failed: {err}"),
                });
            }
            let Some(f) = &state.findings else { continue };
            report
                .owner_reference_problems
                .extend(f.owner_reference_problems.iter().cloned());
            report
                .unresolved_references
                .extend(f.unresolved_references.iter().cloned());
            for ns in &f.terminating_namespaces {
                if ns.stuck {
                    report.stuck_namespaces.push(ns.clone());
                } else {
                    report.terminating_namespaces.push(ns.clone());
                }
            }
            report.stuck_objects.extend(f.stuck_objects.iter().cloned());
            report.scan_issues.extend(f.issues.iter().map(|m| ScanIssue {
                scanner: name.clone(),
                message: m.clone(),
            }));
        }
        // A stable order, so that capped per-object series do not churn between scans.
        report.owner_reference_problems.sort_by(|a, b| {
            let key = |p: &crate::findings::OwnerReferenceProblem| {
                (
                    p.dependent.namespace.clone(),
                    p.dependent.qualified_resource(),
                    p.dependent.name.clone(),
                    p.reference.field,
                    p.reference.index,
                )
            };
            key(a).cmp(&key(b))
        });
        report.stuck_namespaces.sort_by(|a, b| a.namespace.cmp(&b.namespace));
        report
            .terminating_namespaces
            .sort_by(|a, b| a.namespace.cmp(&b.namespace));
        report
    }

    /// Per-scanner health for the metrics: (name, last success, stale, incomplete). "Incomplete"
    /// describes the last successful scan, so it is `false` for a scanner that never succeeded.
    pub fn health(&self) -> Vec<(String, Option<Timestamp>, bool, bool)> {
        let inner = self.read();
        let discovery_failed = !inner.discovery_failures.is_empty();
        inner
            .scanners
            .iter()
            .map(|(name, s)| {
                let incomplete = s.last_success.is_some() && s.incomplete(discovery_failed);
                (name.clone(), s.last_success, s.stale, incomplete)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::TerminatingNamespace;

    fn stuck_ns() -> ScannerFindings {
        ScannerFindings {
            terminating_namespaces: vec![TerminatingNamespace {
                namespace: "a".into(),
                uid: "u".into(),
                resource_version: "1".into(),
                deletion_timestamp: "2026-01-01T00:00:00Z".into(),
                terminating_seconds: 100.0,
                stuck: true,
                reason: None,
                reasons: vec![],
                spec_finalizers: vec![],
                metadata_finalizers: vec![],
                conditions: vec![],
                blockers: vec![],
                failing_group_versions: vec![],
                unavailable_api_services: vec![],
                unlisted_resources: vec![],
            }],
            ..Default::default()
        }
    }

    fn hpa_problem(name: &str) -> crate::findings::OwnerReferenceProblem {
        crate::findings::fixtures::hpa_problem(name, crate::findings::OwnerProblemReason::KindCaseMismatch, true, false)
    }

    #[test]
    fn findings_of_an_unlistable_resource_are_carried_over_and_marked_stale() {
        let store = FindingsStore::new(["owner_references"]);
        let first = ScannerFindings {
            owner_reference_problems: vec![hpa_problem("a")],
            ..Default::default()
        };
        store.record_success("owner_references", first, Timestamp::now());
        // The HPA list failed this time: the problem is not re-checked, so it stays, stale.
        let partial = ScannerFindings {
            failed_resources: vec!["horizontalpodautoscalers.autoscaling".into()],
            issues: vec!["could not list".into()],
            ..Default::default()
        };
        store.record_success("owner_references", partial, Timestamp::now());
        let report = store.report(Timestamp::now());
        assert_eq!(report.owner_reference_problems.len(), 1);
        assert!(report.scanners[0].stale);
        // The list works again and the problem is fixed: it disappears and nothing is stale.
        store.record_success("owner_references", ScannerFindings::default(), Timestamp::now());
        let report = store.report(Timestamp::now());
        assert!(report.owner_reference_problems.is_empty());
        assert!(!report.scanners[0].stale);
    }

    #[test]
    fn blockers_of_unlistable_content_are_carried_over() {
        let mut old = stuck_ns();
        old.terminating_namespaces[0].reason = Some(crate::findings::StuckReason::FinalizersRemaining);
        old.terminating_namespaces[0].blockers = vec![crate::findings::Blocker {
            group: "model.aibrix.ai".into(),
            resource: "modeladapters".into(),
            finalizer: "adapter.model.aibrix.ai/finalizer".into(),
            count: 1,
            objects: vec![],
        }];
        let mut now = stuck_ns();
        now.terminating_namespaces[0].reason = Some(crate::findings::StuckReason::Unknown);
        now.terminating_namespaces[0].unlisted_resources = vec!["modeladapters.model.aibrix.ai".into()];
        assert!(carry_over(&old, &mut now));
        let ns = &now.terminating_namespaces[0];
        assert_eq!(ns.blockers.len(), 1);
        assert_eq!(ns.reason, Some(crate::findings::StuckReason::FinalizersRemaining));
        // The old cause is not kept when none of its blockers could be carried.
        let mut other = stuck_ns();
        other.terminating_namespaces[0].reason = Some(crate::findings::StuckReason::Unknown);
        other.terminating_namespaces[0].unlisted_resources = vec!["configmaps".into()];
        assert!(!carry_over(&old, &mut other));
        assert_eq!(
            other.terminating_namespaces[0].reason,
            Some(crate::findings::StuckReason::Unknown)
        );
        // Nothing to carry when everything was listed.
        let mut clean = stuck_ns();
        assert!(!carry_over(&old, &mut clean));
    }

    #[test]
    fn findings_of_an_unreadable_object_are_carried_over() {
        let problem = hpa_problem("h");
        let mut old = stuck_ns();
        old.owner_reference_problems = vec![problem.clone(), hpa_problem("other")];
        let unreadable = |resource: String, namespace: &str, name: &str| crate::findings::UnreadableObject {
            resource,
            namespace: namespace.into(),
            name: name.into(),
        };
        let d = &problem.dependent;
        let mut now = ScannerFindings {
            unreadable_objects: vec![
                unreadable("namespaces".into(), "", "a"),
                unreadable(d.qualified_resource(), &d.namespace, &d.name),
            ],
            ..Default::default()
        };
        assert!(carry_over(&old, &mut now));
        assert_eq!(now.terminating_namespaces, old.terminating_namespaces);
        // Only the unreadable dependent's problem: the other one was read and is gone.
        assert_eq!(now.owner_reference_problems, vec![problem.clone()]);
        // Another object unreadable (same name, other namespace): nothing is carried.
        let mut elsewhere = ScannerFindings {
            unreadable_objects: vec![unreadable(d.qualified_resource(), "elsewhere", &d.name)],
            ..Default::default()
        };
        assert!(!carry_over(&old, &mut elsewhere));
        assert!(elsewhere.owner_reference_problems.is_empty() && elsewhere.terminating_namespaces.is_empty());
    }

    #[test]
    fn ready_only_after_every_scanner_succeeded_once() {
        let store = FindingsStore::new(["a", "b"]);
        assert!(!store.ready());
        store.record_success("a", ScannerFindings::default(), Timestamp::now());
        assert!(!store.ready());
        store.record_failure("b", "boom".into(), crate::findings::ErrorKind::Cluster);
        assert!(!store.ready());
        store.record_success("b", ScannerFindings::default(), Timestamp::now());
        assert!(store.ready());
    }

    #[test]
    fn a_failed_scan_keeps_findings_and_marks_them_stale() {
        let store = FindingsStore::new(["namespaces"]);
        store.record_success("namespaces", stuck_ns(), Timestamp::now());
        store.record_failure(
            "namespaces",
            "connection refused".into(),
            crate::findings::ErrorKind::Cluster,
        );
        let report = store.report(Timestamp::now());
        assert_eq!(report.stuck_namespaces.len(), 1, "previous findings are kept");
        assert!(report.scanners[0].stale);
        assert!(!report.complete);
        assert!(report.scan_issues[0].message.contains("connection refused"));
        store.record_success("namespaces", ScannerFindings::default(), Timestamp::now());
        let report = store.report(Timestamp::now());
        assert!(
            report.stuck_namespaces.is_empty(),
            "fixed problems disappear on the next good scan"
        );
        assert!(report.complete);
    }
}
