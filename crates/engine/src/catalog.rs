//! The image catalog: which container images are at risk from Go's cgo resolver.
//!
//! The built-in entries are data (`catalog.yaml`), so adding an agent is a data
//! change with its reason written next to it. Patterns are compiled once, when the
//! policy loads; matching an image then allocates nothing.
//!
//! A pattern names a repository and matches every tag and digest of it, or is
//! pinned with `@sha256:<hex>` and matches only the image with that digest: a
//! verdict read from one image's bytes (a pure-Go build, say) must not speak for
//! the repository's other builds (ARCHITECTURE.md, "Inspection evidence in the
//! catalog"). Tags are never part of a pattern: they move.

use serde::{Deserialize, Serialize};

use super::EngineError;

/// The catalog shipped in the binary.
pub const BUILTIN_CATALOG: &str = include_str!("catalog.yaml");

/// How an image relates to the cgo resolver crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    /// A Go program built with cgo: can take libc's getaddrinfo. Gets the fix.
    AtRisk,
    /// A Go program built without cgo (or with `netgo`): always pure Go.
    PureGo,
    /// Not a Go program: GODEBUG does nothing.
    NotGo,
}

/// One catalog entry as written in `catalog.yaml` or a policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    /// Stable identifier, used by a policy's `catalog.remove`.
    pub id: String,
    /// Human name shown in reports.
    pub name: String,
    /// Risk class.
    pub risk: Risk,
    /// Why the entry has this risk: the sentence a report shows.
    pub reason: String,
    /// Image patterns (see `catalog.yaml` for the syntax).
    pub images: Vec<String>,
    /// A caveat reported for every target container of this agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Parses the built-in catalog.
pub fn builtin_entries() -> Vec<CatalogEntry> {
    // The built-in file is checked by a unit test; failing here would be a build bug.
    serde_saphyr::from_str(BUILTIN_CATALOG).unwrap_or_default()
}

/// A compiled catalog: entries in priority order, first match wins.
#[derive(Debug, Clone)]
pub struct Catalog {
    entries: Vec<CompiledEntry>,
}

#[derive(Debug, Clone)]
struct CompiledEntry {
    entry: CatalogEntry,
    patterns: Vec<Pattern>,
}

impl Catalog {
    /// Compiles entries; a malformed pattern is an error naming the entry.
    pub fn compile(entries: Vec<CatalogEntry>) -> Result<Self, EngineError> {
        let entries = entries
            .into_iter()
            .map(|entry| {
                let patterns = entry
                    .images
                    .iter()
                    .map(|p| Pattern::parse(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|why| EngineError::BadPattern {
                        entry: entry.id.clone(),
                        why,
                    })?;
                Ok(CompiledEntry { entry, patterns })
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        Ok(Catalog { entries })
    }

    /// The first entry whose patterns match `image` (the reference as a pod
    /// writes it; a digest it carries is what pinned patterns are matched by).
    pub fn lookup(&self, image: &str) -> Option<&CatalogEntry> {
        self.lookup_running(image, None)
    }

    /// The first entry whose patterns match `image`, with `running` (the digest a
    /// node reports the container runs, `containerStatuses[].imageID`) in place of
    /// the digest the reference writes: a tag says nothing about which build runs,
    /// the node does. A `running` value that is not a well-formed sha256 digest is
    /// ignored.
    pub fn lookup_running(&self, image: &str, running: Option<&str>) -> Option<&CatalogEntry> {
        let mut image = ImageRef::parse(image)?;
        if let Some(running) = running.filter(|d| is_sha256_digest(d)) {
            image.digest = Some(running);
        }
        // Split once; every pattern then compares slices.
        let components: Vec<&str> = image.components().collect();
        self.entries
            .iter()
            .find(|e| {
                e.patterns
                    .iter()
                    .any(|p| p.matches_split(&image, &components))
            })
            .map(|e| &e.entry)
    }

    /// Every entry, in priority order (for the chart's matchConditions and docs).
    pub fn entries(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.entries.iter().map(|e| &e.entry)
    }
}

/// An image reference split into registry, repository path and digest. The tag
/// is dropped: it moves, so no pattern may depend on it; the digest is kept for
/// the patterns pinned to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// Registry host (with port), `docker.io` when none is written.
    pub registry: &'a str,
    /// Repository path without the registry, e.g. `grafana/promtail` or `nginx`.
    pub path: &'a str,
    /// What follows the first `@`, e.g. `sha256:0123…`, when the reference has
    /// one (as written: a malformed one simply matches no pinned pattern).
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    /// Parses `[registry[:port]/]path[:tag][@digest]`; `None` for an empty reference.
    pub fn parse(reference: &'a str) -> Option<Self> {
        let reference = reference.trim();
        let (without_digest, digest) = match reference.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (reference, None),
        };
        let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
        let name = match without_digest[last_slash..].find(':') {
            Some(colon) => &without_digest[..last_slash + colon],
            None => without_digest,
        };
        if name.is_empty() {
            return None;
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest)) if is_registry_host(first) => (first, rest),
            _ => ("docker.io", name),
        };
        Some(ImageRef {
            registry,
            path,
            digest,
        })
    }

    /// Path components, with Docker Hub's implicit `library/` made explicit.
    fn components(&self) -> impl DoubleEndedIterator<Item = &'a str> + Clone {
        let library =
            (is_docker_hub(self.registry) && !self.path.contains('/')).then_some("library");
        library.into_iter().chain(self.path.split('/'))
    }
}

