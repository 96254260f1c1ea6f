//! What a remediation variation must render, exactly: the objects of each phase
//! (hook Job, CronJob), the RBAC `netdns-guard remediate` needs and no more, the
//! hook ordering, and a pod that runs the real binary on the webhook's policy.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::{Value, json};

use crate::rbac::rules_of;
use crate::remediate::RemediateCase;
use crate::rendered::Rendered;
use crate::safety::{component, hook};
use crate::{BIN, NAMESPACE, RELEASE};

fn policy_rule(group: &str, resources: &[&str], verbs: &[&str], names: &[&str]) -> PolicyRule {
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(strings(&[group])),
        resources: Some(strings(resources)),
        verbs: strings(verbs),
        resource_names: (!names.is_empty()).then(|| strings(names)),
        non_resource_urls: None,
    }
}

/// The workload rules: the chart's copy of tests/cluster_remediate.rs's chart_rules(),
/// which proves each is needed and that together they are enough.
fn remediate_workload_rules(allow_delete: bool) -> Vec<PolicyRule> {
    let pods: &[&str] = if allow_delete {
        &["get", "list", "delete"]
    } else {
        &["get", "list"]
    };
    vec![
        policy_rule("", &["pods"], pods, &[]),
        policy_rule("", &["replicationcontrollers"], &["get"], &[]),
        policy_rule("apps", &["replicasets"], &["get"], &[]),
        policy_rule(
            "apps",
            &["deployments", "daemonsets", "statefulsets"],
            &["get", "patch"],
            &[],
        ),
        policy_rule("batch", &["jobs", "cronjobs"], &["get"], &[]),
    ]
}

fn hook_weight(doc: &Value) -> i32 {
    doc["metadata"]["annotations"]["helm.sh/hook-weight"]
        .as_str()
        .unwrap_or_else(|| panic!("no hook weight: {doc:#}"))
        .parse()
        .expect("numeric hook weight")
}

