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
pub mod render;
pub mod report_formats;
pub mod scanners;
pub mod scheduler;
pub mod scope;
pub mod store;
pub mod telemetry;
