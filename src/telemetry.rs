//! Logging setup: text or JSON, filtered by --log-level or RUST_LOG (default `info`).

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Checks a --log-level value. `EnvFilter` accepts any bare word as a target name, so a misspelt
/// level (`debgu`) would silently switch every log off: here a bare word must be a level, and a
/// target filter is written `target=level`.
pub fn parse_filter(value: &str) -> Result<String, String> {
    let levels = LEVELS.join(", ");
    for directive in value.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if directive.contains('[') {
            continue; // span filters: left to EnvFilter below
        }
        let level = directive.rsplit_once('=').map_or(directive, |(_, l)| l);
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            let hint = LEVELS
                .iter()
                .find(|l| close(level, l))
                .map_or_else(String::new, |l| format!("; did you mean {l}?"));
            return Err(format!(
                "{level:?} is not a log level ({levels}, or target=level such as kube_garbage_audit=debug){hint}"
            ));
        }
    }
    EnvFilter::try_new(value).map_err(|e| e.to_string())?;
    Ok(value.to_string())
}

/// Same letters in another order, or one letter off.
fn close(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_string());
    let mut sa: Vec<char> = a.chars().collect();
    let mut sb: Vec<char> = b.chars().collect();
    let differing = a.chars().zip(b.chars()).filter(|(x, y)| x != y).count();
    sa.sort_unstable();
    sb.sort_unstable();
    sa == sb || (a.len() == b.len() && differing <= 1)
}

/// The filter without --log-level or RUST_LOG.
pub const DEFAULT_FILTER: &str = "info,kube_client::client::builder=off";

/// Installs the global subscriber. Logs go to stderr so that `scan` output stays clean on stdout.
pub fn init(format: LogFormat, level: Option<&str>) -> Result<(), String> {
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).map_err(|e| format!("invalid value {l} for --log-level: {e}"))?,
        // kube-client logs every failed request at ERROR ("failed with error client error
        // (Connect)"); the daemon reports each failure once, with the server and the cause.
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER)),
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| format!("installing the log subscriber: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_are_checked() {
        for ok in [
            "info",
            "DEBUG",
            "kube_garbage_audit=debug",
            "warn,kube_garbage_audit=trace",
            "off",
        ] {
            assert_eq!(parse_filter(ok).as_deref(), Ok(ok));
        }
        let err = parse_filter("debgu").unwrap_err();
        assert!(
            err.contains("\"debgu\" is not a log level") && err.contains("did you mean debug?"),
            "{err}"
        );
        assert!(parse_filter("kube_garbage_audit=loud").is_err());
        assert!(
            parse_filter("kube_garbage_audit").is_err(),
            "a bare target would hide every other log"
        );
    }
}
