//! Least-privilege RBAC: the certificate jobs' rules by name, the remediation
//! jobs' within what `netdns-guard remediate` may do, and nothing for the server.

use std::collections::BTreeSet;

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role};
use serde_json::Value;

use crate::RELEASE;
use crate::rendered::Rendered;
use crate::safety::component;

/// What a Role or ClusterRole allows.
pub fn rules_of(doc: &Value) -> Vec<PolicyRule> {
    match doc["kind"].as_str() {
        Some("Role") => Rendered::typed::<Role>(doc).rules.unwrap_or_default(),
        Some("ClusterRole") => Rendered::typed::<ClusterRole>(doc)
            .rules
            .unwrap_or_default(),
        _ => unreachable!(),
    }
}

/// No wildcard, no dangerous verb, resourceNames wherever Kubernetes allows them,
/// bindings to the chart's own roles and accounts, and none for the server.
pub fn assert_rbac_least_privilege(r: &Rendered) {
    let secret_names: BTreeSet<String> = ["netdns-guard-ca", "netdns-guard-tls"]
        .map(String::from)
        .into();
    for doc in r
        .of_kind("Role")
        .into_iter()
        .chain(r.of_kind("ClusterRole"))
    {
        let what = format!("{}: {} {}", r.what, doc["kind"], doc["metadata"]["name"]);
        let cluster = doc["kind"] == "ClusterRole";
        for rule in rules_of(doc) {
            let all = rule
                .api_groups
                .iter()
                .flatten()
                .chain(rule.resources.iter().flatten())
                .chain(rule.verbs.iter())
                .chain(rule.resource_names.iter().flatten());
            for s in all {
                assert!(!s.contains('*'), "{what}: wildcard {s:?} in {rule:?}");
            }
            assert!(rule.non_resource_urls.is_none(), "{what}: nonResourceURLs");
            if component(doc) == "remediate" {
                assert_remediate_rule_least_privilege(&what, cluster, &rule);
                continue;
            }
            for v in &rule.verbs {
                assert!(
                    ["get", "create", "update", "patch"].contains(&v.as_str()),
                    "{what}: verb {v} (no list/watch/delete/escalate/bind/impersonate)"
                );
            }
            let names: BTreeSet<String> = rule.resource_names.iter().flatten().cloned().collect();
            // resourceNames wherever the verb allows it: only create cannot be narrowed.
            if rule.verbs != ["create"] {
                assert!(
                    !names.is_empty(),
                    "{what}: {:?} without resourceNames",
                    rule.verbs
                );
            }
            let resources = rule.resources.clone().unwrap_or_default();
            if cluster {
                assert_eq!(resources, ["mutatingwebhookconfigurations"], "{what}");
                assert_eq!(
                    rule.api_groups.as_deref(),
                    Some(&["admissionregistration.k8s.io".to_owned()][..])
                );
                assert_eq!(
                    names,
                    [RELEASE.to_owned()].into(),
                    "{what}: only its own webhook configuration"
                );
                assert_eq!(rule.verbs, ["get", "patch"], "{what}");
            } else {
                assert_eq!(resources, ["secrets"], "{what}");
                assert!(
                    names.is_empty() || names == secret_names,
                    "{what}: secrets {names:?}"
                );
            }
        }
    }
    // Bindings point at the chart's own roles and service accounts.
    let sas: BTreeSet<&str> = r
        .of_kind("ServiceAccount")
        .iter()
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    for doc in r
        .of_kind("RoleBinding")
        .into_iter()
        .chain(r.of_kind("ClusterRoleBinding"))
    {
        let role_kind = doc["roleRef"]["kind"].as_str().expect("roleRef.kind");
        let role = doc["roleRef"]["name"].as_str().expect("roleRef.name");
        r.named(role_kind, role);
        for s in doc["subjects"].as_array().expect("subjects") {
            assert_eq!(s["kind"], "ServiceAccount");
            assert!(
                sas.contains(s["name"].as_str().unwrap_or_default()),
                "{}: unknown subject {s}",
                r.what
            );
        }
    }
    // The server's ServiceAccount has no binding at all.
    let bound: BTreeSet<String> = r
        .of_kind("RoleBinding")
        .into_iter()
        .chain(r.of_kind("ClusterRoleBinding"))
        .flat_map(|d| d["subjects"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["name"].as_str().map(String::from))
        .collect();
    assert!(
        !bound.contains(RELEASE),
        "{}: the server must have no RBAC",
        r.what
    );
}

/// A rule of the remediation roles, whatever the values: reads, the restart patch on
/// the three rollout kinds, delete on pods only, and the webhook configuration only by
/// name (assert_remediate checks the exact rules of each variation).
fn assert_remediate_rule_least_privilege(what: &str, cluster: bool, rule: &PolicyRule) {
    let groups = rule.api_groups.clone().unwrap_or_default();
    let resources = rule.resources.clone().unwrap_or_default();
    assert_eq!(groups.len(), 1, "{what}: one API group per rule: {rule:?}");
    let group = groups[0].as_str();
    for r in &resources {
        assert!(
            !r.contains('/') && r != "secrets",
            "{what}: {r} (no subresources such as pods/log, no secrets)"
        );
    }
    for v in &rule.verbs {
        let allowed: &[&str] = match v.as_str() {
            "get" => &[
                "pods",
                "replicationcontrollers",
                "replicasets",
                "deployments",
                "daemonsets",
                "statefulsets",
                "jobs",
                "cronjobs",
                "mutatingwebhookconfigurations",
            ],
            "list" => &["pods", "endpointslices"],
            "patch" => &["deployments", "daemonsets", "statefulsets"],
            "delete" => &["pods"],
            _ => panic!("{what}: verb {v} (no watch/create/update/escalate/bind/impersonate)"),
        };
        for r in &resources {
            assert!(allowed.contains(&r.as_str()), "{what}: {v} on {r}");
        }
    }
    if resources
        .iter()
        .any(|r| r == "mutatingwebhookconfigurations")
    {
        assert!(
            cluster,
            "{what}: a cluster-scoped object needs a ClusterRole"
        );
        assert_eq!(group, "admissionregistration.k8s.io", "{what}");
        assert_eq!(rule.verbs, ["get"], "{what}: read only");
        assert_eq!(
            rule.resource_names.as_deref(),
            Some(&[RELEASE.to_owned()][..]),
            "{what}: only its own webhook configuration"
        );
    } else {
        assert!(
            rule.resource_names.is_none(),
            "{what}: unexpected resourceNames {rule:?}"
        );
    }
}
