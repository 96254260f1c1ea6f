//! Execution: restarting owners (or deleting their pods one at a time), waiting for
//! each rollout or replacement, and checking with the engine that the new pods carry
//! the fix.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::task::JoinSet;

use super::plan::{Action, PlanItem};
use super::{FIELD_MANAGER, ItemResult, Outcome, RESTARTED_AT_ANNOTATION, RemediateOptions};
use crate::cluster::api::{ApiAction, ClusterError, Resource, Verb, call};
use crate::cluster::inventory::{self, Owners, Workload, WorkloadKind, get_opt};
use crate::cluster::rollout::{self, RolloutState};
use crate::cluster::{Ctx, Event, Scope, review_pod, show_duration};
use crate::engine::Engine;

/// Runs the plan: at most `max_parallel` owners in flight, started in order.
pub(super) async fn execute(
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
