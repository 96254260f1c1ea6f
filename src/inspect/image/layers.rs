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

/// Most bytes an image's layers may expand to, all layers together: the
/// largest images run (CUDA, ML stacks) stay well within it, while a
/// compression bomb of a few MB would otherwise keep a reader busy for hours.
pub const MAX_EXPANDED_BYTES: u64 = 64 << 30;

/// Most links and executables an image may hold (what the tree keeps): a
/// large distribution image has a few tens of thousands, while tar headers
/// compress so well that a small layer could otherwise fill memory with them.
pub const MAX_KEPT_ENTRIES: usize = 500_000;

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
    #[error("{0}")]
    Bound(String),
}

/// What one image's layers may cost, besides the largest file read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bounds {
    expanded_bytes: u64,
    kept_entries: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            expanded_bytes: MAX_EXPANDED_BYTES,
            kept_entries: MAX_KEPT_ENTRIES,
        }
    }
}

/// Reads every layer of an image, bottom first, into the tree of what the
/// image holds.
pub fn read_layers(
    source: &dyn ImageSource,
    layers: &[LayerRef],
    max_file_bytes: u64,
) -> Result<Tree, LayerError> {
    read_layers_within(source, layers, max_file_bytes, Bounds::default())
}

fn read_layers_within(
    source: &dyn ImageSource,
    layers: &[LayerRef],
    max_file_bytes: u64,
    bounds: Bounds,
) -> Result<Tree, LayerError> {
    let mut tree = Tree::new();
    let mut expand_left = bounds.expanded_bytes;
    for (index, layer) in layers.iter().enumerate() {
        let walk = Walk {
            index,
            max_file_bytes,
            expand_left: &mut expand_left,
            bounds,
        };
        read_layer(source, layer, walk, &mut tree).map_err(|fault| LayerError {
            number: index + 1,
            count: layers.len(),
            digest: layer.digest.clone(),
            detail: fault.to_string(),
        })?;
    }
    Ok(tree)
}

/// One layer's place in the walk, and what is left of the image's budget.
struct Walk<'b> {
    index: usize,
    max_file_bytes: u64,
    expand_left: &'b mut u64,
    bounds: Bounds,
}

fn read_layer(
    source: &dyn ImageSource,
    layer: &LayerRef,
    walk: Walk<'_>,
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
        let stream = Capped {
            inner: stream,
            left: walk.expand_left,
            bound: walk.bounds.expanded_bytes,
        };
        let mut archive = tar::Archive::new(stream);
        for entry in archive.entries()? {
            visit(&mut entry?, walk.index, walk.max_file_bytes, tree)?;
            if tree.kept() > walk.bounds.kept_entries {
                return Err(Fault::Bound(format!(
                    "more than {} links and executables; no image a node runs holds as many",
                    walk.bounds.kept_entries
                )));
            }
        }
        // The tar's padding and the compressed stream's trailer.
        io::copy(&mut archive.into_inner(), &mut io::sink())?;
    }
    // Whatever follows the compressed stream: the digest covers it too.
    io::copy(&mut blob, &mut io::sink())?;
    Ok(())
}

/// A decompressed stream that fails once the image's budget of expanded
/// bytes ([`MAX_EXPANDED_BYTES`]) is spent.
struct Capped<'b, R> {
    inner: R,
    left: &'b mut u64,
    bound: u64,
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the layers expand to more than {} bytes; no image a node runs is as large",
                    self.bound
                ),
            )
        })?;
        Ok(n)
    }
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

    /// A plain tar of `count` symbolic links.
    fn links(count: usize) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for i in 0..count {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            header.set_mode(0o777);
            tar.append_link(&mut header, format!("usr/bin/l{i}"), "/bin/true")
                .unwrap();
        }
        tar.into_inner().unwrap()
    }

    fn read_within(blob: Vec<u8>, bounds: Bounds) -> Result<Tree, LayerError> {
        let layer = LayerRef {
            digest: Digest::of(&blob),
            size: blob.len() as u64,
            compression: Compression::None,
        };
        read_layers_within(&OneBlob(blob), &[layer], 1 << 30, bounds)
    }

    #[test]
    fn an_image_over_its_bounds_is_refused_saying_which() {
        let roomy = Bounds {
            expanded_bytes: 1 << 20,
            kept_entries: 100,
        };
        assert_eq!(read_within(links(100), roomy).unwrap().kept(), 100);
        let error = read_within(links(101), roomy).unwrap_err().to_string();
        assert!(error.starts_with("layer 1 of 1 (sha256:"), "{error}");
        assert!(
            error.ends_with(
                "more than 100 links and executables; no image a node runs holds as many"
            ),
            "{error}"
        );
        // The expansion budget counts every byte the tar stream gives.
        let tar = links(10);
        let tight = Bounds {
            expanded_bytes: tar.len() as u64 - 1,
            kept_entries: 100,
        };
        let error = read_within(tar, tight).unwrap_err().to_string();
        assert!(error.contains("the layers expand to more than"), "{error}");
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
