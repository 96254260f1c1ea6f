//! The registry flags `inspect`, `scan` and `dry-run` share, and the image
//! flags of `scan --inspect-images` and `dry-run --inspect-images`: one
//! definition, flattened into each command, so they read the same everywhere.

use std::path::PathBuf;

use anyhow::{Context, Result};

use netdns_guard::inspect::DEFAULT_MAX_FILE_BYTES;
use netdns_guard::inspect::evidence::{DEFAULT_PARALLEL, Inspector};
use netdns_guard::inspect::image::registry::{CredentialsSource, Registry, RegistryOptions};
use netdns_guard::inspect::image::{Cache, ImageOptions, PlatformChoice};

/// How registries are reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct RegistryArgs {
    /// Docker config with registry credentials, asked before the default one
    /// ($DOCKER_CONFIG/config.json, else ~/.docker/config.json).
    #[arg(long, value_name = "FILE")]
    pub registry_config: Option<PathBuf>,

    /// A registry spoken to in plain HTTP (every other only over TLS);
    /// repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,

    /// A CA certificate (PEM) trusted for registries besides the system's;
    /// repeatable.
    #[arg(long = "registry-ca", value_name = "FILE")]
    pub registry_cas: Vec<PathBuf>,
}

impl RegistryArgs {
    /// The client options: `--registry-config` first, then the docker config;
    /// with a `--registry-ca`, the system store plus those CAs.
    pub fn options(&self) -> RegistryOptions {
        let mut options = RegistryOptions::docker_defaults();
        if let Some(file) = &self.registry_config {
            options
                .credentials
                .insert(0, CredentialsSource::File(file.clone()));
        }
        options.insecure = self.insecure_registries.clone();
        options.extra_ca = self.registry_cas.clone();
        options
    }

    /// The registry client from the flags.
    pub fn registry(&self) -> Result<Registry> {
        Registry::new(&self.options()).context("setting up the registry client")
    }
}

/// `--inspect-images` and what it pulls with (`scan`, `dry-run`).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct InspectImagesArgs {
    /// Pull the images the catalog calls unknown and read their Go build info;
    /// each becomes the catalog entry `inspect -o policy` would write, in
    /// front of the policy's catalog for this run.
    #[arg(long)]
    pub inspect_images: bool,

    #[command(flatten)]
    pub registry: RegistryArgs,

    /// Platform read of a multi-platform image: os/arch[/variant], or `all`
    /// (the worst verdict counts). `all` by default: a container's imageID,
    /// and an image pinned by digest, name the whole index, and only a reading
    /// of every platform in it can speak for that digest.
    #[arg(
        long,
        default_value = "all",
        value_name = "PLATFORM",
        requires = "inspect_images"
    )]
    pub platform: PlatformChoice,

    /// Neither read nor write the findings cache.
    #[arg(long, requires = "inspect_images")]
    pub no_cache: bool,

    /// Keep the findings cache here ($XDG_CACHE_HOME/netdns-guard by default).
    #[arg(long, value_name = "DIR", env = "NETDNS_GUARD_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl InspectImagesArgs {
    /// The inspector, when `--inspect-images` was given.
    pub fn inspector(&self) -> Result<Option<Inspector>> {
        if !self.inspect_images {
            return Ok(None);
        }
        Ok(Some(Inspector {
            registry: self.registry.registry()?,
            image: ImageOptions {
                platform: self.platform.clone(),
                max_file_bytes: DEFAULT_MAX_FILE_BYTES,
                cache: cache(self.no_cache, self.cache_dir.clone()),
            },
            parallel: DEFAULT_PARALLEL,
        }))
    }
}

/// The findings cache: none with `--no-cache`, else `dir` or the default.
pub fn cache(no_cache: bool, dir: Option<PathBuf>) -> Option<Cache> {
    if no_cache {
        return None;
    }
    dir.or_else(Cache::default_dir).map(|dir| Cache::new(&dir))
}
