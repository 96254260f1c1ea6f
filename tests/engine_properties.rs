//! Property tests of the engine over generated pods (issue 2, ARCHITECTURE.md, "The mutation contract").
//!
//! Pods are generated with the shapes that break naive mutation code: missing and
//! empty `env` lists, `env` entries without a value or with `valueFrom`, GODEBUG
//! values from a deliberately nasty generator (empty, repeated `netdns` items,
//! ` netdns=go` with a leading space, bare debug levels, explicit cgo), `envFrom`,
//! missing or empty `metadata` and `annotations`, `dnsConfig` options Go does and
//! does not know, `hostNetwork` and every `dnsPolicy`; and they are reviewed under
//! every strategy, with and without `overrideCgo`.
//!
//! For each pod the properties are the mutation contract: the patch, written out as
//! JSON and read back as the json-patch crate's type, applies; the result is still a
//! Kubernetes Pod with the same containers; GODEBUG is never duplicated and every
//! value the engine writes is safe; a second review changes nothing; and nothing
//! outside the fields the contract names is touched.

use std::collections::BTreeMap;

use netdns_guard::engine::godebug::{self, ForcedResolver};
use netdns_guard::engine::model::PodView;
use netdns_guard::{Engine, Policy, Review};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde::Deserialize;
use serde_json::Value;

mod support {
    pub mod pod_strategies;
}
use support::pod_strategies::pod;

fn policy() -> impl Strategy<Value = Policy> {
    let strategy = prop::sample::select(vec!["env", "resolver-config", "both"]);
    let containers = prop::sample::select(vec!["matching", "all"]);
    let floor = prop::sample::select(vec!["1.19", "1.20"]);
    (
        strategy,
        containers,
        floor,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(strategy, containers, floor, override_cgo, selector, skip)| {
                let mut yaml = format!(
                    "strategy: {strategy}\ncontainers: {containers}\noverrideCgo: {override_cgo}\n\
                 resolverConfig: {{goFloor: \"{floor}\"}}\n"
                );
                if selector {
                    yaml.push_str("selectors: [{matchLabels: {app: selected}}]\n");
                }
                if skip {
                    yaml.push_str("skipNamespaces: [skipped]\n");
                }
                Policy::from_yaml(&yaml).expect("generated policies are valid")
            },
        )
}

// --- running the engine ------------------------------------------------------

fn review(engine: &Engine, pod: &Value) -> Review {
    let view = PodView::deserialize(pod).expect("the engine reads every generated pod");
    engine.review(&view, None)
}

/// Applies the patch the way a client would: serialised to JSON (what the webhook
/// sends) and read back as the json-patch crate's operations.
fn apply(pod: &Value, review: &Review) -> Result<Value, String> {
    let text = serde_json::to_string(&review.patch).map_err(|e| e.to_string())?;
    let patch: json_patch::Patch =
        serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    let mut patched = pod.clone();
    json_patch::patch(&mut patched, &patch).map_err(|e| format!("{e}: {text}"))?;
    Ok(patched)
}

/// Reviews and applies, failing the case when the patch does not apply.
fn reviewed(engine: &Engine, pod: &Value) -> Result<(Review, Value), TestCaseError> {
    let review = review(engine, pod);
    let patched = apply(pod, &review)
        .map_err(|e| TestCaseError::fail(format!("patch does not apply: {e}")))?;
    Ok((review, patched))
}

// --- reading the results -----------------------------------------------------

/// `(list, index, container)` for init containers then containers, as the report
/// lists them.
fn containers(pod: &Value) -> Vec<(&'static str, usize, &Value)> {
    ["initContainers", "containers"]
        .into_iter()
        .flat_map(|list| {
            let items = pod["spec"][list]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            items.iter().enumerate().map(move |(i, c)| (list, i, c))
        })
        .collect()
}

fn env(container: &Value) -> &[Value] {
    container["env"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The GODEBUG entries of a container, in order: `Some(value)` for a literal (a
/// missing value is the empty string, as Kubernetes sets it), `None` for valueFrom.
fn godebug_entries(container: &Value) -> Vec<Option<&str>> {
    env(container)
        .iter()
        .filter(|v| v["name"] == "GODEBUG")
        .map(|v| match (&v["valueFrom"], &v["value"]) {
            (Value::Null, Value::String(s)) => Some(s.as_str()),
            (Value::Null, _) => Some(""),
            _ => None,
        })
        .collect()
}

fn k8s_pod(value: &Value) -> Result<k8s_openapi::api::core::v1::Pod, TestCaseError> {
    k8s_openapi::api::core::v1::Pod::deserialize(value)
        .map_err(|e| TestCaseError::fail(format!("not a Kubernetes Pod: {e}")))
}

/// Container names per list, from the typed Pod (so the shape is Kubernetes' own).
fn container_names(pod: &k8s_openapi::api::core::v1::Pod) -> Vec<Vec<String>> {
    let spec = pod.spec.as_ref().expect("generated pods have a spec");
    let names = |list: &[k8s_openapi::api::core::v1::Container]| {
        list.iter().map(|c| c.name.clone()).collect()
    };
    vec![
        names(spec.init_containers.as_deref().unwrap_or_default()),
        names(&spec.containers),
        spec.ephemeral_containers
            .iter()
            .flatten()
            .map(|c| c.name.clone())
            .collect(),
    ]
}

/// The pod without the fields the engine may change (ARCHITECTURE.md, "Idempotency, annotations, warnings"): containers'
/// env and volume mounts, the pod's volumes, dnsConfig options and the
/// `netdns-guard.io/*` annotations. An annotations map or metadata left empty is
/// dropped, because the engine creates them when missing.
fn outside_the_contract(pod: &Value) -> Value {
    let mut pod = pod.clone();
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        for list in ["containers", "initContainers"] {
            for c in spec
                .get_mut(list)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let c = c.as_object_mut().expect("containers are objects");
                c.remove("env");
                c.remove("volumeMounts");
            }
        }
        spec.remove("volumes");
        if let Some(dns) = spec.get_mut("dnsConfig").and_then(Value::as_object_mut) {
            dns.remove("options");
        }
    }
    if let Some(meta) = pod.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.retain(|k, _| !k.starts_with("netdns-guard.io/"));
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
        if meta.is_empty() {
            pod.as_object_mut().unwrap().remove("metadata");
        }
    }
    pod
}

