//! The create-only "review" resources (SelfSubjectAccessReview, SelfSubjectRulesReview,
//! SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectReview, TokenReview): a real server
//! answers them without storing anything. kube-sim has no authentication or authorization, so
//! every access is allowed and every user is `kube-sim-admin` in `system:masters`.

use serde_json::{json, Value};

use crate::registry::ResourceType;

/// The answer to a create of a review resource, or `None` for any other resource.
pub fn answer(rt: &ResourceType, mut obj: Value) -> Option<Value> {
    let status = match (rt.group.as_str(), rt.kind.as_str()) {
        ("authorization.k8s.io", "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview") => {
            json!({"allowed": true, "reason": "kube-sim has no authorization: everything is allowed"})
        }
        ("authorization.k8s.io", "SelfSubjectRulesReview") => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        ("authentication.k8s.io", "SelfSubjectReview") => {
            json!({"userInfo": {"username": "kube-sim-admin", "groups": ["system:masters", "system:authenticated"]}})
        }
        ("authentication.k8s.io", "TokenReview") => json!({
            "authenticated": true,
            "user": {"username": "kube-sim-admin", "groups": ["system:masters", "system:authenticated"]},
        }),
        _ => return None,
    };
    obj["apiVersion"] = json!(rt.api_version());
    obj["kind"] = json!(rt.kind);
    obj["metadata"] = json!({});
    obj["status"] = status;
    Some(obj)
}
