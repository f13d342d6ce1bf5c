//! Builds the remediation queue from the flags: nothing at all with `--remediation off`; the
//! writer, executor and metrics otherwise; and in `enforce`, the Lease that elects the one
//! replica allowed to write.

use std::sync::Arc;

use kube_lease_manager::LeaseManagerBuilder;

use super::executor::Executor;
use super::flags::RemediationArgs;
use super::policy::{Mode, Policy};
use super::runner::{RemediationMetrics, Remediator};
use crate::cli::AuditArgs;
use crate::kubeapi::ClusterApi;
use crate::kubewrite::ClusterWriter;
use crate::metrics::Metrics;

/// The Lease that elects the acting replica, in the daemon's namespace.
pub const LEASE_NAME: &str = "kube-garbage-audit-remediation";
/// Seconds a holder keeps the Lease without renewing it.
pub const LEASE_DURATION_SECONDS: u64 = 15;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("registering the remediation metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("setting up the remediation Lease {namespace}/{LEASE_NAME}: {source}")]
    Lease {
        namespace: String,
        #[source]
        source: kube_lease_manager::LeaseManagerError,
    },
}

/// The daemon's own namespace: `POD_NAMESPACE` (the Deployment sets it from the downward API),
/// else the in-cluster service account's namespace; `None` outside a cluster.
pub fn own_namespace() -> Option<String> {
    std::env::var("POD_NAMESPACE")
        .ok()
        .or_else(|| std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The policy the flags describe.
pub fn policy(args: &RemediationArgs, audit: &AuditArgs) -> Policy {
    args.policy(audit.stuck_after, own_namespace())
}

/// `None` when remediation is off: then no write path exists in the process.
pub async fn remediator(
    api: &ClusterApi,
    args: &RemediationArgs,
    audit: &AuditArgs,
    metrics: &Metrics,
) -> Result<Option<Arc<Remediator>>, SetupError> {
    let policy = policy(args, audit);
    if policy.mode == Mode::Off {
        return Ok(None);
    }
    let client = api.client();
    let metrics = RemediationMetrics::register(metrics.registry(), policy.mode)?;
    let leader = if policy.mode == Mode::Enforce {
        let namespace = own_namespace().unwrap_or_else(|| client.default_namespace().to_string());
        let mut builder = LeaseManagerBuilder::new(client.clone(), LEASE_NAME)
            .with_namespace(&namespace)
            .with_duration(LEASE_DURATION_SECONDS)
            .with_grace(5);
        if let Some(identity) = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()) {
            builder = builder.with_identity(format!("{identity}-{}", std::process::id()));
        }
        let manager = builder.build().await.map_err(|source| SetupError::Lease {
            namespace: namespace.clone(),
            source,
        })?;
        let (leader, _task) = manager.watch().await;
        tracing::info!(lease = %format!("{namespace}/{LEASE_NAME}"), "remediation enforce: acting only while holding the Lease");
        Some(leader)
    } else {
        None
    };
    tracing::info!(
        mode = policy.mode.as_str(),
        actions = ?policy.actions.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        finalizers = ?policy.finalizers,
        min_rounds = policy.min_rounds,
        max_per_round = policy.max_per_round,
        max_per_hour = policy.max_per_hour,
        halt_above = policy.halt_above,
        "remediation queue on"
    );
    let executor = Executor::new(ClusterWriter::new(client, audit.request_timeout), policy.mode);
    Ok(Some(Arc::new(Remediator::new(policy, executor, metrics, leader))))
}
