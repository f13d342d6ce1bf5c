//! `scan -o sarif`, `scan -o junit` and `scan -n` against the aibrix scenario, through the real
//! binary: what a CI job consuming them sees. (scripts/check-ci-outputs.sh validates the same
//! SARIF against the SARIF 2.1.0 JSON schema.)

mod common;

use serde_json::Value;

async fn scan(cluster: &common::Cluster, args: &[&str]) -> (i32, String) {
    let mut all = vec!["scan"];
    all.extend_from_slice(args);
    let out = cluster.run(&all).await;
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf-8 output"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn sarif_has_one_result_per_finding_located_by_object() {
    let cluster = common::cluster(Some("aibrix"), &[]).await;
    let (code, json) = cluster.scan_json(&[]).await;
    let (sarif_code, text) = scan(&cluster, &["-o", "sarif"]).await;
    assert_eq!((code, sarif_code), (1, 1), "findings exit 1 in every format");
    let log: Value = serde_json::from_str(&text).expect("SARIF is JSON");
    assert_eq!(log["version"], "2.1.0");
    let results = log["runs"][0]["results"].as_array().expect("results");
    let expected =
        json["ownerReferenceProblems"].as_array().unwrap().len() + json["stuckNamespaces"].as_array().unwrap().len();
    assert_eq!(results.len(), expected, "{text}");

    let mistral = results
        .iter()
        .find(|r| r["message"]["text"].as_str().unwrap().contains("mistral-7b-hpa"))
        .expect("the orphaned HPA is a result");
    assert_eq!(mistral["ruleId"], "KindCaseMismatch");
    assert_eq!(mistral["level"], "error");
    assert_eq!(
        mistral["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "apis/autoscaling/v2/namespaces/llm-serving/horizontalpodautoscalers/mistral-7b-hpa"
    );
    assert_eq!(mistral["properties"]["finding"]["suggestedKind"], "PodAutoscaler");

    // The location is the object's real API path: kubectl can read it.
    let uri = mistral["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap();
    let got = cluster.kubectl(&["get", "--raw", &format!("/{uri}")]).await;
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    let object: Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(object["metadata"]["name"], "mistral-7b-hpa");

    let ns = results
        .iter()
        .find(|r| r["ruleId"] == "FinalizersRemaining")
        .expect("the stuck namespace is a result");
    assert_eq!(
        ns["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "api/v1/namespaces/aibrix-system"
    );
    assert!(
        ns["relatedLocations"][0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("qwen-code-lora"),
        "{ns}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn junit_fails_one_case_per_check_with_a_failure_per_finding() {
    let cluster = common::cluster(Some("aibrix"), &[]).await;
    let (code, xml) = scan(&cluster, &["-o", "junit"]).await;
    assert_eq!(code, 1);
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"),
        "{xml}"
    );
    // 11 owner-reference checks, 8 namespace reasons + stuck objects, API discovery.
    assert_eq!(xml.matches("<testcase ").count(), 21, "{xml}");
    assert_eq!(xml.matches("<failure type=\"KindCaseMismatch\"").count(), 2, "{xml}");
    assert_eq!(xml.matches("<failure type=\"FinalizersRemaining\"").count(), 1, "{xml}");
    assert!(xml.contains("message=\"llm-serving/horizontalpodautoscalers.autoscaling/mistral-7b-hpa\""));
    assert!(
        xml.contains(r#"<testcase classname="kube-garbage-audit.owner_references" name="GroupNotServed" time="0"/>"#)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn namespace_scope_keeps_exit_codes_meaningful() {
    let cluster = common::cluster(Some("aibrix"), &[]).await;
    let (code, json) = cluster.scan_json(&["-n", "llm-serving"]).await;
    assert_eq!(code, 1);
    assert!(json["stuckNamespaces"].as_array().unwrap().is_empty());
    let problems = json["ownerReferenceProblems"].as_array().unwrap();
    assert!(!problems.is_empty());
    assert!(problems.iter().all(|p| p["dependent"]["namespace"] == "llm-serving"));

    let (code, json) = cluster.scan_json(&["--namespace", "aibrix-system"]).await;
    assert_eq!(
        (code, json["stuckNamespaces"][0]["namespace"].as_str()),
        (1, Some("aibrix-system"))
    );
    assert!(json["ownerReferenceProblems"].as_array().unwrap().is_empty());

    let (code, table) = scan(&cluster, &["-n", "default"]).await;
    assert_eq!(code, 0, "nothing wrong in default: {table}");
    assert!(table.contains("No namespace is stuck in Terminating."));
}
