//! The Helm chart (`charts/netdns-guard`, ARCHITECTURE.md, "The Helm chart", issue 4), checked with
//! real Helm 3 and Helm 4:
//!
//! - `helm lint --strict` passes for every certificate mode and fails on bad values
//!   (values.schema.json);
//! - every document `helm template` renders, in every mode and variation, is a known
//!   kind that parses as its k8s-openapi type with no unknown or misspelt field (the
//!   typed value, serialised again, must equal what Helm rendered), CRD kinds aside;
//! - the safety defaults hold: failurePolicy Ignore, sideEffects None, a short
//!   timeout, reinvocation, pods CREATE only, the own namespace and opted-out
//!   namespaces excluded, hardened pods, two replicas with a PDB and spread, probes on
//!   the plain-HTTP port, a checksum that rolls pods on policy change, and RBAC with
//!   no wildcard and resourceNames wherever Kubernetes allows them;
//! - the optional remediation Job and CronJob (`netdns-guard remediate`, off by
//!   default) have exactly the RBAC the command needs, the right hook annotations, and
//!   arguments the real binary accepts;
//! - the matchConditions CEL (rendered from Kubernetes 1.28 on) is evaluated with a
//!   CEL interpreter against pods and compared with the engine itself: it must let
//!   every pod the engine would change reach the webhook.
//!
//! Helm comes from `scripts/install-helm.sh` (`target/tools/helm{3,4}`) or
//! `NETDNS_HELM3` / `NETDNS_HELM4`; without it the tests skip, unless
//! `NETDNS_GUARD_REQUIRE_TOOLS=1` (CI) makes that a failure.

#![cfg(unix)]

mod support {
    pub mod helm;
}

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use support::helm::find_helm;

use k8s_openapi::api::admissionregistration::v1::{MutatingWebhook, MutatingWebhookConfiguration};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodSpec, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use netdns_guard::engine::catalog::{Risk, builtin_entries};
use netdns_guard::engine::model::PodView;
use netdns_guard::{Engine, Policy};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const RELEASE: &str = "netdns-guard";
const NAMESPACE: &str = "netdns-guard";
const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const BIN: &str = env!("CARGO_BIN_EXE_netdns-guard");

fn chart_dir() -> PathBuf {
    Path::new(MANIFEST_DIR).join("charts/netdns-guard")
}

// ---------------------------------------------------------------------------
// Helm (same discovery and confinement as tests/helm_post_renderer.rs)

/// Both Helm majors that are available (each test runs against every one).
fn helms() -> Vec<Helm> {
    [3, 4]
        .into_iter()
        .filter_map(|major| find_helm(major).map(|path| Helm::new(major, path)))
        .collect()
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "netdns-guard-chart-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
        ));
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One helm binary with its own throwaway HELM_* homes.
struct Helm {
    major: u8,
    path: PathBuf,
    home: TempDir,
}

impl Helm {
    fn new(major: u8, path: PathBuf) -> Self {
        Helm {
            major,
            path,
            home: TempDir::new(&format!("helm{major}")),
        }
    }

    fn cmd(&self) -> Command {
        let h = &self.home.0;
        let mut cmd = Command::new(&self.path);
        cmd.env("HELM_CONFIG_HOME", h.join("config"))
            .env("HELM_DATA_HOME", h.join("data"))
            .env("HELM_CACHE_HOME", h.join("cache"))
            .env("HELM_PLUGINS", h.join("data").join("plugins"))
            .env("HELM_REPOSITORY_CONFIG", h.join("config/repositories.yaml"))
            .env("HELM_REPOSITORY_CACHE", h.join("cache/repository"))
            .env("HELM_REGISTRY_CONFIG", h.join("config/registry.json"))
            .env("KUBECONFIG", h.join("no-kubeconfig"))
            .env_remove("HELM_DEBUG")
            .env_remove("HELM_NAMESPACE")
            .env_remove("HELM_KUBECONTEXT")
            .stdin(Stdio::null());
        cmd
    }

