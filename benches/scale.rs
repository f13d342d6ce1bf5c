//! Scale benchmark (issue 12), run with `cargo bench --bench scale -- [options]`; not part of the
//! test command (which only compiles it) and never a timed assertion. Prints a table.
//!
//! For each size it generates a cluster (namespaces, some stuck in Terminating with
//! finalizer-held content, HPAs whose owners — custom resources of `--kinds` CRD kinds — and
//! scale targets — Deployments — exist, `--miscased` of the owner references with a mis-cased
//! kind), writes it to one file and starts kube-sim with `--load` semantics. Then, on that one
//! server and data, side by side, with medians over `--runs` runs:
//!
//! - `scan`: the real `kube-garbage-audit scan -o json` as a child process (default flags, and
//!   `--owner-resources all`): wall time, requests and response bytes (counted by kube-sim),
//!   peak RSS (GNU time's maximum resident set size);
//! - `floor`: the distinct requests that scan made (each discovery document once, each distinct
//!   list once, page by page with the same `limit`, selectors and Accept), fetched with 4 in
//!   flight and discarded — paced at the scan's default 50 requests/s, and unpaced;
//! - `kubectl+jq`: `kubectl get … -o json | jq` answering the same two questions (stuck
//!   namespaces with their finalizer-held content; HPAs whose owner kind does not map).
//!
//! It also reports kube-sim's side: load time, RSS per object (a child process serving the
//! file against an empty one), list-page and `/version` latency while its controllers drain the
//! queue the load filled.
//!
//! With `--server real` the same cluster is created on a real control plane instead
//! (scripts/control-plane.sh; see `bench_real`): scan and kubectl+jq only.
//!
//! Options: `--hpas 1000,10000` (sizes), `--runs 3`, `--kinds 50`, `--miscased 0.01`,
//! `--server kube-sim|real`,
//! `--format json|yaml` (the generated file: one JSON List, or a YAML stream of one document per
//! object), `--no-kubectl`, `--no-all` (skip `--owner-resources all`), `--no-memory`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const AUDITOR: &str = env!("CARGO_BIN_EXE_kube-garbage-audit");
const GROUP: &str = "bench.example.io";
const HOLD_FINALIZER: &str = "bench.example.io/hold";

#[derive(Clone)]
struct Opts {
    sizes: Vec<usize>,
    runs: usize,
    kinds: usize,
    miscased: f64,
    yaml: bool,
    kubectl: bool,
    all: bool,
    memory: bool,
    /// `--server real`: a real control plane (scripts/control-plane.sh) instead of kube-sim.
    real: bool,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        sizes: vec![1000, 10000],
        runs: 3,
        kinds: 50,
        miscased: 0.01,
        yaml: false,
        kubectl: true,
        all: true,
        memory: true,
        real: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--bench" => {}
            "--hpas" => {
                o.sizes = val()
                    .split(',')
                    .map(|s| s.trim().parse().expect("--hpas N[,N]"))
                    .collect()
            }
            "--runs" => o.runs = val().parse().expect("--runs N"),
            "--kinds" => o.kinds = val().parse().expect("--kinds N"),
            "--miscased" => o.miscased = val().parse().expect("--miscased FRACTION"),
            "--format" => o.yaml = val() == "yaml",
            "--no-kubectl" => o.kubectl = false,
            "--no-all" => o.all = false,
            "--no-memory" => o.memory = false,
            "--server" => {
                o.real = match val().as_str() {
                    "kube-sim" => false,
                    "real" => true,
                    other => panic!("--server kube-sim|real, not {other:?}"),
                }
            }
            other => panic!("unknown option {other:?} (see benches/scale.rs)"),
        }
    }
    o
}

/// The generated cluster's shape for `hpas` HPAs.
struct Shape {
    hpas: usize,
    namespaces: usize,
    stuck: usize,
    kinds: usize,
    miscased_every: usize,
}

