//! The three certificate modes: `self` (hook jobs generate and rotate the
//! certificate), `cert-manager` (an issuer chain and the CA injector) and
//! `provided` (a Secret and caBundle the operator brings).

use k8s_openapi::api::batch::v1::{CronJob, Job};
use serde_json::{Value, json};

use crate::helm::{Helm, helms};
use crate::rendered::Rendered;
use crate::safety::{assert_common, hook, tls_volume_secret};
use crate::typed::assert_all_typed;
use crate::{NAMESPACE, RELEASE, args};

/// Values for the `provided` mode: an existing Secret and a PEM caBundle.
pub fn provided_args(helm: &Helm) -> Vec<String> {
    let values = helm.values_file(
        "certs:\n  mode: provided\n  existingSecret: my-webhook-tls\n  caBundle: |\n    -----BEGIN CERTIFICATE-----\n    MIIBszCCAVmgAwIBAgIUBogus\n    -----END CERTIFICATE-----\n",
    );
    vec!["-f".into(), values.display().to_string()]
}

#[test]
fn self_mode_renders_hooks_rotation_and_safe_defaults() {
    for helm in helms() {
        for minor in [27, 30] {
            let r = helm.template(&args(&["--kube-version", &format!("1.{minor}.0")]));
            assert_common(&r, minor);
            assert_eq!(tls_volume_secret(&r), "netdns-guard-tls");
            let w = r.webhook();
            assert!(
                w.client_config.ca_bundle.is_none(),
                "{}: caBundle is the jobs' business",
                r.what
            );
            assert!(r.of_kind("Certificate").is_empty() && r.of_kind("Issuer").is_empty());

            // Hooks: create before the release, patch after it, same command.
            let jobs = r.of_kind("Job");
            assert_eq!(jobs.len(), 2, "{}", r.what);
            let create = r.named("Job", "netdns-guard-certgen-create");
            let patch = r.named("Job", "netdns-guard-certgen-patch");
            assert_eq!(hook(create), "pre-install,pre-upgrade");
            assert_eq!(hook(patch), "post-install,post-upgrade");
            let expected_args = [
                "certs",
                "--in-cluster",
                "--service",
                RELEASE,
                "--namespace",
                NAMESPACE,
                "--ca-secret",
                "netdns-guard-ca",
                "--tls-secret",
                "netdns-guard-tls",
                "--webhook-configuration",
                RELEASE,
                "--days",
                "365",
                "--renew-before-days",
                "30",
            ];
            let cron: CronJob = Rendered::typed(r.one("CronJob"));
            let cron_spec = cron.spec;
            assert_eq!(cron_spec.concurrency_policy.as_deref(), Some("Forbid"));
            let cron_pod = cron_spec
                .job_template
                .spec
                .and_then(|s| s.template.spec)
                .expect("cron pod");
            for (name, pod) in [
                (
                    "create",
                    Rendered::typed::<Job>(create)
                        .spec
                        .and_then(|s| s.template.spec)
                        .unwrap(),
                ),
                (
                    "patch",
                    Rendered::typed::<Job>(patch)
                        .spec
                        .and_then(|s| s.template.spec)
                        .unwrap(),
                ),
                ("cron", cron_pod),
            ] {
                assert_eq!(
                    pod.containers[0].args.as_deref().unwrap_or_default(),
                    expected_args,
                    "{name}"
                );
                assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
                assert_eq!(
                    pod.containers[0].image,
                    r.deployment().spec.template.spec.unwrap().containers[0].image
                );
            }
            // Every hook object is cleaned up after success and re-created per phase.
            for doc in &r.docs {
                if !hook(doc).is_empty() && doc["kind"] != "Pod" {
                    assert_eq!(
                        doc["metadata"]["annotations"]["helm.sh/hook-delete-policy"],
                        "before-hook-creation,hook-succeeded",
                        "{} {}",
                        doc["kind"],
                        doc["metadata"]["name"]
                    );
                }
            }
            // Hook RBAC exists in every phase a hook job runs in; rotation RBAC is
            // ordinary release content.
            for kind in [
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "ClusterRole",
                "ClusterRoleBinding",
            ] {
                let hooked = r.named(kind, "netdns-guard-certgen-hook");
                assert_eq!(
                    hook(hooked),
                    "pre-install,pre-upgrade,post-install,post-upgrade",
                    "{kind}"
                );
                assert_eq!(hook(r.named(kind, "netdns-guard-certgen")), "", "{kind}");
            }
            assert!(
                r.docs.iter().all(|d| d["kind"] != "Secret"),
                "the chart never renders key material"
            );
        }
    }
}

