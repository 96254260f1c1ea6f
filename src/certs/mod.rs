//! TLS material for the webhook: a private CA and a serving certificate whose SANs
//! are what kube-apiserver checks (`<service>.<namespace>.svc`; the CN is ignored).
//!
//! Used by `netdns-guard certs` (files, or Secrets in the cluster: [`in_cluster`])
//! and `serve --self-signed` (local use).

pub mod in_cluster;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

/// Where the webhook is reached: the names the serving certificate must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceName {
    pub service: String,
    pub namespace: String,
}

impl ServiceName {
    /// The name kube-apiserver verifies: `<service>.<namespace>.svc`.
    pub fn server_name(&self) -> String {
        format!("{}.{}.svc", self.service, self.namespace)
    }

    /// Every DNS name a client in or out of the cluster may use.
    fn dns_names(&self) -> Vec<String> {
        let (s, ns) = (&self.service, &self.namespace);
        vec![
            s.clone(),
            format!("{s}.{ns}"),
            format!("{s}.{ns}.svc"),
            format!("{s}.{ns}.svc.cluster.local"),
            "localhost".into(),
        ]
    }
}

/// A CA and a serving certificate it signed, all PEM.
#[derive(Clone)]
pub struct Bundle {
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Bundle {
    // Keys never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle").finish_non_exhaustive()
    }
}

/// Days a serving certificate is valid unless told otherwise (`certs --days`).
pub const DEFAULT_SERVING_DAYS: u32 = 365;

/// Certificate generation or file errors.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Generates a CA valid for ten years (at least `days`) and a serving certificate
/// valid for `days`, for `name` plus localhost and the loopback addresses.
pub fn generate(name: &ServiceName, days: u32) -> Result<Bundle, CertError> {
    let now = OffsetDateTime::now_utc();
    let ca = new_ca(name, now, days.max(3650))?;
    let serving = issue_serving(&ca, name, now, days)?;
    Ok(Bundle {
        ca_cert_pem: ca.cert_pem,
        ca_key_pem: ca.key_pem,
        cert_pem: serving.cert_pem,
        key_pem: serving.key_pem,
    })
}

/// A certificate and its private key, PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for KeyedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedCert").finish_non_exhaustive()
    }
}

// Backdated an hour so a node whose clock is a little behind accepts it.
const BACKDATE: Duration = Duration::hours(1);

/// A new CA, valid `days` from `now`. Its name carries the time so that two CAs
/// of one webhook (during a rotation) are told apart.
pub fn new_ca(name: &ServiceName, now: OffsetDateTime, days: u32) -> Result<KeyedCert, CertError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let stamp = now.unix_timestamp();
    params.distinguished_name = distinguished_name(&format!(
        "netdns-guard CA {}/{} {stamp}",
        name.namespace, name.service
    ));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(i64::from(days));
    let cert = params.self_signed(&key)?;
    Ok(KeyedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A serving certificate for `name`, localhost and loopback, signed by `ca`.
pub fn issue_serving(
    ca: &KeyedCert,
    name: &ServiceName,
    now: OffsetDateTime,
    days: u32,
) -> Result<KeyedCert, CertError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(name.dns_names())?;
    for ip in ["127.0.0.1", "::1"] {
        if let Ok(ip) = ip.parse::<IpAddr>() {
            params.subject_alt_names.push(SanType::IpAddress(ip));
        }
    }
    params.distinguished_name = distinguished_name(&name.server_name());
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    // ClientAuth too, so the same tooling can make the apiserver's client identity
    // for --client-ca set-ups.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(i64::from(days));
    let cert = params.signed_by(&key, &issuer)?;
    Ok(KeyedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "netdns-guard");
    dn
}

/// Writes `ca.crt`, `ca.key`, `tls.crt` and `tls.key` (the Secret key names) into
/// `dir`. Each file is written to a temporary name and renamed, so a reader never
/// sees half a file; keys are created readable by the owner only.
pub fn write_bundle(bundle: &Bundle, dir: &Path) -> Result<(), CertError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| CertError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for (file, content, private) in [
        ("ca.crt", &bundle.ca_cert_pem, false),
        ("ca.key", &bundle.ca_key_pem, true),
        ("tls.crt", &bundle.cert_pem, false),
        ("tls.key", &bundle.key_pem, true),
    ] {
        write_atomically(&dir.join(file), content.as_bytes(), private)
            .map_err(io(&dir.join(file)))?;
    }
    Ok(())
}

/// Writes `content` to `path` through a temporary file and a rename.
pub fn write_atomically(path: &Path, content: &[u8], private: bool) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = options.open(&tmp)?;
    file.write_all(content)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serving_certificate_names_the_service_and_is_signed_by_the_ca() {
        let name = ServiceName {
            service: "netdns-guard".into(),
            namespace: "logging".into(),
        };
        let bundle = generate(&name, 30).unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(bundle.cert_pem.as_bytes()).unwrap();
        let cert = pem.parse_x509().unwrap();
        let sans = cert
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .clone();
        let names: Vec<String> = sans.iter().map(|n| n.to_string()).collect();
        assert!(
            names.iter().any(|n| n.contains("netdns-guard.logging.svc")),
            "{names:?}"
        );
        let loopback = sans.iter().any(|n| matches!(n, x509_parser::extensions::GeneralName::IPAddress(ip) if *ip == [127, 0, 0, 1]));
        assert!(loopback, "{names:?}");
        let (_, ca_pem) = x509_parser::pem::parse_x509_pem(bundle.ca_cert_pem.as_bytes()).unwrap();
        let ca = ca_pem.parse_x509().unwrap();
        assert!(ca.is_ca());
        assert_eq!(cert.issuer(), ca.subject());
        // Backdated one hour against clock skew, valid for 30 days from now.
        let hours =
            (cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp()) / 3600;
        assert_eq!(hours, 30 * 24 + 1);
    }

    #[test]
    fn bundles_are_written_whole_with_private_keys_protected() {
        let dir = std::env::temp_dir().join(format!("netdns-guard-certs-{}", std::process::id()));
        let name = ServiceName {
            service: "s".into(),
            namespace: "n".into(),
        };
        write_bundle(&generate(&name, 1).unwrap(), &dir).unwrap();
        for file in ["ca.crt", "ca.key", "tls.crt", "tls.key"] {
            assert!(
                std::fs::read_to_string(dir.join(file))
                    .unwrap()
                    .starts_with("-----BEGIN")
            );
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("tls.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
