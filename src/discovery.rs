//! A snapshot of the API server's discovery data and a REST mapper over it.
//!
//! Pure: built from discovery documents fetched by [`crate::kubeapi`], queried without I/O.
//! The mapper mirrors the one the garbage collector uses (client-go's discovery REST mapper):
//! a kind resolves when written exactly as served or all-lowercase; any other spelling does not.

use std::collections::BTreeMap;

use serde::Serialize;

/// One servable resource type (a top-level resource, not a subresource).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceType {
    /// API group, empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// Plural resource name, e.g. `horizontalpodautoscalers`.
    pub plural: String,
    pub namespaced: bool,
    pub verbs: Vec<String>,
    /// Singular resource name (`horizontalpodautoscaler`), as discovery serves it; may be empty.
    #[serde(skip)]
    pub singular: String,
    /// kubectl short names (`hpa`), as discovery serves them.
    #[serde(skip)]
    pub short_names: Vec<String>,
}

impl ResourceType {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        join_api_version(&self.group, &self.version)
    }

    /// `resource.group`, or `resource` for the core group: the name users and metrics use.
    pub fn qualified_name(&self) -> String {
        qualified_resource(&self.plural, &self.group)
    }

    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

/// `resource.group`, or `resource` for the core group.
pub fn qualified_resource(plural: &str, group: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

pub fn join_api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// A group/version whose discovery document could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryFailure {
    /// `group/version`, or `group` when the whole group failed, or `""` for the group list.
    pub group_version: String,
    pub error: String,
}

/// What discovery knows about one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupInfo {
    /// Served versions, preferred first.
    pub versions: Vec<String>,
}

/// The result of one round of discovery. Partial by design: failures are recorded, not fatal.
#[derive(Debug, Clone, Default)]
pub struct DiscoverySnapshot {
    groups: BTreeMap<String, GroupInfo>,
    /// Resource types by `group/version`, for group/versions whose discovery succeeded.
    resources: BTreeMap<String, Vec<ResourceType>>,
    failures: Vec<DiscoveryFailure>,
    group_list_complete: bool,
    /// Set when the API server could not be reached at all (refused, DNS, TLS, timeout): then the
    /// failures say nothing about the cluster's discovery, only about the connection.
    unreachable: Option<String>,
    /// Where the preferred resource types are (`group/version`, position), worked out once per
    /// snapshot on first use (and again only if the snapshot changes).
    preferred: std::sync::OnceLock<Vec<(String, usize)>>,
}

/// How a `(apiVersion, kind)` pair maps, as the garbage collector would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping<'a> {
    /// Resolves (exactly, or through the all-lowercase form).
    Resolved(&'a ResourceType),
    /// Cannot be decided: discovery of that group/version failed, so nothing is claimed.
    Unknown { group_version: String },
    /// `<Kind>List` of a served kind: client-go's discovery REST mapper registers these too, so the
    /// garbage collector maps the reference, finds no such object and treats the owner as absent.
    ListKind(&'a ResourceType),
    /// The garbage collector cannot map it.
    Unmappable(Unmappable<'a>),
}

/// Why a reference cannot be mapped, with the likely correction where one exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmappable<'a> {
    InvalidApiVersion {
        error: String,
    },
    GroupNotServed {
        group: String,
        suggestion: Option<&'a ResourceType>,
    },
    VersionNotServed {
        served_versions: Vec<String>,
        suggestion: Option<&'a ResourceType>,
    },
    KindCaseMismatch {
        actual: &'a ResourceType,
    },
    KindNotFound,
}

impl<'a> Unmappable<'a> {
    /// The resource the reference most likely meant, if one can be named.
    pub fn suggestion(&self) -> Option<&'a ResourceType> {
        match self {
            Unmappable::GroupNotServed { suggestion, .. } | Unmappable::VersionNotServed { suggestion, .. } => {
                *suggestion
            }
            Unmappable::KindCaseMismatch { actual } => Some(actual),
            Unmappable::InvalidApiVersion { .. } | Unmappable::KindNotFound => None,
        }
    }
}

/// A resource type from an aggregated discovery document (`None` for subresources).
fn aggregated_resource_type(
    group: &str,
    version: &str,
    r: &kube::core::discovery::v2::APIResourceDiscovery,
) -> Option<ResourceType> {
    let plural = r.resource.clone().filter(|p| !p.is_empty() && !p.contains('/'))?;
    Some(ResourceType {
        group: group.to_string(),
        version: version.to_string(),
        kind: r
            .response_kind
            .as_ref()
            .and_then(|k| k.kind.clone())
            .unwrap_or_default(),
        singular: r.singular_resource.clone().unwrap_or_default(),
        plural,
        namespaced: r.scope.as_deref() == Some("Namespaced"),
        verbs: r.verbs.clone(),
        short_names: r.short_names.clone(),
    })
}

