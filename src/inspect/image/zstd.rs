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
            match self.decoder.reset(&mut self.source) {
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
    fn garbage_is_an_error() {
        let mut out = Vec::new();
        let error = ZstdFrames::new(&b"not zstd at all"[..])
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(error.to_string().starts_with("corrupt zstd"), "{error}");
    }
}
