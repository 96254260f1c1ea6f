//! The registry client against a real registry (Debian's `docker-registry`,
//! the CNCF distribution registry) over plain HTTP, TLS with a test CA, and TLS
//! with basic auth; and against a scripted server for the faults a real
//! registry cannot produce (500, stall, truncation, wrong bytes, a token
//! endpoint that refuses, a redirect to another host).
//!
//! The layers pushed are not real tars: these tests prove that references
//! resolve to the right manifests and that blobs stream and verify; the layer
//! walk is tested with the image sources' own tests.

#![cfg(unix)]

mod support {
    #[allow(dead_code)]
    pub mod fake_registry;
    pub mod missing_tool;
    #[allow(dead_code)]
    pub mod registry;
}

use std::io::Read;
use std::time::{Duration, Instant};

use base64::Engine as _;
use netdns_guard::inspect::image::registry::{
    CredentialsSource, Registry, RegistryOptions, RegistrySource, Timeouts,
};
use netdns_guard::inspect::image::{
    Digest, ImageSource, PlatformChoice, SourceError, manifest::resolve,
};
use serde_json::Value;
use support::fake_registry::{Answer, FakeRegistry, TokenAuth};
use support::registry::{
    Compression, Format, ImageSpec, LayerSpec, Registry as TestRegistry, RegistryMode,
};

fn options() -> RegistryOptions {
    RegistryOptions {
        timeouts: Timeouts {
            connect: Duration::from_secs(5),
            stall: Duration::from_secs(2),
            ..Timeouts::default()
        },
        ..RegistryOptions::default()
    }
}

fn insecure(host: &str) -> RegistryOptions {
    RegistryOptions {
        insecure: vec![host.to_owned()],
        ..options()
    }
}

fn open(options: &RegistryOptions, reference: &str) -> RegistrySource {
    Registry::new(options)
        .expect("registry options")
        .open(reference)
        .expect("a reference")
}

fn read_blob(
    source: &RegistrySource,
    digest: &Digest,
    size: Option<u64>,
) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut reader = source.blob(digest, size).map_err(std::io::Error::other)?;
    // Small reads, as a layer walk makes them: the blob streams.
    let mut chunk = [0u8; 16 << 10];
    loop {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            return Ok(bytes);
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
}

fn layer(seed: u8, len: usize, compression: Compression) -> LayerSpec {
    LayerSpec {
        bytes: (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect(),
        compression,
    }
}

fn image(format: Format, arch: &str, layers: Vec<LayerSpec>) -> ImageSpec {
    ImageSpec {
        format,
        arch: arch.into(),
        variant: (arch == "arm64").then(|| "v8".into()),
        entrypoint: vec![format!("/usr/bin/agent-{arch}")],
        layers,
    }
}

/// Pushes a Docker v2 image, an OCI image with zstd and gzip layers, and a
/// two-platform index of each kind.
fn push_corpus(registry: &TestRegistry) -> Vec<LayerSpec> {
    let layers = vec![
        layer(1, 3 << 20, Compression::Gzip),
        layer(2, 1000, Compression::Zstd),
    ];
    registry.push_image(
        "agents/app",
        "docker",
        &image(Format::Docker, "amd64", vec![layers[0].clone()]),
    );
    registry.push_image(
        "agents/app",
        "oci",
        &image(Format::Oci, "amd64", layers.clone()),
    );
    for format in [Format::Oci, Format::Docker] {
        let tag = format!("multi-{format:?}").to_lowercase();
        let compression = if format == Format::Oci {
            Compression::Zstd
        } else {
            Compression::Gzip
        };
        let images: Vec<Value> = ["amd64", "arm64"]
            .iter()
            .enumerate()
            .map(|(i, arch)| {
                let spec = image(format, arch, vec![layer(10 + i as u8, 500, compression)]);
                registry.push_image("agents/app", &format!("{tag}-{arch}"), &spec)
            })
            .collect();
        registry.push_index("agents/app", &tag, format, &images);
    }
    layers
}

#[test]
fn plain_http_resolves_docker_oci_and_multi_arch_images_and_streams_blobs() {
    let Some(registry) = TestRegistry::start(RegistryMode::Plain) else {
        return;
    };
    let layers = push_corpus(&registry);
    let options = insecure(&registry.host());

    let oci = open(&options, &registry.reference("agents/app", "oci"));
    let images = resolve(&oci, &PlatformChoice::default()).unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].config.entrypoint, ["/usr/bin/agent-amd64"]);
    assert_eq!(images[0].layers.len(), 2);
    for (pushed, found) in layers.iter().zip(&images[0].layers) {
        let bytes = read_blob(&oci, &found.digest, Some(found.size)).unwrap();
        assert!(
            bytes == pushed.bytes,
            "layer {} streamed back unchanged",
            found.digest
        );
    }

    let docker = open(&options, &registry.reference("agents/app", "docker"));
    let docker_images = resolve(&docker, &PlatformChoice::default()).unwrap();
    assert_eq!(
        docker_images[0].layers[0].digest,
        images[0].layers[0].digest
    );

    for tag in ["multi-oci", "multi-docker"] {
        let multi = open(&options, &registry.reference("agents/app", tag));
        let arm = resolve(&multi, &"linux/arm64".parse().unwrap()).unwrap();
        assert_eq!(arm[0].config.entrypoint, ["/usr/bin/agent-arm64"], "{tag}");
        let all = resolve(&multi, &PlatformChoice::All).unwrap();
        let platforms: Vec<String> = all.iter().map(|i| i.platform.to_string()).collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"], "{tag}");
    }

    // Pinned by digest: the manifest is fetched by digest and checked.
    let pinned = format!(
        "{}/agents/app@{}",
        registry.host(),
        images[0].manifest_digest
    );
    let by_digest = resolve(&open(&options, &pinned), &PlatformChoice::default()).unwrap();
    assert_eq!(by_digest, images);
}

