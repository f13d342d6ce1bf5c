//! What a list keeps of each object, and how one list item becomes that. Pure: no I/O.
//!
//! A round may read hundreds of thousands of objects, and every one of them is needed until the
//! round's classifiers have run (an owner index, the content of a stuck namespace). So an object
//! is kept in a compact form: its namespace shared between all objects of the round, short
//! strings inline, a canonical uid in 16 bytes, and everything most objects do not have
//! (finalizers, a deletion timestamp, owner references, a kept body) behind one optional box.
//! Items are parsed straight from the page's bytes; only an item the fast parse rejects is parsed
//! again as a JSON tree, for the same tolerant reading and the same error message as before.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use compact_str::CompactString;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use serde::Deserialize;

/// An object's uid: 16 bytes when it is a UUID written the way the API server writes them
/// (lower-case, hyphenated), else its text. Compares and prints as the text it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Uid {
    Uuid(uuid::Uuid),
    Text(CompactString),
}

impl Uid {
    pub fn parse(text: &str) -> Uid {
        if let Ok(uuid) = uuid::Uuid::try_parse(text) {
            let mut canonical = [0u8; uuid::fmt::Hyphenated::LENGTH];
            if uuid.hyphenated().encode_lower(&mut canonical).as_bytes() == text.as_bytes() {
                return Uid::Uuid(uuid);
            }
        }
        Uid::Text(CompactString::from(text))
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Uid::Text(t) if t.is_empty())
    }
}

impl Default for Uid {
    fn default() -> Self {
        Uid::Text(CompactString::default())
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uid::Uuid(u) => write!(f, "{}", u.hyphenated()),
            Uid::Text(t) => f.write_str(t),
        }
    }
}

impl PartialEq<str> for Uid {
    fn eq(&self, other: &str) -> bool {
        match self {
            Uid::Uuid(_) => *self == Uid::parse(other),
            Uid::Text(t) => t == other,
        }
    }
}

/// The namespaces of one round, each held once however many objects live in it.
#[derive(Debug, Default)]
pub struct Namespaces(Mutex<HashSet<Arc<str>>>);

impl Namespaces {
    pub fn intern(&self, namespace: &str) -> Arc<str> {
        let mut set = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = set.get(namespace) {
            return held.clone();
        }
        let held: Arc<str> = Arc::from(namespace);
        set.insert(held.clone());
        held
    }
}

/// An owner reference as listed, compact. Read through [`OwnerReference`]'s own deserialiser, so
/// what parses (and what defaults) is exactly what Kubernetes' type accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerRef {
    pub api_version: CompactString,
    pub kind: CompactString,
    pub name: CompactString,
    pub uid: Uid,
    pub controller: Option<bool>,
    pub block_owner_deletion: Option<bool>,
}

impl From<OwnerReference> for OwnerRef {
    fn from(r: OwnerReference) -> Self {
        OwnerRef {
            api_version: r.api_version.into(),
            kind: r.kind.into(),
            name: r.name.into(),
            uid: Uid::parse(&r.uid),
            controller: r.controller,
            block_owner_deletion: r.block_owner_deletion,
        }
    }
}

impl From<&OwnerRef> for OwnerReference {
    fn from(r: &OwnerRef) -> Self {
        OwnerReference {
            api_version: r.api_version.to_string(),
            kind: r.kind.to_string(),
            name: r.name.to_string(),
            uid: r.uid.to_string(),
            controller: r.controller,
            block_owner_deletion: r.block_owner_deletion,
        }
    }
}

/// An HPA's `spec.scaleTargetRef` as listed (fields that are not strings read as empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScaleTargetRef {
    pub api_version: CompactString,
    pub kind: CompactString,
    pub name: CompactString,
}

/// What of a full list item's body is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Nothing: a metadata-only list.
    Metadata,
    /// An HPA's `spec.scaleTargetRef` (its metrics and status are never read).
    ScaleTarget,
    /// The whole body (APIServices: their status conditions).
    Whole,
    /// The whole body of an object being deleted, nothing of the others (Namespaces: only a
    /// Terminating namespace's spec and status conditions are read).
    WholeWhileDeleting,
}

