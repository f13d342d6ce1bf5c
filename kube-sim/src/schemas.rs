//! Schemas of the built-in kinds, generated once from k8s-openapi's `schemars` implementations
//! (OpenAPI 3 flavour, `#/components/schemas/<name>` references), plus lookups by GVK.
use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apireg;
use k8s_openapi::Resource;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// Reference prefix used by the generated (OpenAPI v3) schemas.
pub const REF_PREFIX: &str = "#/components/schemas/";
/// Name of the ObjectMeta definition.
pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// One built-in kind with a generated schema.
#[derive(Debug, Clone)]
pub struct KindSchema {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Definition name, e.g. `io.k8s.api.core.v1.ConfigMap`.
    pub name: String,
}

pub struct Builtin {
    pub defs: Map<String, Value>,
    pub kinds: Vec<KindSchema>,
}

macro_rules! kinds {
    ($gen:ident, $out:ident; $($t:ty),* $(,)?) => {
        $(
            $gen.subschema_for::<$t>();
            $out.push(KindSchema {
                group: <$t as Resource>::GROUP,
                version: <$t as Resource>::VERSION,
                kind: <$t as Resource>::KIND,
                name: <$t as JsonSchema>::schema_name().into_owned(),
            });
        )*
    };
}

fn generate() -> Builtin {
    let mut gen = SchemaGenerator::new(SchemaSettings::openapi3());
    let mut kinds: Vec<KindSchema> = Vec::new();
    kinds!(gen, kinds;
        api::core::v1::Binding, api::core::v1::ComponentStatus, api::core::v1::ConfigMap,
        api::core::v1::Endpoints, api::core::v1::Event, api::core::v1::LimitRange,
        api::core::v1::Namespace, api::core::v1::Node, api::core::v1::PersistentVolumeClaim,
        api::core::v1::PersistentVolume, api::core::v1::Pod, api::core::v1::PodTemplate,
        api::core::v1::ReplicationController, api::core::v1::ResourceQuota, api::core::v1::Secret,
        api::core::v1::ServiceAccount, api::core::v1::Service,
        apireg::APIService,
        api::apps::v1::ControllerRevision, api::apps::v1::DaemonSet, api::apps::v1::Deployment,
        api::apps::v1::ReplicaSet, api::apps::v1::StatefulSet,
        api::events::v1::Event,
        api::authentication::v1::SelfSubjectReview, api::authentication::v1::TokenReview,
        api::authorization::v1::LocalSubjectAccessReview, api::authorization::v1::SelfSubjectAccessReview,
        api::authorization::v1::SelfSubjectRulesReview, api::authorization::v1::SubjectAccessReview,
        api::autoscaling::v2::HorizontalPodAutoscaler, api::autoscaling::v1::HorizontalPodAutoscaler,
        api::batch::v1::CronJob, api::batch::v1::Job,
        api::certificates::v1::CertificateSigningRequest, api::certificates::v1beta1::ClusterTrustBundle,
        api::networking::v1::IngressClass, api::networking::v1::Ingress, api::networking::v1::IPAddress,
        api::networking::v1::NetworkPolicy, api::networking::v1::ServiceCIDR,
        api::policy::v1::PodDisruptionBudget,
        api::rbac::v1::ClusterRoleBinding, api::rbac::v1::ClusterRole, api::rbac::v1::RoleBinding,
        api::rbac::v1::Role,
        api::storage::v1::CSIDriver, api::storage::v1::CSINode, api::storage::v1::CSIStorageCapacity,
        api::storage::v1::StorageClass, api::storage::v1::VolumeAttachment,
        api::admissionregistration::v1::MutatingWebhookConfiguration,
        api::admissionregistration::v1::ValidatingAdmissionPolicy,
        api::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
        api::admissionregistration::v1::ValidatingWebhookConfiguration,
        api::admissionregistration::v1alpha1::MutatingAdmissionPolicy,
        api::admissionregistration::v1alpha1::MutatingAdmissionPolicyBinding,
        apiext::CustomResourceDefinition,
        api::scheduling::v1::PriorityClass,
        api::coordination::v1::Lease, api::coordination::v1beta1::LeaseCandidate,
        api::coordination::v1alpha2::LeaseCandidate,
        api::node::v1::RuntimeClass,
        api::discovery::v1::EndpointSlice,
        api::resource::v1beta2::DeviceClass, api::resource::v1beta2::ResourceClaim,
        api::resource::v1beta2::ResourceClaimTemplate, api::resource::v1beta2::ResourceSlice,
        api::resource::v1beta1::DeviceClass, api::resource::v1beta1::ResourceClaim,
        api::resource::v1beta1::ResourceClaimTemplate, api::resource::v1beta1::ResourceSlice,
        api::resource::v1alpha3::DeviceTaintRule,
        api::flowcontrol::v1::FlowSchema, api::flowcontrol::v1::PriorityLevelConfiguration,
        api::apiserverinternal::v1alpha1::StorageVersion,
    );
    let mut defs = gen.take_definitions(true);
    for k in &kinds {
        if let Some(Value::Object(def)) = defs.get_mut(&k.name) {
            // k8s-openapi marks `metadata` required; the real documents do not.
            if let Some(Value::Array(req)) = def.get_mut("required") {
                req.retain(|r| r != "metadata");
                if req.is_empty() {
                    def.remove("required");
                }
            }
            let gvk = serde_json::json!({"group": k.group, "kind": k.kind, "version": k.version});
            let list = def
                .entry("x-kubernetes-group-version-kind")
                .or_insert_with(|| Value::Array(vec![]));
            if let Value::Array(a) = list {
                if !a.contains(&gvk) {
                    a.push(gvk);
                }
            }
        }
    }
    Builtin { defs, kinds }
}

