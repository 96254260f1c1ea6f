//! `netdns-guard remediate`: replace the running pods that lack the fix, owner by
//! owner, once the webhook is serving — so the webhook fixes their replacements.
//!
//! 1. Refuse unless the webhook is installed and serving ([`webhook::check`];
//!    `--force` overrides with a warning).
//! 2. Scan (the same report as `netdns-guard scan`) and plan per owner, most urgent
//!    first: RollingUpdate Deployments, DaemonSets and StatefulSets are restarted like
//!    `kubectl rollout restart`; OnDelete DaemonSets and StatefulSets (and bare
//!    ReplicaSets) have their pods deleted one at a time with `--allow-delete`; bare
//!    pods and Jobs are reported, never touched.
//! 3. Execute with at most `--max-parallel` owners in flight, starting them in plan
//!    order; each waits for its rollout to complete (kubectl's rules, [`rollout`]),
//!    then checks with the engine that its new pods carry the fix. New pods without
//!    it mean the webhook is not mutating them: no further owner is started.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::task::JoinSet;

use super::api::{ApiAction, ClusterError, Resource, Verb, call};
use super::evidence::Crash;
use super::inventory::{self, Manager, Owners, Replacement, Workload, WorkloadKind, get_opt};
use super::rollout::{self, RolloutState};
use super::scan::{self, ScanOptions, ScanReport};
use super::table::Table;
use super::webhook::{self, WebhookStatus};
use super::{Ctx, Event, Scope, plural, review_pod, show_duration};
use crate::engine::Engine;

/// The pod template annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";
/// The field manager of remediate's patches.
pub const FIELD_MANAGER: &str = "netdns-guard";

/// How to remediate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemediateOptions {
    pub scope: Scope,
    pub chunk_size: Option<u32>,
    /// Plan and report; change nothing.
    pub dry_run: bool,
    /// Owners in flight at once (at least 1).
    pub max_parallel: usize,
    /// Delete pods of OnDelete owners one at a time.
    pub allow_delete: bool,
    /// How long one owner's rollout (or one pod's replacement) may take.
    pub timeout: Duration,
    /// Proceed without a serving webhook.
    pub force: bool,
    /// The MutatingWebhookConfiguration to check.
    pub webhook_configuration: String,
    /// How long to wait for the webhook to serve before refusing (a post-install
    /// hook may start before the webhook's pods are ready).
    pub wait_for_webhook: Duration,
    /// How often rollout status is read.
    pub poll_interval: Duration,
}

impl RemediateOptions {
    pub fn new(scope: Scope) -> Self {
        RemediateOptions {
            scope,
            chunk_size: Some(500),
            dry_run: false,
            max_parallel: 1,
            allow_delete: false,
            timeout: Duration::from_secs(300),
            force: false,
            webhook_configuration: "netdns-guard".into(),
            wait_for_webhook: Duration::ZERO,
            poll_interval: Duration::from_secs(2),
        }
    }
}

/// What is done to an owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Action {
    /// Set the template's restartedAt annotation and wait for the rollout.
    RolloutRestart,
    /// Delete the pods lacking the fix one at a time, awaiting each replacement.
    DeletePods,
    /// Leave it; the reason says what to do instead.
    Skip { reason: SkipReason },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::RolloutRestart => f.write_str("rollout restart"),
            Action::DeletePods => f.write_str("delete pods one at a time"),
            Action::Skip { .. } => f.write_str("skip"),
        }
    }
}

/// Why an owner is not touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "reason")]
pub enum SkipReason {
    /// Nothing would recreate a deleted bare pod.
    BarePod,
    /// A Job's pods run to completion.
    Job,
    /// A CronJob's next Job gets the fix.
    CronJob,
    /// OnDelete owners need `--allow-delete`.
    NeedsAllowDelete,
    /// A paused Deployment does not roll.
    Paused,
    /// A controller netdns-guard does not drive (an Argo Rollout, an operator).
    Unsupported { kind: String },
    /// The owner no longer exists.
    OwnerMissing,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::BarePod => f.write_str(
                "bare pod: nothing recreates it; delete and re-create it yourself once the webhook serves",
            ),
            SkipReason::Job => f.write_str("Job: its pods run to completion; re-create the Job to get the fix"),
            SkipReason::CronJob => f.write_str("CronJob: its next Job gets the fix from the webhook"),
            SkipReason::NeedsAllowDelete => f.write_str(
                "OnDelete: pods are replaced only when deleted; rerun with --allow-delete",
            ),
            SkipReason::Paused => f.write_str(
                "paused Deployment: `kubectl rollout resume` it, then rerun",
            ),
            SkipReason::Unsupported { kind } => {
                write!(f, "owned by {kind}: restart it with that controller's tooling")
            }
            SkipReason::OwnerMissing => f.write_str("its owner no longer exists"),
        }
    }
}

