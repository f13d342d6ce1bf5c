//! The remediation queue's memory across rounds and its planning: how many consecutive complete
//! rounds each action has been seen, which actions wait for the next round to confirm them,
//! which back off, how many writes the last hour saw, whether the queue is halted. Pure: time is
//! passed in, nothing is read or written here.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::action::SuggestedAction;
use super::policy::Policy;

/// An action the round's findings call for, with how long its finding has been true.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub action: SuggestedAction,
    /// Age of the condition from the object's own timestamps (deletion for finalizers, creation
    /// for references); `None` when unknown (then the age gate holds it).
    pub age: Option<Duration>,
}

/// Why a candidate is or is not acted on this round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", content = "why", rename_all = "snake_case")]
pub enum Decision {
    /// Passes every gate: re-read, dry run, then (in enforce) act.
    Act,
    /// Not yet: rounds, age, or this round's data is partial.
    Wait(String),
    /// The operator's configuration forbids it.
    Refused(String),
    /// It failed or did not resolve before; tried again later.
    BackingOff(String),
    /// Over the per-round or per-hour cap, or the queue is halted.
    Capped(String),
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanEntry {
    pub key: String,
    pub action: SuggestedAction,
    pub rounds_seen: u32,
    #[serde(flatten)]
    pub decision: Decision,
}

/// One round's plan.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub generated_at: String,
    /// Why nothing is planned this round (partial data), if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    /// Why the queue is halted (too many candidates), if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halted: Option<String>,
    pub entries: Vec<PlanEntry>,
    /// Keys acted on earlier whose finding is still there.
    pub unresolved: Vec<String>,
    /// Keys acted on earlier whose finding is gone.
    pub confirmed: Vec<String>,
}

impl Plan {
    pub fn to_act(&self) -> impl Iterator<Item = &PlanEntry> {
        self.entries.iter().filter(|e| e.decision == Decision::Act)
    }
}

#[derive(Debug, Clone)]
struct Backoff {
    until: Timestamp,
    failures: u32,
    why: String,
}

/// How a write attempt ended, as the queue needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Applied,
    DryRun,
    /// The object changed (precondition) or no longer needs it: re-planned from fresh data.
    Skipped,
    Failed,
}

/// First back-off after a failure or an unresolved action; doubles per repeat, capped.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5 * 60);
pub const BACKOFF_MAX: Duration = Duration::from_secs(6 * 3600);

#[derive(Debug, Default)]
pub struct Queue {
    streaks: BTreeMap<String, u32>,
    awaiting_confirmation: BTreeSet<String>,
    backoff: BTreeMap<String, Backoff>,
    applied_at: VecDeque<Timestamp>,
    halted: bool,
}

fn backoff_for(failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    BACKOFF_BASE.saturating_mul(factor).min(BACKOFF_MAX)
}

