//! `netdns-guard scan`: every pod the policy targets, grouped by the workload that
//! owns it, crash-looping first, with the engine's verdict and reasons, crash
//! evidence, and the tool managing the owner.
//!
//! The verdict, the reasons and whether a pod still lacks the fix all come from
//! [`review_pod`] (the webhook's own review of the live pod); this module only
//! gathers, groups and prints.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;

use super::evidence::{self, Crash, Evidence, LogEvidence};
use super::inventory::{
    self, Listing, Manager, OwnerLink, Owners, Ownership, Replacement, Workload,
};
use super::table::Table;
use super::{ClusterError, Ctx, Event, Scope, plural, review_pod};
use crate::engine::report::{AgentMatch, ContainerKind, ContainerReport, Verdict};
use crate::engine::{Engine, Review};
use crate::inspect::evidence::ImageEvidence;

/// The report's `apiVersion`, so tools can tell versions apart.
pub const API_VERSION: &str = "netdns-guard.io/v1alpha1";

/// Pods per list request unless told otherwise (kubectl's `--chunk-size` default).
pub const DEFAULT_CHUNK_SIZE: u32 = 500;

/// What to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    pub scope: Scope,
    /// Pods per list request (`--chunk-size`); `None` lists all at once.
    pub chunk_size: Option<u32>,
    /// Read the previous log of restarted target containers.
    pub logs: bool,
    /// Also list pods the policy does not target that run a known agent.
    pub show_others: bool,
}

impl ScanOptions {
    /// The defaults (the command line's too) for `scope`.
    pub fn new(scope: Scope) -> Self {
        ScanOptions {
            scope,
            chunk_size: Some(DEFAULT_CHUNK_SIZE),
            logs: false,
            show_others: false,
        }
    }
}

/// The whole scan.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanReport {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub scope: Scope,
    /// Pods listed, and in how many pages.
    pub pods_listed: usize,
    pub pages: usize,
    /// Targeted pods by owner, most urgent first.
    pub groups: Vec<OwnerGroup>,
    /// Pods the policy does not target.
    pub others: Others,
    /// Images read with `--inspect-images`, and what each holds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inspected: Vec<ImageEvidence>,
    pub warnings: Vec<String>,
}

/// The pods of one workload.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerGroup {
    pub workload: Workload,
    pub replacement: Replacement,
    pub managers: Vec<Manager>,
    /// The most urgent crash class among its target containers.
    pub crash: Crash,
    /// Pods still lacking the fix (running, and the webhook would change them).
    pub pods_needing_fix: usize,
    pub pods: Vec<PodFinding>,
    /// The workload's pod selector (to find its pods again after a restart).
    #[serde(skip)]
    pub selector: Option<String>,
}

/// One pod.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodFinding {
    pub namespace: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Owner chain, the pod's controller first.
    pub chain: Vec<OwnerLink>,
    /// Whether the policy targets any of its containers.
    pub targeted: bool,
    /// Why (the engine's targeting decision).
    pub targeting: String,
    /// Running, and the webhook would change it: a restart is what fixes it.
    pub needs_fix: bool,
    pub crash: Crash,
    pub containers: Vec<ContainerFinding>,
    /// Pod-wide DNS conditions the engine found.
    pub dns: Vec<String>,
    /// The engine's warnings.
    pub warnings: Vec<String>,
}

/// One container.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerFinding {
    pub name: String,
    pub kind: ContainerKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The repository digest its status says it runs (`sha256:…`), when the
    /// status names one: what pinned catalog entries are matched against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_digest: Option<String>,
    pub target: bool,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentMatch>,
    /// The engine's reasons for the verdict.
    pub reasons: Vec<String>,
    /// What the webhook would change in it.
    pub fix: Vec<String>,
    pub evidence: Evidence,
    /// What reading the image found (`scan --inspect-images`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inspected: Option<ImageEvidence>,
}

