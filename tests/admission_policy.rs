//! The exported `MutatingAdmissionPolicy` makes the same changes as the webhook,
//! proven by evaluating its CEL (tests/support/cel_policy.rs), not by a second Rust
//! implementation of the rules.
//!
//! For every pod here (the shared fixtures, the bundled examples, a table of
//! GODEBUG values and 1,200 generated pods under generated policies of every
//! strategy), the pod is first put in the form the apiserver hands to CEL (its JSON
//! encoding drops nulls and empty strings, lists and maps). Then the engine's patch and the policy's
//! operations are applied to it, and the two results must be the same pod; applying
//! the policy again to its own result must produce no operation (reinvocation with
//! `IfNeeded` is a fixed point).
//!
//! Evaluated: the match condition, every variable and the mutation expression,
//! including its `JSONPatch{…}` values. Not evaluated: `matchConstraints` (the
//! resource rule and the namespace selector are checked for their shape in
//! tests/admission_policy_objects.rs), the apiserver's type checker, whose rules the
//! expressions are written for (see the module doc of src/admission_policy/cel.rs),
//! and pods whose containers share a name (Kubernetes rejects them after admission;
//! the generators name containers uniquely).

mod support {
    pub mod cel_policy;
    pub mod cel_request;
    pub mod image_corpus;
    pub mod pod_strategies;
}

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use netdns_guard::admission_policy::{self, AdmissionPolicy, ApiVersion, ExportOptions};
use netdns_guard::engine::model::PodView;
use netdns_guard::manifest::{pod_pointer, stream};
use netdns_guard::{Engine, Policy};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde::Deserialize;
use serde_json::{Value, json};

use support::cel_policy::{Evaluator, Outcome};
use support::pod_strategies::{self, pod_with};

const INSTALL_NAMESPACE: &str = "netdns-guard";

fn exported(policy_yaml: &str) -> (Engine, AdmissionPolicy) {
    let engine = Engine::new(Policy::from_yaml(policy_yaml).expect("policy")).expect("engine");
    let options = ExportOptions {
        namespace: Some(INSTALL_NAMESPACE.into()),
        ..ExportOptions::new(ApiVersion::V1)
    };
    let exported = admission_policy::export(&engine, &options).expect("export");
    (engine, exported)
}

/// A pod as the apiserver's JSON encoding of a `v1.Pod` shows it to CEL: metadata
/// always present, no `null` fields, and the `omitempty` fields the policy reads
/// dropped when empty.
fn apiserver_view(pod: &Value) -> Value {
    let mut pod = pod.clone();
    drop_nulls(&mut pod);
    if !pod["metadata"].is_object() {
        pod["metadata"] = json!({});
    }
    let meta = pod["metadata"].as_object_mut().expect("metadata");
    for key in ["annotations", "labels"] {
        if meta
            .get(key)
            .is_some_and(|m| m.as_object().is_some_and(|m| m.is_empty()))
        {
            meta.remove(key);
        }
    }
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return pod;
    };
    if spec.get("initContainers").is_some_and(is_empty_list) {
        spec.remove("initContainers");
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let Some(c) = c.as_object_mut() else { continue };
            for key in ["env", "envFrom", "volumeMounts"] {
                if c.get(key).is_some_and(is_empty_list) {
                    c.remove(key);
                }
            }
            if c.get("image").is_some_and(|i| i == "") {
                c.remove("image");
            }
            for var in c
                .get_mut("env")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if var.get("value").is_some_and(|v| v == "") {
                    var.as_object_mut().expect("env entry").remove("value");
                }
            }
        }
    }
    pod
}

/// A `null` field decodes to Go's zero value, which the encoding then omits.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn is_empty_list(v: &Value) -> bool {
    v.as_array().is_some_and(Vec::is_empty)
}

fn apply(pod: &Value, operations: &Value) -> Result<Value, String> {
    let patch: json_patch::Patch =
        serde_json::from_value(operations.clone()).map_err(|e| format!("{e}: {operations}"))?;
    let mut patched = pod.clone();
    json_patch::patch(&mut patched, &patch).map_err(|e| format!("{e}: {operations}"))?;
    Ok(patched)
}

fn engine_result(engine: &Engine, pod: &Value, namespace: &str) -> Value {
    let view = PodView::deserialize(pod).expect("the engine reads the pod");
    let review = engine.review(&view, Some(namespace));
    apply(pod, &serde_json::to_value(&review.patch).expect("patch")).expect("engine patch applies")
}

