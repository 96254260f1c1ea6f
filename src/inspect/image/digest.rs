//! Content digests (`sha256:<64 hex>`), and a reader that checks one.
//!
//! Every blob an image source hands out is read through [`Verified`], so a
//! layer whose bytes do not match the digest its manifest names fails the read
//! at its end, before anything drawn from it can be cached or reported.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A content digest. Only `sha256` is accepted: it is what every registry,
/// OCI layout and `docker save` archive writes, and accepting an algorithm we
/// cannot check would let a blob go unverified.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    /// The 64 lowercase hex digits, without `sha256:`.
    hex: String,
}

/// Why a string is not a digest we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("digest {given:?} is not sha256:<64 lowercase hex digits>")]
pub struct BadDigest {
    /// The string as given (cut to 100 characters).
    pub given: String,
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest {
            hex: format!("{:x}", Sha256::digest(bytes)),
        }
    }

    /// The hex digits alone: the file name under `blobs/sha256/` in an OCI
    /// layout and in the cache.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl FromStr for Digest {
    type Err = BadDigest;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix("sha256:").unwrap_or("");
        let well_formed =
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if well_formed {
            Ok(Digest {
                hex: hex.to_owned(),
            })
        } else {
            Err(BadDigest {
                given: s.chars().take(100).collect(),
            })
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Reads a blob and checks, at its end, that it had the expected size and
/// digest. A mismatch is an `InvalidData` error from the read that reached the
/// end, so a caller that reads to EOF cannot miss it.
pub struct Verified<R> {
    inner: R,
    expected: Digest,
    expected_size: Option<u64>,
    hasher: Sha256,
    read: u64,
    checked: bool,
}

impl<R: Read> Verified<R> {
    /// Wraps `inner`, which must yield the blob named by `expected` (and of
    /// `expected_size` bytes, when the manifest gives the size).
    pub fn new(inner: R, expected: Digest, expected_size: Option<u64>) -> Self {
        Verified {
            inner,
            expected,
            expected_size,
            hasher: Sha256::new(),
            read: 0,
            checked: false,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    fn check(&mut self) -> io::Result<()> {
        if self.checked {
            return Ok(());
        }
        self.checked = true;
        if let Some(size) = self.expected_size.filter(|&size| size != self.read) {
            return Err(invalid(format!(
                "blob {} is {} bytes, the manifest says {size}",
                self.expected, self.read
            )));
        }
        let actual = Digest {
            hex: format!("{:x}", self.hasher.clone().finalize()),
        };
        if actual != self.expected {
            return Err(invalid(format!(
                "blob has digest {actual}, the manifest says {}",
                self.expected
            )));
        }
        Ok(())
    }
}

impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A blob longer than its manifest says is cut off here rather than
        // read to the end: a hostile source cannot make us read forever.
        let room = match self.expected_size {
            Some(size) => usize::try_from(size.saturating_sub(self.read) + 1)
                .unwrap_or(usize::MAX)
                .min(buf.len()),
            None => buf.len(),
        };
        let n = self.inner.read(&mut buf[..room])?;
        self.read += n as u64;
        if n == 0 || self.expected_size.is_some_and(|size| self.read > size) {
            self.check()?;
            return Ok(0);
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_sha256() {
        let text = format!("sha256:{}", "ab".repeat(32));
        let digest: Digest = text.parse().unwrap();
        assert_eq!(digest.to_string(), text);
        assert_eq!(digest.hex(), "ab".repeat(32));
    }

    #[test]
    fn refuses_other_algorithms_and_bad_hex() {
        for bad in [
            format!("sha512:{}", "ab".repeat(32)),
            format!("sha256:{}", "AB".repeat(32)),
            format!("sha256:{}", "ab".repeat(31)),
            format!("sha256:../{}", "ab".repeat(31)),
            String::new(),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }

    fn read_all(blob: &[u8], expected: Digest, size: Option<u64>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Verified::new(blob, expected, size).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn a_matching_blob_reads_through() {
        let blob = b"layer bytes";
        let out = read_all(blob, Digest::of(blob), Some(blob.len() as u64)).unwrap();
        assert_eq!(out, blob);
    }

    #[test]
    fn a_wrong_digest_fails_the_read_at_the_end() {
        let error = read_all(b"layer bytes", Digest::of(b"other"), None).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(
            error.to_string().contains("the manifest says sha256:"),
            "{error}"
        );
    }

    #[test]
    fn a_short_or_long_blob_fails_on_size() {
        let blob = b"layer bytes";
        for size in [5, 50] {
            let error = read_all(blob, Digest::of(blob), Some(size)).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains(&format!("the manifest says {size}")),
                "{error}"
            );
        }
    }
}
