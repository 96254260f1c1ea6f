//! Engine tests: every row of the GODEBUG table, every resolver-config rule, and the
//! patch mechanics (pointer escaping, missing lists and maps), each checked by
//! applying the patch with the json-patch crate.

use serde::Deserialize;
use serde_json::{Value, json};

use super::*;
use crate::policy::Policy;

fn engine(policy: &str) -> Engine {
    Engine::new(Policy::from_yaml(policy).unwrap()).unwrap()
}

/// Reviews `pod`, applies the patch, checks idempotency, returns both.
fn run(engine: &Engine, pod: &Value) -> (Value, Review) {
    let view = PodView::deserialize(pod).unwrap();
    let review = engine.review(&view, None);
    let mut patched = pod.clone();
    let patch: json_patch::Patch =
        serde_json::from_value(serde_json::to_value(&review.patch).unwrap()).unwrap();
    json_patch::patch(&mut patched, &patch).unwrap_or_else(|e| panic!("{e}: {:#?}", review.patch));
    let again = PodView::deserialize(&patched).unwrap();
    let second = engine.review(&again, None);
    assert!(
        second.patch.is_empty(),
        "not idempotent: {:#?}",
        second.patch
    );
    (patched, review)
}

fn loggie(env: Value) -> Value {
    let mut container = json!({ "name": "loggie", "image": "loggieio/loggie:v1.5.0" });
    if !env.is_null() {
        container["env"] = env;
    }
    json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "p", "annotations": {} }, "spec": { "containers": [container] } })
}

fn godebug_after(env: Value, policy: &str) -> (Value, Review) {
    let (pod, review) = run(&engine(policy), &loggie(env));
    (pod["spec"]["containers"][0]["env"].clone(), review)
}

#[test]
fn missing_env_list_is_added_whole() {
    let (env, review) = godebug_after(Value::Null, "");
    assert_eq!(env, json!([{ "name": "GODEBUG", "value": "netdns=go" }]));
    assert_eq!(review.patch[0].path(), "/spec/containers/0/env");
}

#[test]
fn env_without_godebug_gets_it_appended() {
    let (env, review) = godebug_after(json!([{ "name": "A", "value": "1" }]), "");
    assert_eq!(
        env,
        json!([{ "name": "A", "value": "1" }, { "name": "GODEBUG", "value": "netdns=go" }])
    );
    assert_eq!(review.patch[0].path(), "/spec/containers/0/env/-");
}

#[test]
fn empty_godebug_becomes_netdns_go() {
    let (env, _) = godebug_after(json!([{ "name": "GODEBUG", "value": "" }]), "");
    assert_eq!(env, json!([{ "name": "GODEBUG", "value": "netdns=go" }]));
    // A GODEBUG entry without `value` is the empty string too.
    let (env, _) = godebug_after(json!([{ "name": "GODEBUG" }]), "");
    assert_eq!(env, json!([{ "name": "GODEBUG", "value": "netdns=go" }]));
}

#[test]
fn other_godebug_items_are_kept_and_netdns_appended() {
    let (env, _) = godebug_after(json!([{ "name": "GODEBUG", "value": "http2client=0" }]), "");
    assert_eq!(env[0]["value"], "http2client=0,netdns=go");
}

#[test]
fn netdns_go_in_any_form_is_left_alone() {
    for value in ["netdns=go", "netdns=go+1", "netdns=2+go"] {
        let (_, review) = godebug_after(json!([{ "name": "GODEBUG", "value": value }]), "");
        assert!(review.patch.is_empty(), "{value}");
        assert_eq!(review.report.containers[0].verdict, Verdict::Protected);
    }
}

#[test]
fn bare_debug_level_becomes_go_plus_level() {
    let (env, _) = godebug_after(json!([{ "name": "GODEBUG", "value": "netdns=1" }]), "");
    assert_eq!(env[0]["value"], "netdns=go+1");
}

