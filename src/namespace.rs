//! Why a Terminating namespace is stuck: pure functions over the namespace object, what is left
//! inside it and what discovery reported. No I/O.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use crate::findings::{Blocker, ConditionItem, NamespaceCondition, RemainingObject, StuckReason, TerminatingNamespace};

pub const DISCOVERY_FAILURE: &str = "NamespaceDeletionDiscoveryFailure";
pub const GROUP_VERSION_PARSING_FAILURE: &str = "NamespaceDeletionGroupVersionParsingFailure";
pub const CONTENT_DELETION_FAILURE: &str = "NamespaceDeletionContentFailure";
pub const CONTENT_REMAINING: &str = "NamespaceContentRemaining";
pub const FINALIZERS_REMAINING: &str = "NamespaceFinalizersRemaining";

/// What the auditor reads of a Namespace object, parsed leniently: a malformed condition or
/// field is kept as far as it can be read, never a reason to drop the namespace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamespaceView {
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    /// `spec.finalizers` (normally `["kubernetes"]`, removed by the namespace controller).
    pub spec_finalizers: Vec<String>,
    /// `metadata.finalizers`: anything here holds the namespace after the controller is done.
    pub metadata_finalizers: Vec<String>,
    pub conditions: Vec<NamespaceCondition>,
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

impl NamespaceView {
    /// Reads a Namespace object as served (JSON).
    pub fn from_json(body: &Value) -> Self {
        let meta = body.get("metadata").cloned().unwrap_or(Value::Null);
        let conditions = body
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                let message = text(c, "message");
                NamespaceCondition {
                    type_: text(c, "type"),
                    status: text(c, "status"),
                    reason: text(c, "reason"),
                    parsed: parse_condition_items(&message),
                    message,
                }
            })
            .collect();
        Self {
            name: text(&meta, "name"),
            uid: text(&meta, "uid"),
            resource_version: text(&meta, "resourceVersion"),
            spec_finalizers: strings(body.pointer("/spec/finalizers")),
            metadata_finalizers: strings(meta.get("finalizers")),
            conditions,
        }
    }
}

/// Everything known about one Terminating namespace.
#[derive(Debug, Clone)]
pub struct NamespaceFacts<'a> {
    pub namespace: &'a NamespaceView,
    pub deletion_timestamp: Timestamp,
    /// Objects still present (empty when the namespace is not stuck and so was not listed).
    pub remaining: Vec<RemainingObject>,
    /// Group/versions whose discovery fails cluster-wide.
    pub failing_group_versions: Vec<String>,
    pub unavailable_api_services: Vec<String>,
    pub unlisted_resources: Vec<String>,
}

/// Whether a namespace Terminating since `deleted` counts as stuck at `now`.
pub fn is_stuck(deleted: Timestamp, now: Timestamp, stuck_after: Duration) -> bool {
    terminating_seconds(deleted, now) > stuck_after.as_secs_f64()
}

pub fn terminating_seconds(deleted: Timestamp, now: Timestamp) -> f64 {
    (now.as_millisecond() - deleted.as_millisecond()).max(0) as f64 / 1000.0
}

/// Parses the `X in N resource instances` / `X has N resource instances` items of a namespace
/// controller message, in every wording upstream has used. Returns nothing when the message has
/// no such items; the message itself is always kept verbatim beside the parse.
pub fn parse_condition_items(message: &str) -> Vec<ConditionItem> {
    let Some((_, list)) = message.split_once(": ") else {
        return Vec::new();
    };
    list.split(", ")
        .filter_map(|item| {
            let item = item.trim();
            let rest = item
                .strip_suffix(" resource instances")
                .or_else(|| item.strip_suffix(" resource instance"))?;
            let (subject, count) = rest.rsplit_once(" in ").or_else(|| rest.rsplit_once(" has "))?;
            let count = count.trim().parse().ok()?;
            let subject = subject.trim();
            (!subject.is_empty()).then(|| ConditionItem {
                subject: subject.to_string(),
                count,
            })
        })
        .collect()
}

