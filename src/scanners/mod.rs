//! Scanners: independent units that read the cluster through [`crate::kubeapi`] and hand their
//! data to the pure classifiers. Each one returns the findings of one scan.

pub mod namespaces;
pub mod owner_references;

use std::sync::Arc;

use futures::future::BoxFuture;
use jiff::Timestamp;

use crate::discovery::{DiscoverySnapshot, ResourceType};
use crate::findings::{ObjectId, RemainingObject, ScannerFindings};
use crate::kubeapi::{ApiError, ClusterApi};
use crate::listed::ListedObject;

/// What every scan of one round shares: the API, one discovery snapshot, one notion of now.
#[derive(Clone)]
pub struct ScanContext {
    pub api: ClusterApi,
    pub discovery: Arc<DiscoverySnapshot>,
    pub now: Timestamp,
    /// The round's read model: every list fetched at most once and shared by the scanners.
    pub lists: Arc<crate::readmodel::RoundLists>,
}

/// Why a scan produced no findings at all.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The API server could not be reached at all; the message names the server and the cause.
    #[error("cannot reach the API server: {0}")]
    Unreachable(String),
    #[error("discovery is implausible (no core group or no group list): {0}")]
    ImplausibleDiscovery(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A list of the round's read model failed (the error is shared with other scanners).
    #[error(transparent)]
    List(std::sync::Arc<ApiError>),
}

impl ScanError {
    /// What kind of failure this is, for exit statuses and the report.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ScanError::Config(_) => ErrorKind::Config,
            ScanError::Api(e) if e.is_auth() => ErrorKind::Auth,
            ScanError::List(e) if e.is_auth() => ErrorKind::Auth,
            ScanError::Api(_) | ScanError::List(_) | ScanError::ImplausibleDiscovery(_) | ScanError::Unreachable(_) => {
                ErrorKind::Cluster
            }
        }
    }
}

pub use crate::findings::ErrorKind;

/// One kind of audit.
pub trait Scanner: Send + Sync {
    /// The `scanner` label value.
    fn name(&self) -> &'static str;
    /// True for a scanner that declares its cluster-wide lists to the round's read model
    /// ([`crate::readmodel::RoundLists::declaration`]) before content is listed by cost.
    fn declares_lists(&self) -> bool {
        false
    }
    fn scan<'a>(&'a self, ctx: &'a ScanContext) -> BoxFuture<'a, Result<ScannerFindings, ScanError>>;
}

/// Refuses to scan on a discovery result that cannot be right (it would report everything as broken).
fn require_plausible(discovery: &DiscoverySnapshot) -> Result<(), ScanError> {
    if let Some(reason) = discovery.unreachable() {
        return Err(ScanError::Unreachable(reason.to_string()));
    }
    if discovery.is_plausible() {
        return Ok(());
    }
    let failures: Vec<String> = discovery
        .failures()
        .iter()
        .map(|f| format!("{}: {}", f.group_version, f.error))
        .collect();
    Err(ScanError::ImplausibleDiscovery(if failures.is_empty() {
        "no core group served".into()
    } else {
        failures.join("; ")
    }))
}

/// The identity of a listed object of type `rt`.
fn object_id(rt: &ResourceType, listed: &ListedObject) -> ObjectId {
    ObjectId {
        group: rt.group.clone(),
        version: rt.version.clone(),
        resource: rt.plural.clone(),
        kind: rt.kind.clone(),
        namespace: listed.namespace.to_string(),
        name: listed.name.to_string(),
        uid: listed.uid.to_string(),
        resource_version: listed.resource_version.to_string(),
        creation_timestamp: listed.creation_timestamp.map(|t| t.to_string()),
    }
}

fn remaining_object(rt: &ResourceType, listed: &ListedObject) -> RemainingObject {
    let mut object = RemainingObject {
        object: object_id(rt, listed),
        finalizers: listed.finalizers().to_vec(),
        deletion_timestamp: listed.deletion_timestamp().map(|t| t.to_string()),
        suggested_actions: Vec::new(),
    };
    object.suggested_actions = crate::remediation::action::for_remaining_object(&object);
    object
}