/// The policy's operations for a pod (none when its match condition is false).
fn policy_operations(evaluator: &Evaluator, pod: &Value, namespace: &str) -> Result<Value, String> {
    match evaluator.run(pod, namespace)? {
        Outcome::NotMatched(_) => Ok(json!([])),
        Outcome::Patch { operations, .. } => Ok(Value::Array(operations)),
    }
}

/// The proof for one pod: the same result as the engine, and a fixed point.
/// Returns whether the pod was changed.
fn same_as_engine(
    engine: &Engine,
    evaluator: &Evaluator,
    pod: &Value,
    namespace: &str,
) -> Result<bool, String> {
    let pod = apiserver_view(pod);
    let expected = engine_result(engine, &pod, namespace);
    let operations = policy_operations(evaluator, &pod, namespace)?;
    let got = apply(&pod, &operations)?;
    if got != expected {
        return Err(format!(
            "policy and engine differ\n pod:    {pod}\n policy: {got}\n engine: {expected}\n operations: {operations}"
        ));
    }
    let again = policy_operations(evaluator, &apiserver_view(&got), namespace)?;
    if again != json!([]) {
        return Err(format!("not a fixed point: {again} on {got}"));
    }
    Ok(got != pod)
}

fn namespace_of(object: &Value) -> String {
    object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_owned()
}

/// The pods a manifest stream's workloads create (their templates) and its pods.
fn pods_in(name: &str, text: &str) -> Vec<(String, Value)> {
    let documents = stream::parse(name, text).unwrap_or_else(|e| panic!("{name}: {e}"));
    documents
        .into_iter()
        .filter_map(|d| {
            let api_version = d.value["apiVersion"].as_str()?;
            let kind = d.value["kind"].as_str()?;
            let pointer = pod_pointer(api_version, kind)?;
            let pod = d.value.pointer(pointer)?.clone();
            Some((namespace_of(&d.value), pod))
        })
        .collect()
}

fn files_in(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), text)
        })
        .collect()
}

/// The policies every fixed pod is checked under.
const POLICIES: &[&str] = &[
    "",
    "containers: all",
    "overrideCgo: true",
    "selectors: [{matchLabels: {app.kubernetes.io/name: fluent-bit}}]\nskipNamespaces: [kube-system]",
    "catalog: {remove: [datadog-agent], add: [{id: fb, name: FB, risk: at-risk, reason: test, images: [fluent/fluent-bit*]}]}",
    "strategy: resolver-config",
    "strategy: both\ncontainers: all\nresolverConfig: {goFloor: \"1.20\"}",
];

fn check_all(pods: &[(String, String, Value)]) -> (usize, usize) {
    let (mut proven, mut changed) = (0, 0);
    for yaml in POLICIES {
        let (engine, exported) = exported(yaml);
        let evaluator = Evaluator::new(&exported.policy).expect("the policy compiles");
        for (name, namespace, pod) in pods {
            let did = same_as_engine(&engine, &evaluator, pod, namespace)
                .unwrap_or_else(|e| panic!("{name} under policy {yaml:?}: {e}"));
            proven += 1;
            changed += usize::from(did);
        }
    }
    (proven, changed)
}

#[test]
fn bundled_examples_get_what_the_webhook_writes() {
    on_a_large_stack(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/manifests");
        let pods: Vec<_> = files_in(&dir)
            .iter()
            .flat_map(|(name, text)| {
                pods_in(name, text)
                    .into_iter()
                    .map(move |(ns, pod)| (name.clone(), ns, pod))
            })
            .collect();
        assert!(pods.len() >= 8, "{} pods in the examples", pods.len());
        let (proven, changed) = check_all(&pods);
        eprintln!("examples: {proven} pod reviews equal to the engine's, {changed} changed");
        assert!(changed >= POLICIES.len() * 3, "only {changed} changed");
    });
}

#[test]
fn shared_fixtures_get_what_the_webhook_writes() {
    on_a_large_stack(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
        if !root.is_dir() {
            eprintln!(
                "skipped: {} does not exist (see ARCHITECTURE.md, Shared fixtures)",
                root.display()
            );
            return;
        }
        let mut pods = Vec::new();
        for (name, text) in files_in(&root.join("manifests")) {
            pods.extend(
                pods_in(&name, &text)
                    .into_iter()
                    .map(|(ns, pod)| (name.clone(), ns, pod)),
            );
        }
        for (name, text) in files_in(&root.join("admissionreviews")) {
            let review: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let request = if review["request"].is_object() {
                &review["request"]
            } else {
                &review
            };
            if request["kind"]["kind"] == "Pod" && request["operation"] == "CREATE" {
                let ns = request["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .to_owned();
                pods.push((name, ns, request["object"].clone()));
            }
        }
        assert!(pods.len() >= 10, "{} pods in the fixtures", pods.len());
        let (proven, changed) = check_all(&pods);
        eprintln!("shared fixtures: {proven} pod reviews equal to the engine's, {changed} changed");
        assert!(changed > 0);
    });
}

