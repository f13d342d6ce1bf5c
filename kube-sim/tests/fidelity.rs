//! Fidelity fixes checked over the wire (raw HTTP and the real kubectl, isolated HOME).
mod common;
use common::{json, raw};
use kube_sim::{start, SimConfig, SimHandle};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const JSON_CT: (&str, &str) = ("Content-Type", "application/json");

async fn sim() -> SimHandle {
    start(SimConfig {
        namespace_controller_interval: Duration::from_millis(100),
        gc_interval: Duration::from_millis(100),
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn post(sim: &SimHandle, path: &str, body: &str) -> Value {
    let (code, _, b) = raw(sim.addr(), "POST", path, &[JSON_CT], body).await;
    assert_eq!(code, 201, "POST {path}: {b}");
    json(&b)
}

async fn ns(sim: &SimHandle, name: &str) {
    post(
        sim,
        "/api/v1/namespaces",
        &format!(r#"{{"metadata":{{"name":"{name}"}}}}"#),
    )
    .await;
}

#[tokio::test]
async fn cluster_wide_pages_follow_etcd_key_order() {
    let sim = sim().await;
    for n in ["app", "app-2"] {
        ns(&sim, n).await;
        for p in ["a", "b"] {
            post(
                &sim,
                &format!("/api/v1/namespaces/{n}/configmaps"),
                &format!(r#"{{"metadata":{{"name":"{p}"}}}}"#),
            )
            .await;
        }
    }
    let mut seen = Vec::new();
    let mut cont = String::new();
    let mut first_remaining = None;
    loop {
        let path = format!("/api/v1/configmaps?limit=1&continue={cont}&fieldSelector=");
        let path = path.replace("&fieldSelector=", "");
        let (code, _, b) = raw(sim.addr(), "GET", &path, &[], "").await;
        assert_eq!(code, 200, "{b}");
        let v = json(&b);
        for i in v["items"].as_array().unwrap() {
            let ns = i["metadata"]["namespace"].as_str().unwrap();
            if ns.starts_with("app") {
                seen.push(format!("{ns}/{}", i["metadata"]["name"].as_str().unwrap()));
            }
        }
        if first_remaining.is_none() {
            first_remaining = v["metadata"]["remainingItemCount"].as_u64();
        }
        match v["metadata"]["continue"].as_str() {
            Some(c) => {
                assert!(!c.contains('='), "continue tokens are unpadded RawURLEncoding: {c}");
                cont = c.to_string();
            }
            None => break,
        }
    }
    assert_eq!(seen, vec!["app-2/a", "app-2/b", "app/a", "app/b"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn put_with_other_uid_is_a_precondition_conflict() {
    let sim = sim().await;
    let cm = post(
        &sim,
        "/api/v1/namespaces/default/configmaps",
        r#"{"metadata":{"name":"c"}}"#,
    )
    .await;
    let uid = cm["metadata"]["uid"].as_str().unwrap().to_string();
    let mut body = cm.clone();
    body["metadata"]["uid"] = "other".into();
    let (code, _, b) = raw(
        sim.addr(),
        "PUT",
        "/api/v1/namespaces/default/configmaps/c",
        &[JSON_CT],
        &body.to_string(),
    )
    .await;
    assert_eq!(code, 409);
    assert_eq!(json(&b)["message"], format!("Operation cannot be fulfilled on configmaps \"c\": StorageError: invalid object, Code: 4, Key: /registry/configmaps/default/c, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: other, UID in object meta: {uid}"));
    let (code, _, b) = raw(
        sim.addr(),
        "PATCH",
        "/api/v1/namespaces/default/configmaps/c",
        &[("Content-Type", "application/merge-patch+json")],
        r#"{"metadata":{"uid":"other"}}"#,
    )
    .await;
    assert_eq!(code, 422, "{b}");
    assert_eq!(
        json(&b)["message"],
        "ConfigMap \"c\" is invalid: metadata.uid: Invalid value: \"other\": field is immutable"
    );
    sim.shutdown().await;
}

struct Kubectl {
    dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(sim: &SimHandle) -> Option<Kubectl> {
        Command::new("kubectl").arg("version").arg("--client").output().ok()?;
        let dir = tempfile::tempdir().unwrap();
        sim.write_kubeconfig(&dir.path().join("config")).unwrap();
        Some(Kubectl { dir })
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        use std::io::Write;
        let mut child = Command::new("timeout")
            .arg("60")
            .arg("kubectl")
            .args(args)
            .env("HOME", self.dir.path())
            .env("KUBECONFIG", self.dir.path().join("config"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut sin = child.stdin.take().unwrap();
        sin.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(sin);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_strategic_patches_on_builtins() {
    let sim = sim().await;
    let Some(k) = Kubectl::new(&sim) else {
        eprintln!("kubectl not found; skipping");
        return;
    };
    tokio::task::block_in_place(|| {
        k.ok(&["create", "configmap", "f", "-n", "default"], None);
        k.ok(
            &[
                "patch",
                "configmap",
                "f",
                "-n",
                "default",
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":["a.io/x","b.io/y"]}}"#,
            ],
            None,
        );
        // strategic: a new finalizer is added to the list, not replacing it
        k.ok(
            &[
                "patch",
                "configmap",
                "f",
                "-n",
                "default",
                "--type=strategic",
                "-p",
                r#"{"metadata":{"finalizers":["c.io/z"]}}"#,
            ],
            None,
        );
        // what `kubectl edit` sends when one finalizer of several is removed
        k.ok(
            &["patch", "configmap", "f", "-n", "default", "--type=strategic", "-p",
              r#"{"metadata":{"$setElementOrder/finalizers":["b.io/y","c.io/z"],"$deleteFromPrimitiveList/finalizers":["a.io/x"]}}"#],
            None,
        );
        let v: Value =
            serde_json::from_str(&k.ok(&["get", "configmap", "f", "-n", "default", "-o", "json"], None)).unwrap();
        assert_eq!(v["metadata"]["finalizers"], serde_json::json!(["b.io/y", "c.io/z"]));
        assert!(v["metadata"].get("$setElementOrder/finalizers").is_none());

        // client-side apply re-apply of a changed built-in (SMP computed from last-applied)
        let deploy = |image: &str, env: &str| {
            format!(
                r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"d","namespace":"default"}},
                "spec":{{"selector":{{"matchLabels":{{"app":"d"}}}},"template":{{"metadata":{{"labels":{{"app":"d"}}}},
                "spec":{{"containers":[{{"name":"main","image":"{image}","env":[{{"name":"A","value":"{env}"}}]}},{{"name":"side","image":"busybox"}}]}}}}}}}}"#
            )
        };
        k.ok(&["apply", "-f", "-"], Some(&deploy("nginx:1", "1")));
        // a field set by someone else survives the re-apply (it is not in last-applied)
        k.ok(
            &[
                "patch",
                "deployment",
                "d",
                "-n",
                "default",
                "--type=strategic",
                "-p",
                r#"{"spec":{"template":{"spec":{"containers":[{"name":"side","imagePullPolicy":"Always"}]}}}}"#,
            ],
            None,
        );
        k.ok(&["apply", "-f", "-"], Some(&deploy("nginx:2", "2")));
        let v: Value =
            serde_json::from_str(&k.ok(&["get", "deployment", "d", "-n", "default", "-o", "json"], None)).unwrap();
        let cs = &v["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs[0]["name"], "main");
        assert_eq!(cs[0]["image"], "nginx:2");
        assert_eq!(cs[0]["env"], serde_json::json!([{"name": "A", "value": "2"}]));
        assert_eq!(cs[1]["name"], "side");
        assert_eq!(cs[1]["imagePullPolicy"], "Always");
        assert_eq!(cs.as_array().unwrap().len(), 2);
        assert_eq!(v["metadata"]["generation"], 3);
        assert!(!v.to_string().contains("$setElementOrder"));
    });
    sim.shutdown().await;
}

async fn get(sim: &SimHandle, path: &str) -> (u16, Value) {
    let (code, _, b) = raw(sim.addr(), "GET", path, &[], "").await;
    (code, if b.is_empty() { Value::Null } else { json(&b) })
}

#[tokio::test]
async fn foreground_deletion_keeps_dependents_with_another_live_owner() {
    let sim = sim().await;
    let base = "/api/v1/namespaces/default/configmaps";
    let a = post(&sim, base, r#"{"metadata":{"name":"owner-a"}}"#).await;
    let b = post(&sim, base, r#"{"metadata":{"name":"owner-b"}}"#).await;
    let r = |o: &Value, block: bool| serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "name": o["metadata"]["name"], "uid": o["metadata"]["uid"], "blockOwnerDeletion": block});
    let shared = serde_json::json!({"metadata": {"name": "shared", "ownerReferences": [r(&a, true), r(&b, false)]}});
    post(&sim, base, &shared.to_string()).await;
    let only = serde_json::json!({"metadata": {"name": "only-a", "ownerReferences": [r(&a, true)]}});
    post(&sim, base, &only.to_string()).await;
    let (code, _, body) = raw(
        sim.addr(),
        "DELETE",
        &format!("{base}/owner-a"),
        &[JSON_CT],
        r#"{"propagationPolicy":"Foreground"}"#,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (ca, _) = get(&sim, &format!("{base}/owner-a")).await;
        if ca == 404 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "owner-a not deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(&sim, &format!("{base}/only-a")).await.0, 404);
    let (code, shared) = get(&sim, &format!("{base}/shared")).await;
    assert_eq!(code, 200, "a dependent with another live owner is not deleted");
    let refs = shared["metadata"]["ownerReferences"].as_array().unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0]["name"], "owner-b");
    sim.shutdown().await;
}

async fn conditions_when(sim: &SimHandle, ns: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, v) = get(sim, &format!("/api/v1/namespaces/{ns}")).await;
        if pred(&v) {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn cond<'a>(ns: &'a Value, t: &str) -> &'a Value {
    ns["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == t))
        .unwrap_or(&Value::Null)
}

async fn stuck_pod_namespace(ordered: bool) -> (SimHandle, Value) {
    let sim = start(SimConfig {
        namespace_controller_interval: Duration::from_millis(100),
        gc_interval: Duration::from_millis(100),
        ordered_namespace_deletion: ordered,
        ..Default::default()
    })
    .await
    .unwrap();
    ns(&sim, "held").await;
    post(
        &sim,
        "/api/v1/namespaces/held/pods",
        r#"{"metadata":{"name":"p","finalizers":["example.com/hold"]},"spec":{"containers":[{"name":"c","image":"x"}]}}"#,
    )
    .await;
    post(
        &sim,
        "/api/v1/namespaces/held/configmaps",
        r#"{"metadata":{"name":"cm"}}"#,
    )
    .await;
    let (code, _, b) = raw(sim.addr(), "DELETE", "/api/v1/namespaces/held", &[], "").await;
    assert_eq!(code, 200, "{b}");
    assert!(json(&b)["metadata"].get("deletionGracePeriodSeconds").is_none());
    let v = conditions_when(&sim, "held", |v| {
        cond(v, "NamespaceFinalizersRemaining")["status"] == "True"
    })
    .await;
    (sim, v)
}

#[tokio::test]
async fn pods_held_by_finalizers_are_remaining_content_not_a_failure() {
    let (sim, v) = stuck_pod_namespace(true).await;
    assert_eq!(
        cond(&v, "NamespaceContentRemaining")["message"],
        "Some resources are remaining: pods. has 1 resource instances"
    );
    assert_eq!(
        cond(&v, "NamespaceFinalizersRemaining")["message"],
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    );
    assert_eq!(cond(&v, "NamespaceDeletionContentFailure")["status"], "False");
    // ordered deletion: the ConfigMap waits for the pods
    assert_eq!(get(&sim, "/api/v1/namespaces/held/configmaps/cm").await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn ordered_namespace_deletion_can_be_turned_off() {
    let (sim, _) = stuck_pod_namespace(false).await;
    assert_eq!(get(&sim, "/api/v1/namespaces/held/configmaps/cm").await.0, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn list_resource_version_rules() {
    let sim = sim().await;
    for n in ["a", "b", "c"] {
        post(
            &sim,
            "/api/v1/namespaces/default/configmaps",
            &format!(r#"{{"metadata":{{"name":"{n}"}}}}"#),
        )
        .await;
    }
    let base = "/api/v1/namespaces/default/configmaps";
    let (_, v) = get(&sim, &format!("{base}?limit=1")).await;
    let c = v["metadata"]["continue"].as_str().unwrap().to_string();
    let (code, v) = get(&sim, &format!("{base}?limit=1&continue={c}&resourceVersion=5")).await;
    assert_eq!(code, 400);
    assert_eq!(
        v["message"],
        "specifying resource version is not allowed when using continue"
    );
    let (code, v) = get(&sim, &format!("{base}?resourceVersionMatch=NotOlderThan")).await;
    assert_eq!(code, 422);
    assert_eq!(v["message"], "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided");
    let (code, _) = get(&sim, &format!("{base}?resourceVersion=1&resourceVersionMatch=Bogus")).await;
    assert_eq!(code, 422);
    let (code, v) = get(&sim, &format!("{base}?resourceVersion=999999")).await;
    assert_eq!(code, 504);
    assert_eq!(v["reason"], "Timeout");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .starts_with("Timeout: Too large resource version: 999999, current: "));
    assert_eq!(v["details"]["causes"][0]["reason"], "ResourceVersionTooLarge");
    let (code, v) = get(&sim, &format!("{base}?resourceVersion=0&limit=1")).await;
    assert_eq!(code, 200);
    assert_eq!(v["items"].as_array().unwrap().len(), 3, "rv=0 ignores limit");
    assert!(v["metadata"].get("continue").is_none());
    sim.shutdown().await;
}

const AGG_ACCEPT: (&str, &str) = (
    "Accept",
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
);

fn available(o: &Value) -> Value {
    o["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Available"))
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn apiservices_created_through_the_api_drive_discovery() {
    let sim = sim().await;
    let base = "/apis/apiregistration.k8s.io/v1/apiservices";
    // A non-Local APIService whose Service is missing; the client-written status is overwritten.
    post(
        &sim,
        base,
        r#"{"metadata":{"name":"v1.example.com"},"spec":{"group":"example.com","version":"v1",
            "groupPriorityMinimum":100,"versionPriority":100,"insecureSkipTLSVerify":true,
            "service":{"name":"ex","namespace":"default","port":443}},
            "status":{"conditions":[{"type":"Available","status":"True","reason":"Passed","message":"all checks passed"}]}}"#,
    )
    .await;
    let (code, o) = get(&sim, &format!("{base}/v1.example.com")).await;
    assert_eq!(code, 200);
    let a = available(&o);
    assert_eq!(a["status"], "False", "{o}");
    assert_eq!(a["reason"], "ServiceNotFound");
    assert_eq!(a["message"], r#"service/ex in "default" is not present"#);
    let (code, _, body) = raw(sim.addr(), "GET", "/apis/example.com/v1", &[], "").await;
    assert_eq!((code, body.as_str()), (503, "service unavailable\n"));
    let (code, _, body) = raw(sim.addr(), "GET", "/apis/example.com/v1/things", &[], "").await;
    assert_eq!((code, body.as_str()), (503, "service unavailable\n"));
    let (_, apis) = get(&sim, "/apis").await;
    assert!(apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["name"] == "example.com"));
    let (_, _, body) = raw(sim.addr(), "GET", "/apis", &[AGG_ACCEPT], "").await;
    let agg = json(&body);
    let g = agg["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "example.com")
        .cloned()
        .expect("listed in aggregated discovery");
    assert_eq!(g["versions"][0]["freshness"], "Stale");
    // a status written by a client is overwritten by the availability controller
    let mut o2 = o.clone();
    o2["status"]["conditions"] =
        serde_json::json!([{"type":"Available","status":"True","reason":"Passed","message":"x"}]);
    let (code, _, b) = raw(
        sim.addr(),
        "PUT",
        &format!("{base}/v1.example.com/status"),
        &[JSON_CT],
        &o2.to_string(),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    let (_, o) = get(&sim, &format!("{base}/v1.example.com")).await;
    assert_eq!(available(&o)["reason"], "ServiceNotFound");
    // the Service appears without Endpoints
    post(
        &sim,
        "/api/v1/namespaces/default/services",
        r#"{"metadata":{"name":"ex"},"spec":{"ports":[{"name":"https","port":443}]}}"#,
    )
    .await;
    let (_, o) = get(&sim, &format!("{base}/v1.example.com")).await;
    assert_eq!(available(&o)["reason"], "EndpointsNotFound");
    assert_eq!(
        available(&o)["message"],
        r#"cannot find endpoints for service/ex in "default""#
    );
    // the namespace controller sees the failing group/version
    ns(&sim, "doomed").await;
    let (code, _, _) = raw(sim.addr(), "DELETE", "/api/v1/namespaces/doomed", &[], "").await;
    assert_eq!(code, 200);
    let n = conditions_when(&sim, "doomed", |v| {
        cond(v, "NamespaceDeletionDiscoveryFailure")["status"] == "True"
    })
    .await;
    assert!(cond(&n, "NamespaceDeletionDiscoveryFailure")["message"]
        .as_str()
        .unwrap()
        .contains("example.com/v1"));
    // a Local APIService is available
    post(
        &sim,
        base,
        r#"{"metadata":{"name":"v1.apps"},"spec":{"group":"apps","version":"v1","groupPriorityMinimum":17800,"versionPriority":15}}"#,
    )
    .await;
    let (_, o) = get(&sim, &format!("{base}/v1.apps")).await;
    assert_eq!(available(&o)["status"], "True");
    assert_eq!(available(&o)["reason"], "Local");
    assert_eq!(get(&sim, "/apis/apps/v1").await.0, 200);
    // deleting the APIService removes the group/version; the namespace then goes away
    let (code, _, _) = raw(sim.addr(), "DELETE", &format!("{base}/v1.example.com"), &[], "").await;
    assert_eq!(code, 200);
    let (code, _, body) = raw(sim.addr(), "GET", "/apis/example.com/v1", &[], "").await;
    assert_eq!((code, body.as_str()), (404, "404 page not found\n"));
    let (_, apis) = get(&sim, "/apis").await;
    assert!(apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["name"] != "example.com"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while get(&sim, "/api/v1/namespaces/doomed").await.0 != 404 {
        assert!(tokio::time::Instant::now() < deadline, "namespace not finalized");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn finalize_emptying_spec_finalizers_deletes_the_namespace_at_once() {
    let sim = start(SimConfig {
        namespace_controller_interval: Duration::from_secs(3600),
        ..Default::default()
    })
    .await
    .unwrap();
    ns(&sim, "fin").await;
    let (code, _, body) = raw(sim.addr(), "DELETE", "/api/v1/namespaces/fin", &[], "").await;
    assert_eq!(code, 200, "{body}");
    let deleting = json(&body);
    let rv = deleting["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    assert_eq!(deleting["spec"]["finalizers"], serde_json::json!(["kubernetes"]));
    let mut put = deleting.clone();
    put["spec"]["finalizers"] = serde_json::json!([]);
    let (code, _, body) = raw(
        sim.addr(),
        "PUT",
        "/api/v1/namespaces/fin/finalize",
        &[JSON_CT],
        &put.to_string(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let answer = json(&body);
    assert_eq!(answer["kind"], "Namespace");
    assert_eq!(answer["metadata"]["name"], "fin");
    assert_eq!(
        get(&sim, "/api/v1/namespaces/fin").await.0,
        404,
        "deleted synchronously"
    );
    let (_, _, events) = raw(
        sim.addr(),
        "GET",
        &format!("/api/v1/namespaces?watch=true&resourceVersion={rv}&timeoutSeconds=1"),
        &[],
        "",
    )
    .await;
    let evs: Vec<Value> = events.lines().filter(|l| !l.trim().is_empty()).map(json).collect();
    assert_eq!(evs.len(), 1, "{events}");
    assert_eq!(evs[0]["type"], "DELETED");
    assert_eq!(evs[0]["object"]["metadata"]["name"], "fin");
    sim.shutdown().await;
}

async fn wait_for(sim: &SimHandle, path: &str, pred: impl Fn(u16, &Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (code, v) = get(sim, path).await;
        if pred(code, &v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out on {path}: {code} {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn terminating_crd_condition_and_create_refused() {
    let sim = sim().await;
    let crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    post(
        &sim,
        crds,
        r#"{"metadata":{"name":"widgets.example.io"},"spec":{"group":"example.io","scope":"Namespaced",
            "names":{"plural":"widgets","singular":"widget","kind":"Widget"},
            "versions":[{"name":"v1","served":true,"storage":true,
              "schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}}"#,
    )
    .await;
    let base = "/apis/example.io/v1/namespaces/default/widgets";
    post(
        &sim,
        base,
        r#"{"metadata":{"name":"held","finalizers":["example.io/hold"]}}"#,
    )
    .await;
    let (code, _, b) = raw(sim.addr(), "DELETE", &format!("{crds}/widgets.example.io"), &[], "").await;
    assert_eq!(code, 200, "{b}");
    let term = |v: &Value| {
        v["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Terminating"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let crd = wait_for(&sim, &format!("{crds}/widgets.example.io"), |_, v| {
        term(v)["status"] == "True"
    })
    .await;
    assert_eq!(term(&crd)["reason"], "InstanceDeletionInProgress");
    assert_eq!(term(&crd)["message"], "CustomResource deletion is in progress");
    // the held instance is being deleted
    let (_, held) = get(&sim, &format!("{base}/held")).await;
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");
    let (code, _, b) = raw(sim.addr(), "POST", base, &[JSON_CT], r#"{"metadata":{"name":"new"}}"#).await;
    assert_eq!(code, 405, "{b}");
    let s = json(&b);
    assert_eq!(s["reason"], "MethodNotAllowed");
    assert_eq!(
        s["message"],
        "create not allowed while custom resource definition is terminating"
    );
    assert_eq!(
        s["details"],
        serde_json::json!({"group": "example.io", "kind": "widgets"})
    );
    // after upstream's one-minute poll the instances are still there
    sim.advance_clock(Duration::from_secs(61));
    let crd = wait_for(&sim, &format!("{crds}/widgets.example.io"), |_, v| {
        term(v)["reason"] == "InstanceDeletionCheck"
    })
    .await;
    assert_eq!(
        term(&crd)["message"],
        "could not confirm zero CustomResources remaining: timed out waiting for the condition"
    );
    let (code, _, b) = raw(
        sim.addr(),
        "PATCH",
        &format!("{base}/held"),
        &[("Content-Type", "application/merge-patch+json")],
        r#"{"metadata":{"finalizers":null}}"#,
    )
    .await;
    assert_eq!(code, 200, "{b}");
    wait_for(&sim, &format!("{crds}/widgets.example.io"), |c, _| c == 404).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn error_wording_matches_upstream() {
    // controllers only run at start-up, so nothing writes between compact_now and the list
    let sim = start(SimConfig {
        scenario: Some("aibrix".into()),
        namespace_controller_interval: Duration::from_secs(3600),
        gc_interval: Duration::from_secs(3600),
        ..Default::default()
    })
    .await
    .unwrap();
    // no route for the method: go-restful 405 wrapped by NewGenericServerResponse
    let (code, _, b) = raw(
        sim.addr(),
        "POST",
        "/api/v1/namespaces/default/configmaps/app-settings",
        &[JSON_CT],
        r#"{"metadata":{"name":"app-settings"}}"#,
    )
    .await;
    assert_eq!(code, 405, "{b}");
    let s = json(&b);
    assert_eq!(s["reason"], "MethodNotAllowed");
    assert_eq!(
        s["message"],
        "the server does not allow this method on the requested resource"
    );
    assert_eq!(s["details"], serde_json::json!({}));
    // CR PUT without resourceVersion: the qualified resource, uint64 0 printed as %#v
    let pa = "/apis/autoscaling.aibrix.ai/v1alpha1/namespaces/llm-serving/podautoscalers/llama-3-8b";
    let (_, mut obj) = get(&sim, pa).await;
    obj["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    let (code, _, b) = raw(sim.addr(), "PUT", pa, &[JSON_CT], &obj.to_string()).await;
    assert_eq!(code, 422, "{b}");
    let s = json(&b);
    assert_eq!(
        s["message"],
        "podautoscalers.autoscaling.aibrix.ai \"llama-3-8b\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
    );
    assert_eq!(s["details"]["kind"], "podautoscalers");
    assert_eq!(s["details"]["group"], "autoscaling.aibrix.ai");
    // generateName in a terminating namespace: admission sees no name yet
    let (code, _, b) = raw(
        sim.addr(),
        "POST",
        "/api/v1/namespaces/aibrix-system/configmaps",
        &[JSON_CT],
        r#"{"metadata":{"generateName":"cm-"}}"#,
    )
    .await;
    assert_eq!(code, 403, "{b}");
    let s = json(&b);
    assert_eq!(
        s["message"],
        "configmaps is forbidden: unable to create new content in namespace aibrix-system because it is being terminated"
    );
    assert!(s["details"].get("name").is_none(), "{s}");
    // too old watch: the watch cache's `too old resource version: X (oldest-1)`
    sim.compact_now();
    let (_, list) = get(&sim, "/api/v1/configmaps").await;
    let current = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let (_, _, events) = raw(
        sim.addr(),
        "GET",
        "/api/v1/configmaps?watch=true&resourceVersion=1&timeoutSeconds=1",
        &[],
        "",
    )
    .await;
    let ev = json(events.lines().next().unwrap());
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(ev["object"]["code"], 410);
    assert_eq!(
        ev["object"]["message"],
        format!("too old resource version: 1 ({current})")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_v1_32_server_version_and_pods_without_generation() {
    let sim = sim().await;
    let (code, v) = get(&sim, "/version").await;
    assert_eq!(code, 200);
    assert_eq!((v["major"].as_str(), v["minor"].as_str()), (Some("1"), Some("32")));
    assert_eq!(v["gitVersion"], "v1.32.4");
    for f in [
        "emulationMajor",
        "emulationMinor",
        "minCompatibilityMajor",
        "minCompatibilityMinor",
    ] {
        assert!(v.get(f).is_none(), "{f} only exists from 1.33: {v}");
    }
    let pod = post(
        &sim,
        "/api/v1/namespaces/default/pods",
        r#"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#,
    )
    .await;
    assert!(pod["metadata"].get("generation").is_none(), "{pod}");
    sim.shutdown().await;
}
