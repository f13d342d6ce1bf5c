//! OpenAPI documents: `/openapi/v3` (index), `/openapi/v3/api/v1`, `/openapi/v3/apis/<g>/<v>`
//! and `/openapi/v2`, for the served built-in kinds (schemas from [`crate::schemas`]) and CRDs
//! (their `openAPIV3Schema`). Every PATCH/POST/PUT operation lists the `fieldValidation` query
//! parameter, which is how kubectl decides that the server validates fields itself.
use crate::fieldvalidation::ObjectSchema;
use crate::registry::{Registry, ResourceType};
use crate::schemas::{self, OBJECT_META, REF_PREFIX};
use crate::sha256::sha256;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, OnceLock};

const SERVER_VERSION: &str = "v1.32.4";

/// Serialised built-in documents and their hashes, by index path.
type DocCache = BTreeMap<String, (Vec<u8>, String)>;

/// Path of a group/version in the v3 index (`api/v1`, `apis/apps/v1`).
pub fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Definition name of a custom resource (`ai.aibrix.model.v1alpha1.ModelAdapter`).
pub fn cr_def_name(group: &str, version: &str, kind: &str) -> String {
    let rev: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", rev.join("."))
}

/// The CRD version's `openAPIV3Schema`, if any.
pub fn crd_schema(crd: &Value, version: &str) -> Option<Value> {
    crd["spec"]["versions"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == version)
        .map(|v| v["schema"]["openAPIV3Schema"].clone())
        .filter(|s| s.is_object())
}

/// Which schema a resource's objects are checked against.
pub fn object_schema(rt: &ResourceType, crd: Option<&Value>) -> ObjectSchema<'static> {
    if rt.is_crd {
        return match crd.and_then(|c| crd_schema(c, &rt.version)) {
            Some(s) => ObjectSchema::Custom(s),
            None => ObjectSchema::None,
        };
    }
    match schemas::builtin().kind(&rt.group, &rt.version, &rt.kind) {
        Some(k) => ObjectSchema::Builtin(k.name.as_str()),
        None => ObjectSchema::None,
    }
}

fn param(name: &str, description: &str, v2: bool) -> Value {
    if v2 {
        json!({"name": name, "in": "query", "description": description, "type": "string", "uniqueItems": true})
    } else {
        json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
    }
}

fn write_params(v2: bool) -> Vec<Value> {
    vec![
        param("dryRun", "When present, modifications are not persisted (All).", v2),
        param("fieldManager", "Name of the actor making the change.", v2),
        param(
            "fieldValidation",
            "How the server treats unknown fields in the request body: Ignore, Warn or Strict.",
            v2,
        ),
    ]
}

struct OpCtx<'a> {
    gvk: Value,
    schema_ref: String,
    kind: &'a str,
    v2: bool,
}

fn op(ctx: &OpCtx, action: &str, id: &str, body: Option<&[&str]>) -> Value {
    let reference = if ctx.v2 {
        ctx.schema_ref.replace(REF_PREFIX, "#/definitions/")
    } else {
        ctx.schema_ref.clone()
    };
    let mut o = Map::new();
    o.insert("description".into(), json!(format!("{action} {}", ctx.kind)));
    o.insert("operationId".into(), json!(format!("{id}{}", ctx.kind)));
    let mut params: Vec<Value> = match action {
        "create" | "replace" | "patch" => write_params(ctx.v2),
        _ => vec![],
    };
    if action == "patch" {
        params.push(param("force", "Force an apply request.", ctx.v2));
    }
    if let Some(types) = body {
        let schema = if action == "patch" {
            json!({"type": "object"})
        } else {
            json!({"$ref": reference})
        };
        if ctx.v2 {
            params.insert(
                0,
                json!({"name": "body", "in": "body", "required": true, "schema": schema}),
            );
            o.insert("consumes".into(), json!(types));
        } else {
            let content: Map<String, Value> = types
                .iter()
                .map(|t| (t.to_string(), json!({"schema": schema.clone()})))
                .collect();
            o.insert("requestBody".into(), json!({"content": content, "required": true}));
        }
    }
    if !params.is_empty() {
        o.insert("parameters".into(), Value::Array(params));
    }
    let ok = if ctx.v2 {
        json!({"description": "OK", "schema": {"$ref": reference}})
    } else {
        json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": reference}}}})
    };
    o.insert(
        "responses".into(),
        json!({"200": ok, "401": {"description": "Unauthorized"}}),
    );
    o.insert("x-kubernetes-action".into(), json!(action));
    o.insert("x-kubernetes-group-version-kind".into(), ctx.gvk.clone());
    Value::Object(o)
}

