//! The HTTP side of the registry client: one `ureq` agent (rustls with ring,
//! no async runtime), its trust roots and timeouts, and GET with redirects
//! followed by hand.
//!
//! Redirects are followed here rather than by `ureq` so that two rules hold on
//! every hop: `Authorization` goes only to the host it was meant for (a blob
//! GET is usually redirected to object storage, which must not see the
//! registry token), and plain HTTP is used only for hosts the user listed as
//! insecure (a redirect must not downgrade a pull to cleartext).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ureq::http::{Response, Uri};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::{Agent, Body, RequestBuilder};

/// Redirects followed before giving up (distribution needs one, to storage).
const MAX_REDIRECTS: usize = 10;

/// How long the client waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To open a connection, TLS handshake included.
    pub connect: Duration,
    /// For any one read (response headers or body bytes) to make progress: a
    /// registry that stops sending mid-blob fails after this long, however
    /// large the blob.
    pub stall: Duration,
    /// For a whole small answer (a manifest, a token, an error body), each
    /// hop of a redirect on its own: a registry that sends one byte just
    /// before each stall would otherwise hold a reader for days. Blobs have
    /// only `stall`, as a large layer may rightly take long.
    pub document: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            stall: Duration::from_secs(30),
            document: Duration::from_secs(60),
        }
    }
}

/// Which certificate authorities TLS connections trust.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TrustRoots {
    /// Mozilla's roots, built in (works in images without a CA bundle).
    #[default]
    WebPki,
    /// The operating system's store (`/etc/ssl/certs` on Debian), as `docker` uses.
    System,
}

/// Why the client cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A `--registry-ca` file could not be read or holds no certificate.
    #[error("registry CA file {path}: {detail}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The system store is empty or unreadable.
    #[error("the system certificate store: {0}")]
    System(String),
}

/// Why a GET failed before a response could be judged.
#[derive(Debug)]
pub enum Failure {
    /// Connecting, TLS, sending or waiting for headers failed.
    Transport(ureq::Error),
    /// A redirect that is not followed, and why.
    Redirect(String),
}

impl Failure {
    /// A message for people: what failed, with the timeout that fired.
    pub fn describe(&self, timeouts: &Timeouts) -> String {
        match self {
            Failure::Transport(ureq::Error::Timeout(ureq::Timeout::Connect)) => {
                format!(
                    "could not connect within {}s",
                    timeouts.connect.as_secs_f32()
                )
            }
            Failure::Transport(ureq::Error::Timeout(ureq::Timeout::Global)) => format!(
                "the registry took over {}s for one answer",
                timeouts.document.as_secs_f32()
            ),
            Failure::Transport(ureq::Error::Timeout(_)) => format!(
                "the registry stalled: no answer within {}s",
                timeouts.stall.as_secs_f32()
            ),
            Failure::Transport(error) => format!("request failed: {error}"),
            Failure::Redirect(why) => why.clone(),
        }
    }
}

/// What a GET fetches, which decides how long it may take as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// A manifest or an error answer: small, so whole within
    /// [`Timeouts::document`].
    Document,
    /// A blob: only the stall timeout, as a large layer may rightly take long.
    Blob,
}

/// The HTTP client, shared by every image pulled with one set of options.
#[derive(Debug)]
pub struct Http {
    agent: Agent,
    insecure: Vec<String>,
    /// The timeouts the agent was built with, for messages.
    pub timeouts: Timeouts,
}

