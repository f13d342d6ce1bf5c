//! API semantics shared by the HTTP handlers and the controllers: create, update (main,
//! status, finalize), patch, delete with finalizers/preconditions/propagation.
use crate::patch::{self, PatchType};
use crate::registry::ResourceType;
use crate::state::{State, CRD_STORAGE, NAMESPACE_STORAGE};
use crate::status::{ApiError, FieldError};
use crate::store::meta_str;
use crate::validation;
use serde_json::{json, Map, Value};

/// Namespaces the NamespaceLifecycle admission plugin refuses to delete.
const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];
pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";
pub const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(|m| m.is_object()) {
        obj["metadata"] = json!({});
    }
    obj["metadata"].as_object_mut().expect("metadata is an object")
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

pub fn is_deleting(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"].is_string()
}

/// Rewrite apiVersion/kind to the version the client asked for (one storage, many versions).
pub fn present(mut obj: Value, rt: &ResourceType) -> Value {
    if let Some(o) = obj.as_object_mut() {
        let mut out = Map::new();
        out.insert("kind".into(), json!(rt.kind));
        out.insert("apiVersion".into(), json!(rt.api_version()));
        for (k, v) in std::mem::take(o) {
            if k != "kind" && k != "apiVersion" {
                out.insert(k, v);
            }
        }
        *o = out;
    }
    obj
}

/// Everything except metadata and status (what a generation bump compares).
fn spec_part(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("metadata");
        o.remove("status");
        o.remove("apiVersion");
        o.remove("kind");
    }
    v
}

fn check_terminating_namespace(state: &State, rt: &ResourceType, ns: &str, name: &str) -> Result<(), ApiError> {
    if !rt.namespaced {
        return Ok(());
    }
    let Some(nsobj) = state.store.get(NAMESPACE_STORAGE, "", ns) else {
        return Err(ApiError::not_found(
            &crate::status::GroupResource::new("", "namespaces"),
            ns,
        ));
    };
    if is_deleting(nsobj) || nsobj["status"]["phase"] == "Terminating" {
        let mut e = ApiError::forbidden(
            &rt.group_resource(),
            name,
            &format!("unable to create new content in namespace {ns} because it is being terminated"),
        );
        if let Some(d) = e.details.as_mut().and_then(|d| d.as_object_mut()) {
            d.insert(
                "causes".into(),
                json!([{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]),
            );
        }
        return Err(e);
    }
    Ok(())
}

fn crd_defaults(obj: &mut Value, now: &str) -> Result<(), ApiError> {
    let spec = obj["spec"].clone();
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let kind = spec["names"]["kind"].as_str().unwrap_or_default();
    let name = meta_str(obj, "name").to_string();
    if name != format!("{plural}.{group}") {
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            &name,
            vec![FieldError::invalid(
                "metadata.name",
                &serde_json::to_string(&name).unwrap_or_default(),
                "must be spec.names.plural+\".\"+spec.group",
            )],
        ));
    }
    let mut accepted = spec["names"].clone();
    if accepted["singular"].is_null() {
        accepted["singular"] = json!(kind.to_lowercase());
    }
    if accepted["listKind"].is_null() {
        accepted["listKind"] = json!(format!("{kind}List"));
    }
    let stored: Vec<Value> = spec["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter(|v| v["storage"] == true)
                .map(|v| v["name"].clone())
                .collect()
        })
        .unwrap_or_default();
    obj["status"] = json!({
        "acceptedNames": accepted,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
        ],
        "storedVersions": stored
    });
    let m = meta_mut(obj);
    let mut fins = m
        .get("finalizers")
        .and_then(|f| f.as_array().cloned())
        .unwrap_or_default();
    if !fins.iter().any(|f| f == CRD_CLEANUP_FINALIZER) {
        fins.push(json!(CRD_CLEANUP_FINALIZER));
    }
    m.insert("finalizers".into(), Value::Array(fins));
    Ok(())
}

