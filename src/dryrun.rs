//! `netdns-guard dry-run`: the engine over manifest streams, for CI, GitOps, Helm
//! post-rendering and KRM functions (ARCHITECTURE.md, "The command line").
//!
//! Output is rendered completely in memory and only then written, so an error in the
//! tenth file leaves stdout empty rather than half-written. Documents that are not
//! changed are echoed byte for byte.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

use crate::engine::Engine;
use crate::engine::report::{ContainerReport, PodReport, Verdict};
use crate::manifest::stream::{self, Document, Origin, ParseError};
use crate::manifest::{self, ObjectReview, ShapeError};

/// Output formats of `-o`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// The manifests, changed where needed (unchanged documents byte for byte).
    #[default]
    Yaml,
    /// The manifests as JSON: one object, or a `List` when there are several.
    Json,
    /// The JSON Patch of each changed object.
    Patch,
    /// A unified diff of each changed object.
    Diff,
    /// A report a person reads: every workload, every container, why.
    Report,
    /// The same report as JSON, for tools.
    ReportJson,
}

/// One input named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    Path(PathBuf),
}

impl Input {
    /// `-` is stdin; anything else a file or directory.
    pub fn parse(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::Path(arg.into())
        }
    }
}

/// A read input: its name for messages and its text.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// Everything that makes a dry-run fail (exit code 2).
///
/// Each message is complete on its own and no variant has an error `source`: the CLI
/// prints the whole chain (`{:#}`), which would otherwise say everything twice.
#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("{path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: not UTF-8 text")]
    NotText { path: String },
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("{origin}: {error}")]
    Shape { origin: Origin, error: ShapeError },
    #[error("{origin}: functionConfig: {message}")]
    FunctionConfig { origin: Origin, message: String },
    #[error("no input: give -f PATH (repeatable, '-' for stdin) or pipe manifests on stdin")]
    NoInput,
}

/// Reads every input; directories are walked recursively, in name order, for
/// `.yaml`, `.yml` and `.json` files.
pub fn read_inputs(inputs: &[Input], stdin: &mut dyn Read) -> Result<Vec<Source>, DryRunError> {
    let mut sources = Vec::new();
    for input in inputs {
        match input {
            Input::Stdin => {
                let mut bytes = Vec::new();
                stdin
                    .read_to_end(&mut bytes)
                    .map_err(|error| DryRunError::Read {
                        path: "<stdin>".into(),
                        error,
                    })?;
                sources.push(Source {
                    name: "<stdin>".into(),
                    text: String::from_utf8(bytes).map_err(|_| DryRunError::NotText {
                        path: "<stdin>".into(),
                    })?,
                });
            }
            Input::Path(path) if path.is_dir() => {
                for entry in walkdir::WalkDir::new(path)
                    .follow_links(true)
                    .sort_by_file_name()
                {
                    let entry = entry.map_err(|e| DryRunError::Read {
                        path: e.path().unwrap_or(path).display().to_string(),
                        error: e.into(),
                    })?;
                    if entry.file_type().is_file() && is_manifest_file(entry.path()) {
                        sources.push(read_file(entry.path())?);
                    }
                }
            }
            Input::Path(path) => sources.push(read_file(path)?),
        }
    }
    Ok(sources)
}

fn is_manifest_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn read_file(path: &Path) -> Result<Source, DryRunError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|error| DryRunError::Read {
        path: name.clone(),
        error,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| DryRunError::NotText { path: name.clone() })?;
    Ok(Source { name, text })
}

/// The rendered result of a dry-run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Everything to write to stdout.
    pub stdout: String,
    /// Whether any object would change (for `--exit-code`).
    pub changed: bool,
    /// Warnings, prefixed with the object they concern, for stderr.
    pub warnings: Vec<String>,
}

/// One document after the engine ran over it.
struct Processed<'s> {
    document: Document<'s>,
    /// The document as it was, kept only for `-o diff`.
    before: Option<Value>,
    reviews: Vec<ObjectReview>,
    /// The document had no content (its value was `Null` when parsed).
    empty: bool,
}

