//! Conformance over the shared fixture set: real manifests written by other
//! projects (`../shared/fixtures/manifests`, see its PROVENANCE.md).
//!
//! The folder exists on the project's machines, not in a user's clone, so every
//! test here prints a message and passes when it is missing (ARCHITECTURE.md, "Shared fixtures").
//!
//! Most checks hold for any manifest, so they also judge fixture sets nobody here
//! has seen: every file parses and round-trips, documents nobody changes come out
//! byte for byte, a second run changes nothing, CRDs are never touched, and each
//! container gets what its image deserves. What an image deserves comes from an
//! oracle in this file ([`expected`]), written from ARCHITECTURE.md, "Why Go takes the cgo resolver" and independent of
//! the engine's catalog, so a catalog that misses a real image reference fails here.
//! Facts about one particular fixture are checked only when that file is present.

use std::fs;
use std::path::{Path, PathBuf};

use netdns_guard::dryrun::{self, OutputFormat, Source};
use netdns_guard::engine::godebug::{self, ForcedResolver};
use netdns_guard::manifest::stream::{self, Document};
use netdns_guard::manifest::{self, ObjectReview, pod_pointer};
use netdns_guard::{Engine, Policy};
use serde_json::Value;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

// --- the fixture set ---------------------------------------------------------

struct Fixture {
    /// The file name, e.g. `promtail-daemonset.yaml`.
    name: String,
    source: Source,
}

fn fixtures_dir() -> PathBuf {
    Path::new(MANIFEST_DIR).join("../shared/fixtures/manifests")
}

/// Every fixture file in name order, or `None` (with a message) when the shared
/// folder is absent.
fn fixtures() -> Option<Vec<Fixture>> {
    let dir = fixtures_dir();
    if !dir.is_dir() {
        eprintln!(
            "skipped: {} does not exist (see ARCHITECTURE.md, Shared fixtures)",
            dir.display()
        );
        return None;
    }
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let fixtures: Vec<Fixture> = names
        .into_iter()
        .map(|name| {
            let path = dir.join(&name);
            let text =
                fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Fixture {
                source: Source {
                    name: format!("fixtures/{name}"),
                    text,
                },
                name,
            }
        })
        .collect();
    assert!(!fixtures.is_empty(), "{} is empty", dir.display());
    Some(fixtures)
}

/// One fixture, when present.
fn fixture(name: &str) -> Option<Fixture> {
    fixtures()?
        .into_iter()
        .find(|f| f.name == name)
        .or_else(|| {
            eprintln!("skipped: fixture {name} is not in this set");
            None
        })
}

// --- policies ----------------------------------------------------------------

fn engine(policy: &str) -> Engine {
    Engine::new(Policy::from_yaml(policy).unwrap()).unwrap()
}

/// A selector every pod matches (no pod has this label), so every container of every
/// pod is a target: the heaviest mutation each strategy can make.
const EVERYTHING: &str =
    "selectors: [{matchExpressions: [{key: netdns-guard.test/absent, operator: DoesNotExist}]}]\n";

/// The default policy, and each strategy applied to every container.
fn policies() -> Vec<(String, Engine)> {
    let mut all = vec![("default".to_owned(), engine(""))];
    for strategy in ["env", "resolver-config", "both"] {
        let policy = format!("strategy: {strategy}\n{EVERYTHING}");
        all.push((format!("every container, {strategy}"), engine(&policy)));
    }
    all
}

// --- running -----------------------------------------------------------------

fn dry_run(engine: &Engine, source: &Source, format: OutputFormat) -> dryrun::Outcome {
    dryrun::run(engine, std::slice::from_ref(source), format)
        .unwrap_or_else(|e| panic!("{}: {e}", source.name))
}

/// A document as read, the same document after the engine, and what it found.
struct Mutated<'s> {
    input: Document<'s>,
    output: Value,
    reviews: Vec<ObjectReview>,
}

impl Mutated<'_> {
    fn changed(&self) -> bool {
        self.reviews.iter().any(|r| !r.patch.is_empty())
    }
}

