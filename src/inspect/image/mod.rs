//! Images: from a reference to the Go executables inside, and their verdicts.
//!
//! An image reaches `inspect` through an [`ImageSource`] (a registry, an OCI
//! layout, a `docker save` archive). [`manifest::resolve`] turns the
//! reference into one [`ResolvedImage`] per platform asked for: its manifest
//! digest, its config (entrypoint, command) and its layers. The layers are then
//! streamed once each, in order ([`layers`]), into the merged view of the
//! image's files ([`tree`]), from which the [`Findings`] are read: the Go
//! binaries, the entrypoint's first, and the image's verdict. Findings are
//! cached by manifest digest ([`cache`]).

pub mod cache;
pub mod digest;
pub mod docker_archive;
pub mod findings;
pub mod layers;
pub mod manifest;
pub mod oci_layout;
pub mod platform;
pub mod reference;
pub mod registry;
pub mod source;
pub mod store;
pub mod tree;
mod zstd;

pub use cache::Cache;
pub use digest::{BadDigest, Digest, Verified};
pub use findings::{Executable, Findings, ImageRisk, ImageVerdict, Program, Role};
pub use layers::LayerError;
pub use manifest::{Compression, ImageConfig, LayerRef, ResolvedImage};
pub use platform::{Platform, PlatformChoice};
pub use source::{ImageSource, SourceError};

/// How images are read.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// Which platforms of a multi-platform image.
    pub platform: PlatformChoice,
    /// Largest executable read, in bytes.
    pub max_file_bytes: u64,
    /// Where findings are kept between runs; `None` with `--no-cache`.
    pub cache: Option<Cache>,
}

/// One platform's image and what it holds.
#[derive(Debug, Clone)]
pub struct ImageReport {
    /// The image manifest's digest.
    pub manifest_digest: Digest,
    /// The digest the reference resolved to, when what was read is all it names
    /// (see [`manifest::ResolvedImage::reference_digest`]).
    pub reference_digest: Option<Digest>,
    /// Its platform.
    pub platform: Platform,
    /// Its config (entrypoint, command, …).
    pub config: ImageConfig,
    /// What it holds.
    pub findings: Findings,
    /// Whether the findings came from the cache (no layer was read).
    pub cached: bool,
}

/// Why an image could not be inspected.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The manifest, index or config could not be had.
    #[error("{0}")]
    Source(#[from] SourceError),
    /// A layer could not be read, or did not match its digest.
    #[error("{0}")]
    Layer(#[from] LayerError),
}

/// Inspects every image the source's reference resolves to on the platforms
/// asked for. All or nothing: a report is given only when every image was
/// read and verified.
pub fn inspect_source(
    source: &dyn ImageSource,
    options: &ImageOptions,
) -> Result<Vec<ImageReport>, ImageError> {
    manifest::resolve(source, &options.platform)?
        .into_iter()
        .map(|image| inspect_image(source, image, options))
        .collect()
}

fn inspect_image(
    source: &dyn ImageSource,
    image: ResolvedImage,
    options: &ImageOptions,
) -> Result<ImageReport, ImageError> {
    let cached = options
        .cache
        .as_ref()
        .and_then(|cache| cache.get(&image.manifest_digest, options.max_file_bytes));
    let (findings, from_cache) = match cached {
        Some(findings) => (findings, true),
        None => {
            let tree = layers::read_layers(source, &image.layers, options.max_file_bytes)?;
            let findings = Findings::from_tree(&tree, &image.config);
            if let Some(cache) = &options.cache {
                // A cache that cannot be written costs the next run a read, no more.
                let _ = cache.put(&image.manifest_digest, options.max_file_bytes, &findings);
            }
            (findings, false)
        }
    };
    Ok(ImageReport {
        manifest_digest: image.manifest_digest,
        reference_digest: image.reference_digest,
        platform: image.platform,
        config: image.config,
        findings,
        cached: from_cache,
    })
}
