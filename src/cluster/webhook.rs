//! Is the webhook installed and serving? Restarting pods without it changes nothing
//! (and with `failurePolicy: Ignore` a pod created while it is down is silently not
//! fixed), so `remediate` asks first:
//! 1. the MutatingWebhookConfiguration exists and has a webhook for pods CREATE;
//! 2. that webhook's Service has a ready endpoint: an EndpointSlice
//!    (`discovery.k8s.io/v1`, label `kubernetes.io/service-name`) with an endpoint
//!    whose `conditions.ready` is not false (unset means ready).
//!
//! A webhook called by URL (outside the cluster) cannot be checked this way and is
//! taken as serving.

use std::fmt;

use k8s_openapi::api::admissionregistration::v1::{MutatingWebhook, MutatingWebhookConfiguration};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use serde::Serialize;

use super::Ctx;
use super::api::{ApiAction, ClusterError, Resource, Verb};
use super::inventory::{get_opt, list_all};

/// The label EndpointSlices carry for their Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum WebhookStatus {
    /// The Service behind the pods webhook has ready endpoints.
    Serving {
        configuration: String,
        service: String,
        ready_endpoints: usize,
    },
    /// Called by URL: assumed serving.
    External { configuration: String, url: String },
    /// No MutatingWebhookConfiguration of that name.
    NotInstalled { configuration: String },
    /// The configuration has no webhook for pods CREATE.
    NoPodWebhook { configuration: String },
    /// The Service has no ready endpoint.
    NotServing {
        configuration: String,
        service: String,
    },
}

impl WebhookStatus {
    /// Whether new pods will go through the webhook.
    pub fn is_serving(&self) -> bool {
        matches!(
            self,
            WebhookStatus::Serving { .. } | WebhookStatus::External { .. }
        )
    }
}

impl fmt::Display for WebhookStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookStatus::Serving {
                configuration,
                service,
                ready_endpoints,
            } => write!(
                f,
                "webhook {configuration} is serving (service {service}: {})",
                super::plural(*ready_endpoints, "ready endpoint")
            ),
            WebhookStatus::External { configuration, url } => write!(
                f,
                "webhook {configuration} calls {url}: cannot check it from the cluster, assumed serving"
            ),
            WebhookStatus::NotInstalled { configuration } => write!(
                f,
                "MutatingWebhookConfiguration {configuration} not found: install netdns-guard first \
                 (restarted pods would come back without the fix)"
            ),
            WebhookStatus::NoPodWebhook { configuration } => write!(
                f,
                "MutatingWebhookConfiguration {configuration} has no webhook for pods CREATE"
            ),
            WebhookStatus::NotServing {
                configuration,
                service,
            } => write!(
                f,
                "webhook {configuration}: service {service} has no ready endpoints (EndpointSlices \
                 labelled {SERVICE_NAME_LABEL}); restarted pods would come back without the fix"
            ),
        }
    }
}

/// Whether a webhook intercepts pod creation.
fn handles_pod_create(webhook: &MutatingWebhook) -> bool {
    webhook.rules.iter().flatten().any(|rule| {
        let resources = rule.resources.iter().flatten();
        let operations = rule.operations.iter().flatten();
        let pods = resources
            .clone()
            .any(|r| r == "pods" || r == "*" || r == "*/*");
        let create = operations.clone().any(|o| o == "CREATE" || o == "*");
        let core = rule
            .api_groups
            .iter()
            .flatten()
            .any(|g| g.is_empty() || g == "*");
        pods && create && core
    })
}

/// Checks the configuration `name` and the Service behind it.
pub async fn check(ctx: &Ctx, name: &str) -> Result<WebhookStatus, ClusterError> {
    let configs: Api<MutatingWebhookConfiguration> = Api::all(ctx.client.clone());
    let action =
        ApiAction::new(Verb::Get, Resource::MutatingWebhookConfigurations, None).named(name);
    let configuration = name.to_owned();
    let Some(config) = get_opt(ctx, &configs, &action, name).await? else {
        return Ok(WebhookStatus::NotInstalled { configuration });
    };
    let webhooks = config.webhooks.unwrap_or_default();
    let Some(webhook) = webhooks.iter().find(|w| handles_pod_create(w)) else {
        return Ok(WebhookStatus::NoPodWebhook { configuration });
    };
    let client_config = &webhook.client_config;
    let Some(service) = &client_config.service else {
        return Ok(WebhookStatus::External {
            configuration,
            url: client_config.url.clone().unwrap_or_default(),
        });
    };
    let ready = ready_endpoints(ctx, &service.namespace, &service.name).await?;
    let service = format!("{}/{}", service.namespace, service.name);
    Ok(if ready > 0 {
        WebhookStatus::Serving {
            configuration,
            service,
            ready_endpoints: ready,
        }
    } else {
        WebhookStatus::NotServing {
            configuration,
            service,
        }
    })
}

/// Ready endpoints of a Service, from its EndpointSlices.
async fn ready_endpoints(ctx: &Ctx, namespace: &str, service: &str) -> Result<usize, ClusterError> {
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), namespace);
    let action = ApiAction::new(Verb::List, Resource::EndpointSlices, Some(namespace));
    let selector = format!("{SERVICE_NAME_LABEL}={service}");
    let slices = list_all(ctx, &api, &action, Some(&selector), None, "endpointslices").await?;
    Ok(slices
        .items
        .iter()
        .flat_map(|s| s.endpoints.iter().flatten())
        .filter(|e| !e.addresses.is_empty())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) != Some(false))
        .count())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::admissionregistration::v1::RuleWithOperations;

    use super::*;

    fn webhook(resources: &[&str], operations: &[&str]) -> MutatingWebhook {
        let strings = |v: &[&str]| Some(v.iter().map(|s| (*s).to_owned()).collect());
        MutatingWebhook {
            rules: Some(vec![RuleWithOperations {
                api_groups: strings(&[""]),
                api_versions: strings(&["v1"]),
                operations: strings(operations),
                resources: strings(resources),
                scope: None,
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn only_a_pods_create_webhook_counts() {
        assert!(handles_pod_create(&webhook(&["pods"], &["CREATE"])));
        assert!(handles_pod_create(&webhook(&["*"], &["*"])));
        assert!(!handles_pod_create(&webhook(&["pods"], &["UPDATE"])));
        assert!(!handles_pod_create(&webhook(&["deployments"], &["CREATE"])));
    }
}