/// One owner's plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanItem {
    pub workload: Workload,
    pub action: Action,
    pub crash: Crash,
    /// Its pods lacking the fix.
    pub pods: Vec<String>,
    pub managers: Vec<Manager>,
    /// Things to know before it runs.
    pub notes: Vec<String>,
    #[serde(skip)]
    selector: Option<String>,
}

/// How an owner's remediation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum Outcome {
    /// Every pod of the owner now carries the fix.
    Fixed {
        pods: usize,
    },
    /// These new pods came up without the fix.
    Unfixed {
        pods: Vec<String>,
    },
    /// Still waiting when `--timeout` ran out.
    TimedOut {
        waiting_for: String,
    },
    Failed {
        error: String,
    },
    Skipped {
        reason: SkipReason,
    },
    /// Not started: remediation halted before its turn.
    NotStarted,
    /// `--dry-run`: would run.
    Planned,
}

impl Outcome {
    /// Whether the owner is done (fixed).
    pub fn is_fixed(&self) -> bool {
        matches!(self, Outcome::Fixed { .. })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Fixed { pods } => write!(f, "fixed ({} protected)", plural(*pods, "pod")),
            Outcome::Unfixed { pods } => {
                write!(f, "NOT FIXED: new pods lack the fix: {}", pods.join(", "))
            }
            Outcome::TimedOut { waiting_for } => write!(f, "timed out: {waiting_for}"),
            Outcome::Failed { error } => write!(f, "failed: {error}"),
            Outcome::Skipped { reason } => write!(f, "skipped: {reason}"),
            Outcome::NotStarted => f.write_str("not started (halted)"),
            Outcome::Planned => f.write_str("planned"),
        }
    }
}

/// One owner's plan and outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemResult {
    #[serde(flatten)]
    pub plan: PlanItem,
    pub outcome: Outcome,
    pub elapsed_seconds: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemediationReport {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub scope: Scope,
    pub dry_run: bool,
    pub webhook: WebhookStatus,
    /// `--force` was needed (the webhook was not serving).
    pub forced: bool,
    pub items: Vec<ItemResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halted: Option<String>,
    pub warnings: Vec<String>,
}

impl RemediationReport {
    /// Owners whose pods still lack the fix (skipped ones included).
    pub fn left_unfixed(&self) -> impl Iterator<Item = &ItemResult> {
        self.items.iter().filter(|i| !i.outcome.is_fixed())
    }
}

/// The plan for a scan: one item per owner with pods lacking the fix, in the
/// scan's order (crash-looping first).
pub fn plan(report: &ScanReport, allow_delete: bool) -> Vec<PlanItem> {
    report
        .groups
        .iter()
        .filter(|g| g.pods_needing_fix > 0)
        .map(|g| {
            let action = action_for(&g.workload.kind, g.replacement, allow_delete);
            let mut notes: Vec<String> = g
                .managers
                .iter()
                .map(|m| format!("managed by {m}: {}", m.advice()))
                .collect();
            match g.replacement {
                Replacement::Rollout { recreate: true, .. } => notes
                    .push("strategy Recreate: all its pods stop before the new ones start".into()),
                Replacement::Rollout { partition, .. } if partition > 0 => notes.push(format!(
                    "partition {partition}: pods with a lower ordinal are not replaced by a rollout"
                )),
                _ => {}
            }
            PlanItem {
                workload: g.workload.clone(),
                action,
                crash: g.crash,
                pods: g
                    .pods
                    .iter()
                    .filter(|p| p.needs_fix)
                    .map(|p| p.name.clone())
                    .collect(),
                managers: g.managers.clone(),
                notes,
                selector: g.selector.clone(),
            }
        })
        .collect()
}

