//! Image references written from every built-in catalog pattern the ways registries
//! and manifests write them: registry hosts with ports, Docker Hub's names and
//! `library/`, mirrors, tags, digests, no tag, and near misses on either side. The
//! chart's matchConditions and the exported admission policy are both checked
//! against the engine over these, so both see the same forms.

use std::collections::BTreeSet;

use netdns_guard::engine::catalog::builtin_entries;

/// A full-length digest, as the apiserver would see one.
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Registry and path prefixes for a pattern that names no registry.
const UNANCHORED_PREFIXES: &[&str] = &[
    "",
    "docker.io/",
    "index.docker.io/",
    "localhost/",
    "localhost:5000/team/",
    "docker.io/library/",
    "other/",
    "harbor.corp:8443/mirror/",
];

/// Every catalog pattern's forms, plus `extras`.
pub fn image_corpus(extras: &[&str]) -> Vec<String> {
    let suffixes = [
        String::new(),
        ":1.2.3".into(),
        ":7".into(),
        "@sha256:0123abcd".into(),
        ":7@sha256:ff".into(),
        format!(":1.2.3@{DIGEST}"),
    ];
    let mut images = BTreeSet::new();
    for entry in builtin_entries() {
        for pattern in &entry.images {
            for fill in ["x", ""] {
                let base = pattern.replace('*', fill);
                if base.split('/').any(str::is_empty) {
                    continue;
                }
                let first = base.split('/').next().unwrap_or_default();
                let anchored =
                    base.contains('/') && (first.contains(['.', ':']) || first == "localhost");
                let prefixes: &[&str] = if anchored {
                    &["", "mirror.example/"]
                } else {
                    UNANCHORED_PREFIXES
                };
                for p in prefixes {
                    for s in &suffixes {
                        images.insert(format!("{p}{base}{s}"));
                    }
                    images.insert(format!("{p}{base}-suffix"));
                    images.insert(format!("{p}prefix-{base}"));
                    images.insert(format!("{p}prefix-{base}:1"));
                }
            }
        }
    }
    images.extend(extras.iter().map(|e| e.to_string()));
    images.into_iter().collect()
}