impl Http {
    /// An agent that trusts `roots` plus `extra_ca`, with `timeouts`, speaking
    /// plain HTTP to the hosts in `insecure` only.
    pub fn new(
        roots: TrustRoots,
        extra_ca: &[PathBuf],
        insecure: &[String],
        timeouts: Timeouts,
    ) -> Result<Http, TrustError> {
        let tls = TlsConfig::builder()
            .root_certs(root_certs(roots, extra_ca)?)
            .build();
        let config = Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(timeouts.connect))
            .timeout_send_request(Some(timeouts.stall))
            .timeout_recv_response(Some(timeouts.stall))
            .timeout_per_read(Some(timeouts.stall))
            .timeout_per_write(Some(timeouts.stall))
            .user_agent(concat!("netdns-guard/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Http {
            agent: config.into(),
            insecure: insecure
                .iter()
                .map(|h| strip_scheme(h).to_owned())
                .collect(),
            timeouts,
        })
    }

    /// `request` bounded as a whole by [`Timeouts::document`].
    pub fn within_document_deadline<A>(&self, request: RequestBuilder<A>) -> RequestBuilder<A> {
        request
            .config()
            .timeout_global(Some(self.timeouts.document))
            .build()
    }

    /// The agent, for requests that are not registry GETs (the token POST).
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// Whether `host` (`name` or `name:port`) may be spoken to in plain HTTP:
    /// listed as it is, or by name alone (any port).
    pub fn is_insecure(&self, host: &str) -> bool {
        let name = host_name(host);
        self.insecure
            .iter()
            .any(|entry| entry == host || entry == name)
    }

    /// `https://host/path`, or `http://` for an insecure host.
    pub fn url(&self, host: &str, path: &str) -> String {
        let scheme = if self.is_insecure(host) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}{path}")
    }

    /// GETs `url`, following redirects; `authorization` goes only to `url`'s
    /// own host. The response may have any status but a redirect, and but a
    /// 401 from another host: a challenge is answered with the registry's
    /// credentials, so only the registry itself may make one (object storage
    /// or a CDN it redirects to could otherwise name where they are sent).
    pub fn get(
        &self,
        url: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
        fetch: Fetch,
    ) -> Result<Response<Body>, Failure> {
        let origin = authority(url);
        let mut url = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.agent.get(&url);
            if let Some(accept) = accept {
                request = request.header("Accept", accept);
            }
            if let Some(value) = authorization.filter(|_| authority(&url) == origin) {
                request = request.header("Authorization", value);
            }
            if fetch == Fetch::Document {
                request = self.within_document_deadline(request);
            }
            let response = request.call().map_err(Failure::Transport)?;
            let elsewhere = authority(&url) != origin;
            if response.status() == 401 && elsewhere {
                return Err(Failure::Redirect(format!(
                    "{}, where the registry redirected, asks for credentials (HTTP 401); \
                     the registry's are not sent there",
                    authority(&url)
                )));
            }
            if !response.status().is_redirection() {
                return Ok(response);
            }
            url = self.next_hop(&url, &response)?;
        }
        Err(Failure::Redirect(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }

    fn next_hop(&self, from: &str, response: &Response<Body>) -> Result<String, Failure> {
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Failure::Redirect(format!(
                    "HTTP {} redirect without a Location",
                    response.status().as_u16()
                ))
            })?;
        let next = join(from, location).map_err(Failure::Redirect)?;
        let host = authority(&next);
        if next.starts_with("http://") && !self.is_insecure(&host) {
            return Err(Failure::Redirect(format!(
                "redirected to plain HTTP at {host}, which is not an insecure registry"
            )));
        }
        Ok(next)
    }
}

/// The root store: Mozilla's alone, or the system's plus the extra CAs.
/// ureq cannot add certificates to its built-in Mozilla roots, so extra CAs
/// join the system store (as Docker's `certs.d` CAs do).
fn root_certs(roots: TrustRoots, extra_ca: &[PathBuf]) -> Result<RootCerts, TrustError> {
    if roots == TrustRoots::WebPki && extra_ca.is_empty() {
        return Ok(RootCerts::WebPki);
    }
    let mut certs = system_certs(extra_ca.is_empty())?;
    for path in extra_ca {
        certs.extend(ca_file(path)?);
    }
    Ok(RootCerts::new_with_certs(&certs))
}

