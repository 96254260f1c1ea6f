//! Image references, split by one grammar — Docker's (distribution's
//! `reference` package): `[host[:port]/]path[:tag][@sha256:digest]` — and read
//! two ways.
//!
//! The first path component is a registry host when it has a `.` or a `:`, or
//! is `localhost` (the engine's [`is_registry_host`], so the catalog and this
//! module never disagree on it); otherwise the image lives on Docker Hub,
//! whose single-component names live under `library/`. A reference with
//! neither tag nor digest means `:latest`.
//!
//! - [`Reference`] is a reference checked as `docker pull` checks it, with a
//!   [`BadReference`] saying what is wrong: what the registry client pulls.
//! - [`ImageName`] is the same split and normalisation without the checks:
//!   names that are only compared or written, as `docker save` archives
//!   (`RepoTags`) and OCI layouts (`org.opencontainers.image.ref.name`) record
//!   them. The OCI annotation may be a bare tag (`v1`, `1.0-RC+build`) or use
//!   characters a repository may not; such a name must still find its image
//!   and name a policy entry as it always did, even though nothing could pull
//!   it. For every reference [`Reference::parse`] accepts, [`ImageName::parse`]
//!   gives the same registry, repository and version.

use std::fmt;

use netdns_guard_engine::catalog::{is_docker_hub, is_registry_host};

use crate::inspect::image::Digest;

/// Docker Hub's name in references (and in what `docker` prints).
pub const DOCKER_HUB: &str = "docker.io";

/// The host Docker Hub's registry API answers on.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Distribution's limit on a repository name (`reference.NameTotalLengthMax`).
const MAX_NAME_LEN: usize = 255;

/// Distribution's limit on a tag.
const MAX_TAG_LEN: usize = 128;

/// A parsed, checked and normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not an image reference: the string, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image reference {given:?} is malformed: {problem}")]
pub struct BadReference {
    /// The reference as given (cut to 200 characters).
    pub given: String,
    /// What is wrong with it.
    pub problem: String,
}

impl Reference {
    /// Parses `text` as `docker pull` would.
    ///
    /// One departure from Docker: `registry-1.docker.io` (Docker Hub's API
    /// host) is read as Docker Hub, like `index.docker.io`, as the engine's
    /// catalog reads it; the pull goes to the same host either way.
    pub fn parse(text: &str) -> Result<Reference, BadReference> {
        let bad = |problem: String| BadReference {
            given: text.chars().take(200).collect(),
            problem,
        };
        if text.is_empty() {
            return Err(bad("it is empty".into()));
        }
        let parts = Parts::split(text);
        let digest = parts
            .digest
            .map(str::parse::<Digest>)
            .transpose()
            .map_err(|e| bad(e.to_string()))?;
        if let Some(tag) = parts.tag {
            check_tag(tag).map_err(bad)?;
        }
        if let Some(host) = parts.host {
            check_host(host).map_err(bad)?;
        }
        check_path(parts.path).map_err(bad)?;
        let (registry, repository) = parts.normalised();
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(bad(format!(
                "the name is longer than {MAX_NAME_LEN} characters"
            )));
        }
        let tag = match (parts.tag, &digest) {
            (None, None) => Some("latest".to_owned()),
            (tag, _) => tag.map(str::to_owned),
        };
        Ok(Reference {
            registry: registry.to_owned(),
            repository,
            tag,
            digest,
        })
    }

    /// The registry as references name it: `docker.io`, `registry.local:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host (and port) the registry's API answers on: Docker Hub's API is
    /// not at `docker.io`.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The repository on its registry: `library/alpine`, `agents/loggie`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// Registry and repository, as a catalog pattern or [`ImageName`] writes
    /// them: `docker.io/library/alpine`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag, when the reference has one (`latest` when it has neither tag
    /// nor digest).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, when the reference pins one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
}

impl fmt::Display for Reference {
    /// The fully qualified form: `docker.io/library/alpine:3.19`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// A name as an archive or a layout records it: split and normalised like a
/// [`Reference`], but not checked, because it is only compared or written,
/// never pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// Registry and repository: `registry.example.com:5000/agents/loggie`,
    /// `docker.io/library/nginx` (what a policy entry's pattern names).
    pub repository: String,
    /// `:v1.5`, `@sha256:…` (the digest wins over a tag: it is what a runtime
    /// pulls), or `:latest` when neither was written.
    pub version: String,
}

impl ImageName {
    /// Reads `[registry/]path[:tag][@digest]`, trimmed; `None` when there is
    /// no path, or spaces inside.
    pub fn parse(text: &str) -> Option<ImageName> {
        let text = text.trim();
        if text.is_empty() || text.contains(char::is_whitespace) {
            return None;
        }
        let parts = Parts::split(text);
        if parts.path.is_empty() {
            return None;
        }
        let (registry, repository) = parts.normalised();
        let version = match (parts.digest, parts.tag) {
            (Some(digest), _) => format!("@{digest}"),
            (None, Some(tag)) => format!(":{tag}"),
            (None, None) => ":latest".to_owned(),
        };
        Some(ImageName {
            repository: format!("{registry}/{repository}"),
            version,
        })
    }

