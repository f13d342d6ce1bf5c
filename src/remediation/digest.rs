//! The confirmation digest of a one-shot plan (`remediate`): a hash of exactly the actions it
//! would take and the resourceVersions they were planned against, so `--confirm DIGEST` applies
//! that plan or nothing. Pure.

use sha2::{Digest, Sha256};

use super::action::SuggestedAction;

/// Lowercase hex SHA-256 (first 16 bytes) of the sorted `key@resourceVersion` lines.
pub fn plan_digest<'a>(actions: impl IntoIterator<Item = &'a SuggestedAction>) -> String {
    let mut lines: Vec<String> = actions
        .into_iter()
        .map(|a| format!("{}@{}", a.key(), a.object.resource_version))
        .collect();
    lines.sort();
    let hash = Sha256::digest(lines.join("\n").as_bytes());
    hash.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::fixtures::hpa_problem;
    use crate::findings::OwnerProblemReason;
    use crate::remediation::action::for_owner_problem;

    #[test]
    fn digest_is_order_free_and_bound_to_the_resource_version() {
        let a = for_owner_problem(&hpa_problem("a", OwnerProblemReason::KindCaseMismatch, true, false)).unwrap();
        let b = for_owner_problem(&hpa_problem("b", OwnerProblemReason::KindCaseMismatch, true, true)).unwrap();
        assert_eq!(plan_digest([&a, &b]), plan_digest([&b, &a]));
        assert_eq!(plan_digest([&a]).len(), 32);
        let mut moved = a.clone();
        moved.object.resource_version = "2".into();
        assert_ne!(plan_digest([&a]), plan_digest([&moved]));
        assert_ne!(plan_digest([&a]), plan_digest([&a, &b]));
    }
}