/// The kept body of an object.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Body {
    #[default]
    None,
    ScaleTarget(ScaleTargetRef),
    Json(serde_json::Value),
}

/// What most objects do not have, held only by those that do.
#[derive(Debug, Clone, Default, PartialEq)]
struct Detail {
    finalizers: Vec<String>,
    deletion_timestamp: Option<Timestamp>,
    owner_references: Vec<OwnerRef>,
    body: Body,
}

/// One listed object, as the round keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedObject {
    /// `""` for cluster-scoped objects; shared between the round's objects of one namespace.
    pub namespace: Arc<str>,
    pub name: CompactString,
    pub uid: Uid,
    pub resource_version: CompactString,
    pub creation_timestamp: Option<Timestamp>,
    detail: Option<Box<Detail>>,
}

impl ListedObject {
    pub fn finalizers(&self) -> &[String] {
        self.detail.as_ref().map_or(&[], |d| &d.finalizers)
    }

    pub fn deletion_timestamp(&self) -> Option<Timestamp> {
        self.detail.as_ref().and_then(|d| d.deletion_timestamp)
    }

    pub fn owner_references(&self) -> &[OwnerRef] {
        self.detail.as_ref().map_or(&[], |d| &d.owner_references)
    }

    pub fn body(&self) -> &Body {
        static NONE: Body = Body::None;
        self.detail.as_ref().map_or(&NONE, |d| &d.body)
    }

    /// The kept JSON body, if one was kept.
    pub fn json(&self) -> Option<&serde_json::Value> {
        match self.body() {
            Body::Json(v) => Some(v),
            _ => None,
        }
    }

    /// The kept scale target, if one was kept.
    pub fn scale_target(&self) -> Option<&ScaleTargetRef> {
        match self.body() {
            Body::ScaleTarget(t) => Some(t),
            _ => None,
        }
    }

    /// Builds the kept form from parsed metadata. Fails when the name is empty.
    pub fn new(meta: SlimMeta, body: Body, namespaces: &Namespaces) -> Result<ListedObject, String> {
        let name = meta.name.unwrap_or_default();
        if name.is_empty() {
            return Err("metadata.name is empty".to_string());
        }
        let detail = Detail {
            finalizers: meta.finalizers.unwrap_or_default(),
            deletion_timestamp: meta.deletion_timestamp.map(|t| t.0),
            owner_references: meta
                .owner_references
                .unwrap_or_default()
                .into_iter()
                .map(OwnerRef::from)
                .collect(),
            body,
        };
        Ok(ListedObject {
            namespace: namespaces.intern(meta.namespace.as_deref().unwrap_or_default()),
            name: name.into(),
            uid: Uid::parse(meta.uid.as_deref().unwrap_or_default()),
            resource_version: meta.resource_version.unwrap_or_default().into(),
            creation_timestamp: meta.creation_timestamp.map(|t| t.0),
            detail: (detail != Detail::default()).then(|| Box::new(detail)),
        })
    }
}

/// The part of an object's metadata the audit uses, deserialised straight from a list item:
/// labels, annotations and `managedFields` (often kilobytes per object on a real server) are
/// never held. Field names and types match `ObjectMeta`'s.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimMeta {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub owner_references: Option<Vec<OwnerReference>>,
    pub finalizers: Option<Vec<String>>,
    pub deletion_timestamp: Option<Time>,
    pub creation_timestamp: Option<Time>,
}

/// The result of listing one resource type: the objects that parsed, and the ones that did not.
#[derive(Debug, Clone, Default)]
pub struct ListResult {
    pub objects: Vec<ListedObject>,
    /// The items that could not be parsed (kept out of `objects`, never fatal).
    pub malformed: Vec<MalformedItem>,
    /// The type is no longer served (`404` on its list although discovery listed it, e.g. a CRD
    /// deleted since): it has no objects this round.
    pub vanished: bool,
}

