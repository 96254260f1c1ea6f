//! What the chart gives an operator on day two (issue 13), rendered with real Helm 3
//! and Helm 4:
//!
//! - the HorizontalPodAutoscaler (`autoscaling.enabled`) replaces `replicaCount` and
//!   keeps the PodDisruptionBudget sound; values that would block node drains or
//!   make no sense are refused, by the schema where it can say so and by the
//!   templates otherwise (also under `--skip-schema-validation`);
//! - the PrometheusRule (`metrics.prometheusRule.enabled`) follows its values and
//!   passes `promtool check rules` and the unit tests of `tests/alerts/`, where every
//!   alert is fired and not fired;
//! - the Grafana dashboard ConfigMap (`metrics.grafanaDashboard.enabled`) carries the
//!   sidecar label and the chart's dashboard, which has a panel for each thing an
//!   operator looks for.
//!
//! All three are off by default. That every PromQL expression names only what the
//! server exports is `monitoring_queries`. promtool comes from Debian's
//! `prometheus` package (`scripts/install-promtool.sh`); without it these tests
//! skip, unless `NETDNS_GUARD_REQUIRE_TOOLS=1` (the test command) makes that a
//! failure.

use std::fs;
use std::path::Path;

use crate::helm::helms;
use crate::rendered::Rendered;
use crate::support::monitoring::{ALERTS, alerts_of, dashboard_file, dashboard_queries, rule_file};
use crate::support::promtool::{find_promtool, promtool};
use crate::{RELEASE, args};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// Off by default

#[test]
fn day_two_objects_are_off_by_default() {
    for helm in helms() {
        let docs = helm.template(&[]);
        assert!(docs.of_kind("HorizontalPodAutoscaler").is_empty());
        assert!(docs.of_kind("PrometheusRule").is_empty());
        assert!(
            !docs
                .docs
                .iter()
                .any(|d| d["metadata"]["labels"]["grafana_dashboard"].is_string())
        );
        let deployment: Deployment = Rendered::typed(docs.one("Deployment"));
        assert_eq!(deployment.spec.replicas, Some(2));
    }
}

#[test]
fn lint_strict_passes_with_every_day_two_object_on() {
    for helm in helms() {
        let out = helm.lint(&args(&[
            "--set",
            "autoscaling.enabled=true",
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--set",
            "metrics.grafanaDashboard.enabled=true",
        ]));
        assert!(
            out.status.success(),
            "helm{} lint --strict:\n{}{}",
            helm.major,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ---------------------------------------------------------------------------
// Autoscaling and the PodDisruptionBudget

#[test]
fn the_autoscaler_replaces_replica_count_and_keeps_the_budget() {
    for helm in helms() {
        let docs = helm.template(&args(&[
            "--set",
            "autoscaling.enabled=true",
            "--set",
            "autoscaling.maxReplicas=8",
            "--set",
            "autoscaling.behavior.scaleDown.stabilizationWindowSeconds=600",
        ]));
        let hpa_doc = docs.one("HorizontalPodAutoscaler");
        assert_eq!(hpa_doc["apiVersion"], "autoscaling/v2");
        // Nothing lost in a typed round trip: no misspelt field.
        let hpa: HorizontalPodAutoscaler = Rendered::typed(hpa_doc);
        assert_eq!(
            serde_json::to_value(&hpa).unwrap()["spec"],
            hpa_doc["spec"],
            "HPA spec fields lost in a typed round trip"
        );
        let spec = hpa.spec;
        let deployment: Deployment = Rendered::typed(docs.one("Deployment"));
        assert_eq!(spec.scale_target_ref.kind, "Deployment");
        assert_eq!(
            spec.scale_target_ref.api_version.as_deref(),
            Some("apps/v1")
        );
        assert_eq!(
            Some(spec.scale_target_ref.name.clone()),
            deployment.metadata.name
        );
        assert_eq!((spec.min_replicas, spec.max_replicas), (Some(2), 8));
        let metrics = serde_json::to_value(spec.metrics.expect("metrics")).unwrap();
        assert_eq!(
            metrics,
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 75}}}])
        );
        assert_eq!(
            hpa_doc["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
            600
        );
        // The autoscaler owns the count: a rendered replicas would reset it on
        // every upgrade.
        let deployment_spec = deployment.spec;
        assert_eq!(
            deployment_spec.replicas, None,
            "replicas rendered with an HPA"
        );
        assert_eq!(
            hpa_doc["metadata"]["labels"]["app.kubernetes.io/component"],
            "webhook"
        );

        let pdb: PodDisruptionBudget = Rendered::typed(docs.one("PodDisruptionBudget"));
        let pdb_spec = pdb.spec.expect("spec");
        assert_eq!(
            serde_json::to_value(pdb_spec.min_available).unwrap(),
            json!(1)
        );
        assert_eq!(
            pdb_spec.selector.and_then(|s| s.match_labels),
            deployment_spec.selector.match_labels
        );

        // Without a budget one replica is allowed, and no budget is rendered.
        let docs = helm.template(&args(&[
            "--set",
            "autoscaling.enabled=true",
            "--set",
            "autoscaling.minReplicas=1",
            "--set",
            "podDisruptionBudget.enabled=false",
        ]));
        assert_eq!(
            docs.one("HorizontalPodAutoscaler")["spec"]["minReplicas"],
            1
        );
        assert!(docs.of_kind("PodDisruptionBudget").is_empty());
    }
}

