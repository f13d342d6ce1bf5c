//! State loading: YAML/JSON documents (multi-document, `kind: List`) injected into storage
//! the way an etcd restore would (status, finalizers, deletionTimestamp and uids kept), with
//! relative-time placeholders such as `{{now-3h}}`.
use crate::error::Error;
use crate::ops;
use crate::state::{State, CRD_STORAGE};
use serde_json::{json, Value};
use std::path::Path;

/// Resolve `{{now}}`, `{{now-3h}}`, `{{now+15m}}` (units s, m, h, d) against `now`.
pub fn resolve_placeholder(s: &str, now: jiff::Timestamp) -> Option<String> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let rest = inner.strip_prefix("now")?.trim();
    if rest.is_empty() {
        return Some(crate::clock::format_time(now));
    }
    let (sign, amount) = match rest.split_at(1) {
        ("-", a) => (-1i64, a.trim()),
        ("+", a) => (1i64, a.trim()),
        _ => return None,
    };
    let (num, unit) = amount.split_at(amount.len().checked_sub(1)?);
    let n: i64 = num.trim().parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return None,
    };
    let t = now.checked_add(jiff::SignedDuration::from_secs(sign * secs)).ok()?;
    Some(crate::clock::format_time(t))
}

fn resolve_all(v: &mut Value, now: jiff::Timestamp) -> Result<(), Error> {
    match v {
        Value::String(s) if s.contains("{{") => {
            *s = resolve_placeholder(s, now)
                .ok_or_else(|| Error::InvalidObject(format!("unknown placeholder {s:?}")))?;
        }
        Value::Array(a) => {
            for x in a {
                resolve_all(x, now)?;
            }
        }
        Value::Object(o) => {
            for (_, x) in o.iter_mut() {
                resolve_all(x, now)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The parser budget for state files: a local file the operator chose, so the size limits meant
/// for untrusted input (1,024 documents, 250,000 nodes, 64 MiB of scalars, 256 MiB of input) are
/// lifted; the nesting depth and the alias limits (alias bombs) stay.
fn state_file_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_reader_input_bytes: None,
            max_documents: usize::MAX,
            max_nodes: usize::MAX,
            max_events: usize::MAX,
            max_total_scalar_bytes: usize::MAX,
        },
    }
}

fn looks_like_json(text: &str) -> bool {
    text.trim_start_matches('\u{feff}').trim_start().starts_with(['{', '['])
}

/// Parse a YAML or JSON text into objects: one JSON document (an object, a `kind: List`, or an
/// array of objects) or a YAML stream of any length (`---`-separated, `kind: List` expanded).
pub fn parse_documents(text: &str, origin: &str) -> Result<Vec<Value>, Error> {
    let parse_error = |message: String| Error::Parse {
        path: origin.to_string(),
        message,
    };
    let docs: Vec<Value> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items,
        Ok(v) => vec![v],
        Err(json_err) => {
            let mut docs = Vec::new();
            let mut reader = text.as_bytes();
            for (i, doc) in serde_saphyr::read_with_options::<_, Value>(&mut reader, state_file_options()).enumerate() {
                match doc {
                    Ok(d) => docs.push(d),
                    // A JSON-looking file that is not YAML either: the JSON error (line and
                    // column) is the one that helps.
                    Err(e) if i == 0 && looks_like_json(text) => {
                        return Err(parse_error(format!("invalid JSON: {json_err} (as YAML: {e})")))
                    }
                    Err(e) => return Err(parse_error(format!("YAML document {}: {e}", i + 1))),
                }
            }
            docs
        }
    };
    let mut out = Vec::with_capacity(docs.len());
    for mut d in docs {
        if d.is_null() {
            continue;
        }
        if d["kind"].as_str().is_some_and(|k| k == "List" || k.ends_with("List")) && d["items"].is_array() {
            if let Some(Value::Array(items)) = d.get_mut("items").map(Value::take) {
                out.extend(items);
            }
        } else {
            out.push(d);
        }
    }
    Ok(out)
}

/// Read a file, or every *.yaml/*.yml/*.json file in a directory (sorted by name).
pub fn read_path(path: &Path) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
            })
            .collect();
        entries.sort();
        for p in entries {
            out.extend(read_path(&p)?);
        }
    } else {
        let text = std::fs::read_to_string(path)?;
        out.extend(parse_documents(&text, &path.display().to_string())?);
    }
    Ok(out)
}

