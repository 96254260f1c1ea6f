//! The controllers, simulated: a change to the pod template of a Deployment, or of
//! a RollingUpdate DaemonSet or StatefulSet, rolls its pods (new pods from the new
//! template, then ready, then status complete, as the controllers report it); an
//! OnDelete DaemonSet only observes the change. Deleting a pod owned by a
//! DaemonSet, StatefulSet or ReplicaSet makes its controller create a replacement
//! from the current template. Every created pod goes through the admission hook.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::rest::path_parts;
use super::{FakeApiServer, Shared, Store};

/// A rollout the controller simulation performed.
#[derive(Debug, Clone)]
pub struct RolloutRecord {
    /// The owner's path.
    pub owner: String,
    pub started: Instant,
    pub finished: Option<Instant>,
}

/// Controller simulation settings.
#[derive(Debug, Clone, Copy)]
pub struct ControllerSim {
    /// How long a rollout (or a pod replacement) takes: new pods appear after half
    /// of it, and are ready after all of it.
    pub rollout: Duration,
}

impl FakeApiServer {
    /// Every pod created from now on goes through `hook`.
    pub fn set_pod_admission(&self, hook: impl Fn(&mut Value) + Send + Sync + 'static) {
        self.store.lock().unwrap().admission = Some(Arc::new(hook));
    }

    /// Turns the controller simulation on.
    pub fn simulate_controllers(&self, sim: ControllerSim) {
        self.store.lock().unwrap().sim = Some(sim);
    }

    /// Rollouts the simulation performed, in the order they started.
    pub fn rollouts(&self) -> Vec<RolloutRecord> {
        self.store.lock().unwrap().rollouts.clone()
    }
}

pub(super) fn admit(store: &Store, pod: &mut Value) {
    if let Some(hook) = &store.admission {
        hook(pod);
    }
}

/// The workload kinds whose pod template the simulation rolls.
fn workload_kind(path: &str) -> Option<&'static str> {
    let (group, resource, namespace, name) = path_parts(path);
    if group != "apps" || namespace.is_none() || name.is_none() || path.matches('/').count() != 7 {
        return None;
    }
    match resource.as_str() {
        "deployments" => Some("Deployment"),
        "daemonsets" => Some("DaemonSet"),
        "statefulsets" => Some("StatefulSet"),
        _ => None,
    }
}

pub(super) fn after_update(
    shared: &Shared,
    store: &mut Store,
    path: &str,
    before: &Value,
    after: &Value,
) {
    let (Some(sim), Some(kind)) = (store.sim, workload_kind(path)) else {
        return;
    };
    if before["spec"]["template"] == after["spec"]["template"] {
        return;
    }
    let on_delete = after["spec"]["updateStrategy"]["type"] == "OnDelete";
    if on_delete {
        // The controller observes the change; pods change only when deleted.
        let mut object = after.clone();
        object["status"]["observedGeneration"] = after["metadata"]["generation"].clone();
        object["status"]["updatedNumberScheduled"] = json!(0);
        store.put(path.to_owned(), object);
        return;
    }
    store.rollouts.push(RolloutRecord {
        owner: path.to_owned(),
        started: Instant::now(),
        finished: None,
    });
    let shared = shared.clone();
    let path = path.to_owned();
    tokio::spawn(async move {
        tokio::time::sleep(sim.rollout / 2).await;
        let new_pods = {
            let mut store = shared.lock().unwrap();
            replace_pods(&mut store, &path, kind)
        };
        tokio::time::sleep(sim.rollout / 2).await;
        let mut store = shared.lock().unwrap();
        for pod in &new_pods {
            mark_ready(&mut store, pod);
        }
        complete_status(&mut store, &path, kind, new_pods.len());
        if let Some(record) = store
            .rollouts
            .iter_mut()
            .rev()
            .find(|r| r.owner == path && r.finished.is_none())
        {
            record.finished = Some(Instant::now());
        }
    });
}