#[test]
fn not_found_names_the_tag_the_repository_or_the_blob() {
    let Some(registry) = TestRegistry::start(RegistryMode::Plain) else {
        return;
    };
    registry.push_image(
        "agents/app",
        "v1",
        &image(Format::Oci, "amd64", vec![layer(1, 10, Compression::Gzip)]),
    );
    let options = insecure(&registry.host());
    let reference = registry.reference("agents/app", "nope");
    let error = open(&options, &reference).manifest(None).unwrap_err();
    assert!(matches!(error, SourceError::NotFound { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("{reference}: tag nope not found")
    );

    // Distribution 2.8 answers MANIFEST_UNKNOWN for a repository it has never
    // seen too (registries that say NAME_UNKNOWN get "repository … on …").
    let missing_repo = registry.reference("agents/none", "v1");
    let error = open(&options, &missing_repo)
        .manifest(None)
        .unwrap_err()
        .to_string();
    assert_eq!(error, format!("{missing_repo}: tag v1 not found"));

    let source = open(&options, &registry.reference("agents/app", "v1"));
    let absent = Digest::of(b"absent");
    let error = source
        .blob(&absent, None)
        .err()
        .expect("no such blob")
        .to_string();
    assert!(
        error.contains(&format!("blob {absent}")) && error.ends_with("not found"),
        "{error}"
    );
}

#[test]
fn plain_http_goes_only_to_hosts_listed_as_insecure() {
    let Some(registry) = TestRegistry::start(RegistryMode::Plain) else {
        return;
    };
    let reference = registry.reference("agents/app", "v1");
    let error = open(&options(), &reference).manifest(None).unwrap_err();
    assert!(
        matches!(error, SourceError::Unavailable { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with(&format!("{reference}: tag v1")),
        "{error}"
    );
}

#[test]
fn tls_with_a_private_ca_and_basic_auth_from_docker_configs() {
    let Some(registry) = TestRegistry::start(RegistryMode::TlsBasicAuth) else {
        return;
    };
    registry.push_image(
        "agents/app",
        "v1",
        &image(
            Format::Oci,
            "amd64",
            vec![layer(1, 1000, Compression::Gzip)],
        ),
    );
    let reference = registry.reference("agents/app", "v1");
    let (user, password) = registry.creds.clone().unwrap();
    let ca = registry.ca.clone().unwrap();
    let trusted = RegistryOptions {
        extra_ca: vec![ca.clone()],
        ..options()
    };

    // Without the CA, the certificate is refused.
    let error = open(&options(), &reference)
        .manifest(None)
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!("{reference}: tag v1:"))
            && error.to_lowercase().contains("certificate"),
        "{error}"
    );

    // With it but anonymous: denied, saying no credentials were found.
    let error = open(&trusted, &reference).manifest(None).unwrap_err();
    assert!(matches!(error, SourceError::Denied { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains(&format!(
            "anonymous: no credentials for {}",
            registry.host()
        )),
        "{text}"
    );

    // Credentials from a pull secret's JSON (key spelled as `docker login` writes it).
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let secret = |auth: &str| CredentialsSource::Json {
        origin: "secret default/regcred".into(),
        json: format!(
            r#"{{"auths":{{"https://{}":{{"auth":"{auth}"}}}}}}"#,
            registry.host()
        ),
    };
    let with_secret = RegistryOptions {
        credentials: vec![secret(&auth)],
        ..trusted.clone()
    };
    let source = open(&with_secret, &reference);
    let images = resolve(&source, &PlatformChoice::default()).unwrap();
    let layer = &images[0].layers[0];
    assert_eq!(
        read_blob(&source, &layer.digest, Some(layer.size))
            .unwrap()
            .len(),
        1000
    );

    // From a config file named like --registry-config, username/password form.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"auths":{{"{}":{{"username":"{user}","password":"{password}"}}}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    let with_file = RegistryOptions {
        credentials: vec![CredentialsSource::File(file.clone())],
        ..trusted.clone()
    };
    assert!(open(&with_file, &reference).manifest(None).is_ok());

    // Wrong password: denied, naming where the credentials came from, not them.
    let wrong =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:not-the-password"));
    let with_wrong = RegistryOptions {
        credentials: vec![secret(&wrong)],
        ..trusted
    };
    let text = open(&with_wrong, &reference)
        .manifest(None)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("from secret default/regcred") && text.contains("HTTP 401"),
        "{text}"
    );
    assert!(
        !text.contains("not-the-password") && !text.contains(&wrong),
        "{text}"
    );
}

#[test]
fn tls_registry_with_its_ca_serves_a_multi_arch_index() {
    let Some(registry) = TestRegistry::start(RegistryMode::Tls) else {
        return;
    };
    push_corpus(&registry);
    let trusted = RegistryOptions {
        extra_ca: registry.ca.clone().into_iter().collect(),
        ..options()
    };
    let multi = open(&trusted, &registry.reference("agents/app", "multi-oci"));
    assert_eq!(resolve(&multi, &PlatformChoice::All).unwrap().len(), 2);
}

// Faults, from the scripted server.

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Serves `body`'s digest with `answer` on a scripted server and reads that
/// blob to its end: the reference, the digest, the read's error and how long
/// it took to fail.
fn read_faulty_blob(body: &[u8], answer: Answer) -> (String, Digest, String, Duration) {
    let fake = FakeRegistry::start();
    let digest = Digest::of(body);
    fake.route(&format!("/v2/app/blobs/{digest}"), answer);
    let reference = format!("{}/app:v1", fake.host());
    let source = open(&insecure(&fake.host()), &reference);
    let started = Instant::now();
    let error = read_blob(&source, &digest, Some(body.len() as u64))
        .expect_err("the faulty blob fails its read")
        .to_string();
    (reference, digest, error, started.elapsed())
}

#[test]
fn a_server_error_is_unavailable_with_its_status() {
    let fake = FakeRegistry::start();
    fake.route(
        "/v2/app/manifests/v1",
        Answer::error(500, "UNKNOWN", "database on fire"),
    );
    let reference = format!("{}/app:v1", fake.host());
    let error = open(&insecure(&fake.host()), &reference)
        .manifest(None)
        .unwrap_err();
    assert!(
        matches!(error, SourceError::Unavailable { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("{reference}: tag v1: HTTP 500: database on fire")),
        "{text}"
    );

    // A registry that says the repository is unknown gets it named.
    fake.route(
        "/v2/app/manifests/v2",
        Answer::error(404, "NAME_UNKNOWN", "repository name not known"),
    );
    let reference = format!("{}/app:v2", fake.host());
    let error = open(&insecure(&fake.host()), &reference)
        .manifest(None)
        .unwrap_err();
    let expected = format!("{reference}: repository app on {} not found", fake.host());
    assert_eq!(error.to_string(), expected);
}

#[test]
fn a_stalled_blob_fails_within_the_stall_timeout() {
    let body = vec![7u8; 100_000];
    let stall = Answer::Stall {
        body: body.clone(),
        sent: 40_000,
        hold: Duration::from_secs(30),
    };
    let (reference, digest, error, took) = read_faulty_blob(&body, stall);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let expected = format!("{reference}: blob {digest}: the registry stalled");
    assert!(error.starts_with(&expected), "{error}");
}

#[test]
fn a_manifest_that_drips_fails_within_the_document_deadline() {
    let fake = FakeRegistry::start();
    // Each byte comes well within the stall timeout; the whole never would.
    let drip = Answer::Drip {
        body: vec![b' '; 200],
        every: Duration::from_millis(250),
    };
    fake.route("/v2/app/manifests/v1", drip);
    let options = RegistryOptions {
        timeouts: Timeouts {
            document: Duration::from_secs(2),
            ..options().timeouts
        },
        ..insecure(&fake.host())
    };
    let started = Instant::now();
    let error = open(&options, &format!("{}/app:v1", fake.host()))
        .manifest(None)
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() < Duration::from_secs(20), "{error}");
    assert!(
        error.contains("the registry took over 2s for one answer"),
        "{error}"
    );
}

#[test]
fn a_truncated_blob_fails_naming_the_blob() {
    let body = vec![9u8; 50_000];
    let cut = Answer::Truncate {
        body: body.clone(),
        sent: 20_000,
    };
    let (reference, digest, error, _) = read_faulty_blob(&body, cut);
    assert!(
        error.starts_with(&format!("{reference}: blob {digest}:")),
        "{error}"
    );
    assert!(
        error.contains("cut off after") || error.contains("the manifest says"),
        "{error}"
    );
}

#[test]
fn wrong_bytes_fail_their_digest_for_blobs_and_manifests() {
    let (reference, digest, error, _) =
        read_faulty_blob(b"the real layer", Answer::ok(b"another layer!".to_vec()));
    let expected = format!("{reference}: blob {digest}: blob has digest");
    assert!(error.starts_with(&expected), "{error}");

    let fake = FakeRegistry::start();
    let manifest = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}"}}"#);
    let pinned = Digest::of(manifest.as_bytes());
    fake.route(
        &format!("/v2/app/manifests/{pinned}"),
        Answer::ok(format!("{manifest} ")),
    );
    let reference = format!("{}/app@{pinned}", fake.host());
    let error = open(&insecure(&fake.host()), &reference)
        .manifest(None)
        .unwrap_err();
    assert!(matches!(error, SourceError::Invalid { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("the registry sent a manifest whose digest is"),
        "{error}"
    );
}

#[test]
fn an_oversized_manifest_is_refused_before_it_is_read() {
    let fake = FakeRegistry::start();
    fake.route("/v2/app/manifests/v1", Answer::ok(vec![b' '; 5 << 20]));
    let error = open(&insecure(&fake.host()), &format!("{}/app:v1", fake.host()))
        .manifest(None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("over the 4 MiB limit"), "{error}");
}

fn token_fake() -> (FakeRegistry, TokenAuth) {
    let fake = FakeRegistry::start();
    let auth = TokenAuth {
        user: "robot".into(),
        password: "robot-pw".into(),
        token: "tok-123".into(),
    };
    fake.require_token(auth.clone());
    (fake, auth)
}

fn credentials_for(host: &str, user: &str, password: &str) -> CredentialsSource {
    CredentialsSource::Json {
        origin: "test config".into(),
        json: format!(
            r#"{{"auths":{{"{host}":{{"username":"{user}","password":"{password}"}}}}}}"#
        ),
    }
}

#[test]
fn the_bearer_token_flow_sends_basic_credentials_to_the_realm_only() {
    let (fake, auth) = token_fake();
    fake.route("/v2/app/manifests/v1", Answer::ok(b"{}".to_vec()));
    // The credentials come in as `scan` adds a pod's pull secret.
    let source = Registry::new(&insecure(&fake.host()))
        .unwrap()
        .with_credentials_first(&[credentials_for(&fake.host(), &auth.user, &auth.password)])
        .unwrap()
        .open(&format!("{}/app:v1", fake.host()))
        .unwrap();
    assert_eq!(source.manifest(None).unwrap(), b"{}");
    // The token is kept: a second request goes straight through.
    source.manifest(None).unwrap();
    let seen = fake.seen();
    let token_requests: Vec<_> = seen
        .iter()
        .filter(|(p, _)| p.starts_with("/token"))
        .collect();
    assert_eq!(token_requests.len(), 1, "{seen:?}");
    assert!(
        token_requests[0]
            .0
            .contains("scope=repository%3Aapp%3Apull"),
        "{seen:?}"
    );
    assert!(
        token_requests[0]
            .1
            .as_deref()
            .unwrap()
            .starts_with("Basic ")
    );
    let registry_auth: Vec<_> = seen
        .iter()
        .filter(|(p, _)| p.starts_with("/v2/"))
        .map(|(_, a)| a.clone())
        .collect();
    assert_eq!(
        registry_auth,
        [
            None,
            Some("Bearer tok-123".into()),
            Some("Bearer tok-123".into())
        ]
    );
}

#[test]
fn a_token_endpoint_that_refuses_is_denied_naming_the_credentials_source() {
    let (fake, auth) = token_fake();
    let options = RegistryOptions {
        credentials: vec![credentials_for(&fake.host(), &auth.user, "wrong-pw")],
        ..insecure(&fake.host())
    };
    let reference = format!("{}/app:v1", fake.host());
    let error = open(&options, &reference).manifest(None).unwrap_err();
    assert!(matches!(error, SourceError::Denied { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("{reference}: tag v1: access denied")),
        "{text}"
    );
    assert!(
        text.contains("token endpoint") && text.contains("refused (HTTP 401)"),
        "{text}"
    );
    assert!(
        text.contains("from test config") && !text.contains("wrong-pw"),
        "{text}"
    );
}

/// A 401 with a Bearer challenge naming `realm`.
fn challenge(realm: &str) -> Answer {
    Answer::Full {
        status: 401,
        headers: vec![(
            "WWW-Authenticate".into(),
            format!(r#"Bearer realm="{realm}",service="registry""#),
        )],
        body: Vec::new(),
    }
}

#[test]
fn a_challenge_from_where_the_registry_redirected_gets_no_credentials() {
    let registry = FakeRegistry::start();
    let storage = FakeRegistry::start();
    let collector = FakeRegistry::start();
    let body = b"layer bytes".to_vec();
    let digest = Digest::of(&body);
    registry.route(
        &format!("/v2/app/blobs/{digest}"),
        Answer::redirect(&format!("http://{}/bucket/blob", storage.host())),
    );
    // Storage taken over: it asks for a token from a host of its choosing.
    storage.route(
        "/bucket/blob",
        challenge(&format!("http://{}/token", collector.host())),
    );
    let options = RegistryOptions {
        credentials: vec![credentials_for(&registry.host(), "robot", "robot-pw")],
        insecure: vec![registry.host(), storage.host(), collector.host()],
        ..options()
    };
    let source = open(&options, &format!("{}/app:v1", registry.host()));
    let error = source
        .blob(&digest, None)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.contains(&format!(
            "{}, where the registry redirected, asks for credentials",
            storage.host()
        )),
        "{error}"
    );
    assert!(collector.seen().is_empty(), "{:?}", collector.seen());
}

#[test]
fn an_insecure_registry_cannot_send_credentials_in_the_clear_elsewhere() {
    let registry = FakeRegistry::start();
    let collector = FakeRegistry::start();
    registry.route(
        "/v2/app/manifests/v1",
        challenge(&format!("http://{}/token", collector.host())),
    );
    // Only the registry is listed: its token endpoint speaks plain HTTP on
    // another host, which the user never allowed.
    let options = RegistryOptions {
        credentials: vec![credentials_for(&registry.host(), "robot", "robot-pw")],
        ..insecure(&registry.host())
    };
    let source = open(&options, &format!("{}/app:v1", registry.host()));
    let error = source.manifest(None).expect_err("refused").to_string();
    assert!(
        error.contains(&format!(
            "and {} is not listed with --insecure-registry",
            collector.host()
        )),
        "{error}"
    );
    assert!(collector.seen().is_empty(), "{:?}", collector.seen());
}

#[test]
fn blob_redirects_to_another_host_drop_the_authorization() {
    let (fake, auth) = token_fake();
    let storage = FakeRegistry::start();
    let body = b"layer bytes in object storage".to_vec();
    let digest = Digest::of(&body);
    fake.route(
        &format!("/v2/app/blobs/{digest}"),
        Answer::redirect(&format!("http://{}/bucket/blob?sig=1", storage.host())),
    );
    storage.route("/bucket/blob", Answer::ok(body.clone()));
    let options = RegistryOptions {
        credentials: vec![credentials_for(&fake.host(), &auth.user, &auth.password)],
        insecure: vec![fake.host(), storage.host()],
        ..options()
    };
    let source = open(&options, &format!("{}/app:v1", fake.host()));
    assert_eq!(
        read_blob(&source, &digest, Some(body.len() as u64)).unwrap(),
        body
    );
    assert_eq!(storage.seen(), [("/bucket/blob?sig=1".to_owned(), None)]);

    // A redirect to plain HTTP on a host not listed as insecure is not followed.
    let only_registry = RegistryOptions {
        credentials: vec![credentials_for(&fake.host(), &auth.user, &auth.password)],
        ..insecure(&fake.host())
    };
    let source = open(&only_registry, &format!("{}/app:v1", fake.host()));
    let error = source
        .blob(&digest, None)
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("redirected to plain HTTP"), "{error}");
}
