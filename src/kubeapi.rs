//! The one module that talks to the Kubernetes API: client construction, tolerant per-group
//! discovery, and paged (metadata-only where bodies are not needed) lists, all behind a
//! client-side concurrency limit and request pacing. Read-only: nothing here writes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIResource, ObjectMeta};
use kube::api::{ListParams, ObjectList};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Request;
use kube::{Client, Config};
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use crate::discovery::{DiscoverySnapshot, ResourceType};

/// Errors from talking to the API server.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    // Messages say their cause once (see `error_text`): the wrapped errors are kept for matching,
    // not chained as `source`, so `{:#}` does not print the same cause three times.
    #[error("cannot read kubeconfig {}: {}", path.display(), kubeconfig_cause(error))]
    Kubeconfig {
        path: PathBuf,
        error: kube::config::KubeconfigError,
    },
    #[error("loading client configuration: {0}")]
    Config(String),
    #[error("building the API client: {}", crate::error_text::classify(error))]
    Client { error: kube::Error },
    #[error("{what}: {}", crate::error_text::classify(error))]
    Request { what: String, error: kube::Error },
    #[error("{what}: timed out after {}", humantime::format_duration(*after))]
    Timeout { what: String, after: Duration },
}

/// The innermost cause of a kubeconfig error (its outer message repeats the path, quoted twice).
fn kubeconfig_cause(error: &kube::config::KubeconfigError) -> String {
    crate::error_text::root_message(error)
}

impl ApiError {
    /// True when the API server answered with an authentication or authorization failure.
    pub fn is_auth(&self) -> bool {
        matches!(self, ApiError::Request { error: kube::Error::Api(s), .. } if s.code == 401 || s.code == 403)
    }

    /// True when the request reached the API server and it answered (with anything, even an
    /// error); false when it never got there (refused, DNS, TLS, timeout).
    pub fn reached_server(&self) -> bool {
        match self {
            ApiError::Request { error, .. } => crate::error_text::classify(error).server_answered(),
            _ => false,
        }
    }
}

/// How hard the auditor may lean on the API server.
#[derive(Debug, Clone)]
pub struct ApiLimits {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Minimum spacing between request starts (1 / QPS).
    pub min_interval: Duration,
    /// Items per page of a list.
    pub page_size: u32,
    /// Deadline for one request.
    pub request_timeout: Duration,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            concurrency: 4,
            min_interval: Duration::from_millis(20),
            page_size: 500,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Where to find the cluster.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// Loads the client configuration the standard way: an explicit kubeconfig, else `KUBECONFIG`,
/// `~/.kube/config`, else the in-cluster service account. The client's own retry of 429/503/504
/// is switched off: a failed request fails the one call, and the scheduler retries next interval.
pub async fn load_config(conn: &Connection, request_timeout: Duration) -> Result<Config, ApiError> {
    let options = KubeConfigOptions {
        context: conn.context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = match &conn.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|error| ApiError::Kubeconfig {
                path: path.clone(),
                error,
            })?;
            if let Some(context) = &conn.context {
                check_context(&kubeconfig, context, &path.display().to_string())?;
            }
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| ApiError::Config(e.to_string()))?
        }
        None if conn.context.is_some() => {
            if let (Ok(kubeconfig), Some(context)) = (Kubeconfig::read(), &conn.context) {
                check_context(&kubeconfig, context, "the kubeconfig (KUBECONFIG or ~/.kube/config)")?;
            }
            Config::from_kubeconfig(&options)
                .await
                .map_err(|e| ApiError::Config(e.to_string()))?
        }
        None => Config::infer().await.map_err(|e| ApiError::Config(e.to_string()))?,
    };
    config.default_retry = false;
    config.read_timeout = Some(request_timeout);
    Ok(config)
}

/// Fails with the available contexts when `context` is not one of the kubeconfig's.
fn check_context(kubeconfig: &Kubeconfig, context: &str, source: &str) -> Result<(), ApiError> {
    let names: Vec<&str> = kubeconfig.contexts.iter().map(|c| c.name.as_str()).collect();
    if names.contains(&context) {
        return Ok(());
    }
    let available = if names.is_empty() {
        "it has none".to_string()
    } else {
        format!("available: {}", names.join(", "))
    };
    Err(ApiError::Config(format!(
        "--context {context}: no such context in {source} ({available})"
    )))
}

