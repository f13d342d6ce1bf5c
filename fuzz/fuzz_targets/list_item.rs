//! One item of a list page: its metadata parsed without trusting the rest, a malformed item an
//! error message (a scan issue), never a panic.
#![no_main]
use kube_garbage_audit::kubeapi::parse_listed;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(item) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(listed) = parse_listed(item) {
        assert!(!listed.metadata.name.unwrap_or_default().is_empty());
    }
});