fn action_for(kind: &WorkloadKind, replacement: Replacement, allow_delete: bool) -> Action {
    let skip = |reason| Action::Skip { reason };
    match replacement {
        Replacement::Rollout { .. } => Action::RolloutRestart,
        Replacement::OnDelete if allow_delete => Action::DeletePods,
        Replacement::OnDelete => skip(SkipReason::NeedsAllowDelete),
        Replacement::Paused => skip(SkipReason::Paused),
        Replacement::Never => skip(match kind {
            WorkloadKind::Job => SkipReason::Job,
            WorkloadKind::CronJob => SkipReason::CronJob,
            _ => SkipReason::BarePod,
        }),
        Replacement::Unsupported => skip(match kind {
            WorkloadKind::Other { .. } => SkipReason::Unsupported {
                kind: kind.to_string(),
            },
            _ => SkipReason::OwnerMissing,
        }),
    }
}

/// Checks the webhook, scans, plans and (unless `dry_run`) executes.
pub async fn run(
    ctx: &Ctx,
    engine: &Engine,
    options: &RemediateOptions,
) -> Result<RemediationReport, ClusterError> {
    let webhook = await_webhook(ctx, options).await?;
    let mut warnings = Vec::new();
    let forced = !webhook.is_serving();
    if forced {
        if !options.force && !options.dry_run {
            return Err(ClusterError::WebhookNotServing(format!(
                "{webhook}; nothing was restarted (--force restarts anyway)"
            )));
        }
        let warning = if options.dry_run {
            format!("{webhook}; remediate would refuse to start without --force")
        } else {
            format!("{webhook}; --force: restarting anyway, new pods may lack the fix")
        };
        ctx.progress.event(&Event::Warning(warning.clone()));
        warnings.push(warning);
    }
    let scan_options = ScanOptions {
        scope: options.scope.clone(),
        chunk_size: options.chunk_size,
        logs: false,
        show_others: false,
    };
    let report = scan::run(ctx, engine, &scan_options).await?;
    let plan = plan(&report, options.allow_delete);
    for item in plan
        .iter()
        .filter(|i| !matches!(i.action, Action::Skip { .. }))
    {
        for m in &item.managers {
            let warning = format!(
                "{} is managed by {m}: the restart annotation is usually kept, \
                 but do not edit its template by hand (it would be reverted)",
                item.workload
            );
            ctx.progress.event(&Event::Warning(warning.clone()));
            warnings.push(warning);
        }
    }
    let (items, halted) = if options.dry_run {
        (dry_run_results(plan), None)
    } else {
        execute(ctx, Arc::new(engine.clone()), options, plan).await
    };
    Ok(RemediationReport {
        api_version: scan::API_VERSION,
        kind: "RemediationReport",
        scope: options.scope.clone(),
        dry_run: options.dry_run,
        webhook,
        forced: forced && !options.dry_run,
        items,
        halted,
        warnings,
    })
}

/// Checks the webhook, again every poll interval for up to `wait_for_webhook`
/// while it is not serving.
async fn await_webhook(
    ctx: &Ctx,
    options: &RemediateOptions,
) -> Result<WebhookStatus, ClusterError> {
    let deadline = Instant::now() + options.wait_for_webhook;
    let mut status = webhook::check(ctx, &options.webhook_configuration).await?;
    if !status.is_serving() && !options.wait_for_webhook.is_zero() {
        ctx.progress.event(&Event::Warning(format!(
            "{status}; waiting up to {} for it to serve",
            show_duration(options.wait_for_webhook)
        )));
    }
    while !status.is_serving() && Instant::now() < deadline {
        tokio::time::sleep(options.poll_interval).await;
        status = webhook::check(ctx, &options.webhook_configuration).await?;
    }
    Ok(status)
}

fn dry_run_results(plan: Vec<PlanItem>) -> Vec<ItemResult> {
    plan.into_iter()
        .map(|item| {
            let outcome = match &item.action {
                Action::Skip { reason } => Outcome::Skipped {
                    reason: reason.clone(),
                },
                _ => Outcome::Planned,
            };
            ItemResult {
                plan: item,
                outcome,
                elapsed_seconds: 0.0,
            }
        })
        .collect()
}

