//! API faults that a real kube-apiserver produces, on a control plane of its own configured to
//! produce them (etcd compacted every second, low in-flight limits): a CRD deleted between
//! discovery and its list (`404`), a continue token compacted away (`410`), and API Priority and
//! Fairness rejecting the auditor's identity (`429`). Each row checks the fault really happened
//! (from the API server's audit log) and what the auditor made of it; the matrix is printed and
//! any row that does not hold fails the case. The same faults on kube-sim: tests/fault_matrix.rs.

use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::real::{poll, ControlPlane, Who, AUDITOR_USER};

struct Row {
    fault: &'static str,
    expected: &'static str,
    observed: String,
    holds: bool,
}

/// The audit log's events by the auditor identity.
fn auditor_events(cp: &ControlPlane) -> Vec<Value> {
    cp.audit_events(AUDITOR_USER)
}

/// A row's verdict; when it does not hold, the scan's stderr is printed to explain why.
fn holds(verdict: bool, stderr: &str) -> bool {
    if !verdict {
        eprintln!("{stderr}");
    }
    verdict
}

/// The auditor's list requests of `resource` after the first `skip` events: (requestURI, code).
fn lists_of(cp: &ControlPlane, skip: usize, resource: &str) -> Vec<(String, i64)> {
    auditor_events(cp)
        .into_iter()
        .skip(skip)
        .filter(|e| e["verb"] == "list" && e["objectRef"]["resource"] == resource)
        .map(|e| {
            (
                e["requestURI"].as_str().unwrap_or_default().to_string(),
                e["responseStatus"]["code"].as_i64().unwrap_or_default(),
            )
        })
        .collect()
}

fn scan(cp: &ControlPlane, args: &[&str]) -> Child {
    let mut all = vec!["scan", "-o", "json"];
    all.extend_from_slice(args);
    cp.command(&cp.kubeconfig(Who::Auditor), &all)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the auditor starts")
}

/// Waits for a scan (at most 120 s): its exit code, its report, its stderr.
fn finish(mut child: Child) -> (i32, Value, String) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("scan did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (
        status.code().unwrap_or(-1),
        serde_json::from_str(&out).unwrap_or(Value::Null),
        err,
    )
}

fn issues(report: &Value) -> Vec<String> {
    report["scanIssues"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["message"].as_str().map_or_else(|| i.to_string(), str::to_string))
        .collect()
}

fn configmaps(namespace: &str, count: usize) -> String {
    let items: Vec<Value> = (0..count)
        .map(|i| {
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("cm-{i:03}"), "namespace": namespace}, "data": {"i": i.to_string()}})
        })
        .collect();
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

