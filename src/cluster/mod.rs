//! The cluster faces of the engine: `netdns-guard scan` and `netdns-guard remediate`.
//!
//! A webhook only sees pods created after it is installed; agents already running stay
//! broken until their pods are replaced. These modules find them and replace them
//! safely. They are thin adapters: whether a pod is targeted, at risk or protected,
//! and whether it still lacks the fix, is always the engine's answer (a pod "lacks
//! the fix" exactly when the review has a non-empty patch, i.e. when the webhook
//! would change it). One thing a live pod tells that admission cannot see: the
//! digest each container runs. [`review_pod`] hands it to the engine, so a catalog
//! entry pinned to a digest (a pure-Go build `inspect -o policy` read) judges the
//! build that runs, not whatever the tag now names. Nothing here re-implements an
//! engine rule.
//!
//! - [`api`]: every Kubernetes call goes through one wrapper that retries conflicts
//!   (409) and throttling (429, honouring `Retry-After`), and turns 403 into the
//!   missing permission (verb, resource, namespace);
//! - [`inventory`]: paged pod listing, owner chains, who manages an owner;
//! - [`evidence`]: crash evidence from pod status and the previous log;
//! - [`scan`]: the report; [`table`]: kubectl-like aligned columns;
//! - [`webhook`]: is the webhook installed and serving;
//! - [`rollout`]: `kubectl rollout status`'s completion rules;
//! - [`remediate`]: the plan per owner and its execution;
//! - [`progress`]: events for a terminal;
//! - [`pull_secrets`]: the registry credentials a pod pulls with (`scan --inspect-images`);
//! - [`inspect_images`]: `scan --inspect-images`, unknown images read and learnt.

pub mod api;
pub mod evidence;
pub mod inspect_images;
pub mod inventory;
pub mod managers;
pub mod progress;
pub mod pull_secrets;
pub mod remediate;
pub mod rollout;
pub mod scan;
pub mod table;
pub mod webhook;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use crate::engine::catalog::is_sha256_digest;
use crate::engine::model::PodView;
use crate::engine::{Engine, Review};

pub use api::{ApiAction, ClusterError, Resource, RetryPolicy, Verb};
pub use progress::{Event, Progress};

/// Which namespaces a command looks at (`-n NS`, `-A`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "scope", content = "namespace")]
pub enum Scope {
    /// One namespace.
    Namespace(String),
    /// Every namespace.
    AllNamespaces,
}

impl Scope {
    /// The namespace, when the scope is one.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Scope::Namespace(ns) => Some(ns),
            Scope::AllNamespaces => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Namespace(ns) => write!(f, "namespace {ns}"),
            Scope::AllNamespaces => f.write_str("all namespaces"),
        }
    }
}

/// What every cluster call needs: the client, how to retry, where progress goes.
#[derive(Clone)]
pub struct Ctx {
    pub client: kube::Client,
    pub retry: RetryPolicy,
    pub progress: Arc<dyn Progress>,
}

impl Ctx {
    /// A context with the default retry policy and no progress output.
    pub fn new(client: kube::Client) -> Self {
        Ctx {
            client,
            retry: RetryPolicy::default(),
            progress: Arc::new(progress::Silent),
        }
    }

    /// Sends progress events to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }
}

/// Runs the engine on a live pod as the webhook would on its creation: the same
/// bytes-to-view decoding, the same review, with each container matched against
/// pinned catalog patterns by the digest its status says it runs
/// ([`running_digests`]). The pod itself is not changed.
pub fn review_pod(engine: &Engine, pod: &Pod) -> Result<Review, ClusterError> {
    let bytes = serde_json::to_vec(pod).map_err(|e| ClusterError::Decode {
        what: pod_name(pod),
        why: e.to_string(),
    })?;
    let view = PodView::from_json(&bytes).map_err(|e| ClusterError::Decode {
        what: pod_name(pod),
        why: e.to_string(),
    })?;
    let running = running_digests(pod);
    Ok(engine.review_running(&view, pod.metadata.namespace.as_deref(), &running))
}

/// (container name, digest) for each container and init container whose status
/// names the repository digest it runs ([`running_digest`]).
pub fn running_digests(pod: &Pod) -> Vec<(&str, &str)> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    status
        .container_statuses
        .iter()
        .chain(status.init_container_statuses.iter())
        .flatten()
        .filter_map(|s| Some((s.name.as_str(), running_digest(s)?)))
        .collect()
}

/// The repository digest a container status says it runs: the part of
/// `imageID` after its `@` (`repo@sha256:…`, Docker's
/// `docker-pullable://repo@sha256:…`), as a pod pinned by digest would write it.
/// A bare `sha256:…` is not taken: containerd reports an image's config digest
/// that way when it has no repository digest, and that names no manifest a
/// registry serves or a pinned pattern matches.
///
/// The one reading of `imageID`: scan matches pinned catalog entries by it, and
/// `scan --inspect-images` pulls what it names.
pub fn running_digest(status: &ContainerStatus) -> Option<&str> {
    let (_, digest) = status.image_id.rsplit_once('@')?;
    is_sha256_digest(digest).then_some(digest)
}

/// `namespace/name` of a pod, for messages.
pub fn pod_name(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// `1 pod`, `2 pods`: a count with its noun.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A duration shown as kubectl does: `45s`, `3m20s`, `1h5m` (under a second, in
/// milliseconds).
pub fn show_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn running_digests_are_the_repository_digests_of_container_statuses() {
        let status = |name: &str, id: &str| serde_json::json!({"name": name, "image": "x", "imageID": id, "ready": true, "restartCount": 0});
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "status": {
                "initContainerStatuses": [status("init", &format!("docker-pullable://reg.local/a@{DIGEST}"))],
                "containerStatuses": [
                    status("main", &format!("reg.local:5000/a@{DIGEST}")),
                    status("config-id", DIGEST),
                    status("short", "reg.local/a@sha256:0123"),
                    status("pending", ""),
                ],
            },
        }))
        .unwrap();
        assert_eq!(running_digests(&pod), [("main", DIGEST), ("init", DIGEST)]);
        assert!(running_digests(&Pod::default()).is_empty());
    }

    #[test]
    fn durations_show_like_kubectl() {
        assert_eq!(show_duration(Duration::from_secs(45)), "45s");
        assert_eq!(show_duration(Duration::from_secs(200)), "3m20s");
        assert_eq!(show_duration(Duration::from_secs(300)), "5m");
        assert_eq!(show_duration(Duration::from_secs(3900)), "1h5m");
        assert_eq!(show_duration(Duration::from_millis(120)), "120ms");
    }
}
