//! `inspect -o policy`: a policy file whose `catalog.add` holds one entry per
//! image read, so the verdicts reach the webhook, `dry-run` and `scan` through
//! `--config` (the webhook hot-reloads it; it never pulls an image itself).
//!
//! A verdict is a fact about the bytes read, and what it is used for decides
//! how far it may reach (ARCHITECTURE.md, "Inspection evidence in the catalog"):
//!
//! - an **at-risk** entry names the image's repository and matches every tag:
//!   admission sees the tag a pod writes, rarely a digest, and `netdns=go` is a
//!   no-op on a pure-Go build, so setting it on the repository's other builds
//!   costs nothing;
//! - a **pure-go** entry (every Go binary safe) or a **not-go** one (no Go
//!   binary, and no ELF file left unread) withholds the fix, so it is pinned to
//!   the digests it was read from (`repo@sha256:…`): the digest the reference resolved to (an
//!   index's, when it named one: what pods and nodes name) and each platform
//!   manifest's. Matching every tag would stop the fix reaching the
//!   repository's other builds, older cgo ones among them. An `unknown` image
//!   gets no entry. An image written
//!   without a digest falls through to the rest of the catalog: the
//!   conservative answer.
//!
//! Pinned entries come first: the first entry matching an image decides, and a
//! pinned one is the more specific. Each entry's reason and comment name the
//! manifest digest its verdict was read from. A verdict that differs between
//! platforms takes the worst, as the webhook cannot tell which node a pod
//! lands on.

use std::fmt::Write as _;

use crate::engine::catalog::{CatalogEntry, Risk, split_pattern};

use super::image::reference::ImageName;
use super::image::{Digest, ImageReport, ImageRisk};
use super::{ImageInput, Report};

/// The policy file for `report`'s images (plain files have no image name to
/// match and are listed in a comment only).
pub fn render_policy(report: &Report) -> String {
    let mut out = String::from(
        "# netdns-guard inspect -o policy: catalog entries from the Go build info read in\n\
         # images. Use it as --config, or merge its catalog.add into your policy (keep the\n\
         # pinned entries first: the first entry matching an image decides). An at-risk\n\
         # entry matches every tag of its repository (admission sees tags, and netdns=go\n\
         # is harmless on a pure-Go build); a pure-go or not-go entry withholds the fix,\n\
         # so it is pinned to the digests it was read from (repo@sha256:...), and other tags of\n\
         # the repository stay with the rest of the catalog. Each entry's comment and\n\
         # reason name the manifest digest its verdict was read from.\n\
         apiVersion: netdns-guard.io/v1alpha1\n\
         kind: Policy\n\
         catalog:\n",
    );
    let mut entries = String::new();
    let mut written: Vec<String> = Vec::new();
    for policy_entry in pinned_first(report.images().map(policy_entry).collect()) {
        write_entry(&mut entries, policy_entry, &mut written);
    }
    for file in report.files() {
        let _ = writeln!(
            entries,
            "    # {}: a plain file, no image name to match (inspect its image instead)",
            file.path.display()
        );
    }
    if entries.contains("- id:") {
        out.push_str("  add:\n");
        out.push_str(&entries);
    } else {
        out.push_str(&entries);
        out.push_str("  add: []\n");
    }
    out
}

/// Writes one input's comments and entry; an entry whose id was written
/// already (the same image named twice) is a comment, as a policy must not
/// list an id twice.
fn write_entry(out: &mut String, policy_entry: PolicyEntry, written: &mut Vec<String>) {
    let PolicyEntry { comments, entry } = policy_entry;
    for comment in comments {
        let _ = writeln!(out, "    # {comment}");
    }
    let Some(entry) = entry else { return };
    if written.contains(&entry.id) {
        let _ = writeln!(out, "    # the same image as entry {} above", entry.id);
        return;
    }
    let _ = writeln!(out, "    - id: {}", quoted(&entry.id));
    let _ = writeln!(out, "      name: {}", quoted(&entry.name));
    let _ = writeln!(out, "      risk: {}", risk_name(entry.risk));
    let _ = writeln!(out, "      reason: {}", quoted(&entry.reason));
    let _ = writeln!(out, "      images:");
    for image in &entry.images {
        let _ = writeln!(out, "        - {}", quoted(image));
    }
    written.push(entry.id);
}

