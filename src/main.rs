//! The `netdns-guard` command line (DESIGN.md §5).
//!
//! Exit codes follow diff(1) and `kubectl diff`: 0 success, 1 (with `--exit-code`)
//! when something would change, 2 on any error.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use netdns_guard::dryrun::{self, Input, OutputFormat};
use netdns_guard::{Engine, Policy};

/// Keeps cgo-built Go log agents off Go's cgo DNS resolver (GODEBUG=netdns=go).
#[derive(Debug, Parser)]
#[command(name = "netdns-guard", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply the mutation to manifests (files, directories, stdin) and print the result.
    ///
    /// Works as a Helm 3 post-renderer (reads stdin when no -f is given) and as a
    /// kustomize/kpt KRM function (a ResourceList in, a ResourceList out).
    #[command(name = "dry-run")]
    DryRun(DryRunArgs),
}

#[derive(Debug, clap::Args)]
struct DryRunArgs {
    /// Manifest file or directory ('-' for stdin); repeatable. Directories are read
    /// recursively for .yaml, .yml and .json files.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    files: Vec<String>,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Yaml)]
    output: OutputFormat,

    /// Policy file (YAML). Without it the built-in defaults protect the catalog's
    /// at-risk agents with the env strategy.
    #[arg(long, value_name = "FILE", env = "NETDNS_GUARD_CONFIG")]
    config: Option<PathBuf>,

    /// Exit 1 when any object would change (like `diff` and `kubectl diff`).
    #[arg(long)]
    exit_code: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::DryRun(args) => dry_run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Loads the policy file, or the defaults when none is given.
fn load_engine(config: Option<&PathBuf>) -> Result<Engine> {
    let policy = match config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("policy file {}", path.display()))?;
            Policy::from_yaml(&text).with_context(|| format!("policy file {}", path.display()))?
        }
        None => Policy::default(),
    };
    Engine::new(policy).context("policy")
}

fn dry_run(args: DryRunArgs) -> Result<ExitCode> {
    let engine = load_engine(args.config.as_ref())?;
    let inputs: Vec<Input> = if args.files.is_empty() {
        // A post-renderer gets its input on stdin without being told.
        if std::io::stdin().is_terminal() {
            return Err(dryrun::DryRunError::NoInput.into());
        }
        vec![Input::Stdin]
    } else {
        args.files.iter().map(|f| Input::parse(f)).collect()
    };
    let sources = dryrun::read_inputs(&inputs, &mut std::io::stdin().lock())?;
    let outcome = dryrun::run(&engine, &sources, args.output)?;
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(outcome.stdout.as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing to stdout")?;
    Ok(if args.exit_code && outcome.changed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
