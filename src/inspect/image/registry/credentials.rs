//! Registry credentials from Docker's config file format: `~/.docker/config.json`,
//! `$DOCKER_CONFIG/config.json`, `--registry-config FILE`, or the same JSON
//! held in memory (a pull secret's `.dockerconfigjson`, or the older
//! `.dockercfg` whose top level is the `auths` map itself).
//!
//! For one registry host, each source is asked in turn and the first that has
//! something for it wins. Within a source the order is Docker's: a
//! `credHelpers` entry for the host, then an `auths` entry (`auth` base64,
//! `username`/`password`, `identitytoken`), then the `credsStore` helper. Keys
//! are normalised as Docker normalises them (`https://host/v1/` → `host`), and
//! Docker Hub answers to `https://index.docker.io/v1/`, `index.docker.io`,
//! `docker.io` and `registry-1.docker.io` alike.
//!
//! Secrets are never logged or shown: [`Credentials`]' `Debug` hides them, and
//! messages name only where credentials came from.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;

use netdns_guard_engine::catalog::is_docker_hub;

use crate::inspect::image::reference::DOCKER_HUB;

/// Docker Hub's key in `auths` and `credHelpers`, as `docker login` writes it.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// How long a credential helper may take before it is killed (a helper that
/// waits on a desktop prompt must not hang `inspect`).
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// Where credentials come from.
#[derive(Clone, PartialEq, Eq)]
pub enum CredentialsSource {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; absent is
    /// fine (anonymous).
    DockerDefault,
    /// A docker config file named by the user (`--registry-config`): it must exist.
    File(PathBuf),
    /// Docker config JSON held in memory, e.g. a pod's pull secret.
    Json {
        /// What it is, for messages: `secret default/regcred`.
        origin: String,
        /// The JSON (`{"auths": …}`, or the older `.dockercfg` map).
        json: String,
    },
}

impl fmt::Debug for CredentialsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialsSource::DockerDefault => f.write_str("DockerDefault"),
            CredentialsSource::File(path) => f.debug_tuple("File").field(path).finish(),
            CredentialsSource::Json { origin, .. } => f
                .debug_struct("Json")
                .field("origin", origin)
                .finish_non_exhaustive(),
        }
    }
}

/// Why a credentials source cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("registry config {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The JSON is not a docker config.
    #[error("registry config {origin}: not a docker config.json ({why})")]
    Parse {
        /// The file or in-memory source.
        origin: String,
        /// Where and of what kind the fault is, without the text at it: a
        /// config holds secrets, and serde's messages quote values.
        why: String,
    },
}

/// What a registry will be sent.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// A user name and password (or access token used as one).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint.
    IdentityToken(String),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .finish_non_exhaustive(),
            Secret::IdentityToken(_) => f.write_str("IdentityToken(..)"),
        }
    }
}

/// Credentials for one registry, and where they came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The secret.
    pub secret: Secret,
    /// Where it came from: `~/.docker/config.json`, `credential helper
    /// docker-credential-pass`, `secret default/regcred`. Safe to print.
    pub origin: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.secret {
            Secret::Basic { .. } => "basic",
            Secret::IdentityToken(_) => "identity token",
        };
        f.debug_struct("Credentials")
            .field("kind", &kind)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// The result of looking up one host: credentials if any, and notes on what
/// was tried and failed (a missing helper), for messages.
#[derive(Debug, Default)]
pub struct Lookup {
    /// The credentials found.
    pub credentials: Option<Credentials>,
    /// What went wrong on the way, safe to print.
    pub notes: Vec<String>,
}

/// One loaded docker config, keys normalised.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    origin: String,
    auths: BTreeMap<String, AuthEntry>,
    creds_store: Option<String>,
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Clone, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthEntry { .. }")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    /// Entries are read one by one: one that is not a credentials object is
    /// skipped, not allowed to spoil the others.
    #[serde(default)]
    auths: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

