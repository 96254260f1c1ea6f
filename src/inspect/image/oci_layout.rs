//! An OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) as an
//! [`ImageSource`]: a directory on disk, or the same files inside a tar archive
//! (Docker ≥ 25 writes one with `docker save`).
//!
//! `index.json` may list several images; one is picked by its
//! `org.opencontainers.image.ref.name` annotation (the `:TAG` of
//! `oci-dir:DIR:TAG`) or containerd's `io.containerd.image.name`, and a layout
//! with one image needs no tag.

use std::collections::HashMap;
use std::io::Read;

use serde::Deserialize;

use super::digest::{Digest, Verified};
use super::manifest::MAX_MANIFEST_BYTES;
use super::reference::ImageName;
use super::source::{ImageSource, SourceError};
use super::store::Store;

/// The annotation OCI tools write the tag (or full name) under.
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation containerd (and Docker ≥ 25's `docker save`) write the full
/// image name under.
const CONTAINERD_NAME: &str = "io.containerd.image.name";

#[derive(Debug, Deserialize)]
struct Index {
    manifests: Vec<IndexEntry>,
}

#[derive(Debug, Deserialize)]
struct IndexEntry {
    digest: Digest,
    size: u64,
    #[serde(default)]
    annotations: HashMap<String, String>,
}

impl IndexEntry {
    fn names(&self) -> impl Iterator<Item = &str> {
        [REF_NAME, CONTAINERD_NAME]
            .into_iter()
            .filter_map(|key| self.annotations.get(key).map(String::as_str))
    }

    /// Whether the entry carries `wanted` as its tag or as its full name.
    fn is_named(&self, wanted: &str) -> bool {
        self.names()
            .any(|name| name == wanted || ImageName::same(name, wanted))
    }

    /// The image's full name, when the layout records one.
    fn image_name(&self) -> Option<String> {
        self.annotations
            .get(CONTAINERD_NAME)
            .or_else(|| self.annotations.get(REF_NAME).filter(|n| n.contains('/')))
            .cloned()
    }
}

/// One image of an OCI layout.
pub struct OciLayout<S> {
    store: S,
    description: String,
    top: Digest,
    top_size: u64,
    image_name: Option<String>,
}

impl<S: Store> OciLayout<S> {
    /// Opens the layout in `store` and picks the image named `tag` (or its one
    /// image). `description` names the input in messages.
    pub fn open(store: S, description: String, tag: Option<&str>) -> Result<Self, SourceError> {
        if !store.has("oci-layout") {
            return Err(SourceError::Invalid {
                what: description,
                detail: "no oci-layout file: not an OCI image layout".into(),
            });
        }
        let bytes = store.read_small("index.json", MAX_MANIFEST_BYTES as u64)?;
        let index: Index = serde_json::from_slice(&bytes).map_err(|e| SourceError::Invalid {
            what: format!("{description}: index.json"),
            detail: e.to_string(),
        })?;
        let entry = pick(&index.manifests, tag, &description)?;
        Ok(OciLayout {
            top: entry.digest.clone(),
            top_size: entry.size,
            image_name: entry.image_name(),
            store,
            description,
        })
    }

    /// The image's full name, when the layout records one (for a policy entry).
    pub fn image_name(&self) -> Option<&str> {
        self.image_name.as_deref()
    }

    fn blob_path(digest: &Digest) -> String {
        format!("blobs/sha256/{}", digest.hex())
    }

    fn read_manifest(&self, digest: &Digest, size: Option<u64>) -> Result<Vec<u8>, SourceError> {
        let mut bytes = Vec::new();
        self.blob(digest, size)?
            .take(MAX_MANIFEST_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| SourceError::Invalid {
                what: format!("manifest {digest}"),
                detail: e.to_string(),
            })?;
        Ok(bytes)
    }
}

fn pick<'i>(
    entries: &'i [IndexEntry],
    tag: Option<&str>,
    description: &str,
) -> Result<&'i IndexEntry, SourceError> {
    let found = match tag {
        Some(tag) => entries.iter().find(|entry| entry.is_named(tag)),
        None if entries.len() == 1 => entries.first(),
        None => None,
    };
    found.ok_or_else(|| {
        let names: Vec<&str> = entries.iter().filter_map(|e| e.names().next()).collect();
        let has = if names.is_empty() {
            format!("{} unnamed", entries.len())
        } else {
            names.join(", ")
        };
        SourceError::NotFound {
            what: match tag {
                Some(tag) => format!("image {tag:?} in {description} (it has: {has})"),
                None => format!("a single image in {description}: name one (it has: {has})"),
            },
        }
    })
}

impl<S: Store> ImageSource for OciLayout<S> {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn manifest(&self, digest: Option<&Digest>) -> Result<Vec<u8>, SourceError> {
        match digest {
            None => self.read_manifest(&self.top, Some(self.top_size)),
            Some(digest) => self.read_manifest(digest, None),
        }
    }

    fn blob<'a>(
        &'a self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Box<dyn Read + Send + 'a>, SourceError> {
        let (reader, _) =
            self.store
                .open(&Self::blob_path(digest))
                .map_err(|error| match error {
                    SourceError::NotFound { .. } => SourceError::NotFound {
                        what: format!("blob {digest}"),
                    },
                    other => other,
                })?;
        Ok(Box::new(Verified::new(reader, digest.clone(), size)))
    }
}