/// Paces request starts to at most one per `min_interval`.
#[derive(Debug)]
struct Pacer {
    next: Mutex<Instant>,
    min_interval: Duration,
}

impl Pacer {
    async fn wait(&self) {
        let start = {
            let mut next = self.next.lock().await;
            let start = (*next).max(Instant::now());
            *next = start + self.min_interval;
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

/// One object as listed: its metadata plus, for full lists, the whole body (`Null` for
/// metadata-only lists).
#[derive(Debug, Clone)]
pub struct Listed {
    pub metadata: ObjectMeta,
    pub body: serde_json::Value,
}

/// The result of listing one resource type: the objects that parsed, and the ones that did not.
#[derive(Debug, Clone, Default)]
pub struct ListResult {
    pub objects: Vec<Listed>,
    /// One message per item that could not be parsed (kept out of `objects`, never fatal).
    pub malformed: Vec<String>,
}

/// The cluster, as the auditor sees it. Cheap to clone.
#[derive(Clone)]
pub struct ClusterApi {
    client: Client,
    /// The server's URL, named in every error message.
    server: Arc<str>,
    limits: ApiLimits,
    permits: Arc<Semaphore>,
    pacer: Arc<Pacer>,
}

impl ClusterApi {
    pub fn new(client: Client, limits: ApiLimits) -> Self {
        let permits = Arc::new(Semaphore::new(limits.concurrency.max(1)));
        let pacer = Arc::new(Pacer {
            next: Mutex::new(Instant::now()),
            min_interval: limits.min_interval,
        });
        Self {
            client,
            server: Arc::from("the API server"),
            limits,
            permits,
            pacer,
        }
    }

    /// The underlying client, for [`crate::kubewrite`] (remediation only).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    pub async fn connect(conn: &Connection, limits: ApiLimits) -> Result<Self, ApiError> {
        let config = load_config(conn, limits.request_timeout).await?;
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(|error| ApiError::Client { error })?;
        Ok(Self::new(client, limits).with_server(&server))
    }

    /// Names the server's URL in error messages.
    pub fn with_server(mut self, url: &str) -> Self {
        self.server = Arc::from(url.trim_end_matches('/'));
        self
    }

    /// Runs one API call under the concurrency limit, the pacer and the deadline.
    async fn call<T, F>(&self, what: impl Into<String>, fut: F) -> Result<T, ApiError>
    where
        F: std::future::Future<Output = Result<T, kube::Error>>,
    {
        let what = format!("{} on {}", what.into(), self.server);
        let _permit = self.permits.acquire().await.expect("semaphore is never closed");
        self.pacer.wait().await;
        match tokio::time::timeout(self.limits.request_timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(error)) => Err(ApiError::Request { what, error }),
            Err(_) => Err(ApiError::Timeout {
                what,
                after: self.limits.request_timeout,
            }),
        }
    }

    /// The server's version: a cheap check that the cluster is reachable and we may talk to it.
    pub async fn server_version(&self) -> Result<String, ApiError> {
        let info = self.call("GET /version", self.client.apiserver_version()).await?;
        Ok(info.git_version)
    }

    /// Checks that our credentials may list namespaces (one item, metadata only): a quick way to
    /// tell "not allowed" apart from "nothing found" before a one-shot scan.
    pub async fn check_list_access(&self) -> Result<(), ApiError> {
        let what = "listing /api/v1/namespaces".to_string();
        let req = Request::new("/api/v1/namespaces")
            .list_metadata(&ListParams::default().limit(1))
            .map_err(|e| ApiError::Config(format!("{what}: building request: {e}")))?;
        let _: serde_json::Value = self.call(what, self.client.request(req)).await?;
        Ok(())
    }

    /// Discovers every group/version one by one, so that one failing group (typically an
    /// unavailable aggregated APIService) is recorded instead of failing the whole discovery.
    pub async fn discover(&self) -> DiscoverySnapshot {
        let groups = self.call("GET /apis", self.client.list_api_groups()).await;
        let mut snapshot = DiscoverySnapshot::new(groups.is_ok());
        let mut wanted: Vec<(String, String)> = Vec::new();
        match self.call("GET /api", self.client.list_core_api_versions()).await {
            Ok(core) => {
                snapshot.add_group("", core.versions.clone());
                wanted.extend(core.versions.into_iter().map(|v| (String::new(), v)));
            }
            Err(e) => {
                if !e.reached_server() {
                    snapshot.set_unreachable(e.to_string());
                }
                snapshot.add_failure("v1", e.to_string());
            }
        }
        match groups {
            Ok(list) => {
                for g in list.groups {
                    let preferred = g.preferred_version.as_ref().map(|p| p.version.clone());
                    let mut versions: Vec<String> = g.versions.iter().map(|v| v.version.clone()).collect();
                    if let Some(p) = preferred {
                        versions.retain(|v| *v != p);
                        versions.insert(0, p);
                    }
                    wanted.extend(versions.iter().map(|v| (g.name.clone(), v.clone())));
                    snapshot.add_group(&g.name, versions);
                }
            }
            Err(e) => snapshot.add_failure("", e.to_string()),
        }
        let results: Vec<_> = stream::iter(wanted)
            .map(|(group, version)| async move {
                let result = if group.is_empty() {
                    self.call(
                        format!("GET /api/{version}"),
                        self.client.list_core_api_resources(&version),
                    )
                    .await
                } else {
                    let gv = format!("{group}/{version}");
                    self.call(format!("GET /apis/{gv}"), self.client.list_api_group_resources(&gv))
                        .await
                };
                (group, version, result)
            })
            .buffer_unordered(self.limits.concurrency.max(1))
            .collect()
            .await;
        for (group, version, result) in results {
            match result {
                Ok(list) => {
                    let resources = list
                        .resources
                        .iter()
                        .filter_map(|r| resource_type(&group, &version, r))
                        .collect();
                    snapshot.add_resources(&group, &version, resources);
                }
                Err(e) => snapshot.add_failure(&crate::discovery::join_api_version(&group, &version), e.to_string()),
            }
        }
        snapshot
    }

    /// Lists every object of a type, metadata only (`PartialObjectMetadataList`), page by page.
    pub async fn list_metadata(&self, rt: &ResourceType, namespace: Option<&str>) -> Result<ListResult, ApiError> {
        self.list_paged(rt, namespace, true).await
    }

    /// Lists every object of a type with full bodies, page by page.
    pub async fn list_full(&self, rt: &ResourceType, namespace: Option<&str>) -> Result<ListResult, ApiError> {
        self.list_paged(rt, namespace, false).await
    }

    /// Reads one object's metadata by name; `None` when it does not exist. Done as a list with a
    /// `metadata.name` field selector, so the daemon needs only `list` (a `get` grant on `*/*`
    /// would also open subresources such as `nodes/proxy`).
    pub async fn find_by_name(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ObjectMeta>, ApiError> {
        let ns = (!namespace.is_empty()).then_some(namespace);
        let path = collection_path(rt, ns);
        let what = format!("listing {path} for {name}");
        let req = Request::new(&path)
            .list_metadata(&ListParams::default().fields(&format!("metadata.name={name}")))
            .map_err(|e| ApiError::Config(format!("{what}: building request: {e}")))?;
        let page: ObjectList<serde_json::Value> = self.call(what, self.client.request(req)).await?;
        // Match the name ourselves too: a server that ignores the field selector returns everything.
        Ok(page
            .items
            .into_iter()
            .filter_map(|item| parse_listed(item).ok())
            .map(|l| l.metadata)
            .find(|m| m.name.as_deref() == Some(name)))
    }

    /// Lists several resource types (cluster-wide, or in one namespace) with bounded concurrency.
    pub async fn list_many(
        &self,
        types: Vec<ResourceType>,
        namespace: Option<String>,
        metadata_only: bool,
    ) -> Vec<(ResourceType, Result<ListResult, ApiError>)> {
        let concurrency = self.limits.concurrency.max(1);
        stream::iter(types)
            .map(move |rt| {
                let api = self.clone();
                let namespace = namespace.clone();
                async move {
                    let result = api.list_paged(&rt, namespace.as_deref(), metadata_only).await;
                    (rt, result)
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await
    }

    async fn list_paged(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        metadata_only: bool,
    ) -> Result<ListResult, ApiError> {
        let path = collection_path(rt, namespace);
        let what = format!("listing {path}");
        let mut unpaged = false;
        'restart: loop {
            let mut out = ListResult::default();
            let mut token: Option<String> = None;
            loop {
                let mut lp = if unpaged {
                    ListParams::default()
                } else {
                    ListParams::default().limit(self.limits.page_size)
                };
                if let Some(t) = &token {
                    lp = lp.continue_token(t);
                }
                let request = Request::new(&path);
                let req = if metadata_only {
                    request.list_metadata(&lp)
                } else {
                    request.list(&lp)
                }
                .map_err(|e| ApiError::Config(format!("{what}: building request: {e}")))?;
                let page: Result<ObjectList<serde_json::Value>, _> =
                    self.call(what.clone(), self.client.request(req)).await;
                let page = match page {
                    Err(ApiError::Request {
                        error: kube::Error::Api(s),
                        ..
                    }) if s.code == 410 && token.is_some() => {
                        // The continue token expired (the list changed too much between pages). Like
                        // client-go's pager, fall back to one unpaged list: it has no continue token,
                        // so it cannot expire this way again.
                        tracing::debug!(%path, "continue token expired; listing again without paging");
                        unpaged = true;
                        continue 'restart;
                    }
                    other => other?,
                };
                for (i, item) in page.items.into_iter().enumerate() {
                    match parse_listed(item) {
                        // A metadata-only item's body repeats its metadata: keep only the parsed form.
                        Ok(listed) if metadata_only => out.objects.push(Listed {
                            body: serde_json::Value::Null,
                            ..listed
                        }),
                        Ok(listed) => out.objects.push(listed),
                        Err(e) => out.malformed.push(format!("{path}: item {i}: {e}")),
                    }
                }
                token = page.metadata.continue_.filter(|t| !t.is_empty());
                if token.is_none() {
                    return Ok(out);
                }
            }
        }
    }
}

/// Parses one list item's metadata without trusting the rest of it.
fn parse_listed(item: serde_json::Value) -> Result<Listed, String> {
    let meta = item.get("metadata").cloned().ok_or_else(|| "no metadata".to_string())?;
    let metadata: ObjectMeta = serde_json::from_value(meta).map_err(|e| format!("malformed metadata: {e}"))?;
    if metadata.name.as_deref().unwrap_or_default().is_empty() {
        return Err("metadata.name is empty".to_string());
    }
    Ok(Listed { metadata, body: item })
}

/// `/api/v1[/namespaces/NS]/PLURAL` or `/apis/G/V[/namespaces/NS]/PLURAL`.
pub fn collection_path(rt: &ResourceType, namespace: Option<&str>) -> String {
    let base = if rt.group.is_empty() {
        format!("/api/{}", rt.version)
    } else {
        format!("/apis/{}/{}", rt.group, rt.version)
    };
    match namespace {
        Some(ns) if rt.namespaced => format!("{base}/namespaces/{ns}/{}", rt.plural),
        _ => format!("{base}/{}", rt.plural),
    }
}

fn resource_type(group: &str, version: &str, r: &APIResource) -> Option<ResourceType> {
    if r.name.contains('/') {
        return None;
    }
    Some(ResourceType {
        group: group.to_string(),
        version: version.to_string(),
        kind: r.kind.clone(),
        plural: r.name.clone(),
        namespaced: r.namespaced,
        verbs: r.verbs.clone(),
        singular: r.singular_name.clone(),
        short_names: r.short_names.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::tests::rt;

    #[test]
    fn collection_paths() {
        assert_eq!(
            collection_path(&rt("", "v1", "Pod", "pods", true), Some("a")),
            "/api/v1/namespaces/a/pods"
        );
        assert_eq!(
            collection_path(&rt("", "v1", "Pod", "pods", true), None),
            "/api/v1/pods"
        );
        assert_eq!(
            collection_path(&rt("apps", "v1", "Deployment", "deployments", true), Some("a")),
            "/apis/apps/v1/namespaces/a/deployments"
        );
        assert_eq!(
            collection_path(&rt("", "v1", "Namespace", "namespaces", false), Some("a")),
            "/api/v1/namespaces"
        );
    }

    #[test]
    fn malformed_items_are_reported_not_fatal() {
        assert!(parse_listed(serde_json::json!({"metadata": {"name": "ok", "uid": "1"}})).is_ok());
        let bad = parse_listed(serde_json::json!({"metadata": {"name": "x", "finalizers": "not-a-list"}})).unwrap_err();
        assert!(bad.contains("malformed metadata"), "{bad}");
        assert!(parse_listed(serde_json::json!({"spec": {}})).is_err());
    }
}
