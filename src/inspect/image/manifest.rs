//! Manifests, indexes and image configs (OCI image spec and Docker's schema 2),
//! and the walk from a reference to one image per platform.
//!
//! Both formats are read by one set of types: the fields `inspect` needs have
//! the same names in each, and the media type says which is which. Docker's
//! schema 1 (signed manifests, long deprecated) is refused by name.

use std::io::Read;

use serde::{Deserialize, Serialize};

use super::digest::Digest;
use super::platform::{Platform, PlatformChoice};
use super::source::{ImageSource, SourceError};

/// Largest manifest or index read: registries refuse to store larger ones
/// (distribution's limit is 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// Largest image config read: a config is a few KB; 8 MiB leaves room for long
/// histories without letting a hostile one take memory.
pub const MAX_CONFIG_BYTES: u64 = 8 << 20;

/// How deep indexes may nest (an index naming indexes) before we give up.
const MAX_INDEX_DEPTH: usize = 2;

/// Most manifests read under one reference. A real multi-platform image names
/// a dozen at most; a hostile index of thousands of entries, each naming
/// another such index, would otherwise mean millions of fetches.
pub const MAX_MANIFESTS: usize = 64;

/// Most layers an image may have: overlayfs stacks at most 128 (Docker
/// refuses more), so more is no image a node runs, only fetches to make.
pub const MAX_LAYERS: usize = 128;

/// How a layer's tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (Docker's only kind, OCI's `+gzip`).
    Gzip,
    /// zstd (OCI's `+zstd`).
    Zstd,
}

impl Compression {
    /// The compression a layer media type names, if it is a layer we can read.
    pub fn of_media_type(media_type: &str) -> Option<Compression> {
        // OCI: application/vnd.oci.image.layer[.nondistributable].v1.tar[+gzip|+zstd]
        // Docker: application/vnd.docker.image.rootfs[.foreign].diff.tar.gzip
        if media_type.ends_with(".tar+gzip") || media_type.ends_with(".tar.gzip") {
            Some(Compression::Gzip)
        } else if media_type.ends_with(".tar+zstd") {
            Some(Compression::Zstd)
        } else if media_type.ends_with(".tar") {
            Some(Compression::None)
        } else {
            None
        }
    }
}

/// One layer of an image, as its manifest names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerRef {
    /// The compressed blob's digest.
    pub digest: Digest,
    /// The compressed blob's size in bytes.
    pub size: u64,
    /// How its tar stream is compressed.
    pub compression: Compression,
}

/// What an image's config says about how it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageConfig {
    /// `ENTRYPOINT`, empty when unset.
    pub entrypoint: Vec<String>,
    /// `CMD`, empty when unset.
    pub cmd: Vec<String>,
    /// `WORKDIR`, when set.
    pub working_dir: Option<String>,
    /// `ENV`, as `NAME=value` strings.
    pub env: Vec<String>,
}

/// One platform's image: what a reference resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedImage {
    /// The image manifest's digest: the key results are cached under.
    pub manifest_digest: Digest,
    /// The digest the reference resolved to (what a pod pinned by digest, and a
    /// node's `imageID`, name), when what was read is all it names: the
    /// manifest's own, or an index's whose every runnable image was read
    /// (`--platform all`, or an index of one). `None` for one platform read out of
    /// several: the index's digest also names images nobody read, and a verdict
    /// on this one must not speak for them.
    pub reference_digest: Option<Digest>,
    /// The platform its config declares.
    pub platform: Platform,
    /// How it starts.
    pub config: ImageConfig,
    /// Its layers, bottom first.
    pub layers: Vec<LayerRef>,
}

/// A manifest, an index, or Docker's equivalents: the fields we read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    schema_version: Option<u32>,
    media_type: Option<String>,
    manifests: Option<Vec<Descriptor>>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: Digest,
    size: u64,
    platform: Option<Platform>,
}

