//! Images pulled from an OCI / Docker registry (the distribution API v2).
//!
//! [`Registry`] holds what every pull shares — the HTTP client, trust roots,
//! timeouts and the loaded docker configs; [`Registry::open`] parses an image
//! reference into a [`RegistrySource`], the [`ImageSource`] that
//! [`resolve`](super::manifest::resolve) and the layer walk read from.
//!
//! - Manifests are fetched with an `Accept` for OCI and Docker manifests and
//!   indexes, bounded to [`MAX_MANIFEST_BYTES`], and checked against the digest
//!   asked for. The registry's `Docker-Content-Digest` is never trusted: the
//!   bytes are hashed here.
//! - Blobs stream: the reader handed out reads from the socket through
//!   [`Verified`], so nothing is buffered and a wrong or short blob fails its
//!   last read. A stalled transfer fails after [`Timeouts::stall`].
//! - Requests go anonymously first; a 401 challenge is answered once, with
//!   basic credentials or a token (ARCHITECTURE.md, "The registry client").
//!
//! Every error names the image as given and what was asked (`tag v1`, `blob
//! sha256:…`); a refusal says whether credentials were sent and where they came
//! from, never what they are.

pub mod auth;
pub mod client;
pub mod credentials;
mod response;

use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use ureq::Body;
use ureq::http::Response;

use self::auth::Challenge;
use self::client::{Failure, Fetch, Http};
use self::credentials::{Credentials, DockerConfig, Lookup, Secret};
use self::response::{BlobReader, describe_read_error, registry_message};
use super::digest::{Digest, Verified};
use super::manifest::MAX_MANIFEST_BYTES;
use super::source::{ImageSource, SourceError};

pub use self::client::{Timeouts, TrustError, TrustRoots};
pub use self::credentials::{ConfigError, CredentialsSource};
pub use super::reference::{BadReference, Reference};

/// What the registry is asked to send for a manifest: OCI and Docker
/// schema 2, images and indexes (never schema 1).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// How to reach registries: the options a command line or `scan` fills in.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Where credentials come from, asked in order; the first with an entry
    /// for the registry wins. Empty means anonymous only.
    pub credentials: Vec<CredentialsSource>,
    /// Hosts (`name` or `name:port`) spoken to in plain HTTP; every other
    /// host only over TLS.
    pub insecure: Vec<String>,
    /// The trust roots for TLS.
    pub roots: TrustRoots,
    /// Extra CA certificates (PEM files) for private registries; they join
    /// the system store.
    pub extra_ca: Vec<PathBuf>,
    /// Connect and stall timeouts.
    pub timeouts: Timeouts,
}

impl RegistryOptions {
    /// The options `docker pull` would use: the docker config, TLS to every
    /// host, Mozilla's roots.
    pub fn docker_defaults() -> RegistryOptions {
        RegistryOptions {
            credentials: vec![CredentialsSource::DockerDefault],
            ..RegistryOptions::default()
        }
    }
}

/// Why a [`Registry`] cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A docker config could not be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The trust roots could not be loaded.
    #[error(transparent)]
    Trust(#[from] TrustError),
}

/// What every pull with one set of options shares. Cheap to clone; usable
/// from several threads.
#[derive(Debug, Clone)]
pub struct Registry {
    http: Arc<Http>,
    configs: Arc<Vec<DockerConfig>>,
    /// The credential sources as messages name them.
    searched: Arc<str>,
}

impl Registry {
    /// Loads the docker configs and trust roots named by `options`.
    pub fn new(options: &RegistryOptions) -> Result<Registry, RegistryError> {
        let http = Http::new(
            options.roots,
            &options.extra_ca,
            &options.insecure,
            options.timeouts,
        )?;
        Ok(Registry {
            http: Arc::new(http),
            configs: Arc::new(credentials::load(&options.credentials)?),
            searched: describe_sources(&options.credentials).into(),
        })
    }

