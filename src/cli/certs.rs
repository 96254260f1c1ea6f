//! `netdns-guard certs`: TLS material for the webhook, as files (`--out-dir`) or
//! kept in Secrets of the cluster (`--in-cluster`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use netdns_guard::certs::{self, ServiceName, in_cluster};

use super::logging::{self, LogFormat};
use super::runtime::{self, Threads};

/// `certs`' flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The webhook's Service name.
    #[arg(long)]
    service: String,
    /// The webhook's namespace.
    #[arg(long)]
    namespace: String,
    /// Directory to write ca.crt, ca.key, tls.crt and tls.key into.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "in_cluster",
        conflicts_with = "in_cluster"
    )]
    out_dir: Option<PathBuf>,
    /// Keep the material in Secrets of --namespace instead (kubeconfig or in-cluster
    /// service account), creating, renewing and rotating as needed.
    #[arg(long)]
    in_cluster: bool,
    /// Secret holding the CA (in-cluster mode).
    #[arg(long, default_value = "netdns-guard-ca")]
    ca_secret: String,
    /// kubernetes.io/tls Secret the webhook mounts (in-cluster mode).
    #[arg(long, default_value = "netdns-guard-tls")]
    tls_secret: String,
    /// MutatingWebhookConfiguration whose caBundle is kept in step (in-cluster mode).
    #[arg(long, value_name = "NAME")]
    webhook_configuration: Option<String>,
    /// Days the serving certificate is valid (the CA: ten years).
    #[arg(long, default_value_t = certs::DEFAULT_SERVING_DAYS)]
    days: u32,
    /// Renew the serving certificate when fewer days than this are left.
    #[arg(long, default_value_t = in_cluster::DEFAULT_RENEW_BEFORE_DAYS)]
    renew_before_days: u32,
}

/// Writes the files, or converges the Secrets with `--in-cluster`.
pub fn run(args: Args) -> Result<ExitCode> {
    let name = ServiceName {
        service: args.service.clone(),
        namespace: args.namespace.clone(),
    };
    let Some(out_dir) = args.out_dir.clone() else {
        return run_in_cluster(args, name);
    };
    let bundle = certs::generate(&name, args.days)?;
    certs::write_bundle(&bundle, &out_dir)?;
    println!(
        "wrote ca.crt, ca.key, tls.crt, tls.key to {} (serving name {})",
        out_dir.display(),
        name.server_name()
    );
    Ok(ExitCode::SUCCESS)
}

/// Creates, renews or rotates the material in the Secrets (and the caBundle).
fn run_in_cluster(args: Args, name: ServiceName) -> Result<ExitCode> {
    let _log = logging::init(LogFormat::Text).context("starting the log writer")?;
    let mut settings = in_cluster::Settings::new(name, args.ca_secret, args.tls_secret);
    settings.webhook_configuration = args.webhook_configuration;
    settings.days = args.days;
    settings.renew_before_days = args.renew_before_days.min(args.days.saturating_sub(1));
    runtime::block_on(Threads::Current, async move {
        let client = kube::Client::try_default().await.context(
            "connecting to the Kubernetes API (kubeconfig or in-cluster service account)",
        )?;
        let report = in_cluster::run(client, &settings, time::OffsetDateTime::now_utc()).await?;
        tracing::info!(?report, "certificates converged");
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn the_flags_defaults_are_the_librarys() {
        let argv = [
            "netdns-guard",
            "certs",
            "--service=s",
            "--namespace=n",
            "--in-cluster",
        ];
        let Command::Certs(args) = Cli::parse_from(argv).command else {
            panic!("not parsed as certs");
        };
        let name = ServiceName {
            service: "s".into(),
            namespace: "n".into(),
        };
        let settings = in_cluster::Settings::new(name, args.ca_secret, args.tls_secret);
        assert_eq!(args.days, settings.days);
        assert_eq!(args.renew_before_days, settings.renew_before_days);
    }
}
