//! Inspection evidence in front of the catalog: how `scan --inspect-images`
//! and `dry-run --inspect-images` learn what the catalog does not know.
//!
//! The images a policy calls unknown are pulled and read ([`Inspector`]); each
//! one read becomes the catalog entry `inspect -o policy` would write for it
//! ([`policy_entry`]: at risk for every tag, pure Go pinned to the digests
//! read), and those entries go in front of the policy's own `catalog.add` for
//! this run ([`engine_with`]). The engine then classifies as
//! it always does, so a command run with `--inspect-images` answers exactly
//! what the webhook answers once it loads the policy `inspect -o policy`
//! writes (ARCHITECTURE.md, "Inspection evidence in the catalog"). Nothing
//! here decides a verdict of its own.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::engine::catalog::CatalogEntry;
use crate::engine::{Engine, EngineError};

use super::ImageInput;
use super::image::registry::{CredentialsSource, Registry};
use super::image::{self, ImageOptions, ImageRisk};
use super::policy::{pinned_first, policy_entry, unpinned_index};

/// Images pulled at once unless told otherwise: enough to hide a registry's
/// latency, few enough not to flood it or the machine.
pub const DEFAULT_PARALLEL: usize = 4;

/// One image to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageJob {
    /// The image as pods or manifests write it: what the entry is named after
    /// (and so what its pattern matches).
    pub name: String,
    /// What is pulled: `name`, or its repository pinned to the digest that runs.
    pub pull: String,
    /// Asked before the registry's own sources (a pod's pull Secrets).
    pub credentials: Vec<CredentialsSource>,
}

impl ImageJob {
    /// An image pulled as written, with the registry's own credentials.
    pub fn named(name: &str) -> ImageJob {
        ImageJob {
            name: name.to_owned(),
            pull: name.to_owned(),
            credentials: Vec::new(),
        }
    }
}

/// Pulls and reads images from registries, a few at a time.
#[derive(Debug, Clone)]
pub struct Inspector {
    /// The client, with the docker config's credentials and the trust roots.
    pub registry: Registry,
    /// Platforms, size bound and cache, as `inspect` takes them.
    pub image: ImageOptions,
    /// Images read at once (at least one).
    pub parallel: usize,
}

impl Inspector {
    /// Reads every job; the results in the jobs' order. Blocking: async code
    /// calls it from `spawn_blocking`.
    pub fn inspect_all(&self, jobs: &[ImageJob]) -> Vec<ImageInput> {
        let next = AtomicUsize::new(0);
        let mut slots: Vec<Mutex<Option<ImageInput>>> = Vec::new();
        slots.resize_with(jobs.len(), || Mutex::new(None));
        let workers = self.parallel.clamp(1, jobs.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    // Each worker takes the next job until none is left.
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(index) else { break };
                        let read = self.inspect_one(job);
                        *slots[index]
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(read);
                    }
                });
            }
        });
        slots
            .into_iter()
            .filter_map(|slot| slot.into_inner().unwrap_or_else(|p| p.into_inner()))
            .collect()
    }

    /// Reads one image: what `inspect registry:PULL` reads, named `name`.
    pub fn inspect_one(&self, job: &ImageJob) -> ImageInput {
        let outcome = self.registry_for(job).and_then(|registry| {
            let source = registry.open(&job.pull).map_err(|e| e.to_string())?;
            image::inspect_source(&source, &self.image).map_err(|e| e.to_string())
        });
        ImageInput {
            input: format!("registry:{}", job.pull),
            image_name: Some(job.name.clone()),
            outcome,
        }
    }

    fn registry_for(&self, job: &ImageJob) -> Result<Registry, String> {
        if job.credentials.is_empty() {
            return Ok(self.registry.clone());
        }
        self.registry
            .with_credentials_first(&job.credentials)
            .map_err(|e| e.to_string())
    }
}

/// The catalog entries the images read give, in the order `-o policy` writes
/// them (pinned first, then in order), each id once (the same image read twice
/// gives the same entry).
pub fn catalog_entries(inputs: &[ImageInput]) -> Vec<CatalogEntry> {
    let mut entries: Vec<CatalogEntry> = Vec::new();
    let learnt = pinned_first(inputs.iter().map(policy_entry).collect());
    for entry in learnt.into_iter().filter_map(|learnt| learnt.entry) {
        if !entries.iter().any(|e| e.id == entry.id) {
            entries.push(entry);
        }
    }
    entries
}

/// `engine`'s policy with `entries` in front of its `catalog.add`. An entry of
/// the policy with the same id as one learnt is dropped: it was written by an
/// earlier `inspect -o policy` from the same manifest.
pub fn engine_with(engine: &Engine, entries: &[CatalogEntry]) -> Result<Engine, EngineError> {
    let mut policy = engine.policy().clone();
    policy
        .catalog
        .add
        .retain(|own| !entries.iter().any(|e| e.id == own.id));
    policy.catalog.add.splice(0..0, entries.iter().cloned());
    Engine::new(policy)
}

