//! The policy as a native `MutatingAdmissionPolicy` and its binding: the apiserver
//! applies the engine's fix itself, with no webhook on the pod path
//! (ARCHITECTURE.md, "Webhook or admission policy").
//!
//! [`export`] compiles a [`Policy`](crate::policy::Policy) and the engine's catalog into CEL: targeting in
//! the engine's order (the opt-out annotation in a match condition; opt-in, skipped
//! namespaces, label selectors and the catalog's at-risk images in variables), the
//! GODEBUG merge with Go's parsing rules, the `resolver-config` edits, and the status
//! annotation. The logic sits in `variables`; the one mutation turns the last
//! variable's records into `JSONPatch` values (for `resolver-config` it also
//! filters the env lists and dnsConfig options it writes, from the object).
//! JSONPatch rather than ApplyConfiguration, because an apply configuration cannot
//! edit the last of two GODEBUG entries (the pod is rejected) and replaces atomic
//! fields.
//!
//! What a native policy cannot do is written in the output's header
//! ([`LIMITATIONS`]), never dropped silently. Every strategy is exported: `env`
//! here and in `variables.rs`, `resolver-config` (and `both`) in `resolver.rs`.
//!
//! Proof (`tests/admission_policy*.rs`): the exported match condition, every
//! variable and the mutation, `JSONPatch{…}` values included, are evaluated with the
//! `cel` crate (plus Kubernetes' `indexOf`/`lastIndexOf`/`find` and the `JSONPatch`
//! type, declared by the test), the operations applied, and the pods compared with
//! the engine's, and the result must be a fixed point. Not evaluated there:
//! `matchConstraints` (checked for shape) and the apiserver's type checker, whose
//! rules `cel.rs` follows. The cost of every expression is estimated over the parsed
//! CEL for pods of growing size (linear in env entries, at most quadratic in
//! containers: `indexOf` on the names) and stays within the apiserver's budgets for
//! pods about the size of its 3 MiB request limit.

pub mod cel;
mod render;
mod resolver;
pub mod variables;

use std::fmt;

use netdns_guard_engine::Engine;

pub use render::to_yaml;

/// The API version of `admissionregistration.k8s.io` the objects are written for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ApiVersion {
    /// GA, Kubernetes 1.36 and later, on by default.
    #[default]
    V1,
    /// Kubernetes 1.34–1.35, behind the `MutatingAdmissionPolicy` feature gate.
    V1beta1,
    /// Kubernetes 1.32–1.33, behind the `MutatingAdmissionPolicy` feature gate.
    V1alpha1,
}

impl ApiVersion {
    /// The version as written after the group (`v1`, `v1beta1`, `v1alpha1`).
    pub fn version(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1",
            ApiVersion::V1beta1 => "v1beta1",
            ApiVersion::V1alpha1 => "v1alpha1",
        }
    }

    /// The objects' `apiVersion`.
    pub fn api_version(self) -> String {
        format!("admissionregistration.k8s.io/{}", self.version())
    }

    /// The Kubernetes versions that serve it, and what they need switched on.
    pub fn requirement(self) -> &'static str {
        match self {
            ApiVersion::V1 => "Kubernetes 1.36 or later (on by default)",
            ApiVersion::V1beta1 => {
                "Kubernetes 1.34-1.35 with feature gate MutatingAdmissionPolicy=true and --runtime-config=admissionregistration.k8s.io/v1beta1=true on the apiserver"
            }
            ApiVersion::V1alpha1 => {
                "Kubernetes 1.32-1.33 with feature gate MutatingAdmissionPolicy=true and --runtime-config=admissionregistration.k8s.io/v1alpha1=true on the apiserver"
            }
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.version())
    }
}

impl std::str::FromStr for ApiVersion {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "v1" => Ok(ApiVersion::V1),
            "v1beta1" => Ok(ApiVersion::V1beta1),
            "v1alpha1" => Ok(ApiVersion::V1alpha1),
            other => Err(format!(
                "unknown API version {other:?}: v1, v1beta1 or v1alpha1"
            )),
        }
    }
}

/// How to write the objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// The API version of the policy and the binding.
    pub api_version: ApiVersion,
    /// The install's own namespace, never changed (as the webhook's own namespace is
    /// excluded from it); `None` excludes none.
    pub namespace: Option<String>,
    /// Name of the policy and of the binding.
    pub name: String,
}

impl ExportOptions {
    /// Options for `api_version`, named `netdns-guard`, excluding no namespace.
    pub fn new(api_version: ApiVersion) -> Self {
        ExportOptions {
            api_version,
            namespace: None,
            name: "netdns-guard".into(),
        }
    }
}

/// A policy that cannot be written as a `MutatingAdmissionPolicy`.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A name that Kubernetes would reject.
    #[error("{what} {value:?} is not a valid Kubernetes name")]
    BadName { what: &'static str, value: String },
}

/// What the native policy does not do that the webhook does: written in the
/// output's header so that whoever applies it knows.
pub const LIMITATIONS: &[&str] = &[
    "no warnings to whoever creates the pod: a kept netdns=cgo, a GODEBUG from valueFrom, a duplicated GODEBUG, envFrom, agent caveats (Loggie's static glibc), the cgo triggers found, and what resolver-config cannot fix (hostNetwork or dnsPolicy Default, .local names, named ports, an nsswitch.conf of the owner's) are not reported (netdns-guard dry-run and scan still report them)",
    "no metrics and no log line per admission (the apiserver's own admission metrics only)",
    "the policy file and the image catalog are frozen at export: after changing the policy or upgrading netdns-guard, export and apply again (the webhook reloads its file)",
    "an evaluation error, or a pod whose evaluation exceeds the apiserver's CEL cost budget (estimated beyond about a hundred containers with long GODEBUG values), is admitted unchanged (failurePolicy: Ignore), as when the webhook is down",
    "a pod whose containers share a name (which Kubernetes rejects after admission) may be patched differently",
    "pods that exist already are not changed: netdns-guard remediate --force restarts them (its check for a serving webhook does not apply here)",
];

/// The exported objects: a `MutatingAdmissionPolicy` and its binding.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionPolicy {
    /// The API version both are written for.
    pub api_version: ApiVersion,
    /// The `MutatingAdmissionPolicy`.
    pub policy: serde_json::Value,
    /// The `MutatingAdmissionPolicyBinding`.
    pub binding: serde_json::Value,
}

/// Writes the engine's policy as a `MutatingAdmissionPolicy` and its binding.
pub fn export(engine: &Engine, options: &ExportOptions) -> Result<AdmissionPolicy, ExportError> {
    let policy = engine.policy();
    check_name("name", &options.name)?;
    if let Some(ns) = &options.namespace {
        check_name("namespace", ns)?;
    }
    let catalog: Vec<_> = engine.catalog().entries().collect();
    let variables = variables::variables(policy, &catalog);
    Ok(render::objects(options, policy, &variables))
}

/// A DNS-1123 label, as Kubernetes requires of names and namespaces.
fn check_name(what: &'static str, value: &str) -> Result<(), ExportError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ExportError::BadName {
            what,
            value: value.to_owned(),
        })
    }
}
