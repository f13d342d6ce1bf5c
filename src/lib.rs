//! kube-garbage-audit: finds the garbage Kubernetes fails to collect and exports it as metrics.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod discovery;
pub mod findings;
pub mod http;
pub mod kubeapi;
pub mod metrics;
pub mod namespace;
pub mod ownerref;
pub mod remediation;
pub mod render;
pub mod scanners;
pub mod scheduler;
pub mod store;
pub mod telemetry;