impl Processed<'_> {
    fn changed(&self) -> bool {
        self.reviews.iter().any(|r| !r.patch.is_empty())
    }
}

/// Runs the engine over every document of every source and renders `format`.
pub fn run(
    engine: &Engine,
    sources: &[Source],
    format: OutputFormat,
) -> Result<Outcome, DryRunError> {
    let mut processed = Vec::new();
    for source in sources {
        for document in stream::parse_iter(&source.name, &source.text) {
            let mut document = document?;
            let before = (format == OutputFormat::Diff).then(|| document.value.clone());
            let reviews = mutate(engine, &mut document)?;
            let empty = document.value.is_null();
            let mut p = Processed {
                document,
                before,
                reviews,
                empty,
            };
            // An unchanged YAML document is echoed from its raw text: its parsed
            // value is not needed again (except by -o json and the KRM check).
            let needed = format == OutputFormat::Json
                || p.changed()
                || p.document.raw.is_none()
                || p.document.value.get("kind").and_then(Value::as_str) == Some("ResourceList");
            if !needed {
                p.document.value = Value::Null;
            }
            processed.push(p);
        }
    }
    if let Some(list) = single_resource_list(&mut processed) {
        add_krm_results(list);
    }
    let changed = processed.iter().any(Processed::changed);
    let warnings = processed
        .iter()
        .flat_map(|p| p.reviews.iter())
        .flat_map(|r| {
            r.review
                .report
                .warnings
                .iter()
                .map(move |w| format!("{}: {w}", r.object))
        })
        .collect();
    let stdout = match format {
        OutputFormat::Yaml => render_yaml(&processed),
        OutputFormat::Json => render_json(&processed),
        OutputFormat::Patch => render_patches(&processed),
        OutputFormat::Diff => render_diff(&processed),
        OutputFormat::Report => render_report(&processed),
        OutputFormat::ReportJson => render_report_json(&processed),
    };
    Ok(Outcome {
        stdout,
        changed,
        warnings,
    })
}

/// The images of every pod template the engine calls unknown (not in the
/// catalog), each once, in the order first met: what `dry-run
/// --inspect-images` reads before the run proper. A pure-Go image read this
/// way is pinned to its digests, so only templates whose image carries one of
/// them are judged by it; a tag alone stays with the catalog (the conservative
/// answer: the tag may name another build when the pod is created).
pub fn unknown_images(engine: &Engine, sources: &[Source]) -> Result<Vec<String>, DryRunError> {
    let mut images: Vec<String> = Vec::new();
    for source in sources {
        for document in stream::parse_iter(&source.name, &source.text) {
            let mut document = document?;
            let reviews = mutate(engine, &mut document)?;
            let unknown = reviews
                .iter()
                .flat_map(|r| &r.review.report.containers)
                .filter(|c| c.verdict == Verdict::Unknown)
                .filter_map(|c| c.image.clone())
                .filter(|image| !image.is_empty());
            for image in unknown {
                if !images.contains(&image) {
                    images.push(image);
                }
            }
        }
    }
    Ok(images)
}

/// Runs the engine over one document, changing it in place: `engine`, or the
/// policy the document carries as a KRM `functionConfig`.
fn mutate(engine: &Engine, document: &mut Document<'_>) -> Result<Vec<ObjectReview>, DryRunError> {
    let function_engine = function_config_engine(document)?;
    let engine = function_engine.as_ref().unwrap_or(engine);
    manifest::mutate_document(engine, &mut document.value).map_err(|error| DryRunError::Shape {
        origin: document.origin.clone(),
        error,
    })
}

