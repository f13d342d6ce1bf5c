//! kube-garbage-audit: finds the garbage Kubernetes fails to collect and exports it as metrics.
#![forbid(unsafe_code)]

pub mod discovery;
pub mod findings;
pub mod namespace;
pub mod ownerref;
