//! apiVersion strings as written in ownerReferences and scale targets: parsed and resolved
//! through the garbage collector's mapping rules, never a panic.
#![no_main]
use kube_garbage_audit::discovery::{parse_api_version, DiscoverySnapshot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (api_version, kind) = text.split_once('\n').unwrap_or((text, "Kind"));
    if let Ok((group, version)) = parse_api_version(api_version) {
        assert!(!version.contains('/') && !group.contains('/'));
    }
    let mut snapshot = DiscoverySnapshot::new(true);
    snapshot.add_group("", vec!["v1".into()]);
    let _ = snapshot.resolve(api_version, kind);
});