/// POST: create an object in `ns` ("" for cluster-scoped).
pub fn create(
    state: &mut State,
    rt: &ResourceType,
    ns: &str,
    mut obj: Value,
    now: &str,
    dry_run: bool,
) -> Result<Value, ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request("the body of the request was not a JSON object"));
    }
    if let Some(av) = obj["apiVersion"].as_str() {
        if av != rt.api_version() && !(rt.group == "autoscaling" && av.starts_with("autoscaling/")) {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                rt.api_version()
            )));
        }
    }
    if let Some(answer) = crate::reviews::answer(rt, obj.clone()) {
        return Ok(answer);
    }
    let body_ns = meta_str(&obj, "namespace").to_string();
    if rt.namespaced && !body_ns.is_empty() && body_ns != ns {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let mut name = meta_str(&obj, "name").to_string();
    let generate = meta_str(&obj, "generateName").to_string();
    if name.is_empty() && !generate.is_empty() {
        name = validation::generate_name(&generate);
    }
    // NamespaceLifecycle admission runs before the name is generated: a generateName create
    // is refused with an empty name.
    check_terminating_namespace(state, rt, ns, meta_str(&obj, "name"))?;
    if name.is_empty() {
        return Err(ApiError::invalid(
            &rt.kind,
            &rt.group,
            "",
            vec![FieldError::required(
                "metadata.name",
                "name or generateName is required",
            )],
        ));
    }
    let errs = validation::validate_name(&name, validation::rule_for(&rt.storage_key()));
    if !errs.is_empty() {
        return Err(ApiError::invalid(&rt.kind, &rt.group, &name, errs));
    }
    let storage = rt.storage_key();
    if state.store.get(&storage, ns, &name).is_some() {
        return Err(ApiError::already_exists(&rt.group_resource(), &name));
    }
    {
        let m = meta_mut(&mut obj);
        for k in [
            "uid",
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "creationTimestamp",
            "generation",
            "managedFields",
        ] {
            m.remove(k);
        }
        m.insert("name".into(), json!(name));
        if rt.namespaced {
            m.insert("namespace".into(), json!(ns));
        } else {
            m.remove("namespace");
        }
        m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        m.insert("creationTimestamp".into(), json!(now));
        if rt.has_generation() {
            m.insert("generation".into(), json!(1));
        }
    }
    if rt.has_subresource("status") {
        if let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
    }
    if rt.group == "autoscaling" && rt.plural == "horizontalpodautoscalers" {
        // PrepareForCreate resets the status to its zero value, which each version encodes
        // differently (v2: currentMetrics has no omitempty; v1: currentReplicas has none).
        obj["status"] = if rt.version == "v1" {
            json!({"currentReplicas": 0, "desiredReplicas": 0})
        } else {
            json!({"currentMetrics": null, "desiredReplicas": 0})
        };
    }
    if storage == NAMESPACE_STORAGE {
        obj["spec"] = json!({"finalizers": ["kubernetes"]});
        obj["status"] = json!({"phase": "Active"});
        let m = meta_mut(&mut obj);
        let labels = m.entry("labels").or_insert_with(|| json!({}));
        if let Some(l) = labels.as_object_mut() {
            l.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
    }
    if storage == CRD_STORAGE {
        crd_defaults(&mut obj, now)?;
    }
    let obj = present(obj, rt);
    if dry_run {
        return Ok(obj);
    }
    Ok(state.put(&storage, obj))
}

/// Which part of an object a PUT/PATCH addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Main,
    Status,
    Finalize,
}

fn rv_of(obj: &Value) -> &str {
    meta_str(obj, "resourceVersion")
}

