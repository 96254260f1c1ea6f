//! Typed parsing with no unknown fields: every rendered document is a kind the chart
//! is meant to render, and survives a round trip through its k8s-openapi type.

use std::collections::BTreeSet;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::rendered::Rendered;

/// Drops nulls, empty maps and empty lists: k8s-openapi omits empty optional
/// fields when it serialises, so they carry no information either way.
fn normalise(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Object(map) => {
            let out: serde_json::Map<String, Value> = map
                .iter()
                .filter_map(|(k, v)| normalise(v).map(|v| (k.clone(), v)))
                .collect();
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(items) => {
            let out: Vec<Value> = items.iter().filter_map(normalise).collect();
            (!out.is_empty()).then_some(Value::Array(out))
        }
        other => Some(other.clone()),
    }
}

/// Parses `doc` as `T` and checks that nothing was lost (an unknown or misspelt
/// field is ignored by the typed parser, so it shows up as a difference).
fn round_trip<T: DeserializeOwned + Serialize>(doc: &Value, what: &str) {
    let typed: T = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{what}: does not parse as its type: {e}\n{doc:#}"));
    let again = serde_json::to_value(&typed).expect("serialise");
    let (a, b) = (normalise(doc), normalise(&again));
    if a != b {
        panic!(
            "{what}: fields lost in a typed round trip (unknown or misplaced):\n{}",
            diff_paths(
                a.as_ref().unwrap_or(&Value::Null),
                b.as_ref().unwrap_or(&Value::Null),
                ""
            )
            .join("\n")
        );
    }
}

/// The JSON pointers where two values differ (for the failure message).
fn diff_paths(a: &Value, b: &Value, at: &str) -> Vec<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter()
                .flat_map(|k| {
                    diff_paths(
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                        &format!("{at}/{k}"),
                    )
                })
                .collect()
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .flat_map(|(i, (x, y))| diff_paths(x, y, &format!("{at}/{i}")))
            .collect(),
        _ if a == b => vec![],
        _ => vec![format!("{at}: rendered {a} / typed {b}")],
    }
}

/// Every document is a kind the chart is meant to render, and parses as its type.
pub fn assert_all_typed(r: &Rendered) {
    for doc in &r.docs {
        let api = doc["apiVersion"].as_str().unwrap_or_default();
        let kind = doc["kind"].as_str().unwrap_or_default();
        let what = format!("{}: {api} {kind} {}", r.what, doc["metadata"]["name"]);
        assert!(
            doc["metadata"]["name"]
                .as_str()
                .is_some_and(|n| !n.is_empty() && n.len() <= 63),
            "{what}: bad metadata.name"
        );
        match (api, kind) {
            ("v1", "ConfigMap") => round_trip::<ConfigMap>(doc, &what),
            ("v1", "Service") => round_trip::<Service>(doc, &what),
            ("v1", "ServiceAccount") => round_trip::<ServiceAccount>(doc, &what),
            ("v1", "Pod") => round_trip::<Pod>(doc, &what),
            ("apps/v1", "Deployment") => round_trip::<Deployment>(doc, &what),
            ("policy/v1", "PodDisruptionBudget") => round_trip::<PodDisruptionBudget>(doc, &what),
            ("batch/v1", "Job") => round_trip::<Job>(doc, &what),
            ("batch/v1", "CronJob") => round_trip::<CronJob>(doc, &what),
            ("rbac.authorization.k8s.io/v1", "Role") => round_trip::<Role>(doc, &what),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
                round_trip::<RoleBinding>(doc, &what)
            }
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
                round_trip::<ClusterRole>(doc, &what)
            }
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                round_trip::<ClusterRoleBinding>(doc, &what)
            }
            ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration") => {
                round_trip::<MutatingWebhookConfiguration>(doc, &what)
            }
            ("networking.k8s.io/v1", "NetworkPolicy") => round_trip::<NetworkPolicy>(doc, &what),
            // CRDs: no k8s-openapi type; the kind and group must be the real ones.
            ("monitoring.coreos.com/v1", "ServiceMonitor") => {
                assert!(doc["spec"]["endpoints"].is_array(), "{what}: no endpoints")
            }
            ("cert-manager.io/v1", "Issuer" | "Certificate") => {
                assert!(doc["spec"].is_object(), "{what}: no spec")
            }
            _ => panic!("{what}: a kind the chart should not render"),
        }
    }
}
