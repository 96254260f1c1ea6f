//! `netdns-guard serve` against real TLS on loopback and real HTTP clients: the
//! kube-apiserver contract (ARCHITECTURE.md, "The kube-apiserver contract"), the webhook server ("The webhook server"), and bad input.

// tests/support, shared by the test crates: each names the files it uses.
#[path = "../support"]
mod support {
    pub mod missing_tool;
    pub mod scratch;
}

mod harness;
mod memory;
mod process;
mod resilience;
mod rotation;

use std::path::Path;

use harness::*;
use netdns_guard::Engine;
use netdns_guard::engine::model::PodView;
use serde::Deserialize;
use serde_json::{Value, json};

const V1: &str = "admission.k8s.io/v1";
const V1BETA1: &str = "admission.k8s.io/v1beta1";

#[tokio::test]
async fn a_pod_create_is_patched_in_the_requests_own_version() {
    let running = start("versions").await;
    let mut conn = ApiserverConn::open(running.addr(), &running.bundle.ca_cert_pem)
        .await
        .unwrap();
    for version in [V1, V1BETA1] {
        let (status, body) = conn
            .post(pod_review(version, "uid-1", "grafana/promtail:3.5.1"))
            .await
            .unwrap();
        assert_eq!(status, 200);
        let (review, patch) = decode(&body);
        assert_eq!(review["apiVersion"], version);
        assert_eq!(review["kind"], "AdmissionReview");
        assert_eq!(review["response"]["uid"], "uid-1");
        assert_eq!(review["response"]["allowed"], true);
        let patch = patch.expect("a patch");
        let mut pod = object_of(&pod_review(version, "uid-1", "grafana/promtail:3.5.1"));
        json_patch::patch(&mut pod, &patch).unwrap();
        assert_eq!(
            pod["spec"]["containers"][0]["env"][1],
            json!({ "name": "GODEBUG", "value": "netdns=go" })
        );
    }
}

#[tokio::test]
async fn http2_clients_are_served_too() {
    let running = start("h2").await;
    let (status, body) = post_h2(
        running.addr(),
        &running.bundle.ca_cert_pem,
        pod_review(V1, "u", "loggieio/loggie"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(decode(&body).1.is_some());
}

#[tokio::test]
async fn dry_run_update_generate_name_and_other_kinds() {
    let running = start("kinds").await;
    let mut conn = ApiserverConn::open(running.addr(), &running.bundle.ca_cert_pem)
        .await
        .unwrap();

    // dryRun: true gets exactly the same answer (the webhook has no side effects).
    let mut dry: Value = serde_json::from_slice(&pod_review(V1, "u", "loggieio/loggie")).unwrap();
    dry["request"]["dryRun"] = json!(true);
    let (_, wet) = conn
        .post(pod_review(V1, "u", "loggieio/loggie"))
        .await
        .unwrap();
    let (_, dry) = conn.post(serde_json::to_vec(&dry).unwrap()).await.unwrap();
    assert_eq!(wet, dry);

    let mut update: Value =
        serde_json::from_slice(&pod_review(V1, "u", "loggieio/loggie")).unwrap();
    update["request"]["operation"] = json!("UPDATE");
    let (status, body) = conn
        .post(serde_json::to_vec(&update).unwrap())
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        decode(&body).0["response"],
        json!({ "uid": "u", "allowed": true })
    );

    let mut binding: Value =
        serde_json::from_slice(&pod_review(V1, "u", "loggieio/loggie")).unwrap();
    binding["request"]["subResource"] = json!("binding");
    let (_, body) = conn
        .post(serde_json::to_vec(&binding).unwrap())
        .await
        .unwrap();
    assert!(decode(&body).1.is_none());
}

/// The engine's own answer for the pod in `review`, applied.
fn engine_result(engine: &Engine, review: &[u8]) -> Value {
    let mut object = object_of(review);
    let view = PodView::deserialize(&object).unwrap();
    let namespace: Value =
        serde_json::from_slice::<Value>(review).unwrap()["request"]["namespace"].clone();
    let result = engine.review(&view, namespace.as_str());
    netdns_guard::manifest::apply(&mut object, &result.patch).unwrap();
    object
}

fn object_of(review: &[u8]) -> Value {
    serde_json::from_slice::<Value>(review).unwrap()["request"]["object"].clone()
}

/// Reviews written by other projects (ARCHITECTURE.md, "Shared fixtures"), sent as the apiserver would:
/// the patch, applied, gives the engine's result, and the patched pod sent again
/// (reinvocation) gets no patch.
#[tokio::test]
async fn shared_fixture_reviews_get_the_engines_answer_and_reinvocation_is_empty() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/admissionreviews");
    if !dir.is_dir() {
        eprintln!(
            "skipping: {} not present (a user's clone has no shared/)",
            dir.display()
        );
        return;
    }
    // A policy that targets every pod, so that these (nginx) pods are changed too.
    let policy = "selectors: [{matchExpressions: [{key: netdns-guard-test-absent, operator: DoesNotExist}]}]\n";
    let running = start_with("fixtures", Some(policy)).await;
    let engine = Engine::new(netdns_guard::Policy::from_yaml(policy).unwrap()).unwrap();
    let mut conn = ApiserverConn::open(running.addr(), &running.bundle.ca_cert_pem)
        .await
        .unwrap();
    let mut patched_pods = 0;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let raw: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        // Some fixtures are bare AdmissionRequests (kwctl's form): wrap them.
        let body = if raw["kind"] == "AdmissionReview" {
            serde_json::to_vec(&raw).unwrap()
        } else {
            envelope(V1, raw)
        };
        let (status, answer) = conn.post(body.clone()).await.unwrap();
        assert_eq!(status, 200, "{}", file.display());
        let (review, patch) = decode(&answer);
        let request: Value = serde_json::from_slice::<Value>(&body).unwrap()["request"].clone();
        assert_eq!(
            review["response"]["uid"],
            request["uid"],
            "{}",
            file.display()
        );
        assert_eq!(review["response"]["allowed"], true);
        let is_pod_create = request["kind"]["kind"] == "Pod" && request["operation"] == "CREATE";
        assert_eq!(patch.is_some(), is_pod_create, "{}", file.display());
        let Some(patch) = patch else { continue };
        patched_pods += 1;
        let mut pod = request["object"].clone();
        json_patch::patch(&mut pod, &patch).unwrap();
        assert_eq!(pod, engine_result(&engine, &body), "{}", file.display());

        let mut again: Value = serde_json::from_slice(&body).unwrap();
        again["request"]["object"] = pod;
        let (_, answer) = conn
            .post(serde_json::to_vec(&again).unwrap())
            .await
            .unwrap();
        assert!(
            decode(&answer).1.is_none(),
            "reinvocation patched {}",
            file.display()
        );
    }
    assert!(
        patched_pods >= 3,
        "only {patched_pods} pod reviews were patched"
    );
}

