//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`): the `k8s\0` magic, a
//! `runtime.Unknown` envelope (typeMeta, raw, contentEncoding, contentType) and the object in
//! `raw`, decoded field by field into the JSON the object would have had.
//!
//! Field numbers and wire types come from `data/protobuf_fields.txt`, generated from the
//! kube-rs `k8s-pb` crate by `tools/gen_protobuf_fields.py`; JSON field names come from the
//! OpenAPI definitions of [`crate::schemas`]. A field number the table does not know is an error
//! naming it, never a silent drop.
use crate::schemas;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;
use thiserror::Error;

pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

#[derive(Debug, Error, PartialEq)]
pub enum ProtobufError {
    #[error("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")]
    Magic,
    #[error("unexpected end of protobuf data in {0}")]
    Truncated(String),
    #[error("unsupported protobuf wire type {wire} for field {tag} of {message}")]
    WireType { message: String, tag: u32, wire: u8 },
    #[error("protobuf field {tag} of {message} is not converted by kube-sim")]
    UnknownField { message: String, tag: u32 },
    #[error("no protobuf message known for {api_version}, Kind={kind}")]
    UnknownKind { api_version: String, kind: String },
    #[error("protobuf decoding of {0} is not supported by kube-sim; send JSON")]
    Unsupported(String),
    #[error("unsupported content encoding {0:?}")]
    ContentEncoding(String),
}

impl ProtobufError {
    /// 415 for kinds/messages kube-sim cannot convert, 400 for malformed data.
    pub fn status_code(&self) -> u16 {
        match self {
            ProtobufError::UnknownKind { .. } | ProtobufError::Unsupported(_) | ProtobufError::UnknownField { .. } => {
                415
            }
            _ => 400,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Ty {
    String,
    Int32,
    Int64,
    Bool,
    Bytes,
    Double,
    Message(String),
    MapString,
    MapBytes,
    MapMessage(String),
}

#[derive(Debug, Clone)]
struct FieldDef {
    name: String,
    repeated: bool,
    ty: Ty,
}

type Table = HashMap<String, HashMap<u32, FieldDef>>;

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let mut t: Table = HashMap::new();
        let mut current: Option<String> = None;
        for line in include_str!("data/protobuf_fields.txt").lines() {
            if let Some(m) = line.strip_prefix("M ") {
                current = Some(m.to_string());
                t.entry(m.to_string()).or_default();
                continue;
            }
            let parts: Vec<&str> = line.split(' ').collect();
            let (Some(msg), [tag, name, label, ty, rest @ ..]) = (&current, parts.as_slice()) else {
                continue;
            };
            let target = rest.first().map(|s| s.to_string()).unwrap_or_default();
            let ty = match *ty {
                "string" => Ty::String,
                "int32" => Ty::Int32,
                "int64" => Ty::Int64,
                "bool" => Ty::Bool,
                "bytes" => Ty::Bytes,
                "double" => Ty::Double,
                "message" => Ty::Message(target),
                "map:string" => Ty::MapString,
                "map:bytes" => Ty::MapBytes,
                "map:message" => Ty::MapMessage(target),
                _ => continue,
            };
            if let Ok(tag) = tag.parse() {
                t.entry(msg.clone()).or_default().insert(
                    tag,
                    FieldDef {
                        name: name.to_string(),
                        repeated: *label == "repeated",
                        ty,
                    },
                );
            }
        }
        t
    })
}

/// OpenAPI definition name of a protobuf message (`api.core.v1.PodSpec` → `io.k8s.api.core.v1.PodSpec`).
fn definition_name(message: &str) -> String {
    let m = message
        .replacen("apiextensions_apiserver.", "apiextensions-apiserver.", 1)
        .replacen("kube_aggregator.", "kube-aggregator.", 1);
    format!("io.k8s.{m}")
}

fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// JSON name of a field: the OpenAPI property whose name matches the prost name.
fn json_name(message: &str, prost_name: &str) -> String {
    let want = normalize(prost_name);
    if let Some(props) = schemas::builtin()
        .defs
        .get(&definition_name(message))
        .and_then(|d| d.get("properties"))
        .and_then(Value::as_object)
    {
        if let Some(k) = props.keys().find(|k| normalize(k) == want) {
            return k.clone();
        }
    }
    let mut out = String::new();
    let mut upper = false;
    for c in prost_name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Fields that are pointers in the Go types: a zero on the wire is a value, not "unset".
const POINTER_FIELDS: &[&str] = &[
    "replicas",
    "minReplicas",
    "immutable",
    "automountServiceAccountToken",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "progressDeadlineSeconds",
    "revisionHistoryLimit",
    "runAsNonRoot",
    "runAsUser",
    "runAsGroup",
    "privileged",
    "readOnlyRootFilesystem",
    "allowPrivilegeEscalation",
    "enableServiceLinks",
    "shareProcessNamespace",
    "hostUsers",
    "parallelism",
    "completions",
    "backoffLimit",
    "suspend",
    "optional",
    "defaultMode",
    "mode",
    "priority",
    "setHostnameAsFQDN",
];

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    message: &'a str,
}

impl<'a> Reader<'a> {
    fn truncated(&self) -> ProtobufError {
        ProtobufError::Truncated(self.message.to_string())
    }
    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.data.get(self.pos).ok_or_else(|| self.truncated())?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.truncated())
    }
    fn bytes(&mut self) -> Result<&'a [u8], ProtobufError> {
        let n = self.varint()? as usize;
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.data.len())
            .ok_or_else(|| self.truncated())?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn fixed(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        let end = self.pos + n;
        if end > self.data.len() {
            return Err(self.truncated());
        }
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    /// Next (tag, wire type), or None at the end.
    fn key(&mut self) -> Result<Option<(u32, u8)>, ProtobufError> {
        if self.pos >= self.data.len() {
            return Ok(None);
        }
        let k = self.varint()?;
        Ok(Some(((k >> 3) as u32, (k & 7) as u8)))
    }
}

/// Raw wire value of one field occurrence.
enum Wire<'a> {
    Varint(u64),
    Fixed64(&'a [u8]),
    Len(&'a [u8]),
}

fn fields_of<'a>(data: &'a [u8], message: &'a str) -> Result<Vec<(u32, Wire<'a>)>, ProtobufError> {
    let mut r = Reader { data, pos: 0, message };
    let mut out = Vec::new();
    while let Some((tag, wire)) = r.key()? {
        let v = match wire {
            0 => Wire::Varint(r.varint()?),
            1 => Wire::Fixed64(r.fixed(8)?),
            2 => Wire::Len(r.bytes()?),
            w => {
                return Err(ProtobufError::WireType {
                    message: message.to_string(),
                    tag,
                    wire: w,
                })
            }
        };
        out.push((tag, v));
    }
    Ok(out)
}

