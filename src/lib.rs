//! netdns-guard keeps cgo-built Go log agents (Loggie, Filebeat, Promtail, …) off
//! Go's cgo DNS resolver, whose `getaddrinfo` path crashes them with SIGSEGV.
//!
//! The decisions live in the `netdns-guard-engine` crate (re-exported here as
//! [`engine`], with its [`policy`]): pure, with no async runtime, HTTP, Kubernetes
//! client or file system among its dependencies. This crate holds the faces around it:
//! - [`manifest`] reads and writes Kubernetes manifest streams (YAML, JSON, `List`,
//!   KRM `ResourceList`) and finds the pod template in each workload;
//! - [`dryrun`] is the `netdns-guard dry-run` command built on the two;
//! - [`admission`] and [`serve`] are the HTTPS admission webhook (`json_text`
//!   writes the JSON strings of its answer and log line by hand);
//! - [`certs`] makes TLS material for it;
//! - [`admission_policy`] writes the policy as a native `MutatingAdmissionPolicy`
//!   (`netdns-guard export`), for clusters that want no webhook;
//! - [`policy_file`] reads `--config FILE` into an engine, for every face;
//! - [`cluster`] is `netdns-guard scan` and `remediate`: finding running agents
//!   that lack the fix and replacing their pods once the webhook serves;
//! - [`inspect`] is `netdns-guard inspect`: Go build info read from executables
//!   (the `netdns-guard-buildinfo` crate, re-exported as [`buildinfo`]) and whether
//!   each can take the cgo resolver;
//! - [`policy`] is the policy file the engine is compiled from (parsed by the engine;
//!   read from disk by the faces).

pub mod admission;
pub mod admission_policy;
pub mod certs;
pub mod cluster;
pub mod dryrun;
pub mod inspect;
mod json_text;
pub mod manifest;
pub mod policy_file;
pub mod serve;

pub use netdns_guard_buildinfo as buildinfo;
pub use netdns_guard_engine::{self as engine, policy};

pub use engine::{Engine, Review};
pub use policy::{Policy, Strategy};