/// A list item that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedItem {
    /// Why, naming the item as far as it can be read: a scan issue.
    pub message: String,
    /// `(namespace, name)` when its metadata says that much (namespace `""`: cluster-scoped), so
    /// that what the previous scan found about it is carried over instead of disappearing.
    pub key: Option<(String, String)>,
}

impl MalformedItem {
    /// Whether the item may be in a namespace `wanted` accepts: it says it is, or does not say
    /// where it is.
    pub fn may_be_in(&self, wanted: impl Fn(&str) -> bool) -> bool {
        self.key.as_ref().is_none_or(|(namespace, _)| wanted(namespace))
    }
}

/// The fast reading of an item: its metadata and, for HPAs, its spec.
#[derive(Deserialize)]
struct FastItem {
    metadata: SlimMeta,
    #[serde(default)]
    spec: Option<serde_json::Value>,
}

/// The fast reading of a metadata-only item (the body is skipped, not built).
#[derive(Deserialize)]
struct FastMeta {
    metadata: SlimMeta,
}

/// Reads one list item (its raw JSON text) into the kept form. An item the fast typed reading
/// rejects is read again as a JSON tree, so a malformed item gets the tolerant reading and the
/// message [`parse_value`] gives.
pub fn parse_item(raw: &str, keep: Keep, namespaces: &Namespaces) -> Result<ListedObject, String> {
    let fast = match keep {
        Keep::Metadata => serde_json::from_str::<FastMeta>(raw).map(|i| (i.metadata, Body::None)),
        Keep::ScaleTarget => serde_json::from_str::<FastItem>(raw).map(|i| {
            let target = i.spec.as_ref().and_then(|spec| spec.get("scaleTargetRef"));
            (i.metadata, Body::ScaleTarget(scale_target(target)))
        }),
        Keep::Whole | Keep::WholeWhileDeleting => Err(serde::de::Error::custom("read as a tree")),
    };
    match fast {
        Ok((meta, body)) => ListedObject::new(meta, body, namespaces),
        Err(_) => {
            let value: serde_json::Value = serde_json::from_str(raw).map_err(|e| format!("not JSON: {e}"))?;
            parse_value(value, keep, namespaces)
        }
    }
}

/// Reads one list item already parsed as a JSON tree; tolerant of everything but its metadata.
pub fn parse_value(item: serde_json::Value, keep: Keep, namespaces: &Namespaces) -> Result<ListedObject, String> {
    let meta = item.get("metadata").ok_or_else(|| "no metadata".to_string())?;
    let meta = SlimMeta::deserialize(meta).map_err(|e| format!("malformed metadata: {e}"))?;
    let body = match keep {
        Keep::Metadata => Body::None,
        Keep::ScaleTarget => Body::ScaleTarget(scale_target(item.pointer("/spec/scaleTargetRef"))),
        Keep::Whole => Body::Json(item),
        Keep::WholeWhileDeleting if meta.deletion_timestamp.is_some() => Body::Json(item),
        Keep::WholeWhileDeleting => Body::None,
    };
    ListedObject::new(meta, body, namespaces)
}

/// An HPA's `spec.scaleTargetRef`: fields that are missing or not strings read as empty (so an
/// HPA without a readable target is judged, not skipped).
fn scale_target(target: Option<&serde_json::Value>) -> ScaleTargetRef {
    let field = |k: &str| {
        CompactString::from(
            target
                .and_then(|t| t.get(k))
                .and_then(|v| v.as_str())
                .unwrap_or_default(),
        )
    };
    ScaleTargetRef {
        api_version: field("apiVersion"),
        kind: field("kind"),
        name: field("name"),
    }
}

