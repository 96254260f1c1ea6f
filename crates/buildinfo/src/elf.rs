//! The parts of an ELF executable the reader needs, read with `object`.
//!
//! Program headers are required (the build info is reached through the
//! `PT_LOAD` mappings, as Go's `debug/buildinfo` does); section headers, the
//! symbol table and the dynamic section are read when present and sound, and
//! otherwise simply give less evidence. Every file range is checked against the
//! file's length first, so a cut-off download is reported as truncated rather
//! than as a stranger fault further on.

use object::Endianness;
use object::elf::{
    DT_NEEDED, DT_NULL, ELFCLASS32, ELFCLASS64, FileHeader32, FileHeader64, PF_W, PF_X, PT_INTERP,
    PT_LOAD, SHT_NOBITS, SHT_SYMTAB,
};
use object::read::elf::{Dyn, FileHeader, ProgramHeader, SectionHeader, SectionTable, Sym};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ReadError;

/// The Go function that calls libc's `getaddrinfo`: present in every binary
/// that links the cgo resolver (Go's `net/cgo_unix.go`, `cgo_unix_cgo.go`),
/// the frame every field crash shows.
pub const CGO_RESOLVER_FUNCTION: &str = "net._C2func_getaddrinfo";

/// The C part of `runtime/cgo`, linked exactly when cgo is.
const CGO_RUNTIME_SYMBOL: &[u8] = b"x_cgo_init";

/// glibc's start routine: defined in the binary only when glibc is linked in.
const GLIBC_START_SYMBOL: &[u8] = b"__libc_start_main";

/// The environment variable glibc's tunables read: its name is in the
/// read-only data of every static glibc (2.26 and later), symbols or not.
const GLIBC_TUNABLES_STRING: &[u8] = b"GLIBC_TUNABLES\0";

/// What the ELF structure says about the binary, beyond its build info.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElfFacts {
    /// Dynamic (with the loader it names) or static.
    pub linkage: Linkage,
    /// Whether a `.symtab` is there (`-ldflags=-s` removes it).
    pub symbol_table: bool,
    /// Whether the cgo resolver ([`CGO_RESOLVER_FUNCTION`]) is linked in.
    pub cgo_resolver: Presence,
    /// Whether `runtime/cgo` is linked in (its `x_cgo_init`).
    pub cgo_runtime: Presence,
    /// glibc is linked into the binary itself (no `PT_INTERP`), and how that
    /// shows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub static_glibc: Option<GlibcMark>,
}

/// How the executable is linked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Linkage {
    /// A `PT_INTERP` names the dynamic loader; `DT_NEEDED` the libraries.
    Dynamic {
        /// e.g. `/lib64/ld-linux-x86-64.so.2`.
        interpreter: String,
        /// e.g. `libc.so.6`.
        needed: Vec<String>,
    },
    /// No `PT_INTERP`: nothing is loaded beside the file.
    Static,
}

/// Whether something is in the binary, and where that was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "presence", content = "source", rename_all = "kebab-case")]
pub enum Presence {
    /// Found.
    Found(Source),
    /// Looked for where it would be, and not there.
    Absent(Source),
    /// Nowhere to look: no symbol table and no function-name table.
    Unknown,
}

/// Where a symbol was looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The ELF symbol table (`.symtab`).
    SymbolTable,
    /// Go's function-name table (`.gopclntab`, kept by `-ldflags=-s -w`).
    FunctionNames,
}

/// How a statically linked glibc shows itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GlibcMark {
    /// `__libc_start_main` is defined in the symbol table.
    LibcStartMainSymbol,
    /// The `GLIBC_TUNABLES` name is in the file (a stripped static glibc).
    TunablesString,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::SymbolTable => "the symbol table",
            Source::FunctionNames => "Go's function names (.gopclntab)",
        })
    }
}

impl fmt::Display for GlibcMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GlibcMark::LibcStartMainSymbol => "__libc_start_main is defined, no PT_INTERP",
            GlibcMark::TunablesString => "GLIBC_TUNABLES is in its read-only data, no PT_INTERP",
        })
    }
}

/// One `PT_LOAD` segment.
#[derive(Debug, Clone, Copy)]
struct Load {
    vaddr: u64,
    offset: u64,
    filesz: u64,
    memsz: u64,
    flags: u32,
}

/// One section header, as far as the reader cares.
#[derive(Debug, Clone)]
struct Section {
    name: Vec<u8>,
    addr: u64,
    size: u64,
    file_range: Option<(u64, u64)>,
}

/// A parsed ELF file over its bytes.
pub(crate) struct Elf<'a> {
    data: &'a [u8],
    loads: Vec<Load>,
    sections: Vec<Section>,
    /// The facts, but for a static glibc known only from its strings.
    facts: ElfFacts,
}

impl<'a> Elf<'a> {
    /// Parses the headers of `data`, which must be an ELF file.
    pub(crate) fn parse(data: &'a [u8]) -> Result<Self, ReadError> {
        if !data.starts_with(b"\x7fELF") {
            return Err(ReadError::NotElf);
        }
        match data.get(4).copied() {
            Some(ELFCLASS64) => parse_as::<FileHeader64<Endianness>>(data),
            Some(ELFCLASS32) => parse_as::<FileHeader32<Endianness>>(data),
            Some(_) => Err(ReadError::Malformed("unknown ELF class")),
            None => Err(truncated("the ELF header", 64, data.len())),
        }
    }