    /// The same client with `first` asked for credentials before this one's
    /// sources: how `scan` adds a pod's pull secrets.
    pub fn with_credentials_first(
        &self,
        first: &[CredentialsSource],
    ) -> Result<Registry, ConfigError> {
        let mut configs = credentials::load(first)?;
        configs.extend(self.configs.iter().cloned());
        Ok(Registry {
            http: Arc::clone(&self.http),
            configs: Arc::new(configs),
            searched: format!("{}, {}", describe_sources(first), self.searched).into(),
        })
    }

    /// The image `reference` (as `docker pull` takes it) on its registry.
    pub fn open(&self, reference: &str) -> Result<RegistrySource, BadReference> {
        Ok(RegistrySource {
            registry: self.clone(),
            reference: Reference::parse(reference)?,
            given: reference.to_owned(),
            auth: Mutex::new(AuthState::default()),
        })
    }
}

fn describe_sources(sources: &[CredentialsSource]) -> String {
    if sources.is_empty() {
        return "no credential sources".into();
    }
    let names: Vec<String> = sources
        .iter()
        .map(|source| match source {
            CredentialsSource::DockerDefault => credentials::default_path()
                .map_or("the docker config".into(), |p| p.display().to_string()),
            CredentialsSource::File(path) => path.display().to_string(),
            CredentialsSource::Json { origin, .. } => origin.clone(),
        })
        .collect();
    names.join(", ")
}

/// One image on a registry: an [`ImageSource`].
#[derive(Debug)]
pub struct RegistrySource {
    registry: Registry,
    reference: Reference,
    given: String,
    auth: Mutex<AuthState>,
}

/// What this source has learnt about authenticating: the credentials looked
/// up (once, on the first challenge) and the `Authorization` value that works.
#[derive(Default)]
struct AuthState {
    lookup: Option<Lookup>,
    header: Option<String>,
}

