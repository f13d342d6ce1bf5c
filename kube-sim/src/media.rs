//! Content negotiation: Accept parsing, metadata-only (PartialObjectMetadata) rendering.
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    Full,
    /// `as=PartialObjectMetadata` / `as=PartialObjectMetadataList` (meta.k8s.io/v1)
    Metadata,
    /// `as=Table;g=meta.k8s.io;v=v1|v1beta1`: the Table's apiVersion.
    Table(&'static str),
}

/// Pick the first Accept entry we can serve; None means 406.
pub fn negotiate(accept: Option<&str>) -> Option<Rendering> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Rendering::Full);
    };
    for entry in accept.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let base = parts.next().unwrap_or("");
        let mut as_ = None;
        let mut g = None;
        let mut v = None;
        for p in parts {
            if let Some((k, val)) = p.split_once('=') {
                match k.trim() {
                    "as" => as_ = Some(val.trim().to_string()),
                    "g" => g = Some(val.trim().to_string()),
                    "v" => v = Some(val.trim().to_string()),
                    _ => {}
                }
            }
        }
        if !matches!(base, "application/json" | "*/*" | "application/*") {
            continue;
        }
        match (as_.as_deref(), g.as_deref()) {
            (None, _) => return Some(Rendering::Full),
            (Some("PartialObjectMetadata") | Some("PartialObjectMetadataList"), Some("meta.k8s.io")) => {
                return Some(Rendering::Metadata)
            }
            (Some("Table"), Some("meta.k8s.io")) => match v.as_deref() {
                Some("v1") => return Some(Rendering::Table("meta.k8s.io/v1")),
                Some("v1beta1") => return Some(Rendering::Table("meta.k8s.io/v1beta1")),
                _ => continue,
            },
            _ => continue, // unknown targets: fall through to the next entry
        }
    }
    None
}

pub fn partial(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(None), Some(Rendering::Full));
        assert_eq!(
            negotiate(Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")),
            Some(Rendering::Table("meta.k8s.io/v1"))
        );
        assert_eq!(
            negotiate(Some(
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
            )),
            Some(Rendering::Table("meta.k8s.io/v1beta1"))
        );
        assert_eq!(
            negotiate(Some("application/json;as=Table;v=v9;g=meta.k8s.io,application/json")),
            Some(Rendering::Full)
        );
        assert_eq!(
            negotiate(Some("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")),
            Some(Rendering::Metadata)
        );
        assert_eq!(negotiate(Some("application/json;as=Table;v=v2;g=meta.k8s.io")), None);
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf, */*")),
            Some(Rendering::Full)
        );
    }
}
