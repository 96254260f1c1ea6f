//! One wrapper for every Kubernetes call: what it does ([`ApiAction`]), how it is
//! retried, and what a failure means.
//!
//! - 409 Conflict on a write is retried (the restart annotation and a pod deletion
//!   are idempotent, so re-sending is safe);
//! - 429 Too Many Requests (API Priority and Fairness, max-in-flight) and 503/504
//!   are retried after the server's `Retry-After` (`details.retryAfterSeconds` of the
//!   Status) or an exponential backoff. The kube client's own retry layer also
//!   honours the `Retry-After` header; this one is the backstop that reports what it
//!   does and gives up after a bounded number of attempts;
//! - 403 Forbidden becomes [`ClusterError::Forbidden`], naming the verb, resource and
//!   namespace that are missing, with the `kubectl auth can-i` line to check it.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;

use super::Ctx;
use super::progress::Event;

/// An API verb, as RBAC names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    Get,
    List,
    Patch,
    Delete,
}

impl Verb {
    /// Whether the verb changes something (only writes are retried on 409).
    pub fn writes(self) -> bool {
        matches!(self, Verb::Patch | Verb::Delete)
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        })
    }
}

/// The API resources scan and remediate touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Resource {
    Pods,
    PodLogs,
    Secrets,
    ServiceAccounts,
    ReplicaSets,
    Deployments,
    DaemonSets,
    StatefulSets,
    ReplicationControllers,
    Jobs,
    CronJobs,
    MutatingWebhookConfigurations,
    EndpointSlices,
}

impl Resource {
    /// API group (`""` for the core group).
    pub fn group(self) -> &'static str {
        match self {
            Resource::Pods
            | Resource::PodLogs
            | Resource::Secrets
            | Resource::ServiceAccounts
            | Resource::ReplicationControllers => "",
            Resource::ReplicaSets
            | Resource::Deployments
            | Resource::DaemonSets
            | Resource::StatefulSets => "apps",
            Resource::Jobs | Resource::CronJobs => "batch",
            Resource::MutatingWebhookConfigurations => "admissionregistration.k8s.io",
            Resource::EndpointSlices => "discovery.k8s.io",
        }
    }

    /// Plural resource name, with `/subresource` when there is one.
    pub fn plural(self) -> &'static str {
        match self {
            Resource::Pods => "pods",
            Resource::PodLogs => "pods/log",
            Resource::Secrets => "secrets",
            Resource::ServiceAccounts => "serviceaccounts",
            Resource::ReplicaSets => "replicasets",
            Resource::Deployments => "deployments",
            Resource::DaemonSets => "daemonsets",
            Resource::StatefulSets => "statefulsets",
            Resource::ReplicationControllers => "replicationcontrollers",
            Resource::Jobs => "jobs",
            Resource::CronJobs => "cronjobs",
            Resource::MutatingWebhookConfigurations => "mutatingwebhookconfigurations",
            Resource::EndpointSlices => "endpointslices",
        }
    }

    /// `resource.group`, the way kubectl and RBAC error messages write it.
    pub fn qualified(self) -> String {
        match self.group() {
            "" => self.plural().to_owned(),
            group => {
                let (resource, sub) = self
                    .plural()
                    .split_once('/')
                    .map_or((self.plural(), None), |(r, s)| (r, Some(s)));
                match sub {
                    Some(sub) => format!("{resource}.{group}/{sub}"),
                    None => format!("{resource}.{group}"),
                }
            }
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.qualified())
    }
}

