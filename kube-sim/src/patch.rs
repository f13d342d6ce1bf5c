//! PATCH bodies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902, incl. `test`).
use crate::status::ApiError;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    /// Strategic merge patch (`smp.rs`) for built-in types; 415 for custom resources.
    StrategicMerge,
    /// Server-side apply: not supported (415).
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// Apply a patch for a resource type: strategic merge patch is real SMP for built-in kinds
/// (custom resources are refused with 415 before this is called).
pub fn apply_for(
    doc: &Value,
    body: &[u8],
    kind: PatchType,
    rt: &crate::registry::ResourceType,
) -> Result<Value, ApiError> {
    if kind != PatchType::StrategicMerge {
        return apply(doc, body, kind);
    }
    let p: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    if !p.is_object() {
        return Err(ApiError::bad_request(
            "json: cannot unmarshal array into Go value of type map[string]interface {}",
        ));
    }
    let b = crate::schemas::builtin();
    let def = b.kind(&rt.group, &rt.version, &rt.kind).map(|k| k.name.as_str());
    crate::smp::apply(doc, &p, def, b).map_err(|e| match e {
        crate::smp::SmpError::BadRequest(m) => ApiError::bad_request(m),
        crate::smp::SmpError::Unprocessable(_) => ApiError::generic_unprocessable(),
        crate::smp::SmpError::Other(m) => ApiError::unknown(&m),
    })
}

/// Apply a patch body to `doc`, with the apiserver's error mapping:
/// undecodable body → 400 BadRequest; failed operation (e.g. `test`) → 422 Invalid.
pub fn apply(doc: &Value, body: &[u8], kind: PatchType) -> Result<Value, ApiError> {
    let mut out = doc.clone();
    match kind {
        PatchType::Merge | PatchType::StrategicMerge => {
            let p: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            if !p.is_object() {
                return Err(ApiError::bad_request(
                    "json: cannot unmarshal array into Go value of type map[string]interface {}",
                ));
            }
            json_patch::merge(&mut out, &p);
        }
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            json_patch::patch(&mut out, &p).map_err(|_| ApiError::generic_unprocessable())?;
        }
        PatchType::Apply => unreachable!("apply patches are rejected before apply()"),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_sets_and_deletes() {
        let doc = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x"]}});
        let out = apply(
            &doc,
            br#"{"metadata":{"labels":{"a":null,"c":"3"},"finalizers":null}}"#,
            PatchType::Merge,
        )
        .unwrap();
        assert_eq!(out, json!({"metadata": {"labels": {"b": "2", "c": "3"}}}));
    }

    #[test]
    fn json_patch_test_op() {
        let doc = json!({"metadata": {"finalizers": ["adapter.model.aibrix.ai/finalizer"]}});
        let ok = apply(
            &doc,
            br#"[{"op":"test","path":"/metadata/finalizers/0","value":"adapter.model.aibrix.ai/finalizer"},{"op":"remove","path":"/metadata/finalizers/0"}]"#,
            PatchType::Json,
        )
        .unwrap();
        assert_eq!(ok, json!({"metadata": {"finalizers": []}}));
        let err = apply(
            &doc,
            br#"[{"op":"test","path":"/metadata/finalizers/0","value":"other"},{"op":"remove","path":"/metadata/finalizers/0"}]"#,
            PatchType::Json,
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(err.reason, "Invalid");
        assert_eq!(
            err.message,
            "the server rejected our request due to an error in our request"
        );
        // NewGenericServerResponse(..., isUnexpectedResponse=false): no causes
        assert_eq!(err.details.unwrap(), serde_json::json!({}));
        let bad = apply(&doc, b"{not json", PatchType::Json).unwrap_err();
        assert_eq!(bad.code, 400);
    }
}
