//! Image names as a container runtime reads them: `nginx` is
//! `docker.io/library/nginx:latest`. Used to match a name asked for against the
//! names an archive or layout records, and to write the repository a policy
//! entry should name.

use netdns_guard_engine::catalog::{is_docker_hub, is_registry_host};

/// The registry of names written without one.
const DOCKER_HUB: &str = "docker.io";

/// A reference split into repository (`registry/path`) and the tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `registry.example.com:5000/agents/loggie`, `docker.io/library/nginx`.
    pub repository: String,
    /// `:v1.5`, `@sha256:…`, or `:latest` when neither was written.
    pub version: String,
}

impl Reference {
    /// Parses `[registry/]path[:tag][@digest]`; `None` when empty or with spaces.
    pub fn parse(text: &str) -> Option<Reference> {
        let text = text.trim();
        if text.is_empty() || text.contains(char::is_whitespace) {
            return None;
        }
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (text, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].find(':') {
            Some(colon) => name.split_at(last_slash + colon),
            None => (name, ""),
        };
        if name.is_empty() {
            return None;
        }
        // With both a tag and a digest, the digest is what is pulled.
        let version = match (digest, tag) {
            (Some(digest), _) => format!("@{digest}"),
            (None, "") => ":latest".to_owned(),
            (None, tag) => tag.to_owned(),
        };
        let repository = match name.split_once('/') {
            Some((registry, path)) if is_registry_host(registry) => {
                if is_docker_hub(registry) {
                    docker_hub(path)
                } else {
                    name.to_owned()
                }
            }
            _ => docker_hub(name),
        };
        Some(Reference {
            repository,
            version,
        })
    }

    /// Whether `a` and `b` name the same image (`nginx` and
    /// `docker.io/library/nginx:latest` do).
    pub fn same(a: &str, b: &str) -> bool {
        matches!((Reference::parse(a), Reference::parse(b)), (Some(a), Some(b)) if a == b)
    }
}

fn docker_hub(path: &str) -> String {
    if path.contains('/') {
        format!("{DOCKER_HUB}/{path}")
    } else {
        format!("{DOCKER_HUB}/library/{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> (String, String) {
        let r = Reference::parse(text).unwrap();
        (r.repository, r.version)
    }

    #[test]
    fn names_read_as_a_runtime_reads_them() {
        assert_eq!(
            parts("nginx"),
            ("docker.io/library/nginx".into(), ":latest".into())
        );
        assert_eq!(
            parts("grafana/promtail:2.9.1"),
            ("docker.io/grafana/promtail".into(), ":2.9.1".into())
        );
        assert_eq!(
            parts("registry.local:5000/agents/loggie:v1"),
            ("registry.local:5000/agents/loggie".into(), ":v1".into())
        );
        let digest = format!("@sha256:{}", "a".repeat(64));
        assert_eq!(
            parts(&format!("localhost/agent:v1{digest}")),
            ("localhost/agent".into(), digest)
        );
        assert!(Reference::same(
            "nginx",
            "index.docker.io/library/nginx:latest"
        ));
        assert!(!Reference::same("nginx:1", "nginx:2"));
        assert!(Reference::parse("").is_none());
    }
}