/// A KRM function call may carry its policy as `functionConfig` (kind `Policy`);
/// it then replaces the command line's policy for that call.
fn function_config_engine(document: &Document<'_>) -> Result<Option<Engine>, DryRunError> {
    let value = &document.value;
    if value.get("kind").and_then(Value::as_str) != Some("ResourceList") {
        return Ok(None);
    }
    let Some(config) = value
        .get("functionConfig")
        .filter(|c| c.get("kind").and_then(Value::as_str) == Some(crate::policy::KIND))
    else {
        return Ok(None);
    };
    let invalid = |message: String| DryRunError::FunctionConfig {
        origin: document.origin.clone(),
        message,
    };
    let policy: crate::Policy =
        serde_json::from_value(config.clone()).map_err(|e| invalid(e.to_string()))?;
    Engine::new(policy)
        .map(Some)
        .map_err(|e| invalid(e.to_string()))
}

/// The input is a KRM function call when it is exactly one `ResourceList`.
fn single_resource_list<'a, 's>(
    processed: &'a mut [Processed<'s>],
) -> Option<&'a mut Processed<'s>> {
    let mut lists = processed.iter_mut().filter(|p| !p.empty);
    let first = lists.next()?;
    let is_list = first.document.value.get("kind").and_then(Value::as_str) == Some("ResourceList");
    (is_list && lists.next().is_none()).then_some(first)
}

/// KRM functions report through `results`: one entry per change and warning.
fn add_krm_results(list: &mut Processed<'_>) {
    let mut results = Vec::new();
    for review in &list.reviews {
        let resource_ref = serde_json::to_value(&review.object).unwrap_or_default();
        if let Some(status) = &review.review.report.status {
            results.push(json!({ "message": format!("netdns-guard {status}"), "severity": "info", "resourceRef": resource_ref }));
        }
        for warning in &review.review.report.warnings {
            results.push(
                json!({ "message": warning, "severity": "warning", "resourceRef": resource_ref }),
            );
        }
    }
    if !results.is_empty()
        && let Some(object) = list.document.value.as_object_mut()
    {
        object.insert("results".into(), Value::Array(results));
    }
}

fn render_yaml(processed: &[Processed<'_>]) -> String {
    let mut out = String::new();
    for p in processed {
        let verbatim = p
            .document
            .raw
            .filter(|_| !p.changed() && !is_krm_with_results(p));
        let text = match verbatim {
            Some(raw) => raw.to_owned(),
            None if p.empty => continue,
            None => format!(
                "---\n{}{}",
                leading_comments(p.document.raw.unwrap_or_default()),
                to_yaml(&p.document.value)
            ),
        };
        // A verbatim document ends with its own line break, whichever kind.
        if !out.is_empty() && !out.ends_with(['\n', '\r']) {
            out.push('\n');
        }
        let starts_with_marker = text.starts_with("---");
        if !out.is_empty() && !starts_with_marker {
            out.push_str("---\n");
        }
        out.push_str(&text);
    }
    out
}

/// The comment lines a document starts with (Helm's `# Source: …` among them),
/// kept when the document itself has to be rewritten.
fn leading_comments(raw: &str) -> String {
    stream::lines(raw)
        .map(|l| l.trim_end_matches(['\n', '\r']))
        .take_while(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t == "---"
        })
        .filter(|l| l.trim_start().starts_with('#'))
        .map(|l| format!("{}\n", l.trim_start()))
        .collect()
}

fn is_krm_with_results(p: &Processed<'_>) -> bool {
    p.document.value.get("results").is_some()
        && p.document.value.get("kind").and_then(Value::as_str) == Some("ResourceList")
}

/// Serialises a value as YAML. serde-saphyr quotes every string a YAML 1.1 reader
/// (kubectl) would take for a bool or number, such as `"yes"`, `"on"` and `"0x1F"`.
pub fn to_yaml(value: &Value) -> String {
    serde_saphyr::to_string(value)
        .unwrap_or_else(|e| format!("# netdns-guard: cannot write YAML: {e}\n"))
}

