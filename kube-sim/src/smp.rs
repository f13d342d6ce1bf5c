//! Strategic merge patch for built-in kinds, following apimachinery's `strategicpatch`
//! (`StrategicMergeMapPatchUsingLookupPatchMeta`): maps merge recursively (`null` deletes),
//! lists with a patchMergeKey merge by key, primitive lists with patchStrategy merge form a
//! union, every other list is replaced; directives `$patch: replace|delete` (maps and list
//! elements), `$retainKeys`, `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>`.
//!
//! The patch strategies are not in the served OpenAPI (k8s-openapi's schemars schemas carry no
//! `x-kubernetes-patch-strategy`/`x-kubernetes-patch-merge-key` extensions), so they come from
//! the `patchStrategy`/`patchMergeKey` struct tags of the Kubernetes Go types, keyed by the Go
//! type name (the last segment of the OpenAPI definition name) and the JSON field; the types
//! of nested fields are found by walking the definitions.
use crate::schemas::{Builtin, REF_PREFIX};
use serde_json::{Map, Value};

/// How a list field is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// No patchStrategy: the patch's list replaces the original (atomic).
    Replace,
    /// patchStrategy merge on a list of scalars (e.g. `metadata.finalizers`): union.
    MergePrimitive,
    /// patchStrategy merge with a patchMergeKey.
    MergeKey(&'static str),
}

/// `patchStrategy:"merge"` tags of the Kubernetes API types (type, field) → strategy.
pub fn list_strategy(type_name: &str, field: &str) -> ListStrategy {
    use ListStrategy::*;
    match (type_name, field) {
        ("ObjectMeta", "finalizers") => MergePrimitive,
        ("ObjectMeta", "ownerReferences") => MergeKey("uid"),
        ("PodSpec", "volumes" | "initContainers" | "containers" | "ephemeralContainers") => MergeKey("name"),
        ("PodSpec", "imagePullSecrets" | "resourceClaims" | "schedulingGates") => MergeKey("name"),
        ("PodSpec", "hostAliases") => MergeKey("ip"),
        ("PodSpec", "topologySpreadConstraints") => MergeKey("topologyKey"),
        ("Container" | "EphemeralContainer", "ports") => MergeKey("containerPort"),
        ("Container" | "EphemeralContainer", "env") => MergeKey("name"),
        ("Container" | "EphemeralContainer", "volumeMounts") => MergeKey("mountPath"),
        ("Container" | "EphemeralContainer", "volumeDevices") => MergeKey("devicePath"),
        ("PodStatus", "podIPs" | "hostIPs") => MergeKey("ip"),
        ("PodStatus", "resourceClaimStatuses") => MergeKey("name"),
        ("NodeStatus", "addresses") => MergeKey("type"),
        ("NodeSpec", "podCIDRs") => MergePrimitive,
        ("ServiceSpec", "ports") => MergeKey("port"),
        ("ServiceAccount", "secrets") => MergeKey("name"),
        (
            "PodStatus"
            | "NodeStatus"
            | "NamespaceStatus"
            | "ServiceStatus"
            | "PersistentVolumeClaimStatus"
            | "ReplicationControllerStatus"
            | "DeploymentStatus"
            | "ReplicaSetStatus"
            | "StatefulSetStatus"
            | "DaemonSetStatus"
            | "JobStatus"
            | "HorizontalPodAutoscalerStatus"
            | "PodDisruptionBudgetStatus"
            | "APIServiceStatus",
            "conditions",
        ) => MergeKey("type"),
        _ => Replace,
    }
}

/// Errors of apimachinery's `mergepatch` package, mapped as `interpretStrategicMergePatchError`.
#[derive(Debug, Clone, PartialEq)]
pub enum SmpError {
    /// → 400 BadRequest (ErrBadPatchFormatFor…, ErrBadJSONDoc).
    BadRequest(String),
    /// → 422 (`NewGenericServerResponse`): ErrPatchContentNotMatchRetainKeys, ErrNoListOfLists.
    Unprocessable(String),
    /// Any other error (e.g. `unknown patch type`) → 500 with the error text.
    Other(String),
}

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";
const SET_ORDER: &str = "$setElementOrder/";