fn owner_ref(kind: &str, object: &Value) -> Value {
    json!({
        "apiVersion": object["apiVersion"].as_str().unwrap_or("apps/v1"),
        "kind": kind,
        "name": object["metadata"]["name"],
        "uid": object["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

fn owned_by<'s>(store: &'s Store, prefix: &str, uid: &Value) -> Vec<(String, &'s Value)> {
    store
        .objects
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .filter(|(_, v)| {
            v["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == *uid))
        })
        .map(|(k, v)| (k.clone(), v))
        .collect()
}

fn short_hash(value: &Value) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in value.to_string().bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3);
    }
    format!("{:010x}", hash & 0xff_ffff_ffff)
}

/// Creates a pod from `template` through the admission hook; not ready yet.
fn create_pod(
    store: &mut Store,
    namespace: &str,
    name: &str,
    template: &Value,
    owner: Value,
    node: Option<&Value>,
) -> String {
    let mut metadata = template["metadata"].clone();
    if !metadata.is_object() {
        metadata = json!({});
    }
    metadata["name"] = json!(name);
    metadata["namespace"] = json!(namespace);
    metadata["uid"] = json!(store.new_uid());
    metadata["ownerReferences"] = json!([owner]);
    let mut pod = json!({ "apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"].clone() });
    if let Some(node) = node.filter(|n| !n.is_null()) {
        pod["spec"]["nodeName"] = node.clone();
    }
    admit(store, &mut pod);
    let statuses: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({ "name": c["name"], "image": c["image"], "imageID": "", "ready": false,
                    "restartCount": 0, "state": { "waiting": { "reason": "ContainerCreating" } } })
        })
        .collect();
    pod["status"] = json!({
        "phase": "Pending",
        "conditions": [{ "type": "Ready", "status": "False" }],
        "containerStatuses": statuses,
    });
    let path = format!("/api/v1/namespaces/{namespace}/pods/{name}");
    store.put(path.clone(), pod);
    path
}

fn mark_ready(store: &mut Store, path: &str) {
    let Some(mut pod) = store.objects.get(path).cloned() else {
        return;
    };
    pod["status"]["phase"] = json!("Running");
    pod["status"]["conditions"] = json!([{ "type": "Ready", "status": "True" }]);
    if let Some(statuses) = pod["status"]["containerStatuses"].as_array_mut() {
        for s in statuses {
            s["ready"] = json!(true);
            s["started"] = json!(true);
            s["state"] = json!({ "running": { "startedAt": "2024-01-01T00:00:00Z" } });
        }
    }
    store.put(path.to_owned(), pod);
}

/// Replaces every pod of the workload at `path` by a new one from its template,
/// and records the controller having observed the change. Returns the new pods.
fn replace_pods(store: &mut Store, path: &str, kind: &str) -> Vec<String> {
    let Some(mut owner) = store.objects.get(path).cloned() else {
        return Vec::new();
    };
    let (_, _, namespace, name) = path_parts(path);
    let (namespace, name) = (namespace.unwrap_or_default(), name.unwrap_or_default());
    let uid = owner["metadata"]["uid"].clone();
    let template = owner["spec"]["template"].clone();
    let replicas = owner["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
    let pods_prefix = format!("/api/v1/namespaces/{namespace}/pods/");
    let generation = owner["metadata"]["generation"].clone();
    let mut created = Vec::new();
    match kind {
        "Deployment" => {
            let hash = short_hash(&template);
            let rs_name = format!("{name}-{hash}");
            let rs_prefix = format!("/apis/apps/v1/namespaces/{namespace}/replicasets/");
            let old_sets: Vec<(String, Value)> = owned_by(store, &rs_prefix, &uid)
                .into_iter()
                .filter(|(_, v)| v["metadata"]["name"] != rs_name)
                .map(|(k, v)| (k, v.clone()))
                .collect();
            for (rs_path, mut rs) in old_sets {
                let old_pods: Vec<String> = owned_by(store, &pods_prefix, &rs["metadata"]["uid"])
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
                for pod in old_pods {
                    store.objects.remove(&pod);
                }
                rs["spec"]["replicas"] = json!(0);
                rs["status"] = json!({ "replicas": 0 });
                store.put(rs_path, rs);
            }
            let mut rs_template = template.clone();
            rs_template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
            let rs_uid = store.new_uid();
            let rs = json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": { "name": rs_name, "namespace": namespace, "uid": rs_uid,
                              "labels": rs_template["metadata"]["labels"].clone(),
                              "ownerReferences": [owner_ref("Deployment", &owner)] },
                "spec": { "replicas": replicas, "selector": owner["spec"]["selector"].clone(), "template": rs_template.clone() },
            });
            store.put(format!("{rs_prefix}{rs_name}"), rs.clone());
            for _ in 0..replicas {
                let pod_name = format!("{rs_name}-{}", store.suffix());
                let pod = create_pod(
                    store,
                    &namespace,
                    &pod_name,
                    &rs_template,
                    owner_ref("ReplicaSet", &rs),
                    None,
                );
                created.push(pod);
            }
            owner["status"] = json!({ "observedGeneration": generation, "replicas": replicas,
                "updatedReplicas": replicas, "readyReplicas": 0, "availableReplicas": 0 });
        }
        "DaemonSet" => {
            let old: Vec<(String, Value)> = owned_by(store, &pods_prefix, &uid)
                .into_iter()
                .map(|(k, v)| (k, v.clone()))
                .collect();
            let mut nodes: Vec<Value> = old
                .iter()
                .map(|(_, p)| p["spec"]["nodeName"].clone())
                .collect();
            if nodes.is_empty() {
                nodes.push(json!("node-1"));
            }
            for (k, _) in &old {
                store.objects.remove(k);
            }
            for node in &nodes {
                let pod_name = format!("{name}-{}", store.suffix());
                let pod = create_pod(
                    store,
                    &namespace,
                    &pod_name,
                    &template,
                    owner_ref("DaemonSet", &owner),
                    Some(node),
                );
                created.push(pod);
            }
            let n = nodes.len();
            owner["status"] = json!({ "observedGeneration": generation, "desiredNumberScheduled": n,
                "currentNumberScheduled": n, "updatedNumberScheduled": n, "numberAvailable": 0,
                "numberReady": 0, "numberMisscheduled": 0 });
        }
        _ => {
            let revision = format!("{name}-{}", short_hash(&template));
            for i in 0..replicas {
                let pod_name = format!("{name}-{i}");
                store.objects.remove(&format!("{pods_prefix}{pod_name}"));
                let mut pod_template = template.clone();
                pod_template["metadata"]["labels"]["controller-revision-hash"] = json!(revision);
                let pod = create_pod(
                    store,
                    &namespace,
                    &pod_name,
                    &pod_template,
                    owner_ref("StatefulSet", &owner),
                    None,
                );
                created.push(pod);
            }
            let current = owner["status"]["currentRevision"].clone();
            owner["status"] = json!({ "observedGeneration": generation, "replicas": replicas,
                "updatedReplicas": replicas, "readyReplicas": 0, "currentReplicas": 0,
                "currentRevision": current, "updateRevision": revision });
        }
    }
    store.put(path.to_owned(), owner);
    created
}