fn paths_for(rt: &ResourceType, def_name: &str, v2: bool, paths: &mut Map<String, Value>) {
    let prefix = if rt.group.is_empty() {
        format!("/api/{}", rt.version)
    } else {
        format!("/apis/{}/{}", rt.group, rt.version)
    };
    let base = if rt.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", rt.plural)
    } else {
        format!("{prefix}/{}", rt.plural)
    };
    let ctx = OpCtx {
        gvk: json!({"group": rt.group, "kind": rt.kind, "version": rt.version}),
        schema_ref: format!("{REF_PREFIX}{def_name}"),
        kind: &rt.kind,
        v2,
    };
    let json_types: &[&str] = &[
        "application/json",
        "application/yaml",
        "application/vnd.kubernetes.protobuf",
    ];
    // Custom resources do not take strategic merge patches; kubectl reads this list to choose
    // between a strategic merge patch and a JSON merge patch on `apply`.
    let patch_types: &[&str] = if rt.is_crd {
        &[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ]
    } else {
        &[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml",
        ]
    };
    let mut coll = Map::new();
    if rt.has_verb("list") {
        coll.insert("get".into(), op(&ctx, "list", "list", None));
    }
    if rt.has_verb("create") {
        coll.insert("post".into(), op(&ctx, "post", "create", Some(json_types)));
    }
    if rt.has_verb("deletecollection") {
        coll.insert("delete".into(), op(&ctx, "deletecollection", "deleteCollection", None));
    }
    if !coll.is_empty() {
        paths.insert(base.clone(), Value::Object(coll));
    }
    let mut item = Map::new();
    if rt.has_verb("get") {
        item.insert("get".into(), op(&ctx, "get", "read", None));
    }
    if rt.has_verb("update") {
        item.insert("put".into(), op(&ctx, "put", "replace", Some(json_types)));
    }
    if rt.has_verb("patch") {
        item.insert("patch".into(), op(&ctx, "patch", "patch", Some(patch_types)));
    }
    if rt.has_verb("delete") {
        item.insert("delete".into(), op(&ctx, "delete", "delete", None));
    }
    if !item.is_empty() {
        paths.insert(format!("{base}/{{name}}"), Value::Object(item));
    }
}

/// A CR's schema as an OpenAPI definition (metadata as ObjectMeta, GVK extension).
fn cr_definition(rt: &ResourceType, crd: Option<&Value>) -> Value {
    let mut s = crd
        .and_then(|c| crd_schema(c, &rt.version))
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    if let Some(m) = s.as_object_mut() {
        let props = m.entry("properties").or_insert_with(|| json!({}));
        if let Some(p) = props.as_object_mut() {
            p.insert(
                "metadata".into(),
                json!({"allOf": [{"$ref": format!("{REF_PREFIX}{OBJECT_META}")}], "description": "Standard object's metadata."}),
            );
            p.entry("apiVersion").or_insert_with(|| json!({"type": "string"}));
            p.entry("kind").or_insert_with(|| json!({"type": "string"}));
        }
        m.insert(
            "x-kubernetes-group-version-kind".into(),
            json!([{"group": rt.group, "kind": rt.kind, "version": rt.version}]),
        );
    }
    s
}