impl Shape {
    fn new(hpas: usize, kinds: usize, miscased: f64) -> Shape {
        let namespaces = (hpas / 10).max(10);
        Shape {
            hpas,
            namespaces,
            stuck: (namespaces / 50).clamp(2, 100),
            kinds: kinds.max(1),
            miscased_every: if miscased > 0.0 {
                (1.0 / miscased).round() as usize
            } else {
                usize::MAX
            },
        }
    }
}

fn uid(kind: u8, i: usize) -> String {
    format!("00000000-0000-4000-80{kind:02x}-{i:012x}")
}

/// Every object of the cluster, CRDs first.
fn generate(shape: &Shape) -> Vec<Value> {
    let mut out = Vec::new();
    for k in 0..shape.kinds {
        let kind = format!("Scaler{k:02}");
        let plural = format!("scaler{k:02}s");
        out.push(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{GROUP}")},
            "spec": {"group": GROUP, "scope": "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
        }));
    }
    for n in 0..shape.namespaces {
        let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("team-{n:05}")}});
        if n < shape.stuck {
            ns["metadata"]["deletionTimestamp"] = json!("{{now-2h}}");
            ns["spec"] = json!({"finalizers": ["kubernetes"]});
            ns["status"] = json!({"phase": "Terminating"});
        }
        out.push(ns);
    }
    // stuck namespaces hold two custom resources each, deleting but held by a finalizer
    for n in 0..shape.stuck {
        for j in 0..2 {
            let k = (n + j) % shape.kinds;
            out.push(json!({
                "apiVersion": format!("{GROUP}/v1"), "kind": format!("Scaler{k:02}"),
                "metadata": {"name": format!("held-{j}"), "namespace": format!("team-{n:05}"),
                    "uid": uid(0xee, n * 2 + j), "finalizers": [HOLD_FINALIZER],
                    "deletionTimestamp": "{{now-2h}}", "generation": 2},
                "spec": {}
            }));
        }
    }
    let live = shape.namespaces - shape.stuck;
    for i in 0..shape.hpas {
        let ns = format!("team-{:05}", shape.stuck + i % live);
        let k = i % shape.kinds;
        let name = format!("app-{i:06}");
        let kind = format!("Scaler{k:02}");
        out.push(json!({
            "apiVersion": format!("{GROUP}/v1"), "kind": kind,
            "metadata": {"name": name, "namespace": ns, "uid": uid(1, i), "labels": {"app": name}},
            "spec": {"minReplicas": 1, "maxReplicas": 5}
        }));
        out.push(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "uid": uid(2, i), "labels": {"app": name}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]}}}
        }));
        let owner_kind = if i % shape.miscased_every == shape.miscased_every - 1 {
            kind.to_uppercase()
        } else {
            kind.clone()
        };
        out.push(json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": ns, "uid": uid(3, i), "labels": {"app": name},
                "ownerReferences": [{"apiVersion": format!("{GROUP}/v1"), "kind": owner_kind, "name": name,
                    "uid": uid(1, i), "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": 1, "maxReplicas": 5,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}
        }));
    }
    out
}

/// One JSON List, or a YAML stream with one (flow-style) document per object.
fn write_file(objects: &[Value], yaml: bool, path: &Path) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("create cluster file"));
    if yaml {
        for o in objects {
            writeln!(w, "---").unwrap();
            serde_json::to_writer(&mut w, o).unwrap();
            writeln!(w).unwrap();
        }
    } else {
        serde_json::to_writer(&mut w, &json!({"apiVersion": "v1", "kind": "List", "items": objects})).unwrap();
    }
    w.flush().unwrap();
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[derive(Default, Clone)]
struct Sample {
    secs: f64,
    requests: u64,
    bytes: u64,
    rss_kib: Option<u64>,
}

struct Row {
    name: String,
    samples: Vec<Sample>,
    note: String,
}

impl Row {
    fn median(&self) -> Sample {
        Sample {
            secs: median_f(self.samples.iter().map(|s| s.secs).collect()),
            requests: median_f(self.samples.iter().map(|s| s.requests as f64).collect()) as u64,
            bytes: median_f(self.samples.iter().map(|s| s.bytes as f64).collect()) as u64,
            rss_kib: self
                .samples
                .iter()
                .filter_map(|s| s.rss_kib)
                .map(|r| r as f64)
                .collect::<Vec<_>>()
                .first()
                .map(|_| {
                    median_f(
                        self.samples
                            .iter()
                            .filter_map(|s| s.rss_kib)
                            .map(|r| r as f64)
                            .collect(),
                    ) as u64
                }),
        }
    }
}