/// Whether `sub` is `full` with some items removed (order kept).
fn is_subsequence(sub: &[&Value], full: &[&Value]) -> bool {
    let mut rest = full.iter();
    sub.iter()
        .all(|item| rest.any(|candidate| candidate == item))
}

// --- properties --------------------------------------------------------------

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_patch_applies_and_the_result_is_a_pod_with_the_same_containers(pod in pod(), policy in policy()) {
        let before = k8s_pod(&pod)?;
        let (_, patched) = reviewed(&Engine::new(policy).unwrap(), &pod)?;
        let after = k8s_pod(&patched)?;
        prop_assert_eq!(container_names(&before), container_names(&after));
    }

    #[test]
    fn godebug_is_never_duplicated_and_every_value_written_is_safe(pod in pod(), policy in policy()) {
        let (_, patched) = reviewed(&Engine::new(policy).unwrap(), &pod)?;
        for ((list, i, before), (_, _, after)) in containers(&pod).into_iter().zip(containers(&patched)) {
            let (old, new) = (godebug_entries(before), godebug_entries(after));
            // The engine edits an existing entry or adds one where there was none.
            let allowed = new.len() == old.len() || (old.is_empty() && new.len() == 1);
            prop_assert!(allowed, "{}[{}]: GODEBUG entries {:?} -> {:?}", list, i, old, new);
            for (j, value) in new.iter().enumerate() {
                if old.get(j) != Some(value) {
                    let value = value.unwrap_or_default();
                    prop_assert!(godebug::is_safe(value), "{}[{}]: wrote unsafe GODEBUG {:?} (was {:?})", list, i, value, old.get(j));
                }
            }
        }
    }

    #[test]
    fn every_target_container_ends_protected_unless_the_contract_says_otherwise(pod in pod(), policy in policy()) {
        let override_cgo = policy.override_cgo;
        let edits_env = policy.strategy.edits_env();
        let (review, patched) = reviewed(&Engine::new(policy).unwrap(), &pod)?;
        let targets = review.report.containers.iter().map(|c| c.target);
        for ((list, i, after), target) in containers(&patched).into_iter().zip(targets) {
            if !target || !edits_env {
                continue;
            }
            // Exceptions ("The GODEBUG merge"): a value that cannot be seen, and an explicit cgo
            // choice kept because the policy respects it.
            let Some(Some(value)) = godebug_entries(after).last().copied() else { continue };
            let effective = godebug::effective(value);
            let kept_cgo = !override_cgo
                && effective.go_1_19 == ForcedResolver::Cgo
                && effective.go_1_20 == ForcedResolver::Cgo;
            prop_assert!(godebug::is_safe(value) || kept_cgo, "{}[{}]: target left with GODEBUG {:?}", list, i, value);
        }
    }

    #[test]
    fn a_second_review_of_the_result_changes_nothing(pod in pod(), policy in policy()) {
        let engine = Engine::new(policy).unwrap();
        let (_, patched) = reviewed(&engine, &pod)?;
        let again = review(&engine, &patched);
        prop_assert!(again.patch.is_empty(), "second patch: {:?}", again.patch);
    }

    #[test]
    fn nothing_outside_the_contract_changes(pod in pod(), policy in policy()) {
        let strategy = policy.strategy;
        let (_, patched) = reviewed(&Engine::new(policy).unwrap(), &pod)?;
        prop_assert_eq!(outside_the_contract(&pod), outside_the_contract(&patched));
        for ((list, i, before), (_, _, after)) in containers(&pod).into_iter().zip(containers(&patched)) {
            // Entries other than GODEBUG are kept in order; only resolver-config may
            // remove, and only the variables that force cgo.
            let others = |c: &Value| -> Vec<Value> { env(c).iter().filter(|v| v["name"] != "GODEBUG").cloned().collect() };
            let (old, new) = (others(before), others(after));
            let new_refs: Vec<&Value> = new.iter().collect();
            let old_refs: Vec<&Value> = old.iter().collect();
            prop_assert!(is_subsequence(&new_refs, &old_refs), "{}[{}]: env {:?} -> {:?}", list, i, old, new);
            let removed: BTreeMap<&str, usize> = old.iter().filter(|v| !new.contains(v)).fold(BTreeMap::new(), |mut m, v| {
                *m.entry(v["name"].as_str().unwrap_or_default()).or_default() += 1;
                m
            });
            let removable = ["LOCALDOMAIN", "RES_OPTIONS", "HOSTALIASES"];
            prop_assert!(removed.is_empty() || (strategy.edits_resolver() && removed.keys().all(|k| removable.contains(k))),
                "{}[{}]: removed {:?} under strategy {}", list, i, removed, strategy);
            if strategy == netdns_guard::Strategy::Env {
                prop_assert_eq!(&before["volumeMounts"], &after["volumeMounts"]);
            }
        }
        if strategy == netdns_guard::Strategy::Env {
            prop_assert_eq!(&pod["spec"]["volumes"], &patched["spec"]["volumes"]);
            prop_assert_eq!(&pod["spec"]["dnsConfig"], &patched["spec"]["dnsConfig"]);
        }
    }
}
