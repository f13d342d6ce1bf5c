//! The text `demo` prints: where the simulated cluster is, and the kubectl commands that show and
//! fix its problems. Every kubectl command names the demo's kubeconfig explicitly, so a command
//! pasted into another terminal can never reach the user's real current context.
//!
//! Pure: paths and addresses in, text out.

use std::path::Path;

use crate::remediation::action::SuggestedAction;

/// Quotes a path for a POSIX shell when it needs it.
fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@%,".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Every suggested action in the report, once each (by key), in report order.
pub fn actions(report: &crate::findings::Report) -> Vec<SuggestedAction> {
    let mut seen = std::collections::BTreeSet::new();
    report
        .suggested_actions()
        .filter(|a| seen.insert(a.key()))
        .cloned()
        .collect()
}

/// The commands, without the explanatory lines: (comment, command). The fixes are rendered from
/// the findings' suggested actions (the same ones the remediation queue would take).
pub fn commands(kubeconfig: &Path, actions: &[SuggestedAction]) -> Vec<(String, String)> {
    let quoted = shell_quote(&kubeconfig.display().to_string());
    let k = format!("kubectl --kubeconfig {quoted}");
    let mut out = vec![
        ("aibrix-system is Terminating".to_string(), format!("{k} get ns")),
        (
            "the HPAs' owner kind: PodAutoScaler, but the CRD's kind is PodAutoscaler".to_string(),
            format!(
                "{k} get hpa -n llm-serving -o custom-columns=NAME:.metadata.name,OWNER-KIND:.metadata.ownerReferences[0].kind,OWNER:.metadata.ownerReferences[0].name"
            ),
        ),
    ];
    out.extend(actions.iter().map(|a| (a.describe(), a.kubectl(Some(&quoted)))));
    out
}

/// The whole block the demo prints after its first round (and again on SIGUSR1).
pub fn guide(kubeconfig: &Path, cluster_url: &str, listen: &str, pid: u32, actions: &[SuggestedAction]) -> String {
    let mut out = format!(
        "Simulated cluster (kube-sim, scenario `aibrix`) listening on {cluster_url}\n\
         Metrics: http://{listen}/metrics   Findings: http://{listen}/findings   Remediation plan: http://{listen}/remediations\n\
         Every kubectl command below names the demo's kubeconfig. For commands of your own:\n  \
         export KUBECONFIG={quoted}\n",
        quoted = shell_quote(&kubeconfig.display().to_string()),
    );
    for (comment, command) in commands(kubeconfig, actions) {
        out.push_str(&format!("# {comment}:\n  {command}\n"));
    }
    out.push_str(&format!(
        "The fixes above are the findings' suggested actions, each guarded by the object's resourceVersion. \
         To let the remediation queue apply them itself, restart the demo with \
         --remediation enforce --remediation-finalizers adapter.model.aibrix.ai/finalizer \
         (Events: kubectl --kubeconfig {quoted} get events.events.k8s.io -A).\n\
         The log below shows each finding once when it appears, changes or is resolved. \
         Print this again with: kill -USR1 {pid}\n",
        quoted = shell_quote(&kubeconfig.display().to_string()),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixes() -> Vec<SuggestedAction> {
        use crate::findings::{fixtures::hpa_problem, OwnerProblemReason};
        use crate::remediation::action::for_owner_problem;
        vec![
            for_owner_problem(&hpa_problem("live", OwnerProblemReason::KindCaseMismatch, true, false)).unwrap(),
            for_owner_problem(&hpa_problem("gone", OwnerProblemReason::KindCaseMismatch, true, true)).unwrap(),
            for_owner_problem(&hpa_problem("gone2", OwnerProblemReason::KindCaseMismatch, true, true)).unwrap(),
        ]
    }

    #[test]
    fn every_kubectl_command_names_the_demo_kubeconfig() {
        let path = Path::new("/tmp/kube-garbage-audit-demo-1/kubeconfig");
        let commands = commands(path, &fixes());
        assert_eq!(commands.len(), 5);
        for (_, c) in &commands {
            assert!(
                c.starts_with("kubectl --kubeconfig /tmp/kube-garbage-audit-demo-1/kubeconfig "),
                "{c}"
            );
        }
        let text = guide(path, "http://127.0.0.1:1234", "127.0.0.1:9090", 42, &fixes());
        assert_eq!(
            text.lines().filter(|l| l.starts_with("  kubectl ")).count(),
            5,
            "{text}"
        );
        assert!(text.contains("kill -USR1 42"));
        // scripts/e2e-prometheus.sh reads the path from this line: nothing may follow it.
        assert!(text
            .lines()
            .any(|l| l.trim() == "export KUBECONFIG=/tmp/kube-garbage-audit-demo-1/kubeconfig"));
        // The hint shows what it claims: the owner kind.
        assert!(commands[1].1.contains(".metadata.ownerReferences[0].kind"));
        // Fixes are rendered from the actions: guarded patches and a preconditioned delete.
        assert!(
            commands[2].1.contains(r#""path":"/metadata/resourceVersion""#),
            "{}",
            commands[2].1
        );
        assert!(commands[3]
            .1
            .contains("delete horizontalpodautoscalers.autoscaling gone"));
    }

    #[test]
    fn odd_paths_are_quoted() {
        let c = commands(Path::new("/tmp/my demo/it's"), &fixes());
        assert!(
            c[0].1
                .starts_with(r"kubectl --kubeconfig '/tmp/my demo/it'\''s' get ns"),
            "{}",
            c[0].1
        );
    }
}
