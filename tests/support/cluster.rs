//! A realistic cluster for the scan and remediate tests, loaded into the fake API
//! server with the objects and statuses real controllers write.
//!
//! | namespace  | workload                                   | agent             | state                                   | managed by |
//! |------------|--------------------------------------------|-------------------|-----------------------------------------|------------|
//! | logging    | Deployment loggie-aggregator (2 pods)      | Loggie            | CrashLoopBackOff exit 2; restarted 139  | Helm       |
//! | logging    | DaemonSet loggie, OnDelete (2 pods)        | Loggie            | one CrashLoopBackOff, one healthy       | Argo CD    |
//! | logging    | Deployment fluent-bit                      | Fluent Bit        | running (not Go)                        |            |
//! | team-b     | Deployment loggie                          | Loggie            | restarted after exit 2                  |            |
//! | monitoring | StatefulSet promtail, RollingUpdate (2)    | Promtail          | running                                 | Flux       |
//! | monitoring | Deployment metricbeat                      | Metricbeat        | running                                 |            |
//! | monitoring | DaemonSet filebeat (GODEBUG=netdns=go)     | Filebeat          | protected                               |            |
//! | monitoring | Deployment alloy                           | Grafana Alloy     | running (pure Go)                       |            |
//! | apps       | Pod debug-loggie (bare)                    | Loggie            | running                                 |            |
//! | apps       | Pod loggie-optout (inject: "false")        | Loggie            | running                                 |            |
//! | apps       | Deployment web                             | nginx             | running                                 |            |
//! | batch      | CronJob log-shipper → Job → pod            | Loggie            | running                                 |            |
//! | netdns-guard | the webhook (MutatingWebhookConfiguration, Service, EndpointSlice) |   |                                         | Helm       |

#![allow(dead_code)]

use netdns_guard::engine::model::PodView;
use netdns_guard::inspect::evidence::pinned;
use netdns_guard::manifest::apply;
use netdns_guard::{Engine, Policy};
use serde_json::{Value, json};

use super::fake_apiserver::FakeApiServer;

pub const LOGGIE: &str = "loggieio/loggie:v1.5.0";

/// The log of the Go 1.20 crash (the field report), with a line the agent printed
/// before it.
pub const GO_120_TRACE: &str = include_str!("../data/crash-go1.20.log");

/// The same crash printed by Go 1.21 and newer.
pub const GO_121_TRACE: &str = include_str!("../data/crash-go1.21.log");

/// The engine with the default policy (what the chart's webhook runs).
pub fn engine() -> Engine {
    Engine::new(Policy::default()).unwrap()
}

/// Makes every created pod go through the engine, as the webhook would.
pub fn install_admission(api: &FakeApiServer) {
    let engine = engine();
    api.set_pod_admission(move |pod: &mut Value| {
        let bytes = serde_json::to_vec(pod).unwrap();
        let view = PodView::from_json(&bytes).unwrap();
        let namespace = pod["metadata"]["namespace"].as_str().map(str::to_owned);
        let review = engine.review(&view, namespace.as_deref());
        apply(pod, &review.patch).unwrap();
    });
}

fn uid(name: &str) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for b in name.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        hash >> 32,
        hash & 0xffff_ffff_ffff
    )
}

pub fn pod_path(ns: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{ns}/pods/{name}")
}

pub fn apps_path(ns: &str, resource: &str, name: &str) -> String {
    format!("/apis/apps/v1/namespaces/{ns}/{resource}/{name}")
}

fn owner(api_version: &str, kind: &str, name: &str) -> Value {
    json!({ "apiVersion": api_version, "kind": kind, "name": name, "uid": uid(&format!("{kind}/{name}")),
            "controller": true, "blockOwnerDeletion": true })
}

fn container(name: &str, image: &str) -> Value {
    json!({ "name": name, "image": image })
}

fn protected(name: &str, image: &str) -> Value {
    json!({ "name": name, "image": image, "env": [{ "name": "GODEBUG", "value": "netdns=go" }] })
}

