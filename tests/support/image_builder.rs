//! Container images assembled by the tests themselves, from real files: tar
//! layers (plain, gzip, zstd) written with the `tar` crate, Docker schema 2 or
//! OCI manifests, multi-platform indexes, and the two ways they are kept on
//! disk — an OCI image layout directory and a `docker save` archive (the
//! layout before Docker 25: `manifest.json`, `<id>/layer.tar`).
//!
//! Faults are made on purpose through the same code: a layer blob written
//! with bytes other than its digest says, a tar entry named with `..`.

use std::fs;
use std::io::Write;
use std::path::Path;

use flate2::Compression as GzLevel;
use flate2::write::GzEncoder;
use netdns_guard::inspect::image::Digest;
use serde_json::{Value, json};

/// How a layer's tar is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    Plain,
    Gzip,
    Zstd,
}

/// One tar entry.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A regular file with its mode.
    File {
        path: String,
        mode: u32,
        bytes: Vec<u8>,
    },
    Dir(String),
    Symlink {
        path: String,
        target: String,
    },
    Hardlink {
        path: String,
        target: String,
    },
    /// A regular file whose name is written raw (the `tar` crate refuses `..`).
    RawName {
        name: Vec<u8>,
        bytes: Vec<u8>,
    },
}

impl Entry {
    pub fn exe(path: &str, bytes: Vec<u8>) -> Entry {
        Entry::File {
            path: path.into(),
            mode: 0o755,
            bytes,
        }
    }

    pub fn data(path: &str, bytes: Vec<u8>) -> Entry {
        Entry::File {
            path: path.into(),
            mode: 0o644,
            bytes,
        }
    }

    pub fn link(path: &str, target: &str) -> Entry {
        Entry::Symlink {
            path: path.into(),
            target: target.into(),
        }
    }

    /// A whiteout deleting `path`.
    pub fn whiteout(path: &str) -> Entry {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let wh = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        Entry::data(&wh, Vec::new())
    }

    /// The opaque marker of `dir`.
    pub fn opaque(dir: &str) -> Entry {
        Entry::data(&format!("{dir}/.wh..wh..opq"), Vec::new())
    }
}

/// A layer: its entries and packing.
#[derive(Debug, Clone)]
pub struct Layer {
    pub entries: Vec<Entry>,
    pub packing: Packing,
    /// The blob's bytes as given (a corrupt stream), instead of packing `entries`.
    pub raw: Option<Vec<u8>>,
}

impl Layer {
    pub fn new(packing: Packing, entries: Vec<Entry>) -> Layer {
        Layer {
            entries,
            packing,
            raw: None,
        }
    }
}

/// An image's config and layers.
#[derive(Debug, Clone)]
pub struct Image {
    pub layers: Vec<Layer>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub architecture: String,
    /// Docker schema 2 media types instead of OCI's.
    pub docker: bool,
}

impl Image {
    pub fn new(layers: Vec<Layer>, entrypoint: &[&str]) -> Image {
        Image {
            layers,
            entrypoint: entrypoint.iter().map(|s| (*s).to_owned()).collect(),
            cmd: Vec::new(),
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            workdir: String::new(),
            architecture: "amd64".into(),
            docker: false,
        }
    }
}

/// The uncompressed tar of `entries`.
pub fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        match entry {
            Entry::File { path, mode, bytes } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(bytes.len() as u64);
                builder
                    .append_data(&mut header, path, bytes.as_slice())
                    .unwrap();
            }
            Entry::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .unwrap();
            }
            Entry::Symlink { path, target } | Entry::Hardlink { path, target } => {
                header.set_entry_type(if matches!(entry, Entry::Symlink { .. }) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
            Entry::RawName { name, bytes } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o755);
                header.set_size(bytes.len() as u64);
                header.as_old_mut().name[..name.len()].copy_from_slice(name);
                header.set_cksum();
                builder.append(&header, bytes.as_slice()).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// `tar` packed as asked.
pub fn pack(tar: &[u8], packing: Packing) -> Vec<u8> {
    match packing {
        Packing::Plain => tar.to_vec(),
        Packing::Gzip => {
            let mut gz = GzEncoder::new(Vec::new(), GzLevel::fast());
            gz.write_all(tar).unwrap();
            gz.finish().unwrap()
        }
        Packing::Zstd => {
            ruzstd::encoding::compress_to_vec(tar, ruzstd::encoding::CompressionLevel::Fastest)
        }
    }
}

fn layer_media_type(packing: Packing, docker: bool) -> &'static str {
    match (packing, docker) {
        (Packing::Plain, true) => "application/vnd.docker.image.rootfs.diff.tar",
        (Packing::Gzip, true) => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        (Packing::Plain, false) => "application/vnd.oci.image.layer.v1.tar",
        (Packing::Gzip, false) => "application/vnd.oci.image.layer.v1.tar+gzip",
        (Packing::Zstd, _) => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

/// The config blob of `image`, given its layers' uncompressed digests.
fn config_of(image: &Image, diff_ids: &[Digest]) -> Vec<u8> {
    json!({
        "architecture": image.architecture,
        "os": "linux",
        "config": {
            "Entrypoint": image.entrypoint,
            "Cmd": if image.cmd.is_empty() { Value::Null } else { json!(image.cmd) },
            "Env": image.env,
            "WorkingDir": image.workdir,
        },
        "rootfs": {
            "type": "layers",
            "diff_ids": diff_ids.iter().map(Digest::to_string).collect::<Vec<_>>(),
        },
    })
    .to_string()
    .into_bytes()
}

/// A descriptor of `bytes`.
fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({
        "mediaType": media_type,
        "digest": Digest::of(bytes).to_string(),
        "size": bytes.len(),
    })
}

/// An OCI image layout being written.
pub struct OciLayout<'p> {
    pub dir: &'p Path,
    index: Vec<Value>,
}