#[test]
fn explicit_cgo_is_kept_with_a_warning_unless_overridden() {
    for value in ["netdns=cgo", "netdns=cgo+1", "netdns=go+cgo"] {
        let (env, review) = godebug_after(json!([{ "name": "GODEBUG", "value": value }]), "");
        assert_eq!(env[0]["value"], value);
        assert!(review.patch.is_empty());
        assert!(
            review
                .report
                .warnings
                .iter()
                .any(|w| w.contains("netdns=cgo")),
            "{:?}",
            review.report.warnings
        );
    }
    let (env, _) = godebug_after(
        json!([{ "name": "GODEBUG", "value": "netdns=cgo+2" }]),
        "overrideCgo: true",
    );
    assert_eq!(env[0]["value"], "netdns=go+2");
}

#[test]
fn unknown_or_repeated_netdns_becomes_one_go_item() {
    let (env, _) = godebug_after(
        json!([{ "name": "GODEBUG", "value": "netdns=bogus+1" }]),
        "",
    );
    assert_eq!(env[0]["value"], "netdns=go+1");
    let (env, _) = godebug_after(
        json!([{ "name": "GODEBUG", "value": "a=1,netdns=cgo,netdns=go" }]),
        "",
    );
    assert_eq!(env[0]["value"], "a=1,netdns=go");
}

#[test]
fn godebug_from_value_from_is_left_with_a_warning() {
    let env = json!([{ "name": "GODEBUG", "valueFrom": { "configMapKeyRef": { "name": "c", "key": "k" } } }]);
    let (after, review) = godebug_after(env.clone(), "");
    assert_eq!(after, env);
    assert!(review.patch.is_empty());
    assert!(
        review
            .report
            .warnings
            .iter()
            .any(|w| w.contains("valueFrom"))
    );
}

#[test]
fn duplicate_godebug_edits_the_last_entry_with_a_warning() {
    let env =
        json!([{ "name": "GODEBUG", "value": "netdns=go" }, { "name": "GODEBUG", "value": "x=1" }]);
    let (after, review) = godebug_after(env, "");
    assert_eq!(after[0]["value"], "netdns=go");
    assert_eq!(after[1]["value"], "x=1,netdns=go");
    assert!(review.report.warnings.iter().any(|w| w.contains("2 times")));
}

#[test]
fn env_from_gets_godebug_and_a_warning() {
    let mut pod = loggie(Value::Null);
    pod["spec"]["containers"][0]["envFrom"] = json!([{ "configMapRef": { "name": "c" } }]);
    let (after, review) = run(&engine(""), &pod);
    assert_eq!(
        after["spec"]["containers"][0]["env"][0]["value"],
        "netdns=go"
    );
    assert!(review.report.warnings.iter().any(|w| w.contains("envFrom")));
    assert!(
        review.report.containers[0]
            .findings
            .contains(&report::Finding::EnvFromUnseen)
    );
}