fn go_time(seconds: i64, nanos: i64, micro: bool) -> Value {
    if seconds == 0 && nanos == 0 {
        return Value::Null;
    }
    match jiff::Timestamp::new(seconds, nanos as i32) {
        Ok(t) if micro => json!(t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()),
        Ok(t) => json!(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        Err(_) => Value::Null,
    }
}

fn scalar(ty: &Ty, w: &Wire, message: &str, tag: u32) -> Result<Value, ProtobufError> {
    let wrong = |wire: u8| ProtobufError::WireType {
        message: message.to_string(),
        tag,
        wire,
    };
    Ok(match (ty, w) {
        (Ty::String, Wire::Len(b)) => json!(String::from_utf8_lossy(b)),
        (Ty::Bytes, Wire::Len(b)) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
        (Ty::Int32, Wire::Varint(v)) => json!(*v as i64 as i32),
        (Ty::Int64, Wire::Varint(v)) => json!(*v as i64),
        (Ty::Bool, Wire::Varint(v)) => json!(*v != 0),
        (Ty::Double, Wire::Fixed64(b)) => {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            json!(f64::from_le_bytes(a))
        }
        (_, Wire::Varint(_)) => return Err(wrong(0)),
        (_, Wire::Fixed64(_)) => return Err(wrong(1)),
        (_, Wire::Len(_)) => return Err(wrong(2)),
    })
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

fn raw_json(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or(Value::Null)
}

/// Decode one message into JSON.
fn decode_message(data: &[u8], message: &str) -> Result<Value, ProtobufError> {
    let fields = fields_of(data, message)?;
    let get = |tag: u32| fields.iter().find(|(t, _)| *t == tag).map(|(_, w)| w);
    let int = |tag: u32| match get(tag) {
        Some(Wire::Varint(v)) => *v as i64,
        _ => 0,
    };
    let bytes = |tag: u32| match get(tag) {
        Some(Wire::Len(b)) => *b,
        _ => &[][..],
    };
    match message {
        "apimachinery.pkg.apis.meta.v1.Time" => return Ok(go_time(int(1), int(2), false)),
        "apimachinery.pkg.apis.meta.v1.MicroTime" => return Ok(go_time(int(1), int(2), true)),
        "apimachinery.pkg.api.resource.Quantity" => return Ok(json!(String::from_utf8_lossy(bytes(1)))),
        "apimachinery.pkg.util.intstr.IntOrString" => {
            return Ok(if int(1) == 1 {
                json!(String::from_utf8_lossy(bytes(3)))
            } else {
                json!(int(2) as i32)
            })
        }
        "apimachinery.pkg.runtime.RawExtension" | "apimachinery.pkg.apis.meta.v1.FieldsV1" => {
            return Ok(raw_json(bytes(1)))
        }
        "apimachinery.pkg.apis.meta.v1.Duration" => {
            return Ok(json!(format!("{}s", int(1) as f64 / 1e9)));
        }
        m if m.starts_with("apiextensions_apiserver.") && (m.contains("JSONSchemaProps") || m.ends_with(".JSON")) => {
            return Err(ProtobufError::Unsupported(m.to_string()));
        }
        _ => {}
    }
    let defs = table()
        .get(message)
        .ok_or_else(|| ProtobufError::Unsupported(message.to_string()))?;
    let mut out = Map::new();
    for (tag, w) in &fields {
        let def = defs.get(tag).ok_or_else(|| ProtobufError::UnknownField {
            message: message.to_string(),
            tag: *tag,
        })?;
        let name = json_name(message, &def.name);
        let value = match &def.ty {
            Ty::Message(target) => match w {
                Wire::Len(b) => decode_message(b, target)?,
                _ => return Err(scalar(&Ty::String, w, message, *tag).unwrap_err()),
            },
            Ty::MapString | Ty::MapBytes | Ty::MapMessage(_) => {
                let Wire::Len(entry) = w else {
                    return Err(ProtobufError::WireType {
                        message: message.to_string(),
                        tag: *tag,
                        wire: 0,
                    });
                };
                let ef = fields_of(entry, message)?;
                let key = ef
                    .iter()
                    .find_map(|(t, w)| match (t, w) {
                        (1, Wire::Len(b)) => Some(String::from_utf8_lossy(b).to_string()),
                        _ => None,
                    })
                    .unwrap_or_default();
                let val_wire = ef.iter().find(|(t, _)| *t == 2).map(|(_, w)| w);
                let val = match (&def.ty, val_wire) {
                    (Ty::MapString, Some(v)) => scalar(&Ty::String, v, message, *tag)?,
                    (Ty::MapString, None) => json!(""),
                    (Ty::MapBytes, Some(v)) => scalar(&Ty::Bytes, v, message, *tag)?,
                    (Ty::MapBytes, None) => json!(""),
                    (Ty::MapMessage(t), Some(Wire::Len(b))) => decode_message(b, t)?,
                    (Ty::MapMessage(t), _) => decode_message(&[], t)?,
                    _ => Value::Null,
                };
                let m = out.entry(name).or_insert_with(|| json!({}));
                if let Some(m) = m.as_object_mut() {
                    m.insert(key, val);
                }
                continue;
            }
            ty => {
                // Packed repeated scalars.
                if let (true, Wire::Len(b), Ty::Int32 | Ty::Int64 | Ty::Bool) = (def.repeated, w, ty) {
                    let mut r = Reader {
                        data: b,
                        pos: 0,
                        message,
                    };
                    let arr = out.entry(name).or_insert_with(|| json!([]));
                    while r.pos < b.len() {
                        let v = scalar(ty, &Wire::Varint(r.varint()?), message, *tag)?;
                        if let Some(a) = arr.as_array_mut() {
                            a.push(v);
                        }
                    }
                    continue;
                }
                scalar(ty, w, message, *tag)?
            }
        };
        if def.repeated {
            let arr = out.entry(name).or_insert_with(|| json!([]));
            if let Some(a) = arr.as_array_mut() {
                a.push(value);
            }
        } else if is_zero(&value) && !POINTER_FIELDS.contains(&name.as_str()) {
            // A non-pointer Go field at its zero value: omitted from JSON (omitempty).
            continue;
        } else {
            out.insert(name, value);
        }
    }
    Ok(Value::Object(out))
}

/// Protobuf package of an API group/version (`apps/v1` → `api.apps.v1`).
fn package(api_version: &str) -> String {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    match group {
        "" => format!("api.core.{version}"),
        "apiextensions.k8s.io" => format!("apiextensions_apiserver.pkg.apis.apiextensions.{version}"),
        "apiregistration.k8s.io" => format!("kube_aggregator.pkg.apis.apiregistration.{version}"),
        "rbac.authorization.k8s.io" => format!("api.rbac.{version}"),
        "internal.apiserver.k8s.io" => format!("api.apiserverinternal.{version}"),
        g => {
            let short = g.split('.').next().unwrap_or(g);
            format!("api.{short}.{version}")
        }
    }
}

/// Decode a `k8s\0` + runtime.Unknown body into the object's JSON.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtobufError::Magic)?;
    let unknown = "apimachinery.pkg.runtime.Unknown";
    let fields = fields_of(rest, unknown)?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (tag, w) in &fields {
        match (tag, w) {
            (1, Wire::Len(tm)) => {
                for (t, v) in fields_of(tm, "apimachinery.pkg.runtime.TypeMeta")? {
                    match (t, v) {
                        (1, Wire::Len(b)) => api_version = String::from_utf8_lossy(b).to_string(),
                        (2, Wire::Len(b)) => kind = String::from_utf8_lossy(b).to_string(),
                        _ => {}
                    }
                }
            }
            (2, Wire::Len(b)) => raw = b,
            (3, Wire::Len(b)) if !b.is_empty() => {
                return Err(ProtobufError::ContentEncoding(String::from_utf8_lossy(b).to_string()))
            }
            _ => {}
        }
    }
    let message = format!("{}.{kind}", package(&api_version));
    if !table().contains_key(&message) {
        return Err(ProtobufError::UnknownKind { api_version, kind });
    }
    let mut obj = decode_message(raw, &message)?;
    if let Some(m) = obj.as_object_mut() {
        let mut out = Map::new();
        out.insert("kind".into(), json!(kind));
        out.insert("apiVersion".into(), json!(api_version));
        out.extend(std::mem::take(m));
        *m = out;
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    fn len_field(tag: u32, data: &[u8], out: &mut Vec<u8>) {
        varint(u64::from(tag << 3 | 2), out);
        varint(data.len() as u64, out);
        out.extend_from_slice(data);
    }
    fn int_field(tag: u32, v: u64, out: &mut Vec<u8>) {
        varint(u64::from(tag << 3), out);
        varint(v, out);
    }
    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let mut tm = Vec::new();
        len_field(1, api_version.as_bytes(), &mut tm);
        len_field(2, kind.as_bytes(), &mut tm);
        let mut u = Vec::new();
        len_field(1, &tm, &mut u);
        len_field(2, raw, &mut u);
        len_field(3, b"", &mut u);
        len_field(4, b"", &mut u);
        let mut out = b"k8s\0".to_vec();
        out.extend(u);
        out
    }
    fn entry(k: &str, v: &[u8]) -> Vec<u8> {
        let mut e = Vec::new();
        len_field(1, k.as_bytes(), &mut e);
        len_field(2, v, &mut e);
        e
    }

    #[test]
    fn configmap_envelope() {
        let mut meta = Vec::new();
        len_field(1, b"c", &mut meta); // name
        len_field(2, b"", &mut meta); // generateName (zero: omitted)
        len_field(3, b"default", &mut meta); // namespace
        len_field(8, &[], &mut meta); // creationTimestamp (zero Time: null)
        len_field(11, &entry("app", b"web"), &mut meta); // labels
        let mut cm = Vec::new();
        len_field(1, &meta, &mut cm);
        len_field(2, &entry("a", b"b"), &mut cm);
        len_field(3, &entry("bin", &[0, 1]), &mut cm);
        let v = decode(&envelope("v1", "ConfigMap", &cm)).unwrap();
        assert_eq!(
            v,
            json!({"kind": "ConfigMap", "apiVersion": "v1",
                   "metadata": {"name": "c", "namespace": "default", "creationTimestamp": null, "labels": {"app": "web"}},
                   "data": {"a": "b"}, "binaryData": {"bin": "AAE="}})
        );
    }

    #[test]
    fn deployment_with_pointer_zero_intorstring_and_quantity() {
        let mut container = Vec::new();
        len_field(1, b"nginx", &mut container);
        len_field(2, b"nginx", &mut container);
        let mut q = Vec::new();
        len_field(1, b"100m", &mut q);
        let mut res = Vec::new();
        len_field(1, &entry("cpu", &q), &mut res); // limits
        len_field(8, &res, &mut container); // resources
        let mut podspec = Vec::new();
        len_field(2, &container, &mut podspec);
        let mut template = Vec::new();
        len_field(2, &podspec, &mut template);
        let mut ios = Vec::new();
        int_field(1, 1, &mut ios);
        len_field(3, b"25%", &mut ios);
        let mut rolling = Vec::new();
        len_field(1, &ios, &mut rolling);
        let mut strategy = Vec::new();
        len_field(2, &rolling, &mut strategy);
        let mut spec = Vec::new();
        int_field(1, 0, &mut spec); // replicas: 0 (pointer)
        len_field(3, &template, &mut spec);
        len_field(4, &strategy, &mut spec);
        let mut d = Vec::new();
        len_field(2, &spec, &mut d);
        let v = decode(&envelope("apps/v1", "Deployment", &d)).unwrap();
        assert_eq!(v["spec"]["replicas"], 0);
        assert_eq!(v["spec"]["template"]["spec"]["containers"][0]["image"], "nginx");
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"],
            "100m"
        );
        assert_eq!(v["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], "25%");
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(decode(b"{}"), Err(ProtobufError::Magic));
        let mut cm = Vec::new();
        int_field(99, 1, &mut cm);
        let e = decode(&envelope("v1", "ConfigMap", &cm)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "protobuf field 99 of api.core.v1.ConfigMap is not converted by kube-sim"
        );
        assert_eq!(e.status_code(), 415);
        let e = decode(&envelope("example.com/v1", "Thing", &[])).unwrap_err();
        assert!(matches!(e, ProtobufError::UnknownKind { .. }));
    }
}
