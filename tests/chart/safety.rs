//! The safety defaults every rendering must keep, whatever the mode or variation:
//! standard labels and namespaces, the webhook's failure and scope settings,
//! hardened pods, the server Deployment with its PDB and Service, and (in `rbac`)
//! least-privilege RBAC.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodSpec, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use netdns_guard::Policy;
use serde_json::{Value, json};

use crate::rbac::assert_rbac_least_privilege;
use crate::rendered::Rendered;
use crate::typed::assert_all_typed;
use crate::{NAMESPACE, RELEASE};

/// The app.kubernetes.io/component label ("webhook", "certgen", "remediate", ...).
pub fn component(doc: &Value) -> &str {
    doc["metadata"]["labels"]["app.kubernetes.io/component"]
        .as_str()
        .unwrap_or_default()
}

fn release_labels_ok(doc: &Value) -> bool {
    let labels = &doc["metadata"]["labels"];
    labels["app.kubernetes.io/name"] == "netdns-guard"
        && labels["app.kubernetes.io/instance"] == RELEASE
        && labels["app.kubernetes.io/managed-by"] == "Helm"
        && labels["app.kubernetes.io/version"].is_string()
        && labels["app.kubernetes.io/component"].is_string()
        && labels["helm.sh/chart"]
            .as_str()
            .is_some_and(|c| c.starts_with("netdns-guard-"))
}

const CLUSTER_SCOPED: &[&str] = &[
    "ClusterRole",
    "ClusterRoleBinding",
    "MutatingWebhookConfiguration",
];

