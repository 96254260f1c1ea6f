//! Golden tests: `netdns-guard dry-run` (the library, default policy) over every
//! bundled example in `examples/manifests/`, compared with the expected output in
//! `tests/golden/`.
//!
//! Each example gets its YAML output and its JSON report checked; one also gets its
//! diff, and the whole directory gets the human report the README's first command
//! prints. The goldens were reviewed by hand: they say what the right answer is,
//! not merely what the code printed once. After an intended change, regenerate them
//! with `UPDATE_GOLDEN=1 cargo test --test golden` and review the diff before
//! committing.

use std::fs;
use std::path::{Path, PathBuf};

use netdns_guard::dryrun::{self, OutputFormat, Source};
use netdns_guard::{Engine, Policy};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const EXAMPLES: &str = "examples/manifests";

/// The default engine: what `dry-run` uses without `--config`.
fn engine() -> Engine {
    Engine::new(Policy::default()).expect("the default policy compiles")
}

/// Every example file, sorted, named by its path relative to the repository root so
/// that reports (which print the name) are the same on every machine.
fn examples() -> Vec<Source> {
    let dir = Path::new(MANIFEST_DIR).join(EXAMPLES);
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 9, "examples are missing: {names:?}");
    names
        .into_iter()
        .map(|name| Source {
            text: fs::read_to_string(dir.join(&name)).unwrap(),
            name: format!("{EXAMPLES}/{name}"),
        })
        .collect()
}

fn stem(source: &Source) -> &str {
    let file = source.name.rsplit('/').next().unwrap();
    file.strip_suffix(".yaml").unwrap()
}

fn golden_path(name: &str) -> PathBuf {
    Path::new(MANIFEST_DIR).join("tests/golden").join(name)
}

fn dry_run(sources: &[Source], format: OutputFormat) -> dryrun::Outcome {
    dryrun::run(&engine(), sources, format)
        .unwrap_or_else(|e| panic!("dry-run {:?} failed: {e}", sources[0].name))
}

/// Compares `actual` with the golden file, or rewrites it when `UPDATE_GOLDEN=1`.
/// Returns a description of the mismatch so that one run reports every file.
fn check_golden(name: &str, actual: &str) -> Option<String> {
    let path = golden_path(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, actual).unwrap();
        return None;
    }
    let expected = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            return Some(format!(
                "{name}: {e} (run with UPDATE_GOLDEN=1 to create it)"
            ));
        }
    };
    (expected != actual).then(|| {
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual);
        format!(
            "{name} differs from its golden file:\n{}",
            diff.unified_diff().header("golden", "actual")
        )
    })
}

fn assert_all_match(mismatches: Vec<String>) {
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn yaml_output_of_each_example_matches_its_golden_file() {
    let mismatches = examples()
        .iter()
        .filter_map(|source| {
            let out = dry_run(std::slice::from_ref(source), OutputFormat::Yaml);
            check_golden(&format!("{}.yaml", stem(source)), &out.stdout)
        })
        .collect();
    assert_all_match(mismatches);
}

#[test]
fn json_report_of_each_example_matches_its_golden_file() {
    let mismatches = examples()
        .iter()
        .filter_map(|source| {
            let out = dry_run(std::slice::from_ref(source), OutputFormat::ReportJson);
            check_golden(&format!("{}.report.json", stem(source)), &out.stdout)
        })
        .collect();
    assert_all_match(mismatches);
}

#[test]
fn diff_of_the_promtail_example_matches_its_golden_file() {
    // Promtail has an init container and a container without env: the diff shows
    // both lists being created and the status annotation.
    let source = examples()
        .into_iter()
        .find(|s| s.name.ends_with("03-promtail-deployment.yaml"))
        .expect("the Promtail example exists");
    let out = dry_run(std::slice::from_ref(&source), OutputFormat::Diff);
    assert_all_match(
        check_golden("03-promtail-deployment.diff", &out.stdout)
            .into_iter()
            .collect(),
    );
}

#[test]
fn report_over_all_examples_matches_its_golden_file() {
    // What `cargo run -- dry-run -f examples/manifests -o report` prints (README).
    let out = dry_run(&examples(), OutputFormat::Report);
    assert_all_match(
        check_golden("examples.report.txt", &out.stdout)
            .into_iter()
            .collect(),
    );
}

#[test]
fn exactly_the_at_risk_examples_change() {
    // A summary of the goldens that does not depend on reading them: which files
    // the default policy must change and which it must leave alone.
    let changed: Vec<String> = examples()
        .iter()
        .filter(|source| dry_run(std::slice::from_ref(source), OutputFormat::Yaml).changed)
        .map(|source| stem(source).to_owned())
        .collect();
    assert_eq!(
        changed,
        [
            "01-loggie-daemonset",
            "02-filebeat-daemonset",
            "03-promtail-deployment",
            "06-filebeat-cronjob",
            "08-pod-opted-in",
        ]
    );
}

#[test]
fn unchanged_examples_are_echoed_byte_for_byte() {
    for source in examples() {
        let out = dry_run(std::slice::from_ref(&source), OutputFormat::Yaml);
        if !out.changed {
            assert_eq!(out.stdout, source.text, "{}", source.name);
        }
    }
}

#[test]
fn dry_run_on_its_own_output_changes_nothing() {
    for source in examples() {
        let first = dry_run(std::slice::from_ref(&source), OutputFormat::Yaml);
        let again = Source {
            name: source.name.clone(),
            text: first.stdout.clone(),
        };
        let second = dry_run(&[again], OutputFormat::Yaml);
        assert!(
            !second.changed,
            "{}: second run changed something",
            source.name
        );
        assert_eq!(second.stdout, first.stdout, "{}", source.name);
    }
}

#[test]
fn the_example_policy_loads_and_documents_every_key() {
    let text = fs::read_to_string(Path::new(MANIFEST_DIR).join("examples/policy.yaml")).unwrap();
    let policy = Policy::from_yaml(&text).unwrap_or_else(|e| panic!("examples/policy.yaml: {e}"));
    Engine::new(policy).expect("the example policy compiles");
    let keys = [
        "apiVersion:",
        "kind:",
        "metadata:",
        "strategy:",
        "containers:",
        "overrideCgo:",
        "resolverConfig:",
        "goFloor:",
        "catalog:",
        "add:",
        "id:",
        "name:",
        "risk:",
        "reason:",
        "images:",
        "remove:",
        "selectors:",
        "matchLabels:",
        "matchExpressions:",
        "key:",
        "operator:",
        "values:",
        "skipNamespaces:",
    ];
    for key in keys {
        // Set in the example (not only mentioned in a comment).
        let set = text
            .lines()
            .any(|line| line.trim_start().trim_start_matches("- ").starts_with(key));
        assert!(set, "examples/policy.yaml does not set {key}");
    }
}
