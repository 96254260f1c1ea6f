//! `netdns-guard certs --in-cluster`: the webhook's TLS material kept in Secrets by
//! the chart's hook Jobs and CronJob, with no cert-manager needed.
//!
//! Two Secrets: the CA (`ca.crt`, `ca.key`, `bundle.crt` — read only by this job)
//! and the serving pair (`kubernetes.io/tls`: `tls.crt`, `tls.key`, `ca.crt`) that
//! the webhook pods mount. Each run converges them:
//! - nothing there: a CA and a serving certificate are created;
//! - the serving certificate is missing, for other names, not signed by the current
//!   CA, or near expiry: a new one is issued;
//! - the CA is near expiry: a new CA signs from now on, and both CAs stay in the
//!   trust bundle (and the webhook's caBundle) so either serving certificate is
//!   accepted while pods reload; a later run, once the new serving certificate has
//!   been out for the overlap period, drops the old CA.
//!
//! The caBundle is patched before the serving Secret changes, so the apiserver
//! trusts a new certificate before any pod serves it. Deciding is pure ([`plan`]);
//! [`run`] only reads and writes the API objects.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use time::{Duration, OffsetDateTime};

use super::{CertError, KeyedCert, ServiceName, issue_serving, new_ca};

/// Annotation on the serving Secret: when its certificate was issued (Unix time).
pub const ISSUED_AT_ANNOTATION: &str = "netdns-guard.io/issued-at";

/// Renew the serving certificate when fewer days than this are left, unless told
/// otherwise (`certs --renew-before-days`).
pub const DEFAULT_RENEW_BEFORE_DAYS: u32 = 30;

/// What the in-cluster run keeps.
#[derive(Debug, Clone)]
pub struct Settings {
    pub name: ServiceName,
    pub ca_secret: String,
    pub tls_secret: String,
    /// MutatingWebhookConfiguration whose caBundle is kept in step, if any.
    pub webhook_configuration: Option<String>,
    /// Serving certificate lifetime.
    pub days: u32,
    /// Renew the serving certificate when it has less than this left.
    pub renew_before_days: u32,
    /// CA lifetime.
    pub ca_days: u32,
    /// Start a CA rotation when the CA has less than this left.
    pub ca_renew_before_days: u32,
    /// How long a new serving certificate is out before the old CA is dropped.
    pub overlap: Duration,
}

impl Settings {
    /// Defaults for `name`: one-year serving certificates renewed a month early, a
    /// ten-year CA rotated 90 days early, one hour of overlap.
    pub fn new(name: ServiceName, ca_secret: String, tls_secret: String) -> Self {
        Settings {
            name,
            ca_secret,
            tls_secret,
            webhook_configuration: None,
            days: super::DEFAULT_SERVING_DAYS,
            renew_before_days: DEFAULT_RENEW_BEFORE_DAYS,
            ca_days: 3650,
            ca_renew_before_days: 90,
            overlap: Duration::hours(1),
        }
    }
}

/// The material as found in, or to be written to, the two Secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    /// The CA that signs new serving certificates.
    pub ca: KeyedCert,
    /// Every CA to trust, newest first (PEM, concatenated).
    pub bundle: Vec<String>,
    pub serving: Option<Serving>,
}

/// The serving pair and when it was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serving {
    pub cert: KeyedCert,
    pub issued_at: i64,
}

/// Errors of an in-cluster run.
#[derive(Debug, thiserror::Error)]
pub enum InClusterError {
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error("Secret {secret}: {message}")]
    BadSecret { secret: String, message: String },
    #[error("{action}: {source}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
}

/// Facts about a PEM certificate.
struct CertInfo {
    not_after: i64,
    dns_names: Vec<String>,
}

fn info(pem: &str) -> Option<CertInfo> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    let dns_names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Some(CertInfo {
        not_after: cert.validity().not_after.timestamp(),
        dns_names,
    })
}

/// Whether `cert_pem` carries a valid signature by `ca_pem`'s key.
fn signed_by(cert_pem: &str, ca_pem: &str) -> bool {
    let parse = |pem: &str| {
        x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .ok()
            .map(|(_, p)| p)
    };
    let (Some(cert), Some(ca)) = (parse(cert_pem), parse(ca_pem)) else {
        return false;
    };
    let (Ok(cert), Ok(ca)) = (cert.parse_x509(), ca.parse_x509()) else {
        return false;
    };
    cert.verify_signature(Some(ca.public_key())).is_ok()
}

