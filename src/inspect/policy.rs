//! `inspect -o policy`: a policy file whose `catalog.add` holds one entry per
//! image read, so the verdicts reach the webhook, `dry-run` and `scan` through
//! `--config` (the webhook hot-reloads it; it never pulls an image itself).
//!
//! Admission sees the image name a pod writes, usually a tag, never the digest
//! the node will pull; catalog patterns therefore name repositories and match
//! every tag and digest. Each entry names the image's repository, and says in
//! its reason and in a comment which manifest digest the verdict was read from,
//! so a reader can tell when a new release needs inspecting again. A verdict
//! that differs between platforms takes the worst, as the webhook cannot tell
//! which node a pod lands on.

use std::fmt::Write as _;

use crate::engine::catalog::{CatalogEntry, Risk};

use super::image::reference::ImageName as Reference;
use super::image::{ImageReport, ImageRisk};
use super::{ImageInput, Report};

/// The policy file for `report`'s images (plain files have no image name to
/// match and are listed in a comment only).
pub fn render_policy(report: &Report) -> String {
    let mut out = String::from(
        "# netdns-guard inspect -o policy: catalog entries from the Go build info read in\n\
         # images. Use it as --config, or merge its catalog.add into your policy. Patterns\n\
         # match every tag of a repository (admission sees tags, not digests): the comment\n\
         # and reason of each entry name the manifest digest its verdict was read from.\n\
         apiVersion: netdns-guard.io/v1alpha1\n\
         kind: Policy\n\
         catalog:\n",
    );
    let mut entries = String::new();
    for input in report.images() {
        write_entry(&mut entries, input);
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

fn write_entry(out: &mut String, input: &ImageInput) {
    let PolicyEntry { comments, entry } = policy_entry(input);
    for comment in comments {
        let _ = writeln!(out, "    # {comment}");
    }
    let Some(entry) = entry else { return };
    let _ = writeln!(out, "    - id: {}", quoted(&entry.id));
    let _ = writeln!(out, "      name: {}", quoted(&entry.name));
    let _ = writeln!(out, "      risk: {}", risk_name(entry.risk));
    let _ = writeln!(out, "      reason: {}", quoted(&entry.reason));
    let _ = writeln!(out, "      images:");
    for image in &entry.images {
        let _ = writeln!(out, "        - {}", quoted(image));
    }
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

fn entry_of(
    input: &ImageInput,
    images: &[ImageReport],
    comments: &mut Vec<String>,
) -> Option<CatalogEntry> {
    let worst = worst(images)?;
    let risk = match worst.findings.verdict().risk {
        ImageRisk::AtRisk => Risk::AtRisk,
        ImageRisk::Safe => Risk::PureGo,
        other => {
            comments.push(format!("no entry: the image's verdict is {other}"));
            return None;
        }
    };
    let Some(repository) = input
        .image_name
        .as_deref()
        .and_then(Reference::parse)
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
    let reason = format!(
        "{}; read from {} ({})",
        worst.findings.verdict().evidence,
        worst.manifest_digest,
        worst.platform
    );
    Some(CatalogEntry {
        id: format!("inspected-{}-{}", short, &worst.manifest_digest.hex()[..12]),
        name: repository.clone(),
        risk,
        reason,
        images: vec![repository],
        warning: None,
    })
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
