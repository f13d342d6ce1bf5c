//! The daemon as operators run it: endpoints, readiness, metrics that follow the cluster,
//! clean shutdown, and configuration errors.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn serves_health_readiness_metrics_and_findings_and_follows_fixes() {
    let c = cluster(Some("aibrix"), &[]).await;
    // A latency on HPA lists keeps the first scan in flight long enough to see /readyz say no.
    c.sim
        .set_latency("horizontalpodautoscalers.autoscaling", Duration::from_millis(1500));
    let mut cmd = c.command(&["run", "--listen", "127.0.0.1:0", "--interval", "1s"]);
    cmd.env("GARBAGE_AUDIT_LOG_FORMAT", "text");
    let daemon = spawn_daemon(cmd);

    assert_eq!(http_get(daemon.addr, "/healthz").0, 200);
    assert_eq!(
        http_get(daemon.addr, "/readyz").0,
        503,
        "not ready before the first scan completes"
    );
    let ready = eventually(Duration::from_secs(30), || {
        (http_get(daemon.addr, "/readyz").0 == 200).then_some(())
    })
    .await;
    assert!(ready.is_some(), "/readyz never turned 200");
    c.sim
        .set_latency("horizontalpodautoscalers.autoscaling", Duration::ZERO);

    let (status, text) = http_get(daemon.addr, "/metrics");
    assert_eq!(status, 200);
    let samples = parse_exposition(&text);
    assert_eq!(
        sample(&samples, &["garbage_audit_build_info{", "version=\""]),
        Some(1.0)
    );
    assert!(
        sample(
            &samples,
            &["garbage_audit_scan_duration_seconds_count{", "scanner=\"namespaces\""]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        sample(
            &samples,
            &[
                "garbage_audit_last_successful_scan_timestamp_seconds{",
                "scanner=\"owner_references\""
            ]
        )
        .unwrap()
            > 1.7e9
    );
    assert_eq!(
        sample(
            &samples,
            &["garbage_audit_scan_errors_total{", "scanner=\"owner_references\""]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &samples,
            &[
                "garbage_audit_namespace_stuck{",
                "namespace=\"aibrix-system\"",
                "reason=\"FinalizersRemaining\""
            ]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &samples,
            &[
                "garbage_audit_namespace_blocking_objects{",
                "finalizer=\"adapter.model.aibrix.ai/finalizer\"",
                "group=\"model.aibrix.ai\"",
                "namespace=\"aibrix-system\"",
                "resource=\"modeladapters\""
            ]
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &samples,
            &[
                "garbage_audit_namespace_terminating_seconds{",
                "namespace=\"aibrix-system\""
            ]
        )
        .unwrap()
            > 7200.0
    );
    assert_eq!(
        sample(&samples, &["garbage_audit_namespaces_stuck"]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &samples,
            &[
                "garbage_audit_owner_reference_problems{",
                "reason=\"KindCaseMismatch\"",
                "resource=\"horizontalpodautoscalers.autoscaling\""
            ]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &samples,
            &[
                "garbage_audit_owner_reference_problem_info{",
                "name=\"mistral-7b-hpa\"",
                "owner_kind=\"PodAutoScaler\"",
                "suggested_kind=\"PodAutoscaler\"",
                "namespace=\"llm-serving\""
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &samples,
            &["garbage_audit_gc_blocked_objects{", "reason=\"KindCaseMismatch\""]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &samples,
            &[
                "garbage_audit_uncollectable_orphans{",
                "resource=\"horizontalpodautoscalers.autoscaling\""
            ]
        ),
        Some(1.0)
    );

    let (status, body) = http_get(daemon.addr, "/findings");
    assert_eq!(status, 200);
    let findings: serde_json::Value = serde_json::from_str(&body).expect("/findings is JSON");
    assert_eq!(findings["stuckNamespaces"][0]["namespace"], "aibrix-system");

    // Fix the namespace with kubectl: its series disappear on a following scan.
    let fix = c
        .kubectl(&[
            "patch", "modeladapter", "qwen-code-lora", "-n", "aibrix-system", "--type=json", "-p",
            r#"[{"op":"test","path":"/metadata/finalizers/0","value":"adapter.model.aibrix.ai/finalizer"},{"op":"remove","path":"/metadata/finalizers/0"}]"#,
        ])
        .await;
    assert!(fix.status.success(), "{}", String::from_utf8_lossy(&fix.stderr));
    let cleared = daemon
        .metrics_until(|text| {
            !text.contains("namespace=\"aibrix-system\"") && text.contains("garbage_audit_namespaces_stuck 0")
        })
        .await;
    assert!(cleared.is_some(), "aibrix-system series did not disappear");
    let (_, text) = http_get(daemon.addr, "/metrics");
    assert!(text.contains("name=\"mistral-7b-hpa\""), "unrelated findings stay");

    // Correct the live HPA's owner kind: its series disappear, the orphan's stay.
    let fix = c
        .kubectl(&[
            "patch", "hpa", "llama-3-8b-hpa", "-n", "llm-serving", "--type=json", "-p",
            r#"[{"op":"test","path":"/metadata/ownerReferences/0/kind","value":"PodAutoScaler"},{"op":"replace","path":"/metadata/ownerReferences/0/kind","value":"PodAutoscaler"}]"#,
        ])
        .await;
    assert!(fix.status.success(), "{}", String::from_utf8_lossy(&fix.stderr));
    let cleared = daemon
        .metrics_until(|text| !text.contains("name=\"llama-3-8b-hpa\""))
        .await
        .expect("llama-3-8b-hpa series did not disappear");
    let samples = parse_exposition(&cleared);
    assert_eq!(
        sample(
            &samples,
            &["garbage_audit_owner_reference_problems{", "reason=\"KindCaseMismatch\""]
        ),
        Some(1.0)
    );
    assert!(cleared.contains("name=\"mistral-7b-hpa\""));
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_zero_promptly() {
    let c = cluster(Some("aibrix"), &[]).await;
    let mut daemon = c.ready_daemon().await;
    // Make every HPA list take 8 s, then signal while the next scan is waiting on one.
    c.sim
        .set_latency("horizontalpodautoscalers.autoscaling", Duration::from_secs(8));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let pid = daemon.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "did not exit within 5 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the scan in flight was waited for instead of abandoned"
    );
}

#[test]
fn bad_configuration_exits_2_naming_the_flag() {
    for (args, needle) in [
        (vec!["run", "--interval", "often"], "--interval"),
        (vec!["run", "--listen", "localhost"], "--listen"),
        (vec!["scan", "-o", "xml"], "--output"),
        (vec!["scan", "--stuck-after", "5parsecs"], "--stuck-after"),
        (vec!["run", "--remediation", "always"], "--remediation"),
        (vec!["run", "--remediation-actions", "nuke"], "--remediation-actions"),
        (
            vec!["run", "--remediation-finalizers", "kubernetes"],
            "--remediation-finalizers",
        ),
        (
            vec!["run", "--remediation-finalizers", "kubernetes.io/pvc-protection"],
            "--remediation-finalizers",
        ),
        (vec!["run", "--remediation-min-rounds", "0"], "--remediation-min-rounds"),
        (
            vec!["run", "--remediation-namespaces", "a/b"],
            "--remediation-namespaces",
        ),
        (
            vec!["remediate", "--remediation-max-per-round", "many"],
            "--remediation-max-per-round",
        ),
        (vec!["scan", "--qps", "0"], "--qps"),
        (vec!["scan", "--page-size", "0"], "--page-size"),
    ] {
        let out = Command::new(BIN).args(&args).env_clear().output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle) && stderr.contains(args[2]),
            "{args:?}: {stderr}"
        );
    }
    // The same checks apply to values from the environment.
    let out = Command::new(BIN)
        .args(["scan"])
        .env_clear()
        .env("GARBAGE_AUDIT_STUCK_AFTER", "forever")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("forever"));
    let out = Command::new(BIN)
        .args(["run"])
        .env_clear()
        .env("GARBAGE_AUDIT_REMEDIATION_FINALIZERS", "orphan")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("GARBAGE_AUDIT_REMEDIATION_FINALIZERS") && stderr.contains("belongs to Kubernetes"),
        "{stderr}"
    );
}