#[tokio::test]
async fn probes_and_metrics_are_on_the_plain_listener() {
    let running = start("metrics").await;
    let metrics = running.server.metrics_addr.unwrap();
    let mut conn = ApiserverConn::open(running.addr(), &running.bundle.ca_cert_pem)
        .await
        .unwrap();
    conn.post(pod_review(V1, "u", "grafana/promtail"))
        .await
        .unwrap();
    conn.post(pod_review(V1, "u", "nginx")).await.unwrap();
    assert_eq!(get_plain(metrics, "/healthz").await.0, 200);
    assert_eq!(get_plain(metrics, "/readyz").await.0, 200);
    let (status, text) = get_plain(metrics, "/metrics").await;
    assert_eq!(status, 200);
    for expected in [
        "netdns_guard_admission_requests_total{operation=\"CREATE\",result=\"patched\"} 1",
        "netdns_guard_admission_requests_total{operation=\"CREATE\",result=\"unchanged\"} 1",
        "netdns_guard_containers_patched_total 1",
        "netdns_guard_admission_duration_seconds_count 2",
        "netdns_guard_certificate_not_after_timestamp_seconds ",
        "netdns_guard_build_info{version=",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[tokio::test]
async fn policy_changes_are_picked_up_and_a_bad_policy_keeps_the_old_one() {
    let running = start_with("policy", Some("strategy: env\n")).await;
    let policy = running.dir.path().join("policy.yaml");
    let mut conn = ApiserverConn::open(running.addr(), &running.bundle.ca_cert_pem)
        .await
        .unwrap();
    assert!(conn.patches(pod_review(V1, "u", "grafana/promtail")).await);

    std::fs::write(&policy, "catalog: {remove: [promtail]}\n").unwrap();
    wait_for_metric(
        &running,
        "netdns_guard_policy_reloads_total{result=\"success\"} 1",
    )
    .await;
    assert!(!conn.patches(pod_review(V1, "u", "grafana/promtail")).await);

    std::fs::write(&policy, "strategee: env\n").unwrap();
    wait_for_metric(
        &running,
        "netdns_guard_policy_reloads_total{result=\"failure\"} 1",
    )
    .await;
    // Still the last good policy: promtail removed from the catalog.
    assert!(!conn.patches(pod_review(V1, "u", "grafana/promtail")).await);
}

pub async fn wait_for_metric(running: &Running, line: &str) {
    for _ in 0..100 {
        if running.server.metrics().contains(line) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "metric {line:?} never appeared:\n{}",
        running.server.metrics()
    );
}
