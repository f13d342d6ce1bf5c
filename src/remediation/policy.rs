//! What the operator allows the remediation queue to do: modes, enabled actions, the finalizer
//! allowlist, namespace scope, and the rate and blast-radius limits. Pure.

use std::time::Duration;

use serde::Serialize;

use super::action::{is_kubernetes_finalizer, ActionKind, SuggestedAction};

/// `--remediation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// No plan, no request beyond the audit's reads.
    Off,
    /// Plan, and validate each action with a server-side `dryRun=All` request; nothing else is written.
    DryRun,
    /// Act (only the Lease holder).
    Enforce,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::DryRun => "dry-run",
            Mode::Enforce => "enforce",
        }
    }
}

/// Namespaces the queue leaves alone unless they are named in `--remediation-namespaces`.
pub const PROTECTED_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// The annotation that opts one object out of remediation (value `"false"`).
pub const OPT_OUT_ANNOTATION: &str = "kube-garbage-audit.io/remediate";

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub mode: Mode,
    pub actions: Vec<ActionKind>,
    /// Finalizers the operator declares safe to strip once stuck: exact names or `*` globs.
    pub finalizers: Vec<String>,
    /// Only these namespaces (empty: all but the protected ones and `own_namespace`).
    pub include_namespaces: Vec<String>,
    pub exclude_namespaces: Vec<String>,
    /// The daemon's own namespace (excluded unless named in `include_namespaces`).
    pub own_namespace: Option<String>,
    pub min_rounds: u32,
    /// A finding must be at least this old (`--stuck-after`).
    pub min_age: Duration,
    pub max_per_round: usize,
    pub max_per_hour: usize,
    pub halt_above: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            mode: Mode::Off,
            actions: ActionKind::ALL.to_vec(),
            finalizers: Vec::new(),
            include_namespaces: Vec::new(),
            exclude_namespaces: Vec::new(),
            own_namespace: None,
            min_rounds: 3,
            min_age: Duration::from_secs(15 * 60),
            max_per_round: 5,
            max_per_hour: 30,
            halt_above: 50,
        }
    }
}

/// `*` matches any run of characters (including `/`); everything else matches itself.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

impl Policy {
    /// Why the operator's configuration forbids this action, if it does (independent of rounds,
    /// rates and the object's current state).
    pub fn refusal(&self, a: &SuggestedAction) -> Option<String> {
        if !self.actions.contains(&a.action) {
            return Some(format!("action {} is not in --remediation-actions", a.action.as_str()));
        }
        if let Some(why) = self.namespace_refusal(&a.object.namespace) {
            return Some(why);
        }
        if a.action == ActionKind::RemoveFinalizer {
            let finalizer = a.expected.as_deref().unwrap_or_default();
            if is_kubernetes_finalizer(finalizer) {
                return Some(format!("{finalizer} belongs to Kubernetes and is never removed"));
            }
            if !self.finalizers.iter().any(|p| glob_matches(p, finalizer)) {
                return Some(format!("finalizer {finalizer} is not in --remediation-finalizers"));
            }
        }
        None
    }

    fn namespace_refusal(&self, namespace: &str) -> Option<String> {
        if namespace.is_empty() {
            return None;
        }
        let named = self.include_namespaces.iter().any(|n| n == namespace);
        if self.exclude_namespaces.iter().any(|n| n == namespace) {
            return Some(format!("namespace {namespace} is in --remediation-exclude-namespaces"));
        }
        if !self.include_namespaces.is_empty() && !named {
            return Some(format!("namespace {namespace} is not in --remediation-namespaces"));
        }
        let protected = PROTECTED_NAMESPACES.contains(&namespace) || self.own_namespace.as_deref() == Some(namespace);
        if protected && !named {
            return Some(format!(
                "namespace {namespace} is protected (name it in --remediation-namespaces to allow it)"
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::fixtures::hpa_problem;
    use crate::findings::OwnerProblemReason;
    use crate::remediation::action::for_owner_problem;

    #[test]
    fn globs() {
        for (p, t, want) in [
            (
                "adapter.model.aibrix.ai/finalizer",
                "adapter.model.aibrix.ai/finalizer",
                true,
            ),
            (
                "adapter.model.aibrix.ai/finalizer",
                "adapter.model.aibrix.ai/finalizerX",
                false,
            ),
            ("*.aibrix.ai/*", "adapter.model.aibrix.ai/finalizer", true),
            ("*.aibrix.ai/*", "example.com/finalizer", false),
            ("example.com/*", "example.com/", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "acb", false),
            ("*", "anything", true),
            ("ab*ba", "aba", false),
        ] {
            assert_eq!(glob_matches(p, t), want, "{p} vs {t}");
        }
    }

    fn finalizer_action(namespace: &str, finalizer: &str) -> SuggestedAction {
        let mut a = for_owner_problem(&hpa_problem("x", OwnerProblemReason::KindCaseMismatch, true, true)).unwrap();
        a.action = ActionKind::RemoveFinalizer;
        a.object.namespace = namespace.into();
        a.index = Some(0);
        a.expected = Some(finalizer.into());
        a
    }

    #[test]
    fn no_finalizer_is_removed_unless_listed() {
        let policy = Policy::default();
        let why = policy.refusal(&finalizer_action("apps", "example.com/f")).unwrap();
        assert!(why.contains("not in --remediation-finalizers"), "{why}");
        let policy = Policy {
            finalizers: vec!["example.com/*".into()],
            ..Policy::default()
        };
        assert_eq!(policy.refusal(&finalizer_action("apps", "example.com/f")), None);
        let policy = Policy {
            finalizers: vec!["*".into()],
            ..Policy::default()
        };
        assert!(policy
            .refusal(&finalizer_action("apps", "kubernetes.io/pvc-protection"))
            .unwrap()
            .contains("belongs to Kubernetes"));
    }

    #[test]
    fn namespace_scope() {
        let base = Policy {
            finalizers: vec!["*".into()],
            own_namespace: Some("kube-garbage-audit".into()),
            ..Policy::default()
        };
        for ns in ["kube-system", "kube-public", "kube-node-lease", "kube-garbage-audit"] {
            assert!(
                base.refusal(&finalizer_action(ns, "example.com/f"))
                    .unwrap()
                    .contains("protected"),
                "{ns}"
            );
        }
        let named = Policy {
            include_namespaces: vec!["kube-system".into()],
            ..base.clone()
        };
        assert_eq!(named.refusal(&finalizer_action("kube-system", "example.com/f")), None);
        assert!(named
            .refusal(&finalizer_action("apps", "example.com/f"))
            .unwrap()
            .contains("not in --remediation-namespaces"));
        let excluded = Policy {
            exclude_namespaces: vec!["apps".into()],
            ..base.clone()
        };
        assert!(excluded
            .refusal(&finalizer_action("apps", "example.com/f"))
            .unwrap()
            .contains("exclude"));
        let only_fix = Policy {
            actions: vec![ActionKind::FixOwnerKind],
            ..base
        };
        assert!(only_fix
            .refusal(&finalizer_action("apps", "example.com/f"))
            .unwrap()
            .contains("--remediation-actions"));
    }
}
