//! `demo`: kube-sim with the `aibrix` scenario and the daemon against it, plus the kubectl commands
//! that show and fix its problems. The daemon reaches kube-sim through the written kubeconfig, the
//! same client path as `run` (no client retries, one fast failure per unavailable group).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;

use crate::app::{announce, auditor, bind, cannot_run, init_logging, serve_and_scan, until_shutdown};
use crate::changes::{finding_entries, Change, ChangeTracker};
use crate::cli::DemoArgs;
use crate::findings::Report;
use crate::kubeapi::{ClusterApi, Connection};

/// The demo's own temp directory, removed when the demo ends (normally, by signal or by failure).
struct DemoDir(PathBuf);

impl DemoDir {
    fn create() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("kube-garbage-audit-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for DemoDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Logs each finding once when it appears, changes or is resolved (by stable identity).
fn log_findings(tracker: &mut ChangeTracker, report: &Report) {
    for change in tracker.update(finding_entries(report)) {
        match change {
            Change::Appeared(f) => tracing::warn!(finding = %f, "found"),
            Change::Changed(f) => tracing::info!(finding = %f, "changed"),
            Change::Cleared(f) => tracing::info!(finding = %f, "resolved"),
        }
    }
}

/// Prints the guide again on every SIGUSR1 (forever; cancel by dropping).
async fn reprint_on_sigusr1(guide: Arc<Mutex<String>>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut usr1) = signal(SignalKind::user_defined1()) {
            while usr1.recv().await.is_some() {
                print!("{}", guide.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            }
        }
    }
    std::future::pending::<()>().await;
}

pub async fn run(args: DemoArgs) -> ExitCode {
    if let Err(e) = init_logging(&args.audit) {
        return cannot_run(e);
    }
    let dir = match args.kubeconfig_out.is_none().then(DemoDir::create).transpose() {
        Ok(dir) => dir,
        Err(e) => return cannot_run(e),
    };
    let path = match (&args.kubeconfig_out, &dir) {
        (Some(p), _) => p.clone(),
        (None, Some(d)) => d.0.join("kubeconfig"),
        (None, None) => unreachable!("a demo dir exists when no --kubeconfig-out is given"),
    };
    // `dir` lives until this function returns, after the demo has stopped for whatever reason.
    until_shutdown(|cancel| demo(&args, &path, cancel)).await
}

async fn demo(args: &DemoArgs, path: &Path, cancel: tokio_util::sync::CancellationToken) -> anyhow::Result<()> {
    let config = kube_sim::SimConfig {
        scenario: Some("aibrix".to_string()),
        ..kube_sim::SimConfig::default()
    };
    let sim = kube_sim::start(config)
        .await
        .context("starting the simulated cluster")?;
    sim.write_kubeconfig(path)
        .with_context(|| format!("writing {}", path.display()))?;
    let listener = bind(args.listen).await?;
    let local = listener.local_addr().unwrap_or(args.listen);
    let guide = Arc::new(Mutex::new(String::new()));
    let connection = Connection {
        kubeconfig: Some(path.to_path_buf()),
        context: None,
    };
    let api = ClusterApi::connect(&connection, args.audit.limits())
        .await
        .context("connecting to the simulated cluster")?;
    let mut tracker = ChangeTracker::default();
    // The guide is printed after the first round: its fixes are the findings' suggested actions.
    let (printed, url, listen) = (guide.clone(), sim.url(), local.to_string());
    let path_for_guide = path.to_path_buf();
    let on_report = move |report: &Report| {
        let mut text = printed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if text.is_empty() {
            let fixes = crate::demo_guide::actions(report);
            *text = crate::demo_guide::guide(&path_for_guide, &url, &listen, std::process::id(), &fixes);
            print!("{text}");
        }
        drop(text);
        log_findings(&mut tracker, report)
    };
    let mut auditor = auditor(api.clone(), &args.audit)?;
    // The demo always shows the plan: `off` (the default) runs the queue in dry-run here, against
    // the simulated cluster only; `enforce` repairs it.
    let mut remediation = args.remediation.clone();
    if remediation.remediation == crate::remediation::flags::ModeArg::Off {
        remediation.remediation = crate::remediation::flags::ModeArg::DryRun;
    }
    auditor.remediator =
        crate::remediation::setup::remediator(&api, &remediation, &args.audit, &auditor.metrics).await?;
    announce(&listener, args.listen, args.interval);
    tokio::select! {
        () = serve_and_scan(auditor, listener, args.interval, on_report, cancel) => {}
        () = reprint_on_sigusr1(guide) => {}
    }
    Ok(())
}
