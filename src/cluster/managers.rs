//! Which tool owns a workload's manifest and may revert a change made to it in the
//! cluster (Helm, Argo CD, Flux), read from the object's labels and annotations:
//! `remediate` restarts such owners, but tells the user where the lasting fix goes.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

/// A tool that owns the workload's manifest and may revert changes to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "tool")]
pub enum Manager {
    /// A Helm release (`meta.helm.sh/*` annotations, or `managed-by: Helm`).
    Helm {
        #[serde(skip_serializing_if = "Option::is_none")]
        release: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
    },
    /// An Argo CD Application (tracking-id annotation or instance label).
    ArgoCd { application: String },
    /// A Flux Kustomization or HelmRelease.
    Flux {
        kind: FluxKind,
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
    },
}

/// The Flux object applying a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FluxKind {
    Kustomization,
    HelmRelease,
}

impl fmt::Display for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Manager::Helm {
                release: Some(r), ..
            } => write!(f, "Helm release {r}"),
            Manager::Helm { release: None, .. } => f.write_str("Helm"),
            Manager::ArgoCd { application } => write!(f, "Argo CD app {application}"),
            Manager::Flux {
                kind,
                name,
                namespace,
            } => match namespace {
                Some(ns) => write!(f, "Flux {kind:?} {ns}/{name}"),
                None => write!(f, "Flux {kind:?} {name}"),
            },
        }
    }
}

impl Manager {
    /// What the manager does with a restart, and with a template change.
    pub fn advice(&self) -> &'static str {
        match self {
            Manager::Helm { .. } => {
                "Helm's three-way merge keeps fields the chart does not render, so the restart \
                 annotation survives `helm upgrade`; a hand edit of the template would be reverted"
            }
            Manager::ArgoCd { .. } => {
                "Argo CD does not diff fields it does not manage (its own restart action sets the \
                 same annotation), so the app stays Synced; a template edit would be reverted by self-heal"
            }
            Manager::Flux { .. } => {
                "Flux's server-side apply leaves fields owned by other managers, so the restart \
                 annotation stays; a template edit would be reverted at the next reconcile"
            }
        }
    }
}

/// Which tools manage an object, from its labels and annotations.
pub fn managers(meta: &ObjectMeta) -> Vec<Manager> {
    let label = |k: &str| meta.labels.as_ref().and_then(|l| l.get(k)).cloned();
    let annotation = |k: &str| meta.annotations.as_ref().and_then(|a| a.get(k)).cloned();
    let mut found = Vec::new();
    let flux = [
        (FluxKind::HelmRelease, "helm.toolkit.fluxcd.io"),
        (FluxKind::Kustomization, "kustomize.toolkit.fluxcd.io"),
    ];
    for (kind, prefix) in flux {
        if let Some(name) = label(&format!("{prefix}/name")) {
            found.push(Manager::Flux {
                kind,
                name,
                namespace: label(&format!("{prefix}/namespace")),
            });
        }
    }
    let argo = annotation("argocd.argoproj.io/tracking-id")
        .and_then(|id| id.split_once(':').map(|(app, _)| app.to_owned()))
        .or_else(|| label("argocd.argoproj.io/instance"));
    if let Some(application) = argo {
        found.push(Manager::ArgoCd { application });
    }
    let release = annotation("meta.helm.sh/release-name");
    let helm_label = label("app.kubernetes.io/managed-by").is_some_and(|m| m == "Helm");
    // Flux's helm-controller and Argo CD render charts too: report them, not Helm,
    // unless Helm's own release annotations are there.
    let flux_helm = found.iter().any(|m| {
        matches!(
            m,
            Manager::Flux {
                kind: FluxKind::HelmRelease,
                ..
            }
        )
    });
    let helm_release = release.is_some() && !flux_helm;
    let helm_rendered_only = helm_label && release.is_none() && found.is_empty();
    if helm_release || helm_rendered_only {
        found.push(Manager::Helm {
            release,
            namespace: annotation("meta.helm.sh/release-namespace"),
        });
    }
    found
}