#[test]
fn cert_manager_mode_uses_an_issuer_chain_and_the_cainjector() {
    for helm in helms() {
        let r = helm.template(&args(&[
            "--set",
            "certs.mode=cert-manager",
            "--kube-version",
            "1.30.0",
        ]));
        assert_common(&r, 30);
        assert!(
            r.of_kind("Job").is_empty() && r.of_kind("CronJob").is_empty(),
            "{}: no cert jobs",
            r.what
        );
        assert!(
            r.of_kind("Role").is_empty() && r.of_kind("ClusterRole").is_empty(),
            "{}: no RBAC needed",
            r.what
        );
        let config = r.one("MutatingWebhookConfiguration");
        assert_eq!(
            config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            format!("{NAMESPACE}/netdns-guard-tls")
        );
        assert!(r.webhook().client_config.ca_bundle.is_none());
        let selfsigned = r.named("Issuer", "netdns-guard-selfsigned");
        assert!(selfsigned["spec"]["selfSigned"].is_object());
        let ca = r.named("Certificate", "netdns-guard-ca");
        assert_eq!(ca["spec"]["isCA"], true);
        assert_eq!(ca["spec"]["issuerRef"]["name"], "netdns-guard-selfsigned");
        let ca_issuer = r.named("Issuer", "netdns-guard-ca");
        assert_eq!(
            ca_issuer["spec"]["ca"]["secretName"],
            ca["spec"]["secretName"]
        );
        let serving = r.named("Certificate", "netdns-guard-tls");
        assert_eq!(serving["spec"]["issuerRef"]["name"], "netdns-guard-ca");
        assert_eq!(serving["spec"]["secretName"], tls_volume_secret(&r));
        let dns: Vec<&str> = serving["spec"]["dnsNames"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(dns.contains(&"netdns-guard.netdns-guard.svc"), "{dns:?}");
        assert_eq!(serving["spec"]["privateKey"]["rotationPolicy"], "Always");
        for doc in r
            .of_kind("Certificate")
            .into_iter()
            .chain(r.of_kind("Issuer"))
        {
            assert_eq!(doc["apiVersion"], "cert-manager.io/v1");
        }

        // An existing issuer replaces the chart's own CA chain.
        let r = helm.template(&args(&[
            "--set",
            "certs.mode=cert-manager",
            "--set",
            "certs.certManager.issuerRef.name=corp-ca",
            "--set",
            "certs.certManager.issuerRef.kind=ClusterIssuer",
            "--set",
            "certs.certManager.issuerRef.group=cert-manager.io",
        ]));
        assert_all_typed(&r);
        assert!(r.of_kind("Issuer").is_empty());
        assert_eq!(
            r.one("Certificate")["spec"]["issuerRef"],
            json!({"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"})
        );
    }
}

#[test]
fn provided_mode_uses_the_given_secret_and_ca_bundle() {
    for helm in helms() {
        let mut a = provided_args(&helm);
        a.extend(args(&["--kube-version", "1.30.0"]));
        let r = helm.template(&a);
        assert_common(&r, 30);
        assert_eq!(tls_volume_secret(&r), "my-webhook-tls");
        assert!(r.of_kind("Job").is_empty() && r.of_kind("CronJob").is_empty());
        assert!(r.of_kind("Certificate").is_empty());
        let bundle = r.webhook().client_config.ca_bundle.expect("caBundle");
        let pem = String::from_utf8(bundle.0).expect("caBundle is PEM text");
        assert!(
            pem.starts_with("-----BEGIN CERTIFICATE-----\n")
                && pem.contains("-----END CERTIFICATE-----"),
            "{pem}"
        );

        // A base64 bundle is taken as it is.
        let r = helm.template(&args(&[
            "--set",
            "certs.mode=provided",
            "--set",
            "certs.existingSecret=s",
            "--set",
            "certs.caBundle=LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==",
        ]));
        let bundle = r.webhook().client_config.ca_bundle.expect("caBundle");
        assert_eq!(bundle.0, b"-----BEGIN CERTIFICATE-----\n");
    }
}