/// A summary of the pods the policy leaves alone.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Others {
    pub pods: usize,
    /// Pods per known agent (`"Fluent Bit (not at risk)"`).
    pub known_agents: BTreeMap<String, usize>,
    /// Pods running an at-risk agent the policy does not target (opted out, skipped
    /// namespace): they stay at risk, by choice.
    pub at_risk_untargeted: Vec<String>,
}

/// Lists the pods in scope and builds the report.
pub async fn run(
    ctx: &Ctx,
    engine: &Engine,
    options: &ScanOptions,
) -> Result<ScanReport, ClusterError> {
    let listing = inventory::list_pods(ctx, &options.scope, None, options.chunk_size).await?;
    report(ctx, engine, options, &listing).await
}

/// The report on pods already listed, as `engine` reviews them.
pub async fn report(
    ctx: &Ctx,
    engine: &Engine,
    options: &ScanOptions,
    listing: &Listing<Pod>,
) -> Result<ScanReport, ClusterError> {
    let mut owners = Owners::new(ctx);
    let mut groups: BTreeMap<Workload, OwnerGroup> = BTreeMap::new();
    let mut others = Others::default();
    let mut warnings = Vec::new();
    for pod in &listing.items {
        let review = review_pod(engine, pod)?;
        let targeted = review.report.containers.iter().any(|c| c.target);
        if !targeted {
            others.count(pod, &review);
            let has_agent = review.report.containers.iter().any(|c| c.agent.is_some());
            if !(options.show_others && has_agent) {
                continue;
            }
        }
        let ownership = owners.ownership(pod).await?;
        let mut finding = pod_finding(pod, &review, &ownership);
        if options.logs && targeted {
            read_logs(ctx, &mut finding, &mut warnings).await;
        }
        groups
            .entry(ownership.workload.clone())
            .or_insert_with(|| OwnerGroup::new(&ownership))
            .pods
            .push(finding);
    }
    Ok(ScanReport {
        api_version: API_VERSION,
        kind: "ScanReport",
        scope: options.scope.clone(),
        pods_listed: listing.items.len(),
        pages: listing.pages,
        groups: finish(groups.into_values().collect()),
        others,
        inspected: Vec::new(),
        warnings,
    })
}

impl OwnerGroup {
    fn new(ownership: &Ownership) -> Self {
        OwnerGroup {
            workload: ownership.workload.clone(),
            replacement: ownership.replacement,
            managers: ownership.managers.clone(),
            crash: Crash::None,
            pods_needing_fix: 0,
            pods: Vec::new(),
            selector: ownership.selector.clone(),
        }
    }
}

impl Others {
    fn count(&mut self, pod: &Pod, review: &Review) {
        self.pods += 1;
        for c in &review.report.containers {
            if let Some(agent) = &c.agent {
                let key = format!("{} ({})", agent.name, c.verdict);
                *self.known_agents.entry(key).or_default() += 1;
            }
        }
        let at_risk = review
            .report
            .containers
            .iter()
            .any(|c| c.verdict == Verdict::AtRisk);
        if at_risk {
            self.at_risk_untargeted.push(format!(
                "{}: {}",
                super::pod_name(pod),
                review.report.targeting
            ));
        }
    }
}

/// Sorts groups and their pods: crash-looping first, then crashed, restarted, and
/// those lacking the fix before those that have it.
fn finish(mut groups: Vec<OwnerGroup>) -> Vec<OwnerGroup> {
    for group in &mut groups {
        group.pods.sort_by(|a, b| {
            (a.crash, !a.needs_fix, &a.name).cmp(&(b.crash, !b.needs_fix, &b.name))
        });
        group.crash = group
            .pods
            .iter()
            .map(|p| p.crash)
            .min()
            .unwrap_or(Crash::None);
        group.pods_needing_fix = group.pods.iter().filter(|p| p.needs_fix).count();
    }
    groups.sort_by(|a, b| {
        (a.crash, a.pods_needing_fix == 0, &a.workload).cmp(&(
            b.crash,
            b.pods_needing_fix == 0,
            &b.workload,
        ))
    });
    groups
}