/// Runs `program args` under GNU time; returns wall seconds, peak RSS (KiB) and its output.
fn timed_child(program: &str, args: &[&str], env: &[(&str, &str)]) -> (f64, Option<u64>, std::process::Output) {
    let rss_file = tempfile::NamedTempFile::new().unwrap();
    let rss_path = rss_file.path().to_str().unwrap().to_string();
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%M", "-o", &rss_path, program]).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let out = cmd
        .stderr(Stdio::piped())
        .output()
        .expect("run child under /usr/bin/time");
    let secs = start.elapsed().as_secs_f64();
    let rss = std::fs::read_to_string(&rss_path)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()));
    if !out.status.success() && out.status.code() != Some(1) {
        eprintln!(
            "  {program} exited {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    (secs, rss, out)
}

/// The kubectl+jq script (`KUBECTL_JQ`) with `kubeconfig`, `home` and `env`, under GNU time:
/// wall seconds, the peak RSS of its largest process (KiB), and the lines (findings) it printed.
fn kubectl_jq(kubeconfig: &str, home: &str, env: &[(&str, &str)]) -> (f64, Option<u64>, usize) {
    let mut env = env.to_vec();
    env.extend([("KUBECONFIG", kubeconfig), ("HOME", home)]);
    let (secs, rss, out) = timed_child("bash", &["-c", KUBECTL_JQ], &env);
    if !out.status.success() {
        eprintln!("  kubectl+jq failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    (secs, rss, String::from_utf8_lossy(&out.stdout).lines().count())
}

/// A request to replay: (uri, accept, pages). Lists are replayed from their first page (no
/// continue) for as many pages as one listing of the scan fetched (a list the scan read twice
/// counts once; the up-front `limit=1` check stays one page).
fn distinct_requests(log: &[kube_sim::RequestRecord]) -> Vec<(String, String, usize)> {
    // (uri without continue, accept) → (first pages, all pages)
    let mut seen: Vec<((String, String), (usize, usize))> = Vec::new();
    for r in log {
        if r.method != "GET" || r.uri.contains("watch=") {
            continue;
        }
        let (path, query) = r.uri.split_once('?').unwrap_or((&r.uri, ""));
        let is_continue = query.split('&').any(|p| p.starts_with("continue="));
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("continue="))
            .collect();
        let uri = if kept.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", kept.join("&"))
        };
        let key = (uri, r.accept.clone());
        let i = match seen.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                seen.push((key, (0, 0)));
                seen.len() - 1
            }
        };
        let counts = &mut seen[i].1;
        counts.1 += 1;
        if !is_continue {
            counts.0 += 1;
        }
    }
    seen.into_iter()
        .map(|((uri, accept), (firsts, all))| (uri, accept, all.div_ceil(firsts.max(1))))
        .collect()
}

fn continue_token(body: &str) -> Option<String> {
    // metadata is serialised after items; a cheap scan, the body is otherwise discarded
    let at = body.rfind("\"continue\":\"")? + "\"continue\":\"".len();
    let end = body[at..].find('"')?;
    Some(body[at..at + end].to_string()).filter(|t| !t.is_empty())
}

/// The auditor's default `--burst`.
const BURST: u32 = 100;

