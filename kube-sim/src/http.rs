//! HTTP server and routing (plain HTTP/1.1 on loopback, JSON).
use crate::discovery;
use crate::faults::Fault;
use crate::fieldvalidation::{self, Directive};
use crate::media::{self, Rendering};
use crate::openapi;
use crate::ops::{self, DeleteOptions, Part};
use crate::paging::{ContinueToken, INCONSISTENT_CONTINUE};
use crate::patch::PatchType;
use crate::protobuf;
use crate::registry::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::state::Shared;
use crate::status::ApiError;
use crate::table::{self, IncludeObject, Printer};
use crate::watch;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

pub type Body = BoxBody<Bytes, Infallible>;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

fn json_response(code: u16, v: &Value, content_type: &str) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("Content-Type", content_type)
        .header("Cache-Control", "no-cache, private")
        .body(full(serde_json::to_vec(v).unwrap_or_default()))
        .expect("valid response")
}

pub fn error_response(e: &ApiError) -> Response<Body> {
    match &e.plain_text {
        Some(t) => Response::builder()
            .status(e.code)
            .header("Content-Type", "text/plain; charset=utf-8")
            .header("X-Content-Type-Options", "nosniff")
            .body(full(t.clone()))
            .expect("valid response"),
        None => json_response(e.code, &e.to_status(), "application/json"),
    }
}

fn ok(v: &Value) -> Result<Response<Body>, ApiError> {
    Ok(json_response(200, v, "application/json"))
}

/// A parsed resource request path.
#[derive(Debug, PartialEq)]
struct ResourcePath {
    group: String,
    version: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    sub: Option<String>,
}

fn parse_resource_path(group: &str, version: &str, rest: &[&str]) -> Option<ResourcePath> {
    let mk = |ns: Option<&str>, plural: &str, name: Option<&str>, sub: Option<&str>| ResourcePath {
        group: group.into(),
        version: version.into(),
        namespace: ns.map(str::to_string),
        plural: plural.into(),
        name: name.map(str::to_string),
        sub: sub.map(str::to_string),
    };
    match rest {
        [p] => Some(mk(None, p, None, None)),
        ["namespaces", n] if group.is_empty() => Some(mk(None, "namespaces", Some(n), None)),
        ["namespaces", n, s] if group.is_empty() && (*s == "status" || *s == "finalize") => {
            Some(mk(None, "namespaces", Some(n), Some(s)))
        }
        ["namespaces", ns, p] => Some(mk(Some(ns), p, None, None)),
        ["namespaces", ns, p, n] => Some(mk(Some(ns), p, Some(n), None)),
        ["namespaces", ns, p, n, s] => Some(mk(Some(ns), p, Some(n), Some(s))),
        [p, n] => Some(mk(None, p, Some(n), None)),
        [p, n, s] => Some(mk(None, p, Some(n), Some(s))),
        _ => None,
    }
}

fn wants_aggregated(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|e| {
            let e = e.replace(' ', "");
            e.contains("g=apidiscovery.k8s.io") && e.contains("v=v2;")
                || e.ends_with("v=v2") && e.contains("g=apidiscovery.k8s.io")
        })
    })
}

/// Entry point for every request.
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = crate::query::parse(req.uri().query());
    let accept = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let ctx = RequestCtx {
        method,
        path,
        query,
        accept,
        content_type,
        body,
    };
    let resp = match route(shared, ctx).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    Ok(resp)
}

struct RequestCtx {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    accept: Option<String>,
    content_type: String,
    body: Bytes,
}