#[test]
fn status_annotation_is_escaped_and_created_when_missing() {
    let mut pod = loggie(Value::Null);
    let (after, review) = run(&engine(""), &pod);
    assert_eq!(
        after["metadata"]["annotations"]["netdns-guard.io/status"],
        "env: containers loggie"
    );
    assert!(
        review
            .patch
            .iter()
            .any(|op| op.path() == "/metadata/annotations/netdns-guard.io~1status")
    );

    pod["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    let (after, review) = run(&engine(""), &pod);
    assert_eq!(
        after["metadata"]["annotations"]["netdns-guard.io/status"],
        "env: containers loggie"
    );
    assert!(
        review
            .patch
            .iter()
            .any(|op| op.path() == "/metadata/annotations")
    );

    pod.as_object_mut().unwrap().remove("metadata");
    let (after, _) = run(&engine(""), &pod);
    assert_eq!(
        after["metadata"]["annotations"]["netdns-guard.io/status"],
        "env: containers loggie"
    );
}

#[test]
fn init_containers_are_targets_and_ephemeral_containers_never() {
    let pod = json!({ "spec": {
        "initContainers": [{ "name": "init", "image": "grafana/promtail:3.0" }],
        "containers": [{ "name": "app", "image": "grafana/promtail:3.0" }],
        "ephemeralContainers": [{ "name": "debug", "image": "grafana/promtail:3.0" }],
    }});
    let (after, review) = run(&engine(""), &pod);
    assert_eq!(
        after["spec"]["initContainers"][0]["env"][0]["value"],
        "netdns=go"
    );
    assert_eq!(
        after["spec"]["containers"][0]["env"][0]["value"],
        "netdns=go"
    );
    assert!(after["spec"]["ephemeralContainers"][0].get("env").is_none());
    assert_eq!(review.report.containers.len(), 2);
}

#[test]
fn non_agents_are_reported_with_the_reason_and_left_alone() {
    let pod = json!({ "spec": { "containers": [
        { "name": "fb", "image": "cr.fluentbit.io/fluent/fluent-bit:3.0" },
        { "name": "x", "image": "busybox" },
    ]}});
    let (after, review) = run(&engine(""), &pod);
    assert_eq!(after, pod);
    let fb = &review.report.containers[0];
    assert_eq!(fb.verdict, Verdict::NotAtRisk);
    assert!(fb.agent.as_ref().unwrap().reason.contains("C"));
    assert_eq!(review.report.containers[1].verdict, Verdict::Unknown);
    assert_eq!(review.report.targeting, report::Targeting::NoAgent);
}

#[test]
fn nothing_outside_the_contract_is_touched() {
    let pod = json!({
        "metadata": { "name": "p", "labels": { "a": "b" }, "annotations": { "keep": "me" } },
        "spec": {
            "nodeSelector": { "x": "y" },
            "containers": [{ "name": "l", "image": "loggieio/loggie", "args": ["-x"], "env": [{ "name": "A", "value": "1" }] }],
        },
        "status": { "phase": "Pending" },
    });
    let (after, review) = run(&engine(""), &pod);
    for op in &review.patch {
        let p = op.path();
        assert!(
            p.starts_with("/spec/containers/0/env")
                || p.starts_with("/metadata/annotations/netdns-guard.io"),
            "{p}"
        );
    }
    assert_eq!(after["status"], pod["status"]);
    assert_eq!(after["metadata"]["annotations"]["keep"], "me");
}

// --- resolver-config ---------------------------------------------------------

fn dns_pod(options: Value, env: Value) -> Value {
    json!({ "metadata": { "name": "p" }, "spec": {
        "dnsPolicy": "None",
        "dnsConfig": { "nameservers": ["1.1.1.1"], "options": options },
        "containers": [{ "name": "beat", "image": "docker.elastic.co/beats/filebeat:8.15.0", "env": env }],
    }})
}

#[test]
fn resolver_config_drops_and_rewrites_unknown_options_at_the_go_floor() {
    let options = json!([
        { "name": "ndots", "value": "2" }, { "name": "edns0" }, { "name": "rotate", "value": "1" },
        { "name": "inet6" }, { "name": "ndots" }, { "name": "timeout", "value": "3" },
    ]);
    let (after, review) = run(
        &engine("strategy: resolver-config"),
        &dns_pod(options.clone(), json!([])),
    );
    assert_eq!(
        after["spec"]["dnsConfig"]["options"],
        json!([{ "name": "ndots", "value": "2" }, { "name": "rotate" }, { "name": "timeout", "value": "3" }])
    );
    assert_eq!(
        after["spec"]["dnsConfig"]["nameservers"],
        json!(["1.1.1.1"])
    );
    assert!(
        review
            .report
            .dns_changes
            .contains(&Change::DnsOptionRemoved {
                option: "edns0".into()
            })
    );
    // GODEBUG is not this strategy's business.
    assert_eq!(
        after["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let (after, _) = run(
        &engine("strategy: resolver-config\nresolverConfig: {goFloor: \"1.20\"}"),
        &dns_pod(options, json!([])),
    );
    assert_eq!(
        after["spec"]["dnsConfig"]["options"][1],
        json!({ "name": "edns0" })
    );
}

#[test]
fn resolver_config_removes_resolver_env_vars() {
    let env = json!([
        { "name": "LOCALDOMAIN", "value": "" }, { "name": "KEEP", "value": "1" },
        { "name": "RES_OPTIONS", "value": "" }, { "name": "HOSTALIASES", "value": "/h" },
        { "name": "RES_OPTIONS", "valueFrom": { "fieldRef": { "fieldPath": "x" } } },
    ]);
    let (after, review) = run(
        &engine("strategy: resolver-config"),
        &dns_pod(json!([]), env),
    );
    let names: Vec<&str> = after["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["KEEP", "RES_OPTIONS"]);
    let findings = &review.report.containers[0].findings;
    assert!(findings.contains(&report::Finding::LocaldomainSet));
    assert!(findings.contains(&report::Finding::HostaliasesSet));
}

#[test]
fn resolver_config_mounts_a_safe_nsswitch_from_the_pods_own_annotation() {
    let (after, review) = run(
        &engine("strategy: resolver-config"),
        &dns_pod(json!([]), json!([])),
    );
    let mount = &after["spec"]["containers"][0]["volumeMounts"][0];
    assert_eq!(mount["mountPath"], "/etc/nsswitch.conf");
    assert_eq!(mount["subPath"], "nsswitch.conf");
    let volume = &after["spec"]["volumes"][0];
    assert_eq!(
        volume["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"],
        "metadata.annotations['netdns-guard.io/nsswitch']"
    );
    let content = after["metadata"]["annotations"]["netdns-guard.io/nsswitch"]
        .as_str()
        .unwrap();
    assert!(content.contains("hosts: files dns\n") && !content.contains('\t'));
    assert!(review.report.warnings.iter().any(|w| w.contains(".local")));
}

#[test]
fn resolver_config_leaves_an_owners_nsswitch_mount_alone() {
    let mut pod = dns_pod(json!([]), json!([]));
    pod["spec"]["containers"][0]["volumeMounts"] =
        json!([{ "name": "mine", "mountPath": "/etc/nsswitch.conf" }]);
    let (after, review) = run(&engine("strategy: resolver-config"), &pod);
    assert_eq!(
        after["spec"]["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(after["spec"].get("volumes").is_none());
    assert!(
        review
            .report
            .warnings
            .iter()
            .any(|w| w.contains("already mounts"))
    );
}

#[test]
fn resolver_config_reports_what_it_cannot_fix() {
    let pod = json!({ "spec": { "hostNetwork": true, "containers": [{ "name": "p", "image": "grafana/promtail" }] } });
    let (_, review) = run(&engine("strategy: resolver-config"), &pod);
    assert!(
        review
            .report
            .warnings
            .iter()
            .any(|w| w.contains("node's resolv.conf"))
    );
    assert!(matches!(
        review.report.dns[0],
        report::Finding::NodeResolvConf { .. }
    ));
}

#[test]
fn both_strategies_together_are_idempotent() {
    let env = json!([{ "name": "LOCALDOMAIN", "value": "x" }, { "name": "GODEBUG", "value": "a=1" }, { "name": "B", "value": "2" }]);
    let (after, _) = run(
        &engine("strategy: both"),
        &dns_pod(json!([{ "name": "trust-ad" }]), env),
    );
    let env = &after["spec"]["containers"][0]["env"];
    assert_eq!(
        env,
        &json!([{ "name": "GODEBUG", "value": "a=1,netdns=go" }, { "name": "B", "value": "2" }])
    );
    assert_eq!(after["spec"]["dnsConfig"]["options"], json!([]));
}

/// The apiserver's length limit is applied where warnings are sent (the webhook's
/// `admission` module, which has the test that they stay under it); the report
/// keeps every word for the command line.
#[test]
fn warnings_keep_their_whole_text() {
    let long = "x".repeat(63);
    let pod = json!({ "spec": { "containers": [{ "name": long, "image": "loggieio/loggie",
        "env": [{ "name": "GODEBUG", "value": "netdns=cgo" }, { "name": "GODEBUG", "value": "netdns=cgo" }] }] } });
    let (_, review) = run(&engine(""), &pod);
    assert!(!review.report.warnings.is_empty());
    for w in &review.report.warnings {
        assert!(w.contains(&long), "{w}");
        assert!(!w.ends_with('…'), "{w}");
    }
    assert!(
        review
            .report
            .warnings
            .iter()
            .any(|w| w.chars().count() >= 120),
        "{:?}",
        review.report.warnings
    );
}

#[test]
fn loggie_targets_carry_the_os_user_caveat() {
    let (_, review) = godebug_after(Value::Null, "");
    assert!(
        review.report.warnings.iter().any(|w| w.contains("os/user")),
        "{:?}",
        review.report.warnings
    );
}

#[test]
fn cgo_conditions_of_target_pods_are_named_in_warnings() {
    let env = json!([{ "name": "LOCALDOMAIN", "value": "" }]);
    let mut pod = dns_pod(json!([{ "name": "edns0" }]), env);
    pod["spec"]["dnsPolicy"] = json!("Default");
    let (_, review) = run(&engine(""), &pod);
    let warnings = review.report.warnings.join("\n");
    assert!(warnings.contains("LOCALDOMAIN"), "{warnings}");
    assert!(warnings.contains("edns0"), "{warnings}");
    assert!(warnings.contains("node's resolv.conf"), "{warnings}");
    // A pod nobody targets gets no such warnings.
    pod["spec"]["containers"][0]["image"] = json!("nginx");
    let (_, review) = run(&engine(""), &pod);
    assert!(
        review.report.warnings.is_empty(),
        "{:?}",
        review.report.warnings
    );
}

/// A policy whose only addition is a pure-Go entry pinned to `DIGEST` for Loggie,
/// which the built-in catalog calls at risk.
fn pinned_pure_loggie() -> Engine {
    engine(&format!(
        "catalog: {{add: [{{id: read, name: Read, risk: pure-go, reason: read, images: [\"loggieio/loggie@{DIGEST}\"]}}]}}"
    ))
}

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn a_pinned_entry_decides_only_for_its_digest() {
    let engine = pinned_pure_loggie();
    // A tag falls through to the built-in catalog: at risk, changed.
    let (_, review) = run(&engine, &loggie(Value::Null));
    assert_eq!(review.report.containers[0].verdict, Verdict::AtRisk);
    assert!(!review.patch.is_empty());
    // The pinned image, by digest or tag and digest, is the pure-Go build.
    for image in [
        format!("loggieio/loggie@{DIGEST}"),
        format!("loggieio/loggie:v1.5.0@{DIGEST}"),
    ] {
        let mut pod = loggie(Value::Null);
        pod["spec"]["containers"][0]["image"] = json!(image);
        let (_, review) = run(&engine, &pod);
        let container = &review.report.containers[0];
        assert_eq!(container.verdict, Verdict::NotAtRisk, "{image}");
        assert_eq!(
            container.agent.as_ref().map(|a| a.id.as_str()),
            Some("read")
        );
        assert!(review.patch.is_empty(), "{image}");
    }
}

#[test]
fn a_running_digest_classifies_the_container_and_the_report_keeps_the_pods_image() {
    let engine = pinned_pure_loggie();
    let pod = loggie(Value::Null);
    let view = PodView::deserialize(&pod).unwrap();
    let review = engine.review_running(&view, None, &[("loggie", DIGEST)]);
    let container = &review.report.containers[0];
    assert_eq!(container.verdict, Verdict::NotAtRisk);
    assert_eq!(container.image.as_deref(), Some("loggieio/loggie:v1.5.0"));
    assert!(review.patch.is_empty());
    // Another container's digest, or none, leaves the tag to the built-in catalog.
    let other = engine.review_running(&view, None, &[("sidecar", DIGEST)]);
    assert_eq!(other.report.containers[0].verdict, Verdict::AtRisk);
    assert_eq!(other, engine.review(&view, None));
}
