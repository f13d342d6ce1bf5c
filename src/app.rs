//! The three commands, wired from the library's parts. This is the edge: errors become exit
//! statuses and messages here.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

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

pub(crate) fn cannot_run(error: anyhow::Error) -> ExitCode {
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

pub(crate) fn auditor(api: ClusterApi, audit: &AuditArgs) -> anyhow::Result<Auditor> {
    let metrics = Arc::new(Metrics::new(audit.max_object_series).context("registering metrics")?);
    Ok(Auditor::new(api, scanners(audit), metrics))
}

pub(crate) fn init_logging(audit: &AuditArgs) -> anyhow::Result<()> {
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
pub(crate) async fn serve_and_scan(
    auditor: Auditor,
    listener: tokio::net::TcpListener,
    interval: std::time::Duration,
    on_report: impl FnMut(&Report),
    cancel: CancellationToken,
) {
    let endpoints = Endpoints {
        store: auditor.store.clone(),
        metrics: auditor.metrics.clone(),
        remediations: auditor.remediator.clone(),
    };
    tokio::select! {
        () = http::serve(listener, endpoints) => {}
        () = auditor.run(interval, on_report, cancel) => {}
    }
}

/// Binds `--listen`. Called before anything reaches the cluster: an address that cannot be
/// bound ends the process before a request (or, in enforce, the Lease) is sent.
pub(crate) async fn bind(listen: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    http::bind(listen)
        .await
        .with_context(|| format!("cannot listen on --listen {listen}"))
}

/// Logs the address actually bound (useful with port 0), once everything is set up.
pub(crate) fn announce(
    listener: &tokio::net::TcpListener,
    listen: std::net::SocketAddr,
    interval: std::time::Duration,
) {
    let local = listener.local_addr().unwrap_or(listen);
    tracing::info!(listen = %local, interval = %humantime::format_duration(interval), "serving /metrics, /findings, /healthz, /readyz");
}

/// How long a shutdown waits for a remediation action in flight (the Deployment's
/// terminationGracePeriodSeconds is 30).
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs `work` until it finishes or a shutdown signal arrives. On a signal the token is
/// cancelled: reads are abandoned at once, an action in flight finishes and is recorded (waited
/// for up to [`SHUTDOWN_GRACE`]); then exit 0.
pub(crate) async fn until_shutdown<F, W>(work: W) -> ExitCode
where
    W: FnOnce(CancellationToken) -> F,
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let shutdown = match shutdown_signal() {
        Ok(s) => s,
        Err(e) => return cannot_run(anyhow::Error::new(e).context("installing signal handlers")),
    };
    let cancel = CancellationToken::new();
    let work = work(cancel.clone());
    tokio::pin!(work);
    tokio::select! {
        result = &mut work => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => cannot_run(e),
        },
        () = shutdown => {
            tracing::info!("shutdown signal received; stopping");
            cancel.cancel();
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut work).await.is_err() {
                tracing::warn!(grace = ?SHUTDOWN_GRACE, "work did not stop within the grace period; exiting");
            }
            ExitCode::SUCCESS
        }
    }
}

pub async fn run(args: RunArgs) -> ExitCode {
    if let Err(e) = init_logging(&args.audit) {
        return cannot_run(e);
    }
    until_shutdown(|cancel| async move {
        let listener = bind(args.listen).await?;
        let api = ClusterApi::connect(&args.cluster.connection(), args.audit.limits())
            .await
            .context("connecting to the cluster")?;
        let mut auditor = auditor(api.clone(), &args.audit)?;
        auditor.remediator =
            crate::remediation::setup::remediator(&api, &args.remediation, &args.audit, &auditor.metrics).await?;
        announce(&listener, args.listen, args.interval);
        serve_and_scan(auditor, listener, args.interval, |_| {}, cancel).await;
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
        Ok(mut a) => {
            a.one_shot = true; // errors are printed below, once
            a
        }
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
    if all_failed || refused {
        // Nothing trustworthy to print: no tables, just the error(s).
        print_scan_errors(&report);
        return ExitCode::from(exit::CANNOT_RUN);
    }
    match args.output {
        OutputFormat::Json => match report.to_json().and_then(|doc| serde_json::to_string_pretty(&doc)) {
            Ok(text) => println!("{text}"),
            Err(e) => return cannot_run(anyhow::Error::new(e).context("encoding findings")),
        },
        OutputFormat::Table => print!("{}", render::report_table(&report, render::Width::Normal)),
        OutputFormat::Wide => print!("{}", render::report_table(&report, render::Width::Wide)),
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
    print_scan_errors(&report);
    let code = if report.has_findings() {
        exit::FINDINGS
    } else if !report.complete {
        exit::PARTIAL
    } else {
        exit::CLEAN
    };
    ExitCode::from(code)
}

/// Prints each distinct scanner error once, naming the scanners it came from.
fn print_scan_errors(report: &Report) {
    let mut by_error: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for s in &report.scanners {
        if let Some(e) = &s.last_error {
            by_error.entry(e.as_str()).or_default().push(s.name.as_str());
        }
    }
    for (error, scanners) in by_error {
        eprintln!("error: scanner {}: {error}", scanners.join(", "));
    }
}

/// `demo`: only in builds with the default `demo` feature (release images leave the simulator out).
#[cfg(feature = "demo")]
pub async fn demo(args: DemoArgs) -> ExitCode {
    crate::demo::run(args).await
}