    /// Whether `a` and `b` name the same image (`nginx`,
    /// `docker.io/library/nginx:latest` and `index.docker.io/library/nginx`
    /// do).
    pub fn same(a: &str, b: &str) -> bool {
        matches!((ImageName::parse(a), ImageName::parse(b)), (Some(a), Some(b)) if a == b)
    }
}

/// A reference cut into its parts as written, before any check.
struct Parts<'t> {
    host: Option<&'t str>,
    path: &'t str,
    tag: Option<&'t str>,
    digest: Option<&'t str>,
}

impl<'t> Parts<'t> {
    /// `[host/]path[:tag][@digest]`: the digest after the first `@`, the tag
    /// after the last `:` that follows the last `/` (`host:5000/app` has no
    /// tag), the host when the first component is one.
    fn split(text: &'t str) -> Parts<'t> {
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (text, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        let (host, path) = match name.split_once('/') {
            Some((first, path)) if is_registry_host(first) => (Some(first), path),
            _ => (None, name),
        };
        Parts {
            host,
            path,
            tag,
            digest,
        }
    }

    /// The registry and the repository on it, as Docker names them: no host,
    /// or any of Docker Hub's names, is `docker.io`, where a one-component
    /// path lives under `library/`.
    fn normalised(&self) -> (&'t str, String) {
        match self.host {
            Some(host) if !is_docker_hub(host) => (host, self.path.to_owned()),
            _ if self.path.contains('/') => (DOCKER_HUB, self.path.to_owned()),
            _ => (DOCKER_HUB, format!("library/{}", self.path)),
        }
    }
}

fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_TAG_LEN
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?} must be 1 to {MAX_TAG_LEN} letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        ))
    }
}

fn check_host(host: &str) -> Result<(), String> {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, _)) if !name.ends_with(']') && name.contains(':') => (host, None),
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    if let Some(port) = port
        && (port.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(format!(
            "registry port {port:?} in {host:?} is not a port number"
        ));
    }
    if name.starts_with('[') && name.ends_with(']') {
        return name[1..name.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .map(drop)
            .map_err(|_| format!("registry host {name:?} is not an IPv6 address"));
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!("registry host {name:?} is not a host name"))
    }
}

