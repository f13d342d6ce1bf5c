//! One read model per round: every list the round's scanners need is fetched at most once and
//! shared. A list is keyed by resource and scope (one namespace, or cluster-wide); a resource is
//! always read with the body the round needs anywhere (full for the few resources some scanner
//! reads in full, metadata-only for everything else), so a metadata-only request and a full one
//! never fetch the same list twice. A per-namespace request is answered from the cluster-wide
//! list of the same resource when that list is already wanted this round.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::discovery::ResourceType;
use crate::kubeapi::{ApiError, ClusterApi};
use crate::listed::{Keep, ListResult, Namespaces};

/// What some scanner reads of a resource's bodies; everything else is listed metadata-only.
/// Namespaces: a Terminating one's conditions; APIServices: their `Available` condition; HPAs:
/// their scale target.
pub fn kept(rt: &ResourceType) -> Keep {
    match rt.qualified_name().as_str() {
        "namespaces" => Keep::WholeWhileDeleting,
        "apiservices.apiregistration.k8s.io" => Keep::Whole,
        "horizontalpodautoscalers.autoscaling" => Keep::ScaleTarget,
        _ => Keep::Metadata,
    }
}

/// A shared list: the objects, or why the list failed (both shared between the scanners).
pub type SharedList = Result<Arc<ListResult>, Arc<ApiError>>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ListKey {
    /// `resource.group/version`.
    resource: String,
    namespace: Option<String>,
}

fn key(rt: &ResourceType, namespace: Option<&str>) -> ListKey {
    ListKey {
        resource: format!("{}/{}", rt.qualified_name(), rt.version),
        namespace: namespace.filter(|_| rt.namespaced).map(str::to_string),
    }
}

/// The lists of one round. Create one per round; drop it with the round.
pub struct RoundLists {
    api: ClusterApi,
    cells: Mutex<HashMap<ListKey, Arc<OnceCell<SharedList>>>>,
    /// Every namespace name of the round, held once.
    namespaces: Namespaces,
}

/// Keeps only the objects of one namespace from a cluster-wide list.
fn in_namespace(list: &ListResult, namespace: &str) -> ListResult {
    ListResult {
        objects: list
            .objects
            .iter()
            .filter(|o| &*o.namespace == namespace)
            .cloned()
            .collect(),
        malformed: list.malformed.clone(),
        vanished: list.vanished,
    }
}

impl RoundLists {
    pub fn new(api: ClusterApi) -> Self {
        Self {
            api,
            cells: Mutex::default(),
            namespaces: Namespaces::default(),
        }
    }

    fn cell(&self, key: &ListKey) -> (Arc<OnceCell<SharedList>>, Option<Arc<OnceCell<SharedList>>>) {
        let mut cells = self.cells.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let cluster_wide = key.namespace.as_ref().and_then(|_| {
            cells
                .get(&ListKey {
                    resource: key.resource.clone(),
                    namespace: None,
                })
                .cloned()
        });
        let own = cells.entry(key.clone()).or_default().clone();
        (own, cluster_wide)
    }

    /// The objects of `rt` (in `namespace`, or cluster-wide), fetched once per round.
    pub async fn list(&self, rt: &ResourceType, namespace: Option<&str>) -> SharedList {
        let key = key(rt, namespace);
        let (own, cluster_wide) = self.cell(&key);
        if let (Some(all), Some(ns)) = (cluster_wide, key.namespace.as_deref()) {
            // The cluster-wide list is wanted anyway: filter it instead of a second request.
            let all = all.get_or_init(|| self.fetch(rt, None)).await.clone();
            return all.map(|list| Arc::new(in_namespace(&list, ns)));
        }
        own.get_or_init(|| self.fetch(rt, key.namespace.as_deref()))
            .await
            .clone()
    }

    async fn fetch(&self, rt: &ResourceType, namespace: Option<&str>) -> SharedList {
        self.api
            .list(rt, namespace, kept(rt), &self.namespaces)
            .await
            .map(Arc::new)
            .map_err(Arc::new)
    }

    /// Several lists with the client's concurrency limit, each fetched at most once per round.
    pub async fn list_many(
        &self,
        types: Vec<ResourceType>,
        namespace: Option<&str>,
    ) -> Vec<(ResourceType, SharedList)> {
        use futures::stream::{self, StreamExt};
        stream::iter(types)
            .map(|rt| async move {
                let list = self.list(&rt, namespace).await;
                (rt, list)
            })
            .buffer_unordered(self.api.concurrency())
            .collect()
            .await
    }
}