#[test]
fn autoscaling_values_that_break_availability_are_refused() {
    for helm in helms() {
        let on = |more: &[&str]| {
            let mut a = args(&["--set", "autoscaling.enabled=true"]);
            a.extend(more.iter().map(|s| (*s).to_owned()));
            a
        };
        // The schema: one replica under a budget.
        helm.refuses(&on(&["--set", "autoscaling.minReplicas=1"]), "minReplicas");
        // The template says it too, for --skip-schema-validation.
        helm.refuses(
            &on(&[
                "--set",
                "autoscaling.minReplicas=1",
                "--skip-schema-validation",
            ]),
            "autoscaling.minReplicas is 1: with podDisruptionBudget.enabled it must be at least 2",
        );
        helm.refuses(
            &on(&[
                "--set",
                "autoscaling.minReplicas=4",
                "--set",
                "autoscaling.maxReplicas=3",
            ]),
            "autoscaling.maxReplicas (3) is below autoscaling.minReplicas (4)",
        );
        helm.refuses(
            &on(&["--set", "resources.requests.cpu=null"]),
            "autoscaling.enabled needs resources.requests.cpu",
        );
        helm.refuses(
            &on(&["--set", "podDisruptionBudget.minAvailable=2"]),
            "podDisruptionBudget.minAvailable (2) must be below the replica count (2, autoscaling.minReplicas)",
        );
        helm.refuses(
            &on(&["--set", "autoscaling.targetCPUUtilizationPercentage=0"]),
            "targetCPUUtilizationPercentage",
        );
        helm.template(&on(&[
            "--set",
            "podDisruptionBudget.minAvailable=2",
            "--set",
            "autoscaling.minReplicas=3",
        ]));
    }
}

#[test]
fn budgets_that_allow_no_eviction_are_refused() {
    for helm in helms() {
        helm.refuses(
            &args(&["--set", "podDisruptionBudget.minAvailable=2"]),
            "podDisruptionBudget.minAvailable (2) must be below the replica count (2, replicaCount)",
        );
        helm.refuses(
            &args(&["--set-string", "podDisruptionBudget.minAvailable=100%"]),
            "podDisruptionBudget.minAvailable is 100%",
        );
        helm.refuses(
            &args(&["--set-string", "podDisruptionBudget.maxUnavailable=0%"]),
            "podDisruptionBudget.maxUnavailable is 0%",
        );
        // Sound ones still render.
        for ok in [
            &[
                "--set",
                "replicaCount=3",
                "--set",
                "podDisruptionBudget.minAvailable=2",
            ][..],
            &["--set-string", "podDisruptionBudget.minAvailable=50%"][..],
            &["--set-string", "podDisruptionBudget.maxUnavailable=1"][..],
        ] {
            let docs = helm.template(&args(ok));
            docs.one("PodDisruptionBudget");
        }
    }
}

// ---------------------------------------------------------------------------
// The PrometheusRule

/// The rendered PrometheusRule's groups as a Prometheus rule file.
#[test]
fn the_prometheus_rule_passes_promtool_and_its_unit_tests() {
    let Some(promtool_bin) = find_promtool() else {
        return;
    };
    for helm in helms() {
        let docs = helm.template(&args(&[
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--set",
            "metrics.prometheusRule.labels.release=kube-prometheus-stack",
        ]));
        let rule = docs.one("PrometheusRule");
        assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
        assert_eq!(rule["metadata"]["namespace"], RELEASE);
        assert_eq!(
            rule["metadata"]["labels"]["release"],
            "kube-prometheus-stack"
        );
        let names: Vec<&str> = alerts_of(rule)
            .iter()
            .filter_map(|a| a["alert"].as_str())
            .collect();
        assert_eq!(names, ALERTS);

        let dir = crate::support::scratch::scratch_dir(&format!("day-two-rules{}", helm.major));
        // promtool reads JSON as YAML; the test file names rules.yaml.
        fs::write(dir.path().join("rules.yaml"), rule_file(rule)).unwrap();
        fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/alerts/netdns-guard.rules.test.yaml"),
            dir.path().join("rules.test.yaml"),
        )
        .unwrap();
        promtool(&promtool_bin, &["check", "rules", "rules.yaml"], dir.path());
        promtool(
            &promtool_bin,
            &["test", "rules", "rules.test.yaml"],
            dir.path(),
        );
    }
}

