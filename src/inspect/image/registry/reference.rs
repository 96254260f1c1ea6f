//! Image references, parsed as Docker parses them (distribution's `reference`
//! package): `[host[:port]/]path[:tag][@sha256:digest]`.
//!
//! The first path component is a registry host when it has a `.` or a `:`, or
//! is `localhost`; otherwise the image lives on Docker Hub, whose API host is
//! `registry-1.docker.io` and whose single-component names live under
//! `library/`. A reference with neither tag nor digest means `:latest`.

use std::fmt;

use crate::inspect::image::Digest;

/// Docker Hub's name in references (and in what `docker` prints).
pub const DOCKER_HUB: &str = "docker.io";

/// The host Docker Hub's registry API answers on.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Distribution's limit on a repository name (`reference.NameTotalLengthMax`).
const MAX_NAME_LEN: usize = 255;

/// Distribution's limit on a tag.
const MAX_TAG_LEN: usize = 128;

/// A parsed, normalised image reference.
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
    pub fn parse(text: &str) -> Result<Reference, BadReference> {
        let bad = |problem: String| BadReference {
            given: text.chars().take(200).collect(),
            problem,
        };
        if text.is_empty() {
            return Err(bad("it is empty".into()));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (
                rest,
                Some(digest.parse::<Digest>().map_err(|e| bad(e.to_string()))?),
            ),
            None => (text, None),
        };
        let (name, tag) = split_tag(rest);
        if let Some(tag) = tag {
            check_tag(tag).map_err(bad)?;
        }
        let (registry, repository) = split_registry(name);
        if let Some(host) = registry {
            check_host(host).map_err(bad)?;
        }
        check_path(repository).map_err(bad)?;
        let registry = match registry {
            None | Some("index.docker.io") => DOCKER_HUB.to_owned(),
            Some(host) => host.to_owned(),
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_owned()
        };
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(bad(format!(
                "the name is longer than {MAX_NAME_LEN} characters"
            )));
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_owned()),
            (tag, _) => tag.map(str::to_owned),
        };
        Ok(Reference {
            registry,
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

    /// The repository: `library/alpine`, `agents/loggie`.
    pub fn repository(&self) -> &str {
        &self.repository
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

/// Splits `name[:tag]`: the tag's `:` is the last one after the last `/`, so
/// `host:5000/app` has no tag.
fn split_tag(text: &str) -> (&str, Option<&str>) {
    let last_slash = text.rfind('/').map_or(0, |i| i + 1);
    match text[last_slash..].rfind(':') {
        Some(i) => (&text[..last_slash + i], Some(&text[last_slash + i + 1..])),
        None => (text, None),
    }
}

/// Splits off the registry host, when the first component is one.
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
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

    #[test]
    fn names_are_normalised_as_docker_does() {
        for (given, full) in [
            ("alpine", "docker.io/library/alpine:latest"),
            ("grafana/loki:3.0", "docker.io/grafana/loki:3.0"),
            ("docker.io/alpine:3.19", "docker.io/library/alpine:3.19"),
            (
                "index.docker.io/library/alpine",
                "docker.io/library/alpine:latest",
            ),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/app:v1", "localhost:5000/app:v1"),
            ("127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c:latest"),
            (
                "registry.local/agents/loggie",
                "registry.local/agents/loggie:latest",
            ),
            ("[::1]:5000/app", "[::1]:5000/app:latest"),
        ] {
            assert_eq!(canonical(given), full, "{given}");
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
        let r = Reference::parse("registry.local:5000/app").unwrap();
        assert_eq!(r.api_host(), "registry.local:5000");
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
}