/// What one image input gives a policy: the comments that say what was read
/// (or why there is no entry), and at most one catalog entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEntry {
    /// One line each, without the `#`.
    pub comments: Vec<String>,
    /// The entry, when the image was read, has a name and a decided verdict.
    pub entry: Option<CatalogEntry>,
}

/// The catalog entry `-o policy` writes for `input`, as data: the one place
/// inspection evidence becomes a catalog entry, for `inspect -o policy` and
/// for `scan`/`dry-run --inspect-images` alike (ARCHITECTURE.md, "Inspection
/// evidence in the catalog").
pub fn policy_entry(input: &ImageInput) -> PolicyEntry {
    let mut comments = Vec::new();
    let images = match &input.outcome {
        Ok(images) => images,
        Err(error) => {
            comments.push(format!("{}: not read: {}", input.input, one_line(error)));
            return PolicyEntry {
                comments,
                entry: None,
            };
        }
    };
    for image in images {
        let verdict = image.findings.verdict();
        comments.push(format!(
            "{} {} {}: {}",
            input.image_name.as_deref().unwrap_or(&input.input),
            image.platform,
            image.manifest_digest,
            one_line(&verdict.evidence)
        ));
    }
    let entry = entry_of(input, images, &mut comments);
    PolicyEntry { comments, entry }
}

/// `entries` with those whose every pattern is pinned first, each group in
/// its own order: the first matching entry decides, and a pinned entry is
/// the more specific (a pure-Go build of a repository another entry calls at
/// risk). Used by `-o policy` and `--inspect-images` alike, so both give the
/// engine the same catalog.
pub fn pinned_first(mut entries: Vec<PolicyEntry>) -> Vec<PolicyEntry> {
    entries.sort_by_key(|e| !e.entry.as_ref().is_some_and(is_pinned));
    entries
}

/// Whether every pattern of `entry` is pinned to a digest.
pub fn is_pinned(entry: &CatalogEntry) -> bool {
    entry
        .images
        .iter()
        .all(|pattern| split_pattern(pattern).1.is_some())
}

fn entry_of(
    input: &ImageInput,
    images: &[ImageReport],
    comments: &mut Vec<String>,
) -> Option<CatalogEntry> {
    let worst = worst(images)?;
    let risk = match worst.findings.verdict().risk {
        ImageRisk::AtRisk => Risk::AtRisk,
        ImageRisk::Safe => Risk::PureGo,
        ImageRisk::NotGo => Risk::NotGo,
        ImageRisk::Unknown => {
            comments.push(
                "no entry: the image's verdict is unknown (an ELF file left unread, or \
                 a Go binary whose build info does not decide)"
                    .into(),
            );
            return None;
        }
    };
    let Some(repository) = input
        .image_name
        .as_deref()
        .and_then(ImageName::parse)
        .map(|reference| reference.repository)
    else {
        comments.push(format!(
            "no entry: {} records no image name; name the image (a tag with its \
             repository) to get one",
            input.input
        ));
        return None;
    };
    let short = repository.rsplit('/').next().unwrap_or(&repository);
    let read_from = format!(
        "{}; read from {} ({})",
        worst.findings.verdict().evidence,
        worst.manifest_digest,
        worst.platform
    );
    let (reason, patterns) = if risk == Risk::AtRisk {
        comments.push(format!(
            "at risk: every tag of {repository} (netdns=go is a no-op on its pure-Go builds)"
        ));
        (
            format!("{read_from}; every tag: netdns=go is a no-op on a pure-Go build"),
            vec![repository.clone()],
        )
    } else {
        // Pure Go or no Go at all: the entry withholds the fix, so it speaks
        // only for the builds read.
        let (verdict, others) = if risk == Risk::PureGo {
            ("safe", "may be cgo builds")
        } else {
            ("not Go", "may hold Go builds")
        };
        comments.push(format!(
            "{verdict}: pinned to the digests read; other tags of {repository} {others} \
             and stay with the rest of the catalog"
        ));
        if let Some(note) = unpinned_index(images) {
            comments.push(note);
        }
        (
            format!("{read_from}; pinned to the digests read, as other builds {others}"),
            pinned_patterns(&repository, images),
        )
    };
    Some(CatalogEntry {
        id: entry_id(short, risk, &patterns),
        name: repository,
        risk,
        reason,
        images: patterns,
        warning: None,
    })
}

