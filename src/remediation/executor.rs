//! One guarded write: fresh re-read → the finding still holds on it → server-side dry run →
//! (enforce) the real request with its preconditions → an Event. Every step's outcome is
//! returned as data; nothing here decides policy.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde::Serialize;
use tracing::Instrument;

use super::action::{ActionKind, SuggestedAction};
use super::policy::Mode;
use super::queue::Attempt;
use super::verify::still_applies;
use crate::kubewrite::{ClusterWriter, WriteError};

/// How one attempt ended, as `/remediations`, the log and the metrics show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultKind {
    Applied,
    DryRun,
    Skipped,
    Failed,
}

impl ResultKind {
    pub const ALL: [ResultKind; 4] = [
        ResultKind::Applied,
        ResultKind::DryRun,
        ResultKind::Skipped,
        ResultKind::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResultKind::Applied => "applied",
            ResultKind::DryRun => "dry_run",
            ResultKind::Skipped => "skipped",
            ResultKind::Failed => "failed",
        }
    }

    pub fn attempt(self) -> Attempt {
        match self {
            ResultKind::Applied => Attempt::Applied,
            ResultKind::DryRun => Attempt::DryRun,
            ResultKind::Skipped => Attempt::Skipped,
            ResultKind::Failed => Attempt::Failed,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub at: String,
    pub key: String,
    pub action: SuggestedAction,
    pub result: ResultKind,
    /// Why (skipped, failed), or what was done.
    pub detail: String,
    /// Where the Event went, or why none was recorded.
    pub event: String,
}

pub struct Executor {
    writer: ClusterWriter,
    recorder: Recorder,
    mode: Mode,
}

/// The value the action changes, before and after, for the log line.
fn before_after(a: &SuggestedAction) -> (String, String) {
    match a.action {
        ActionKind::RemoveFinalizer => (a.expected.clone().unwrap_or_default(), "(removed)".into()),
        ActionKind::FixOwnerKind => (
            a.expected.clone().unwrap_or_default(),
            a.replacement.clone().unwrap_or_default(),
        ),
        ActionKind::DeleteOrphan => ("(exists)".into(), "(deleted)".into()),
    }
}

fn reference(a: &SuggestedAction) -> ObjectReference {
    let o = &a.object;
    ObjectReference {
        api_version: Some(if o.group.is_empty() {
            o.version.clone()
        } else {
            format!("{}/{}", o.group, o.version)
        }),
        kind: Some(o.kind.clone()),
        name: Some(o.name.clone()),
        namespace: (!o.namespace.is_empty()).then(|| o.namespace.clone()),
        uid: Some(o.uid.clone()),
        ..ObjectReference::default()
    }
}

fn namespace_reference(namespace: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Namespace".into()),
        name: Some(namespace.into()),
        ..ObjectReference::default()
    }
}

impl Executor {
    pub fn new(writer: ClusterWriter, mode: Mode) -> Self {
        let instance = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty());
        let recorder = Recorder::new(
            writer.client(),
            Reporter {
                controller: "kube-garbage-audit".into(),
                instance,
            },
        );
        Self { writer, recorder, mode }
    }

    async fn send(&self, a: &SuggestedAction, dry_run: bool) -> Result<(), WriteError> {
        match a.json_patch() {
            Some(patch) => self.writer.json_patch(&a.object, &patch, dry_run).await,
            None => self.writer.delete(&a.object, dry_run).await,
        }
    }

    /// Runs the guarded sequence for one planned action. Never retries: a changed object is
    /// `skipped` and re-planned from fresh data next round.
    pub async fn attempt(&self, key: &str, a: &SuggestedAction) -> Outcome {
        let span = tracing::info_span!("remediate", action = a.action.as_str(), object = %a.describe());
        let (result, detail) = self.guarded(a).instrument(span.clone()).await;
        let event = if self.mode == Mode::Enforce && matches!(result, ResultKind::Applied | ResultKind::Failed) {
            self.record_event(a, result, &detail).instrument(span).await
        } else {
            "none (dry-run and skipped attempts record no Event)".to_string()
        };
        let (before, after) = before_after(a);
        let object = a.describe();
        match result {
            ResultKind::Applied => {
                tracing::info!(action = a.action.as_str(), %object, %before, %after, %event, "remediation applied")
            }
            // Logged once per key by the runner ("remediation planned"); repeated each round in dry-run.
            ResultKind::DryRun => {
                tracing::debug!(action = a.action.as_str(), %object, %before, %after, "remediation validated by a server-side dry run")
            }
            ResultKind::Skipped => {
                tracing::info!(action = a.action.as_str(), %object, why = %detail, "remediation skipped")
            }
            ResultKind::Failed => {
                tracing::warn!(action = a.action.as_str(), %object, error = %detail, %event, "remediation failed")
            }
        }
        Outcome {
            at: jiff::Timestamp::now().to_string(),
            key: key.to_string(),
            action: a.clone(),
            result,
            detail,
            event,
        }
    }

    async fn guarded(&self, a: &SuggestedAction) -> (ResultKind, String) {
        let current = match self.writer.get(&a.object).await {
            Ok(Some(v)) => v,
            Ok(None) => return (ResultKind::Skipped, "the object no longer exists".into()),
            Err(e) => return (ResultKind::Failed, format!("re-reading: {e}")),
        };
        if let Err(why) = still_applies(a, &current) {
            return (ResultKind::Skipped, why);
        }
        match self.send(a, true).await {
            Ok(()) => {}
            Err(e) if e.is_precondition() || e.is_not_found() => return (ResultKind::Skipped, format!("dry run: {e}")),
            Err(e) => return (ResultKind::Failed, format!("dry run refused: {e}")),
        }
        if self.mode != Mode::Enforce {
            return (
                ResultKind::DryRun,
                "a server-side dry run (dryRun=All) accepted it".into(),
            );
        }
        match self.send(a, false).await {
            Ok(()) => (ResultKind::Applied, a.describe()),
            Err(e) if e.is_precondition() || e.is_not_found() => (ResultKind::Skipped, format!("precondition: {e}")),
            Err(e) => (ResultKind::Failed, e.to_string()),
        }
    }

    /// An Event regarding the object; where the object's namespace is being deleted (admission
    /// refuses new content there), regarding its Namespace instead.
    async fn record_event(&self, a: &SuggestedAction, result: ResultKind, detail: &str) -> String {
        let (type_, reason) = match (result, a.action) {
            (ResultKind::Failed, _) => (EventType::Warning, "RemediationFailed"),
            (_, ActionKind::RemoveFinalizer) => (EventType::Normal, "FinalizerRemoved"),
            (_, ActionKind::FixOwnerKind) => (EventType::Normal, "OwnerKindFixed"),
            (_, ActionKind::DeleteOrphan) => (EventType::Normal, "OrphanDeleted"),
        };
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(
                format!("kube-garbage-audit: {}: {detail}", a.describe())
                    .chars()
                    .take(1000)
                    .collect(),
            ),
            action: a.action.as_str().into(),
            secondary: None,
        };
        match self.recorder.publish(&event, &reference(a)).await {
            Ok(()) => format!("{reason} regarding the object"),
            Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains("being terminated") => {
                let ns = namespace_reference(&a.object.namespace);
                let event = Event {
                    secondary: Some(reference(a)),
                    ..event
                };
                match self.recorder.publish(&event, &ns).await {
                    Ok(()) => format!(
                        "{reason} regarding Namespace {} (it is being terminated)",
                        a.object.namespace
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "recording the Event failed");
                        format!("not recorded: {e}")
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "recording the Event failed");
                format!("not recorded: {e}")
            }
        }
    }
}
