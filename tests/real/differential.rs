//! Differential fidelity: the same catalogue of requests, after the same setup, sent to the real
//! kube-apiserver and to kube-sim; responses compared after removing what must differ (uids,
//! timestamps, resourceVersions, managedFields, generated names, the server's version).
//! Every difference must be a known deviation listed in kube-sim/README.md ("Known deviations
//! from a real kube-apiserver (measured)"), else the test fails; a listed deviation that no longer
//! differs fails too, so the list stays true.

use std::collections::BTreeMap;
use std::time::Duration;

use http_body_util::BodyExt;
use serde_json::{json, Value};

const JSON: &str = "application/json";
const META_LIST: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
const META_LIST_FALLBACK: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
const META_ONE: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// One request of the catalogue.
#[derive(Clone)]
pub struct Req {
    pub id: &'static str,
    pub method: &'static str,
    pub path: String,
    pub accept: &'static str,
    pub content_type: &'static str,
    pub body: Option<Value>,
}

fn req(id: &'static str, method: &'static str, path: impl Into<String>) -> Req {
    Req {
        id,
        method,
        path: path.into(),
        accept: JSON,
        content_type: JSON,
        body: None,
    }
}

impl Req {
    fn accept(mut self, accept: &'static str) -> Self {
        self.accept = accept;
        self
    }
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    fn patch(mut self, content_type: &'static str, body: Value) -> Self {
        self.content_type = content_type;
        self.body = Some(body);
        self
    }
}

/// A response: status and the JSON body (or the text as a JSON string).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
}

pub async fn send(client: &kube::Client, r: &Req) -> Resp {
    let mut builder = http::Request::builder()
        .method(r.method)
        .uri(&r.path)
        .header("Accept", r.accept);
    let bytes = match &r.body {
        Some(b) => {
            builder = builder.header("Content-Type", r.content_type);
            serde_json::to_vec(b).unwrap()
        }
        None => Vec::new(),
    };
    let response = tokio::time::timeout(
        Duration::from_secs(30),
        client.send(builder.body(kube::client::Body::from(bytes)).unwrap()),
    )
    .await
    .unwrap_or_else(|_| panic!("{} {}: timed out", r.method, r.path))
    .unwrap_or_else(|e| panic!("{} {}: {e}", r.method, r.path));
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = if r.path.contains("watch=") {
        // A watch stream: one event per line.
        Value::Array(
            String::from_utf8_lossy(&body)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap_or_else(|_| Value::String(l.to_string())))
                .collect(),
        )
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    Resp { status, body }
}

/// Replaces what must differ between two servers with placeholders (keeping presence), and
/// removes what one of them legitimately never writes (managedFields).
pub fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, val) in map {
                let placeholder = match k.as_str() {
                    "managedFields" => continue,
                    "uid"
                    | "resourceVersion"
                    | "creationTimestamp"
                    | "deletionTimestamp"
                    | "lastTransitionTime"
                    | "continue"
                    | "selfLink"
                    | "storageVersionHash"
                    | "gitVersion"
                    | "gitCommit"
                    | "buildDate"
                    | "goVersion"
                    | "minor"
                    | "major"
                    | "platform"
                    | "compiler"
                    | "emulationMajor"
                    | "emulationMinor"
                    | "minCompatibilityMajor"
                    | "minCompatibilityMinor"
                    | "remainingItemCount"
                    | "serverAddress" => Some(json!(format!("<{k}>"))),
                    _ => None,
                };
                let value = match placeholder {
                    Some(p) if !val.is_null() => p,
                    _ => normalize(val),
                };
                out.insert(k.clone(), value);
            }
            // Generated names (generateName + 5 random characters).
            if let (Some(Value::String(prefix)), Some(Value::String(name))) = (map.get("generateName"), map.get("name"))
            {
                if name.starts_with(prefix.as_str()) {
                    out.insert("name".into(), json!(format!("{prefix}<generated>")));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        Value::String(s) => Value::String(normalize_text(s)),
        other => other.clone(),
    }
}

/// uids and resourceVersions inside messages.
fn normalize_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, word) in s.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
        let looks_like_uid = bare.len() == 36 && bare.chars().filter(|c| *c == '-').count() == 4;
        if looks_like_uid {
            out.push_str(&word.replace(bare, "<uid>"));
        } else {
            out.push_str(word);
        }
    }
    out
}