async fn route(shared: Arc<Shared>, ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let segs: Vec<&str> = ctx
        .path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let get = ctx.method == Method::GET;
    let registry = shared.lock().registry.clone();
    let aggregated = wants_aggregated(ctx.accept.as_deref());
    let agg = |v: Value| Ok(json_response(200, &v, discovery::AGGREGATED_V2));
    match segs.as_slice() {
        ["openapi", "v3"] if get => {
            let crds = crd_objects(&shared);
            return ok(&openapi::v3_index(&registry, &crds));
        }
        ["openapi", "v3", "api", v] | ["openapi", "v3", "apis", _, v] if get => {
            let group = if segs[2] == "api" { "" } else { segs[3] };
            if registry.is_failing(group, v) {
                return Err(ApiError::page_not_found());
            }
            let crds = crd_objects(&shared);
            let (bytes, hash) = openapi::v3_bytes(&registry, &crds, group, v).ok_or_else(ApiError::page_not_found)?;
            let cache = if ctx.query.get("hash").is_some_and(|h| *h == hash) {
                "public, immutable"
            } else {
                "no-cache, private"
            };
            return Ok(Response::builder()
                .status(200)
                .header("Content-Type", "application/json")
                .header("Cache-Control", cache)
                .header("Etag", format!("\"{hash}\""))
                .body(full(bytes))
                .expect("valid response"));
        }
        ["openapi", "v2"] if get => {
            let accept = ctx.accept.as_deref().unwrap_or("");
            let json_ok = accept.trim().is_empty()
                || accept.split(',').any(|e| {
                    matches!(
                        e.split(';').next().unwrap_or("").trim(),
                        "application/json" | "*/*" | "application/*"
                    )
                });
            if !json_ok {
                return Err(ApiError::new(
                    406,
                    "NotAcceptable",
                    "only the following media types are accepted: application/json (kube-sim does not encode OpenAPI v2 as protobuf)",
                    None,
                ));
            }
            let crds = crd_objects(&shared);
            return ok(&openapi::v2_document(&registry, &crds));
        }
        ["version"] if get => return ok(&discovery::version_info()),
        ["healthz"] | ["livez"] | ["readyz"] if get => {
            return Ok(Response::builder()
                .status(200)
                .header("Content-Type", "text/plain; charset=utf-8")
                .body(full("ok"))
                .expect("valid"))
        }
        ["api"] if get => {
            if aggregated {
                return agg(discovery::aggregated(&registry, true));
            }
            let addr = shared.server_address.lock().map(|a| a.clone()).unwrap_or_default();
            return ok(&discovery::api_versions(&addr));
        }
        ["api", "v1"] if get => {
            let v = registry.version("", "v1").ok_or_else(ApiError::page_not_found)?;
            return ok(&discovery::resource_list("", v));
        }
        ["apis"] if get => {
            if aggregated {
                return agg(discovery::aggregated(&registry, false));
            }
            return ok(&discovery::group_list(&registry));
        }
        ["apis", g] if get => {
            return discovery::group(&registry, g)
                .map(|v| json_response(200, &v, "application/json"))
                .ok_or_else(ApiError::page_not_found);
        }
        ["apis", g, v] if get => {
            if registry.is_failing(g, v) {
                return Err(ApiError::plain(503, "service unavailable\n"));
            }
            let vd = registry.version(g, v).ok_or_else(ApiError::page_not_found)?;
            return ok(&discovery::resource_list(g, vd));
        }
        _ => {}
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] if !rest.is_empty() => ("", "v1", rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return Err(ApiError::page_not_found()),
    };
    if registry.is_failing(group, version) {
        return Err(ApiError::plain(503, "service unavailable\n"));
    }
    if registry.version(group, version).is_none() {
        return Err(ApiError::page_not_found());
    }
    let rp = parse_resource_path(group, version, rest).ok_or_else(ApiError::resource_not_found)?;
    let rt = registry
        .resolve(&rp.group, &rp.version, &rp.plural)
        .ok_or_else(ApiError::resource_not_found)?;
    if rp.namespace.is_some() && !rt.namespaced {
        return Err(ApiError::resource_not_found());
    }
    if let Some(sub) = &rp.sub {
        if !rt.has_subresource(sub) {
            return Err(ApiError::resource_not_found());
        }
    }
    let latency = shared.faults.latency(&rt.plural, &rt.group);
    if latency > Duration::ZERO {
        tokio::time::sleep(latency).await;
    }
    if shared.faults.should_fail(&rt.plural, &rt.group) {
        return Err(ApiError::internal(&format!(
            "injected fault for {} (kube-sim)",
            rt.group_resource().qualified()
        )));
    }
    let has_continue = ctx.query.get("continue").is_some_and(|c| !c.is_empty());
    let metadata_accept = ctx
        .accept
        .as_deref()
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"));
    // Watches are never answered with a scripted fault (a body cut in half needs an end).
    let is_watch = ctx.query.get("watch").is_some_and(|w| w == "true" || w == "1");
    let fault = if is_watch {
        None
    } else {
        shared.faults.take(&rt.plural, &rt.group, has_continue, metadata_accept)
    };
    match fault {
        None => resource_request(shared, ctx, rt, rp).await,
        Some(fault) => injected(shared, ctx, rt, rp, fault).await,
    }
}

