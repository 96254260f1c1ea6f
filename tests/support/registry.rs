//! A real registry for the tests: Debian's `docker-registry` (the CNCF
//! distribution registry 2.8) started on a random loopback port with a
//! generated config — plain HTTP, TLS with a test CA, or TLS with htpasswd
//! basic auth — and images pushed into it through its real API (monolithic
//! blob upload POST + PUT, manifest PUT).
//!
//! [`Registry::start`] returns `None` (after printing why) when the registry
//! binary is missing, unless `NETDNS_GUARD_REQUIRE_TOOLS=1` makes that a
//! failure. `scripts/install-registry.sh` installs it and exports
//! `NETDNS_REGISTRY`.

use super::missing_tool;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use netdns_guard::certs::{ServiceName, issue_serving, new_ca};
use netdns_guard::inspect::image::Digest;
use serde_json::{Value, json};
use tempfile::TempDir;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// How the registry is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryMode {
    /// Plain HTTP, anonymous.
    Plain,
    /// HTTPS with a certificate from a test CA ([`Registry::ca`]).
    Tls,
    /// HTTPS and htpasswd basic auth ([`Registry::creds`]).
    TlsBasicAuth,
}

/// A running registry; stopped and its storage removed on drop.
pub struct Registry {
    /// Where it listens (127.0.0.1).
    pub addr: SocketAddr,
    /// The test CA's PEM file, for TLS modes.
    pub ca: Option<PathBuf>,
    /// The user name and password, for basic auth.
    pub creds: Option<(String, String)>,
    child: Child,
    agent: ureq::Agent,
    _dir: TempDir,
}

/// The registry binary: `$NETDNS_REGISTRY`, else Debian's path.
pub fn find_registry() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("NETDNS_REGISTRY").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/docker-registry")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file());
    if found.is_none() {
        let msg = "docker-registry not installed (scripts/install-registry.sh)";
        missing_tool::skip_or_fail(msg);
    }
    found
}

impl Registry {
    /// Starts a registry in `mode`, ready to answer; `None` when it is not
    /// installed (and that is allowed).
    pub fn start(mode: RegistryMode) -> Option<Registry> {
        let binary = find_registry()?;
        let dir = tempfile::Builder::new()
            .prefix("netdns-guard-registry-")
            .tempdir()
            .expect("a scratch directory");
        let tls = mode != RegistryMode::Plain;
        let ca = tls.then(|| write_tls(dir.path()));
        let creds = (mode == RegistryMode::TlsBasicAuth).then(|| write_htpasswd(dir.path()));
        let port = free_port();
        let config = config_yaml(dir.path(), port, tls, creds.is_some());
        std::fs::write(dir.path().join("config.yml"), config).expect("write config");
        let child = Command::new(&binary)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let registry = Registry {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            agent: test_agent(ca.as_deref()),
            ca,
            creds,
            child,
            _dir: dir,
        };
        registry.wait_ready();
        Some(registry)
    }

    /// `127.0.0.1:<port>`, as image references name it.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `host/repository:tag`.
    pub fn reference(&self, repository: &str, tag: &str) -> String {
        format!("{}/{repository}:{tag}", self.host())
    }

    fn base(&self) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    fn authorization(&self) -> Option<String> {
        self.creds.as_ref().map(|(user, password)| {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {encoded}")
        })
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = format!("{}/v2/", self.base());
        while Instant::now() < deadline {
            if let Ok(response) = self.agent.get(&url).call()
                && matches!(response.status().as_u16(), 200 | 401)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log =
            std::fs::read_to_string(self._dir.path().join("registry.log")).unwrap_or_default();
        panic!("the registry did not answer on {url} within 20s:\n{log}");
    }

    /// Uploads a blob (POST then PUT with its digest); returns its descriptor.
    pub fn push_blob(&self, repository: &str, media_type: &str, bytes: &[u8]) -> Value {
        let digest = Digest::of(bytes);
        let start = format!("{}/v2/{repository}/blobs/uploads/", self.base());
        let response = self.send(
            self.agent.post(&start),
            Vec::new(),
            "application/octet-stream",
        );
        assert_eq!(
            response.status().as_u16(),
            202,
            "upload start for {repository}"
        );
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("an upload location")
            .to_owned();
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base())
        } else {
            location
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{separator}digest={digest}");
        let response = self.send(
            self.agent.put(&put),
            bytes.to_vec(),
            "application/octet-stream",
        );
        assert_eq!(response.status().as_u16(), 201, "blob PUT for {repository}");
        json!({"mediaType": media_type, "digest": digest.to_string(), "size": bytes.len()})
    }

