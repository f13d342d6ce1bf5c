//! Fault injection: per-resource error rate and added latency.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Faults {
    inner: Mutex<FaultTable>,
}

#[derive(Debug, Default, Clone)]
struct FaultTable {
    error_rate: HashMap<String, f64>,
    latency: HashMap<String, Duration>,
}

/// Normalise "pods", "pods.", "horizontalpodautoscalers.autoscaling" to "<plural>.<group>".
pub fn resource_key(resource: &str) -> String {
    match resource.split_once('.') {
        Some((plural, group)) => format!("{plural}.{group}"),
        None => format!("{resource}."),
    }
}

impl Faults {
    pub fn set_error_rate(&self, resource: &str, rate: f64) {
        let mut t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        t.error_rate.insert(resource_key(resource), rate.clamp(0.0, 1.0));
    }

    pub fn set_latency(&self, resource: &str, latency: Duration) {
        let mut t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        t.latency.insert(resource_key(resource), latency);
    }

    pub fn latency(&self, plural: &str, group: &str) -> Duration {
        let t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        t.latency.get(&format!("{plural}.{group}")).copied().unwrap_or_default()
    }

    /// Whether this request should fail (random draw against the configured rate).
    pub fn should_fail(&self, plural: &str, group: &str) -> bool {
        let t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match t.error_rate.get(&format!("{plural}.{group}")) {
            Some(r) if *r >= 1.0 => true,
            Some(r) if *r > 0.0 => fastrand::f64() < *r,
            _ => false,
        }
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
}