/// Where a response differs, as JSON paths (first few).
pub fn differences(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    if out.len() >= 6 {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => differences(p, q, &format!("{path}.{k}"), out),
                    (Some(_), None) => out.push(format!("{path}.{k}: only on the real server")),
                    (None, Some(_)) => out.push(format!("{path}.{k}: only on kube-sim")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(p, q, &format!("{path}[{i}]"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) => out.push(format!(
            "{path}: {} items on the real server, {} on kube-sim",
            x.len(),
            y.len()
        )),
        _ if a == b => {}
        _ => out.push(format!("{path}: real {} / kube-sim {}", short(a), short(b))),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        format!("{}…", &s[..s.char_indices().nth(120).map_or(s.len(), |(i, _)| i)])
    } else {
        s
    }
}

/// The catalogue, in order. `token_of` gives a continue token / resourceVersion each server
/// returned earlier (the catalogue is run on each server separately, so these are per server).
pub fn catalogue(state: &BTreeMap<String, String>) -> Vec<Req> {
    let s = |k: &str| state.get(k).cloned().unwrap_or_default();
    let cm = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"tier": if name.ends_with('1') { "one" } else { "other" }}}, "data": {"k": "v"}});
    let adapter = json!({"apiVersion": "model.aibrix.ai/v1alpha1", "kind": "ModelAdapter",
        "metadata": {"name": "lora", "finalizers": ["adapter.model.aibrix.ai/finalizer"]}, "spec": {"baseModel": "qwen"}});
    let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 3,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}});
    let cms = "/api/v1/namespaces/fid-a/configmaps";
    let adapters = "/apis/model.aibrix.ai/v1alpha1/namespaces/fid-b/modeladapters";
    vec![
        // Discovery
        req("discovery-api", "GET", "/api"),
        req("discovery-apis", "GET", "/apis"),
        req("discovery-core-v1", "GET", "/api/v1"),
        req("discovery-apps-v1", "GET", "/apis/apps/v1"),
        req("discovery-autoscaling-v2", "GET", "/apis/autoscaling/v2"),
        req("discovery-crd-group", "GET", "/apis/model.aibrix.ai/v1alpha1"),
        req("discovery-aggregated-api", "GET", "/api").accept(AGGREGATED),
        req("discovery-aggregated-apis", "GET", "/apis").accept(AGGREGATED),
        req("version", "GET", "/version"),
        req("unknown-group", "GET", "/apis/nonexistent.example.com/v1"),
        // Create and read
        req("create-namespace", "POST", "/api/v1/namespaces").body(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fid-a"}})),
        req("get-namespace", "GET", "/api/v1/namespaces/fid-a"),
        req("create-configmap-1", "POST", cms).body(cm("cm-1")),
        req("create-configmap-2", "POST", cms).body(cm("cm-2")),
        req("create-configmap-3", "POST", cms).body(cm("cm-3")),
        req("create-configmap-generated", "POST", cms).body(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}})),
        req("create-duplicate-409", "POST", cms).body(cm("cm-1")),
        req("create-invalid-name-422", "POST", cms).body(cm("Bad_Name")),
        req("get-configmap", "GET", format!("{cms}/cm-1")),
        req("get-missing-404", "GET", format!("{cms}/nope")),
        req("get-unknown-resource-404", "GET", "/api/v1/namespaces/fid-a/widgets"),
        // Lists
        req("list-page-1", "GET", format!("{cms}?limit=2")),
        req("list-page-2", "GET", format!("{cms}?limit=2&continue={}", s("continue"))),
        req("list-label-selector", "GET", format!("{cms}?labelSelector=tier%3Done")),
        req("list-field-selector", "GET", format!("{cms}?fieldSelector=metadata.name%3Dcm-2")),
        req("list-bad-field-selector-400", "GET", format!("{cms}?fieldSelector=data.k%3Dv")),
        req("list-metadata-only", "GET", format!("{cms}?limit=2")).accept(META_LIST),
        req("list-metadata-only-json-fallback", "GET", cms).accept(META_LIST_FALLBACK),
        req("get-metadata-only", "GET", format!("{cms}/cm-2")).accept(META_ONE),
        req("list-namespaces-metadata-cluster", "GET", "/api/v1/namespaces?labelSelector=kubernetes.io%2Fmetadata.name%3Dfid-a").accept(META_LIST),
        // Writes and their errors
        req("patch-merge", "PATCH", format!("{cms}/cm-1")).patch("application/merge-patch+json", json!({"data": {"k": "merged"}})),
        req("patch-json-test-fails-422", "PATCH", format!("{cms}/cm-1"))
            .patch("application/json-patch+json", json!([{"op": "test", "path": "/data/k", "value": "wrong"}, {"op": "remove", "path": "/data/k"}])),
        req("patch-json-test-passes", "PATCH", format!("{cms}/cm-1"))
            .patch("application/json-patch+json", json!([{"op": "test", "path": "/data/k", "value": "merged"}, {"op": "replace", "path": "/data/k", "value": "json"}])),
        req("put-stale-409", "PUT", format!("{cms}/cm-2")).body(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-2", "resourceVersion": "1"}, "data": {"k": "stale"}})),
        req("delete-precondition-uid-409", "DELETE", format!("{cms}/cm-3"))
            .body(json!({"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": "00000000-0000-4000-8000-000000000000"}})),
        req("delete-dry-run", "DELETE", format!("{cms}/cm-3?dryRun=All")),
        req("delete-configmap", "DELETE", format!("{cms}/cm-3")),
        req("get-deleted-404", "GET", format!("{cms}/cm-3")),
        req("watch-events", "GET", format!("{cms}?watch=true&resourceVersion={}&timeoutSeconds=1", s("rv-before-writes"))),
        req("create-hpa-v2", "POST", "/apis/autoscaling/v2/namespaces/fid-a/horizontalpodautoscalers").body(hpa),
        req("get-hpa-as-v1", "GET", "/apis/autoscaling/v1/namespaces/fid-a/horizontalpodautoscalers/web"),
        // Finalizers and namespace deletion
        req("create-namespace-b", "POST", "/api/v1/namespaces").body(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fid-b"}})),
        req("create-custom-resource", "POST", adapters).body(adapter),
        req("delete-with-finalizer", "DELETE", format!("{adapters}/lora")),
        req("get-deleting-custom-resource", "GET", format!("{adapters}/lora")),
        req("list-custom-resources-metadata", "GET", adapters).accept(META_LIST),
        req("delete-namespace", "DELETE", "/api/v1/namespaces/fid-b"),
        req("namespace-conditions", "GET", "/api/v1/namespaces/fid-b"),
        req("create-in-terminating-namespace-403", "POST", "/api/v1/namespaces/fid-b/configmaps").body(cm("late")),
        req("remove-finalizer", "PATCH", format!("{adapters}/lora")).patch(
            "application/json-patch+json",
            json!([{"op": "test", "path": "/metadata/finalizers/0", "value": "adapter.model.aibrix.ai/finalizer"}, {"op": "remove", "path": "/metadata/finalizers/0"}]),
        ),
        req("get-finalized-404", "GET", format!("{adapters}/lora")),
    ]
}

