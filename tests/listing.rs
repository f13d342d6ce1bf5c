//! The API module against kube-sim: paging, and the fallback when a continue token expires.

mod common;

use std::time::Duration;

use common::cluster;
use kube_garbage_audit::discovery::ResourceType;
use kube_garbage_audit::kubeapi::{ApiLimits, ClusterApi};
use kube_garbage_audit::listed::Body;

fn configmaps() -> ResourceType {
    ResourceType {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        plural: "configmaps".into(),
        namespaced: true,
        verbs: vec!["list".into()],
        singular: "configmap".into(),
        short_names: vec!["cm".into()],
    }
}

async fn loaded(n: usize) -> common::Cluster {
    let c = cluster(None, &[]).await;
    let objects = (0..n)
        .map(|i| serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i:03}"), "namespace": "default"}}))
        .collect();
    c.sim.load_objects(objects).expect("objects load");
    c
}

fn api(c: &common::Cluster, page_size: u32) -> ClusterApi {
    ClusterApi::new(
        c.sim.client(),
        ApiLimits {
            page_size,
            min_interval: Duration::ZERO,
            burst: 1,
            ..ApiLimits::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_through_everything_metadata_only() {
    let c = loaded(25).await;
    let list = api(&c, 4)
        .list_metadata(&configmaps(), Some("default"))
        .await
        .expect("list");
    let mut names: Vec<String> = list.objects.iter().map(|o| o.name.to_string()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 25, "every object exactly once across 7 pages");
    assert!(
        list.objects
            .iter()
            .all(|o| *o.body() == Body::None && !o.uid.is_empty()),
        "metadata only, parsed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_continue_token_is_followed_from_the_servers_token() {
    let c = loaded(10).await;
    // Every continue token is already too old when it comes back: page 2 answers 410 Gone with
    // an inconsistent token in its Status, which the list follows (tests/fault_matrix.rs checks
    // that no unpaged list is sent and that a second 410 fails the list).
    c.sim.set_compaction_window(Duration::ZERO);
    let list = api(&c, 3)
        .list_metadata(&configmaps(), Some("default"))
        .await
        .expect("list completes");
    assert_eq!(list.objects.len(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn finds_one_object_by_name_with_a_list() {
    let c = loaded(5).await;
    let api = api(&c, 500);
    let found = api
        .find_by_name(&configmaps(), "default", "cm-003")
        .await
        .expect("list");
    assert_eq!(found.map(|o| o.name.to_string()).as_deref(), Some("cm-003"));
    assert!(api
        .find_by_name(&configmaps(), "default", "cm-999")
        .await
        .expect("list")
        .is_none());
    assert!(api
        .find_by_name(&configmaps(), "kube-system", "cm-003")
        .await
        .expect("list")
        .is_none());
}

/// `/api`, `/api/v1`, `/apis`, `/apis/<group>` and `/apis/<group>/<version>`: discovery, not a list.
fn is_discovery_path(path: &str) -> bool {
    let slashes = path.matches('/').count();
    path == "/api"
        || path == "/apis"
        || (path.starts_with("/api/") && slashes == 2)
        || (path.starts_with("/apis/") && slashes <= 3)
}

/// `count` namespaces `stuck-N` Terminating for an hour, each holding one core `kind` object
/// named `held` that is being deleted but keeps the finalizer `example.com/hold`.
fn stuck_namespaces(count: usize, kind: &str) -> Vec<serde_json::Value> {
    let ago = common::ago(3600);
    let mut objects = Vec::new();
    for i in 0..count {
        let ns = format!("stuck-{i}");
        objects.push(serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "deletionTimestamp": ago},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Terminating"}}));
        objects.push(serde_json::json!({"apiVersion": "v1", "kind": kind,
            "metadata": {"name": "held", "namespace": ns, "finalizers": ["example.com/hold"], "deletionTimestamp": ago}}));
    }
    objects
}

/// One read model per round: with both scanners needing the same lists (`--owner-resources all`
/// and more stuck namespaces than the per-namespace path handles), every list is fetched once.
#[tokio::test(flavor = "multi_thread")]
async fn each_list_is_fetched_once_per_round() {
    let c = cluster(Some("aibrix"), &[]).await;
    let objects = stuck_namespaces(5, "ConfigMap");
    c.sim.load_objects(objects).expect("objects load");
    c.sim.record_requests(true);
    let (code, report) = c.scan_json(&["--owner-resources", "all", "--stuck-objects"]).await;
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["stuckNamespaces"].as_array().unwrap().len(), 6, "{report:#}");
    let mut lists: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for r in c.sim.take_request_log() {
        // Lists of collections (owner confirmations by field selector are reads of one object).
        if r.method != "GET" || r.uri.contains("fieldSelector") || r.uri.starts_with("/version") {
            continue;
        }
        let path = r.uri.split('?').next().unwrap_or_default().to_string();
        if !is_discovery_path(&path) {
            *lists.entry(r.uri.clone()).or_default() += 1;
        }
    }
    let twice: Vec<_> = lists.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "lists fetched more than once in one round: {twice:?}");
    assert!(lists.len() > 20, "the round listed every resource: {lists:?}");
}

/// Discovery costs two requests per round where the server serves aggregated discovery (kube-sim
/// and kube-apiserver >= 1.30 do): `/api` and `/apis`, not one per group/version.
#[tokio::test(flavor = "multi_thread")]
async fn aggregated_discovery_is_two_requests() {
    let c = cluster(Some("aibrix"), &[]).await;
    c.sim.record_requests(true);
    let (code, report) = c.scan_json(&[]).await;
    assert_eq!(code, 1, "{report:#}");
    let discovery: Vec<String> = c
        .sim
        .take_request_log()
        .into_iter()
        .map(|r| r.uri.split('?').next().unwrap_or_default().to_string())
        .filter(|p| is_discovery_path(p))
        .collect();
    assert_eq!(
        discovery,
        vec!["/api".to_string(), "/apis".to_string()],
        "{discovery:?}"
    );
}

/// The content of stuck namespaces is listed the cheaper way, per type: a type whose cluster-wide
/// list is one page is read once cluster-wide; a type with more pages left than there are stuck
/// namespaces is read namespace by namespace (after the one first page that said so).
#[tokio::test(flavor = "multi_thread")]
async fn stuck_namespace_content_is_listed_by_cost() {
    let c = cluster(None, &[]).await;
    let mut objects = stuck_namespaces(2, "Secret");
    // 40 ConfigMaps elsewhere: 20 pages of 2 cluster-wide, far more than the 2 stuck namespaces.
    for i in 0..40 {
        objects.push(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i:02}"), "namespace": "default"}}));
    }
    c.sim.load_objects(objects).expect("objects load");
    c.sim.record_requests(true);
    let (code, report) = c.scan_json(&["--page-size", "2"]).await;
    assert_eq!(code, 1, "{report:#}");
    let held: Vec<&str> = report["stuckNamespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["namespace"].as_str())
        .collect();
    assert_eq!(held, ["stuck-0", "stuck-1"], "{report:#}");
    let paths: Vec<String> = c
        .sim
        .take_request_log()
        .into_iter()
        .filter(|r| r.method == "GET")
        // (kube-client writes `?&limit=` for a list without other parameters)
        .map(|r| r.uri.replace("?&", "?"))
        .collect();
    let of = |plural: &str| -> Vec<&String> {
        paths
            .iter()
            .filter(|u| u.split('?').next().unwrap_or_default().ends_with(&format!("/{plural}")))
            .collect()
    };
    // Secrets: one page cluster-wide serves both namespaces.
    assert_eq!(of("secrets"), vec!["/api/v1/secrets?limit=2"], "{paths:#?}");
    // ConfigMaps: the first cluster-wide page, then one list per stuck namespace, no continue.
    let mut configmaps = of("configmaps");
    configmaps.sort();
    assert_eq!(
        configmaps,
        vec![
            "/api/v1/configmaps?limit=2",
            "/api/v1/namespaces/stuck-0/configmaps?limit=2",
            "/api/v1/namespaces/stuck-1/configmaps?limit=2",
        ],
        "{paths:#?}"
    );
}

/// A content type read cluster-wide only for the stuck namespaces (no scanner wants it whole)
/// keeps just their objects, page by page: the rest of the cluster is never held.
#[tokio::test(flavor = "multi_thread")]
async fn content_read_cluster_wide_keeps_only_the_stuck_namespaces() {
    let c = cluster(None, &[]).await;
    let mut objects = stuck_namespaces(3, "ConfigMap");
    for i in 0..2 {
        objects.push(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i}"), "namespace": "default"}}));
    }
    // Unreadable items (ownerReferences not a list; held by a finalizer, so the namespace
    // controller leaves it): reported only where the stuck namespaces are.
    for ns in ["default", "stuck-1"] {
        objects.push(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "unreadable", "namespace": ns, "ownerReferences": "oops",
                "finalizers": ["example.com/hold"]}}));
    }
    c.sim.load_objects(objects).expect("objects load");
    c.sim.record_requests(true);
    let stuck: Vec<String> = (0..3).map(|i| format!("stuck-{i}")).collect();
    // 7 ConfigMaps in pages of 2: 3 pages left after the first, no more than the 3 namespaces,
    // so the list is finished cluster-wide.
    let lists = kube_garbage_audit::readmodel::RoundLists::new(api(&c, 2));
    let got = lists.list_in_namespaces(&configmaps(), &stuck).await;
    let log = c.sim.take_request_log();
    let pages = log.iter().filter(|r| r.uri.starts_with("/api/v1/configmaps")).count();
    assert_eq!(pages, 4, "read cluster-wide, 4 pages: {log:#?}");
    assert_eq!(got.len(), 1, "one cluster-wide list");
    let (scope, list) = &got[0];
    assert_eq!(*scope, None);
    let mut held: Vec<String> = list
        .as_ref()
        .expect("listed")
        .objects
        .iter()
        .map(|o| format!("{}/{}", o.namespace, o.name))
        .collect();
    held.sort();
    assert_eq!(held, ["stuck-0/held", "stuck-1/held", "stuck-2/held"]);
    let unreadable: Vec<&str> = list
        .as_ref()
        .unwrap()
        .malformed
        .iter()
        .map(|m| m.message.as_str())
        .collect();
    assert_eq!(unreadable.len(), 1, "{unreadable:#?}");
    assert!(unreadable[0].contains("(stuck-1/unreadable)"), "{unreadable:#?}");
}

/// An identity refused the cluster-wide list of a content type (granted per namespace) still gets
/// the stuck namespaces' content, namespace by namespace.
#[tokio::test(flavor = "multi_thread")]
async fn content_refused_cluster_wide_is_asked_per_namespace() {
    let c = cluster(None, &[]).await;
    let objects = stuck_namespaces(2, "Secret");
    c.sim.load_objects(objects).expect("objects load");
    // The first secrets request (the cluster-wide first page) is refused.
    c.sim.inject_fault("secrets", kube_sim::Fault::Status(403), Some(1));
    let (code, report) = c.scan_json(&[]).await;
    assert_eq!(c.sim.injected_faults("secrets"), 1, "the cluster-wide list was refused");
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["complete"], true, "{report:#}");
    for ns in report["stuckNamespaces"].as_array().unwrap() {
        let held = ns["blockers"][0]["objects"][0]["object"]["kind"].as_str();
        assert_eq!(held, Some("Secret"), "{ns:#}");
    }
    assert_eq!(report["stuckNamespaces"].as_array().unwrap().len(), 2, "{report:#}");
}
