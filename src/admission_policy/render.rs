//! The policy and binding objects, and their YAML with the header that says what a
//! native policy does not do.

use netdns_guard_engine::policy::Policy;
use serde_json::{Value, json};

use super::variables::{self, Named};
use super::{AdmissionPolicy, ExportOptions, LIMITATIONS};

/// Builds both objects from the compiled variables.
pub(super) fn objects(
    options: &ExportOptions,
    policy: &Policy,
    variables: &[Named],
) -> AdmissionPolicy {
    let api_version = options.api_version.api_version();
    let labels = json!({
        "app.kubernetes.io/name": "netdns-guard",
        "app.kubernetes.io/component": "admission-policy",
    });
    let named = |list: &[Named]| -> Vec<Value> {
        list.iter()
            .map(|n| json!({ "name": n.name, "expression": n.expression }))
            .collect()
    };
    let policy = json!({
        "apiVersion": api_version,
        "kind": "MutatingAdmissionPolicy",
        "metadata": { "name": options.name, "labels": labels },
        "spec": {
            // Never deny and never stall a pod: on any error it is admitted unchanged.
            "failurePolicy": "Ignore",
            // Run again after later mutations; the result is a fixed point.
            "reinvocationPolicy": "IfNeeded",
            "matchConstraints": {
                "resourceRules": [{
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "resources": ["pods"],
                    "operations": ["CREATE"],
                    "scope": "Namespaced",
                }],
                "matchPolicy": "Equivalent",
                "namespaceSelector": { "matchExpressions": namespace_expressions(options) },
            },
            "matchConditions": named(&variables::match_conditions()),
            "variables": named(variables),
            "mutations": [{
                "patchType": "JSONPatch",
                "jsonPatch": { "expression": variables::mutation(policy) },
            }],
        },
    });
    let binding = json!({
        "apiVersion": api_version,
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": { "name": options.name, "labels": labels },
        "spec": { "policyName": options.name },
    });
    AdmissionPolicy {
        api_version: options.api_version,
        policy,
        binding,
    }
}

/// The namespaces the webhook is never called for: the install's own, and those
/// labelled `netdns-guard.io/inject=false`.
fn namespace_expressions(options: &ExportOptions) -> Vec<Value> {
    let mut expressions = Vec::new();
    if let Some(ns) = &options.namespace {
        expressions.push(json!({
            "key": "kubernetes.io/metadata.name",
            "operator": "NotIn",
            "values": [ns],
        }));
    }
    expressions.push(json!({
        "key": "netdns-guard.io/inject",
        "operator": "NotIn",
        "values": ["false"],
    }));
    expressions
}

/// The objects as one YAML stream, after a header naming the API version's
/// requirements and everything the webhook does that this does not.
pub fn to_yaml(exported: &AdmissionPolicy) -> String {
    let version = exported.api_version;
    let mut out = String::new();
    out.push_str(concat!(
        "# netdns-guard as a native MutatingAdmissionPolicy and its binding: the apiserver\n",
        "# applies the fix itself, with the webhook's targeting, edits and\n",
        "# netdns-guard.io/status annotation, and no webhook, Service or certificate on\n",
        "# the pod path.\n",
    ));
    out.push_str(&format!(
        "# {}: needs {}.\n",
        version.api_version(),
        version.requirement()
    ));
    out.push_str("# What it does not do, unlike the webhook:\n");
    for limitation in LIMITATIONS {
        out.push_str(&wrap_comment(limitation));
    }
    out.push_str("---\n");
    out.push_str(&crate::dryrun::to_yaml(&exported.policy));
    out.push_str("---\n");
    out.push_str(&crate::dryrun::to_yaml(&exported.binding));
    out
}

/// A bulleted comment wrapped at about 88 columns.
fn wrap_comment(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::from("#   -");
    for word in text.split(' ') {
        if line.len() + 1 + word.len() > 88 && line.len() > 5 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#    ");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}