    /// Address and size of where the build info should be: the
    /// `.go.buildinfo` section, else the first writable, non-executable
    /// `PT_LOAD` (Go's `elfExe.DataStart`).
    pub(crate) fn data_start(&self) -> Option<(u64, u64)> {
        if let Some(s) = self.sections.iter().find(|s| s.name == b".go.buildinfo") {
            return Some((s.addr, s.size));
        }
        self.loads
            .iter()
            .find(|l| l.flags & (PF_X | PF_W) == PF_W)
            .map(|l| (l.vaddr, l.memsz))
    }

    /// Up to `size` file bytes at virtual address `addr`, from the `PT_LOAD`
    /// that maps it (Go's `elfExe.ReadData`); `None` when none does.
    pub(crate) fn read_at(&self, addr: u64, size: u64) -> Option<&'a [u8]> {
        let load = self
            .loads
            .iter()
            .find(|l| addr >= l.vaddr && addr - l.vaddr < l.filesz)?;
        let into = addr - load.vaddr;
        let len = size.min(load.filesz - into);
        let start = usize::try_from(load.offset.checked_add(into)?).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.data.get(start..end)
    }

    /// The evidence gathered from headers and symbols. `cgo_possible` is
    /// false when the build settings say `CGO_ENABLED=0`: glibc gets into a Go
    /// binary only through cgo, so a stripped static one is then not searched
    /// for glibc's strings (a scan of its read-only data).
    pub(crate) fn into_facts(self, cgo_possible: bool) -> ElfFacts {
        let mut facts = self.facts;
        if facts.static_glibc.is_none()
            && facts.linkage == Linkage::Static
            && !facts.symbol_table
            && cgo_possible
        {
            let rodata = self
                .sections
                .iter()
                .find(|s| s.name == b".rodata")
                .and_then(|s| s.file_range)
                .and_then(|(off, len)| slice(self.data, off, len))
                .unwrap_or(self.data);
            facts.static_glibc = memchr::memmem::find(rodata, GLIBC_TUNABLES_STRING)
                .map(|_| GlibcMark::TunablesString);
        }
        facts
    }
}

fn parse_as<'a, H: FileHeader<Endian = Endianness>>(data: &'a [u8]) -> Result<Elf<'a>, ReadError> {
    let header_len = std::mem::size_of::<H>();
    if data.len() < header_len {
        return Err(truncated("the ELF header", header_len as u64, data.len()));
    }
    let header = H::parse(data).map_err(|_| ReadError::Malformed("invalid ELF header"))?;
    let endian = header
        .endian()
        .map_err(|_| ReadError::Malformed("unknown ELF byte order"))?;

    check_range_fits(
        "the program headers",
        header.e_phoff(endian).into(),
        u64::from(header.e_phnum(endian)) * u64::from(header.e_phentsize(endian)),
        data.len(),
    )?;
    let phdrs = header
        .program_headers(endian, data)
        .map_err(|_| ReadError::Malformed("invalid program headers"))?;
    let mut loads = Vec::new();
    let mut interpreter = None;
    for ph in phdrs {
        let (offset, filesz) = (ph.p_offset(endian).into(), ph.p_filesz(endian).into());
        match ph.p_type(endian) {
            PT_LOAD => {
                check_range_fits("a PT_LOAD segment", offset, filesz, data.len())?;
                loads.push(Load {
                    vaddr: ph.p_vaddr(endian).into(),
                    offset,
                    filesz,
                    memsz: ph.p_memsz(endian).into(),
                    flags: ph.p_flags(endian),
                });
            }
            PT_INTERP => {
                check_range_fits("the PT_INTERP segment", offset, filesz, data.len())?;
                interpreter = ph
                    .interpreter(endian, data)
                    .ok()
                    .flatten()
                    .map(|b| String::from_utf8_lossy(b).into_owned());
            }
            _ => {}
        }
    }

    let shoff: u64 = header.e_shoff(endian).into();
    if shoff != 0 {
        check_range_fits(
            "the section headers",
            shoff,
            u64::from(header.e_shnum(endian)) * u64::from(header.e_shentsize(endian)),
            data.len(),
        )?;
    }
    // Section headers are optional to an executable: without sound ones the
    // reader falls back on the segments, as Go does.
    let table = header.sections(endian, data).ok();
    let sections = match &table {
        Some(t) => sections_of::<H>(t, endian, data.len())?,
        None => Vec::new(),
    };
    let symbols = table
        .as_ref()
        .map(|t| scan_symbols::<H>(t, endian, data))
        .unwrap_or_default();
    let needed = table
        .as_ref()
        .map(|t| needed_libraries::<H>(t, endian, data))
        .unwrap_or_default();

    let function_names = sections
        .iter()
        .find(|s| s.name == b".gopclntab")
        .and_then(|s| s.file_range)
        .and_then(|(off, len)| slice(data, off, len))
        .unwrap_or(data);
    let facts = ElfFacts {
        cgo_resolver: cgo_resolver(&symbols, function_names),
        cgo_runtime: match (symbols.present, symbols.cgo_runtime) {
            (true, true) => Presence::Found(Source::SymbolTable),
            (true, false) => Presence::Absent(Source::SymbolTable),
            (false, _) => Presence::Unknown,
        },
        static_glibc: (interpreter.is_none() && symbols.libc_start_main)
            .then_some(GlibcMark::LibcStartMainSymbol),
        linkage: match interpreter {
            Some(interpreter) => Linkage::Dynamic {
                interpreter,
                needed,
            },
            None => Linkage::Static,
        },
        symbol_table: symbols.present,
    };
    Ok(Elf {
        data,
        loads,
        sections,
        facts,
    })
}