/// Fetch every distinct request (lists page by page) with 4 in flight, discarding the bodies;
/// with `qps`, request starts are paced like the auditor's `--qps` and `--burst`.
async fn floor(client: kube::Client, requests: Vec<(String, String, usize)>, qps: Option<f64>) -> f64 {
    let permits = Arc::new(tokio::sync::Semaphore::new(4));
    let pacer = Arc::new(tokio::sync::Mutex::new(Instant::now()));
    let interval = qps.map(|q| Duration::from_secs_f64(1.0 / q));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (uri, accept, pages) in requests {
        let (client, permits, pacer) = (client.clone(), permits.clone(), pacer.clone());
        tasks.push(tokio::spawn(async move {
            let mut next: Option<String> = None;
            for _ in 0..pages {
                let _permit = permits.acquire().await.unwrap();
                if let Some(iv) = interval {
                    // The auditor's token bucket: --qps on average, up to --burst at once.
                    let start = {
                        let mut next = pacer.lock().await;
                        let now = Instant::now();
                        let start = next.checked_sub(iv * (BURST - 1)).unwrap_or(now).max(now);
                        *next = (*next).max(now) + iv;
                        start
                    };
                    tokio::time::sleep_until(tokio::time::Instant::from_std(start)).await;
                }
                let u = match &next {
                    Some(c) if uri.contains('?') => format!("{uri}&continue={c}"),
                    Some(c) => format!("{uri}?continue={c}"),
                    None => uri.clone(),
                };
                let req = http::Request::get(u)
                    .header(http::header::ACCEPT, &accept)
                    .body(Vec::new())
                    .unwrap();
                let body = client.request_text(req).await.unwrap_or_default();
                next = continue_token(&body);
                if next.is_none() {
                    break;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    start.elapsed().as_secs_f64()
}

const KUBECTL_JQ: &str = r#"set -eu
now=$(date +%s)
# 1. namespaces Terminating for more than STUCK_AFTER seconds (15 minutes), and their content that
#    carries finalizers
stuck=$(kubectl get namespaces -o json | jq -r --argjson now "$now" --argjson after "${STUCK_AFTER:-900}" '.items[]
  | select(.metadata.deletionTimestamp != null)
  | select(($now - (.metadata.deletionTimestamp | fromdateiso8601)) > $after) | .metadata.name')
types=$(kubectl api-resources --verbs=list,delete --namespaced -o name | paste -sd, -)
for ns in $stuck; do
  kubectl get "$types" -n "$ns" --ignore-not-found -o json | jq -r --arg ns "$ns" '.items[]
    | select((.metadata.finalizers // []) | length > 0)
    | "stuck \($ns) \(.kind)/\(.metadata.name) \(.metadata.finalizers | join(","))"'
done
# 2. HPAs with an ownerReference whose kind does not map (exact or all-lowercase kind at that
#    group/version; api-resources lists preferred versions only)
served=$(kubectl api-resources --no-headers | awk '{print $(NF-2) "/" $NF}')
kubectl get horizontalpodautoscalers -A -o json | jq -r --arg served "$served" '
  ($served | split("\n") | map(select(length > 0))
    | map([., (split("/") | .[:-1] + [(.[-1] | ascii_downcase)] | join("/"))]) | flatten
    | map({key: ., value: true}) | from_entries) as $map
  | .items[] | . as $h | (.metadata.ownerReferences // [])[]
  | select($map[.apiVersion + "/" + .kind] | not)
  | "unmappable \($h.metadata.namespace)/\($h.metadata.name) \(.apiVersion) \(.kind)"'
"#;

fn rss_kib_of(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Child mode: serve `file` (or nothing) with kube-sim, wait for the controllers to settle,
/// print `ready`, then wait for stdin to close.
fn serve_child(file: Option<&str>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = kube_sim::SimConfig {
            load: file.map(PathBuf::from).into_iter().collect(),
            ..Default::default()
        };
        let sim = kube_sim::start(cfg).await.expect("kube-sim starts");
        tokio::time::sleep(Duration::from_secs(3)).await;
        println!("ready {}", sim.url());
        std::io::stdout().flush().unwrap();
        let _ = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
        })
        .await;
    });
}

/// RSS of a kube-sim child after loading `file`, minus that of an empty one, per object.
fn memory_per_object(file: &Path, objects: usize) -> (u64, u64, f64) {
    let measure = |f: Option<&Path>| {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = Command::new(exe);
        cmd.arg("--serve");
        if let Some(f) = f {
            cmd.arg(f);
        }
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let rss = rss_kib_of(child.id()).unwrap_or(0);
        drop(child.stdin.take());
        let _ = child.wait();
        rss
    };
    let empty = measure(None);
    let full = measure(Some(file));
    let per = (full.saturating_sub(empty) as f64 * 1024.0) / objects as f64;
    (empty, full, per)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn bench_size(opts: &Opts, hpas: usize) {
    let shape = Shape::new(hpas, opts.kinds, opts.miscased);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(if opts.yaml { "cluster.yaml" } else { "cluster.json" });
    let t = Instant::now();
    let objects = generate(&shape);
    let n_objects = objects.len();
    write_file(&objects, opts.yaml, &file);
    drop(objects);
    let file_mb = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    println!(
        "\n## {hpas} HPAs: {} namespaces ({} stuck), {} CRD kinds, {n_objects} objects; file {file_mb:.0} MB ({}), generated in {:.1}s",
        shape.namespaces,
        shape.stuck,
        shape.kinds,
        if opts.yaml { "YAML stream" } else { "JSON List" },
        t.elapsed().as_secs_f64()
    );

    // kube-sim: load, then page and /version latency while the controllers drain the load's queue
    let t = Instant::now();
    let sim = kube_sim::start(kube_sim::SimConfig {
        load: vec![file.clone()],
        ..Default::default()
    })
    .await
    .expect("kube-sim loads the cluster");
    let load_secs = t.elapsed().as_secs_f64();
    let client = sim.client();
    let get = |uri: String, accept: &'static str| {
        let client = client.clone();
        async move {
            let t = Instant::now();
            let req = http::Request::get(uri)
                .header(http::header::ACCEPT, accept)
                .body(Vec::new())
                .unwrap();
            let body = client.request_text(req).await.unwrap_or_default();
            (t.elapsed().as_secs_f64() * 1000.0, body)
        }
    };
    let mut version_ms = Vec::new();
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(3) {
        version_ms.push(get("/version".into(), "application/json").await.0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let version_max = version_ms.iter().cloned().fold(0.0, f64::max);
    let meta = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
    let hpa_list = "/apis/autoscaling/v2/horizontalpodautoscalers?limit=500";
    let (first_ms, first) = get(hpa_list.into(), meta).await;
    let mut page_ms = vec![first_ms];
    let mut next = continue_token(&first);
    let mut pages = 1;
    while let Some(c) = next.take() {
        let (ms, body) = get(format!("{hpa_list}&continue={c}"), meta).await;
        page_ms.push(ms);
        pages += 1;
        next = continue_token(&body);
    }
    println!(
        "kube-sim: loaded in {load_secs:.1}s; /version while the controllers drain the load's queue: max {version_max:.1} ms over {} requests; HPA list (metadata, limit 500): {pages} pages, median {:.1} ms, max {:.1} ms",
        version_ms.len(),
        median_f(page_ms.clone()),
        page_ms.iter().cloned().fold(0.0, f64::max),
    );
    if opts.memory {
        let (empty, full, per) = memory_per_object(&file, n_objects);
        println!(
            "kube-sim RSS: empty {:.0} MiB, with the {n_objects} objects {:.0} MiB: {:.0} bytes per object",
            mib(empty),
            mib(full),
            per
        );
    }

    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let kc = kubeconfig.to_str().unwrap().to_string();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    let mut rows: Vec<Row> = Vec::new();
    let variants: Vec<(&str, Vec<&str>)> = if opts.all {
        vec![
            ("", vec![]),
            (" --owner-resources all", vec!["--owner-resources", "all"]),
        ]
    } else {
        vec![("", vec![])]
    };
    for (label, extra) in &variants {
        let mut scan = Row {
            name: format!("scan{label}"),
            samples: vec![],
            note: String::new(),
        };
        let mut paced = Row {
            name: format!("floor{label} (50/s)"),
            samples: vec![],
            note: String::new(),
        };
        let mut unpaced = Row {
            name: format!("floor{label} (unpaced)"),
            samples: vec![],
            note: String::new(),
        };
        let mut replay: Vec<(String, String, usize)> = Vec::new();
        for run in 0..opts.runs {
            sim.record_requests(run == 0);
            let (r0, b0) = sim.request_totals();
            let mut args: Vec<String> = [
                "scan",
                "-o",
                "json",
                "--kubeconfig",
                kc.as_str(),
                "--log-level",
                "error",
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            args.extend(extra.iter().map(|a| a.to_string()));
            let kc2 = kc.clone();
            let (secs, rss, _) = tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                timed_child(AUDITOR, &args, &[("KUBECONFIG", kc2.as_str())])
            })
            .await
            .unwrap();
            let (r1, b1) = sim.request_totals();
            scan.samples.push(Sample {
                secs,
                requests: r1 - r0,
                bytes: b1 - b0,
                rss_kib: rss,
            });
            if run == 0 {
                replay = distinct_requests(&sim.take_request_log());
                sim.record_requests(false);
            }
        }
        for run in 0..opts.runs {
            for (row, qps) in [(&mut paced, Some(50.0)), (&mut unpaced, None)] {
                let debug = std::env::var_os("SCALE_DEBUG").is_some();
                sim.record_requests(debug);
                let (r0, b0) = sim.request_totals();
                let secs = floor(sim.client(), replay.clone(), qps).await;
                let (r1, b1) = sim.request_totals();
                if debug {
                    for r in sim.take_request_log().iter().take(400) {
                        eprintln!("floor {} {} {} {}", r.status, r.bytes, r.uri, r.accept);
                    }
                    for (u, a, p) in &replay {
                        eprintln!("replay {u} {a} {p}");
                    }
                    sim.record_requests(false);
                }
                row.samples.push(Sample {
                    secs,
                    requests: r1 - r0,
                    bytes: b1 - b0,
                    rss_kib: None,
                });
            }
            let _ = run;
        }
        scan.note = format!("{} distinct requests before paging", replay.len());
        rows.extend([scan, paced, unpaced]);
    }
    if opts.kubectl {
        let mut row = Row {
            name: "kubectl+jq".into(),
            samples: vec![],
            note: String::new(),
        };
        let mut lines = 0;
        for _ in 0..opts.runs {
            let (r0, b0) = sim.request_totals();
            let (kc2, home2) = (kc.clone(), home.to_str().unwrap().to_string());
            let (secs, rss, out) = tokio::task::spawn_blocking(move || kubectl_jq(&kc2, &home2, &[]))
                .await
                .unwrap();
            lines = out;
            let (r1, b1) = sim.request_totals();
            row.samples.push(Sample {
                secs,
                requests: r1 - r0,
                bytes: b1 - b0,
                rss_kib: rss,
            });
        }
        row.note = format!("{lines} findings printed");
        rows.push(row);
    }

    println!(
        "\n| measured ({} runs, medians) | wall s | requests | MB received | peak RSS MiB | ratio | note |",
        opts.runs
    );
    println!("|---|---:|---:|---:|---:|---|---|");
    let find = |name: &str| rows.iter().find(|r| r.name == name).map(Row::median);
    let scan_default = find("scan");
    for r in &rows {
        let m = r.median();
        let ratio = if r.name.starts_with("scan") {
            let label = r.name.trim_start_matches("scan");
            match find(&format!("floor{label} (50/s)")) {
                Some(f) => format!(
                    "scan/floor(50/s) {:.2}×, requests {:.2}×",
                    m.secs / f.secs,
                    m.requests as f64 / f.requests.max(1) as f64
                ),
                None => String::new(),
            }
        } else if r.name == "kubectl+jq" {
            scan_default
                .as_ref()
                .map(|s| format!("kubectl+jq/scan {:.2}×", m.secs / s.secs))
                .unwrap_or_default()
        } else {
            String::new()
        };
        println!(
            "| {} | {:.2} | {} | {:.1} | {} | {ratio} | {} |",
            r.name,
            m.secs,
            m.requests,
            m.bytes as f64 / 1e6,
            m.rss_kib
                .map(|k| format!("{:.0}", mib(k)))
                .unwrap_or_else(|| "–".into()),
            r.note
        );
    }
    sim.shutdown().await;
}

/// `kubectl ARGS` with `kubeconfig` (stdin from `input`); panics with its stderr on failure.
fn kubectl(kubeconfig: &Path, home: &Path, args: &[&str], input: Option<&str>) -> String {
    let mut child = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    if let Some(text) = input {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Creates `objects` (a few thousand per `kubectl create`).
fn create_all(kubeconfig: &Path, home: &Path, objects: &[Value]) {
    for chunk in objects.chunks(2000) {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": chunk}).to_string();
        kubectl(kubeconfig, home, &["create", "-f", "-", "-o", "name"], Some(&list));
    }
}

/// The auditor identity's requests in the control plane's audit log so far.
fn audited(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"username\":\"system:serviceaccount:kube-garbage-audit:kube-garbage-audit\""))
        .count() as u64
}

/// The same cluster on a real control plane (scripts/control-plane.sh: etcd, kube-apiserver and
/// kube-controller-manager built from the pinned Kubernetes modules), created through the API
/// (so every object has the `managedFields` a real server writes), stuck namespaces made stuck
/// for real (deleted while custom resources with a finalizer remain). The scan runs as the
/// identity bound to deploy/base's ClusterRole; requests are counted from the API server's
/// audit log. No floor here (the kube-sim rows have it); bytes are not counted.
fn bench_real(opts: &Opts, hpas: usize) {
    let shape = Shape::new(hpas, opts.kinds, opts.miscased);
    let objects = generate(&shape);
    let n_objects = objects.len();
    let dir = tempfile::Builder::new().prefix("kga-bench-").tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/control-plane.sh");
    let t = Instant::now();
    let up = Command::new("bash")
        .arg(&script)
        .arg("up")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(up.success(), "scripts/control-plane.sh up failed");
    let up_secs = t.elapsed().as_secs_f64();
    let admin = dir.path().join("admin.kubeconfig");
    let auditor = dir.path().join("auditor.kubeconfig");

    let t = Instant::now();
    let strip = |mut o: Value, keys: &[&str]| {
        for k in keys {
            if let Some(m) = o["metadata"].as_object_mut() {
                m.remove(*k);
            }
        }
        o
    };
    let (crds, rest): (Vec<Value>, Vec<Value>) = objects
        .into_iter()
        .partition(|o| o["kind"] == "CustomResourceDefinition");
    create_all(&admin, &home, &crds);
    kubectl(
        &admin,
        &home,
        &["wait", "--for=condition=Established", "crd", "--all", "--timeout=180s"],
        None,
    );
    let (hpa_objects, rest): (Vec<Value>, Vec<Value>) =
        rest.into_iter().partition(|o| o["kind"] == "HorizontalPodAutoscaler");
    let rest: Vec<Value> = rest
        .into_iter()
        .map(|mut o| {
            if o["kind"] == "Namespace" {
                o.as_object_mut().unwrap().remove("spec");
                o.as_object_mut().unwrap().remove("status");
            }
            strip(o, &["uid", "deletionTimestamp", "generation"])
        })
        .collect();
    create_all(&admin, &home, &rest);
    // The owners' uids, as the server made them.
    let mut uids = std::collections::HashMap::new();
    for k in 0..shape.kinds {
        let list: Value = serde_json::from_str(&kubectl(
            &admin,
            &home,
            &["get", &format!("scaler{k:02}s.{GROUP}"), "-A", "-o", "json"],
            None,
        ))
        .unwrap();
        for o in list["items"].as_array().unwrap() {
            let m = &o["metadata"];
            uids.insert(
                (
                    m["namespace"].as_str().unwrap().to_string(),
                    m["name"].as_str().unwrap().to_string(),
                ),
                m["uid"].as_str().unwrap().to_string(),
            );
        }
    }
    let hpa_objects: Vec<Value> = hpa_objects
        .into_iter()
        .map(|mut o| {
            let key = (
                o["metadata"]["namespace"].as_str().unwrap().to_string(),
                o["metadata"]["name"].as_str().unwrap().to_string(),
            );
            o["metadata"]["ownerReferences"][0]["uid"] = json!(uids[&key]);
            strip(o, &["uid"])
        })
        .collect();
    create_all(&admin, &home, &hpa_objects);
    let stuck: Vec<String> = (0..shape.stuck).map(|n| format!("team-{n:05}")).collect();
    let mut delete = vec!["delete", "namespace", "--wait=false"];
    delete.extend(stuck.iter().map(String::as_str));
    kubectl(&admin, &home, &delete, None);
    let mut wait = vec!["wait", "--for=condition=NamespaceFinalizersRemaining", "--timeout=300s"];
    let names: Vec<String> = stuck.iter().map(|n| format!("namespace/{n}")).collect();
    wait.extend(names.iter().map(String::as_str));
    kubectl(&admin, &home, &wait, None);
    println!(
        "\n## real control plane, {hpas} HPAs: {} namespaces ({} stuck for real), {} CRD kinds, {n_objects} objects; up in {up_secs:.0}s, created through the API in {:.0}s",
        shape.namespaces,
        shape.stuck,
        shape.kinds,
        t.elapsed().as_secs_f64()
    );

    // The namespaces were deleted seconds ago: --stuck-after 1s (and STUCK_AFTER=1 for kubectl+jq)
    // makes them stuck, as the kube-sim rows' namespaces deleted 2 h ago are.
    let kc = auditor.to_str().unwrap().to_string();
    let mut rows: Vec<Row> = Vec::new();
    let mut variants: Vec<(&str, Vec<&str>)> = vec![("", vec![])];
    if opts.all {
        variants.push((" --owner-resources all", vec!["--owner-resources", "all"]));
    }
    for (label, extra) in &variants {
        let mut row = Row {
            name: format!("scan{label}"),
            samples: vec![],
            note: "as deploy/base's identity".into(),
        };
        for _ in 0..opts.runs {
            let before = audited(dir.path());
            let mut args = vec![
                "scan",
                "-o",
                "json",
                "--kubeconfig",
                kc.as_str(),
                "--log-level",
                "error",
                "--stuck-after",
                "1s",
            ];
            args.extend(extra.iter().copied());
            let (secs, rss, _) = timed_child(AUDITOR, &args, &[("KUBECONFIG", kc.as_str())]);
            row.samples.push(Sample {
                secs,
                requests: audited(dir.path()) - before,
                bytes: 0,
                rss_kib: rss,
            });
        }
        rows.push(row);
    }
    if opts.kubectl {
        let mut row = Row {
            name: "kubectl+jq".into(),
            samples: vec![],
            note: "as cluster-admin".into(),
        };
        for _ in 0..opts.runs {
            let (secs, rss, lines) =
                kubectl_jq(admin.to_str().unwrap(), home.to_str().unwrap(), &[("STUCK_AFTER", "1")]);
            row.note = format!("as cluster-admin; {lines} findings printed");
            row.samples.push(Sample {
                secs,
                requests: 0,
                bytes: 0,
                rss_kib: rss,
            });
        }
        rows.push(row);
    }
    println!(
        "\n| measured ({} runs, medians) | wall s | requests | peak RSS MiB | ratio | note |",
        opts.runs
    );
    println!("|---|---:|---:|---:|---|---|");
    let scan = rows[0].median();
    for r in &rows {
        let m = r.median();
        let ratio = if r.name == "kubectl+jq" {
            format!("kubectl+jq/scan {:.2}×", m.secs / scan.secs)
        } else {
            String::new()
        };
        let requests = if r.name == "kubectl+jq" {
            "–".to_string()
        } else {
            m.requests.to_string()
        };
        println!(
            "| {} | {:.2} | {requests} | {} | {ratio} | {} |",
            r.name,
            m.secs,
            m.rss_kib
                .map(|k| format!("{:.0}", mib(k)))
                .unwrap_or_else(|| "–".into()),
            r.note
        );
    }
    let _ = Command::new("bash").arg(&script).arg("down").arg(dir.path()).status();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--serve") {
        serve_child(args.get(2).map(String::as_str));
        return;
    }
    let opts = parse_opts();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("# kube-garbage-audit scale benchmark: auditor {AUDITOR}");
    for &hpas in &opts.sizes {
        if opts.real {
            bench_real(&opts, hpas);
        } else {
            rt.block_on(bench_size(&opts, hpas));
        }
    }
}
