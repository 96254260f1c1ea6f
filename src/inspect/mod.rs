//! `netdns-guard inspect IMAGE|PATH...`: what Go binaries say about their
//! resolver.
//!
//! A plain file is read whole (up to a size bound), handed to the
//! `netdns-guard-buildinfo` crate, and reported with its Go version, cgo
//! setting, tags, verdict and the evidence behind it (ARCHITECTURE.md, "Go build
//! info"). An image ([`input`] says how inputs are told apart) is read through
//! [`image`]: each of its Go binaries reported the same way, and the image's
//! verdict beside them.
//!
//! A file that is not a Go executable (not ELF, or ELF without Go build info) is
//! reported as such and is not an error; a file that cannot be read, or is
//! truncated or malformed, is, and so is an image that cannot be read whole.

pub mod evidence;
pub mod image;
pub mod input;
pub mod policy;
mod render;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use netdns_guard_buildinfo::{self as buildinfo, Assessment, GoBinary, ReadError};

pub use input::Input;
pub use render::{render, render_json, render_table};

use image::{ImageOptions, ImageReport, PlatformChoice};

/// Files larger than this are not read unless the caller raises it: Go
/// binaries run to a few hundred MB at most.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 30;

/// How `inspect` reads.
#[derive(Debug, Clone)]
pub struct Options {
    /// Largest file read, in bytes (a plain file, or an executable in an image).
    pub max_file_bytes: u64,
    /// Which platforms of a multi-platform image.
    pub platform: PlatformChoice,
    /// Where image findings are kept between runs; `None` with `--no-cache`.
    pub cache: Option<image::Cache>,
    /// How registry references are pulled; `None` refuses them.
    pub registry: Option<image::registry::Registry>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            platform: PlatformChoice::default(),
            cache: None,
            registry: None,
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
    /// A policy file's `catalog.add`, one entry per image read.
    Policy,
}

/// What was found in each input, in the order given.
#[derive(Debug)]
pub struct Report {
    /// One entry per input.
    pub inputs: Vec<InputReport>,
}

/// One input and what it holds.
#[derive(Debug)]
pub enum InputReport {
    /// A plain file.
    File(FileReport),
    /// An image input.
    Image(ImageInput),
}

/// An image input and what was found in it.
#[derive(Debug)]
pub struct ImageInput {
    /// The input as understood (`oci-dir:…`, `docker-archive:…`, `registry:…`).
    pub input: String,
    /// The image's full name, when the input records it.
    pub image_name: Option<String>,
    /// One report per platform read, or why the input could not be read.
    pub outcome: Result<Vec<ImageReport>, String>,
}

impl Report {
    /// Whether any input could not be read (the command exits 2 then).
    pub fn any_unreadable(&self) -> bool {
        self.inputs.iter().any(|input| match input {
            InputReport::File(file) => matches!(file.outcome, Outcome::Unreadable(_)),
            InputReport::Image(image) => image.outcome.is_err(),
        })
    }

    /// The plain files, in order.
    pub fn files(&self) -> impl Iterator<Item = &FileReport> {
        self.inputs.iter().filter_map(|input| match input {
            InputReport::File(file) => Some(file),
            InputReport::Image(_) => None,
        })
    }

    /// The image inputs, in order.
    pub fn images(&self) -> impl Iterator<Item = &ImageInput> {
        self.inputs.iter().filter_map(|input| match input {
            InputReport::Image(image) => Some(image),
            InputReport::File(_) => None,
        })
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

/// Inspects every input.
pub fn run(inputs: &[Input], options: &Options) -> Report {
    Report {
        inputs: inputs
            .iter()
            .map(|input| inspect_input(input, options))
            .collect(),
    }
}

fn inspect_input(input: &Input, options: &Options) -> InputReport {
    if let Input::File(path) = input {
        return InputReport::File(FileReport {
            path: path.clone(),
            outcome: inspect_file(path, options),
        });
    }
    let image_options = ImageOptions {
        platform: options.platform.clone(),
        max_file_bytes: options.max_file_bytes,
        cache: options.cache.clone(),
    };
    let (image_name, outcome) = match input.open(options.registry.as_ref()) {
        Ok(opened) => (
            opened.image_name,
            image::inspect_source(opened.source.as_ref(), &image_options)
                .map_err(|error| error.to_string()),
        ),
        Err(error) => (None, Err(error.to_string())),
    };
    InputReport::Image(ImageInput {
        input: input.to_string(),
        image_name,
        outcome,
    })
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
