//! `netdns-guard scan`: report the running pods the policy targets.

use std::process::ExitCode;

use anyhow::Result;

use netdns_guard::cluster::scan::{self, ScanOptions};
use netdns_guard::cluster::{Scope, inspect_images};

use super::cluster::{ClusterArgs, Output};
use super::print_stdout;
use super::registry::InspectImagesArgs;
use super::runtime::{self, Threads};

/// `scan`'s flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    cluster: ClusterArgs,

    /// Read the previous log of restarted agents and match the getaddrinfo crash.
    #[arg(long)]
    logs: bool,

    /// Also list pods the policy does not target that run a known agent.
    #[arg(long)]
    show_others: bool,

    /// Exit 1 when any running pod lacks the fix (like `diff` and `kubectl diff`).
    #[arg(long)]
    exit_code: bool,

    #[command(flatten)]
    images: InspectImagesArgs,
}

impl Args {
    /// The library's options from the flags, for `scope`.
    fn options(&self, scope: Scope) -> ScanOptions {
        ScanOptions {
            scope,
            chunk_size: Some(self.cluster.chunk_size),
            logs: self.logs,
            show_others: self.show_others,
        }
    }
}

/// Scans, prints the report, and exits 1 with `--exit-code` when a pod lacks the fix.
pub fn run(args: Args) -> Result<ExitCode> {
    let engine = args.cluster.load_engine()?;
    let inspector = args.images.inspector()?;
    runtime::block_on(Threads::Two, async move {
        let (ctx, scope) = args.cluster.connect().await?;
        let options = args.options(scope);
        let report = match inspector {
            Some(inspector) => inspect_images::run(&ctx, &engine, &options, inspector).await?,
            None => scan::run(&ctx, &engine, &options).await?,
        };
        print_stdout(&match args.cluster.output {
            Output::Table => scan::render_table(&report),
            Output::Json => scan::render_json(&report),
        })?;
        Ok(if args.exit_code && scan::anything_to_fix(&report) {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use netdns_guard::inspect::image::registry::CredentialsSource;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(argv: &[&str]) -> Args {
        match Cli::parse_from(argv).command {
            Command::Scan(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_flags_defaults_are_the_librarys() {
        let args = parse(&["netdns-guard", "scan"]);
        assert_eq!(
            args.options(Scope::AllNamespaces),
            ScanOptions::new(Scope::AllNamespaces)
        );
        assert_eq!(args.cluster.output, Output::Table);
        assert!(!args.exit_code);
    }

    #[test]
    fn every_flag_reaches_the_options() {
        let args = parse(&[
            "netdns-guard",
            "scan",
            "-A",
            "--chunk-size=0",
            "--logs",
            "--show-others",
            "-o",
            "json",
            "--exit-code",
        ]);
        assert!(args.cluster.all_namespaces);
        assert_eq!(
            args.options(Scope::AllNamespaces),
            ScanOptions {
                scope: Scope::AllNamespaces,
                chunk_size: Some(0),
                logs: true,
                show_others: true,
            }
        );
        assert_eq!(args.cluster.output, Output::Json);
        assert!(args.exit_code);
        assert!(!args.images.inspect_images);
    }

    #[test]
    fn the_image_flags_reach_the_registry_options() {
        let args = parse(&[
            "netdns-guard",
            "scan",
            "--inspect-images",
            "--registry-config=/tmp/config.json",
            "--insecure-registry=reg.local:5000",
            "--insecure-registry=other.local",
            "--registry-ca=/tmp/ca.pem",
            "--platform=linux/arm64",
        ]);
        assert!(args.images.inspect_images);
        let options = args.images.registry.options();
        assert_eq!(
            options.credentials,
            [
                CredentialsSource::File("/tmp/config.json".into()),
                CredentialsSource::DockerDefault
            ]
        );
        assert_eq!(options.insecure, ["reg.local:5000", "other.local"]);
        assert_eq!(options.extra_ca, [std::path::PathBuf::from("/tmp/ca.pem")]);
        assert_eq!(args.images.platform, "linux/arm64".parse().unwrap());
    }
}
