//! Where an image's manifests and blobs come from.
//!
//! A registry, an OCI image layout directory and a `docker save` archive all
//! answer the same two questions — "the manifest (or index) named X" and "the
//! blob named Y" — so [`resolve`](super::manifest::resolve) and the layer walk
//! are written once, over this trait.

use std::io::Read;

use super::digest::Digest;

/// A store of manifests and blobs for one image reference.
pub trait ImageSource {
    /// The reference as the user wrote it, for reports and error messages
    /// (e.g. `registry.local:5000/agents/loggie:v1.5`, `oci:./layout`).
    fn describe(&self) -> String;

    /// The bytes of a manifest or index: the reference's own top-level one when
    /// `digest` is `None`, else the one named by `digest` (checked against it).
    fn manifest(&self, digest: Option<&Digest>) -> Result<Vec<u8>, SourceError>;

    /// A blob (an image config or a layer) as stored, still compressed. The
    /// reader checks size and digest at its end ([`super::digest::Verified`]),
    /// so a caller must read it to EOF before trusting what it drew from it.
    fn blob<'a>(
        &'a self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Box<dyn Read + Send + 'a>, SourceError>;
}

/// Why a source could not give what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source has no such manifest, blob or tag.
    #[error("{what} not found")]
    NotFound {
        /// What was asked for (a tag, `manifest sha256:…`, `blob sha256:…`).
        what: String,
    },
    /// The source refused the credentials (or their absence).
    #[error("{what}: access denied ({detail})")]
    Denied {
        /// What was asked for.
        what: String,
        /// What the source said.
        detail: String,
    },
    /// The bytes are not what they should be: a bad manifest, a digest that
    /// does not match, a truncated or corrupt blob.
    #[error("{what}: {detail}")]
    Invalid {
        /// What was read.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The source could not be reached or failed while answering (network,
    /// server error, stalled transfer, file system).
    #[error("{what}: {detail}")]
    Unavailable {
        /// What was asked for.
        what: String,
        /// What went wrong.
        detail: String,
    },
}