/// Answers a request with a scripted fault (see [`Fault`]).
async fn injected(
    shared: Arc<Shared>,
    mut ctx: RequestCtx,
    rt: ResourceType,
    rp: ResourcePath,
    fault: Fault,
) -> Result<Response<Body>, ApiError> {
    let gr = rt.group_resource();
    match fault {
        Fault::Throttle {
            code: 429,
            retry_after_secs,
        } => Ok(Response::builder()
            .status(429)
            .header("Content-Type", "text/plain; charset=utf-8")
            .header("X-Content-Type-Options", "nosniff")
            .header("Retry-After", retry_after_secs.to_string())
            .body(full("Too many requests, please try again later.\n"))
            .expect("valid response")),
        Fault::Throttle { code, retry_after_secs } => {
            let e = ApiError::new(
                code,
                if code == 503 {
                    "ServiceUnavailable"
                } else {
                    "InternalError"
                },
                "the server is currently unable to handle the request",
                Some(json!({"retryAfterSeconds": retry_after_secs})),
            );
            let mut resp = error_response(&e);
            resp.headers_mut().insert(
                "Retry-After",
                http::HeaderValue::from_str(&retry_after_secs.to_string()).expect("digits"),
            );
            Ok(resp)
        }
        Fault::Status(403) => {
            let (verb, scope) = match (&rp.name, &rp.namespace) {
                (Some(_), _) => ("get", String::new()),
                (None, Some(ns)) => ("list", format!(" in the namespace \"{ns}\"")),
                (None, None) => ("list", " at the cluster scope".to_string()),
            };
            Err(ApiError::forbidden(
                &gr,
                rp.name.as_deref().unwrap_or_default(),
                &format!(
                    "User \"system:serviceaccount:kube-garbage-audit:kube-garbage-audit\" cannot {verb} resource \"{}\" in API group \"{}\"{scope}",
                    rt.plural, rt.group
                ),
            ))
        }
        Fault::Status(404) => Err(ApiError::resource_not_found()),
        Fault::Status(code) => Err(ApiError::new(
            code,
            "InternalError",
            format!("injected status {code} for {} (kube-sim)", gr.qualified()),
            None,
        )),
        Fault::NoMetadataRendering => {
            let kept: Vec<&str> = ctx
                .accept
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .filter(|e| !e.contains("as=PartialObjectMetadata"))
                .collect();
            if kept.iter().all(|e| e.trim().is_empty()) {
                return Err(ApiError::new(
                    406,
                    "NotAcceptable",
                    "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
                    None,
                ));
            }
            ctx.accept = Some(kept.join(","));
            resource_request(shared, ctx, rt, rp).await
        }
        Fault::ExpireContinue => {
            let c = ctx.query.get("continue").cloned().unwrap_or_default();
            let t = ContinueToken::decode(&c).map_err(ApiError::bad_request)?;
            let mut e = ApiError::expired(INCONSISTENT_CONTINUE);
            e.metadata
                .insert("continue".into(), json!(ContinueToken::new(-1, t.start_key()).encode()));
            Err(e)
        }
        Fault::CloseMidBody | Fault::TruncatedBody => {
            let resp = resource_request(shared, ctx, rt, rp).await?;
            let (mut parts, body) = resp.into_parts();
            let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            parts.headers.remove(http::header::TRANSFER_ENCODING);
            if fault == Fault::CloseMidBody {
                // The full length is declared, half is sent: hyper then closes the connection.
                parts
                    .headers
                    .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(bytes.len()));
                let stream = futures::stream::iter([Ok::<_, Infallible>(Frame::data(half))]);
                Ok(Response::from_parts(parts, BodyExt::boxed(StreamBody::new(stream))))
            } else {
                parts
                    .headers
                    .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(half.len()));
                Ok(Response::from_parts(parts, full(half)))
            }
        }
    }
}

