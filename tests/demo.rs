//! `demo` as a newcomer uses it: every printed command works pasted anywhere (it names the demo's
//! kubeconfig, never the user's current context), the commands can be printed again, and the
//! demo leaves no temp directory behind, also when it fails to start.

#![cfg(feature = "demo")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

fn demo_dirs(tmp: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("kube-garbage-audit-demo-"))
        .collect()
}

/// Reads stdout lines until one contains `until` (at most 30 s).
fn read_until(lines: &mpsc::Receiver<String>, until: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            let done = line.contains(until);
            out.push(line);
            if done {
                return out;
            }
        }
    }
    panic!("no line containing {until:?} within 30 s; got {out:#?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn printed_commands_work_anywhere_and_the_demo_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["demo", "--listen", "127.0.0.1:0", "--interval", "1s"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TMPDIR", tmp.path())
        .env("HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let guide = read_until(&rx, "kill -USR1");
    let commands: Vec<&str> = guide
        .iter()
        .map(|l| l.trim())
        .filter(|l| l.starts_with("kubectl "))
        .collect();
    assert_eq!(commands.len(), 5, "{guide:#?}");
    let dirs = demo_dirs(tmp.path());
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    for command in &commands {
        assert!(
            command.starts_with(&format!(
                "kubectl --kubeconfig {}/{}/kubeconfig ",
                tmp.path().display(),
                dirs[0]
            )),
            "{command}"
        );
        // Pasted into a shell that knows nothing of the demo (no KUBECONFIG, empty HOME).
        let out = Command::new("bash")
            .args(["-c", command])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if command.contains("custom-columns") {
            // The hint shows what it says: the owner kind.
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("OWNER-KIND") && text.contains("PodAutoScaler"), "{text}");
        }
    }
    // The commands can be printed again.
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-USR1", &pid]).status().unwrap().success());
    let again = read_until(&rx, "kill -USR1");
    assert_eq!(again.iter().filter(|l| l.trim().starts_with("kubectl ")).count(), 5);
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(demo_dirs(tmp.path()).is_empty(), "temp dir left behind");
}

#[test]
fn a_demo_that_cannot_start_leaves_no_temp_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = Command::new(BIN)
        .args(["demo", "--listen", &taken.local_addr().unwrap().to_string()])
        .env_clear()
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
    assert!(demo_dirs(tmp.path()).is_empty(), "temp dir left behind");
}

/// `demo --remediation enforce` repairs both seed failures on its own and records Events; the
/// healthy HPA is never written.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn demo_with_remediation_enforce_repairs_the_seed_failures() {
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = home.path().join("kubeconfig");
    let kubeconfig_arg = kubeconfig.display().to_string();
    let mut cmd = Command::new(BIN);
    cmd.args([
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "1s",
        "--kubeconfig-out",
        &kubeconfig_arg,
        "--remediation",
        "enforce",
        "--remediation-finalizers",
        "adapter.model.aibrix.ai/finalizer",
        "--remediation-min-rounds",
        "2",
    ])
    .env_clear()
    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
    .env("HOME", home.path())
    .env("RUST_LOG", "info");
    let daemon = spawn_daemon(cmd);
    let kubectl = |args: &[&str]| {
        Command::new("kubectl")
            .args(args)
            .env("HOME", home.path())
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap()
    };
    let done = eventually(Duration::from_secs(40), || {
        let ns_gone = !kubectl(&["get", "ns", "aibrix-system"]).status.success();
        let orphan_gone = !kubectl(&["get", "hpa", "mistral-7b-hpa", "-n", "llm-serving"])
            .status
            .success();
        let kind = kubectl(&[
            "get",
            "hpa",
            "llama-3-8b-hpa",
            "-n",
            "llm-serving",
            "-o",
            "jsonpath={.metadata.ownerReferences[0].kind}",
        ]);
        (ns_gone && orphan_gone && kind.stdout == b"PodAutoscaler").then_some(())
    })
    .await;
    assert!(done.is_some(), "{}", http_get(daemon.addr, "/remediations").1);
    let healthy = kubectl(&[
        "get",
        "hpa",
        "qwen-7b-hpa",
        "-n",
        "llm-serving",
        "-o",
        "jsonpath={.metadata.generation}",
    ]);
    assert_eq!(healthy.stdout, b"1", "the healthy HPA was never written");
    let events = kubectl(&["get", "events.events.k8s.io", "-A", "-o", "json"]);
    let text = String::from_utf8_lossy(&events.stdout);
    for reason in ["FinalizerRemoved", "OwnerKindFixed", "OrphanDeleted"] {
        assert!(
            text.contains(reason),
            "{reason} missing from kubectl get events:\n{text}"
        );
    }
}
