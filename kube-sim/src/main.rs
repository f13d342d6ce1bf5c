//! `kube-sim` command line.
#![forbid(unsafe_code)]

use anyhow::{anyhow, Context};
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A simulated Kubernetes API server (plain HTTP, JSON).
#[derive(Debug, Parser)]
#[command(name = "kube-sim", version)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Named scenario to load (available: aibrix).
    #[arg(long)]
    scenario: Option<String>,
    /// YAML/JSON file or directory of objects to load as stored state (repeatable).
    #[arg(long)]
    load: Vec<PathBuf>,
    /// Write a kubeconfig for this server to FILE.
    #[arg(long, value_name = "FILE")]
    kubeconfig_out: Option<PathBuf>,
    /// Make GROUP/VERSION discovery answer 503 (repeatable), e.g. metrics.k8s.io/v1beta1.
    #[arg(long, value_name = "GROUP/VERSION")]
    fail_discovery: Vec<String>,
    /// Answer RATE (0..1) of requests for RESOURCE with a 500 Status (repeatable), e.g. pods=0.5.
    #[arg(long, value_name = "RESOURCE=RATE")]
    error_rate: Vec<String>,
    /// Add latency to requests for RESOURCE (repeatable), e.g. pods=200ms.
    #[arg(long, value_name = "RESOURCE=DURATION")]
    latency: Vec<String>,
    /// Namespace controller / garbage collector interval in milliseconds.
    #[arg(long, default_value_t = 500)]
    controller_interval_ms: u64,
    /// Compaction window in seconds (continue tokens older than this expire with 410).
    #[arg(long, default_value_t = 300)]
    compaction_window_secs: u64,
    /// Ordered namespace deletion (pods first); `--ordered-namespace-deletion=false` turns it off.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    ordered_namespace_deletion: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let cli = Cli::parse();
    let mut cfg = kube_sim::SimConfig {
        listen: cli.listen,
        scenario: cli.scenario,
        load: cli.load,
        fail_discovery: cli.fail_discovery,
        namespace_controller_interval: std::time::Duration::from_millis(cli.controller_interval_ms),
        gc_interval: std::time::Duration::from_millis(cli.controller_interval_ms),
        compaction_window: std::time::Duration::from_secs(cli.compaction_window_secs),
        ordered_namespace_deletion: cli.ordered_namespace_deletion,
        ..Default::default()
    };
    for e in &cli.error_rate {
        let (r, v) = kube_sim::faults::parse_assignment(e)
            .ok_or_else(|| anyhow!("--error-rate expects RESOURCE=RATE, got {e:?}"))?;
        let rate: f64 = v.parse().with_context(|| format!("--error-rate {e:?}"))?;
        cfg.error_rates.push((r, rate));
    }
    for l in &cli.latency {
        let (r, v) = kube_sim::faults::parse_assignment(l)
            .ok_or_else(|| anyhow!("--latency expects RESOURCE=DURATION, got {l:?}"))?;
        let d = kube_sim::faults::parse_duration(&v).ok_or_else(|| anyhow!("--latency {l:?}: bad duration"))?;
        cfg.latencies.push((r, d));
    }
    let handle = kube_sim::start(cfg).await.context("starting kube-sim")?;
    if let Some(path) = &cli.kubeconfig_out {
        handle
            .write_kubeconfig(path)
            .with_context(|| format!("writing kubeconfig to {}", path.display()))?;
    }
    println!("listening on {}", handle.url());
    use std::io::Write;
    std::io::stdout().flush().ok();
    tokio::signal::ctrl_c().await.ok();
    handle.shutdown().await;
    Ok(())
}
