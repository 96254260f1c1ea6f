//! The mutation engine: for one pod (or pod template), which containers are at
//! risk from Go's cgo resolver, and the exact JSON Patch that protects them.
//!
//! The engine is pure: no I/O, no clock, no randomness. The webhook, the dry-run and
//! the cluster commands all call [`Engine::review`], so a pod gets the same patch in
//! every face. It reads only the fields in [`model`], and writes only containers' env
//! and volume mounts, the pod's volumes and dnsConfig options, and `netdns-guard.io/*`
//! annotations.

pub mod catalog;
pub mod env;
pub mod godebug;
pub mod model;
pub mod patch;
pub mod policy;
pub mod report;
pub mod resolver;
pub mod targeting;
pub mod yaml;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use catalog::{Catalog, CatalogEntry, Risk};
use env::ContainerEdits;
use model::{ContainerView, MetaView, PodSpecView, PodView};
use patch::{PatchOp, escape_token};
use report::{AgentMatch, Change, ContainerKind, ContainerReport, PodReport, Verdict};
use resolver::OptionFix;

use policy::Policy;

/// The annotation recording what netdns-guard changed.
pub const STATUS_ANNOTATION: &str = "netdns-guard.io/status";

/// A policy that cannot be turned into an engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A catalog entry has an image pattern that cannot be compiled.
    #[error("catalog entry {entry:?}: {why}")]
    BadPattern { entry: String, why: String },
    /// The policy itself is invalid.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
}

/// A compiled policy, ready to review pods. Cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Engine {
    policy: Policy,
    catalog: Catalog,
}

/// The engine's answer for one pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// RFC 6902 operations relative to the pod (empty when nothing changes).
    pub patch: Vec<PatchOp>,
    /// What was found and done.
    pub report: PodReport,
}

impl Engine {
    /// Compiles a policy: catalog changes applied, patterns compiled.
    pub fn new(policy: Policy) -> Result<Self, EngineError> {
        policy.validate()?;
        let mut entries: Vec<CatalogEntry> = policy.catalog.add.clone();
        entries.extend(
            catalog::builtin_entries()
                .into_iter()
                .filter(|e| !policy.catalog.remove.contains(&e.id)),
        );
        let catalog = Catalog::compile(entries)?;
        Ok(Engine { policy, catalog })
    }

    /// The policy this engine was built from.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The compiled catalog (policy additions first).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Reviews a pod or pod template. `namespace` is where it lives when its own
    /// metadata does not say (a workload's namespace, or the admission request's).
    pub fn review(&self, pod: &PodView<'_>, namespace: Option<&str>) -> Review {
        self.review_running(pod, namespace, &[])
    }