fn verb_check(rt: &ResourceType, verb: &str, sub: Option<&str>) -> Result<(), ApiError> {
    let allowed = match sub {
        None => rt.has_verb(verb),
        Some("finalize") => verb == "update",
        Some(_) => matches!(verb, "get" | "update" | "patch"),
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::method_not_routed())
    }
}

fn parse_body(ctx: &RequestCtx) -> Result<Value, ApiError> {
    if ctx.body.is_empty() {
        return Err(ApiError::bad_request("the body of the request was empty"));
    }
    if ctx.content_type.split(';').next().unwrap_or("").trim() == protobuf::MEDIA_TYPE {
        return protobuf::decode(&ctx.body).map_err(|e| match e.status_code() {
            415 => ApiError::new(415, "UnsupportedMediaType", e.to_string(), None),
            _ => ApiError::bad_request(e.to_string()),
        });
    }
    match serde_json::from_slice::<Value>(&ctx.body) {
        Ok(v) => Ok(v),
        Err(e) => {
            if ctx.content_type.contains("yaml") {
                let s = std::str::from_utf8(&ctx.body).map_err(|e| ApiError::bad_request(e.to_string()))?;
                serde_saphyr::from_str::<Value>(s)
                    .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
            } else {
                Err(ApiError::bad_request(format!("error decoding JSON: {e}")))
            }
        }
    }
}

fn dry_run(ctx: &RequestCtx) -> bool {
    ctx.query.get("dryRun").is_some_and(|v| v == "All")
}