/// Differences we know about, each with its reason (the same list is in kube-sim/README.md).
pub fn known_deviations() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("discovery-apis", "kube-sim's discovery data was recorded from a server with every alpha/beta API enabled: it also serves v1beta*/v1alpha* versions of six groups and internal.apiserver.k8s.io, which a default v1.37.2 does not"),
        ("discovery-aggregated-apis", "discovery data: same recording as discovery-apis (versions per group, some subresources)"),
        ("version", "kube-sim presents itself as v1.32.4, which has no emulation*/minCompatibility* fields (1.33+)"),
        ("get-hpa-as-v1", "no field conversion between versions: an HPA created as autoscaling/v2 reads back via v1 with v2 fields"),
    ])
}

/// What a server needs to answer between two requests of the catalogue.
pub enum Wait {
    /// Until the CRD is served.
    CustomResourcesServed,
    /// Until the namespace controller reported finalizers remaining in fid-b.
    NamespaceConditions,
}

pub fn wait_before(id: &str) -> Option<Wait> {
    match id {
        "create-custom-resource" => Some(Wait::CustomResourcesServed),
        "namespace-conditions" => Some(Wait::NamespaceConditions),
        _ => None,
    }
}

pub async fn wait(client: &kube::Client, what: Wait) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let ok = match what {
            Wait::CustomResourcesServed => {
                send(
                    client,
                    &req("probe", "GET", "/apis/model.aibrix.ai/v1alpha1/modeladapters"),
                )
                .await
                .status
                    == 200
            }
            Wait::NamespaceConditions => {
                let r = send(client, &req("probe", "GET", "/api/v1/namespaces/fid-b")).await;
                r.body["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "NamespaceFinalizersRemaining" && c["status"] == "True")
                })
            }
        };
        if ok {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "server did not settle within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs the catalogue against one server; returns the responses by id.
pub async fn run_catalogue(client: &kube::Client) -> Vec<(Req, Resp)> {
    let mut state = BTreeMap::new();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let cat = catalogue(&state);
        let Some(r) = cat.get(i).cloned() else { break };
        if let Some(w) = wait_before(r.id) {
            wait(client, w).await;
        }
        if r.id == "watch-events" {
            // The writes the watch replays happened between create-configmap-1 and here.
        }
        let resp = send(client, &r).await;
        match r.id {
            "list-page-1" => {
                state.insert(
                    "continue".into(),
                    resp.body["metadata"]["continue"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            "create-configmap-1" => {
                state.insert(
                    "rv-before-writes".into(),
                    resp.body["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            _ => {}
        }
        out.push((r, resp));
        i += 1;
    }
    out
}
