//! What a round's report asks the queue to consider, and whether the round may be acted on at
//! all. Pure.

use std::time::Duration;

use jiff::Timestamp;

use super::queue::Candidate;
use crate::findings::Report;

fn age(since: Option<&str>, now: Timestamp) -> Option<Duration> {
    let since: Timestamp = since?.parse().ok()?;
    // A timestamp in the future (clock skew) is age zero, never negative.
    Some(Duration::try_from(now.duration_since(since)).unwrap_or(Duration::ZERO))
}

/// Every suggested action of the report that the queue may act on: finalizer removals of the
/// objects that hold a stuck namespace (and of stuck objects), kind fixes and orphan deletions.
/// Ages come from the objects themselves: time since deletion for finalizers, since creation for
/// references.
pub fn candidates(report: &Report, now: Timestamp) -> Vec<Candidate> {
    report
        .suggested_actions()
        .map(|a| Candidate {
            action: a.clone(),
            age: age(a.since(), now),
        })
        .collect()
}

/// Why this round's data may not be acted on: any discovery failure, failed, stale (carried over)
/// or incomplete scanner, or scan issue. Empty means the round is complete.
pub fn incomplete_because(report: &Report) -> Vec<String> {
    let mut why: Vec<String> = report
        .discovery_failures
        .iter()
        .map(|f| {
            format!(
                "discovery of {} failed",
                if f.group_version.is_empty() {
                    "the group list"
                } else {
                    &f.group_version
                }
            )
        })
        .collect();
    for s in &report.scanners {
        if s.last_success.is_none() {
            why.push(format!("scanner {} has not succeeded yet", s.name));
        } else if s.stale {
            why.push(format!("scanner {} findings are stale or carried over", s.name));
        } else if s.incomplete {
            why.push(format!("scanner {} saw partial data", s.name));
        }
    }
    if !report.scan_issues.is_empty() {
        why.push(format!("{} scan issue(s)", report.scan_issues.len()));
    }
    if why.is_empty() && !report.complete {
        why.push("the report is not complete".into());
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_never_negative_and_unknown_is_none() {
        let now: Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
        assert_eq!(age(Some("2026-11-30T11:00:00Z"), now), Some(Duration::from_secs(3600)));
        assert_eq!(age(Some("2026-11-30T13:00:00Z"), now), Some(Duration::ZERO));
        assert_eq!(age(Some("not a time"), now), None);
        assert_eq!(age(None, now), None);
    }
}
