//! Engine benchmarks on one typical pod: a Datadog-like agent DaemonSet's pod
//! template (three containers, ~25 env vars, 9 volumes, no managedFields).
//!
//! ```text
//! cargo bench --bench engine                 # all, about 40 s
//! cargo bench --bench engine -- review       # a subset, by name
//! ```
//!
//! - `review/needs_patch`: the engine on an unprotected agent pod (GODEBUG merged
//!   into one container, added to two, status annotation added);
//! - `review/protected`: the same pod after the patch, as the webhook sees it on
//!   reinvocation (must produce an empty patch);
//! - `review/not_a_target`: an ordinary application pod (most admissions);
//! - `pod_view_from_json` (`PodView::from_json`): decoding the borrowed pod view from raw JSON bytes (the
//!   webhook's decode step, without the AdmissionReview envelope);
//! - `webhook_path`: decode plus review, bytes to patch;
//! - `admission/agent_pod` (`admission::review`): the whole AdmissionReview body
//!   holding the agent pod, decoded in one pass, reviewed and answered as JSON
//!   bytes (the webhook's work per request, without HTTP and TLS);
//! - `admission/app_pod`: the same for the ordinary application pod;
//! - `dry_run/one_document`: `dryrun::run` over a one-document YAML stream holding
//!   the DaemonSet (parse, review, apply the patch, render YAML).
//!
//! The stream-sized comparison against a bare YAML round trip is
//! `scripts/bench-dry-run.sh`.

mod support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

use netdns_guard::admission;
use netdns_guard::dryrun::{self, OutputFormat, Source};
use netdns_guard::engine::model::PodView;
use netdns_guard::manifest::apply;
use netdns_guard::{Engine, Policy};

/// `count` env entries shaped like the Datadog chart's (values, quoted numbers,
/// booleans, `valueFrom` secrets and fields).
fn env(prefix: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            let name = format!("DD_{prefix}_{i}");
            match i % 5 {
                0 => json!({ "name": name, "valueFrom": { "secretKeyRef": { "name": "datadog-secret", "key": "api-key" } } }),
                1 => json!({ "name": name, "valueFrom": { "fieldRef": { "fieldPath": "status.hostIP" } } }),
                2 => json!({ "name": name, "value": "true" }),
                3 => json!({ "name": name, "value": format!("{}", 8000 + i) }),
                _ => json!({ "name": name, "value": "/var/run/datadog/dsd.socket" }),
            }
        })
        .collect()
}

fn mounts(names: &[&str]) -> Value {
    names
        .iter()
        .map(|n| json!({ "name": n, "mountPath": format!("/host/{n}"), "readOnly": true }))
        .collect()
}

fn probe(path: &str) -> Value {
    json!({ "httpGet": { "path": path, "port": 5555, "scheme": "HTTP" },
            "initialDelaySeconds": 15, "periodSeconds": 15, "timeoutSeconds": 5,
            "successThreshold": 1, "failureThreshold": 6 })
}