/// Group/versions named in a `NamespaceDeletionDiscoveryFailure` message, e.g.
/// `... server APIs: metrics.k8s.io/v1beta1: the server is currently unable to handle the request`.
pub fn parse_failing_group_versions(message: &str) -> Vec<String> {
    let mut out = Vec::new();
    for piece in message.split([' ', ',']) {
        let Some(candidate) = piece.strip_suffix(':') else {
            continue;
        };
        if let Some((group, version)) = candidate.split_once('/') {
            let plausible_group =
                !group.is_empty() && group.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            let plausible_version = version.starts_with('v') && version.chars().all(|c| c.is_ascii_alphanumeric());
            if plausible_group && plausible_version && !out.iter().any(|o| o == candidate) {
                out.push(candidate.to_string());
            }
        }
    }
    out
}

/// Groups remaining objects into blockers by (group, resource, finalizer). An object with two
/// finalizers appears under each; one with none under the empty finalizer.
pub fn group_blockers(remaining: &[RemainingObject]) -> Vec<Blocker> {
    let mut groups: BTreeMap<(String, String, String), Vec<RemainingObject>> = BTreeMap::new();
    for obj in remaining {
        let finalizers: Vec<&str> = if obj.finalizers.is_empty() {
            vec![""]
        } else {
            obj.finalizers.iter().map(String::as_str).collect()
        };
        for f in finalizers {
            let key = (obj.object.group.clone(), obj.object.resource.clone(), f.to_string());
            groups.entry(key).or_default().push(obj.clone());
        }
    }
    groups
        .into_iter()
        .map(|((group, resource, finalizer), objects)| Blocker {
            group,
            resource,
            finalizer,
            count: objects.len(),
            objects,
        })
        .collect()
}

fn condition_true(conditions: &[NamespaceCondition], type_: &str) -> bool {
    conditions.iter().any(|c| c.type_ == type_ && c.status == "True")
}

/// Every cause that applies, most fundamental first; the first is the primary reason.
///
/// Discovery: the namespace controller's own `NamespaceDeletionDiscoveryFailure` condition is the
/// authority when present; only when the controller has not written it (yet) does a failure in
/// the auditor's own discovery count. `unlisted` names content types that could not be listed: with
/// any, "nothing left" cannot be claimed.
pub fn classify_causes(
    conditions: &[NamespaceCondition],
    remaining: &[RemainingObject],
    failing_group_versions: &[String],
    spec_finalizers: &[String],
    unlisted: &[String],
) -> Vec<StuckReason> {
    let mut reasons = Vec::new();
    let controller_says = conditions
        .iter()
        .find(|c| c.type_ == DISCOVERY_FAILURE)
        .map(|c| c.status == "True");
    if controller_says.unwrap_or(!failing_group_versions.is_empty()) {
        reasons.push(StuckReason::DiscoveryFailure);
    }
    if condition_true(conditions, GROUP_VERSION_PARSING_FAILURE) {
        reasons.push(StuckReason::GroupVersionParsingFailure);
    }
    if condition_true(conditions, CONTENT_DELETION_FAILURE) {
        reasons.push(StuckReason::ContentDeletionFailure);
    }
    let is_pod = |o: &&RemainingObject| o.object.group.is_empty() && o.object.resource == "pods";
    if remaining.iter().any(|o| is_pod(&o)) {
        reasons.push(StuckReason::PodsRemaining);
    }
    let waiting_on_finalizers = remaining
        .iter()
        .any(|o| !o.finalizers.is_empty() && o.deletion_timestamp.is_some());
    if waiting_on_finalizers || (remaining.is_empty() && condition_true(conditions, FINALIZERS_REMAINING)) {
        reasons.push(StuckReason::FinalizersRemaining);
    }
    let plain_content = remaining
        .iter()
        .any(|o| !is_pod(&o) && (o.finalizers.is_empty() || o.deletion_timestamp.is_none()));
    if plain_content || (remaining.is_empty() && condition_true(conditions, CONTENT_REMAINING)) {
        reasons.push(StuckReason::ContentRemaining);
    }
    if reasons.is_empty() && remaining.is_empty() && unlisted.is_empty() && !spec_finalizers.is_empty() {
        reasons.push(StuckReason::NamespaceFinalizerOnly);
    }
    if reasons.is_empty() {
        reasons.push(StuckReason::Unknown);
    }
    reasons
}

