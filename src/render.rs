//! Human-readable rendering of a report (the `scan` table and the demo's log lines).

use std::fmt::Write;

use crate::findings::{OwnerReferenceProblem, Report, TerminatingNamespace};

/// Seconds as a short age, kubectl style: `45s`, `12m`, `3h4m`, `2d5h`.
pub fn age(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..=119 => format!("{s}s"),
        120..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let last = cells.len() - 1;
        cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                if i == last {
                    c
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("   ")
    };
    let _ = writeln!(out, "{}", line(header.iter().map(|h| h.to_string()).collect()));
    for row in rows {
        let _ = writeln!(out, "{}", line(row.clone()));
    }
}

/// One line summarising what blocks a stuck namespace.
pub fn namespace_summary(ns: &TerminatingNamespace) -> String {
    let mut parts: Vec<String> = ns.blockers.iter().map(|b| b.summary()).collect();
    if !ns.failing_group_versions.is_empty() {
        parts.insert(
            0,
            format!("discovery failing for {}", ns.failing_group_versions.join(", ")),
        );
    }
    if parts.is_empty() {
        parts.push(if ns.spec_finalizers.is_empty() {
            "nothing left".into()
        } else {
            format!("only spec.finalizers {:?} left", ns.spec_finalizers)
        });
    }
    parts.join("; ")
}

/// `ownerReferences[0] autoscaling.aibrix.ai/v1alpha1 PodAutoScaler mistral-7b`.
pub fn reference_summary(p: &OwnerReferenceProblem) -> String {
    let field = match p.reference.field {
        crate::findings::ReferenceField::OwnerReference => format!("ownerReferences[{}]", p.reference.index),
        crate::findings::ReferenceField::ScaleTargetRef => "scaleTargetRef".to_string(),
    };
    format!(
        "{field} {} {}/{}",
        p.reference.api_version, p.reference.kind, p.reference.name
    )
}

/// How much the tables show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// Fits a terminal: kinds instead of resource.group, no FIX column.
    Normal,
    /// Everything, including the suggested fix (`-o wide`).
    Wide,
}

/// `kind/name` of a reference; `[i] ` in front for any but the first ownerReference, `scaleTarget `
/// for an HPA's scale target.
fn short_reference(p: &OwnerReferenceProblem) -> String {
    let prefix = match p.reference.field {
        crate::findings::ReferenceField::OwnerReference if p.reference.index == 0 => String::new(),
        crate::findings::ReferenceField::OwnerReference => format!("[{}] ", p.reference.index),
        crate::findings::ReferenceField::ScaleTargetRef => "scaleTarget ".to_string(),
    };
    format!("{prefix}{}/{}", p.reference.kind, p.reference.name)
}

