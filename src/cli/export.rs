//! `netdns-guard export`: the policy in another form — today a native
//! MutatingAdmissionPolicy and its binding, so the apiserver applies the fix itself.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use netdns_guard::admission_policy::{self, ApiVersion, ExportOptions};

use super::print_stdout;

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A MutatingAdmissionPolicy and its MutatingAdmissionPolicyBinding (YAML).
    AdmissionPolicy,
}

/// Flags of `netdns-guard export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to write.
    #[arg(long, value_enum)]
    format: Format,

    /// API version of admissionregistration.k8s.io: v1 (Kubernetes 1.36+), v1beta1
    /// (1.34-1.35, feature gate) or v1alpha1 (1.32-1.33, feature gate).
    #[arg(long, default_value = "v1")]
    api_version: ApiVersion,

    /// Policy file (YAML), as for serve and dry-run.
    #[arg(long, value_name = "FILE", env = "NETDNS_GUARD_CONFIG")]
    config: Option<PathBuf>,

    /// The install's namespace: its pods are never changed, as the webhook's own
    /// namespace is excluded from the webhook.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
}

/// Prints the exported objects.
pub fn run(args: Args) -> Result<ExitCode> {
    let engine = netdns_guard::policy_file::load_engine(args.config.as_deref())?;
    let Format::AdmissionPolicy = args.format;
    let options = ExportOptions {
        namespace: args.namespace,
        ..ExportOptions::new(args.api_version)
    };
    let exported = admission_policy::export(&engine, &options)?;
    print_stdout(&admission_policy::to_yaml(&exported))?;
    Ok(ExitCode::SUCCESS)
}