/// Runs the engine over each document the way dry-run does, keeping both sides.
fn mutate<'s>(engine: &Engine, source: &'s Source) -> Vec<Mutated<'s>> {
    let documents = stream::parse(&source.name, &source.text)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", source.name));
    documents
        .into_iter()
        .map(|input| {
            let mut output = input.value.clone();
            let reviews = manifest::mutate_document(engine, &mut output)
                .unwrap_or_else(|e| panic!("{}: {e}", input.origin));
            Mutated {
                input,
                output,
                reviews,
            }
        })
        .collect()
}

fn non_null(values: impl IntoIterator<Item = Value>) -> Vec<Value> {
    values.into_iter().filter(|v| !v.is_null()).collect()
}

// --- reading workloads -------------------------------------------------------

/// A workload's pod inside a document: `(location of the object, object, pod)`.
type Workload<'v> = (String, &'v Value, &'v Value);

/// Every workload in a document, descending into `List` items.
fn workloads(document: &Value) -> Vec<Workload<'_>> {
    let mut found = Vec::new();
    collect_workloads(document, String::new(), &mut found);
    found
}

fn collect_workloads<'v>(object: &'v Value, location: String, out: &mut Vec<Workload<'v>>) {
    let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default();
    if text("kind") == "List" {
        for (i, item) in object["items"].as_array().into_iter().flatten().enumerate() {
            collect_workloads(item, format!("{location}/items/{i}"), out);
        }
    } else if let Some(pod) =
        pod_pointer(text("apiVersion"), text("kind")).and_then(|pointer| object.pointer(pointer))
    {
        out.push((location, object, pod));
    }
}

/// `(list, container)` for init containers then containers.
fn containers(pod: &Value) -> Vec<(&'static str, &Value)> {
    ["initContainers", "containers"]
        .into_iter()
        .flat_map(|list| {
            let items = pod["spec"][list].as_array().into_iter().flatten();
            items.map(move |c| (list, c))
        })
        .collect()
}

fn image(container: &Value) -> &str {
    container["image"].as_str().unwrap_or_default()
}

/// The GODEBUG entries of a container, in order; `None` for `valueFrom`.
fn godebug_entries(container: &Value) -> Vec<Option<&str>> {
    let env = container["env"].as_array().into_iter().flatten();
    env.filter(|v| v["name"] == "GODEBUG")
        .map(|v| match (&v["valueFrom"], &v["value"]) {
            (Value::Null, Value::String(s)) => Some(s.as_str()),
            (Value::Null, _) => Some(""),
            _ => None,
        })
        .collect()
}

fn opted_out(pod: &Value) -> bool {
    pod["metadata"]["annotations"]["netdns-guard.io/inject"] == "false"
}

/// Whether the owner's own GODEBUG is left alone by contract ("The GODEBUG merge"): it cannot be
/// seen (valueFrom), or it chooses cgo on every Go version (kept by default).
fn left_alone_by_contract(container: &Value) -> bool {
    match godebug_entries(container).last() {
        Some(None) => true,
        Some(Some(value)) => {
            let e = godebug::effective(value);
            e.go_1_19 == ForcedResolver::Cgo && e.go_1_20 == ForcedResolver::Cgo
        }
        None => false,
    }
}

// --- the oracle ----------------------------------------------------------------

/// What ARCHITECTURE.md, "Why Go takes the cgo resolver" says about an image, judged from its repository path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// A cgo-built Go agent: must be protected.
    AtRisk,
    /// Not Go at all: must be left alone, with the reason reported.
    NotGo,
    /// A pure-Go agent: left alone.
    PureGo,
    /// Nothing known.
    Unknown,
}

