//! How the exported policy's CEL cost grows with a pod's size, and that pods far
//! beyond real ones stay within the apiserver's budgets (tests/support/cel_cost.rs
//! says how the estimate is made).
//!
//! The apiserver stops an expression whose runtime cost passes 1,000,000
//! (`PerCallLimit`) and a policy evaluation whose expressions together pass
//! 10,000,000 (`RuntimeCELCostBudget`); with `failurePolicy: Ignore` the pod is
//! then admitted unchanged, as when a webhook is down. Kubernetes limits neither
//! the number of containers nor of env entries, only the request's size (3 MiB), so
//! the test states the largest sizes it proves, and prints a table of the growth.

mod support {
    pub mod cel_cost;
}

use netdns_guard::admission_policy::{self, ApiVersion, ExportOptions};
use netdns_guard::{Engine, Policy};
use serde_json::Value;
use support::cel_cost::{PodSize, estimate};

const PER_EXPRESSION: u64 = 1_000_000;
const PER_EVALUATION: u64 = 10_000_000;

/// Every expression of the exported policy: match conditions, variables, mutation.
fn expressions(policy_yaml: &str) -> Vec<(String, String)> {
    let engine = Engine::new(Policy::from_yaml(policy_yaml).expect("policy")).expect("engine");
    let exported =
        admission_policy::export(&engine, &ExportOptions::new(ApiVersion::V1)).expect("export");
    let spec = &exported.policy["spec"];
    let named = |list: &Value| -> Vec<(String, String)> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|v| {
                (
                    v["name"].as_str().unwrap_or_default().to_owned(),
                    v["expression"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let mut all = named(&spec["matchConditions"]);
    all.extend(named(&spec["variables"]));
    all.push((
        "mutation".into(),
        spec["mutations"][0]["jsonPatch"]["expression"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    ));
    all
}

fn size(containers: u64, env: u64) -> PodSize {
    PodSize {
        init_containers: containers.div_ceil(4),
        containers,
        env_per_container: env,
        string_len: 128,
        annotations: 20,
        split_items: 16,
    }
}

/// (largest single expression and its name, total) for a pod of `size`.
fn costs(policy_yaml: &str, size: PodSize) -> ((u64, String), u64) {
    let costs = estimate(&expressions(policy_yaml), size);
    let total = costs.iter().map(|(_, c)| c).sum();
    let (name, max) = costs
        .into_iter()
        .max_by_key(|(_, c)| *c)
        .expect("expressions");
    ((max, name), total)
}

const POLICY: &str =
    "containers: all\nselectors: [{matchLabels: {app: x}}]\nskipNamespaces: [kube-system]";

#[test]
fn cost_grows_linearly_with_env_entries_and_at_most_quadratically_with_containers() {
    eprintln!("containers  env/container  largest expression           total");
    for containers in [1, 10, 100] {
        for env in [1, 10, 100] {
            let ((max, name), total) = costs(POLICY, size(containers, env));
            eprintln!("{containers:>10}  {env:>13}  {max:>10} ({name:<14})  {total:>10}");
        }
    }
    for containers in [4, 16, 64] {
        for env in [4, 16, 64] {
            let (_, base) = costs(POLICY, size(containers, env));
            let (_, more_env) = costs(POLICY, size(containers, env * 2));
            let (_, more_containers) = costs(POLICY, size(containers * 2, env));
            assert!(
                more_env > base && more_env * 10 <= base * 21,
                "env x2: {base} -> {more_env}"
            );
            assert!(
                more_containers > base && more_containers <= base * 4,
                "containers x2: {base} -> {more_containers}"
            );
        }
    }
}

#[test]
fn pods_far_beyond_real_ones_stay_within_the_budgets() {
    // 100 containers (and 25 init containers) of 100 env entries each, every string
    // 128 characters: about 3.3 MB of JSON, the size of the largest request the
    // apiserver accepts; real agents run one to five containers.
    for policy in [
        "",
        POLICY,
        "overrideCgo: true",
        "strategy: both\ncontainers: all",
    ] {
        let ((max, name), total) = costs(policy, size(100, 100));
        eprintln!(
            "125 containers x 100 env, policy {policy:?}: largest {max} ({name}), total {total}"
        );
        assert!(max < PER_EXPRESSION, "{name}: {max} for policy {policy:?}");
        assert!(
            total < PER_EVALUATION,
            "total {total} for policy {policy:?}"
        );
    }
    // Where the per-expression budget runs out, for the README's figure.
    let mut containers = 100;
    while costs(POLICY, size(containers * 2, 100)).0.0 < PER_EXPRESSION {
        containers *= 2;
    }
    eprintln!("with 100 env entries each, the budget holds up to at least {containers} containers");
}

/// What Kubernetes 1.31 (the library set a new expression on 1.32 is checked
/// against) offers that the policy may call: the standard operators and macros,
/// `string`/`int`/`dyn`, the strings extension (version 2), the list library's
/// `indexOf`/`lastIndexOf`, the regex library's `find`, and `JSONPatch` values. Not
/// `cel.bind`, two-variable comprehensions, the lists extension or optionals.
const KUBERNETES_1_31: &[&str] = &[
    "_&&_",
    "_||_",
    "!_",
    "_==_",
    "_!=_",
    "_<_",
    "_<=_",
    "_>_",
    "_>=_",
    "_+_",
    "_-_",
    "_?_:_",
    "_[_]",
    "@in",
    "@not_strictly_false",
    "size",
    "string",
    "int",
    "dyn",
    "matches",
    "contains",
    "startsWith",
    "endsWith",
    "split",
    "join",
    "substring",
    "indexOf",
    "lastIndexOf",
    "trim",
    "lowerAscii",
    "find",
    "struct JSONPatch",
];

#[test]
fn only_functions_kubernetes_1_31_has_are_called() {
    for policy in [
        "",
        POLICY,
        "overrideCgo: true",
        "strategy: both\nresolverConfig: {goFloor: \"1.20\"}",
        "strategy: resolver-config",
    ] {
        for (name, expression) in expressions(policy) {
            for function in support::cel_cost::functions(&expression) {
                assert!(
                    KUBERNETES_1_31.contains(&function.as_str()),
                    "{name} calls {function}, which Kubernetes 1.31 lacks (policy {policy:?})"
                );
            }
        }
    }
}