/// The system store's certificates; with `required`, an empty store is an
/// error (with extra CAs, the extra CAs alone will do).
fn system_certs(required: bool) -> Result<Vec<Certificate<'static>>, TrustError> {
    let loaded = rustls_native_certs::load_native_certs();
    let certs: Vec<Certificate<'static>> = loaded
        .certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    if certs.is_empty() && required {
        let why = loaded
            .errors
            .first()
            .map_or("no certificates found".to_owned(), ToString::to_string);
        return Err(TrustError::System(why));
    }
    Ok(certs)
}

fn ca_file(path: &Path) -> Result<Vec<Certificate<'static>>, TrustError> {
    let error = |detail: String| TrustError::CaFile {
        path: path.to_owned(),
        detail,
    };
    let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => return Err(error(format!("not PEM: {e}"))),
        }
    }
    if certs.is_empty() {
        return Err(error("holds no PEM certificate".into()));
    }
    Ok(certs)
}

fn strip_scheme(host: &str) -> &str {
    let host = host
        .strip_prefix("https://")
        .or_else(|| host.strip_prefix("http://"))
        .unwrap_or(host);
    host.trim_end_matches('/')
}

/// `host` without its port (IPv6 brackets kept).
fn host_name(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty() => {
            if name.contains(':') && !name.ends_with(']') {
                host
            } else {
                name
            }
        }
        _ => host,
    }
}

/// The `host[:port]` of a URL; empty when it has none.
pub fn authority(url: &str) -> String {
    url.parse::<Uri>()
        .ok()
        .and_then(|uri| uri.authority().map(|a| a.as_str().to_ascii_lowercase()))
        .unwrap_or_default()
}

/// Resolves a `Location` against the URL that answered with it (RFC 3986's
/// common cases: absolute, scheme-relative, absolute path, relative path).
fn join(base: &str, location: &str) -> Result<String, String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Ok(location.to_owned());
    }
    let uri: Uri = base
        .parse()
        .map_err(|e| format!("cannot follow a redirect from {base}: {e}"))?;
    let scheme = uri.scheme_str().unwrap_or("https");
    if let Some(rest) = location.strip_prefix("//") {
        return Ok(format!("{scheme}://{rest}"));
    }
    let authority = uri.authority().map_or("", |a| a.as_str());
    if location.starts_with('/') {
        return Ok(format!("{scheme}://{authority}{location}"));
    }
    let dir = uri.path().rsplit_once('/').map_or("", |(dir, _)| dir);
    Ok(format!("{scheme}://{authority}{dir}/{location}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_locations_resolve() {
        let base = "https://reg:5000/v2/app/blobs/sha256:ab?x=1";
        assert_eq!(join(base, "https://s3/x").unwrap(), "https://s3/x");
        assert_eq!(join(base, "//cdn/x").unwrap(), "https://cdn/x");
        assert_eq!(join(base, "/other").unwrap(), "https://reg:5000/other");
        assert_eq!(
            join(base, "near").unwrap(),
            "https://reg:5000/v2/app/blobs/near"
        );
    }

    #[test]
    fn insecure_hosts_match_with_or_without_port() {
        let http = Http::new(
            TrustRoots::WebPki,
            &[],
            &["localhost:5000".into(), "http://plain.local/".into()],
            Timeouts::default(),
        )
        .unwrap();
        assert!(http.is_insecure("localhost:5000"));
        assert!(!http.is_insecure("localhost:5001"));
        assert!(http.is_insecure("plain.local:8080"));
        assert!(!http.is_insecure("other.local"));
        assert_eq!(
            http.url("localhost:5000", "/v2/"),
            "http://localhost:5000/v2/"
        );
        assert_eq!(http.url("reg.io", "/v2/"), "https://reg.io/v2/");
        assert_eq!(authority("HTTPS://Reg.IO:443/v2/"), "reg.io:443");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("netdns-guard-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let error = root_certs(TrustRoots::WebPki, std::slice::from_ref(&path))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("empty.pem") && error.contains("no PEM certificate"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