/// Shows whether a header is held, never the token or password in it.
impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthState")
            .field("lookup", &self.lookup)
            .field("header", &self.header.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl RegistrySource {
    /// The parsed reference.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    fn state(&self) -> MutexGuard<'_, AuthState> {
        // A panic elsewhere while holding the lock leaves plain data behind.
        self.auth
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// GET `path` on the registry: anonymously or with what worked before;
    /// on a 401, once more after answering the challenge. Only 2xx comes back.
    fn request(
        &self,
        path: &str,
        accept: Option<&str>,
        fetch: Fetch,
        what: &str,
    ) -> Result<Response<Body>, SourceError> {
        let url = self.registry.http.url(self.reference.api_host(), path);
        let header = self.state().header.clone();
        let get = |header: Option<&str>| self.get(&url, accept, header, fetch, what);
        let mut response = get(header.as_deref())?;
        if response.status() == 401 {
            let challenge = response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .and_then(Challenge::parse);
            let header = self.authorize(challenge, what)?;
            response = get(Some(&header))?;
        }
        self.check_status(response, what)
    }

    fn get(
        &self,
        url: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
        fetch: Fetch,
        what: &str,
    ) -> Result<Response<Body>, SourceError> {
        self.registry
            .http
            .get(url, accept, authorization, fetch)
            .map_err(|failure| self.unavailable(what, &failure))
    }

    fn unavailable(&self, what: &str, failure: &Failure) -> SourceError {
        SourceError::Unavailable {
            what: what.to_owned(),
            detail: format!(
                "{} ({})",
                failure.describe(&self.registry.http.timeouts),
                self.reference.api_host()
            ),
        }
    }

    /// Answers a challenge: the `Authorization` value to retry with.
    fn authorize(&self, challenge: Option<Challenge>, what: &str) -> Result<String, SourceError> {
        let credentials = self.credentials();
        let header = match challenge {
            Some(Challenge::Basic) => auth::basic_of(credentials.as_ref()).ok_or_else(|| {
                self.denied(
                    what,
                    "HTTP 401: the registry asks for a user name and password",
                )
            })?,
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let scope = scope
                    .unwrap_or_else(|| format!("repository:{}:pull", self.reference.repository()));
                let token = self.fetch_token(
                    &realm,
                    service.as_deref(),
                    &scope,
                    credentials.as_ref(),
                    what,
                )?;
                format!("Bearer {token}")
            }
            None => {
                return Err(self.denied(
                    what,
                    "HTTP 401 without a Basic or Bearer challenge we can answer",
                ));
            }
        };
        self.state().header = Some(header.clone());
        Ok(header)
    }

    /// The credentials for this registry, looked up on first use.
    fn credentials(&self) -> Option<Credentials> {
        let mut state = self.state();
        state
            .lookup
            .get_or_insert_with(|| {
                credentials::lookup(&self.registry.configs, self.reference.registry())
            })
            .credentials
            .clone()
    }

    /// Asks the token endpoint for a pull token.
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        credentials: Option<&Credentials>,
        what: &str,
    ) -> Result<String, SourceError> {
        let realm_host = client::authority(realm);
        // Credentials cross the network in the clear only to a host the user
        // listed as insecure: an insecure registry may not send them elsewhere.
        let plain_allowed =
            realm.starts_with("http://") && self.registry.http.is_insecure(&realm_host);
        if !(realm.starts_with("https://") || plain_allowed) {
            return Err(self.denied(
                what,
                &format!(
                    "the token endpoint {realm:?} is not HTTPS, and {realm_host} is not \
                     listed with --insecure-registry"
                ),
            ));
        }
        let http = &self.registry.http;
        let agent = http.agent();
        let sent = match credentials.map(|c| &c.secret) {
            Some(Secret::IdentityToken(token)) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                    ("scope", scope),
                    ("client_id", "netdns-guard"),
                ];
                form.extend(service.map(|s| ("service", s)));
                http.within_document_deadline(agent.post(realm))
                    .send_form(form)
            }
            basic => {
                let mut request = http
                    .within_document_deadline(agent.get(realm))
                    .query("scope", scope);
                if let Some(service) = service {
                    request = request.query("service", service);
                }
                if let Some(Secret::Basic { username, password }) = basic {
                    request =
                        request.header("Authorization", auth::basic_header(username, password));
                }
                request.call()
            }
        };
        let mut response = sent.map_err(|e| self.unavailable(what, &Failure::Transport(e)))?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(self.denied(
                what,
                &format!("the token endpoint {realm_host} refused (HTTP {status})"),
            ));
        }
        let mut bytes = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(auth::MAX_TOKEN_ANSWER)
            .read_to_end(&mut bytes)
            .map_err(|e| {
                self.unavailable(what, &Failure::Redirect(format!("reading the token: {e}")))
            })?;
        if !response.status().is_success() {
            return Err(SourceError::Unavailable {
                what: what.to_owned(),
                detail: format!("the token endpoint {realm_host} answered HTTP {status}"),
            });
        }
        auth::token_from_answer(&bytes).map_err(|detail| SourceError::Unavailable {
            what: what.to_owned(),
            detail: format!("{detail} ({realm_host})"),
        })
    }

    /// A refusal, saying which credentials were used — never what they are.
    fn denied(&self, what: &str, why: &str) -> SourceError {
        let state = self.state();
        let used = match state.lookup.as_ref() {
            Some(Lookup {
                credentials: Some(credentials),
                ..
            }) => format!(
                "credentials for {} from {}",
                self.reference.registry(),
                credentials.origin
            ),
            Some(Lookup { notes, .. }) => {
                let mut text = format!(
                    "anonymous: no credentials for {} in {}",
                    self.reference.registry(),
                    self.registry.searched
                );
                for note in notes {
                    text.push_str("; ");
                    text.push_str(note);
                }
                text
            }
            None => "anonymous".into(),
        };
        SourceError::Denied {
            what: what.to_owned(),
            detail: format!("{why}; {used}"),
        }
    }

    /// Turns a non-2xx answer into the error it means.
    fn check_status(
        &self,
        response: Response<Body>,
        what: &str,
    ) -> Result<Response<Body>, SourceError> {
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(response);
        }
        let message = registry_message(response);
        let said = message
            .as_ref()
            .map_or(String::new(), |(_, m)| format!(": {m}"));
        match status {
            401 | 403 => Err(self.denied(what, &format!("HTTP {status}{said}"))),
            404 => Err(SourceError::NotFound {
                what: match message {
                    Some((code, _)) if code == "NAME_UNKNOWN" => format!(
                        "{}: repository {} on {}",
                        self.given,
                        self.reference.repository(),
                        self.reference.registry()
                    ),
                    _ => what.to_owned(),
                },
            }),
            _ => Err(SourceError::Unavailable {
                what: what.to_owned(),
                detail: format!("HTTP {status}{said} ({})", self.reference.api_host()),
            }),
        }
    }
}

