//! The text `demo` prints: where the simulated cluster is, and the kubectl commands that show and
//! fix its problems. Every kubectl command names the demo's kubeconfig explicitly, so a command
//! pasted into another terminal can never reach the user's real current context.
//!
//! Pure: paths and addresses in, text out.

use std::path::Path;

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

/// The commands, without the explanatory lines: (comment, command).
pub fn commands(kubeconfig: &Path) -> Vec<(&'static str, String)> {
    let k = format!(
        "kubectl --kubeconfig {}",
        shell_quote(&kubeconfig.display().to_string())
    );
    vec![
        ("aibrix-system is Terminating", format!("{k} get ns")),
        (
            "the HPAs' owner kind: PodAutoScaler, but the CRD's kind is PodAutoscaler",
            format!(
                "{k} get hpa -n llm-serving -o custom-columns=NAME:.metadata.name,OWNER-KIND:.metadata.ownerReferences[0].kind,OWNER:.metadata.ownerReferences[0].name"
            ),
        ),
        (
            "fix the stuck namespace by removing only the dead finalizer",
            format!(
                r#"{k} patch modeladapter qwen-code-lora -n aibrix-system --type=json -p '[{{"op":"test","path":"/metadata/finalizers/0","value":"adapter.model.aibrix.ai/finalizer"}},{{"op":"remove","path":"/metadata/finalizers/0"}}]'"#
            ),
        ),
        (
            "fix the live HPA's owner kind",
            format!(
                r#"{k} patch hpa llama-3-8b-hpa -n llm-serving --type=json -p '[{{"op":"test","path":"/metadata/ownerReferences/0/kind","value":"PodAutoScaler"}},{{"op":"replace","path":"/metadata/ownerReferences/0/kind","value":"PodAutoscaler"}}]'"#
            ),
        ),
        (
            "delete the orphaned HPA the garbage collector cannot collect",
            format!("{k} delete hpa mistral-7b-hpa -n llm-serving"),
        ),
    ]
}

/// The whole block the demo prints at start (and again on SIGUSR1).
pub fn guide(kubeconfig: &Path, cluster_url: &str, listen: &str, pid: u32) -> String {
    let mut out = format!(
        "Simulated cluster (kube-sim, scenario `aibrix`) listening on {cluster_url}\n\
         Metrics: http://{listen}/metrics   Findings: http://{listen}/findings\n\
         Every kubectl command below names the demo's kubeconfig. For commands of your own:\n  \
         export KUBECONFIG={quoted}\n",
        quoted = shell_quote(&kubeconfig.display().to_string()),
    );
    for (comment, command) in commands(kubeconfig) {
        out.push_str(&format!("# {comment}:\n  {command}\n"));
    }
    out.push_str(&format!(
        "The log below shows each finding once when it appears, changes or is resolved. \
         Print these commands again with: kill -USR1 {pid}\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kubectl_command_names_the_demo_kubeconfig() {
        let path = Path::new("/tmp/kube-garbage-audit-demo-1/kubeconfig");
        let commands = commands(path);
        assert_eq!(commands.len(), 5);
        for (_, c) in &commands {
            assert!(
                c.starts_with("kubectl --kubeconfig /tmp/kube-garbage-audit-demo-1/kubeconfig "),
                "{c}"
            );
        }
        let text = guide(path, "http://127.0.0.1:1234", "127.0.0.1:9090", 42);
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
    }

    #[test]
    fn odd_paths_are_quoted() {
        let c = commands(Path::new("/tmp/my demo/it's"));
        assert!(
            c[0].1
                .starts_with(r"kubectl --kubeconfig '/tmp/my demo/it'\''s' get ns"),
            "{}",
            c[0].1
        );
    }
}