fn expected(image: &str) -> Expected {
    let repository = image.split('@').next().unwrap_or_default();
    let last_slash = repository.rfind('/').map_or(0, |i| i + 1);
    let repository = match repository[last_slash..].find(':') {
        Some(colon) => &repository[..last_slash + colon],
        None => repository,
    };
    let name = &repository[last_slash..];
    let beats = [
        "filebeat",
        "metricbeat",
        "auditbeat",
        "packetbeat",
        "heartbeat",
        "journalbeat",
    ];
    match name {
        "loggie" | "promtail" => Expected::AtRisk,
        _ if beats.iter().any(|b| name.starts_with(b)) => Expected::AtRisk,
        _ if name.starts_with("elastic-agent") => Expected::AtRisk,
        "agent" if repository.contains("datadog") => Expected::AtRisk,
        "agent" if repository.contains("grafana") => Expected::PureGo,
        "alloy" => Expected::PureGo,
        _ if name.starts_with("opentelemetry-collector") => Expected::PureGo,
        _ if name.starts_with("fluent-bit") || name.starts_with("fluentd") => Expected::NotGo,
        "vector" | "logstash" => Expected::NotGo,
        _ => Expected::Unknown,
    }
}

#[test]
fn the_oracle_reads_real_image_references() {
    // The oracle is test code too: pin it on the references the fixtures use.
    assert_eq!(
        expected("registry.datadoghq.com/agent:7.81.1"),
        Expected::AtRisk
    );
    assert_eq!(expected("gcr.io/datadoghq/agent:7.49.1"), Expected::AtRisk);
    assert_eq!(
        expected("gcr.io/datadoghq/cluster-agent:7.49.1"),
        Expected::Unknown
    );
    assert_eq!(
        expected("docker.io/grafana/promtail:3.5.1"),
        Expected::AtRisk
    );
    assert_eq!(
        expected("cr.fluentbit.io/fluent/fluent-bit:5.1.1"),
        Expected::NotGo
    );
    assert_eq!(
        expected("quay.io/fluentd_elasticsearch/fluentd:v5.0.1"),
        Expected::NotGo
    );
    assert_eq!(
        expected("fluent/fluentd-kubernetes-daemonset:v1-debian"),
        Expected::NotGo
    );
    assert_eq!(
        expected("localhost:5000/loggie@sha256:00"),
        Expected::AtRisk
    );
    assert_eq!(expected("busybox:1.28"), Expected::Unknown);
}

// --- tests: every file -------------------------------------------------------

#[test]
fn every_file_parses_and_round_trips() {
    let Some(fixtures) = fixtures() else { return };
    for (label, engine) in policies() {
        for fixture in &fixtures {
            let context = format!("{} ({label})", fixture.name);
            let mutated = mutate(&engine, &fixture.source);
            let expected = non_null(mutated.iter().map(|m| m.output.clone()));

            let yaml = dry_run(&engine, &fixture.source, OutputFormat::Yaml).stdout;
            let reread = stream::parse("output", &yaml)
                .unwrap_or_else(|e| panic!("{context}: output does not parse: {e}"));
            let reread = non_null(reread.into_iter().map(|d| d.value));
            assert!(reread == expected, "{context}: YAML output re-read differs");

            let json = dry_run(&engine, &fixture.source, OutputFormat::Json).stdout;
            let json: Value = serde_json::from_str(&json).unwrap();
            let json = match expected.len() {
                1 => vec![json],
                _ => json["items"].as_array().cloned().unwrap_or_default(),
            };
            assert!(json == expected, "{context}: JSON output differs");

            assert_unchanged_documents_are_verbatim(&context, &mutated, &yaml);
            assert_patches_reproduce_the_output(&context, &mutated);
        }
    }
}

