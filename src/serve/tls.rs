//! TLS for the webhook: rustls with TLS 1.2 and 1.3 only, ALPN `h2` and
//! `http/1.1`, an optional client-certificate requirement, and a serving
//! certificate that is swapped in place when its files change.
//!
//! The swap happens inside a [`ResolvesServerCert`]: each new handshake asks for the
//! current certificate, connections already open keep theirs, so nothing in flight
//! fails. A new pair that does not load (half-written, mismatched, expired key
//! format) is refused: the old one stays and the failure is logged and counted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

/// Errors loading TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate found")]
    NoCertificate { path: PathBuf },
    #[error("{path}: {message}")]
    BadPem { path: PathBuf, message: String },
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

/// The serving certificate and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    /// Reads both files (following symlinks, so a Secret volume's `..data` swap is
    /// seen as new content).
    pub fn read(&self) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
        Ok((read(&self.cert)?, read(&self.key)?))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A loaded certificate chain and key, with the leaf's expiry.
pub struct LoadedCert {
    pub key: Arc<CertifiedKey>,
    /// Leaf certificate not-after, as a Unix timestamp.
    pub not_after: i64,
}

/// Parses a PEM certificate chain and private key and checks that they belong
/// together.
pub fn load(files: &CertFiles, cert_pem: &[u8], key_pem: &[u8]) -> Result<LoadedCert, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::BadPem {
            path: files.cert.clone(),
            message: e.to_string(),
        })?;
    let leaf = chain.first().ok_or_else(|| TlsError::NoCertificate {
        path: files.cert.clone(),
    })?;
    let not_after = x509_parser::parse_x509_certificate(leaf)
        .map(|(_, c)| c.validity().not_after.timestamp())
        .map_err(|e| TlsError::BadPem {
            path: files.cert.clone(),
            message: e.to_string(),
        })?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::BadPem {
        path: files.key.clone(),
        message: e.to_string(),
    })?;
    let signing_key = provider().key_provider.load_private_key(key)?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified.keys_match().map_err(|_| TlsError::KeyMismatch)?;
    Ok(LoadedCert {
        key: Arc::new(certified),
        not_after,
    })
}

/// Hands the current certificate to every new handshake.
#[derive(Debug)]
pub struct ReloadingCert {
    current: ArcSwap<CertifiedKey>,
}

impl ReloadingCert {
    pub fn new(initial: Arc<CertifiedKey>) -> Self {
        ReloadingCert {
            current: ArcSwap::new(initial),
        }
    }

    /// Makes `key` the certificate for handshakes from now on.
    pub fn replace(&self, key: Arc<CertifiedKey>) {
        self.current.store(key);
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Builds the server configuration. With `client_ca`, clients must present a
/// certificate signed by one of its CAs (the apiserver's
/// `--admission-control-config-file` client certificate).
pub fn server_config(
    resolver: Arc<ReloadingCert>,
    client_ca: Option<&Path>,
) -> Result<ServerConfig, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let pem = read(path)?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| TlsError::BadPem {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
                roots.add(cert)?;
            }
            if roots.is_empty() {
                return Err(TlsError::NoCertificate {
                    path: path.to_owned(),
                });
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| TlsError::BadPem {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