impl DiscoverySnapshot {
    /// A snapshot from the aggregated discovery documents (`apidiscovery.k8s.io/v2`) of `/api`
    /// (`core`) and `/apis` (`groups`). Versions are listed in order of preference. A group/version
    /// the server marks `Stale` (an unavailable aggregated APIService) is a discovery failure,
    /// worded as the namespace controller words it. `None` when `core` holds no core group: the
    /// server did not answer with aggregated documents (the caller falls back to per-group
    /// discovery). Pure.
    pub fn from_aggregated(
        core: &kube::core::discovery::v2::APIGroupDiscoveryList,
        groups: &kube::core::discovery::v2::APIGroupDiscoveryList,
    ) -> Option<DiscoverySnapshot> {
        if core.items.is_empty() || core.items.iter().all(|g| g.versions.is_empty()) {
            return None;
        }
        let mut snapshot = DiscoverySnapshot::new(true);
        for item in core.items.iter().chain(groups.items.iter()) {
            let group = item.metadata.as_ref().and_then(|m| m.name.clone()).unwrap_or_default();
            let versions: Vec<String> = item.versions.iter().filter_map(|v| v.version.clone()).collect();
            snapshot.add_group(&group, versions);
            for v in &item.versions {
                let version = v.version.clone().unwrap_or_default();
                let gv = join_api_version(&group, &version);
                if v.freshness.as_deref() == Some("Stale") {
                    snapshot.add_failure(&gv, format!("stale GroupVersion discovery: {gv}"));
                    continue;
                }
                let resources = v
                    .resources
                    .iter()
                    .filter_map(|r| aggregated_resource_type(&group, &version, r))
                    .collect();
                snapshot.add_resources(&group, &version, resources);
            }
        }
        Some(snapshot)
    }
}

/// How the REST mapper matches a kind: exactly, or the all-lowercase form of the served kind.
fn kind_matches(served: &str, kind: &str) -> bool {
    served == kind || (!kind.bytes().any(|b| b.is_ascii_uppercase()) && served.eq_ignore_ascii_case(kind))
}

/// Splits an apiVersion as the API machinery's `ParseGroupVersion` does: no slash → core group;
/// one slash → `group/version` (either side may be empty: `/v1` is core v1); more → invalid. An
/// empty apiVersion (or a lone `/`) is reported as invalid too: it can never name an owner.
pub fn parse_api_version(api_version: &str) -> Result<(String, String), String> {
    if api_version.is_empty() || api_version == "/" {
        return Err("apiVersion is empty".to_string());
    }
    match api_version.split_once('/') {
        None => Ok((String::new(), api_version.to_string())),
        Some((group, version)) if !version.contains('/') => Ok((group.to_string(), version.to_string())),
        Some(_) => Err(format!("unexpected GroupVersion string: {api_version}")),
    }
}

impl DiscoverySnapshot {
    /// Starts an empty snapshot; `group_list_complete` says whether the list of groups itself was read.
    pub fn new(group_list_complete: bool) -> Self {
        Self {
            group_list_complete,
            ..Self::default()
        }
    }

    /// Records a served group with its versions (preferred first).
    pub fn add_group(&mut self, group: &str, versions: Vec<String>) {
        self.preferred = std::sync::OnceLock::new();
        self.groups.entry(group.to_string()).or_default().versions = versions;
    }

    /// Records the resource types of a group/version whose discovery succeeded.
    pub fn add_resources(&mut self, group: &str, version: &str, resources: Vec<ResourceType>) {
        self.preferred = std::sync::OnceLock::new();
        self.resources.insert(join_api_version(group, version), resources);
    }

    pub fn add_failure(&mut self, group_version: &str, error: impl Into<String>) {
        self.failures.push(DiscoveryFailure {
            group_version: group_version.to_string(),
            error: error.into(),
        });
    }

    pub fn failures(&self) -> &[DiscoveryFailure] {
        &self.failures
    }

    /// Records that the server could not be reached (the reason, naming the server).
    pub fn set_unreachable(&mut self, reason: String) {
        self.unreachable = Some(reason);
    }

    /// Why the server could not be reached, if it could not.
    pub fn unreachable(&self) -> Option<&str> {
        self.unreachable.as_deref()
    }

