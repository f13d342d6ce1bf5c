//! Registry of kinds: built-in API resources (from embedded discovery data) plus CRDs.
use crate::sha256::storage_version_hash;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// One entry of a legacy `APIResourceList` (field order as upstream's Go struct).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiResourceEntry {
    pub name: String,
    pub singular_name: String,
    pub namespaced: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub kind: String,
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub short_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_version_hash: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VersionDef {
    pub version: String,
    pub resources: Vec<ApiResourceEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupDef {
    pub name: String,
    #[serde(default)]
    pub preferred_version: String,
    pub versions: Vec<VersionDef>,
}

#[derive(Deserialize)]
struct BuiltinData {
    groups: Vec<GroupDef>,
}

/// A servable top-level resource at one group/version.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub verbs: Vec<String>,
    pub subresources: Vec<String>,
    pub is_crd: bool,
}

/// Kinds whose objects carry `metadata.generation` (CRs always do). Not pods: the pod strategy
/// only sets a generation from 1.33 on, and kube-sim answers as a 1.32 server.
const GENERATION_RESOURCES: &[&str] = &[
    "deployments",
    "replicasets",
    "statefulsets",
    "daemonsets",
    "jobs",
    "cronjobs",
    "horizontalpodautoscalers",
    "customresourcedefinitions",
    "ingresses",
    "networkpolicies",
    "poddisruptionbudgets",
];

/// Resources whose DELETE returns the deleted object instead of a success Status.
const RETURNS_DELETED_OBJECT: &[&str] = &["pods", "namespaces", "services"];

impl ResourceType {
    /// Storage key shared by all versions of one resource ("group/plural", core: "/pods").
    pub fn storage_key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    pub fn group_resource(&self) -> crate::status::GroupResource {
        crate::status::GroupResource::new(&self.group, &self.plural)
    }
    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
    pub fn has_subresource(&self, sub: &str) -> bool {
        self.subresources.iter().any(|s| s == sub)
    }
    pub fn has_generation(&self) -> bool {
        self.is_crd || GENERATION_RESOURCES.contains(&self.plural.as_str())
    }
    pub fn returns_deleted_object(&self) -> bool {
        self.is_crd || (self.group.is_empty() && RETURNS_DELETED_OBJECT.contains(&self.plural.as_str()))
    }
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
    /// etcd-style key prefix used in storage error messages.
    pub fn etcd_prefix(&self) -> String {
        if self.is_crd {
            format!("/registry/{}/{}", self.group, self.plural)
        } else {
            format!("/registry/{}", self.plural)
        }
    }
}

