//! Aggregated discovery documents as a server (or anything pretending to be one) sends them:
//! decoded and turned into a snapshot, never a panic.
#![no_main]
use kube::core::discovery::v2::APIGroupDiscoveryList;
use kube_garbage_audit::discovery::DiscoverySnapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (core, groups) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{\"items\": []}"[..]),
    };
    let (Ok(core), Ok(groups)) = (
        serde_json::from_slice::<APIGroupDiscoveryList>(core),
        serde_json::from_slice::<APIGroupDiscoveryList>(groups),
    ) else {
        return;
    };
    if let Some(snapshot) = DiscoverySnapshot::from_aggregated(&core, &groups) {
        for r in snapshot.preferred_resources() {
            let _ = snapshot.resolve(&r.api_version(), &r.kind);
        }
    }
});