fn assert_labels_and_namespaces(r: &Rendered) {
    for doc in &r.docs {
        let what = format!("{}: {} {}", r.what, doc["kind"], doc["metadata"]["name"]);
        assert!(
            release_labels_ok(doc),
            "{what}: standard labels missing: {:#}",
            doc["metadata"]["labels"]
        );
        let kind = doc["kind"].as_str().unwrap_or_default();
        if CLUSTER_SCOPED.contains(&kind) {
            assert!(
                doc["metadata"]["namespace"].is_null(),
                "{what}: cluster-scoped with a namespace"
            );
        } else if kind == "Pod" && doc["metadata"]["name"] == "netdns-guard-test-mutation" {
            // The optional end-to-end test pod lives in a namespace the webhook sees.
        } else if component(doc) == "remediate"
            && ["Role", "RoleBinding"].contains(&kind)
            && !doc["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("-endpoints"))
        {
            // remediate.namespace: the workload Role lives there (assert_remediate
            // checks which namespace).
            assert!(
                doc["metadata"]["namespace"].is_string(),
                "{what}: no namespace"
            );
        } else if kind != "ServiceMonitor" {
            assert_eq!(doc["metadata"]["namespace"], NAMESPACE, "{what}: namespace");
        }
    }
}

fn assert_webhook_safety(r: &Rendered) {
    let w = r.webhook();
    let what = &r.what;
    assert_eq!(w.name, "mutate-pods.netdns-guard.io", "{what}");
    assert_eq!(
        w.failure_policy.as_deref(),
        Some("Ignore"),
        "{what}: failurePolicy"
    );
    assert_eq!(w.side_effects, "None", "{what}: sideEffects");
    let timeout = w.timeout_seconds.expect("timeoutSeconds set");
    assert!(
        (1..=5).contains(&timeout),
        "{what}: timeoutSeconds {timeout}"
    );
    assert_eq!(w.reinvocation_policy.as_deref(), Some("IfNeeded"), "{what}");
    assert_eq!(w.match_policy.as_deref(), Some("Equivalent"), "{what}");
    assert_eq!(w.admission_review_versions, ["v1", "v1beta1"], "{what}");

    let rules = w.rules.as_ref().expect("rules");
    assert_eq!(rules.len(), 1, "{what}: one rule");
    let rule = &rules[0];
    assert_eq!(
        rule.operations.as_deref(),
        Some(&["CREATE".to_owned()][..]),
        "{what}: CREATE only"
    );
    assert_eq!(
        rule.resources.as_deref(),
        Some(&["pods".to_owned()][..]),
        "{what}: pods only (no subresources)"
    );
    assert_eq!(
        rule.api_groups.as_deref(),
        Some(&[String::new()][..]),
        "{what}: core group"
    );
    assert_eq!(
        rule.api_versions.as_deref(),
        Some(&["v1".to_owned()][..]),
        "{what}"
    );
    assert_eq!(rule.scope.as_deref(), Some("Namespaced"), "{what}");

    let service = w
        .client_config
        .service
        .as_ref()
        .expect("service clientConfig");
    assert_eq!(service.name, RELEASE);
    assert_eq!(service.namespace, NAMESPACE);
    assert_eq!(service.path.as_deref(), Some("/mutate"));
    assert_eq!(service.port, Some(443));
    assert!(
        w.client_config.url.is_none(),
        "{what}: url must not be used"
    );

    let ns = w.namespace_selector.as_ref().expect("namespaceSelector");
    let exprs = ns.match_expressions.as_ref().expect("matchExpressions");
    assert!(
        exprs.iter().any(|e| e.key == "kubernetes.io/metadata.name"
            && e.operator == "NotIn"
            && e.values
                .as_ref()
                .is_some_and(|v| v.iter().any(|v| v == NAMESPACE))),
        "{what}: own namespace not excluded: {exprs:?}"
    );
    assert!(
        exprs.iter().any(|e| e.key == "netdns-guard.io/inject"
            && e.operator == "NotIn"
            && e.values.as_deref() == Some(&["false".to_owned()][..])),
        "{what}: no namespace opt-out label: {exprs:?}"
    );
}

fn assert_hardened(name: &str, spec: &PodSpec) {
    let psc = spec
        .security_context
        .as_ref()
        .unwrap_or_else(|| panic!("{name}: no pod securityContext"));
    assert_eq!(psc.run_as_non_root, Some(true), "{name}: pod runAsNonRoot");
    assert_eq!(
        psc.seccomp_profile.as_ref().map(|p| p.type_.as_str()),
        Some("RuntimeDefault"),
        "{name}: pod seccomp"
    );
    assert!(
        psc.run_as_user.is_some_and(|u| u >= 10000),
        "{name}: high non-root UID"
    );
    assert_ne!(spec.host_network, Some(true), "{name}: hostNetwork");
    assert_ne!(spec.host_pid, Some(true), "{name}: hostPID");
    assert_ne!(spec.host_ipc, Some(true), "{name}: hostIPC");
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    for c in containers {
        let what = format!("{name} container {}", c.name);
        let sc = c
            .security_context
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: no securityContext"));
        assert_eq!(sc.run_as_non_root, Some(true), "{what}: runAsNonRoot");
        assert_eq!(
            sc.read_only_root_filesystem,
            Some(true),
            "{what}: readOnlyRootFilesystem"
        );
        assert_eq!(
            sc.allow_privilege_escalation,
            Some(false),
            "{what}: allowPrivilegeEscalation"
        );
        assert_ne!(sc.privileged, Some(true), "{what}: privileged");
        let caps = sc
            .capabilities
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: no capabilities"));
        assert_eq!(
            caps.drop.as_deref(),
            Some(&["ALL".to_owned()][..]),
            "{what}: drop ALL"
        );
        assert!(
            caps.add.as_ref().is_none_or(|a| a.is_empty()),
            "{what}: adds capabilities"
        );
        assert_eq!(
            sc.seccomp_profile.as_ref().map(|p| p.type_.as_str()),
            Some("RuntimeDefault"),
            "{what}: seccomp"
        );
        let res = c
            .resources
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: no resources"));
        let requests = res
            .requests
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: no requests"));
        assert!(
            requests.contains_key("cpu") && requests.contains_key("memory"),
            "{what}: requests"
        );
        let limits = res
            .limits
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: no limits"));
        assert!(limits.contains_key("memory"), "{what}: memory limit");
        if c.name != "webhook" {
            // Only the server goes without a CPU limit (admission latency; see the
            // chart README's checkov section).
            assert!(limits.contains_key("cpu"), "{what}: cpu limit");
        }
        let image = c.image.as_deref().unwrap_or_default();
        assert!(
            image.contains('@')
                || image
                    .rsplit('/')
                    .next()
                    .is_some_and(|last| last.contains(':')),
            "{what}: image {image:?} has neither tag nor digest"
        );
        assert!(!image.ends_with(":latest"), "{what}: latest tag");
    }
}

fn assert_pods_hardened(r: &Rendered) {
    let specs = r.pod_specs();
    assert!(!specs.is_empty());
    for (name, spec) in &specs {
        assert_hardened(&format!("{}: {name}", r.what), spec);
        let talks_to_api = name.contains("certgen") || name.contains("remediate");
        assert_eq!(
            spec.automount_service_account_token,
            Some(talks_to_api),
            "{}: {name}: automountServiceAccountToken must be {talks_to_api}",
            r.what
        );
    }
}

fn assert_deployment(r: &Rendered, kube_minor: u32) {
    let what = &r.what;
    let d = r.deployment();
    let spec = &d.spec;
    assert_eq!(spec.replicas, Some(2), "{what}: replicas");
    let selector = spec.selector.match_labels.clone().expect("matchLabels");
    let template_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .expect("labels");
    for (k, v) in &selector {
        assert_eq!(
            template_labels.get(k),
            Some(v),
            "{what}: selector label {k} not on pods"
        );
    }
    let annotations = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    let checksum = annotations
        .get("checksum/config")
        .unwrap_or_else(|| panic!("{what}: no checksum/config"));
    assert!(
        checksum.len() == 64 && checksum.chars().all(|c| c.is_ascii_hexdigit()),
        "{what}: checksum {checksum}"
    );

    let pod = spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(pod.automount_service_account_token, Some(false), "{what}");
    let c = &pod.containers[0];
    assert_eq!(c.name, "webhook");
    let args = c.args.clone().unwrap_or_default();
    let arg_after = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| panic!("{what}: no {flag} in {args:?}"))
    };
    assert_eq!(args[0], "serve");
    assert_eq!(arg_after("--listen"), "0.0.0.0:8443");
    assert_eq!(arg_after("--metrics-listen"), "0.0.0.0:8080");
    assert_eq!(arg_after("--tls-cert"), "/tls/tls.crt");
    assert_eq!(arg_after("--tls-key"), "/tls/tls.key");
    assert_eq!(arg_after("--config"), "/config/policy.yaml");
    assert_eq!(arg_after("--log-format"), "json");
    assert!(arg_after("--grace-period-seconds").parse::<u32>().is_ok());

    let ports: BTreeMap<String, i32> = c
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.clone().unwrap_or_default(), p.container_port))
        .collect();
    assert_eq!(ports.get("https"), Some(&8443), "{what}: ports {ports:?}");
    assert_eq!(ports.get("metrics"), Some(&8080), "{what}: ports {ports:?}");
    for (probe, path) in [
        (&c.liveness_probe, "/healthz"),
        (&c.readiness_probe, "/readyz"),
    ] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("{what}: no httpGet probe for {path}"));
        assert_eq!(get.path.as_deref(), Some(path), "{what}");
        assert_eq!(
            serde_json::to_value(&get.port).unwrap(),
            json!("metrics"),
            "{what}: probe port"
        );
        assert!(
            get.scheme.as_deref().is_none_or(|s| s == "HTTP"),
            "{what}: plain HTTP probe"
        );
    }

    // Draining is the server's own (--shutdown-delay-seconds, every Kubernetes
    // version), not a preStop sleep during which it could not tell clients to leave.
    assert!(
        c.lifecycle
            .as_ref()
            .and_then(|l| l.pre_stop.as_ref())
            .is_none(),
        "{what}: a preStop hook on 1.{kube_minor}"
    );
    let delay: i64 = arg_after("--shutdown-delay-seconds").parse().unwrap();
    let drain: i64 = arg_after("--grace-period-seconds").parse().unwrap();
    let grace = pod
        .termination_grace_period_seconds
        .expect("terminationGracePeriodSeconds");
    assert!(
        delay > 0 && grace > delay + drain,
        "{what}: grace {grace} <= shutdown delay {delay} + drain {drain}"
    );

    let mounts: BTreeMap<String, String> = c
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| {
            assert!(
                m.sub_path.is_none(),
                "{what}: subPath mounts never see Secret updates"
            );
            assert_eq!(m.read_only, Some(true), "{what}: mount {} writable", m.name);
            (m.name.clone(), m.mount_path.clone())
        })
        .collect();
    assert_eq!(mounts.get("tls").map(String::as_str), Some("/tls"));
    assert_eq!(mounts.get("config").map(String::as_str), Some("/config"));
    let config_volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "config")
        .expect("config volume");
    assert_eq!(
        config_volume.config_map.as_ref().map(|c| c.name.as_str()),
        Some("netdns-guard-policy")
    );

    let spread = pod.topology_spread_constraints.clone().unwrap_or_default();
    assert!(
        spread
            .iter()
            .any(|t| t.topology_key == "kubernetes.io/hostname"),
        "{what}: no spread over nodes"
    );
    for t in &spread {
        let labels = t
            .label_selector
            .as_ref()
            .and_then(|s| s.match_labels.clone())
            .expect("labelSelector");
        assert_eq!(labels, selector, "{what}: spread selects other pods");
        assert_eq!(
            t.match_label_keys.is_some(),
            kube_minor >= 27,
            "{what}: matchLabelKeys on 1.{kube_minor}"
        );
    }

    let pdb: PodDisruptionBudget = Rendered::typed(r.one("PodDisruptionBudget"));
    let pdb_spec = pdb.spec.expect("pdb spec");
    assert_eq!(
        pdb_spec.selector.and_then(|s| s.match_labels),
        Some(selector.clone()),
        "{what}: PDB selector"
    );
    assert_eq!(
        serde_json::to_value(pdb_spec.min_available).unwrap(),
        json!(1),
        "{what}: minAvailable"
    );

    let svc: Service = Rendered::typed(r.named("Service", RELEASE));
    let svc_spec = svc.spec.expect("service spec");
    assert_eq!(
        svc_spec.selector,
        Some(selector),
        "{what}: Service selector"
    );
    let svc_ports: BTreeMap<String, (i32, Value)> = svc_spec
        .ports
        .iter()
        .flatten()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                (p.port, serde_json::to_value(&p.target_port).unwrap()),
            )
        })
        .collect();
    assert_eq!(
        svc_ports.get("https"),
        Some(&(443, json!("https"))),
        "{what}"
    );
    assert_eq!(
        svc_ports.get("metrics"),
        Some(&(8080, json!("metrics"))),
        "{what}"
    );
}

/// Everything that holds whatever the mode or variation.
pub fn assert_common(r: &Rendered, kube_minor: u32) {
    assert_all_typed(r);
    assert_labels_and_namespaces(r);
    assert_webhook_safety(r);
    assert_pods_hardened(r);
    assert_deployment(r, kube_minor);
    assert_rbac_least_privilege(r);
    Policy::from_yaml(&r.policy_yaml())
        .unwrap_or_else(|e| panic!("{}: policy ConfigMap: {e}", r.what));
}

/// The Secret the server mounts its certificate from.
pub fn tls_volume_secret(r: &Rendered) -> String {
    let pod = r.deployment().spec.template.spec.expect("pod spec");
    let tls = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "tls")
        .expect("tls volume");
    tls.secret
        .as_ref()
        .and_then(|s| s.secret_name.clone())
        .expect("secretName")
}

/// The `helm.sh/hook` annotation, empty when the document is no hook.
pub fn hook(doc: &Value) -> &str {
    doc["metadata"]["annotations"]["helm.sh/hook"]
        .as_str()
        .unwrap_or_default()
}