/// Every row of the GODEBUG merge table, and the odd spellings around it, in a
/// container, an init container and a duplicated entry.
#[test]
fn the_godebug_merge_table_is_the_engines() {
    on_a_large_stack(|| {
        let values = [
            "",
            "http2client=0",
            "a=1, b=2",
            "a=1,",
            ",",
            "netdns=go",
            "netdns=go+1",
            "netdns=1+go",
            "netdns=1",
            "http2client=0,netdns=2",
            "netdns=cgo",
            "netdns=cgo+1",
            "netdns=go+cgo",
            "netdns=2+cgo",
            "a=1,netdns=go+cgo,b=2",
            "netdns=",
            "netdns=Go",
            "netdns=foo+3",
            "netdns=go,netdns=go",
            "netdns=cgo,x=1,netdns=go",
            "netdns=go,x=1,netdns=cgo",
            " netdns=go",
            "a=1,NETDNS=go",
            "netdns",
            "netdns=go, netdns=cgo",
            "netdns=1x+",
            "netdns=go+cgo,netdns=1",
            "netdns=+",
            "netdns=go\n+1",
            "a=1,,b=2,netdns=1,netdns=cgo+7",
            "x,netdns=cgo,x,netdns=cgo",
            "netdns=ü,ü=1",
        ];
        let mut pods = Vec::new();
        for value in values {
            let container = |name: &str| {
                json!({ "name": name, "image": "loggieio/loggie:v1.5.0",
                        "env": [{ "name": "GODEBUG", "value": "first" }, { "name": "GODEBUG", "value": value }] })
            };
            let single = json!({ "name": "one", "image": "grafana/promtail", "env": [{ "name": "GODEBUG", "value": value }] });
            pods.push((
                format!("GODEBUG={value:?}"),
                "default".to_owned(),
                json!({ "metadata": { "name": "p" }, "spec": {
                    "initContainers": [container("init")],
                    "containers": [single, container("twice"),
                        { "name": "unseen", "image": "loggie", "env": [{ "name": "GODEBUG", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } }] }],
                }}),
            ));
        }
        let (proven, changed) = check_all(&pods);
        eprintln!("GODEBUG table: {proven} pod reviews equal to the engine's, {changed} changed");
        // Explicit cgo is kept by most policies; the other rows change something.
        assert!(
            changed * 4 >= proven * 3,
            "only {changed} of {proven} changed"
        );
    });
}

// --- pinned patterns ----------------------------------------------------------

/// The digest `support::image_corpus` writes on its images, and another.
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const OTHER: &str = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

/// Policies with patterns pinned to `DIGEST`: pure-go entries in front of the
/// built-in at-risk ones (what `inspect -o policy` writes for a pure-Go build),
/// at-risk ones, and a pinned pure-go entry in front of its repository's at-risk one.
fn pinned_policies() -> Vec<String> {
    vec![
        format!(
            "catalog: {{add: [{{id: quiet, name: Q, risk: pure-go, reason: t, images: [\"grafana/promtail@{DIGEST}\", \"docker.io/loggieio/loggie@{DIGEST}\", \"beats/*@{DIGEST}\"]}}]}}"
        ),
        format!(
            "catalog: {{add: [{{id: risky, name: R, risk: at-risk, reason: t, images: [\"team/app@{DIGEST}\", \"registry.example.com:5000/team/*@{DIGEST}\", \"nginx@{DIGEST}\"]}}]}}"
        ),
        format!(
            "containers: all\ncatalog: {{add: [{{id: quiet, name: Q, risk: pure-go, reason: t, images: [\"team/app@{DIGEST}\"]}}, {{id: risky, name: R, risk: at-risk, reason: t, images: [team/app, \"busybox@{OTHER}\"]}}]}}"
        ),
    ]
}

