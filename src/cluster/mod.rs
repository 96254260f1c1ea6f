//! The cluster faces of the engine: `netdns-guard scan` and `netdns-guard remediate`.
//!
//! A webhook only sees pods created after it is installed; agents already running stay
//! broken until their pods are replaced. These modules find them and replace them
//! safely. They are thin adapters: whether a pod is targeted, at risk or protected,
//! and whether it still lacks the fix, is always [`Engine::review`]'s answer (a pod
//! "lacks the fix" exactly when the review has a non-empty patch, i.e. when the
//! webhook would change it). Nothing here re-implements an engine rule.
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
//! - [`progress`]: events for a terminal.

pub mod api;
pub mod evidence;
pub mod inventory;
pub mod progress;
pub mod remediate;
pub mod rollout;
pub mod scan;
pub mod table;
pub mod webhook;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

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

/// Runs the engine on a live pod exactly as the webhook would on its creation: the
/// same bytes-to-view decoding, the same review.
pub fn review_pod(engine: &Engine, pod: &Pod) -> Result<Review, ClusterError> {
    let bytes = serde_json::to_vec(pod).map_err(|e| ClusterError::Decode {
        what: pod_name(pod),
        why: e.to_string(),
    })?;
    let view = PodView::from_json(&bytes).map_err(|e| ClusterError::Decode {
        what: pod_name(pod),
        why: e.to_string(),
    })?;
    Ok(engine.review(&view, pod.metadata.namespace.as_deref()))
}

/// `namespace/name` of a pod, for messages.
pub fn pod_name(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// A duration written like Go's `time.ParseDuration` and kubectl's `--timeout`:
/// `90s`, `5m`, `1h30m`, `500ms`; a bare number is seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CliDuration(pub Duration);

impl FromStr for CliDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(seconds) = text.parse::<u64>() {
            return Ok(CliDuration(Duration::from_secs(seconds)));
        }
        let bad = || format!("{text:?} is not a duration (examples: 90s, 5m, 1h30m)");
        let mut total = Duration::ZERO;
        let mut rest = text;
        if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit() && c != '.')
                .ok_or_else(bad)?;
            let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
            let unit_len = rest[digits..]
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len() - digits);
            let unit = &rest[digits..digits + unit_len];
            let seconds = match unit {
                "ms" => number / 1000.0,
                "s" => number,
                "m" => number * 60.0,
                "h" => number * 3600.0,
                _ => return Err(bad()),
            };
            total += Duration::from_secs_f64(seconds);
            rest = &rest[digits + unit_len..];
        }
        Ok(CliDuration(total))
    }
}

impl fmt::Display for CliDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        human_duration(self.0, f)
    }
}

/// Writes a duration the way kubectl does: `45s`, `3m20s`, `1h5m`.
fn human_duration(d: Duration, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let secs = d.as_secs();
    if secs == 0 {
        return write!(f, "{}ms", d.as_millis());
    }
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => write!(f, "{s}s"),
        (0, m, 0) => write!(f, "{m}m"),
        (0, m, s) => write!(f, "{m}m{s}s"),
        (h, 0, _) => write!(f, "{h}h"),
        (h, m, _) => write!(f, "{h}h{m}m"),
    }
}

/// `1 pod`, `2 pods`: a count with its noun.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A duration shown as kubectl does.
pub fn show_duration(d: Duration) -> String {
    CliDuration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_kubectl_timeouts() {
        let d = |s: &str| s.parse::<CliDuration>().map(|d| d.0);
        assert_eq!(d("90"), Ok(Duration::from_secs(90)));
        assert_eq!(d("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(d("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(d("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(d("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(d("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(d("").is_err());
        assert!(d("5 minutes").is_err());
        assert!(d("m").is_err());
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