    /// True when the core group was discovered and the group list was read: anything less means a
    /// scan built on this snapshot is incomplete, not that every reference is unresolvable.
    pub fn is_plausible(&self) -> bool {
        self.group_list_complete && self.resources.get("v1").is_some_and(|r| !r.is_empty())
    }

    fn failed(&self, group_version: &str) -> bool {
        let group = group_version.split_once('/').map_or("", |(g, _)| g);
        self.failures
            .iter()
            .any(|f| f.group_version == group_version || (!group.is_empty() && f.group_version == group))
    }

    /// One resource type per (group, resource) at the group's preferred discovered version:
    /// what to list so that each stored object is seen once.
    pub fn preferred_resources(&self) -> Vec<&ResourceType> {
        self.preferred
            .get_or_init(|| self.find_preferred())
            .iter()
            .map(|(gv, i)| &self.resources[gv][*i])
            .collect()
    }

    fn find_preferred(&self) -> Vec<(String, usize)> {
        let mut out: BTreeMap<(&str, &str), (String, usize)> = BTreeMap::new();
        for (group, info) in &self.groups {
            for version in &info.versions {
                let gv = join_api_version(group, version);
                for (i, r) in self.resources.get(&gv).into_iter().flatten().enumerate() {
                    out.entry((&r.group, &r.plural)).or_insert_with(|| (gv.clone(), i));
                }
            }
        }
        out.into_values().collect()
    }

    /// Finds a resource type by `resource.group` (or `resource` for core) at its preferred version.
    pub fn find_by_qualified_name(&self, name: &str) -> Option<&ResourceType> {
        self.preferred_resources()
            .into_iter()
            .find(|r| r.qualified_name() == name)
    }

