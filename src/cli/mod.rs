//! The `netdns-guard` command line (ARCHITECTURE.md, "The command line").
//!
//! One file per subcommand, each owning its flags (a clap `Args` struct) and its
//! `run`: [`dry_run`], [`serve`], [`certs`], [`scan`], [`remediate`], [`inspect`]. What several
//! share has one place: the cluster flags of scan and remediate ([`cluster`]), the
//! duration flags ([`duration`]), the async runtime ([`runtime`]) and logging
//! ([`logging`]).
//!
//! Defaults come from the library's constants and `Default` impls wherever the
//! library has one, so each default is stated once.
//!
//! Exit codes follow diff(1) and `kubectl diff`: 0 success, 1 (with `--exit-code`)
//! when something would change, 2 on any error (the binary's `main` maps errors).

pub mod certs;
pub mod cluster;
pub mod dry_run;
pub mod duration;
pub mod export;
pub mod inspect;
pub mod logging;
pub mod registry;
pub mod remediate;
pub mod runtime;
pub mod scan;
pub mod serve;

use std::io::Write;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// Keeps cgo-built Go log agents off Go's cgo DNS resolver (GODEBUG=netdns=go).
#[derive(Debug, Parser)]
#[command(name = "netdns-guard", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands; `main` runs each one's `run`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the mutation to manifests (files, directories, stdin) and print the result.
    ///
    /// Works as a Helm 3 post-renderer (reads stdin when no -f is given) and as a
    /// kustomize/kpt KRM function (a ResourceList in, a ResourceList out).
    #[command(name = "dry-run")]
    DryRun(dry_run::Args),

    /// Serve the mutating admission webhook over HTTPS.
    Serve(serve::Args),

    /// Write a CA and a serving certificate for the webhook into a directory.
    Certs(certs::Args),

    /// Report the running pods the policy targets: verdict, owner, crash evidence.
    ///
    /// Exit code 0 (with --exit-code: 1 when a pod lacks the fix), 2 on error.
    Scan(scan::Args),

    /// Restart the owners of running pods that lack the fix, once the webhook serves.
    ///
    /// Exit code 0 when every such pod was replaced by a fixed one (or --dry-run),
    /// 1 when anything was left unfixed (skipped, timed out, failed), 2 on error or
    /// when the webhook is not serving (without --force).
    Remediate(remediate::Args),

    /// Read Go build info from images and executables: version, cgo, tags, and
    /// whether each can take the cgo DNS resolver, with the evidence.
    ///
    /// Exit code 0 when every input was read (Go or not), 2 when any could not be.
    Inspect(inspect::Args),

    /// Print the policy in another form: a native MutatingAdmissionPolicy and its
    /// binding, which make the apiserver apply the fix itself (no webhook).
    Export(export::Args),
}

/// Writes a command's whole output to stdout at once and flushes it, so an error
/// surfaces as exit code 2 instead of a silently truncated stream.
pub fn print_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing to stdout")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
