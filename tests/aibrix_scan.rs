//! `scan` against kube-sim's `aibrix` scenario: both seed failures are found, healthy objects are
//! not, and fixing them with kubectl clears the findings.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn finds_both_seed_failures_and_nothing_healthy() {
    let c = cluster(Some("aibrix"), &[]).await;
    let (code, report) = c.scan_json(&[]).await;
    assert_eq!(code, 1, "findings → exit 1; report: {report:#}");

    let stuck = report["stuckNamespaces"].as_array().unwrap();
    assert_eq!(stuck.len(), 1, "{report:#}");
    let ns = &stuck[0];
    assert_eq!(ns["namespace"], "aibrix-system");
    assert_eq!(ns["stuck"], true);
    assert_eq!(ns["reason"], "FinalizersRemaining");
    // A stable identity: the namespace's uid, whatever its blockers say.
    assert_eq!(ns["id"], format!("namespace {}", ns["uid"].as_str().unwrap()));
    assert!(ns["terminatingSeconds"].as_f64().unwrap() > 2.0 * 3600.0);
    let blockers = ns["blockers"].as_array().unwrap();
    assert_eq!(blockers.len(), 1, "{blockers:#?}");
    assert_eq!(blockers[0]["group"], "model.aibrix.ai");
    assert_eq!(blockers[0]["resource"], "modeladapters");
    assert_eq!(blockers[0]["finalizer"], "adapter.model.aibrix.ai/finalizer");
    assert_eq!(blockers[0]["count"], 1);
    assert_eq!(blockers[0]["objects"][0]["object"]["name"], "qwen-code-lora");
    assert!(!blockers[0]["objects"][0]["object"]["uid"].as_str().unwrap().is_empty());

    let orphan = problems_for(&report, "mistral-7b-hpa");
    assert_eq!(orphan.len(), 1, "{report:#}");
    assert_eq!(orphan[0]["reason"], "KindCaseMismatch");
    assert_eq!(
        orphan[0]["id"],
        format!(
            "reference {}/OwnerReference/0",
            orphan[0]["dependent"]["uid"].as_str().unwrap()
        )
    );
    assert_eq!(orphan[0]["suggestedKind"], "PodAutoscaler");
    assert_eq!(orphan[0]["ownerExists"], false);
    assert_eq!(orphan[0]["gcBlocked"], true);
    assert_eq!(orphan[0]["orphan"], true);
    assert_eq!(orphan[0]["reference"]["kind"], "PodAutoScaler");
    assert_eq!(orphan[0]["dependent"]["resource"], "horizontalpodautoscalers");

    let live = problems_for(&report, "llama-3-8b-hpa");
    assert_eq!(live.len(), 1, "{report:#}");
    assert_eq!(live[0]["reason"], "KindCaseMismatch");
    assert_eq!(live[0]["ownerExists"], true);
    assert_eq!(live[0]["gcBlocked"], true);
    assert!(live[0]["fix"].as_str().unwrap().starts_with("Correct the kind"));

    assert!(
        problems_for(&report, "qwen-7b-hpa").is_empty(),
        "a correct reference is not a problem"
    );
    assert_eq!(
        report["ownerReferenceProblems"].as_array().unwrap().len(),
        2,
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn table_output_summarises_blockers_and_fixes() {
    let c = cluster(Some("aibrix"), &[]).await;
    let out = c.run(&["scan"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("aibrix-system"), "{text}");
    assert!(
        text.contains("1 × modeladapters.model.aibrix.ai waiting on adapter.model.aibrix.ai/finalizer"),
        "{text}"
    );
    // The default table fits a terminal: the suggested kind, not the fix prose.
    assert!(text.lines().all(|l| l.chars().count() <= 160), "{text}");
    assert!(
        text.contains("PodAutoscaler") && !text.contains("Correct the kind"),
        "{text}"
    );
    // -o wide adds the fixes, rendered from the structured suggested actions.
    let out = c.run(&["scan", "-o", "wide"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("set ownerReferences[0].kind PodAutoScaler → PodAutoscaler on horizontalpodautoscalers.autoscaling llm-serving/llama-3-8b-hpa"),
        "{text}"
    );
    assert!(
        text.contains("delete orphan horizontalpodautoscalers.autoscaling llm-serving/mistral-7b-hpa: kubectl -n llm-serving delete horizontalpodautoscalers.autoscaling mistral-7b-hpa"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fixing_with_kubectl_clears_the_findings() {
    let c = cluster(Some("aibrix"), &[]).await;
    let fix_ns = c
        .kubectl(&[
            "patch", "modeladapter", "qwen-code-lora", "-n", "aibrix-system", "--type=json", "-p",
            r#"[{"op":"test","path":"/metadata/finalizers/0","value":"adapter.model.aibrix.ai/finalizer"},{"op":"remove","path":"/metadata/finalizers/0"}]"#,
        ])
        .await;
    assert!(fix_ns.status.success(), "{}", String::from_utf8_lossy(&fix_ns.stderr));
    let fix_kind = c
        .kubectl(&[
            "patch", "hpa", "llama-3-8b-hpa", "-n", "llm-serving", "--type=json", "-p",
            r#"[{"op":"test","path":"/metadata/ownerReferences/0/kind","value":"PodAutoScaler"},{"op":"replace","path":"/metadata/ownerReferences/0/kind","value":"PodAutoscaler"}]"#,
        ])
        .await;
    assert!(
        fix_kind.status.success(),
        "{}",
        String::from_utf8_lossy(&fix_kind.stderr)
    );
    let delete_orphan = c
        .kubectl(&["delete", "hpa", "mistral-7b-hpa", "-n", "llm-serving", "--wait=false"])
        .await;
    assert!(
        delete_orphan.status.success(),
        "{}",
        String::from_utf8_lossy(&delete_orphan.stderr)
    );

    // The namespace controller finishes the namespace once the finalizer is gone.
    let mut last = Value::Null;
    for _ in 0..50 {
        let (code, report) = c.scan_json(&[]).await;
        if code == 0 {
            return;
        }
        last = report;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("findings did not clear: {last:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_failure_is_the_finding_and_never_crashes_the_scan() {
    let c = cluster(Some("aibrix"), &["metrics.k8s.io/v1beta1"]).await;
    let (code, report) = c.scan_json(&[]).await;
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["complete"], false);
    let failures = report["discoveryFailures"].as_array().unwrap();
    assert!(
        failures.iter().any(|f| f["groupVersion"] == "metrics.k8s.io/v1beta1"),
        "{report:#}"
    );
    let ns = &report["stuckNamespaces"][0];
    assert_eq!(ns["reason"], "DiscoveryFailure", "{ns:#}");
    assert!(
        ns["reasons"]
            .as_array()
            .unwrap()
            .contains(&Value::from("FinalizersRemaining")),
        "{ns:#}"
    );
    assert!(ns["failingGroupVersions"]
        .as_array()
        .unwrap()
        .contains(&Value::from("metrics.k8s.io/v1beta1")));
    // The owner-reference findings are still there: a failing group is not everything failing.
    assert_eq!(problems_for(&report, "mistral-7b-hpa").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn young_terminating_namespace_is_not_stuck_and_pvc_protection_is_named() {
    let c = cluster(None, &[]).await;
    c.sim
        .load_objects(vec![
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "young", "deletionTimestamp": ago(60)},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Terminating"}}),
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "held", "namespace": "young", "finalizers": ["example.com/hold"], "deletionTimestamp": ago(60)}}),
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "data", "deletionTimestamp": ago(7200)},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Terminating"}}),
            serde_json::json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "db", "namespace": "data", "finalizers": ["kubernetes.io/pvc-protection"], "deletionTimestamp": ago(7200)},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
        ])
        .expect("objects load");
    let (code, report) = c.scan_json(&[]).await;
    assert_eq!(code, 1, "{report:#}");
    let stuck = report["stuckNamespaces"].as_array().unwrap();
    assert_eq!(stuck.len(), 1, "{report:#}");
    assert_eq!(stuck[0]["namespace"], "data");
    assert_eq!(stuck[0]["reason"], "FinalizersRemaining");
    assert_eq!(stuck[0]["blockers"][0]["resource"], "persistentvolumeclaims");
    assert_eq!(stuck[0]["blockers"][0]["group"], "");
    assert_eq!(stuck[0]["blockers"][0]["finalizer"], "kubernetes.io/pvc-protection");
    let young = report["terminatingNamespaces"].as_array().unwrap();
    assert!(
        young.iter().any(|n| n["namespace"] == "young" && n["stuck"] == false),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stuck_objects_are_reported_only_when_asked() {
    let c = cluster(Some("aibrix"), &[]).await;
    let (_, without) = c.scan_json(&[]).await;
    assert!(without["stuckObjects"].as_array().unwrap().is_empty());
    let (code, report) = c.scan_json(&["--stuck-objects"]).await;
    assert_eq!(code, 1);
    let stuck = report["stuckObjects"].as_array().unwrap();
    assert_eq!(stuck.len(), 1, "{report:#}");
    assert_eq!(stuck[0]["object"]["object"]["name"], "qwen-code-lora");
    assert_eq!(stuck[0]["object"]["finalizers"][0], "adapter.model.aibrix.ai/finalizer");
    assert!(stuck[0]["deletedSeconds"].as_f64().unwrap() > 3600.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn many_stuck_namespaces_are_listed_cluster_wide_with_the_same_result() {
    let c = cluster(None, &[]).await;
    let mut objects = Vec::new();
    // More stuck namespaces than the per-namespace listing handles: content is listed once per type.
    for i in 0..5 {
        let ns = format!("stuck-{i}");
        objects.push(serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "deletionTimestamp": ago(3600)},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Terminating"}}));
        for j in 0..=i {
            objects.push(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("held-{j}"), "namespace": ns, "finalizers": ["example.com/hold"], "deletionTimestamp": ago(3600)}}));
        }
    }
    // Content of a healthy namespace must not be attributed to any stuck one.
    objects.push(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held-0", "namespace": "default"}}));
    c.sim.load_objects(objects).expect("objects load");
    let (code, report) = c.scan_json(&[]).await;
    assert_eq!(code, 1, "{report:#}");
    let stuck = report["stuckNamespaces"].as_array().unwrap();
    assert_eq!(stuck.len(), 5, "{report:#}");
    for (i, ns) in stuck.iter().enumerate() {
        assert_eq!(ns["namespace"], format!("stuck-{i}"));
        assert_eq!(ns["reason"], "FinalizersRemaining");
        let blockers = ns["blockers"].as_array().unwrap();
        assert_eq!(blockers.len(), 1, "{ns:#}");
        assert_eq!(blockers[0]["finalizer"], "example.com/hold");
        assert_eq!(blockers[0]["count"], i + 1, "{ns:#}");
    }
}