#[test]
fn the_prometheus_rule_follows_its_values() {
    for helm in helms() {
        let docs = helm.template(&args(&[
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--set",
            "metrics.prometheusRule.namespace=monitoring",
            "--set",
            "metrics.prometheusRule.selector=job=\"webhooks\"",
            "--set",
            "metrics.prometheusRule.alertLabels.team=platform",
            "--set",
            "metrics.prometheusRule.disabledAlerts[0]=NetdnsGuardSlowAdmissions",
            "--set",
            "metrics.prometheusRule.certificateExpiryDays=7",
            "--set",
            "webhook.timeoutSeconds=5",
        ]));
        let rule = docs.one("PrometheusRule");
        assert_eq!(rule["metadata"]["namespace"], "monitoring");
        let alerts = alerts_of(rule);
        assert_eq!(alerts.len(), ALERTS.len() - 1);
        for alert in &alerts {
            assert_ne!(alert["alert"], "NetdnsGuardSlowAdmissions");
            assert_eq!(alert["labels"]["team"], "platform", "{alert}");
            let expr = alert["expr"].as_str().unwrap();
            assert!(expr.contains("{job=\"webhooks\""), "{expr}");
            assert!(!expr.contains("service="), "{expr}");
        }
        let expiry = alerts
            .iter()
            .find(|a| a["alert"] == "NetdnsGuardCertificateExpiresSoon")
            .unwrap();
        assert!(expiry["expr"].as_str().unwrap().ends_with("< 7 * 86400"));

        let docs = helm.template(&args(&[
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--set",
            "webhook.timeoutSeconds=5",
            // --set leaves 0.2 a string in Helm 3; the schema wants a number.
            "--set-json",
            "metrics.prometheusRule.latencyTimeoutFraction=0.2",
        ]));
        let slow = alerts_of(docs.one("PrometheusRule"))
            .into_iter()
            .find(|a| a["alert"] == "NetdnsGuardSlowAdmissions")
            .unwrap()
            .clone();
        assert!(
            slow["expr"].as_str().unwrap().ends_with("> 0.2 * 5"),
            "{slow}"
        );

        let on = |more: &[&str]| {
            let mut a = args(&["--set", "metrics.prometheusRule.enabled=true"]);
            a.extend(more.iter().map(|s| (*s).to_owned()));
            a
        };
        helm.refuses(
            &on(&[
                "--set",
                "metrics.prometheusRule.disabledAlerts[0]=NetdnsGuardTypo",
            ]),
            "\"NetdnsGuardTypo\" is not one of the chart's alerts",
        );
        helm.refuses(
            &on(&["--set", "metrics.prometheusRule.certificateExpiryDays=30"]),
            "certificateExpiryDays (30) must be below certs.self.renewBeforeDays (30)",
        );
        helm.refuses(
            &on(&["--set", "metrics.prometheusRule.errorRatio=0"]),
            "errorRatio",
        );
    }
}

// ---------------------------------------------------------------------------
// The Grafana dashboard

#[test]
fn the_dashboard_config_map_carries_the_sidecar_label_and_the_dashboard() {
    for helm in helms() {
        let docs = helm.template(&args(&[
            "--set",
            "metrics.grafanaDashboard.enabled=true",
            "--set",
            "metrics.grafanaDashboard.namespace=grafana",
            "--set",
            "metrics.grafanaDashboard.annotations.grafana_folder=Kubernetes",
        ]));
        let doc = docs
            .docs
            .iter()
            .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "netdns-guard-dashboard")
            .expect("dashboard ConfigMap");
        let cm: ConfigMap = Rendered::typed(doc);
        assert_eq!(cm.metadata.namespace.as_deref(), Some("grafana"));
        let labels = cm.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("grafana_dashboard").map(String::as_str),
            Some("1")
        );
        assert_eq!(
            cm.metadata
                .annotations
                .unwrap_or_default()
                .get("grafana_folder"),
            Some(&"Kubernetes".to_owned())
        );
        let data = cm.data.expect("data");
        let shipped: Value = serde_json::from_str(&data["netdns-guard.json"]).expect("JSON");
        assert_eq!(shipped, dashboard_file());
    }
}

#[test]
fn the_dashboard_shows_what_an_operator_looks_for() {
    let dashboard = dashboard_file();
    assert_eq!(dashboard["uid"], "netdns-guard");
    let exprs: Vec<String> = dashboard_queries(&dashboard)
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    for (topic, needle) in [
        (
            "admissions by decision",
            "sum by (operation, result) (rate(netdns_guard_admission_requests_total",
        ),
        (
            "patched containers",
            "netdns_guard_containers_patched_total",
        ),
        ("latency p50", "histogram_quantile(0.5,"),
        ("latency p99", "histogram_quantile(0.99,"),
        ("in flight", "netdns_guard_admission_in_flight"),
        ("certificate reloads", "netdns_guard_tls_reloads_total"),
        ("policy reloads", "netdns_guard_policy_reloads_total"),
        (
            "certificate expiry",
            "netdns_guard_certificate_not_after_timestamp_seconds",
        ),
        ("unprotected pods", "result=\"error\""),
    ] {
        assert!(
            exprs.iter().any(|e| e.contains(needle)),
            "no panel for {topic} ({needle})"
        );
    }
    for panel in dashboard["panels"].as_array().unwrap() {
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        assert!(panel["description"].as_str().is_some_and(|d| !d.is_empty()));
    }
}
