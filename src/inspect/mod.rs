//! `netdns-guard inspect PATH...`: what Go binaries say about their resolver.
//!
//! Each path is read whole (up to a size bound), handed to the
//! `netdns-guard-buildinfo` crate, and reported with its Go version, cgo
//! setting, tags, verdict and the evidence behind it (ARCHITECTURE.md, "Go build
//! info"). Plain files only: this is the air-gapped way in, for a binary copied
//! out of an image or off a node.
//!
//! A file that is not a Go executable (not ELF, or ELF without Go build info) is
//! reported as such and is not an error; a file that cannot be read, or is
//! truncated or malformed, is.

pub mod image;
mod render;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use netdns_guard_buildinfo::{self as buildinfo, Assessment, GoBinary, ReadError};

pub use render::{render, render_json, render_table};

/// Files larger than this are not read unless the caller raises it: Go
/// binaries run to a few hundred MB at most.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 30;

/// How `inspect` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Largest file read, in bytes.
    pub max_file_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// A block per file, for people.
    #[default]
    Table,
    /// One JSON document, for tools.
    Json,
}

/// What was found in each path, in the order given.
#[derive(Debug)]
pub struct Report {
    /// One entry per path.
    pub files: Vec<FileReport>,
}

impl Report {
    /// Whether any path could not be read (the command exits 2 then).
    pub fn any_unreadable(&self) -> bool {
        self.files
            .iter()
            .any(|f| matches!(f.outcome, Outcome::Unreadable(_)))
    }
}

/// One path and what it holds.
#[derive(Debug)]
pub struct FileReport {
    /// The path as given.
    pub path: PathBuf,
    /// What it holds.
    pub outcome: Outcome,
}

/// What a file holds.
#[derive(Debug)]
pub enum Outcome {
    /// A Go executable, read, and its verdict.
    Go(Box<Inspected>),
    /// Not a Go executable: not ELF, or ELF without Go build info.
    NotGo(ReadError),
    /// Could not be read, or is truncated or malformed.
    Unreadable(InspectError),
}

/// A Go binary and its verdict.
#[derive(Debug)]
pub struct Inspected {
    /// What the binary says.
    pub binary: GoBinary,
    /// The verdict drawn from it.
    pub assessment: Assessment,
}

/// Why a path could not be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The file system said no.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not a regular file (a directory, a device, …).
    #[error("not a regular file")]
    NotAFile,
    /// Over the size bound.
    #[error("{size} bytes, more than the {limit}-byte limit")]
    TooLarge {
        /// The file's size.
        size: u64,
        /// The bound.
        limit: u64,
    },
    /// The bytes are ELF, but truncated or malformed.
    #[error("{0}")]
    Read(ReadError),
}

/// Inspects every path.
pub fn run(paths: &[PathBuf], options: &Options) -> Report {
    Report {
        files: paths
            .iter()
            .map(|path| FileReport {
                path: path.clone(),
                outcome: inspect_file(path, options),
            })
            .collect(),
    }
}

/// Reads one file and inspects its bytes.
pub fn inspect_file(path: &Path, options: &Options) -> Outcome {
    match read_bounded(path, options.max_file_bytes) {
        Ok(bytes) => inspect_bytes(&bytes),
        Err(error) => Outcome::Unreadable(error),
    }
}

/// Inspects the bytes of one file.
pub fn inspect_bytes(bytes: &[u8]) -> Outcome {
    match buildinfo::read(bytes) {
        Ok(binary) => Outcome::Go(Box::new(Inspected {
            assessment: binary.assess(),
            binary,
        })),
        Err(error @ (ReadError::NotElf | ReadError::NotGo(_))) => Outcome::NotGo(error),
        Err(error) => Outcome::Unreadable(InspectError::Read(error)),
    }
}

fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, InspectError> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(InspectError::NotAFile);
    }
    if meta.len() > limit {
        return Err(InspectError::TooLarge {
            size: meta.len(),
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The file may grow between the stat and the read: the bound holds anyway.
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(InspectError::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}
