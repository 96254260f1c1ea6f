//! Planning: which owners have pods lacking the fix, and what is done to each
//! (restart, delete pods one at a time, or skip and say why).

use std::fmt;

use serde::Serialize;

use crate::cluster::evidence::Crash;
use crate::cluster::inventory::{Manager, Replacement, Workload, WorkloadKind};
use crate::cluster::scan::ScanReport;

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
    pub(super) selector: Option<String>,
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
}