async fn resource_request(
    shared: Arc<Shared>,
    ctx: RequestCtx,
    rt: ResourceType,
    rp: ResourcePath,
) -> Result<Response<Body>, ApiError> {
    let rendering = media::negotiate(ctx.accept.as_deref()).ok_or_else(|| {
        ApiError::new(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
            None,
        )
    })?;
    let ns = rp.namespace.clone().unwrap_or_default();
    let now = shared.clock.now_rfc3339();
    let sub = rp.sub.as_deref();
    let part = match sub {
        Some("status") => Part::Status,
        Some("finalize") => Part::Finalize,
        _ => Part::Main,
    };
    let include =
        IncludeObject::parse(ctx.query.get("includeObject").map(String::as_str)).map_err(ApiError::bad_request)?;
    let render_one = |v: Value| -> Result<Response<Body>, ApiError> {
        match rendering {
            Rendering::Full => ok(&v),
            Rendering::Metadata => ok(&media::partial(&v)),
            Rendering::Table(api_version) => {
                let printer = printer_for(&shared, &rt);
                let mut meta = serde_json::Map::new();
                meta.insert("resourceVersion".into(), v["metadata"]["resourceVersion"].clone());
                ok(&table::build(
                    &printer,
                    &[v],
                    meta,
                    include,
                    api_version,
                    true,
                    shared.clock.now(),
                ))
            }
        }
    };
    match (&ctx.method, &rp.name) {
        (&Method::GET, None) => {
            let is_watch = ctx.query.get("watch").is_some_and(|w| w == "true" || w == "1");
            if is_watch {
                verb_check(&rt, "watch", None)?;
                let table = match rendering {
                    Rendering::Table(api_version) => Some(watch::TableWatch {
                        printer: printer_for(&shared, &rt),
                        include,
                        api_version,
                        headers_sent: std::cell::Cell::new(false),
                    }),
                    _ => None,
                };
                return watch_request(shared, &ctx, rt, rp.namespace.clone(), rendering, table);
            }
            verb_check(&rt, "list", None)?;
            let v = list(&shared, &ctx, &rt, rp.namespace.as_deref(), rendering)?;
            match rendering {
                Rendering::Table(api_version) => {
                    let printer = printer_for(&shared, &rt);
                    let items = v["items"].as_array().cloned().unwrap_or_default();
                    let meta = v["metadata"].as_object().cloned().unwrap_or_default();
                    ok(&table::build(
                        &printer,
                        &items,
                        meta,
                        include,
                        api_version,
                        true,
                        shared.clock.now(),
                    ))
                }
                _ => ok(&v),
            }
        }
        (&Method::POST, None) => {
            verb_check(&rt, "create", None)?;
            // crdHandler.serveResource: no creates once the CRD's Terminating condition is True
            if crd_of(&shared, &rt).is_some_and(|crd| crate::gc::crd_condition_true(&crd, "Terminating")) {
                let mut e = ApiError::method_not_allowed(&rt.group_resource(), "create");
                e.message = "create not allowed while custom resource definition is terminating".into();
                return Err(e);
            }
            if rt.namespaced && rp.namespace.is_none() {
                return Err(ApiError::resource_not_found());
            }
            let mut body = parse_body(&ctx)?;
            let warnings = validate_fields(&shared, &ctx, &rt, &mut body, false)?;
            let mut state = shared.lock();
            let created = ops::create(&mut state, &rt, &ns, body, &now, dry_run(&ctx))?;
            drop(state);
            Ok(with_warnings(
                json_response(201, &created, "application/json"),
                &warnings,
            ))
        }
        (&Method::DELETE, None) => {
            verb_check(&rt, "deletecollection", None)?;
            let (labels, fields) = selectors(&ctx, &rt)?;
            let opts = delete_options(&ctx)?;
            let mut state = shared.lock();
            let names: Vec<(String, String)> = state
                .store
                .list(&rt.storage_key(), rp.namespace.as_deref())
                .into_iter()
                .filter(|(_, o)| labels.matches(o) && fields.matches(o))
                .map(|(k, _)| (k.1.clone(), k.2.clone()))
                .collect();
            let mut items = Vec::new();
            for (n_ns, n) in names {
                if let Ok(out) = ops::delete(&mut state, &rt, &n_ns, &n, &opts, &now) {
                    if out.body["kind"] != "Status" {
                        items.push(out.body);
                    }
                }
            }
            let rv = state.store.current_rv().to_string();
            ok(
                &json!({"kind": rt.list_kind(), "apiVersion": rt.api_version(), "metadata": {"resourceVersion": rv}, "items": items}),
            )
        }
        (&Method::GET, Some(name)) => {
            verb_check(&rt, "get", sub)?;
            let state = shared.lock();
            let obj = state
                .store
                .get(&rt.storage_key(), &ns, name)
                .cloned()
                .ok_or_else(|| ApiError::not_found(&rt.group_resource(), name))?;
            drop(state);
            render_one(ops::present(obj, &rt))
        }
        (&Method::PUT, Some(name)) => {
            verb_check(&rt, "update", sub)?;
            let mut body = parse_body(&ctx)?;
            let warnings = validate_fields(&shared, &ctx, &rt, &mut body, false)?;
            let mut state = shared.lock();
            let out = ops::update(&mut state, &rt, &ns, name, body, part, dry_run(&ctx), true)?;
            drop(state);
            Ok(with_warnings(json_response(200, &out, "application/json"), &warnings))
        }
        (&Method::PATCH, Some(name)) => {
            verb_check(&rt, "patch", sub)?;
            let kind = PatchType::from_content_type(&ctx.content_type).ok_or_else(|| {
                ApiError::unsupported_media_type(
                    &ctx.content_type,
                    &[
                        "application/json-patch+json",
                        "application/merge-patch+json",
                        "application/apply-patch+yaml",
                        "application/strategic-merge-patch+json",
                    ],
                )
            })?;
            let mut patch_body = ctx.body.clone();
            let mut warnings = Vec::new();
            if matches!(kind, PatchType::Merge | PatchType::StrategicMerge) {
                if let Ok(mut p) = serde_json::from_slice::<Value>(&ctx.body) {
                    if p.is_object() {
                        warnings = validate_fields(&shared, &ctx, &rt, &mut p, true)?;
                        patch_body = Bytes::from(serde_json::to_vec(&p).unwrap_or_default());
                    }
                }
            }
            let mut state = shared.lock();
            let out = ops::patch(&mut state, &rt, &ns, name, &patch_body, kind, part, dry_run(&ctx))?;
            drop(state);
            Ok(with_warnings(json_response(200, &out, "application/json"), &warnings))
        }
        (&Method::DELETE, Some(name)) => {
            verb_check(&rt, "delete", sub)?;
            if sub.is_some() {
                return Err(ApiError::method_not_routed());
            }
            let opts = delete_options(&ctx)?;
            let mut state = shared.lock();
            let out = ops::delete(&mut state, &rt, &ns, name, &opts, &now)?;
            drop(state);
            ok(&out.body)
        }
        _ => Err(ApiError::method_not_routed()),
    }
}

