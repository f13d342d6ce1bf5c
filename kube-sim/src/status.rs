//! `metav1.Status` error bodies with upstream reasons, codes and message wording.
use serde_json::{json, Map, Value};

/// A failed API request, rendered as a `Status` object (or plain text for non-API paths).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    pub details: Option<Value>,
    /// `metadata` of the Status (e.g. a fresh `continue` token on 410).
    pub metadata: Map<String, Value>,
    /// Plain-text body instead of a Status (e.g. `404 page not found`).
    pub plain_text: Option<String>,
}

/// Identifies a resource the way `schema.GroupResource` does (`pods`, `deployments.apps`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        GroupResource {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }
    /// `pods` for core, `deployments.apps` otherwise (schema.GroupResource.String()).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

fn details(name: &str, gr: &GroupResource) -> Value {
    let mut d = Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !gr.group.is_empty() {
        d.insert("group".into(), json!(gr.group));
    }
    d.insert("kind".into(), json!(gr.resource));
    Value::Object(d)
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>, details: Option<Value>) -> Self {
        ApiError {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details,
            metadata: Map::new(),
            plain_text: None,
        }
    }

    pub fn plain(code: u16, text: &str) -> Self {
        let mut e = ApiError::new(code, "", text, None);
        e.plain_text = Some(text.to_string());
        e
    }

    /// The body real servers send for unknown non-API paths.
    pub fn page_not_found() -> Self {
        ApiError::plain(404, "404 page not found\n")
    }

    pub fn not_found(gr: &GroupResource, name: &str) -> Self {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", gr.qualified(), name),
            Some(details(name, gr)),
        )
    }

    /// Unknown resource inside a known group/version.
    pub fn resource_not_found() -> Self {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
            Some(json!({})),
        )
    }

    pub fn already_exists(gr: &GroupResource, name: &str) -> Self {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", gr.qualified(), name),
            Some(details(name, gr)),
        )
    }

    pub fn conflict(gr: &GroupResource, name: &str, err: &str) -> Self {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {}",
                gr.qualified(),
                name,
                err
            ),
            Some(details(name, gr)),
        )
    }

    pub fn modified_conflict(gr: &GroupResource, name: &str) -> Self {
        ApiError::conflict(
            gr,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// `<Kind>[.<group>] "<name>" is invalid: <field errors>` with `details.causes`.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<FieldError>) -> Self {
        let qualified_kind = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let texts: Vec<String> = causes.iter().map(|c| c.to_string()).collect();
        let joined = if texts.len() == 1 {
            texts[0].clone()
        } else {
            format!("[{}]", texts.join(", "))
        };
        let mut d = Map::new();
        if !name.is_empty() {
            d.insert("name".into(), json!(name));
        }
        if !group.is_empty() {
            d.insert("group".into(), json!(group));
        }
        d.insert("kind".into(), json!(kind));
        d.insert(
            "causes".into(),
            Value::Array(
                causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.detail_message(), "field": c.field}))
                    .collect(),
            ),
        );
        ApiError::new(
            422,
            "Invalid",
            format!("{qualified_kind} \"{name}\" is invalid: {joined}"),
            Some(Value::Object(d)),
        )
    }

    /// What `errors.NewGenericServerResponse(422, "", GroupResource{}, "", serverMessage, 0, false)`
    /// produces (e.g. a failed json-patch `test`). With `isUnexpectedResponse=false` the server
    /// message is dropped: no `UnexpectedServerResponse` cause, `details: {}` (so kubectl prints
    /// `The request is invalid: the server rejected our request due to an error in our request`).
    pub fn generic_unprocessable() -> Self {
        ApiError::new(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
            Some(json!({})),
        )
    }

    /// A plain Go error returned by a handler (`ErrorToAPIStatus`: 500, no reason, the text).
    pub fn unknown(message: &str) -> Self {
        ApiError::new(500, "", message, None)
    }

    pub fn forbidden(gr: &GroupResource, name: &str, err: &str) -> Self {
        let message = if name.is_empty() {
            format!("{} is forbidden: {}", gr.qualified(), err)
        } else {
            format!("{} \"{}\" is forbidden: {}", gr.qualified(), name, err)
        };
        ApiError::new(403, "Forbidden", message, Some(details(name, gr)))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message, None)
    }

    /// A request whose method has no route (go-restful answers 405 and the apiserver's
    /// `serviceErrorHandler` wraps it with `NewGenericServerResponse(405, …, false)`: fixed
    /// message, `details: {}`).
    pub fn method_not_routed() -> Self {
        ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            Some(json!({})),
        )
    }

    /// `errors.NewMethodNotSupported` (e.g. crdHandler refusing creates while terminating).
    pub fn method_not_allowed(gr: &GroupResource, verb: &str) -> Self {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{verb} is not supported on resources of kind \"{}\"", gr.qualified()),
            Some(details("", gr)),
        )
    }

    pub fn expired(message: &str) -> Self {
        ApiError::new(410, "Expired", message, None)
    }

    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        let _ = content_type;
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
            None,
        )
    }

    pub fn internal(message: &str) -> Self {
        ApiError::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
            Some(json!({"causes": [{"message": message}]})),
        )
    }

    pub fn service_unavailable(message: &str) -> Self {
        ApiError::new(503, "ServiceUnavailable", message, None)
    }

    /// The Status JSON body.
    pub fn to_status(&self) -> Value {
        let mut s = Map::new();
        s.insert("kind".into(), json!("Status"));
        s.insert("apiVersion".into(), json!("v1"));
        s.insert("metadata".into(), Value::Object(self.metadata.clone()));
        s.insert("status".into(), json!("Failure"));
        s.insert("message".into(), json!(self.message));
        s.insert("reason".into(), json!(self.reason));
        if let Some(d) = &self.details {
            s.insert("details".into(), d.clone());
        }
        s.insert("code".into(), json!(self.code));
        Value::Object(s)
    }
}

