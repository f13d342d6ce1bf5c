//! The one module that talks to the Kubernetes API: client construction, tolerant per-group
//! discovery, and paged (metadata-only where bodies are not needed) lists, all behind a
//! client-side concurrency limit and request pacing. Read-only: nothing here writes.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroupList, APIResource, APIResourceList, APIVersions};
use kube::api::{ListParams, ObjectList};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::discovery::v2::APIGroupDiscoveryList;
use kube::core::Request;
use kube::{Client, Config};
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use crate::discovery::{DiscoverySnapshot, ResourceType};
use crate::listed::{Keep, ListResult, ListedObject, Namespaces, Uid};

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
    /// The server answered 2xx with a body that is not the JSON expected (e.g. a truncated page).
    #[error("{what}: the answer is not valid JSON: {detail}")]
    Malformed { what: String, detail: String },
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
            ApiError::Malformed { .. } => true,
            _ => false,
        }
    }

    /// The HTTP status the server answered with, when it answered with an error.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            ApiError::Request {
                error: kube::Error::Api(s),
                ..
            } => Some(s.code),
            _ => None,
        }
    }

    /// The continue token of a `410 Expired` answer (`metadata.continue` of its Status).
    fn continue_token(&self) -> Option<String> {
        match self {
            ApiError::Request {
                error: kube::Error::Api(s),
                ..
            } => s
                .metadata
                .as_ref()
                .and_then(|m| m.continue_.clone())
                .filter(|t| !t.is_empty()),
            _ => None,
        }
    }

    /// Adds a note to what was being done (`listing X on URL (note): cause`).
    fn noted(mut self, note: &str) -> Self {
        match &mut self {
            ApiError::Request { what, .. } | ApiError::Timeout { what, .. } | ApiError::Malformed { what, .. } => {
                what.push_str(&format!(" ({note})"));
            }
            _ => {}
        }
        self
    }
}

/// The `Accept` of a metadata-only request: `PartialObjectMetadataList`, else full objects, as
/// client-go's metadata client sends it. A server that cannot render metadata-only (some
/// aggregated APIs) answers full objects instead of 406; only their metadata is kept.
pub const METADATA_ACCEPT: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

/// Retries of one request that was throttled, inside its deadline: a `429` (after its
/// `Retry-After`, else after a doubling backoff from [`FIRST_BACKOFF`]), or a `503`/`504` that
/// says when to come back (`Retry-After` or `retryAfterSeconds`). A wait that would end past the
/// deadline is not started: the request fails at once with the server's answer.
pub const MAX_RETRIES: u32 = 5;
/// The first wait after a `429` without `Retry-After` (then doubled, up to 4 s).
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// One failed attempt, with when the server asked us to come back.
struct Failed {
    error: kube::Error,
    retry_after: Option<Duration>,
}

impl From<kube::Error> for Failed {
    fn from(error: kube::Error) -> Self {
        Failed {
            error,
            retry_after: None,
        }
    }
}

/// How long to wait before retrying `failed` (the `retries`-th retry), or `None` when it is not
/// worth retrying. Pure.
fn retry_delay(code: u16, retry_after: Option<Duration>, retries: u32) -> Option<Duration> {
    match (code, retry_after) {
        (429 | 503 | 504, Some(after)) => Some(after),
        (429, None) => Some((FIRST_BACKOFF * 2u32.saturating_pow(retries)).min(Duration::from_secs(4))),
        _ => None,
    }
}

/// `delay` stretched by up to half of itself (`fraction` in [0, 1)): requests throttled together
/// (API Priority and Fairness rejects a burst at once, each with the same `Retry-After`) come
/// back spread out instead of colliding again. Pure.
fn spread(delay: Duration, fraction: f64) -> Duration {
    delay + delay.mul_f64(fraction.clamp(0.0, 1.0) / 2.0)
}

