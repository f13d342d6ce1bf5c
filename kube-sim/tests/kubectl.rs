//! Fidelity tests driving the real kubectl (v1.32) against kube-sim. Each test gets its own
//! HOME (kubectl caches discovery there) and KUBECONFIG. kubectl runs with default validation
//! (kube-sim serves OpenAPI and honours `fieldValidation`).
use kube_sim::{start, SimConfig, SimHandle};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

struct Kubectl {
    dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(sim: &SimHandle) -> Kubectl {
        let dir = tempfile::tempdir().unwrap();
        sim.write_kubeconfig(&dir.path().join("config")).unwrap();
        Kubectl { dir }
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new("kubectl")
            .args(args)
            .env("HOME", self.dir.path())
            .env("KUBECONFIG", self.dir.path().join("config"))
            .output()
            .expect("kubectl runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args);
        assert!(ok, "kubectl {args:?} failed: {err}");
        out
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }
}

async fn aibrix() -> SimHandle {
    start(SimConfig {
        scenario: Some("aibrix".into()),
        namespace_controller_interval: Duration::from_millis(100),
        gc_interval: Duration::from_millis(100),
        ..Default::default()
    })
    .await
    .unwrap()
}

fn have_kubectl() -> bool {
    Command::new("kubectl").arg("version").arg("--client").output().is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_resources_and_get() {
    assert!(have_kubectl(), "kubectl must be installed for the fidelity tests");
    let sim = aibrix().await;
    let k = Kubectl::new(&sim);
    let out = tokio::task::block_in_place(|| k.ok(&["api-resources"]));
    assert!(out.lines().any(|l| l.starts_with("modeladapters ")
        && l.contains("model.aibrix.ai/v1alpha1")
        && l.contains("ModelAdapter")));
    assert!(out
        .lines()
        .any(|l| l.starts_with("horizontalpodautoscalers ") && l.contains("hpa") && l.contains("autoscaling/v2")));
    assert!(out.lines().any(|l| l.starts_with("modelclaims ") && l.contains(" mc ")));
    let ns = tokio::task::block_in_place(|| k.json(&["get", "ns", "aibrix-system", "-o", "json"]));
    assert_eq!(ns["status"]["phase"], "Terminating");
    let conds = ns["status"]["conditions"]
        .as_array()
        .expect("conditions written by the namespace controller");
    let fin = conds
        .iter()
        .find(|c| c["type"] == "NamespaceFinalizersRemaining")
        .unwrap();
    assert_eq!(fin["status"], "True");
    assert_eq!(fin["reason"], "SomeFinalizersRemain");
    assert_eq!(fin["message"], "Some content in the namespace has finalizers remaining: adapter.model.aibrix.ai/finalizer in 1 resource instances");
    let hpa =
        tokio::task::block_in_place(|| k.json(&["get", "hpa", "mistral-7b-hpa", "-n", "llm-serving", "-o", "json"]));
    assert_eq!(hpa["metadata"]["ownerReferences"][0]["kind"], "PodAutoScaler");
    let (ok, _, err) = tokio::task::block_in_place(|| k.run(&["get", "pod", "nope", "-n", "default"]));
    assert!(!ok);
    assert!(
        err.contains("Error from server (NotFound): pods \"nope\" not found"),
        "{err}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_patch_delete_and_raw() {
    let sim = aibrix().await;
    let k = Kubectl::new(&sim);
    let manifest = k.dir.path().join("cm.yaml");
    std::fs::write(&manifest, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n  namespace: default\n  finalizers: [example.com/hold]\ndata:\n  a: \"1\"\n").unwrap();
    tokio::task::block_in_place(|| {
        let out = k.ok(&["create", "-f", manifest.to_str().unwrap()]);
        assert!(out.contains("configmap/demo created"), "{out}");
        k.ok(&[
            "patch",
            "configmap",
            "demo",
            "--type=merge",
            "-p",
            r#"{"data":{"b":"2"}}"#,
        ]);
        let cm = k.json(&["get", "configmap", "demo", "-o", "json"]);
        assert_eq!(cm["data"]["b"], "2");
        // failed json-patch test op -> 422 Invalid
        let (ok, _, err) = k.run(&[
            "patch",
            "configmap",
            "demo",
            "--type=json",
            "-p",
            r#"[{"op":"test","path":"/data/a","value":"9"}]"#,
        ]);
        assert!(!ok);
        assert!(
            err.contains("the server rejected our request due to an error in our request"),
            "{err}"
        );
        let out = k.ok(&["delete", "configmap", "demo", "--wait=false"]);
        assert!(out.contains("deleted"), "{out}");
        let cm = k.json(&["get", "configmap", "demo", "-o", "json"]);
        assert!(cm["metadata"]["deletionTimestamp"].is_string(), "finalizer keeps it");
        k.ok(&[
            "patch",
            "configmap",
            "demo",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ]);
        let (ok, _, _) = k.run(&["get", "configmap", "demo"]);
        assert!(!ok, "gone once its last finalizer is removed");
        // raw discovery and a paged list
        let apis: Value = serde_json::from_str(&k.ok(&["get", "--raw", "/apis"])).unwrap();
        assert_eq!(apis["kind"], "APIGroupList");
        let page: Value =
            serde_json::from_str(&k.ok(&["get", "--raw", "/api/v1/namespaces/llm-serving/pods?limit=1"])).unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        let token = page["metadata"]["continue"].as_str().unwrap();
        let next: Value = serde_json::from_str(&k.ok(&[
            "get",
            "--raw",
            &format!("/api/v1/namespaces/llm-serving/pods?limit=1&continue={token}"),
        ]))
        .unwrap();
        assert_eq!(next["items"].as_array().unwrap().len(), 1);
        assert_ne!(
            next["items"][0]["metadata"]["name"],
            page["items"][0]["metadata"]["name"]
        );
    });
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_namespace_unsticks_after_finalizer_removal() {
    let sim = aibrix().await;
    let k = Kubectl::new(&sim);
    tokio::task::block_in_place(|| {
        k.ok(&[
            "patch", "modeladapter", "qwen-code-lora", "-n", "aibrix-system", "--type=json", "-p",
            r#"[{"op":"test","path":"/metadata/finalizers/0","value":"adapter.model.aibrix.ai/finalizer"},{"op":"remove","path":"/metadata/finalizers/0"}]"#,
        ]);
    });
    let mut gone = false;
    for _ in 0..100 {
        let (ok, _, err) = tokio::task::block_in_place(|| k.run(&["get", "ns", "aibrix-system"]));
        if !ok && err.contains("NotFound") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "aibrix-system disappears once its content is gone");
    sim.shutdown().await;
}

/// Server-side printing: the real printers' columns, Terminating namespaces, HPAs, CRs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_tables() {
    let sim = aibrix().await;
    let k = Kubectl::new(&sim);
    tokio::task::block_in_place(|| {
        let out = k.ok(&["get", "ns"]);
        let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(header, ["NAME", "STATUS", "AGE"], "{out}");
        let line = out.lines().find(|l| l.starts_with("aibrix-system ")).unwrap();
        assert!(line.contains("Terminating"), "{out}");
        let out = k.ok(&["get", "hpa", "-A"]);
        let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            [
                "NAMESPACE",
                "NAME",
                "REFERENCE",
                "TARGETS",
                "MINPODS",
                "MAXPODS",
                "REPLICAS",
                "AGE"
            ],
            "{out}"
        );
        assert!(out.contains("Deployment/llama-3-8b"), "{out}");
        assert!(out.contains("cpu: <unknown>/50%"), "{out}");
        let out = k.ok(&["get", "modeladapters", "-A"]);
        let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(header, ["NAMESPACE", "NAME", "AGE"], "{out}");
        assert!(out.contains("qwen-code-lora"), "{out}");
        let out = k.ok(&["get", "pods", "-n", "llm-serving"]);
        let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], "{out}");
        let out = k.ok(&["get", "deploy", "-n", "llm-serving"]);
        assert!(
            out.starts_with("NAME")
                && out
                    .lines()
                    .next()
                    .unwrap()
                    .contains("READY   UP-TO-DATE   AVAILABLE   AGE")
        );
        let out = k.ok(&["get", "svc", "web", "-n", "default"]);
        assert!(
            out.lines().next().unwrap().split_whitespace().collect::<Vec<_>>()
                == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
            "{out}"
        );
        let out = k.ok(&["get", "crd"]);
        assert!(
            out.starts_with("NAME") && out.lines().next().unwrap().ends_with("CREATED AT"),
            "{out}"
        );
        let out = k.ok(&["get", "cm", "app-settings", "-n", "default"]);
        assert_eq!(
            out.lines().next().unwrap().split_whitespace().collect::<Vec<_>>(),
            ["NAME", "DATA", "AGE"]
        );
    });
    sim.shutdown().await;
}

