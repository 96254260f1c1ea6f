//! The webhook's matchConditions (rendered from Kubernetes 1.28 on), evaluated with
//! a CEL interpreter against pods and compared with the engine itself: they must
//! let every pod the engine would change reach the webhook.

use std::fs;

use netdns_guard::engine::catalog::{Risk, builtin_entries};
use netdns_guard::engine::model::PodView;
use netdns_guard::{Engine, Policy};
use serde_json::{Value, json};

use crate::helm::helms;
use crate::rendered::Rendered;
use crate::safety::assert_common;
use crate::{SHA, args, chart_dir};

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
        crate::support::cel_request::pod_create_request(namespace),
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
        "values.yaml webhook.matchConditions.catalog must list crates/engine/src/catalog.yaml's at-risk entries"
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

/// The catalog's image forms (`support::image_corpus`) and this test's near misses.
fn image_corpus() -> Vec<String> {
    crate::support::image_corpus::image_corpus(&[
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
    ])
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
      - id: pinned-agent
        name: Pinned agent (one cgo build)
        risk: at-risk
        reason: this build uses cgo
        images: ["registry.corp:5000/agents/pinned@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]
      - id: pinned-promtail
        name: Promtail (one netgo build)
        risk: pure-go
        reason: this build is pure Go
        images: ["grafana/promtail@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]
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
        // A pattern pinned to a digest counts as its name: the webhook is called for
        // every tag of it (and decides by the digest), and the pinned pattern never
        // breaks the regular expression.
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        for (image, engine_changes_it) in [
            (format!("registry.corp:5000/agents/pinned@{digest}"), true),
            (format!("registry.corp:5000/agents/pinned:1@{digest}"), true),
            ("registry.corp:5000/agents/pinned:1".to_owned(), false),
            (format!("grafana/promtail:3@{digest}"), false),
            ("grafana/promtail:3".to_owned(), true),
        ] {
            let pod = PodCase::image(&image).pod();
            assert_eq!(
                engine_changes(&engine, &pod, "logging"),
                engine_changes_it,
                "{image}"
            );
            assert!(
                conditions_hold(&c, &pod, "logging"),
                "helm{}: {image} must reach the webhook",
                helm.major
            );
        }
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
