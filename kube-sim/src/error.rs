//! Library-level errors (the HTTP layer uses [`crate::status::ApiError`]).
use thiserror::Error;

/// Errors returned by the kube-sim library API.
#[derive(Debug, Error)]
pub enum Error {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot parse {path}: {message}")]
    Parse { path: String, message: String },
    #[error("unknown scenario {0:?} (known: {1})")]
    UnknownScenario(String, String),
    #[error("invalid object: {0}")]
    InvalidObject(String),
    #[error("invalid group/version {0:?}")]
    InvalidGroupVersion(String),
    #[error("kube client error: {0}")]
    Kube(String),
}
