//! Findings kept on disk by image manifest digest, so a second `inspect` of
//! the same image reads no layer.
//!
//! A manifest digest names the layers' digests, so the findings of an image
//! never go stale; only a change in what `inspect` records (the format
//! version, part of the file name) or in `--max-file-bytes` (stored, and
//! compared) makes an entry unusable. Entries are written only from a read
//! whose every layer passed its digest check, through a temporary file renamed
//! into place, so a reader sees a whole entry or none.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::digest::Digest;
use super::findings::Findings;

/// Bumped when [`Findings`] changes shape or meaning.
pub const FORMAT_VERSION: u32 = 1;

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    version: u32,
    manifest_digest: Digest,
    max_file_bytes: u64,
    findings: Findings,
}

impl Cache {
    /// `$XDG_CACHE_HOME/netdns-guard`, else `~/.cache/netdns-guard`; `None`
    /// when neither can be found.
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            // The XDG spec: a relative value is invalid and is ignored.
            .filter(|dir| dir.is_absolute())
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|home| !home.is_empty())
                    .map(|home| PathBuf::from(home).join(".cache"))
            })?;
        Some(base.join("netdns-guard"))
    }

    /// A cache in `dir` (created on the first write).
    pub fn new(dir: &Path) -> Cache {
        Cache {
            dir: dir.to_owned(),
        }
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join(format!("images-v{FORMAT_VERSION}"))
            .join(format!("{}.json", digest.hex()))
    }

    /// The findings stored for the image, if any were stored with the same
    /// size bound. An unreadable or damaged entry counts as none.
    pub fn get(&self, digest: &Digest, max_file_bytes: u64) -> Option<Findings> {
        let bytes = fs::read(self.path(digest)).ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        (entry.version == FORMAT_VERSION
            && entry.manifest_digest == *digest
            && entry.max_file_bytes == max_file_bytes)
            .then_some(entry.findings)
    }

    /// Stores the findings of a fully verified read.
    pub fn put(&self, digest: &Digest, max_file_bytes: u64, findings: &Findings) -> io::Result<()> {
        let path = self.path(digest);
        let dir = path.parent().unwrap_or(&self.dir);
        fs::create_dir_all(dir)?;
        let entry = Entry {
            version: FORMAT_VERSION,
            manifest_digest: digest.clone(),
            max_file_bytes,
            findings: findings.clone(),
        };
        let bytes = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        let temp = dir.join(format!(".{}.{}.tmp", digest.hex(), std::process::id()));
        let written = fs::File::create(&temp).and_then(|mut file| {
            file.write_all(&bytes)?;
            file.sync_all()
        });
        match written.and_then(|()| fs::rename(&temp, &path)) {
            Ok(()) => Ok(()),
            Err(error) => {
                let _ = fs::remove_file(&temp);
                Err(error)
            }
        }
    }
}
