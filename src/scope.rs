//! `scan -n NAMESPACE`: the part of a report about one namespace, for kubectl-style use
//! (`kubectl garbage-audit scan -n llm-serving`). The scan itself stays cluster-wide: owners,
//! discovery and the namespace controller's view are, so completeness and scan issues are kept.

use crate::findings::Report;

/// Keeps the findings about objects in `namespace`, and the namespace itself if it is Terminating.
pub fn only_namespace(mut report: Report, namespace: &str) -> Report {
    report
        .owner_reference_problems
        .retain(|p| p.dependent.namespace == namespace);
    report
        .unresolved_references
        .retain(|r| r.dependent.namespace == namespace);
    report.stuck_namespaces.retain(|n| n.namespace == namespace);
    report.terminating_namespaces.retain(|n| n.namespace == namespace);
    report.stuck_objects.retain(|o| {
        let id = &o.object.object;
        id.namespace == namespace || (id.namespace.is_empty() && id.resource == "namespaces" && id.name == namespace)
    });
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report_formats::tests::report;

    #[test]
    fn keeps_only_what_is_in_the_namespace() {
        let all = report();
        let llm = only_namespace(all.clone(), "llm");
        assert_eq!(llm.owner_reference_problems.len(), 2);
        assert!(llm.stuck_namespaces.is_empty());
        assert!(llm.has_findings());
        let aibrix = only_namespace(all.clone(), "aibrix-system");
        assert!(aibrix.owner_reference_problems.is_empty());
        assert_eq!(aibrix.stuck_namespaces.len(), 1);
        let other = only_namespace(all, "default");
        assert!(!other.has_findings());
        assert_eq!(other.scanners.len(), 2);
    }
}