/// Inject objects as stored state. CRDs first, then namespaces, then everything else.
pub fn inject(state: &mut State, mut objects: Vec<Value>, now: jiff::Timestamp) -> Result<(), Error> {
    let rank = |o: &Value| match o["kind"].as_str() {
        Some("CustomResourceDefinition") => 0,
        Some("Namespace") => 1,
        _ => 2,
    };
    objects.sort_by_key(rank);
    let now_s = crate::clock::format_time(now);
    for mut obj in objects {
        resolve_all(&mut obj, now)?;
        let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = obj["kind"].as_str().unwrap_or_default().to_string();
        let rt = state
            .registry
            .map_kind(&api_version, &kind)
            .filter(|t| t.kind == kind)
            .ok_or_else(|| Error::InvalidObject(format!("no resource for {api_version}/{kind}")))?;
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(Error::InvalidObject(format!("{kind} without metadata.name")));
        }
        let meta = obj["metadata"]
            .as_object_mut()
            .ok_or_else(|| Error::InvalidObject("metadata is not an object".into()))?;
        if rt.namespaced {
            if !meta.contains_key("namespace") {
                meta.insert("namespace".into(), json!("default"));
            }
        } else {
            meta.remove("namespace");
        }
        if !meta.contains_key("uid") {
            meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        }
        if !meta.contains_key("creationTimestamp") {
            meta.insert("creationTimestamp".into(), json!(now_s));
        }
        if rt.has_generation() && !meta.contains_key("generation") {
            meta.insert("generation".into(), json!(1));
        }
        // namespaces are never given a deletionGracePeriodSeconds by their REST Delete
        if meta.contains_key("deletionTimestamp")
            && !meta.contains_key("deletionGracePeriodSeconds")
            && rt.storage_key() != crate::state::NAMESPACE_STORAGE
        {
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
        }
        if rt.storage_key() == CRD_STORAGE && obj["status"].is_null() {
            let mut tmp = obj.clone();
            if let Some(m) = tmp["metadata"].as_object_mut() {
                m.remove("finalizers");
            }
            // reuse create-time defaults for status/finalizer
            let mut scratch = State::new();
            let crt = scratch
                .registry
                .resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")
                .expect("builtin CRD resource");
            if let Ok(created) = ops::create(&mut scratch, &crt, "", tmp, &now_s, true) {
                obj["status"] = created["status"].clone();
                let mut fins = ops::finalizers(&obj);
                if !fins.iter().any(|f| f == ops::CRD_CLEANUP_FINALIZER) {
                    fins.push(ops::CRD_CLEANUP_FINALIZER.into());
                }
                obj["metadata"]["finalizers"] = json!(fins);
            }
        }
        let obj = ops::present(obj, &rt);
        state.put(&rt.storage_key(), obj);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        let now: jiff::Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        assert_eq!(resolve_placeholder("{{now}}", now).unwrap(), "2024-05-01T12:00:00Z");
        assert_eq!(resolve_placeholder("{{now-3h}}", now).unwrap(), "2024-05-01T09:00:00Z");
        assert_eq!(
            resolve_placeholder("{{ now-2d }}", now).unwrap(),
            "2024-04-29T12:00:00Z"
        );
        assert_eq!(resolve_placeholder("{{now+15m}}", now).unwrap(), "2024-05-01T12:15:00Z");
        assert!(resolve_placeholder("{{later}}", now).is_none());
    }

    #[test]
    fn lists_and_multidoc() {
        let docs = parse_documents("a: 1\n---\nkind: List\nitems:\n- b: 2\n- c: 3\n", "t").unwrap();
        assert_eq!(docs.len(), 3);
        let docs = parse_documents(r#"{"kind":"List","items":[{"x":1}]}"#, "t").unwrap();
        assert_eq!(docs.len(), 1);
    }

    #[test]
    fn long_yaml_streams_and_json_lists() {
        let n = 3000;
        let stream: String = (0..n)
            .map(|i| format!("---\nkind: ConfigMap\nmetadata:\n  name: c{i}\n"))
            .collect();
        assert_eq!(parse_documents(&stream, "t").unwrap().len(), n);
        let list = json!({"kind": "List", "items": (0..n).map(|i| json!({"kind": "ConfigMap", "metadata": {"name": format!("c{i}")}})).collect::<Vec<_>>()});
        assert_eq!(parse_documents(&list.to_string(), "t").unwrap().len(), n);
        let yaml_list = format!(
            "kind: List\nitems:\n{}",
            (0..n)
                .map(|i| format!("- kind: ConfigMap\n  metadata: {{name: c{i}}}\n"))
                .collect::<String>()
        );
        assert_eq!(parse_documents(&yaml_list, "t").unwrap().len(), n);
    }

    #[test]
    fn parse_errors_name_the_file_and_the_place() {
        let e = parse_documents("{\"kind\": \"List\", \"items\": [}", "big.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("big.json") && e.contains("invalid JSON") && e.contains("column"),
            "{e}"
        );
        let e = parse_documents("a: 1\n---\nb: [1\n", "s.yaml").unwrap_err().to_string();
        assert!(e.contains("s.yaml") && e.contains("YAML document 2"), "{e}");
    }

    #[test]
    fn inject_keeps_given_fields() {
        let mut s = State::new();
        let now: jiff::Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let objs = parse_documents(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n  uid: fixed\n  deletionTimestamp: '{{now-3h}}'\nstatus:\n  phase: Terminating\n",
            "t",
        )
        .unwrap();
        inject(&mut s, objs, now).unwrap();
        let ns = s.store.get("/namespaces", "", "x").unwrap();
        assert_eq!(ns["metadata"]["uid"], "fixed");
        assert_eq!(ns["metadata"]["deletionTimestamp"], "2024-05-01T09:00:00Z");
        assert_eq!(ns["status"]["phase"], "Terminating");
        assert!(ns["metadata"]["resourceVersion"].is_string());
    }
}
