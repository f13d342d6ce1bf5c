//! The three commands, wired from the library's parts. This is the edge: errors become exit
//! statuses and messages here.

#[cfg(feature = "demo")]
use std::collections::BTreeSet;
#[cfg(feature = "demo")]
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

#[cfg(feature = "demo")]
use crate::cli::DemoArgs;
use crate::cli::{AuditArgs, OutputFormat, RunArgs, ScanArgs};
use crate::findings::Report;
use crate::http::{self, Endpoints};
use crate::kubeapi::ClusterApi;
use crate::metrics::Metrics;
use crate::render;
use crate::report_formats;
use crate::scanners::namespaces::NamespaceScanner;
use crate::scanners::owner_references::OwnerReferenceScanner;
use crate::scanners::Scanner;
use crate::scheduler::Auditor;

/// Exit statuses of `scan` (and of every command that cannot start).
pub mod exit {
    pub const CLEAN: u8 = 0;
    pub const FINDINGS: u8 = 1;
    pub const CANNOT_RUN: u8 = 2;
    pub const PARTIAL: u8 = 3;
}

fn cannot_run(error: anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::from(exit::CANNOT_RUN)
}

/// The enabled scanners, configured from the flags.
pub fn scanners(audit: &AuditArgs) -> Vec<Arc<dyn Scanner>> {
    vec![
        Arc::new(OwnerReferenceScanner {
            resources: audit.owner_resources.clone(),
        }),
        Arc::new(NamespaceScanner {
            stuck_after: audit.stuck_after,
            stuck_objects: audit.stuck_objects,
        }),
    ]
}

fn auditor(api: ClusterApi, audit: &AuditArgs) -> anyhow::Result<Auditor> {
    let metrics = Arc::new(Metrics::new(audit.max_object_series).context("registering metrics")?);
    Ok(Auditor::new(api, scanners(audit), metrics))
}

fn init_logging(audit: &AuditArgs) -> anyhow::Result<()> {
    crate::telemetry::init(audit.log_format, audit.log_level.as_deref()).map_err(anyhow::Error::msg)
}

/// Listens for SIGTERM and SIGINT from the moment it is called (not from the first poll), so a
/// signal that arrives while connecting still ends the process cleanly.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Serves the endpoints and scans for ever.
async fn serve_and_scan(
    auditor: Auditor,
    listener: tokio::net::TcpListener,
    interval: std::time::Duration,
    on_report: impl FnMut(&Report),
) {
    let endpoints = Endpoints {
        store: auditor.store.clone(),
        metrics: auditor.metrics.clone(),
    };
    tokio::select! {
        () = http::serve(listener, endpoints) => {}
        () = auditor.run(interval, on_report) => {}
    }
}

/// Binds `--listen` and logs the address actually bound (useful with port 0).
async fn bind(listen: std::net::SocketAddr, interval: std::time::Duration) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = http::bind(listen)
        .await
        .with_context(|| format!("cannot listen on --listen {listen}"))?;
    let local = listener.local_addr().unwrap_or(listen);
    tracing::info!(listen = %local, interval = %humantime::format_duration(interval), "serving /metrics, /findings, /healthz, /readyz");
    Ok(listener)
}

/// Runs `work` until it finishes or a shutdown signal arrives (then exit 0, abandoning the work).
async fn until_shutdown(work: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let shutdown = match shutdown_signal() {
        Ok(s) => s,
        Err(e) => return cannot_run(anyhow::Error::new(e).context("installing signal handlers")),
    };
    tokio::select! {
        result = work => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => cannot_run(e),
        },
        () = shutdown => {
            tracing::info!("shutdown signal received; stopping");
            ExitCode::SUCCESS
        }
    }
}

pub async fn run(args: RunArgs) -> ExitCode {
    if let Err(e) = init_logging(&args.audit) {
        return cannot_run(e);
    }
    until_shutdown(async {
        let api = ClusterApi::connect(&args.cluster.connection(), args.audit.limits())
            .await
            .context("connecting to the cluster")?;
        let auditor = auditor(api, &args.audit)?;
        let listener = bind(args.listen, args.interval).await?;
        serve_and_scan(auditor, listener, args.interval, |_| {}).await;
        Ok(())
    })
    .await
}

pub async fn scan(args: ScanArgs) -> ExitCode {
    if let Err(e) = init_logging(&args.audit) {
        return cannot_run(e);
    }
    let setup = async {
        let api = ClusterApi::connect(&args.cluster.connection(), args.audit.limits())
            .await
            .context("connecting to the cluster")?;
        let version = api.server_version().await.context("reaching the API server")?;
        tracing::debug!(%version, "connected");
        api.check_list_access()
            .await
            .context("checking that our credentials may list (get/list/watch on */* is needed)")?;
        auditor(api, &args.audit)
    };
    let auditor = match setup.await {
        Ok(a) => a,
        Err(e) => return cannot_run(e),
    };
    let report = auditor.scan_once().await;
    let report = match &args.namespace {
        Some(namespace) => crate::scope::only_namespace(report, namespace),
        None => report,
    };
    let all_failed = report.scanners.iter().all(|s| s.last_success.is_none());
    let refused = report.scanners.iter().any(|s| {
        matches!(
            s.last_error_kind,
            Some(crate::findings::ErrorKind::Config | crate::findings::ErrorKind::Auth)
        )
    });
    match args.output {
        OutputFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => return cannot_run(anyhow::Error::new(e).context("encoding findings")),
        },
        OutputFormat::Table => print!("{}", render::report_table(&report)),
        OutputFormat::Sarif => match serde_json::to_string_pretty(&report_formats::sarif::render(&report)) {
            Ok(text) => println!("{text}"),
            Err(e) => return cannot_run(anyhow::Error::new(e).context("encoding SARIF")),
        },
        OutputFormat::Junit => {
            let checked = report_formats::junit::Checked {
                stuck_objects: args.audit.stuck_objects,
            };
            print!("{}", report_formats::junit::render(&report, checked));
        }
    }
    for s in report.scanners.iter().filter(|s| s.last_error.is_some()) {
        eprintln!(
            "error: scanner {}: {}",
            s.name,
            s.last_error.as_deref().unwrap_or_default()
        );
    }
    let code = if all_failed || refused {
        exit::CANNOT_RUN
    } else if report.has_findings() {
        exit::FINDINGS
    } else if !report.complete {
        exit::PARTIAL
    } else {
        exit::CLEAN
    };
    ExitCode::from(code)
}