/// Loads every source that exists, in order. A missing default file is
/// skipped; a named file that is missing, or any source that is not a docker
/// config, is an error.
pub fn load(sources: &[CredentialsSource]) -> Result<Vec<DockerConfig>, ConfigError> {
    let mut configs = Vec::new();
    for source in sources {
        match source {
            CredentialsSource::DockerDefault => {
                if let Some(path) = default_path().filter(|p| p.is_file()) {
                    configs.push(load_file(&path)?);
                }
            }
            CredentialsSource::File(path) => configs.push(load_file(path)?),
            CredentialsSource::Json { origin, json } => {
                configs.push(DockerConfig::parse(origin, json)?);
            }
        }
    }
    Ok(configs)
}

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".docker").join("config.json"))
}

fn load_file(path: &Path) -> Result<DockerConfig, ConfigError> {
    let json = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_owned(),
        error,
    })?;
    DockerConfig::parse(&path.display().to_string(), &json)
}

/// A JSON error's kind and place, never the text it found there.
fn fault_of(error: &serde_json::Error) -> String {
    let kind = match error.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "a JSON syntax error",
        serde_json::error::Category::Data => "a value of the wrong type",
        serde_json::error::Category::Eof => "cut short",
    };
    format!("{kind} at line {}, column {}", error.line(), error.column())
}

impl DockerConfig {
    /// Parses a `config.json` / `.dockerconfigjson`, or a `.dockercfg` (the
    /// `auths` map alone).
    pub fn parse(origin: &str, json: &str) -> Result<DockerConfig, ConfigError> {
        let parse_error = |error: serde_json::Error| ConfigError::Parse {
            origin: origin.to_owned(),
            why: fault_of(&error),
        };
        let file: ConfigFile = serde_json::from_str(json).map_err(parse_error)?;
        let entries = match file.auths {
            Some(auths) => auths,
            // `.dockercfg`: the top level is the auths map (other keys of a
            // config.json without `auths` are not entries and are skipped).
            None => serde_json::from_str::<BTreeMap<String, serde_json::Value>>(json)
                .map_err(parse_error)?,
        };
        let auths: BTreeMap<String, AuthEntry> = entries
            .into_iter()
            .filter_map(|(key, value)| {
                serde_json::from_value::<AuthEntry>(value)
                    .ok()
                    .map(|e| (key, e))
            })
            .collect();
        Ok(DockerConfig {
            origin: origin.to_owned(),
            auths: auths
                .into_iter()
                .map(|(key, entry)| (normalise_key(&key), entry))
                .collect(),
            creds_store: file.creds_store.filter(|s| !s.is_empty()),
            cred_helpers: file
                .cred_helpers
                .into_iter()
                .map(|(key, helper)| (normalise_key(&key), helper))
                .collect(),
        })
    }

    /// What this config holds for `registry` (as references name it: `docker.io`,
    /// `host:5000`).
    fn lookup(&self, registry: &str, notes: &mut Vec<String>) -> Option<Credentials> {
        let host = normalise_key(registry);
        if let Some(helper) = self.cred_helpers.get(&host) {
            return run_helper(helper, registry, notes);
        }
        if let Some(entry) = self.auths.get(&host) {
            match self.credentials_in(entry, &host) {
                Ok(Some(credentials)) => return Some(credentials),
                Ok(None) => {}
                Err(note) => notes.push(note),
            }
        }
        let helper = self.creds_store.as_ref()?;
        run_helper(helper, registry, notes)
    }

    fn credentials_in(&self, entry: &AuthEntry, host: &str) -> Result<Option<Credentials>, String> {
        let origin = self.origin.clone();
        if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials {
                secret: Secret::IdentityToken(token.clone()),
                origin,
            }));
        }
        if let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
            let (username, password) = decode_auth(auth).ok_or_else(|| {
                format!("{origin}: the auth for {host} is not base64 of user:password")
            })?;
            return Ok(Some(Credentials {
                secret: Secret::Basic { username, password },
                origin,
            }));
        }
        match (&entry.username, &entry.password) {
            (Some(username), Some(password)) if !username.is_empty() => Ok(Some(Credentials {
                secret: Secret::Basic {
                    username: username.clone(),
                    password: password.clone(),
                },
                origin,
            })),
            _ => Ok(None),
        }
    }
}