/// PUT semantics (also used after applying a PATCH).
#[allow(clippy::too_many_arguments)]
pub fn update(
    state: &mut State,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    new: Value,
    part: Part,
    dry_run: bool,
    require_rv: bool,
) -> Result<Value, ApiError> {
    let storage = rt.storage_key();
    let old = state
        .store
        .get(&storage, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.group_resource(), name))?;
    if !new.is_object() {
        return Err(ApiError::bad_request("the body of the request was not a JSON object"));
    }
    let new_name = meta_str(&new, "name");
    if !new_name.is_empty() && new_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({new_name}) does not match the name on the URL ({name})"
        )));
    }
    // A PUT body's metadata.uid is a storage precondition (rest.DefaultUpdatedObjectInfo):
    // a different uid fails in GuaranteedUpdate before the resourceVersion is compared.
    let body_uid = meta_str(&new, "uid");
    if require_rv && !body_uid.is_empty() && body_uid != meta_str(&old, "uid") {
        return Err(storage_precondition_error(
            rt,
            ns,
            name,
            &format!(
                "Precondition failed: UID in precondition: {body_uid}, UID in object meta: {}",
                meta_str(&old, "uid")
            ),
        ));
    }
    let new_rv = rv_of(&new);
    if new_rv.is_empty() {
        if require_rv && rt.is_crd && part == Part::Main {
            // genericregistry.Store.Update: NewInvalid(GroupKind{Group, Kind: <resource>}, …)
            // with the uint64 0 formatted by field.Error as %#v (`0x0`).
            return Err(ApiError::invalid(
                &rt.plural,
                &rt.group,
                name,
                vec![FieldError::invalid(
                    "metadata.resourceVersion",
                    "0x0",
                    "must be specified for an update",
                )],
            ));
        }
    } else if new_rv != rv_of(&old) {
        return Err(ApiError::modified_conflict(&rt.group_resource(), name));
    }
    let mut result = match part {
        Part::Main => {
            let mut r = new.clone();
            if rt.has_subresource("status") || storage == NAMESPACE_STORAGE {
                match old.get("status") {
                    Some(s) => r["status"] = s.clone(),
                    None => {
                        if let Some(o) = r.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            if storage == NAMESPACE_STORAGE {
                r["spec"] = old["spec"].clone();
            }
            let m = meta_mut(&mut r);
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "namespace",
                "generation",
            ] {
                match old["metadata"].get(k) {
                    Some(v) => {
                        m.insert(k.into(), v.clone());
                    }
                    None => {
                        m.remove(k);
                    }
                }
            }
            m.insert("name".into(), json!(name));
            if rt.has_generation() && spec_part(&r) != spec_part(&old) {
                let g = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
                meta_mut(&mut r).insert("generation".into(), json!(g));
            }
            r
        }
        Part::Status => {
            let mut r = old.clone();
            match new.get("status") {
                Some(s) => r["status"] = s.clone(),
                None => {
                    if let Some(o) = r.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
            r
        }
        Part::Finalize => {
            let mut r = old.clone();
            r["spec"]["finalizers"] = new["spec"]["finalizers"].clone();
            if r["spec"]["finalizers"].is_null() {
                if let Some(s) = r["spec"].as_object_mut() {
                    s.remove("finalizers");
                }
            }
            r
        }
    };
    if is_deleting(&old) {
        let old_f = finalizers(&old);
        let added: Vec<String> = finalizers(&result).into_iter().filter(|f| !old_f.contains(f)).collect();
        if !added.is_empty() {
            let list = added.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>().join(", ");
            return Err(ApiError::invalid(
                &rt.kind,
                &rt.group,
                name,
                vec![FieldError::forbidden(
                    "metadata.finalizers",
                    &format!("no new finalizers can be added if the object is being deleted, found new finalizers []string{{{list}}}"),
                )],
            ));
        }
    }
    // finalizers: [] and null are the same to the API server
    if result["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|a| a.is_empty())
        || result["metadata"]["finalizers"].is_null()
    {
        meta_mut(&mut result).remove("finalizers");
    }
    meta_mut(&mut result).insert("resourceVersion".into(), json!(rv_of(&old)));
    let result = present(result, rt);
    let old_presented = present(old.clone(), rt);
    if result == old_presented {
        return Ok(result);
    }
    if dry_run {
        return Ok(result);
    }
    // ShouldDeleteDuringUpdate (namespaces: ShouldDeleteNamespaceDuringUpdate, which also needs
    // an empty spec.finalizers — on every namespace store: main, status and finalize).
    let spec_fins_empty = result["spec"]["finalizers"].as_array().is_none_or(|a| a.is_empty());
    if is_deleting(&old) && finalizers(&result).is_empty() && (storage != NAMESPACE_STORAGE || spec_fins_empty) {
        // Last finalizer removed from a deleting object: upstream's tryUpdate aborts with
        // errEmptiedFinalizers and deleteWithoutFinalizers deletes the stored object. No MODIFIED
        // is written; the DELETED event carries the last stored state. The answer is the updated
        // object (finalizers gone) at the deletion's resourceVersion (measured on v1.37.2).
        let removed = state.remove(&storage, ns, name);
        let mut answer = result;
        if let Some(o) = removed {
            meta_mut(&mut answer).insert("resourceVersion".into(), json!(rv_of(&o)));
        }
        return Ok(answer);
    }
    Ok(state.put(&storage, result))
}

/// PATCH: apply to the current object, then run update semantics.
#[allow(clippy::too_many_arguments)]
pub fn patch(
    state: &mut State,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    body: &[u8],
    kind: PatchType,
    part: Part,
    dry_run: bool,
) -> Result<Value, ApiError> {
    if kind == PatchType::StrategicMerge && rt.is_crd {
        let ct = "application/strategic-merge-patch+json";
        return Err(ApiError::unsupported_media_type(
            ct,
            &[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
            ],
        ));
    }
    let storage = rt.storage_key();
    let old = state
        .store
        .get(&storage, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.group_resource(), name))?;
    let current = present(old, rt);
    // Server-side apply is approximated as a JSON merge patch of the (JSON) body onto an existing
    // object: no managedFields, so no field-manager conflicts (a known deviation, see README).
    let kind = if kind == PatchType::Apply {
        PatchType::Merge
    } else {
        kind
    };
    let patched = patch::apply_for(&current, body, kind, rt)?;
    // A patch has no uid precondition; changing metadata.uid fails ObjectMeta update validation.
    let (old_uid, new_uid) = (meta_str(&current, "uid"), meta_str(&patched, "uid"));
    if new_uid != old_uid {
        return Err(ApiError::invalid(
            &rt.kind,
            &rt.group,
            name,
            vec![FieldError::invalid(
                "metadata.uid",
                &serde_json::to_string(new_uid).unwrap_or_default(),
                "field is immutable",
            )],
        ));
    }
    update(state, rt, ns, name, patched, part, dry_run, false)
}

/// Parsed DeleteOptions (body or query).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeleteOptions {
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn from_body(v: &Value) -> DeleteOptions {
        let mut o = DeleteOptions {
            propagation: v["propagationPolicy"].as_str().map(str::to_string),
            precondition_uid: v["preconditions"]["uid"].as_str().map(str::to_string),
            precondition_rv: v["preconditions"]["resourceVersion"].as_str().map(str::to_string),
            dry_run: v["dryRun"].as_array().is_some_and(|a| a.iter().any(|d| d == "All")),
        };
        if o.propagation.is_none() {
            match v["orphanDependents"].as_bool() {
                Some(true) => o.propagation = Some("Orphan".into()),
                Some(false) => o.propagation = Some("Background".into()),
                None => {}
            }
        }
        o
    }
}

/// What DELETE answered and whether the object is gone.
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteOutcome {
    pub body: Value,
    pub deleted: bool,
}

fn storage_precondition_error(rt: &ResourceType, ns: &str, name: &str, msg: &str) -> ApiError {
    let key = if ns.is_empty() {
        format!("{}/{}", rt.etcd_prefix(), name)
    } else {
        format!("{}/{}/{}", rt.etcd_prefix(), ns, name)
    };
    ApiError::conflict(
        &rt.group_resource(),
        name,
        &format!("StorageError: invalid object, Code: 4, Key: {key}, ResourceVersion: 0, AdditionalErrorMsg: {msg}"),
    )
}

fn success_status(rt: &ResourceType, obj: &Value) -> Value {
    let mut d = Map::new();
    d.insert("name".into(), json!(meta_str(obj, "name")));
    if !rt.group.is_empty() {
        d.insert("group".into(), json!(rt.group));
    }
    d.insert("kind".into(), json!(rt.plural));
    d.insert("uid".into(), json!(meta_str(obj, "uid")));
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d})
}