/// Runs the plan: at most `max_parallel` owners in flight, started in order.
async fn execute(
    ctx: &Ctx,
    engine: Arc<Engine>,
    options: &RemediateOptions,
    plan: Vec<PlanItem>,
) -> (Vec<ItemResult>, Option<String>) {
    let total = plan
        .iter()
        .filter(|i| !matches!(i.action, Action::Skip { .. }))
        .count();
    let mut outcomes: Vec<Option<(Outcome, Duration)>> = vec![None; plan.len()];
    let mut running: JoinSet<(usize, Outcome, Duration)> = JoinSet::new();
    let mut halted: Option<String> = None;
    let mut started = 0;
    for (index, item) in plan.iter().enumerate() {
        if let Action::Skip { reason } = &item.action {
            outcomes[index] = Some((
                Outcome::Skipped {
                    reason: reason.clone(),
                },
                Duration::ZERO,
            ));
            continue;
        }
        while running.len() >= options.max_parallel.max(1) {
            collect_one(ctx, &plan, &mut running, &mut outcomes, &mut halted).await;
        }
        if halted.is_some() {
            break;
        }
        started += 1;
        ctx.progress.event(&Event::Started {
            index: started,
            total,
            workload: item.workload.clone(),
            action: item.action.clone(),
        });
        let began = Instant::now();
        if item.action == Action::RolloutRestart {
            // Patched here, not in the task, so owners start strictly in plan order.
            if let Err(e) = restart(ctx, &item.workload).await {
                let outcome = Outcome::Failed {
                    error: e.to_string(),
                };
                finish(ctx, item, &outcome, began.elapsed());
                outcomes[index] = Some((outcome, began.elapsed()));
                continue;
            }
        }
        let (ctx, engine, options, item) =
            (ctx.clone(), engine.clone(), options.clone(), item.clone());
        running.spawn(async move {
            let outcome = complete(&ctx, &engine, &options, &item).await;
            (index, outcome, began.elapsed())
        });
    }
    while !running.is_empty() {
        collect_one(ctx, &plan, &mut running, &mut outcomes, &mut halted).await;
    }
    let items = plan
        .into_iter()
        .zip(outcomes)
        .map(|(plan, outcome)| {
            let (outcome, elapsed) = outcome.unwrap_or((Outcome::NotStarted, Duration::ZERO));
            ItemResult {
                plan,
                outcome,
                elapsed_seconds: elapsed.as_secs_f64(),
            }
        })
        .collect();
    (items, halted)
}

/// Waits for one in-flight owner and records it; new pods without the fix halt.
async fn collect_one(
    ctx: &Ctx,
    plan: &[PlanItem],
    running: &mut JoinSet<(usize, Outcome, Duration)>,
    outcomes: &mut [Option<(Outcome, Duration)>],
    halted: &mut Option<String>,
) {
    let Some(joined) = running.join_next().await else {
        return;
    };
    let (index, outcome, elapsed) = match joined {
        Ok(done) => done,
        Err(e) => {
            *halted = Some(format!("an owner's task failed: {e}"));
            return;
        }
    };
    let item = &plan[index];
    finish(ctx, item, &outcome, elapsed);
    if let Outcome::Unfixed { pods } = &outcome
        && halted.is_none()
    {
        let reason = format!(
            "new pods of {} came up without the fix ({}): the webhook is not mutating them \
             (check its namespaceSelector, objectSelector, matchConditions and logs); \
             no further owner is restarted",
            item.workload,
            pods.join(", ")
        );
        ctx.progress.event(&Event::Halted {
            reason: reason.clone(),
        });
        *halted = Some(reason);
    }
    outcomes[index] = Some((outcome, elapsed));
}

fn finish(ctx: &Ctx, item: &PlanItem, outcome: &Outcome, elapsed: Duration) {
    ctx.progress.event(&Event::Finished {
        workload: item.workload.clone(),
        outcome: outcome.clone(),
        elapsed,
    });
}

/// The rest of an owner's remediation, after it was started.
async fn complete(
    ctx: &Ctx,
    engine: &Engine,
    options: &RemediateOptions,
    item: &PlanItem,
) -> Outcome {
    let result = match item.action {
        Action::RolloutRestart => match await_rollout(ctx, options, &item.workload).await {
            Ok(None) => verify(ctx, engine, options, item).await,
            Ok(Some(not_done)) => Ok(not_done),
            Err(e) => Err(e),
        },
        Action::DeletePods => delete_one_by_one(ctx, engine, options, item).await,
        Action::Skip { .. } => return Outcome::NotStarted,
    };
    result.unwrap_or_else(|e| Outcome::Failed {
        error: e.to_string(),
    })
}