/// `inspected-<name>-<12 hex>`, the hex a hash of what the entry decides and
/// matches: the same reading always gives the same id (so an entry an earlier
/// `-o policy` wrote gives way to a fresh one), while two repositories holding
/// one build (a mirror, a fork), or an index and one of its manifests read on
/// their own, give two.
fn entry_id(short: &str, risk: Risk, patterns: &[String]) -> String {
    let key = format!("{} {}", risk_name(risk), patterns.join(" "));
    format!(
        "inspected-{short}-{}",
        &Digest::of(key.as_bytes()).hex()[..12]
    )
}

/// `repository@digest` for each digest the verdict was read from, each once:
/// the one the reference resolved to (an index's when it was an index: what a
/// pod pinned by digest and a node's `imageID` name) when every image it names
/// was read, then each platform manifest's (what a pod pinned to one platform
/// names). An index read for one platform of several is not pinned: its other
/// images were not read.
fn pinned_patterns(repository: &str, images: &[ImageReport]) -> Vec<String> {
    let digests = images
        .iter()
        .filter_map(|image| image.reference_digest.as_ref())
        .chain(images.iter().map(|image| &image.manifest_digest));
    let mut seen: Vec<&Digest> = Vec::new();
    for digest in digests {
        if !seen.contains(&digest) {
            seen.push(digest);
        }
    }
    seen.into_iter()
        .map(|digest| format!("{repository}@{digest}"))
        .collect()
}

/// Why a safe reading cannot speak for the index it came from, when it cannot:
/// some platforms of a multi-platform image were not read (`--platform` named
/// one), so the index's digest is not pinned, and a pod that names it (as a
/// tag's `imageID` does) is not matched by the entry.
pub fn unpinned_index(images: &[ImageReport]) -> Option<String> {
    if images.is_empty() || images.iter().all(|i| i.reference_digest.is_some()) {
        return None;
    }
    let read: Vec<String> = images.iter().map(|i| i.platform.to_string()).collect();
    Some(format!(
        "only {} of a multi-platform index read: the index's digest is not pinned, so \
         containers that run it stay unknown (--platform all reads every platform)",
        read.join(", ")
    ))
}

/// The policy file's spelling of a risk.
fn risk_name(risk: Risk) -> &'static str {
    match risk {
        Risk::AtRisk => "at-risk",
        Risk::PureGo => "pure-go",
        Risk::NotGo => "not-go",
    }
}

/// The platform image with the worst verdict (at risk, unknown, safe, not Go).
fn worst(images: &[ImageReport]) -> Option<&ImageReport> {
    images
        .iter()
        .min_by_key(|image| image.findings.verdict().risk)
}