/// All stored CRDs.
fn crd_objects(shared: &Shared) -> Vec<Value> {
    let state = shared.lock();
    state
        .store
        .list(crate::state::CRD_STORAGE, None)
        .into_iter()
        .map(|(_, v)| v.clone())
        .collect()
}

/// The CRD object of a custom resource type.
fn crd_of(shared: &Shared, rt: &ResourceType) -> Option<Value> {
    if !rt.is_crd {
        return None;
    }
    let state = shared.lock();
    state
        .store
        .get(crate::state::CRD_STORAGE, "", &format!("{}.{}", rt.plural, rt.group))
        .cloned()
}

/// Apply the request's `fieldValidation` directive to a body: unknown fields are removed;
/// Strict fails, Warn returns `Warning` header values.
fn validate_fields(
    shared: &Shared,
    ctx: &RequestCtx,
    rt: &ResourceType,
    body: &mut Value,
    is_patch: bool,
) -> Result<Vec<String>, ApiError> {
    let directive = Directive::parse(ctx.query.get("fieldValidation").map(String::as_str))?;
    let crd = crd_of(shared, rt);
    let schema = openapi::object_schema(rt, crd.as_ref());
    let found = fieldvalidation::prune_unknown(body, &schema, crate::schemas::builtin());
    if found.is_empty() {
        return Ok(vec![]);
    }
    match directive {
        Directive::Ignore => Ok(vec![]),
        Directive::Warn => Ok(fieldvalidation::warnings(&found)),
        Directive::Strict if is_patch => Err(ApiError::bad_request(fieldvalidation::strict_message(&found))),
        Directive::Strict => Err(fieldvalidation::strict_error(&rt.kind, &rt.version, &found)),
    }
}

fn with_warnings(mut resp: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        if let Ok(v) = http::HeaderValue::from_str(w) {
            resp.headers_mut().append("Warning", v);
        }
    }
    resp
}

/// The printer of a resource (custom resources: their CRD's printer columns).
fn printer_for(shared: &Shared, rt: &ResourceType) -> Printer {
    if !rt.is_crd {
        return Printer::for_resource(rt, None);
    }
    let state = shared.lock();
    let crd = state
        .store
        .get(crate::state::CRD_STORAGE, "", &format!("{}.{}", rt.plural, rt.group))
        .cloned();
    drop(state);
    Printer::for_resource(rt, crd.as_ref())
}

/// The request's `labelSelector` and `fieldSelector`; a malformed one is a 400 BadRequest.
fn selectors(ctx: &RequestCtx, rt: &ResourceType) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let query = |key: &str| ctx.query.get(key).map(String::as_str).unwrap_or("");
    let labels = LabelSelector::parse(query("labelSelector")).map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(query("fieldSelector"), &rt.storage_key()).map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

