//! `netdns-guard inspect`: Go build info read from executables and images, and
//! whether each can take the cgo resolver.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use netdns_guard::inspect::image::PlatformChoice;
use netdns_guard::inspect::{self, DEFAULT_MAX_FILE_BYTES, Format, Input, Options};

use super::print_stdout;
use super::registry::{RegistryArgs, cache};

/// `-o`: the library's [`Format`] as clap sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// A block per file or image and a count, for people.
    Table,
    /// One JSON document, for tools.
    Json,
    /// A policy file (`--config`) with a catalog entry per image read.
    Policy,
}

impl From<Output> for Format {
    fn from(output: Output) -> Self {
        match output {
            Output::Table => Format::Table,
            Output::Json => Format::Json,
            Output::Policy => Format::Policy,
        }
    }
}

impl From<Format> for Output {
    fn from(format: Format) -> Self {
        match format {
            Format::Table => Output::Table,
            Format::Json => Output::Json,
            Format::Policy => Output::Policy,
        }
    }
}

/// `inspect`'s flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Images and executable files to read: `oci-dir:DIR[:TAG]`,
    /// `docker-archive:FILE[:REF]`, `file:PATH`, `registry:REF` (or
    /// `docker://REF`); without a scheme a directory with `oci-layout` is an OCI
    /// layout, a tar holding `manifest.json` a `docker save` archive, another
    /// existing path a file, anything else a registry reference.
    #[arg(required = true, value_name = "IMAGE|PATH")]
    inputs: Vec<String>,

    /// Output format.
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        default_value_t = Output::from(Format::default())
    )]
    output: Output,

    /// Largest file read, in bytes (a plain file, or an executable in an image).
    #[arg(long, default_value_t = DEFAULT_MAX_FILE_BYTES, value_name = "BYTES")]
    max_file_bytes: u64,

    /// Platform of a multi-platform image: os/arch[/variant], or `all`.
    /// Default: `all` with `-o policy` (an entry pinned to an index must
    /// speak for every platform in it), linux/amd64 otherwise.
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<PlatformChoice>,

    /// Neither read nor write the findings cache
    /// ($XDG_CACHE_HOME/netdns-guard, else ~/.cache/netdns-guard).
    #[arg(long)]
    no_cache: bool,

    /// Keep the findings cache here instead.
    #[arg(long, value_name = "DIR", env = "NETDNS_GUARD_CACHE_DIR")]
    cache_dir: Option<PathBuf>,

    #[command(flatten)]
    registry: RegistryArgs,
}

/// Exit code 0 when every input was read (Go or not), 2 when any could not be.
pub fn run(args: Args) -> Result<ExitCode> {
    let inputs: Vec<Input> = args.inputs.iter().map(|text| Input::parse(text)).collect();
    // The client is set up only when a registry is asked (a bad --registry-ca
    // is then an error, and air-gapped runs never read the docker config).
    let pulls = inputs.iter().any(|i| matches!(i, Input::Registry(_)));
    let options = Options {
        max_file_bytes: args.max_file_bytes,
        platform: args.platform.unwrap_or(match args.output {
            Output::Policy => PlatformChoice::All,
            _ => PlatformChoice::default(),
        }),
        cache: cache(args.no_cache, args.cache_dir),
        registry: pulls.then(|| args.registry.registry()).transpose()?,
    };
    let report = inspect::run(&inputs, &options);
    print_stdout(&inspect::render(&report, args.output.into()))?;
    Ok(if report.any_unreadable() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
