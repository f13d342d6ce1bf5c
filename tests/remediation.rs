//! The remediation queue against kube-sim's `aibrix` scenario: each action end to end, each gate,
//! read-only by default, dry run writes nothing, `remediate --confirm` refuses a changed plan,
//! SIGTERM during an action. (Two replicas with one Lease run on the real control plane, in
//! tests/real_cluster.rs: kube-sim's server-side apply has no field-manager conflicts.)

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const FINALIZER: &str = "adapter.model.aibrix.ai/finalizer";

fn daemon_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "--listen", "127.0.0.1:0", "--interval", "1s"];
    args.extend_from_slice(extra);
    args
}

fn remediations(d: &Daemon) -> Value {
    let (code, body) = http_get(d.addr, "/remediations");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls `/remediations` until `check` holds.
async fn remediations_until(d: &Daemon, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let found = eventually(Duration::from_secs(40), || {
        last = remediations(d);
        check(&last).then(|| last.clone())
    })
    .await;
    found.unwrap_or_else(|| panic!("{what}; last /remediations: {last:#}"))
}

fn results(status: &Value) -> Vec<(String, String)> {
    status["lastActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["action"]["action"].as_str().unwrap().to_string(),
                a["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn decision_of<'a>(status: &'a Value, action: &str, name: &str) -> &'a Value {
    status["plan"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"]["action"] == action && e["action"]["object"]["name"] == name)
        .unwrap_or_else(|| panic!("no {action} for {name}: {status:#}"))
}

/// The resourceVersions of every object the queue could act on (enforce mode also writes its
/// Lease, so the server's resourceVersion is no measure there).
async fn candidate_versions(c: &Cluster) -> String {
    let adapter = c
        .kubectl(&[
            "get",
            "modeladapters",
            "-A",
            "-o",
            "jsonpath={.items[*].metadata.resourceVersion}",
        ])
        .await;
    let hpas = c
        .kubectl(&[
            "get",
            "hpa",
            "-A",
            "-o",
            "jsonpath={.items[*].metadata.resourceVersion}",
        ])
        .await;
    format!(
        "{} {}",
        String::from_utf8_lossy(&adapter.stdout),
        String::from_utf8_lossy(&hpas.stdout)
    )
}

/// The resourceVersion of the scenario's healthy HPA (the queue must never write it).
async fn healthy_version(c: &Cluster) -> std::process::Output {
    c.kubectl(&[
        "get",
        "hpa",
        "qwen-7b-hpa",
        "-n",
        "llm-serving",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ])
    .await
}

/// The daemon's log lines up to the first one `check` accepts (at most 30 s; panics otherwise).
/// Sends SIGTERM once the daemon logged a plan; returns every log line up to its clean exit.
async fn sigterm_once_planned(d: &mut Daemon) -> Vec<String> {
    let mut seen = logs_until(d, |l| l.contains("remediation planned")).await;
    let pid = d.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = d.child.wait().unwrap();
    assert!(status.success(), "exit {status}");
    while let Ok(line) = d.logs.recv_timeout(Duration::from_secs(2)) {
        seen.push(line);
    }
    seen
}

async fn logs_until(d: &Daemon, check: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    let found = eventually(Duration::from_secs(30), || {
        while let Ok(line) = d.logs.try_recv() {
            seen.push(line);
        }
        seen.iter().any(|l| check(l)).then_some(())
    })
    .await;
    assert!(found.is_some(), "{seen:#?}");
    seen
}

async fn server_resource_version(c: &Cluster) -> String {
    let out = c.kubectl(&["get", "--raw", "/api/v1/namespaces"]).await;
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    list["metadata"]["resourceVersion"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn enforce_fixes_both_seed_failures_and_touches_nothing_healthy() {
    let c = cluster(Some("aibrix"), &[]).await;
    let healthy_before = healthy_version(&c).await;
    let d = spawn_daemon(c.command(&daemon_args(&[
        "--remediation",
        "enforce",
        "--remediation-finalizers",
        FINALIZER,
        "--remediation-min-rounds",
        "2",
    ])));
    let status = remediations_until(&d, "three actions applied", |s| {
        results(s).iter().filter(|(_, r)| r == "applied").count() == 3
    })
    .await;
    let mut got = results(&status);
    got.sort();
    assert_eq!(
        got,
        [
            ("delete_orphan", "applied"),
            ("fix_owner_kind", "applied"),
            ("remove_finalizer", "applied")
        ]
        .map(|(a, r)| (a.to_string(), r.to_string()))
    );
    // The namespace finishes terminating, the live HPA's kind is corrected, the orphan is gone.
    let gone = eventually(Duration::from_secs(20), || {
        let out = std::process::Command::new("kubectl")
            .args(["get", "ns", "aibrix-system"])
            .env("HOME", c.dir.path())
            .env("KUBECONFIG", &c.kubeconfig)
            .output()
            .unwrap();
        (!out.status.success()).then_some(())
    })
    .await;
    assert!(gone.is_some(), "aibrix-system did not finish terminating");
    let kind = c
        .kubectl(&[
            "get",
            "hpa",
            "llama-3-8b-hpa",
            "-n",
            "llm-serving",
            "-o",
            "jsonpath={.metadata.ownerReferences[0].kind}",
        ])
        .await;
    assert_eq!(String::from_utf8_lossy(&kind.stdout), "PodAutoscaler");
    let orphan = c.kubectl(&["get", "hpa", "mistral-7b-hpa", "-n", "llm-serving"]).await;
    assert!(!orphan.status.success(), "the orphan HPA must be deleted");
    let healthy_after = healthy_version(&c).await;
    assert_eq!(
        healthy_before.stdout, healthy_after.stdout,
        "a healthy HPA is never written"
    );
    // The next rounds confirm it; metrics count it; the audit is clean.
    let text = d
        .metrics_until(|t| {
            t.contains(r#"garbage_audit_remediation_actions_total{action="fix_owner_kind",result="applied"} 1"#)
        })
        .await
        .expect("applied counter");
    let samples = parse_exposition(&text);
    assert_eq!(sample(&samples, &["garbage_audit_remediation_leader"]), Some(1.0));
    assert_eq!(sample(&samples, &["garbage_audit_remediation_halted"]), Some(0.0));
    assert_eq!(
        sample(
            &samples,
            &[r#"garbage_audit_remediation_actions_total{action="delete_orphan",result="failed"}"#]
        ),
        Some(0.0)
    );
    // Events record what was done (for the object in the terminating namespace: on the Namespace).
    let events = c.kubectl(&["get", "events.events.k8s.io", "-A", "-o", "json"]).await;
    let events: Value = serde_json::from_slice(&events.stdout).unwrap();
    let reasons: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    for r in ["FinalizerRemoved", "OwnerKindFixed", "OrphanDeleted"] {
        assert!(reasons.contains(&r), "Event {r} missing: {reasons:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_remediation_flags_nothing_is_written() {
    let c = cluster(Some("aibrix"), &[]).await;
    let before = server_resource_version(&c).await;
    let d = spawn_daemon(c.command(&daemon_args(&[])));
    d.metrics_until(|t| t.contains("garbage_audit_namespace_stuck{"))
        .await
        .expect("a round");
    tokio::time::sleep(Duration::from_secs(4)).await; // several more rounds
    assert_eq!(
        server_resource_version(&c).await,
        before,
        "the daemon wrote to the cluster"
    );
    let (code, body) = http_get(d.addr, "/remediations");
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("remediation is off"));
    let (_, metrics) = http_get(d.addr, "/metrics");
    assert!(
        !metrics.contains("garbage_audit_remediation_actions_total"),
        "no remediation series when off"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_validates_and_writes_nothing() {
    let c = cluster(Some("aibrix"), &[]).await;
    let before = server_resource_version(&c).await;
    let d = spawn_daemon(c.command(&daemon_args(&[
        "--remediation",
        "dry-run",
        "--remediation-finalizers",
        FINALIZER,
        "--remediation-min-rounds",
        "1",
    ])));
    let status = remediations_until(&d, "dry runs", |s| {
        results(s).iter().filter(|(_, r)| r == "dry_run").count() >= 3
    })
    .await;
    assert!(results(&status).iter().all(|(_, r)| r == "dry_run"), "{status:#}");
    assert_eq!(
        server_resource_version(&c).await,
        before,
        "a dry run persisted something (or wrote an Event)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gates_hold_actions_back_and_say_why() {
    let c = cluster(Some("aibrix"), &[]).await;
    // Opt one object out.
    let out = c
        .kubectl(&[
            "annotate",
            "hpa",
            "llama-3-8b-hpa",
            "-n",
            "llm-serving",
            "kube-garbage-audit.io/remediate=false",
        ])
        .await;
    assert!(out.status.success());
    let before = candidate_versions(&c).await;
    let d = spawn_daemon(c.command(&daemon_args(&[
        "--remediation",
        "enforce",
        "--remediation-min-rounds",
        "1",
        "--remediation-exclude-namespaces",
        "other",
        // no --remediation-finalizers: the ModelAdapter finalizer is never removed
        "--remediation-actions",
        "fix_owner_kind,remove_finalizer",
    ])));
    let status = remediations_until(&d, "the opted-out HPA is skipped", |s| {
        s["lastActions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["result"] == "skipped"))
    })
    .await;
    let skipped = &status["lastActions"][0];
    assert!(skipped["detail"].as_str().unwrap().contains("opted out"), "{status:#}");
    let finalizer = decision_of(&status, "remove_finalizer", "qwen-code-lora");
    assert_eq!(finalizer["decision"], "refused");
    assert!(finalizer["why"]
        .as_str()
        .unwrap()
        .contains("not in --remediation-finalizers"));
    let orphan = decision_of(&status, "delete_orphan", "mistral-7b-hpa");
    assert!(
        orphan["why"].as_str().unwrap().contains("--remediation-actions"),
        "{orphan:#}"
    );
    assert_eq!(candidate_versions(&c).await, before, "nothing may be written");
    drop(d);

    // Minimum rounds, and the blast-radius halt.
    let d = spawn_daemon(c.command(&daemon_args(&[
        "--remediation",
        "enforce",
        "--remediation-min-rounds",
        "1000",
        "--remediation-finalizers",
        FINALIZER,
    ])));
    let status = remediations_until(&d, "waiting", |s| {
        s["plan"]["entries"].as_array().is_some_and(|e| !e.is_empty())
    })
    .await;
    let wait = decision_of(&status, "remove_finalizer", "qwen-code-lora");
    assert_eq!(wait["decision"], "wait");
    assert!(
        wait["why"]
            .as_str()
            .unwrap()
            .contains("of 1000 consecutive complete rounds"),
        "{wait:#}"
    );
    drop(d);
    let d = spawn_daemon(c.command(&daemon_args(&[
        "--remediation",
        "enforce",
        "--remediation-min-rounds",
        "1",
        "--remediation-finalizers",
        FINALIZER,
        "--remediation-halt-above",
        "2",
    ])));
    let status = remediations_until(&d, "halted", |s| s["plan"]["halted"].is_string()).await;
    assert!(status["plan"]["halted"]
        .as_str()
        .unwrap()
        .contains("3 candidates exceed --remediation-halt-above 2"));
    d.metrics_until(|t| t.contains("garbage_audit_remediation_halted 1"))
        .await
        .expect("halted gauge");
    assert_eq!(candidate_versions(&c).await, before, "a halted queue writes nothing");
    drop(d);

    // Per-round cap: one action per round.
    let d = spawn_daemon(c.command(&daemon_args(&[
        "--remediation",
        "enforce",
        "--remediation-min-rounds",
        "1",
        "--remediation-finalizers",
        FINALIZER,
        "--remediation-max-per-round",
        "1",
    ])));
    let status = remediations_until(&d, "one action, the rest capped", |s| !results(s).is_empty()).await;
    let entries = status["plan"]["entries"].as_array().unwrap();
    let acting = entries.iter().filter(|e| e["decision"] == "act").count();
    let capped: Vec<&Value> = entries.iter().filter(|e| e["decision"] == "capped").collect();
    assert_eq!(acting, 1, "{status:#}");
    assert!(
        !capped.is_empty()
            && capped
                .iter()
                .all(|e| e["why"].as_str().unwrap().contains("--remediation-max-per-round 1")),
        "{status:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_data_plans_nothing() {
    let c = cluster(Some("aibrix"), &["metrics.k8s.io/v1beta1"]).await;
    let before = candidate_versions(&c).await;
    let d = spawn_daemon(c.command(&daemon_args(&[
        "--remediation",
        "enforce",
        "--remediation-min-rounds",
        "1",
        "--remediation-finalizers",
        FINALIZER,
    ])));
    let status = remediations_until(&d, "blocked", |s| s["plan"]["blocked"].is_string()).await;
    assert!(
        status["plan"]["blocked"]
            .as_str()
            .unwrap()
            .contains("discovery of metrics.k8s.io/v1beta1 failed"),
        "{status:#}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(results(&remediations(&d)).is_empty());
    assert_eq!(candidate_versions(&c).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn remediate_prints_a_digest_and_refuses_a_changed_plan() {
    let c = cluster(Some("aibrix"), &[]).await;
    let before = server_resource_version(&c).await;
    let out = c
        .run(&["remediate", "-o", "json", "--remediation-finalizers", FINALIZER])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest = printed["digest"].as_str().unwrap().to_string();
    assert_eq!(
        printed["plan"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["decision"] == "act")
            .count(),
        3
    );
    assert_eq!(
        server_resource_version(&c).await,
        before,
        "printing a plan writes nothing"
    );

    // The live HPA changes: the confirmed plan no longer matches and nothing is written.
    assert!(c
        .kubectl(&["label", "hpa", "llama-3-8b-hpa", "-n", "llm-serving", "touched=yes"])
        .await
        .status
        .success());
    let changed = server_resource_version(&c).await;
    let out = c
        .run(&["remediate", "--remediation-finalizers", FINALIZER, "--confirm", &digest])
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match the current plan"));
    assert_eq!(server_resource_version(&c).await, changed);

    // A fresh plan, confirmed: applied.
    let out = c
        .run(&["remediate", "-o", "json", "--remediation-finalizers", FINALIZER])
        .await;
    let digest = serde_json::from_slice::<Value>(&out.stdout).unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let out = c
        .run(&[
            "remediate",
            "-o",
            "json",
            "--remediation-finalizers",
            FINALIZER,
            "--confirm",
            &digest,
        ])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        done["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["result"] == "applied"),
        "{done:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_an_action_finishes_and_records_it() {
    let c = cluster(Some("aibrix"), &[]).await;
    // Every request on ModelAdapters takes 1.5 s: the re-read, dry run and patch take ~4.5 s.
    c.sim
        .set_latency("modeladapters.model.aibrix.ai", Duration::from_millis(1500));
    let mut d = spawn_daemon(c.command(&daemon_args(&[
        "--remediation",
        "enforce",
        "--remediation-min-rounds",
        "1",
        "--remediation-finalizers",
        FINALIZER,
        "--remediation-actions",
        "remove_finalizer",
    ])));
    let seen = sigterm_once_planned(&mut d).await;
    let applied = seen.iter().position(|l| l.contains("remediation applied"));
    let shutdown = seen.iter().position(|l| l.contains("shutdown signal received"));
    assert!(
        applied.is_some() && shutdown.is_some() && shutdown < applied,
        "the action in flight finished after the signal: {seen:#?}"
    );
    let fins = c
        .kubectl(&[
            "get",
            "modeladapter",
            "qwen-code-lora",
            "-n",
            "aibrix-system",
            "-o",
            "jsonpath={.metadata.finalizers}",
        ])
        .await;
    assert!(
        !String::from_utf8_lossy(&fins.stdout).contains(FINALIZER),
        "the action was done"
    );
}

/// SIGTERM while the first of three planned actions is in flight: each action ends either done
/// and recorded (the object changed, a `remediation applied` log line and an Event) or not done
/// (the object untouched, no log line, no Event): the one in flight finishes, none starts after
/// the signal.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_between_actions_leaves_each_done_and_recorded_or_not_done() {
    let c = cluster(Some("aibrix"), &[]).await;
    let version = |storage: &str, ns: &str, name: &str| {
        c.sim
            .get_stored(storage, ns, name)
            .map(|o| o["metadata"]["resourceVersion"].to_string())
    };
    let targets = [
        ("autoscaling/horizontalpodautoscalers", "llm-serving", "mistral-7b-hpa"),
        ("autoscaling/horizontalpodautoscalers", "llm-serving", "llama-3-8b-hpa"),
        ("model.aibrix.ai/modeladapters", "aibrix-system", "qwen-code-lora"),
    ];
    let before: Vec<Option<String>> = targets.iter().map(|(s, n, o)| version(s, n, o)).collect();
    assert!(before.iter().all(Option::is_some), "{before:?}");
    // Every HPA request takes 1.5 s: the first action (delete_orphan, keys sort by action) takes
    // at least its re-read, dry run and DELETE, ~4.5 s.
    c.sim
        .set_latency("horizontalpodautoscalers.autoscaling", Duration::from_millis(1500));
    let mut d = spawn_daemon(c.command(&daemon_args(&[
        "--remediation",
        "enforce",
        "--remediation-min-rounds",
        "1",
        "--remediation-finalizers",
        FINALIZER,
    ])));
    let seen = sigterm_once_planned(&mut d).await;
    c.sim
        .set_latency("horizontalpodautoscalers.autoscaling", Duration::ZERO);
    let events = c.kubectl(&["get", "events.events.k8s.io", "-A", "-o", "json"]).await;
    let events: Value = serde_json::from_slice(&events.stdout).unwrap();
    let reasons: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    let get = |kind: &str, ns: &str, name: &str, path: &str| {
        let (kind, ns, name, path) = (kind.to_string(), ns.to_string(), name.to_string(), path.to_string());
        let c = &c;
        async move {
            let out = c
                .kubectl(&["get", &kind, &name, "-n", &ns, "-o", &format!("jsonpath={path}")])
                .await;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).to_string())
        }
    };
    let orphan_gone = get("hpa", "llm-serving", "mistral-7b-hpa", "{.metadata.name}")
        .await
        .is_none();
    let kind_fixed = get(
        "hpa",
        "llm-serving",
        "llama-3-8b-hpa",
        "{.metadata.ownerReferences[0].kind}",
    )
    .await
        == Some("PodAutoscaler".into());
    let finalizer_gone = get(
        "modeladapter",
        "aibrix-system",
        "qwen-code-lora",
        "{.metadata.finalizers}",
    )
    .await
    .is_none_or(|f| !f.contains(FINALIZER));
    let mut done = Vec::new();
    for (i, (action, object, is_done, reason)) in [
        ("delete_orphan", "mistral-7b-hpa", orphan_gone, "OrphanDeleted"),
        ("fix_owner_kind", "llama-3-8b-hpa", kind_fixed, "OwnerKindFixed"),
        ("remove_finalizer", "qwen-code-lora", finalizer_gone, "FinalizerRemoved"),
    ]
    .into_iter()
    .enumerate()
    {
        let (storage, ns, name) = targets[i];
        let untouched = version(storage, ns, name) == before[i];
        let logged = seen
            .iter()
            .any(|l| l.contains("remediation applied") && l.contains(object));
        let attempted = seen.iter().any(|l| {
            (l.contains("remediation applied") || l.contains("remediation failed") || l.contains("remediation skipped"))
                && l.contains(object)
        });
        let event = reasons.contains(&reason);
        assert!(
            (is_done && logged && event && !untouched) || (!is_done && !attempted && !event && untouched),
            "{action} on {object}: done {is_done}, logged {logged}, Event {event}, untouched {untouched}: {seen:#?}"
        );
        if is_done {
            done.push(action);
        }
    }
    // The action in flight when the signal came finished; none started after it.
    assert_eq!(done, ["delete_orphan"], "{seen:#?}");
    let shutdown = seen.iter().position(|l| l.contains("shutdown signal received"));
    let applied = seen.iter().position(|l| l.contains("remediation applied"));
    assert!(shutdown.is_some() && shutdown < applied, "{seen:#?}");
    assert!(
        seen.iter().any(|l| l.contains("no further remediation this round")),
        "{seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_changed_between_plan_and_act_is_skipped_not_overwritten() {
    let c = cluster(Some("aibrix"), &[]).await;
    // Every HPA request takes 1.5 s, so the executor's fresh GET is still in flight when the
    // object changes (the change goes straight into the store, without that latency).
    c.sim
        .set_latency("horizontalpodautoscalers.autoscaling", Duration::from_millis(1500));
    let out = c
        .kubectl(&["get", "hpa", "llama-3-8b-hpa", "-n", "llm-serving", "-o", "json"])
        .await;
    let mut changed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut d = spawn_daemon(c.command(&daemon_args(&[
        "--remediation",
        "enforce",
        "--remediation-min-rounds",
        "1",
        "--remediation-actions",
        "fix_owner_kind",
    ])));
    logs_until(&d, |l| {
        l.contains("remediation planned") && l.contains("llama-3-8b-hpa")
    })
    .await;
    changed["metadata"]["labels"] = serde_json::json!({"changed-by": "someone-else"});
    for k in ["resourceVersion", "managedFields"] {
        changed["metadata"].as_object_mut().unwrap().remove(k);
    }
    c.sim.load_objects(vec![changed]).expect("the change lands");
    let status = remediations_until(&d, "the attempt ended", |s| !results(s).is_empty()).await;
    let attempt = &status["lastActions"][0];
    assert_eq!(attempt["result"], "skipped", "{status:#}");
    assert!(
        attempt["detail"].as_str().unwrap().contains("resourceVersion changed"),
        "{status:#}"
    );
    let now = c
        .kubectl(&["get", "hpa", "llama-3-8b-hpa", "-n", "llm-serving", "-o", "json"])
        .await;
    let now: Value = serde_json::from_slice(&now.stdout).unwrap();
    assert_eq!(
        now["metadata"]["labels"]["changed-by"], "someone-else",
        "the other writer's change stays"
    );
    let _ = d.child.kill();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_excluded_namespace_is_never_acted_in() {
    let c = cluster(Some("aibrix"), &[]).await;
    let before = candidate_versions(&c).await;
    let d = spawn_daemon(c.command(&daemon_args(&[
        "--remediation",
        "enforce",
        "--remediation-min-rounds",
        "1",
        "--remediation-exclude-namespaces",
        "llm-serving",
    ])));
    let status = remediations_until(&d, "planned", |s| {
        s["plan"]["entries"].as_array().is_some_and(|e| e.len() >= 2)
    })
    .await;
    for (action, name) in [
        ("delete_orphan", "mistral-7b-hpa"),
        ("fix_owner_kind", "llama-3-8b-hpa"),
    ] {
        let e = decision_of(&status, action, name);
        assert_eq!(e["decision"], "refused", "{e:#}");
        assert!(
            e["why"].as_str().unwrap().contains("--remediation-exclude-namespaces"),
            "{e:#}"
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(candidate_versions(&c).await, before);
}