/// Default (strict) validation: kubectl reads the OpenAPI documents, sees `fieldValidation`
/// on the PATCH operations and lets the server validate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_apply_with_default_validation() {
    let sim = aibrix().await;
    let k = Kubectl::new(&sim);
    let dir = k.dir.path().to_path_buf();
    let write = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_string()
    };
    let good = write(
        "good.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: c, image: nginx}]\n",
    );
    let bad = write(
        "bad.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\n  namespace: default\nspec:\n  foo: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: c, image: nginx}]\n",
    );
    let cr = write(
        "cr.yaml",
        "apiVersion: model.aibrix.ai/v1alpha1\nkind: ModelAdapter\nmetadata:\n  name: lora\n  namespace: default\nspec:\n  baseModel: llama\n",
    );
    tokio::task::block_in_place(|| {
        let out = k.ok(&["create", "-f", &good]);
        assert!(out.contains("deployment.apps/web created"), "{out}");
        let d = k.json(&["get", "deploy", "web", "-n", "default", "-o", "json"]);
        assert_eq!(d["spec"]["replicas"], 2);
        let (ok, _, err) = k.run(&["create", "-f", &bad]);
        assert!(!ok);
        assert!(
            err.contains("Error from server (BadRequest)")
                && err.contains(r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo""#),
            "{err}"
        );
        let (ok, _, err) = k.run(&["create", "-f", &bad, "--validate=warn"]);
        assert!(ok, "{err}");
        assert!(err.contains(r#"Warning: unknown field "spec.foo""#), "{err}");
        let out = k.ok(&["apply", "-f", &cr]);
        assert!(out.contains("modeladapter.model.aibrix.ai/lora created"), "{out}");
        let obj = k.json(&["get", "modeladapter", "lora", "-n", "default", "-o", "json"]);
        assert!(obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].is_string());
        std::fs::write(&cr, std::fs::read_to_string(&cr).unwrap().replace("llama", "mistral")).unwrap();
        let out = k.ok(&["apply", "-f", &cr]);
        assert!(out.contains("configured"), "{out}");
        let obj = k.json(&["get", "modeladapter", "lora", "-n", "default", "-o", "json"]);
        assert_eq!(obj["spec"]["baseModel"], "mistral");
    });
    sim.shutdown().await;
}

/// `sent` (what kubectl would send, from `--dry-run=client -o json`) is contained in `got`.
fn assert_subset(sent: &Value, got: &Value, path: &str) {
    match (sent, got) {
        (Value::Object(s), Value::Object(g)) => {
            for (k, v) in s {
                // Server-owned: the creation time and the (reset) status.
                if (path == ".metadata" && k == "creationTimestamp") || (path.is_empty() && k == "status") {
                    continue;
                }
                let p = format!("{path}.{k}");
                assert!(g.contains_key(k), "{p} missing in {got}");
                assert_subset(v, &g[k], &p);
            }
        }
        _ => assert_eq!(sent, got, "{path}"),
    }
}

/// The typed `kubectl create` commands POST protobuf; kube-sim decodes them and the objects
/// read back with exactly the fields kubectl sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_creates_send_protobuf() {
    let sim = aibrix().await;
    let k = Kubectl::new(&sim);
    let cases: &[(&[&str], &[&str])] = &[
        (&["create", "namespace", "pb-ns"], &["namespace", "pb-ns"]),
        (
            &["create", "configmap", "pb-cm", "--from-literal=a=b", "-n", "default"],
            &["configmap", "pb-cm", "-n", "default"],
        ),
        (
            &[
                "create",
                "deployment",
                "pb-d",
                "--image=nginx",
                "--replicas=0",
                "-n",
                "default",
            ],
            &["deployment", "pb-d", "-n", "default"],
        ),
        (
            &[
                "create",
                "secret",
                "generic",
                "pb-s",
                "--from-literal=a=b",
                "-n",
                "default",
            ],
            &["secret", "pb-s", "-n", "default"],
        ),
        (
            &["create", "serviceaccount", "pb-sa", "-n", "default"],
            &["serviceaccount", "pb-sa", "-n", "default"],
        ),
        (
            &[
                "create",
                "service",
                "clusterip",
                "pb-svc",
                "--tcp=80:8080",
                "-n",
                "default",
            ],
            &["service", "pb-svc", "-n", "default"],
        ),
    ];
    tokio::task::block_in_place(|| {
        for (create, get) in cases {
            let mut dry: Vec<&str> = create.to_vec();
            dry.extend(["--dry-run=client", "-o", "json"]);
            let sent = k.json(&dry);
            let out = k.ok(create);
            assert!(out.contains("created"), "{out}");
            let mut g: Vec<&str> = vec!["get"];
            g.extend(get.iter());
            g.extend(["-o", "json"]);
            let got = k.json(&g);
            assert_subset(&sent, &got, "");
        }
        let d = k.json(&["get", "deployment", "pb-d", "-n", "default", "-o", "json"]);
        assert_eq!(d["spec"]["replicas"], 0, "a pointer field's zero survives");
    });
    sim.shutdown().await;
}