fn template(labels: Value, containers: Vec<Value>) -> Value {
    json!({ "metadata": { "labels": labels }, "spec": { "containers": containers } })
}

/// A container status: running (ready) or waiting in `waiting`, with restarts
/// and how it last ended.
fn status(
    name: &str,
    image: &str,
    restarts: i32,
    waiting: Option<&str>,
    last_exit: Option<i32>,
) -> Value {
    let state = match waiting {
        Some(reason) => {
            json!({ "waiting": { "reason": reason, "message": "back-off 5m0s restarting failed container" } })
        }
        None => json!({ "running": { "startedAt": "2024-05-01T10:00:00Z" } }),
    };
    let mut s = json!({ "name": name, "image": image, "imageID": image_id(image),
                        "ready": waiting.is_none(), "restartCount": restarts, "state": state });
    if let Some(code) = last_exit {
        s["lastState"] = json!({ "terminated": { "exitCode": code, "reason": "Error",
            "startedAt": "2024-05-01T09:59:00Z", "finishedAt": "2024-05-01T10:00:00Z" } });
    }
    s
}

/// The `imageID` a kubelet writes for a running `image`: its repository (no
/// tag) and a repository digest, here a stable one made from the image's name.
fn image_id(image: &str) -> String {
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(image.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "docker.io/{}",
        pinned(image, Some(&format!("sha256:{hex}")))
    )
}

struct PodSpec<'a> {
    ns: &'a str,
    name: &'a str,
    labels: Value,
    annotations: Value,
    owner: Option<Value>,
    containers: Vec<Value>,
    statuses: Vec<Value>,
    node: &'a str,
}

fn insert_pod(api: &FakeApiServer, p: PodSpec<'_>) {
    let ready = p.statuses.iter().all(|s| s["ready"] == true);
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": p.name, "namespace": p.ns, "uid": uid(&format!("Pod/{}/{}", p.ns, p.name)),
                      "labels": p.labels, "annotations": p.annotations },
        "spec": { "nodeName": p.node, "containers": p.containers },
        "status": { "phase": "Running",
                    "conditions": [{ "type": "Ready", "status": if ready { "True" } else { "False" } }],
                    "containerStatuses": p.statuses },
    });
    if let Some(owner) = p.owner {
        pod["metadata"]["ownerReferences"] = json!([owner]);
    }
    api.insert(&pod_path(p.ns, p.name), pod);
}

fn helm(release: &str, ns: &str) -> (Value, Value) {
    (
        json!({ "app.kubernetes.io/managed-by": "Helm" }),
        json!({ "meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": ns }),
    )
}

