//! `netdns-guard dry-run`: the mutation applied to manifests, printed.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use netdns_guard::Engine;
use netdns_guard::dryrun::{self, Input, OutputFormat};
use netdns_guard::inspect::evidence::{self, ImageJob, Inspector};

use super::print_stdout;
use super::registry::InspectImagesArgs;

/// `-o`: the library's [`OutputFormat`] as clap sees it (names and help).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// The manifests, changed where needed (unchanged documents byte for byte).
    Yaml,
    /// The manifests as JSON: one object, or a `List` when there are several.
    Json,
    /// The JSON Patch of each changed object.
    Patch,
    /// A unified diff of each changed object.
    Diff,
    /// A report a person reads: every workload, every container, why.
    Report,
    /// The same report as JSON, for tools.
    ReportJson,
}

impl From<Output> for OutputFormat {
    fn from(output: Output) -> Self {
        match output {
            Output::Yaml => OutputFormat::Yaml,
            Output::Json => OutputFormat::Json,
            Output::Patch => OutputFormat::Patch,
            Output::Diff => OutputFormat::Diff,
            Output::Report => OutputFormat::Report,
            Output::ReportJson => OutputFormat::ReportJson,
        }
    }
}

/// The other way, so the default is the library's and a new library format fails
/// to compile here until it has a flag value.
impl From<OutputFormat> for Output {
    fn from(format: OutputFormat) -> Self {
        match format {
            OutputFormat::Yaml => Output::Yaml,
            OutputFormat::Json => Output::Json,
            OutputFormat::Patch => Output::Patch,
            OutputFormat::Diff => Output::Diff,
            OutputFormat::Report => Output::Report,
            OutputFormat::ReportJson => Output::ReportJson,
        }
    }
}

/// `dry-run`'s flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest file or directory ('-' for stdin); repeatable. Directories are read
    /// recursively for .yaml, .yml and .json files.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    files: Vec<String>,

    /// Output format.
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        default_value_t = Output::from(OutputFormat::default())
    )]
    output: Output,

    /// Policy file (YAML). Without it the built-in defaults protect the catalog's
    /// at-risk agents with the env strategy.
    #[arg(long, value_name = "FILE", env = "NETDNS_GUARD_CONFIG")]
    config: Option<PathBuf>,

    /// Exit 1 when any object would change (like `diff` and `kubectl diff`).
    #[arg(long)]
    exit_code: bool,

    #[command(flatten)]
    images: InspectImagesArgs,
}

/// Reads the inputs, prints them mutated (or the patch, diff or report), and exits
/// 1 with `--exit-code` when anything would change.
pub fn run(args: Args) -> Result<ExitCode> {
    let engine = netdns_guard::policy_file::load_engine(args.config.as_deref())?;
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
    let engine = match args.images.inspector()? {
        Some(inspector) => learn(&engine, &sources, &inspector)?,
        None => engine,
    };
    let outcome = dryrun::run(&engine, &sources, args.output.into())?;
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    print_stdout(&outcome.stdout)?;
    Ok(if args.exit_code && outcome.changed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `--inspect-images`: the unknown images read (docker config credentials
/// only) and put in front of the catalog, as `inspect -o policy` would write
/// them; images that could not be read are warnings.
fn learn(engine: &Engine, sources: &[dryrun::Source], inspector: &Inspector) -> Result<Engine> {
    let jobs: Vec<ImageJob> = dryrun::unknown_images(engine, sources)?
        .iter()
        .map(|image| ImageJob::named(image))
        .collect();
    let inputs = inspector.inspect_all(&jobs);
    for warning in evidence::warnings(&inputs) {
        eprintln!("warning: {warning}");
    }
    evidence::engine_with(engine, &evidence::catalog_entries(&inputs))
        .context("adding the inspected images to the catalog")
}

#[cfg(test)]
mod tests {
    use clap::{Parser, ValueEnum};

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn the_default_output_is_the_librarys() {
        let Command::DryRun(args) = Cli::parse_from(["netdns-guard", "dry-run"]).command else {
            panic!("not parsed as dry-run");
        };
        assert_eq!(OutputFormat::from(args.output), OutputFormat::default());
    }

    #[test]
    fn image_flags_without_inspect_images_are_refused_not_ignored() {
        for flag in [&["--platform", "linux/arm64"][..], &["--no-cache"]] {
            let args = [&["netdns-guard", "dry-run"][..], flag].concat();
            let error = Cli::try_parse_from(&args).expect_err("refused");
            assert!(error.to_string().contains("--inspect-images"), "{error}");
            let with = [&args[..], &["--inspect-images"]].concat();
            Cli::try_parse_from(&with).expect("accepted with --inspect-images");
        }
    }

    #[test]
    fn every_output_maps_to_its_own_format() {
        for &output in Output::value_variants() {
            assert_eq!(Output::from(OutputFormat::from(output)), output);
        }
    }
}
