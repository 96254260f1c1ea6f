//! What runs in the cluster: pods (listed in pages), the chain of controllers that
//! owns each (ReplicaSet → Deployment, Job → CronJob, DaemonSet, StatefulSet, none),
//! how that owner replaces its pods, and which tool manages it (Helm, Argo CD, Flux).

use std::collections::HashMap;
use std::fmt;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::api::{Api, ListParams};
use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};

use super::api::{ApiAction, ClusterError, Resource, Verb, call};
use super::progress::Event;
use super::{Ctx, Scope};

pub use super::managers::{FluxKind, Manager, managers};

/// How many links an owner chain may have before it is cut (guards against loops).
const MAX_CHAIN: usize = 6;

/// The kind of a workload or owner.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkloadKind {
    /// A pod with no controller.
    Pod,
    Deployment,
    DaemonSet,
    StatefulSet,
    ReplicaSet,
    ReplicationController,
    Job,
    CronJob,
    /// A controller netdns-guard does not know (an Argo Rollout, an operator's CR).
    Other {
        api_version: String,
        kind: String,
    },
}

impl WorkloadKind {
    /// The kind an owner reference names; only the built-in API groups count.
    pub fn of_reference(api_version: &str, kind: &str) -> Self {
        let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
        match (group, kind) {
            ("apps", "Deployment") => WorkloadKind::Deployment,
            ("apps", "DaemonSet") => WorkloadKind::DaemonSet,
            ("apps", "StatefulSet") => WorkloadKind::StatefulSet,
            ("apps", "ReplicaSet") => WorkloadKind::ReplicaSet,
            ("", "ReplicationController") => WorkloadKind::ReplicationController,
            ("batch", "Job") => WorkloadKind::Job,
            ("batch", "CronJob") => WorkloadKind::CronJob,
            _ => WorkloadKind::Other {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            },
        }
    }

    /// The API resource holding this kind (`None` for pods and unknown kinds).
    pub fn resource(&self) -> Option<Resource> {
        Some(match self {
            WorkloadKind::Deployment => Resource::Deployments,
            WorkloadKind::DaemonSet => Resource::DaemonSets,
            WorkloadKind::StatefulSet => Resource::StatefulSets,
            WorkloadKind::ReplicaSet => Resource::ReplicaSets,
            WorkloadKind::ReplicationController => Resource::ReplicationControllers,
            WorkloadKind::Job => Resource::Jobs,
            WorkloadKind::CronJob => Resource::CronJobs,
            WorkloadKind::Pod | WorkloadKind::Other { .. } => return None,
        })
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkloadKind::Pod => f.write_str("Pod"),
            WorkloadKind::Deployment => f.write_str("Deployment"),
            WorkloadKind::DaemonSet => f.write_str("DaemonSet"),
            WorkloadKind::StatefulSet => f.write_str("StatefulSet"),
            WorkloadKind::ReplicaSet => f.write_str("ReplicaSet"),
            WorkloadKind::ReplicationController => f.write_str("ReplicationController"),
            WorkloadKind::Job => f.write_str("Job"),
            WorkloadKind::CronJob => f.write_str("CronJob"),
            WorkloadKind::Other { api_version, kind } => match api_version.rsplit_once('/') {
                Some((group, _)) => write!(f, "{kind}.{group}"),
                None => f.write_str(kind),
            },
        }
    }
}

impl Serialize for WorkloadKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A top-level workload: what remediation acts on, and what scan groups by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Workload {
    pub namespace: String,
    pub kind: WorkloadKind,
    pub name: String,
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

impl Workload {
    /// `Kind/name`, the way kubectl names an object in a table.
    pub fn short(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// One link of an owner chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerLink {
    pub kind: WorkloadKind,
    pub name: String,
    /// Whether the owner exists (a deleted owner's pods wait for garbage collection).
    pub found: bool,
}

impl fmt::Display for OwnerLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)?;
        if !self.found {
            f.write_str(" (not found)")?;
        }
        Ok(())
    }
}

/// How an owner replaces its pods, which decides what remediation can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum Replacement {
    /// A template change rolls the pods (Deployment; RollingUpdate DaemonSet or
    /// StatefulSet). `recreate`: all pods stop before new ones start; `partition`:
    /// StatefulSet pods with a lower ordinal are not updated.
    Rollout { recreate: bool, partition: i32 },
    /// The controller recreates a deleted pod from its template (OnDelete DaemonSet
    /// or StatefulSet, a ReplicaSet or ReplicationController without a Deployment).
    OnDelete,
    /// A paused Deployment: a restart would not roll until it is resumed.
    Paused,
    /// Nothing replaces the pods: a bare pod, or a Job's (which run to completion).
    Never,
    /// The owner is not a built-in controller, or no longer exists.
    Unsupported,
}

