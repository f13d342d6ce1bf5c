//! Why a Terminating namespace is stuck: pure functions over the namespace object, what is left
//! inside it and what discovery reported. No I/O.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Namespace;

use crate::findings::{Blocker, ConditionItem, NamespaceCondition, RemainingObject, StuckReason, TerminatingNamespace};

pub const DISCOVERY_FAILURE: &str = "NamespaceDeletionDiscoveryFailure";
pub const GROUP_VERSION_PARSING_FAILURE: &str = "NamespaceDeletionGroupVersionParsingFailure";
pub const CONTENT_DELETION_FAILURE: &str = "NamespaceDeletionContentFailure";
pub const CONTENT_REMAINING: &str = "NamespaceContentRemaining";
pub const FINALIZERS_REMAINING: &str = "NamespaceFinalizersRemaining";

/// Everything known about one Terminating namespace.
#[derive(Debug, Clone)]
pub struct NamespaceFacts<'a> {
    pub namespace: &'a Namespace,
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

/// The namespace's conditions as read, with parsed items where the message could be parsed.
pub fn read_conditions(namespace: &Namespace) -> Vec<NamespaceCondition> {
    let conditions = namespace.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions
        .into_iter()
        .flatten()
        .map(|c| {
            let message = c.message.clone().unwrap_or_default();
            NamespaceCondition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone().unwrap_or_default(),
                parsed: parse_condition_items(&message),
                message,
            }
        })
        .collect()
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
pub fn classify_causes(
    conditions: &[NamespaceCondition],
    remaining: &[RemainingObject],
    failing_group_versions: &[String],
    spec_finalizers: &[String],
) -> Vec<StuckReason> {
    let mut reasons = Vec::new();
    if !failing_group_versions.is_empty() || condition_true(conditions, DISCOVERY_FAILURE) {
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
    if reasons.is_empty() && remaining.is_empty() && !spec_finalizers.is_empty() {
        reasons.push(StuckReason::NamespaceFinalizerOnly);
    }
    if reasons.is_empty() {
        reasons.push(StuckReason::Unknown);
    }
    reasons
}

/// Judges one Terminating namespace.
pub fn assess(facts: NamespaceFacts<'_>, now: Timestamp, stuck_after: Duration) -> TerminatingNamespace {
    let ns = facts.namespace;
    let conditions = read_conditions(ns);
    let spec_finalizers = ns.spec.as_ref().and_then(|s| s.finalizers.clone()).unwrap_or_default();
    let stuck = is_stuck(facts.deletion_timestamp, now, stuck_after);
    let mut failing = facts.failing_group_versions.clone();
    for c in conditions
        .iter()
        .filter(|c| c.type_ == DISCOVERY_FAILURE && c.status == "True")
    {
        for gv in parse_failing_group_versions(&c.message) {
            if !failing.contains(&gv) {
                failing.push(gv);
            }
        }
    }
    let reasons = if stuck {
        classify_causes(&conditions, &facts.remaining, &failing, &spec_finalizers)
    } else {
        Vec::new()
    };
    TerminatingNamespace {
        namespace: ns.metadata.name.clone().unwrap_or_default(),
        uid: ns.metadata.uid.clone().unwrap_or_default(),
        resource_version: ns.metadata.resource_version.clone().unwrap_or_default(),
        deletion_timestamp: facts.deletion_timestamp.to_string(),
        terminating_seconds: terminating_seconds(facts.deletion_timestamp, now),
        stuck,
        reason: reasons.first().copied(),
        reasons,
        spec_finalizers,
        conditions,
        blockers: group_blockers(&facts.remaining),
        failing_group_versions: failing,
        unavailable_api_services: facts.unavailable_api_services,
        unlisted_resources: facts.unlisted_resources,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::ObjectId;

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
            },
            finalizers: finalizers.iter().map(|s| s.to_string()).collect(),
            deletion_timestamp: deleting.then(|| "2026-01-01T00:00:00Z".to_string()),
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
            classify_causes(conditions, remaining, &failing, &["kubernetes".into()]),
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
        assert_eq!(classify_causes(&[], &[], &[], &[]), [Unknown]);
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
    fn stuck_only_past_the_threshold() {
        let deleted: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
        let now: Timestamp = "2026-11-21T10:14:59Z".parse().unwrap();
        assert!(!is_stuck(deleted, now, Duration::from_secs(15 * 60)));
        let later: Timestamp = "2026-11-21T10:15:01Z".parse().unwrap();
        assert!(is_stuck(deleted, later, Duration::from_secs(15 * 60)));
    }
}
