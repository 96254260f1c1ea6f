//! Images: from a reference to the Go executables inside, and their verdicts.
//!
//! An image reaches `inspect` through an [`ImageSource`] (a registry, an OCI
//! layout, a `docker save` archive). [`manifest::resolve`] turns the
//! reference into one [`ResolvedImage`] per platform asked for: its manifest
//! digest, its config (entrypoint, command) and its layers. The layers are then
//! streamed once each, in order, to find the executables the image will hold.

pub mod digest;
pub mod manifest;
pub mod registry;
pub mod source;

pub use digest::{BadDigest, Digest, Verified};
pub use manifest::{Compression, ImageConfig, LayerRef, Platform, PlatformChoice, ResolvedImage};
pub use source::{ImageSource, SourceError};