/// DELETE semantics: preconditions, finalizers, propagation policy, namespaces.
pub fn delete(
    state: &mut State,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    opts: &DeleteOptions,
    now: &str,
) -> Result<DeleteOutcome, ApiError> {
    let storage = rt.storage_key();
    let old = state
        .store
        .get(&storage, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.group_resource(), name))?;
    // rest.BeforeDelete checks the preconditions first, naming the Kind (not the resource).
    let by_kind = crate::status::GroupResource::new(&rt.group, &rt.kind);
    if let Some(uid) = &opts.precondition_uid {
        let actual = meta_str(&old, "uid");
        if uid != actual {
            return Err(ApiError::conflict(
                &by_kind,
                name,
                &format!("the UID in the precondition ({uid}) does not match the UID in record ({actual}). The object might have been deleted and then recreated"),
            ));
        }
    }
    if let Some(rv) = &opts.precondition_rv {
        let actual = rv_of(&old);
        if rv != actual {
            return Err(ApiError::conflict(
                &by_kind,
                name,
                &format!("the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({actual}). The object might have been modified"),
            ));
        }
    }
    if storage == NAMESPACE_STORAGE {
        return delete_namespace(state, rt, name, old, opts, now);
    }
    let mut obj = old.clone();
    let mut fins = finalizers(&obj);
    match opts.propagation.as_deref() {
        Some("Foreground") => {
            fins.retain(|f| f != ORPHAN);
            if !fins.iter().any(|f| f == FOREGROUND) {
                fins.push(FOREGROUND.into());
            }
        }
        Some("Orphan") => {
            fins.retain(|f| f != FOREGROUND);
            if !fins.iter().any(|f| f == ORPHAN) {
                fins.push(ORPHAN.into());
            }
        }
        // explicit Background: deletionFinalizersForGarbageCollection removes both
        Some("Background") => fins.retain(|f| f != FOREGROUND && f != ORPHAN),
        _ => {}
    }
    if fins.is_empty() {
        let body = if rt.returns_deleted_object() {
            present(old.clone(), rt)
        } else {
            success_status(rt, &old)
        };
        if !opts.dry_run {
            state.remove(&storage, ns, name);
            if storage == CRD_STORAGE {
                remove_crd_objects(state, &old);
            }
        }
        return Ok(DeleteOutcome { body, deleted: true });
    }
    {
        let m = meta_mut(&mut obj);
        m.insert("finalizers".into(), json!(fins));
        if !m.contains_key("deletionTimestamp") {
            m.insert("deletionTimestamp".into(), json!(now));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            // rest.BeforeDelete → markAsDeleting: generation+1 when generation > 0
            if let Some(g) = m.get("generation").and_then(Value::as_i64).filter(|g| *g > 0) {
                m.insert("generation".into(), json!(g + 1));
            }
        }
    }
    let obj = present(obj, rt);
    if opts.dry_run || obj == present(old, rt) {
        return Ok(DeleteOutcome {
            body: obj,
            deleted: false,
        });
    }
    let stored = state.put(&storage, obj);
    Ok(DeleteOutcome {
        body: stored,
        deleted: false,
    })
}

