//! The namespace controller's condition messages (any wording): parsed into items and failing
//! group/versions, never a panic, every item taken from the message.
#![no_main]
use kube_garbage_audit::namespace::{parse_condition_items, parse_failing_group_versions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = std::str::from_utf8(data) else { return };
    for item in parse_condition_items(message) {
        assert!(message.contains(item.subject.as_str()));
    }
    for gv in parse_failing_group_versions(message) {
        assert!(message.contains(gv.as_str()));
    }
});