/// The status a controller reports once the new pods are ready.
fn complete_status(store: &mut Store, path: &str, kind: &str, ready: usize) {
    let Some(mut owner) = store.objects.get(path).cloned() else {
        return;
    };
    let status = &mut owner["status"];
    match kind {
        "Deployment" => {
            status["readyReplicas"] = json!(ready);
            status["availableReplicas"] = json!(ready);
            status["conditions"] = json!([
                { "type": "Available", "status": "True" },
                { "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable" },
            ]);
        }
        "DaemonSet" => {
            status["numberAvailable"] = json!(ready);
            status["numberReady"] = json!(ready);
        }
        _ => {
            status["readyReplicas"] = json!(ready);
            status["currentReplicas"] = json!(ready);
            status["currentRevision"] = status["updateRevision"].clone();
        }
    }
    store.put(path.to_owned(), owner);
}

/// A deleted pod's controller creates its replacement from the current template.
pub(super) fn after_delete(shared: &Shared, store: &mut Store, path: &str, pod: &Value) {
    let Some(sim) = store.sim else {
        return;
    };
    if !path.starts_with("/api/v1/namespaces/") || !path.contains("/pods/") {
        return;
    }
    let Some(controller) = pod["metadata"]["ownerReferences"]
        .as_array()
        .and_then(|refs| refs.iter().find(|r| r["controller"] == true))
        .cloned()
    else {
        return;
    };
    let namespace = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let kind = controller["kind"].as_str().unwrap_or_default().to_owned();
    let resource = match kind.as_str() {
        "DaemonSet" => "daemonsets",
        "StatefulSet" => "statefulsets",
        "ReplicaSet" => "replicasets",
        _ => return,
    };
    let owner_path = format!(
        "/apis/apps/v1/namespaces/{namespace}/{resource}/{}",
        controller["name"].as_str().unwrap_or_default()
    );
    let old_name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let node = pod["spec"]["nodeName"].clone();
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(sim.rollout / 2).await;
        let created = {
            let mut store = shared.lock().unwrap();
            let Some(owner) = store.objects.get(&owner_path).cloned() else {
                return;
            };
            let name = match kind.as_str() {
                "StatefulSet" => old_name,
                _ => format!(
                    "{}-{}",
                    owner["metadata"]["name"].as_str().unwrap_or_default(),
                    store.suffix()
                ),
            };
            let template = owner["spec"]["template"].clone();
            create_pod(
                &mut store,
                &namespace,
                &name,
                &template,
                owner_ref(&kind, &owner),
                Some(&node),
            )
        };
        tokio::time::sleep(sim.rollout / 2).await;
        mark_ready(&mut shared.lock().unwrap(), &created);
    });
}