/// A built-in kind without a generated schema (not in k8s-openapi's v1_33 set).
fn opaque_definition(rt: &ResourceType) -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
           "x-kubernetes-group-version-kind": [{"group": rt.group, "kind": rt.kind, "version": rt.version}]})
}

fn opaque_def_name(rt: &ResourceType) -> String {
    let g = if rt.group.is_empty() {
        "core"
    } else {
        rt.group.split('.').next().unwrap_or_default()
    };
    format!("io.k8s.api.{g}.{}.{}", rt.version, rt.kind)
}

/// Build paths and definitions of one group/version (v3 flavour unless `v2`).
fn gv_parts(
    registry: &Registry,
    crds: &[Value],
    group: &str,
    version: &str,
    v2: bool,
) -> Option<(Map<String, Value>, BTreeMap<String, Value>)> {
    let vdef = registry.version(group, version)?;
    let b = schemas::builtin();
    let mut paths = Map::new();
    let mut defs: BTreeMap<String, Value> = BTreeMap::new();
    let mut roots: Vec<String> = Vec::new();
    for e in vdef.resources.iter().filter(|e| !e.name.contains('/')) {
        let Some(rt) = registry.resolve(group, version, &e.name) else {
            continue;
        };
        let name = if rt.is_crd {
            let crd = crds
                .iter()
                .find(|c| c["metadata"]["name"] == format!("{}.{}", rt.plural, rt.group));
            let n = cr_def_name(group, version, &rt.kind);
            defs.insert(n.clone(), cr_definition(&rt, crd));
            roots.push(OBJECT_META.to_string());
            n
        } else if let Some(k) = b.kind(group, version, &rt.kind) {
            roots.push(k.name.clone());
            k.name.clone()
        } else {
            let n = opaque_def_name(&rt);
            defs.insert(n.clone(), opaque_definition(&rt));
            n
        };
        paths_for(&rt, &name, v2, &mut paths);
    }
    for n in b.closure(&roots) {
        if let Some(d) = b.defs.get(&n) {
            defs.insert(n, d.clone());
        }
    }
    Some((paths, defs))
}

fn rewrite_refs_v2(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref") {
                if let Some(rest) = r.strip_prefix(REF_PREFIX) {
                    *r = format!("#/definitions/{rest}");
                }
            }
            m.values_mut().for_each(rewrite_refs_v2);
        }
        Value::Array(a) => a.iter_mut().for_each(rewrite_refs_v2),
        _ => {}
    }
}

/// The OpenAPI v3 document of one group/version.
pub fn v3_document(registry: &Registry, crds: &[Value], group: &str, version: &str) -> Option<Value> {
    let (paths, defs) = gv_parts(registry, crds, group, version, false)?;
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": SERVER_VERSION},
        "paths": paths,
        "components": {"schemas": defs},
    }))
}

/// Serialised v3 document and its hash; built-in group/versions are cached.
pub fn v3_bytes(registry: &Registry, crds: &[Value], group: &str, version: &str) -> Option<(Vec<u8>, String)> {
    static CACHE: OnceLock<Mutex<DocCache>> = OnceLock::new();
    let is_builtin = registry
        .resolve(
            group,
            version,
            registry
                .version(group, version)?
                .resources
                .first()
                .map(|r| r.name.as_str())
                .unwrap_or(""),
        )
        .is_some_and(|rt| !rt.is_crd);
    let key = gv_path(group, version);
    let cache = CACHE.get_or_init(|| Mutex::new(BTreeMap::new()));
    if is_builtin {
        if let Some(hit) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Some(hit.clone());
        }
    }
    let doc = v3_document(registry, crds, group, version)?;
    let bytes = serde_json::to_vec(&doc).unwrap_or_default();
    let hash: String = sha256(&bytes).iter().map(|b| format!("{b:02X}")).collect();
    let out = (bytes, hash);
    if is_builtin {
        cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key, out.clone());
    }
    Some(out)
}

