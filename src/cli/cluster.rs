//! What `scan` and `remediate` share: the flags that pick the cluster and the
//! namespaces (named like kubectl's), the policy file and the output format, and the
//! connection made from them.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use netdns_guard::Engine;
use netdns_guard::cluster::{Ctx, Scope, progress, scan};

/// Output of the cluster commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns and a summary, for people.
    Table,
    /// One JSON document, for tools.
    Json,
}

/// Options shared by scan and remediate (named like kubectl's).
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// Namespace to look in (default: the kubeconfig context's namespace).
    #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,

    /// Look in every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// kubeconfig context (default: the current one; in a pod, its service account).
    #[arg(long)]
    pub context: Option<String>,

    /// Pods per list request (limit/continue); 0 lists everything in one request.
    #[arg(long, default_value_t = scan::DEFAULT_CHUNK_SIZE)]
    pub chunk_size: u32,

    /// Policy file: give the webhook's, so the verdicts match what it does.
    #[arg(long, value_name = "FILE", env = "NETDNS_GUARD_CONFIG")]
    pub config: Option<PathBuf>,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

impl ClusterArgs {
    /// The engine from `--config`, or the built-in defaults.
    pub fn load_engine(&self) -> Result<Engine> {
        Ok(netdns_guard::policy_file::load_engine(
            self.config.as_deref(),
        )?)
    }

    /// A cluster context that reports progress on stderr, and the scope to work in.
    pub async fn connect(&self) -> Result<(Ctx, Scope)> {
        let (client, scope) = self.client_and_scope().await.context(
            "connecting to the Kubernetes API (kubeconfig or in-cluster service account)",
        )?;
        let ctx = Ctx::new(client).with_progress(Arc::new(progress::Stderr::default()));
        Ok((ctx, scope))
    }

    /// A client from the kubeconfig (or the pod's service account), and the scope the
    /// namespace flags select (the context's namespace when neither is given).
    async fn client_and_scope(&self) -> Result<(kube::Client, Scope)> {
        let config = match &self.context {
            Some(context) => {
                let options = kube::config::KubeConfigOptions {
                    context: Some(context.clone()),
                    ..Default::default()
                };
                kube::Config::from_kubeconfig(&options).await?
            }
            None => kube::Config::infer().await?,
        };
        let scope = match (&self.namespace, self.all_namespaces) {
            (_, true) => Scope::AllNamespaces,
            (Some(ns), false) => Scope::Namespace(ns.clone()),
            (None, false) => Scope::Namespace(config.default_namespace.clone()),
        };
        let client = kube::Client::try_from(config)?;
        Ok((client, scope))
    }
}