/// A built-in controller object, as fetched.
#[derive(Debug, Clone)]
pub enum OwnerObject {
    Deployment(Box<Deployment>),
    DaemonSet(Box<DaemonSet>),
    StatefulSet(Box<StatefulSet>),
    ReplicaSet(Box<ReplicaSet>),
    ReplicationController(Box<ReplicationController>),
    Job(Box<Job>),
    CronJob(Box<CronJob>),
}

impl OwnerObject {
    /// The object's metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            OwnerObject::Deployment(o) => &o.metadata,
            OwnerObject::DaemonSet(o) => &o.metadata,
            OwnerObject::StatefulSet(o) => &o.metadata,
            OwnerObject::ReplicaSet(o) => &o.metadata,
            OwnerObject::ReplicationController(o) => &o.metadata,
            OwnerObject::Job(o) => &o.metadata,
            OwnerObject::CronJob(o) => &o.metadata,
        }
    }

    /// How this controller replaces its pods.
    pub fn replacement(&self) -> Replacement {
        let rollout = Replacement::Rollout {
            recreate: false,
            partition: 0,
        };
        match self {
            OwnerObject::Deployment(d) => {
                if d.spec.paused.unwrap_or(false) {
                    return Replacement::Paused;
                }
                let strategy = d.spec.strategy.as_ref();
                Replacement::Rollout {
                    recreate: strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate"),
                    partition: 0,
                }
            }
            OwnerObject::DaemonSet(d) => {
                let kind = d.spec.update_strategy.as_ref();
                match kind.and_then(|k| k.type_.as_deref()) {
                    Some("OnDelete") => Replacement::OnDelete,
                    _ => rollout,
                }
            }
            OwnerObject::StatefulSet(s) => {
                let strategy = s.spec.update_strategy.as_ref();
                match strategy.and_then(|k| k.type_.as_deref()) {
                    Some("OnDelete") => Replacement::OnDelete,
                    _ => Replacement::Rollout {
                        recreate: false,
                        partition: strategy
                            .and_then(|k| k.rolling_update.as_ref())
                            .and_then(|r| r.partition)
                            .unwrap_or(0),
                    },
                }
            }
            OwnerObject::ReplicaSet(_) | OwnerObject::ReplicationController(_) => {
                Replacement::OnDelete
            }
            OwnerObject::Job(_) | OwnerObject::CronJob(_) => Replacement::Never,
        }
    }

    /// The label selector of the pods it owns, as a `labelSelector` query.
    pub fn selector(&self) -> Option<String> {
        match self {
            OwnerObject::Deployment(d) => Some(selector_query(&d.spec.selector)),
            OwnerObject::DaemonSet(d) => Some(selector_query(&d.spec.selector)),
            OwnerObject::StatefulSet(d) => Some(selector_query(&d.spec.selector)),
            OwnerObject::ReplicaSet(d) => Some(selector_query(&d.spec.selector)),
            OwnerObject::ReplicationController(d) => {
                let map = d.spec.as_ref()?.selector.as_ref()?;
                Some(
                    map.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                )
            }
            OwnerObject::Job(j) => j.spec.as_ref()?.selector.as_ref().map(selector_query),
            OwnerObject::CronJob(_) => None,
        }
    }
}

/// A label selector written as the `labelSelector` query parameter.
pub fn selector_query(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

/// Who owns a pod, up to the top.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ownership {
    /// The pod's controller first, the top owner last; empty for a bare pod.
    pub chain: Vec<OwnerLink>,
    /// The top owner (the pod itself when it has none).
    pub workload: Workload,
    pub replacement: Replacement,
    /// Tools managing the top owner.
    pub managers: Vec<Manager>,
    /// The top owner's pod selector (`labelSelector` syntax).
    #[serde(skip)]
    pub selector: Option<String>,
}

/// The controller reference of an object (the one with `controller: true`, or the
/// only one).
fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    let refs = meta.owner_references.as_deref()?;
    refs.iter()
        .find(|r| r.controller == Some(true))
        .or(match refs {
            [only] => Some(only),
            _ => None,
        })
}