/// The generated schemas (built on first use).
pub fn builtin() -> &'static Builtin {
    static B: OnceLock<Builtin> = OnceLock::new();
    B.get_or_init(generate)
}

impl Builtin {
    pub fn kind(&self, group: &str, version: &str, kind: &str) -> Option<&KindSchema> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.version == version && k.kind == kind)
    }

    /// The schema of a definition's property (follows `$ref`/`allOf` wrappers).
    pub fn property(&self, def: &str, prop: &str) -> Option<&Value> {
        let p = self.defs.get(def)?.get("properties")?.get(prop)?;
        Some(p)
    }

    /// Description of a definition's property, as the OpenAPI documents carry it.
    pub fn description(&self, def: &str, prop: &str) -> String {
        self.property(def, prop)
            .and_then(|p| p.get("description"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    /// Resolve a `$ref` (or a single-element `allOf` wrapping one) to its definition.
    pub fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        let mut s = schema;
        for _ in 0..4 {
            if let Some(r) = s.get("$ref").and_then(Value::as_str) {
                match r.strip_prefix(REF_PREFIX).and_then(|n| self.defs.get(n)) {
                    Some(d) => s = d,
                    None => return s,
                }
            } else if let Some([one]) = s.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
                s = one;
            } else {
                return s;
            }
        }
        s
    }

    /// Names of all definitions reachable from `roots`.
    pub fn closure(&self, roots: &[String]) -> BTreeSet<String> {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut todo: Vec<String> = roots.to_vec();
        while let Some(n) = todo.pop() {
            if !seen.insert(n.clone()) {
                continue;
            }
            if let Some(d) = self.defs.get(&n) {
                collect_refs(d, &mut todo);
            }
        }
        seen
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(REF_PREFIX))
            {
                out.push(r.to_string());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_schemas_have_gvk_and_descriptions() {
        let b = builtin();
        let cm = b.kind("", "v1", "ConfigMap").unwrap();
        assert_eq!(cm.name, "io.k8s.api.core.v1.ConfigMap");
        let def = &b.defs[&cm.name];
        assert_eq!(def["x-kubernetes-group-version-kind"][0]["kind"], "ConfigMap");
        assert!(def.get("required").is_none());
        assert!(b.description(OBJECT_META, "name").starts_with("Name must be unique"));
        let closure = b.closure(std::slice::from_ref(&cm.name));
        assert!(closure.contains(OBJECT_META));
        let meta = b.resolve(b.property(&cm.name, "metadata").unwrap());
        assert!(meta["properties"].get("finalizers").is_some());
    }
}