fn sections_of<'a, H: FileHeader<Endian = Endianness>>(
    table: &SectionTable<'a, H, &'a [u8]>,
    endian: Endianness,
    len: usize,
) -> Result<Vec<Section>, ReadError> {
    let mut out = Vec::new();
    for sh in table.iter() {
        let file_range = if sh.sh_type(endian) == SHT_NOBITS {
            None
        } else {
            let (off, size) = (sh.sh_offset(endian).into(), sh.sh_size(endian).into());
            check_range_fits("a section", off, size, len)?;
            Some((off, size))
        };
        out.push(Section {
            name: table
                .section_name(endian, sh)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
            addr: sh.sh_addr(endian).into(),
            size: sh.sh_size(endian).into(),
            file_range,
        });
    }
    Ok(out)
}

/// What the symbol table holds of the names the verdict cares about.
#[derive(Debug, Default)]
struct SymbolScan {
    present: bool,
    cgo_resolver: bool,
    cgo_runtime: bool,
    libc_start_main: bool,
}

fn scan_symbols<'a, H: FileHeader<Endian = Endianness>>(
    table: &SectionTable<'a, H, &'a [u8]>,
    endian: Endianness,
    data: &'a [u8],
) -> SymbolScan {
    let Ok(symbols) = table.symbols(endian, data, SHT_SYMTAB) else {
        return SymbolScan::default();
    };
    let strings = symbols.strings();
    let mut scan = SymbolScan {
        present: !symbols.is_empty(),
        ..SymbolScan::default()
    };
    for sym in symbols.iter() {
        if sym.is_undefined(endian) {
            continue;
        }
        let Ok(name) = sym.name(endian, strings) else {
            continue;
        };
        // Go ≥ 1.17 names the assembly-ABI wrapper `….abi0`.
        let base = name.strip_suffix(b".abi0").unwrap_or(name);
        if base == CGO_RESOLVER_FUNCTION.as_bytes() {
            scan.cgo_resolver = true;
        } else if name == CGO_RUNTIME_SYMBOL {
            scan.cgo_runtime = true;
        } else if name == GLIBC_START_SYMBOL {
            scan.libc_start_main = true;
        }
    }
    scan
}

/// The symbol table decides when there is one; else Go's function-name table,
/// where names are NUL-separated (it survives `-ldflags=-s -w`).
fn cgo_resolver(symbols: &SymbolScan, function_names: &[u8]) -> Presence {
    if symbols.present {
        return if symbols.cgo_resolver {
            Presence::Found(Source::SymbolTable)
        } else {
            Presence::Absent(Source::SymbolTable)
        };
    }
    let needle = [b"\0", CGO_RESOLVER_FUNCTION.as_bytes(), b"\0"].concat();
    if memchr::memmem::find(function_names, &needle).is_some() {
        Presence::Found(Source::FunctionNames)
    } else if memchr::memmem::find(function_names, b"\0runtime.main\0").is_some() {
        // A function-name table is there (every Go program has runtime.main),
        // and the resolver is not in it.
        Presence::Absent(Source::FunctionNames)
    } else {
        Presence::Unknown
    }
}

fn needed_libraries<'a, H: FileHeader<Endian = Endianness>>(
    table: &SectionTable<'a, H, &'a [u8]>,
    endian: Endianness,
    data: &'a [u8],
) -> Vec<String> {
    let Ok(dynamic) = table.dynamic_table(endian, data) else {
        return Vec::new();
    };
    dynamic
        .dynamics()
        .iter()
        .take_while(|d| d.tag(endian) != DT_NULL)
        .filter(|d| d.tag(endian) == DT_NEEDED)
        .filter_map(|d| d.string(endian, *dynamic.strings()).ok())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect()
}

fn slice(data: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    data.get(start..end)
}

fn check_range_fits(
    what: &'static str,
    offset: u64,
    len: u64,
    file_len: usize,
) -> Result<(), ReadError> {
    match offset.checked_add(len) {
        Some(end) if end <= file_len as u64 => Ok(()),
        end => Err(truncated(what, end.unwrap_or(u64::MAX), file_len)),
    }
}

fn truncated(what: &'static str, needed: u64, len: usize) -> ReadError {
    ReadError::Truncated {
        what,
        needed,
        len: len as u64,
    }
}