/// Go's `%v` rendering of a decoded JSON value (for error messages).
fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_fmt).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            // Go prints map keys sorted
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys.iter().map(|k| format!("{k}:{}", go_fmt(&m[*k]))).collect();
            format!("map[{}]", parts.join(" "))
        }
        other => other.to_string(),
    }
}

fn bad_patch_type(t: &Value, m: &Map<String, Value>) -> SmpError {
    SmpError::Other(format!(
        "unknown patch type: {} in map: {}",
        go_fmt(t),
        go_fmt(&Value::Object(m.clone()))
    ))
}

struct Schema<'a> {
    b: &'a Builtin,
}

impl Schema<'_> {
    /// Definition name of a field's type (of its items for arrays).
    fn field_def(&self, def: Option<&str>, field: &str) -> Option<String> {
        let p = self.b.property(def?, field)?;
        fn ref_of(v: &Value) -> Option<String> {
            if let Some(r) = v.get("$ref").and_then(Value::as_str) {
                return r.strip_prefix(REF_PREFIX).map(str::to_string);
            }
            if let Some(all) = v.get("allOf").and_then(Value::as_array) {
                return all.iter().find_map(ref_of);
            }
            if let Some(items) = v.get("items") {
                return ref_of(items);
            }
            None
        }
        ref_of(p)
    }
}

fn short(def: Option<&str>) -> &str {
    def.map(|d| d.rsplit('.').next().unwrap_or(d)).unwrap_or("")
}

/// Apply a strategic merge patch to `original` whose type is the definition `def`.
pub fn apply(original: &Value, patch: &Value, def: Option<&str>, b: &Builtin) -> Result<Value, SmpError> {
    let (Some(o), Some(p)) = (original.as_object(), patch.as_object()) else {
        return Err(SmpError::BadRequest("invalid JSON document".into()));
    };
    let s = Schema { b };
    Ok(Value::Object(merge_map(o.clone(), p, def, &s)?))
}

fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    def: Option<&str>,
    s: &Schema,
) -> Result<Map<String, Value>, SmpError> {
    if let Some(d) = patch.get(PATCH) {
        return match d.as_str() {
            Some("replace") => {
                let mut p = patch.clone();
                p.remove(PATCH);
                Ok(p)
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(bad_patch_type(d, patch)),
        };
    }
    if let Some(rk) = patch.get(RETAIN_KEYS) {
        let keys: Vec<&str> = rk
            .as_array()
            .ok_or_else(|| SmpError::BadRequest("invalid patch format of retainKeys".into()))?
            .iter()
            .map(|k| {
                k.as_str()
                    .ok_or_else(|| SmpError::BadRequest("invalid patch format of retainKeys".into()))
            })
            .collect::<Result<_, _>>()?;
        for k in patch.keys().filter(|k| !k.starts_with('$')) {
            if !keys.contains(&k.as_str()) {
                return Err(SmpError::Unprocessable(
                    "patch content doesn't match retainKeys list".into(),
                ));
            }
        }
        original.retain(|k, _| keys.contains(&k.as_str()));
    }
    // $deleteFromPrimitiveList/<field>
    for (k, v) in patch {
        if let Some(field) = k.strip_prefix(DELETE_PRIMITIVE) {
            let del = v
                .as_array()
                .ok_or_else(|| SmpError::BadRequest("invalid patch format of primitive list".into()))?;
            if let Some(list) = original.get_mut(field).and_then(Value::as_array_mut) {
                list.retain(|x| !del.contains(x));
            }
        }
    }
    for (k, pv) in patch {
        if k.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            original.remove(k);
            continue;
        }
        let child = s.field_def(def, k);
        let strategy = list_strategy(short(def), k);
        let order = patch.get(&format!("{SET_ORDER}{k}"));
        let merged = match (original.get(k), pv) {
            (Some(Value::Object(o)), Value::Object(p)) => Value::Object(merge_map(o.clone(), p, child.as_deref(), s)?),
            (None, Value::Object(p)) => Value::Object(merge_map(Map::new(), p, child.as_deref(), s)?),
            (Some(Value::Array(o)), Value::Array(p)) => merge_list(o, p, strategy, order, child.as_deref(), s)?,
            (None, Value::Array(p)) => merge_list(&[], p, strategy, order, child.as_deref(), s)?,
            _ => pv.clone(),
        };
        original.insert(k.clone(), merged);
    }
    // $setElementOrder for a list the patch did not otherwise touch
    for (k, order) in patch {
        if let Some(field) = k.strip_prefix(SET_ORDER) {
            if !order.is_array() {
                return Err(SmpError::BadRequest(
                    "invalid patch format of setElementOrder list".into(),
                ));
            }
            if patch.contains_key(field) {
                continue;
            }
            let strategy = list_strategy(short(def), field);
            if let Some(Value::Array(o)) = original.get(field).cloned() {
                let merged = merge_list(&o, &[], strategy, Some(order), None, s)?;
                original.insert(field.to_string(), merged);
            }
        }
    }
    Ok(original)
}

