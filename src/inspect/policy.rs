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

use super::image::reference::Reference;
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
    let images = match &input.outcome {
        Ok(images) => images,
        Err(error) => {
            let _ = writeln!(out, "    # {}: not read: {}", input.input, one_line(error));
            return;
        }
    };
    for image in images {
        let verdict = image.findings.verdict();
        let _ = writeln!(
            out,
            "    # {} {} {}: {}",
            input.image_name.as_deref().unwrap_or(&input.input),
            image.platform,
            image.manifest_digest,
            one_line(&verdict.evidence)
        );
    }
    let Some(worst) = worst(images) else {
        return;
    };
    let risk = match worst.findings.verdict().risk {
        ImageRisk::AtRisk => "at-risk",
        ImageRisk::Safe => "pure-go",
        other => {
            let _ = writeln!(out, "    # no entry: the image's verdict is {other}");
            return;
        }
    };
    let Some(repository) = input
        .image_name
        .as_deref()
        .and_then(Reference::parse)
        .map(|reference| reference.repository)
    else {
        let _ = writeln!(
            out,
            "    # no entry: {} records no image name; name the image (a tag with its \
             repository) to get one",
            input.input
        );
        return;
    };
    let short = repository.rsplit('/').next().unwrap_or(&repository);
    let id = format!("inspected-{}-{}", short, &worst.manifest_digest.hex()[..12]);
    let reason = format!(
        "{}; read from {} ({})",
        worst.findings.verdict().evidence,
        worst.manifest_digest,
        worst.platform
    );
    let _ = writeln!(out, "    - id: {}", quoted(&id));
    let _ = writeln!(out, "      name: {}", quoted(&repository));
    let _ = writeln!(out, "      risk: {risk}");
    let _ = writeln!(out, "      reason: {}", quoted(&reason));
    let _ = writeln!(out, "      images:\n        - {}", quoted(&repository));
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
