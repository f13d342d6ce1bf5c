//! Runs every scanner on the interval: one discovery per round, then each scanner, recording
//! scan metrics and publishing findings to the store and the finding metrics.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tracing::Instrument;

use crate::findings::Report;
use crate::kubeapi::ClusterApi;
use crate::metrics::Metrics;
use crate::scanners::{ScanContext, Scanner};
use crate::store::{FindingsStore, ScanOutcome};

/// Everything a round of scans needs.
#[derive(Clone)]
pub struct Auditor {
    pub api: ClusterApi,
    pub scanners: Vec<Arc<dyn Scanner>>,
    pub store: Arc<FindingsStore>,
    pub metrics: Arc<Metrics>,
}

impl Auditor {
    pub fn new(api: ClusterApi, scanners: Vec<Arc<dyn Scanner>>, metrics: Arc<Metrics>) -> Self {
        let store = Arc::new(FindingsStore::new(scanners.iter().map(|s| s.name())));
        Self {
            api,
            scanners,
            store,
            metrics,
        }
    }

    /// One round: discovery, then every scanner (concurrently), then publication.
    pub async fn scan_once(&self) -> Report {
        let discovery = Arc::new(self.api.discover().instrument(tracing::info_span!("discovery")).await);
        for f in discovery.failures() {
            tracing::warn!(group_version = %f.group_version, error = %f.error, "API discovery failed");
        }
        let discovery_failures = discovery.failures().to_vec();
        let ctx = ScanContext {
            api: self.api.clone(),
            discovery,
            now: Timestamp::now(),
        };
        let runs = self.scanners.iter().map(|scanner| {
            let ctx = ctx.clone();
            let span = tracing::info_span!("scan", scanner = scanner.name());
            async move {
                let started = tokio::time::Instant::now();
                let result = scanner.scan(&ctx).await;
                let took = started.elapsed();
                self.metrics.observe_scan(scanner.name(), took, result.is_ok());
                match result {
                    Ok(findings) => {
                        tracing::info!(
                            took_ms = took.as_millis() as u64,
                            owner_reference_problems = findings.owner_reference_problems.len(),
                            terminating_namespaces = findings.terminating_namespaces.len(),
                            issues = findings.issues.len(),
                            "scan finished"
                        );
                        for issue in &findings.issues {
                            tracing::warn!(%issue, "partial data");
                        }
                        (scanner.name().to_string(), ScanOutcome::Success(findings))
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "scan failed; keeping previous findings as stale");
                        (
                            scanner.name().to_string(),
                            ScanOutcome::Failure {
                                error: e.to_string(),
                                kind: e.kind(),
                            },
                        )
                    }
                }
            }
            .instrument(span)
        });
        let outcomes = futures::future::join_all(runs).await;
        self.store.commit_round(discovery_failures, outcomes, Timestamp::now());
        let report = self.store.report(Timestamp::now());
        self.metrics.publish(&self.store, &report);
        report
    }

    /// Scans for ever, every `interval` plus up to 10 % jitter. Cancel by dropping the future.
    pub async fn run(&self, interval: Duration, mut on_report: impl FnMut(&Report)) {
        loop {
            let report = self.scan_once().await;
            on_report(&report);
            tokio::time::sleep(with_jitter(interval)).await;
        }
    }
}

/// `interval` plus 0–10 %, so that many replicas do not hit the API server in lockstep.
fn with_jitter(interval: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded randomly per instance: enough randomness for jitter, no extra crate.
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    interval + interval.mul_f64((random % 1000) as f64 / 10_000.0)
}