    /// Writes `yaml` as a values file in this helm's home and returns its path.
    fn values_file(&self, yaml: &str) -> PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = self
            .home
            .0
            .join(format!("values-{}.yaml", N.fetch_add(1, Ordering::Relaxed)));
        fs::write(&path, yaml).expect("write values file");
        path
    }

    fn lint(&self, args: &[String]) -> Output {
        self.cmd()
            .arg("lint")
            .arg("--strict")
            .arg(chart_dir())
            .args(args)
            .output()
            .expect("run helm lint")
    }

    fn template_raw(&self, args: &[String]) -> Output {
        self.cmd()
            .args(["template", RELEASE])
            .arg(chart_dir())
            .args(["--namespace", NAMESPACE])
            .args(args)
            .output()
            .expect("run helm template")
    }

    /// `helm template` that must succeed; the documents as JSON values.
    fn template(&self, args: &[String]) -> Rendered {
        let out = self.template_raw(args);
        assert!(
            out.status.success(),
            "helm{} template {args:?} failed:\n{}",
            self.major,
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("helm output is UTF-8");
        let docs: Vec<Option<Value>> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("helm{} output is not YAML: {e}\n{text}", self.major));
        let docs: Vec<Value> = docs
            .into_iter()
            .flatten()
            .filter(|d| !d.is_null())
            .collect();
        assert!(!docs.is_empty(), "nothing rendered for {args:?}");
        Rendered {
            what: format!("helm{} template {}", self.major, args.join(" ")),
            docs,
        }
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------
// Rendered documents

struct Rendered {
    what: String,
    docs: Vec<Value>,
}

impl Rendered {
    fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.docs.iter().filter(|d| d["kind"] == kind).collect()
    }

    fn one(&self, kind: &str) -> &Value {
        let all = self.of_kind(kind);
        assert_eq!(
            all.len(),
            1,
            "{}: expected one {kind}, got {}",
            self.what,
            all.len()
        );
        all[0]
    }

    fn named(&self, kind: &str, name: &str) -> &Value {
        self.docs
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{}: no {kind} {name}", self.what))
    }

    fn typed<T: DeserializeOwned>(doc: &Value) -> T {
        serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{e}: {doc:#}"))
    }

    fn webhook(&self) -> MutatingWebhook {
        let config: MutatingWebhookConfiguration =
            Self::typed(self.one("MutatingWebhookConfiguration"));
        let hooks = config.webhooks.expect("webhooks");
        assert_eq!(hooks.len(), 1, "{}: one webhook expected", self.what);
        hooks.into_iter().next().expect("one webhook")
    }

    fn deployment(&self) -> Deployment {
        Self::typed(self.one("Deployment"))
    }

    fn policy_yaml(&self) -> String {
        let cm: ConfigMap = Self::typed(self.one("ConfigMap"));
        cm.data.expect("data")["policy.yaml"].clone()
    }

    fn match_conditions(&self) -> Option<Vec<(String, String)>> {
        self.webhook()
            .match_conditions
            .map(|list| list.into_iter().map(|c| (c.name, c.expression)).collect())
    }

    /// Every pod spec the chart runs, with where it is.
    fn pod_specs(&self) -> Vec<(String, PodSpec)> {
        let mut specs = Vec::new();
        for doc in &self.docs {
            let name = format!("{} {}", doc["kind"], doc["metadata"]["name"]);
            let spec = match doc["kind"].as_str() {
                Some("Deployment") => Self::typed::<Deployment>(doc).spec.template.spec,
                Some("Job") => Self::typed::<Job>(doc).spec.and_then(|s| s.template.spec),
                Some("CronJob") => Self::typed::<CronJob>(doc)
                    .spec
                    .job_template
                    .spec
                    .and_then(|s| s.template.spec),
                Some("Pod") => Self::typed::<Pod>(doc).spec,
                _ => continue,
            };
            specs.push((
                name.clone(),
                spec.unwrap_or_else(|| panic!("{name}: no pod spec")),
            ));
        }
        specs
    }
}

// ---------------------------------------------------------------------------
// Typed parsing with no unknown fields

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
fn assert_all_typed(r: &Rendered) {
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

// ---------------------------------------------------------------------------
// Safety defaults

/// The app.kubernetes.io/component label ("webhook", "certgen", "remediate", ...).
fn component(doc: &Value) -> &str {
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

    let sleep = c
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .and_then(|p| p.sleep.as_ref())
        .map(|s| s.seconds);
    if kube_minor >= 30 {
        let sleep = sleep.unwrap_or_else(|| panic!("{what}: no preStop sleep on 1.{kube_minor}"));
        let grace = pod
            .termination_grace_period_seconds
            .expect("terminationGracePeriodSeconds");
        let drain: i64 = arg_after("--grace-period-seconds").parse().unwrap();
        assert!(
            sleep > 0 && grace > sleep + drain,
            "{what}: grace {grace} <= sleep {sleep} + drain {drain}"
        );
    } else {
        assert!(
            sleep.is_none(),
            "{what}: preStop sleep rendered for 1.{kube_minor}"
        );
    }

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

/// What a Role or ClusterRole allows.
fn rules_of(doc: &Value) -> Vec<PolicyRule> {
    match doc["kind"].as_str() {
        Some("Role") => Rendered::typed::<Role>(doc).rules.unwrap_or_default(),
        Some("ClusterRole") => Rendered::typed::<ClusterRole>(doc)
            .rules
            .unwrap_or_default(),
        _ => unreachable!(),
    }
}

fn assert_rbac_least_privilege(r: &Rendered) {
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

/// Everything that holds whatever the mode or variation.
fn assert_common(r: &Rendered, kube_minor: u32) {
    assert_all_typed(r);
    assert_labels_and_namespaces(r);
    assert_webhook_safety(r);
    assert_pods_hardened(r);
    assert_deployment(r, kube_minor);
    assert_rbac_least_privilege(r);
    Policy::from_yaml(&r.policy_yaml())
        .unwrap_or_else(|e| panic!("{}: policy ConfigMap: {e}", r.what));
}

fn tls_volume_secret(r: &Rendered) -> String {
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

fn hook(doc: &Value) -> &str {
    doc["metadata"]["annotations"]["helm.sh/hook"]
        .as_str()
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Tests: lint and schema

fn provided_args(helm: &Helm) -> Vec<String> {
    let values = helm.values_file(
        "certs:\n  mode: provided\n  existingSecret: my-webhook-tls\n  caBundle: |\n    -----BEGIN CERTIFICATE-----\n    MIIBszCCAVmgAwIBAgIUBogus\n    -----END CERTIFICATE-----\n",
    );
    vec!["-f".into(), values.display().to_string()]
}

#[test]
fn lint_strict_passes_in_every_mode() {
    for helm in helms() {
        let mut cases = vec![
            vec![],
            args(&["--set", "certs.mode=cert-manager"]),
            args(&[
                "--set",
                "certs.mode=cert-manager",
                "--set",
                "certs.certManager.issuerRef.name=corp",
                "--set",
                "certs.certManager.issuerRef.kind=ClusterIssuer",
            ]),
            args(&[
                "--set",
                "metrics.serviceMonitor.enabled=true",
                "--set",
                "networkPolicy.enabled=true",
                "--set",
                "tests.mutationNamespace=e2e",
            ]),
            args(&["--set", "webhook.matchConditions.enabled=false"]),
            args(&[
                "--set",
                "remediate.onInstall=true",
                "--set",
                "remediate.cronJob.enabled=true",
            ]),
            args(&[
                "--set",
                "remediate.onInstall=true",
                "--set",
                "remediate.cronJob.enabled=true",
                "--set",
                "remediate.namespace=logging",
                "--set",
                "remediate.allowDelete=true",
            ]),
        ];
        cases.push(provided_args(&helm));
        for case in cases {
            let out = helm.lint(&case);
            assert!(
                out.status.success(),
                "helm{} lint --strict {case:?} failed:\n{}{}",
                helm.major,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn bad_values_are_rejected_by_the_schema() {
    for helm in helms() {
        let provided_no_bundle = helm.values_file("certs: {mode: provided, existingSecret: x}\n");
        let cases: Vec<(Vec<String>, &str)> = vec![
            (args(&["--set", "certs.mode=bogus"]), "mode"),
            (
                args(&["--set", "webhook.timeoutSeconds=30"]),
                "timeoutSeconds",
            ),
            (
                args(&["--set", "webhook.timeoutSeconds=0"]),
                "timeoutSeconds",
            ),
            (args(&["--set", "certs.mode=provided"]), "caBundle"),
            (
                vec!["-f".into(), provided_no_bundle.display().to_string()],
                "caBundle",
            ),
            (args(&["--set", "replicaCount=0"]), "replicaCount"),
            (args(&["--set", "replicaCount=two"]), "replicaCount"),
            (args(&["--set", "unknownTopLevel=1"]), "unknownTopLevel"),
            (args(&["--set", "certs.bogus=1"]), "bogus"),
            (args(&["--set", "policy.strategy=bogus"]), "strategy"),
            (args(&["--set", "policy.strategee=env"]), "strategee"),
            (
                args(&["--set", "policy.resolverConfig.goFloor=1.18"]),
                "goFloor",
            ),
            (
                args(&["--set", "webhook.matchConditions.enabled=maybe"]),
                "enabled",
            ),
            (args(&["--set", "image.digest=latest"]), "digest"),
            (args(&["--set", "image.pullPolicy=Sometimes"]), "pullPolicy"),
            (args(&["--set", "server.logFormat=xml"]), "logFormat"),
            (
                args(&["--set", "policy.selectors[0].matchLabels=null"]),
                "selectors",
            ),
            (args(&["--set", "remediate.bogus=1"]), "bogus"),
            (args(&["--set", "remediate.onInstall=yes"]), "onInstall"),
            (
                args(&["--set", "remediate.cronJob.enabled=maybe"]),
                "enabled",
            ),
            (args(&["--set", "remediate.maxParallel=0"]), "maxParallel"),
            (args(&["--set", "remediate.timeout=5minutes"]), "timeout"),
            (
                args(&["--set", "remediate.waitForWebhook=soon"]),
                "waitForWebhook",
            ),
            (args(&["--set", "remediate.namespace=Bad_NS"]), "namespace"),
            (
                args(&["--set", "remediate.activeDeadlineSeconds=5"]),
                "activeDeadlineSeconds",
            ),
        ];
        for (case, key) in cases {
            let out = helm.lint(&case);
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                !out.status.success(),
                "helm{} lint accepted {case:?}:\n{text}",
                helm.major
            );
            assert!(
                text.contains(key),
                "helm{} lint {case:?}: error does not name {key}:\n{text}",
                helm.major
            );
            let out = helm.template_raw(&case);
            assert!(
                !out.status.success(),
                "helm{} template accepted {case:?}",
                helm.major
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Tests: each certificate mode

#[test]
fn self_mode_renders_hooks_rotation_and_safe_defaults() {
    for helm in helms() {
        for minor in [27, 30] {
            let r = helm.template(&args(&["--kube-version", &format!("1.{minor}.0")]));
            assert_common(&r, minor);
            assert_eq!(tls_volume_secret(&r), "netdns-guard-tls");
            let w = r.webhook();
            assert!(
                w.client_config.ca_bundle.is_none(),
                "{}: caBundle is the jobs' business",
                r.what
            );
            assert!(r.of_kind("Certificate").is_empty() && r.of_kind("Issuer").is_empty());

            // Hooks: create before the release, patch after it, same command.
            let jobs = r.of_kind("Job");
            assert_eq!(jobs.len(), 2, "{}", r.what);
            let create = r.named("Job", "netdns-guard-certgen-create");
            let patch = r.named("Job", "netdns-guard-certgen-patch");
            assert_eq!(hook(create), "pre-install,pre-upgrade");
            assert_eq!(hook(patch), "post-install,post-upgrade");
            let expected_args = [
                "certs",
                "--in-cluster",
                "--service",
                RELEASE,
                "--namespace",
                NAMESPACE,
                "--ca-secret",
                "netdns-guard-ca",
                "--tls-secret",
                "netdns-guard-tls",
                "--webhook-configuration",
                RELEASE,
                "--days",
                "365",
                "--renew-before-days",
                "30",
            ];
            let cron: CronJob = Rendered::typed(r.one("CronJob"));
            let cron_spec = cron.spec;
            assert_eq!(cron_spec.concurrency_policy.as_deref(), Some("Forbid"));
            let cron_pod = cron_spec
                .job_template
                .spec
                .and_then(|s| s.template.spec)
                .expect("cron pod");
            for (name, pod) in [
                (
                    "create",
                    Rendered::typed::<Job>(create)
                        .spec
                        .and_then(|s| s.template.spec)
                        .unwrap(),
                ),
                (
                    "patch",
                    Rendered::typed::<Job>(patch)
                        .spec
                        .and_then(|s| s.template.spec)
                        .unwrap(),
                ),
                ("cron", cron_pod),
            ] {
                assert_eq!(
                    pod.containers[0].args.as_deref().unwrap_or_default(),
                    expected_args,
                    "{name}"
                );
                assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
                assert_eq!(
                    pod.containers[0].image,
                    r.deployment().spec.template.spec.unwrap().containers[0].image
                );
            }
            // Every hook object is cleaned up after success and re-created per phase.
            for doc in &r.docs {
                if !hook(doc).is_empty() && doc["kind"] != "Pod" {
                    assert_eq!(
                        doc["metadata"]["annotations"]["helm.sh/hook-delete-policy"],
                        "before-hook-creation,hook-succeeded",
                        "{} {}",
                        doc["kind"],
                        doc["metadata"]["name"]
                    );
                }
            }
            // Hook RBAC exists in every phase a hook job runs in; rotation RBAC is
            // ordinary release content.
            for kind in [
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "ClusterRole",
                "ClusterRoleBinding",
            ] {
                let hooked = r.named(kind, "netdns-guard-certgen-hook");
                assert_eq!(
                    hook(hooked),
                    "pre-install,pre-upgrade,post-install,post-upgrade",
                    "{kind}"
                );
                assert_eq!(hook(r.named(kind, "netdns-guard-certgen")), "", "{kind}");
            }
            assert!(
                r.docs.iter().all(|d| d["kind"] != "Secret"),
                "the chart never renders key material"
            );
        }
    }
}

#[test]
fn cert_manager_mode_uses_an_issuer_chain_and_the_cainjector() {
    for helm in helms() {
        let r = helm.template(&args(&[
            "--set",
            "certs.mode=cert-manager",
            "--kube-version",
            "1.30.0",
        ]));
        assert_common(&r, 30);
        assert!(
            r.of_kind("Job").is_empty() && r.of_kind("CronJob").is_empty(),
            "{}: no cert jobs",
            r.what
        );
        assert!(
            r.of_kind("Role").is_empty() && r.of_kind("ClusterRole").is_empty(),
            "{}: no RBAC needed",
            r.what
        );
        let config = r.one("MutatingWebhookConfiguration");
        assert_eq!(
            config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            format!("{NAMESPACE}/netdns-guard-tls")
        );
        assert!(r.webhook().client_config.ca_bundle.is_none());
        let selfsigned = r.named("Issuer", "netdns-guard-selfsigned");
        assert!(selfsigned["spec"]["selfSigned"].is_object());
        let ca = r.named("Certificate", "netdns-guard-ca");
        assert_eq!(ca["spec"]["isCA"], true);
        assert_eq!(ca["spec"]["issuerRef"]["name"], "netdns-guard-selfsigned");
        let ca_issuer = r.named("Issuer", "netdns-guard-ca");
        assert_eq!(
            ca_issuer["spec"]["ca"]["secretName"],
            ca["spec"]["secretName"]
        );
        let serving = r.named("Certificate", "netdns-guard-tls");
        assert_eq!(serving["spec"]["issuerRef"]["name"], "netdns-guard-ca");
        assert_eq!(serving["spec"]["secretName"], tls_volume_secret(&r));
        let dns: Vec<&str> = serving["spec"]["dnsNames"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(dns.contains(&"netdns-guard.netdns-guard.svc"), "{dns:?}");
        assert_eq!(serving["spec"]["privateKey"]["rotationPolicy"], "Always");
        for doc in r
            .of_kind("Certificate")
            .into_iter()
            .chain(r.of_kind("Issuer"))
        {
            assert_eq!(doc["apiVersion"], "cert-manager.io/v1");
        }

        // An existing issuer replaces the chart's own CA chain.
        let r = helm.template(&args(&[
            "--set",
            "certs.mode=cert-manager",
            "--set",
            "certs.certManager.issuerRef.name=corp-ca",
            "--set",
            "certs.certManager.issuerRef.kind=ClusterIssuer",
            "--set",
            "certs.certManager.issuerRef.group=cert-manager.io",
        ]));
        assert_all_typed(&r);
        assert!(r.of_kind("Issuer").is_empty());
        assert_eq!(
            r.one("Certificate")["spec"]["issuerRef"],
            json!({"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"})
        );
    }
}

#[test]
fn provided_mode_uses_the_given_secret_and_ca_bundle() {
    for helm in helms() {
        let mut a = provided_args(&helm);
        a.extend(args(&["--kube-version", "1.30.0"]));
        let r = helm.template(&a);
        assert_common(&r, 30);
        assert_eq!(tls_volume_secret(&r), "my-webhook-tls");
        assert!(r.of_kind("Job").is_empty() && r.of_kind("CronJob").is_empty());
        assert!(r.of_kind("Certificate").is_empty());
        let bundle = r.webhook().client_config.ca_bundle.expect("caBundle");
        let pem = String::from_utf8(bundle.0).expect("caBundle is PEM text");
        assert!(
            pem.starts_with("-----BEGIN CERTIFICATE-----\n")
                && pem.contains("-----END CERTIFICATE-----"),
            "{pem}"
        );

        // A base64 bundle is taken as it is.
        let r = helm.template(&args(&[
            "--set",
            "certs.mode=provided",
            "--set",
            "certs.existingSecret=s",
            "--set",
            "certs.caBundle=LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==",
        ]));
        let bundle = r.webhook().client_config.ca_bundle.expect("caBundle");
        assert_eq!(bundle.0, b"-----BEGIN CERTIFICATE-----\n");
    }
}

#[test]
fn optional_objects_service_monitor_network_policy_and_tests() {
    for helm in helms() {
        let r = helm.template(&args(&[
            "--kube-version",
            "1.30.0",
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "metrics.serviceMonitor.interval=30s",
            "--set",
            "networkPolicy.enabled=true",
            "--set",
            "tests.mutationNamespace=netdns-guard-e2e",
        ]));
        assert_common(&r, 30);
        let sm = r.one("ServiceMonitor");
        assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
        assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
        assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
        assert_eq!(sm["spec"]["endpoints"][0]["interval"], "30s");
        let selector = r.deployment().spec.selector.match_labels.unwrap();
        assert_eq!(
            sm["spec"]["selector"]["matchLabels"],
            serde_json::to_value(&selector).unwrap()
        );

        let np: NetworkPolicy = Rendered::typed(r.one("NetworkPolicy"));
        let np = np.spec.expect("spec");
        assert_eq!(np.pod_selector.and_then(|s| s.match_labels), Some(selector));
        assert_eq!(
            np.policy_types.as_deref(),
            Some(&["Ingress".to_owned(), "Egress".to_owned()][..])
        );
        assert!(
            np.egress.unwrap_or_default().is_empty(),
            "the server needs no egress"
        );
        let ports: Vec<Value> = np
            .ingress
            .unwrap_or_default()
            .iter()
            .flat_map(|rule| rule.ports.clone().unwrap_or_default())
            .map(|p| serde_json::to_value(p.port).unwrap())
            .collect();
        assert_eq!(ports, [json!("https"), json!("metrics")]);

        let tests: Vec<&Value> = r.of_kind("Pod");
        assert_eq!(tests.len(), 2);
        for t in &tests {
            assert_eq!(hook(t), "test");
        }
        let mutation = r.named("Pod", "netdns-guard-test-mutation");
        assert_eq!(mutation["metadata"]["namespace"], "netdns-guard-e2e");
        assert_eq!(
            mutation["metadata"]["annotations"]["netdns-guard.io/inject"],
            "true"
        );
    }
}

#[test]
fn helm_test_pod_checks_readiness_and_metrics_through_the_service() {
    for helm in helms() {
        let r = helm.template(&[]);
        let pod: Pod = Rendered::typed(r.named("Pod", "netdns-guard-test-ready"));
        let script = pod.spec.unwrap().containers[0]
            .command
            .clone()
            .unwrap()
            .join(" ");
        assert!(
            script.contains("http://netdns-guard.netdns-guard.svc:8080/readyz"),
            "{script}"
        );
        assert!(
            script.contains("/metrics") && script.contains("netdns_guard_"),
            "{script}"
        );
        assert!(
            r.docs
                .iter()
                .all(|d| d["metadata"]["name"] != "netdns-guard-test-mutation")
        );
    }
}

#[test]
fn checksum_rolls_pods_on_policy_change_only() {
    for helm in helms() {
        let checksum = |a: &[&str]| {
            helm.template(&args(a))
                .deployment()
                .spec
                .template
                .metadata
                .unwrap()
                .annotations
                .unwrap()["checksum/config"]
                .clone()
        };
        let base = checksum(&[]);
        assert_eq!(base, checksum(&[]), "checksum must be stable");
        assert_eq!(
            base,
            checksum(&["--set", "replicaCount=3"]),
            "unrelated values must not roll"
        );
        assert_ne!(base, checksum(&["--set", "policy.overrideCgo=true"]));
        assert_ne!(
            base,
            checksum(&["--set", "policy.skipNamespaces[0]=kube-system"])
        );
    }
}

#[test]
fn single_replica_has_no_pdb_and_hooks_keep_names_within_limits() {
    for helm in helms() {
        let r = helm.template(&args(&["--set", "replicaCount=1"]));
        assert!(
            r.of_kind("PodDisruptionBudget").is_empty(),
            "a PDB with one replica blocks drains"
        );
        // A long release name is cut so that every derived name stays <= 63, with
        // every optional object on.
        let out = helm
            .cmd()
            .args([
                "template",
                "a-release-name-of-the-longest-length-helm-allows-x-53",
            ])
            .arg(chart_dir())
            .args(["-n", NAMESPACE])
            .args(["--set", "remediate.onInstall=true"])
            .args(["--set", "remediate.cronJob.enabled=true"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let docs: Vec<Option<Value>> =
            serde_saphyr::from_multiple(&String::from_utf8(out.stdout).unwrap()).unwrap();
        let mut names = BTreeSet::new();
        for d in docs.into_iter().flatten() {
            let name = d["metadata"]["name"].as_str().unwrap_or_default();
            // A CronJob's name must leave room for the 11 characters of its Jobs'.
            let max = if d["kind"] == "CronJob" { 52 } else { 63 };
            assert!(
                !name.is_empty() && name.len() <= max,
                "{} {name}",
                d["kind"]
            );
            // Cutting names must not make two objects of a kind collide.
            assert!(
                names.insert((
                    d["kind"].to_string(),
                    d["metadata"]["namespace"].to_string(),
                    name.to_owned()
                )),
                "{} {name} twice",
                d["kind"]
            );
        }
        assert!(
            names
                .iter()
                .any(|(_, _, n)| n.contains("-remediate-hook-endpoints")),
            "{names:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Remediation (remediate.onInstall, remediate.cronJob): `netdns-guard remediate`

/// One remediate variation: the values set and what they must render.
#[derive(Default)]
struct RemediateCase {
    on_install: bool,
    cron: bool,
    namespace: Option<&'static str>,
    allow_delete: bool,
    /// Extra `--set` values (with the flags they must produce, in `expected_args`).
    extra: Vec<&'static str>,
    /// Expected arguments after `remediate` and the scope flag(s).
    tail_args: Vec<&'static str>,
}

impl RemediateCase {
    fn helm_args(&self) -> Vec<String> {
        let mut a = args(&["--kube-version", "1.30.0"]);
        let mut set = |v: String| a.extend(["--set".to_owned(), v]);
        set(format!("remediate.onInstall={}", self.on_install));
        set(format!("remediate.cronJob.enabled={}", self.cron));
        set(format!("remediate.allowDelete={}", self.allow_delete));
        if let Some(ns) = self.namespace {
            set(format!("remediate.namespace={ns}"));
        }
        for v in &self.extra {
            set((*v).to_owned());
        }
        a
    }

    fn expected_args(&self) -> Vec<String> {
        let mut a = vec!["remediate".to_owned()];
        match self.namespace {
            Some(ns) => a.extend(["--namespace".to_owned(), ns.to_owned()]),
            None => a.push("--all-namespaces".to_owned()),
        }
        a.extend(self.tail_args.iter().map(|s| (*s).to_owned()));
        a
    }

    /// The default tail: every flag from values.yaml's defaults.
    fn default_tail(allow_delete: bool) -> Vec<&'static str> {
        let mut tail = vec![
            "--config",
            "/config/policy.yaml",
            "--webhook-configuration",
            RELEASE,
            "--wait-for-webhook",
            "5m",
            "--max-parallel",
            "1",
            "--timeout",
            "5m",
        ];
        if allow_delete {
            tail.push("--allow-delete");
        }
        tail.push("--fail-on-unfixed=false");
        tail
    }

    /// The rendered object name prefixes: the hook's, then the CronJob's.
    fn phases(&self) -> Vec<(bool, &'static str)> {
        let mut phases = Vec::new();
        if self.on_install {
            phases.push((true, "netdns-guard-remediate-hook"));
        }
        if self.cron {
            phases.push((false, "netdns-guard-remediate"));
        }
        phases
    }
}

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
fn assert_remediate(r: &Rendered, case: &RemediateCase) {
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

#[test]
fn remediate_is_off_by_default() {
    for helm in helms() {
        let provided = provided_args(&helm);
        for a in [
            vec![],
            args(&["--set", "certs.mode=cert-manager"]),
            provided,
        ] {
            let r = helm.template(&a);
            assert_remediate(&r, &RemediateCase::default());
        }
    }
}

#[test]
fn remediate_on_install_is_a_post_install_hook_with_exact_rbac() {
    for helm in helms() {
        let case = RemediateCase {
            on_install: true,
            tail_args: RemediateCase::default_tail(false),
            ..Default::default()
        };
        let r = helm.template(&case.helm_args());
        assert_common(&r, 30);
        assert_remediate(&r, &case);
        assert!(
            r.of_kind("CronJob")
                .iter()
                .all(|c| component(c) != "remediate"),
            "{}: no CronJob unless asked",
            r.what
        );
    }
}

#[test]
fn remediate_cron_job_has_ordinary_rbac() {
    for helm in helms() {
        let case = RemediateCase {
            cron: true,
            tail_args: RemediateCase::default_tail(false),
            ..Default::default()
        };
        let r = helm.template(&case.helm_args());
        assert_common(&r, 30);
        assert_remediate(&r, &case);
        let cron = r.named("CronJob", "netdns-guard-remediate");
        assert!(cron["spec"]["timeZone"].is_null());

        // Both at once: separate ServiceAccounts and roles, the time zone passed on.
        let mut case = case;
        case.on_install = true;
        case.extra = vec!["remediate.cronJob.timeZone=Europe/Paris"];
        let r = helm.template(&case.helm_args());
        assert_common(&r, 30);
        assert_remediate(&r, &case);
        let cron = r.named("CronJob", "netdns-guard-remediate");
        assert_eq!(cron["spec"]["timeZone"], "Europe/Paris");
    }
}

#[test]
fn remediate_allow_delete_grants_delete_on_pods_only() {
    for helm in helms() {
        for (on_install, cron) in [(true, false), (false, true), (true, true)] {
            let case = RemediateCase {
                on_install,
                cron,
                allow_delete: true,
                tail_args: RemediateCase::default_tail(true),
                ..Default::default()
            };
            let r = helm.template(&case.helm_args());
            assert_common(&r, 30);
            assert_remediate(&r, &case);
            // delete appears exactly once per phase, on pods.
            let deletes: Vec<PolicyRule> = r
                .of_kind("ClusterRole")
                .into_iter()
                .chain(r.of_kind("Role"))
                .flat_map(rules_of)
                .filter(|rule| rule.verbs.iter().any(|v| v == "delete"))
                .collect();
            assert_eq!(deletes.len(), case.phases().len(), "{}", r.what);
            for rule in deletes {
                assert_eq!(rule.resources.as_deref(), Some(&["pods".to_owned()][..]));
                assert_eq!(rule.api_groups.as_deref(), Some(&[String::new()][..]));
            }
        }
    }
}

#[test]
fn remediate_namespace_uses_a_role_there() {
    for helm in helms() {
        for allow_delete in [false, true] {
            let mut tail = vec![
                "--config",
                "/config/policy.yaml",
                "--webhook-configuration",
                RELEASE,
                "--wait-for-webhook",
                "90s",
                "--max-parallel",
                "3",
                "--timeout",
                "1h30m",
            ];
            if allow_delete {
                tail.push("--allow-delete");
            }
            tail.extend(["--fail-on-unfixed=true", "--dry-run", "--chunk-size=100"]);
            let case = RemediateCase {
                on_install: true,
                cron: true,
                namespace: Some("logging"),
                allow_delete,
                extra: vec![
                    "remediate.waitForWebhook=90s",
                    "remediate.maxParallel=3",
                    "remediate.timeout=1h30m",
                    "remediate.failOnUnfixed=true",
                    "remediate.extraArgs={--dry-run,--chunk-size=100}",
                ],
                tail_args: tail,
            };
            let r = helm.template(&case.helm_args());
            assert_common(&r, 30);
            assert_remediate(&r, &case);
            // Only the webhook configuration rule stays cluster-wide.
            for role in r.of_kind("ClusterRole") {
                if component(role) == "remediate" {
                    let resources: Vec<String> = rules_of(role)
                        .into_iter()
                        .flat_map(|rule| rule.resources.unwrap_or_default())
                        .collect();
                    assert_eq!(resources, ["mutatingwebhookconfigurations"], "{}", r.what);
                }
            }
        }
    }
}

#[test]
fn remediate_refuses_namespaces_the_webhook_never_sees() {
    for helm in helms() {
        for extra in [
            vec!["--set", "remediate.namespace=netdns-guard"],
            vec![
                "--set",
                "remediate.namespace=kube-system",
                "--set",
                "webhook.excludeNamespaces={kube-system}",
            ],
        ] {
            let mut a = args(&["--set", "remediate.onInstall=true"]);
            a.extend(args(&extra));
            let out = helm.template_raw(&a);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && err.contains("remediate.namespace"),
                "helm{} template {a:?}: {err}",
                helm.major
            );
            // Off, the value is not checked (nothing is rendered).
            let mut off = args(&["--set", "remediate.onInstall=false"]);
            off.extend(args(&extra));
            assert_remediate(&helm.template(&off), &RemediateCase::default());
        }
    }
}

// ---------------------------------------------------------------------------
// matchConditions

/// The rendered matchConditions, compiled once (parsing CEL is the slow part).
struct Conditions(Vec<(String, cel::Program)>);

impl Conditions {
    fn compile(list: &[(String, String)]) -> Self {
        Conditions(
            list.iter()
                .map(|(name, expr)| {
                    let program = cel::Program::compile(expr)
                        .unwrap_or_else(|e| panic!("{name}: CEL does not parse: {e}\n{expr}"));
                    (name.clone(), program)
                })
                .collect(),
        )
    }
}

/// An AdmissionRequest-like `request` and the pod as `object`; true when every
/// condition holds (the apiserver then calls the webhook). An evaluation error is a
/// test failure: under failurePolicy Ignore it would silently skip the webhook.
fn conditions_hold(conditions: &Conditions, pod: &Value, namespace: &str) -> bool {
    let mut ctx = cel::Context::default();
    ctx.add_variable("object", pod).expect("object");
    ctx.add_variable("oldObject", Value::Null)
        .expect("oldObject");
    ctx.add_variable(
        "request",
        json!({
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "dryRun": false,
        }),
    )
    .expect("request");
    conditions
        .0
        .iter()
        .all(|(name, program)| match program.execute(&ctx) {
            Ok(cel::Value::Bool(b)) => b,
            other => panic!("matchCondition {name} gave {other:?} for {pod}"),
        })
}

struct PodCase {
    image: String,
    init_image: Option<String>,
    annotations: Option<Value>,
    labels: Option<Value>,
}

impl PodCase {
    fn image(image: &str) -> Self {
        PodCase {
            image: image.into(),
            init_image: None,
            annotations: None,
            labels: None,
        }
    }
    fn annotated(mut self, value: &str) -> Self {
        self.annotations = Some(json!({"netdns-guard.io/inject": value, "other": "x"}));
        self
    }
    fn labelled(mut self, labels: Value) -> Self {
        self.labels = Some(labels);
        self
    }
    fn init(mut self, image: &str) -> Self {
        self.init_image = Some(image.into());
        self
    }
    fn pod(&self) -> Value {
        let mut meta = json!({"generateName": "agent-", "namespace": "logging"});
        if let Some(a) = &self.annotations {
            meta["annotations"] = a.clone();
        }
        if let Some(l) = &self.labels {
            meta["labels"] = l.clone();
        }
        let mut spec = json!({
            "containers": [{"name": "main", "image": self.image, "resources": {}}],
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
        });
        if let Some(i) = &self.init_image {
            spec["initContainers"] = json!([{"name": "init", "image": i}]);
        }
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
    }
}

/// Whether the engine, with the policy the chart renders, would change the pod.
fn engine_changes(engine: &Engine, pod: &Value, namespace: &str) -> bool {
    let text = pod.to_string();
    let view: PodView<'_> = serde_json::from_str(&text).expect("pod view");
    !engine.review(&view, Some(namespace)).patch.is_empty()
}

fn engine_for(r: &Rendered) -> Engine {
    Engine::new(Policy::from_yaml(&r.policy_yaml()).expect("policy")).expect("engine")
}

#[test]
fn match_conditions_follow_kubernetes_version_and_override() {
    for helm in helms() {
        let on = |a: &[&str]| helm.template(&args(a)).match_conditions().is_some();
        assert!(
            !on(&["--kube-version", "1.27.0"]),
            "1.27: matchConditions are alpha, off by default"
        );
        assert!(on(&["--kube-version", "1.28.0"]));
        assert!(on(&["--kube-version", "1.30.0"]));
        assert!(on(&[]), "helm's default Kubernetes version is recent");
        assert!(!on(&[
            "--kube-version",
            "1.30.0",
            "--set",
            "webhook.matchConditions.enabled=false"
        ]));
        assert!(on(&[
            "--kube-version",
            "1.27.0",
            "--set",
            "webhook.matchConditions.enabled=true"
        ]));
        let conditions = helm.template(&[]).match_conditions().unwrap();
        let names: Vec<&str> = conditions.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["not-opted-out", "candidate-pod"]);
        for (name, expr) in &conditions {
            cel::Program::compile(expr).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(expr.len() < 5000, "{name}: {} characters", expr.len());
        }
    }
}

#[test]
fn chart_catalog_mirrors_the_built_in_at_risk_entries() {
    let values: Value =
        serde_saphyr::from_str(&fs::read_to_string(chart_dir().join("values.yaml")).unwrap())
            .unwrap();
    let chart: Vec<(String, Vec<String>)> = values["webhook"]["matchConditions"]["catalog"]
        .as_array()
        .expect("catalog list")
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_owned(),
                e["images"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect();
    let builtin: Vec<(String, Vec<String>)> = builtin_entries()
        .into_iter()
        .filter(|e| e.risk == Risk::AtRisk)
        .map(|e| (e.id, e.images))
        .collect();
    assert_eq!(
        chart, builtin,
        "values.yaml webhook.matchConditions.catalog must list src/engine/catalog.yaml's at-risk entries"
    );
}

#[test]
fn match_conditions_examples() {
    for helm in helms() {
        let r = helm.template(&[]);
        let c = Conditions::compile(&r.match_conditions().expect("matchConditions"));
        let holds = |p: PodCase| conditions_hold(&c, &p.pod(), "logging");
        assert!(
            holds(PodCase::image("loggieio/loggie:v1.5.0")),
            "Loggie pod"
        );
        assert!(!holds(PodCase::image("nginx:1.27")), "nginx pod");
        assert!(
            holds(PodCase::image("nginx:1.27").annotated("true")),
            "nginx opted in"
        );
        assert!(
            holds(PodCase::image("nginx:1.27").annotated("TRUE")),
            "opt-in is case-insensitive"
        );
        assert!(
            !holds(PodCase::image("nginx:1.27").annotated("yes")),
            "only true opts in"
        );
        assert!(
            !holds(PodCase::image("loggieio/loggie:v1.5.0").annotated("false")),
            "Loggie opted out"
        );
        assert!(
            !holds(PodCase::image("loggieio/loggie:v1.5.0").annotated("False")),
            "opt-out is case-insensitive"
        );
        assert!(
            holds(PodCase::image("loggieio/loggie").annotated("nope")),
            "an unknown value is no opt-out"
        );
        assert!(
            holds(PodCase::image("nginx").init("docker.elastic.co/beats/filebeat:8.15.0")),
            "init container"
        );
        assert!(
            holds(PodCase::image(&format!(
                "registry.local:5000/mirror/grafana/promtail:3.5.1@{SHA}"
            ))),
            "mirror + digest"
        );
        assert!(
            holds(PodCase::image("registry.datadoghq.com/agent:7")),
            "anchored registry"
        );
        assert!(
            !holds(PodCase::image("grafana/agent:v0.44")),
            "pure-Go agent"
        );
        assert!(
            !holds(PodCase::image("cr.fluentbit.io/fluent/fluent-bit:3.2.0")),
            "not Go"
        );
        assert!(
            !holds(PodCase::image("evil.example/registry.datadoghq.com/agent")),
            "anchor is the registry"
        );
        // A pod without annotations or labels maps, or with an image-less container,
        // evaluates without error.
        let bare = json!({"metadata": {}, "spec": {"containers": [{"name": "x"}]}});
        assert!(!conditions_hold(&c, &bare, "default"));
    }
}

/// Images built from every catalog pattern, written the ways registries and
/// manifests write them, plus near misses.
fn image_corpus() -> Vec<String> {
    let mut images = BTreeSet::new();
    let suffixes = [String::new(), format!(":1.2.3@{SHA}")];
    for entry in builtin_entries() {
        for pattern in &entry.images {
            for fill in ["x", ""] {
                let base = pattern.replace('*', fill);
                if base.split('/').any(str::is_empty) {
                    continue;
                }
                let first = base.split('/').next().unwrap_or_default();
                let anchored = base.contains('/') && (first.contains('.') || first.contains(':'));
                let prefixes: &[&str] = if anchored {
                    &["", "mirror.example/"]
                } else {
                    &[
                        "",
                        "docker.io/",
                        "localhost:5000/team/",
                        "docker.io/library/",
                        "other/",
                    ]
                };
                for p in prefixes {
                    for s in &suffixes {
                        images.insert(format!("{p}{base}{s}"));
                    }
                    images.insert(format!("{p}{base}:7"));
                    images.insert(format!("{p}{base}-suffix"));
                    images.insert(format!("{p}prefix-{base}"));
                }
            }
        }
    }
    for extra in [
        "nginx",
        "busybox:1.37",
        "registry.k8s.io/pause:3.10",
        "agent",
        "mirror/agent",
        "library/loggie",
        "registry.datadoghq.com:443/agent",
        "docker.io/datadog/agent:7",
        "index.docker.io/datadog/agent",
        "gcr.io/datadoghq/agent:7",
        "public.ecr.aws/datadog/agent:7",
        "grafana/loki:3",
        "docker.elastic.co/beats/filebeat-wolfi:8.15.0",
        "docker.elastic.co/elastic-agent/elastic-agent:8.15.0",
        "docker.elastic.co/beats/elastic-agent-complete:8.15.0",
        "quay.io/mirror/grafana/promtail:2.9.1",
    ] {
        images.insert(extra.to_owned());
    }
    images.into_iter().collect()
}

#[test]
fn match_conditions_agree_with_the_engine_on_the_default_catalog() {
    let rendered: Vec<Rendered> = helms().iter().map(|h| h.template(&[])).collect();
    let Some(first) = rendered.first() else {
        return;
    };
    // Helm 3 and Helm 4 render the same CEL, so the corpus is evaluated once.
    for r in &rendered[1..] {
        assert_eq!(
            r.match_conditions(),
            first.match_conditions(),
            "Helm majors disagree"
        );
    }
    let c = Conditions::compile(&first.match_conditions().expect("matchConditions"));
    let engine = engine_for(first);
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for (i, image) in image_corpus().iter().enumerate() {
        let mut cases = vec![(PodCase::image(image), "container")];
        if i % 8 == 0 {
            cases.push((PodCase::image("nginx").init(image), "init container"));
        }
        for (case, where_) in cases {
            let pod = case.pod();
            let engine_says = engine_changes(&engine, &pod, "logging");
            let cel_says = conditions_hold(&c, &pod, "logging");
            // Never fewer than the engine (a missed pod stays unprotected); with the
            // built-in catalog, exactly the engine's choice (no wasted calls).
            if engine_says != cel_says {
                mismatches.push(format!(
                    "{where_} {image}: engine {engine_says}, CEL {cel_says}"
                ));
            }
            checked += 1;
        }
    }
    assert!(checked > 400, "corpus too small: {checked}");
    assert!(
        mismatches.is_empty(),
        "{} of {checked}:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn match_conditions_follow_a_custom_policy() {
    let values = r#"
policy:
  catalog:
    remove: [datadog-agent]
    add:
      - id: corp-agent
        name: Corp agent
        risk: at-risk
        reason: built with cgo
        images: ["registry.corp:5000/agents/corp-agent*", "corp-shipper"]
      - id: promtail-netgo
        name: Promtail (netgo build)
        risk: pure-go
        reason: rebuilt with netgo
        images: [corp/promtail]
  selectors:
    - matchLabels: {app.kubernetes.io/name: my-agent}
    - matchExpressions:
        - {key: tier, operator: In, values: [logs, metrics]}
        - {key: env, operator: NotIn, values: [dev]}
        - {key: team, operator: Exists}
        - {key: legacy, operator: DoesNotExist}
  skipNamespaces: [kube-system, "it's-odd"]
"#;
    for helm in helms() {
        let file = helm.values_file(values);
        let r = helm.template(&["-f".into(), file.display().to_string()]);
        assert_common(&r, 35);
        let c = Conditions::compile(&r.match_conditions().expect("matchConditions"));
        let engine = engine_for(&r);
        let team = json!({"tier": "logs", "team": "a"});
        let cases: Vec<(PodCase, &str, bool)> = vec![
            (
                PodCase::image("registry.corp:5000/agents/corp-agent-v2:1"),
                "logging",
                true,
            ),
            (PodCase::image("mirror/corp-shipper:1"), "logging", true),
            (
                PodCase::image("registry.corp:5000/agents/other"),
                "logging",
                false,
            ),
            (PodCase::image("datadog/agent:7"), "logging", false),
            (PodCase::image("loggieio/loggie"), "logging", true),
            (PodCase::image("loggieio/loggie"), "kube-system", false),
            (
                PodCase::image("loggieio/loggie").annotated("true"),
                "kube-system",
                true,
            ),
            (
                PodCase::image("nginx").labelled(json!({"app.kubernetes.io/name": "my-agent"})),
                "logging",
                true,
            ),
            (
                PodCase::image("nginx").labelled(json!({"app.kubernetes.io/name": "my-agent"})),
                "it's-odd",
                false,
            ),
            (
                PodCase::image("nginx").labelled(json!({"app.kubernetes.io/name": "other"})),
                "logging",
                false,
            ),
            (
                PodCase::image("nginx").labelled(team.clone()),
                "logging",
                true,
            ),
            (
                PodCase::image("nginx")
                    .labelled(json!({"tier": "logs", "team": "a", "env": "dev"})),
                "logging",
                false,
            ),
            (
                PodCase::image("nginx")
                    .labelled(json!({"tier": "logs", "team": "a", "env": "prod"})),
                "logging",
                true,
            ),
            (
                PodCase::image("nginx").labelled(json!({"tier": "web", "team": "a"})),
                "logging",
                false,
            ),
            (
                PodCase::image("nginx").labelled(json!({"tier": "logs"})),
                "logging",
                false,
            ),
            (
                PodCase::image("nginx")
                    .labelled(json!({"tier": "logs", "team": "a", "legacy": ""})),
                "logging",
                false,
            ),
            (
                PodCase::image("nginx")
                    .labelled(team.clone())
                    .annotated("false"),
                "logging",
                false,
            ),
            (PodCase::image("nginx").labelled(team), "kube-system", false),
        ];
        for (i, (case, ns, expected)) in cases.iter().enumerate() {
            let pod = case.pod();
            let engine_says = engine_changes(&engine, &pod, ns);
            assert_eq!(engine_says, *expected, "case {i}: the engine itself: {pod}");
            assert_eq!(
                conditions_hold(&c, &pod, ns),
                *expected,
                "helm{} case {i}: {pod}",
                helm.major
            );
        }
        // A catalog entry that reclassifies an at-risk image as pure Go may still
        // send it (a superset is safe), but never the other way round.
        let pod = PodCase::image("corp/promtail:3").pod();
        assert!(!engine_changes(&engine, &pod, "logging"));
        assert!(
            conditions_hold(&c, &pod, "logging"),
            "superset: the webhook answers no change"
        );
        // And the engine-agrees-or-over-approximates property over the whole corpus.
        for image in image_corpus().iter().step_by(3) {
            let pod = PodCase::image(image).pod();
            if engine_changes(&engine, &pod, "logging") {
                assert!(
                    conditions_hold(&c, &pod, "logging"),
                    "helm{}: engine changes {image}, CEL skips it",
                    helm.major
                );
            }
        }
    }
}

#[test]
fn match_conditions_without_any_catalog_still_honour_opt_in() {
    for helm in helms() {
        let r = helm.template(&args(&["--set", "webhook.matchConditions.catalog=null"]));
        let c = Conditions::compile(&r.match_conditions().expect("matchConditions"));
        assert!(!conditions_hold(
            &c,
            &PodCase::image("loggieio/loggie").pod(),
            "logging"
        ));
        assert!(conditions_hold(
            &c,
            &PodCase::image("nginx").annotated("true").pod(),
            "logging"
        ));
    }
}