fn pod_finding(pod: &Pod, review: &Review, ownership: &Ownership) -> PodFinding {
    let report = &review.report;
    let containers: Vec<ContainerFinding> = report
        .containers
        .iter()
        .map(|c| container_finding(pod, c))
        .collect();
    let crash = containers
        .iter()
        .filter(|c| c.target)
        .map(|c| c.evidence.crash())
        .min()
        .unwrap_or(Crash::None);
    let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
    let finished = matches!(phase.as_deref(), Some("Succeeded" | "Failed"));
    let terminating = pod.metadata.deletion_timestamp.is_some();
    PodFinding {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone(),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        phase,
        chain: ownership.chain.clone(),
        targeted: report.containers.iter().any(|c| c.target),
        targeting: report.targeting.to_string(),
        needs_fix: !review.patch.is_empty() && !finished && !terminating,
        crash,
        containers,
        dns: report.dns.iter().map(ToString::to_string).collect(),
        warnings: report.warnings.clone(),
    }
}

fn container_finding(pod: &Pod, c: &ContainerReport) -> ContainerFinding {
    let mut reasons: Vec<String> = match &c.agent {
        Some(agent) => vec![format!("{}: {}", agent.name, agent.reason)],
        None => vec!["image not in the catalog".to_owned()],
    };
    reasons.extend(c.findings.iter().map(ToString::to_string));
    let status = evidence::container_status(pod, &c.name);
    ContainerFinding {
        name: c.name.clone(),
        kind: c.kind,
        image: c.image.clone(),
        running_digest: status.and_then(super::running_digest).map(str::to_owned),
        target: c.target,
        verdict: c.verdict,
        agent: c.agent.clone(),
        reasons,
        fix: c.changes.iter().map(ToString::to_string).collect(),
        evidence: Evidence::from_status(status),
        inspected: None,
    }
}

/// Reads the previous log of each restarted target container; a namespace where
/// logs are forbidden is warned about once.
async fn read_logs(ctx: &Ctx, pod: &mut PodFinding, warnings: &mut Vec<String>) {
    for c in pod.containers.iter_mut().filter(|c| c.target) {
        if !c.evidence.has_previous() {
            c.evidence.log = LogEvidence::NoPrevious;
            continue;
        }
        c.evidence.log = evidence::previous_log(ctx, &pod.namespace, &pod.name, &c.name).await;
        if c.evidence.log == LogEvidence::Forbidden {
            let warning = format!(
                "previous logs in namespace {} not read: missing permission get pods/log (check: kubectl auth can-i get pods --subresource=log -n {})",
                pod.namespace, pod.namespace
            );
            if !warnings.contains(&warning) {
                ctx.progress.event(&Event::Warning(warning.clone()));
                warnings.push(warning);
            }
        }
    }
    pod.crash = pod
        .containers
        .iter()
        .filter(|c| c.target)
        .map(|c| c.evidence.crash())
        .min()
        .unwrap_or(Crash::None);
}

/// The report as JSON (one document, pretty-printed).
pub fn render_json(report: &ScanReport) -> String {
    let mut text = serde_json::to_string_pretty(report).unwrap_or_default();
    text.push('\n');
    text
}

/// The report as aligned columns, one row per container of interest, followed by
/// a summary.
pub fn render_table(report: &ScanReport) -> String {
    let mut table = Table::new(&[
        "NAMESPACE",
        "OWNER",
        "VIA",
        "POD",
        "CONTAINER",
        "IMAGE",
        "VERDICT",
        "RESTARTS",
        "LAST EXIT",
        "STATE",
        "LOG",
        "MANAGED BY",
        "REASON",
    ]);
    for group in &report.groups {
        let managed = match group.managers.as_slice() {
            [] => "-".to_owned(),
            list => list
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        };
        for pod in &group.pods {
            let via = via(&pod.chain);
            for c in pod.containers.iter().filter(|c| c.target || !pod.targeted) {
                if !pod.targeted && c.agent.is_none() {
                    continue;
                }
                let mut reasons = c.reasons.clone();
                if c.target {
                    reasons.extend(pod.dns.iter().cloned());
                }
                table.row(vec![
                    pod.namespace.clone(),
                    group.workload.short(),
                    via.clone(),
                    pod.name.clone(),
                    c.name.clone(),
                    c.image.clone().unwrap_or_else(|| "-".into()),
                    c.verdict.to_string(),
                    c.evidence.restarts.to_string(),
                    c.evidence
                        .last_termination
                        .as_ref()
                        .map_or_else(|| "-".into(), ToString::to_string),
                    c.evidence.state.to_string(),
                    c.evidence.log.to_string(),
                    managed.clone(),
                    reasons.join("; "),
                ]);
            }
        }
    }
    let mut out = String::new();
    if table.is_empty() {
        let _ = writeln!(out, "No targeted pods found in {}.", report.scope);
    } else {
        out.push_str(&table.render());
    }
    out.push('\n');
    out.push_str(&summary(report));
    out
}

