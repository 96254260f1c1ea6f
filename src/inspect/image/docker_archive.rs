//! A `docker save` archive as an [`ImageSource`], read in place.
//!
//! Docker ≥ 25 writes an OCI layout into the archive (`oci-layout`,
//! `index.json`, `blobs/`): that is read as one ([`OciLayout`]), so its
//! manifest digests are the real ones. Older archives have only
//! `manifest.json` (`Config`, `RepoTags`, `Layers: [<id>/layer.tar]`) and no
//! manifest: one is written from it, in Docker's schema 2, with the config's
//! digest and the layers' digests taken from the config's `rootfs.diff_ids`
//! (`docker save` stores layers uncompressed, so the diff id is the file's
//! digest). That manifest's digest is the cache key; it is stable for the same
//! archive but is not the digest a registry shows.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde_json::json;

use super::digest::{Digest, Verified};
use super::manifest::{MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES};
use super::oci_layout::OciLayout;
use super::reference::ImageName;
use super::source::{ImageSource, SourceError};
use super::store::{Store, TarStore};

/// One image of `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct ConfigRootfs {
    rootfs: Rootfs,
}

#[derive(Debug, Deserialize)]
struct Rootfs {
    diff_ids: Vec<Digest>,
}

/// A `docker save` archive: its OCI layout, or the manifest written for an
/// older one.
pub enum DockerArchive {
    /// Docker ≥ 25: an OCI layout inside the archive.
    Oci(OciLayout<TarStore>),
    /// Older: `manifest.json` only.
    Legacy(Legacy),
}

/// An archive without an OCI layout, and the manifest written for it.
pub struct Legacy {
    store: TarStore,
    description: String,
    manifest: Vec<u8>,
    /// Blob digest → entry name in the archive.
    blobs: HashMap<Digest, String>,
    image_name: Option<String>,
}

/// Whether the file at `path` is a tar archive holding `manifest.json`.
pub fn is_docker_archive(path: &Path) -> bool {
    TarStore::index(path).is_ok_and(|store| store.has("manifest.json"))
}

impl DockerArchive {
    /// Opens the archive at `path`, picking the image named `reference` (or
    /// its one image).
    pub fn open(path: &Path, reference: Option<&str>) -> Result<Self, SourceError> {
        let description = format!("docker-archive:{}", path.display());
        let store = TarStore::index(path).map_err(|e| SourceError::Invalid {
            what: description.clone(),
            detail: format!("not a readable tar archive: {e}"),
        })?;
        if store.has("oci-layout") && store.has("index.json") {
            return OciLayout::open(store, description, reference).map(DockerArchive::Oci);
        }
        Legacy::open(store, description, reference).map(DockerArchive::Legacy)
    }

    /// The image's full name, when the archive records one.
    pub fn image_name(&self) -> Option<&str> {
        match self {
            DockerArchive::Oci(layout) => layout.image_name(),
            DockerArchive::Legacy(legacy) => legacy.image_name.as_deref(),
        }
    }

    fn inner(&self) -> &dyn ImageSource {
        match self {
            DockerArchive::Oci(layout) => layout,
            DockerArchive::Legacy(legacy) => legacy,
        }
    }
}

impl ImageSource for DockerArchive {
    fn describe(&self) -> String {
        self.inner().describe()
    }

    fn manifest(&self, digest: Option<&Digest>) -> Result<Vec<u8>, SourceError> {
        self.inner().manifest(digest)
    }

    fn blob<'a>(
        &'a self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Box<dyn Read + Send + 'a>, SourceError> {
        self.inner().blob(digest, size)
    }
}

