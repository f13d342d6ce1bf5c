//! Built-in state: the namespaces every cluster has, and named scenarios embedded in the crate.
use serde_json::{json, Value};

const AIBRIX: &[(&str, &str)] = &[
    ("00-crds.yaml", include_str!("../scenarios/aibrix/00-crds.yaml")),
    (
        "10-aibrix-system.yaml",
        include_str!("../scenarios/aibrix/10-aibrix-system.yaml"),
    ),
    (
        "20-llm-serving.yaml",
        include_str!("../scenarios/aibrix/20-llm-serving.yaml"),
    ),
    ("30-default.yaml", include_str!("../scenarios/aibrix/30-default.yaml")),
];

/// Names accepted by `--scenario`.
pub fn scenario_names() -> &'static [&'static str] {
    &["aibrix"]
}

/// The documents of a named scenario.
pub fn scenario_documents(name: &str) -> Option<Vec<(&'static str, &'static str)>> {
    match name {
        "aibrix" => Some(AIBRIX.to_vec()),
        _ => None,
    }
}

/// Namespaces (and the `kubernetes` Service) a fresh cluster has.
pub fn base_objects() -> Vec<Value> {
    let mut out: Vec<Value> = ["default", "kube-system", "kube-public", "kube-node-lease"]
        .iter()
        .map(|n| {
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": n, "creationTimestamp": "{{now-90d}}", "labels": {"kubernetes.io/metadata.name": n}},
                   "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        })
        .collect();
    out.push(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "creationTimestamp": "{{now-90d}}",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                 "sessionAffinity": "None"},
        "status": {"loadBalancer": {}}}));
    out
}
