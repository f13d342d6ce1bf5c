//! One remediation round after each audit round: candidates from the report, a plan from the
//! queue, then (dry-run, or enforce while holding the Lease) one guarded attempt at a time, each
//! recorded. Publishes `/remediations` and the remediation metrics.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use jiff::Timestamp;
use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::action::ActionKind;
use super::candidates::{candidates, incomplete_because};
use super::executor::{Executor, Outcome, ResultKind};
use super::policy::{Mode, Policy};
use super::queue::{Decision, Plan, Queue};
use crate::findings::Report;

/// How many past attempts `/remediations` shows.
pub const LAST_ACTIONS: usize = 50;

/// The remediation metrics (see docs/metrics.md).
pub struct RemediationMetrics {
    actions: IntCounterVec,
    pending: IntGaugeVec,
    halted: IntGauge,
    leader: IntGauge,
    unresolved: IntGauge,
    mode: IntGaugeVec,
}

impl RemediationMetrics {
    pub fn register(registry: &Registry, mode: Mode) -> Result<Self, prometheus::Error> {
        let m = Self {
            actions: IntCounterVec::new(
                Opts::new("garbage_audit_remediation_actions_total", "Remediation attempts, by action and result (applied, dry_run, skipped, failed)."),
                &["action", "result"],
            )?,
            pending: IntGaugeVec::new(
                Opts::new("garbage_audit_remediation_pending", "Candidates the operator's policy allows, not yet acted on (waiting for rounds, age, caps, back-off or a complete round)."),
                &["action"],
            )?,
            halted: IntGauge::new("garbage_audit_remediation_halted", "1 while more candidates than --remediation-halt-above stop every action.")?,
            leader: IntGauge::new("garbage_audit_remediation_leader", "1 while this replica holds the remediation Lease (always 0 unless --remediation enforce).")?,
            unresolved: IntGauge::new("garbage_audit_remediation_unresolved", "Actions applied whose finding was still there in the next complete round (backing off).")?,
            mode: IntGaugeVec::new(Opts::new("garbage_audit_remediation_mode", "1 for the configured --remediation mode."), &["mode"])?,
        };
        registry.register(Box::new(m.actions.clone()))?;
        registry.register(Box::new(m.pending.clone()))?;
        registry.register(Box::new(m.halted.clone()))?;
        registry.register(Box::new(m.leader.clone()))?;
        registry.register(Box::new(m.unresolved.clone()))?;
        registry.register(Box::new(m.mode.clone()))?;
        for action in ActionKind::ALL {
            for result in ResultKind::ALL {
                m.actions.with_label_values(&[action.as_str(), result.as_str()]);
            }
            m.pending.with_label_values(&[action.as_str()]).set(0);
        }
        m.mode.with_label_values(&[mode.as_str()]).set(1);
        Ok(m)
    }
}

/// What `/remediations` serves.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemediationStatus {
    pub mode: Mode,
    /// True while this replica holds the Lease (enforce only).
    pub leader: bool,
    /// Why nothing was attempted this round although the plan has actions, if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_acting: Option<String>,
    pub plan: Option<Plan>,
    pub last_actions: Vec<Outcome>,
}

pub struct Remediator {
    policy: Policy,
    queue: Mutex<Queue>,
    executor: Executor,
    metrics: RemediationMetrics,
    leader: Option<tokio::sync::watch::Receiver<bool>>,
    history: Mutex<VecDeque<Outcome>>,
    /// The serialised `/remediations` document, rebuilt once per round.
    published: RwLock<Arc<Vec<u8>>>,
    unresolved: Mutex<BTreeMap<String, String>>,
    /// Keys whose plan (and dry-run validation) was already logged: one line per change, not per round.
    logged: Mutex<std::collections::BTreeSet<String>>,
}

impl Remediator {
    /// `leader` is the Lease holder flag in enforce mode (`None` in dry-run: every replica may
    /// validate, none writes).
    pub fn new(
        policy: Policy,
        executor: Executor,
        metrics: RemediationMetrics,
        leader: Option<tokio::sync::watch::Receiver<bool>>,
    ) -> Self {
        let r = Self {
            policy,
            queue: Mutex::default(),
            executor,
            metrics,
            leader,
            history: Mutex::default(),
            published: RwLock::new(Arc::new(Vec::new())),
            unresolved: Mutex::default(),
            logged: Mutex::default(),
        };
        r.publish(None, None);
        r
    }

    /// True while this replica may write: it holds the Lease (enforce only; always false in dry-run).
    pub fn is_leader(&self) -> bool {
        self.leader.as_ref().is_some_and(|l| *l.borrow())
    }