/// Resolves owner chains, fetching each owner once.
pub struct Owners<'c> {
    ctx: &'c Ctx,
    cache: HashMap<(WorkloadKind, String, String), Option<OwnerObject>>,
}

impl<'c> Owners<'c> {
    pub fn new(ctx: &'c Ctx) -> Self {
        Owners {
            ctx,
            cache: HashMap::new(),
        }
    }

    /// The chain of controllers owning `pod`, its top workload, and its managers.
    pub async fn ownership(&mut self, pod: &Pod) -> Result<Ownership, ClusterError> {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let mut chain = Vec::new();
        let mut top: Option<OwnerObject> = None;
        let mut next = controller_of(&pod.metadata).cloned();
        while let Some(reference) = next.take() {
            let kind = WorkloadKind::of_reference(&reference.api_version, &reference.kind);
            let object = match kind.resource() {
                Some(_) => self.get(&kind, &namespace, &reference.name).await?,
                None => None,
            };
            let known = !matches!(kind, WorkloadKind::Other { .. });
            chain.push(OwnerLink {
                kind,
                name: reference.name.clone(),
                found: object.is_some() || !known,
            });
            top = object;
            match &top {
                Some(o) if chain.len() < MAX_CHAIN => next = controller_of(o.meta()).cloned(),
                _ => break,
            }
        }
        let workload = match chain.last() {
            Some(link) => Workload {
                namespace: namespace.clone(),
                kind: link.kind.clone(),
                name: link.name.clone(),
            },
            None => Workload {
                namespace: namespace.clone(),
                kind: WorkloadKind::Pod,
                name: pod.metadata.name.clone().unwrap_or_default(),
            },
        };
        let (replacement, managers, selector) = match (&top, chain.is_empty()) {
            (_, true) => (Replacement::Never, managers(&pod.metadata), None),
            (Some(o), false) => (o.replacement(), managers(o.meta()), o.selector()),
            (None, false) => (Replacement::Unsupported, Vec::new(), None),
        };
        Ok(Ownership {
            chain,
            workload,
            replacement,
            managers,
            selector,
        })
    }

    /// The owner object, fetched once (`None` when it does not exist).
    pub async fn get(
        &mut self,
        kind: &WorkloadKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<OwnerObject>, ClusterError> {
        let key = (kind.clone(), namespace.to_owned(), name.to_owned());
        if let Some(cached) = self.cache.get(&key) {
            return Ok(cached.clone());
        }
        let object = fetch_owner(self.ctx, kind, namespace, name).await?;
        self.cache.insert(key, object.clone());
        Ok(object)
    }
}

/// Fetches a built-in controller object.
pub async fn fetch_owner(
    ctx: &Ctx,
    kind: &WorkloadKind,
    namespace: &str,
    name: &str,
) -> Result<Option<OwnerObject>, ClusterError> {
    let Some(resource) = kind.resource() else {
        return Ok(None);
    };
    let client = &ctx.client;
    let action = ApiAction::new(Verb::Get, resource, Some(namespace)).named(name);
    macro_rules! get {
        ($ty:ty, $variant:ident) => {
            get_opt::<$ty>(
                ctx,
                &Api::namespaced(client.clone(), namespace),
                &action,
                name,
            )
            .await?
            .map(|o| OwnerObject::$variant(Box::new(o)))
        };
    }
    Ok(match kind {
        WorkloadKind::Deployment => get!(Deployment, Deployment),
        WorkloadKind::DaemonSet => get!(DaemonSet, DaemonSet),
        WorkloadKind::StatefulSet => get!(StatefulSet, StatefulSet),
        WorkloadKind::ReplicaSet => get!(ReplicaSet, ReplicaSet),
        WorkloadKind::ReplicationController => get!(ReplicationController, ReplicationController),
        WorkloadKind::Job => get!(Job, Job),
        WorkloadKind::CronJob => get!(CronJob, CronJob),
        WorkloadKind::Pod | WorkloadKind::Other { .. } => None,
    })
}

/// GET that answers `None` for 404.
pub async fn get_opt<K>(
    ctx: &Ctx,
    api: &Api<K>,
    action: &ApiAction,
    name: &str,
) -> Result<Option<K>, ClusterError>
where
    K: Clone + DeserializeOwned + fmt::Debug,
{
    call(ctx, action, || api.get_opt(name)).await
}

/// Items of a paged list, and how many pages it took.
#[derive(Debug, Clone)]
pub struct Listing<K> {
    pub items: Vec<K>,
    pub pages: usize,
}

/// Lists everything `api` holds, `chunk` items per request (limit/continue, like
/// kubectl's `--chunk-size`; `None` asks for everything at once).
pub async fn list_all<K>(
    ctx: &Ctx,
    api: &Api<K>,
    action: &ApiAction,
    selector: Option<&str>,
    chunk: Option<u32>,
    what: &'static str,
) -> Result<Listing<K>, ClusterError>
where
    K: Clone + DeserializeOwned + fmt::Debug,
{
    let mut listing = Listing {
        items: Vec::new(),
        pages: 0,
    };
    let mut token: Option<String> = None;
    loop {
        let params = ListParams {
            label_selector: selector.filter(|s| !s.is_empty()).map(str::to_owned),
            limit: chunk.filter(|c| *c > 0),
            continue_token: token.take(),
            ..Default::default()
        };
        let page = call(ctx, action, || api.list(&params)).await?;
        listing.pages += 1;
        listing.items.extend(page.items);
        ctx.progress.event(&Event::Listed {
            what,
            items: listing.items.len(),
            page: listing.pages,
        });
        match page.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(next) => token = Some(next),
            None => return Ok(listing),
        }
    }
}