fn delete_namespace(
    state: &mut State,
    rt: &ResourceType,
    name: &str,
    old: Value,
    opts: &DeleteOptions,
    now: &str,
) -> Result<DeleteOutcome, ApiError> {
    if IMMORTAL_NAMESPACES.contains(&name) {
        return Err(ApiError::forbidden(
            &rt.group_resource(),
            name,
            "this namespace may not be deleted",
        ));
    }
    let spec_fins = old["spec"]["finalizers"].as_array().map(|a| a.len()).unwrap_or(0);
    if is_deleting(&old) && spec_fins > 0 {
        return Err(ApiError::conflict(
            &rt.group_resource(),
            name,
            "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.",
        ));
    }
    if spec_fins == 0 && finalizers(&old).is_empty() {
        if !opts.dry_run {
            state.remove(NAMESPACE_STORAGE, "", name);
        }
        return Ok(DeleteOutcome {
            body: present(old, rt),
            deleted: true,
        });
    }
    let mut obj = old.clone();
    if !is_deleting(&obj) {
        // namespace REST Delete: deletionTimestamp (no deletionGracePeriodSeconds), phase
        // Terminating, and the orphan/foregroundDeletion finalizers per the propagation policy
        // (shouldHaveOrphanFinalizer / shouldHaveDeleteDependentsFinalizer).
        let mut fins = finalizers(&obj);
        let policy = opts.propagation.as_deref();
        let want_orphan = match policy {
            Some(p) => p == "Orphan",
            None => fins.iter().any(|f| f == ORPHAN),
        };
        let want_foreground = match policy {
            Some(p) => p == "Foreground",
            None => fins.iter().any(|f| f == FOREGROUND),
        };
        fins.retain(|f| f != ORPHAN && f != FOREGROUND);
        if want_orphan {
            fins.push(ORPHAN.into());
        }
        if want_foreground {
            fins.push(FOREGROUND.into());
        }
        let m = meta_mut(&mut obj);
        m.insert("deletionTimestamp".into(), json!(now));
        if fins.is_empty() {
            m.remove("finalizers");
        } else {
            m.insert("finalizers".into(), json!(fins));
        }
    }
    obj["status"]["phase"] = json!("Terminating");
    let obj = present(obj, rt);
    if opts.dry_run {
        return Ok(DeleteOutcome {
            body: obj,
            deleted: false,
        });
    }
    let stored = state.put(NAMESPACE_STORAGE, obj);
    Ok(DeleteOutcome {
        body: stored,
        deleted: false,
    })
}

