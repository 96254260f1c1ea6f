//! `scan --inspect-images`: the running images the catalog calls unknown,
//! pulled and read, so an in-house agent the catalog has never heard of is
//! judged by its own Go build info.
//!
//! Each pod is reviewed once with the policy as given; every container whose
//! verdict is `unknown` (targeted pod or not — an unknown agent is exactly
//! what targeting misses) names an image to read, pinned to the digest its
//! container status says is running ([`super::running_digest`]; by its tag
//! when the status names no repository digest). Each distinct pull is made
//! once, a few at a time on blocking threads, with the pull Secrets of the
//! first pod that needs it asked before the docker config. What was read
//! becomes catalog entries in front of the policy's
//! ([`crate::inspect::evidence`]), and the scan is then the ordinary one under
//! that policy: pods whose images are at risk become targets that need the
//! fix, for `--exit-code` (`remediate` reads no images: it takes what
//! `inspect -o policy` wrote as `--config`). A pure-Go or not-Go entry is
//! pinned to the digests read, and the scan matches it by the digest each
//! container runs ([`super::review_pod`]), so the pod whose build was read is
//! not at risk while the report still names its image as the spec writes it.
//! An image that cannot be read, or a Secret that cannot be, is a warning;
//! the scan completes. ARCHITECTURE.md ("Inspection evidence in the catalog")
//! walks through it step by step.

use k8s_openapi::api::core::v1::Pod;

use super::evidence::container_status;
use super::inventory::{self, Listing};
use super::pull_secrets::PullSecrets;
use super::scan::{self, ScanOptions, ScanReport};
use super::{ClusterError, Ctx, Event, pod_name, review_pod, running_digest};
use crate::engine::Engine;
use crate::engine::report::Verdict;
use crate::inspect::ImageInput;
use crate::inspect::evidence::{self, ImageJob, Inspector};
use crate::inspect::image::reference::ImageName;
use crate::inspect::image::registry::CredentialsSource;

/// Lists the pods in scope, reads the images the catalog does not know, and
/// scans with what was learnt in front of the catalog.
pub async fn run(
    ctx: &Ctx,
    engine: &Engine,
    options: &ScanOptions,
    inspector: Inspector,
) -> Result<ScanReport, ClusterError> {
    let listing = inventory::list_pods(ctx, &options.scope, None, options.chunk_size).await?;
    let (jobs, mut warnings) = unknown_images(ctx, engine, &listing).await?;
    let inputs = inspect(inspector, jobs).await;
    warnings.extend(evidence::warnings(&inputs));
    let entries = evidence::catalog_entries(&inputs);
    let learnt = match evidence::engine_with(engine, &entries) {
        Ok(learnt) => learnt,
        Err(error) => {
            warnings.push(format!("inspected images not used: {error}"));
            engine.clone()
        }
    };
    let mut report = scan::report(ctx, &learnt, options, &listing).await?;
    attach(&mut report, &inputs);
    for warning in warnings {
        ctx.progress.event(&Event::Warning(warning.clone()));
        report.warnings.push(warning);
    }
    Ok(report)
}

/// One job per distinct image the catalog calls unknown, with the pull
/// Secrets of the first pod running it; and the Secrets' warnings.
async fn unknown_images(
    ctx: &Ctx,
    engine: &Engine,
    listing: &Listing<Pod>,
) -> Result<(Vec<ImageJob>, Vec<String>), ClusterError> {
    let mut secrets = PullSecrets::new(ctx);
    let mut jobs: Vec<ImageJob> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    for pod in &listing.items {
        let review = review_pod(engine, pod)?;
        let mut wanted: Vec<ImageJob> = Vec::new();
        let unknown = review
            .report
            .containers
            .iter()
            .filter(|c| c.verdict == Verdict::Unknown);
        for container in unknown {
            let Some(image) = container.image.as_deref().filter(|i| !i.is_empty()) else {
                continue;
            };
            let digest = container_status(pod, &container.name).and_then(running_digest);
            let pull = evidence::pinned(image, digest);
            // Each pull once, however it is spelt (`nginx` is
            // `docker.io/library/nginx:latest`), whichever pod names it first.
            if jobs
                .iter()
                .chain(&wanted)
                .any(|j| ImageName::same(&j.pull, &pull))
            {
                continue;
            }
            wanted.push(ImageJob {
                name: image.to_owned(),
                pull,
                credentials: Vec::new(),
            });
        }
        if wanted.is_empty() {
            continue;
        }
        let credentials = pod_credentials(&mut secrets, pod, &mut warnings).await;
        for mut job in wanted {
            job.credentials.clone_from(&credentials);
            jobs.push(job);
        }
    }
    Ok((jobs, warnings))
}

/// The pod's pull Secrets as a credentials source (none when it has none);
/// Secrets that could not be read are warnings, each once.
async fn pod_credentials(
    secrets: &mut PullSecrets<'_>,
    pod: &Pod,
    warnings: &mut Vec<String>,
) -> Vec<CredentialsSource> {
    let found = secrets.for_pod(pod).await;
    for warning in found
        .warnings
        .iter()
        .map(|w| format!("{w} (images pulled without it)"))
    {
        if !warnings.contains(&warning) {
            warnings.push(warning);
        }
    }
    if found.is_empty() {
        return Vec::new();
    }
    vec![CredentialsSource::Json {
        origin: format!("the pull secrets of pod {}", pod_name(pod)),
        json: found.docker_config.to_string(),
    }]
}

/// Reads the images on blocking threads (the registry client is blocking).
async fn inspect(inspector: Inspector, jobs: Vec<ImageJob>) -> Vec<ImageInput> {
    if jobs.is_empty() {
        return Vec::new();
    }
    let names: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
    match tokio::task::spawn_blocking(move || inspector.inspect_all(&jobs)).await {
        Ok(inputs) => inputs,
        // A panic in the reader is a bug; the scan still reports what it can.
        Err(error) => names
            .into_iter()
            .map(|name| ImageInput {
                input: format!("registry:{name}"),
                image_name: Some(name),
                outcome: Err(format!("the image reader failed: {error}")),
            })
            .collect(),
    }
}

/// Puts each image's evidence beside the containers running it, and lists
/// every image read. A container's evidence is the read made for it: what its
/// image pinned to the digest it runs (or its tag, with no digest) pulls, the
/// key jobs are told apart by. A pending pod of the same tag, or a pod on
/// another digest of it, is not shown evidence read from someone else's build;
/// another tag of one digest shares its read.
fn attach(report: &mut ScanReport, inputs: &[ImageInput]) {
    report.inspected = inputs.iter().filter_map(evidence::image_evidence).collect();
    let containers = report
        .groups
        .iter_mut()
        .flat_map(|g| g.pods.iter_mut())
        .flat_map(|p| p.containers.iter_mut());
    for container in containers {
        let Some(image) = container.image.as_deref() else {
            continue;
        };
        let pull = evidence::pinned(image, container.running_digest.as_deref());
        let read = report
            .inspected
            .iter()
            .find(|found| ImageName::same(&found.reference, &pull));
        container.inspected = read.cloned();
    }
}