/// Asks each config in turn for `registry`'s credentials.
pub fn lookup(configs: &[DockerConfig], registry: &str) -> Lookup {
    let mut lookup = Lookup::default();
    for config in configs {
        if let Some(credentials) = config.lookup(registry, &mut lookup.notes) {
            lookup.credentials = Some(credentials);
            break;
        }
    }
    lookup
}

/// Docker's `ConvertToHostname`, plus Docker Hub's aliases folded into one.
fn normalise_key(key: &str) -> String {
    let stripped = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = stripped
        .split('/')
        .next()
        .unwrap_or(stripped)
        .to_ascii_lowercase();
    if is_docker_hub(&host) {
        DOCKER_HUB.to_owned()
    } else {
        host
    }
}

fn decode_auth(auth: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// What a credential helper prints for `get`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

/// Runs `docker-credential-<helper> get` with the server URL on stdin, as
/// Docker does. A helper that is missing, fails or has nothing leaves a note
/// and no credentials (the pull goes on anonymously).
fn run_helper(helper: &str, registry: &str, notes: &mut Vec<String>) -> Option<Credentials> {
    let program = format!("docker-credential-{helper}");
    let server = if normalise_key(registry) == DOCKER_HUB {
        DOCKER_HUB_KEY
    } else {
        registry
    };
    let output = match run_with_timeout(&program, server) {
        Ok(output) => output,
        Err(note) => {
            notes.push(note);
            return None;
        }
    };
    let answer: HelperAnswer = match serde_json::from_slice(&output) {
        Ok(answer) => answer,
        Err(_) => {
            notes.push(format!(
                "credential helper {program} printed something that is not its JSON answer"
            ));
            return None;
        }
    };
    let origin = format!("credential helper {program}");
    // Docker's convention: the user name `<token>` marks an identity token.
    let secret = if answer.username == "<token>" {
        Secret::IdentityToken(answer.secret)
    } else {
        Secret::Basic {
            username: answer.username,
            password: answer.secret,
        }
    };
    Some(Credentials { secret, origin })
}

fn run_with_timeout(program: &str, server: &str) -> Result<Vec<u8>, String> {
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "the docker config names credential helper {program}, which is not installed (not on PATH)"
            ),
            _ => format!("credential helper {program} could not start: {e}"),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its stdin is not an error here.
        let _ = stdin.write_all(server.as_bytes());
    }
    let deadline = Instant::now() + HELPER_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) => {
                return Err(format!(
                    "credential helper {program} has no credentials for {server}"
                ));
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "credential helper {program} did not answer within {}s",
                    HELPER_TIMEOUT.as_secs()
                ));
            }
        }
    }
    let mut output = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        // The answer is a few hundred bytes; the bound keeps a broken helper
        // from filling memory.
        stdout
            .take(1 << 20)
            .read_to_end(&mut output)
            .map_err(|e| format!("credential helper {program}: {e}"))?;
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(username: &str, password: &str) -> Secret {
        Secret::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    fn find(json: &str, registry: &str) -> Lookup {
        let config = DockerConfig::parse("test", json).unwrap();
        lookup(&[config], registry)
    }

    #[test]
    fn a_malformed_entry_is_skipped_and_errors_never_quote_a_config() {
        // `docker login` never writes an entry as a bare string, but a Secret
        // written by hand may: that entry is skipped, the others still serve.
        let json = r#"{"auths": {
            "a.io": "YWxpY2U6aHVudGVyMg==",
            "b.io": {"username": "bob", "password": 1234},
            "c.io": {"username": "carol", "password": "pw"}
        }}"#;
        assert!(find(json, "a.io").credentials.is_none());
        assert!(find(json, "b.io").credentials.is_none());
        assert_eq!(
            find(json, "c.io").credentials.unwrap().secret,
            basic("carol", "pw")
        );
        // What is not a config at all is an error that says where, not what.
        for bad in [
            r#"{"auths": "YWxpY2U6aHVudGVyMg=="}"#,
            r#"{"auths": {"a.io": {"#,
        ] {
            let error = DockerConfig::parse("secret apps/regcred", bad)
                .unwrap_err()
                .to_string();
            assert!(!error.contains("YWxpY2U6aHVudGVyMg"), "{error}");
            assert!(
                error
                    .starts_with("registry config secret apps/regcred: not a docker config.json ("),
                "{error}"
            );
            assert!(error.contains(" at line 1, column "), "{error}");
        }
    }

    #[test]
    fn auths_entries_in_every_form_and_key_spelling() {
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cr:et");
        let json = format!(
            r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{auth}"}},
                "http://registry.local:5000/v2/": {{"username": "bob", "password": "pw"}},
                "ghcr.io": {{"identitytoken": "refresh"}},
                "empty.io": {{}}
            }}}}"#
        );
        let hub = find(&json, "docker.io").credentials.unwrap();
        assert_eq!(hub.secret, basic("alice", "s3cr:et"));
        assert_eq!(hub.origin, "test");
        assert_eq!(
            find(&json, "registry.local:5000")
                .credentials
                .unwrap()
                .secret,
            basic("bob", "pw")
        );
        assert_eq!(
            find(&json, "ghcr.io").credentials.unwrap().secret,
            Secret::IdentityToken("refresh".into())
        );
        assert!(find(&json, "empty.io").credentials.is_none());
        assert!(find(&json, "registry.local").credentials.is_none());
    }

    #[test]
    fn a_dockercfg_is_the_auths_map_itself() {
        let json = r#"{"registry.local": {"username": "u", "password": "p", "email": "x@y"}}"#;
        assert_eq!(
            find(json, "registry.local").credentials.unwrap().secret,
            basic("u", "p")
        );
    }

    #[test]
    fn the_first_source_with_credentials_wins() {
        let first = DockerConfig::parse(
            "first",
            r#"{"auths": {"a.io": {"username": "1", "password": "1"}}}"#,
        )
        .unwrap();
        let second = DockerConfig::parse(
            "second",
            r#"{"auths": {"a.io": {"username": "2", "password": "2"}, "b.io": {"username": "2", "password": "2"}}}"#,
        )
        .unwrap();
        let configs = [first, second];
        assert_eq!(
            lookup(&configs, "a.io").credentials.unwrap().origin,
            "first"
        );
        assert_eq!(
            lookup(&configs, "b.io").credentials.unwrap().origin,
            "second"
        );
    }

    #[test]
    fn a_missing_helper_is_a_note_not_an_error() {
        let json = r#"{"credsStore": "netdns-guard-no-such-helper", "auths": {"a.io": {}}}"#;
        let found = find(json, "a.io");
        assert!(found.credentials.is_none());
        assert!(
            found.notes[0]
                .contains("docker-credential-netdns-guard-no-such-helper, which is not installed"),
            "{:?}",
            found.notes
        );
    }

    #[test]
    fn bad_json_and_bad_auth_name_their_origin() {
        let error = DockerConfig::parse("/x/config.json", "{")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("registry config /x/config.json"),
            "{error}"
        );
        let found = find(r#"{"auths": {"a.io": {"auth": "%%%"}}}"#, "a.io");
        assert!(found.notes[0].contains("not base64"), "{:?}", found.notes);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let credentials = Credentials {
            secret: basic("alice", "hunter2"),
            origin: "test".into(),
        };
        let source = CredentialsSource::Json {
            origin: "secret ns/x".into(),
            json: "hunter2".into(),
        };
        let text = format!("{credentials:?} {source:?}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