/// One warning per image that could not be read (the image and why), and per
/// safe or not-Go image read for fewer platforms than its index holds (the
/// containers that run the index stay unknown, see [`unpinned_index`]).
pub fn warnings(inputs: &[ImageInput]) -> Vec<String> {
    inputs
        .iter()
        .filter_map(|input| {
            let name = input.image_name.as_deref().unwrap_or(&input.input);
            match &input.outcome {
                Err(error) => Some(format!("image {name} not inspected: {error}")),
                Ok(images) => {
                    // Only an entry that withholds the fix is pinned.
                    let pinned = image_evidence(input)
                        .is_some_and(|e| matches!(e.risk, ImageRisk::Safe | ImageRisk::NotGo));
                    let note = unpinned_index(images).filter(|_| pinned)?;
                    Some(format!("image {name}: {note}"))
                }
            }
        })
        .collect()
}

/// What an image's inspection says, for reports beside its containers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageEvidence {
    /// The image as pods or manifests write it.
    pub image: String,
    /// What was pulled (pinned to the running digest when it was known).
    pub reference: String,
    /// The worst platform's verdict.
    pub risk: ImageRisk,
    /// e.g. `at risk: CGO_ENABLED=1 and no netgo tag (/usr/bin/agent, go1.22.3)`.
    pub evidence: String,
    /// The manifest the verdict was read from.
    pub manifest_digest: String,
    /// Its platform.
    pub platform: String,
}

/// The evidence of an image read (the worst platform's), or `None` when it
/// could not be read.
pub fn image_evidence(input: &ImageInput) -> Option<ImageEvidence> {
    let images = input.outcome.as_ref().ok()?;
    let worst = images
        .iter()
        .min_by_key(|image| image.findings.verdict().risk)?;
    let verdict = worst.findings.verdict();
    Some(ImageEvidence {
        image: input.image_name.clone().unwrap_or_default(),
        reference: input
            .input
            .strip_prefix("registry:")
            .unwrap_or(&input.input)
            .to_owned(),
        risk: verdict.risk,
        evidence: verdict.evidence,
        manifest_digest: worst.manifest_digest.to_string(),
        platform: worst.platform.to_string(),
    })
}

/// `image`'s repository pinned to `digest` (the repository digest a container
/// runs), so what is read is what runs; `image` itself, tag and all, when no
/// digest is known.
pub fn pinned(image: &str, digest: Option<&str>) -> String {
    let Some(digest) = digest else {
        return image.to_owned();
    };
    let name = image.split_once('@').map_or(image, |(name, _)| name);
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let repository = match name[last_slash..].find(':') {
        Some(colon) => &name[..last_slash + colon],
        None => name,
    };
    format!("{repository}@{digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn images_are_pinned_to_the_digest_that_runs() {
        let cases = [
            (
                "reg.local:5000/agent:v1",
                format!("reg.local:5000/agent@{DIGEST}"),
            ),
            ("agent", format!("agent@{DIGEST}")),
            ("reg.local/a:v1@sha256:00", format!("reg.local/a@{DIGEST}")),
            (
                "reg.local:5000/agent",
                format!("reg.local:5000/agent@{DIGEST}"),
            ),
        ];
        for (image, expected) in cases {
            assert_eq!(pinned(image, Some(DIGEST)), expected, "{image}");
        }
        // No digest known: the image as written.
        assert_eq!(pinned("agent:v1", None), "agent:v1");
    }

    fn entry(id: &str, image: &str) -> CatalogEntry {
        CatalogEntry {
            id: id.into(),
            name: image.into(),
            risk: crate::engine::catalog::Risk::AtRisk,
            reason: "cgo".into(),
            images: vec![image.into()],
            warning: None,
        }
    }

    #[test]
    fn learnt_entries_go_in_front_and_replace_their_earlier_selves() {
        let mut policy = crate::Policy::default();
        policy.catalog.add = vec![
            entry("inspected-agent-0123456789ab", "reg.local/agent"),
            entry("mine", "reg.local/mine"),
        ];
        let engine = Engine::new(policy).unwrap();
        let learnt = [
            entry("inspected-agent-0123456789ab", "reg.local/agent"),
            entry("inspected-other-0123456789ab", "reg.local/other"),
        ];
        let engine = engine_with(&engine, &learnt).unwrap();
        let ids: Vec<&str> = engine
            .policy()
            .catalog
            .add
            .iter()
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "inspected-agent-0123456789ab",
                "inspected-other-0123456789ab",
                "mine"
            ]
        );
    }
}
