//! Runs every scanner on the interval: one discovery per round, then each scanner, recording
//! scan metrics and publishing findings to the store and the finding metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::changes::{Change, ChangeTracker};
use crate::discovery::DiscoverySnapshot;
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
    /// A one-shot run (`scan`): its caller prints scan errors, so they are not logged as well.
    pub one_shot: bool,
    /// The opt-in remediation queue, run after each round (`None` with `--remediation off`).
    pub remediator: Option<Arc<crate::remediation::runner::Remediator>>,
    log: Arc<Mutex<RoundLog>>,
}

/// What the previous rounds logged: each condition is logged once when it appears, changes or
/// clears, not once per round.
#[derive(Default)]
struct RoundLog {
    errors: ChangeTracker,
    discovery: ChangeTracker,
    issues: ChangeTracker,
    summary: ChangeTracker,
}

impl Auditor {
    pub fn new(api: ClusterApi, scanners: Vec<Arc<dyn Scanner>>, metrics: Arc<Metrics>) -> Self {
        let store = Arc::new(FindingsStore::new(scanners.iter().map(|s| s.name())));
        Self {
            api,
            scanners,
            store,
            metrics,
            one_shot: false,
            remediator: None,
            log: Arc::default(),
        }
    }

    /// One round: discovery, then every scanner (concurrently), then publication.
    pub async fn scan_once(&self) -> Report {
        let round_started = tokio::time::Instant::now();
        let discovery = Arc::new(self.api.discover().instrument(tracing::info_span!("discovery")).await);
        let discovery_took = round_started.elapsed();
        // A round that never reached the server learnt nothing about the cluster's discovery: keep
        // what the last round that reached it saw (the scanners report the connection failure).
        let discovery_failures = match discovery.unreachable() {
            Some(_) => self.store.discovery_failures(),
            None => discovery.failures().to_vec(),
        };
        let ctx = ScanContext {
            api: self.api.clone(),
            discovery: discovery.clone(),
            now: Timestamp::now(),
            lists: Arc::new(
                crate::readmodel::RoundLists::new(self.api.clone())
                    .with_declarations(self.scanners.iter().filter(|s| s.declares_lists()).count()),
            ),
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
                        tracing::debug!(
                            took_ms = took.as_millis() as u64,
                            owner_reference_problems = findings.owner_reference_problems.len(),
                            terminating_namespaces = findings.terminating_namespaces.len(),
                            issues = findings.issues.len(),
                            "scan finished"
                        );
                        (scanner.name().to_string(), ScanOutcome::Success(findings))
                    }
                    Err(e) => (
                        scanner.name().to_string(),
                        ScanOutcome::Failure {
                            error: e.to_string(),
                            kind: e.kind(),
                        },
                    ),
                }
            }
            .instrument(span)
        });
        let outcomes = futures::future::join_all(runs).await;
        self.log_changes(&discovery, &outcomes);
        self.store.commit_round(discovery_failures, outcomes, Timestamp::now());
        let report = self.store.report(Timestamp::now());
        // `/findings` serves this document until the next round: built once, not per request.
        match report.to_json().and_then(|doc| serde_json::to_vec_pretty(&doc)) {
            Ok(doc) => self.store.publish_document(doc),
            Err(e) => tracing::error!(error = %e, "encoding the findings document failed"),
        }
        let took = round_started.elapsed();
        self.metrics.observe_round(took, discovery_took);
        self.metrics.publish(&self.store, &report);
        let summary = format!(
            "{} stuck namespace(s), {} owner-reference problem(s), {} stuck object(s), complete: {}",
            report.stuck_namespaces.len(),
            report.owner_reference_problems.len(),
            report.stuck_objects.len(),
            report.complete
        );
        let changed = !self
            .lock_log()
            .summary
            .update([(String::new(), summary.clone())].into())
            .is_empty();
        let (took_ms, discovery_ms) = (took.as_millis() as u64, discovery_took.as_millis() as u64);
        if changed && !self.one_shot {
            tracing::info!(took_ms, discovery_ms, %summary, "round finished");
        } else {
            tracing::debug!(took_ms, discovery_ms, %summary, "round finished");
        }
        report
    }

    fn lock_log(&self) -> std::sync::MutexGuard<'_, RoundLog> {
        self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Logs scan errors, discovery failures and partial-data issues when they appear, change or clear.
    fn log_changes(&self, discovery: &DiscoverySnapshot, outcomes: &[(String, ScanOutcome)]) {
        let mut log = self.lock_log();
        // The same error from several scanners (an unreachable server) is one line.
        let mut by_error: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, o) in outcomes {
            if let ScanOutcome::Failure { error, .. } = o {
                by_error.entry(error.as_str()).or_default().push(name.as_str());
            }
        }
        for scanners in by_error.values_mut() {
            scanners.sort_unstable();
        }
        let kept_stale = by_error.values().flatten().any(|s| self.store.has_succeeded(s));
        let errors = by_error
            .iter()
            .map(|(error, scanners)| (error.to_string(), format!("scanner {}: {error}", scanners.join(", "))));
        for change in log.errors.update(errors.collect()) {
            match change {
                Change::Appeared(e) | Change::Changed(e) if self.one_shot => tracing::debug!(error = %e, "scan failed"),
                Change::Appeared(e) | Change::Changed(e) if kept_stale => {
                    tracing::error!(error = %e, "scan failed; the previous findings are kept, marked stale")
                }
                Change::Appeared(e) | Change::Changed(e) => tracing::error!(error = %e, "scan failed"),
                Change::Cleared(e) => tracing::info!(previous_error = %e, "scans succeed again"),
            }
        }
        if discovery.unreachable().is_none() {
            let failures = discovery
                .failures()
                .iter()
                .map(|f| (f.group_version.clone(), format!("{}: {}", f.group_version, f.error)));
            for change in log.discovery.update(failures.collect()) {
                match change {
                    Change::Appeared(f) | Change::Changed(f) => tracing::warn!(failure = %f, "API discovery failed"),
                    Change::Cleared(f) => tracing::info!(previous_failure = %f, "API discovery recovered"),
                }
            }
        }
        let issues = outcomes.iter().flat_map(|(name, o)| match o {
            ScanOutcome::Success(f) => f
                .issues
                .iter()
                .map(|i| {
                    let text = format!("{name}: {i}");
                    (text.clone(), text)
                })
                .collect(),
            ScanOutcome::Failure { .. } => Vec::new(),
        });
        for change in log.issues.update(issues.collect()) {
            match change {
                Change::Appeared(i) | Change::Changed(i) => tracing::warn!(issue = %i, "partial data"),
                Change::Cleared(i) => tracing::info!(previous_issue = %i, "partial data resolved"),
            }
        }
    }

    /// Scans every `interval` plus up to 10 % jitter until `cancel` fires. A scan (reads only) is
    /// abandoned at once; a remediation action in flight finishes and is recorded first.
    pub async fn run(&self, interval: Duration, mut on_report: impl FnMut(&Report), cancel: CancellationToken) {
        loop {
            let report = tokio::select! {
                report = self.scan_once() => report,
                () = cancel.cancelled() => return,
            };
            on_report(&report);
            if let Some(remediator) = &self.remediator {
                remediator.round(&report, &cancel).await;
            }
            tokio::select! {
                () = tokio::time::sleep(with_jitter(interval)) => {}
                () = cancel.cancelled() => return,
            }
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
