//! Helpers shared by the integration tests: a kube-sim cluster, the real binary, kubectl with an
//! isolated HOME, and a tiny HTTP client. Everything binds to loopback; every wait is bounded.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_kube-garbage-audit");

/// A simulated cluster with its kubeconfig on disk and an isolated HOME for kubectl.
pub struct Cluster {
    pub sim: kube_sim::SimHandle,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

pub async fn cluster(scenario: Option<&str>, fail_discovery: &[&str]) -> Cluster {
    let config = kube_sim::SimConfig {
        scenario: scenario.map(str::to_string),
        fail_discovery: fail_discovery.iter().map(|s| s.to_string()).collect(),
        ..kube_sim::SimConfig::default()
    };
    let sim = kube_sim::start(config).await.expect("kube-sim starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).expect("kubeconfig written");
    Cluster { sim, dir, kubeconfig }
}

impl Cluster {
    /// The binary with KUBECONFIG pointing at this cluster and no stray configuration.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", "info");
        cmd
    }

    /// Runs the binary to completion (off the async runtime).
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        tokio::task::spawn_blocking(move || cmd.output().expect("binary runs"))
            .await
            .unwrap()
    }

    /// Runs the real kubectl against this cluster with an isolated HOME.
    pub async fn kubectl(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("kubectl");
        cmd.args(args)
            .env("HOME", self.dir.path())
            .env("KUBECONFIG", &self.kubeconfig);
        tokio::task::spawn_blocking(move || cmd.output().expect("kubectl runs (is it installed?)"))
            .await
            .unwrap()
    }

    /// `scan -o json` parsed, with the exit status.
    pub async fn scan_json(&self, extra: &[&str]) -> (i32, serde_json::Value) {
        let mut args = vec!["scan", "-o", "json"];
        args.extend_from_slice(extra);
        let out = self.run(&args).await;
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "scan -o json is not JSON ({e}); stdout: {}; stderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), json)
    }
}

/// A daemon process whose stderr is collected; killed on drop.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub logs: mpsc::Receiver<String>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` (a `run` or `demo` with `--listen 127.0.0.1:0`) and waits for its listen address.
pub fn spawn_daemon(mut cmd: Command) -> Daemon {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("daemon starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(rest) = line.split("listen=").nth(1) {
                let addr = rest
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .trim_matches('"')
                    .parse()
                    .expect("listen address");
                return Daemon { child, addr, logs: rx };
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("daemon exited early with {status}");
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("daemon did not report its listen address within 30 s");
}

impl Cluster {
    /// `run --listen 127.0.0.1:0 --interval 1s` against this cluster, returned once `/readyz` says 200.
    pub async fn ready_daemon(&self) -> Daemon {
        let daemon = spawn_daemon(self.command(&["run", "--listen", "127.0.0.1:0", "--interval", "1s"]));
        eventually(Duration::from_secs(30), || {
            (http_get(daemon.addr, "/readyz").0 == 200).then_some(())
        })
        .await
        .expect("/readyz never turned 200");
        daemon
    }
}

impl Daemon {
    /// Polls `/metrics` until `check` holds on its text (at most 30 s); returns that text.
    pub async fn metrics_until(&self, check: impl Fn(&str) -> bool) -> Option<String> {
        eventually(Duration::from_secs(30), || {
            let (_, text) = http_get(self.addr, "/metrics");
            check(&text).then_some(text)
        })
        .await
    }
}

/// A minimal HTTP/1.0 GET: (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, body.to_string())
}

/// Polls `check` every 200 ms until it returns Some, for at most `limit`.
pub async fn eventually<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks that `text` is well-formed Prometheus text exposition (0.0.4): every sample line is
/// `name{labels} value` with a declared TYPE, and returns the samples as (series, value).
pub fn parse_exposition(text: &str) -> Vec<(String, f64)> {
    let mut typed = std::collections::HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            typed.insert(parts.next().unwrap().to_string());
            assert!(
                matches!(
                    parts.next(),
                    Some("counter" | "gauge" | "histogram" | "summary" | "untyped")
                ),
                "bad TYPE line {line}"
            );
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample line {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name {name}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|f| typed.contains(*f))
            .unwrap_or(name);
        assert!(typed.contains(family), "sample {name} has no TYPE line");
        if series.contains('{') {
            assert!(series.ends_with('}'), "bad labels in {line:?}");
        }
        samples.push((series.to_string(), value));
    }
    samples
}

/// The value of the one series whose text contains every fragment.
pub fn sample(samples: &[(String, f64)], fragments: &[&str]) -> Option<f64> {
    samples
        .iter()
        .find(|(s, _)| fragments.iter().all(|f| s.contains(f)))
        .map(|(_, v)| *v)
}

pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// An RFC 3339 time `secs` seconds ago.
pub fn ago(secs: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs)).to_string()
}

/// The owner-reference problems a report (`scan -o json`, `/findings`) has about objects named `name`.
pub fn problems_for<'a>(report: &'a serde_json::Value, name: &str) -> Vec<&'a serde_json::Value> {
    report["ownerReferenceProblems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["dependent"]["name"] == name)
        .collect()
}
