//! Value variations beyond the certificate mode: the optional ServiceMonitor,
//! NetworkPolicy and `helm test` pods, the config checksum that rolls pods, a
//! single replica, and names cut to Kubernetes' limits for a long release name.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::{Value, json};

use crate::helm::helms;
use crate::rendered::Rendered;
use crate::safety::{assert_common, hook};
use crate::{NAMESPACE, args, chart_dir};

#[test]
fn optional_objects_service_monitor_network_policy_and_tests() {
    for helm in helms() {
        let r = helm.template(&args(&[
            "--kube-version",
            "1.30.0",
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "metrics.serviceMonitor.interval=30s",
            "--set",
            "networkPolicy.enabled=true",
            "--set",
            "tests.mutationNamespace=netdns-guard-e2e",
        ]));
        assert_common(&r, 30);
        let sm = r.one("ServiceMonitor");
        assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
        assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
        assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
        assert_eq!(sm["spec"]["endpoints"][0]["interval"], "30s");
        let selector = r.deployment().spec.selector.match_labels.unwrap();
        assert_eq!(
            sm["spec"]["selector"]["matchLabels"],
            serde_json::to_value(&selector).unwrap()
        );

        let np: NetworkPolicy = Rendered::typed(r.one("NetworkPolicy"));
        let np = np.spec.expect("spec");
        assert_eq!(np.pod_selector.and_then(|s| s.match_labels), Some(selector));
        assert_eq!(
            np.policy_types.as_deref(),
            Some(&["Ingress".to_owned(), "Egress".to_owned()][..])
        );
        assert!(
            np.egress.unwrap_or_default().is_empty(),
            "the server needs no egress"
        );
        let ports: Vec<Value> = np
            .ingress
            .unwrap_or_default()
            .iter()
            .flat_map(|rule| rule.ports.clone().unwrap_or_default())
            .map(|p| serde_json::to_value(p.port).unwrap())
            .collect();
        assert_eq!(ports, [json!("https"), json!("metrics")]);

        let tests: Vec<&Value> = r.of_kind("Pod");
        assert_eq!(tests.len(), 2);
        for t in &tests {
            assert_eq!(hook(t), "test");
        }
        let mutation = r.named("Pod", "netdns-guard-test-mutation");
        assert_eq!(mutation["metadata"]["namespace"], "netdns-guard-e2e");
        assert_eq!(
            mutation["metadata"]["annotations"]["netdns-guard.io/inject"],
            "true"
        );
    }
}

#[test]
fn helm_test_pod_checks_readiness_and_metrics_through_the_service() {
    for helm in helms() {
        let r = helm.template(&[]);
        let pod: Pod = Rendered::typed(r.named("Pod", "netdns-guard-test-ready"));
        let script = pod.spec.unwrap().containers[0]
            .command
            .clone()
            .unwrap()
            .join(" ");
        assert!(
            script.contains("http://netdns-guard.netdns-guard.svc:8080/readyz"),
            "{script}"
        );
        assert!(
            script.contains("/metrics") && script.contains("netdns_guard_"),
            "{script}"
        );
        assert!(
            r.docs
                .iter()
                .all(|d| d["metadata"]["name"] != "netdns-guard-test-mutation")
        );
    }
}

#[test]
fn checksum_rolls_pods_on_policy_change_only() {
    for helm in helms() {
        let checksum = |a: &[&str]| {
            helm.template(&args(a))
                .deployment()
                .spec
                .template
                .metadata
                .unwrap()
                .annotations
                .unwrap()["checksum/config"]
                .clone()
        };
        let base = checksum(&[]);
        assert_eq!(base, checksum(&[]), "checksum must be stable");
        assert_eq!(
            base,
            checksum(&["--set", "replicaCount=3"]),
            "unrelated values must not roll"
        );
        assert_ne!(base, checksum(&["--set", "policy.overrideCgo=true"]));
        assert_ne!(
            base,
            checksum(&["--set", "policy.skipNamespaces[0]=kube-system"])
        );
    }
}

#[test]
fn single_replica_has_no_pdb_and_hooks_keep_names_within_limits() {
    for helm in helms() {
        let r = helm.template(&args(&["--set", "replicaCount=1"]));
        assert!(
            r.of_kind("PodDisruptionBudget").is_empty(),
            "a PDB with one replica blocks drains"
        );
        // A long release name is cut so that every derived name stays <= 63, with
        // every optional object on.
        let out = helm
            .cmd()
            .args([
                "template",
                "a-release-name-of-the-longest-length-helm-allows-x-53",
            ])
            .arg(chart_dir())
            .args(["-n", NAMESPACE])
            .args(["--set", "remediate.onInstall=true"])
            .args(["--set", "remediate.cronJob.enabled=true"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let docs: Vec<Option<Value>> =
            serde_saphyr::from_multiple(&String::from_utf8(out.stdout).unwrap()).unwrap();
        let mut names = BTreeSet::new();
        for d in docs.into_iter().flatten() {
            let name = d["metadata"]["name"].as_str().unwrap_or_default();
            // A CronJob's name must leave room for the 11 characters of its Jobs'.
            let max = if d["kind"] == "CronJob" { 52 } else { 63 };
            assert!(
                !name.is_empty() && name.len() <= max,
                "{} {name}",
                d["kind"]
            );
            // Cutting names must not make two objects of a kind collide.
            assert!(
                names.insert((
                    d["kind"].to_string(),
                    d["metadata"]["namespace"].to_string(),
                    name.to_owned()
                )),
                "{} {name} twice",
                d["kind"]
            );
        }
        assert!(
            names
                .iter()
                .any(|(_, _, n)| n.contains("-remediate-hook-endpoints")),
            "{names:?}"
        );
    }
}
