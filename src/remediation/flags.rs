//! The remediation flags (shared by `run`, `demo` and `remediate`), each with its
//! `GARBAGE_AUDIT_REMEDIATION_*` environment twin. Values that cannot work are refused here
//! (exit status 2, naming the flag), so nothing starts half-configured.

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::action::{is_kubernetes_finalizer, ActionKind};
use super::policy::{Mode, Policy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Audit only: no remediation request of any kind.
    Off,
    /// Plan and validate each action with a server-side dry run; write nothing else.
    DryRun,
    /// Act on the plan (only the replica holding the Lease).
    Enforce,
}

fn action(s: &str) -> Result<ActionKind, String> {
    ActionKind::parse(s.trim()).ok_or_else(|| {
        format!("{s:?} is not an action (expected a comma list of fix_owner_kind, delete_orphan, remove_finalizer)")
    })
}

fn finalizer(s: &str) -> Result<String, String> {
    let f = s.trim();
    if f.is_empty() || f.chars().any(char::is_whitespace) {
        return Err(format!("{s:?} is not a finalizer name"));
    }
    if f != "*" && is_kubernetes_finalizer(f) {
        return Err(format!(
            "{f:?} belongs to Kubernetes; the remediation queue never removes it"
        ));
    }
    Ok(f.to_string())
}

fn namespace(s: &str) -> Result<String, String> {
    let n = s.trim();
    if n.is_empty() || n.contains('/') || n.chars().any(char::is_whitespace) {
        return Err(format!("{s:?} is not a namespace name"));
    }
    Ok(n.to_string())
}

/// A cap of at least 1: 0 would let the queue act on nothing (`--remediation off` says that).
fn count(s: &str) -> Result<usize, String> {
    crate::cli::positive(s).map_err(|e| {
        if e == "must be at least 1" {
            "must be at least 1 (0 would never act; --remediation off turns the queue off)".into()
        } else {
            e
        }
    })
}

fn rounds(s: &str) -> Result<u32, String> {
    let n = crate::cli::positive(s)?;
    u32::try_from(n).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Args)]
pub struct RemediationArgs {
    /// Remediation mode: off (default: no write request, ever), dry-run (plan and validate with server-side dry runs), enforce (act).
    #[arg(long, env = "GARBAGE_AUDIT_REMEDIATION", value_enum, default_value = "off")]
    pub remediation: ModeArg,
    /// Actions the queue may take (comma list).
    #[arg(long, env = "GARBAGE_AUDIT_REMEDIATION_ACTIONS", value_delimiter = ',', default_value = "fix_owner_kind,delete_orphan,remove_finalizer", value_parser = action)]
    pub remediation_actions: Vec<ActionKind>,
    /// Finalizers declared safe to strip once stuck (exact names, `*` globs). Empty by default: no finalizer is removed unless listed.
    #[arg(long, env = "GARBAGE_AUDIT_REMEDIATION_FINALIZERS", value_delimiter = ',', value_parser = finalizer)]
    pub remediation_finalizers: Vec<String>,
    /// Only act in these namespaces (comma list; default: every namespace but kube-system, kube-public, kube-node-lease and the daemon's own, which must be named here to be included).
    #[arg(long, env = "GARBAGE_AUDIT_REMEDIATION_NAMESPACES", value_delimiter = ',', value_parser = namespace)]
    pub remediation_namespaces: Vec<String>,
    /// Never act in these namespaces (comma list).
    #[arg(long, env = "GARBAGE_AUDIT_REMEDIATION_EXCLUDE_NAMESPACES", value_delimiter = ',', value_parser = namespace)]
    pub remediation_exclude_namespaces: Vec<String>,
    /// Consecutive complete rounds a finding must be seen in before it is acted on.
    #[arg(long, env = "GARBAGE_AUDIT_REMEDIATION_MIN_ROUNDS", default_value = "3", value_parser = rounds, allow_hyphen_values = true)]
    pub remediation_min_rounds: u32,
    /// Actions per round at most.
    #[arg(long, env = "GARBAGE_AUDIT_REMEDIATION_MAX_PER_ROUND", default_value = "5", value_parser = count, allow_hyphen_values = true)]
    pub remediation_max_per_round: usize,
    /// Applied actions per rolling hour at most.
    #[arg(long, env = "GARBAGE_AUDIT_REMEDIATION_MAX_PER_HOUR", default_value = "30", value_parser = count, allow_hyphen_values = true)]
    pub remediation_max_per_hour: usize,
    /// If a round plans more candidates than this, act on none until the plan shrinks.
    #[arg(long, env = "GARBAGE_AUDIT_REMEDIATION_HALT_ABOVE", default_value = "50", value_parser = count, allow_hyphen_values = true)]
    pub remediation_halt_above: usize,
}

impl RemediationArgs {
    pub fn mode(&self) -> Mode {
        match self.remediation {
            ModeArg::Off => Mode::Off,
            ModeArg::DryRun => Mode::DryRun,
            ModeArg::Enforce => Mode::Enforce,
        }
    }

    pub fn policy(&self, stuck_after: Duration, own_namespace: Option<String>) -> Policy {
        Policy {
            mode: self.mode(),
            actions: {
                let mut a = self.remediation_actions.clone();
                a.dedup();
                a
            },
            finalizers: self.remediation_finalizers.clone(),
            include_namespaces: self.remediation_namespaces.clone(),
            exclude_namespaces: self.remediation_exclude_namespaces.clone(),
            own_namespace,
            min_rounds: self.remediation_min_rounds,
            min_age: stuck_after,
            max_per_round: self.remediation_max_per_round,
            max_per_hour: self.remediation_max_per_hour,
            halt_above: self.remediation_halt_above,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_cannot_work_are_refused() {
        assert!(action("nuke").unwrap_err().contains("\"nuke\" is not an action"));
        assert_eq!(action(" delete_orphan").unwrap(), ActionKind::DeleteOrphan);
        assert!(finalizer("kubernetes").unwrap_err().contains("belongs to Kubernetes"));
        assert!(finalizer("kubernetes.io/pvc-protection").is_err());
        assert_eq!(finalizer("*.aibrix.ai/*").unwrap(), "*.aibrix.ai/*");
        assert!(rounds("0").is_err());
        assert!(namespace("a/b").is_err());
    }
}
