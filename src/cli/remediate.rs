//! `netdns-guard remediate`: restart the owners of running pods that lack the fix.

use std::process::ExitCode;

use anyhow::Result;
use clap::builder::TypedValueParser as _;

use netdns_guard::cluster::Scope;
use netdns_guard::cluster::remediate::{self, RemediateOptions};

use super::cluster::{ClusterArgs, Output};
use super::duration::CliDuration;
use super::print_stdout;
use super::runtime::{self, Threads};

/// `remediate`'s flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    cluster: ClusterArgs,

    /// Print the plan; change nothing.
    #[arg(long)]
    dry_run: bool,

    /// Owners restarted at once; the next starts when one completes.
    #[arg(
        long,
        default_value_t = remediate::DEFAULT_MAX_PARALLEL,
        value_parser = clap::value_parser!(u16).range(1..).map(usize::from)
    )]
    max_parallel: usize,

    /// Delete pods of OnDelete DaemonSets and StatefulSets (and ReplicaSets without a
    /// Deployment) one at a time, awaiting each ready replacement.
    #[arg(long)]
    allow_delete: bool,

    /// How long one owner's rollout, or one pod's replacement, may take (90s, 5m, 1h).
    #[arg(long, default_value_t = CliDuration(remediate::DEFAULT_TIMEOUT))]
    timeout: CliDuration,

    /// Restart even when the webhook is not installed or not serving.
    #[arg(long)]
    force: bool,

    /// The MutatingWebhookConfiguration that must be serving.
    #[arg(
        long,
        default_value = remediate::DEFAULT_WEBHOOK_CONFIGURATION,
        value_name = "NAME"
    )]
    webhook_configuration: String,

    /// Wait this long for the webhook to serve before refusing (for a post-install hook).
    #[arg(
        long,
        default_value_t = CliDuration(remediate::DEFAULT_WAIT_FOR_WEBHOOK),
        value_name = "DURATION"
    )]
    wait_for_webhook: CliDuration,

    /// Exit 1 when anything is left unfixed; --fail-on-unfixed=false exits 0 then
    /// (errors still exit 2), for a Helm hook that must not fail the release.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    fail_on_unfixed: bool,

    /// How often rollout status is read.
    #[arg(
        long,
        default_value_t = CliDuration(remediate::DEFAULT_POLL_INTERVAL),
        hide = true
    )]
    poll_interval: CliDuration,
}

impl Args {
    /// The library's options from the flags, for `scope`.
    fn options(&self, scope: Scope) -> RemediateOptions {
        RemediateOptions {
            scope,
            chunk_size: Some(self.cluster.chunk_size),
            dry_run: self.dry_run,
            max_parallel: self.max_parallel,
            allow_delete: self.allow_delete,
            timeout: self.timeout.0,
            force: self.force,
            webhook_configuration: self.webhook_configuration.clone(),
            wait_for_webhook: self.wait_for_webhook.0,
            poll_interval: self.poll_interval.0,
        }
    }
}

/// Remediates, prints the report, and exits 1 when anything was left unfixed
/// (unless `--dry-run` or `--fail-on-unfixed=false`).
pub fn run(args: Args) -> Result<ExitCode> {
    let engine = args.cluster.load_engine()?;
    runtime::block_on(Threads::Two, async move {
        let (ctx, scope) = args.cluster.connect().await?;
        let options = args.options(scope);
        let report = remediate::run(&ctx, &engine, &options).await?;
        print_stdout(&match args.cluster.output {
            Output::Table => remediate::render_table(&report),
            Output::Json => remediate::render_json(&report),
        })?;
        let left = report.left_unfixed().count();
        Ok(if report.dry_run || left == 0 || !args.fail_on_unfixed {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use std::time::Duration;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(argv: &[&str]) -> Args {
        match Cli::parse_from(argv).command {
            Command::Remediate(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_flags_defaults_are_the_librarys() {
        let scope = Scope::Namespace("logging".into());
        let args = parse(&["netdns-guard", "remediate"]);
        assert_eq!(args.options(scope.clone()), RemediateOptions::new(scope));
        assert!(args.fail_on_unfixed);
    }

    #[test]
    fn every_flag_reaches_the_options() {
        let args = parse(&[
            "netdns-guard",
            "remediate",
            "--chunk-size=7",
            "--dry-run",
            "--max-parallel=3",
            "--allow-delete",
            "--timeout=90s",
            "--force",
            "--webhook-configuration=other",
            "--wait-for-webhook=1m",
            "--poll-interval=500ms",
            "--fail-on-unfixed=false",
        ]);
        let options = args.options(Scope::AllNamespaces);
        assert_eq!(
            options,
            RemediateOptions {
                scope: Scope::AllNamespaces,
                chunk_size: Some(7),
                dry_run: true,
                max_parallel: 3,
                allow_delete: true,
                timeout: Duration::from_secs(90),
                force: true,
                webhook_configuration: "other".into(),
                wait_for_webhook: Duration::from_secs(60),
                poll_interval: Duration::from_millis(500),
            }
        );
        assert!(!args.fail_on_unfixed);
    }
}