/// Remove every stored object of the resource a CRD defines.
pub fn remove_crd_objects(state: &mut State, crd: &Value) {
    let group = crd["spec"]["group"].as_str().unwrap_or_default();
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
    let storage = format!("{group}/{plural}");
    let keys: Vec<_> = state
        .store
        .list(&storage, None)
        .into_iter()
        .map(|(k, _)| k.clone())
        .collect();
    for k in keys {
        state.remove(&k.0, &k.1, &k.2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn setup() -> (State, Registry) {
        let mut s = State::new();
        let reg = Registry::builtin();
        let nsrt = reg.resolve("", "v1", "namespaces").unwrap();
        create(
            &mut s,
            &nsrt,
            "",
            json!({"metadata": {"name": "ns"}}),
            "2024-01-01T00:00:00Z",
            false,
        )
        .unwrap();
        (s, reg)
    }

    #[test]
    fn create_sets_server_fields_and_validates() {
        let (mut s, reg) = setup();
        let rt = reg.resolve("", "v1", "configmaps").unwrap();
        let o = create(
            &mut s,
            &rt,
            "ns",
            json!({"metadata": {"name": "a", "uid": "client", "deletionTimestamp": "x"}}),
            "now",
            false,
        )
        .unwrap();
        assert_ne!(o["metadata"]["uid"], "client");
        assert!(o["metadata"]["deletionTimestamp"].is_null());
        assert_eq!(o["metadata"]["namespace"], "ns");
        let e = create(&mut s, &rt, "ns", json!({"metadata": {"name": "a"}}), "now", false).unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
        let e = create(&mut s, &rt, "nope", json!({"metadata": {"name": "a"}}), "now", false).unwrap_err();
        assert_eq!(e.message, "namespaces \"nope\" not found");
        let e = create(
            &mut s,
            &rt,
            "ns",
            json!({"metadata": {"name": "Bad_Name"}}),
            "now",
            false,
        )
        .unwrap_err();
        assert_eq!(e.code, 422);
        let g = create(
            &mut s,
            &rt,
            "ns",
            json!({"metadata": {"generateName": "gen-"}}),
            "now",
            false,
        )
        .unwrap();
        assert!(meta_str(&g, "name").starts_with("gen-"));
    }

    #[test]
    fn update_conflict_and_generation() {
        let (mut s, reg) = setup();
        let rt = reg.resolve("apps", "v1", "deployments").unwrap();
        let o = create(
            &mut s,
            &rt,
            "ns",
            json!({"metadata": {"name": "d"}, "spec": {"replicas": 1}}),
            "now",
            false,
        )
        .unwrap();
        assert_eq!(o["metadata"]["generation"], 1);
        let mut stale = o.clone();
        let mut n = o.clone();
        n["spec"]["replicas"] = json!(2);
        let u = update(&mut s, &rt, "ns", "d", n, Part::Main, false, true).unwrap();
        assert_eq!(u["metadata"]["generation"], 2);
        stale["spec"]["replicas"] = json!(3);
        let e = update(&mut s, &rt, "ns", "d", stale, Part::Main, false, true).unwrap_err();
        assert_eq!(e.code, 409);
        assert_eq!(e.message, "Operation cannot be fulfilled on deployments.apps \"d\": the object has been modified; please apply your changes to the latest version and try again");
    }

    #[test]
    fn uid_in_body_is_a_precondition_on_put_and_immutable_on_patch() {
        let (mut s, reg) = setup();
        let rt = reg.resolve("", "v1", "configmaps").unwrap();
        let o = create(&mut s, &rt, "ns", json!({"metadata": {"name": "c"}}), "now", false).unwrap();
        let uid = meta_str(&o, "uid").to_string();
        let mut n = o.clone();
        n["metadata"]["uid"] = json!("other");
        n["data"] = json!({"a": "1"});
        let e = update(&mut s, &rt, "ns", "c", n, Part::Main, false, true).unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
        assert_eq!(e.message, format!("Operation cannot be fulfilled on configmaps \"c\": StorageError: invalid object, Code: 4, Key: /registry/configmaps/ns/c, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: other, UID in object meta: {uid}"));
        for (body, kind) in [
            (&br#"{"metadata":{"uid":"other"}}"#[..], PatchType::Merge),
            (&br#"{"metadata":{"uid":"other"}}"#[..], PatchType::StrategicMerge),
            (
                &br#"[{"op":"replace","path":"/metadata/uid","value":"other"}]"#[..],
                PatchType::Json,
            ),
        ] {
            let e = patch(&mut s, &rt, "ns", "c", body, kind, Part::Main, false).unwrap_err();
            assert_eq!(e.code, 422, "{kind:?}");
            assert_eq!(
                e.message,
                "ConfigMap \"c\" is invalid: metadata.uid: Invalid value: \"other\": field is immutable"
            );
        }
        // resourceVersion in a patch body is an optimistic-concurrency precondition
        let e = patch(
            &mut s,
            &rt,
            "ns",
            "c",
            br#"{"metadata":{"resourceVersion":"1"}}"#,
            PatchType::Merge,
            Part::Main,
            false,
        )
        .unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
        assert_eq!(
            s.store.get("/configmaps", "ns", "c").unwrap()["metadata"]["uid"],
            json!(uid)
        );
    }

    #[test]
    fn delete_with_finalizers_then_release() {
        let (mut s, reg) = setup();
        let rt = reg.resolve("", "v1", "configmaps").unwrap();
        let o = create(
            &mut s,
            &rt,
            "ns",
            json!({"metadata": {"name": "f", "finalizers": ["a/b"]}}),
            "t1",
            false,
        )
        .unwrap();
        let d = delete(&mut s, &rt, "ns", "f", &DeleteOptions::default(), "t2").unwrap();
        assert!(!d.deleted);
        assert_eq!(d.body["metadata"]["deletionTimestamp"], "t2");
        assert_eq!(d.body["metadata"]["deletionGracePeriodSeconds"], 0);
        let d2 = delete(&mut s, &rt, "ns", "f", &DeleteOptions::default(), "t3").unwrap();
        assert_eq!(d2.body["metadata"]["deletionTimestamp"], "t2");
        // adding a finalizer is forbidden now
        let e = patch(
            &mut s,
            &rt,
            "ns",
            "f",
            br#"{"metadata":{"finalizers":["a/b","c/d"]}}"#,
            PatchType::Merge,
            Part::Main,
            false,
        )
        .unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e
            .message
            .contains("no new finalizers can be added if the object is being deleted"));
        // preconditions
        let bad = DeleteOptions {
            precondition_uid: Some("x".into()),
            ..Default::default()
        };
        let e = delete(&mut s, &rt, "ns", "f", &bad, "t4").unwrap_err();
        assert_eq!(e.code, 409);
        assert_eq!(
            e.message,
            format!(
                "Operation cannot be fulfilled on ConfigMap \"f\": the UID in the precondition (x) does not match the UID in record ({}). The object might have been deleted and then recreated",
                meta_str(&o, "uid")
            )
        );
        patch(
            &mut s,
            &rt,
            "ns",
            "f",
            br#"[{"op":"remove","path":"/metadata/finalizers/0"}]"#,
            PatchType::Json,
            Part::Main,
            false,
        )
        .unwrap();
        assert!(s.store.get("/configmaps", "ns", "f").is_none());
        // only a DELETED event, no MODIFIED, for the finalizer removal
        let last = s.store.events_since(0).unwrap();
        let last = last.last().unwrap();
        assert_eq!(last.event, crate::store::EventType::Deleted);
        let prev = &s.store.events_since(0).unwrap()[s.store.events_since(0).unwrap().len() - 2];
        assert!(
            prev.event != crate::store::EventType::Modified
                || is_deleting(&prev.object) && !finalizers(&prev.object).is_empty()
        );
        assert_eq!(finalizers(&last.object), vec!["a/b".to_string()]);
    }

    #[test]
    fn namespace_delete_and_terminating_admission() {
        let (mut s, reg) = setup();
        let nsrt = reg.resolve("", "v1", "namespaces").unwrap();
        let d = delete(&mut s, &nsrt, "", "ns", &DeleteOptions::default(), "t").unwrap();
        assert_eq!(d.body["status"]["phase"], "Terminating");
        assert_eq!(d.body["spec"]["finalizers"], json!(["kubernetes"]));
        let rt = reg.resolve("", "v1", "pods").unwrap();
        let e = create(&mut s, &rt, "ns", json!({"metadata": {"name": "p"}}), "now", false).unwrap_err();
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "pods \"p\" is forbidden: unable to create new content in namespace ns because it is being terminated"
        );
        assert_eq!(e.details.unwrap()["causes"][0]["reason"], "NamespaceTerminating");
        let e = delete(&mut s, &nsrt, "", "default", &DeleteOptions::default(), "t").unwrap_err();
        assert_eq!(e.code, 404); // default does not exist in this bare state
        let e = delete(&mut s, &nsrt, "", "ns", &DeleteOptions::default(), "t").unwrap_err();
        assert_eq!(e.code, 409);
    }

    #[test]
    fn namespace_delete_honours_propagation_without_grace_period() {
        let (mut s, reg) = setup();
        let nsrt = reg.resolve("", "v1", "namespaces").unwrap();
        let fg = DeleteOptions {
            propagation: Some("Foreground".into()),
            ..Default::default()
        };
        let d = delete(&mut s, &nsrt, "", "ns", &fg, "t").unwrap();
        assert_eq!(finalizers(&d.body), vec![FOREGROUND.to_string()]);
        assert!(d.body["metadata"].get("deletionGracePeriodSeconds").is_none());
        assert!(d.body["metadata"].get("generation").is_none());
    }

    #[test]
    fn background_strips_gc_finalizers_and_deletion_bumps_generation() {
        let (mut s, reg) = setup();
        let rt = reg.resolve("apps", "v1", "deployments").unwrap();
        create(
            &mut s,
            &rt,
            "ns",
            json!({"metadata": {"name": "d", "finalizers": ["x.io/keep"]}}),
            "now",
            false,
        )
        .unwrap();
        let orphan = DeleteOptions {
            propagation: Some("Orphan".into()),
            ..Default::default()
        };
        let d = delete(&mut s, &rt, "ns", "d", &orphan, "t").unwrap();
        assert_eq!(finalizers(&d.body), vec!["x.io/keep".to_string(), ORPHAN.to_string()]);
        assert_eq!(d.body["metadata"]["generation"], 2, "markAsDeleting bumps generation");
        let bg = DeleteOptions {
            propagation: Some("Background".into()),
            ..Default::default()
        };
        let d = delete(&mut s, &rt, "ns", "d", &bg, "t2").unwrap();
        assert_eq!(finalizers(&d.body), vec!["x.io/keep".to_string()]);
        assert_eq!(d.body["metadata"]["generation"], 2, "only the first deletion bumps it");
    }

    #[test]
    fn propagation_adds_finalizers() {
        let (mut s, reg) = setup();
        let rt = reg.resolve("apps", "v1", "deployments").unwrap();
        create(&mut s, &rt, "ns", json!({"metadata": {"name": "d"}}), "now", false).unwrap();
        let fg = DeleteOptions {
            propagation: Some("Foreground".into()),
            ..Default::default()
        };
        let d = delete(&mut s, &rt, "ns", "d", &fg, "t").unwrap();
        assert_eq!(finalizers(&d.body), vec![FOREGROUND.to_string()]);
        let dry = DeleteOptions {
            dry_run: true,
            ..Default::default()
        };
        create(&mut s, &rt, "ns", json!({"metadata": {"name": "e"}}), "now", false).unwrap();
        delete(&mut s, &rt, "ns", "e", &dry, "t").unwrap();
        assert!(s.store.get("apps/deployments", "ns", "e").is_some());
    }
}
