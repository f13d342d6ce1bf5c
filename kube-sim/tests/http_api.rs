//! Wire-level behaviour checked with raw HTTP requests.
mod common;
use common::{json, raw};
use kube_sim::{start, SimConfig};
use serde_json::Value;
use std::time::Duration;

const AGG: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

fn expected(name: &str) -> Value {
    let text = match name {
        "api__v1" => include_str!("expected/api__v1.json"),
        "apps" => include_str!("expected/apis__apps__v1.json"),
        "autoscaling_v1" => include_str!("expected/apis__autoscaling__v1.json"),
        "autoscaling_v2" => include_str!("expected/apis__autoscaling__v2.json"),
        "apiextensions" => include_str!("expected/apis__apiextensions.k8s.io__v1.json"),
        "coordination" => include_str!("expected/apis__coordination.k8s.io__v1.json"),
        "events" => include_str!("expected/apis__events.k8s.io__v1.json"),
        "rbac" => include_str!("expected/apis__rbac.authorization.k8s.io__v1.json"),
        "batch" => include_str!("expected/apis__batch__v1.json"),
        _ => unreachable!(),
    };
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn builtin_discovery_matches_real_documents() {
    let sim = start(SimConfig::default()).await.unwrap();
    for (path, exp) in [
        ("/api/v1", "api__v1"),
        ("/apis/apps/v1", "apps"),
        ("/apis/autoscaling/v1", "autoscaling_v1"),
        ("/apis/autoscaling/v2", "autoscaling_v2"),
        ("/apis/apiextensions.k8s.io/v1", "apiextensions"),
        ("/apis/coordination.k8s.io/v1", "coordination"),
        ("/apis/events.k8s.io/v1", "events"),
        ("/apis/rbac.authorization.k8s.io/v1", "rbac"),
        ("/apis/batch/v1", "batch"),
    ] {
        let (code, _, body) = raw(sim.addr(), "GET", path, &[], "").await;
        assert_eq!(code, 200, "{path}");
        assert_eq!(
            json(&body),
            expected(exp),
            "discovery document of {path} differs from the real one"
        );
    }
    let (_, _, body) = raw(sim.addr(), "GET", "/api", &[], "").await;
    let api = json(&body);
    assert_eq!(api["kind"], "APIVersions");
    assert_eq!(api["versions"], serde_json::json!(["v1"]));
    let (_, _, body) = raw(sim.addr(), "GET", "/apis", &[], "").await;
    let apis = json(&body);
    let autoscaling = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "autoscaling")
        .unwrap();
    assert_eq!(autoscaling["preferredVersion"]["version"], "v2");
    sim.shutdown().await;
}