/// Documents nobody changed appear in the output exactly as written, in order; a
/// YAML file in which nothing changed comes out identical.
fn assert_unchanged_documents_are_verbatim(context: &str, mutated: &[Mutated<'_>], output: &str) {
    let mut rest = output;
    for m in mutated.iter().filter(|m| !m.changed()) {
        let Some(raw) = m.input.raw.filter(|raw| !raw.trim().is_empty()) else {
            continue;
        };
        let at = rest.find(raw).unwrap_or_else(|| {
            panic!(
                "{context}: {} is not in the output verbatim (or is out of order)",
                m.input.origin
            )
        });
        rest = &rest[at + raw.len()..];
    }
    let all_yaml = mutated.iter().all(|m| m.input.raw.is_some());
    if all_yaml && !mutated.iter().any(Mutated::changed) {
        let input: String = mutated.iter().filter_map(|m| m.input.raw).collect();
        assert!(
            output == input,
            "{context}: nothing changed, but the output differs from the input"
        );
    }
}

/// The JSON Patch reported for each object, applied to the object as read, gives
/// the object as written.
fn assert_patches_reproduce_the_output(context: &str, mutated: &[Mutated<'_>]) {
    for m in mutated {
        for review in m.reviews.iter().filter(|r| !r.patch.is_empty()) {
            let mut object = m.input.value.pointer(&review.location).unwrap().clone();
            let ops = serde_json::to_value(&review.patch).unwrap();
            let patch: json_patch::Patch = serde_json::from_value(ops).unwrap();
            json_patch::patch(&mut object, &patch).unwrap_or_else(|e| {
                panic!("{context}: {}: patch does not apply: {e}", review.object)
            });
            assert!(
                object == *m.output.pointer(&review.location).unwrap(),
                "{context}: {}: patch and output disagree",
                review.object
            );
        }
    }
}

#[test]
fn a_second_run_changes_nothing() {
    let Some(fixtures) = fixtures() else { return };
    for (label, engine) in policies() {
        for fixture in &fixtures {
            let first = dry_run(&engine, &fixture.source, OutputFormat::Yaml);
            // Named as the stream it is: YAML, even when the input file was JSON.
            let again = Source {
                name: format!("{} output", fixture.source.name),
                text: first.stdout.clone(),
            };
            let second = dry_run(&engine, &again, OutputFormat::Yaml);
            assert!(
                !second.changed,
                "{} ({label}): the second run changed something",
                fixture.name
            );
            assert!(
                second.stdout == first.stdout,
                "{} ({label}): the second run's output differs",
                fixture.name
            );
        }
    }
}

#[test]
fn at_risk_go_agents_get_the_fix_in_every_agent_container() {
    let Some(fixtures) = fixtures() else { return };
    let engine = engine("");
    let mut protected = 0;
    for fixture in &fixtures {
        for m in mutate(&engine, &fixture.source) {
            for ((location, _, before), (_, object, after)) in workloads(&m.input.value)
                .into_iter()
                .zip(workloads(&m.output))
            {
                let at = format!("{} {}{location}", fixture.name, m.input.origin.index);
                if opted_out(before) {
                    continue;
                }
                protected += check_agent_containers(&at, object, before, after);
            }
        }
    }
    eprintln!("{protected} at-risk agent containers protected");
}

/// Checks every at-risk container of one workload; returns how many there were.
fn check_agent_containers(at: &str, object: &Value, before: &Value, after: &Value) -> usize {
    let mut count = 0;
    for ((list, old), (_, new)) in containers(before).into_iter().zip(containers(after)) {
        if expected(image(old)) != Expected::AtRisk || left_alone_by_contract(old) {
            continue;
        }
        count += 1;
        let name = format!("{at} {} {list} {}", object["kind"], old["name"]);
        let (old_values, new_values) = (godebug_entries(old), godebug_entries(new));
        let value = new_values
            .last()
            .copied()
            .flatten()
            .unwrap_or_else(|| panic!("{name} ({}): no GODEBUG after the run", image(old)));
        assert!(
            godebug::is_safe(value),
            "{name}: GODEBUG {value:?} does not force netdns=go"
        );
        assert_eq!(
            new_values.len(),
            old_values.len().max(1),
            "{name}: GODEBUG entries {new_values:?}"
        );
        // An owner's other settings are kept byte for byte, netdns=go appended.
        if let Some(Some(old_value)) = old_values.last()
            && !old_value.is_empty()
            && !old_value.contains("netdns")
        {
            let separator = if old_value.ends_with(',') { "" } else { "," };
            assert_eq!(value, format!("{old_value}{separator}netdns=go"), "{name}");
        }
    }
    count
}

#[test]
fn non_go_agents_are_left_alone_with_the_reason_in_the_report() {
    let Some(fixtures) = fixtures() else { return };
    let engine = engine("");
    for fixture in &fixtures {
        let report: Vec<Value> = serde_json::from_str(
            &dry_run(&engine, &fixture.source, OutputFormat::ReportJson).stdout,
        )
        .unwrap();
        let text = dry_run(&engine, &fixture.source, OutputFormat::Report).stdout;
        for m in mutate(&engine, &fixture.source) {
            for ((location, object, before), (_, _, after)) in workloads(&m.input.value)
                .into_iter()
                .zip(workloads(&m.output))
            {
                let entry = report
                    .iter()
                    .find(|e| {
                        e["document"] == m.input.origin.index && e["location"] == location.as_str()
                    })
                    .unwrap_or_else(|| {
                        panic!("{}: {} is not in the report", fixture.name, object["kind"])
                    });
                let pairs = containers(before).into_iter().zip(containers(after));
                for (i, ((_, old), (_, new))) in pairs.enumerate() {
                    if expected(image(old)) == Expected::NotGo {
                        let at = format!("{} {} {}", fixture.name, object["kind"], old["name"]);
                        assert_eq!(old, new, "{at}: a non-Go container was changed");
                        check_not_go_report(&engine, &at, &entry["report"]["containers"][i], &text);
                    }
                }
            }
        }
    }
}

/// The report's entry for a non-Go container says "not at risk" and why, in the JSON
/// report and in the one people read.
fn check_not_go_report(engine: &Engine, at: &str, container: &Value, text: &str) {
    assert_eq!(container["verdict"], "not-at-risk", "{at}: {container}");
    assert_eq!(container["target"], false, "{at}");
    let id = container["agent"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{at}: no catalog entry"));
    let entry = engine.catalog().entries().find(|e| e.id == id).unwrap();
    assert_eq!(container["agent"]["reason"], entry.reason.as_str(), "{at}");
    let line = format!(
        "container {} ({}): not at risk ({}: {})",
        container["name"].as_str().unwrap(),
        container["image"].as_str().unwrap(),
        entry.name,
        entry.reason
    );
    assert!(text.contains(&line), "{at}: the report lacks {line:?}");
}

#[test]
fn crds_are_never_touched() {
    let Some(fixtures) = fixtures() else { return };
    let mut with_pod_like_schemas = 0;
    for (label, engine) in policies() {
        for fixture in &fixtures {
            let output = dry_run(&engine, &fixture.source, OutputFormat::Yaml).stdout;
            for m in mutate(&engine, &fixture.source) {
                if m.input.value["kind"] != "CustomResourceDefinition" {
                    continue;
                }
                let at = format!("{} ({label}): {}", fixture.name, m.input.origin);
                assert!(
                    m.reviews.is_empty(),
                    "{at}: a CRD was reviewed as a workload"
                );
                let raw = m.input.raw.expect("the CRDs are YAML");
                assert!(
                    output.contains(raw),
                    "{at}: the CRD is not in the output byte for byte"
                );
                let schema = serde_json::to_string(&m.input.value["spec"]).unwrap();
                with_pod_like_schemas +=
                    usize::from(schema.contains("\"containers\"") && schema.contains("\"env\""));
            }
        }
    }
    if fixtures.iter().any(|f| {
        f.name
            .starts_with("datadog-agent-daemonset-logs-with-operator-crds")
    }) {
        assert!(
            with_pod_like_schemas > 0,
            "the Datadog CRDs should mention containers and env"
        );
    }
}

#[test]
fn helm_test_hook_pods_are_judged_like_any_other_pod() {
    let Some(fixtures) = fixtures() else { return };
    let engine = engine("");
    let mut hooks = 0;
    for fixture in &fixtures {
        for m in mutate(&engine, &fixture.source) {
            let value = &m.input.value;
            let hook = value["metadata"]["annotations"]["helm.sh/hook"]
                .as_str()
                .unwrap_or_default();
            if value["kind"] != "Pod" || !hook.split(',').any(|h| h == "test") {
                continue;
            }
            hooks += 1;
            let at = format!("{}: Pod {}", fixture.name, value["metadata"]["name"]);
            let [review] = m.reviews.as_slice() else {
                panic!("{at}: not reviewed exactly once")
            };
            for (container, report) in containers(value)
                .into_iter()
                .zip(&review.review.report.containers)
            {
                let verdict = serde_json::to_value(report.verdict).unwrap();
                if expected(image(container.1)) == Expected::Unknown {
                    assert_eq!(verdict, "unknown", "{at}");
                    assert!(
                        review.patch.is_empty(),
                        "{at}: changed though its image is unknown"
                    );
                }
            }
            // The hook annotation is no exemption: the same pod running an at-risk
            // agent is fixed.
            let mut agent_pod = value.clone();
            for list in ["initContainers", "containers"] {
                for c in agent_pod["spec"][list].as_array_mut().into_iter().flatten() {
                    c["image"] = Value::from("grafana/promtail:3.5.1");
                }
            }
            let reviews = manifest::mutate_document(&engine, &mut agent_pod).unwrap();
            assert!(
                !reviews[0].patch.is_empty(),
                "{at}: an agent in a hook pod was not fixed"
            );
        }
    }
    eprintln!("{hooks} Helm test-hook pods judged");
}

// --- tests: particular fixtures ----------------------------------------------

/// The mutated workload `kind/name` of a fixture, with the default policy.
fn workload_after(fixture: &Fixture, kind: &str, name: &str) -> Value {
    let mutated = mutate(&engine(""), &fixture.source);
    mutated
        .iter()
        .flat_map(|m| {
            workloads(&m.output)
                .into_iter()
                .map(|(_, o, p)| (o, p.clone()))
        })
        .find(|(o, _)| o["kind"] == kind && o["metadata"]["name"] == name)
        .map(|(_, pod)| pod)
        .unwrap_or_else(|| panic!("{}: no {kind}/{name}", fixture.name))
}

fn godebug_of(pod: &Value, name: &str) -> Vec<Option<String>> {
    let container = containers(pod)
        .into_iter()
        .find(|(_, c)| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"));
    godebug_entries(container.1)
        .into_iter()
        .map(|v| v.map(str::to_owned))
        .collect()
}

#[test]
fn datadog_3_49_5_keeps_x509ignorecn_and_gains_netdns_go() {
    let Some(f) = fixture("datadog-3.49.5-agent-daemonset-godebug-x509ignorecn-preset.yaml") else {
        return;
    };
    let pod = workload_after(&f, "DaemonSet", "datadog");
    for name in ["init-config", "agent", "trace-agent", "process-agent"] {
        let expected = vec![Some("x509ignoreCN=0,netdns=go".to_owned())];
        assert_eq!(godebug_of(&pod, name), expected, "{name}");
    }
    // The chart sets no GODEBUG on init-volume: it gets a plain one.
    assert_eq!(
        godebug_of(&pod, "init-volume"),
        [Some("netdns=go".to_owned())]
    );
}

#[test]
fn datadog_3_240_agent_containers_from_registry_datadoghq_com_are_fixed() {
    let Some(f) = fixture("datadog-agent-daemonset-logs-with-operator-crds.yaml") else {
        return;
    };
    let pod = workload_after(&f, "DaemonSet", "datadog");
    let names: Vec<&str> = containers(&pod)
        .iter()
        .map(|(_, c)| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "init-volume",
            "init-config",
            "seccomp-setup",
            "agent",
            "trace-agent",
            "system-probe"
        ]
    );
    for name in names {
        assert_eq!(
            godebug_of(&pod, name),
            [Some("netdns=go".to_owned())],
            "{name}"
        );
    }
    // The cluster agent is a different image the catalog does not list.
    let cluster_agent = workload_after(&f, "Deployment", "datadog-cluster-agent");
    assert_eq!(
        godebug_of(&cluster_agent, "cluster-agent"),
        Vec::<Option<String>>::new()
    );
}

#[test]
fn promtail_gets_the_fix() {
    for file in [
        "promtail-daemonset.yaml",
        "promtail-deployment-extraports.yaml",
    ] {
        let Some(f) = fixture(file) else { continue };
        let kind = if file.contains("deployment") {
            "Deployment"
        } else {
            "DaemonSet"
        };
        let pod = workload_after(&f, kind, "promtail");
        assert_eq!(
            godebug_of(&pod, "promtail"),
            [Some("netdns=go".to_owned())],
            "{file}"
        );
        // Its existing HOSTNAME entry stays first.
        assert_eq!(
            pod["spec"]["containers"][0]["env"][0]["name"], "HOSTNAME",
            "{file}"
        );
    }
}

#[test]
fn lists_in_yaml_and_json_are_handled_item_by_item() {
    let cases = [
        (
            "k8s-hack-testdata-list-service-deployment.yaml",
            "Deployment",
        ),
        (
            "k8s-hack-testdata-list-service-replicationcontroller.json",
            "ReplicationController",
        ),
    ];
    // Every container targeted, so that the items really are rewritten in place.
    let engine = engine(EVERYTHING);
    for (file, kind) in cases {
        let Some(f) = fixture(file) else { continue };
        let mutated = mutate(&engine, &f.source);
        let [m] = mutated.as_slice() else {
            panic!("{file}: one document expected")
        };
        let [review] = m.reviews.as_slice() else {
            panic!("{file}: one workload expected")
        };
        assert_eq!(
            (review.object.kind.as_str(), review.location.as_str()),
            (kind, "/items/1")
        );
        let output = dry_run(&engine, &f.source, OutputFormat::Yaml).stdout;
        let list = &stream::parse("output", &output).unwrap()[0].value;
        assert_eq!(list["kind"], "List", "{file}");
        assert_eq!(
            list["items"][0], m.input.value["items"][0],
            "{file}: the Service changed"
        );
        let container = &list["items"][1]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(godebug_entries(container), [Some("netdns=go")], "{file}");
    }
}

#[test]
fn the_flow_style_pod_and_the_file_without_a_final_newline_work() {
    // (file, its image as written, the same image replaced by Promtail)
    let files = [
        (
            "k8s-docs-pod-initcontainers-flow-style-dnspolicy-default.yaml",
            "image: \"nginx\"",
            "image: \"grafana/promtail\"",
        ),
        (
            "k8s-docs-pod-dependent-envars-no-trailing-newline.yaml",
            "image: busybox",
            "image: grafana/promtail",
        ),
    ];
    let engine = engine("");
    for (file, image, promtail) in files {
        let Some(f) = fixture(file) else { continue };
        // As they are (no agent): echoed exactly, final newline or not.
        let out = dry_run(&engine, &f.source, OutputFormat::Yaml);
        assert!(
            !out.changed && out.stdout == f.source.text,
            "{file}: not echoed verbatim"
        );
        // The same pod running Promtail: changed, and the output still reads back.
        let agent = Source {
            name: f.source.name.clone(),
            text: f.source.text.replacen(image, promtail, 1),
        };
        let out = dry_run(&engine, &agent, OutputFormat::Yaml);
        assert!(out.changed, "{file}: the Promtail variant was not changed");
        let pod = &stream::parse("output", &out.stdout).unwrap()[0].value;
        let promtail = containers(pod)
            .into_iter()
            .find(|(_, c)| image_is_promtail(c))
            .unwrap();
        assert_eq!(godebug_entries(promtail.1), [Some("netdns=go")], "{file}");
    }
}

fn image_is_promtail(container: &Value) -> bool {
    image(container) == "grafana/promtail"
}
