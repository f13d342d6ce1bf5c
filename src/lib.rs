//! kube-garbage-audit: finds the garbage Kubernetes fails to collect and exports it as metrics.
#![forbid(unsafe_code)]

pub mod app;
pub mod changes;
pub mod cli;
#[cfg(feature = "demo")]
pub mod demo;
pub mod demo_guide;
pub mod discovery;
pub mod error_text;
pub mod findings;
pub mod http;
pub mod kubeapi;
pub mod kubewrite;
pub mod listed;
pub mod metrics;
pub mod namespace;
pub mod ownerref;
pub mod readmodel;
pub mod remediate;
pub mod remediation;
pub mod render;
pub mod report_formats;
pub mod resource_names;
pub mod scanners;
pub mod scheduler;
pub mod scope;
pub mod store;
pub mod telemetry;