/// The pod template of a Datadog-like agent DaemonSet (what `/spec/template` holds).
fn agent_pod_template() -> Value {
    let image = "gcr.io/datadoghq/agent:7.58.2";
    let mut agent_env = vec![json!({ "name": "GODEBUG", "value": "x509ignoreCN=0" })];
    agent_env.extend(env("AGENT", 15));
    json!({
        "metadata": {
            "labels": {
                "app.kubernetes.io/name": "datadog", "app.kubernetes.io/instance": "datadog",
                "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/component": "agent",
                "app": "datadog"
            },
            "name": "datadog",
            "annotations": {
                "checksum/clusteragent_token": "dab8ed645b8bb512b64b1bd0e47456160010c2a22d4fa67775fe205c17467a41",
                "checksum/install_info": "039fa60ba14b66b8e7559ef11017dd3cf627af2caf35e083637432324cc2bda1",
                "checksum/confd-config": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
            }
        },
        "spec": {
            "securityContext": { "runAsUser": 0 },
            "hostPID": true,
            "serviceAccountName": "datadog",
            "automountServiceAccountToken": true,
            "containers": [
                {
                    "name": "agent", "image": image, "imagePullPolicy": "IfNotPresent",
                    "command": ["agent", "run"],
                    "resources": { "requests": { "cpu": "200m", "memory": "256Mi" }, "limits": { "memory": "512Mi" } },
                    "ports": [{ "containerPort": 8125, "name": "dogstatsdport", "protocol": "UDP" }],
                    "env": agent_env,
                    "volumeMounts": mounts(&["logdatadog", "installinfo", "tmpdir", "config", "auth-token", "dsdsocket", "procdir", "cgroups", "pointerdir"]),
                    "livenessProbe": probe("/live"),
                    "readinessProbe": probe("/ready")
                },
                {
                    "name": "trace-agent", "image": image, "imagePullPolicy": "IfNotPresent",
                    "command": ["trace-agent", "-config=/etc/datadog-agent/datadog.yaml"],
                    "ports": [{ "containerPort": 8126, "name": "traceport", "protocol": "TCP" }],
                    "env": env("TRACE", 6),
                    "volumeMounts": mounts(&["config", "auth-token", "procdir", "cgroups"]),
                    "livenessProbe": { "initialDelaySeconds": 15, "periodSeconds": 15, "tcpSocket": { "port": 8126 }, "timeoutSeconds": 5 }
                },
                {
                    "name": "process-agent", "image": image, "imagePullPolicy": "IfNotPresent",
                    "command": ["process-agent", "--cfgpath=/etc/datadog-agent/datadog.yaml"],
                    "env": env("PROCESS", 5),
                    "volumeMounts": mounts(&["config", "runtimesocketdir", "cgroups", "passwd", "procdir"])
                }
            ],
            "initContainers": [
                { "name": "init-volume", "image": image, "imagePullPolicy": "IfNotPresent",
                  "command": ["bash", "-c"], "args": ["cp -r /etc/datadog-agent /opt"],
                  "volumeMounts": mounts(&["config"]) }
            ],
            "volumes": [
                { "name": "auth-token", "emptyDir": {} },
                { "name": "installinfo", "configMap": { "name": "datadog-installinfo" } },
                { "name": "config", "emptyDir": {} },
                { "name": "logdatadog", "emptyDir": {} },
                { "name": "tmpdir", "emptyDir": {} },
                { "name": "procdir", "hostPath": { "path": "/proc" } },
                { "name": "cgroups", "hostPath": { "path": "/sys/fs/cgroup" } },
                { "name": "dsdsocket", "hostPath": { "path": "/var/run/datadog/", "type": "DirectoryOrCreate" } },
                { "name": "pointerdir", "hostPath": { "path": "/var/lib/datadog-agent/logs" } }
            ],
            "tolerations": [{ "effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane", "operator": "Exists" }],
            "affinity": {},
            "nodeSelector": { "kubernetes.io/os": "linux" }
        }
    })
}

/// An ordinary web application's pod: not in the catalog, so not a target.
fn app_pod() -> Value {
    json!({
        "metadata": { "labels": { "app.kubernetes.io/name": "checkout", "app.kubernetes.io/instance": "checkout" } },
        "spec": {
            "serviceAccountName": "checkout",
            "containers": [
                { "name": "checkout", "image": "ghcr.io/acme/checkout:2.14.1",
                  "ports": [{ "name": "http", "containerPort": 8080 }],
                  "env": env("APP", 10),
                  "volumeMounts": mounts(&["config", "tmp"]),
                  "readinessProbe": probe("/ready") },
                { "name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.23.2", "args": ["proxy", "sidecar"] }
            ],
            "volumes": [{ "name": "config", "configMap": { "name": "checkout" } }, { "name": "tmp", "emptyDir": {} }]
        }
    })
}

/// A Pod CREATE review as the apiserver sends it, with the DaemonSet
/// controller's `userInfo` and a `managedFields` entry the decode must skip.
fn admission_review(pod: &Value) -> Vec<u8> {
    let mut object = pod.clone();
    object["apiVersion"] = json!("v1");
    object["kind"] = json!("Pod");
    object["metadata"]["generateName"] = json!("datadog-");
    object["metadata"]["managedFields"] = json!([{ "manager": "kube-controller-manager",
        "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
        "fieldsV1": { "f:metadata": { "f:labels": {} }, "f:spec": { "f:containers": {} } } }]);
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
            "kind": { "group": "", "version": "v1", "kind": "Pod" },
            "resource": { "group": "", "version": "v1", "resource": "pods" },
            "namespace": "datadog",
            "operation": "CREATE",
            "userInfo": { "username": "system:serviceaccount:kube-system:daemon-set-controller",
                          "groups": ["system:serviceaccounts", "system:authenticated"] },
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": { "apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions" }
        }
    }))
    .expect("the review serializes")
}