/// `kubectl rollout restart`: a strategic-merge patch of the template's
/// restartedAt annotation.
async fn restart(ctx: &Ctx, workload: &Workload) -> Result<(), ClusterError> {
    let now = k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
    let patch = json!({ "spec": { "template": { "metadata": { "annotations": {
        RESTARTED_AT_ANNOTATION: now.to_string()
    } } } } });
    match workload.kind {
        WorkloadKind::Deployment => {
            patch_owner::<Deployment>(ctx, workload, Resource::Deployments, &patch).await
        }
        WorkloadKind::DaemonSet => {
            patch_owner::<DaemonSet>(ctx, workload, Resource::DaemonSets, &patch).await
        }
        WorkloadKind::StatefulSet => {
            patch_owner::<StatefulSet>(ctx, workload, Resource::StatefulSets, &patch).await
        }
        _ => Err(ClusterError::NotRestartable {
            workload: workload.to_string(),
        }),
    }
}

async fn patch_owner<K>(
    ctx: &Ctx,
    workload: &Workload,
    resource: Resource,
    patch: &serde_json::Value,
) -> Result<(), ClusterError>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &workload.namespace);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let action =
        ApiAction::new(Verb::Patch, resource, Some(&workload.namespace)).named(&workload.name);
    let patch = Patch::Strategic(patch);
    call(ctx, &action, || api.patch(&workload.name, &params, &patch))
        .await
        .map(|_| ())
}

/// Waits until the rollout completes (`None`), or returns how it ended otherwise.
async fn await_rollout(
    ctx: &Ctx,
    options: &RemediateOptions,
    workload: &Workload,
) -> Result<Option<Outcome>, ClusterError> {
    let mut last = String::from("rollout to start");
    let wait = async {
        loop {
            let state = rollout_state(ctx, workload).await?;
            match state {
                RolloutState::Done => return Ok(None),
                RolloutState::Failed(error) => return Ok(Some(Outcome::Failed { error })),
                RolloutState::Waiting(message) => {
                    if message != last {
                        ctx.progress.event(&Event::Waiting {
                            workload: workload.clone(),
                            message: message.clone(),
                        });
                        last = message;
                    }
                }
            }
            tokio::time::sleep(options.poll_interval).await;
        }
    };
    match tokio::time::timeout(options.timeout, wait).await {
        Ok(result) => result,
        Err(_) => Ok(Some(Outcome::TimedOut {
            waiting_for: format!(
                "{} after {}: {last}",
                workload,
                show_duration(options.timeout)
            ),
        })),
    }
}

async fn rollout_state(ctx: &Ctx, workload: &Workload) -> Result<RolloutState, ClusterError> {
    let gone = || RolloutState::Failed(format!("{workload} no longer exists"));
    let object =
        inventory::fetch_owner(ctx, &workload.kind, &workload.namespace, &workload.name).await?;
    Ok(match object {
        Some(inventory::OwnerObject::Deployment(d)) => rollout::deployment(&d),
        Some(inventory::OwnerObject::DaemonSet(d)) => rollout::daemon_set(&d),
        Some(inventory::OwnerObject::StatefulSet(s)) => rollout::stateful_set(&s),
        _ => gone(),
    })
}

/// The owner's live pods (not terminating, not finished).
async fn owner_pods(
    ctx: &Ctx,
    options: &RemediateOptions,
    item: &PlanItem,
) -> Result<Vec<Pod>, ClusterError> {
    let scope = Scope::Namespace(item.workload.namespace.clone());
    let listing =
        inventory::list_pods(ctx, &scope, item.selector.as_deref(), options.chunk_size).await?;
    let mut owners = Owners::new(ctx);
    let mut pods = Vec::new();
    for pod in listing.items {
        let finished = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|p| p == "Succeeded" || p == "Failed");
        if finished || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if owners.ownership(&pod).await?.workload == item.workload {
            pods.push(pod);
        }
    }
    Ok(pods)
}

/// Whether the engine would still change the pod: it lacks the fix.
fn lacks_fix(engine: &Engine, pod: &Pod) -> Result<bool, ClusterError> {
    Ok(!review_pod(engine, pod)?.patch.is_empty())
}

