//! Does the object, as just re-read, still match the planned action? Pure: the executor reads,
//! this decides.

use serde_json::Value;

use super::action::{ActionKind, SuggestedAction};
use super::policy::OPT_OUT_ANNOTATION;

/// `Ok` when the action still applies to `current` exactly as planned; otherwise why not.
pub fn still_applies(action: &SuggestedAction, current: &Value) -> Result<(), String> {
    let meta = &current["metadata"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let planned = &action.object;
    if text(&meta["uid"]) != planned.uid {
        return Err(format!(
            "uid changed ({} → {}): the object was re-created",
            planned.uid,
            text(&meta["uid"])
        ));
    }
    if text(&meta["resourceVersion"]) != planned.resource_version {
        return Err(format!(
            "resourceVersion changed ({} → {}) since the plan; re-planned next round",
            planned.resource_version,
            text(&meta["resourceVersion"])
        ));
    }
    if meta["annotations"][OPT_OUT_ANNOTATION].as_str() == Some("false") {
        return Err(format!("opted out with annotation {OPT_OUT_ANNOTATION}=\"false\""));
    }
    let index = action.index.unwrap_or_default();
    let expected = action.expected.as_deref().unwrap_or_default();
    match action.action {
        ActionKind::RemoveFinalizer => {
            if meta["deletionTimestamp"].is_null() {
                return Err("the object is not being deleted".into());
            }
            let at = meta["finalizers"][index].as_str();
            if at != Some(expected) {
                return Err(format!("finalizers[{index}] is {at:?}, not {expected:?}"));
            }
        }
        ActionKind::FixOwnerKind => {
            let at = meta["ownerReferences"][index]["kind"].as_str();
            if at != Some(expected) {
                return Err(format!("ownerReferences[{index}].kind is {at:?}, not {expected:?}"));
            }
        }
        ActionKind::DeleteOrphan => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::fixtures::hpa_problem;
    use crate::findings::OwnerProblemReason;
    use crate::remediation::action::for_owner_problem;
    use serde_json::json;

    fn fix() -> SuggestedAction {
        for_owner_problem(&hpa_problem("live", OwnerProblemReason::KindCaseMismatch, true, false)).unwrap()
    }

    fn object(uid: &str, rv: &str, kind: &str) -> Value {
        json!({"metadata": {"uid": uid, "resourceVersion": rv, "ownerReferences": [{"kind": kind}]}})
    }

    #[test]
    fn any_change_since_the_plan_refuses() {
        assert_eq!(still_applies(&fix(), &object("uid-live", "1", "PodAutoScaler")), Ok(()));
        assert!(still_applies(&fix(), &object("other", "1", "PodAutoScaler"))
            .unwrap_err()
            .contains("re-created"));
        assert!(still_applies(&fix(), &object("uid-live", "2", "PodAutoScaler"))
            .unwrap_err()
            .contains("resourceVersion changed"));
        assert!(still_applies(&fix(), &object("uid-live", "1", "PodAutoscaler"))
            .unwrap_err()
            .contains("ownerReferences[0].kind"));
        let mut opted_out = object("uid-live", "1", "PodAutoScaler");
        opted_out["metadata"]["annotations"] = json!({OPT_OUT_ANNOTATION: "false"});
        assert!(still_applies(&fix(), &opted_out).unwrap_err().contains("opted out"));
    }

    #[test]
    fn finalizer_must_still_be_at_its_index_on_a_deleting_object() {
        let mut a = fix();
        a.action = ActionKind::RemoveFinalizer;
        a.index = Some(1);
        a.expected = Some("example.com/f".into());
        let o = |fins: Value, deleting: bool| {
            let mut v = json!({"metadata": {"uid": "uid-live", "resourceVersion": "1", "finalizers": fins}});
            if deleting {
                v["metadata"]["deletionTimestamp"] = json!("2026-11-30T10:00:00Z");
            }
            v
        };
        assert_eq!(still_applies(&a, &o(json!(["x", "example.com/f"]), true)), Ok(()));
        assert!(still_applies(&a, &o(json!(["example.com/f"]), true)).is_err());
        assert!(still_applies(&a, &o(json!(["x", "example.com/f"]), false))
            .unwrap_err()
            .contains("not being deleted"));
    }
}
