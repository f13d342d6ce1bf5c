//! Command lines (one argument per line): every value parser refuses what it cannot use with an
//! error naming the flag (clap exit status 2), never a panic.
#![no_main]
use kube_garbage_audit::cli;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let args = std::iter::once("kube-garbage-audit")
        .chain(text.lines())
        .map(std::ffi::OsString::from);
    if let Err(e) = cli::parse_from(args) {
        let _ = e.to_string();
    }
});
