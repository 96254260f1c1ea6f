//! netdns-guard keeps cgo-built Go log agents (Loggie, Filebeat, Promtail, …) off
//! Go's cgo DNS resolver, whose `getaddrinfo` path crashes them with SIGSEGV.
//!
//! The crate is one pure [`engine`] with thin adapters around it:
//! - [`manifest`] reads and writes Kubernetes manifest streams (YAML, JSON, `List`,
//!   KRM `ResourceList`) and finds the pod template in each workload;
//! - [`dryrun`] is the `netdns-guard dry-run` command built on the two;
//! - [`policy`] is the policy file the engine is compiled from.

pub mod dryrun;
pub mod engine;
pub mod manifest;
pub mod policy;

pub use engine::{Engine, Review};
pub use policy::{Policy, Strategy};
