//! The layer walk: each layer streamed once, bottom first, into a [`Tree`].
//!
//! A layer is decompressed as it is read and its tar entries visited in
//! order. An executable regular file is sniffed for the ELF magic before
//! anything is buffered; an ELF one within `max_file_bytes` is read whole,
//! handed to the build-info reader, and only the small result ([`Found`]) is
//! kept. Everything else passes through without being held, so memory follows
//! the largest executable read, not the size of a layer.
//!
//! Every layer is read to the end of its blob, past the tar's end-of-archive
//! blocks and the compressed stream's trailer, because the blob's digest and
//! size are checked only there ([`super::Verified`]): nothing drawn from a
//! layer is trusted before that check passes.

use std::io::{self, BufReader, Read};

use flate2::read::MultiGzDecoder;

use netdns_guard_buildinfo::{self as buildinfo, ReadError};

use super::digest::Digest;
use super::manifest::{Compression, LayerRef};
use super::source::{ImageSource, SourceError};
use super::tree::{BadName, Found, Node, Tree, normalize};
use super::zstd::ZstdFrames;

/// The ELF magic, sniffed before a file is buffered.
const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// Most buffer reserved for a file before its bytes arrive.
const MAX_UPFRONT_BUFFER: u64 = 64 << 20;

/// Why a layer could not be read.
#[derive(Debug, thiserror::Error)]
#[error("layer {number} of {count} ({digest}): {detail}")]
pub struct LayerError {
    /// 1-based, bottom first.
    pub number: usize,
    /// How many layers the image has.
    pub count: usize,
    /// The layer blob's digest.
    pub digest: Digest,
    /// What went wrong.
    pub detail: String,
}

/// What went wrong inside one layer.
#[derive(Debug, thiserror::Error)]
enum Fault {
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Name(#[from] BadName),
}

/// Reads every layer of an image, bottom first, into the tree of what the
/// image holds.
pub fn read_layers(
    source: &dyn ImageSource,
    layers: &[LayerRef],
    max_file_bytes: u64,
) -> Result<Tree, LayerError> {
    let mut tree = Tree::new();
    for (index, layer) in layers.iter().enumerate() {
        read_layer(source, layer, index, max_file_bytes, &mut tree).map_err(|fault| {
            LayerError {
                number: index + 1,
                count: layers.len(),
                digest: layer.digest.clone(),
                detail: fault.to_string(),
            }
        })?;
    }
    Ok(tree)
}

fn read_layer(
    source: &dyn ImageSource,
    layer: &LayerRef,
    index: usize,
    max_file_bytes: u64,
    tree: &mut Tree,
) -> Result<(), Fault> {
    let mut blob = source.blob(&layer.digest, Some(layer.size))?;
    {
        let stream: Box<dyn Read + '_> = match layer.compression {
            Compression::None => Box::new(&mut blob),
            // Every member, as containerd's (Go's) gzip reader reads a layer.
            Compression::Gzip => Box::new(MultiGzDecoder::new(&mut blob)),
            Compression::Zstd => Box::new(ZstdFrames::new(BufReader::new(&mut blob))),
        };
        let mut archive = tar::Archive::new(stream);
        for entry in archive.entries()? {
            visit(&mut entry?, index, max_file_bytes, tree)?;
        }
        // The tar's padding and the compressed stream's trailer.
        io::copy(&mut archive.into_inner(), &mut io::sink())?;
    }
    // Whatever follows the compressed stream: the digest covers it too.
    io::copy(&mut blob, &mut io::sink())?;
    Ok(())
}

