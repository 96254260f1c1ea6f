//! Finding and decoding the build info blob (Go's `debug/buildinfo`,
//! `readRawBuildInfo`).
//!
//! The linker writes a 32-byte header at a 16-byte-aligned offset near the start
//! of the data it chose (`cmd/link/internal/ld.(*Link).buildinfo`): the 14-byte
//! magic `\xff Go buildinf:`, the pointer size, and a flags byte (bit 0 big
//! endian, bit 1 inline). Go ≥ 1.18 writes the two strings right after the
//! header, each a uvarint length and its bytes. Older Go writes two pointers (at
//! 16 and 16 + pointer size) to Go string headers (pointer, length) that live
//! elsewhere in the loaded data and must be followed through the `PT_LOAD`
//! mappings.

use serde::{Deserialize, Serialize};

use crate::elf::Elf;
use crate::{NotGo, ReadError};

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER_LEN: usize = 32;
const ALIGN: usize = 16;
/// How far into the data the header may start (what Go ≤ 1.21 read).
const SEARCH_LIMIT: usize = 64 * 1024;
const FLAG_INLINE: u8 = 2;
/// Each end of the module info is framed by a 16-byte sentinel
/// (`cmd/go/internal/modload.infoStart`, `infoEnd`).
const SENTINEL_LEN: usize = 16;

/// How the blob holds its two strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Encoding {
    /// Inline, after the header (Go ≥ 1.18).
    Inline {
        /// The target's pointer size in bytes, from the header.
        pointer_size: u8,
    },
    /// Pointers to string headers elsewhere in the data (Go < 1.18).
    Pointers {
        /// 4 or 8.
        pointer_size: u8,
        /// Byte order of the pointers.
        big_endian: bool,
    },
}

/// The two strings the blob holds.
pub(crate) struct Raw<'a> {
    pub(crate) go_version: &'a [u8],
    /// Without its sentinels; empty when the binary was not built in module mode.
    pub(crate) modinfo: &'a [u8],
    pub(crate) encoding: Encoding,
}

/// Reads the blob of `elf`.
pub(crate) fn read<'a>(elf: &Elf<'a>) -> Result<Raw<'a>, ReadError> {
    let (addr, size) = elf.data_start().ok_or(NotGo::NoDataSegment)?;
    if size == 0 {
        return Err(NotGo::NoDataSegment.into());
    }
    // The header is looked for in the first 64 KiB; the strings after an inline
    // header may run on (a module with many dependencies), up to the end of the
    // section or segment, as Go ≥ 1.22 reads them.
    let data = elf.read_at(addr, size).ok_or(ReadError::Malformed(
        "the build info data is not in any PT_LOAD segment",
    ))?;
    let header = find_header(data).ok_or(NotGo::NoBuildInfo)?;
    let pointer_size = header[14];
    let flags = header[15];
    let (go_version, modinfo, encoding) = if flags & FLAG_INLINE != 0 {
        let (version, rest) = uvarint_string(&header[HEADER_LEN..]).unwrap_or((&[], &[]));
        let (modinfo, _) = uvarint_string(rest).unwrap_or((&[], &[]));
        (version, modinfo, Encoding::Inline { pointer_size })
    } else {
        // Bit 0 means big endian; Go takes any flags at all to mean it here.
        let big_endian = flags != 0;
        if pointer_size != 4 && pointer_size != 8 {
            return Err(NotGo::PointerSize(pointer_size).into());
        }
        let word = Word {
            size: usize::from(pointer_size),
            big_endian,
        };
        let version = word
            .read(&header[16..])
            .and_then(|p| string_at(elf, word, p))
            .unwrap_or(&[]);
        let modinfo = word
            .read(&header[16 + word.size..])
            .and_then(|p| string_at(elf, word, p))
            .unwrap_or(&[]);
        (
            version,
            modinfo,
            Encoding::Pointers {
                pointer_size,
                big_endian,
            },
        )
    };
    if go_version.is_empty() {
        return Err(NotGo::NoVersion.into());
    }
    Ok(Raw {
        go_version,
        modinfo: strip_sentinels(modinfo),
        encoding,
    })
}