/// The remediation objects of `r` are exactly those `case` asks for, with exactly the
/// RBAC `netdns-guard remediate` needs, and a pod that runs it on the webhook's policy.
pub fn assert_remediate(r: &Rendered, case: &RemediateCase) {
    let what = &r.what;
    let docs: Vec<&Value> = r
        .docs
        .iter()
        .filter(|d| component(d) == "remediate")
        .collect();
    // Nothing else calls itself remediate, and nothing remediate lacks the label.
    assert!(
        r.docs
            .iter()
            .filter(|d| d["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.contains("remediate")))
            .count()
            == docs.len(),
        "{what}: remediate objects without the remediate component label"
    );
    let key = |d: &Value| {
        (
            d["kind"].as_str().unwrap_or_default().to_owned(),
            d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            d["metadata"]["namespace"].as_str().map(String::from),
        )
    };
    let actual: BTreeSet<_> = docs.iter().map(|d| key(d)).collect();
    assert_eq!(actual.len(), docs.len(), "{what}: duplicate objects");
    let scoped = case.namespace.is_some();
    let work_ns = case.namespace.map(String::from);
    let release_ns = Some(NAMESPACE.to_owned());
    let mut expected = BTreeSet::new();
    for (is_hook, name) in case.phases() {
        let o = |kind: &str, name: String, ns: &Option<String>| (kind.to_owned(), name, ns.clone());
        expected.extend([
            o("ServiceAccount", name.into(), &release_ns),
            o(
                if scoped { "Role" } else { "ClusterRole" },
                name.into(),
                &work_ns,
            ),
            o(
                if scoped {
                    "RoleBinding"
                } else {
                    "ClusterRoleBinding"
                },
                name.into(),
                &work_ns,
            ),
            o("ClusterRole", format!("{name}-webhook"), &None),
            o("ClusterRoleBinding", format!("{name}-webhook"), &None),
            o("Role", format!("{name}-endpoints"), &release_ns),
            o("RoleBinding", format!("{name}-endpoints"), &release_ns),
            o(
                if is_hook { "Job" } else { "CronJob" },
                name.into(),
                &release_ns,
            ),
        ]);
    }
    assert_eq!(actual, expected, "{what}: remediation objects");
    if docs.is_empty() {
        return;
    }

    let deployment = r.deployment();
    let server_pod = deployment.spec.template.spec.expect("server pod");
    let server = &server_pod.containers[0];
    let server_args = server.args.clone().unwrap_or_default();
    let server_config = server_args
        .iter()
        .position(|a| a == "--config")
        .map(|i| server_args[i + 1].clone())
        .expect("serve --config");
    let policy_cm = r.one("ConfigMap")["metadata"]["name"]
        .as_str()
        .expect("ConfigMap name")
        .to_owned();
    assert!(
        r.policy_yaml().contains("kind: Policy"),
        "{what}: policy.yaml key"
    );
    let server_cm = server_pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "config")
        .and_then(|v| v.config_map.as_ref())
        .map(|c| c.name.clone());
    assert_eq!(server_cm.as_deref(), Some(policy_cm.as_str()));

    for (is_hook, name) in case.phases() {
        let in_ns = |kind: &str, n: &str, ns: Option<&str>| {
            docs.iter()
                .copied()
                .find(|d| {
                    d["kind"] == kind
                        && d["metadata"]["name"] == n
                        && d["metadata"]["namespace"].as_str() == ns
                })
                .unwrap_or_else(|| panic!("{what}: no {kind} {n}"))
        };
        let (role_kind, binding_kind) = if scoped {
            ("Role", "RoleBinding")
        } else {
            ("ClusterRole", "ClusterRoleBinding")
        };
        let webhook_role = format!("{name}-webhook");
        let endpoints_role = format!("{name}-endpoints");

        // Exactly the rules the command needs, in the scope it needs them.
        let sa: ServiceAccount = Rendered::typed(in_ns("ServiceAccount", name, Some(NAMESPACE)));
        assert_eq!(sa.automount_service_account_token, Some(false), "{what}");
        assert_eq!(
            rules_of(in_ns(role_kind, name, case.namespace)),
            remediate_workload_rules(case.allow_delete),
            "{what}: {role_kind} {name}"
        );
        assert_eq!(
            rules_of(in_ns("ClusterRole", &webhook_role, None)),
            [policy_rule(
                "admissionregistration.k8s.io",
                &["mutatingwebhookconfigurations"],
                &["get"],
                &[RELEASE],
            )],
            "{what}: ClusterRole {webhook_role}"
        );
        assert_eq!(
            rules_of(in_ns("Role", &endpoints_role, Some(NAMESPACE))),
            [policy_rule(
                "discovery.k8s.io",
                &["endpointslices"],
                &["list"],
                &[]
            )],
            "{what}: Role {endpoints_role}"
        );
        let subject = json!([{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}]);
        for (kind, binding, ns, ref_kind) in [
            (binding_kind, name.to_owned(), case.namespace, role_kind),
            (
                "ClusterRoleBinding",
                webhook_role.clone(),
                None,
                "ClusterRole",
            ),
            (
                "RoleBinding",
                endpoints_role.clone(),
                Some(NAMESPACE),
                "Role",
            ),
        ] {
            let b = in_ns(kind, &binding, ns);
            assert_eq!(
                b["roleRef"],
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": ref_kind, "name": binding}),
                "{what}: {kind} {binding}"
            );
            assert_eq!(b["subjects"], subject, "{what}: {kind} {binding}");
        }

        // Hooks: post-install/post-upgrade; RBAC before the Job, the Job after the
        // certificate job has written the caBundle; RBAC gone after the phase, the Job
        // kept for its report. The CronJob and its RBAC are ordinary release content.
        let phase_docs: Vec<&Value> = docs
            .iter()
            .copied()
            .filter(|d| {
                d["metadata"]["name"].as_str().is_some_and(|n| {
                    n == name
                        || n.strip_prefix(name)
                            .is_some_and(|s| ["-webhook", "-endpoints"].contains(&s))
                })
            })
            .collect();
        assert_eq!(phase_docs.len(), 8, "{what}: {name}");
        let job_kind = if is_hook { "Job" } else { "CronJob" };
        let job = in_ns(job_kind, name, Some(NAMESPACE));
        if is_hook {
            let job_weight = hook_weight(job);
            if let Some(patch) = r
                .docs
                .iter()
                .find(|d| d["metadata"]["name"] == "netdns-guard-certgen-patch")
            {
                assert_eq!(hook(patch), "post-install,post-upgrade");
                assert!(
                    job_weight > hook_weight(patch),
                    "{what}: remediate must run after the caBundle is written"
                );
            }
            for d in &phase_docs {
                let id = format!("{what}: {} {}", d["kind"], d["metadata"]["name"]);
                assert_eq!(hook(d), "post-install,post-upgrade", "{id}");
                let policy = &d["metadata"]["annotations"]["helm.sh/hook-delete-policy"];
                if d["kind"] == "Job" {
                    assert_eq!(*policy, "before-hook-creation", "{id}: keep the report");
                } else {
                    assert_eq!(*policy, "before-hook-creation,hook-succeeded", "{id}");
                    assert!(hook_weight(d) < job_weight, "{id}: created before the Job");
                    if d["kind"].as_str().is_some_and(|k| k.ends_with("Binding")) {
                        let role = in_ns(
                            d["roleRef"]["kind"].as_str().unwrap(),
                            d["roleRef"]["name"].as_str().unwrap(),
                            d["metadata"]["namespace"].as_str(),
                        );
                        assert!(hook_weight(role) < hook_weight(d), "{id}: role first");
                    }
                }
            }
        } else {
            for d in &phase_docs {
                assert!(
                    d["metadata"]["annotations"].is_null(),
                    "{what}: {} {} must not be a hook",
                    d["kind"],
                    d["metadata"]["name"]
                );
            }
            let cron: CronJob = Rendered::typed(job);
            assert_eq!(cron.spec.concurrency_policy.as_deref(), Some("Forbid"));
            assert_eq!(cron.spec.schedule, "23 */6 * * *");
        }

        // The pod: its own ServiceAccount with a token, the server's image, and the
        // webhook's own policy file, at the path the server reads it from.
        let pod = match job_kind {
            "Job" => Rendered::typed::<Job>(job)
                .spec
                .and_then(|s| s.template.spec),
            _ => Rendered::typed::<CronJob>(job)
                .spec
                .job_template
                .spec
                .and_then(|s| s.template.spec),
        }
        .expect("pod spec");
        assert_eq!(pod.service_account_name.as_deref(), Some(name), "{what}");
        assert_eq!(pod.automount_service_account_token, Some(true), "{what}");
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"), "{what}");
        let c = &pod.containers[0];
        assert_eq!(c.image, server.image, "{what}: same image as the server");
        let args = c.args.clone().unwrap_or_default();
        assert_eq!(args, case.expected_args(), "{what}: {job_kind} {name} args");
        let config = args
            .iter()
            .position(|a| a == "--config")
            .map(|i| args[i + 1].clone())
            .expect("--config");
        assert_eq!(config, server_config, "{what}: the server's policy file");
        let mount = c
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| config.starts_with(&format!("{}/", m.mount_path)))
            .unwrap_or_else(|| panic!("{what}: {config} is not mounted"));
        assert_eq!(mount.read_only, Some(true));
        assert_eq!(
            Path::new(&config).file_name().and_then(|f| f.to_str()),
            Some("policy.yaml"),
            "{what}: the ConfigMap's key"
        );
        let volume = pod
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == mount.name)
            .and_then(|v| v.config_map.as_ref())
            .map(|c| c.name.clone());
        assert_eq!(volume.as_deref(), Some(policy_cm.as_str()), "{what}");

        assert_binary_accepts(what, &args);
    }
}

/// The real binary parses `args` (clap checks every flag and value before --help).
fn assert_binary_accepts(what: &str, args: &[String]) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--help")
        .env_remove("NETDNS_GUARD_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run netdns-guard");
    assert!(
        out.status.success(),
        "{what}: netdns-guard rejects {args:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scope = ["--namespace", "--all-namespaces"];
    assert_eq!(
        args.iter().filter(|a| scope.contains(&a.as_str())).count(),
        1,
        "{what}: exactly one scope flag in {args:?}"
    );
}