    /// PUTs a manifest or index under `reference` (a tag or its digest);
    /// returns its descriptor.
    pub fn push_manifest(&self, repository: &str, reference: &str, manifest: &Value) -> Value {
        let bytes = serde_json::to_vec(manifest).expect("JSON");
        let media_type = manifest["mediaType"]
            .as_str()
            .expect("a mediaType")
            .to_owned();
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base());
        let response = self.send(self.agent.put(&url), bytes.clone(), &media_type);
        let status = response.status().as_u16();
        if status != 201 {
            let mut body = String::new();
            let _ = response.into_body().into_reader().read_to_string(&mut body);
            panic!("manifest PUT {repository}:{reference}: HTTP {status}: {body}");
        }
        json!({"mediaType": media_type, "digest": Digest::of(&bytes).to_string(), "size": bytes.len()})
    }

    fn send(
        &self,
        request: ureq::RequestBuilder<ureq::typestate::WithBody>,
        body: Vec<u8>,
        content_type: &str,
    ) -> ureq::http::Response<ureq::Body> {
        let mut request = request.header("Content-Type", content_type);
        if let Some(value) = self.authorization() {
            request = request.header("Authorization", value);
        }
        request.send(&body[..]).expect("the registry answers")
    }

    /// Pushes `image`'s config, layers and manifest under `repository:tag`;
    /// returns the manifest's descriptor (with the platform, for an index).
    pub fn push_image(&self, repository: &str, tag: &str, image: &ImageSpec) -> Value {
        let types = image.format.media_types();
        let config = json!({
            "os": "linux", "architecture": image.arch, "variant": image.variant,
            "config": {"Entrypoint": image.entrypoint},
            "rootfs": {"type": "layers", "diff_ids": []},
        });
        let config = self.push_blob(repository, types.config, config.to_string().as_bytes());
        let layers: Vec<Value> = image
            .layers
            .iter()
            .map(|layer| self.push_blob(repository, layer.media_type(image.format), &layer.bytes))
            .collect();
        let manifest = json!({
            "schemaVersion": 2, "mediaType": types.manifest, "config": config, "layers": layers,
        });
        let mut descriptor = self.push_manifest(repository, tag, &manifest);
        let mut platform = json!({"os": "linux", "architecture": image.arch});
        if let Some(variant) = &image.variant {
            platform["variant"] = json!(variant);
        }
        descriptor["platform"] = platform;
        descriptor
    }

    /// Deletes a blob's bytes from the registry's storage behind its back, so
    /// that a later GET of it fails: how a test proves it is not asked again.
    pub fn remove_blob(&self, digest: &Digest) {
        let hex = digest.hex();
        let data = self
            ._dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data");
        std::fs::remove_file(&data).unwrap_or_else(|e| panic!("remove {}: {e}", data.display()));
    }

    /// Pushes an index (OCI) or manifest list (Docker) of `images` under `tag`.
    pub fn push_index(
        &self,
        repository: &str,
        tag: &str,
        format: Format,
        images: &[Value],
    ) -> Value {
        let index = json!({
            "schemaVersion": 2, "mediaType": format.media_types().index, "manifests": images,
        });
        self.push_manifest(repository, tag, &index)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Docker's schema 2 or OCI's media types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/vnd.docker.distribution.manifest.v2+json` and kin.
    Docker,
    /// `application/vnd.oci.image.manifest.v1+json` and kin.
    Oci,
}

/// One format's media types.
pub struct MediaTypes {
    pub manifest: &'static str,
    pub index: &'static str,
    pub config: &'static str,
}

impl Format {
    pub fn media_types(self) -> MediaTypes {
        match self {
            Format::Docker => MediaTypes {
                manifest: "application/vnd.docker.distribution.manifest.v2+json",
                index: "application/vnd.docker.distribution.manifest.list.v2+json",
                config: "application/vnd.docker.container.image.v1+json",
            },
            Format::Oci => MediaTypes {
                manifest: "application/vnd.oci.image.manifest.v1+json",
                index: "application/vnd.oci.image.index.v1+json",
                config: "application/vnd.oci.image.config.v1+json",
            },
        }
    }
}

/// How a layer blob is compressed (its bytes are the caller's: registry
/// tests need no real tar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

/// A layer to push.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    pub bytes: Vec<u8>,
    pub compression: Compression,
}

impl LayerSpec {
    fn media_type(&self, format: Format) -> &'static str {
        match (format, self.compression) {
            (Format::Docker, Compression::Gzip) => {
                "application/vnd.docker.image.rootfs.diff.tar.gzip"
            }
            (Format::Docker, Compression::None) => "application/vnd.docker.image.rootfs.diff.tar",
            (_, Compression::Gzip) => "application/vnd.oci.image.layer.v1.tar+gzip",
            (_, Compression::Zstd) => "application/vnd.oci.image.layer.v1.tar+zstd",
            (Format::Oci, Compression::None) => "application/vnd.oci.image.layer.v1.tar",
        }
    }
}

/// An image to push: its format, platform, entrypoint and layers.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub format: Format,
    pub arch: String,
    pub variant: Option<String>,
    pub entrypoint: Vec<String>,
    pub layers: Vec<LayerSpec>,
}

/// A port free a moment ago (the registry binds it next; a clash fails the
/// readiness wait loudly rather than silently).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Writes `ca.pem`, `tls.crt`, `tls.key` (the project's own CA code: the
/// certificate names localhost and 127.0.0.1); returns the CA's path.
fn write_tls(dir: &Path) -> PathBuf {
    let name = ServiceName {
        service: "registry".into(),
        namespace: "test".into(),
    };
    let now = time::OffsetDateTime::now_utc();
    let ca = new_ca(&name, now, 1).expect("a CA");
    let serving = issue_serving(&ca, &name, now, 1).expect("a certificate");
    std::fs::write(dir.join("ca.pem"), &ca.cert_pem).expect("write CA");
    std::fs::write(dir.join("tls.crt"), &serving.cert_pem).expect("write cert");
    std::fs::write(dir.join("tls.key"), &serving.key_pem).expect("write key");
    dir.join("ca.pem")
}

/// Writes an htpasswd file (bcrypt, as distribution requires).
fn write_htpasswd(dir: &Path) -> (String, String) {
    let (user, password) = ("puller".to_owned(), "s3cret-pw".to_owned());
    let hash = bcrypt::hash(&password, 4).expect("bcrypt");
    std::fs::write(dir.join("htpasswd"), format!("{user}:{hash}\n")).expect("write htpasswd");
    (user, password)
}

fn config_yaml(dir: &Path, port: u16, tls: bool, htpasswd: bool) -> String {
    let d = dir.display();
    let mut yaml = format!(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {d}/storage\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: netdns-guard-test\n"
    );
    if tls {
        yaml.push_str(&format!(
            "  tls:\n    certificate: {d}/tls.crt\n    key: {d}/tls.key\n"
        ));
    }
    if htpasswd {
        yaml.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: netdns-guard-test\n    path: {d}/htpasswd\n"
        ));
    }
    yaml
}

/// The pushing client: trusts the test CA, follows no redirects, takes any status.
fn test_agent(ca: Option<&Path>) -> ureq::Agent {
    let roots = match ca {
        Some(path) => {
            let pem = std::fs::read(path).expect("the CA file");
            let cert = Certificate::from_pem(&pem).expect("a PEM certificate");
            RootCerts::new_with_certs(&[cert])
        }
        None => RootCerts::WebPki,
    };
    ureq::Agent::config_builder()
        .tls_config(TlsConfig::builder().root_certs(roots).build())
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}