    /// Reviews a pod that runs: as [`Engine::review`], but each container named in
    /// `running` (container name, digest a node reports it runs) is matched
    /// against the catalog by that digest, as [`Catalog::lookup_running`] does.
    /// Only which entry an image matches changes; the pod, and the image its
    /// report shows, are the pod's own. For `scan`: a pod spec's tag says nothing
    /// of which build runs, its container status does.
    pub fn review_running(
        &self,
        pod: &PodView<'_>,
        namespace: Option<&str>,
        running: &[(&str, &str)],
    ) -> Review {
        let empty_spec = PodSpecView::default();
        let spec = pod.spec.as_ref().unwrap_or(&empty_spec);
        let meta = pod.metadata.as_ref();
        let namespace = namespace.or_else(|| meta.and_then(|m| m.namespace.as_deref()));
        let containers = containers_of(spec);
        let agents: Vec<Option<&CatalogEntry>> = containers
            .iter()
            .map(|(_, _, c)| {
                let digest = running
                    .iter()
                    .find(|(name, _)| *name == c.name.as_ref())
                    .map(|(_, digest)| *digest);
                c.image
                    .as_deref()
                    .and_then(|i| self.catalog.lookup_running(i, digest))
            })
            .collect();
        let (targeting, targets) = targeting::decide(&self.policy, meta, namespace, &agents);
        let strategy = self.policy.strategy;
        let floor = self.policy.resolver_config.go_floor;

        let mut ops = Vec::new();
        let mut warnings = Vec::new();
        let mut uses_nsswitch = false;
        let mut reports = Vec::with_capacity(containers.len());
        for (((kind, index, container), agent), target) in
            containers.iter().zip(&agents).zip(&targets)
        {
            let mut edits = ContainerEdits::default();
            if *target {
                if let Some(caveat) = agent.and_then(|a| a.warning.as_deref()) {
                    warnings.push(format!("container {}: {caveat}", container.name));
                }
                let path = format!("/spec/{}/{index}", kind.field());
                if strategy.edits_env() {
                    env::protect_godebug(container, &path, self.policy.override_cgo, &mut edits);
                }
                if strategy.edits_resolver() {
                    uses_nsswitch |= env::mount_nsswitch(container, &path, &mut edits);
                    env::remove_resolver_vars(container, &path, &mut edits);
                }
            }
            reports.push(container_report(
                *kind,
                container,
                *agent,
                *target,
                edits.changes,
            ));
            ops.extend(edits.ops);
            warnings.extend(edits.warnings);
        }

        let dns = resolver::pod_findings(spec, floor);
        if targets.contains(&true) && strategy.edits_env() {
            warnings.extend(trigger_warnings(&reports, &dns));
        }
        let mut dns_changes = Vec::new();
        let mut annotations: Vec<(&str, String)> = Vec::new();
        if targets.contains(&true) && strategy.edits_resolver() {
            fix_dns_options(spec, floor, &mut ops, &mut dns_changes);
            if let Some(dns_policy) = resolver::inherits_node_resolv_conf(spec) {
                warnings.push(format!("dnsPolicy {dns_policy} uses the node's resolv.conf: not fixable by resolver-config"));
            }
            if uses_nsswitch {
                add_nsswitch_volume(spec, &mut ops, &mut dns_changes);
                annotations.push((
                    resolver::NSSWITCH_ANNOTATION,
                    resolver::NSSWITCH_CONTENT.to_owned(),
                ));
            }
            if !strategy.edits_env() {
                warnings.push("resolver-config cannot fix .local names (Go ≤1.22) or named ports; use strategy both".into());
            }
        }

        let mut status = None;
        let changes_something =
            !ops.is_empty() || annotation_ops(meta, &annotations).next().is_some();
        if changes_something {
            let text = status_text(&self.policy, &reports, &dns_changes);
            annotations.push((STATUS_ANNOTATION, text.clone()));
            ops.extend(annotation_ops(meta, &annotations));
            status = Some(text);
        }
        Review {
            patch: ops,
            report: PodReport {
                targeting,
                strategy,
                containers: reports,
                dns,
                dns_changes,
                warnings,
                status,
            },
        }
    }
}

/// Warnings naming the cgo conditions of targeted containers, so that whoever
/// creates the pod learns why it was changed and can reproduce it.
fn trigger_warnings<'r>(
    reports: &'r [ContainerReport],
    dns: &'r [report::Finding],
) -> impl Iterator<Item = String> + 'r {
    let containers = reports.iter().filter(|c| c.target).flat_map(|c| {
        c.findings
            .iter()
            .filter(|f| f.triggers_cgo())
            .map(move |f| format!("container {}: {f} (netdns=go bypasses it)", c.name))
    });
    let pod = dns
        .iter()
        .filter(|f| f.triggers_cgo())
        .map(|f| format!("pod DNS: {f} (netdns=go bypasses it)"));
    containers.chain(pod)
}

/// Init containers first, then containers, each with its index in its own list.
/// Ephemeral containers are never targets and are not read at all.
fn containers_of<'s, 'a>(
    spec: &'s PodSpecView<'a>,
) -> Vec<(ContainerKind, usize, &'s ContainerView<'a>)> {
    let list = |kind, list: &'s Option<Vec<ContainerView<'a>>>| {
        list.iter()
            .flatten()
            .enumerate()
            .map(move |(i, c)| (kind, i, c))
    };
    list(ContainerKind::InitContainer, &spec.init_containers)
        .chain(list(ContainerKind::Container, &spec.containers))
        .collect()
}

fn container_report(
    kind: ContainerKind,
    container: &ContainerView<'_>,
    agent: Option<&CatalogEntry>,
    target: bool,
    changes: Vec<Change>,
) -> ContainerReport {
    let verdict = if env::is_protected(container) {
        Verdict::Protected
    } else {
        match agent.map(|a| a.risk) {
            Some(Risk::AtRisk) => Verdict::AtRisk,
            Some(Risk::PureGo | Risk::NotGo) => Verdict::NotAtRisk,
            None => Verdict::Unknown,
        }
    };
    ContainerReport {
        name: container.name.to_string(),
        kind,
        image: container.image.as_deref().map(str::to_owned),
        agent: agent.map(|a| AgentMatch {
            id: a.id.clone(),
            name: a.name.clone(),
            risk: a.risk,
            reason: a.reason.clone(),
        }),
        target,
        verdict,
        findings: env::findings(container),
        changes,
    }
}

