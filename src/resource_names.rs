//! Resolves a resource name written the way kubectl users write it — `deployments`, `deployment`,
//! `deploy`, `Deployment`, `deployments.apps`, `hpa`, `horizontalpodautoscalers.autoscaling` —
//! against what discovery serves, as `kubectl get <name>` does: plural, singular, short name or
//! kind, optionally qualified by `.group`. Ambiguity is an error (except that the core group wins,
//! as in kubectl: `events` is the core `events`); a name that matches nothing gets a "did you mean".
//!
//! Pure: works on discovered resource types, no I/O.

use crate::discovery::ResourceType;

/// Why a name does not resolve to exactly one resource type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{name:?} is not served by this cluster{}", did_you_mean(suggestion))]
    NotFound { name: String, suggestion: Option<String> },
    #[error("{name:?} is ambiguous: it matches {}; write one of them", candidates.join(", "))]
    Ambiguous { name: String, candidates: Vec<String> },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map_or_else(String::new, |s| format!("; did you mean {s:?}?"))
}

fn names_of(r: &ResourceType) -> impl Iterator<Item = String> + '_ {
    [r.plural.clone(), r.singular.clone(), r.kind.to_ascii_lowercase()]
        .into_iter()
        .chain(r.short_names.iter().map(|s| s.to_ascii_lowercase()))
        .filter(|n| !n.is_empty())
}

fn matches(r: &ResourceType, resource: &str, group: Option<&str>) -> bool {
    group.is_none_or(|g| r.group == g) && names_of(r).any(|n| n == resource)
}

/// Resolves `name` among `served` (one entry per group and resource, e.g. discovery's preferred
/// resources).
pub fn resolve<'a>(name: &str, served: &[&'a ResourceType]) -> Result<&'a ResourceType, NameError> {
    let wanted = name.trim().to_ascii_lowercase();
    // `resource.group` first; a name without a dot matches in every group.
    let (resource, group) = match wanted.split_once('.') {
        Some((r, g)) => (r, Some(g)),
        None => (wanted.as_str(), None),
    };
    let mut found: Vec<&'a ResourceType> = served.iter().copied().filter(|r| matches(r, resource, group)).collect();
    found.sort_by_key(|r| r.qualified_name());
    found.dedup_by_key(|r| r.qualified_name());
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(NameError::NotFound {
            name: name.trim().to_string(),
            suggestion: suggest(&wanted, served),
        }),
        many => match many
            .iter()
            .filter(|r| r.group.is_empty())
            .collect::<Vec<_>>()
            .as_slice()
        {
            [core] => Ok(core),
            _ => Err(NameError::Ambiguous {
                name: name.trim().to_string(),
                candidates: many.iter().map(|r| r.qualified_name()).collect(),
            }),
        },
    }
}

/// The closest served name (as `resource.group`) to a name that matched nothing, if it is close.
fn suggest(wanted: &str, served: &[&ResourceType]) -> Option<String> {
    let (resource, group) = match wanted.split_once('.') {
        Some((r, g)) => (r, Some(g)),
        None => (wanted, None),
    };
    let mut best: Option<(usize, String)> = None;
    for r in served {
        // Compare the resource part with each of its names and the group (if given) with its group.
        let group_distance = group.map_or(0, |g| edit_distance(g, &r.group));
        for n in names_of(r) {
            let d = edit_distance(resource, &n) + group_distance;
            if best.as_ref().is_none_or(|(b, _)| d < *b) {
                best = Some((d, r.qualified_name()));
            }
        }
    }
    let limit = (wanted.chars().count() / 4).max(2);
    best.filter(|(d, _)| *d <= limit).map(|(_, s)| s)
}

/// Levenshtein distance (with transpositions counted as one edit).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::tests::rt;

    fn with_names(mut r: ResourceType, singular: &str, short: &[&str]) -> ResourceType {
        r.singular = singular.into();
        r.short_names = short.iter().map(|s| s.to_string()).collect();
        r
    }

    fn served() -> Vec<ResourceType> {
        vec![
            with_names(rt("", "v1", "Pod", "pods", true), "pod", &["po"]),
            with_names(rt("", "v1", "Event", "events", true), "event", &["ev"]),
            with_names(rt("events.k8s.io", "v1", "Event", "events", true), "event", &["ev"]),
            with_names(
                rt("apps", "v1", "Deployment", "deployments", true),
                "deployment",
                &["deploy"],
            ),
            with_names(
                rt(
                    "autoscaling",
                    "v2",
                    "HorizontalPodAutoscaler",
                    "horizontalpodautoscalers",
                    true,
                ),
                "horizontalpodautoscaler",
                &["hpa"],
            ),
            with_names(
                rt(
                    "autoscaling.aibrix.ai",
                    "v1alpha1",
                    "PodAutoscaler",
                    "podautoscalers",
                    true,
                ),
                "podautoscaler",
                &[],
            ),
            with_names(
                rt("autoscaling.other.io", "v1", "PodAutoscaler", "podautoscalers", true),
                "podautoscaler",
                &[],
            ),
        ]
    }

    fn check(name: &str, expect: Result<&str, &str>) {
        let all = served();
        let refs: Vec<&ResourceType> = all.iter().collect();
        let got = resolve(name, &refs)
            .map(|r| r.qualified_name())
            .map_err(|e| e.to_string());
        match expect {
            Ok(q) => assert_eq!(got, Ok(q.to_string()), "{name}"),
            Err(fragment) => {
                let err = got.expect_err(name);
                assert!(err.contains(fragment), "{name}: {err}");
            }
        }
    }

    #[test]
    fn names_as_kubectl_users_write_them() {
        for name in [
            "deployments",
            "deployment",
            "deploy",
            "Deployment",
            "deployments.apps",
            "deploy.apps",
        ] {
            check(name, Ok("deployments.apps"));
        }
        for name in ["hpa", "horizontalpodautoscalers.autoscaling", "HorizontalPodAutoscaler"] {
            check(name, Ok("horizontalpodautoscalers.autoscaling"));
        }
        check("pods", Ok("pods"));
        check("po", Ok("pods"));
        // The core group wins, as in kubectl.
        check("events", Ok("events"));
        check("events.events.k8s.io", Ok("events.events.k8s.io"));
    }

    #[test]
    fn ambiguity_and_typos_are_explained() {
        check(
            "podautoscalers",
            Err("matches podautoscalers.autoscaling.aibrix.ai, podautoscalers.autoscaling.other.io"),
        );
        check(
            "podautoscalers.autoscaling.aibrix.ai",
            Ok("podautoscalers.autoscaling.aibrix.ai"),
        );
        check("deploymnets.apps", Err("did you mean \"deployments.apps\"?"));
        check("deploymnets", Err("did you mean \"deployments.apps\"?"));
        check("hpas", Err("did you mean \"horizontalpodautoscalers.autoscaling\"?"));
        // A group the resource is not in is not silently ignored.
        check("deployments.batch", Err("is not served by this cluster"));
        let far = resolve("widgets", &served().iter().collect::<Vec<_>>()).unwrap_err();
        assert_eq!(
            far,
            NameError::NotFound {
                name: "widgets".into(),
                suggestion: None
            }
        );
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("deploymnets", "deployments"), 1);
        assert_eq!(edit_distance("hpas", "hpa"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