#[tokio::test]
async fn aggregated_discovery_and_crd_lifecycle() {
    let sim = start(SimConfig::default()).await.unwrap();
    let (code, ct, body) = raw(sim.addr(), "GET", "/apis", &[("Accept", AGG)], "").await;
    assert_eq!(code, 200);
    assert_eq!(
        ct,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    assert_eq!(json(&body)["kind"], "APIGroupDiscoveryList");
    let crd = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"widgets.example.com"},
      "spec":{"group":"example.com","scope":"Cluster","names":{"kind":"Widget","plural":"widgets","shortNames":["wd"],"categories":["all"]},
      "versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}},"schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}}"#;
    let (code, _, body) = raw(
        sim.addr(),
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &[("Content-Type", "application/json")],
        crd,
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let created = json(&body);
    let conds = created["status"]["conditions"].as_array().unwrap();
    assert!(conds
        .iter()
        .any(|c| c["type"] == "Established" && c["status"] == "True"));
    assert!(conds
        .iter()
        .any(|c| c["type"] == "NamesAccepted" && c["status"] == "True"));
    assert_eq!(created["status"]["acceptedNames"]["kind"], "Widget");
    let (_, _, body) = raw(sim.addr(), "GET", "/apis/example.com/v1", &[], "").await;
    let rl = json(&body);
    let w = rl["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "widgets")
        .unwrap()
        .clone();
    assert_eq!(w["namespaced"], false);
    assert_eq!(w["shortNames"], serde_json::json!(["wd"]));
    assert!(rl["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "widgets/status"));
    let (code, _, body) = raw(
        sim.addr(),
        "POST",
        "/apis/example.com/v1/widgets",
        &[],
        r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w1"},"spec":{"a":1},"status":{"x":1}}"#,
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let w1 = json(&body);
    assert_eq!(w1["metadata"]["generation"], 1);
    assert!(
        w1["status"].is_null(),
        "status is dropped on create when the status subresource is on"
    );
    // status subresource changes only status
    let (code, _, body) = raw(
        sim.addr(),
        "PATCH",
        "/apis/example.com/v1/widgets/w1/status",
        &[("Content-Type", "application/merge-patch+json")],
        r#"{"spec":{"a":2},"status":{"ok":true}}"#,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let w1 = json(&body);
    assert_eq!(
        (w1["spec"]["a"].as_i64(), w1["status"]["ok"].as_bool()),
        (Some(1), Some(true))
    );
    // main resource ignores status but bumps generation on spec change
    let (_, _, body) = raw(
        sim.addr(),
        "PATCH",
        "/apis/example.com/v1/widgets/w1",
        &[("Content-Type", "application/merge-patch+json")],
        r#"{"spec":{"a":3},"status":{"ok":false}}"#,
    )
    .await;
    let w1 = json(&body);
    assert_eq!(
        (w1["metadata"]["generation"].as_i64(), w1["status"]["ok"].as_bool()),
        (Some(2), Some(true))
    );
    // deleting the CRD removes the API and its objects
    let (code, _, _) = raw(
        sim.addr(),
        "DELETE",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
        &[],
        "",
    )
    .await;
    assert_eq!(code, 200);
    let mut gone = false;
    for _ in 0..100 {
        let (code, _, _) = raw(sim.addr(), "GET", "/apis/example.com/v1", &[], "").await;
        if code == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "group disappears from discovery after CRD deletion");
    sim.shutdown().await;
}

#[tokio::test]
async fn error_bodies_and_failed_discovery() {
    let sim = start(SimConfig {
        fail_discovery: vec!["metrics.k8s.io/v1beta1".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let (code, ct, body) = raw(sim.addr(), "GET", "/nonsense", &[], "").await;
    assert_eq!((code, body.as_str()), (404, "404 page not found\n"));
    assert!(ct.starts_with("text/plain"));
    let (code, _, body) = raw(sim.addr(), "GET", "/api/v1/namespaces/default/pods/x", &[], "").await;
    assert_eq!(code, 404);
    let s = json(&body);
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["message"], "pods \"x\" not found");
    assert_eq!(s["details"], serde_json::json!({"name": "x", "kind": "pods"}));
    let (code, _, body) = raw(sim.addr(), "GET", "/apis/metrics.k8s.io/v1beta1", &[], "").await;
    assert_eq!((code, body.as_str()), (503, "service unavailable\n"));
    let (_, _, body) = raw(sim.addr(), "GET", "/apis", &[], "").await;
    assert!(json(&body)["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["name"] == "metrics.k8s.io"));
    let (_, _, body) = raw(sim.addr(), "GET", "/apis", &[("Accept", AGG)], "").await;
    let agg = json(&body);
    let m = agg["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "metrics.k8s.io")
        .unwrap()
        .clone();
    assert_eq!(m["versions"][0]["freshness"], "Stale");
    // invalid name -> 422 with causes
    let (code, _, body) = raw(
        sim.addr(),
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &[],
        r#"{"metadata":{"name":"Bad_Name"}}"#,
    )
    .await;
    assert_eq!(code, 422);
    let s = json(&body);
    assert_eq!(s["reason"], "Invalid");
    assert_eq!(s["details"]["causes"][0]["field"], "metadata.name");
    // missing namespace -> 404 namespaces "x" not found
    let (code, _, body) = raw(
        sim.addr(),
        "POST",
        "/api/v1/namespaces/ghost/configmaps",
        &[],
        r#"{"metadata":{"name":"a"}}"#,
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(json(&body)["message"], "namespaces \"ghost\" not found");
    // method not allowed on a create-only resource
    let (code, _, body) = raw(sim.addr(), "GET", "/api/v1/namespaces/default/bindings", &[], "").await;
    assert_eq!(code, 405, "{body}");
    // protected namespace
    let (code, _, body) = raw(sim.addr(), "DELETE", "/api/v1/namespaces/default", &[], "").await;
    assert_eq!(code, 403, "{body}");
    sim.shutdown().await;
}

#[tokio::test]
async fn watch_stream_from_resource_version() {
    let sim = start(SimConfig::default()).await.unwrap();
    let (_, _, body) = raw(
        sim.addr(),
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &[],
        r#"{"metadata":{"name":"a"}}"#,
    )
    .await;
    let rv = json(&body)["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    raw(
        sim.addr(),
        "PATCH",
        "/api/v1/namespaces/default/configmaps/a",
        &[("Content-Type", "application/merge-patch+json")],
        r#"{"data":{"k":"v"}}"#,
    )
    .await;
    raw(sim.addr(), "DELETE", "/api/v1/namespaces/default/configmaps/a", &[], "").await;
    let path = format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1");
    let (code, _, body) = raw(sim.addr(), "GET", &path, &[], "").await;
    assert_eq!(code, 200);
    let types: Vec<String> = body
        .lines()
        .map(|l| json(l)["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, vec!["MODIFIED", "DELETED"]);
    sim.compact_now();
    let (_, _, body) = raw(sim.addr(), "GET", &path, &[], "").await;
    let first = json(body.lines().next().unwrap());
    assert_eq!(first["type"], "ERROR");
    assert_eq!(first["object"]["code"], 410);
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_errors_and_dry_run() {
    let sim = start(SimConfig::default()).await.unwrap();
    sim.set_error_rate("pods", 1.0);
    let (code, _, body) = raw(sim.addr(), "GET", "/api/v1/pods", &[], "").await;
    assert_eq!(code, 500);
    assert_eq!(json(&body)["reason"], "InternalError");
    sim.set_error_rate("pods", 0.0);
    let (code, _, _) = raw(sim.addr(), "GET", "/api/v1/pods", &[], "").await;
    assert_eq!(code, 200);
    raw(
        sim.addr(),
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &[],
        r#"{"metadata":{"name":"keep"}}"#,
    )
    .await;
    let (code, _, _) = raw(
        sim.addr(),
        "DELETE",
        "/api/v1/namespaces/default/configmaps/keep?dryRun=All",
        &[],
        "",
    )
    .await;
    assert_eq!(code, 200);
    let (code, _, _) = raw(sim.addr(), "GET", "/api/v1/namespaces/default/configmaps/keep", &[], "").await;
    assert_eq!(code, 200, "dry-run delete keeps the object");
    sim.shutdown().await;
}
