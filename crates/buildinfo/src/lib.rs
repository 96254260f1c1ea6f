//! Go build info from an ELF executable, and what it says about the binary's
//! DNS resolver.
//!
//! [`read`] takes the bytes of a file and returns a [`GoBinary`]: the Go
//! version, main module, dependencies and build settings the linker embedded
//! (what `go version -m` shows), plus what the ELF structure adds (dynamic or
//! static linking, whether the cgo resolver's function is there, a static
//! glibc). [`GoBinary::assess`] turns that into a [`Verdict`]: can this binary
//! take Go's cgo resolver, whose `getaddrinfo` path is what crashes cgo-built
//! log agents? The table it applies, with the Go source behind each row, is in
//! [`verdict`].
//!
//! The reference is Go's own reader: `src/debug/buildinfo/buildinfo.go` for
//! finding and decoding the blob ([`blob`] documents both of its formats) and
//! `src/runtime/debug/mod.go` for the module info text.
//!
//! Pure: no IO beyond the bytes given. Input is treated as hostile: every read
//! is bounded by the file and by the structure that names it, nothing panics,
//! and each failure is a [`ReadError`] that says what the file is not.

pub mod blob;
pub mod elf;
pub mod modinfo;
mod quote;
pub mod verdict;

pub use blob::Encoding;
pub use elf::{CGO_RESOLVER_FUNCTION, ElfFacts, GlibcMark, Linkage, Presence, Source};
pub use modinfo::{BuildInfo, BuildSetting, ModInfoError, Module};
pub use verdict::{Assessment, Caveat, Risk, Verdict};

use serde::{Deserialize, Serialize};

/// A Go executable, read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoBinary {
    /// The build info the Go linker embedded.
    pub build: BuildInfo,
    /// How the blob held it (inline since Go 1.18, pointers before).
    pub encoding: Encoding,
    /// What the ELF structure says beside it.
    pub elf: ElfFacts,
}

impl GoBinary {
    /// The resolver verdict for this binary ([`verdict`] has the table).
    pub fn assess(&self) -> Assessment {
        verdict::assess(self)
    }
}

/// Why a file could not be read as a Go executable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// It does not start with the ELF magic.
    #[error("not an ELF executable")]
    NotElf,
    /// A structure the file declares runs past its end (a cut-off file, or a
    /// corrupt offset or size).
    #[error("truncated or corrupt: {what} ends at byte {needed}, but the file has {len} bytes")]
    Truncated {
        /// Which structure.
        what: &'static str,
        /// Where it ends.
        needed: u64,
        /// The file's length.
        len: u64,
    },
    /// An ELF structure is invalid.
    #[error("malformed ELF: {0}")]
    Malformed(&'static str),
    /// A sound ELF file without Go build info.
    #[error("not a Go executable: {0}")]
    NotGo(#[from] NotGo),
    /// The module info does not parse (Go's `ParseBuildInfo` would fail too).
    #[error("malformed Go module info: {0}")]
    ModInfo(#[from] ModInfoError),
}

/// What is missing from an ELF file that a Go executable has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotGo {
    /// No `.go.buildinfo` section and no writable data segment.
    #[error("no .go.buildinfo section and no writable data segment")]
    NoDataSegment,
    /// No build info header where Go puts it.
    #[error("no Go build info header in the first 64 KiB of its data")]
    NoBuildInfo,
    /// The header names a pointer size Go never uses.
    #[error("build info header with pointer size {0}")]
    PointerSize(u8),
    /// The header is there but holds no Go version.
    #[error("build info without a Go version")]
    NoVersion,
}

/// Reads the Go build info, and the ELF facts beside it, from `bytes`.
pub fn read(bytes: &[u8]) -> Result<GoBinary, ReadError> {
    let elf = elf::Elf::parse(bytes)?;
    let raw = blob::read(&elf)?;
    let go_version = String::from_utf8_lossy(raw.go_version).into_owned();
    let build = BuildInfo::parse(go_version, &String::from_utf8_lossy(raw.modinfo))?;
    let cgo_possible = build.cgo_enabled() != Some(false);
    Ok(GoBinary {
        build,
        encoding: raw.encoding,
        elf: elf.into_facts(cgo_possible),
    })
}