/// A YAML double-quoted scalar (JSON's string syntax is a subset of it).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::image::{Findings, ImageConfig, Platform};

    fn report(reference: &[u8], manifest: &[u8]) -> ImageReport {
        ImageReport {
            manifest_digest: Digest::of(manifest),
            reference_digest: Some(Digest::of(reference)),
            platform: Platform::linux_amd64(),
            config: ImageConfig::default(),
            findings: Findings {
                programs: Vec::new(),
                executables: Vec::new(),
                executables_seen: 0,
            },
            cached: false,
        }
    }

    #[test]
    fn safe_entries_are_pinned_to_the_index_then_each_manifest_read() {
        let repo = "reg.local:5000/agents/pure";
        let images = [report(b"index", b"amd64"), report(b"index", b"arm64")];
        assert_eq!(
            pinned_patterns(repo, &images),
            [
                format!("{repo}@{}", Digest::of(b"index")),
                format!("{repo}@{}", Digest::of(b"amd64")),
                format!("{repo}@{}", Digest::of(b"arm64")),
            ]
        );
        // A reference that named the manifest itself gives one pattern.
        let single = [report(b"amd64", b"amd64")];
        assert_eq!(
            pinned_patterns(repo, &single),
            [format!("{repo}@{}", Digest::of(b"amd64"))]
        );
        for pattern in pinned_patterns(repo, &images) {
            crate::engine::catalog::check_pattern(&pattern).expect("a valid pattern");
        }
        // One platform read out of an index of several: the index also names
        // images nobody read, so only the manifest read is pinned.
        let mut amd64_only = report(b"index", b"amd64");
        amd64_only.reference_digest = None;
        assert_eq!(
            pinned_patterns(repo, &[amd64_only.clone()]),
            [format!("{repo}@{}", Digest::of(b"amd64"))]
        );
        // ... and says so; a whole reading has nothing to say.
        let note = unpinned_index(&[amd64_only]).expect("a note");
        assert!(
            note.starts_with("only linux/amd64 of a multi-platform index read"),
            "{note}"
        );
        assert_eq!(unpinned_index(&images), None);
        assert_eq!(unpinned_index(&[]), None);
    }

    #[test]
    fn ids_tell_apart_mirrors_and_an_index_from_its_manifest() {
        let at = |patterns: &[&str]| -> Vec<String> {
            patterns.iter().map(|p| (*p).to_owned()).collect()
        };
        let d = |bytes: &[u8]| Digest::of(bytes).to_string();
        let (index, amd64) = (d(b"index"), d(b"amd64"));
        let hub = at(&[&format!("docker.io/x/agent@{amd64}")]);
        let mirror = at(&[&format!("mirror.corp/x/agent@{amd64}")]);
        let whole = at(&[
            &format!("docker.io/x/agent@{index}"),
            &format!("docker.io/x/agent@{amd64}"),
        ]);
        let id = |patterns: &[String]| entry_id("agent", Risk::PureGo, patterns);
        // The same reading, the same id (an earlier -o policy's entry gives way).
        assert_eq!(id(&hub), id(&hub.clone()));
        assert!(id(&hub).starts_with("inspected-agent-"), "{}", id(&hub));
        // One build in two repositories, or an index and its manifest: two entries.
        assert_ne!(id(&hub), id(&mirror));
        assert_ne!(id(&hub), id(&whole));
        let repository = at(&["docker.io/x/agent"]);
        assert_ne!(
            entry_id("agent", Risk::AtRisk, &repository),
            entry_id("agent", Risk::PureGo, &repository)
        );
    }

    fn learnt(id: &str, images: &[&str]) -> PolicyEntry {
        PolicyEntry {
            comments: vec![id.to_owned()],
            entry: Some(CatalogEntry {
                id: id.into(),
                name: id.into(),
                risk: Risk::PureGo,
                reason: "test".into(),
                images: images.iter().map(|i| (*i).to_owned()).collect(),
                warning: None,
            }),
        }
    }

    #[test]
    fn pinned_entries_go_first_and_each_group_keeps_its_order() {
        let pin = format!("a@{}", Digest::of(b"a"));
        let unread = PolicyEntry {
            comments: vec!["unread".into()],
            entry: None,
        };
        let entries = vec![
            learnt("risky-1", &["a"]),
            unread,
            learnt("pinned-1", &[&pin]),
            learnt("mixed", &["a", &pin]),
            learnt("pinned-2", &[&pin, &pin]),
        ];
        let order: Vec<String> = pinned_first(entries)
            .into_iter()
            .map(|e| e.comments[0].clone())
            .collect();
        assert_eq!(
            order,
            ["pinned-1", "pinned-2", "risky-1", "unread", "mixed"]
        );
    }
}