fn delete_options(ctx: &RequestCtx) -> Result<DeleteOptions, ApiError> {
    let mut opts = if ctx.body.is_empty() {
        DeleteOptions::default()
    } else {
        DeleteOptions::from_body(&parse_body(ctx)?)
    };
    if let Some(p) = ctx.query.get("propagationPolicy") {
        opts.propagation = Some(p.clone());
    }
    if let Some(p) = &opts.propagation {
        if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
            return Err(ApiError::bad_request(format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            )));
        }
    }
    if ctx.query.get("dryRun").is_some_and(|v| v == "All") {
        opts.dry_run = true;
    }
    Ok(opts)
}

fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    rt: &ResourceType,
    ns: Option<&str>,
    rendering: Rendering,
) -> Result<Value, ApiError> {
    let (labels, fields) = selectors(ctx, rt)?;
    let limit: Option<usize> = match ctx.query.get("limit") {
        Some(l) if !l.is_empty() => Some(
            l.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        ),
        _ => None,
    };
    let state = shared.lock();
    let current = state.store.current_rv();
    // ListOptions validation (ValidateListOptions → 422 Invalid ListOptions.meta.k8s.io) and the
    // storage layer's resourceVersion rules.
    let rv = ctx.query.get("resourceVersion").cloned().unwrap_or_default();
    let rvm = ctx.query.get("resourceVersionMatch").cloned().unwrap_or_default();
    let cont = ctx.query.get("continue").cloned().unwrap_or_default();
    if !rvm.is_empty() {
        let mut errs = Vec::new();
        if rv.is_empty() {
            errs.push(crate::status::FieldError::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if !cont.is_empty() {
            errs.push(crate::status::FieldError::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
        if rvm != "Exact" && rvm != "NotOlderThan" {
            errs.push(crate::status::FieldError {
                reason: "FieldValueNotSupported",
                field: "resourceVersionMatch".into(),
                body: format!("Unsupported value: {rvm:?}: supported values: \"Exact\", \"NotOlderThan\", \"\""),
            });
        }
        if rvm == "Exact" && rv == "0" {
            errs.push(crate::status::FieldError::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            ));
        }
        if !errs.is_empty() {
            return Err(ApiError::invalid("ListOptions", "meta.k8s.io", "", errs));
        }
    }
    if !cont.is_empty() && !rv.is_empty() && rv != "0" {
        return Err(ApiError::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }
    let limit = if rv == "0" { None } else { limit }; // served from the watch cache: whole list
    if !rv.is_empty() && rv != "0" {
        let n: u64 = rv
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
        if n > current {
            return Err(ApiError::new(
                504,
                "Timeout",
                format!("Timeout: Too large resource version: {n}, current: {current}"),
                Some(
                    json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}),
                ),
            ));
        }
        if rvm == "Exact" && n < state.store.compacted_rv() {
            return Err(ApiError::expired(
                "The resourceVersion for the provided list is too old.",
            ));
        }
    }
    let mut token_rv = current as i64;
    let mut after: Option<String> = None;
    if let Some(c) = ctx.query.get("continue").filter(|c| !c.is_empty()) {
        let t = ContinueToken::decode(c).map_err(ApiError::bad_request)?;
        if t.rv > 0 && (t.rv as u64) < state.store.compacted_rv() {
            let mut e = ApiError::expired(INCONSISTENT_CONTINUE);
            e.metadata
                .insert("continue".into(), json!(ContinueToken::new(-1, t.start_key()).encode()));
            return Err(e);
        }
        if t.rv > 0 {
            token_rv = t.rv;
        }
        after = Some(t.start_key().to_string());
    }
    // Lazy from the continue key: a page costs its own size plus the count of what remains
    // (`remainingItemCount`, like etcd's count), not a sort of the whole resource.
    let storage = rt.storage_key();
    let mut matching = state
        .store
        .iter_from(&storage, ns, after.as_deref())
        .filter(|(_, o)| labels.matches(o) && fields.matches(o));
    let limit = limit.filter(|l| *l > 0);
    let page: Vec<(&crate::store::Key, &Value)> = match limit {
        Some(l) => matching.by_ref().take(l).collect(),
        None => matching.by_ref().collect(),
    };
    let more = limit.is_some() && !page.is_empty() && matching.next().is_some();
    let next_start = page.last().filter(|_| more).map(|(k, _)| crate::store::list_key(k, ns));
    let items: Vec<Value> = page
        .iter()
        .map(|(_, o)| {
            let p = ops::present((*o).clone(), rt);
            match rendering {
                Rendering::Metadata => media::partial(&p),
                Rendering::Full | Rendering::Table(_) if rt.is_crd => p,
                Rendering::Table(_) => p,
                Rendering::Full => {
                    let mut p = p;
                    if let Some(m) = p.as_object_mut() {
                        m.remove("kind");
                        m.remove("apiVersion");
                    }
                    p
                }
            }
        })
        .collect();
    let mut meta = serde_json::Map::new();
    meta.insert("resourceVersion".into(), json!(token_rv.to_string()));
    if let Some(last) = &next_start {
        meta.insert("continue".into(), json!(ContinueToken::new(token_rv, last).encode()));
        if labels.is_empty() && fields.is_empty() {
            let remaining = state.store.count_from(&storage, ns, Some(last));
            meta.insert("remainingItemCount".into(), json!(remaining));
        }
    }
    let (kind, api_version) = match rendering {
        Rendering::Metadata => ("PartialObjectMetadataList".to_string(), "meta.k8s.io/v1".to_string()),
        Rendering::Full | Rendering::Table(_) => (rt.list_kind(), rt.api_version()),
    };
    Ok(json!({"kind": kind, "apiVersion": api_version, "metadata": meta, "items": items}))
}

fn watch_request(
    shared: Arc<Shared>,
    ctx: &RequestCtx,
    rt: ResourceType,
    namespace: Option<String>,
    rendering: Rendering,
    table: Option<watch::TableWatch>,
) -> Result<Response<Body>, ApiError> {
    let (labels, fields) = selectors(ctx, &rt)?;
    let send_initial_events = ctx.query.get("sendInitialEvents").is_some_and(|v| v == "true");
    let bookmarks = ctx.query.get("allowWatchBookmarks").is_some_and(|v| v == "true");
    if send_initial_events
        && (ctx.query.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan") || !bookmarks)
    {
        return Err(ApiError::invalid(
            "ListOptions",
            "meta.k8s.io",
            "",
            vec![crate::status::FieldError::forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled or resourceVersionMatch is set to NotOlderThan with allowWatchBookmarks",
            )],
        ));
    }
    let timeout = ctx
        .query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let req = watch::WatchRequest {
        rt,
        namespace,
        labels,
        fields,
        resource_version: ctx.query.get("resourceVersion").cloned().unwrap_or_default(),
        timeout,
        bookmarks,
        send_initial_events,
        rendering,
        table,
    };
    let rx = watch::start(shared, req);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .header("Transfer-Encoding", "chunked")
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .expect("valid response"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let p = parse_resource_path("", "v1", &["namespaces", "x", "finalize"]).unwrap();
        assert_eq!(
            (p.plural.as_str(), p.name.as_deref(), p.sub.as_deref()),
            ("namespaces", Some("x"), Some("finalize"))
        );
        let p = parse_resource_path("", "v1", &["namespaces", "x", "pods"]).unwrap();
        assert_eq!(
            (p.namespace.as_deref(), p.plural.as_str(), p.name),
            (Some("x"), "pods", None)
        );
        let p = parse_resource_path("apps", "v1", &["namespaces", "x", "deployments", "d", "status"]).unwrap();
        assert_eq!(p.sub.as_deref(), Some("status"));
        assert!(wants_aggregated(Some(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(!wants_aggregated(Some(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        )));
    }
}