/// One `field.Error` (validation failure) with upstream type strings.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueForbidden`, ...
    pub reason: &'static str,
    pub field: String,
    /// The message without the field path, e.g. `Invalid value: "x": ...`.
    pub body: String,
}

impl FieldError {
    pub fn required(field: &str, detail: &str) -> Self {
        FieldError {
            reason: "FieldValueRequired",
            field: field.into(),
            body: format!("Required value: {detail}"),
        }
    }
    pub fn invalid(field: &str, value: &str, detail: &str) -> Self {
        FieldError {
            reason: "FieldValueInvalid",
            field: field.into(),
            body: format!("Invalid value: {value}: {detail}"),
        }
    }
    pub fn forbidden(field: &str, detail: &str) -> Self {
        FieldError {
            reason: "FieldValueForbidden",
            field: field.into(),
            body: format!("Forbidden: {detail}"),
        }
    }
    fn detail_message(&self) -> String {
        self.body.clone()
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_core_and_group_wording() {
        let e = ApiError::not_found(&GroupResource::new("", "pods"), "x");
        assert_eq!(e.message, "pods \"x\" not found");
        let e = ApiError::not_found(&GroupResource::new("apps", "deployments"), "web");
        assert_eq!(e.message, "deployments.apps \"web\" not found");
        let s = e.to_status();
        assert_eq!(s["details"], json!({"name":"web","group":"apps","kind":"deployments"}));
        assert_eq!(s["code"], 404);
        assert_eq!(s["status"], "Failure");
    }

    #[test]
    fn invalid_message_and_causes() {
        let e = ApiError::invalid(
            "ModelAdapter",
            "model.aibrix.ai",
            "a",
            vec![FieldError::forbidden("metadata.finalizers", "no")],
        );
        assert_eq!(
            e.message,
            "ModelAdapter.model.aibrix.ai \"a\" is invalid: metadata.finalizers: Forbidden: no"
        );
        assert_eq!(e.details.unwrap()["causes"][0]["reason"], "FieldValueForbidden");
    }
}