fn render_json(processed: &[Processed<'_>]) -> String {
    let mut values: Vec<&Value> = processed
        .iter()
        .map(|p| &p.document.value)
        .filter(|v| !v.is_null())
        .collect();
    let value = if values.len() == 1 {
        values.remove(0).clone()
    } else {
        json!({ "apiVersion": "v1", "kind": "List", "items": values })
    };
    pretty_json(&value)
}

fn pretty_json(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn render_patches(processed: &[Processed<'_>]) -> String {
    let entries: Vec<Value> = processed
        .iter()
        .flat_map(|p| p.reviews.iter().map(move |r| (p, r)))
        .filter(|(_, r)| !r.patch.is_empty())
        .map(|(p, r)| {
            json!({
                "source": p.document.origin.source,
                "document": p.document.origin.index,
                "object": r.object,
                "location": r.location,
                "patch": r.patch,
            })
        })
        .collect();
    pretty_json(&entries)
}

fn render_diff(processed: &[Processed<'_>]) -> String {
    let mut out = String::new();
    for p in processed.iter().filter(|p| p.changed()) {
        let before = p.before.as_ref().map(to_yaml).unwrap_or_default();
        let after = to_yaml(&p.document.value);
        let names: Vec<String> = p
            .reviews
            .iter()
            .filter(|r| !r.patch.is_empty())
            .map(|r| r.object.to_string())
            .collect();
        let label = format!("{} {}", p.document.origin, names.join(", "));
        let diff = similar::TextDiff::from_lines(&before, &after);
        let _ = write!(
            out,
            "{}",
            diff.unified_diff()
                .context_radius(3)
                .header(&format!("a/{label}"), &format!("b/{label}"))
        );
    }
    out
}

fn render_report(processed: &[Processed<'_>]) -> String {
    let mut out = String::new();
    let (mut workloads, mut changed, mut others) = (0, 0, 0);
    for p in processed {
        if p.reviews.is_empty() && !p.empty {
            others += 1;
        }
        for r in &p.reviews {
            workloads += 1;
            changed += usize::from(!r.patch.is_empty());
            write_object_report(&mut out, &p.document.origin, r);
        }
    }
    let _ = writeln!(
        out,
        "{workloads} workload(s), {changed} changed, {others} other object(s) passed through unchanged"
    );
    out
}

fn write_object_report(out: &mut String, origin: &Origin, review: &ObjectReview) {
    let report: &PodReport = &review.review.report;
    let state = if review.patch.is_empty() {
        "unchanged"
    } else {
        "CHANGED"
    };
    let _ = writeln!(out, "{origin}: {}: {state}", review.object);
    let _ = writeln!(out, "  targeting: {}", report.targeting);
    for c in &report.containers {
        write_container_report(out, c);
    }
    for finding in &report.dns {
        let _ = writeln!(out, "  pod DNS: {finding}");
    }
    for change in &report.dns_changes {
        let _ = writeln!(out, "  pod changed: {change}");
    }
    for warning in &report.warnings {
        let _ = writeln!(out, "  warning: {warning}");
    }
    out.push('\n');
}

fn write_container_report(out: &mut String, c: &ContainerReport) {
    let image = c.image.as_deref().unwrap_or("<no image>");
    let kind = match c.kind {
        crate::engine::report::ContainerKind::InitContainer => "init container",
        crate::engine::report::ContainerKind::Container => "container",
    };
    let why = match &c.agent {
        Some(agent) => format!("{}: {}", agent.name, agent.reason),
        None => "image not in the catalog".to_owned(),
    };
    let _ = writeln!(out, "  {kind} {} ({image}): {} ({why})", c.name, c.verdict);
    for finding in &c.findings {
        let _ = writeln!(out, "    found: {finding}");
    }
    for change in &c.changes {
        let _ = writeln!(out, "    changed: {change}");
    }
}

fn render_report_json(processed: &[Processed<'_>]) -> String {
    let entries: Vec<Value> = processed
        .iter()
        .flat_map(|p| p.reviews.iter().map(move |r| (p, r)))
        .map(|(p, r)| {
            json!({
                "source": p.document.origin.source,
                "document": p.document.origin.index,
                "line": p.document.origin.line,
                "object": r.object,
                "location": r.location,
                "changed": !r.patch.is_empty(),
                "report": r.review.report,
            })
        })
        .collect();
    pretty_json(&entries)
}