impl ImageSource for RegistrySource {
    fn describe(&self) -> String {
        self.given.clone()
    }

    fn manifest(&self, digest: Option<&Digest>) -> Result<Vec<u8>, SourceError> {
        let pinned = digest.or(self.reference.digest());
        let (reference, what) = match (pinned, self.reference.tag()) {
            (Some(digest), _) => (
                digest.to_string(),
                format!("{}: manifest {digest}", self.given),
            ),
            (None, tag) => {
                let tag = tag.unwrap_or("latest");
                (tag.to_owned(), format!("{}: tag {tag}", self.given))
            }
        };
        let path = format!("/v2/{}/manifests/{reference}", self.reference.repository());
        let response = self.request(&path, Some(MANIFEST_ACCEPT), Fetch::Document, &what)?;
        let bytes = self.read_manifest(response, &what)?;
        if let Some(expected) = pinned {
            let actual = Digest::of(&bytes);
            if actual != *expected {
                return Err(SourceError::Invalid {
                    what,
                    detail: format!("the registry sent a manifest whose digest is {actual}"),
                });
            }
        }
        Ok(bytes)
    }

    fn blob<'a>(
        &'a self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Box<dyn Read + Send + 'a>, SourceError> {
        let what = format!("{}: blob {digest}", self.given);
        let path = format!("/v2/{}/blobs/{digest}", self.reference.repository());
        let response = self.request(&path, None, Fetch::Blob, &what)?;
        let reader = response.into_body().into_reader();
        Ok(Box::new(BlobReader {
            inner: Verified::new(reader, digest.clone(), size),
            what,
            timeouts: self.registry.http.timeouts,
        }))
    }
}

impl RegistrySource {
    /// Reads a manifest body, refusing one over [`MAX_MANIFEST_BYTES`] before
    /// and while reading it.
    fn read_manifest(&self, response: Response<Body>, what: &str) -> Result<Vec<u8>, SourceError> {
        let too_big = || SourceError::Invalid {
            what: what.to_owned(),
            detail: format!(
                "the manifest is over the {} MiB limit",
                MAX_MANIFEST_BYTES >> 20
            ),
        };
        let body = response.into_body();
        if body
            .content_length()
            .is_some_and(|n| n > MAX_MANIFEST_BYTES as u64)
        {
            return Err(too_big());
        }
        let mut bytes = Vec::new();
        body.into_reader()
            .take(MAX_MANIFEST_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| SourceError::Unavailable {
                what: what.to_owned(),
                detail: describe_read_error(&e, bytes.len() as u64, &self.registry.http.timeouts),
            })?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(too_big());
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_that_works_never_shows_in_debug() {
        let state = AuthState {
            lookup: None,
            header: Some("Bearer tok-secret".into()),
        };
        let text = format!("{state:?}");
        assert!(!text.contains("tok-secret"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}
