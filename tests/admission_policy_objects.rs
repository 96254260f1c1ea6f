//! The exported objects themselves: they decode with k8s-openapi's types for every
//! API version they claim (losing no field), have the webhook's safety settings,
//! say in their header what they do not do, and `netdns-guard export` prints them.

use std::process::Command;

use netdns_guard::admission_policy::{self, ApiVersion, ExportOptions, LIMITATIONS};
use netdns_guard::{Engine, Policy};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn export(policy_yaml: &str, options: &ExportOptions) -> admission_policy::AdmissionPolicy {
    let engine = Engine::new(Policy::from_yaml(policy_yaml).expect("policy")).expect("engine");
    admission_policy::export(&engine, options).expect("export")
}

/// Decodes `doc` as `T` and encodes it again: the same JSON means every field is
/// one the type knows, spelt and shaped as the API has it.
fn round_trip<T: DeserializeOwned + Serialize>(doc: &Value) {
    let typed: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{e}: {doc:#}"));
    let again = serde_json::to_value(&typed).expect("encode");
    assert_eq!(
        &again,
        doc,
        "a field was lost or changed by {}",
        std::any::type_name::<T>()
    );
}

#[test]
fn the_objects_decode_with_k8s_openapi_for_every_api_version() {
    use k8s_openapi::api::admissionregistration::{v1, v1alpha1, v1beta1};
    let policy =
        "containers: all\nselectors: [{matchLabels: {app: x}}]\nskipNamespaces: [kube-system]";
    for version in [ApiVersion::V1, ApiVersion::V1beta1, ApiVersion::V1alpha1] {
        let exported = export(policy, &ExportOptions::new(version));
        assert_eq!(exported.policy["apiVersion"], version.api_version());
        assert_eq!(exported.binding["apiVersion"], version.api_version());
        match version {
            ApiVersion::V1 => {
                round_trip::<v1::MutatingAdmissionPolicy>(&exported.policy);
                round_trip::<v1::MutatingAdmissionPolicyBinding>(&exported.binding);
            }
            ApiVersion::V1beta1 => {
                round_trip::<v1beta1::MutatingAdmissionPolicy>(&exported.policy);
                round_trip::<v1beta1::MutatingAdmissionPolicyBinding>(&exported.binding);
            }
            ApiVersion::V1alpha1 => {
                round_trip::<v1alpha1::MutatingAdmissionPolicy>(&exported.policy);
                round_trip::<v1alpha1::MutatingAdmissionPolicyBinding>(&exported.binding);
            }
        }
        // A type of another version refuses the object: the apiVersion is checked.
        if version != ApiVersion::V1 {
            assert!(
                serde_json::from_value::<v1::MutatingAdmissionPolicy>(exported.policy.clone())
                    .is_err()
            );
        }
    }
}

#[test]
fn the_objects_have_the_webhooks_shape() {
    let options = ExportOptions {
        namespace: Some("netdns-guard".into()),
        ..ExportOptions::new(ApiVersion::V1)
    };
    let exported = export("", &options);
    let spec = &exported.policy["spec"];
    assert_eq!(spec["failurePolicy"], "Ignore");
    assert_eq!(spec["reinvocationPolicy"], "IfNeeded");
    assert_eq!(
        spec["matchConstraints"]["resourceRules"],
        json!([{ "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"], "scope": "Namespaced" }])
    );
    assert_eq!(
        spec["matchConstraints"]["namespaceSelector"]["matchExpressions"],
        json!([
            { "key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["netdns-guard"] },
            { "key": "netdns-guard.io/inject", "operator": "NotIn", "values": ["false"] },
        ])
    );
    let mutations = spec["mutations"].as_array().expect("mutations");
    assert_eq!(mutations.len(), 1);
    assert_eq!(mutations[0]["patchType"], "JSONPatch");
    // The mutation only builds JSONPatch values from the last variable's records:
    // all logic is in the variables the tests evaluate.
    let expression = mutations[0]["jsonPatch"]["expression"]
        .as_str()
        .expect("expression");
    assert!(
        expression
            .starts_with("variables.operations.map(o, JSONPatch{op: 'add', path: o.path, value: "),
        "{expression}"
    );
    let variables: Vec<&str> = spec["variables"]
        .as_array()
        .expect("variables")
        .iter()
        .map(|v| v["name"].as_str().expect("name"))
        .collect();
    assert_eq!(variables.last(), Some(&"operations"));
    assert_eq!(
        exported.binding["spec"],
        json!({ "policyName": "netdns-guard" })
    );
    // Without --namespace only the namespace opt-out label remains.
    let exported = export("", &ExportOptions::new(ApiVersion::V1));
    assert_eq!(
        exported.policy["spec"]["matchConstraints"]["namespaceSelector"]["matchExpressions"],
        json!([{ "key": "netdns-guard.io/inject", "operator": "NotIn", "values": ["false"] }])
    );
}

#[test]
fn the_header_says_what_a_native_policy_does_not_do() {
    for version in [ApiVersion::V1, ApiVersion::V1beta1, ApiVersion::V1alpha1] {
        let yaml = admission_policy::to_yaml(&export("", &ExportOptions::new(version)));
        let header: String = yaml
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| {
                let l = l.trim_start_matches('#').trim();
                l.strip_prefix("- ").unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join(" ");
        assert!(header.contains(version.requirement()), "{header}");
        for limitation in LIMITATIONS {
            assert!(
                header.contains(limitation),
                "missing {limitation:?} in {header}"
            );
        }
        assert!(header.contains("no warnings"), "{header}");
    }
}

#[test]
fn every_strategy_is_exported_and_bad_names_are_refused() {
    use k8s_openapi::api::admissionregistration::v1;
    for strategy in ["env", "resolver-config", "both"] {
        let exported = export(
            &format!("strategy: {strategy}"),
            &ExportOptions::new(ApiVersion::V1),
        );
        round_trip::<v1::MutatingAdmissionPolicy>(&exported.policy);
        let status = &exported.policy["spec"]["variables"]
            .as_array()
            .expect("variables")
            .iter()
            .find(|v| v["name"] == "status")
            .expect("a status variable")["expression"];
        assert!(
            status
                .as_str()
                .is_some_and(|s| s.starts_with(&format!("'{strategy}: "))),
            "{status}"
        );
    }
    let engine = Engine::new(Policy::default()).expect("engine");
    let options = ExportOptions {
        namespace: Some("Not_A_Namespace".into()),
        ..ExportOptions::new(ApiVersion::V1)
    };
    let err = admission_policy::export(&engine, &options)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("Not_A_Namespace"), "{err}");
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netdns-guard"))
}

#[test]
fn the_cli_prints_the_policy_and_the_binding() {
    let dir = std::env::temp_dir().join(format!("netdns-guard-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("policy.yaml");
    std::fs::write(
        &config,
        "overrideCgo: true\nskipNamespaces: [kube-system]\n",
    )
    .expect("policy file");
    let output = binary()
        .args([
            "export",
            "--format",
            "admission-policy",
            "--api-version",
            "v1beta1",
            "--namespace",
            "ops",
        ])
        .arg("--config")
        .arg(&config)
        .env_remove("NETDNS_GUARD_CONFIG")
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let docs: Vec<Value> = text
        .split("\n---\n")
        .skip(1)
        .map(|d| serde_saphyr::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect();
    assert_eq!(docs.len(), 2, "{text}");
    let expected = export(
        "overrideCgo: true\nskipNamespaces: [kube-system]\n",
        &ExportOptions {
            namespace: Some("ops".into()),
            ..ExportOptions::new(ApiVersion::V1beta1)
        },
    );
    assert_eq!(docs[0], expected.policy);
    assert_eq!(docs[1], expected.binding);

    let output = binary()
        .args([
            "export",
            "--format",
            "admission-policy",
            "--api-version",
            "v2",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("v2"));
    let output = binary()
        .args([
            "export",
            "--format",
            "admission-policy",
            "--namespace",
            "Bad_Name",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Bad_Name"));
    std::fs::remove_dir_all(&dir).ok();
}
