//! The chart's `mode: admission-policy` under Helm 3 and Helm 4: it renders only the
//! MutatingAdmissionPolicy and its binding, exactly the objects `netdns-guard export
//! --format admission-policy --namespace <release namespace>` writes for the same
//! policy values (so tests/admission_policy.rs's proof covers them), and refuses to
//! render, naming the API version, where the cluster does not serve it.

use std::process::Output;

use netdns_guard::admission_policy::{self, ApiVersion, ExportOptions};
use netdns_guard::{Engine, Policy};
use serde_json::Value;

use crate::NAMESPACE;
use crate::helm::{Helm, helms};

/// `helm template` with `values` as a values file and `args`, whatever its outcome.
fn template(helm: &Helm, values: &str, args: &[&str]) -> Output {
    helm.template_raw(&values_and(helm, values, args))
}

/// `helm template` that must succeed: its documents.
fn documents(helm: &Helm, values: &str, args: &[&str]) -> Vec<Value> {
    helm.template(&values_and(helm, values, args)).docs
}

fn values_and(helm: &Helm, values: &str, args: &[&str]) -> Vec<String> {
    let file = helm.values_file(values);
    let mut all = vec!["-f".to_owned(), file.display().to_string()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    all
}

/// Policy values the chart and the binary both get (containers, overrideCgo,
/// selectors of every operator, skipped namespaces, catalog changes of both risks).
const POLICIES: &[&str] = &[
    "{}",
    "{containers: all, overrideCgo: true}",
    "{selectors: [{matchLabels: {app: agent, tier: logs}}, {matchExpressions: [{key: app, operator: In, values: [a, \"it's\"]}, {key: x, operator: NotIn, values: [zed]}, {key: e, operator: Exists}, {key: d, operator: DoesNotExist}]}], skipNamespaces: [kube-system, ops]}",
    "{catalog: {remove: [loggie, datadog-agent], add: [{id: quiet, name: Quiet, risk: pure-go, reason: test, images: [grafana/promtail]}, {id: mine, name: Mine, risk: at-risk, reason: test, images: [\"registry.example.com:5000/team/*\", docker.io/corp/agent]}, {id: c, name: C, risk: not-go, reason: test, images: [corp/*]}]}}",
    // Patterns pinned to a digest (what inspect -o policy writes for a pure-Go build).
    "{catalog: {add: [{id: read, name: Read, risk: pure-go, reason: test, images: [\"grafana/promtail@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\", \"registry.example.com:5000/team/*@sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\"]}, {id: mine, name: Mine, risk: at-risk, reason: test, images: [\"corp/agent@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"]}]}}",
];

#[test]
fn admission_policy_mode_renders_exactly_what_export_writes() {
    for helm in helms() {
        let major = helm.major;
        for policy in POLICIES {
            for version in [ApiVersion::V1, ApiVersion::V1beta1, ApiVersion::V1alpha1] {
                let values = format!(
                    "mode: admission-policy\nadmissionPolicy: {{apiVersion: {version}}}\npolicy: {policy}\n"
                );
                let api = format!("{}/MutatingAdmissionPolicy", version.api_version());
                let docs = documents(&helm, &values, &["--api-versions", &api]);
                let kinds: Vec<&str> = docs
                    .iter()
                    .map(|d| d["kind"].as_str().unwrap_or_default())
                    .collect();
                assert_eq!(
                    kinds,
                    ["MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"],
                    "helm{major} {values}"
                );

                let engine =
                    Engine::new(Policy::from_yaml(&format!("{policy}\n")).expect("policy"))
                        .expect("engine");
                let options = ExportOptions {
                    namespace: Some(NAMESPACE.into()),
                    ..ExportOptions::new(version)
                };
                let exported = admission_policy::export(&engine, &options).expect("export");
                assert_eq!(docs[0]["apiVersion"], version.api_version());
                assert_eq!(docs[1]["apiVersion"], version.api_version());
                assert_eq!(
                    docs[0]["spec"], exported.policy["spec"],
                    "helm{major}, policy {policy}"
                );
                let name = docs[0]["metadata"]["name"].as_str().expect("name");
                assert_eq!(docs[1]["spec"]["policyName"], name);
            }
        }
    }
}

#[test]
fn admission_policy_mode_refuses_a_cluster_without_the_api() {
    for helm in helms() {
        let major = helm.major;
        for version in ["v1", "v1beta1", "v1alpha1"] {
            let values =
                format!("mode: admission-policy\nadmissionPolicy: {{apiVersion: {version}}}\n");
            // Helm's built-in capabilities stand for a cluster without the API.
            let out = template(&helm, &values, &[]);
            assert!(
                !out.status.success(),
                "helm{major} rendered {version} without the API"
            );
            let err = String::from_utf8_lossy(&out.stderr);
            let gv = format!("admissionregistration.k8s.io/{version}");
            assert!(
                err.contains(&format!("does not serve {gv} MutatingAdmissionPolicy")),
                "{err}"
            );
            // Serving another version is not enough.
            let other = if version == "v1" { "v1beta1" } else { "v1" };
            let out = template(
                &helm,
                &values,
                &[
                    "--api-versions",
                    &format!("admissionregistration.k8s.io/{other}/MutatingAdmissionPolicy"),
                ],
            );
            assert!(
                !out.status.success(),
                "helm{major} rendered {version} with only {other}"
            );
        }
        let out = template(
            &helm,
            "mode: admission-policy\npolicy: {strategy: both}\n",
            &[
                "--api-versions",
                "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy",
            ],
        );
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("strategy both cannot be exported"));
        let out = template(&helm, "mode: webhooks\n", &[]);
        assert!(!out.status.success(), "the schema accepts an unknown mode");
    }
}

#[test]
fn webhook_mode_is_the_default_and_renders_no_policy() {
    for helm in helms() {
        let major = helm.major;
        let api = [
            "--api-versions",
            "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy",
        ];
        let docs = documents(&helm, "{}\n", &api);
        let kinds: Vec<&str> = docs
            .iter()
            .map(|d| d["kind"].as_str().unwrap_or_default())
            .collect();
        for kind in ["Deployment", "Service", "MutatingWebhookConfiguration"] {
            assert!(kinds.contains(&kind), "helm{major}: no {kind} in {kinds:?}");
        }
        assert!(
            !kinds
                .iter()
                .any(|k| k.starts_with("MutatingAdmissionPolicy")),
            "{kinds:?}"
        );
        // Everything the webhook needs is left out in admission-policy mode, even
        // with the options that add objects switched on.
        let values = "mode: admission-policy\nremediate: {onInstall: true, cronJob: {enabled: true}}\nnetworkPolicy: {enabled: true}\nmetrics: {serviceMonitor: {enabled: true}}\n";
        let docs = documents(&helm, values, &api);
        assert_eq!(docs.len(), 2, "helm{major}: {docs:?}");
    }
}