fn create(cp: &ControlPlane, doc: &str) {
    let out = cp.kubectl_with(&cp.kubeconfig(Who::Admin), &["create", "-f", "-"], Some(doc));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A CRD deleted after the auditor's discovery and before its list: the list answers 404.
fn crd_deleted_mid_scan(cp: &ControlPlane) -> Row {
    cp.apply(
        r#"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.kga.test"},
  "spec": {"group": "kga.test", "scope": "Namespaced",
    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
    "versions": [{"name": "v1", "served": true, "storage": true,
      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}"#,
    );
    cp.admin(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/widgets.kga.test",
    ]);
    let skip = auditor_events(cp).len();
    // 4 s between requests (no burst): time to delete the CRD between discovery and the lists.
    let child = scan(
        cp,
        &[
            "--owner-resources",
            "widgets.kga.test,configmaps",
            "--qps",
            "0.25",
            "--burst",
            "1",
        ],
    );
    let discovered = poll(Duration::from_secs(60), || {
        auditor_events(cp)
            .iter()
            .skip(skip)
            .any(|e| e["requestURI"] == "/apis")
            .then_some(())
    });
    assert!(discovered.is_some(), "the auditor never read /apis");
    cp.admin(&["delete", "crd", "widgets.kga.test", "--wait=true", "--timeout=30s"]);
    let (code, report, stderr) = finish(child);
    let codes: Vec<i64> = lists_of(cp, skip, "widgets").into_iter().map(|(_, c)| c).collect();
    let issues = issues(&report);
    Row {
        fault: "CRD widgets.kga.test deleted after discovery, before its list (`404` on the list)",
        expected: "zero widgets this round, not an unlistable type: the scan is complete and exits 0",
        observed: format!(
            "widgets list answered {codes:?}; exit {code}; complete {}; issues {issues:?}",
            report["complete"]
        ),
        holds: holds(
            codes == [404] && code == 0 && report["complete"] == true && issues.is_empty(),
            &stderr,
        ),
    }
}

/// A continue token compacted away between two pages: etcd is compacted every second and the
/// auditor asks for a page every 3.3 s, so every continue expires.
fn continue_token_compacted(cp: &ControlPlane) -> Row {
    cp.admin(&["create", "namespace", "paged"]);
    create(cp, &configmaps("paged", 30));
    let skip = auditor_events(cp).len();
    let child = scan(
        cp,
        &[
            "--owner-resources",
            "configmaps",
            "--page-size",
            "10",
            "--qps",
            "0.3",
            "--burst",
            "1",
        ],
    );
    let (code, report, stderr) = finish(child);
    let lists = lists_of(cp, skip, "configmaps");
    let codes: Vec<i64> = lists.iter().map(|(_, c)| *c).collect();
    let unpaged = lists.iter().filter(|(uri, _)| !uri.contains("limit=")).count();
    // After the first 410 the list goes on from the token it carried (a continued request).
    let followed = lists.get(2).is_some_and(|(uri, _)| uri.contains("continue="));
    let issues = issues(&report);
    let named = issues
        .iter()
        .any(|i| i.contains("configmaps") && i.contains("continue token expired twice"));
    Row {
        fault: "`410 Expired` on a continued list (etcd compacted every 1 s, a page every 3.3 s)",
        expected: "the list follows the inconsistent token the 410 carries (never an unpaged relist); the next expiry makes configmaps partial: exit 3, never clean",
        observed: format!(
            "configmaps lists answered {codes:?}; followed the 410's token: {followed}; {unpaged} unpaged; exit {code}; complete {}; issue naming configmaps: {named}",
            report["complete"]
        ),
        // Page 1; page 2 expired; page 2 again from the 410's token; page 3 expired again.
        holds: holds(
            codes == [200, 410, 200, 410]
                && followed
                && unpaged == 0
                && code == 3
                && report["complete"] == false
                && named,
            &stderr,
        ),
    }
}

/// API Priority and Fairness gives the auditor one seat and rejects what does not fit.
fn throttled_by_priority_and_fairness(cp: &ControlPlane) -> Row {
    cp.apply(&format!(
        r#"{{"apiVersion": "v1", "kind": "List", "items": [
  {{"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
    "metadata": {{"name": "kga-throttled"}},
    "spec": {{"type": "Limited", "limited": {{"nominalConcurrencyShares": 1, "lendablePercent": 0,
      "limitResponse": {{"type": "Reject"}}}}}}}},
  {{"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
    "metadata": {{"name": "kga-auditor"}},
    "spec": {{"priorityLevelConfiguration": {{"name": "kga-throttled"}}, "matchingPrecedence": 100,
      "distinguisherMethod": {{"type": "ByUser"}},
      "rules": [{{"subjects": [{{"kind": "User", "user": {{"name": "{AUDITOR_USER}"}}}}],
        "resourceRules": [{{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "clusterScope": true, "namespaces": ["*"]}}],
        "nonResourceRules": [{{"verbs": ["*"], "nonResourceURLs": ["*"]}}]}}]}}}}]}}"#
    ));
    // The configuration is in effect once the server reports it as not dangling.
    let effective = poll(Duration::from_secs(30), || {
        let out = cp.kubectl(Who::Admin, &["get", "flowschema", "kga-auditor", "-o", "json"]);
        let fs: Value = serde_json::from_slice(&out.stdout).ok()?;
        fs["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Dangling" && c["status"] == "False")
            .then_some(())
    });
    assert!(effective.is_some(), "FlowSchema kga-auditor never took effect");
    cp.admin(&["create", "namespace", "throttle"]);
    create(cp, &configmaps("throttle", 200));
    let skip = auditor_events(cp).len();
    // Many lists at once (every collectable resource, 8 in flight, no pacing) into one seat.
    let child = scan(
        cp,
        &[
            "--owner-resources",
            "all",
            "--stuck-objects",
            "--concurrency",
            "8",
            "--qps",
            "100000",
        ],
    );
    let (code, report, stderr) = finish(child);
    let codes: Vec<i64> = auditor_events(cp)
        .iter()
        .skip(skip)
        .map(|e| e["responseStatus"]["code"].as_i64().unwrap_or_default())
        .collect();
    let rejected = codes.iter().filter(|c| **c == 429).count();
    let issues = issues(&report);
    Row {
        fault: "API Priority and Fairness: the auditor's FlowSchema → a level with 1 seat that rejects (`429`), 8 lists in flight",
        expected: "rejected requests are retried after Retry-After (spread) inside the deadline; the round is complete",
        observed: format!(
            "{} requests, {rejected} answered 429; exit {code}; complete {}; issues {issues:?}",
            codes.len(),
            report["complete"]
        ),
        holds: holds(
            rejected > 0 && report["complete"] == true && issues.is_empty() && code != 3,
            &stderr,
        ),
    }
}

pub fn api_faults_on_a_real_server(_shared: &ControlPlane) {
    // Its own control plane: etcd compacted every second (continue tokens expire between slow
    // pages) and low in-flight limits (the auditor's priority level gets one seat).
    let cp = ControlPlane::dedicated(
        "--etcd-compaction-interval=1s --max-requests-inflight=20 --max-mutating-requests-inflight=10",
    );
    let rows = [
        crd_deleted_mid_scan(&cp),
        continue_token_compacted(&cp),
        throttled_by_priority_and_fairness(&cp),
    ];
    eprintln!("  | fault | expected | observed | holds |");
    for r in &rows {
        eprintln!("  | {} | {} | {} | {} |", r.fault, r.expected, r.observed, r.holds);
    }
    let failed: Vec<&str> = rows.iter().filter(|r| !r.holds).map(|r| r.fault).collect();
    assert!(failed.is_empty(), "rows that do not hold: {failed:?}");
}
