//! One item of a list page, as the lists read it: straight from its text into the kept form, a
//! malformed item an error message (a scan issue), never a panic. The fast reading and the
//! tolerant JSON-tree reading must agree on every item both accept.
#![no_main]
use kube_garbage_audit::listed::{parse_item, parse_value, Keep, Namespaces};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for keep in [Keep::Metadata, Keep::ScaleTarget, Keep::Whole, Keep::WholeWhileDeleting] {
        let fast = parse_item(text, keep, &Namespaces::default());
        if let Ok(object) = &fast {
            assert!(!object.name.is_empty());
        }
        if let Ok(tree) = serde_json::from_str::<serde_json::Value>(text) {
            let tolerant = parse_value(tree, keep, &Namespaces::default());
            if let (Ok(a), Ok(b)) = (&fast, &tolerant) {
                assert_eq!(a, b);
            }
        }
    }
});
