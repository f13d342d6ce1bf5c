//! The real control plane (etcd, kube-apiserver, kube-controller-manager built from the Kubernetes
//! Go modules) as a test fixture: started by `scripts/control-plane.sh up`, stopped on drop.
//! `KGA_CONTROL_PLANE_DIR=<dir of a running `up`>` reuses one that is already running.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_kube-garbage-audit");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whose credentials a command runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// cluster-admin (system:masters)
    Admin,
    /// bound to exactly deploy/base's ClusterRole
    Auditor,
}

/// The auditor identity's user name (a static token named like deploy/base's ServiceAccount).
pub const AUDITOR_USER: &str = "system:serviceaccount:kube-garbage-audit:kube-garbage-audit";

pub struct ControlPlane {
    pub dir: PathBuf,
    owned: bool,
    /// An isolated HOME for kubectl (its discovery cache) and the binary.
    pub home: tempfile::TempDir,
    _tmp: Option<tempfile::TempDir>,
}

impl ControlPlane {
    /// Starts a control plane in a new temp dir (or reuses `KGA_CONTROL_PLANE_DIR`).
    pub fn up() -> Self {
        let home = tempfile::tempdir().expect("temp dir");
        if let Some(dir) = std::env::var_os("KGA_CONTROL_PLANE_DIR") {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join("admin.kubeconfig").exists(),
                "KGA_CONTROL_PLANE_DIR={} holds no running control plane",
                dir.display()
            );
            return Self {
                dir,
                owned: false,
                home,
                _tmp: None,
            };
        }
        Self::start("kga-control-plane-", "", home)
    }

    /// Starts a control plane of its own (never `KGA_CONTROL_PLANE_DIR`'s) whose kube-apiserver
    /// gets `apiserver_args` too, for cases that need a differently configured server.
    pub fn dedicated(apiserver_args: &str) -> Self {
        Self::start("kga-dedicated-", apiserver_args, tempfile::tempdir().expect("temp dir"))
    }

    fn start(prefix: &str, apiserver_args: &str, home: tempfile::TempDir) -> Self {
        let tmp = tempfile::Builder::new().prefix(prefix).tempdir().expect("temp dir");
        let dir = tmp.path().to_path_buf();
        let status = Command::new("bash")
            .arg(repo().join("scripts/control-plane.sh"))
            .arg("up")
            .arg(&dir)
            .env("KGA_APISERVER_ARGS", apiserver_args)
            .stdin(Stdio::null())
            .status()
            .expect("bash runs");
        assert!(
            status.success(),
            "scripts/control-plane.sh up {} failed ({status}); the real-cluster suite needs Go >= 1.26 with access to a Go module proxy",
            dir.display()
        );
        Self {
            dir,
            owned: true,
            home,
            _tmp: Some(tmp),
        }
    }

    pub fn kubeconfig(&self, who: Who) -> PathBuf {
        self.dir.join(match who {
            Who::Admin => "admin.kubeconfig",
            Who::Auditor => "auditor.kubeconfig",
        })
    }

    /// The API server's audit log events (every request, metadata level) by `user`, in order.
    pub fn audit_events(&self, user: &str) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["user"]["username"] == user)
            .collect()
    }

    pub fn log(&self, component: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{component}.log"))).unwrap_or_default()
    }

    /// The real kubectl as `who`.
    pub fn kubectl(&self, who: Who, args: &[&str]) -> Output {
        self.kubectl_with(&self.kubeconfig(who), args, None)
    }

    pub fn kubectl_with(&self, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new("kubectl");
        cmd.args(args)
            .env("HOME", self.home.path())
            .env("KUBECONFIG", kubeconfig)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl runs (is it installed?)");
        if let Some(text) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// kubectl as admin that must succeed; returns stdout.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = self.kubectl(Who::Admin, args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f -` as admin.
    pub fn apply(&self, yaml: &str) {
        let out = self.kubectl_with(&self.kubeconfig(Who::Admin), &["apply", "-f", "-"], Some(yaml));
        assert!(
            out.status.success(),
            "kubectl apply failed: {}\n{yaml}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The auditor binary with `kubeconfig` and nothing else from the environment.
    pub fn command(&self, kubeconfig: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info");
        cmd
    }

    /// `scan -o json` as the auditor identity (or `kubeconfig`): exit status and report.
    pub fn scan_json_as(&self, kubeconfig: &Path, extra: &[&str]) -> (i32, Value, String) {
        let mut args = vec!["scan", "-o", "json"];
        args.extend_from_slice(extra);
        let out = self.command(kubeconfig, &args).output().expect("binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "scan -o json is not JSON ({e}); stdout: {}; stderr: {stderr}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        (out.status.code().unwrap_or(-1), json, stderr)
    }

    pub fn scan_json(&self, extra: &[&str]) -> (i32, Value, String) {
        self.scan_json_as(&self.kubeconfig(Who::Auditor), extra)
    }

    /// Waits until the garbage collector's discovery sync has picked up `resource` (it re-reads
    /// discovery every 30 s; references to a kind it has not synced cannot be mapped yet).
    pub fn wait_for_gc_to_monitor(&self, resource: &str) {
        let found = poll(Duration::from_secs(180), || {
            let log = self.log("kube-controller-manager");
            log.lines()
                .any(|l| l.contains("syncing garbage collector with updated resources") && l.contains(resource))
                .then_some(())
        });
        assert!(
            found.is_some(),
            "the garbage collector did not pick up {resource} within 180 s"
        );
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if self.owned {
            let _ = Command::new("bash")
                .arg(repo().join("scripts/control-plane.sh"))
                .arg("down")
                .arg(&self.dir)
                .status();
            if std::env::var_os("KGA_KEEP_CONTROL_PLANE_LOGS").is_some() {
                let keep = std::env::temp_dir().join(format!("kga-control-plane-logs-{}", std::process::id()));
                let _ = std::fs::create_dir_all(&keep);
                for c in ["etcd", "kube-apiserver", "kube-controller-manager"] {
                    let _ = std::fs::copy(self.dir.join(format!("{c}.log")), keep.join(format!("{c}.log")));
                }
                eprintln!("control plane logs kept in {}", keep.display());
            }
        }
    }
}

/// Polls `check` every 250 ms until it returns Some, for at most `limit`.
pub fn poll<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The project's AIBrix CRD fixtures (kube-sim's scenario file) without kube-sim's template
/// placeholders (`{{now-30d}}`), which only kube-sim's loader understands.
pub fn aibrix_crds(names: &[&str]) -> String {
    let text = std::fs::read_to_string(repo().join("kube-sim/scenarios/aibrix/00-crds.yaml")).unwrap();
    text.split("\n---\n")
        .filter(|doc| names.iter().any(|n| doc.contains(&format!("name: {n}\n"))))
        .map(|doc| {
            doc.lines()
                .filter(|l| !l.trim_start().starts_with("uid:") && !l.trim_start().starts_with("creationTimestamp:"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// One test of the suite: a name and a body that panics on failure.
pub struct Case {
    pub name: &'static str,
    pub run: fn(&ControlPlane),
}

/// Runs the cases in order (a filter argument selects by substring), prints a summary, and
/// returns the process exit status.
pub fn run_cases(cp: &ControlPlane, cases: &[Case]) -> i32 {
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let mut failed = Vec::new();
    let mut ran = 0;
    for case in cases {
        if !filter.is_empty() && !filter.iter().any(|f| case.name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let started = Instant::now();
        eprintln!("real-cluster: {} ...", case.name);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (case.run)(cp)));
        let took = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => eprintln!("real-cluster: {} ok ({took:.1} s)", case.name),
            Err(_) => {
                eprintln!("real-cluster: {} FAILED ({took:.1} s)", case.name);
                failed.push(case.name);
            }
        }
    }
    eprintln!(
        "real-cluster: {} passed, {} failed{}",
        ran - failed.len(),
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(": {}", failed.join(", "))
        }
    );
    i32::from(!failed.is_empty())
}
