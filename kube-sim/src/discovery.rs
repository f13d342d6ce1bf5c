//! Discovery documents (`/api`, `/apis`, per group/version, aggregated v2) built from the registry.
use crate::registry::{ApiResourceEntry, Registry, VersionDef};
use serde_json::{json, Map, Value};

/// Media type of aggregated discovery responses.
pub const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// `GET /version`, as a v1.32 server answers it (the `emulation*`/`minCompatibility*` fields of
/// version.Info only exist from 1.33).
pub fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.4",
        "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
        "gitTreeState": "clean",
        "buildDate": "2025-04-22T16:02:27Z",
        "goVersion": "go1.23.6",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `GET /api` (`APIVersions`).
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

/// `GET /api/v1` or `GET /apis/{group}/{version}` (`APIResourceList`).
pub fn resource_list(group: &str, vdef: &VersionDef) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!("APIResourceList"));
    if group.is_empty() {
        m.insert("groupVersion".into(), json!(vdef.version));
    } else {
        m.insert("apiVersion".into(), json!("v1"));
        m.insert("groupVersion".into(), json!(format!("{group}/{}", vdef.version)));
    }
    m.insert(
        "resources".into(),
        serde_json::to_value(&vdef.resources).unwrap_or_else(|_| json!([])),
    );
    Value::Object(m)
}

fn group_json(reg: &Registry, name: &str) -> Option<Value> {
    let g = reg.group(name)?;
    let gv = |v: &str| json!({"groupVersion": format!("{name}/{v}"), "version": v});
    Some(json!({
        "name": name,
        "versions": g.versions.iter().map(|v| gv(&v.version)).collect::<Vec<_>>(),
        "preferredVersion": gv(&g.preferred_version),
    }))
}

/// `GET /apis` (`APIGroupList`).
pub fn group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups
        .iter()
        .filter(|g| !g.name.is_empty())
        .filter_map(|g| group_json(reg, &g.name))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/{group}` (`APIGroup`).
pub fn group(reg: &Registry, name: &str) -> Option<Value> {
    let mut v = group_json(reg, name)?;
    let obj = v.as_object_mut()?;
    let mut out = Map::new();
    out.insert("kind".into(), json!("APIGroup"));
    out.insert("apiVersion".into(), json!("v1"));
    for (k, val) in std::mem::take(obj) {
        out.insert(k, val);
    }
    Some(Value::Object(out))
}

fn response_kind(e: &ApiResourceEntry) -> Value {
    json!({
        "group": e.group.clone().unwrap_or_default(),
        "version": e.version.clone().unwrap_or_default(),
        "kind": e.kind,
    })
}

fn aggregated_version(vdef: &VersionDef, stale: bool) -> Value {
    if stale {
        return json!({"version": vdef.version, "freshness": "Stale"});
    }
    let mut resources = Vec::new();
    for e in vdef.resources.iter().filter(|e| !e.name.contains('/')) {
        let mut r = Map::new();
        r.insert("resource".into(), json!(e.name));
        r.insert("responseKind".into(), response_kind(e));
        r.insert(
            "scope".into(),
            json!(if e.namespaced { "Namespaced" } else { "Cluster" }),
        );
        r.insert("singularResource".into(), json!(e.singular_name));
        r.insert("verbs".into(), json!(e.verbs));
        if !e.short_names.is_empty() {
            r.insert("shortNames".into(), json!(e.short_names));
        }
        if !e.categories.is_empty() {
            r.insert("categories".into(), json!(e.categories));
        }
        let prefix = format!("{}/", e.name);
        let subs: Vec<Value> = vdef
            .resources
            .iter()
            .filter_map(|s| {
                s.name
                    .strip_prefix(&prefix)
                    .map(|sub| json!({"subresource": sub, "responseKind": response_kind(s), "verbs": s.verbs}))
            })
            .collect();
        if !subs.is_empty() {
            r.insert("subresources".into(), Value::Array(subs));
        }
        resources.push(Value::Object(r));
    }
    json!({"version": vdef.version, "resources": resources, "freshness": "Current"})
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`) for `/api` (core) or `/apis`.
pub fn aggregated(reg: &Registry, core: bool) -> Value {
    let items: Vec<Value> = reg
        .groups
        .iter()
        .filter(|g| g.name.is_empty() == core)
        .map(|g| {
            let meta = if core { json!({}) } else { json!({"name": g.name}) };
            let versions: Vec<Value> = g
                .versions
                .iter()
                .map(|v| aggregated_version(v, reg.is_failing(&g.name, &v.version)))
                .collect();
            json!({"metadata": meta, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_nests_subresources() {
        let reg = Registry::builtin();
        let doc = aggregated(&reg, false);
        let autoscaling = doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["metadata"]["name"] == "autoscaling")
            .unwrap();
        assert_eq!(autoscaling["versions"][0]["version"], "v2");
        let hpa = &autoscaling["versions"][0]["resources"][0];
        assert_eq!(hpa["scope"], "Namespaced");
        assert_eq!(hpa["subresources"][0]["subresource"], "status");
        assert_eq!(hpa["responseKind"]["kind"], "HorizontalPodAutoscaler");
    }
}
