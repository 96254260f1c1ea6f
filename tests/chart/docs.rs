//! The chart's documentation has one source, values.yaml's `## @param` comments:
//! `scripts/chart-docs.sh --check` passes on the chart as committed, and fails, naming
//! the key, when a copy of the chart has a README row, a schema description or a
//! values.yaml description edited on its own, or a key documented in one file only.
//! Regenerating (`scripts/chart-docs.sh`) brings such a copy back in step.
//!
//! The script installs its pinned generator with npm into `target/tools`; without
//! node and npm the tests skip, unless `NETDNS_GUARD_REQUIRE_TOOLS=1` (the test
//! command) makes that a failure.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::scratch::scratch_dir;
use crate::{MANIFEST_DIR, chart_dir};
use serde_json::Value;

/// The files the script reads and writes.
const DOC_FILES: [&str; 3] = ["values.yaml", "README.md", "values.schema.json"];

/// False (after a SKIP line) when node or npm is missing and the tools are optional.
fn tools_present() -> bool {
    let missing: Vec<&str> = ["node", "npm"]
        .into_iter()
        .filter(|tool| {
            let status = Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            !matches!(status, Ok(s) if s.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!("{missing:?} not on PATH, needed by scripts/chart-docs.sh");
    crate::support::missing_tool::skip_or_fail(&msg);
    false
}

/// The outcome of one run of the script, with its output as text.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from_output(out: Output) -> Self {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn assert_success(&self, what: &str) {
        assert_eq!(
            self.code,
            Some(0),
            "{what} should pass:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
    }

    /// Asserts the drift exit status (1) and that stderr has every one of `needles`.
    fn assert_drift(&self, what: &str, needles: &[&str]) {
        assert_eq!(
            self.code,
            Some(1),
            "{what} should fail the check with status 1:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "{what}: the failure should say {needle:?}; stderr:\n{}",
                self.stderr
            );
        }
    }
}

/// Runs `scripts/chart-docs.sh [--check]` on the chart in `chart`.
fn chart_docs(chart: &Path, check: bool) -> Run {
    let mut cmd = Command::new(Path::new(MANIFEST_DIR).join("scripts/chart-docs.sh"));
    if check {
        cmd.arg("--check");
    }
    let out = cmd
        .env("NETDNS_CHART_DIR", chart)
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/chart-docs.sh");
    Run::from_output(out)
}

/// A copy of the chart's documented files, to edit.
struct ChartCopy {
    dir: tempfile::TempDir,
}

impl ChartCopy {
    fn new(tag: &str) -> Self {
        let dir = scratch_dir(&format!("chart-docs-{tag}"));
        for file in DOC_FILES {
            fs::copy(chart_dir().join(file), dir.path().join(file))
                .unwrap_or_else(|e| panic!("copy {file}: {e}"));
        }
        ChartCopy { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn read(&self, file: &str) -> String {
        fs::read_to_string(self.path().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    /// Replaces the one occurrence of `from` in `file` with `to`.
    fn replace_once(&self, file: &str, from: &str, to: &str) {
        let text = self.read(file);
        assert_eq!(
            text.matches(from).count(),
            1,
            "{file} should contain {from:?} exactly once"
        );
        fs::write(self.path().join(file), text.replacen(from, to, 1)).expect("write");
    }

    fn schema(&self) -> Value {
        serde_json::from_str(&self.read("values.schema.json")).expect("schema is JSON")
    }

    fn write_schema(&self, schema: &Value) {
        let text = serde_json::to_string_pretty(schema).expect("serialise") + "\n";
        fs::write(self.path().join("values.schema.json"), text).expect("write");
    }
}

/// The schema node of a dotted values key.
fn schema_property<'a>(schema: &'a mut Value, dotted: &str) -> &'a mut Value {
    dotted.split('.').fold(schema, |node, key| {
        node.get_mut("properties")
            .and_then(|p| p.get_mut(key))
            .unwrap_or_else(|| panic!("schema has no property for {dotted}"))
    })
}

fn schema_description(schema: &mut Value, dotted: &str) -> Option<String> {
    schema_property(schema, dotted)
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Regenerating fixes a drifted copy: afterwards the check passes.
fn assert_regeneration_fixes(copy: &ChartCopy, what: &str) {
    chart_docs(copy.path(), false).assert_success(&format!("regenerating after {what}"));
    chart_docs(copy.path(), true).assert_success(&format!("the check after regenerating ({what})"));
}

#[test]
fn the_committed_chart_passes_the_check_and_is_left_unchanged() {
    if !tools_present() {
        return;
    }
    let before: Vec<String> = DOC_FILES
        .iter()
        .map(|f| fs::read_to_string(chart_dir().join(f)).expect("read"))
        .collect();
    let run = chart_docs(&chart_dir(), true);
    run.assert_success("scripts/chart-docs.sh --check on charts/netdns-guard");
    assert!(
        run.stdout.contains("agree with values.yaml"),
        "stdout: {}",
        run.stdout
    );
    for (file, text) in DOC_FILES.iter().zip(before) {
        assert_eq!(
            fs::read_to_string(chart_dir().join(file)).expect("read"),
            text,
            "--check must not write {file}"
        );
    }
}

#[test]
fn a_schema_description_edited_by_hand_fails_the_check_naming_the_key() {
    if !tools_present() {
        return;
    }
    let copy = ChartCopy::new("schema");
    let original = schema_description(&mut copy.schema(), "webhook.timeoutSeconds")
        .expect("webhook.timeoutSeconds has a description");
    // A text edit, as a person would make it, leaving the rest of the file as it is.
    copy.replace_once(
        "values.schema.json",
        &Value::from(original.as_str()).to_string(),
        "\"Edited in the schema only.\"",
    );

    chart_docs(copy.path(), true).assert_drift(
        "an edited schema description",
        &[
            "the description of webhook.timeoutSeconds differs from values.yaml",
            "Edited in the schema only.",
            "run scripts/chart-docs.sh",
        ],
    );
    assert_regeneration_fixes(&copy, "an edited schema description");
    assert_eq!(
        schema_description(&mut copy.schema(), "webhook.timeoutSeconds"),
        Some(original),
        "regenerating restores the description from values.yaml"
    );
}

#[test]
fn a_values_description_edited_alone_fails_the_check_for_readme_and_schema() {
    if !tools_present() {
        return;
    }
    let copy = ChartCopy::new("values");
    copy.replace_once(
        "values.yaml",
        "## @param server.maxInFlight Most admission reviews answered at once per replica",
        "## @param server.maxInFlight Admission reviews in flight per replica, at most",
    );

    chart_docs(copy.path(), true).assert_drift(
        "an edited values.yaml description",
        &[
            "README.md: the row of server.maxInFlight differs from values.yaml",
            "the description of server.maxInFlight differs from values.yaml",
            "run scripts/chart-docs.sh",
        ],
    );
    assert_regeneration_fixes(&copy, "an edited values.yaml description");
    let want = "Admission reviews in flight per replica, at most (serve --max-in-flight).";
    assert!(
        copy.read("README.md").contains(want),
        "README row rewritten"
    );
    assert_eq!(
        schema_description(&mut copy.schema(), "server.maxInFlight").as_deref(),
        Some(want),
        "the continuation line is joined into the schema description"
    );
}

#[test]
fn a_readme_row_edited_by_hand_fails_the_check_naming_the_key() {
    if !tools_present() {
        return;
    }
    let copy = ChartCopy::new("readme");
    copy.replace_once(
        "README.md",
        "Number of old ReplicaSets kept for rollback.",
        "Edited in the README only.",
    );
    chart_docs(copy.path(), true).assert_drift(
        "an edited README row",
        &[
            "README.md: the row of revisionHistoryLimit differs from values.yaml",
            "+| `revisionHistoryLimit`",
            "run scripts/chart-docs.sh",
        ],
    );
    assert_regeneration_fixes(&copy, "an edited README row");
}

#[test]
fn a_value_without_a_param_fails_the_check() {
    if !tools_present() {
        return;
    }
    let copy = ChartCopy::new("undocumented");
    copy.replace_once(
        "values.yaml",
        "revisionHistoryLimit: 5\n",
        "revisionHistoryLimit: 5\nundocumentedKey: 1\n",
    );
    chart_docs(copy.path(), true).assert_drift(
        "a value with no @param",
        &["Missing metadata for key: undocumentedKey"],
    );
}

#[test]
fn a_schema_property_without_documentation_fails_the_check() {
    if !tools_present() {
        return;
    }
    let copy = ChartCopy::new("schema-only");
    let mut schema = copy.schema();
    schema_property(&mut schema, "server")["properties"]["schemaOnly"] =
        serde_json::json!({"type": "integer"});
    copy.write_schema(&schema);
    chart_docs(copy.path(), true).assert_drift(
        "a schema property with no @param",
        &["property server.schemaOnly is not documented in values.yaml"],
    );
    // Not something a rewrite can fix: the regenerating mode refuses it too.
    chart_docs(copy.path(), false).assert_drift(
        "regenerating with a schema property with no @param",
        &["server.schemaOnly"],
    );
}

#[test]
fn a_documented_value_missing_from_the_schema_fails_the_check() {
    if !tools_present() {
        return;
    }
    let copy = ChartCopy::new("values-only");
    let mut schema = copy.schema();
    schema_property(&mut schema, "server")["properties"]
        .as_object_mut()
        .expect("server.properties is an object")
        .remove("maxInFlight");
    copy.write_schema(&schema);
    chart_docs(copy.path(), true).assert_drift(
        "a documented value the schema lacks",
        &["no property for server.maxInFlight, which values.yaml documents"],
    );
}

#[test]
fn a_stray_double_hash_comment_is_refused_rather_than_dropped() {
    if !tools_present() {
        return;
    }
    let copy = ChartCopy::new("stray");
    copy.replace_once(
        "values.yaml",
        "revisionHistoryLimit: 5\n",
        "revisionHistoryLimit: 5\n## a note the generator would not show\n",
    );
    chart_docs(copy.path(), true).assert_drift(
        "a stray ## comment",
        &["a `##` line that is neither a tag nor the continuation"],
    );
}
