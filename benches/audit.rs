//! Benchmarks, run with `cargo bench --bench audit`. Prints medians of repeated runs, measured
//! side by side in one process, and their ratios. No assertions: numbers are for reading.
//!
//! 1. The pure owner-reference classifier over 10 000 HPAs (half of them with a case-mangled kind).
//! 2. Listing 3 000 ConfigMaps with ~4 KiB of data each from kube-sim: metadata-only
//!    (`PartialObjectMetadataList`, what the scanners use) against full objects.

use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube_garbage_audit::discovery::{DiscoverySnapshot, ResourceType};
use kube_garbage_audit::findings::ObjectId;
use kube_garbage_audit::kubeapi::{ApiLimits, ClusterApi};
use kube_garbage_audit::ownerref::{classify, Dependent, ObjectIndex, OwnerIndex, ScaleTarget};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn rt(group: &str, version: &str, kind: &str, plural: &str) -> ResourceType {
    ResourceType {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        namespaced: true,
        verbs: vec!["list".into()],
        singular: kind.to_ascii_lowercase(),
        short_names: Vec::new(),
    }
}

fn classifier_bench() {
    let mut discovery = DiscoverySnapshot::new(true);
    discovery.add_group("", vec!["v1".into()]);
    discovery.add_resources("", "v1", vec![rt("", "v1", "Pod", "pods")]);
    discovery.add_group("apps", vec!["v1".into()]);
    discovery.add_resources("apps", "v1", vec![rt("apps", "v1", "Deployment", "deployments")]);
    discovery.add_group("autoscaling.aibrix.ai", vec!["v1alpha1".into()]);
    discovery.add_resources(
        "autoscaling.aibrix.ai",
        "v1alpha1",
        vec![rt(
            "autoscaling.aibrix.ai",
            "v1alpha1",
            "PodAutoscaler",
            "podautoscalers",
        )],
    );
    let n = 10_000;
    let pa_entries: Vec<(String, String)> = (0..n).map(|i| (format!("pa-{i}"), format!("uid-{i}"))).collect();
    let dep_entries: Vec<(String, String)> = (0..n).map(|i| (format!("d-{i}"), format!("duid-{i}"))).collect();
    let entries = |e: &[(String, String)]| {
        ObjectIndex::from_entries(
            &e.iter()
                .map(|(n, u)| ("ns", n.as_str(), u.as_str()))
                .collect::<Vec<_>>(),
        )
    };
    let (pas, deps) = (entries(&pa_entries), entries(&dep_entries));
    let dependents: Vec<Dependent> = (0..n)
        .map(|i| Dependent {
            id: ObjectId {
                group: "autoscaling".into(),
                version: "v2".into(),
                resource: "horizontalpodautoscalers".into(),
                kind: "HorizontalPodAutoscaler".into(),
                namespace: "ns".into(),
                name: format!("hpa-{i}"),
                uid: format!("h-{i}"),
                resource_version: "1".into(),
                creation_timestamp: None,
            },
            owner_references: vec![OwnerReference {
                api_version: "autoscaling.aibrix.ai/v1alpha1".into(),
                kind: if i % 2 == 0 { "PodAutoscaler" } else { "PodAutoScaler" }.into(),
                name: format!("pa-{i}"),
                uid: format!("uid-{i}"),
                controller: Some(true),
                block_owner_deletion: None,
            }],
            scale_target: Some(ScaleTarget {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: format!("d-{i}").into(),
            }),
        })
        .collect();
    let mut owners = OwnerIndex::default();
    owners.insert("podautoscalers.autoscaling.aibrix.ai", pas);
    owners.insert("deployments.apps", deps);
    let mut samples = Vec::new();
    let mut problems = 0;
    for _ in 0..11 {
        let start = Instant::now();
        problems = dependents
            .iter()
            .map(|d| classify(d, &discovery, &owners).problems.len())
            .sum::<usize>();
        samples.push(start.elapsed());
    }
    let m = median(samples);
    println!(
        "classify {n} HPAs ({problems} problems): median {m:?} ({:.2} µs/object)",
        m.as_secs_f64() * 1e6 / f64::from(n)
    );
}

async fn list_bench() {
    let sim = kube_sim::start(kube_sim::SimConfig::default())
        .await
        .expect("kube-sim starts");
    let blob = "x".repeat(4096);
    let n = 3000;
    let objects = (0..n)
        .map(|i| serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}"), "namespace": "default"}, "data": {"blob": blob}}))
        .collect();
    sim.load_objects(objects).expect("load");
    let api = ClusterApi::new(
        sim.client(),
        ApiLimits {
            min_interval: Duration::ZERO,
            burst: 1,
            ..ApiLimits::default()
        },
    );
    let cms = rt("", "v1", "ConfigMap", "configmaps");
    let (mut meta, mut full) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let start = Instant::now();
        let m = api.list_metadata(&cms, None).await.expect("metadata list");
        meta.push(start.elapsed());
        let start = Instant::now();
        let f = api.list_full(&cms, None).await.expect("full list");
        full.push(start.elapsed());
        assert_eq!(m.objects.len(), f.objects.len());
    }
    let (m, f) = (median(meta), median(full));
    println!(
        "list {n} ConfigMaps (4 KiB each): metadata-only median {m:?}, full median {f:?}, full/metadata = {:.2}×",
        f.as_secs_f64() / m.as_secs_f64()
    );
    sim.shutdown().await;
}

fn main() {
    classifier_bench();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(list_bench());
}