impl Queue {
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// Plans one round. `incomplete` holds why the round's data is partial (discovery failures,
    /// unlisted resources, stale or carried findings, failed scanners); any reason blocks the
    /// whole plan and restarts every streak.
    pub fn plan(&mut self, policy: &Policy, candidates: Vec<Candidate>, incomplete: &[String], now: Timestamp) -> Plan {
        let mut candidates = candidates;
        candidates.sort_by_key(|c| c.action.key());
        candidates.dedup_by_key(|c| c.action.key());
        let mut plan = Plan {
            generated_at: now.to_string(),
            blocked: None,
            halted: None,
            entries: Vec::new(),
            unresolved: Vec::new(),
            confirmed: Vec::new(),
        };
        if !incomplete.is_empty() {
            let why = format!("this round's data is partial: {}", incomplete.join("; "));
            self.streaks.clear();
            plan.entries = candidates
                .into_iter()
                .map(|c| PlanEntry {
                    key: c.action.key(),
                    action: c.action,
                    rounds_seen: 0,
                    decision: Decision::Wait(why.clone()),
                })
                .collect();
            plan.blocked = Some(why);
            return plan;
        }

        let present: BTreeSet<String> = candidates.iter().map(|c| c.action.key()).collect();
        // The round after an action confirms it: gone is confirmed, still there backs off.
        for key in std::mem::take(&mut self.awaiting_confirmation) {
            if present.contains(&key) {
                self.back_off(&key, "the finding was still there in the next complete round", now);
                plan.unresolved.push(key);
            } else {
                self.backoff.remove(&key);
                plan.confirmed.push(key);
            }
        }
        self.streaks.retain(|k, _| present.contains(k));
        self.backoff.retain(|k, b| present.contains(k) || b.until > now);
        for key in &present {
            *self.streaks.entry(key.clone()).or_default() += 1;
        }

        let mut eligible = Vec::new();
        let mut planned = 0usize;
        for c in candidates {
            let key = c.action.key();
            let rounds_seen = self.streaks.get(&key).copied().unwrap_or_default();
            let decision = if let Some(why) = policy.refusal(&c.action) {
                Decision::Refused(why)
            } else {
                planned += 1;
                if let Some(b) = self.backoff.get(&key).filter(|b| b.until > now) {
                    Decision::BackingOff(format!(
                        "{} ({} time(s)); next try after {}",
                        b.why, b.failures, b.until
                    ))
                } else if rounds_seen < policy.min_rounds {
                    Decision::Wait(format!(
                        "seen in {rounds_seen} of {} consecutive complete rounds",
                        policy.min_rounds
                    ))
                } else if c.age.is_none_or(|age| age < policy.min_age) {
                    Decision::Wait(format!(
                        "younger than --stuck-after ({})",
                        humantime::format_duration(policy.min_age)
                    ))
                } else {
                    eligible.push(plan.entries.len());
                    Decision::Act
                }
            };
            plan.entries.push(PlanEntry {
                key,
                action: c.action,
                rounds_seen,
                decision,
            });
        }

        self.halted = planned > policy.halt_above;
        if self.halted {
            let why = format!(
                "{planned} candidates exceed --remediation-halt-above {}: nothing is acted on until the plan shrinks",
                policy.halt_above
            );
            for &i in &eligible {
                plan.entries[i].decision = Decision::Capped(why.clone());
            }
            plan.halted = Some(why);
            return plan;
        }
        let hour_ago = now - jiff::SignedDuration::from_secs(3600);
        while self.applied_at.front().is_some_and(|t| *t <= hour_ago) {
            self.applied_at.pop_front();
        }
        let hourly_left = policy.max_per_hour.saturating_sub(self.applied_at.len());
        let allowed = policy.max_per_round.min(hourly_left);
        for (n, &i) in eligible.iter().enumerate() {
            if n >= allowed {
                plan.entries[i].decision = Decision::Capped(if n >= hourly_left {
                    format!("--remediation-max-per-hour {} reached", policy.max_per_hour)
                } else {
                    format!(
                        "--remediation-max-per-round {} reached; next round",
                        policy.max_per_round
                    )
                });
            }
        }
        plan
    }

    /// Records how an attempt ended.
    pub fn record(&mut self, key: &str, attempt: Attempt, detail: &str, now: Timestamp) {
        match attempt {
            Attempt::Applied => {
                self.applied_at.push_back(now);
                self.awaiting_confirmation.insert(key.to_string());
                self.streaks.remove(key);
            }
            Attempt::Failed => self.back_off(key, &format!("failed: {detail}"), now),
            Attempt::DryRun | Attempt::Skipped => {}
        }
    }

