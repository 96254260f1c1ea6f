//! The `netdns-guard` binary: parses the command line and hands it to the
//! subcommand's `run` in `src/cli/` (one file per subcommand).
//!
//! Exit codes follow diff(1) and `kubectl diff`: a subcommand returns 0 or 1 itself;
//! any error it returns is printed here and exits 2.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::DryRun(args) => cli::dry_run::run(args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Certs(args) => cli::certs::run(args),
        Command::Scan(args) => cli::scan::run(args),
        Command::Remediate(args) => cli::remediate::run(args),
        Command::Inspect(args) => cli::inspect::run(args),
        Command::Export(args) => cli::export::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
