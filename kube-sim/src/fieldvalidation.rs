//! Server-side field validation (`fieldValidation=Strict|Warn|Ignore`): unknown fields are
//! found by walking the object along its OpenAPI schema; they fail the request (Strict), are
//! reported in `Warning` headers (Warn, the default) and are dropped from what is stored.
use crate::schemas::{Builtin, OBJECT_META, REF_PREFIX};
use crate::status::ApiError;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    Ignore,
    Warn,
    Strict,
}

impl Directive {
    /// The `fieldValidation` query parameter; absent means Warn.
    pub fn parse(v: Option<&str>) -> Result<Directive, ApiError> {
        match v.unwrap_or("") {
            "" | "Warn" => Ok(Directive::Warn),
            "Strict" => Ok(Directive::Strict),
            "Ignore" => Ok(Directive::Ignore),
            other => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

/// The schema an object is validated against.
pub enum ObjectSchema<'a> {
    /// A built-in kind's definition name.
    Builtin(&'a str),
    /// A custom resource's `openAPIV3Schema` (structural; pruning semantics).
    Custom(Value),
    /// No schema known: everything is accepted.
    None,
}

struct Walker<'a> {
    builtin: &'a Builtin,
    /// Structural-schema semantics (CRDs): an object schema without properties keeps nothing.
    structural: bool,
    found: Vec<String>,
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Walker<'_> {
    /// Walk `v` along `schema`, pruning unknown fields in place and recording their paths.
    fn walk(&mut self, v: &mut Value, schema: &Value, path: &str) {
        let builtin = self.builtin;
        let schema = builtin.resolve(schema);
        if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true))
            && schema.get("properties").is_none()
        {
            return;
        }
        match v {
            Value::Object(map) => {
                let props = schema.get("properties").and_then(Value::as_object);
                let additional = schema.get("additionalProperties").filter(|a| a.is_object());
                let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
                if props.is_none() && additional.is_none() && !self.structural {
                    return; // free-form object (RawExtension, JSON, ...)
                }
                let keys: Vec<String> = map.keys().cloned().collect();
                for k in keys {
                    let p = child(path, &k);
                    let sub = props.and_then(|ps| ps.get(&k)).or(additional).cloned();
                    match sub {
                        Some(sub) => {
                            if let Some(val) = map.get_mut(&k) {
                                self.walk(val, &sub, &p);
                            }
                        }
                        None if preserve || k.starts_with('$') => {} // `$patch`, `$setElementOrder/...`
                        None => {
                            self.found.push(p);
                            map.remove(&k);
                        }
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items").cloned() {
                    for (i, item) in items.iter_mut().enumerate() {
                        self.walk(item, &item_schema, &format!("{path}[{i}]"));
                    }
                }
            }
            _ => {}
        }
    }
}

/// Find (and remove) unknown fields of `obj`. Returns their paths, e.g. `spec.foo`,
/// `spec.template.spec.containers[0].bogus`.
pub fn prune_unknown(obj: &mut Value, schema: &ObjectSchema, builtin: &Builtin) -> Vec<String> {
    match schema {
        ObjectSchema::None => vec![],
        ObjectSchema::Builtin(name) => {
            let Some(def) = builtin.defs.get(*name) else {
                return vec![];
            };
            let mut w = Walker {
                builtin,
                structural: false,
                found: vec![],
            };
            w.walk(obj, def, "");
            w.found
        }
        ObjectSchema::Custom(root) => {
            let mut root = root.clone();
            // apiVersion, kind and metadata are always known; metadata is an ObjectMeta.
            if let Some(props) = root
                .as_object_mut()
                .map(|r| r.entry("properties").or_insert_with(|| json!({})))
                .and_then(Value::as_object_mut)
            {
                props.insert("apiVersion".into(), json!({"type": "string"}));
                props.insert("kind".into(), json!({"type": "string"}));
                props.insert("metadata".into(), json!({"$ref": format!("{REF_PREFIX}{OBJECT_META}")}));
            }
            let mut w = Walker {
                builtin,
                structural: true,
                found: vec![],
            };
            // ObjectMeta is a built-in schema: free-form parts of it follow built-in rules.
            if let (Some(meta), Some(obj_map)) = (builtin.defs.get(OBJECT_META).cloned(), obj.as_object_mut()) {
                if let Some(m) = obj_map.get_mut("metadata") {
                    let mut mw = Walker {
                        builtin,
                        structural: false,
                        found: vec![],
                    };
                    mw.walk(m, &meta, "metadata");
                    w.found.extend(mw.found);
                }
            }
            if let Some(props) = root.get_mut("properties").and_then(Value::as_object_mut) {
                props.insert("metadata".into(), json!({"x-kubernetes-preserve-unknown-fields": true}));
            }
            w.walk(obj, &root, "");
            w.found
        }
    }
}

/// The strict-decoding failure for a create/update body (what the apiserver's decoder says).
pub fn strict_error(kind: &str, version: &str, fields: &[String]) -> ApiError {
    ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: {}",
        strict_message(fields)
    ))
}

/// `strict decoding error: unknown field "a", unknown field "b"`.
pub fn strict_message(fields: &[String]) -> String {
    let parts: Vec<String> = fields.iter().map(|f| format!("unknown field \"{f}\"")).collect();
    format!("strict decoding error: {}", parts.join(", "))
}

/// The `Warning` header values for unknown fields (`299 - "unknown field \"spec.foo\""`).
pub fn warnings(fields: &[String]) -> Vec<String> {
    fields
        .iter()
        .map(|f| format!("299 - \"unknown field \\\"{f}\\\"\""))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemas::builtin;

    #[test]
    fn builtin_unknown_fields_are_found_and_pruned() {
        let b = builtin();
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "bogus": 1},
            "spec": {"foo": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i", "bad": true}]}},
                     "selector": {"matchLabels": {"a": "b"}}}});
        let found = prune_unknown(&mut d, &ObjectSchema::Builtin("io.k8s.api.apps.v1.Deployment"), b);
        assert_eq!(
            found,
            vec!["metadata.bogus", "spec.foo", "spec.template.spec.containers[0].bad"]
        );
        assert!(d["spec"].get("foo").is_none());
        assert_eq!(d["spec"]["selector"]["matchLabels"]["a"], "b");
        assert_eq!(
            strict_error("Deployment", "v1", &found[1..2]).message,
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.foo\""
        );
        assert_eq!(warnings(&found[1..2]), vec![r#"299 - "unknown field \"spec.foo\"""#]);
    }

    #[test]
    fn custom_resources_follow_structural_pruning() {
        let b = builtin();
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
        let mut o = json!({"apiVersion": "x/v1", "kind": "T", "metadata": {"name": "t", "labels": {"a": "b"}},
            "spec": {"replicas": 1, "foo": 2}, "status": {"anything": [1]}, "extra": true});
        let found = prune_unknown(&mut o, &ObjectSchema::Custom(schema), b);
        assert_eq!(found, vec!["extra", "spec.foo"]);
        assert_eq!(o["status"]["anything"][0], 1);
        assert_eq!(o["metadata"]["labels"]["a"], "b");
    }
}
