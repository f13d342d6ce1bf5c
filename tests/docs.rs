//! The documentation's shell commands work: every ```sh block of README.md and docs/runbooks/*.md
//! that can run against a simulated cluster is run, in order, against kube-sim with the daemon
//! running, and must exit 0. `jq` must not print `null`, `false` or nothing (so a wrong key such as
//! `.namespaces` fails). Substitutions, all stated here:
//! - `kubectl ... port-forward ...` is a no-op and `localhost:19090`, `127.0.0.1:9090` (the demo's
//!   address) and `<daemon>:9090` become the daemon's address (it already listens locally);
//! - `kubectl ... logs ...` prints the daemon's own log;
//! - blocks marked ```` ```sh notest ```` and blocks that build, deploy or install (cargo, helm,
//!   docker, `bash scripts/...`, `kubectl apply`) are not run here; they are listed on stderr.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A fenced shell block: its first line number and text.
struct Block {
    line: usize,
    text: String,
}

fn sh_blocks(markdown: &str) -> (Vec<Block>, Vec<Block>) {
    let (mut run, mut skipped) = (Vec::new(), Vec::new());
    let mut current: Option<(usize, bool, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut current, fence) {
            (None, Some(info)) => {
                let mut words = info.split_whitespace();
                if matches!(words.next(), Some("sh" | "bash" | "shell")) {
                    let notest = words.any(|w| w == "notest");
                    current = Some((i + 2, notest, String::new()));
                } else if !info.trim().is_empty() {
                    current = Some((i + 2, true, String::from("\0other")));
                }
            }
            (Some(_), Some(_)) => {
                let (line, notest, text) = current.take().unwrap();
                if text.starts_with('\0') {
                    continue;
                }
                let block = Block { line, text };
                if notest || builds_or_deploys(&block.text) {
                    skipped.push(block);
                } else {
                    run.push(block);
                }
            }
            (Some((_, _, text)), None) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    (run, skipped)
}

/// Commands a simulated cluster cannot stand in for.
fn builds_or_deploys(text: &str) -> bool {
    text.lines().map(str::trim_start).any(|l| {
        [
            "cargo ",
            "helm ",
            "docker ",
            "podman ",
            "bash scripts/",
            "kubectl apply",
            "make ",
            "git ",
        ]
        .iter()
        .any(|p| l.starts_with(p))
    })
}

/// `kubectl` and `jq` wrappers (see the module docs), first on PATH.
fn shims(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let which = |tool: &str| {
        let out = Command::new("bash")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!path.is_empty(), "{tool} is needed by the docs test");
        path
    };
    let kubectl = format!(
        "#!/usr/bin/env bash\ncase \" $* \" in\n  *' port-forward '*) exit 0 ;;\n  *' logs '*) cat \"$DAEMON_LOG\"; exit 0 ;;\nesac\nexec {} \"$@\"\n",
        which("kubectl")
    );
    let jq = format!(
        "#!/usr/bin/env bash\nout=$({} -e \"$@\") || {{ echo \"jq $*: null, false or an error\" >&2; exit 1; }}\n[ -n \"$out\" ] || {{ echo \"jq $*: printed nothing\" >&2; exit 1; }}\nprintf '%s\\n' \"$out\"\n",
        which("jq")
    );
    for (name, text) in [("kubectl", kubectl), ("jq", jq)] {
        let path = bin.join(name);
        std::fs::write(&path, text).unwrap();
        Command::new("chmod").arg("+x").arg(&path).status().unwrap();
    }
    bin
}

/// How each document's commands are set up: extra daemon flags and failing discovery.
fn setup(doc: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    match doc {
        "GarbageAuditDiscoveryFailing.md" | "GarbageAuditScanPartial.md" => (vec![], vec!["metrics.k8s.io/v1beta1"]),
        // Scans that fail, as when this alert fires.
        "GarbageAuditScanFailing.md" => (vec!["--owner-resources", "nosuchresources"], vec![]),
        _ => (vec![], vec![]),
    }
}