/// Ordering of versions as Kubernetes does (v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > others).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn parse(v: &str) -> Option<(u32, u32, u32)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let major: u32 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((major, 3, 0));
        }
        let (level, num) = if let Some(n) = tail.strip_prefix("beta") {
            (2, n)
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (1, n)
        } else {
            return None;
        };
        Some((major, level, num.parse().ok()?))
    }
    match (parse(a), parse(b)) {
        (Some((ma, la, na)), Some((mb, lb, nb))) => (lb, mb, nb).cmp(&(la, ma, na)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// All API groups the server knows about, and which group/versions fail discovery.
#[derive(Debug, Clone)]
pub struct Registry {
    pub groups: Vec<GroupDef>,
    /// group/versions whose (aggregated) discovery answers 503.
    pub failing: BTreeSet<String>,
}

impl Registry {
    pub fn builtin() -> Registry {
        let data: BuiltinData = serde_json::from_str(include_str!("data/builtin_discovery.json"))
            .expect("embedded discovery data is valid");
        Registry {
            groups: data.groups,
            failing: BTreeSet::new(),
        }
    }

    /// Built-ins plus the given (established) CRDs and failing APIServices.
    pub fn build(crds: &[&Value], failing: BTreeSet<String>) -> Registry {
        let mut reg = Registry::builtin();
        let mut crd_groups: Vec<GroupDef> = Vec::new();
        for crd in crds {
            let Some(spec) = crd.get("spec") else { continue };
            let group = spec["group"].as_str().unwrap_or_default().to_string();
            if group.is_empty() || reg.groups.iter().any(|g| g.name == group) {
                continue;
            }
            let names = &spec["names"];
            let kind = names["kind"].as_str().unwrap_or_default().to_string();
            let plural = names["plural"].as_str().unwrap_or_default().to_string();
            let singular = names["singular"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| kind.to_lowercase());
            let strs = |v: &Value| -> Vec<String> {
                v.as_array()
                    .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                    .unwrap_or_default()
            };
            let short_names = strs(&names["shortNames"]);
            let categories = strs(&names["categories"]);
            let namespaced = spec["scope"].as_str() != Some("Cluster");
            let versions = spec["versions"].as_array().cloned().unwrap_or_default();
            let storage_version = versions
                .iter()
                .find(|v| v["storage"].as_bool() == Some(true))
                .and_then(|v| v["name"].as_str())
                .unwrap_or("v1")
                .to_string();
            let gdef = match crd_groups.iter_mut().position(|g| g.name == group) {
                Some(i) => &mut crd_groups[i],
                None => {
                    crd_groups.push(GroupDef {
                        name: group.clone(),
                        preferred_version: String::new(),
                        versions: vec![],
                    });
                    crd_groups.last_mut().expect("just pushed")
                }
            };
            for v in versions.iter().filter(|v| v["served"].as_bool() != Some(false)) {
                let vname = v["name"].as_str().unwrap_or_default().to_string();
                let mut entries = vec![ApiResourceEntry {
                    name: plural.clone(),
                    singular_name: singular.clone(),
                    namespaced,
                    group: None,
                    version: None,
                    kind: kind.clone(),
                    verbs: [
                        "delete",
                        "deletecollection",
                        "get",
                        "list",
                        "patch",
                        "create",
                        "update",
                        "watch",
                    ]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                    short_names: short_names.clone(),
                    categories: categories.clone(),
                    storage_version_hash: Some(storage_version_hash(&group, &storage_version, &kind)),
                }];
                let subs = &v["subresources"];
                if subs.get("status").is_some() {
                    entries.push(ApiResourceEntry {
                        name: format!("{plural}/status"),
                        singular_name: String::new(),
                        namespaced,
                        group: None,
                        version: None,
                        kind: kind.clone(),
                        verbs: vec!["get".into(), "patch".into(), "update".into()],
                        short_names: vec![],
                        categories: vec![],
                        storage_version_hash: None,
                    });
                }
                if subs.get("scale").is_some() {
                    entries.push(ApiResourceEntry {
                        name: format!("{plural}/scale"),
                        singular_name: String::new(),
                        namespaced,
                        group: Some("autoscaling".into()),
                        version: Some("v1".into()),
                        kind: "Scale".into(),
                        verbs: vec!["get".into(), "patch".into(), "update".into()],
                        short_names: vec![],
                        categories: vec![],
                        storage_version_hash: None,
                    });
                }
                match gdef.versions.iter_mut().find(|x| x.version == vname) {
                    Some(existing) => existing.resources.extend(entries),
                    None => gdef.versions.push(VersionDef {
                        version: vname,
                        resources: entries,
                    }),
                }
            }
        }
        for g in crd_groups.iter_mut() {
            g.versions.sort_by(|a, b| compare_versions(&a.version, &b.version));
            for v in g.versions.iter_mut() {
                v.resources.sort_by(|a, b| a.name.cmp(&b.name));
            }
            g.preferred_version = g.versions.first().map(|v| v.version.clone()).unwrap_or_default();
        }
        crd_groups.retain(|g| !g.versions.is_empty());
        crd_groups.sort_by(|a, b| a.name.cmp(&b.name));
        reg.groups.extend(crd_groups);
        // Aggregated group/versions that are registered (APIService) but not served locally.
        for gv in &failing {
            let Some((group, version)) = gv.split_once('/') else {
                continue;
            };
            match reg.groups.iter_mut().find(|g| g.name == group) {
                Some(g) => {
                    if !g.versions.iter().any(|v| v.version == version) {
                        g.versions.push(VersionDef {
                            version: version.to_string(),
                            resources: vec![],
                        });
                    }
                }
                None => reg.groups.push(GroupDef {
                    name: group.to_string(),
                    preferred_version: version.to_string(),
                    versions: vec![VersionDef {
                        version: version.to_string(),
                        resources: vec![],
                    }],
                }),
            }
        }
        reg.failing = failing;
        reg
    }

    pub fn group(&self, name: &str) -> Option<&GroupDef> {
        self.groups.iter().find(|g| g.name == name)
    }

    pub fn version(&self, group: &str, version: &str) -> Option<&VersionDef> {
        self.group(group)?.versions.iter().find(|v| v.version == version)
    }

    pub fn is_failing(&self, group: &str, version: &str) -> bool {
        self.failing.contains(&format!("{group}/{version}"))
    }

    fn type_from(group: &str, vdef: &VersionDef, entry: &ApiResourceEntry, is_crd: bool) -> ResourceType {
        let prefix = format!("{}/", entry.name);
        ResourceType {
            group: group.to_string(),
            version: vdef.version.clone(),
            plural: entry.name.clone(),
            singular: entry.singular_name.clone(),
            kind: entry.kind.clone(),
            namespaced: entry.namespaced,
            verbs: entry.verbs.clone(),
            subresources: vdef
                .resources
                .iter()
                .filter_map(|r| r.name.strip_prefix(&prefix).map(str::to_string))
                .collect(),
            is_crd,
        }
    }

    fn is_crd_group(&self, group: &str) -> bool {
        let builtin_count = Registry::builtin_group_names();
        !builtin_count.contains(&group.to_string())
    }

    fn builtin_group_names() -> Vec<String> {
        use std::sync::OnceLock;
        static NAMES: OnceLock<Vec<String>> = OnceLock::new();
        NAMES
            .get_or_init(|| Registry::builtin().groups.into_iter().map(|g| g.name).collect())
            .clone()
    }

    /// Resolve a top-level resource at a group/version.
    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        let vdef = self.version(group, version)?;
        let entry = vdef.resources.iter().find(|r| r.name == plural)?;
        Some(Registry::type_from(group, vdef, entry, self.is_crd_group(group)))
    }

    /// One entry per storage (preferred version of each top-level resource that can be listed).
    pub fn storage_types(&self) -> Vec<ResourceType> {
        let mut out: Vec<ResourceType> = Vec::new();
        for g in &self.groups {
            let mut versions: Vec<&VersionDef> = g.versions.iter().collect();
            versions.sort_by_key(|v| if v.version == g.preferred_version { 0 } else { 1 });
            for v in versions {
                if self.is_failing(&g.name, &v.version) {
                    continue;
                }
                for e in v.resources.iter().filter(|e| !e.name.contains('/')) {
                    let t = Registry::type_from(&g.name, v, e, self.is_crd_group(&g.name));
                    if !out.iter().any(|o| o.storage_key() == t.storage_key()) {
                        out.push(t);
                    }
                }
            }
        }
        out
    }

    pub fn by_storage_key(&self, key: &str) -> Option<ResourceType> {
        self.storage_types().into_iter().find(|t| t.storage_key() == key)
    }

    /// REST mapping the way client-go's discovery mapper does it: the kind as written or
    /// all-lowercase, at exactly that group/version.
    pub fn map_kind(&self, api_version: &str, kind: &str) -> Option<ResourceType> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        if self.is_failing(group, version) {
            return None;
        }
        let vdef = self.version(group, version)?;
        let entry = vdef
            .resources
            .iter()
            .filter(|e| !e.name.contains('/'))
            .find(|e| e.kind == kind || e.kind.to_lowercase() == kind)?;
        Some(Registry::type_from(group, vdef, entry, self.is_crd_group(group)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_priority() {
        let mut v = vec!["v1alpha1", "v1", "v2beta1", "v1beta1", "v2", "foo"];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(v, vec!["v2", "v1", "v2beta1", "v1beta1", "v1alpha1", "foo"]);
    }

    #[test]
    fn crd_registers_and_maps_kinds() {
        let crd = json!({"spec": {"group": "autoscaling.aibrix.ai", "scope": "Namespaced",
            "names": {"kind": "PodAutoscaler", "plural": "podautoscalers", "singular": "podautoscaler"},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true, "subresources": {"status": {}}}]}});
        let reg = Registry::build(&[&crd], BTreeSet::new());
        let t = reg
            .resolve("autoscaling.aibrix.ai", "v1alpha1", "podautoscalers")
            .unwrap();
        assert!(t.is_crd && t.namespaced && t.has_subresource("status"));
        assert!(reg
            .map_kind("autoscaling.aibrix.ai/v1alpha1", "PodAutoscaler")
            .is_some());
        assert!(reg
            .map_kind("autoscaling.aibrix.ai/v1alpha1", "podautoscaler")
            .is_some());
        assert!(reg
            .map_kind("autoscaling.aibrix.ai/v1alpha1", "PodAutoScaler")
            .is_none());
        assert!(reg.map_kind("apps/v1", "Deployment").is_some());
        assert!(!reg.resolve("apps", "v1", "deployments").unwrap().is_crd);
    }

    #[test]
    fn hpa_versions_share_storage() {
        let reg = Registry::builtin();
        let v1 = reg.resolve("autoscaling", "v1", "horizontalpodautoscalers").unwrap();
        let v2 = reg.resolve("autoscaling", "v2", "horizontalpodautoscalers").unwrap();
        assert_eq!(v1.storage_key(), v2.storage_key());
    }
}
