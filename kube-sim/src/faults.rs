//! Fault injection: per-resource error rate and added latency, and scripted faults (throttling,
//! a Status code, no metadata-only rendering, expired continue tokens, broken bodies) answered to
//! the next N requests for a resource, or until cleared.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Faults {
    inner: Mutex<FaultTable>,
}

/// A scripted fault for the requests of one resource (see [`Faults::inject`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer `code` (429 as API Priority and Fairness does, or 503) with a `Retry-After:
    /// retry_after_secs` header. 429 has APF's plain-text body `Too many requests, please try
    /// again later.`; other codes a Status with `details.retryAfterSeconds`.
    Throttle { code: u16, retry_after_secs: u64 },
    /// Answer this HTTP status with upstream's Status: 403 `<resource> is forbidden: User
    /// "system:serviceaccount:kube-garbage-audit:kube-garbage-audit" cannot list resource …`,
    /// 404 `the server could not find the requested resource` (a CRD deleted after discovery),
    /// anything else a generic Status with that code.
    Status(u16),
    /// The resource cannot be rendered as `PartialObjectMetadata[List]` (like an aggregated API
    /// not built on k8s.io/apiserver): those Accept entries are skipped, so an Accept without a
    /// fallback answers 406 and one with `application/json` gets full objects.
    NoMetadataRendering,
    /// A request carrying a `continue` token answers 410 Expired with the inconsistent continue
    /// token in the Status's `metadata.continue` (as the apiserver does once the token's
    /// revision is compacted). Only requests with a token are counted.
    ExpireContinue,
    /// The response declares its full `Content-Length` but only half the body is sent, then
    /// the connection is closed (what a connection reset mid-body looks like to the client).
    CloseMidBody,
    /// A complete HTTP response whose JSON body is cut in half (Content-Length matches the
    /// cut body), like a broken proxy.
    TruncatedBody,
}

#[derive(Debug, Clone)]
struct Rule {
    fault: Fault,
    /// Requests left to fault; `None` until cleared.
    remaining: Option<u32>,
}

#[derive(Debug, Default, Clone)]
struct FaultTable {
    error_rate: HashMap<String, f64>,
    latency: HashMap<String, Duration>,
    rules: HashMap<String, Vec<Rule>>,
    /// Per resource, how many requests were answered with a scripted fault.
    injected: HashMap<String, u32>,
}

/// Normalise "pods", "pods.", "horizontalpodautoscalers.autoscaling" to "<plural>.<group>".
pub fn resource_key(resource: &str) -> String {
    match resource.split_once('.') {
        Some((plural, group)) => format!("{plural}.{group}"),
        None => format!("{resource}."),
    }
}

impl Faults {
    fn table(&self) -> std::sync::MutexGuard<'_, FaultTable> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_error_rate(&self, resource: &str, rate: f64) {
        self.table()
            .error_rate
            .insert(resource_key(resource), rate.clamp(0.0, 1.0));
    }

    pub fn set_latency(&self, resource: &str, latency: Duration) {
        self.table().latency.insert(resource_key(resource), latency);
    }

    pub fn latency(&self, plural: &str, group: &str) -> Duration {
        self.table()
            .latency
            .get(&format!("{plural}.{group}"))
            .copied()
            .unwrap_or_default()
    }

    /// Whether this request should fail (random draw against the configured rate).
    pub fn should_fail(&self, plural: &str, group: &str) -> bool {
        match self.table().error_rate.get(&format!("{plural}.{group}")) {
            Some(r) if *r >= 1.0 => true,
            Some(r) if *r > 0.0 => fastrand::f64() < *r,
            _ => false,
        }
    }

    /// Answers the next `times` requests for `resource` (every one when `None`) with `fault`.
    /// Faults of one resource are tried in the order they were injected.
    pub fn inject(&self, resource: &str, fault: Fault, times: Option<u32>) {
        self.table()
            .rules
            .entry(resource_key(resource))
            .or_default()
            .push(Rule {
                fault,
                remaining: times,
            });
    }

    /// Removes every scripted fault of `resource` (error rate and latency stay).
    pub fn clear(&self, resource: &str) {
        self.table().rules.remove(&resource_key(resource));
    }

    /// How many requests for `resource` were answered with a scripted fault so far.
    pub fn injected(&self, resource: &str) -> u32 {
        self.table()
            .injected
            .get(&resource_key(resource))
            .copied()
            .unwrap_or_default()
    }

    /// The scripted fault for this request, if any (counted). `has_continue`: the request
    /// carries a continue token; `metadata_accept`: its Accept asks for PartialObjectMetadata.
    pub fn take(&self, plural: &str, group: &str, has_continue: bool, metadata_accept: bool) -> Option<Fault> {
        let key = format!("{plural}.{group}");
        let mut t = self.table();
        let rules = t.rules.get_mut(&key)?;
        let i = rules.iter().position(|r| match r.fault {
            Fault::ExpireContinue => has_continue,
            Fault::NoMetadataRendering => metadata_accept,
            _ => true,
        })?;
        let fault = rules[i].fault.clone();
        if let Some(n) = &mut rules[i].remaining {
            *n = n.saturating_sub(1);
            if *n == 0 {
                rules.remove(i);
            }
        }
        *t.injected.entry(key).or_default() += 1;
        Some(fault)
    }
}

/// Parse CLI values `RESOURCE=RATE` / `RESOURCE=DURATION(ms|s)`.
pub fn parse_assignment(s: &str) -> Option<(String, String)> {
    let (k, v) = s.split_once('=')?;
    Some((k.trim().to_string(), v.trim().to_string()))
}

pub fn parse_duration(s: &str) -> Option<Duration> {
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    if let Some(sec) = s.strip_suffix('s') {
        return sec.parse::<f64>().ok().map(Duration::from_secs_f64);
    }
    s.parse().ok().map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_keys() {
        let f = Faults::default();
        f.set_error_rate("pods", 1.0);
        f.set_error_rate("horizontalpodautoscalers.autoscaling", 0.0);
        assert!(f.should_fail("pods", ""));
        assert!(!f.should_fail("horizontalpodautoscalers", "autoscaling"));
        f.set_latency("pods", Duration::from_millis(5));
        assert_eq!(f.latency("pods", ""), Duration::from_millis(5));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
    }

    #[test]
    fn scripted_faults_are_counted_and_scoped() {
        let f = Faults::default();
        let throttle = Fault::Throttle {
            code: 429,
            retry_after_secs: 1,
        };
        f.inject("configmaps", throttle.clone(), Some(2));
        assert_eq!(f.take("configmaps", "", false, false), Some(throttle.clone()));
        assert_eq!(
            f.take("pods", "", false, false),
            None,
            "other resources are not touched"
        );
        assert_eq!(f.take("configmaps", "", false, false), Some(throttle));
        assert_eq!(
            f.take("configmaps", "", false, false),
            None,
            "two requests, then healthy"
        );
        assert_eq!(f.injected("configmaps"), 2);
        // Continue expiry only counts requests that carry a token.
        f.inject("configmaps", Fault::ExpireContinue, Some(1));
        assert_eq!(f.take("configmaps", "", false, false), None);
        assert_eq!(f.take("configmaps", "", true, false), Some(Fault::ExpireContinue));
        assert_eq!(f.take("configmaps", "", true, false), None);
        // Until cleared.
        f.inject("widgets.example.com", Fault::Status(404), None);
        for _ in 0..5 {
            assert_eq!(f.take("widgets", "example.com", false, false), Some(Fault::Status(404)));
        }
        f.clear("widgets.example.com");
        assert_eq!(f.take("widgets", "example.com", false, false), None);
    }
}