/// Rewrites `spec.dnsConfig.options` so Go at `floor` knows every option.
fn fix_dns_options(
    spec: &PodSpecView<'_>,
    floor: crate::policy::GoFloor,
    ops: &mut Vec<PatchOp>,
    changes: &mut Vec<Change>,
) {
    let Some(options) = spec.dns_config.as_ref().and_then(|c| c.options.as_deref()) else {
        return;
    };
    let mut kept = Vec::with_capacity(options.len());
    for option in options {
        let rendered = resolver::render(option);
        match resolver::option_fix(option, floor) {
            OptionFix::Keep => {
                let mut entry = Map::new();
                if let Some(name) = &option.name {
                    entry.insert("name".into(), Value::from(name.as_ref()));
                }
                if let Some(value) = &option.value {
                    entry.insert("value".into(), Value::from(value.as_ref()));
                }
                kept.push(Value::Object(entry));
            }
            OptionFix::DropValue => {
                let name = option.name.as_deref().unwrap_or_default();
                kept.push(json!({ "name": name }));
                changes.push(Change::DnsOptionRewritten {
                    from: rendered,
                    to: name.to_owned(),
                });
            }
            OptionFix::Remove => changes.push(Change::DnsOptionRemoved { option: rendered }),
        }
    }
    if kept.len() != options.len()
        || changes
            .iter()
            .any(|c| matches!(c, Change::DnsOptionRewritten { .. }))
    {
        ops.push(PatchOp::Replace {
            path: "/spec/dnsConfig/options".into(),
            value: Value::Array(kept),
        });
    }
}

/// Adds the downwardAPI volume that projects the nsswitch annotation, if missing.
/// It needs no object in the pod's namespace, so it works in any namespace.
fn add_nsswitch_volume(spec: &PodSpecView<'_>, ops: &mut Vec<PatchOp>, changes: &mut Vec<Change>) {
    let volumes = spec.volumes.as_deref();
    if volumes.is_some_and(|v| v.iter().any(|v| v.name == resolver::NSSWITCH_VOLUME)) {
        return;
    }
    let field_path = format!("metadata.annotations['{}']", resolver::NSSWITCH_ANNOTATION);
    let volume = json!({
        "name": resolver::NSSWITCH_VOLUME,
        "downwardAPI": { "items": [{ "path": resolver::NSSWITCH_FILE, "fieldRef": { "fieldPath": field_path } }] },
    });
    ops.push(match volumes {
        Some(_) => PatchOp::Add {
            path: "/spec/volumes/-".into(),
            value: volume,
        },
        None => PatchOp::Add {
            path: "/spec/volumes".into(),
            value: Value::Array(vec![volume]),
        },
    });
    changes.push(Change::NsswitchVolumeAdded);
}

/// Operations that set `annotations`, creating `metadata` or its `annotations` map
/// when missing; annotations that already hold the value are skipped.
fn annotation_ops<'a>(
    meta: Option<&'a MetaView<'_>>,
    annotations: &'a [(&str, String)],
) -> Box<dyn Iterator<Item = PatchOp> + 'a> {
    let as_map = || {
        let map: BTreeMap<&str, &str> = annotations.iter().map(|(k, v)| (*k, v.as_str())).collect();
        serde_json::to_value(map).unwrap_or_default()
    };
    match meta {
        _ if annotations.is_empty() => Box::new(std::iter::empty()),
        None => Box::new(std::iter::once(PatchOp::Add {
            path: "/metadata".into(),
            value: json!({ "annotations": as_map() }),
        })),
        Some(MetaView {
            annotations: None, ..
        }) => Box::new(std::iter::once(PatchOp::Add {
            path: "/metadata/annotations".into(),
            value: as_map(),
        })),
        Some(MetaView {
            annotations: Some(existing),
            ..
        }) => Box::new(
            annotations
                .iter()
                .filter(move |(k, v)| existing.get(*k).map(|e| e.as_ref()) != Some(v.as_str()))
                .map(|(k, v)| PatchOp::Add {
                    path: format!("/metadata/annotations/{}", escape_token(k)),
                    value: Value::String(v.clone()),
                }),
        ),
    }
}

/// The status annotation: which strategy touched which containers.
fn status_text(policy: &Policy, reports: &[ContainerReport], dns_changes: &[Change]) -> String {
    let changed: Vec<&str> = reports
        .iter()
        .filter(|c| !c.changes.is_empty())
        .map(|c| c.name.as_str())
        .collect();
    let mut text = format!("{}: ", policy.strategy);
    if changed.is_empty() {
        text.push_str("pod DNS settings");
    } else {
        text.push_str("containers ");
        text.push_str(&changed.join(","));
    }
    if dns_changes
        .iter()
        .any(|c| !matches!(c, Change::NsswitchVolumeAdded))
    {
        text.push_str("; dnsConfig options fixed");
    }
    text
}

#[cfg(test)]
mod tests;