/// The first header that starts at an aligned offset in the first 64 KiB and
/// has room for all 32 bytes, the way Go's search loop finds it; the rest of
/// `data` from there.
fn find_header(data: &[u8]) -> Option<&[u8]> {
    let window_len = data.len().min(SEARCH_LIMIT + MAGIC.len() - 1);
    for i in memchr::memmem::find_iter(&data[..window_len], MAGIC) {
        if data.len() - i < HEADER_LEN {
            return None;
        }
        if i % ALIGN == 0 {
            return (i < SEARCH_LIMIT).then(|| &data[i..]);
        }
    }
    None
}

/// A uvarint length and that many bytes (Go's `decodeString`).
fn uvarint_string(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, used) = uvarint(data)?;
    let rest = &data[used..];
    let len = usize::try_from(len).ok().filter(|&n| n <= rest.len())?;
    Some(rest.split_at(len))
}

/// Go's `binary.Uvarint`: little-endian base-128, at most ten bytes, no overflow.
fn uvarint(data: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, &b) in data.iter().enumerate().take(10) {
        if i == 9 && b > 1 {
            return None;
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some((value, i + 1));
        }
    }
    None
}

/// A target pointer: its size and byte order.
#[derive(Clone, Copy)]
struct Word {
    size: usize,
    big_endian: bool,
}

impl Word {
    fn read(self, bytes: &[u8]) -> Option<u64> {
        let b = bytes.get(..self.size)?;
        let mut v: u64 = 0;
        for i in 0..self.size {
            let byte = if self.big_endian {
                b[i]
            } else {
                b[self.size - 1 - i]
            };
            v = v << 8 | u64::from(byte);
        }
        Some(v)
    }
}

/// The Go string whose header (pointer, length) is at `addr` (Go's
/// `readString`); `None` unless the header and all its bytes are mapped.
fn string_at<'a>(elf: &Elf<'a>, word: Word, addr: u64) -> Option<&'a [u8]> {
    let header_len = 2 * word.size as u64;
    let header = elf.read_at(addr, header_len)?;
    let data_addr = word.read(header)?;
    let len = word.read(header.get(word.size..)?)?;
    let data = elf.read_at(data_addr, len)?;
    (data.len() as u64 == len).then_some(data)
}

/// The module info without its framing, or nothing when it is not framed as Go
/// frames it (Go's check: at least 33 bytes, a newline 17 from the end).
fn strip_sentinels(modinfo: &[u8]) -> &[u8] {
    let n = modinfo.len();
    if n > 2 * SENTINEL_LEN && modinfo[n - SENTINEL_LEN - 1] == b'\n' {
        &modinfo[SENTINEL_LEN..n - SENTINEL_LEN]
    } else {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_matches_go() {
        assert_eq!(uvarint(&[0x00]), Some((0, 1)));
        assert_eq!(uvarint(&[0x96, 0x01]), Some((150, 2)));
        assert_eq!(uvarint(&[0x80]), None);
        assert_eq!(uvarint(&[]), None);
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(uvarint(&max), Some((u64::MAX, 10)));
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(uvarint(&overflow), None);
    }

    #[test]
    fn finds_only_an_aligned_header_with_room() {
        let mut data = vec![0u8; 96];
        data[3..17].copy_from_slice(MAGIC);
        assert!(find_header(&data).is_none());
        data[32..46].copy_from_slice(MAGIC);
        assert_eq!(find_header(&data).map(<[u8]>::len), Some(64));
        let short = &data[..50];
        assert!(find_header(short).is_none());
    }

    #[test]
    fn words_in_both_byte_orders() {
        let le = Word {
            size: 4,
            big_endian: false,
        };
        let be = Word {
            size: 8,
            big_endian: true,
        };
        assert_eq!(le.read(&[1, 2, 3, 4]), Some(0x0403_0201));
        assert_eq!(be.read(&[0, 0, 0, 0, 0, 0, 1, 2]), Some(0x0102));
        assert_eq!(be.read(&[1, 2]), None);
    }

    #[test]
    fn sentinels_are_stripped_only_when_framed() {
        let framed = [&[b'x'; 16][..], b"path\tp\n", b"\n", &[b'y'; 16]].concat();
        assert_eq!(strip_sentinels(&framed), b"path\tp\n\n");
        assert_eq!(strip_sentinels(b"too short"), b"");
    }
}