/// A raw list item that could not be read, as a [`MalformedItem`]: `what` (e.g. "/api/v1/pods:
/// item 3") and the error, then ` (namespace/name)` as far as the item says. An item of a
/// `namespaced` type that names no namespace does not say where it is (no key).
pub fn malformed_item(raw: &str, what: &str, error: &str, namespaced: bool) -> MalformedItem {
    #[derive(Deserialize)]
    struct Named {
        metadata: NamedMeta,
    }
    #[derive(Deserialize)]
    struct NamedMeta {
        #[serde(default)]
        name: Option<serde_json::Value>,
        #[serde(default)]
        namespace: Option<serde_json::Value>,
    }
    let (namespace, name) = match serde_json::from_str::<Named>(raw) {
        Ok(item) => (item.metadata.namespace, item.metadata.name),
        Err(_) => (None, None),
    };
    fn text(v: &Option<serde_json::Value>) -> Option<&str> {
        v.as_ref().and_then(|v| v.as_str())
    }
    let short = |s: &str| s.chars().take(253).collect::<String>();
    let named = match (text(&namespace), text(&name)) {
        (Some(ns), Some(name)) if !ns.is_empty() => format!(" ({}/{})", short(ns), short(name)),
        (_, Some(name)) => format!(" ({})", short(name)),
        _ => String::new(),
    };
    // Only a name and a namespace that are strings (or no namespace) identify the object.
    let key = match (&namespace, text(&name)) {
        (None, Some(name)) if !namespaced => Some((String::new(), name.to_string())),
        (Some(ns), Some(name)) => ns
            .as_str()
            .filter(|ns| !(namespaced && ns.is_empty()))
            .map(|ns| (ns.to_string(), name.to_string())),
        _ => None,
    };
    MalformedItem {
        message: format!("{what}{named}: {error}"),
        key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "6d3c8a52-2b1e-4a8e-9f0b-1c2d3e4f5a6b";

    fn ns() -> Namespaces {
        Namespaces::default()
    }

    #[test]
    fn canonical_uids_are_held_in_sixteen_bytes_and_print_as_read() {
        let uid = Uid::parse(UID);
        assert!(matches!(uid, Uid::Uuid(_)));
        assert_eq!(uid.to_string(), UID);
        assert!(uid == *UID);
        for other in ["", "pa-1", &UID.to_uppercase(), &UID.replace('-', "")] {
            let uid = Uid::parse(other);
            assert!(matches!(uid, Uid::Text(_)), "{other}");
            assert_eq!(uid.to_string(), other);
            assert!(uid == *other);
        }
        assert!(Uid::parse(UID) != *UID.to_uppercase());
    }

    #[test]
    fn namespaces_are_shared() {
        let n = ns();
        assert!(Arc::ptr_eq(&n.intern("llm"), &n.intern("llm")));
        assert!(!Arc::ptr_eq(&n.intern("llm"), &n.intern("web")));
    }

    #[test]
    fn an_item_keeps_what_the_audit_reads_and_nothing_else() {
        let raw = format!(
            r#"{{"kind":"HorizontalPodAutoscaler","metadata":{{"name":"web","namespace":"llm","uid":"{UID}","resourceVersion":"42",
            "labels":{{"a":"b"}},"managedFields":[{{"manager":"x"}}],"creationTimestamp":"2026-01-01T00:00:00Z",
            "ownerReferences":[{{"apiVersion":"autoscaling.aibrix.ai/v1alpha1","kind":"PodAutoScaler","name":"pa","uid":"pa-1","controller":true}}]}},
            "spec":{{"scaleTargetRef":{{"apiVersion":"apps/v1","kind":"Deployment","name":"web"}},"metrics":[]}},"status":{{}}}}"#
        );
        let o = parse_item(&raw, Keep::ScaleTarget, &ns()).unwrap();
        assert_eq!(
            (&*o.namespace, o.name.as_str(), o.resource_version.as_str()),
            ("llm", "web", "42")
        );
        assert_eq!(o.uid.to_string(), UID);
        assert_eq!(o.owner_references().len(), 1);
        assert_eq!(o.owner_references()[0].kind, "PodAutoScaler");
        assert!(o.owner_references()[0].uid == *"pa-1");
        assert_eq!(o.scale_target().map(|t| t.name.as_str()), Some("web"));
        assert!(o.finalizers().is_empty() && o.deletion_timestamp().is_none());
        // The metadata-only reading of the same item keeps no body.
        let m = parse_item(&raw, Keep::Metadata, &ns()).unwrap();
        assert_eq!(m.body(), &Body::None);
        assert_eq!(m.owner_references(), o.owner_references());
    }

    #[test]
    fn objects_without_finalizers_deletion_or_owners_hold_no_detail() {
        let o = parse_item(r#"{"metadata":{"name":"a","namespace":"x"}}"#, Keep::Metadata, &ns()).unwrap();
        assert!(o.detail.is_none());
    }

    #[test]
    fn the_fast_and_the_tolerant_reading_agree() {
        let items = [
            r#"{"metadata":{"name":"a","finalizers":["x/y"],"deletionTimestamp":"2026-01-01T00:00:00Z"}}"#,
            r#"{"metadata":{"name":"a"},"spec":{"scaleTargetRef":{"kind":5,"name":"t"}}}"#,
            r#"{"metadata":{"name":"a"},"spec":7}"#,
            r#"{"metadata":{"name":"a"},"spec":{"scaleTargetRef":"web"}}"#,
            r#"{"metadata":{"name":"a","ownerReferences":[{"kind":"K"}]}}"#,
        ];
        for raw in items {
            for keep in [Keep::Metadata, Keep::ScaleTarget] {
                let fast = parse_item(raw, keep, &ns());
                let tree = parse_value(serde_json::from_str(raw).unwrap(), keep, &ns());
                assert_eq!(fast, tree, "{raw} {keep:?}");
            }
        }
    }

    #[test]
    fn malformed_items_get_the_tolerant_readings_message() {
        let e = parse_item(r#"{"metadata":{"name":"a","finalizers":"x"}}"#, Keep::Metadata, &ns()).unwrap_err();
        assert!(e.starts_with("malformed metadata: "), "{e}");
        assert_eq!(
            parse_item(r#"{"kind":"X"}"#, Keep::Metadata, &ns()).unwrap_err(),
            "no metadata"
        );
        assert_eq!(
            parse_item(r#"{"metadata":{"name":""}}"#, Keep::Metadata, &ns()).unwrap_err(),
            "metadata.name is empty"
        );
    }

    #[test]
    fn namespaces_keep_their_body_only_while_terminating() {
        let active = r#"{"metadata":{"name":"a"},"status":{"phase":"Active"}}"#;
        let deleting =
            r#"{"metadata":{"name":"b","deletionTimestamp":"2026-01-01T00:00:00Z"},"status":{"phase":"Terminating"}}"#;
        assert!(parse_item(active, Keep::WholeWhileDeleting, &ns())
            .unwrap()
            .json()
            .is_none());
        assert!(parse_item(deleting, Keep::WholeWhileDeleting, &ns())
            .unwrap()
            .json()
            .is_some());
        assert!(parse_item(active, Keep::Whole, &ns()).unwrap().json().is_some());
    }

    #[test]
    fn items_are_named_in_messages_as_far_as_they_can_be_read() {
        let item = |raw: &str| malformed_item(raw, "pods: item 0", "bad", false);
        let named = item(r#"{"metadata":{"name":"a","namespace":"x"}}"#);
        assert_eq!(named.message, "pods: item 0 (x/a): bad");
        assert_eq!(named.key, Some(("x".into(), "a".into())));
        let cluster_scoped = item(r#"{"metadata":{"name":"a"}}"#);
        assert_eq!(cluster_scoped.message, "pods: item 0 (a): bad");
        assert_eq!(cluster_scoped.key, Some((String::new(), "a".into())));
        // A namespace that is not a string names the item but does not identify it.
        let odd_namespace = item(r#"{"metadata":{"name":"a","namespace":7}}"#);
        assert_eq!(
            (odd_namespace.message.as_str(), odd_namespace.key),
            ("pods: item 0 (a): bad", None)
        );
        assert_eq!(
            item(r#"{"metadata":{"name":5}}"#),
            MalformedItem {
                message: "pods: item 0: bad".into(),
                key: None
            }
        );
        assert_eq!(item("[1]").key, None);
        // Of a namespaced type, an item without a namespace does not say where it is.
        let nowhere = malformed_item(r#"{"metadata":{"name":"a"}}"#, "pods: item 0", "bad", true);
        assert_eq!(nowhere.key, None);
    }
}