/// Images of the pinned policies' names written every way a digest can be (and
/// cannot quite be) written.
fn pinned_images() -> Vec<String> {
    let names = [
        "grafana/promtail",
        "docker.io/grafana/promtail",
        "mirror.corp:5000/grafana/promtail",
        "loggieio/loggie",
        "index.docker.io/loggieio/loggie",
        "docker.elastic.co/beats/filebeat",
        "team/app",
        "other/team/app",
        "registry.example.com:5000/team/agent",
        "nginx",
        "library/nginx",
        "busybox",
        "",
    ];
    let upper = DIGEST.to_uppercase().replace("SHA256", "sha256");
    let suffixes = [
        String::new(),
        ":1".into(),
        format!("@{DIGEST}"),
        format!(":1@{DIGEST}"),
        format!("@{OTHER}"),
        format!(":1@{OTHER}"),
        format!("@{upper}"),
        format!("@{}", &DIGEST[..70]),
        format!("@{DIGEST}@x"),
        format!("@{DIGEST} "),
        format!("@{DIGEST}/x"),
        ":latest".into(),
    ];
    names
        .iter()
        .flat_map(|name| suffixes.iter().map(move |suffix| format!("{name}{suffix}")))
        .collect()
}

#[test]
fn pinned_patterns_classify_as_the_engine_does() {
    on_a_large_stack(|| {
        let images = pinned_images();
        let mut pods = Vec::new();
        for (i, image) in images.iter().enumerate() {
            let pod = json!({
                "metadata": { "name": format!("p{i}"), "namespace": "apps" },
                "spec": { "containers": [{ "name": "agent", "image": image }] },
            });
            pods.push((image.clone(), "apps".to_owned(), pod));
        }
        // Two containers: a pinned pure-Go build beside a tag of the same repository.
        for pair in [
            ["team/app", "team/app@"],
            ["grafana/promtail:3", "grafana/promtail@"],
        ] {
            let pod = json!({
                "metadata": { "name": "pair", "namespace": "apps" },
                "spec": {
                    "initContainers": [{ "name": "init", "image": format!("{}{DIGEST}", pair[1]) }],
                    "containers": [{ "name": "a", "image": format!("{}{DIGEST}", pair[1]) },
                                   { "name": "b", "image": pair[0] }],
                },
            });
            pods.push((format!("{pair:?}"), "apps".to_owned(), pod));
        }
        let mut changed = 0;
        let mut proven = 0;
        for yaml in pinned_policies() {
            let (engine, exported) = exported(&yaml);
            let evaluator = Evaluator::new(&exported.policy).expect("the policy compiles");
            for (name, namespace, pod) in &pods {
                let did = same_as_engine(&engine, &evaluator, pod, namespace)
                    .unwrap_or_else(|e| panic!("{name:?} under policy {yaml:?}: {e}"));
                proven += 1;
                changed += usize::from(did);
            }
        }
        eprintln!("pinned patterns: {proven} pod reviews equal to the engine's, {changed} changed");

        // The cases the proof must have met, as the engine decides them.
        let verdict = |yaml: &str, image: &str| {
            let (engine, _) = exported(yaml);
            let pod = json!({ "spec": { "containers": [{ "name": "agent", "image": image }] } });
            let view = PodView::deserialize(&pod).unwrap();
            engine.review(&view, None).report.containers[0]
                .verdict
                .to_string()
        };
        let [quiet, risky, both] = <[String; 3]>::try_from(pinned_policies()).unwrap();
        let digest = |image: &str| format!("{image}@{DIGEST}");
        assert_eq!(
            verdict(&quiet, &digest("grafana/promtail:3")),
            "not at risk"
        );
        assert_eq!(verdict(&quiet, "grafana/promtail:3"), "at risk");
        assert_eq!(
            verdict(&quiet, &format!("grafana/promtail@{OTHER}")),
            "at risk"
        );
        assert_eq!(verdict(&risky, &digest("team/app")), "at risk");
        assert_eq!(verdict(&risky, "team/app:1"), "unknown");
        assert_eq!(verdict(&both, &digest("team/app:1")), "not at risk");
        assert_eq!(verdict(&both, "team/app:1"), "at risk");
    });
}

// --- generated pods ------------------------------------------------------------