/// A Deployment with its current ReplicaSet and pods (each pod: name, containers'
/// statuses).
fn deployment(
    api: &FakeApiServer,
    ns: &str,
    name: &str,
    image: &str,
    meta: (Value, Value),
    pods: Vec<(&str, Value)>,
) {
    let hash = "6d5f8c7b9";
    let labels = json!({ "app": name });
    let tpl = template(labels.clone(), vec![container(name, image)]);
    let replicas = pods.len();
    let mut dep_labels = meta.0.clone();
    dep_labels["app"] = json!(name);
    api.insert(
        &apps_path(ns, "deployments", name),
        json!({ "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": { "name": name, "namespace": ns, "uid": uid(&format!("Deployment/{name}")),
                              "labels": dep_labels, "annotations": meta.1, "generation": 1 },
                "spec": { "replicas": replicas, "selector": { "matchLabels": labels }, "template": tpl,
                          "strategy": { "type": "RollingUpdate" } },
                "status": { "observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                            "readyReplicas": replicas, "availableReplicas": replicas } }),
    );
    let rs = format!("{name}-{hash}");
    let mut rs_tpl = tpl.clone();
    rs_tpl["metadata"]["labels"]["pod-template-hash"] = json!(hash);
    api.insert(
        &apps_path(ns, "replicasets", &rs),
        json!({ "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": { "name": rs, "namespace": ns, "uid": uid(&format!("ReplicaSet/{rs}")),
                              "labels": rs_tpl["metadata"]["labels"].clone(),
                              "ownerReferences": [owner("apps/v1", "Deployment", name)] },
                "spec": { "replicas": replicas, "selector": { "matchLabels": labels }, "template": rs_tpl } }),
    );
    for (suffix, status) in pods {
        insert_pod(
            api,
            PodSpec {
                ns,
                name: &format!("{rs}-{suffix}"),
                labels: json!({ "app": name, "pod-template-hash": hash }),
                annotations: json!({}),
                owner: Some(owner("apps/v1", "ReplicaSet", &rs)),
                containers: vec![container(name, image)],
                statuses: vec![status],
                node: "node-a",
            },
        );
    }
}

/// A DaemonSet and its pods (node, status).
fn daemon_set(
    api: &FakeApiServer,
    ns: &str,
    name: &str,
    c: Value,
    on_delete: bool,
    meta: (Value, Value),
    pods: Vec<(&str, &str, Value)>,
) {
    let labels = json!({ "app": name });
    let n = pods.len();
    api.insert(
        &apps_path(ns, "daemonsets", name),
        json!({ "apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": { "name": name, "namespace": ns, "uid": uid(&format!("DaemonSet/{name}")),
                              "labels": meta.0, "annotations": meta.1, "generation": 1 },
                "spec": { "selector": { "matchLabels": labels }, "template": template(labels.clone(), vec![c.clone()]),
                          "updateStrategy": { "type": if on_delete { "OnDelete" } else { "RollingUpdate" } } },
                "status": { "observedGeneration": 1, "desiredNumberScheduled": n, "currentNumberScheduled": n,
                            "updatedNumberScheduled": n, "numberAvailable": n, "numberReady": n,
                            "numberMisscheduled": 0 } }),
    );
    for (pod, node, status) in pods {
        insert_pod(
            api,
            PodSpec {
                ns,
                name: pod,
                labels: labels.clone(),
                annotations: json!({}),
                owner: Some(owner("apps/v1", "DaemonSet", name)),
                containers: vec![c.clone()],
                statuses: vec![status],
                node,
            },
        );
    }
}

/// Loads the cluster described in the module comment.
pub fn load(api: &FakeApiServer) {
    let none = || (json!({}), json!({}));
    // logging: the incident.
    deployment(
        api,
        "logging",
        "loggie-aggregator",
        LOGGIE,
        helm("loggie", "logging"),
        vec![
            (
                "x7k2p",
                status(
                    "loggie-aggregator",
                    LOGGIE,
                    14,
                    Some("CrashLoopBackOff"),
                    Some(2),
                ),
            ),
            (
                "q9w4z",
                status("loggie-aggregator", LOGGIE, 3, None, Some(139)),
            ),
        ],
    );
    api.set_log(
        "logging",
        "loggie-aggregator-6d5f8c7b9-x7k2p",
        "loggie-aggregator",
        true,
        GO_120_TRACE,
    );
    api.set_log(
        "logging",
        "loggie-aggregator-6d5f8c7b9-q9w4z",
        "loggie-aggregator",
        true,
        GO_121_TRACE,
    );
    let argo = (
        json!({ "app.kubernetes.io/managed-by": "Helm" }),
        json!({ "argocd.argoproj.io/tracking-id": "log-agents:apps/DaemonSet:logging/loggie" }),
    );
    daemon_set(
        api,
        "logging",
        "loggie",
        container("loggie", LOGGIE),
        true,
        argo,
        vec![
            (
                "loggie-4hx8d",
                "node-a",
                status("loggie", LOGGIE, 9, Some("CrashLoopBackOff"), Some(2)),
            ),
            (
                "loggie-m2v7c",
                "node-b",
                status("loggie", LOGGIE, 0, None, None),
            ),
        ],
    );
    api.set_log(
        "logging",
        "loggie-4hx8d",
        "loggie",
        true,
        "level=info msg=\"reloading\"\n",
    );
    deployment(
        api,
        "logging",
        "fluent-bit",
        "fluent/fluent-bit:3.0.4",
        none(),
        vec![(
            "f1b2c",
            status("fluent-bit", "fluent/fluent-bit:3.0.4", 0, None, None),
        )],
    );

    // team-b: a second team's agent, crashed twice.
    deployment(
        api,
        "team-b",
        "loggie",
        LOGGIE,
        none(),
        vec![("t8r5n", status("loggie", LOGGIE, 2, None, Some(2)))],
    );

    // monitoring: not crashing yet.
    let flux = (
        json!({ "kustomize.toolkit.fluxcd.io/name": "monitoring", "kustomize.toolkit.fluxcd.io/namespace": "flux-system" }),
        json!({}),
    );
    let promtail = "grafana/promtail:2.9.3";
    let labels = json!({ "app": "promtail" });
    api.insert(
        &apps_path("monitoring", "statefulsets", "promtail"),
        json!({ "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": { "name": "promtail", "namespace": "monitoring", "uid": uid("StatefulSet/promtail"),
                              "labels": flux.0, "generation": 1 },
                "spec": { "replicas": 2, "serviceName": "promtail", "selector": { "matchLabels": labels },
                          "template": template(labels.clone(), vec![container("promtail", promtail)]),
                          "updateStrategy": { "type": "RollingUpdate" } },
                "status": { "observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2,
                            "currentReplicas": 2, "currentRevision": "promtail-7f9", "updateRevision": "promtail-7f9" } }),
    );
    for i in 0..2 {
        insert_pod(
            api,
            PodSpec {
                ns: "monitoring",
                name: &format!("promtail-{i}"),
                labels: labels.clone(),
                annotations: json!({}),
                owner: Some(owner("apps/v1", "StatefulSet", "promtail")),
                containers: vec![container("promtail", promtail)],
                statuses: vec![status("promtail", promtail, 0, None, None)],
                node: "node-b",
            },
        );
    }
    let metricbeat = "docker.elastic.co/beats/metricbeat:8.12.0";
    deployment(
        api,
        "monitoring",
        "metricbeat",
        metricbeat,
        none(),
        vec![("m3t7b", status("metricbeat", metricbeat, 0, None, None))],
    );
    let filebeat = "docker.elastic.co/beats/filebeat:8.12.0";
    daemon_set(
        api,
        "monitoring",
        "filebeat",
        protected("filebeat", filebeat),
        false,
        none(),
        vec![(
            "filebeat-9zq2w",
            "node-a",
            status("filebeat", filebeat, 0, None, None),
        )],
    );
    deployment(
        api,
        "monitoring",
        "alloy",
        "grafana/alloy:v1.1.0",
        none(),
        vec![(
            "a11oy",
            status("alloy", "grafana/alloy:v1.1.0", 0, None, None),
        )],
    );

    // apps: a bare pod someone started by hand, an opted-out one, an unrelated app.
    for (name, annotations) in [
        ("debug-loggie", json!({})),
        (
            "loggie-optout",
            json!({ "netdns-guard.io/inject": "false" }),
        ),
    ] {
        insert_pod(
            api,
            PodSpec {
                ns: "apps",
                name,
                labels: json!({ "run": name }),
                annotations,
                owner: None,
                containers: vec![container("loggie", LOGGIE)],
                statuses: vec![status("loggie", LOGGIE, 0, None, None)],
                node: "node-b",
            },
        );
    }
    deployment(
        api,
        "apps",
        "web",
        "nginx:1.27",
        none(),
        vec![("w3b00", status("web", "nginx:1.27", 0, None, None))],
    );

    // batch: a CronJob's Job, still running.
    let job = "log-shipper-28765000";
    api.insert(
        "/apis/batch/v1/namespaces/batch/cronjobs/log-shipper",
        json!({ "apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": { "name": "log-shipper", "namespace": "batch", "uid": uid("CronJob/log-shipper") },
                "spec": { "schedule": "0 * * * *", "jobTemplate": { "spec": { "template":
                          template(json!({ "job": "log-shipper" }), vec![container("shipper", LOGGIE)]) } } } }),
    );
    api.insert(
        &format!("/apis/batch/v1/namespaces/batch/jobs/{job}"),
        json!({ "apiVersion": "batch/v1", "kind": "Job",
                "metadata": { "name": job, "namespace": "batch", "uid": uid(&format!("Job/{job}")),
                              "ownerReferences": [owner("batch/v1", "CronJob", "log-shipper")] },
                "spec": { "template": template(json!({ "job": "log-shipper" }), vec![container("shipper", LOGGIE)]) } }),
    );
    insert_pod(
        api,
        PodSpec {
            ns: "batch",
            name: &format!("{job}-kq8xt"),
            labels: json!({ "job": "log-shipper" }),
            annotations: json!({}),
            owner: Some(owner("batch/v1", "Job", job)),
            containers: vec![container("shipper", LOGGIE)],
            statuses: vec![status("shipper", LOGGIE, 0, None, None)],
            node: "node-a",
        },
    );

    // netdns-guard: the webhook's own pod (not an agent).
    insert_pod(
        api,
        PodSpec {
            ns: "netdns-guard",
            name: "netdns-guard-5c9d7-abcde",
            labels: json!({ "app.kubernetes.io/name": "netdns-guard" }),
            annotations: json!({}),
            owner: None,
            containers: vec![container(
                "webhook",
                "ghcr.io/netdns-guard/netdns-guard:0.1.0",
            )],
            statuses: vec![status(
                "webhook",
                "ghcr.io/netdns-guard/netdns-guard:0.1.0",
                0,
                None,
                None,
            )],
            node: "node-a",
        },
    );
}

pub const MWC: &str =
    "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/netdns-guard";
pub const ENDPOINTS: &str =
    "/apis/discovery.k8s.io/v1/namespaces/netdns-guard/endpointslices/netdns-guard-x2k9p";

/// The webhook as the chart installs it; `ready`: its one endpoint's condition.
pub fn install_webhook(api: &FakeApiServer, ready: bool) {
    api.insert(
        MWC,
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": { "name": "netdns-guard" },
            "webhooks": [{
                "name": "pods.netdns-guard.io", "admissionReviewVersions": ["v1", "v1beta1"],
                "sideEffects": "None", "failurePolicy": "Ignore", "reinvocationPolicy": "IfNeeded",
                "clientConfig": { "service": { "name": "netdns-guard", "namespace": "netdns-guard", "path": "/mutate" } },
                "rules": [{ "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"] }],
            }],
        }),
    );
    api.insert(
        ENDPOINTS,
        json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": { "name": "netdns-guard-x2k9p", "namespace": "netdns-guard",
                          "labels": { "kubernetes.io/service-name": "netdns-guard" } },
            "endpoints": [{ "addresses": ["10.0.1.7"], "conditions": { "ready": ready } }],
            "ports": [{ "name": "https", "port": 8443, "protocol": "TCP" }],
        }),
    );
}

/// Pods (namespace/name) lacking the fix at the start, per the engine.
pub const TARGETED: &[&str] = &[
    "logging/loggie-aggregator-6d5f8c7b9-x7k2p",
    "logging/loggie-aggregator-6d5f8c7b9-q9w4z",
    "logging/loggie-4hx8d",
    "logging/loggie-m2v7c",
    "team-b/loggie-6d5f8c7b9-t8r5n",
    "monitoring/promtail-0",
    "monitoring/promtail-1",
    "monitoring/metricbeat-6d5f8c7b9-m3t7b",
    "monitoring/filebeat-9zq2w",
    "apps/debug-loggie",
    "batch/log-shipper-28765000-kq8xt",
];

/// Every pod the cluster holds.
pub const ALL_PODS: usize = 16;