fn item_key(v: &Value, strategy: ListStrategy) -> Option<Value> {
    match strategy {
        ListStrategy::MergeKey(k) => v.get(k).cloned(),
        _ => Some(v.clone()),
    }
}

fn merge_list(
    original: &[Value],
    patch: &[Value],
    strategy: ListStrategy,
    order: Option<&Value>,
    item_def: Option<&str>,
    s: &Schema,
) -> Result<Value, SmpError> {
    if strategy == ListStrategy::Replace {
        if patch.iter().any(|p| p.is_array()) {
            return Err(SmpError::Unprocessable("lists of lists are not supported".into()));
        }
        return Ok(Value::Array(patch.to_vec()));
    }
    let mut merged: Vec<Value> = original.to_vec();
    let mut patch_keys: Vec<Value> = Vec::new();
    if let ListStrategy::MergeKey(mk) = strategy {
        // special elements: {"$patch": "replace"} replaces the list; {"<key>": x, "$patch": "delete"}
        let mut plain = Vec::new();
        for p in patch {
            let Some(m) = p.as_object() else {
                plain.push(p.clone());
                continue;
            };
            match m.get(PATCH) {
                None => plain.push(p.clone()),
                Some(d) if d == "replace" => {
                    let rest: Vec<Value> = patch.iter().filter(|x| *x != p).cloned().collect();
                    return Ok(Value::Array(rest));
                }
                Some(d) if d == "delete" => {
                    let key = m.get(mk).cloned();
                    merged.retain(|o| o.get(mk) != key.as_ref());
                }
                Some(d) => return Err(bad_patch_type(d, m)),
            }
        }
        for p in plain {
            let key = p.get(mk).cloned();
            let Some(key) = key else {
                return Err(SmpError::Other(format!(
                    "map: {} does not contain declared merge key: {mk}",
                    go_fmt(&p)
                )));
            };
            patch_keys.push(key.clone());
            match merged.iter_mut().find(|o| o.get(mk) == Some(&key)) {
                Some(o) => {
                    let om = o.as_object().cloned().unwrap_or_default();
                    let pm = p.as_object().cloned().unwrap_or_default();
                    *o = Value::Object(merge_map(om, &pm, item_def, s)?);
                }
                None => {
                    let pm = p.as_object().cloned().unwrap_or_default();
                    merged.push(Value::Object(merge_map(Map::new(), &pm, item_def, s)?));
                }
            }
        }
    } else {
        for p in patch {
            patch_keys.push(p.clone());
            if !merged.contains(p) {
                merged.push(p.clone());
            }
        }
    }
    // normalizeElementOrder: patch items (by $setElementOrder, else merged order) interleaved
    // with server-only items by their position in the original list.
    let server_order: Vec<Value> = original.iter().filter_map(|o| item_key(o, strategy)).collect();
    let order_keys: Option<Vec<Value>> = order.and_then(Value::as_array).cloned();
    let in_patch = |k: &Option<Value>| -> bool {
        match (&order_keys, k) {
            (Some(ord), Some(k)) => ord.iter().any(|x| match strategy {
                ListStrategy::MergeKey(mk) => x.get(mk) == Some(k),
                _ => x == k,
            }),
            (None, Some(k)) => patch_keys.contains(k),
            _ => false,
        }
    };
    let (mut patch_items, server_only): (Vec<Value>, Vec<Value>) =
        merged.into_iter().partition(|v| in_patch(&item_key(v, strategy)));
    if let Some(ord) = &order_keys {
        let pos = |v: &Value| {
            let k = item_key(v, strategy);
            ord.iter()
                .position(|x| match strategy {
                    ListStrategy::MergeKey(mk) => x.get(mk) == k.as_ref(),
                    _ => Some(x) == k.as_ref(),
                })
                .unwrap_or(usize::MAX)
        };
        patch_items.sort_by_key(pos);
    }
    let idx = |v: &Value| item_key(v, strategy).and_then(|k| server_order.iter().position(|x| *x == k));
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < server_only.len() && j < patch_items.len() {
        let less = match (idx(&server_only[i]), idx(&patch_items[j])) {
            (Some(l), Some(r)) => l < r,
            (Some(_), None) => true,
            _ => false,
        };
        if less {
            out.push(server_only[i].clone());
            i += 1;
        } else {
            out.push(patch_items[j].clone());
            j += 1;
        }
    }
    out.extend_from_slice(&server_only[i..]);
    out.extend_from_slice(&patch_items[j..]);
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemas::builtin;
    use serde_json::json;

    const POD: &str = "io.k8s.api.core.v1.Pod";

    fn smp(orig: Value, patch: Value) -> Value {
        apply(&orig, &patch, Some(POD), builtin()).unwrap()
    }

    #[test]
    fn finalizers_union_and_delete_from_primitive_list() {
        let o = json!({"metadata": {"finalizers": ["a/x", "b/y"]}});
        assert_eq!(
            smp(o.clone(), json!({"metadata": {"finalizers": ["c/z"]}})),
            json!({"metadata": {"finalizers": ["a/x", "b/y", "c/z"]}})
        );
        // what kubectl edit sends when one of two finalizers is removed
        let out = smp(
            o,
            json!({"metadata": {"$setElementOrder/finalizers": ["b/y"], "$deleteFromPrimitiveList/finalizers": ["a/x"]}}),
        );
        assert_eq!(out, json!({"metadata": {"finalizers": ["b/y"]}}));
    }

    #[test]
    fn containers_merge_by_name_and_nested_keys() {
        let o = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}], "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "b:1"}
        ], "tolerations": [{"key": "t1"}]}});
        let out = smp(
            o,
            json!({"spec": {"containers": [
                {"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}], "ports": [{"containerPort": 80, "name": "http"}]},
                {"name": "c", "image": "c:1"}
            ], "tolerations": [{"key": "t2"}]}}),
        );
        assert_eq!(
            out,
            json!({"spec": {"containers": [
                {"name": "a", "image": "a:2", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}], "ports": [{"containerPort": 80, "name": "http"}]},
                {"name": "b", "image": "b:1"},
                {"name": "c", "image": "c:1"}
            ], "tolerations": [{"key": "t2"}]}})
        );
    }

    #[test]
    fn directives() {
        let o = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "ownerReferences": [{"uid": "u1", "name": "x"}, {"uid": "u2", "name": "y"}]},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let out = smp(
            o.clone(),
            json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}, "ownerReferences": [{"uid": "u1", "$patch": "delete"}]},
                "spec": {"containers": [{"$patch": "replace"}, {"name": "z"}]}}),
        );
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"c": "3"}, "ownerReferences": [{"uid": "u2", "name": "y"}]},
                "spec": {"containers": [{"name": "z"}]}})
        );
        // $setElementOrder reorders
        let out = smp(
            o.clone(),
            json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}], "containers": [{"name": "a", "image": "i"}]}}),
        );
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "b"}, {"name": "a", "image": "i"}])
        );
        // $retainKeys drops what is not listed
        let d = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let out = apply(
            &d,
            &json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            Some("io.k8s.api.apps.v1.Deployment"),
            builtin(),
        )
        .unwrap();
        assert_eq!(out, json!({"spec": {"strategy": {"type": "Recreate"}}}));
        // unknown directive
        let e = apply(
            &o,
            &json!({"metadata": {"labels": {"$patch": "bogus"}}}),
            Some(POD),
            builtin(),
        )
        .unwrap_err();
        assert_eq!(
            e,
            SmpError::Other("unknown patch type: bogus in map: map[$patch:bogus]".into())
        );
        let e = apply(
            &o,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}}),
            Some(POD),
            builtin(),
        )
        .unwrap_err();
        assert_eq!(e, SmpError::BadRequest("invalid patch format of primitive list".into()));
    }
}
