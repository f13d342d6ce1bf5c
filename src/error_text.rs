//! One short, true sentence for an error that happened while talking to the API server: what
//! failed (refused, DNS, TLS, timeout, 401/403, an HTTP status) with its cause said once, instead
//! of the client library's nested wrappers (`ServiceError: client error (Connect): ...`).
//!
//! Pure: it only reads an error's `source()` chain.

use std::error::Error as StdError;
use std::io::ErrorKind as IoKind;

/// What went wrong, classified the way an operator fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// Nothing listens at the address (or a firewall rejects the connection).
    Refused,
    /// The server's host name does not resolve.
    Dns(String),
    /// The TLS handshake failed (wrong CA, wrong host name, not a TLS server, ...).
    Tls(String),
    /// No answer in time.
    Timeout,
    /// The connection broke or could not be made for another network reason.
    Network(String),
    /// The server answered with an HTTP error status.
    Http { code: u16, message: String },
    /// Anything else (a malformed answer, a bad request built by us, ...).
    Other(String),
}

impl Cause {
    /// True when the request reached the API server and it answered.
    pub fn server_answered(&self) -> bool {
        matches!(self, Cause::Http { .. } | Cause::Other(_))
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Refused => f.write_str("connection refused"),
            Cause::Dns(detail) => write!(f, "cannot resolve the host name ({detail})"),
            Cause::Tls(detail) => write!(f, "TLS handshake failed: {detail}"),
            Cause::Timeout => f.write_str("timed out"),
            Cause::Network(detail) => write!(f, "network error: {detail}"),
            Cause::Http { code: 401, message } => {
                write!(f, "401 Unauthorized: the server rejected the credentials")?;
                if !message.is_empty() && message != "Unauthorized" {
                    write!(f, " ({message})")?;
                }
                Ok(())
            }
            Cause::Http { code: 403, message } => write!(f, "403 Forbidden: {message}"),
            Cause::Http { code, message } => write!(f, "HTTP {code}: {message}"),
            Cause::Other(detail) => f.write_str(detail),
        }
    }
}

/// Every message of the chain, outermost first.
fn chain<'a>(err: &'a (dyn StdError + 'static)) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |e: &&'a (dyn StdError + 'static)| (*e).source())
}

fn contains_any(text: &str, needles: &[&str]) -> bool {
    let lower = text.to_ascii_lowercase();
    needles.iter().any(|n| lower.contains(n))
}

/// The innermost message of the chain: usually the one that says what really happened.
pub fn root_message(err: &(dyn StdError + 'static)) -> String {
    chain(err).last().map(|e| e.to_string()).unwrap_or_default()
}

/// Removes a trailing ` (os error N)`: the words before it already say it.
fn without_os_code(text: &str) -> String {
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text.to_string(),
    }
}

/// Classifies a client error.
pub fn classify(err: &kube::Error) -> Cause {
    if let kube::Error::Api(status) = err {
        let message = if status.message.trim().is_empty() {
            status.reason.clone()
        } else {
            status.message.trim().to_string()
        };
        return Cause::Http {
            code: status.code,
            message,
        };
    }
    classify_chain(err)
}

/// Classifies any error by its source chain (network and TLS failures sit deep inside it).
pub fn classify_chain(err: &(dyn StdError + 'static)) -> Cause {
    let messages: Vec<String> = chain(err).map(|e| e.to_string()).collect();
    let all = messages.join(": ");
    let root = without_os_code(messages.last().map(String::as_str).unwrap_or_default());
    for e in chain(err) {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                IoKind::ConnectionRefused => return Cause::Refused,
                IoKind::TimedOut => return Cause::Timeout,
                _ => {}
            }
        }
    }
    if contains_any(
        &all,
        &["dns error", "failed to lookup address", "name or service not known"],
    ) {
        return Cause::Dns(root);
    }
    if contains_any(
        &all,
        &[
            "certificate",
            "tls",
            "handshake",
            "invalidcontenttype",
            "corrupt message",
        ],
    ) {
        return Cause::Tls(root);
    }
    if contains_any(&all, &["timed out", "deadline has elapsed"]) {
        return Cause::Timeout;
    }
    if contains_any(
        &all,
        &["connection reset", "broken pipe", "connection closed", "unexpected eof"],
    ) || contains_any(&all, &["client error (connect)", "tcp connect error"])
    {
        return Cause::Network(root);
    }
    Cause::Other(dedup_chain(&messages))
}