async fn run_document(path: &Path) -> Vec<String> {
    let doc = path.file_name().unwrap().to_string_lossy().to_string();
    let markdown = std::fs::read_to_string(path).unwrap();
    let (blocks, skipped) = sh_blocks(&markdown);
    for b in &skipped {
        eprintln!(
            "docs test: not run (builds, deploys or marked notest): {doc}:{}",
            b.line
        );
    }
    if blocks.is_empty() {
        return vec![];
    }
    let (flags, failing) = setup(&doc);
    let c = cluster(Some("aibrix"), &failing).await;
    // Remediation in dry-run (it writes nothing) so that `/remediations` commands have a plan.
    let mut args = vec![
        "run",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "1s",
        "--remediation",
        "dry-run",
        "--remediation-min-rounds",
        "1",
    ];
    args.extend(flags);
    let daemon = spawn_daemon(c.command(&args));
    // Wait for the first round, whatever its outcome.
    daemon
        .metrics_until(|t| {
            parse_exposition(t)
                .iter()
                .any(|(s, v)| s == "garbage_audit_round_duration_seconds_count" && *v >= 1.0)
        })
        .await
        .expect("the daemon finished a round");
    // ... and the remediation queue (dry-run, min rounds 1) planned once (and, on complete data,
    // validated its plan with dry runs).
    eventually(std::time::Duration::from_secs(30), || {
        let (_, body) = http_get(daemon.addr, "/remediations");
        let planned = body.contains("\"generatedAt\"");
        let blocked = body.contains("\"blocked\"");
        (planned && (blocked || body.contains("\"result\": \"dry_run\""))).then_some(())
    })
    .await
    .expect("the remediation queue planned a round");
    let bin = shims(c.dir.path());
    let log = c.dir.path().join("daemon.log");
    let mut failures = Vec::new();
    for block in blocks {
        let lines: Vec<String> = daemon.logs.try_iter().collect();
        let mut text = std::fs::read_to_string(&log).unwrap_or_default();
        for l in lines {
            text.push_str(&l);
            text.push('\n');
        }
        std::fs::write(&log, &text).unwrap();
        let addr = daemon.addr.to_string();
        let script = block
            .text
            .replace("localhost:19090", &addr)
            .replace("127.0.0.1:9090", &addr)
            .replace("<daemon>:9090", &addr);
        let out = Command::new("bash")
            .args(["-e", "-o", "pipefail", "-c", &script])
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()),
            )
            .env("HOME", c.dir.path())
            .env("KUBECONFIG", &c.kubeconfig)
            .env("DAEMON_LOG", &log)
            .output()
            .unwrap();
        if !out.status.success() {
            failures.push(format!(
                "{doc}:{} exited {:?}\n--- script\n{script}--- stdout\n{}--- stderr\n{}",
                block.line,
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread")]
async fn readme_and_runbook_commands_run_against_the_simulated_cluster() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = vec![root.join("README.md")];
    let mut runbooks: Vec<PathBuf> = std::fs::read_dir(root.join("docs/runbooks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    runbooks.sort();
    docs.extend(runbooks);
    let mut failures = Vec::new();
    let mut ran = 0;
    for doc in &docs {
        let (blocks, _) = sh_blocks(&std::fs::read_to_string(doc).unwrap());
        ran += blocks.len();
        failures.extend(run_document(doc).await);
    }
    assert!(ran >= 10, "only {ran} blocks found: is the extraction broken?");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn blocks_are_extracted_and_classified() {
    let md = "text\n```sh\nkubectl get ns\n```\n```sh notest\nkubectl get pods\n```\n```yaml\na: 1\n```\n```sh\ncargo run -- demo\n```\n";
    let (run, skipped) = sh_blocks(md);
    assert_eq!(run.len(), 1);
    assert_eq!((run[0].line, run[0].text.as_str()), (3, "kubectl get ns\n"));
    assert_eq!(skipped.len(), 2);
}