    /// The latest `/remediations` document.
    pub fn status_json(&self) -> Arc<Vec<u8>> {
        self.published
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn publish(&self, plan: Option<Plan>, not_acting: Option<String>) {
        let status = RemediationStatus {
            mode: self.policy.mode,
            leader: self.is_leader(),
            not_acting,
            plan,
            last_actions: self
                .history
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .cloned()
                .collect(),
        };
        let body =
            serde_json::to_vec_pretty(&status).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}").into_bytes());
        *self
            .published
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(body);
    }

    /// Plans from `report` and acts on the plan. `cancel` stops before the next action (an action
    /// in flight always finishes and is recorded).
    pub async fn round(&self, report: &Report, cancel: &CancellationToken) {
        let now = Timestamp::now();
        let why = incomplete_because(report);
        let plan = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .plan(&self.policy, candidates(report, now), &why, now);
        self.log_plan(&plan);
        let leader = self.is_leader();
        self.metrics.leader.set(i64::from(leader));
        let not_acting = match self.policy.mode {
            Mode::Enforce if !leader && plan.to_act().next().is_some() => {
                Some("not the Lease holder: another replica acts (this one audits only)".to_string())
            }
            _ => None,
        };
        if not_acting.is_none() {
            for entry in plan.to_act() {
                if cancel.is_cancelled() {
                    tracing::info!("shutting down: no further remediation this round");
                    break;
                }
                // Leadership can be lost mid-round: re-check before every write.
                if self.policy.mode == Mode::Enforce && !self.is_leader() {
                    break;
                }
                let outcome = self.executor.attempt(&entry.key, &entry.action).await;
                self.metrics
                    .actions
                    .with_label_values(&[entry.action.action.as_str(), outcome.result.as_str()])
                    .inc();
                self.queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .record(&entry.key, outcome.result.attempt(), &outcome.detail, Timestamp::now());
                let mut history = self.history.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                history.push_front(outcome);
                history.truncate(LAST_ACTIONS);
            }
        }
        self.update_gauges(&plan);
        self.publish(Some(plan), not_acting);
    }

    fn update_gauges(&self, plan: &Plan) {
        let mut pending: BTreeMap<ActionKind, i64> = ActionKind::ALL.iter().map(|a| (*a, 0)).collect();
        for e in &plan.entries {
            if !matches!(e.decision, Decision::Refused(_)) {
                *pending.entry(e.action.action).or_default() += 1;
            }
        }
        for (action, n) in pending {
            self.metrics.pending.with_label_values(&[action.as_str()]).set(n);
        }
        let halted = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_halted();
        self.metrics.halted.set(i64::from(halted));
        let mut unresolved = self
            .unresolved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in &plan.unresolved {
            unresolved.insert(key.clone(), plan.generated_at.clone());
        }
        for key in &plan.confirmed {
            unresolved.remove(key);
        }
        let present: std::collections::BTreeSet<&str> = plan.entries.iter().map(|e| e.key.as_str()).collect();
        unresolved.retain(|k, _| present.contains(k.as_str()));
        self.metrics
            .unresolved
            .set(i64::try_from(unresolved.len()).unwrap_or(i64::MAX));
    }

    /// One log line per decision that matters: planned actions, refusals only at debug.
    fn log_plan(&self, plan: &Plan) {
        if let Some(why) = &plan.blocked {
            tracing::debug!(%why, "remediation: nothing planned");
        }
        if let Some(why) = &plan.halted {
            tracing::warn!(%why, "remediation halted");
        }
        for key in &plan.unresolved {
            tracing::warn!(%key, "remediation did not resolve the finding; backing off");
        }
        for key in &plan.confirmed {
            tracing::info!(%key, "remediation confirmed: the finding is gone");
        }
        let mut logged = self.logged.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        logged.retain(|k| plan.entries.iter().any(|e| &e.key == k && e.decision == Decision::Act));
        for e in &plan.entries {
            match &e.decision {
                Decision::Act if logged.insert(e.key.clone()) => {
                    tracing::info!(action = e.action.action.as_str(), object = %e.action.describe(), mode = self.policy.mode.as_str(), "remediation planned")
                }
                Decision::Act => {
                    tracing::debug!(action = e.action.action.as_str(), object = %e.action.describe(), "remediation still planned")
                }
                Decision::Wait(why) | Decision::Capped(why) | Decision::BackingOff(why) => {
                    tracing::debug!(action = e.action.action.as_str(), object = %e.action.describe(), %why, "remediation waiting")
                }
                Decision::Refused(why) => {
                    tracing::debug!(action = e.action.action.as_str(), object = %e.action.describe(), %why, "remediation not allowed")
                }
            }
        }
    }
}
