//! The only module that writes to the cluster, and the only one that reads single objects by name.
//! A [`ClusterWriter`] exists only when `--remediation` is `dry-run` or `enforce` (or for
//! `remediate --confirm`): the audit's own code ([`crate::kubeapi`]) has no write path at all.
//! Every write here carries its preconditions: a JSON patch that tests the resourceVersion and
//! the value it changes, or a DELETE with uid and resourceVersion preconditions.

use std::time::Duration;

use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client};
use serde_json::Value;

use crate::findings::ObjectId;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The API server answered with an error Status.
    #[error("{what}: {code} {reason}: {message}")]
    Api {
        what: String,
        code: u16,
        reason: String,
        message: String,
    },
    #[error("{what}: {source}")]
    Transport {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("{what}: timed out after {after:?}")]
    Timeout { what: String, after: Duration },
    #[error("{what}: encoding the patch: {source}")]
    Encode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

impl WriteError {
    /// A precondition failed (409 Conflict) or a JSON patch `test` did not hold (422): the object
    /// changed since it was read.
    pub fn is_precondition(&self) -> bool {
        matches!(self, WriteError::Api { code: 409 | 422, .. })
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, WriteError::Api { code: 404, .. })
    }

    /// Admission refused the write into a namespace that is being deleted.
    pub fn is_namespace_terminating(&self) -> bool {
        matches!(self, WriteError::Api { code: 403, message, .. } if message.contains("being terminated"))
    }
}

/// Writes through kube's dynamic API, each call bounded by the request timeout.
#[derive(Clone)]
pub struct ClusterWriter {
    client: Client,
    timeout: Duration,
}

fn api_resource(id: &ObjectId) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(&id.group, &id.version, &id.kind), &id.resource)
}

impl ClusterWriter {
    pub fn new(client: Client, timeout: Duration) -> Self {
        Self { client, timeout }
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    fn api(&self, id: &ObjectId) -> Api<DynamicObject> {
        let ar = api_resource(id);
        if id.namespace.is_empty() {
            Api::all_with(self.client.clone(), &ar)
        } else {
            Api::namespaced_with(self.client.clone(), &id.namespace, &ar)
        }
    }

    async fn call<T>(
        &self,
        what: String,
        fut: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, WriteError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(kube::Error::Api(s))) => Err(WriteError::Api {
                what,
                code: s.code,
                reason: s.reason.clone(),
                message: s.message.clone(),
            }),
            Ok(Err(source)) => Err(WriteError::Transport { what, source }),
            Err(_) => Err(WriteError::Timeout {
                what,
                after: self.timeout,
            }),
        }
    }

    fn describe(verb: &str, id: &ObjectId) -> String {
        format!("{verb} {} {}/{}", id.qualified_resource(), id.namespace, id.name)
    }

    /// A fresh read of the object; `None` when it no longer exists.
    pub async fn get(&self, id: &ObjectId) -> Result<Option<Value>, WriteError> {
        let what = Self::describe("GET", id);
        match self.call(what.clone(), self.api(id).get(&id.name)).await {
            Ok(o) => serde_json::to_value(o)
                .map(Some)
                .map_err(|source| WriteError::Encode { what, source }),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A JSON patch (RFC 6902), optionally as a server-side dry run (`dryRun=All`).
    pub async fn json_patch(&self, id: &ObjectId, patch: &Value, dry_run: bool) -> Result<(), WriteError> {
        let what = Self::describe(if dry_run { "PATCH (dry run)" } else { "PATCH" }, id);
        let ops: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|source| WriteError::Encode {
            what: what.clone(),
            source,
        })?;
        let params = PatchParams {
            dry_run,
            ..PatchParams::default()
        };
        self.call(what, self.api(id).patch(&id.name, &params, &Patch::<()>::Json(ops)))
            .await
            .map(|_| ())
    }

    /// DELETE with uid and resourceVersion preconditions and Background propagation, optionally
    /// as a server-side dry run.
    pub async fn delete(&self, id: &ObjectId, dry_run: bool) -> Result<(), WriteError> {
        let what = Self::describe(if dry_run { "DELETE (dry run)" } else { "DELETE" }, id);
        let mut params = DeleteParams::background().preconditions(Preconditions {
            uid: Some(id.uid.clone()),
            resource_version: Some(id.resource_version.clone()),
        });
        params.dry_run = dry_run;
        self.call(what, self.api(id).delete(&id.name, &params))
            .await
            .map(|_| ())
    }
}