/// Applies one tar entry to the tree.
fn visit<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    layer: usize,
    max_file_bytes: u64,
    tree: &mut Tree,
) -> Result<(), Fault> {
    let Some(path) = normalize(&String::from_utf8_lossy(&entry.path_bytes()))? else {
        return Ok(());
    };
    if tree.apply_whiteout(&path, layer) {
        return Ok(());
    }
    let kind = entry.header().entry_type();
    let node = if kind.is_symlink() {
        entry
            .link_name_bytes()
            .map(|target| Node::Symlink(String::from_utf8_lossy(&target).into_owned()))
    } else if kind.is_hard_link() {
        // A hard link is the same file: it takes what its target holds.
        let target = entry
            .link_name_bytes()
            .map(|target| normalize(&String::from_utf8_lossy(&target)))
            .transpose()?
            .flatten();
        target.and_then(|target| tree.get(&target).cloned())
    } else if (kind.is_file() || kind.is_contiguous()) && entry.header().mode()? & 0o111 != 0 {
        let claimed = entry.size();
        Some(Node::Executable(read_executable(
            entry,
            claimed,
            max_file_bytes,
        )?))
    } else {
        None
    };
    tree.put(path, layer, node);
    Ok(())
}

/// Sniffs, then (when ELF and within the bound) reads and inspects one file
/// whose tar header claims `claimed` bytes.
fn read_executable(entry: &mut impl Read, claimed: u64, max_file_bytes: u64) -> io::Result<Found> {
    let mut magic = [0u8; 4];
    if read_up_to(entry, &mut magic)? < magic.len() || &magic != ELF_MAGIC {
        return Ok(Found::NotElf);
    }
    // The header's claim sizes the buffer, within a bound: a hostile header
    // cannot make us allocate before the bytes arrive.
    let reserve = claimed.min(max_file_bytes).min(MAX_UPFRONT_BUFFER);
    let mut bytes = Vec::with_capacity(usize::try_from(reserve).unwrap_or(0));
    bytes.extend_from_slice(&magic);
    entry
        .take(max_file_bytes.saturating_sub(4).saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_file_bytes {
        // Count the rest without holding it, so the report can say how big.
        let rest = io::copy(entry, &mut io::sink())?;
        return Ok(Found::TooLarge {
            size: bytes.len() as u64 + rest,
        });
    }
    Ok(found_in(&bytes))
}

/// What the build-info reader says about one executable's bytes.
pub fn found_in(bytes: &[u8]) -> Found {
    match buildinfo::read(bytes) {
        Ok(binary) => Found::Go {
            binary: Box::new(binary),
        },
        Err(ReadError::NotElf) => Found::NotElf,
        Err(error @ ReadError::NotGo(_)) => Found::NotGo {
            why: error.to_string(),
        },
        Err(error) => Found::Damaged {
            error: error.to_string(),
        },
    }
}

/// Reads until `buf` is full or the stream ends; how many bytes came.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::image::Verified;

    /// A source holding one blob.
    struct OneBlob(Vec<u8>);

    impl ImageSource for OneBlob {
        fn describe(&self) -> String {
            "one blob".into()
        }

        fn manifest(&self, _: Option<&Digest>) -> Result<Vec<u8>, SourceError> {
            Err(SourceError::NotFound {
                what: "manifest".into(),
            })
        }

        fn blob<'a>(
            &'a self,
            digest: &Digest,
            size: Option<u64>,
        ) -> Result<Box<dyn Read + Send + 'a>, SourceError> {
            Ok(Box::new(Verified::new(&self.0[..], digest.clone(), size)))
        }
    }

    fn read(blob: Vec<u8>, compression: Compression) -> Result<Tree, LayerError> {
        let layer = LayerRef {
            digest: Digest::of(&blob),
            size: blob.len() as u64,
            compression,
        };
        read_layers(&OneBlob(blob), &[layer], 1 << 30)
    }

    #[test]
    fn a_header_claiming_a_terabyte_is_an_error_not_an_allocation() {
        let mut header = tar::Header::new_gnu();
        header.set_path("bin/agent").unwrap();
        header.set_mode(0o755);
        header.set_size(1 << 40);
        header.set_cksum();
        let blob = [header.as_bytes(), &b"\x7fELF"[..], &[0u8; 2000]].concat();
        let error = read(blob, Compression::None).unwrap_err().to_string();
        assert!(error.starts_with("layer 1 of 1 (sha256:"), "{error}");
    }

    #[test]
    fn what_is_not_gzip_or_zstd_is_an_error() {
        for compression in [Compression::Gzip, Compression::Zstd] {
            let error = read(b"plain text, not compressed".to_vec(), compression)
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("layer 1 of 1"), "{error}");
        }
    }
}