/// The namespace itself as a remaining object, when `metadata.finalizers` hold it.
fn namespace_as_remaining(ns: &NamespaceView, deleted: Timestamp) -> Option<RemainingObject> {
    (!ns.metadata_finalizers.is_empty()).then(|| RemainingObject {
        object: crate::findings::ObjectId {
            group: String::new(),
            version: "v1".into(),
            resource: "namespaces".into(),
            kind: "Namespace".into(),
            namespace: String::new(),
            name: ns.name.clone(),
            uid: ns.uid.clone(),
            resource_version: ns.resource_version.clone(),
            creation_timestamp: None,
        },
        finalizers: ns.metadata_finalizers.clone(),
        deletion_timestamp: Some(deleted.to_string()),
        // A namespace's own metadata.finalizers are not the queue's to remove.
        suggested_actions: Vec::new(),
    })
}

/// Judges one Terminating namespace.
pub fn assess(facts: NamespaceFacts<'_>, now: Timestamp, stuck_after: Duration) -> TerminatingNamespace {
    let ns = facts.namespace;
    let stuck = is_stuck(facts.deletion_timestamp, now, stuck_after);
    let mut failing = facts.failing_group_versions.clone();
    for c in ns
        .conditions
        .iter()
        .filter(|c| c.type_ == DISCOVERY_FAILURE && c.status == "True")
    {
        for gv in parse_failing_group_versions(&c.message) {
            if !failing.contains(&gv) {
                failing.push(gv);
            }
        }
    }
    let mut remaining = facts.remaining;
    if stuck {
        remaining.extend(namespace_as_remaining(ns, facts.deletion_timestamp));
    }
    let reasons = if stuck {
        classify_causes(
            &ns.conditions,
            &remaining,
            &failing,
            &ns.spec_finalizers,
            &facts.unlisted_resources,
        )
    } else {
        Vec::new()
    };
    TerminatingNamespace {
        namespace: ns.name.clone(),
        uid: ns.uid.clone(),
        resource_version: ns.resource_version.clone(),
        deletion_timestamp: facts.deletion_timestamp.to_string(),
        terminating_seconds: terminating_seconds(facts.deletion_timestamp, now),
        stuck,
        reason: reasons.first().copied(),
        reasons,
        spec_finalizers: ns.spec_finalizers.clone(),
        metadata_finalizers: ns.metadata_finalizers.clone(),
        conditions: ns.conditions.clone(),
        blockers: group_blockers(&remaining),
        failing_group_versions: failing,
        unavailable_api_services: facts.unavailable_api_services,
        unlisted_resources: facts.unlisted_resources,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::ObjectId;

    #[test]
    fn clock_skew_gives_sane_ages() {
        let now: Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
        // A deletionTimestamp ahead of our clock (skew): age 0, not stuck, never negative.
        let future: Timestamp = "2026-11-30T12:10:00Z".parse().unwrap();
        assert_eq!(terminating_seconds(future, now), 0.0);
        assert!(!is_stuck(future, now, Duration::from_secs(1)));
        // Far in the past (a restored object, a stopped clock): its real age, stuck.
        let past: Timestamp = "1970-01-02T00:00:00Z".parse().unwrap();
        assert!(terminating_seconds(past, now) > 50.0 * 365.0 * 86_400.0);
        assert!(is_stuck(past, now, Duration::from_secs(900)));
    }

    fn items(message: &str) -> Vec<(String, u64)> {
        parse_condition_items(message)
            .into_iter()
            .map(|i| (i.subject, i.count))
            .collect()
    }

    #[test]
    fn parses_every_wording() {
        assert_eq!(
            items("Some content in the namespace has finalizers remaining: adapter.model.aibrix.ai/finalizer in 1 resource instances"),
            [("adapter.model.aibrix.ai/finalizer".to_string(), 1)]
        );
        assert_eq!(
            items("Some finalizers are remaining: kubernetes.io/pvc-protection in 2 resource instances, foo.io/bar in 1 resource instances"),
            [("kubernetes.io/pvc-protection".to_string(), 2), ("foo.io/bar".to_string(), 1)]
        );
        assert_eq!(
            items("Some resources are remaining: pods. has 2 resource instances, modeladapters.model.aibrix.ai has 1 resource instances"),
            [("pods.".to_string(), 2), ("modeladapters.model.aibrix.ai".to_string(), 1)]
        );
        assert!(items("All content successfully removed").is_empty());
        assert!(items("something: entirely different").is_empty());
    }

    #[test]
    fn finds_failing_group_versions_in_discovery_messages() {
        let m = "Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: the server is currently unable to handle the request";
        assert_eq!(parse_failing_group_versions(m), ["metrics.k8s.io/v1beta1"]);
        let two = "Discovery failed for some groups, 2 failing: unable to retrieve the complete list of server APIs: custom.metrics.k8s.io/v1beta2: stale GroupVersion discovery: custom.metrics.k8s.io/v1beta2, metrics.k8s.io/v1beta1: the server is currently unable to handle the request";
        assert_eq!(
            parse_failing_group_versions(two),
            ["custom.metrics.k8s.io/v1beta2", "metrics.k8s.io/v1beta1"]
        );
    }

    fn obj(group: &str, resource: &str, name: &str, finalizers: &[&str], deleting: bool) -> RemainingObject {
        RemainingObject {
            object: ObjectId {
                group: group.into(),
                version: "v1".into(),
                resource: resource.into(),
                kind: "K".into(),
                namespace: "ns".into(),
                name: name.into(),
                uid: format!("uid-{name}"),
                resource_version: "1".into(),
                creation_timestamp: None,
            },
            finalizers: finalizers.iter().map(|s| s.to_string()).collect(),
            deletion_timestamp: deleting.then(|| "2026-01-01T00:00:00Z".to_string()),
            suggested_actions: Vec::new(),
        }
    }

    fn cond(type_: &str, status: &str) -> NamespaceCondition {
        NamespaceCondition {
            type_: type_.into(),
            status: status.into(),
            reason: String::new(),
            message: String::new(),
            parsed: vec![],
        }
    }

    fn check(
        conditions: &[NamespaceCondition],
        remaining: &[RemainingObject],
        failing: &[&str],
        expect: &[StuckReason],
    ) {
        let failing: Vec<String> = failing.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            classify_causes(conditions, remaining, &failing, &["kubernetes".into()], &[]),
            expect
        );
    }

    #[test]
    fn classifies_causes() {
        use StuckReason::*;
        let adapter = obj(
            "model.aibrix.ai",
            "modeladapters",
            "a",
            &["adapter.model.aibrix.ai/finalizer"],
            true,
        );
        check(
            &[cond(FINALIZERS_REMAINING, "True"), cond(DISCOVERY_FAILURE, "False")],
            std::slice::from_ref(&adapter),
            &[],
            &[FinalizersRemaining],
        );
        check(&[], &[obj("", "configmaps", "c", &[], false)], &[], &[ContentRemaining]);
        check(
            &[],
            std::slice::from_ref(&adapter),
            &["metrics.k8s.io/v1beta1"],
            &[DiscoveryFailure, FinalizersRemaining],
        );
        check(&[cond(DISCOVERY_FAILURE, "True")], &[], &[], &[DiscoveryFailure]);
        check(
            &[cond(GROUP_VERSION_PARSING_FAILURE, "True")],
            &[],
            &[],
            &[GroupVersionParsingFailure],
        );
        check(
            &[cond(CONTENT_DELETION_FAILURE, "True")],
            &[],
            &[],
            &[ContentDeletionFailure],
        );
        check(
            &[],
            &[obj("", "pods", "p", &[], true), adapter.clone()],
            &[],
            &[PodsRemaining, FinalizersRemaining],
        );
        // Finalizers on an object not yet deleted are content the controller has not reached yet.
        check(
            &[],
            &[obj("", "configmaps", "c", &["x/y"], false)],
            &[],
            &[ContentRemaining],
        );
        check(
            &[cond(CONTENT_REMAINING, "False"), cond(FINALIZERS_REMAINING, "False")],
            &[],
            &[],
            &[NamespaceFinalizerOnly],
        );
        assert_eq!(classify_causes(&[], &[], &[], &[], &[]), [Unknown]);
        // Content that could not be listed: "only the namespace finalizer is left" cannot be claimed.
        assert_eq!(
            classify_causes(&[], &[], &[], &["kubernetes".into()], &["widgets.example.com".into()]),
            [Unknown]
        );
        // The controller's own condition outranks the auditor's discovery: False means its discovery works.
        check(
            &[cond(DISCOVERY_FAILURE, "False")],
            std::slice::from_ref(&adapter),
            &["metrics.k8s.io/v1beta1"],
            &[FinalizersRemaining],
        );
        // Conditions alone, when the content could not be listed.
        check(&[cond(FINALIZERS_REMAINING, "True")], &[], &[], &[FinalizersRemaining]);
    }

    #[test]
    fn blockers_group_by_resource_and_finalizer() {
        let remaining = vec![
            obj(
                "model.aibrix.ai",
                "modeladapters",
                "a",
                &["adapter.model.aibrix.ai/finalizer"],
                true,
            ),
            obj(
                "model.aibrix.ai",
                "modeladapters",
                "b",
                &["adapter.model.aibrix.ai/finalizer"],
                true,
            ),
            obj(
                "",
                "persistentvolumeclaims",
                "data",
                &["kubernetes.io/pvc-protection", "x.io/y"],
                true,
            ),
            obj("", "configmaps", "c", &[], false),
        ];
        let summaries: Vec<String> = group_blockers(&remaining).iter().map(Blocker::summary).collect();
        assert_eq!(
            summaries,
            [
                "1 × configmaps not yet deleted",
                "1 × persistentvolumeclaims waiting on kubernetes.io/pvc-protection",
                "1 × persistentvolumeclaims waiting on x.io/y",
                "2 × modeladapters.model.aibrix.ai waiting on adapter.model.aibrix.ai/finalizer",
            ]
        );
    }

    #[test]
    fn lenient_view_keeps_what_it_can_read() {
        let body = serde_json::json!({
            "metadata": {"name": "a", "uid": "u", "resourceVersion": "9", "finalizers": ["example.com/keep"]},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Terminating", "conditions": [
                {"type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizersRemain",
                 "message": "Some content in the namespace has finalizers remaining: x.io/y in 3 resource instances"},
                {"type": "NamespaceContentRemaining", "message": "an unparseable message, kept verbatim", "lastTransitionTime": 17},
                {"status": "True"}
            ]}
        });
        let ns = NamespaceView::from_json(&body);
        assert_eq!(ns.name, "a");
        assert_eq!(ns.spec_finalizers, ["kubernetes"]);
        assert_eq!(ns.metadata_finalizers, ["example.com/keep"]);
        assert_eq!(ns.conditions.len(), 3);
        assert_eq!(
            ns.conditions[0].parsed,
            [ConditionItem {
                subject: "x.io/y".into(),
                count: 3
            }]
        );
        assert_eq!(ns.conditions[1].message, "an unparseable message, kept verbatim");
        assert!(ns.conditions[1].parsed.is_empty());
        assert_eq!(ns.conditions[1].status, "");
    }

    #[test]
    fn a_namespace_held_by_its_own_metadata_finalizer_names_it() {
        let ns = NamespaceView {
            name: "a".into(),
            metadata_finalizers: vec!["example.com/keep".into()],
            ..NamespaceView::default()
        };
        let deleted: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
        let now: Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        let facts = NamespaceFacts {
            namespace: &ns,
            deletion_timestamp: deleted,
            remaining: vec![],
            failing_group_versions: vec![],
            unavailable_api_services: vec![],
            unlisted_resources: vec![],
        };
        let verdict = assess(facts, now, Duration::from_secs(900));
        assert_eq!(verdict.reason, Some(StuckReason::FinalizersRemaining));
        assert_eq!(
            verdict.blockers[0].summary(),
            "1 × namespaces waiting on example.com/keep"
        );
    }

    #[test]
    fn stuck_only_past_the_threshold() {
        let deleted: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
        let now: Timestamp = "2026-11-21T10:14:59Z".parse().unwrap();
        assert!(!is_stuck(deleted, now, Duration::from_secs(15 * 60)));
        let later: Timestamp = "2026-11-21T10:15:01Z".parse().unwrap();
        assert!(is_stuck(deleted, later, Duration::from_secs(15 * 60)));
    }
}