/// Joins a chain's messages, leaving out each one that only repeats what is already said.
pub fn dedup_chain(messages: &[String]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for m in messages {
        let m = m.trim();
        if m.is_empty() || out.iter().any(|o| o.contains(m)) {
            continue;
        }
        out.push(m);
    }
    out.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(&'static str, Box<dyn StdError + Send + Sync>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl StdError for Wrap {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(self.1.as_ref())
        }
    }

    fn service(inner: impl StdError + Send + Sync + 'static) -> kube::Error {
        kube::Error::Service(Box::new(Wrap("client error (Connect)", Box::new(inner))))
    }

    fn check(err: kube::Error, expect: Cause, text: &str) {
        let cause = classify(&err);
        assert_eq!(cause, expect, "{err:?}");
        assert_eq!(cause.to_string(), text);
    }

    #[test]
    fn network_failures_say_what_happened_once() {
        check(
            service(std::io::Error::new(
                IoKind::ConnectionRefused,
                "Connection refused (os error 111)",
            )),
            Cause::Refused,
            "connection refused",
        );
        check(
            service(Wrap(
                "dns error",
                Box::new(std::io::Error::other(
                    "failed to lookup address information: Name or service not known",
                )),
            )),
            Cause::Dns("failed to lookup address information: Name or service not known".into()),
            "cannot resolve the host name (failed to lookup address information: Name or service not known)",
        );
        check(
            service(std::io::Error::new(
                IoKind::InvalidData,
                "received corrupt message of type InvalidContentType",
            )),
            Cause::Tls("received corrupt message of type InvalidContentType".into()),
            "TLS handshake failed: received corrupt message of type InvalidContentType",
        );
        check(
            service(std::io::Error::new(IoKind::TimedOut, "operation timed out")),
            Cause::Timeout,
            "timed out",
        );
        assert!(!Cause::Refused.server_answered());
    }

    #[test]
    fn http_errors_name_the_status_and_the_servers_message() {
        let status = |code: u16, reason: &str, message: &str| {
            kube::Error::Api(kube::core::Status::failure(message, reason).with_code(code).boxed())
        };
        check(
            status(401, "Unauthorized", "Unauthorized"),
            Cause::Http {
                code: 401,
                message: "Unauthorized".into(),
            },
            "401 Unauthorized: the server rejected the credentials",
        );
        let forbidden = classify(&status(
            403,
            "Forbidden",
            "namespaces is forbidden: User \"x\" cannot list resource \"namespaces\"",
        ));
        assert_eq!(
            forbidden.to_string(),
            "403 Forbidden: namespaces is forbidden: User \"x\" cannot list resource \"namespaces\""
        );
        assert!(forbidden.server_answered());
        // A body that is not a Status (kube-client's "Failed to parse error data") shows the body.
        check(
            status(503, "Failed to parse error data", "service unavailable\n"),
            Cause::Http {
                code: 503,
                message: "service unavailable".into(),
            },
            "HTTP 503: service unavailable",
        );
    }

    #[test]
    fn repeated_wrappers_are_said_once() {
        let messages = ["a: b", "b", "c"].map(String::from);
        assert_eq!(dedup_chain(&messages), "a: b: c");
        assert_eq!(
            without_os_code("No such file or directory (os error 2)"),
            "No such file or directory"
        );
    }
}