/// The image config blob: the fields we read.
#[derive(Debug, Deserialize)]
struct ConfigBlob {
    os: String,
    architecture: String,
    variant: Option<String>,
    config: Option<ContainerConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerConfig {
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    working_dir: Option<String>,
    env: Option<Vec<String>>,
}

/// Resolves the source's reference to one image per platform in `choice`.
///
/// An index gives the images whose platform is asked for (attestation entries,
/// `unknown/unknown`, are skipped); a single image manifest is returned as it
/// is, whatever its platform, since that is what a node would run.
pub fn resolve(
    source: &dyn ImageSource,
    choice: &PlatformChoice,
) -> Result<Vec<ResolvedImage>, SourceError> {
    let top = source.manifest(None)?;
    let digest = Digest::of(&top);
    let mut walk = Walk {
        complete: true,
        budget: MAX_MANIFESTS,
    };
    let mut images = resolve_document(source, &top, digest.clone(), choice, 0, &mut walk)?;
    for image in &mut images {
        image.reference_digest = walk.complete.then(|| digest.clone());
    }
    Ok(images)
}

/// What a walk down an index tree carries: whether every runnable image was
/// chosen, and how many more manifests it may fetch.
struct Walk {
    complete: bool,
    budget: usize,
}

fn resolve_document(
    source: &dyn ImageSource,
    bytes: &[u8],
    digest: Digest,
    choice: &PlatformChoice,
    depth: usize,
    walk: &mut Walk,
) -> Result<Vec<ResolvedImage>, SourceError> {
    let what = format!("manifest {digest}");
    let document = parse_document(bytes, &what)?;
    let Some(entries) = document.manifests else {
        return image_from_manifest(source, document, digest, &what).map(|image| vec![image]);
    };
    if depth >= MAX_INDEX_DEPTH {
        return Err(invalid(&what, "indexes nest deeper than two levels"));
    }
    let (mut chosen, all_runnable) = choose_entries(&entries, choice, &what)?;
    walk.complete &= all_runnable;
    // An entry listed twice (under two platforms) is read once.
    let mut seen: Vec<&Digest> = Vec::new();
    chosen.retain(|entry| {
        let first = !seen.contains(&&entry.digest);
        seen.push(&entry.digest);
        first
    });
    let mut images = Vec::new();
    for entry in chosen {
        if walk.budget == 0 {
            return Err(invalid(
                &what,
                format!("names more than {MAX_MANIFESTS} manifests in all; no image needs as many"),
            ));
        }
        walk.budget -= 1;
        let bytes = source.manifest(Some(&entry.digest))?;
        images.extend(resolve_document(
            source,
            &bytes,
            entry.digest.clone(),
            choice,
            depth + 1,
            walk,
        )?);
    }
    Ok(images)
}

fn parse_document(bytes: &[u8], what: &str) -> Result<Document, SourceError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(invalid(
            what,
            format!("{} bytes, over the 4 MiB limit", bytes.len()),
        ));
    }
    let document: Document =
        serde_json::from_slice(bytes).map_err(|e| invalid(what, format!("not a manifest: {e}")))?;
    if document.schema_version == Some(1) {
        return Err(invalid(
            what,
            "Docker schema 1 manifests are not supported (push the image again with a current client)",
        ));
    }
    Ok(document)
}

fn choose_entries<'d>(
    entries: &'d [Descriptor],
    choice: &PlatformChoice,
    what: &str,
) -> Result<(Vec<&'d Descriptor>, bool), SourceError> {
    let runnable: Vec<&Descriptor> = entries
        .iter()
        .filter(|entry| {
            // Buildkit's attestation manifests carry `unknown/unknown`.
            entry.platform.as_ref().is_none_or(|p| p.os != "unknown")
        })
        .collect();
    let chosen: Vec<&Descriptor> = match choice {
        PlatformChoice::All => runnable.clone(),
        PlatformChoice::One(wanted) => runnable
            .iter()
            .copied()
            .filter(|entry| entry.platform.as_ref().is_some_and(|p| p.satisfies(wanted)))
            .take(1)
            .collect(),
    };
    if chosen.is_empty() {
        let offered: Vec<String> = entries
            .iter()
            .filter_map(|entry| entry.platform.as_ref().map(Platform::to_string))
            .collect();
        let wanted = match choice {
            PlatformChoice::One(platform) => platform.to_string(),
            PlatformChoice::All => "any platform".into(),
        };
        return Err(SourceError::NotFound {
            what: format!(
                "{wanted} in index {} (it has: {})",
                what.trim_start_matches("manifest "),
                if offered.is_empty() {
                    "none".into()
                } else {
                    offered.join(", ")
                }
            ),
        });
    }
    let all_runnable = chosen.len() == runnable.len();
    Ok((chosen, all_runnable))
}

