//! The auditor against a real control plane: etcd, kube-apiserver and kube-controller-manager
//! (namespace controller + garbage collector) built from the Kubernetes Go modules by
//! `scripts/control-plane.sh`. The seed failures are produced here by upstream's own controllers.
//! Every scan runs as the identity bound to deploy/base's ClusterRole.
//!
//! A plain binary (harness = false): the control plane is started once, the cases run in order
//! (`cargo test --test real_cluster -- seed` runs those whose name contains `seed`), and the
//! control plane is stopped at the end, pass or fail.

mod common;
mod real;

#[path = "real/differential.rs"]
mod differential;
#[path = "real/faults.rs"]
mod faults;

use std::time::Duration;

use common::{http_get, parse_exposition, problems_for, sample, spawn_daemon};
use real::*;
use serde_json::Value;

fn main() {
    let cp = ControlPlane::up();
    // Both AIBrix CRDs up front: the garbage collector maps owner kinds only after its next
    // discovery sync (every 30 s), so waiting once here saves a wait per case.
    cp.apply(&aibrix_crds(&[
        "podautoscalers.autoscaling.aibrix.ai",
        "modeladapters.model.aibrix.ai",
    ]));
    cp.admin(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/podautoscalers.autoscaling.aibrix.ai",
        "crd/modeladapters.model.aibrix.ai",
    ]);
    cp.wait_for_gc_to_monitor("Resource=podautoscalers");
    let cases = [
        Case {
            name: "listens_on_loopback_only",
            run: listens_on_loopback_only,
        },
        Case {
            name: "a_second_control_plane_runs_alongside",
            run: a_second_control_plane_runs_alongside,
        },
        Case {
            name: "version_reports_the_pinned_release",
            run: version_reports_the_pinned_release,
        },
        Case {
            name: "seed1_namespace_stuck_on_a_dead_finalizer",
            run: seed1_namespace_stuck_on_a_dead_finalizer,
        },
        Case {
            name: "seed2_miscased_owner_kind_is_never_collected",
            run: seed2_miscased_owner_kind_is_never_collected,
        },
        Case {
            name: "shipped_rbac_is_sufficient_and_no_more",
            run: shipped_rbac_is_sufficient_and_no_more,
        },
        Case {
            name: "narrowed_rbac_gives_partial_data_not_clean",
            run: narrowed_rbac_gives_partial_data_not_clean,
        },
        Case {
            name: "differential_fidelity_of_kube_sim",
            run: differential_fidelity_of_kube_sim,
        },
        Case {
            name: "remediation_read_only_by_default_then_two_replicas_one_lease",
            run: remediation_read_only_by_default_then_two_replicas_one_lease,
        },
        // On a control plane of its own (fast etcd compaction, low in-flight limits).
        Case {
            name: "api_faults_on_a_real_server",
            run: faults::api_faults_on_a_real_server,
        },
        // Last: an unavailable APIService stops every namespace deletion in the cluster.
        Case {
            name: "discovery_failure_of_an_unavailable_apiservice",
            run: discovery_failure_of_an_unavailable_apiservice,
        },
    ];
    let mut status = run_cases(&cp, &cases);
    let (dir, owned) = (cp.dir.clone(), std::env::var_os("KGA_CONTROL_PLANE_DIR").is_none());
    drop(cp);
    // `down` leaves no process behind.
    if owned {
        let left = std::process::Command::new("pgrep")
            .args(["-f", &dir.display().to_string()])
            .output()
            .unwrap();
        if !left.stdout.is_empty() {
            eprintln!(
                "real-cluster: processes left after down: {}",
                String::from_utf8_lossy(&left.stdout)
            );
            status = 1;
        } else {
            eprintln!("real-cluster: down left no process behind");
        }
    }
    std::process::exit(status);
}