/// One API call: verb, resource, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiAction {
    pub verb: Verb,
    pub resource: Resource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ApiAction {
    /// An action on `resource` in `namespace` (`None`: cluster-wide or all namespaces).
    pub fn new(verb: Verb, resource: Resource, namespace: Option<&str>) -> Self {
        ApiAction {
            verb,
            resource,
            namespace: namespace.map(str::to_owned),
            name: None,
        }
    }

    /// The same action on one named object.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// The permission it needs, as RBAC writes it: `patch deployments.apps in namespace logging`.
    pub fn permission(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {} in namespace {ns}", self.verb, self.resource),
            None => format!("{} {} (cluster-wide)", self.verb, self.resource),
        }
    }

    /// The `kubectl auth can-i` line that checks the permission.
    pub fn can_i(&self) -> String {
        let (resource, sub) = match self.resource.plural().split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (self.resource.plural(), None),
        };
        let mut line = format!("kubectl auth can-i {} {resource}", self.verb);
        if !self.resource.group().is_empty() {
            line.push('.');
            line.push_str(self.resource.group());
        }
        if let Some(sub) = sub {
            line.push_str(&format!(" --subresource={sub}"));
        }
        match &self.namespace {
            Some(ns) => line.push_str(&format!(" -n {ns}")),
            None if self.verb == Verb::List && namespaced(self.resource) => {
                line.push_str(" --all-namespaces")
            }
            None => {}
        }
        line
    }
}

fn namespaced(resource: Resource) -> bool {
    resource != Resource::MutatingWebhookConfigurations
}

impl fmt::Display for ApiAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(name) = &self.name {
            write!(f, " {name}")?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " in namespace {ns}"),
            None => Ok(()),
        }
    }
}

/// Errors of the cluster commands.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// RBAC denied a call: names the missing permission.
    #[error(
        "forbidden: missing permission to {permission} (check: {can_i}); the API server said: {message}",
        permission = action.permission(),
        can_i = action.can_i()
    )]
    Forbidden { action: ApiAction, message: String },
    /// Any other API failure (after retries, when retryable).
    #[error("{action}: {}", describe(source))]
    Api {
        action: ApiAction,
        #[source]
        source: kube::Error,
    },
    /// An object the API returned cannot be read.
    #[error("{what}: {why}")]
    Decode { what: String, why: String },
    /// remediate refuses to restart anything without a serving webhook.
    #[error("{0}")]
    WebhookNotServing(String),
    /// A workload kind that a rollout restart does not apply to.
    #[error("{workload} cannot be restarted with a rollout")]
    NotRestartable { workload: String },
}

/// A kube error in one line: `HTTP 409 Conflict: message` for API answers.
fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if status.reason.is_empty() => {
            format!("HTTP {}: {}", status.code, status.message)
        }
        kube::Error::Api(status) => {
            format!("HTTP {} {}: {}", status.code, status.reason, status.message)
        }
        other => other.to_string(),
    }
}

impl ClusterError {
    /// The HTTP status code, when the API server answered with one.
    pub fn code(&self) -> Option<u16> {
        match self {
            ClusterError::Forbidden { .. } => Some(403),
            ClusterError::Api {
                source: kube::Error::Api(status),
                ..
            } => Some(status.code),
            _ => None,
        }
    }
}

/// How API calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// First backoff; doubled after each retry.
    pub base_delay: Duration,
    /// Longest wait between attempts (a longer `Retry-After` is cut to this).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 8,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(16));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// What to do with a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    /// Retry, after the server's delay when it gave one.
    Retry(Option<Duration>),
    Forbidden,
    Fail,
}

fn disposition(action: &ApiAction, error: &kube::Error) -> Disposition {
    let kube::Error::Api(status) = error else {
        return Disposition::Fail;
    };
    let retry_after = status
        .details
        .as_ref()
        .map(|d| d.retry_after_seconds)
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(u64::from(s)));
    match status.code {
        403 => Disposition::Forbidden,
        409 if action.verb.writes() && status.reason != "AlreadyExists" => {
            Disposition::Retry(retry_after)
        }
        429 | 503 | 504 => Disposition::Retry(retry_after),
        _ => Disposition::Fail,
    }
}

