//! The Helm chart (`charts/netdns-guard`, ARCHITECTURE.md, "The Helm chart", issue 4), checked with
//! real Helm 3 and Helm 4:
//!
//! - `helm lint --strict` passes for every certificate mode and fails on bad values
//!   (values.schema.json);
//! - every document `helm template` renders, in every mode and variation, is a known
//!   kind that parses as its k8s-openapi type with no unknown or misspelt field (the
//!   typed value, serialised again, must equal what Helm rendered), CRD kinds aside;
//! - the safety defaults hold: failurePolicy Ignore, sideEffects None, a short
//!   timeout, reinvocation, pods CREATE only, the own namespace and opted-out
//!   namespaces excluded, hardened pods, two replicas with a PDB and spread, probes on
//!   the plain-HTTP port, a checksum that rolls pods on policy change, and RBAC with
//!   no wildcard and resourceNames wherever Kubernetes allows them;
//! - the optional remediation Job and CronJob (`netdns-guard remediate`, off by
//!   default) have exactly the RBAC the command needs, the right hook annotations, and
//!   arguments the real binary accepts;
//! - the matchConditions CEL (rendered from Kubernetes 1.28 on) is evaluated with a
//!   CEL interpreter against pods and compared with the engine itself: it must let
//!   every pod the engine would change reach the webhook.
//!
//! Helm comes from `scripts/install-helm.sh` (`target/tools/helm{3,4}`) or
//! `NETDNS_HELM3` / `NETDNS_HELM4`; without it the tests skip, unless
//! `NETDNS_GUARD_REQUIRE_TOOLS=1` (CI) makes that a failure.
//!
//! The crate's modules, in reading order:
//!
//! | module               | what it holds                                                  |
//! |----------------------|----------------------------------------------------------------|
//! | `helm`               | each available Helm major, confined to a throwaway home         |
//! | `rendered`           | the documents `helm template` printed, by kind and name         |
//! | `typed`              | every document parses as its k8s-openapi type, nothing lost     |
//! | `safety`             | the defaults that must hold in every mode and variation         |
//! | `rbac`               | least-privilege RBAC, the server's and the remediation jobs'    |
//! | `lint`               | tests: `helm lint --strict` and values.schema.json              |
//! | `certificates`       | tests: the self, cert-manager and provided certificate modes    |
//! | `variations`         | tests: optional objects, helm test pods, checksum, replicas     |
//! | `remediate`          | tests: the remediation Job and CronJob variations               |
//! | `remediate_objects`  | what each remediation variation must render, exactly            |
//! | `match_conditions`   | tests: the matchConditions CEL against the engine               |
//! | `admission_policy`   | tests: `mode: admission-policy` renders what `export` writes    |
//! | `day_two`            | tests: HPA and PDB, PrometheusRule (promtool), dashboard        |
//! | `monitoring_queries` | tests: every PromQL the chart ships names an exported series    |
//! | `docs`               | tests: values.yaml is the one source of the chart's docs        |

#![cfg(unix)]

// tests/support, shared by the test crates: each names the files it uses.
#[path = "../support"]
mod support {
    pub mod cel_request;
    pub mod helm;
    pub mod image_corpus;
    pub mod missing_tool;
    pub mod monitoring;
    pub mod promql;
    pub mod promtool;
    pub mod scratch;
}
// The webhook tests' HTTPS client, for the server monitoring_queries scrapes.
#[allow(dead_code)]
#[path = "../webhook/harness.rs"]
mod harness;

mod admission_policy;
mod certificates;
mod day_two;
mod docs;
mod helm;
mod lint;
mod match_conditions;
mod monitoring_queries;
mod rbac;
mod remediate;
mod remediate_objects;
mod rendered;
mod safety;
mod typed;
mod variations;

use std::path::{Path, PathBuf};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// The release name every `helm template` uses.
const RELEASE: &str = "netdns-guard";
/// The release namespace every `helm template` uses.
const NAMESPACE: &str = "netdns-guard";
/// A well-formed image digest.
const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// The netdns-guard binary the remediation jobs run.
const BIN: &str = env!("CARGO_BIN_EXE_netdns-guard");

fn chart_dir() -> PathBuf {
    Path::new(MANIFEST_DIR).join("charts/netdns-guard")
}

/// `--set`-style arguments as owned strings.
fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}
