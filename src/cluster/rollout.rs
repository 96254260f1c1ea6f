//! When a rollout is complete, by the rules `kubectl rollout status` uses
//! (`k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go`): the controller has
//! observed the latest generation, every replica is updated, old ones are gone, and
//! the updated ones are available.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};

/// A rollout's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutState {
    /// Complete.
    Done,
    /// Still going; the message is kubectl's.
    Waiting(String),
    /// It will not complete without help (progress deadline exceeded).
    Failed(String),
}

/// A Deployment's rollout state.
pub fn deployment(d: &Deployment) -> RolloutState {
    let name = d.metadata.name.as_deref().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    let Some(status) = d.status.as_ref() else {
        return RolloutState::Waiting(format!(
            "waiting for deployment {name:?} spec update to be observed"
        ));
    };
    if generation > status.observed_generation.unwrap_or(0) {
        return RolloutState::Waiting(format!(
            "waiting for deployment {name:?} spec update to be observed"
        ));
    }
    let deadline_exceeded = status.conditions.iter().flatten().any(|c| {
        c.type_.as_deref() == Some("Progressing")
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if deadline_exceeded {
        return RolloutState::Failed(format!(
            "deployment {name:?} exceeded its progress deadline"
        ));
    }
    let wanted = d.spec.replicas;
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if let Some(wanted) = wanted.filter(|w| updated < *w) {
        return RolloutState::Waiting(format!(
            "{updated} out of {wanted} new replicas have been updated"
        ));
    }
    if replicas > updated {
        return RolloutState::Waiting(format!(
            "{} old replicas are pending termination",
            replicas - updated
        ));
    }
    if available < updated {
        return RolloutState::Waiting(format!(
            "{available} of {updated} updated replicas are available"
        ));
    }
    RolloutState::Done
}

/// A DaemonSet's rollout state (RollingUpdate only; OnDelete never rolls).
pub fn daemon_set(d: &DaemonSet) -> RolloutState {
    let name = d.metadata.name.as_deref().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    let Some(status) = d.status.as_ref() else {
        return RolloutState::Waiting(format!(
            "waiting for daemon set {name:?} spec update to be observed"
        ));
    };
    if generation > status.observed_generation.unwrap_or(0) {
        return RolloutState::Waiting(format!(
            "waiting for daemon set {name:?} spec update to be observed"
        ));
    }
    let desired = status.desired_number_scheduled;
    let updated = status.updated_number_scheduled.unwrap_or(0);
    let available = status.number_available.unwrap_or(0);
    if updated < desired {
        return RolloutState::Waiting(format!(
            "{updated} out of {desired} new pods have been updated"
        ));
    }
    if available < desired {
        return RolloutState::Waiting(format!(
            "{available} of {desired} updated pods are available"
        ));
    }
    RolloutState::Done
}

/// A StatefulSet's rollout state (RollingUpdate only).
pub fn stateful_set(s: &StatefulSet) -> RolloutState {
    let generation = s.metadata.generation.unwrap_or(0);
    let Some(status) = s.status.as_ref() else {
        return RolloutState::Waiting("waiting for statefulset spec update to be observed".into());
    };
    let observed = status.observed_generation.unwrap_or(0);
    if observed == 0 || generation > observed {
        return RolloutState::Waiting("waiting for statefulset spec update to be observed".into());
    }
    let wanted = s.spec.replicas;
    let ready = status.ready_replicas.unwrap_or(0);
    if let Some(wanted) = wanted.filter(|w| ready < *w) {
        return RolloutState::Waiting(format!("{ready} of {wanted} pods are ready"));
    }
    let partition = s
        .spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition);
    if let (Some(partition), Some(wanted)) = (partition, wanted) {
        let updated = status.updated_replicas.unwrap_or(0);
        if updated < wanted - partition {
            return RolloutState::Waiting(format!(
                "partitioned roll out: {updated} of {} new pods have been updated",
                wanted - partition
            ));
        }
        return RolloutState::Done;
    }
    if status.update_revision != status.current_revision {
        return RolloutState::Waiting(format!(
            "waiting for statefulset rolling update to complete {} pods at revision {}",
            status.updated_replicas.unwrap_or(0),
            status.update_revision.as_deref().unwrap_or_default()
        ));
    }
    RolloutState::Done
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::{
        DeploymentCondition, DeploymentSpec, DeploymentStatus, StatefulSetSpec, StatefulSetStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn deployment_with(generation: i64, replicas: i32, status: DeploymentStatus) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                name: Some("d".into()),
                generation: Some(generation),
                ..Default::default()
            },
            spec: DeploymentSpec {
                replicas: Some(replicas),
                ..Default::default()
            },
            status: Some(status),
        }
    }

    #[test]
    fn a_deployment_is_done_when_observed_updated_and_available() {
        let status = |observed, replicas, updated, available| DeploymentStatus {
            observed_generation: Some(observed),
            replicas: Some(replicas),
            updated_replicas: Some(updated),
            available_replicas: Some(available),
            ..Default::default()
        };
        let waiting = |d: &Deployment| matches!(deployment(d), RolloutState::Waiting(_));
        assert!(waiting(&deployment_with(2, 2, status(1, 2, 2, 2))));
        assert!(waiting(&deployment_with(2, 2, status(2, 2, 1, 1))));
        assert!(waiting(&deployment_with(2, 2, status(2, 3, 2, 2))));
        assert!(waiting(&deployment_with(2, 2, status(2, 2, 2, 1))));
        assert_eq!(
            deployment(&deployment_with(2, 2, status(2, 2, 2, 2))),
            RolloutState::Done
        );
        let mut stuck = status(2, 2, 1, 1);
        stuck.conditions = Some(vec![DeploymentCondition {
            type_: Some("Progressing".into()),
            status: Some("False".into()),
            reason: Some("ProgressDeadlineExceeded".into()),
            ..Default::default()
        }]);
        assert!(matches!(
            deployment(&deployment_with(2, 2, stuck)),
            RolloutState::Failed(_)
        ));
    }

    #[test]
    fn a_stateful_set_waits_for_the_update_revision() {
        let set = |current: &str, update: &str| StatefulSet {
            metadata: ObjectMeta {
                generation: Some(3),
                ..Default::default()
            },
            spec: StatefulSetSpec {
                replicas: Some(2),
                ..Default::default()
            },
            status: Some(StatefulSetStatus {
                observed_generation: Some(3),
                replicas: 2,
                ready_replicas: Some(2),
                updated_replicas: Some(1),
                current_revision: Some(current.into()),
                update_revision: Some(update.into()),
                ..Default::default()
            }),
        };
        assert!(matches!(
            stateful_set(&set("a", "b")),
            RolloutState::Waiting(_)
        ));
        assert_eq!(stateful_set(&set("b", "b")), RolloutState::Done);
    }
}