/// Each path component is lowercase letters and digits, joined by `.`, `_`,
/// `__` or runs of `-` (distribution's `path-component`).
fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the repository name is empty".into());
    }
    for component in path.split('/') {
        if component.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!("repository name {path:?} must be lowercase"));
        }
        if !path_component_ok(component) {
            return Err(format!(
                "repository path component {component:?} must be lowercase letters and digits, separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

fn path_component_ok(component: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    // Separators between alphanumeric runs: ".", "_", "__", or "-"+.
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> String {
        Reference::parse(text)
            .unwrap_or_else(|e| panic!("{e}"))
            .to_string()
    }

    /// References Docker accepts, and their fully qualified forms.
    const VALID: &[(&str, &str)] = &[
        ("alpine", "docker.io/library/alpine:latest"),
        ("grafana/loki:3.0", "docker.io/grafana/loki:3.0"),
        ("grafana/promtail:2.9.1", "docker.io/grafana/promtail:2.9.1"),
        ("docker.io/alpine:3.19", "docker.io/library/alpine:3.19"),
        (
            "index.docker.io/library/alpine",
            "docker.io/library/alpine:latest",
        ),
        (
            "registry-1.docker.io/alpine",
            "docker.io/library/alpine:latest",
        ),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/app:v1", "localhost:5000/app:v1"),
        ("127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c:latest"),
        (
            "registry.local/agents/loggie",
            "registry.local/agents/loggie:latest",
        ),
        (
            "registry.local:5000/agents/loggie:v1",
            "registry.local:5000/agents/loggie:v1",
        ),
        ("[::1]:5000/app", "[::1]:5000/app:latest"),
        ("v1", "docker.io/library/v1:latest"),
    ];

    #[test]
    fn names_are_normalised_as_docker_does() {
        for (given, full) in VALID {
            assert_eq!(canonical(given), *full, "{given}");
        }
    }

    #[test]
    fn the_api_host_and_parts() {
        let hub = Reference::parse("alpine").unwrap();
        assert_eq!(hub.api_host(), DOCKER_HUB_API);
        assert_eq!(
            (hub.registry(), hub.repository(), hub.tag()),
            ("docker.io", "library/alpine", Some("latest"))
        );
        assert_eq!(hub.name(), "docker.io/library/alpine");
        let r = Reference::parse("registry.local:5000/app").unwrap();
        assert_eq!(r.api_host(), "registry.local:5000");
        assert_eq!(r.name(), "registry.local:5000/app");
    }

    #[test]
    fn digests_pin_and_keep_the_tag_for_display() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = Reference::parse(&format!("alpine@{digest}")).unwrap();
        assert_eq!(pinned.tag(), None);
        assert_eq!(pinned.digest().map(Digest::to_string), Some(digest.clone()));
        let both = Reference::parse(&format!("host:5000/app:v1@{digest}")).unwrap();
        assert_eq!(both.tag(), Some("v1"));
        assert_eq!(both.to_string(), format!("host:5000/app:v1@{digest}"));
    }

    #[test]
    fn malformed_references_say_what_is_wrong() {
        for (text, problem) in [
            ("", "empty"),
            ("Alpine", "must be lowercase"),
            ("alpine:", "tag \"\""),
            ("alpine:-x", "tag \"-x\""),
            ("alpine@sha256:abc", "is not sha256:"),
            ("alpine@md5:abc", "is not sha256:"),
            ("host:port/app", "is not a port number"),
            ("host:99999/app", "is not a port number"),
            ("bad_host.com/app", "is not a host name"),
            ("app//x", "component \"\""),
            ("app/-x", "component \"-x\""),
            ("app/a..b", "component \"a..b\""),
            ("registry.local/", "repository name is empty"),
        ] {
            let error = Reference::parse(text).unwrap_err().to_string();
            assert!(error.contains(problem), "{text:?}: {error}");
            assert!(error.contains(&format!("{text:?}")), "{error}");
        }
        let long = format!("host/{}", "a".repeat(300));
        assert!(
            Reference::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("longer than")
        );
    }

    #[test]
    fn path_components_take_docker_separators() {
        for ok in ["a", "a.b", "a_b", "a__b", "a---b", "a-b.c_d"] {
            assert!(path_component_ok(ok), "{ok}");
        }
        for bad in ["", ".a", "a.", "a___b", "a._b", "a-", "a b"] {
            assert!(!path_component_ok(bad), "{bad}");
        }
    }

    fn name(text: &str) -> (String, String) {
        let n = ImageName::parse(text).unwrap_or_else(|| panic!("{text:?}"));
        (n.repository, n.version)
    }

    #[test]
    fn recorded_names_read_as_a_runtime_reads_them() {
        assert_eq!(
            name("nginx"),
            ("docker.io/library/nginx".into(), ":latest".into())
        );
        assert_eq!(
            name("grafana/promtail:2.9.1"),
            ("docker.io/grafana/promtail".into(), ":2.9.1".into())
        );
        assert_eq!(
            name("registry.local:5000/agents/loggie:v1"),
            ("registry.local:5000/agents/loggie".into(), ":v1".into())
        );
        let digest = format!("@sha256:{}", "a".repeat(64));
        assert_eq!(
            name(&format!("localhost/agent:v1{digest}")),
            ("localhost/agent".into(), digest)
        );
        for hub in [
            "docker.io/library/nginx:latest",
            "index.docker.io/library/nginx",
            "registry-1.docker.io/nginx",
        ] {
            assert!(ImageName::same("nginx", hub), "{hub}");
        }
        assert!(!ImageName::same("nginx:1", "nginx:2"));
        assert!(!ImageName::same("nginx", "registry.local/nginx"));
        for none in ["", "  ", "a b", "registry.local/", "@sha256:abc", ":v1"] {
            assert_eq!(ImageName::parse(none), None, "{none:?}");
        }
    }

    #[test]
    fn recorded_names_docker_would_refuse_still_compare() {
        // OCI `ref.name` annotations may be bare tags, with uppercase or `+`;
        // digests that are not sha256 are compared as written.
        for text in [
            "1.0-RC+build",
            "Lab/Agent:V1",
            "agent@md5:abc",
            "my_host.com/x",
        ] {
            assert!(Reference::parse(text).is_err(), "{text}");
            assert!(ImageName::same(text, text), "{text}");
            assert!(ImageName::same(text, &format!(" {text}")), "{text}");
        }
        assert!(ImageName::same("Lab/Agent:V1", "docker.io/Lab/Agent:V1"));
        assert!(!ImageName::same("Lab/Agent:V1", "lab/agent:v1"));
        assert_eq!(
            name("1.0-RC+build"),
            ("docker.io/library/1.0-RC+build".into(), ":latest".into())
        );
    }

    #[test]
    fn a_valid_reference_reads_the_same_both_ways() {
        let digest = format!("sha256:{}", "b".repeat(64));
        let pinned = [
            format!("alpine:3@{digest}"),
            format!("host:5000/a@{digest}"),
        ];
        let all = VALID
            .iter()
            .map(|(given, _)| given.to_string())
            .chain(pinned);
        for text in all {
            let strict = Reference::parse(&text).unwrap();
            let version = match (strict.digest(), strict.tag()) {
                (Some(digest), _) => format!("@{digest}"),
                (None, tag) => format!(":{}", tag.unwrap()),
            };
            assert_eq!(name(&text), (strict.name(), version), "{text}");
        }
    }
}