/// Every pod in `scope`, paged.
pub async fn list_pods(
    ctx: &Ctx,
    scope: &Scope,
    selector: Option<&str>,
    chunk: Option<u32>,
) -> Result<Listing<Pod>, ClusterError> {
    let api: Api<Pod> = match scope {
        Scope::Namespace(ns) => Api::namespaced(ctx.client.clone(), ns),
        Scope::AllNamespaces => Api::all(ctx.client.clone()),
    };
    let action = ApiAction::new(Verb::List, Resource::Pods, scope.namespace());
    list_all(ctx, &api, &action, selector, chunk, "pods").await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn meta(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> ObjectMeta {
        let map = |p: &[(&str, &str)]| {
            Some(
                p.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
            )
        };
        ObjectMeta {
            labels: map(labels),
            annotations: map(annotations),
            ..Default::default()
        }
    }

    #[test]
    fn helm_argo_and_flux_are_told_apart() {
        let helm = meta(
            &[("app.kubernetes.io/managed-by", "Helm")],
            &[
                ("meta.helm.sh/release-name", "loggie"),
                ("meta.helm.sh/release-namespace", "logging"),
            ],
        );
        assert_eq!(
            managers(&helm),
            [Manager::Helm {
                release: Some("loggie".into()),
                namespace: Some("logging".into())
            }]
        );
        // Argo CD renders charts with `helm template`: managed-by Helm, no release.
        let argo = meta(
            &[("app.kubernetes.io/managed-by", "Helm")],
            &[(
                "argocd.argoproj.io/tracking-id",
                "agents:apps/DaemonSet:logging/loggie",
            )],
        );
        assert_eq!(
            managers(&argo),
            [Manager::ArgoCd {
                application: "agents".into()
            }]
        );
        let flux = meta(
            &[
                ("helm.toolkit.fluxcd.io/name", "promtail"),
                ("helm.toolkit.fluxcd.io/namespace", "flux-system"),
            ],
            &[("meta.helm.sh/release-name", "promtail")],
        );
        assert_eq!(
            managers(&flux),
            [Manager::Flux {
                kind: FluxKind::HelmRelease,
                name: "promtail".into(),
                namespace: Some("flux-system".into())
            }]
        );
        assert!(managers(&meta(&[("app", "x")], &[])).is_empty());
    }

    #[test]
    fn selectors_become_label_selector_queries() {
        let selector = LabelSelector {
            match_labels: Some(BTreeMap::from([("app".to_owned(), "loggie".to_owned())])),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["a".into(), "b".into()]),
                },
                LabelSelectorRequirement {
                    key: "canary".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(
            selector_query(&selector),
            "app=loggie,tier in (a,b),!canary"
        );
    }

    #[test]
    fn owner_references_name_built_in_kinds_only() {
        assert_eq!(
            WorkloadKind::of_reference("apps/v1", "ReplicaSet"),
            WorkloadKind::ReplicaSet
        );
        let rollout = WorkloadKind::of_reference("argoproj.io/v1alpha1", "Rollout");
        assert_eq!(rollout.to_string(), "Rollout.argoproj.io");
        assert_eq!(rollout.resource(), None);
    }
}
