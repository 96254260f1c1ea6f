//! A real server on loopback and real TLS clients: one that talks like
//! kube-apiserver (CA bundle, server name `<service>.<namespace>.svc`, ALPN
//! `http/1.1` only, keep-alive) and one that speaks HTTP/2.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use netdns_guard::certs::{self, Bundle, ServiceName};
use netdns_guard::serve::tls::CertFiles;
use netdns_guard::serve::{self, Limits, ServeConfig, Server};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::support::scratch::scratch_dir;

/// The name kube-apiserver verifies for a Service `netdns-guard` in namespace
/// `netdns-guard`.
pub const SERVER_NAME: &str = "netdns-guard.netdns-guard.svc";

pub fn service() -> ServiceName {
    ServiceName {
        service: "netdns-guard".into(),
        namespace: "netdns-guard".into(),
    }
}

/// Limits small enough for tests to hit them quickly.
pub fn test_limits() -> Limits {
    Limits {
        max_body_bytes: 1024 * 1024,
        handshake_timeout: Duration::from_secs(2),
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        max_in_flight: 64,
        max_buffered_body_bytes: 8 * 1024 * 1024,
        body_budget_wait: Duration::from_millis(500),
    }
}

/// A server with freshly generated certificates in `dir`.
pub struct Running {
    pub server: Server,
    pub bundle: Bundle,
    pub dir: TempDir,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }
}

pub fn config(dir: &Path, policy: Option<PathBuf>, client_ca: Option<PathBuf>) -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        path: "/mutate".into(),
        cert: CertFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
        },
        client_ca,
        policy,
        limits: test_limits(),
        reload_interval: Duration::from_millis(50),
        grace_period: Duration::from_secs(5),
    }
}

pub async fn start_with(tag: &str, policy: Option<&str>) -> Running {
    let dir = scratch_dir(tag);
    let bundle = certs::generate(&service(), 7).unwrap();
    certs::write_bundle(&bundle, dir.path()).unwrap();
    let policy_path = policy.map(|text| {
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, text).unwrap();
        path
    });
    let server = serve::start(config(dir.path(), policy_path, None))
        .await
        .unwrap();
    Running {
        server,
        bundle,
        dir,
    }
}

pub async fn start(tag: &str) -> Running {
    start_with(tag, None).await
}

/// Client TLS settings: trust `cas`, offer `alpn`, optionally present a certificate.
pub fn client_tls(
    cas: &[&str],
    alpn: &[&[u8]],
    identity: Option<(&str, &str)>,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .map(Result::unwrap)
                .collect();
            builder
                .with_client_auth_cert(
                    chain,
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap()
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // Like the apiserver's Go client (no ClientSessionCache): every connection does a
    // full handshake, so it sees the certificate being served now.
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// Connects and completes the TLS handshake as `SERVER_NAME`.
pub async fn connect(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    TlsConnector::from(tls)
        .connect(ServerName::try_from(SERVER_NAME).unwrap(), tcp)
        .await
}

/// An HTTP/1.1 keep-alive connection, one request at a time: what the apiserver
/// opens per concurrent call.
pub struct ApiserverConn {
    sender: http1::SendRequest<Full<Bytes>>,
    /// DER of the certificate the server presented.
    pub peer_cert: Vec<u8>,
}

impl ApiserverConn {
    pub async fn open(addr: SocketAddr, ca: &str) -> std::io::Result<Self> {
        Self::open_with(addr, client_tls(&[ca], &[b"http/1.1"], None)).await
    }

    pub async fn open_with(
        addr: SocketAddr,
        tls: Arc<rustls::ClientConfig>,
    ) -> std::io::Result<Self> {
        let stream = connect(addr, tls).await?;
        let (_, session) = stream.get_ref();
        assert_eq!(session.alpn_protocol(), Some(&b"http/1.1"[..]));
        let peer_cert = session.peer_certificates().unwrap()[0].to_vec();
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        Ok(ApiserverConn { sender, peer_cert })
    }

    /// POSTs `body` like the apiserver does; returns status and body.
    pub async fn post(&mut self, body: Vec<u8>) -> Result<(u16, Vec<u8>), hyper::Error> {
        self.post_as(body, "application/json").await
    }

    /// Whether the server answers `body` with a patch.
    pub async fn patches(&mut self, body: Vec<u8>) -> bool {
        let (status, answer) = self.post(body).await.unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        decode(&answer).1.is_some()
    }

    /// POSTs `body`; returns status, body and whether the answer said
    /// `connection: close`.
    pub async fn post_with_connection_header(&mut self, body: Vec<u8>) -> (u16, Vec<u8>, bool) {
        self.sender.ready().await.unwrap();
        let response = self
            .sender
            .send_request(request(body, "application/json"))
            .await
            .unwrap();
        let close = response
            .headers()
            .get(hyper::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body.to_vec(), close)
    }

    pub async fn post_as(
        &mut self,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(u16, Vec<u8>), hyper::Error> {
        self.sender.ready().await?;
        let response = self
            .sender
            .send_request(request(body, content_type))
            .await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes().to_vec();
        Ok((status, body))
    }
}

fn request(body: Vec<u8>, content_type: &str) -> Request<Full<Bytes>> {
    Request::post("/mutate?timeout=10s")
        .header("host", SERVER_NAME)
        .header("content-type", content_type)
        .header("accept", "application/json, */*")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// Sends one review over HTTP/2.
pub async fn post_h2(addr: SocketAddr, ca: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let stream = connect(addr, client_tls(&[ca], &[b"h2"], None))
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut req = request(body, "application/json");
    *req.uri_mut() = format!("https://{SERVER_NAME}/mutate?timeout=10s")
        .parse()
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

/// The AdmissionReview envelope around a bare request.
pub fn envelope(version: &str, request: Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "apiVersion": version, "kind": "AdmissionReview", "request": request })).unwrap()
}

/// A pod CREATE review for `image`.
pub fn pod_review(version: &str, uid: &str, image: &str) -> Vec<u8> {
    envelope(
        version,
        serde_json::json!({
            "uid": uid,
            "kind": { "group": "", "version": "v1", "kind": "Pod" },
            "resource": { "group": "", "version": "v1", "resource": "pods" },
            "requestKind": { "group": "", "version": "v1", "kind": "Pod" },
            "operation": "CREATE", "namespace": "logging",
            "userInfo": { "username": "system:serviceaccount:kube-system:daemon-set-controller", "groups": ["system:serviceaccounts"] },
            "object": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": { "generateName": "agent-", "namespace": "logging", "labels": { "app": "agent" },
                    "managedFields": [{ "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                        "fieldsType": "FieldsV1", "fieldsV1": { "f:metadata": { "f:labels": { ".": {}, "f:app": {} } } } }] },
                "spec": { "containers": [{ "name": "agent", "image": image, "env": [{ "name": "A", "value": "1" }] }] },
            },
            "oldObject": null, "dryRun": false,
            "options": { "apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions" },
        }),
    )
}

/// The decoded response and its JSON Patch, if any.
pub fn decode(body: &[u8]) -> (Value, Option<json_patch::Patch>) {
    use base64::Engine as _;
    let review: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)));
    let patch = review["response"]["patch"].as_str().map(|p| {
        assert_eq!(review["response"]["patchType"], "JSONPatch");
        let bytes = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    });
    (review, patch)
}

/// GETs a path on the plain-HTTP listener.
pub async fn get_plain(addr: SocketAddr, path: &str) -> (u16, String) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(connection);
    let req = Request::get(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}
