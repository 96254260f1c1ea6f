//! `netdns-guard inspect`: Go build info read from executables, and whether each
//! can take the cgo resolver.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use netdns_guard::inspect::{self, DEFAULT_MAX_FILE_BYTES, Format, Options};

use super::print_stdout;

/// `-o`: the library's [`Format`] as clap sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// A block per file and a count, for people.
    Table,
    /// One JSON document, for tools.
    Json,
}

impl From<Output> for Format {
    fn from(output: Output) -> Self {
        match output {
            Output::Table => Format::Table,
            Output::Json => Format::Json,
        }
    }
}

impl From<Format> for Output {
    fn from(format: Format) -> Self {
        match format {
            Format::Table => Output::Table,
            Format::Json => Output::Json,
        }
    }
}

/// `inspect`'s flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Executable files to read (a binary copied out of an image, off a node).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Output format.
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        default_value_t = Output::from(Format::default())
    )]
    output: Output,

    /// Largest file read, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_FILE_BYTES, value_name = "BYTES")]
    max_file_bytes: u64,
}

/// Exit code 0 when every path was read (Go or not), 2 when any could not be.
pub fn run(args: Args) -> Result<ExitCode> {
    let options = Options {
        max_file_bytes: args.max_file_bytes,
    };
    let report = inspect::run(&args.paths, &options);
    print_stdout(&inspect::render(&report, args.output.into()))?;
    Ok(if report.any_unreadable() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