/// After a rollout: every live pod of the owner must carry the fix.
async fn verify(
    ctx: &Ctx,
    engine: &Engine,
    options: &RemediateOptions,
    item: &PlanItem,
) -> Result<Outcome, ClusterError> {
    let pods = owner_pods(ctx, options, item).await?;
    let mut unfixed = Vec::new();
    for pod in &pods {
        if lacks_fix(engine, pod)? {
            unfixed.push(pod.metadata.name.clone().unwrap_or_default());
        }
    }
    Ok(if unfixed.is_empty() {
        Outcome::Fixed { pods: pods.len() }
    } else {
        Outcome::Unfixed { pods: unfixed }
    })
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// OnDelete owners: delete each pod lacking the fix, await its ready replacement,
/// check the replacement, then the next.
async fn delete_one_by_one(
    ctx: &Ctx,
    engine: &Engine,
    options: &RemediateOptions,
    item: &PlanItem,
) -> Result<Outcome, ClusterError> {
    let namespace = &item.workload.namespace;
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    for name in &item.pods {
        let get = ApiAction::new(Verb::Get, Resource::Pods, Some(namespace)).named(name);
        let Some(pod) = get_opt(ctx, &api, &get, name).await? else {
            continue;
        };
        if !lacks_fix(engine, &pod)? {
            continue;
        }
        let before: Vec<String> = owner_pods(ctx, options, item)
            .await?
            .iter()
            .filter_map(|p| p.metadata.uid.clone())
            .collect();
        let delete = ApiAction::new(Verb::Delete, Resource::Pods, Some(namespace)).named(name);
        let params = DeleteParams::default();
        match call(ctx, &delete, || api.delete(name, &params)).await {
            Ok(_) => {}
            Err(e) if e.code() == Some(404) => {}
            Err(e) => return Err(e),
        }
        ctx.progress.event(&Event::PodDeleted {
            workload: item.workload.clone(),
            pod: name.clone(),
        });
        let wait = await_replacement(ctx, options, item, &pod, &before);
        let replacement = match tokio::time::timeout(options.timeout, wait).await {
            Ok(found) => found?,
            Err(_) => {
                return Ok(Outcome::TimedOut {
                    waiting_for: format!(
                        "a ready replacement for pod {namespace}/{name} after {}",
                        show_duration(options.timeout)
                    ),
                });
            }
        };
        let new_name = replacement.metadata.name.clone().unwrap_or_default();
        ctx.progress.event(&Event::PodReplaced {
            workload: item.workload.clone(),
            old: name.clone(),
            new: new_name.clone(),
        });
        if lacks_fix(engine, &replacement)? {
            return Ok(Outcome::Unfixed {
                pods: vec![new_name],
            });
        }
    }
    verify(ctx, engine, options, item).await
}

/// The ready pod that replaced `old`: same name for a StatefulSet, same node for a
/// DaemonSet, any new pod for a ReplicaSet or ReplicationController.
async fn await_replacement(
    ctx: &Ctx,
    options: &RemediateOptions,
    item: &PlanItem,
    old: &Pod,
    before: &[String],
) -> Result<Pod, ClusterError> {
    let old_uid = old.metadata.uid.clone();
    let old_name = old.metadata.name.clone();
    let old_node = old.spec.as_ref().and_then(|s| s.node_name.clone());
    loop {
        for pod in owner_pods(ctx, options, item).await? {
            let uid = pod.metadata.uid.clone();
            if uid == old_uid || !is_ready(&pod) {
                continue;
            }
            let replaces = match item.workload.kind {
                WorkloadKind::StatefulSet => pod.metadata.name == old_name,
                WorkloadKind::DaemonSet => {
                    pod.spec.as_ref().and_then(|s| s.node_name.clone()) == old_node
                        && uid.is_some_and(|u| !before.contains(&u))
                }
                _ => uid.is_some_and(|u| !before.contains(&u)),
            };
            if replaces {
                return Ok(pod);
            }
        }
        tokio::time::sleep(options.poll_interval).await;
    }
}

/// The run as JSON.
pub fn render_json(report: &RemediationReport) -> String {
    let mut text = serde_json::to_string_pretty(report).unwrap_or_default();
    text.push('\n');
    text
}

fn crash_text(crash: Crash) -> &'static str {
    match crash {
        Crash::Looping => "CrashLoopBackOff",
        Crash::Crashed => "crashed",
        Crash::Restarted => "restarted",
        Crash::None => "-",
    }
}