/// Stable keys of everything a report shows, for logging what appeared and what cleared.
#[cfg(feature = "demo")]
fn finding_keys(report: &Report) -> BTreeSet<String> {
    let ns = report.stuck_namespaces.iter().map(|n| {
        format!(
            "namespace {} stuck ({}): {}",
            n.namespace,
            n.reason.map_or("Unknown", |r| r.as_str()),
            render::namespace_summary(n)
        )
    });
    let refs = report.owner_reference_problems.iter().map(|p| {
        format!(
            "{} {}/{}: {} {} — {}",
            p.reason.as_str(),
            p.dependent.namespace,
            p.dependent.name,
            p.dependent.qualified_resource(),
            render::reference_summary(p),
            p.fix
        )
    });
    let objects = report.stuck_objects.iter().map(|o| {
        let id = &o.object.object;
        format!(
            "stuck object {}/{} {} waiting on {}",
            id.namespace,
            id.name,
            id.qualified_resource(),
            o.object.finalizers.join(",")
        )
    });
    ns.chain(refs).chain(objects).collect()
}

#[cfg(feature = "demo")]
fn demo_kubeconfig_path(args: &DemoArgs) -> anyhow::Result<PathBuf> {
    if let Some(p) = &args.kubeconfig_out {
        return Ok(p.clone());
    }
    let dir = std::env::temp_dir().join(format!("kube-garbage-audit-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.join("kubeconfig"))
}

/// `demo`: only in builds with the default `demo` feature (release images leave the simulator out).
#[cfg(feature = "demo")]
pub async fn demo(args: DemoArgs) -> ExitCode {
    if let Err(e) = init_logging(&args.audit) {
        return cannot_run(e);
    }
    until_shutdown(async {
        let config = kube_sim::SimConfig { scenario: Some("aibrix".to_string()), ..kube_sim::SimConfig::default() };
        let sim = kube_sim::start(config).await.context("starting the simulated cluster")?;
        let path = demo_kubeconfig_path(&args)?;
        sim.write_kubeconfig(&path).with_context(|| format!("writing {}", path.display()))?;
        let listener = bind(args.listen, args.interval).await?;
        let local = listener.local_addr().unwrap_or(args.listen);
        println!("Simulated cluster (kube-sim, scenario `aibrix`) listening on {}", sim.url());
        println!("Use it with kubectl:\n  export KUBECONFIG={}", path.display());
        println!("  kubectl get ns                      # aibrix-system is Terminating");
        println!("  kubectl get hpa -n llm-serving      # two HPAs name their owner kind PodAutoScaler");
        println!("Metrics: http://{local}/metrics   Findings: http://{local}/findings");
        println!("Fix the stuck namespace by removing only the dead finalizer:");
        println!("  kubectl patch modeladapter qwen-code-lora -n aibrix-system --type=json -p '[{{\"op\":\"test\",\"path\":\"/metadata/finalizers/0\",\"value\":\"adapter.model.aibrix.ai/finalizer\"}},{{\"op\":\"remove\",\"path\":\"/metadata/finalizers/0\"}}]'");
        println!("Fix the live HPA's owner kind:");
        println!("  kubectl patch hpa llama-3-8b-hpa -n llm-serving --type=json -p '[{{\"op\":\"test\",\"path\":\"/metadata/ownerReferences/0/kind\",\"value\":\"PodAutoScaler\"}},{{\"op\":\"replace\",\"path\":\"/metadata/ownerReferences/0/kind\",\"value\":\"PodAutoscaler\"}}]'");
        println!("Delete the orphaned HPA the garbage collector cannot collect:");
        println!("  kubectl delete hpa mistral-7b-hpa -n llm-serving");
        let api = ClusterApi::new(sim.client(), args.audit.limits());
        let mut shown: BTreeSet<String> = BTreeSet::new();
        let on_report = move |report: &Report| {
            let now = finding_keys(report);
            for new in now.difference(&shown) {
                tracing::warn!(finding = %new, "found");
            }
            for gone in shown.difference(&now) {
                tracing::info!(finding = %gone, "resolved");
            }
            shown = now;
        };
        serve_and_scan(auditor(api, &args.audit)?, listener, args.interval, on_report).await;
        Ok(())
    })
    .await
}
