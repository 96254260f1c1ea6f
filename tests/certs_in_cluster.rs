//! `netdns-guard certs --in-cluster` against a fake API server speaking the real
//! REST paths and JSON: the first run creates, a second changes nothing, a run
//! near CA expiry trusts both CAs, and a later run drops the old one.

mod support {
    pub mod fake_apiserver;
    pub mod scratch;
}

use base64::Engine as _;
use netdns_guard::certs::ServiceName;
use netdns_guard::certs::in_cluster::{self, Settings, split_pem};
use serde_json::{Value, json};
use support::fake_apiserver::FakeApiServer;
use time::{Duration, OffsetDateTime};

const NS: &str = "netdns-guard";
const CA: &str = "/api/v1/namespaces/netdns-guard/secrets/netdns-guard-ca";
const TLS: &str = "/api/v1/namespaces/netdns-guard/secrets/netdns-guard-tls";
const MWC: &str =
    "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/netdns-guard";

fn settings() -> Settings {
    let mut s = Settings::new(
        ServiceName {
            service: "netdns-guard".into(),
            namespace: NS.into(),
        },
        "netdns-guard-ca".into(),
        "netdns-guard-tls".into(),
    );
    s.webhook_configuration = Some("netdns-guard".into());
    s
}

fn webhook_configuration() -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": { "name": "netdns-guard" },
        "webhooks": [{
            "name": "pods.netdns-guard.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "clientConfig": { "service": { "name": "netdns-guard", "namespace": NS, "path": "/mutate" } },
        }],
    })
}

fn secret_text(api: &FakeApiServer, path: &str, key: &str) -> String {
    let secret = api.get(path).unwrap_or_else(|| panic!("{path} missing"));
    let data = secret["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("{path} has no {key}"));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
    )
    .unwrap()
}

fn ca_bundle(api: &FakeApiServer) -> Vec<String> {
    let config = api.get(MWC).unwrap();
    let bundle = config["webhooks"][0]["clientConfig"]["caBundle"]
        .as_str()
        .expect("caBundle set");
    split_pem(
        &String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(bundle)
                .unwrap(),
        )
        .unwrap(),
    )
}

#[tokio::test]
async fn first_run_creates_second_changes_nothing_rotation_overlaps_then_settles() {
    let api = FakeApiServer::start().await;
    api.insert(MWC, webhook_configuration());
    let client = api.client(NS);
    let t0 = OffsetDateTime::now_utc();

    let report = in_cluster::run(client.clone(), &settings(), t0)
        .await
        .unwrap();
    assert!(report.ca_secret_written && report.tls_secret_written);
    assert_eq!(report.ca_bundle_patched, 1);
    let first_ca = secret_text(&api, CA, "ca.crt");
    assert_eq!(ca_bundle(&api), vec![first_ca.clone()]);
    assert_eq!(api.get(TLS).unwrap()["type"], "kubernetes.io/tls");
    assert_eq!(secret_text(&api, TLS, "ca.crt"), first_ca);
    let writes = api.writes();
    assert_eq!(
        writes.iter().filter(|(m, _)| m == "POST").count(),
        2,
        "{writes:?}"
    );
    // The caBundle is patched before the serving Secret is written.
    // CA Secret, then the caBundle, then the serving Secret.
    let order: Vec<&str> = writes.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(order, ["POST", "PATCH", "POST"], "{writes:?}");

    api.clear_log();
    let report = in_cluster::run(client.clone(), &settings(), t0 + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(
        report,
        in_cluster::RunReport {
            trusted_cas: 1,
            ..Default::default()
        }
    );
    assert!(
        api.writes().is_empty(),
        "a settled run wrote: {:?}",
        api.writes()
    );

    // Close to the CA's expiry: a new CA, both trusted, serving cert from the new one.
    let near_expiry = t0 + Duration::days(3650 - 30);
    api.clear_log();
    let report = in_cluster::run(client.clone(), &settings(), near_expiry)
        .await
        .unwrap();
    assert_eq!(report.trusted_cas, 2);
    let new_ca = secret_text(&api, CA, "ca.crt");
    assert_ne!(new_ca, first_ca);
    assert_eq!(ca_bundle(&api), vec![new_ca.clone(), first_ca.clone()]);
    assert_eq!(
        split_pem(&secret_text(&api, TLS, "ca.crt")),
        vec![new_ca.clone(), first_ca]
    );
    let writes = api.writes();
    let patch_at = writes
        .iter()
        .position(|(m, _)| m == "PATCH")
        .expect("caBundle patched");
    let tls_at = writes
        .iter()
        .position(|(m, p)| m == "PUT" && p == TLS)
        .expect("serving Secret replaced");
    assert!(
        patch_at < tls_at,
        "caBundle must be trusted before the new certificate is served: {writes:?}"
    );

    // After the overlap the old CA is dropped everywhere.
    let report = in_cluster::run(
        client.clone(),
        &settings(),
        near_expiry + Duration::hours(2),
    )
    .await
    .unwrap();
    assert_eq!(report.trusted_cas, 1);
    assert_eq!(ca_bundle(&api), vec![new_ca.clone()]);
    assert_eq!(split_pem(&secret_text(&api, TLS, "ca.crt")), vec![new_ca]);
}

#[tokio::test]
async fn a_missing_webhook_configuration_is_left_for_a_later_run() {
    let api = FakeApiServer::start().await;
    let report = in_cluster::run(api.client(NS), &settings(), OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(report.ca_bundle_patched, 0);
    assert!(api.get(TLS).is_some());
    // The post-install run, once the configuration exists, patches it.
    api.insert(MWC, webhook_configuration());
    let report = in_cluster::run(api.client(NS), &settings(), OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(report.ca_bundle_patched, 1);
    assert!(!report.ca_secret_written && !report.tls_secret_written);
}

#[tokio::test]
async fn a_broken_ca_secret_is_reported_not_overwritten() {
    let api = FakeApiServer::start().await;
    api.insert(CA, json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "netdns-guard-ca" }, "data": {} }));
    let err = in_cluster::run(api.client(NS), &settings(), OffsetDateTime::now_utc())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("netdns-guard-ca") && err.to_string().contains("ca.crt"),
        "{err}"
    );
    assert!(api.writes().is_empty());
}