/// The run as a table (plan and outcome per owner) and a summary.
pub fn render_table(report: &RemediationReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}{}",
        report.webhook,
        if report.forced { " (--force)" } else { "" }
    );
    let mut table = Table::new(&[
        "NAMESPACE",
        "OWNER",
        "ACTION",
        "PODS",
        "CRASH",
        "RESULT",
        "MANAGED BY",
    ]);
    for item in &report.items {
        let managed = match item.plan.managers.as_slice() {
            [] => "-".to_owned(),
            list => list
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        };
        table.row(vec![
            item.plan.workload.namespace.clone(),
            item.plan.workload.short(),
            item.plan.action.to_string(),
            item.plan.pods.len().to_string(),
            crash_text(item.plan.crash).to_owned(),
            item.outcome.to_string(),
            managed,
        ]);
    }
    if table.is_empty() {
        let _ = writeln!(
            out,
            "Nothing to do: no running pod in {} lacks the fix.",
            report.scope
        );
        return out;
    }
    out.push('\n');
    out.push_str(&table.render());
    out.push('\n');
    for item in report.items.iter().filter(|i| !i.plan.notes.is_empty()) {
        for note in &item.plan.notes {
            let _ = writeln!(out, "note: {}: {note}", item.plan.workload);
        }
    }
    let fixed = report.items.iter().filter(|i| i.outcome.is_fixed()).count();
    let left: Vec<&ItemResult> = report.left_unfixed().collect();
    if report.dry_run {
        let _ = writeln!(
            out,
            "Dry run: {} would be remediated, {} skipped; nothing was changed.",
            plural(
                report
                    .items
                    .iter()
                    .filter(|i| i.outcome == Outcome::Planned)
                    .count(),
                "owner"
            ),
            report
                .items
                .iter()
                .filter(|i| matches!(i.outcome, Outcome::Skipped { .. }))
                .count()
        );
    } else {
        let _ = writeln!(
            out,
            "Summary: {fixed} of {} fixed; {} left with pods lacking the fix.",
            plural(report.items.len(), "owner"),
            left.len()
        );
    }
    if let Some(reason) = &report.halted {
        let _ = writeln!(out, "Halted: {reason}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_replacement_mode_gets_its_action() {
        let rollout = Replacement::Rollout {
            recreate: false,
            partition: 0,
        };
        let skip = |reason| Action::Skip { reason };
        assert_eq!(
            action_for(&WorkloadKind::DaemonSet, rollout, false),
            Action::RolloutRestart
        );
        assert_eq!(
            action_for(&WorkloadKind::DaemonSet, Replacement::OnDelete, false),
            skip(SkipReason::NeedsAllowDelete)
        );
        assert_eq!(
            action_for(&WorkloadKind::ReplicaSet, Replacement::OnDelete, true),
            Action::DeletePods
        );
        assert_eq!(
            action_for(&WorkloadKind::Deployment, Replacement::Paused, true),
            skip(SkipReason::Paused)
        );
        assert_eq!(
            action_for(&WorkloadKind::Job, Replacement::Never, true),
            skip(SkipReason::Job)
        );
        assert_eq!(
            action_for(&WorkloadKind::Pod, Replacement::Never, true),
            skip(SkipReason::BarePod)
        );
        let rollout_cr = WorkloadKind::of_reference("argoproj.io/v1alpha1", "Rollout");
        assert_eq!(
            action_for(&rollout_cr, Replacement::Unsupported, true),
            skip(SkipReason::Unsupported {
                kind: "Rollout.argoproj.io".into()
            })
        );
        assert_eq!(
            action_for(&WorkloadKind::ReplicaSet, Replacement::Unsupported, true),
            skip(SkipReason::OwnerMissing)
        );
    }

    #[test]
    fn outcomes_read_well() {
        assert_eq!(
            Outcome::Fixed { pods: 1 }.to_string(),
            "fixed (1 pod protected)"
        );
        assert_eq!(
            Outcome::Fixed { pods: 3 }.to_string(),
            "fixed (3 pods protected)"
        );
        assert!(!Outcome::Planned.is_fixed());
    }
}