/// The `Retry-After` header in seconds (the form the API server sends).
fn retry_after_header(headers: &http::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// The Status of an error answer, as kube-client builds it (a body that is not a Status becomes
/// the message), with the HTTP code when the body has none.
fn error_status(code: u16, body: &[u8]) -> kube::core::Status {
    let text = String::from_utf8_lossy(body);
    match serde_json::from_str::<kube::core::Status>(&text) {
        Ok(mut status) if !(status.message.is_empty() && status.reason.is_empty()) => {
            if status.code == 0 {
                status.code = code;
            }
            status
        }
        _ => kube::core::Status::failure(text.trim(), "Failed to parse error data").with_code(code),
    }
}

fn copy_request(req: &http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    let mut copy = http::Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.headers_mut() = req.headers().clone();
    copy
}

fn get_request(path: &str) -> http::Request<Vec<u8>> {
    let mut req = http::Request::new(Vec::new());
    *req.uri_mut() = path.parse().unwrap_or_default();
    req
}

/// How hard the auditor may lean on the API server.
#[derive(Debug, Clone)]
pub struct ApiLimits {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Minimum spacing between request starts (1 / QPS), on average.
    pub min_interval: Duration,
    /// Request starts allowed at once before the spacing applies (a token bucket's size).
    pub burst: u32,
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
            burst: 100,
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
/// (up to 15 times, backoff up to 1000 s) is switched off: [`ClusterApi`] retries throttled
/// answers itself inside each request's deadline; anything else fails the one call, and the
/// scheduler retries next interval.
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

/// Paces request starts: one per `min_interval` on average, up to `burst` at once (a token
/// bucket, as client-go's rate limiter: `--qps` and `--burst`).
#[derive(Debug)]
struct Pacer {
    /// When the next request would start if the bucket were empty (GCRA's theoretical arrival time).
    next: Mutex<Instant>,
    min_interval: Duration,
    burst: u32,
}

/// When a request arriving at `now` may start, and the bucket's next `next`. Pure.
fn schedule(next: Instant, now: Instant, interval: Duration, burst: u32) -> (Instant, Instant) {
    let window = interval.saturating_mul(burst.max(1) - 1);
    let earliest = next.checked_sub(window).unwrap_or(now);
    (earliest.max(now), next.max(now) + interval)
}

impl Pacer {
    async fn wait(&self) {
        let start = {
            let mut next = self.next.lock().await;
            let (start, after) = schedule(*next, Instant::now(), self.min_interval, self.burst);
            *next = after;
            start
        };
        tokio::time::sleep_until(start).await;
    }
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
            burst: limits.burst,
        });
        Self {
            client,
            server: Arc::from("the API server"),
            limits,
            permits,
            pacer,
        }
    }

    /// Items per page of a list (`--page-size`).
    pub fn page_size(&self) -> u32 {
        self.limits.page_size
    }

    /// Requests in flight at most (`--concurrency`).
    pub fn concurrency(&self) -> usize {
        self.limits.concurrency.max(1)
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

    /// Sends one GET under the concurrency limit, the pacer and the deadline, retrying a
    /// throttled answer inside that deadline (see [`MAX_RETRIES`]); returns the body of a 2xx.
    async fn fetch(&self, what: &str, req: http::Request<Vec<u8>>) -> Result<hyper::body::Bytes, ApiError> {
        let what = format!("{what} on {}", self.server);
        let timeout = self.limits.request_timeout;
        let mut deadline: Option<Instant> = None;
        let mut retries = 0u32;
        let retried = |what: &str, retries: u32| match retries {
            0 => what.to_string(),
            1 => format!("{what} (retried once)"),
            n => format!("{what} (retried {n} times)"),
        };
        loop {
            let result = {
                let _permit = self.permits.acquire().await.expect("semaphore is never closed");
                self.pacer.wait().await;
                let deadline = *deadline.get_or_insert_with(|| Instant::now() + timeout);
                tokio::time::timeout_at(deadline, self.send_once(copy_request(&req))).await
            };
            let failed = match result {
                Ok(Ok(body)) => return Ok(body),
                Ok(Err(failed)) => failed,
                Err(_) => {
                    return Err(ApiError::Timeout {
                        what: retried(&what, retries),
                        after: timeout,
                    })
                }
            };
            let code = match &failed.error {
                kube::Error::Api(s) => s.code,
                _ => 0,
            };
            let deadline = deadline.expect("set by the first attempt");
            match retry_delay(code, failed.retry_after, retries).map(|d| spread(d, fastrand::f64())) {
                Some(delay) if retries < MAX_RETRIES && Instant::now() + delay < deadline => {
                    tracing::debug!(%what, code, delay_ms = delay.as_millis() as u64, "throttled; retrying");
                    retries += 1;
                    tokio::time::sleep(delay).await;
                }
                _ => {
                    return Err(ApiError::Request {
                        what: retried(&what, retries),
                        error: failed.error,
                    })
                }
            }
        }
    }

    /// One attempt: the body of a 2xx, else the server's Status and when it asked us to retry.
    async fn send_once(&self, req: http::Request<Vec<u8>>) -> Result<hyper::body::Bytes, Failed> {
        use http_body_util::BodyExt;
        let res = self.client.send(req.map(kube::client::Body::from)).await?;
        let code = res.status();
        let retry_after = retry_after_header(res.headers());
        let body = res.into_body().collect().await?.to_bytes();
        if !(code.is_client_error() || code.is_server_error()) {
            return Ok(body);
        }
        let status = error_status(code.as_u16(), &body);
        let retry_after = retry_after.or_else(|| {
            let secs = status.details.as_ref()?.retry_after_seconds;
            (secs > 0).then(|| Duration::from_secs(secs.into()))
        });
        Err(Failed {
            error: kube::Error::Api(status.boxed()),
            retry_after,
        })
    }

    /// GETs `req` and parses the answer as `T`.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        req: http::Request<Vec<u8>>,
    ) -> Result<T, ApiError> {
        let body = self.fetch(what, req).await?;
        serde_json::from_slice(&body).map_err(|e| ApiError::Malformed {
            what: format!("{what} on {}", self.server),
            detail: e.to_string(),
        })
    }

    /// A list request; metadata-only ones offer full objects as a fallback ([`METADATA_ACCEPT`]).
    fn list_request(
        &self,
        what: &str,
        path: &str,
        lp: &ListParams,
        metadata_only: bool,
    ) -> Result<http::Request<Vec<u8>>, ApiError> {
        let mut req = Request::new(path)
            .list(lp)
            .map_err(|e| ApiError::Config(format!("{what}: building request: {e}")))?;
        if metadata_only {
            req.headers_mut()
                .insert(http::header::ACCEPT, http::HeaderValue::from_static(METADATA_ACCEPT));
        }
        Ok(req)
    }

    /// The server's version: a cheap check that the cluster is reachable and we may talk to it.
    pub async fn server_version(&self) -> Result<String, ApiError> {
        let info: k8s_openapi::apimachinery::pkg::version::Info =
            self.get_json("GET /version", get_request("/version")).await?;
        Ok(info.git_version)
    }

    /// Checks that our credentials may list namespaces (one item, metadata only): a quick way to
    /// tell "not allowed" apart from "nothing found" before a one-shot scan.
    pub async fn check_list_access(&self) -> Result<(), ApiError> {
        let what = "listing /api/v1/namespaces";
        let req = self.list_request(what, "/api/v1/namespaces", &ListParams::default().limit(1), true)?;
        let _: serde_json::Value = self.get_json(what, req).await?;
        Ok(())
    }

    /// Discovers every group/version one by one, so that one failing group (typically an
    /// unavailable aggregated APIService) is recorded instead of failing the whole discovery.
    pub async fn discover(&self) -> DiscoverySnapshot {
        // Aggregated discovery (2 requests for the whole cluster) where the server serves it;
        // otherwise (or when it fails) one request per group/version.
        if let Some(snapshot) = self.discover_aggregated().await {
            return snapshot;
        }
        self.discover_per_group().await
    }

    /// Discovery from the aggregated documents (`apidiscovery.k8s.io/v2`) of `/api` and `/apis`.
    /// A group/version the server marks `Stale` (an unavailable aggregated APIService) is a
    /// discovery failure, as for the namespace controller. `None` when the server does not answer
    /// with aggregated documents including the core group: the caller falls back.
    async fn discover_aggregated(&self) -> Option<DiscoverySnapshot> {
        let request = |path: &str| {
            let mut req = get_request(path);
            req.headers_mut()
                .insert(http::header::ACCEPT, http::HeaderValue::from_static(AGGREGATED_ACCEPT));
            req
        };
        let core: APIGroupDiscoveryList = self.get_json("GET /api (aggregated)", request("/api")).await.ok()?;
        let groups: APIGroupDiscoveryList = self.get_json("GET /apis (aggregated)", request("/apis")).await.ok()?;
        DiscoverySnapshot::from_aggregated(&core, &groups)
    }

    async fn discover_per_group(&self) -> DiscoverySnapshot {
        let groups: Result<APIGroupList, _> = self.get_json("GET /apis", get_request("/apis")).await;
        let mut snapshot = DiscoverySnapshot::new(groups.is_ok());
        let mut wanted: Vec<(String, String)> = Vec::new();
        match self.get_json::<APIVersions>("GET /api", get_request("/api")).await {
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
                let path = if group.is_empty() {
                    format!("/api/{version}")
                } else {
                    format!("/apis/{group}/{version}")
                };
                let result: Result<APIResourceList, _> =
                    self.get_json(&format!("GET {path}"), get_request(&path)).await;
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
        self.list(rt, namespace, Keep::Metadata, &Namespaces::default()).await
    }

    /// Lists every object of a type with whole bodies, page by page.
    pub async fn list_full(&self, rt: &ResourceType, namespace: Option<&str>) -> Result<ListResult, ApiError> {
        self.list(rt, namespace, Keep::Whole, &Namespaces::default()).await
    }

    /// Reads one object's metadata by name; `None` when it does not exist. Done as a list with a
    /// `metadata.name` field selector, so the daemon needs only `list` (a `get` grant on `*/*`
    /// would also open subresources such as `nodes/proxy`).
    pub async fn find_by_name(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ListedObject>, ApiError> {
        let ns = (!namespace.is_empty()).then_some(namespace);
        let path = collection_path(rt, ns);
        let what = format!("listing {path} for {name}");
        let lp = ListParams::default().fields(&format!("metadata.name={name}"));
        let req = self.list_request(&what, &path, &lp, true)?;
        let page: ObjectList<serde_json::Value> = self.get_json(&what, req).await?;
        // Match the name ourselves too: a server that ignores the field selector returns everything.
        let namespaces = Namespaces::default();
        Ok(page
            .items
            .into_iter()
            .filter_map(|item| crate::listed::parse_value(item, Keep::Metadata, &namespaces).ok())
            .find(|o| o.name == name))
    }

    /// Lists every object of a type page by page, metadata only unless `keep` asks for a body.
    /// Each page is read straight into the kept form ([`crate::listed`]) and dropped; namespaces
    /// are interned in `namespaces` (the round's).
    pub async fn list(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        keep: Keep,
        namespaces: &Namespaces,
    ) -> Result<ListResult, ApiError> {
        let all = self.list_pages(rt, namespace, keep, namespaces, PartialList::default(), None, None);
        all.await.map(|p| p.result)
    }

    /// The first page of a list, with where it goes on and how much is left ([`Self::list_rest`]).
    pub async fn list_first_page(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        keep: Keep,
        namespaces: &Namespaces,
    ) -> Result<PartialList, ApiError> {
        self.list_pages(rt, namespace, keep, namespaces, PartialList::default(), Some(1), None)
            .await
    }

    /// The rest of a list [`Self::list_first_page`] began. With `within`, only the objects in
    /// those namespaces are kept, page by page: the others are never held (nor are items that do
    /// not parse but say they are elsewhere).
    pub async fn list_rest(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        keep: Keep,
        namespaces: &Namespaces,
        mut begun: PartialList,
        within: Option<&HashSet<&str>>,
    ) -> Result<ListResult, ApiError> {
        if let Some(within) = within {
            begun.result.objects.retain(|o| within.contains(&*o.namespace));
            begun.result.malformed.retain(|m| m.may_be_in(|ns| within.contains(ns)));
        }
        if begun.next.is_none() {
            return Ok(begun.result);
        }
        let rest = self.list_pages(rt, namespace, keep, namespaces, begun, None, within);
        rest.await.map(|p| p.result)
    }

    /// Pages of a list from `from` (its first page when `from` is empty), at most `max_pages`,
    /// keeping only the objects in `within`'s namespaces when given.
    #[allow(clippy::too_many_arguments)]
    async fn list_pages(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        keep: Keep,
        namespaces: &Namespaces,
        from: PartialList,
        max_pages: Option<usize>,
        within: Option<&HashSet<&str>>,
    ) -> Result<PartialList, ApiError> {
        let metadata_only = keep == Keep::Metadata;
        let path = collection_path(rt, namespace);
        let what = format!("listing {path}");
        let mut out = from.result;
        let mut token: Option<String> = from.next;
        let mut pages = 0;
        let mut unpaged = false;
        let mut expired = false;
        // Once the list continued from an inconsistent token, objects may come twice: by uid.
        let mut seen: Option<HashSet<Uid>> = None;
        loop {
            let mut lp = if unpaged {
                ListParams::default()
            } else {
                ListParams::default().limit(self.limits.page_size)
            };
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let req = self.list_request(&what, &path, &lp, metadata_only)?;
            let body = match self.fetch(&what, req).await {
                Ok(body) => body,
                // A type discovery listed is gone (a CRD deleted since): nothing of it is left.
                // Core types never vanish; a 404 there is an error.
                Err(e) if e.status_code() == Some(404) && !rt.group.is_empty() => {
                    tracing::debug!(%path, "the resource is no longer served (404): zero objects this round");
                    return Ok(PartialList {
                        result: ListResult {
                            vanished: true,
                            ..ListResult::default()
                        },
                        ..PartialList::default()
                    });
                }
                Err(e) if e.status_code() == Some(410) && token.is_some() => {
                    if expired {
                        return Err(e.noted("continue token expired twice"));
                    }
                    expired = true;
                    match e.continue_token() {
                        // Lists are not snapshots anyway: finish from the token the server handed
                        // out (objects changed meanwhile may be missed or seen twice).
                        Some(next) => {
                            tracing::debug!(%path, "continue token expired; continuing from the server's inconsistent token");
                            token = Some(next);
                            seen.get_or_insert_with(|| out.objects.iter().map(|o| o.uid.clone()).collect());
                        }
                        // No token to follow: one unpaged list, as client-go's pager does.
                        None => {
                            tracing::debug!(%path, "continue token expired; listing again without paging");
                            unpaged = true;
                            token = None;
                            out = ListResult::default();
                            seen = None;
                        }
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let page: Page<'_> = serde_json::from_slice(&body).map_err(|e| ApiError::Malformed {
                what: format!("{what} on {}", self.server),
                detail: e.to_string(),
            })?;
            for (i, item) in page.items.unwrap_or_default().into_iter().enumerate() {
                match crate::listed::parse_item(item.get(), keep, namespaces) {
                    Ok(o) if within.is_some_and(|w| !w.contains(&*o.namespace)) => {}
                    // Once the list continued from an inconsistent token, objects may come twice.
                    Ok(o)
                        if seen
                            .as_mut()
                            .is_some_and(|seen| !o.uid.is_empty() && !seen.insert(o.uid.clone())) => {}
                    Ok(o) => out.objects.push(o),
                    Err(e) => {
                        let item =
                            crate::listed::malformed_item(item.get(), &format!("{path}: item {i}"), &e, rt.namespaced);
                        if within.is_none_or(|w| item.may_be_in(|ns| w.contains(ns))) {
                            out.malformed.push(item);
                        }
                    }
                }
            }
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            pages += 1;
            if token.is_none() || max_pages.is_some_and(|m| pages >= m) {
                return Ok(PartialList {
                    result: out,
                    remaining: token
                        .as_ref()
                        .and(page.metadata.remaining_item_count)
                        .and_then(|r| u64::try_from(r).ok()),
                    next: token,
                });
            }
        }
    }
}

/// A list read so far: what came, where it goes on, and how much the server said is left.
#[derive(Debug, Default)]
pub struct PartialList {
    pub result: ListResult,
    /// The continue token of the next page; `None` when the list is complete.
    pub next: Option<String>,
    /// The server's count of the objects not yet listed (`remainingItemCount`), when it gave one.
    pub remaining: Option<u64>,
}

impl PartialList {
    /// Pages still to fetch at `page_size` items each: `Some(0)` when complete, `None` when the
    /// server did not say how much is left.
    pub fn pages_left(&self, page_size: u32) -> Option<u64> {
        match (&self.next, self.remaining) {
            (None, _) => Some(0),
            (Some(_), Some(r)) => Some(r.div_ceil(u64::from(page_size.max(1))).max(1)),
            (Some(_), None) => None,
        }
    }
}

/// One page of a list: its items left as raw text, each read on its own ([`crate::listed`]).
#[derive(serde::Deserialize)]
struct Page<'a> {
    #[serde(default)]
    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta,
    #[serde(borrow, default)]
    items: Option<Vec<&'a serde_json::value::RawValue>>,
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

/// Accept for aggregated discovery: v2, else v2beta1, else the legacy documents (which make
/// `discover_aggregated` fall back).
const AGGREGATED_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

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
    fn throttled_answers_are_retried_after_what_the_server_asked() {
        let s = Duration::from_secs;
        // The server's Retry-After wins; 503/504 are retried only when the server says when.
        assert_eq!(retry_delay(429, Some(s(3)), 0), Some(s(3)));
        assert_eq!(retry_delay(503, Some(s(1)), 4), Some(s(1)));
        assert_eq!(retry_delay(504, Some(s(1)), 0), Some(s(1)));
        assert_eq!(
            retry_delay(503, None, 0),
            None,
            "an unavailable aggregated API fails fast"
        );
        assert_eq!(retry_delay(500, Some(s(1)), 0), None);
        assert_eq!(retry_delay(403, None, 0), None);
        // A 429 without Retry-After: 250 ms doubling, at most 4 s.
        assert_eq!(retry_delay(429, None, 0), Some(Duration::from_millis(250)));
        assert_eq!(retry_delay(429, None, 2), Some(Duration::from_millis(1000)));
        assert_eq!(retry_delay(429, None, 30), Some(s(4)));
    }

    #[test]
    fn starts_are_paced_after_a_burst() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let starts = |burst: u32, n: usize| {
            let mut next = t0;
            (0..n)
                .map(|_| {
                    let (start, after) = schedule(next, t0, s(1), burst);
                    next = after;
                    (start - t0).as_secs()
                })
                .collect::<Vec<u64>>()
        };
        assert_eq!(starts(3, 6), vec![0, 0, 0, 1, 2, 3]);
        assert_eq!(starts(1, 3), vec![0, 1, 2]);
        // An idle pacer refills: a request long after the last starts at once.
        let (start, _) = schedule(t0, t0 + s(60), s(1), 3);
        assert_eq!(start, t0 + s(60));
    }

    #[test]
    fn retries_are_spread_over_half_the_delay_again() {
        let s = Duration::from_secs;
        assert_eq!(spread(s(2), 0.0), s(2));
        assert_eq!(spread(s(2), 0.5), Duration::from_millis(2500));
        assert!(spread(s(2), 0.999_999) < s(3));
    }

    #[test]
    fn error_answers_become_statuses() {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("7"));
        assert_eq!(retry_after_header(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after_header(&headers), None, "only the seconds form is used");
        // APF's plain-text 429 and the aggregator's 503 keep their text and the HTTP code.
        let plain = error_status(429, b"Too many requests, please try again later.\n");
        assert_eq!(
            (plain.code, plain.message.as_str()),
            (429, "Too many requests, please try again later.")
        );
        let expired = error_status(
            410,
            br#"{"kind":"Status","status":"Failure","message":"too old","reason":"Expired","code":410,"metadata":{"continue":"abc"}}"#,
        );
        assert_eq!(expired.reason, "Expired");
        let e = ApiError::Request {
            what: "listing x".into(),
            error: kube::Error::Api(expired.boxed()),
        };
        assert_eq!(
            (e.status_code(), e.continue_token().as_deref()),
            (Some(410), Some("abc"))
        );
        assert_eq!(
            e.noted("continue token expired twice").to_string(),
            "listing x (continue token expired twice): HTTP 410: too old"
        );
        // A JSON body that is not a Status is shown as text; a Status without a code gets the HTTP one.
        assert_eq!(error_status(500, b"{}").message, "{}");
        assert_eq!(error_status(503, br#"{"message":"m"}"#).code, 503);
    }
}