/// Runs `op` (one API call, re-issued on each attempt) with the context's retry
/// policy; maps the final failure to a [`ClusterError`].
pub async fn call<T, F, Fut>(ctx: &Ctx, action: &ApiAction, mut op: F) -> Result<T, ClusterError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 1;
    loop {
        let error = match op().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        match disposition(action, &error) {
            Disposition::Forbidden => {
                let message = match &error {
                    kube::Error::Api(status) => status.message.clone(),
                    other => other.to_string(),
                };
                return Err(ClusterError::Forbidden {
                    action: action.clone(),
                    message,
                });
            }
            Disposition::Retry(server_delay) if attempt < ctx.retry.attempts => {
                let delay = server_delay
                    .unwrap_or_else(|| ctx.retry.backoff(attempt - 1))
                    .min(ctx.retry.max_delay);
                ctx.progress.event(&Event::Retrying {
                    action: action.clone(),
                    code: error_code(&error),
                    delay,
                    attempt,
                });
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            _ => {
                return Err(ClusterError::Api {
                    action: action.clone(),
                    source: error,
                });
            }
        }
    }
}

fn error_code(error: &kube::Error) -> u16 {
    match error {
        kube::Error::Api(status) => status.code,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_name_verb_resource_group_and_namespace() {
        let a = ApiAction::new(Verb::Patch, Resource::Deployments, Some("logging")).named("x");
        assert_eq!(
            a.permission(),
            "patch deployments.apps in namespace logging"
        );
        assert_eq!(
            a.can_i(),
            "kubectl auth can-i patch deployments.apps -n logging"
        );
        let logs = ApiAction::new(Verb::Get, Resource::PodLogs, Some("ns"));
        assert_eq!(logs.permission(), "get pods/log in namespace ns");
        assert_eq!(
            logs.can_i(),
            "kubectl auth can-i get pods --subresource=log -n ns"
        );
        let all = ApiAction::new(Verb::List, Resource::Pods, None);
        assert_eq!(all.can_i(), "kubectl auth can-i list pods --all-namespaces");
        let mwc = ApiAction::new(Verb::Get, Resource::MutatingWebhookConfigurations, None);
        assert_eq!(
            mwc.permission(),
            "get mutatingwebhookconfigurations.admissionregistration.k8s.io (cluster-wide)"
        );
    }

    fn status(code: u16, reason: &str, retry_after: u32) -> kube::Error {
        let mut s = kube::core::Status::failure("x", reason).with_code(code);
        if retry_after > 0 {
            s.details = Some(kube::core::response::StatusDetails {
                name: String::new(),
                group: String::new(),
                kind: String::new(),
                uid: String::new(),
                causes: Vec::new(),
                retry_after_seconds: retry_after,
            });
        }
        kube::Error::Api(s.boxed())
    }

    #[test]
    fn conflicts_retry_only_writes_and_throttling_keeps_the_servers_delay() {
        let patch = ApiAction::new(Verb::Patch, Resource::Deployments, Some("a"));
        let get = ApiAction::new(Verb::Get, Resource::Deployments, Some("a"));
        assert_eq!(
            disposition(&patch, &status(409, "Conflict", 0)),
            Disposition::Retry(None)
        );
        assert_eq!(
            disposition(&get, &status(409, "Conflict", 0)),
            Disposition::Fail
        );
        assert_eq!(
            disposition(&patch, &status(409, "AlreadyExists", 0)),
            Disposition::Fail
        );
        assert_eq!(
            disposition(&get, &status(429, "TooManyRequests", 3)),
            Disposition::Retry(Some(Duration::from_secs(3)))
        );
        assert_eq!(
            disposition(&get, &status(403, "Forbidden", 0)),
            Disposition::Forbidden
        );
        assert_eq!(
            disposition(&get, &status(404, "NotFound", 0)),
            Disposition::Fail
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        assert_eq!(p.backoff(0), Duration::from_millis(100));
        assert_eq!(p.backoff(1), Duration::from_millis(200));
        assert_eq!(p.backoff(2), Duration::from_millis(350));
    }
}
