//! The opt-in remediation queue: findings → suggested actions → a plan gated by policy, rounds,
//! age, rate and blast radius → one guarded write at a time (fresh re-read, preconditions, dry
//! run, Lease) → a record (Event, log line, metric). Off by default: with `--remediation off`
//! nothing here runs and no write request is ever built.
//!
//! - [`action`]: the structured suggested actions (pure);
//! - [`policy`]: what the operator allows (pure);
//! - [`queue`]: state across rounds and planning (pure);
//! - [`candidates`]: what a report asks for and whether it is complete (pure);
//! - [`verify`]: does a freshly read object still match the plan (pure);
//! - [`executor`]: the guarded write sequence, through [`crate::kubewrite`];
//! - [`runner`]: one round of planning and acting, with leadership, metrics and `/remediations`.

pub mod action;
pub mod candidates;
pub mod digest;
pub mod executor;
pub mod flags;
pub mod policy;
pub mod queue;
pub mod runner;
pub mod setup;
pub mod verify;
