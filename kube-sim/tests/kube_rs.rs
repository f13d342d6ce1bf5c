//! kube-rs 5 against kube-sim: discovery, paging, metadata lists, watcher, errors.
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PartialObjectMeta, Patch, PatchParams, PostParams};
use kube::discovery::{ApiResource, Discovery};
use kube::runtime::watcher;
use kube_sim::{start, SimConfig};
use std::time::Duration;

async fn aibrix() -> kube_sim::SimHandle {
    start(SimConfig {
        scenario: Some("aibrix".into()),
        namespace_controller_interval: Duration::from_millis(100),
        gc_interval: Duration::from_millis(100),
        ..Default::default()
    })
    .await
    .expect("sim starts")
}

#[tokio::test]
async fn discovery_run_sees_builtins_and_crds() {
    let sim = aibrix().await;
    let d = Discovery::new(sim.client()).run().await.expect("discovery");
    let groups: Vec<String> = d.groups().map(|g| g.name().to_string()).collect();
    for g in [
        "",
        "apps",
        "autoscaling",
        "model.aibrix.ai",
        "autoscaling.aibrix.ai",
        "orchestration.aibrix.ai",
    ] {
        assert!(groups.iter().any(|x| x == g), "missing group {g:?} in {groups:?}");
    }
    let (ar, caps) = d
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "model.aibrix.ai",
            "v1alpha1",
            "ModelAdapter",
        ))
        .expect("ModelAdapter resolves");
    assert_eq!(ar.plural, "modeladapters");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    sim.shutdown().await;
}

#[tokio::test]
async fn per_group_discovery_and_failed_group() {
    let sim = aibrix().await;
    let client = sim.client();
    let groups = client.list_api_groups().await.unwrap();
    assert!(groups.groups.iter().all(|g| g.name != "metrics.k8s.io"));
    sim.fail_discovery("metrics.k8s.io/v1beta1");
    let groups = client.list_api_groups().await.unwrap();
    assert!(
        groups.groups.iter().any(|g| g.name == "metrics.k8s.io"),
        "failing group is still listed"
    );
    let apps = client.list_api_group_resources("apps/v1").await.unwrap();
    assert!(apps.resources.iter().any(|r| r.name == "deployments"));
    // (503 body for the failing group is checked with raw HTTP in http_api.rs: kube's client retries 503s)
    // the APIService exists with Available=False
    let ar = ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("apiregistration.k8s.io", "v1", "APIService"),
        "apiservices",
    );
    let svc: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let o = tokio::time::timeout(Duration::from_secs(5), svc.get("v1beta1.metrics.k8s.io"))
        .await
        .expect("no timeout")
        .unwrap();
    assert_eq!(o.data["status"]["conditions"][0]["status"], "False");
    sim.restore_discovery("metrics.k8s.io/v1beta1");
    let groups = client.list_api_groups().await.unwrap();
    assert!(groups.groups.iter().all(|g| g.name != "metrics.k8s.io"));
    sim.shutdown().await;
}

#[tokio::test]
async fn dynamic_list_pages_with_limit() {
    let sim = aibrix().await;
    let ar = ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("autoscaling", "v2", "HorizontalPodAutoscaler"),
        "horizontalpodautoscalers",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(sim.client(), "llm-serving", &ar);
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.metadata.remaining_item_count, Some(1));
    let token = first.metadata.continue_.clone().expect("continue token");
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert!(second.metadata.continue_.is_none());
    let mut names: Vec<String> = first
        .items
        .iter()
        .chain(second.items.iter())
        .filter_map(|o| o.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, vec!["llama-3-8b-hpa", "mistral-7b-hpa", "qwen-7b-hpa"]);
    // an old token expires with 410 after a compaction
    sim.compact_now();
    let err = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 410);
            assert_eq!(s.reason, "Expired");
            assert!(s.message.starts_with("The provided continue parameter is too old"));
        }
        other => panic!("expected 410, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn hpa_v2_object_readable_via_v1() {
    let sim = aibrix().await;
    let ar = ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("autoscaling", "v1", "HorizontalPodAutoscaler"),
        "horizontalpodautoscalers",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(sim.client(), "llm-serving", &ar);
    let o = api.get("qwen-7b-hpa").await.unwrap();
    assert_eq!(o.types.unwrap().api_version, "autoscaling/v1");
    sim.shutdown().await;
}

