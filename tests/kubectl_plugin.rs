//! `kubectl garbage-audit ...` through the real kubectl's plugin mechanism: the binary installed
//! on PATH as `kubectl-garbage_audit` (as krew installs it), against kube-sim.

mod common;

use std::path::Path;
use std::process::{Command, Output};

/// A PATH directory holding the plugin (a symlink to the binary, like krew's).
fn plugin_dir(cluster: &common::Cluster) -> std::path::PathBuf {
    let bin = cluster.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(common::BIN, bin.join("kubectl-garbage_audit")).unwrap();
    bin
}

async fn kubectl(bin: &Path, home: &Path, kubeconfig: Option<&Path>, args: &[&str]) -> Output {
    let path = std::env::join_paths(
        std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let mut cmd = Command::new("kubectl");
    cmd.args(args).env_clear().env("PATH", path).env("HOME", home);
    if let Some(k) = kubeconfig {
        cmd.env("KUBECONFIG", k);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("kubectl runs (is it installed?)"))
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_runs_the_plugin_with_its_kubeconfig_context_and_namespace() {
    let cluster = common::cluster(Some("aibrix"), &[]).await;
    let bin = plugin_dir(&cluster);
    let home = cluster.dir.path();

    let list = kubectl(&bin, home, None, &["plugin", "list", "--name-only"]).await;
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("kubectl-garbage_audit"),
        "{}",
        text(&list)
    );

    // KUBECONFIG from the environment, as kubectl itself uses it; the exit status passes through.
    let scan = kubectl(
        &bin,
        home,
        Some(&cluster.kubeconfig),
        &["garbage-audit", "scan", "-o", "json"],
    )
    .await;
    assert_eq!(scan.status.code(), Some(1), "{}", text(&scan));
    let report: serde_json::Value = serde_json::from_slice(&scan.stdout).unwrap();
    assert_eq!(report["stuckNamespaces"][0]["namespace"], "aibrix-system");

    // --kubeconfig and --context: the current context is unreachable, the named one is kube-sim.
    let two_contexts = cluster.dir.path().join("two-contexts");
    std::fs::write(
        &two_contexts,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: down\n  cluster:\n    server: http://127.0.0.1:1\n\
             - name: sim\n  cluster:\n    server: {url}\ncontexts:\n- name: down\n  context:\n    cluster: down\n    user: u\n\
             - name: sim\n  context:\n    cluster: sim\n    user: u\ncurrent-context: down\nusers:\n- name: u\n  user:\n    token: t\n",
            url = cluster.sim.url()
        ),
    )
    .unwrap();
    let kc = two_contexts.to_str().unwrap();
    let down = kubectl(&bin, home, None, &["garbage-audit", "scan", "--kubeconfig", kc]).await;
    assert_eq!(down.status.code(), Some(2), "{}", text(&down));
    let scoped = kubectl(
        &bin,
        home,
        None,
        &[
            "garbage-audit",
            "scan",
            "--kubeconfig",
            kc,
            "--context",
            "sim",
            "-n",
            "llm-serving",
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(scoped.status.code(), Some(1), "{}", text(&scoped));
    let report: serde_json::Value = serde_json::from_slice(&scoped.stdout).unwrap();
    assert!(report["stuckNamespaces"].as_array().unwrap().is_empty());
    let problems = report["ownerReferenceProblems"].as_array().unwrap();
    assert!(!problems.is_empty() && problems.iter().all(|p| p["dependent"]["namespace"] == "llm-serving"));

    // Help speaks kubectl.
    let help = kubectl(&bin, home, None, &["garbage-audit", "scan", "--help"]).await;
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("Usage: kubectl garbage-audit scan [OPTIONS]"),
        "{}",
        text(&help)
    );
}