/// The first component of a reference is a registry when it looks like a host
/// (as container runtimes read it).
pub fn is_registry_host(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost"
}

/// Whether `registry` is one of Docker Hub's names.
pub fn is_docker_hub(registry: &str) -> bool {
    matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// Whether `text` is `sha256:` and 64 lowercase hex digits: the one digest form
/// a pattern may be pinned to (what registries, pods and nodes write).
pub fn is_sha256_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Checks one image pattern as the catalog will compile it, so a policy can name
/// the bad one (with its key and line) before an engine is built.
pub fn check_pattern(text: &str) -> Result<(), String> {
    Pattern::parse(text).map(drop)
}

/// A pattern split into its name part and its digest qualifier (without the
/// `@`), e.g. `("grafana/promtail", Some("sha256:0123…"))`. The qualifier is not
/// checked here; [`check_pattern`] does that.
pub fn split_pattern(text: &str) -> (&str, Option<&str>) {
    match text.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (text, None),
    }
}

/// A compiled image pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// Set when the pattern starts with a registry host: then it is anchored.
    registry: Option<String>,
    components: Vec<String>,
    /// Set when the pattern is pinned: only an image with this digest matches.
    digest: Option<String>,
}

impl Pattern {
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.contains(' ') {
            return Err(format!("image pattern {text:?} is empty or has spaces"));
        }
        let (name, digest) = split_pattern(text);
        if let Some(digest) = digest.filter(|d| !is_sha256_digest(d)) {
            return Err(format!(
                "image pattern {text:?} has a malformed digest qualifier {digest:?}: \
                 a pinned pattern ends in @sha256: and 64 lowercase hex digits"
            ));
        }
        if name.is_empty() {
            return Err(format!("image pattern {text:?} has no image name"));
        }
        let mut components: Vec<String> = name.split('/').map(str::to_owned).collect();
        if components.iter().any(String::is_empty) {
            return Err(format!(
                "image pattern {text:?} has an empty path component"
            ));
        }
        let registry = (components.len() > 1 && is_registry_host(&components[0]))
            .then(|| components.remove(0));
        if components.last().is_some_and(|c| c.contains(':')) {
            return Err(format!(
                "image pattern {text:?} has a tag; tags move, so a pattern matches every \
                 tag of its repository, or is pinned to one image by its digest \
                 (NAME@sha256:<64 hex digits>)"
            ));
        }
        Ok(Pattern {
            registry,
            components,
            digest: digest.map(str::to_owned),
        })
    }

    /// Matches an image whose path is already split into `components`.
    fn matches_split(&self, image: &ImageRef<'_>, components: &[&str]) -> bool {
        let pinned_ok = self
            .digest
            .as_deref()
            .is_none_or(|own| image.digest == Some(own));
        pinned_ok && self.name_matches(image.registry, components)
    }

    /// Matches an image's registry and path components (the digest aside).
    fn name_matches(&self, registry: &str, components: &[&str]) -> bool {
        match &self.registry {
            Some(own) => {
                (own == registry || (is_docker_hub(own) && is_docker_hub(registry)))
                    && components.len() == self.components.len()
                    && components
                        .iter()
                        .zip(&self.components)
                        .all(|(c, p)| glob(p, c))
            }
            None => {
                components.len() >= self.components.len()
                    && components[components.len() - self.components.len()..]
                        .iter()
                        .zip(&self.components)
                        .all(|(c, p)| glob(p, c))
            }
        }
    }

    #[cfg(test)]
    fn matches(&self, image: &ImageRef<'_>) -> bool {
        let components: Vec<&str> = image.components().collect();
        self.matches_split(image, &components)
    }
}

