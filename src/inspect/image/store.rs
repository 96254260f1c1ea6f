//! Files of a local image store, by name: a directory on disk, or the entries
//! of a tar archive read in place (a `docker save` file is never extracted).
//!
//! An archive is indexed once — each entry's name, data offset and size, its
//! data skipped by seeking — and an entry is then read by opening the archive
//! again at that offset, so blobs are read one at a time, in any order.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::source::SourceError;
use super::tree::normalize;

/// Most entries an archive index holds: `docker save` writes a handful per
/// layer; more is not an image archive.
const MAX_ARCHIVE_ENTRIES: usize = 1 << 20;

/// A store of named files.
pub trait Store: Send + Sync {
    /// The file named `name` (a `/`-separated relative path) and its size.
    fn open(&self, name: &str) -> Result<(Box<dyn Read + Send + '_>, u64), SourceError>;

    /// Whether the store holds `name`.
    fn has(&self, name: &str) -> bool;

    /// Reads `name` whole, refusing more than `limit` bytes.
    fn read_small(&self, name: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
        let (reader, size) = self.open(name)?;
        if size > limit {
            return Err(SourceError::Invalid {
                what: name.to_owned(),
                detail: format!("{size} bytes, over the {limit}-byte limit"),
            });
        }
        let mut bytes = Vec::new();
        reader
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| unavailable(name, &e))?;
        Ok(bytes)
    }
}

/// A directory on disk.
#[derive(Debug)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// The files under `root`.
    pub fn new(root: &Path) -> DirStore {
        DirStore {
            root: root.to_owned(),
        }
    }

    fn path(&self, name: &str) -> Result<PathBuf, SourceError> {
        // Names come from the image's own documents: keep them inside.
        match normalize(name) {
            Ok(Some(clean)) => Ok(self.root.join(clean)),
            _ => Err(SourceError::Invalid {
                what: name.to_owned(),
                detail: "not a path inside the layout".into(),
            }),
        }
    }
}

impl Store for DirStore {
    fn open(&self, name: &str) -> Result<(Box<dyn Read + Send + '_>, u64), SourceError> {
        let path = self.path(name)?;
        let file = File::open(&path).map_err(|e| io_error(name, &e))?;
        let size = file.metadata().map_err(|e| io_error(name, &e))?.len();
        Ok((Box::new(file), size))
    }

    fn has(&self, name: &str) -> bool {
        self.path(name).is_ok_and(|path| path.is_file())
    }
}

/// The entries of a tar archive, read in place.
#[derive(Debug)]
pub struct TarStore {
    path: PathBuf,
    /// Name → (offset of the data in the archive, size).
    entries: HashMap<String, (u64, u64)>,
}

impl TarStore {
    /// Indexes the archive at `path`: one pass over its headers, seeking past
    /// the data. Symbolic links between entries (old `docker save` links
    /// repeated layers) are resolved to their target's data.
    pub fn index(path: &Path) -> io::Result<TarStore> {
        let file = File::open(path)?;
        let mut archive = tar::Archive::new(file);
        let mut entries = HashMap::new();
        let mut links = Vec::new();
        for entry in archive.entries_with_seek()? {
            let entry = entry?;
            if entries.len() >= MAX_ARCHIVE_ENTRIES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "more than a million entries: not an image archive",
                ));
            }
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Ok(Some(name)) = normalize(&name) else {
                continue;
            };
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                if let Some(target) = entry.link_name_bytes() {
                    let target = String::from_utf8_lossy(&target).into_owned();
                    links.push((name, kind.is_symlink(), target));
                }
            } else if kind.is_file() || kind.is_contiguous() {
                entries.insert(name, (entry.raw_file_position(), entry.size()));
            }
        }
        for (name, relative, target) in links {
            let dir = name.rsplit_once('/').map_or("", |(dir, _)| dir);
            let joined = if relative {
                format!("{dir}/{target}")
            } else {
                target
            };
            let resolved = resolve_dots(&joined);
            if let Some(&data) = resolved.as_ref().and_then(|t| entries.get(t)) {
                entries.insert(name, data);
            }
        }
        Ok(TarStore {
            path: path.to_owned(),
            entries,
        })
    }
}

/// `a/b/../c` → `a/c`; `None` when `..` climbs out of the archive.
fn resolve_dots(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

impl Store for TarStore {
    fn open(&self, name: &str) -> Result<(Box<dyn Read + Send + '_>, u64), SourceError> {
        let &(offset, size) = normalize(name)
            .ok()
            .flatten()
            .and_then(|clean| self.entries.get(&clean))
            .ok_or_else(|| SourceError::NotFound {
                what: format!("{name} in the archive"),
            })?;
        let mut file = File::open(&self.path).map_err(|e| io_error(name, &e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| io_error(name, &e))?;
        Ok((Box::new(file.take(size)), size))
    }

    fn has(&self, name: &str) -> bool {
        normalize(name)
            .ok()
            .flatten()
            .is_some_and(|clean| self.entries.contains_key(&clean))
    }
}

fn io_error(name: &str, error: &io::Error) -> SourceError {
    if error.kind() == io::ErrorKind::NotFound {
        SourceError::NotFound {
            what: name.to_owned(),
        }
    } else {
        unavailable(name, error)
    }
}

fn unavailable(name: &str, error: &io::Error) -> SourceError {
    SourceError::Unavailable {
        what: name.to_owned(),
        detail: error.to_string(),
    }
}