/// Splits concatenated PEM certificates.
pub fn split_pem(bundle: &str) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    bundle
        .split_inclusive(END)
        .map(str::trim)
        .filter(|c| c.contains("-----BEGIN CERTIFICATE-----"))
        .map(|c| format!("{c}\n"))
        .collect()
}

/// Decides the material from what exists at `now`. Returns what the Secrets must
/// hold; equal to `current` when nothing needs to change.
pub fn plan(
    current: Option<&Material>,
    settings: &Settings,
    now: OffsetDateTime,
) -> Result<Material, CertError> {
    let now_ts = now.unix_timestamp();
    let days = |d: u32| i64::from(d) * 86_400;
    let Some(current) = current else {
        let ca = new_ca(&settings.name, now, settings.ca_days)?;
        let serving = issue(&ca, settings, now)?;
        return Ok(Material {
            bundle: vec![ca.cert_pem.clone()],
            ca,
            serving: Some(serving),
        });
    };
    let mut next = current.clone();

    // Rotate the CA before it gets close to expiry.
    let ca_expires = info(&current.ca.cert_pem).map_or(0, |i| i.not_after);
    if ca_expires - now_ts < days(settings.ca_renew_before_days) {
        next.ca = new_ca(&settings.name, now, settings.ca_days)?;
        next.bundle.insert(0, next.ca.cert_pem.clone());
    }

    // A serving certificate for the right names, from the signing CA, not near expiry.
    let wanted = settings.name.server_name();
    let serving_ok = next.serving.as_ref().is_some_and(|s| {
        info(&s.cert.cert_pem).is_some_and(|i| {
            i.dns_names.contains(&wanted)
                && i.not_after - now_ts >= days(settings.renew_before_days)
        }) && signed_by(&s.cert.cert_pem, &next.ca.cert_pem)
    });
    if !serving_ok {
        next.serving = Some(issue(&next.ca, settings, now)?);
    }

    // Trust only CAs that are unexpired and still needed: the signing CA, and the
    // others until the current serving certificate has been out for the overlap.
    let serving_settled = next
        .serving
        .as_ref()
        .is_some_and(|s| now_ts - s.issued_at >= settings.overlap.whole_seconds());
    let signing = next.ca.cert_pem.clone();
    next.bundle.retain(|ca| {
        let unexpired = info(ca).is_some_and(|i| i.not_after > now_ts);
        *ca == signing || (unexpired && !serving_settled)
    });
    if !next.bundle.contains(&signing) {
        next.bundle.insert(0, signing);
    }
    Ok(next)
}

fn issue(ca: &KeyedCert, settings: &Settings, now: OffsetDateTime) -> Result<Serving, CertError> {
    Ok(Serving {
        cert: issue_serving(ca, &settings.name, now, settings.days)?,
        issued_at: now.unix_timestamp(),
    })
}

/// What a run did, for its log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    pub ca_secret_written: bool,
    pub tls_secret_written: bool,
    pub ca_bundle_patched: usize,
    pub trusted_cas: usize,
}

fn text(secret: &Secret, key: &str) -> Option<String> {
    let data = secret.data.as_ref()?.get(key)?;
    String::from_utf8(data.0.clone()).ok()
}

/// Reads the material from the two Secrets (`None` when the CA Secret is absent).
fn read_material(
    ca: Option<&Secret>,
    tls: Option<&Secret>,
    settings: &Settings,
) -> Result<Option<Material>, InClusterError> {
    let Some(ca_secret) = ca else {
        return Ok(None);
    };
    let bad = |message: &str| InClusterError::BadSecret {
        secret: settings.ca_secret.clone(),
        message: message.into(),
    };
    let ca = KeyedCert {
        cert_pem: text(ca_secret, "ca.crt").ok_or_else(|| bad("no ca.crt"))?,
        key_pem: text(ca_secret, "ca.key").ok_or_else(|| bad("no ca.key"))?,
    };
    let mut bundle = text(ca_secret, "bundle.crt")
        .map(|b| split_pem(&b))
        .unwrap_or_default();
    if bundle.is_empty() {
        bundle.push(ca.cert_pem.clone());
    }
    let serving = tls.and_then(|s| {
        let issued_at = s
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ISSUED_AT_ANNOTATION))
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        Some(Serving {
            cert: KeyedCert {
                cert_pem: text(s, "tls.crt")?,
                key_pem: text(s, "tls.key")?,
            },
            issued_at,
        })
    });
    Ok(Some(Material {
        ca,
        bundle,
        serving,
    }))
}

fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
        .collect()
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "app.kubernetes.io/managed-by".to_owned(),
        "netdns-guard".to_owned(),
    )])
}

/// Converges the Secrets and the webhook's caBundle. `now` is passed in so tests
/// can walk through a rotation.
pub async fn run(
    client: kube::Client,
    settings: &Settings,
    now: OffsetDateTime,
) -> Result<RunReport, InClusterError> {
    let namespace = &settings.name.namespace;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let api = |action: String| move |source| InClusterError::Api { action, source };
    let ca_secret = secrets
        .get_opt(&settings.ca_secret)
        .await
        .map_err(api(format!(
            "reading Secret {namespace}/{}",
            settings.ca_secret
        )))?;
    let tls_secret = secrets
        .get_opt(&settings.tls_secret)
        .await
        .map_err(api(format!(
            "reading Secret {namespace}/{}",
            settings.tls_secret
        )))?;
    let current = read_material(ca_secret.as_ref(), tls_secret.as_ref(), settings)?;
    let next = plan(current.as_ref(), settings, now)?;
    let bundle = next.bundle.concat();
    let mut report = RunReport {
        trusted_cas: next.bundle.len(),
        ..Default::default()
    };

    let ca_changed = current
        .as_ref()
        .is_none_or(|c| c.ca != next.ca || c.bundle != next.bundle);
    if ca_changed {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(settings.ca_secret.clone()),
                labels: Some(labels()),
                ..Default::default()
            },
            data: Some(data(&[
                ("ca.crt", &next.ca.cert_pem),
                ("ca.key", &next.ca.key_pem),
                ("bundle.crt", &bundle),
            ])),
            ..Default::default()
        };
        write(&secrets, ca_secret, secret).await?;
        report.ca_secret_written = true;
    }

    // Trust first, then serve: the apiserver must know the new CA before a pod
    // presents a certificate it signed.
    if let Some(name) = &settings.webhook_configuration {
        report.ca_bundle_patched = patch_ca_bundle(&client, name, &bundle).await?;
    }

    let serving_changed =
        current.as_ref().and_then(|c| c.serving.as_ref()) != next.serving.as_ref();
    let tls_bundle_stale = tls_secret
        .as_ref()
        .and_then(|s| text(s, "ca.crt"))
        .as_deref()
        != Some(bundle.as_str());
    if let Some(serving) = next
        .serving
        .as_ref()
        .filter(|_| serving_changed || tls_bundle_stale)
    {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(settings.tls_secret.clone()),
                labels: Some(labels()),
                annotations: Some(BTreeMap::from([(
                    ISSUED_AT_ANNOTATION.to_owned(),
                    serving.issued_at.to_string(),
                )])),
                ..Default::default()
            },
            type_: Some("kubernetes.io/tls".into()),
            data: Some(data(&[
                ("tls.crt", &serving.cert.cert_pem),
                ("tls.key", &serving.cert.key_pem),
                ("ca.crt", &bundle),
            ])),
            ..Default::default()
        };
        write(&secrets, tls_secret, secret).await?;
        report.tls_secret_written = true;
    }
    Ok(report)
}

/// Creates the Secret, or replaces it keeping its resourceVersion (so a concurrent
/// writer makes this run fail with a conflict instead of being overwritten).
async fn write(
    secrets: &Api<Secret>,
    existing: Option<Secret>,
    mut secret: Secret,
) -> Result<(), InClusterError> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let result = match existing {
        None => secrets.create(&PostParams::default(), &secret).await,
        Some(old) => {
            secret.metadata.resource_version = old.metadata.resource_version;
            let mut merged_labels = old.metadata.labels.unwrap_or_default();
            merged_labels.extend(secret.metadata.labels.take().unwrap_or_default());
            secret.metadata.labels = Some(merged_labels);
            secrets
                .replace(&name, &PostParams::default(), &secret)
                .await
        }
    };
    result.map(|_| ()).map_err(|source| InClusterError::Api {
        action: format!("writing Secret {name}"),
        source,
    })
}