fn version_reports_the_pinned_release(cp: &ControlPlane) {
    let out = cp.admin(&["version", "-o", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let env = std::fs::read_to_string(cp.dir.join("env")).unwrap();
    let pinned = env.lines().find_map(|l| l.strip_prefix("KUBERNETES_VERSION=")).unwrap();
    assert_eq!(v["serverVersion"]["gitVersion"], pinned, "{out}");
}

fn stuck<'a>(report: &'a Value, namespace: &str) -> Option<&'a Value> {
    report["stuckNamespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["namespace"] == namespace)
}

fn seed1_namespace_stuck_on_a_dead_finalizer(cp: &ControlPlane) {
    cp.apply(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: aibrix-system
---
apiVersion: model.aibrix.ai/v1alpha1
kind: ModelAdapter
metadata:
  name: qwen-code-lora
  namespace: aibrix-system
  finalizers:
  - adapter.model.aibrix.ai/finalizer
spec:
  baseModel: qwen-coder-1-5b-instruct
"#,
    );
    cp.admin(&["delete", "ns", "aibrix-system", "--wait=false"]);

    // The real namespace controller deletes the ModelAdapter, cannot finish, and says why.
    let conditions = poll(Duration::from_secs(60), || {
        let out = cp.admin(&["get", "ns", "aibrix-system", "-o", "json"]);
        let ns: Value = serde_json::from_str(&out).unwrap();
        let held = ns["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "NamespaceFinalizersRemaining" && c["status"] == "True");
        held.then_some(ns["status"]["conditions"].clone())
    })
    .expect("the namespace controller never reported NamespaceFinalizersRemaining");
    eprintln!("  namespace conditions: {conditions}");

    let (code, report, stderr) = cp.scan_json(&["--stuck-after", "1s"]);
    assert_eq!(code, 1, "findings → 1; {stderr}\n{report:#}");
    assert_eq!(
        report["complete"], true,
        "the auditor identity sees everything: {report:#}"
    );
    let ns = stuck(&report, "aibrix-system").unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(ns["reason"], "FinalizersRemaining", "{ns:#}");
    let blockers = ns["blockers"].as_array().unwrap();
    assert_eq!(blockers.len(), 1, "{ns:#}");
    assert_eq!(blockers[0]["group"], "model.aibrix.ai");
    assert_eq!(blockers[0]["resource"], "modeladapters");
    assert_eq!(blockers[0]["finalizer"], "adapter.model.aibrix.ai/finalizer");
    assert_eq!(blockers[0]["objects"][0]["object"]["name"], "qwen-code-lora");
    let parsed = ns["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "NamespaceFinalizersRemaining")
        .unwrap_or_else(|| panic!("{ns:#}"));
    assert_eq!(
        parsed["parsed"][0]["subject"], "adapter.model.aibrix.ai/finalizer",
        "{parsed:#}"
    );

    // The daemon exports it; removing the one dead finalizer lets the namespace controller finish,
    // and the series clear.
    let daemon = auditor_daemon(cp);
    let stuck_series = r#"garbage_audit_namespace_stuck{namespace="aibrix-system""#;
    poll(Duration::from_secs(30), || {
        let (_, text) = http_get(daemon.addr, "/metrics");
        text.contains(stuck_series).then_some(())
    })
    .expect("the daemon never exported the stuck namespace");
    cp.admin(&[
        "patch", "modeladapter", "qwen-code-lora", "-n", "aibrix-system", "--type=json", "-p",
        r#"[{"op":"test","path":"/metadata/finalizers/0","value":"adapter.model.aibrix.ai/finalizer"},{"op":"remove","path":"/metadata/finalizers/0"}]"#,
    ]);
    poll(Duration::from_secs(120), || {
        let out = cp.kubectl(Who::Admin, &["get", "ns", "aibrix-system"]);
        (!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound")).then_some(())
    })
    .expect("the namespace did not finish terminating after the finalizer was removed");
    let cleared = poll(Duration::from_secs(30), || {
        let (_, text) = http_get(daemon.addr, "/metrics");
        let samples = parse_exposition(&text);
        (!text.contains(stuck_series) && sample(&samples, &["garbage_audit_findings_stale"]).is_some()).then_some(text)
    });
    assert!(cleared.is_some(), "the daemon's series did not clear");
}

/// A Deployment (scale target) and an HPA for it whose ownerReferences are `owners`.
fn hpa_yaml(namespace: &str, name: &str, target: &str, owners: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {target}
  namespace: {namespace}
spec:
  selector:
    matchLabels: {{app: {target}}}
  template:
    metadata:
      labels: {{app: {target}}}
    spec:
      containers:
      - name: main
        image: registry.invalid/none:1
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {name}
  namespace: {namespace}
  ownerReferences: {owners}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {target}
  minReplicas: 1
  maxReplicas: 2
"#
    )
}

fn seed2_miscased_owner_kind_is_never_collected(cp: &ControlPlane) {
    cp.apply(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: llm-serving
---
apiVersion: autoscaling.aibrix.ai/v1alpha1
kind: PodAutoscaler
metadata:
  name: mistral-7b
  namespace: llm-serving
spec:
  scalingStrategy: HPA
"#,
    );
    let uid = cp.admin(&[
        "get",
        "podautoscaler",
        "mistral-7b",
        "-n",
        "llm-serving",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let hpas = [
        ("hpa-miscased", "PodAutoScaler"),
        ("hpa-lowercase", "podautoscaler"),
        ("hpa-exact", "PodAutoscaler"),
    ];
    for (name, kind) in hpas {
        let owners = format!(
            "[{{apiVersion: autoscaling.aibrix.ai/v1alpha1, kind: {kind}, name: mistral-7b, uid: {uid}, controller: true, blockOwnerDeletion: true}}]"
        );
        cp.apply(&hpa_yaml("llm-serving", name, &format!("{name}-target"), &owners));
    }

    // While the owner lives: only the mis-cased reference is a problem.
    let (code, report, stderr) = cp.scan_json(&[]);
    assert_eq!(code, 1, "{stderr}\n{report:#}");
    assert_eq!(report["complete"], true, "{report:#}");
    let live = problems_for(&report, "hpa-miscased");
    assert_eq!(live.len(), 1, "{report:#}");
    assert_eq!(live[0]["reason"], "KindCaseMismatch");
    assert_eq!(live[0]["suggestedKind"], "PodAutoscaler");
    assert_eq!(live[0]["ownerExists"], true);
    assert!(
        problems_for(&report, "hpa-lowercase").is_empty(),
        "lowercase kinds map: {report:#}"
    );
    assert!(problems_for(&report, "hpa-exact").is_empty(), "{report:#}");

    // The real garbage collector deletes the two it can map and keeps the mis-cased one for ever.
    cp.admin(&["delete", "podautoscaler", "mistral-7b", "-n", "llm-serving"]);
    poll(Duration::from_secs(90), || {
        let out = cp.admin(&["get", "hpa", "-n", "llm-serving", "-o", "name"]);
        (out.trim() == "horizontalpodautoscaler.autoscaling/hpa-miscased").then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the garbage collector did not delete hpa-lowercase and hpa-exact: {}",
            cp.admin(&["get", "hpa", "-n", "llm-serving"])
        )
    });
    let logged = "unable to get REST mapping for autoscaling.aibrix.ai/v1alpha1/PodAutoScaler";
    poll(Duration::from_secs(60), || {
        cp.log("kube-controller-manager").contains(logged).then_some(())
    })
    .unwrap_or_else(|| panic!("kube-controller-manager.log never said {logged:?}"));
    let kept = cp.kubectl(Who::Admin, &["get", "hpa", "hpa-miscased", "-n", "llm-serving"]);
    assert!(kept.status.success(), "the mis-cased HPA must survive its owner");

    let (code, report, stderr) = cp.scan_json(&[]);
    assert_eq!(code, 1, "{stderr}\n{report:#}");
    assert_eq!(report["complete"], true, "{report:#}");
    let orphan = problems_for(&report, "hpa-miscased");
    assert_eq!(orphan.len(), 1, "{report:#}");
    assert_eq!(orphan[0]["reason"], "KindCaseMismatch");
    assert_eq!(orphan[0]["ownerExists"], false, "{:#}", orphan[0]);
    assert_eq!(orphan[0]["gcBlocked"], true);
    assert_eq!(orphan[0]["orphan"], true);
    assert!(problems_for(&report, "hpa-lowercase").is_empty() && problems_for(&report, "hpa-exact").is_empty());
}

fn forbidden(out: &std::process::Output) -> bool {
    !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("forbidden")
}

fn shipped_rbac_is_sufficient_and_no_more(cp: &ControlPlane) {
    let (code, report, stderr) = cp.scan_json(&["--owner-resources", "all", "--stuck-objects"]);
    assert!(code == 0 || code == 1, "exit {code}: {stderr}\n{report:#}");
    assert_eq!(
        report["complete"], true,
        "every list the audit needs is allowed: {report:#}"
    );
    assert!(report["scanIssues"].as_array().unwrap().is_empty(), "{report:#}");

    let write = cp.kubectl(Who::Auditor, &["create", "configmap", "kga-probe", "-n", "default"]);
    assert!(
        forbidden(&write),
        "a write must be forbidden: {}",
        String::from_utf8_lossy(&write.stderr)
    );
    let delete = cp.kubectl(Who::Auditor, &["delete", "namespace", "default", "--wait=false"]);
    assert!(forbidden(&delete), "{}", String::from_utf8_lossy(&delete.stderr));
    cp.admin(&[
        "create",
        "secret",
        "generic",
        "kga-secret",
        "-n",
        "default",
        "--from-literal=k=v",
    ]);
    let get = cp.kubectl(Who::Auditor, &["get", "secret", "kga-secret", "-n", "default"]);
    assert!(
        forbidden(&get),
        "get secrets must be forbidden: {}",
        String::from_utf8_lossy(&get.stderr)
    );
    let watch = cp.kubectl(Who::Auditor, &["auth", "can-i", "watch", "pods"]);
    assert_eq!(String::from_utf8_lossy(&watch.stdout).trim(), "no");
}

/// A kubeconfig for a ServiceAccount bound to `rules` (a JSON array), with a real token from the
/// TokenRequest API.
fn identity_with_rules(cp: &ControlPlane, name: &str, rules: &Value) -> std::path::PathBuf {
    let role = serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name}, "rules": rules,
    });
    let account = serde_json::json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": "kube-garbage-audit"},
    });
    let binding = serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "kube-garbage-audit"}],
    });
    for object in [role, account, binding] {
        cp.apply(&object.to_string());
    }
    let token = cp.admin(&["create", "token", name, "-n", "kube-garbage-audit", "--duration=1h"]);
    let auditor = std::fs::read_to_string(cp.kubeconfig(Who::Auditor)).unwrap();
    let token_line = auditor.lines().find(|l| l.trim_start().starts_with("token:")).unwrap();
    let text = auditor.replace(token_line, &format!("    token: {}", token.trim()));
    let path = cp.home.path().join(format!("{name}.kubeconfig"));
    std::fs::write(&path, text).unwrap();
    path
}