impl Legacy {
    fn open(
        store: TarStore,
        description: String,
        reference: Option<&str>,
    ) -> Result<Legacy, SourceError> {
        let invalid = |what: &str, detail: String| SourceError::Invalid {
            what: format!("{description}: {what}"),
            detail,
        };
        let bytes = store.read_small("manifest.json", MAX_MANIFEST_BYTES as u64)?;
        let images: Vec<ArchiveImage> =
            serde_json::from_slice(&bytes).map_err(|e| invalid("manifest.json", e.to_string()))?;
        let image = pick(&images, reference, &description)?;
        let config = store.read_small(&image.config, MAX_CONFIG_BYTES)?;
        let diff_ids = serde_json::from_slice::<ConfigRootfs>(&config)
            .map_err(|e| invalid(&image.config, format!("not an image config: {e}")))?
            .rootfs
            .diff_ids;
        if diff_ids.len() != image.layers.len() {
            return Err(invalid(
                "manifest.json",
                format!(
                    "{} layers, but the config has {} diff ids",
                    image.layers.len(),
                    diff_ids.len()
                ),
            ));
        }
        let config_digest = Digest::of(&config);
        let mut blobs = HashMap::from([(config_digest.clone(), image.config.clone())]);
        let mut layers = Vec::new();
        for (name, diff_id) in image.layers.iter().zip(diff_ids) {
            let (mut reader, size) = store.open(name)?;
            let mut magic = [0u8; 4];
            let got = reader.read(&mut magic).unwrap_or(0);
            layers.push(json!({
                "mediaType": layer_media_type(&magic[..got]),
                "digest": diff_id.to_string(),
                "size": size,
            }));
            blobs.insert(diff_id, name.clone());
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": config_digest.to_string(),
                "size": config.len(),
            },
            "layers": layers,
        });
        let image_name = match reference {
            Some(reference) => Some(reference.to_owned()),
            None => image.repo_tags.iter().flatten().next().cloned(),
        };
        Ok(Legacy {
            store,
            description,
            manifest: manifest.to_string().into_bytes(),
            blobs,
            image_name,
        })
    }
}

/// Layers of `docker save` are plain tars; other tools that write this format
/// may compress them, which the first bytes show.
fn layer_media_type(magic: &[u8]) -> &'static str {
    if magic.starts_with(&[0x1f, 0x8b]) {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    } else {
        "application/vnd.docker.image.rootfs.diff.tar"
    }
}

fn pick<'i>(
    images: &'i [ArchiveImage],
    reference: Option<&str>,
    description: &str,
) -> Result<&'i ArchiveImage, SourceError> {
    let found = match reference {
        Some(wanted) => images.iter().find(|image| {
            image
                .repo_tags
                .iter()
                .flatten()
                .any(|tag| ImageName::same(tag, wanted))
        }),
        None if images.len() == 1 => images.first(),
        None => None,
    };
    found.ok_or_else(|| {
        let tags: Vec<&str> = images
            .iter()
            .flat_map(|image| image.repo_tags.iter().flatten().map(String::as_str))
            .collect();
        SourceError::NotFound {
            what: match reference {
                Some(wanted) => format!(
                    "image {wanted:?} in {description} (it has: {})",
                    tags.join(", ")
                ),
                None => format!(
                    "a single image in {description}: name one (it has: {})",
                    tags.join(", ")
                ),
            },
        }
    })
}

impl ImageSource for Legacy {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn manifest(&self, digest: Option<&Digest>) -> Result<Vec<u8>, SourceError> {
        match digest {
            Some(digest) if *digest != Digest::of(&self.manifest) => Err(SourceError::NotFound {
                what: format!("manifest {digest}"),
            }),
            _ => Ok(self.manifest.clone()),
        }
    }

    fn blob<'a>(
        &'a self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Box<dyn Read + Send + 'a>, SourceError> {
        let name = self
            .blobs
            .get(digest)
            .ok_or_else(|| SourceError::NotFound {
                what: format!("blob {digest}"),
            })?;
        let (reader, _) = self.store.open(name)?;
        Ok(Box::new(Verified::new(reader, digest.clone(), size)))
    }
}
