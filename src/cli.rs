//! Command-line interface. Every flag can also be set through `GARBAGE_AUDIT_<FLAG>`.
//! Invalid values are rejected by clap with exit status 2 and a message naming the flag.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::kubeapi::{ApiLimits, Connection};
use crate::scanners::owner_references::AuditedResources;

#[derive(Debug, Parser)]
#[command(
    name = "kube-garbage-audit",
    version,
    about = "Finds the garbage Kubernetes fails to collect: namespaces stuck in Terminating and objects whose ownerReferences the garbage collector cannot resolve."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: scan on an interval, serve /metrics, /findings, /healthz, /readyz.
    Run(RunArgs),
    /// Scan once, print the findings and exit (0 clean, 1 findings, 2 could not run, 3 partial data without findings).
    Scan(ScanArgs),
    /// Start a simulated cluster with the `aibrix` scenario and run the daemon against it.
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

fn duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (expected a duration such as 30s, 1m or 1h30m)"))?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

fn audited_resources(s: &str) -> Result<AuditedResources, String> {
    if s.trim() == "all" {
        return Ok(AuditedResources::All);
    }
    let names: Vec<String> = s
        .split(',')
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Err("expected `all` or a comma list of resource.group names".into());
    }
    if let Some(bad) = names
        .iter()
        .find(|n| n.contains('/') || n.chars().any(char::is_whitespace) || n.chars().any(|c| c.is_ascii_uppercase()))
    {
        return Err(format!(
            "{bad:?} is not a resource.group name (e.g. horizontalpodautoscalers.autoscaling, pods)"
        ));
    }
    Ok(AuditedResources::Named(names))
}

fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn qps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(q) if (0.001..=1_000_000.0).contains(&q) => Ok(q),
        Ok(_) => Err("must be between 0.001 and 1000000".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Flags shared by every command that audits a cluster.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// A namespace Terminating for longer than this is stuck.
    #[arg(long, env = "GARBAGE_AUDIT_STUCK_AFTER", default_value = "15m", value_parser = duration)]
    pub stuck_after: Duration,
    /// Resources whose ownerReferences are audited: `all`, or a comma list of resource.group names.
    #[arg(long, env = "GARBAGE_AUDIT_OWNER_RESOURCES", default_value = "horizontalpodautoscalers.autoscaling", value_parser = audited_resources)]
    pub owner_resources: AuditedResources,
    /// Also report objects anywhere deleted longer than --stuck-after ago that still carry finalizers.
    #[arg(long, env = "GARBAGE_AUDIT_STUCK_OBJECTS")]
    pub stuck_objects: bool,
    /// Cap on per-object metric series (garbage_audit_owner_reference_problem_info).
    #[arg(long, env = "GARBAGE_AUDIT_MAX_OBJECT_SERIES", default_value_t = 1000)]
    pub max_object_series: usize,
    /// Maximum API requests in flight.
    #[arg(long, env = "GARBAGE_AUDIT_CONCURRENCY", default_value = "4", value_parser = positive)]
    pub concurrency: usize,
    /// Maximum API requests started per second.
    #[arg(long, env = "GARBAGE_AUDIT_QPS", default_value = "50", value_parser = qps)]
    pub qps: f64,
    /// Items per page when listing.
    #[arg(long, env = "GARBAGE_AUDIT_PAGE_SIZE", default_value = "500", value_parser = positive)]
    pub page_size: usize,
    /// Deadline for one API request.
    #[arg(long, env = "GARBAGE_AUDIT_REQUEST_TIMEOUT", default_value = "30s", value_parser = duration)]
    pub request_timeout: Duration,
    /// Log format.
    #[arg(long, env = "GARBAGE_AUDIT_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax, e.g. `info` or `kube_garbage_audit=debug`); RUST_LOG when unset.
    #[arg(long, env = "GARBAGE_AUDIT_LOG_LEVEL")]
    pub log_level: Option<String>,
}

impl AuditArgs {
    pub fn limits(&self) -> ApiLimits {
        ApiLimits {
            concurrency: self.concurrency,
            min_interval: Duration::from_secs_f64(1.0 / self.qps),
            page_size: u32::try_from(self.page_size).unwrap_or(u32::MAX),
            request_timeout: self.request_timeout,
        }
    }
}

/// Where the cluster is.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Path to a kubeconfig; default: KUBECONFIG, ~/.kube/config, then in-cluster.
    #[arg(long, env = "GARBAGE_AUDIT_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use; default: the current context.
    #[arg(long, env = "GARBAGE_AUDIT_CONTEXT")]
    pub context: Option<String>,
}

impl ClusterArgs {
    pub fn connection(&self) -> Connection {
        Connection {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Address for /metrics, /findings, /healthz and /readyz.
    #[arg(long, env = "GARBAGE_AUDIT_LISTEN", default_value = "0.0.0.0:9090")]
    pub listen: SocketAddr,
    /// Time between scans (plus up to 10 % jitter).
    #[arg(long, env = "GARBAGE_AUDIT_INTERVAL", default_value = "1m", value_parser = duration)]
    pub interval: Duration,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub audit: AuditArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// Output format.
    #[arg(short = 'o', long, env = "GARBAGE_AUDIT_OUTPUT", value_enum, default_value = "table")]
    pub output: OutputFormat,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub audit: AuditArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Address for the daemon's /metrics, /findings, /healthz and /readyz.
    #[arg(long, env = "GARBAGE_AUDIT_LISTEN", default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,
    /// Time between scans.
    #[arg(long, env = "GARBAGE_AUDIT_INTERVAL", default_value = "5s", value_parser = duration)]
    pub interval: Duration,
    /// Where to write the simulated cluster's kubeconfig (default: a new file under the temp dir).
    #[arg(long, env = "GARBAGE_AUDIT_KUBECONFIG_OUT")]
    pub kubeconfig_out: Option<PathBuf>,
    #[command(flatten)]
    pub audit: AuditArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kube-garbage-audit").chain(args.iter().copied()))
    }

    #[test]
    fn bad_values_name_the_flag_and_the_value() {
        for (args, flag, value) in [
            (vec!["run", "--interval", "soon"], "--interval", "soon"),
            (vec!["run", "--listen", "nowhere"], "--listen", "nowhere"),
            (vec!["scan", "-o", "yaml"], "--output", "yaml"),
            (vec!["scan", "--stuck-after", "0s"], "--stuck-after", "0s"),
            (
                vec!["scan", "--owner-resources", "apps/v1"],
                "--owner-resources",
                "apps/v1",
            ),
        ] {
            let err = parse(&args).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(flag) && text.contains(value), "{args:?}: {text}");
            assert_eq!(err.exit_code(), 2);
        }
    }

    #[test]
    fn defaults() {
        let Command::Run(run) = parse(&["run"]).unwrap().command else {
            panic!()
        };
        assert_eq!(run.listen, "0.0.0.0:9090".parse().unwrap());
        assert_eq!(run.interval, Duration::from_secs(60));
        assert_eq!(run.audit.stuck_after, Duration::from_secs(900));
        assert_eq!(run.audit.owner_resources, AuditedResources::default());
        let Command::Scan(scan) = parse(&["scan", "--owner-resources", "all"]).unwrap().command else {
            panic!()
        };
        assert_eq!(scan.audit.owner_resources, AuditedResources::All);
    }
}