/// `/openapi/v3`: `{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=..."}}}`.
pub fn v3_index(registry: &Registry, crds: &[Value]) -> Value {
    let mut paths = Map::new();
    for g in &registry.groups {
        for v in &g.versions {
            if registry.is_failing(&g.name, &v.version) {
                continue;
            }
            if let Some((_, hash)) = v3_bytes(registry, crds, &g.name, &v.version) {
                let p = gv_path(&g.name, &v.version);
                paths.insert(
                    p.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")}),
                );
            }
        }
    }
    json!({ "paths": paths })
}

/// `/openapi/v2`: one Swagger 2.0 document for everything served.
pub fn v2_document(registry: &Registry, crds: &[Value]) -> Value {
    let mut paths = Map::new();
    let mut defs: BTreeMap<String, Value> = BTreeMap::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for g in &registry.groups {
        for v in &g.versions {
            if registry.is_failing(&g.name, &v.version) || !seen.insert(gv_path(&g.name, &v.version)) {
                continue;
            }
            if let Some((p, d)) = gv_parts(registry, crds, &g.name, &v.version, true) {
                paths.extend(p);
                defs.extend(d);
            }
        }
    }
    let mut doc = json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": SERVER_VERSION},
        "paths": paths,
        "definitions": defs,
    });
    rewrite_refs_v2(&mut doc);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({"metadata": {"name": "modeladapters.model.aibrix.ai"},
               "spec": {"group": "model.aibrix.ai", "scope": "Namespaced",
                 "names": {"kind": "ModelAdapter", "plural": "modeladapters", "singular": "modeladapter"},
                 "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                   "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                     "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}})
    }

    #[test]
    fn index_lists_core_groups_and_crds_with_hashes() {
        let c = crd();
        let reg = Registry::build(&[&c], BTreeSet::new());
        let idx = v3_index(&reg, std::slice::from_ref(&c));
        let url = idx["paths"]["api/v1"]["serverRelativeURL"].as_str().unwrap();
        assert!(url.starts_with("/openapi/v3/api/v1?hash="), "{url}");
        assert!(idx["paths"]["apis/apps/v1"].is_object());
        assert!(idx["paths"]["apis/model.aibrix.ai/v1alpha1"].is_object());
    }

    #[test]
    fn core_document_has_patch_with_field_validation_and_gvk() {
        let reg = Registry::builtin();
        let doc = v3_document(&reg, &[], "", "v1").unwrap();
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "", "kind": "ConfigMap", "version": "v1"})
        );
        assert!(patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"));
        let cm = &doc["components"]["schemas"]["io.k8s.api.core.v1.ConfigMap"];
        assert_eq!(cm["x-kubernetes-group-version-kind"][0]["kind"], "ConfigMap");
        assert!(doc["components"]["schemas"][OBJECT_META].is_object());
        assert!(doc["paths"]["/api/v1/namespaces/{name}"]["patch"].is_object());
    }

    #[test]
    fn crd_document_and_v2() {
        let c = crd();
        let reg = Registry::build(&[&c], BTreeSet::new());
        let doc = v3_document(&reg, std::slice::from_ref(&c), "model.aibrix.ai", "v1alpha1").unwrap();
        let def = &doc["components"]["schemas"]["ai.aibrix.model.v1alpha1.ModelAdapter"];
        assert_eq!(def["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"], true);
        assert_eq!(def["x-kubernetes-group-version-kind"][0]["kind"], "ModelAdapter");
        let v2 = v2_document(&reg, std::slice::from_ref(&c));
        assert_eq!(v2["swagger"], "2.0");
        let s = serde_json::to_string(&v2).unwrap();
        assert!(!s.contains("#/components/schemas/"));
        assert!(v2["definitions"]["io.k8s.api.apps.v1.Deployment"].is_object());
    }
}