/// The `scan` command's table output.
pub fn report_table(report: &Report, width: Width) -> String {
    let mut out = String::new();
    if report.stuck_namespaces.is_empty() {
        out.push_str("No namespace is stuck in Terminating.\n");
    } else {
        out.push_str("STUCK NAMESPACES\n");
        let rows: Vec<Vec<String>> = report
            .stuck_namespaces
            .iter()
            .map(|ns| {
                vec![
                    ns.namespace.clone(),
                    age(ns.terminating_seconds),
                    ns.reason.map_or("Unknown", |r| r.as_str()).to_string(),
                    namespace_summary(ns),
                ]
            })
            .collect();
        table(&mut out, &["NAMESPACE", "TERMINATING", "REASON", "BLOCKERS"], &rows);
    }
    out.push('\n');
    if report.owner_reference_problems.is_empty() {
        out.push_str("No owner-reference problems.\n");
    } else {
        out.push_str("OWNER REFERENCE PROBLEMS\n");
        let wide = width == Width::Wide;
        let rows: Vec<Vec<String>> = report
            .owner_reference_problems
            .iter()
            .map(|p| {
                let mut row = vec![
                    if p.dependent.namespace.is_empty() {
                        "-".into()
                    } else {
                        p.dependent.namespace.clone()
                    },
                    if wide {
                        format!("{}/{}", p.dependent.qualified_resource(), p.dependent.name)
                    } else {
                        format!("{}/{}", p.dependent.kind, p.dependent.name)
                    },
                    if wide { reference_summary(p) } else { short_reference(p) },
                    p.reason.as_str().to_string(),
                    if p.gc_blocked { "yes".into() } else { "no".into() },
                ];
                if wide {
                    // The structured action when there is a safe one (what `remediate` and the
                    // queue would do, as the kubectl command), else the advice in words.
                    row.push(match &p.suggested_action {
                        Some(a) => format!("{}: {}", a.describe(), a.kubectl(None)),
                        None => p.fix.clone(),
                    });
                } else {
                    row.push(p.suggested_kind.clone().unwrap_or_else(|| "-".into()));
                }
                row
            })
            .collect();
        let last = if wide { "FIX" } else { "SUGGESTED-KIND" };
        table(
            &mut out,
            &["NAMESPACE", "OBJECT", "REFERENCE", "REASON", "GC-BLOCKED", last],
            &rows,
        );
        if !wide {
            out.push_str("(-o wide or -o json for the suggested fix of each)\n");
        }
    }
    if !report.stuck_objects.is_empty() {
        out.push_str("\nSTUCK OBJECTS\n");
        let rows: Vec<Vec<String>> = report
            .stuck_objects
            .iter()
            .map(|o| {
                let id = &o.object.object;
                vec![
                    if id.namespace.is_empty() {
                        "-".into()
                    } else {
                        id.namespace.clone()
                    },
                    format!("{}/{}", id.qualified_resource(), id.name),
                    age(o.deleted_seconds),
                    o.object.finalizers.join(","),
                ]
            })
            .collect();
        table(&mut out, &["NAMESPACE", "OBJECT", "DELETED", "FINALIZERS"], &rows);
    }
    if !report.terminating_namespaces.is_empty() {
        let names: Vec<String> = report
            .terminating_namespaces
            .iter()
            .map(|n| format!("{} ({})", n.namespace, age(n.terminating_seconds)))
            .collect();
        let _ = writeln!(out, "\nTerminating, not yet stuck: {}", names.join(", "));
    }
    if !report.discovery_failures.is_empty() {
        out.push_str("\nPARTIAL DATA: API discovery failed for:\n");
        for f in &report.discovery_failures {
            let gv = if f.group_version.is_empty() {
                "the group list"
            } else {
                &f.group_version
            };
            let _ = writeln!(out, "  {gv}: {}", f.error);
        }
    }
    if !report.unresolved_references.is_empty() {
        let _ = writeln!(
            out,
            "\n{} reference(s) could not be judged (their API group could not be discovered or listed).",
            report.unresolved_references.len()
        );
    }
    if !report.scan_issues.is_empty() {
        out.push_str("\nSCAN ISSUES (the picture above may be partial):\n");
        for i in &report.scan_issues {
            let _ = writeln!(out, "  [{}] {}", i.scanner, i.message);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_fits_a_terminal_and_wide_has_the_fixes() {
        use crate::findings::OwnerProblemReason;
        let mut long =
            crate::findings::fixtures::hpa_problem("llama-3-8b-hpa", OwnerProblemReason::KindCaseMismatch, true, false);
        long.dependent.namespace = "llm-serving-production".into();
        long.reference.name = "llama-3-8b-instruct-autoscaler".into();
        long.fix = "Correct the kind: PodAutoScaler → PodAutoscaler. The owner exists; once corrected, the garbage collector tracks this object again.".into();
        let report = Report {
            generated_at: String::new(),
            complete: true,
            scanners: vec![],
            discovery_failures: vec![],
            owner_reference_problems: vec![long],
            unresolved_references: vec![],
            stuck_namespaces: vec![],
            terminating_namespaces: vec![],
            stuck_objects: vec![],
            scan_issues: vec![],
        };
        let normal = report_table(&report, Width::Normal);
        let widest = normal.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(widest <= 160, "{widest} columns:\n{normal}");
        assert!(!normal.contains("Correct the kind"), "{normal}");
        assert!(
            normal.contains("PodAutoscaler"),
            "the suggested kind is shown: {normal}"
        );
        let wide = report_table(&report, Width::Wide);
        assert!(wide.contains("FIX") && wide.contains("Correct the kind"), "{wide}");
        assert!(
            wide.contains("horizontalpodautoscalers.autoscaling/llama-3-8b-hpa"),
            "{wide}"
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(age(45.0), "45s");
        assert_eq!(age(900.0), "15m");
        assert_eq!(age(3.0 * 3600.0 + 240.0), "3h4m");
        assert_eq!(age(2.0 * 86_400.0 + 5.0 * 3600.0), "2d5h");
    }
}