/// `*` matches any run of characters within one path component.
fn glob(pattern: &str, text: &str) -> bool {
    let Some((first, after)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(rest) = text.strip_prefix(first) else {
        return false;
    };
    let (middle, last) = after.rsplit_once('*').unwrap_or(("", after));
    let Some(mut rest) = rest.strip_suffix(last) else {
        return false;
    };
    for part in middle.split('*').filter(|p| !p.is_empty()) {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> Catalog {
        Catalog::compile(serde_saphyr::from_str(BUILTIN_CATALOG).expect("built-in catalog parses"))
            .expect("built-in catalog compiles")
    }

    fn id(image: &str) -> Option<String> {
        builtin().lookup(image).map(|e| e.id.clone())
    }

    #[test]
    fn builtin_catalog_parses_and_every_entry_has_images_and_a_reason() {
        let entries: Vec<CatalogEntry> = serde_saphyr::from_str(BUILTIN_CATALOG).unwrap();
        assert!(entries.len() >= 10);
        for e in &entries {
            assert!(!e.images.is_empty() && e.reason.len() > 10, "{}", e.id);
        }
        assert_eq!(builtin_entries(), entries);
    }

    #[test]
    fn image_references_parse_like_the_container_runtime() {
        let r = ImageRef::parse("registry.example.com:5000/team/loggie:v1.5@sha256:abc").unwrap();
        assert_eq!(
            (r.registry, r.path),
            ("registry.example.com:5000", "team/loggie")
        );
        let r = ImageRef::parse("localhost:5000/promtail").unwrap();
        assert_eq!((r.registry, r.path), ("localhost:5000", "promtail"));
        let r = ImageRef::parse("busybox").unwrap();
        assert_eq!((r.registry, r.path), ("docker.io", "busybox"));
        assert_eq!(r.components().collect::<Vec<_>>(), ["library", "busybox"]);
        let r = ImageRef::parse("grafana/promtail@sha256:0123").unwrap();
        assert_eq!((r.registry, r.path), ("docker.io", "grafana/promtail"));
        assert_eq!(r.digest, Some("sha256:0123"));
        let r = ImageRef::parse(" grafana/promtail:3.5@sha256:ab ").unwrap();
        assert_eq!((r.path, r.digest), ("grafana/promtail", Some("sha256:ab")));
        assert_eq!(
            ImageRef::parse("grafana/promtail:3.5").unwrap().digest,
            None
        );
        assert_eq!(ImageRef::parse(""), None);
        assert_eq!(ImageRef::parse(":latest"), None);
    }

    #[test]
    fn real_agent_images_match_their_entries() {
        assert_eq!(id("loggieio/loggie:v1.5.0").as_deref(), Some("loggie"));
        assert_eq!(
            id("harbor.corp:8443/mirror/loggieio/loggie@sha256:ff").as_deref(),
            Some("loggie")
        );
        assert_eq!(
            id("docker.elastic.co/beats/filebeat:8.15.0").as_deref(),
            Some("filebeat")
        );
        assert_eq!(
            id("docker.elastic.co/beats/filebeat-wolfi:8.15.0").as_deref(),
            Some("filebeat")
        );
        assert_eq!(id("elastic/metricbeat:7.17.0").as_deref(), Some("beats"));
        assert_eq!(
            id("docker.io/grafana/promtail:3.5.1").as_deref(),
            Some("promtail")
        );
        assert_eq!(
            id("gcr.io/datadoghq/agent:7.70.0").as_deref(),
            Some("datadog-agent")
        );
        assert_eq!(
            id("public.ecr.aws/datadog/agent").as_deref(),
            Some("datadog-agent")
        );
        assert_eq!(
            id("registry.datadoghq.com/agent:7.81.1").as_deref(),
            Some("datadog-agent")
        );
        assert_eq!(
            id("cr.fluentbit.io/fluent/fluent-bit:5.1.1").as_deref(),
            Some("fluent-bit")
        );
        assert_eq!(
            id("fluent/fluentd-kubernetes-daemonset:v1-debian").as_deref(),
            Some("fluentd")
        );
        assert_eq!(
            id("quay.io/fluentd_elasticsearch/fluentd:v2.5.2").as_deref(),
            Some("fluentd")
        );
        assert_eq!(id("grafana/alloy:v1.4.0").as_deref(), Some("grafana-alloy"));
        assert_eq!(
            id("otel/opentelemetry-collector-contrib:0.110.0").as_deref(),
            Some("otel-collector")
        );
        assert_eq!(
            id("timberio/vector:0.41.0-distroless-libc").as_deref(),
            Some("vector")
        );
    }

    #[test]
    fn unrelated_images_match_nothing() {
        for image in [
            "busybox",
            "nginx:1.27",
            "gcr.io/datadoghq/cluster-agent:7.70",
            "my/promtail-exporter",
            "registry.k8s.io/dns/k8s-dns-node-cache:1.15.13",
        ] {
            assert_eq!(id(image), None, "{image}");
        }
    }

    #[test]
    fn anchored_patterns_need_the_registry_and_the_whole_path() {
        let p = Pattern::parse("docker.io/library/nginx").unwrap();
        assert!(p.matches(&ImageRef::parse("nginx:1").unwrap()));
        assert!(p.matches(&ImageRef::parse("index.docker.io/library/nginx").unwrap()));
        assert!(!p.matches(&ImageRef::parse("quay.io/library/nginx").unwrap()));
        assert!(!p.matches(&ImageRef::parse("docker.io/x/library/nginx").unwrap()));
    }

    #[test]
    fn bad_patterns_are_rejected_with_the_entry_named() {
        let entry = CatalogEntry {
            id: "mine".into(),
            name: "Mine".into(),
            risk: Risk::AtRisk,
            reason: "because".into(),
            images: vec!["x//y".into()],
            warning: None,
        };
        let err = Catalog::compile(vec![entry]).unwrap_err().to_string();
        assert!(err.contains("mine") && err.contains("x//y"), "{err}");
        assert!(Pattern::parse("agent:7").is_err());
        assert!(Pattern::parse("agent 7").is_err());
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const OTHER: &str = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    fn entry(id: &str, risk: Risk, images: &[&str]) -> CatalogEntry {
        CatalogEntry {
            id: id.into(),
            name: id.into(),
            risk,
            reason: "test".into(),
            images: images.iter().map(|i| (*i).to_owned()).collect(),
            warning: None,
        }
    }

    #[test]
    fn a_pinned_pattern_matches_only_the_image_with_its_digest() {
        let pinned = Pattern::parse(&format!("grafana/promtail@{DIGEST}")).unwrap();
        let matches = |image: &str| pinned.matches(&ImageRef::parse(image).unwrap());
        assert!(matches(&format!("grafana/promtail@{DIGEST}")));
        assert!(matches(&format!(
            "docker.io/grafana/promtail:3.5.1@{DIGEST}"
        )));
        assert!(matches(&format!(
            "mirror.corp:5000/grafana/promtail@{DIGEST}"
        )));
        assert!(
            !matches("grafana/promtail:3.5.1"),
            "a tag says nothing of the build"
        );
        assert!(!matches("grafana/promtail"));
        assert!(!matches(&format!("grafana/promtail@{OTHER}")));
        assert!(
            !matches(&format!("grafana/loki@{DIGEST}")),
            "the name still counts"
        );
        // Digests are compared as written: an uppercase one is not the same digest.
        assert!(!matches(&format!(
            "grafana/promtail@{}",
            DIGEST.to_uppercase()
        )));

        let anchored = Pattern::parse(&format!("registry.corp:5000/team/*@{DIGEST}")).unwrap();
        assert!(
            anchored.matches(
                &ImageRef::parse(&format!("registry.corp:5000/team/x:1@{DIGEST}")).unwrap()
            )
        );
        assert!(
            !anchored.matches(&ImageRef::parse(&format!("other.corp/team/x@{DIGEST}")).unwrap())
        );
    }

    #[test]
    fn an_unpinned_pattern_matches_every_tag_and_digest() {
        let p = Pattern::parse("grafana/promtail").unwrap();
        for image in [
            "grafana/promtail",
            "grafana/promtail:2.9",
            &format!("grafana/promtail@{DIGEST}"),
            &format!("grafana/promtail:3.5@{OTHER}"),
            "grafana/promtail@sha256:short",
        ] {
            assert!(p.matches(&ImageRef::parse(image).unwrap()), "{image}");
        }
    }

    #[test]
    fn the_running_digest_stands_in_for_the_written_one() {
        let catalog = Catalog::compile(vec![
            entry(
                "pure",
                Risk::PureGo,
                &[&format!("grafana/promtail@{DIGEST}")],
            ),
            entry("risky", Risk::AtRisk, &["grafana/promtail"]),
        ])
        .unwrap();
        let id = |image: &str, running: Option<&str>| {
            catalog
                .lookup_running(image, running)
                .map(|e| e.id.as_str())
        };
        assert_eq!(id("grafana/promtail:3.5", None), Some("risky"));
        assert_eq!(id("grafana/promtail:3.5", Some(DIGEST)), Some("pure"));
        assert_eq!(
            id(&format!("grafana/promtail@{DIGEST}"), None),
            Some("pure")
        );
        // What runs wins over what the pod wrote.
        assert_eq!(
            id(&format!("grafana/promtail@{DIGEST}"), Some(OTHER)),
            Some("risky")
        );
        // A running value that is no sha256 digest is ignored, not matched.
        assert_eq!(
            id(&format!("grafana/promtail@{DIGEST}"), Some("sha256:0")),
            Some("pure")
        );
        assert_eq!(id("grafana/promtail:3.5", Some("")), Some("risky"));
        assert_eq!(
            catalog
                .lookup(&format!("grafana/promtail:1@{DIGEST}"))
                .map(|e| e.id.as_str()),
            Some("pure")
        );
    }

    #[test]
    fn malformed_digest_qualifiers_and_tags_are_refused_with_the_pattern_named() {
        let sha512 = format!("sha512:{}", "0".repeat(128));
        let short = format!("sha256:{}", "0".repeat(63));
        let long = format!("sha256:{}", "0".repeat(65));
        let upper = DIGEST.to_uppercase().replace("SHA256", "sha256");
        let not_hex = format!("sha256:{}", "g".repeat(64));
        for qualifier in [
            sha512.as_str(),
            &short,
            &long,
            &upper,
            &not_hex,
            "",
            "latest",
            &format!("{DIGEST}@{DIGEST}"),
        ] {
            let pattern = format!("grafana/promtail@{qualifier}");
            let err = Pattern::parse(&pattern).unwrap_err();
            assert!(
                err.contains(&format!("{pattern:?}")) && err.contains("malformed digest qualifier"),
                "{err}"
            );
            assert!(check_pattern(&pattern).is_err());
        }
        let err = Pattern::parse("grafana/promtail:3.5").unwrap_err();
        assert!(
            err.contains("\"grafana/promtail:3.5\"") && err.contains("tags move"),
            "{err}"
        );
        assert!(err.contains("@sha256:"), "points to the pinned form: {err}");
        assert!(Pattern::parse(&format!("grafana/promtail:3.5@{DIGEST}")).is_err());
        assert!(
            Pattern::parse(&format!("@{DIGEST}"))
                .unwrap_err()
                .contains("no image name")
        );
        assert!(Pattern::parse(&format!("a//b@{DIGEST}")).is_err());
        assert!(Pattern::parse(&format!("registry.corp:5000/x@{DIGEST}")).is_ok());
    }

    #[test]
    fn digests_are_sha256_and_64_lowercase_hex_digits() {
        assert!(is_sha256_digest(DIGEST));
        assert!(!is_sha256_digest(&DIGEST[..70]));
        assert!(!is_sha256_digest(&DIGEST.to_uppercase()));
        assert!(!is_sha256_digest(&format!("{DIGEST}0")));
        assert!(!is_sha256_digest(&DIGEST.replace("sha256", "sha512")));
        assert_eq!(split_pattern("a/b"), ("a/b", None));
        assert_eq!(split_pattern("a/b@x@y"), ("a/b", Some("x@y")));
    }

    #[test]
    fn glob_matches_within_a_component() {
        assert!(glob("filebeat*", "filebeat"));
        assert!(glob("filebeat*", "filebeat-oss"));
        assert!(glob("*beat*", "metricbeat"));
        assert!(glob("a*b*c", "abbc"));
        assert!(!glob("a*b", "ab-c"));
        assert!(!glob("filebeat", "filebeat2"));
        assert!(!glob("ab*ba", "aba"));
    }
}