fn daemonset_yaml(template: &Value) -> String {
    let daemonset = json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": "datadog", "namespace": "datadog",
            "labels": { "helm.sh/chart": "datadog-3.49.5", "app.kubernetes.io/name": "datadog",
                        "app.kubernetes.io/instance": "datadog", "app.kubernetes.io/managed-by": "Helm" }
        },
        "spec": {
            "revisionHistoryLimit": 10,
            "selector": { "matchLabels": { "app": "datadog" } },
            "template": template,
            "updateStrategy": { "type": "RollingUpdate", "rollingUpdate": { "maxUnavailable": "10%" } }
        }
    });
    format!(
        "---\n# Source: datadog/templates/daemonset.yaml\n{}",
        serde_saphyr::to_string(&daemonset).expect("DaemonSet serializes")
    )
}

fn benches(c: &mut Criterion) {
    let engine = Engine::new(Policy::default()).expect("default policy compiles");

    let pod = agent_pod_template();
    let pod_bytes = serde_json::to_vec(&pod).unwrap();
    let view = PodView::from_json(&pod_bytes).unwrap();
    let first = engine.review(&view, Some("datadog"));
    assert!(
        first.patch.len() >= 3,
        "the agent pod needs a patch: {:?}",
        first.patch
    );

    let mut protected = pod.clone();
    apply(&mut protected, &first.patch).expect("the engine's patch applies");
    let protected_bytes = serde_json::to_vec(&protected).unwrap();
    let protected_view = PodView::from_json(&protected_bytes).unwrap();
    assert!(
        engine
            .review(&protected_view, Some("datadog"))
            .patch
            .is_empty(),
        "reinvocation yields an empty patch"
    );

    let app_bytes = serde_json::to_vec(&app_pod()).unwrap();
    let app_view = PodView::from_json(&app_bytes).unwrap();
    assert!(engine.review(&app_view, Some("shop")).patch.is_empty());

    let sources = vec![Source {
        name: "datadog.yaml".into(),
        text: daemonset_yaml(&pod),
    }];
    let outcome = dryrun::run(&engine, &sources, OutputFormat::Yaml).unwrap();
    assert!(outcome.changed && outcome.stdout.contains("netdns=go"));
    eprintln!(
        "pod JSON: {} bytes (protected {}); DaemonSet YAML: {} bytes",
        pod_bytes.len(),
        protected_bytes.len(),
        sources[0].text.len()
    );

    let mut group = c.benchmark_group("review");
    group.bench_function("needs_patch", |b| {
        b.iter(|| engine.review(black_box(&view), black_box(Some("datadog"))))
    });
    group.bench_function("protected", |b| {
        b.iter(|| engine.review(black_box(&protected_view), black_box(Some("datadog"))))
    });
    group.bench_function("not_a_target", |b| {
        b.iter(|| engine.review(black_box(&app_view), black_box(Some("shop"))))
    });
    group.finish();

    c.bench_function("pod_view_from_json", |b| {
        b.iter(|| PodView::from_json(black_box(&pod_bytes)).unwrap())
    });
    c.bench_function("webhook_path", |b| {
        b.iter(|| {
            let view = PodView::from_json(black_box(&pod_bytes)).unwrap();
            engine.review(&view, Some("datadog")).patch.len()
        })
    });

    let agent_review = admission_review(&pod);
    let app_review = admission_review(&app_pod());
    let answer = admission::review(&engine, &agent_review).expect("the agent review is a review");
    assert_eq!(answer.decision.label(), "patched");
    let answer = admission::review(&engine, &app_review).expect("the app review is a review");
    assert_eq!(answer.decision.label(), "unchanged");
    let mut group = c.benchmark_group("admission");
    group.bench_function("agent_pod", |b| {
        b.iter(|| admission::review(&engine, black_box(&agent_review)).map(|a| a.body.len()))
    });
    group.bench_function("app_pod", |b| {
        b.iter(|| admission::review(&engine, black_box(&app_review)).map(|a| a.body.len()))
    });
    group.finish();

    c.bench_function("dry_run/one_document", |b| {
        b.iter(|| dryrun::run(&engine, black_box(&sources), OutputFormat::Yaml).unwrap())
    });
}

criterion_group! {
    name = engine;
    config = support::config();
    targets = benches
}
criterion_main!(engine);
