//! `scan -o sarif`: a SARIF 2.1.0 log with one run, one rule per check (rule id = reason) and one
//! result per finding, located by the object's API path relative to the base id
//! [`API_SERVER`] (the audited cluster's API server).

use serde_json::{json, Value};

use super::{checks, findings, partial_data_notes, Finding, ObjectLocation};
use crate::findings::Report;

/// The `uriBaseId` every location is relative to.
pub const API_SERVER: &str = "KUBERNETES_API_SERVER";

const SCHEMA: &str = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

fn physical(location: &ObjectLocation) -> Value {
    json!({"artifactLocation": {"uri": location.uri, "uriBaseId": API_SERVER}})
}

fn result(finding: &Finding, rule_index: usize) -> Value {
    let related: Vec<Value> = finding
        .related
        .iter()
        .enumerate()
        .map(|(i, (loc, why))| {
            json!({
                "id": i,
                "physicalLocation": physical(loc),
                "logicalLocations": [{"fullyQualifiedName": loc.display, "kind": "resource"}],
                "message": {"text": format!("{}: {why}", loc.display)},
            })
        })
        .collect();
    let mut result = json!({
        "ruleId": finding.check.id,
        "ruleIndex": rule_index,
        "level": finding.level.as_str(),
        "message": {"text": finding.message},
        "locations": [{
            "physicalLocation": physical(&finding.location),
            "logicalLocations": [{"fullyQualifiedName": finding.location.display, "kind": "resource"}],
        }],
        "partialFingerprints": {"kubernetesFinding/v1": finding.fingerprint},
        "properties": {"uid": finding.location.uid, "finding": finding.details},
    });
    if !related.is_empty() {
        result["relatedLocations"] = Value::Array(related);
    }
    result
}

/// The whole SARIF log for `report`.
pub fn render(report: &Report) -> Value {
    let catalogue = checks();
    let rules: Vec<Value> = catalogue
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "name": c.id,
                "shortDescription": {"text": c.description},
                "helpUri": c.help_uri(),
                "defaultConfiguration": {"level": c.level.as_str()},
                "properties": {"scanner": c.scanner, "tags": ["kubernetes", c.scanner]},
            })
        })
        .collect();
    let results: Vec<Value> = findings(report)
        .iter()
        .map(|f| {
            let index = catalogue.iter().position(|c| c.id == f.check.id).unwrap_or_default();
            result(f, index)
        })
        .collect();
    let mut notifications: Vec<Value> = report
        .scanners
        .iter()
        .filter_map(|s| {
            s.last_error
                .as_ref()
                .map(|e| json!({"level": "error", "message": {"text": format!("scanner {} failed: {e}", s.name)}}))
        })
        .collect();
    notifications.extend(
        partial_data_notes(report)
            .into_iter()
            .map(|(_, text)| json!({"level": "warning", "message": {"text": text}})),
    );
    let mut invocation = json!({
        "executionSuccessful": report.scanners.iter().all(|s| s.last_error.is_none()),
        "endTimeUtc": report.generated_at,
    });
    if !notifications.is_empty() {
        invocation["toolExecutionNotifications"] = Value::Array(notifications);
    }
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kube-garbage-audit",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/kube-garbage-audit/kube-garbage-audit",
                "rules": rules,
            }},
            "invocations": [invocation],
            "originalUriBaseIds": {API_SERVER: {"description": {
                "text": "The audited cluster's API server: each location is an object's path on it (kubectl get --raw /<uri>)."
            }}},
            "results": results,
            "properties": {"complete": report.complete},
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report_formats::tests::{report, status};

    #[test]
    fn one_result_per_finding_with_reason_rules_and_object_locations() {
        let log = render(&report());
        assert_eq!(log["version"], "2.1.0");
        let run = &log["runs"][0];
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        let r = &results[0];
        assert_eq!(r["ruleId"], "KindCaseMismatch");
        assert_eq!(r["level"], "error");
        let rule = &run["tool"]["driver"]["rules"][r["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], "KindCaseMismatch");
        assert!(rule["helpUri"]
            .as_str()
            .unwrap()
            .ends_with("KubeOwnerReferenceUnresolvable.md"));
        let artifact = &r["locations"][0]["physicalLocation"]["artifactLocation"];
        assert_eq!(
            artifact["uri"],
            "apis/autoscaling/v2/namespaces/llm/horizontalpodautoscalers/mistral-7b-hpa"
        );
        assert_eq!(artifact["uriBaseId"], API_SERVER);
        assert_eq!(r["properties"]["finding"]["suggestedKind"], "PodAutoscaler");
        assert_eq!(results[1]["level"], "warning");
        let ns = &results[2];
        assert_eq!(ns["ruleId"], "FinalizersRemaining");
        assert_eq!(
            ns["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "apis/model.aibrix.ai/v1alpha1/namespaces/aibrix-system/modeladapters/qwen-code-lora"
        );
        assert_eq!(run["invocations"][0]["executionSuccessful"], true);
    }

    #[test]
    fn a_failed_scanner_and_partial_data_are_notifications() {
        let mut r = report();
        r.scanners[1] = status("namespaces", Some("403 forbidden"));
        r.scan_issues.push(crate::findings::ScanIssue {
            scanner: "owner_references".into(),
            message: "pods could not be listed".into(),
        });
        let log = render(&r);
        let inv = &log["runs"][0]["invocations"][0];
        assert_eq!(inv["executionSuccessful"], false);
        let texts: Vec<&str> = inv["toolExecutionNotifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["message"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            texts,
            ["scanner namespaces failed: 403 forbidden", "pods could not be listed"]
        );
    }
}