/// `GARBAGE_AUDIT_*` variables of one case.
type Env<'a> = Vec<(&'a str, &'a str)>;

/// Runs `cmd` to completion, at most 30 s (then it is killed: it started instead of refusing).
fn run_bounded(mut cmd: Command) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
}

/// Every combination of flags and `GARBAGE_AUDIT_*` variables that cannot work exits 2 naming the
/// flag (or the variable), before anything starts: no request reaches the API server (kube-sim's
/// request log is empty; in enforce not even the Lease), nothing is served (no `serving` line,
/// the process ends on its own). One process per case, against a live cluster so that a case
/// that did start would show. Valid neighbours of the refused combinations start (last loop).
#[tokio::test(flavor = "multi_thread")]
async fn combinations_that_cannot_work_exit_2_before_anything_starts() {
    let c = cluster(Some("aibrix"), &[]).await;
    c.sim.record_requests(true);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let in_use = taken.local_addr().unwrap().to_string();
    let listen = ["--listen", "127.0.0.1:0"];
    #[rustfmt::skip]
    let cases: Vec<(Vec<&str>, Env, Vec<&str>)> = vec![
        // Contradictions and settings under which the queue could never act.
        (vec!["run", "--remediation", "enforce", "--remediation-namespaces", "a,b", "--remediation-exclude-namespaces", "b"], vec![], vec!["--remediation-namespaces", "--remediation-exclude-namespaces", "\"b\""]),
        (vec!["run", "--remediation", "enforce", "--remediation-namespaces", "ml"], vec![("GARBAGE_AUDIT_REMEDIATION_EXCLUDE_NAMESPACES", "ml")], vec!["--remediation-namespaces", "GARBAGE_AUDIT_REMEDIATION_EXCLUDE_NAMESPACES", "\"ml\""]),
        (vec!["run", "--remediation", "dry-run", "--remediation-actions", "remove_finalizer"], vec![], vec!["--remediation-actions", "--remediation-finalizers"]),
        (vec!["run", "--remediation", "enforce", "--remediation-max-per-round", "0"], vec![], vec!["--remediation-max-per-round", "'0'"]),
        (vec!["run", "--remediation", "enforce", "--remediation-max-per-hour", "0"], vec![], vec!["--remediation-max-per-hour", "'0'"]),
        (vec!["run", "--remediation", "enforce"], vec![("GARBAGE_AUDIT_REMEDIATION_HALT_ABOVE", "0")], vec!["GARBAGE_AUDIT_REMEDIATION_HALT_ABOVE"]),
        (vec!["run", "--remediation", "enforce", "--remediation-min-rounds", "-1"], vec![], vec!["--remediation-min-rounds", "'-1'"]),
        // remediate has no mode and no rounds: the confirmation stands in for them.
        (vec!["remediate", "--remediation", "enforce"], vec![], vec!["--remediation", "does not apply to remediate"]),
        (vec!["remediate", "--remediation-min-rounds", "2"], vec![], vec!["--remediation-min-rounds", "does not apply to remediate"]),
        // Zero, negative and unbounded numbers and durations.
        (vec!["scan", "--page-size", "-1"], vec![], vec!["--page-size", "'-1'"]),
        (vec!["scan", "--concurrency", "-2"], vec![], vec!["--concurrency", "'-2'"]),
        (vec!["scan", "--concurrency", "0"], vec![], vec!["--concurrency", "'0'"]),
        (vec!["scan", "--qps", "-5"], vec![], vec!["--qps", "'-5'"]),
        (vec!["scan", "--burst", "0"], vec![], vec!["--burst", "'0'"]),
        (vec!["scan", "--max-object-series", "-1"], vec![], vec!["--max-object-series", "'-1'"]),
        (vec!["run", "--interval", "-5s"], vec![], vec!["--interval", "'-5s'"]),
        (vec!["run", "--interval", "0s"], vec![], vec!["--interval", "'0s'"]),
        (vec!["scan", "--request-timeout", "500000000000y"], vec![], vec!["--request-timeout", "at most"]),
        (vec!["scan"], vec![("GARBAGE_AUDIT_STUCK_AFTER", "-1m")], vec!["GARBAGE_AUDIT_STUCK_AFTER"]),
        // An address that cannot be listened on: refused before the cluster is contacted (in
        // enforce the Lease used to be taken first).
        (vec!["run", "--remediation", "enforce", "--listen", &in_use], vec![], vec!["--listen", &in_use]),
        (vec!["run", "--listen", "127.0.0.1:99999"], vec![], vec!["--listen", "99999"]),
    ];
    for (args, env, needles) in &cases {
        let mut full: Vec<&str> = args.clone();
        if args[0] == "run" && !args.contains(&"--listen") {
            full.extend(listen);
        }
        let mut cmd = c.command(&full);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (code, stderr) = tokio::task::spawn_blocking(move || run_bounded(cmd)).await.unwrap();
        let requests: Vec<String> = c
            .sim
            .take_request_log()
            .into_iter()
            .map(|r| format!("{} {}", r.method, r.uri))
            .collect();
        assert_eq!(code, Some(2), "{full:?} {env:?}: {stderr}");
        for needle in needles {
            assert!(stderr.contains(needle), "{full:?} {env:?}: {needle:?} not in {stderr}");
        }
        assert!(
            !stderr.contains("serving /metrics") && !stderr.contains("remediation queue on"),
            "{full:?} {env:?} started: {stderr}"
        );
        assert!(requests.is_empty(), "{full:?} {env:?} reached the API: {requests:?}");
    }
    drop(taken);
    // The neighbours that can work start: the checks are not broader than the rule.
    #[rustfmt::skip]
    let valid: Vec<(Vec<&str>, Env)> = vec![
        (vec!["--remediation", "enforce", "--remediation-namespaces", "a", "--remediation-exclude-namespaces", "b", "--remediation-actions", "fix_owner_kind,remove_finalizer"], vec![]),
        (vec!["--remediation", "dry-run", "--remediation-actions", "remove_finalizer", "--remediation-finalizers", "example.com/f"], vec![]),
        (vec!["--interval", "5m"], vec![("GARBAGE_AUDIT_INTERVAL", "5m"), ("GARBAGE_AUDIT_LOG_FORMAT", "text")]),
        // The command line wins over its GARBAGE_AUDIT_* twin (clap's rule, documented).
        (vec!["--interval", "5m"], vec![("GARBAGE_AUDIT_INTERVAL", "1m")]),
        // --remediation off is the kill switch: the other settings may stay configured.
        (vec!["--remediation", "off", "--remediation-actions", "fix_owner_kind", "--remediation-finalizers", "example.com/f"], vec![("GARBAGE_AUDIT_REMEDIATION_MIN_ROUNDS", "5")]),
    ];
    for (extra, env) in valid {
        let mut args = vec!["run", "--listen", "127.0.0.1:0"];
        args.extend(extra.iter().copied());
        let mut cmd = c.command(&args);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let d = spawn_daemon(cmd);
        let ok = eventually(Duration::from_secs(30), || {
            (http_get(d.addr, "/healthz").0 == 200).then_some(())
        })
        .await;
        assert!(ok.is_some(), "{args:?} {env:?} did not start");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resource_the_cluster_does_not_serve_is_a_configuration_error() {
    let c = cluster(Some("aibrix"), &[]).await;
    let out = c
        .run(&[
            "scan",
            "--owner-resources",
            "horizontalpodautoscalers.autoscaling,deploymnets.apps",
        ])
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--owner-resources") && stderr.contains("deploymnets.apps"),
        "{stderr}"
    );
}

#[test]
fn unreachable_cluster_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_file(
        dir.path(),
        "kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n",
    );
    let out = Command::new(BIN)
        .args(["scan", "--request-timeout", "5s", "--kubeconfig"])
        .arg(&kubeconfig)
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reaching the API server"));
    let missing = Command::new(BIN)
        .args(["scan", "--kubeconfig", "/nonexistent/kubeconfig"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/kubeconfig"));
}

#[cfg(feature = "demo")]
#[tokio::test(flavor = "multi_thread")]
async fn demo_serves_the_seed_failures_as_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut cmd = Command::new(BIN);
    cmd.args([
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "1s",
        "--kubeconfig-out",
    ])
    .arg(&kubeconfig)
    .env_clear()
    .env("HOME", dir.path());
    let daemon = spawn_daemon(cmd);
    let found = daemon
        .metrics_until(|text| {
            text.contains("garbage_audit_namespace_stuck{namespace=\"aibrix-system\",reason=\"FinalizersRemaining\"} 1")
                && text.contains("name=\"mistral-7b-hpa\"")
        })
        .await;
    assert!(found.is_some(), "demo metrics never showed the seed failures");
    // The printed kubeconfig works with kubectl.
    let out = Command::new("kubectl")
        .args(["get", "ns", "aibrix-system", "-o", "jsonpath={.status.phase}"])
        .env("HOME", dir.path())
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Terminating",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn owner_resources_all_finds_problems_beyond_hpas() {
    let c = cluster(Some("aibrix"), &[]).await;
    let mut objects = Vec::new();
    for i in 0..150 {
        objects.push(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}"), "namespace": "default", "uid": format!("cm-uid-{i}")}}));
        objects.push(serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("s-{i}"), "namespace": "default"}}));
    }
    // A ConfigMap owned through a case-mangled kind, a Pod naming (by uid) a Deployment that lives in
    // another namespace (with a second, unmappable reference: that pins it, otherwise the garbage
    // collector would prune the dangling reference), and a ServiceAccount whose owner's group has gone.
    let uid = c
        .kubectl(&[
            "get",
            "deploy",
            "llama-3-8b",
            "-n",
            "llm-serving",
            "-o",
            "jsonpath={.metadata.uid}",
        ])
        .await;
    let uid = String::from_utf8(uid.stdout).unwrap();
    assert!(!uid.is_empty());
    objects.push(
        serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "elsewhere", "namespace": "default",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "llama-3-8b", "uid": uid},
                            {"apiVersion": "apps/v1", "kind": "DEPLOYMENT", "name": "llama-3-8b", "uid": "x"}]},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
    );
    objects.push(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad-kind", "namespace": "llm-serving",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "deployMent", "name": "llama-3-8b", "uid": "whatever"}]}}));
    objects.push(serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "gone-group", "namespace": "default",
        "ownerReferences": [{"apiVersion": "ray.io/v1", "kind": "RayCluster", "name": "rc", "uid": "u-rc"}]}}));
    c.sim.load_objects(objects).expect("objects load");
    let (code, report) = c.scan_json(&["--owner-resources", "all"]).await;
    assert_eq!(code, 1);
    let problems = report["ownerReferenceProblems"].as_array().unwrap();
    let find = |name: &str| {
        problems
            .iter()
            .find(|p| p["dependent"]["name"] == name)
            .unwrap_or_else(|| panic!("{name} not reported: {report:#}"))
    };
    assert_eq!(find("bad-kind")["reason"], "KindCaseMismatch");
    assert_eq!(find("bad-kind")["suggestedKind"], "Deployment");
    assert_eq!(find("bad-kind")["dependent"]["resource"], "configmaps");
    assert_eq!(find("gone-group")["reason"], "GroupNotServed");
    assert_eq!(
        find("gone-group")["ownerExists"],
        false,
        "no owner of an unserved group can exist"
    );
    assert_eq!(find("elsewhere")["reason"], "OwnerInOtherNamespace");
    assert_eq!(find("mistral-7b-hpa")["reason"], "KindCaseMismatch");
    // Healthy ownership chains (ReplicaSet → Deployment, Pod → ReplicaSet) are not reported.
    assert!(
        !problems.iter().any(|p| p["dependent"]["resource"] == "replicasets"
            || (p["dependent"]["resource"] == "pods" && p["dependent"]["name"] != "elsewhere")),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_scan_keeps_the_last_findings_marked_stale_and_recovers() {
    let c = cluster(Some("aibrix"), &[]).await;
    let daemon = c.ready_daemon().await;

    // Every namespace list now fails with a server error.
    c.sim.set_error_rate("namespaces", 1.0);
    let text = daemon
        .metrics_until(|text| text.contains("garbage_audit_findings_stale{scanner=\"namespaces\"} 1"))
        .await
        .expect("namespaces scanner never marked stale");
    let samples = parse_exposition(&text);
    assert!(
        sample(
            &samples,
            &["garbage_audit_scan_errors_total{", "scanner=\"namespaces\""]
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        sample(
            &samples,
            &["garbage_audit_namespace_stuck{", "namespace=\"aibrix-system\""]
        ),
        Some(1.0),
        "a failed scan keeps the last good findings instead of reporting all clear"
    );
    assert_eq!(
        sample(
            &samples,
            &["garbage_audit_findings_stale{", "scanner=\"owner_references\""]
        ),
        Some(0.0),
        "other scanners are unaffected"
    );
    let (_, body) = http_get(daemon.addr, "/findings");
    let findings: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(findings["complete"], false);

    c.sim.set_error_rate("namespaces", 0.0);
    let recovered = daemon
        .metrics_until(|text| text.contains("garbage_audit_findings_stale{scanner=\"namespaces\"} 0"))
        .await;
    assert!(recovered.is_some(), "scanner did not recover");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unlistable_audited_resource_keeps_its_findings_marked_stale() {
    let c = cluster(Some("aibrix"), &[]).await;
    let daemon = c.ready_daemon().await;
    // The scan itself still succeeds, but HPAs cannot be listed any more.
    c.sim.set_error_rate("horizontalpodautoscalers.autoscaling", 1.0);
    let text = daemon
        .metrics_until(|text| text.contains("garbage_audit_findings_stale{scanner=\"owner_references\"} 1"))
        .await
        .expect("owner_references never marked stale");
    assert!(text.contains("garbage_audit_scan_incomplete{scanner=\"owner_references\"} 1"));
    assert!(
        text.contains("name=\"mistral-7b-hpa\""),
        "the findings are carried over, not dropped"
    );
    let samples = parse_exposition(&text);
    assert_eq!(
        sample(
            &samples,
            &["garbage_audit_scan_errors_total{", "scanner=\"owner_references\""]
        ),
        Some(0.0)
    );
    c.sim.set_error_rate("horizontalpodautoscalers.autoscaling", 0.0);
    let fresh = daemon
        .metrics_until(|text| text.contains("garbage_audit_findings_stale{scanner=\"owner_references\"} 0"))
        .await;
    assert!(fresh.is_some(), "stale did not clear once HPAs could be listed again");
}