fn via(chain: &[OwnerLink]) -> String {
    match chain.split_last() {
        Some((_, below)) if !below.is_empty() => below
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        _ => "-".to_owned(),
    }
}

/// Counts, the pods left alone, managed owners and warnings, in prose.
pub fn summary(report: &ScanReport) -> String {
    let mut out = String::new();
    let pods: Vec<&PodFinding> = report
        .groups
        .iter()
        .flat_map(|g| &g.pods)
        .filter(|p| p.targeted)
        .collect();
    let count = |f: &dyn Fn(&PodFinding) -> bool| pods.iter().filter(|p| f(p)).count();
    let owners = report
        .groups
        .iter()
        .filter(|g| g.pods.iter().any(|p| p.targeted))
        .count();
    let _ = writeln!(
        out,
        "Scanned {} ({}, {}): {} targeted in {}.",
        plural(report.pods_listed, "pod"),
        plural(report.pages, "page"),
        report.scope,
        pods.len(),
        plural(owners, "owner")
    );
    let _ = writeln!(
        out,
        "  lacking the fix: {} (crash-looping {}, crashed {}); protected or left by policy: {}",
        count(&|p| p.needs_fix),
        count(&|p| p.needs_fix && p.crash == Crash::Looping),
        count(&|p| p.needs_fix && p.crash == Crash::Crashed),
        count(&|p| !p.needs_fix),
    );
    let agents: Vec<String> = report
        .others
        .known_agents
        .iter()
        .map(|(agent, n)| format!("{agent} ×{n}"))
        .collect();
    let _ = writeln!(
        out,
        "Not targeted: {}{}.",
        plural(report.others.pods, "pod"),
        if agents.is_empty() {
            String::new()
        } else {
            format!(", known agents: {}", agents.join(", "))
        }
    );
    for pod in &report.others.at_risk_untargeted {
        let _ = writeln!(out, "  at risk but not targeted: {pod}");
    }
    if !report.inspected.is_empty() {
        let _ = writeln!(out, "Images inspected:");
    }
    for image in &report.inspected {
        // What was pulled: two reads of one image (by the digest a pod runs,
        // by tag for a pod with none) are two lines that say which is which.
        let _ = writeln!(out, "  {}: {}", image.reference, image.evidence);
    }
    let managed: Vec<&OwnerGroup> = report
        .groups
        .iter()
        .filter(|g| !g.managers.is_empty() && g.pods_needing_fix > 0)
        .collect();
    if !managed.is_empty() {
        let _ = writeln!(
            out,
            "Managed owners (a restart is usually fine; do not edit their templates by hand):"
        );
        for g in managed {
            for m in &g.managers {
                let _ = writeln!(out, "  {} ({m}): {}", g.workload, m.advice());
            }
        }
    }
    for w in &report.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if anything_to_fix(report) {
        let _ = writeln!(
            out,
            "To fix: with the webhook serving, `netdns-guard remediate` restarts their owners \
             (see the plan first with --dry-run)."
        );
    }
    out
}

/// Whether any targeted pod still lacks the fix.
pub fn anything_to_fix(report: &ScanReport) -> bool {
    report.groups.iter().any(|g| g.pods_needing_fix > 0)
}