#[tokio::test]
async fn list_metadata_returns_partial_objects() {
    let sim = aibrix().await;
    let pods: Api<Pod> = Api::all(sim.client());
    let list = pods.list_metadata(&ListParams::default().limit(1)).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert!(list.metadata.continue_.is_some());
    assert_eq!(list.items[0].types.as_ref().unwrap().kind, "PartialObjectMetadata");
    let one = pods
        .list_metadata(&ListParams::default().labels("app=llama-3-8b"))
        .await
        .unwrap();
    assert_eq!(one.items.len(), 2);
    let none = pods
        .list_metadata(&ListParams::default().labels("app notin (llama-3-8b)"))
        .await
        .unwrap();
    assert!(none.items.is_empty());
    let meta = Api::<Pod>::namespaced(sim.client(), "llm-serving")
        .get_metadata("llama-3-8b-7d9f8c6b5-x2k4p")
        .await
        .unwrap();
    assert_eq!(
        meta.metadata.uid.as_deref(),
        Some("11500000-0000-4000-8000-000000000103")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn metadata_watcher_gets_events() {
    let sim = aibrix().await;
    let client = sim.client();
    let api: Api<PartialObjectMeta<ConfigMap>> = Api::namespaced(client.clone(), "default");
    let mut stream = watcher(api, watcher::Config::default()).boxed();
    // initial list
    let mut saw_init_done = false;
    for _ in 0..20 {
        match tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await {
            Ok(Ok(Some(watcher::Event::InitDone))) => {
                saw_init_done = true;
                break;
            }
            Ok(Ok(Some(_))) => continue,
            other => panic!("watcher ended early: {other:?}"),
        }
    }
    assert!(saw_init_done);
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("watched".into());
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let mut seen = false;
    for _ in 0..20 {
        match tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await {
            Ok(Ok(Some(watcher::Event::Apply(o)))) if o.metadata.name.as_deref() == Some("watched") => {
                seen = true;
                break;
            }
            Ok(Ok(Some(_))) => continue,
            other => panic!("watcher ended early: {other:?}"),
        }
    }
    assert!(seen, "ADDED event for the new ConfigMap");
    cms.delete("watched", &DeleteParams::default()).await.unwrap();
    let mut deleted = false;
    for _ in 0..20 {
        match tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await {
            Ok(Ok(Some(watcher::Event::Delete(o)))) if o.metadata.name.as_deref() == Some("watched") => {
                deleted = true;
                break;
            }
            Ok(Ok(Some(_))) => continue,
            other => panic!("watcher ended early: {other:?}"),
        }
    }
    assert!(deleted);
    sim.shutdown().await;
}

#[tokio::test]
async fn status_errors_have_upstream_shape() {
    let sim = aibrix().await;
    let client = sim.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    match cms.get("nope").await.unwrap_err() {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
            assert_eq!(s.message, "configmaps \"nope\" not found");
        }
        e => panic!("{e:?}"),
    }
    let mut cm = cms.get("app-settings").await.unwrap();
    cm.metadata.resource_version = Some("1".into());
    match cms
        .replace("app-settings", &PostParams::default(), &cm)
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.message, "Operation cannot be fulfilled on configmaps \"app-settings\": the object has been modified; please apply your changes to the latest version and try again");
        }
        e => panic!("{e:?}"),
    }
    // creating in a terminating namespace is forbidden
    let in_term: Api<ConfigMap> = Api::namespaced(client.clone(), "aibrix-system");
    let mut new = ConfigMap::default();
    new.metadata.name = Some("x".into());
    match in_term.create(&PostParams::default(), &new).await.unwrap_err() {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
            assert!(s
                .message
                .ends_with("unable to create new content in namespace aibrix-system because it is being terminated"));
        }
        e => panic!("{e:?}"),
    }
    // strategic merge on a custom resource: 415
    let ar = ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("autoscaling.aibrix.ai", "v1alpha1", "PodAutoscaler"),
        "podautoscalers",
    );
    let pas: Api<DynamicObject> = Api::namespaced_with(client.clone(), "llm-serving", &ar);
    let p: Patch<serde_json::Value> = Patch::Strategic(serde_json::json!({"metadata": {"labels": {"a": "b"}}}));
    match pas.patch("qwen-7b", &PatchParams::default(), &p).await.unwrap_err() {
        kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (415, "UnsupportedMediaType")),
        e => panic!("{e:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn garbage_collector_semantics() {
    let sim = aibrix().await;
    let client = sim.client();
    let hpa_ar = ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("autoscaling", "v2", "HorizontalPodAutoscaler"),
        "horizontalpodautoscalers",
    );
    let hpas: Api<DynamicObject> = Api::namespaced_with(client.clone(), "llm-serving", &hpa_ar);
    let pa_ar = ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("autoscaling.aibrix.ai", "v1alpha1", "PodAutoscaler"),
        "podautoscalers",
    );
    let pas: Api<DynamicObject> = Api::namespaced_with(client.clone(), "llm-serving", &pa_ar);
    // healthy: deleting the PodAutoscaler collects its HPA
    pas.delete("qwen-7b", &DeleteParams::default()).await.unwrap();
    let mut gone = false;
    for _ in 0..100 {
        if hpas.get_opt("qwen-7b-hpa").await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "qwen-7b-hpa collected after its owner was deleted");
    // deleting the Deployment cascades to ReplicaSet and Pods
    let deploys: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), "llm-serving");
    deploys.delete("llama-3-8b", &DeleteParams::default()).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "llm-serving");
    let mut empty = false;
    for _ in 0..100 {
        if pods.list(&ListParams::default()).await.unwrap().items.is_empty() {
            empty = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(empty, "pods collected through ReplicaSet");
    // unmappable kinds pin: both PodAutoScaler-owned HPAs survive several GC passes
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(hpas.get_opt("mistral-7b-hpa").await.unwrap().is_some());
    assert!(hpas.get_opt("llama-3-8b-hpa").await.unwrap().is_some());
    sim.shutdown().await;
}