fn image_from_manifest(
    source: &dyn ImageSource,
    document: Document,
    digest: Digest,
    what: &str,
) -> Result<ResolvedImage, SourceError> {
    let (Some(config), Some(layers)) = (document.config, document.layers) else {
        return Err(invalid(
            what,
            format!(
                "neither an image manifest nor an index (media type {})",
                document.media_type.as_deref().unwrap_or("not given")
            ),
        ));
    };
    if layers.len() > MAX_LAYERS {
        return Err(invalid(
            what,
            format!(
                "{} layers, over the {MAX_LAYERS} a runtime stacks",
                layers.len()
            ),
        ));
    }
    let layers = layers
        .into_iter()
        .map(|layer| {
            let compression = Compression::of_media_type(&layer.media_type).ok_or_else(|| {
                invalid(
                    what,
                    format!(
                        "layer {} has media type {}, which is not a tar layer",
                        layer.digest, layer.media_type
                    ),
                )
            })?;
            Ok(LayerRef {
                digest: layer.digest,
                size: layer.size,
                compression,
            })
        })
        .collect::<Result<Vec<_>, SourceError>>()?;
    let config_blob = read_config(source, &config)?;
    let container = config_blob.config.unwrap_or_default();
    Ok(ResolvedImage {
        reference_digest: Some(digest.clone()),
        manifest_digest: digest,
        platform: Platform {
            os: config_blob.os,
            architecture: config_blob.architecture,
            variant: config_blob.variant,
        },
        config: ImageConfig {
            entrypoint: container.entrypoint.unwrap_or_default(),
            cmd: container.cmd.unwrap_or_default(),
            working_dir: container.working_dir.filter(|dir| !dir.is_empty()),
            env: container.env.unwrap_or_default(),
        },
        layers,
    })
}

fn read_config(source: &dyn ImageSource, config: &Descriptor) -> Result<ConfigBlob, SourceError> {
    let what = format!("config {}", config.digest);
    if config.size > MAX_CONFIG_BYTES {
        return Err(invalid(
            &what,
            format!("{} bytes, over the 8 MiB limit", config.size),
        ));
    }
    let mut bytes = Vec::new();
    source
        .blob(&config.digest, Some(config.size))?
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| invalid(&what, e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| invalid(&what, format!("not an image config: {e}")))
}