    fn back_off(&mut self, key: &str, why: &str, now: Timestamp) {
        let failures = self.backoff.get(key).map_or(0, |b| b.failures) + 1;
        let wait =
            jiff::SignedDuration::try_from(backoff_for(failures)).unwrap_or(jiff::SignedDuration::from_secs(3600));
        self.backoff.insert(
            key.to_string(),
            Backoff {
                until: now + wait,
                failures,
                why: why.to_string(),
            },
        );
        self.streaks.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::fixtures::hpa_problem;
    use crate::findings::OwnerProblemReason;
    use crate::remediation::action::for_owner_problem;

    fn candidate(name: &str, age_secs: u64) -> Candidate {
        let p = hpa_problem(name, OwnerProblemReason::KindCaseMismatch, true, true);
        Candidate {
            action: for_owner_problem(&p).unwrap(),
            age: Some(Duration::from_secs(age_secs)),
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn decisions(plan: &Plan) -> Vec<String> {
        plan.entries
            .iter()
            .map(|e| match &e.decision {
                Decision::Act => format!("{} act", e.action.object.name),
                Decision::Wait(w) => format!("{} wait: {w}", e.action.object.name),
                Decision::Refused(w) => format!("{} refused: {w}", e.action.object.name),
                Decision::BackingOff(w) => format!("{} backoff: {w}", e.action.object.name),
                Decision::Capped(w) => format!("{} capped: {w}", e.action.object.name),
            })
            .collect()
    }

    fn policy() -> Policy {
        Policy {
            min_rounds: 3,
            min_age: Duration::from_secs(900),
            ..Policy::default()
        }
    }

    #[test]
    fn acts_only_after_min_consecutive_complete_rounds_and_min_age() {
        let mut q = Queue::default();
        let p = policy();
        for round in 1..=2 {
            let plan = q.plan(&p, vec![candidate("a", 3600), candidate("young", 60)], &[], at(round));
            assert_eq!(plan.to_act().count(), 0, "{:?}", decisions(&plan));
        }
        let plan = q.plan(&p, vec![candidate("a", 3600), candidate("young", 60)], &[], at(3));
        assert_eq!(
            decisions(&plan),
            vec!["a act", "young wait: younger than --stuck-after (15m)"]
        );
    }

    #[test]
    fn a_partial_round_plans_nothing_and_restarts_the_count() {
        let mut q = Queue::default();
        let p = policy();
        q.plan(&p, vec![candidate("a", 3600)], &[], at(1));
        q.plan(&p, vec![candidate("a", 3600)], &[], at(2));
        let plan = q.plan(
            &p,
            vec![candidate("a", 3600)],
            &["discovery of metrics.k8s.io/v1beta1 failed".into()],
            at(3),
        );
        assert!(plan.blocked.as_deref().unwrap().contains("metrics.k8s.io"));
        assert_eq!(plan.to_act().count(), 0);
        let plan = q.plan(&p, vec![candidate("a", 3600)], &[], at(4));
        assert_eq!(plan.entries[0].rounds_seen, 1, "the streak restarted");
        assert_eq!(plan.to_act().count(), 0);
    }

    #[test]
    fn a_finding_that_disappears_restarts_its_count() {
        let mut q = Queue::default();
        let p = policy();
        q.plan(&p, vec![candidate("a", 3600)], &[], at(1));
        q.plan(&p, vec![candidate("a", 3600)], &[], at(2));
        q.plan(&p, vec![], &[], at(3));
        let plan = q.plan(&p, vec![candidate("a", 3600)], &[], at(4));
        assert_eq!(plan.entries[0].rounds_seen, 1);
    }

    #[test]
    fn per_round_cap_then_halt_above() {
        let mut q = Queue::default();
        let p = Policy {
            min_rounds: 1,
            max_per_round: 2,
            halt_above: 3,
            ..policy()
        };
        let three: Vec<Candidate> = ["a", "b", "c"].iter().map(|n| candidate(n, 3600)).collect();
        let plan = q.plan(&p, three.clone(), &[], at(1));
        assert_eq!(plan.to_act().count(), 2);
        assert!(
            decisions(&plan)[2].contains("capped: --remediation-max-per-round 2"),
            "{:?}",
            decisions(&plan)
        );
        let mut four = three;
        four.push(candidate("d", 3600));
        let plan = q.plan(&p, four, &[], at(2));
        assert_eq!(plan.to_act().count(), 0);
        assert!(plan
            .halted
            .as_deref()
            .unwrap()
            .contains("4 candidates exceed --remediation-halt-above 3"));
        assert!(q.is_halted());
        let plan = q.plan(&p, vec![candidate("a", 3600)], &[], at(3));
        assert!(
            !q.is_halted() && plan.halted.is_none(),
            "the halt lifts when the plan shrinks"
        );
        assert_eq!(plan.to_act().count(), 1);
    }

    #[test]
    fn hourly_cap_counts_applied_writes() {
        let mut q = Queue::default();
        let p = Policy {
            min_rounds: 1,
            max_per_hour: 2,
            ..policy()
        };
        let plan = q.plan(
            &p,
            vec![candidate("a", 3600), candidate("b", 3600), candidate("c", 3600)],
            &[],
            at(0),
        );
        assert_eq!(plan.to_act().count(), 2);
        for e in plan.to_act() {
            q.record(&e.key, Attempt::Applied, "", at(0));
        }
        let plan = q.plan(&p, vec![candidate("c", 3600)], &[], at(60));
        assert!(
            decisions(&plan)[0].contains("--remediation-max-per-hour 2 reached"),
            "{:?}",
            decisions(&plan)
        );
        let plan = q.plan(&p, vec![candidate("c", 3600)], &[], at(3601));
        assert_eq!(plan.to_act().count(), 1, "an hour later the cap has room again");
    }

    #[test]
    fn the_next_round_confirms_or_backs_off() {
        let mut q = Queue::default();
        let p = Policy {
            min_rounds: 1,
            ..policy()
        };
        let plan = q.plan(&p, vec![candidate("a", 3600), candidate("b", 3600)], &[], at(0));
        for e in plan.to_act() {
            q.record(&e.key, Attempt::Applied, "", at(0));
        }
        // a is gone, b is still there.
        let plan = q.plan(&p, vec![candidate("b", 3600)], &[], at(10));
        assert_eq!(plan.confirmed.len(), 1);
        assert_eq!(plan.unresolved.len(), 1);
        assert!(
            decisions(&plan)[0].starts_with("b backoff: the finding was still there"),
            "{:?}",
            decisions(&plan)
        );
        // Still backing off within 5 minutes; eligible again after.
        let plan = q.plan(&p, vec![candidate("b", 3600)], &[], at(200));
        assert!(decisions(&plan)[0].starts_with("b backoff"));
        let plan = q.plan(&p, vec![candidate("b", 3600)], &[], at(10 + 301));
        assert_eq!(plan.to_act().count(), 1, "{:?}", decisions(&plan));
    }

    #[test]
    fn failures_back_off_exponentially() {
        assert_eq!(backoff_for(1), Duration::from_secs(300));
        assert_eq!(backoff_for(2), Duration::from_secs(600));
        assert_eq!(backoff_for(30), BACKOFF_MAX);
        let mut q = Queue::default();
        let p = Policy {
            min_rounds: 1,
            ..policy()
        };
        let plan = q.plan(&p, vec![candidate("a", 3600)], &[], at(0));
        q.record(&plan.entries[0].key, Attempt::Failed, "webhook denied", at(0));
        let plan = q.plan(&p, vec![candidate("a", 3600)], &[], at(1));
        assert!(
            decisions(&plan)[0].contains("failed: webhook denied"),
            "{:?}",
            decisions(&plan)
        );
    }

    #[test]
    fn refused_candidates_do_not_count_towards_the_halt() {
        let mut q = Queue::default();
        let p = Policy {
            min_rounds: 1,
            halt_above: 1,
            actions: vec![],
            ..policy()
        };
        let plan = q.plan(&p, vec![candidate("a", 3600), candidate("b", 3600)], &[], at(0));
        assert!(plan.halted.is_none());
        assert!(decisions(&plan).iter().all(|d| d.contains("refused")));
    }
}