/// Sets `caBundle` on every webhook of the configuration that lacks it. Returns how
/// many were changed; a configuration that does not exist yet (the pre-install hook
/// runs before the chart creates it) is skipped.
async fn patch_ca_bundle(
    client: &kube::Client,
    name: &str,
    bundle: &str,
) -> Result<usize, InClusterError> {
    let configs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let api = |action: String| move |source| InClusterError::Api { action, source };
    let Some(config) = configs
        .get_opt(name)
        .await
        .map_err(api(format!("reading MutatingWebhookConfiguration {name}")))?
    else {
        tracing::info!(%name, "MutatingWebhookConfiguration not there yet; caBundle left for a later run");
        return Ok(0);
    };
    let wanted = ByteString(bundle.as_bytes().to_vec());
    let ops: Vec<json_patch::PatchOperation> = config
        .webhooks
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter(|(_, w)| w.client_config.ca_bundle.as_ref() != Some(&wanted))
        .filter_map(|(i, _)| {
            let path = json_patch::jsonptr::PointerBuf::parse(format!(
                "/webhooks/{i}/clientConfig/caBundle"
            ))
            .ok()?;
            let value = serde_json::to_value(&wanted).ok()?;
            Some(json_patch::PatchOperation::Add(json_patch::AddOperation {
                path,
                value,
            }))
        })
        .collect();
    let changed = ops.len();
    if changed > 0 {
        configs
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Json::<()>(json_patch::Patch(ops)),
            )
            .await
            .map_err(api(format!("patching MutatingWebhookConfiguration {name}")))?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::new(
            ServiceName {
                service: "netdns-guard".into(),
                namespace: "netdns-guard".into(),
            },
            "netdns-guard-ca".into(),
            "netdns-guard-tls".into(),
        )
    }

    fn at(days: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap() + Duration::days(days)
    }

    #[test]
    fn a_first_plan_creates_a_ca_and_a_serving_certificate_it_signed() {
        let m = plan(None, &settings(), at(0)).unwrap();
        let serving = m.serving.as_ref().unwrap();
        assert!(signed_by(&serving.cert.cert_pem, &m.ca.cert_pem));
        assert_eq!(m.bundle, vec![m.ca.cert_pem.clone()]);
        assert!(
            info(&serving.cert.cert_pem)
                .unwrap()
                .dns_names
                .contains(&"netdns-guard.netdns-guard.svc".to_owned())
        );
    }

    #[test]
    fn a_settled_plan_changes_nothing() {
        let s = settings();
        let m = plan(None, &s, at(0)).unwrap();
        assert_eq!(plan(Some(&m), &s, at(1)).unwrap(), m);
    }

    #[test]
    fn the_serving_certificate_is_renewed_before_expiry_from_the_same_ca() {
        let s = settings();
        let m = plan(None, &s, at(0)).unwrap();
        let renewed = plan(Some(&m), &s, at(340)).unwrap();
        assert_eq!(renewed.ca, m.ca);
        assert_ne!(renewed.serving, m.serving);
        assert_eq!(renewed.bundle.len(), 1);
    }

    #[test]
    fn a_ca_rotation_overlaps_then_drops_the_old_ca() {
        let s = settings();
        let first = plan(None, &s, at(0)).unwrap();
        let near_expiry = at(3650 - 60);
        let rotating = plan(Some(&first), &s, near_expiry).unwrap();
        assert_ne!(rotating.ca, first.ca);
        assert_eq!(
            rotating.bundle,
            vec![rotating.ca.cert_pem.clone(), first.ca.cert_pem.clone()]
        );
        assert!(signed_by(
            &rotating.serving.as_ref().unwrap().cert.cert_pem,
            &rotating.ca.cert_pem
        ));
        // Within the overlap both stay; after it the old one goes.
        assert_eq!(
            plan(Some(&rotating), &s, near_expiry + Duration::minutes(10)).unwrap(),
            rotating
        );
        let settled = plan(Some(&rotating), &s, near_expiry + Duration::hours(2)).unwrap();
        assert_eq!(settled.bundle, vec![rotating.ca.cert_pem.clone()]);
        assert_eq!(settled.serving, rotating.serving);
    }

    #[test]
    fn pem_bundles_split_into_certificates() {
        let a = plan(None, &settings(), at(0)).unwrap().ca.cert_pem;
        let b = plan(None, &settings(), at(1)).unwrap().ca.cert_pem;
        assert_eq!(split_pem(&format!("{a}{b}")), vec![a, b]);
    }
}
