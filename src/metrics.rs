//! Prometheus metrics. Scan-health metrics are updated as scans run; finding metrics are
//! recomputed from the findings store after every scan (reset, then set), so the series of a fixed
//! problem disappear. Publication and scraping share one lock, so a scrape never sees a half-built set.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::findings::Report;
use crate::store::FindingsStore;

pub const PROBLEM_INFO: &str = "garbage_audit_owner_reference_problem_info";

/// Every metric the daemon exports (see docs/metrics.md).
pub struct Metrics {
    registry: Registry,
    publish_lock: Mutex<()>,
    max_object_series: usize,
    scan_duration: HistogramVec,
    round_duration: Histogram,
    discovery_duration: Histogram,
    scans: IntCounterVec,
    scan_errors: IntCounterVec,
    last_success: GaugeVec,
    findings_stale: IntGaugeVec,
    scan_incomplete: IntGaugeVec,
    discovery_failed: IntGaugeVec,
    object_series_dropped: IntGaugeVec,
    owner_problems: IntGaugeVec,
    owner_problem_info: IntGaugeVec,
    gc_blocked: IntGaugeVec,
    orphans: IntGaugeVec,
    ns_terminating: GaugeVec,
    ns_stuck: IntGaugeVec,
    ns_blocking: IntGaugeVec,
    namespaces_stuck: IntGauge,
    stuck_objects: IntGaugeVec,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

impl Metrics {
    pub fn new(max_object_series: usize) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let build_info = IntGaugeVec::new(
            opts(
                "garbage_audit_build_info",
                "Always 1; the build's version and compiler.",
            ),
            &["version", "rustc"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("GARBAGE_AUDIT_RUSTC")])
            .set(1);
        let max_series = IntGauge::new(
            "garbage_audit_max_object_series",
            "The --max-object-series cap on per-object series.",
        )?;
        max_series.set(i64::try_from(max_object_series).unwrap_or(i64::MAX));
        let buckets = vec![
            0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
        ];
        let m = Self {
            publish_lock: Mutex::new(()),
            max_object_series,
            scan_duration: HistogramVec::new(
                HistogramOpts::new(
                    "garbage_audit_scan_duration_seconds",
                    "Duration of each scan, successful or not.",
                )
                .buckets(buckets.clone()),
                &["scanner"],
            )?,
            round_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "garbage_audit_round_duration_seconds",
                    "Duration of each round: API discovery plus every scanner, successful or not.",
                )
                .buckets(buckets.clone()),
            )?,
            discovery_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "garbage_audit_discovery_duration_seconds",
                    "Duration of the API discovery that starts each round.",
                )
                .buckets(buckets.clone()),
            )?,
            scans: IntCounterVec::new(
                opts("garbage_audit_scans_total", "Scans run, by result (success or error)."),
                &["scanner", "result"],
            )?,
            scan_errors: IntCounterVec::new(
                opts("garbage_audit_scan_errors_total", "Scans that failed."),
                &["scanner"],
            )?,
            last_success: GaugeVec::new(
                opts(
                    "garbage_audit_last_successful_scan_timestamp_seconds",
                    "Unix time of the scanner's last successful scan.",
                ),
                &["scanner"],
            )?,
            findings_stale: IntGaugeVec::new(
                opts(
                    "garbage_audit_findings_stale",
                    "1 when some findings are from an earlier scan: the latest scan failed, or part of it was carried over.",
                ),
                &["scanner"],
            )?,
            scan_incomplete: IntGaugeVec::new(
                opts(
                    "garbage_audit_scan_incomplete",
                    "1 when the last successful scan saw only part of the cluster.",
                ),
                &["scanner"],
            )?,
            discovery_failed: IntGaugeVec::new(
                opts(
                    "garbage_audit_discovery_failed",
                    "1 per API group/version whose discovery failed in the latest scan.",
                ),
                &["group_version"],
            )?,
            object_series_dropped: IntGaugeVec::new(
                opts(
                    "garbage_audit_object_series_dropped",
                    "Per-object series left out of a metric because of --max-object-series.",
                ),
                &["metric"],
            )?,
            owner_problems: IntGaugeVec::new(
                opts(
                    "garbage_audit_owner_reference_problems",
                    "Owner-reference and scale-target problems by dependent resource and reason.",
                ),
                &["resource", "reason"],
            )?,
            owner_problem_info: IntGaugeVec::new(
                opts(
                    PROBLEM_INFO,
                    "1 per owner-reference or scale-target problem, naming the object and the reference at fault.",
                ),
                &[
                    "namespace",
                    "resource",
                    "name",
                    "owner_api_version",
                    "owner_kind",
                    "reason",
                    "suggested_kind",
                ],
            )?,
            gc_blocked: IntGaugeVec::new(
                opts(
                    "garbage_audit_gc_blocked_objects",
                    "Objects the garbage collector will never delete by itself.",
                ),
                &["resource", "reason"],
            )?,
            orphans: IntGaugeVec::new(
                opts(
                    "garbage_audit_uncollectable_orphans",
                    "GC-blocked objects none of whose owners exist any more.",
                ),
                &["resource"],
            )?,
            ns_terminating: GaugeVec::new(
                opts(
                    "garbage_audit_namespace_terminating_seconds",
                    "Seconds since a Terminating namespace's deletionTimestamp.",
                ),
                &["namespace"],
            )?,
            ns_stuck: IntGaugeVec::new(
                opts(
                    "garbage_audit_namespace_stuck",
                    "1 per namespace Terminating longer than --stuck-after, by primary reason.",
                ),
                &["namespace", "reason"],
            )?,
            ns_blocking: IntGaugeVec::new(
                opts(
                    "garbage_audit_namespace_blocking_objects",
                    "Objects left in a stuck namespace, by resource and finalizer.",
                ),
                &["namespace", "group", "resource", "finalizer"],
            )?,
            namespaces_stuck: IntGauge::new("garbage_audit_namespaces_stuck", "Number of stuck namespaces.")?,
            stuck_objects: IntGaugeVec::new(
                opts(
                    "garbage_audit_stuck_objects",
                    "Objects deleted longer than --stuck-after ago still waiting on a finalizer.",
                ),
                &["group", "resource", "finalizer"],
            )?,
            registry,
        };
        let r = &m.registry;
        r.register(Box::new(build_info))?;
        // process_resident_memory_bytes, process_cpu_seconds_total, process_open_fds,
        // process_start_time_seconds, ...: what the memory sizing advice is about.
        #[cfg(target_os = "linux")]
        r.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        r.register(Box::new(max_series))?;
        r.register(Box::new(m.scan_duration.clone()))?;
        r.register(Box::new(m.round_duration.clone()))?;
        r.register(Box::new(m.discovery_duration.clone()))?;
        r.register(Box::new(m.scans.clone()))?;
        r.register(Box::new(m.scan_errors.clone()))?;
        r.register(Box::new(m.last_success.clone()))?;
        r.register(Box::new(m.findings_stale.clone()))?;
        r.register(Box::new(m.scan_incomplete.clone()))?;
        r.register(Box::new(m.discovery_failed.clone()))?;
        r.register(Box::new(m.object_series_dropped.clone()))?;
        r.register(Box::new(m.owner_problems.clone()))?;
        r.register(Box::new(m.owner_problem_info.clone()))?;
        r.register(Box::new(m.gc_blocked.clone()))?;
        r.register(Box::new(m.orphans.clone()))?;
        r.register(Box::new(m.ns_terminating.clone()))?;
        r.register(Box::new(m.ns_stuck.clone()))?;
        r.register(Box::new(m.ns_blocking.clone()))?;
        r.register(Box::new(m.namespaces_stuck.clone()))?;
        r.register(Box::new(m.stuck_objects.clone()))?;
        for scanner in [
            crate::scanners::owner_references::NAME,
            crate::scanners::namespaces::NAME,
        ] {
            for result in ["success", "error"] {
                m.scans.with_label_values(&[scanner, result]);
            }
            m.scan_errors.with_label_values(&[scanner]);
        }
        Ok(m)
    }

    /// Records one finished round: discovery plus every scanner, and discovery alone.
    pub fn observe_round(&self, took: Duration, discovery: Duration) {
        self.round_duration.observe(took.as_secs_f64());
        self.discovery_duration.observe(discovery.as_secs_f64());
    }

    /// Records one finished scan.
    pub fn observe_scan(&self, scanner: &str, took: Duration, ok: bool) {
        self.scan_duration
            .with_label_values(&[scanner])
            .observe(took.as_secs_f64());
        self.scans
            .with_label_values(&[scanner, if ok { "success" } else { "error" }])
            .inc();
        if !ok {
            self.scan_errors.with_label_values(&[scanner]).inc();
        }
    }

    /// Recomputes every finding series from the store.
    pub fn publish(&self, store: &FindingsStore, report: &Report) {
        let _guard = self
            .publish_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (name, last_success, stale, incomplete) in store.health() {
            if let Some(t) = last_success {
                self.last_success
                    .with_label_values(&[&name])
                    .set(t.as_millisecond() as f64 / 1000.0);
            }
            self.findings_stale.with_label_values(&[&name]).set(i64::from(stale));
            // About the last successful scan: absent until there is one.
            if last_success.is_some() {
                self.scan_incomplete
                    .with_label_values(&[&name])
                    .set(i64::from(incomplete));
            } else {
                let _ = self.scan_incomplete.remove_label_values(&[&name]);
            }
        }
        for vec in [
            &self.discovery_failed,
            &self.object_series_dropped,
            &self.owner_problems,
            &self.owner_problem_info,
            &self.gc_blocked,
            &self.orphans,
            &self.ns_stuck,
            &self.ns_blocking,
            &self.stuck_objects,
        ] {
            vec.reset();
        }
        self.ns_terminating.reset();

        for f in &report.discovery_failures {
            self.discovery_failed.with_label_values(&[&f.group_version]).set(1);
        }
        self.publish_owner_problems(report);
        self.publish_namespaces(report);
    }

    fn publish_owner_problems(&self, report: &Report) {
        let mut dropped = 0i64;
        let mut blocked: BTreeMap<(String, &str), BTreeSet<&str>> = BTreeMap::new();
        let mut orphans: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        let mut blocked_seen = BTreeSet::new();
        for (i, p) in report.owner_reference_problems.iter().enumerate() {
            let resource = p.dependent.qualified_resource();
            self.owner_problems
                .with_label_values(&[&resource, p.reason.as_str()])
                .inc();
            if i < self.max_object_series {
                self.owner_problem_info
                    .with_label_values(&[
                        &p.dependent.namespace,
                        &resource,
                        &p.dependent.name,
                        &p.reference.api_version,
                        &p.reference.kind,
                        p.reason.as_str(),
                        p.suggested_kind.as_deref().unwrap_or_default(),
                    ])
                    .set(1);
            } else {
                dropped += 1;
            }
            // An object counts once, under the reason of its first blocking reference.
            if p.gc_blocked
                && p.reference.field == crate::findings::ReferenceField::OwnerReference
                && blocked_seen.insert(p.dependent.uid.as_str())
            {
                blocked
                    .entry((resource.clone(), p.reason.as_str()))
                    .or_default()
                    .insert(&p.dependent.uid);
                if p.orphan {
                    orphans.entry(resource).or_default().insert(&p.dependent.uid);
                }
            }
        }
        for ((resource, reason), uids) in blocked {
            self.gc_blocked
                .with_label_values(&[&resource, reason])
                .set(uids.len() as i64);
        }
        for (resource, uids) in orphans {
            self.orphans.with_label_values(&[&resource]).set(uids.len() as i64);
        }
        self.object_series_dropped
            .with_label_values(&[PROBLEM_INFO])
            .set(dropped);
    }

    fn publish_namespaces(&self, report: &Report) {
        for ns in report.stuck_namespaces.iter().chain(&report.terminating_namespaces) {
            self.ns_terminating
                .with_label_values(&[&ns.namespace])
                .set(ns.terminating_seconds);
        }
        for ns in &report.stuck_namespaces {
            let reason = ns.reason.map_or("Unknown", |r| r.as_str());
            self.ns_stuck.with_label_values(&[&ns.namespace, reason]).set(1);
            for b in &ns.blockers {
                self.ns_blocking
                    .with_label_values(&[&ns.namespace, &b.group, &b.resource, &b.finalizer])
                    .set(b.count as i64);
            }
        }
        self.namespaces_stuck.set(report.stuck_namespaces.len() as i64);
        for o in &report.stuck_objects {
            for f in &o.object.finalizers {
                self.stuck_objects
                    .with_label_values(&[&o.object.object.group, &o.object.object.resource, f])
                    .inc();
            }
        }
    }

    /// The text exposition (format 0.0.4).
    /// The registry, for metrics registered elsewhere (the remediation queue's).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn render(&self) -> Result<String, prometheus::Error> {
        let _guard = self
            .publish_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::*;
    use jiff::Timestamp;

    fn problem(name: &str, reason: OwnerProblemReason, blocked: bool, orphan: bool) -> OwnerReferenceProblem {
        crate::findings::fixtures::hpa_problem(name, reason, blocked, orphan)
    }

    fn store_with(problems: Vec<OwnerReferenceProblem>) -> FindingsStore {
        let store = FindingsStore::new(["owner_references"]);
        store.record_success(
            "owner_references",
            ScannerFindings {
                owner_reference_problems: problems,
                ..Default::default()
            },
            Timestamp::now(),
        );
        store
    }

    #[test]
    fn finding_series_follow_the_store_and_respect_the_cap() {
        let m = Metrics::new(1).unwrap();
        let store = store_with(vec![
            problem("a", OwnerProblemReason::KindCaseMismatch, true, false),
            problem("b", OwnerProblemReason::KindCaseMismatch, true, true),
        ]);
        m.publish(&store, &store.report(Timestamp::now()));
        let text = m.render().unwrap();
        assert!(text.contains(r#"garbage_audit_owner_reference_problems{reason="KindCaseMismatch",resource="horizontalpodautoscalers.autoscaling"} 2"#), "{text}");
        assert_eq!(
            text.matches("garbage_audit_owner_reference_problem_info{").count(),
            1,
            "capped at 1"
        );
        assert!(text
            .contains(r#"garbage_audit_object_series_dropped{metric="garbage_audit_owner_reference_problem_info"} 1"#));
        assert!(text.contains(r#"garbage_audit_gc_blocked_objects{reason="KindCaseMismatch",resource="horizontalpodautoscalers.autoscaling"} 2"#));
        assert!(
            text.contains(r#"garbage_audit_uncollectable_orphans{resource="horizontalpodautoscalers.autoscaling"} 1"#)
        );
        assert!(text.contains("garbage_audit_build_info{"));

        let fixed = store_with(vec![]);
        m.publish(&fixed, &fixed.report(Timestamp::now()));
        let text = m.render().unwrap();
        assert!(
            !text.contains("garbage_audit_owner_reference_problem_info{"),
            "fixed problems lose their series"
        );
        assert!(!text.contains("garbage_audit_owner_reference_problems{"));
    }

    #[test]
    fn a_scanner_that_never_succeeded_exports_failure_signals_only() {
        let m = Metrics::new(10).unwrap();
        let store = FindingsStore::new(["namespaces"]);
        let failed = || crate::store::ScanOutcome::Failure {
            error: "cannot reach the API server".into(),
            kind: ErrorKind::Cluster,
        };
        store.commit_round(vec![], vec![("namespaces".into(), failed())], Timestamp::now());
        m.publish(&store, &store.report(Timestamp::now()));
        let text = m.render().unwrap();
        assert!(
            text.contains(r#"garbage_audit_findings_stale{scanner="namespaces"} 1"#),
            "{text}"
        );
        assert!(!text.contains("garbage_audit_scan_incomplete{"), "{text}");
        assert!(
            !text.contains("garbage_audit_last_successful_scan_timestamp_seconds{"),
            "{text}"
        );
        // Once a scan succeeds, "incomplete" describes it; a later failure leaves it unchanged.
        let partial = ScannerFindings {
            issues: vec!["could not list x".into()],
            ..Default::default()
        };
        let ok = crate::store::ScanOutcome::Success(partial);
        store.commit_round(vec![], vec![("namespaces".into(), ok)], Timestamp::now());
        m.publish(&store, &store.report(Timestamp::now()));
        assert!(m
            .render()
            .unwrap()
            .contains(r#"garbage_audit_scan_incomplete{scanner="namespaces"} 1"#));
        store.commit_round(vec![], vec![("namespaces".into(), failed())], Timestamp::now());
        m.publish(&store, &store.report(Timestamp::now()));
        assert!(m
            .render()
            .unwrap()
            .contains(r#"garbage_audit_scan_incomplete{scanner="namespaces"} 1"#));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_metrics_are_exported() {
        let text = Metrics::new(1).unwrap().render().unwrap();
        for name in [
            "process_resident_memory_bytes ",
            "process_cpu_seconds_total ",
            "process_open_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(text.contains(name), "{name} missing");
        }
    }
}