    /// Maps a reference's apiVersion and kind the way the garbage collector's REST mapper does.
    pub fn resolve(&self, api_version: &str, kind: &str) -> Mapping<'_> {
        let (group, version) = match parse_api_version(api_version) {
            Ok(gv) => gv,
            Err(error) => return Mapping::Unmappable(Unmappable::InvalidApiVersion { error }),
        };
        let gv = join_api_version(&group, &version);
        if self.failed(&gv) {
            return Mapping::Unknown { group_version: gv };
        }
        let Some(info) = self.groups.get(&group) else {
            if !self.group_list_complete {
                return Mapping::Unknown { group_version: gv };
            }
            let suggestion = self.unique_kind_elsewhere(kind);
            return Mapping::Unmappable(Unmappable::GroupNotServed { group, suggestion });
        };
        let Some(resources) = self.resources.get(&gv) else {
            if info.versions.contains(&version) {
                // Listed but not discovered and not recorded as failed: claim nothing.
                return Mapping::Unknown { group_version: gv };
            }
            let suggestion = info
                .versions
                .iter()
                .filter_map(|v| self.resources.get(&join_api_version(&group, v)))
                .flat_map(|rs| rs.iter())
                .find(|r| r.kind.eq_ignore_ascii_case(kind));
            return Mapping::Unmappable(Unmappable::VersionNotServed {
                served_versions: info.versions.clone(),
                suggestion,
            });
        };
        if let Some(r) = resources.iter().find(|r| kind_matches(&r.kind, kind)) {
            return Mapping::Resolved(r);
        }
        if let Some(r) = resources.iter().find(|r| r.kind.eq_ignore_ascii_case(kind)) {
            return Mapping::Unmappable(Unmappable::KindCaseMismatch { actual: r });
        }
        if let Some(r) = resources
            .iter()
            .find(|r| kind.strip_suffix("List") == Some(r.kind.as_str()))
        {
            return Mapping::ListKind(r);
        }
        Mapping::Unmappable(Unmappable::KindNotFound)
    }

    /// Maps a group and kind at any served version, preferred first: what the HPA controller does
    /// with a scale target (it ignores the version in `scaleTargetRef.apiVersion`).
    pub fn resolve_group_kind(&self, group: &str, kind: &str) -> Option<&ResourceType> {
        let info = self.groups.get(group)?;
        info.versions
            .iter()
            .filter_map(|v| self.resources.get(&join_api_version(group, v)))
            .flatten()
            .find(|r| kind_matches(&r.kind, kind))
    }

    /// True when no served version of `group` has a kind spelled like `kind` in any case, so no
    /// object of that kind can exist. False when the group's discovery failed (we cannot know).
    pub fn kind_absent_everywhere(&self, group: &str, kind: &str) -> bool {
        if self
            .failures
            .iter()
            .any(|f| f.group_version == group || f.group_version.starts_with(&format!("{group}/")))
        {
            return false;
        }
        let Some(info) = self.groups.get(group) else {
            return self.group_list_complete;
        };
        info.versions
            .iter()
            .filter_map(|v| self.resources.get(&join_api_version(group, v)))
            .flatten()
            .all(|r| !r.kind.eq_ignore_ascii_case(kind))
    }

    /// The one preferred resource type serving exactly this kind, if exactly one group does.
    fn unique_kind_elsewhere(&self, kind: &str) -> Option<&ResourceType> {
        let mut matches = self.preferred_resources().into_iter().filter(|r| r.kind == kind);
        let first = matches.next()?;
        matches.next().is_none().then_some(first)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn aggregated_documents_make_a_snapshot_and_stale_is_a_failure() {
        let doc = |v: serde_json::Value| -> kube::core::discovery::v2::APIGroupDiscoveryList {
            serde_json::from_value(v).unwrap()
        };
        let core = doc(
            serde_json::json!({"items": [{"metadata": {"name": ""}, "versions": [{"version": "v1", "resources": [
            {"resource": "pods", "responseKind": {"group": "", "version": "v1", "kind": "Pod"}, "scope": "Namespaced", "singularResource": "pod", "verbs": ["list", "watch", "delete"]}]}]}]}),
        );
        let groups = doc(serde_json::json!({"items": [
            {"metadata": {"name": "apps"}, "versions": [{"version": "v1", "resources": [
                {"resource": "deployments", "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"}, "scope": "Namespaced", "verbs": ["list"]}]}]},
            {"metadata": {"name": "metrics.k8s.io"}, "versions": [{"version": "v1beta1", "freshness": "Stale", "resources": []}]}]}));
        let snap = DiscoverySnapshot::from_aggregated(&core, &groups).unwrap();
        assert!(snap.find_by_qualified_name("deployments.apps").is_some());
        assert!(snap
            .find_by_qualified_name("pods")
            .is_some_and(|p| p.namespaced && p.kind == "Pod"));
        let failed: Vec<&str> = snap.failures().iter().map(|f| f.group_version.as_str()).collect();
        assert_eq!(failed, vec!["metrics.k8s.io/v1beta1"]);
        // A legacy answer (no aggregated items) is not a snapshot: the caller falls back.
        assert!(DiscoverySnapshot::from_aggregated(&doc(serde_json::json!({"items": []})), &groups).is_none());
    }

    pub fn rt(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> ResourceType {
        ResourceType {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced,
            verbs: ["create", "delete", "get", "list", "patch", "update", "watch"]
                .map(String::from)
                .to_vec(),
            singular: kind.to_ascii_lowercase(),
            short_names: Vec::new(),
        }
    }

    /// A small cluster: core, apps, autoscaling v1+v2, AIBrix's autoscaling group, and a failing metrics group.
    pub fn snapshot() -> DiscoverySnapshot {
        let mut s = DiscoverySnapshot::new(true);
        s.add_group("", vec!["v1".into()]);
        s.add_resources(
            "",
            "v1",
            vec![
                rt("", "v1", "Namespace", "namespaces", false),
                rt("", "v1", "Pod", "pods", true),
                rt("", "v1", "ConfigMap", "configmaps", true),
                rt("", "v1", "PersistentVolume", "persistentvolumes", false),
            ],
        );
        s.add_group("apps", vec!["v1".into()]);
        s.add_resources(
            "apps",
            "v1",
            vec![
                rt("apps", "v1", "Deployment", "deployments", true),
                rt("apps", "v1", "ReplicaSet", "replicasets", true),
            ],
        );
        s.add_group("autoscaling", vec!["v2".into(), "v1".into()]);
        for v in ["v2", "v1"] {
            s.add_resources(
                "autoscaling",
                v,
                vec![rt(
                    "autoscaling",
                    v,
                    "HorizontalPodAutoscaler",
                    "horizontalpodautoscalers",
                    true,
                )],
            );
        }
        s.add_group("autoscaling.aibrix.ai", vec!["v1alpha1".into()]);
        s.add_resources(
            "autoscaling.aibrix.ai",
            "v1alpha1",
            vec![rt(
                "autoscaling.aibrix.ai",
                "v1alpha1",
                "PodAutoscaler",
                "podautoscalers",
                true,
            )],
        );
        s.add_group("metrics.k8s.io", vec!["v1beta1".into()]);
        s.add_failure(
            "metrics.k8s.io/v1beta1",
            "the server is currently unable to handle the request",
        );
        s
    }

    fn check(api_version: &str, kind: &str, expect: &str) {
        let s = snapshot();
        let got = match s.resolve(api_version, kind) {
            Mapping::Resolved(r) => format!("resolved {}", r.qualified_name()),
            Mapping::Unknown { group_version } => format!("unknown {group_version}"),
            Mapping::ListKind(r) => format!("list of {}", r.kind),
            Mapping::Unmappable(u) => match u {
                Unmappable::InvalidApiVersion { .. } => "InvalidApiVersion".into(),
                Unmappable::GroupNotServed { suggestion, .. } => {
                    format!(
                        "GroupNotServed {}",
                        suggestion.map(ResourceType::api_version).unwrap_or_default()
                    )
                }
                Unmappable::VersionNotServed {
                    served_versions,
                    suggestion,
                } => {
                    format!(
                        "VersionNotServed {} {}",
                        served_versions.join(","),
                        suggestion.map(|r| r.kind.clone()).unwrap_or_default()
                    )
                }
                Unmappable::KindCaseMismatch { actual } => format!("KindCaseMismatch {}", actual.kind),
                Unmappable::KindNotFound => "KindNotFound".into(),
            },
        };
        assert_eq!(got, expect, "resolve({api_version:?}, {kind:?})");
    }

    #[test]
    fn mapper_mirrors_the_garbage_collector() {
        check(
            "autoscaling.aibrix.ai/v1alpha1",
            "PodAutoscaler",
            "resolved podautoscalers.autoscaling.aibrix.ai",
        );
        check(
            "autoscaling.aibrix.ai/v1alpha1",
            "podautoscaler",
            "resolved podautoscalers.autoscaling.aibrix.ai",
        );
        check(
            "autoscaling.aibrix.ai/v1alpha1",
            "PodAutoScaler",
            "KindCaseMismatch PodAutoscaler",
        );
        check(
            "autoscaling.aibrix.ai/v1alpha1",
            "PODAUTOSCALER",
            "KindCaseMismatch PodAutoscaler",
        );
        check("autoscaling.aibrix.ai/v1alpha1", "Scaler", "KindNotFound");
        check(
            "autoscaling.aibrix.ai/v1beta9",
            "PodAutoscaler",
            "VersionNotServed v1alpha1 PodAutoscaler",
        );
        check("model.aibrix.ai/v1alpha1", "ModelAdapter", "GroupNotServed ");
        check("extensions/v1beta1", "Deployment", "GroupNotServed apps/v1");
        check("a/b/c", "Pod", "InvalidApiVersion");
        check("", "Pod", "InvalidApiVersion");
        check("/", "Pod", "InvalidApiVersion");
        check("/v1", "Pod", "resolved pods");
        check("apps/", "Deployment", "VersionNotServed v1 Deployment");
        check("v1", "Pod", "resolved pods");
        check("v1", "pod", "resolved pods");
        check("apps/v1", "replicaSet", "KindCaseMismatch ReplicaSet");
        check("apps/v1", "DeploymentList", "list of Deployment");
        check("apps/v1", "deploymentlist", "KindNotFound");
        check("metrics.k8s.io/v1beta1", "PodMetrics", "unknown metrics.k8s.io/v1beta1");
    }

    #[test]
    fn unknown_group_is_not_broken_when_group_list_failed() {
        let mut s = DiscoverySnapshot::new(false);
        s.add_group("", vec!["v1".into()]);
        s.add_resources("", "v1", vec![rt("", "v1", "Pod", "pods", true)]);
        assert!(matches!(s.resolve("apps/v1", "Deployment"), Mapping::Unknown { .. }));
        assert!(!s.is_plausible());
    }

    #[test]
    fn empty_snapshot_is_implausible() {
        assert!(!DiscoverySnapshot::new(true).is_plausible());
        assert!(
            snapshot().is_plausible(),
            "a failing metrics group does not make discovery implausible"
        );
    }

    #[test]
    fn preferred_resources_list_each_resource_once() {
        let s = snapshot();
        let hpas: Vec<_> = s
            .preferred_resources()
            .into_iter()
            .filter(|r| r.plural == "horizontalpodautoscalers")
            .collect();
        assert_eq!(hpas.len(), 1);
        assert_eq!(hpas[0].version, "v2");
        assert_eq!(
            s.find_by_qualified_name("horizontalpodautoscalers.autoscaling")
                .unwrap()
                .version,
            "v2"
        );
        assert_eq!(s.find_by_qualified_name("pods").unwrap().kind, "Pod");
    }
}