impl<'p> OciLayout<'p> {
    pub fn new(dir: &'p Path) -> Self {
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        OciLayout {
            dir,
            index: Vec::new(),
        }
    }

    /// Stores a blob under its digest; returns the digest.
    pub fn blob(&self, bytes: &[u8]) -> Digest {
        let digest = Digest::of(bytes);
        self.put_as(&digest, bytes);
        digest
    }

    /// Stores `bytes` under `digest`, whether or not they match it.
    pub fn put_as(&self, digest: &Digest, bytes: &[u8]) {
        fs::write(self.blob_path(digest), bytes).unwrap();
    }

    pub fn blob_path(&self, digest: &Digest) -> std::path::PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    /// Writes an image's layers, config and manifest; returns the manifest's
    /// descriptor (with its platform) and the layer digests.
    pub fn image(&self, image: &Image) -> (Value, Vec<Digest>) {
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        let mut digests = Vec::new();
        for layer in &image.layers {
            let tar = tar_of(&layer.entries);
            diff_ids.push(Digest::of(&tar));
            let packed = layer
                .raw
                .clone()
                .unwrap_or_else(|| pack(&tar, layer.packing));
            digests.push(self.blob(&packed));
            layers.push(descriptor(
                layer_media_type(layer.packing, image.docker),
                &packed,
            ));
        }
        let config = config_of(image, &diff_ids);
        self.blob(&config);
        let (manifest_type, config_type) = if image.docker {
            (
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.container.image.v1+json",
            )
        } else {
            (
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.config.v1+json",
            )
        };
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": descriptor(config_type, &config),
            "layers": layers,
        })
        .to_string()
        .into_bytes();
        self.blob(&manifest);
        let mut desc = descriptor(manifest_type, &manifest);
        desc["platform"] = json!({"os": "linux", "architecture": image.architecture});
        (desc, digests)
    }

    /// Lists a manifest or index in `index.json` under `name`.
    pub fn tag(&mut self, mut descriptor: Value, name: &str) {
        descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": name});
        self.index.push(descriptor);
        self.write_index();
    }

    /// Writes an image index of `manifests` as a blob; returns its descriptor.
    pub fn multi_platform(&self, manifests: Vec<Value>) -> Value {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        })
        .to_string()
        .into_bytes();
        self.blob(&index);
        descriptor("application/vnd.oci.image.index.v1+json", &index)
    }

    fn write_index(&self) {
        let index = json!({"schemaVersion": 2, "manifests": self.index});
        fs::write(self.dir.join("index.json"), index.to_string()).unwrap();
    }
}

/// Writes a `docker save` archive (before Docker 25: `manifest.json` and
/// `<id>/layer.tar`, layers uncompressed) of `image`, tagged `repo_tag`.
pub fn docker_archive(path: &Path, image: &Image, repo_tag: &str) {
    let mut builder = tar::Builder::new(fs::File::create(path).unwrap());
    let mut add = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(bytes.len() as u64);
        builder.append_data(&mut header, name, bytes).unwrap();
    };
    let mut diff_ids = Vec::new();
    let mut names = Vec::new();
    for layer in &image.layers {
        let tar = tar_of(&layer.entries);
        let digest = Digest::of(&tar);
        let name = format!("{}/layer.tar", digest.hex());
        add(&name, &tar);
        diff_ids.push(digest);
        names.push(name);
    }
    let config = config_of(image, &diff_ids);
    let config_name = format!("{}.json", Digest::of(&config).hex());
    add(&config_name, &config);
    let manifest = json!([{"Config": config_name, "RepoTags": [repo_tag], "Layers": names}]);
    add("manifest.json", manifest.to_string().as_bytes());
    builder.into_inner().unwrap().sync_all().unwrap();
}
