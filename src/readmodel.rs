//! One read model per round: every list the round's scanners need is fetched at most once and
//! shared. A list is keyed by resource and scope (one namespace, or cluster-wide); a resource is
//! always read with the body the round needs anywhere (full for the few resources some scanner
//! reads in full, metadata-only for everything else), so a metadata-only request and a full one
//! never fetch the same list twice. A per-namespace request is answered from the cluster-wide
//! list of the same resource when that list is already wanted this round.
//!
//! The content of stuck namespaces is listed by cost ([`RoundLists::list_in_namespaces`]): from a
//! cluster-wide list the round wants anyway when there is one, else cluster-wide or namespace by
//! namespace, whichever takes fewer requests. So that "wanted anyway" is known, scanners that list
//! cluster-wide *declare* their lists ([`RoundLists::reserve`], then [`Declaration::done`]) and
//! content listing waits for those declarations.

use std::collections::{HashMap, HashSet};
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
    /// Scanners that have not yet declared their cluster-wide lists.
    undeclared: tokio::sync::watch::Sender<usize>,
}

/// A scanner's promise to declare its cluster-wide lists; declares on drop (an early return or a
/// panic never leaves content listing waiting).
pub struct Declaration<'a> {
    lists: &'a RoundLists,
    done: bool,
}

impl Declaration<'_> {
    /// Every cluster-wide list this scanner will want this round is reserved.
    pub fn done(mut self) {
        self.declare();
    }

    fn declare(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.lists.undeclared.send_modify(|n| *n = n.saturating_sub(1));
        }
    }
}

impl Drop for Declaration<'_> {
    fn drop(&mut self) {
        self.declare();
    }
}

/// Whether to finish a stuck namespace's content type cluster-wide rather than list it in each of
/// `stuck` namespaces, once the first cluster-wide page says how many pages are left (`None`:
/// the server did not say). Finishing costs the pages left, switching one request per namespace;
/// a tie goes cluster-wide (as many requests, and they are not spread over namespaces). Pure.
pub fn finish_cluster_wide(pages_left: Option<u64>, stuck: usize) -> bool {
    pages_left.is_some_and(|pages| pages <= stuck as u64)
}

/// Keeps only the objects of one namespace from a cluster-wide list (and the unreadable items
/// that are in it, or do not say where they are).
fn in_namespace(list: &ListResult, namespace: &str) -> ListResult {
    ListResult {
        objects: list
            .objects
            .iter()
            .filter(|o| &*o.namespace == namespace)
            .cloned()
            .collect(),
        malformed: list
            .malformed
            .iter()
            .filter(|m| m.may_be_in(|ns| ns == namespace))
            .cloned()
            .collect(),
        vanished: list.vanished,
    }
}

impl RoundLists {
    pub fn new(api: ClusterApi) -> Self {
        Self {
            api,
            cells: Mutex::default(),
            namespaces: Namespaces::default(),
            undeclared: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Expects `scanners` declarations before content is listed ([`Self::declaration`]).
    pub fn with_declarations(self, scanners: usize) -> Self {
        self.undeclared.send_replace(scanners);
        self
    }

    /// For a scanner that lists cluster-wide: declare with [`Declaration::done`] once every such
    /// list it will want is [reserved](Self::reserve).
    pub fn declaration(&self) -> Declaration<'_> {
        Declaration {
            lists: self,
            done: false,
        }
    }

    /// Marks these cluster-wide lists as wanted this round (fetched when first read).
    pub fn reserve(&self, types: &[ResourceType]) {
        for rt in types {
            let _ = self.cell(&key(rt, None));
        }
    }

    fn wanted_cluster_wide(&self, rt: &ResourceType) -> bool {
        let cells = self.cells.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cells.contains_key(&key(rt, None))
    }

    /// The objects of `rt` in the `stuck` namespaces, as `(namespace, list)` (`None`: a
    /// cluster-wide list, to be split by namespace): from the cluster-wide list when the round
    /// wants it anyway; else the first cluster-wide page, then whichever costs fewer requests
    /// ([`finish_cluster_wide`]); namespace by namespace when the cluster-wide list is refused.
    /// Waits for the cluster-wide lists other scanners declare.
    pub async fn list_in_namespaces(&self, rt: &ResourceType, stuck: &[String]) -> Vec<(Option<String>, SharedList)> {
        let mut undeclared = self.undeclared.subscribe();
        let _ = undeclared.wait_for(|n| *n == 0).await;
        if stuck.len() > 1 && !self.wanted_cluster_wide(rt) {
            let keep = kept(rt);
            match self.api.list_first_page(rt, None, keep, &self.namespaces).await {
                // Refused cluster-wide (an identity granted per namespace): ask each namespace.
                Err(e) if e.is_auth() => {}
                Err(e) => return vec![(None, Err(Arc::new(e)))],
                Ok(first) if finish_cluster_wide(first.pages_left(self.api.page_size()), stuck.len()) => {
                    // Every scanner has declared, and none wants this list whole: keep only the
                    // stuck namespaces' objects, page by page, and share the result with no one.
                    let within: HashSet<&str> = stuck.iter().map(String::as_str).collect();
                    let list = self
                        .api
                        .list_rest(rt, None, keep, &self.namespaces, first, Some(&within))
                        .await
                        .map(Arc::new)
                        .map_err(Arc::new);
                    return vec![(None, list)];
                }
                Ok(_) => {}
            }
        } else if stuck.len() > 1 {
            return vec![(None, self.list(rt, None).await)];
        }
        let per_namespace = stuck
            .iter()
            .map(|ns| async move { (Some(ns.clone()), self.list(rt, Some(ns)).await) });
        futures::future::join_all(per_namespace).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeapi::PartialList;

    #[test]
    fn content_is_listed_the_cheaper_way() {
        // 2 stuck namespaces: one page left cluster-wide beats two per-namespace requests...
        assert!(finish_cluster_wide(Some(1), 2));
        // ...a tie goes cluster-wide, more pages go namespace by namespace...
        assert!(finish_cluster_wide(Some(2), 2));
        assert!(!finish_cluster_wide(Some(199), 100));
        // ...and an unknown remainder is not risked.
        assert!(!finish_cluster_wide(None, 100));
    }

    #[test]
    fn pages_left_come_from_the_servers_remaining_count() {
        let page = |next: Option<&str>, remaining: Option<u64>| PartialList {
            next: next.map(str::to_string),
            remaining,
            ..PartialList::default()
        };
        assert_eq!(page(None, None).pages_left(500), Some(0));
        assert_eq!(page(Some("t"), Some(1)).pages_left(500), Some(1));
        assert_eq!(page(Some("t"), Some(500)).pages_left(500), Some(1));
        assert_eq!(page(Some("t"), Some(501)).pages_left(500), Some(2));
        // A continue token with a remaining count of 0 still means one more request.
        assert_eq!(page(Some("t"), Some(0)).pages_left(500), Some(1));
        assert_eq!(page(Some("t"), None).pages_left(500), None);
    }

    #[test]
    fn a_namespace_split_reports_only_its_own_unreadable_items() {
        let item = |key: Option<(&str, &str)>| crate::listed::MalformedItem {
            message: format!("{key:?}"),
            key: key.map(|(ns, name)| (ns.to_string(), name.to_string())),
        };
        let list = ListResult {
            malformed: vec![item(Some(("a", "x"))), item(Some(("b", "y"))), item(None)],
            ..ListResult::default()
        };
        // Its own, and the one that does not say where it is.
        assert_eq!(
            in_namespace(&list, "a").malformed,
            vec![item(Some(("a", "x"))), item(None)]
        );
    }
}