/// The catalog's image forms (`support::image_corpus`), the generators' images, and
/// references the engine must not choke on.
fn image_corpus() -> Vec<String> {
    let mut extras: Vec<&str> = pod_strategies::IMAGES.to_vec();
    extras.extend([
        "",
        ":latest",
        "@sha256:abc",
        " loggieio/loggie:1 ",
        "LOGGIE",
        "library/loggie",
        "registry-1.docker.io/library/promtail:1",
        "registry.datadoghq.com:443/agent",
        "index.docker.io/datadog/agent",
        "team/app",
        "registry.example.com:5000/team/app:1.0",
        "registry.example.com:5000/team/agent",
        "a//promtail",
        "promtail:",
        "grafana/promtail:x@",
        "team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "team/app:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "grafana/alloy@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ]);
    support::image_corpus::image_corpus(&extras)
}

fn policy_yaml() -> impl Strategy<Value = String> {
    let selectors = prop::sample::select(vec![
        "",
        "selectors: [{matchLabels: {app: selected}}]\n",
        "selectors: [{matchExpressions: [{key: app, operator: In, values: [other, selected]}]}]\n",
        "selectors: [{matchExpressions: [{key: app, operator: NotIn, values: [selected]}, {key: tier, operator: DoesNotExist}]}]\n",
        "selectors: [{matchLabels: {app: nope}}, {matchExpressions: [{key: app, operator: Exists}]}]\n",
    ]);
    let catalog = prop::sample::select(vec![
        "",
        "catalog: {remove: [loggie, promtail]}\n",
        "catalog: {add: [{id: mine, name: Mine, risk: at-risk, reason: test, images: [team/app, registry.example.com:5000/team/*, nginx]}]}\n",
        "catalog: {add: [{id: quiet, name: Quiet, risk: pure-go, reason: test, images: [grafana/promtail, beats/*, docker.io/loggieio/loggie]}]}\n",
        // Pinned to the digest the image corpus writes: a pure-Go build in front of
        // the built-in at-risk entries, and at-risk builds of images it does not know.
        "catalog: {add: [{id: read, name: Read, risk: pure-go, reason: test, images: [\"grafana/promtail@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\", \"beats/*@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"]}]}\n",
        "catalog: {add: [{id: read, name: Read, risk: at-risk, reason: test, images: [\"team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\", \"grafana/alloy@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"]}]}\n",
    ]);
    let containers = prop::sample::select(vec!["matching", "all"]);
    let strategy = prop::sample::select(vec!["env", "env", "resolver-config", "both"]);
    let floor = prop::sample::select(vec!["1.19", "1.20"]);
    let shape = (containers, strategy, floor, any::<bool>());
    (shape, selectors, any::<bool>(), catalog).prop_map(
        |((containers, strategy, floor, override_cgo), selectors, skip, catalog)| {
            let skip = if skip {
                "skipNamespaces: [skipped]\n"
            } else {
                ""
            };
            format!(
                "strategy: {strategy}\ncontainers: {containers}\noverrideCgo: {override_cgo}\n\
                 resolverConfig: {{goFloor: \"{floor}\"}}\n{selectors}{skip}{catalog}"
            )
        },
    )
}

thread_local! {
    /// Engines and compiled policies by policy text: the generator makes only a
    /// few hundred different policies.
    static COMPILED: RefCell<HashMap<String, Rc<(Engine, Evaluator)>>> = RefCell::new(HashMap::new());
}

fn compiled(yaml: &str) -> Rc<(Engine, Evaluator)> {
    COMPILED.with(|cache| {
        let mut cache = cache.borrow_mut();
        Rc::clone(cache.entry(yaml.to_owned()).or_insert_with(|| {
            let (engine, exported) = exported(yaml);
            let evaluator = Evaluator::new(&exported.policy).expect("the policy compiles");
            Rc::new((engine, evaluator))
        }))
    })
}

/// Runs `test` on a thread with a large stack: the `cel` crate's interpreter
/// recurses once per nested sub-expression, deeper than a test thread's 2 MiB
/// allow in a debug build.
fn on_a_large_stack(test: impl FnOnce() + Send + 'static) {
    let thread = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(test)
        .expect("spawn");
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Generated cases; the count the report quotes.
const CASES: u32 = 1200;

#[test]
fn generated_pods_get_what_the_webhook_writes() {
    on_a_large_stack(|| {
        let config = ProptestConfig {
            cases: CASES,
            ..ProptestConfig::default()
        };
        let counts = Cell::new((0usize, 0usize));
        let strategy = (pod_with(image_corpus()), policy_yaml());
        TestRunner::new(config)
            .run(&strategy, |(pod, yaml)| {
                let compiled = compiled(&yaml);
                let (engine, evaluator) = (&compiled.0, &compiled.1);
                let namespace = pod["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .to_owned();
                let changed = same_as_engine(engine, evaluator, &pod, &namespace)
                    .map_err(|e| TestCaseError::fail(format!("policy {yaml:?}: {e}")))?;
                let (total, count) = counts.get();
                counts.set((total + 1, count + usize::from(changed)));
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let (total, changed) = counts.get();
        eprintln!("generated: {total} pods equal to the engine's, {changed} of them changed");
        assert!(total >= CASES as usize, "only {total} cases ran");
        assert!(
            changed * 4 >= total,
            "only {changed} of {total} pods changed: the generator misses targets"
        );
    });
}
