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
    /// The latest scan failed; `findings` are from an earlier one.
    stale: bool,
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
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set_discovery_failures(&self, failures: Vec<DiscoveryFailure>) {
        self.write().discovery_failures = failures;
    }

    pub fn record_success(&self, scanner: &str, findings: ScannerFindings, at: Timestamp) {
        let mut inner = self.write();
        let state = inner.scanners.entry(scanner.to_string()).or_default();
        *state = ScannerState {
            findings: Some(findings),
            last_success: Some(at),
            last_error: None,
            stale: false,
        };
    }

    /// Keeps the previous findings and marks them stale: a failed scan never reads as "all clear".
    pub fn record_failure(&self, scanner: &str, error: String) {
        let mut inner = self.write();
        let state = inner.scanners.entry(scanner.to_string()).or_default();
        state.last_error = Some(error);
        state.stale = true;
    }

    /// True once every scanner has completed at least one scan.
    pub fn ready(&self) -> bool {
        self.read().scanners.values().all(|s| s.last_success.is_some())
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
            let incomplete = state
                .findings
                .as_ref()
                .is_some_and(|f| !f.issues.is_empty() || !f.unresolved_references.is_empty());
            report.complete &= state.last_success.is_some() && !state.stale && !incomplete;
            report.scanners.push(ScannerStatus {
                name: name.clone(),
                last_success: state.last_success.map(|t| t.to_string()),
                stale: state.stale,
                incomplete,
                last_error: state.last_error.clone(),
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
        report
    }

    /// Per-scanner health for the metrics: (name, last success, stale, incomplete).
    pub fn health(&self) -> Vec<(String, Option<Timestamp>, bool, bool)> {
        self.read()
            .scanners
            .iter()
            .map(|(name, s)| {
                let incomplete = s
                    .findings
                    .as_ref()
                    .is_some_and(|f| !f.issues.is_empty() || !f.unresolved_references.is_empty());
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
                conditions: vec![],
                blockers: vec![],
                failing_group_versions: vec![],
                unavailable_api_services: vec![],
                unlisted_resources: vec![],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn ready_only_after_every_scanner_succeeded_once() {
        let store = FindingsStore::new(["a", "b"]);
        assert!(!store.ready());
        store.record_success("a", ScannerFindings::default(), Timestamp::now());
        assert!(!store.ready());
        store.record_failure("b", "boom".into());
        assert!(!store.ready());
        store.record_success("b", ScannerFindings::default(), Timestamp::now());
        assert!(store.ready());
    }

    #[test]
    fn a_failed_scan_keeps_findings_and_marks_them_stale() {
        let store = FindingsStore::new(["namespaces"]);
        store.record_success("namespaces", stuck_ns(), Timestamp::now());
        store.record_failure("namespaces", "connection refused".into());
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