fn invalid(what: &str, detail: impl Into<String>) -> SourceError {
    SourceError::Invalid {
        what: what.to_owned(),
        detail: detail.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;
    use crate::inspect::image::Verified;

    /// An in-memory store: the top-level document and blobs by digest.
    struct Memory {
        top: Vec<u8>,
        blobs: HashMap<Digest, Vec<u8>>,
    }

    impl Memory {
        fn new(top: serde_json::Value) -> Memory {
            Memory {
                top: top.to_string().into_bytes(),
                blobs: HashMap::new(),
            }
        }

        fn put(&mut self, value: &serde_json::Value) -> (Digest, u64) {
            let bytes = value.to_string().into_bytes();
            let digest = Digest::of(&bytes);
            let size = bytes.len() as u64;
            self.blobs.insert(digest.clone(), bytes);
            (digest, size)
        }
    }

    impl ImageSource for Memory {
        fn describe(&self) -> String {
            "memory".into()
        }

        fn manifest(&self, digest: Option<&Digest>) -> Result<Vec<u8>, SourceError> {
            match digest {
                None => Ok(self.top.clone()),
                Some(digest) => self
                    .blobs
                    .get(digest)
                    .cloned()
                    .ok_or(SourceError::NotFound {
                        what: format!("manifest {digest}"),
                    }),
            }
        }

        fn blob<'a>(
            &'a self,
            digest: &Digest,
            size: Option<u64>,
        ) -> Result<Box<dyn Read + Send + 'a>, SourceError> {
            let bytes = self.blobs.get(digest).ok_or(SourceError::NotFound {
                what: format!("blob {digest}"),
            })?;
            Ok(Box::new(Verified::new(
                bytes.as_slice(),
                digest.clone(),
                size,
            )))
        }
    }

    /// What `resolve` says when it must refuse.
    fn refusal(store: &Memory, choice: &PlatformChoice) -> String {
        resolve(store, choice)
            .expect_err("resolve refuses")
            .to_string()
    }

    const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

    fn image(store: &mut Memory, arch: &str, entrypoint: &[&str]) -> serde_json::Value {
        let (config, config_size) = store.put(&json!({
            "os": "linux", "architecture": arch,
            "config": {"Entrypoint": entrypoint, "Cmd": null, "WorkingDir": "", "Env": ["PATH=/bin"]},
        }));
        json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": config_size},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": Digest::of(b"a").to_string(), "size": 1},
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": Digest::of(b"b").to_string(), "size": 1},
            ],
        })
    }

    fn multi_arch() -> Memory {
        let mut store = Memory::new(json!({}));
        let amd = image(&mut store, "amd64", &["/usr/bin/agent"]);
        let arm = image(&mut store, "arm64", &["/usr/bin/agent"]);
        let (amd, amd_size) = store.put(&amd);
        let (arm, arm_size) = store.put(&arm);
        store.top = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": arm.to_string(), "size": arm_size, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                {"mediaType": OCI_MANIFEST, "digest": amd.to_string(), "size": amd_size, "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": OCI_MANIFEST, "digest": amd.to_string(), "size": amd_size, "platform": {"os": "unknown", "architecture": "unknown"}},
            ],
        })
        .to_string()
        .into_bytes();
        store
    }

    /// An index of `count` distinct images, each a platform of its own.
    fn wide_index(store: &mut Memory, count: usize) -> serde_json::Value {
        let entries: Vec<serde_json::Value> = (0..count)
            .map(|i| {
                let arch = format!("arch{i}");
                let manifest = image(store, &arch, &["/agent"]);
                let (digest, size) = store.put(&manifest);
                json!({"mediaType": OCI_MANIFEST, "digest": digest.to_string(), "size": size,
                       "platform": {"os": "linux", "architecture": arch}})
            })
            .collect();
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})
    }

    #[test]
    fn an_index_naming_more_manifests_than_any_image_needs_is_refused() {
        let mut store = Memory::new(json!({}));
        let top = wide_index(&mut store, MAX_MANIFESTS);
        store.top = top.to_string().into_bytes();
        assert_eq!(
            resolve(&store, &PlatformChoice::All).unwrap().len(),
            MAX_MANIFESTS
        );

        let top = wide_index(&mut store, MAX_MANIFESTS + 1);
        store.top = top.to_string().into_bytes();
        let error = refusal(&store, &PlatformChoice::All);
        assert!(
            error.contains("names more than 64 manifests in all"),
            "{error}"
        );
        // One platform of it is one fetch: nothing is refused.
        let one = resolve(&store, &"linux/arch3".parse().unwrap()).unwrap();
        assert_eq!(one.len(), 1);

        // Nested indexes count together: 2 indexes of 40 are 82 fetches.
        let inner = wide_index(&mut store, 40);
        let (a, a_size) = store.put(&inner);
        let inner = wide_index(&mut store, 41);
        let (b, b_size) = store.put(&inner);
        let index = "application/vnd.oci.image.index.v1+json";
        store.top = json!({"schemaVersion": 2, "mediaType": index, "manifests": [
            {"mediaType": index, "digest": a.to_string(), "size": a_size},
            {"mediaType": index, "digest": b.to_string(), "size": b_size},
        ]})
        .to_string()
        .into_bytes();
        let error = refusal(&store, &PlatformChoice::All);
        assert!(
            error.contains("names more than 64 manifests in all"),
            "{error}"
        );
    }

    #[test]
    fn an_image_of_more_layers_than_a_runtime_stacks_is_refused() {
        let mut store = Memory::new(json!({}));
        let mut manifest = image(&mut store, "amd64", &["/agent"]);
        let layer = manifest["layers"][0].clone();
        manifest["layers"] = json!(vec![layer; MAX_LAYERS + 1]);
        store.top = manifest.to_string().into_bytes();
        let error = refusal(&store, &PlatformChoice::default());
        assert!(
            error.contains("129 layers, over the 128 a runtime stacks"),
            "{error}"
        );
    }

    #[test]
    fn an_index_resolves_to_the_platform_asked_for() {
        let store = multi_arch();
        let images = resolve(&store, &PlatformChoice::default()).unwrap();
        assert_eq!(images.len(), 1);
        let image = &images[0];
        assert_eq!(image.platform, Platform::linux_amd64());
        assert_eq!(image.config.entrypoint, ["/usr/bin/agent"]);
        assert!(image.config.cmd.is_empty());
        assert_eq!(image.config.working_dir, None);
        let kinds: Vec<Compression> = image.layers.iter().map(|l| l.compression).collect();
        assert_eq!(kinds, [Compression::Zstd, Compression::Gzip]);
    }

    #[test]
    fn a_platform_without_variant_takes_any_variant_and_all_skips_attestations() {
        let store = multi_arch();
        let arm = resolve(&store, &"linux/arm64".parse().unwrap()).unwrap();
        assert_eq!(arm[0].platform.architecture, "arm64");
        let all = resolve(&store, &PlatformChoice::All).unwrap();
        let platforms: Vec<String> = all.iter().map(|i| i.platform.to_string()).collect();
        assert_eq!(platforms, ["linux/arm64", "linux/amd64"]);
        // Each platform's image names its own manifest; the index's digest only
        // when every runnable image in it was read.
        let index = Digest::of(&store.top);
        for image in &all {
            assert_eq!(image.reference_digest, Some(index.clone()));
            assert_ne!(image.manifest_digest, index);
        }
        assert_eq!(arm[0].reference_digest, None);
    }

    #[test]
    fn a_missing_platform_names_what_the_index_has() {
        let store = multi_arch();
        let error = resolve(&store, &"linux/s390x".parse().unwrap()).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("linux/s390x"), "{text}");
        assert!(
            text.contains("it has: linux/arm64/v8, linux/amd64, unknown/unknown"),
            "{text}"
        );
    }

    #[test]
    fn a_single_manifest_is_taken_whatever_its_platform() {
        let mut store = Memory::new(json!({}));
        let top = image(&mut store, "arm64", &[]);
        store.top = top.to_string().into_bytes();
        let images = resolve(&store, &PlatformChoice::default()).unwrap();
        assert_eq!(images[0].platform.architecture, "arm64");
        assert_eq!(images[0].manifest_digest, Digest::of(&store.top));
        assert_eq!(
            images[0].reference_digest.as_ref(),
            Some(&images[0].manifest_digest)
        );
    }

    #[test]
    fn schema_one_and_unknown_layer_types_are_refused_by_name() {
        let store = Memory::new(json!({"schemaVersion": 1, "fsLayers": []}));
        let error = refusal(&store, &PlatformChoice::All);
        assert!(error.contains("schema 1"), "{error}");

        let mut store = Memory::new(json!({}));
        let mut top = image(&mut store, "amd64", &[]);
        top["layers"][0]["mediaType"] =
            json!("application/vnd.cncf.helm.chart.content.v1.tar+gzip+encrypted");
        store.top = top.to_string().into_bytes();
        let error = refusal(&store, &PlatformChoice::All);
        assert!(error.contains("is not a tar layer"), "{error}");
    }

    #[test]
    fn a_config_that_does_not_match_its_digest_is_an_error() {
        let mut store = multi_arch();
        for bytes in store.blobs.values_mut() {
            if bytes.starts_with(br#"{"architecture""#) || bytes.starts_with(br#"{"os""#) {
                bytes.push(b' ');
            }
        }
        let error = refusal(&store, &PlatformChoice::default());
        assert!(error.starts_with("config sha256:"), "{error}");
    }
}
