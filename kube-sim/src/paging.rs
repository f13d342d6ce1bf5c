//! Continue tokens (`limit`/`continue`) in the same shape as the apiserver's etcd3 store:
//! base64(JSON {"v":"meta.k8s.io/v1","rv":N,"start":"<key>\u0000"}).
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Message of the 410 answer for a continue token older than the compaction point.
pub const INCONSISTENT_CONTINUE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContinueToken {
    pub v: String,
    /// -1 means "continue at the latest resourceVersion" (handed out with a 410).
    pub rv: i64,
    pub start: String,
}

impl ContinueToken {
    pub fn new(rv: i64, last_key: &str) -> Self {
        ContinueToken {
            v: "meta.k8s.io/v1".into(),
            rv,
            start: format!("{last_key}\u{0}"),
        }
    }

    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        // upstream: base64.RawURLEncoding (no padding)
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Decode; errors carry the apiserver's BadRequest wording.
    pub fn decode(s: &str) -> Result<ContinueToken, String> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|e| format!("continue key is not valid: {e}"))?;
        let t: ContinueToken = serde_json::from_slice(&bytes).map_err(|e| format!("continue key is not valid: {e}"))?;
        if t.v != "meta.k8s.io/v1" {
            return Err("continue key is not valid: server does not recognize this encoded key".into());
        }
        if t.rv == 0 {
            return Err(
                "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)".into(),
            );
        }
        if t.start.is_empty() {
            return Err("continue key is not valid: encoded start key empty".into());
        }
        Ok(t)
    }

    /// The key after which the next page starts (`<ns>/<name>` or `<name>`).
    pub fn start_key(&self) -> &str {
        self.start.trim_end_matches('\u{0}')
    }
}

/// One page of keys: which indices to return, and the token/remaining count if more follow.
#[derive(Debug, PartialEq)]
pub struct Page {
    pub range: std::ops::Range<usize>,
    pub next_start: Option<String>,
    pub remaining: usize,
}

/// Choose a page from sorted `keys`, starting strictly after `after`.
pub fn page(keys: &[String], after: Option<&str>, limit: Option<usize>) -> Page {
    let start = match after {
        Some(a) => keys.iter().position(|k| k.as_str() > a).unwrap_or(keys.len()),
        None => 0,
    };
    let end = match limit {
        Some(l) if l > 0 => (start + l).min(keys.len()),
        _ => keys.len(),
    };
    let remaining = keys.len() - end;
    Page {
        range: start..end,
        next_start: if remaining > 0 && end > start {
            Some(keys[end - 1].clone())
        } else {
            None
        },
        remaining,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_roundtrip_and_errors() {
        let t = ContinueToken::new(42, "ns/b");
        let d = ContinueToken::decode(&t.encode()).unwrap();
        assert_eq!(d, t);
        assert_eq!(d.start_key(), "ns/b");
        assert!(ContinueToken::decode("not-base64!!").is_err());
        assert!(ContinueToken::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("{}")).is_err());
        assert!(!t.encode().ends_with('='), "RawURLEncoding has no padding");
        // key-string order: `app-2/…` < `app.x/…` < `app/…`
        let keys: Vec<String> = ["app-2/a", "app/a", "app/b"].iter().map(|s| s.to_string()).collect();
        let p1 = page(&keys, None, Some(1));
        let p2 = page(&keys, p1.next_start.as_deref(), Some(1));
        assert_eq!((p2.range.clone(), p2.remaining), (1..2, 1));
    }

    #[test]
    fn pages_walk_all_keys() {
        let keys: Vec<String> = ["a/1", "a/2", "b/1", "b/2", "c/1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p1 = page(&keys, None, Some(2));
        assert_eq!(p1.range, 0..2);
        assert_eq!(p1.remaining, 3);
        let p2 = page(&keys, p1.next_start.as_deref(), Some(2));
        assert_eq!(p2.range, 2..4);
        let p3 = page(&keys, p2.next_start.as_deref(), Some(2));
        assert_eq!(p3.range, 4..5);
        assert_eq!(p3.next_start, None);
        assert_eq!(p3.remaining, 0);
        assert_eq!(page(&keys, None, None).range, 0..5);
    }
}