fn shipped_rules(cp: &ControlPlane) -> Vec<Value> {
    let role: Value =
        serde_json::from_str(&cp.admin(&["get", "clusterrole", "kube-garbage-audit", "-o", "json"])).unwrap();
    role["rules"].as_array().unwrap().clone()
}

fn narrowed_rbac_gives_partial_data_not_clean(cp: &ControlPlane) {
    cp.apply(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: rbac-probe\n---\n{}",
        hpa_yaml("rbac-probe", "web", "web", "[]")
    ));
    let rules = shipped_rules(cp);
    let (list_rule, discovery_rule): (Vec<Value>, Vec<Value>) =
        rules.into_iter().partition(|r| r.get("resources").is_some());
    assert_eq!(list_rule.len(), 1, "the shipped role has one list rule");

    // The shipped list rule spelled out per API group, minus one group (apps): the HPA's scale
    // target cannot be read, so the scan is partial, never clean.
    let apis: Value = serde_json::from_str(&cp.admin(&["get", "--raw", "/apis"])).unwrap();
    let mut groups: Vec<String> = vec![String::new()];
    groups.extend(
        apis["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string()),
    );
    let mut narrowed: Vec<Value> = groups
        .iter()
        .filter(|g| g.as_str() != "apps")
        .map(|g| serde_json::json!({"apiGroups": [g], "resources": ["*"], "verbs": ["list"]}))
        .collect();
    narrowed.extend(discovery_rule.iter().cloned());
    let kubeconfig = identity_with_rules(cp, "kga-without-apps", &Value::Array(narrowed));
    let (code, report, stderr) = cp.scan_json_as(&kubeconfig, &[]);
    assert!(
        code == 1 || code == 3,
        "partial data is never exit 0: {code}: {stderr}\n{report:#}"
    );
    assert_eq!(report["complete"], false, "{report:#}");
    let issues = report["scanIssues"].to_string();
    assert!(
        issues.contains("deployments"),
        "the unreadable resource is named: {report:#}"
    );

    // Without the list rule at all, the scan cannot run: exit 2, naming the refusal.
    let kubeconfig = identity_with_rules(cp, "kga-without-list", &Value::Array(discovery_rule.clone()));
    let out = cp.command(&kubeconfig, &["scan", "-o", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("forbidden"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Without the discovery rule the scan is still complete on a real server: the default
    // `system:discovery` ClusterRole grants every authenticated user the discovery URLs. The rule
    // in deploy/base is for clusters that removed that binding.
    let kubeconfig = identity_with_rules(cp, "kga-without-discovery", &Value::Array(list_rule.clone()));
    let (code, report, stderr) = cp.scan_json_as(&kubeconfig, &[]);
    assert!(code == 0 || code == 1, "{stderr}\n{report:#}");
    assert_eq!(report["complete"], true, "{report:#}");
}

fn discovery_failure_of_an_unavailable_apiservice(cp: &ControlPlane) {
    // No Service backs it: the aggregator never dials anything.
    cp.apply(
        r#"apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.metrics.k8s.io
spec:
  group: metrics.k8s.io
  version: v1beta1
  service:
    name: metrics-server
    namespace: kube-system
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 100
  versionPriority: 100
"#,
    );
    poll(Duration::from_secs(60), || {
        let r = cp.admin(&[
            "get",
            "apiservice",
            "v1beta1.metrics.k8s.io",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Available\")].reason}",
        ]);
        (r.trim() == "ServiceNotFound").then_some(())
    })
    .expect("the APIService never reported ServiceNotFound");

    let owners = "[{apiVersion: metrics.k8s.io/v1beta1, kind: PodMetrics, name: web, uid: 00000000-0000-4000-8000-000000000001}]";
    cp.apply(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: refs\n---\n{}",
        hpa_yaml("refs", "metrics-owned", "metrics-owned", owners)
    ));
    cp.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: doomed\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: content\n  namespace: doomed\n");
    cp.admin(&["delete", "ns", "doomed", "--wait=false"]);
    let condition = poll(Duration::from_secs(60), || {
        let ns: Value = serde_json::from_str(&cp.admin(&["get", "ns", "doomed", "-o", "json"])).ok()?;
        ns["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "NamespaceDeletionDiscoveryFailure" && c["status"] == "True")
            .cloned()
    })
    .expect("the namespace controller never reported NamespaceDeletionDiscoveryFailure");
    eprintln!("  namespace condition: {condition}");

    let (code, report, stderr) = cp.scan_json(&["--stuck-after", "1s"]);
    assert_ne!(code, 0, "{stderr}");
    assert_eq!(report["complete"], false, "{report:#}");
    assert!(
        report["discoveryFailures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["groupVersion"] == "metrics.k8s.io/v1beta1"),
        "{report:#}"
    );
    assert!(
        problems_for(&report, "metrics-owned").is_empty(),
        "references into a failing group are never broken: {report:#}"
    );
    assert!(
        report["unresolvedReferences"].to_string().contains("metrics-owned"),
        "the reference is reported as unresolved: {report:#}"
    );
    let ns = stuck(&report, "doomed").unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(ns["reason"], "DiscoveryFailure", "{ns:#}");
    assert!(
        ns["failingGroupVersions"]
            .to_string()
            .contains("metrics.k8s.io/v1beta1"),
        "{ns:#}"
    );

    // Removing the dead APIService lets the namespace controller finish.
    cp.admin(&["delete", "apiservice", "v1beta1.metrics.k8s.io"]);
    poll(Duration::from_secs(120), || {
        let out = cp.kubectl(Who::Admin, &["get", "ns", "doomed"]);
        (!out.status.success()).then_some(())
    })
    .expect("namespace doomed did not finish after the APIService was removed");
}

fn differential_fidelity_of_kube_sim(cp: &ControlPlane) {
    use differential::*;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (real, simulated) = runtime.block_on(async {
        let sim = kube_sim::start(kube_sim::SimConfig::default())
            .await
            .expect("kube-sim starts");
        let sim_kubeconfig = cp.home.path().join("kube-sim.kubeconfig");
        sim.write_kubeconfig(&sim_kubeconfig).unwrap();
        // The same setup on both: the two AIBrix CRDs (the real server has them from main()).
        let crd = aibrix_crds(&["podautoscalers.autoscaling.aibrix.ai", "modeladapters.model.aibrix.ai"]);
        let out = cp.kubectl_with(&sim_kubeconfig, &["apply", "-f", "-"], Some(&crd));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let kubeconfig = kube::config::Kubeconfig::read_from(cp.kubeconfig(Who::Admin)).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        let real_client = kube::Client::try_from(config).unwrap();
        let real = run_catalogue(&real_client).await;
        let simulated = run_catalogue(&sim.client()).await;
        (real, simulated)
    });
    let known = known_deviations();
    let (mut identical, mut deviations, mut unexplained, mut stale) = (0, 0, Vec::new(), Vec::new());
    eprintln!("  {:<40} {:>6} {:>6}  verdict", "request", "real", "sim");
    for ((request, a), (_, b)) in real.iter().zip(&simulated) {
        let mut diffs = Vec::new();
        if a.status != b.status {
            diffs.push(format!("status: real {} / kube-sim {}", a.status, b.status));
        }
        differences(&normalize(&a.body), &normalize(&b.body), "", &mut diffs);
        let verdict = match (diffs.is_empty(), known.get(request.id)) {
            (true, None) => {
                identical += 1;
                "identical".to_string()
            }
            (true, Some(_)) => {
                stale.push(request.id);
                "identical, but listed as a deviation".to_string()
            }
            (false, Some(reason)) => {
                deviations += 1;
                format!("known deviation: {reason}")
            }
            (false, None) => {
                unexplained.push(format!(
                    "{} {} {}: {}",
                    request.id,
                    request.method,
                    request.path,
                    diffs.join("; ")
                ));
                format!("UNEXPLAINED: {}", diffs.join("; "))
            }
        };
        eprintln!("  {:<40} {:>6} {:>6}  {verdict}", request.id, a.status, b.status);
        if std::env::var("KGA_DIFF_DUMP").is_ok_and(|id| id == request.id) {
            eprintln!("real: {:#}\nkube-sim: {:#}", normalize(&a.body), normalize(&b.body));
        }
    }
    eprintln!(
        "  requests: {}, identical: {identical}, known deviations: {deviations}, unexplained: {}",
        real.len(),
        unexplained.len()
    );
    cp.admin(&["delete", "namespace", "fid-a", "--wait=false"]);
    assert!(real.len() >= 40, "the catalogue has at least 40 requests");
    assert!(
        unexplained.is_empty(),
        "unexplained differences:\n{}",
        unexplained.join("\n")
    );
    assert!(
        stale.is_empty(),
        "listed deviations that no longer differ (remove them from the list and kube-sim/README.md): {stale:?}"
    );
}

/// The audit log's requests by `user` (verb, resource, name, code).
fn audited_requests(cp: &ControlPlane, user: &str) -> Vec<(String, String, String, i64)> {
    cp.audit_events(user)
        .into_iter()
        .map(|e| {
            (
                e["verb"].as_str().unwrap_or_default().to_string(),
                e["objectRef"]["resource"].as_str().unwrap_or_default().to_string(),
                e["objectRef"]["name"].as_str().unwrap_or_default().to_string(),
                e["responseStatus"]["code"].as_i64().unwrap_or_default(),
            )
        })
        .collect()
}

fn metric(daemon: &common::Daemon, series: &str) -> Option<f64> {
    let (_, text) = http_get(daemon.addr, "/metrics");
    sample(&parse_exposition(&text), &[series])
}

fn remediation_read_only_by_default_then_two_replicas_one_lease(cp: &ControlPlane) {
    // A finalizer-held namespace, a live mis-cased owner, and (from seed 2) an orphan.
    cp.apply(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: rem-stuck
---
apiVersion: model.aibrix.ai/v1alpha1
kind: ModelAdapter
metadata:
  name: lora
  namespace: rem-stuck
  finalizers:
  - adapter.model.aibrix.ai/finalizer
---
apiVersion: v1
kind: Namespace
metadata:
  name: rem-live
---
apiVersion: autoscaling.aibrix.ai/v1alpha1
kind: PodAutoscaler
metadata:
  name: live
  namespace: rem-live
"#,
    );
    let uid = cp.admin(&[
        "get",
        "podautoscaler",
        "live",
        "-n",
        "rem-live",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let owners = format!("[{{apiVersion: autoscaling.aibrix.ai/v1alpha1, kind: PodAutoScaler, name: live, uid: {uid}, controller: true}}]");
    cp.apply(&hpa_yaml("rem-live", "hpa-live", "live-target", &owners));
    cp.admin(&["delete", "ns", "rem-stuck", "--wait=false"]);
    let orphan_present = cp
        .kubectl(Who::Admin, &["get", "hpa", "hpa-miscased", "-n", "llm-serving"])
        .status
        .success();

    // Read-only by default: several rounds, and the audit log shows no write request at all.
    let before = audited_requests(cp, AUDITOR_USER).len();
    let reader = auditor_daemon(cp);
    poll(Duration::from_secs(30), || {
        let (_, text) = http_get(reader.addr, "/metrics");
        text.contains(r#"garbage_audit_namespace_stuck{namespace="rem-stuck""#)
            .then_some(())
    })
    .expect("the read-only daemon saw the stuck namespace");
    std::thread::sleep(Duration::from_secs(4));
    drop(reader);
    let requests = audited_requests(cp, AUDITOR_USER);
    let writes: Vec<_> = requests[before..]
        .iter()
        .filter(|(verb, ..)| !matches!(verb.as_str(), "get" | "list" | "watch"))
        .collect();
    assert!(
        requests.len() > before + 10,
        "the audit log recorded the daemon's reads"
    );
    assert!(
        writes.is_empty(),
        "without remediation flags the daemon wrote: {writes:?}"
    );

    // The remediation component's RBAC (and the documented ModelAdapter rule), for the same identity.
    let rendered = std::process::Command::new("kubectl")
        .args([
            "kustomize",
            &repo()
                .join("tests/artifacts/kustomize/remediation")
                .display()
                .to_string(),
        ])
        .output()
        .unwrap();
    assert!(rendered.status.success());
    let rbac: Vec<String> = String::from_utf8_lossy(&rendered.stdout)
        .split("\n---\n")
        .filter(|d| {
            [
                "kind: Role\n",
                "kind: RoleBinding\n",
                "kind: ClusterRole\n",
                "kind: ClusterRoleBinding\n",
            ]
            .iter()
            .any(|k| d.contains(k))
        })
        .map(str::to_string)
        .collect();
    cp.apply(&rbac.join("\n---\n"));
    cp.apply(
        &serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "kube-garbage-audit-remediation-finalizers"},
            "rules": [{"apiGroups": ["model.aibrix.ai"], "resources": ["modeladapters"], "verbs": ["get", "patch"]}],
        })
        .to_string(),
    );

    // Two replicas, one Lease.
    let replica = |name: &str| {
        let mut cmd = auditor_command(
            cp,
            &[
                "--remediation",
                "enforce",
                "--remediation-finalizers",
                "adapter.model.aibrix.ai/finalizer",
                "--remediation-min-rounds",
                "2",
            ],
        );
        cmd.env("POD_NAMESPACE", "kube-garbage-audit").env("HOSTNAME", name);
        spawn_daemon(cmd)
    };
    let replicas_started = audited_requests(cp, AUDITOR_USER).len();
    let (a, b) = (replica("replica-a"), replica("replica-b"));
    let fixed = poll(Duration::from_secs(90), || {
        let ns_gone = !cp.kubectl(Who::Admin, &["get", "ns", "rem-stuck"]).status.success();
        let kind = cp.admin(&[
            "get",
            "hpa",
            "hpa-live",
            "-n",
            "rem-live",
            "-o",
            "jsonpath={.metadata.ownerReferences[0].kind}",
        ]);
        let orphan_gone = !cp
            .kubectl(Who::Admin, &["get", "hpa", "hpa-miscased", "-n", "llm-serving"])
            .status
            .success();
        (ns_gone && kind == "PodAutoscaler" && orphan_gone).then_some(())
    });
    assert!(
        fixed.is_some(),
        "the queue did not fix all three; a: {}\nb: {}",
        http_get(a.addr, "/remediations").1,
        http_get(b.addr, "/remediations").1
    );
    let applied = |d: &common::Daemon| -> f64 {
        ["remove_finalizer", "fix_owner_kind", "delete_orphan"]
            .iter()
            .map(|act| {
                metric(
                    d,
                    &format!(r#"garbage_audit_remediation_actions_total{{action="{act}",result="applied"}}"#),
                )
                .unwrap_or(0.0)
            })
            .sum()
    };
    let leaders = [&a, &b]
        .iter()
        .filter(|d| metric(d, "garbage_audit_remediation_leader") == Some(1.0))
        .count();
    assert_eq!(leaders, 1, "exactly one replica holds the Lease");
    let expected = if orphan_present { 3.0 } else { 2.0 };
    assert_eq!(
        applied(&a) + applied(&b),
        expected,
        "each action applied once, by one replica"
    );
    assert!(applied(&a) == 0.0 || applied(&b) == 0.0, "only the Lease holder acts");
    // The healthy PodAutoscaler is untouched, and the Events are there for kubectl (core/v1 view).
    let events = cp.admin(&["get", "events", "-A", "-o", "json"]);
    for reason in ["FinalizerRemoved", "OwnerKindFixed"] {
        assert!(events.contains(reason), "Event {reason} missing");
    }
    // (Earlier cases' deliberate, forbidden writes as this identity are before this point.)
    let writes: Vec<_> = audited_requests(cp, AUDITOR_USER)
        .into_iter()
        .skip(replicas_started)
        .filter(|(verb, resource, ..)| {
            matches!(verb.as_str(), "patch" | "delete" | "update") && resource != "leases" && resource != "events"
        })
        .collect();
    eprintln!("  writes by the auditor identity (dry runs included): {writes:?}");
    assert!(
        writes
            .iter()
            .all(|(_, resource, ..)| resource == "modeladapters" || resource == "horizontalpodautoscalers"),
        "{writes:?}"
    );
}

fn listens_on_loopback_only(cp: &ControlPlane) {
    let pids: Vec<String> = ["etcd", "kube-apiserver", "kube-controller-manager"]
        .iter()
        .map(|c| {
            std::fs::read_to_string(cp.dir.join(format!("{c}.pid")))
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .collect();
    let ss = std::process::Command::new("ss")
        .args(["-ltnpH"])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8_lossy(&ss.stdout);
    let mine: Vec<&str> = text
        .lines()
        .filter(|l| pids.iter().any(|p| !p.is_empty() && l.contains(&format!("pid={p},"))))
        .collect();
    assert!(mine.len() >= 3, "etcd (client, peer) and kube-apiserver listen: {text}");
    for line in mine {
        let local = line.split_whitespace().nth(3).unwrap_or_default();
        assert!(local.starts_with("127.0.0.1:"), "listens beyond loopback: {line}");
    }
}

fn a_second_control_plane_runs_alongside(cp: &ControlPlane) {
    let dir = tempfile::Builder::new().prefix("kga-second-").tempdir().unwrap();
    let script = repo().join("scripts/control-plane.sh");
    let up = std::process::Command::new("bash")
        .arg(&script)
        .arg("up")
        .arg(dir.path())
        .output()
        .unwrap();
    let result = std::panic::catch_unwind(|| {
        assert!(
            up.status.success(),
            "{}{}",
            String::from_utf8_lossy(&up.stdout),
            String::from_utf8_lossy(&up.stderr)
        );
        assert!(
            String::from_utf8_lossy(&up.stdout).contains("start"),
            "up prints how long the start took"
        );
        let second = cp.kubectl_with(&dir.path().join("admin.kubeconfig"), &["get", "ns", "-o", "name"], None);
        assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
        let first = cp.kubectl(Who::Admin, &["get", "ns", "-o", "name"]);
        assert!(first.status.success(), "the first control plane still answers");
        let ours = std::fs::read_to_string(cp.dir.join("env")).unwrap();
        let theirs = std::fs::read_to_string(dir.path().join("env")).unwrap();
        assert_ne!(ours.lines().next(), theirs.lines().next(), "different ports");
    });
    let down = std::process::Command::new("bash")
        .arg(&script)
        .arg("down")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(down.success());
    let left = std::process::Command::new("pgrep")
        .args(["-f", &dir.path().display().to_string()])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "down left processes: {}",
        String::from_utf8_lossy(&left.stdout)
    );
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// `run` as the auditor identity, every second, with `--stuck-after 1s`, and `extra` flags.
fn auditor_command(cp: &ControlPlane, extra: &[&str]) -> std::process::Command {
    let mut args = vec![
        "run",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "1s",
        "--stuck-after",
        "1s",
    ];
    args.extend_from_slice(extra);
    cp.command(&cp.kubeconfig(Who::Auditor), &args)
}

/// [`auditor_command`] without extra flags, started.
fn auditor_daemon(cp: &ControlPlane) -> common::Daemon {
    spawn_daemon(auditor_command(cp, &[]))
}
