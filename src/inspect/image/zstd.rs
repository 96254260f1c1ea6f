//! A zstd stream of any number of frames, as a reader.
//!
//! zstd layers may hold several frames and skippable frames (`zstd:chunked`
//! writes both); `ruzstd`'s `StreamingDecoder` reads one frame, so this loops
//! over them. `ruzstd` is pure Rust: no C decoder runs on untrusted layer bytes,
//! and the crate needs no C toolchain to build.

use std::io::{self, BufRead, Read};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

/// Decompressed bytes of every frame of `source`, in order.
pub struct ZstdFrames<R> {
    source: R,
    decoder: FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    /// Reads the frames of `source`.
    pub fn new(source: R) -> Self {
        ZstdFrames {
            source,
            decoder: FrameDecoder::new(),
            in_frame: false,
        }
    }

    /// Starts the next frame; `false` at the end of the stream.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            // The header is read here first, so its window is checked before the
            // decoder sees it, then handed to the decoder ahead of the rest.
            let header = frame_header(&mut self.source)?;
            match self.decoder.reset(header.chain(&mut self.source)) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped =
                        io::copy(&mut (&mut self.source).take(length.into()), &mut io::sink())?;
                    if skipped < u64::from(length) {
                        return Err(corrupt("truncated skippable frame"));
                    }
                }
                Err(error) => return Err(corrupt(error)),
            }
        }
    }
}

/// The largest window a frame may ask for, in bytes. The decoder keeps a
/// window of history in memory, so this bounds what one layer costs:
/// `zstd -21` (64 MiB) is the largest level within it; `--ultra -22` and
/// `--long` (128 MiB) are refused. `ruzstd` checks its own bound (100 MiB)
/// on every frame but the first, which is why the check is here.
pub const MAX_WINDOW: u64 = 64 << 20;

/// A zstd frame's magic number, little-endian.
const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Reads a frame's header from `source` (RFC 8878, 3.1.1.1), refusing a window
/// over [`MAX_WINDOW`]; returns the bytes read. What is not a zstd frame (a
/// skippable frame, garbage) is returned after its first four bytes, for the
/// decoder to handle or refuse.
fn frame_header(source: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut header = vec![0; 5];
    read_header_bytes(source, &mut header[..4])?;
    if header[..4] != MAGIC {
        header.truncate(4);
        return Ok(header);
    }
    read_header_bytes(source, &mut header[4..])?;
    let descriptor = header[4];
    let single_segment = descriptor & 0x20 != 0;
    let dictionary_bytes = [0, 1, 2, 4][usize::from(descriptor & 0x03)];
    let content_size_bytes = match descriptor >> 6 {
        0 => usize::from(single_segment),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let rest = usize::from(!single_segment) + dictionary_bytes + content_size_bytes;
    header.resize(5 + rest, 0);
    read_header_bytes(source, &mut header[5..])?;
    let window = if single_segment {
        // The window is the content size, the header's last field.
        let field = &header[header.len() - content_size_bytes..];
        let mut bytes = [0u8; 8];
        bytes[..field.len()].copy_from_slice(field);
        let size = u64::from_le_bytes(bytes);
        if content_size_bytes == 2 {
            size + 256
        } else {
            size
        }
    } else {
        let window_descriptor = header[5];
        let base = 1u64 << (10 + u32::from(window_descriptor >> 3));
        base + base / 8 * u64::from(window_descriptor & 0x07)
    };
    if window > MAX_WINDOW {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "a zstd frame asks for a {} MiB window, over the {} MiB this reader \
                 allows (zstd --ultra -22 and --long write such frames)",
                window >> 20,
                MAX_WINDOW >> 20
            ),
        ));
    }
    Ok(header)
}

fn read_header_bytes(source: &mut impl Read, into: &mut [u8]) -> io::Result<()> {
    source.read_exact(into).map_err(|error| match error.kind() {
        io::ErrorKind::UnexpectedEof => corrupt("truncated frame header"),
        _ => error,
    })
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if !self.next_frame()? {
                    return Ok(0);
                }
                self.in_frame = true;
            }
            // Decode until something can be handed out (a block may be all
            // window bookkeeping) or the frame ends.
            while self.decoder.can_collect() == 0 && !self.decoder.is_finished() {
                self.decoder
                    .decode_blocks(
                        &mut self.source,
                        BlockDecodingStrategy::UptoBytes(buf.len().max(1 << 16)),
                    )
                    .map_err(corrupt)?;
            }
            let n = self.decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            self.in_frame = false;
        }
    }
}

fn corrupt(error: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("corrupt zstd: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruzstd::encoding::{CompressionLevel, compress_to_vec};

    #[test]
    fn frames_and_skippable_frames_read_as_one_stream() {
        let one = compress_to_vec(&b"first frame "[..], CompressionLevel::Fastest);
        let two = compress_to_vec(&vec![7u8; 300_000][..], CompressionLevel::Fastest);
        // A skippable frame: magic 0x184D2A50, length 3, three bytes.
        let skip = [0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3];
        let stream = [&one[..], &skip, &two].concat();
        let mut out = Vec::new();
        ZstdFrames::new(&stream[..]).read_to_end(&mut out).unwrap();
        assert_eq!(&out[..12], b"first frame ");
        assert_eq!(out.len(), 12 + 300_000);
    }

    #[test]
    fn a_window_over_the_bound_is_refused_saying_so() {
        // Magic, a header with a window descriptor and no content size, the
        // descriptor 0x88 (2^(10+17) = 128 MiB, what `--ultra -22` declares),
        // then one empty last raw block.
        let frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x88, 0x01, 0x00, 0x00];
        let mut out = Vec::new();
        let error = ZstdFrames::new(&frame[..])
            .read_to_end(&mut out)
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("a zstd frame asks for a 128 MiB window, over the 64 MiB"),
            "{message}"
        );
        // The same frame with a 64 MiB window (0x80) is read: it is empty.
        let frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x80, 0x01, 0x00, 0x00];
        let mut out = Vec::new();
        ZstdFrames::new(&frame[..]).read_to_end(&mut out).unwrap();
        assert!(out.is_empty());
        // A single-segment frame's window is its content size: 256 MiB
        // declared in a 4-byte field (descriptor 0xa0) is refused, as a
        // second frame after a good one.
        let big = [
            0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0x00, 0x00, 0x00, 0x10, 0x01, 0x00, 0x00,
        ];
        let stream = [&frame[..], &big[..]].concat();
        let error = ZstdFrames::new(&stream[..])
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(
            error.to_string().contains("asks for a 256 MiB window"),
            "{error}"
        );
        // A header cut short says so.
        let error = ZstdFrames::new(&frame[..5])
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(error.to_string(), "corrupt zstd: truncated frame header");
        let frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x80, 0x01, 0x00, 0x00];
        let mut out = Vec::new();
        ZstdFrames::new(&frame[..]).read_to_end(&mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn garbage_is_an_error() {
        let mut out = Vec::new();
        let error = ZstdFrames::new(&b"not zstd at all"[..])
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(error.to_string().starts_with("corrupt zstd"), "{error}");
    }
}
