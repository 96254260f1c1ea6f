//! The two ways `inspect` prints a [`Report`]: a block per file for people, and
//! one JSON document for tools (the verdict and the evidence as data, the
//! sentences beside them).

use std::fmt::Write as _;

use serde::Serialize;

use netdns_guard_buildinfo::{
    BuildInfo, CGO_RESOLVER_FUNCTION, Caveat, ElfFacts, Encoding, Linkage, Presence, Risk, Verdict,
};

use super::{FileReport, Format, Inspected, Outcome, Report};

/// The report in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => render_table(report),
        Format::Json => render_json(report),
    }
}

/// A block per file, then a count.
pub fn render_table(report: &Report) -> String {
    let mut out = String::new();
    for file in &report.files {
        let path = file.path.display();
        match &file.outcome {
            Outcome::Go(inspected) => {
                let _ = writeln!(out, "{path}: {}", inspected.assessment.risk);
                write_go_block(&mut out, inspected);
            }
            Outcome::NotGo(why) => {
                let _ = writeln!(out, "{path}: {why}");
            }
            Outcome::Unreadable(error) => {
                let _ = writeln!(out, "{path}: error: {error}");
            }
        }
    }
    let _ = writeln!(out, "{}", summary(report));
    out
}

fn write_go_block(out: &mut String, inspected: &Inspected) {
    let build = &inspected.binary.build;
    let mut row = |label: &str, value: &str| {
        let _ = writeln!(out, "  {label:<9} {value}");
    };
    row("go", &go_line(build));
    row("cgo", &cgo_line(build));
    row("tags", &tags_line(build));
    row("verdict", &inspected.assessment.verdict.to_string());
    row(
        "evidence",
        &evidence(build, &inspected.binary.elf).join("; "),
    );
    for caveat in &inspected.assessment.caveats {
        row("caveat", &caveat.to_string());
    }
}

fn go_line(build: &BuildInfo) -> String {
    let mut line = build.go_version.clone();
    if let Some(main) = &build.main {
        let _ = write!(line, ", module {} {}", main.path, main.version);
    } else if let Some(path) = &build.path {
        let _ = write!(line, ", {path}");
    }
    line
}

fn cgo_line(build: &BuildInfo) -> String {
    match build.setting("CGO_ENABLED") {
        Some(value) => format!("CGO_ENABLED={value}"),
        None => "not recorded (Go < 1.18)".to_owned(),
    }
}

fn tags_line(build: &BuildInfo) -> String {
    match build.setting("-tags") {
        Some(tags) if !tags.is_empty() => tags.to_owned(),
        _ if build.has_settings() => "(none)".to_owned(),
        _ => "not recorded (Go < 1.18)".to_owned(),
    }
}

/// The facts beside the build settings that the verdict rests on, as sentences.
fn evidence(build: &BuildInfo, elf: &ElfFacts) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(default) = build.setting("DefaultGODEBUG") {
        out.push(format!("DefaultGODEBUG={default}"));
    }
    out.push(match elf.cgo_resolver {
        Presence::Found(source) => format!("{CGO_RESOLVER_FUNCTION} is in {source}"),
        Presence::Absent(source) => format!("{CGO_RESOLVER_FUNCTION} is not in {source}"),
        Presence::Unknown => format!("no symbols to look for {CGO_RESOLVER_FUNCTION} in"),
    });
    if !elf.symbol_table {
        out.push("no symbol table (stripped)".to_owned());
    }
    out.push(match &elf.linkage {
        Linkage::Dynamic {
            interpreter,
            needed,
        } if needed.is_empty() => format!("dynamically linked ({interpreter})"),
        Linkage::Dynamic {
            interpreter,
            needed,
        } => format!("dynamically linked ({interpreter}; {})", needed.join(", ")),
        Linkage::Static => match elf.static_glibc {
            Some(mark) => format!("statically linked, with glibc ({mark})"),
            None => "statically linked".to_owned(),
        },
    });
    out
}

fn summary(report: &Report) -> String {
    let (mut safe, mut at_risk, mut unknown, mut not_go, mut errors) = (0, 0, 0, 0, 0);
    for file in &report.files {
        match &file.outcome {
            Outcome::Go(i) => match i.assessment.risk {
                Risk::Safe => safe += 1,
                Risk::AtRisk => at_risk += 1,
                Risk::Unknown => unknown += 1,
            },
            Outcome::NotGo(_) => not_go += 1,
            Outcome::Unreadable(_) => errors += 1,
        }
    }
    let go = safe + at_risk + unknown;
    format!(
        "{go} Go binar{}: {at_risk} at risk, {safe} safe, {unknown} unknown; {not_go} not Go; {errors} unreadable",
        if go == 1 { "y" } else { "ies" }
    )
}

/// One JSON document: `{"files": [...]}`, each file with a `status` of `go`,
/// `not-go` or `error`.
pub fn render_json(report: &Report) -> String {
    let files: Vec<JsonFile<'_>> = report.files.iter().map(JsonFile::from).collect();
    let mut text = serde_json::to_string_pretty(&serde_json::json!({ "files": files }))
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

#[derive(Serialize)]
struct JsonFile<'a> {
    path: String,
    status: &'static str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    go: Option<JsonGo<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct JsonGo<'a> {
    go_version: &'a str,
    cgo: Option<bool>,
    tags: Vec<&'a str>,
    risk: Risk,
    verdict: &'a Verdict,
    summary: String,
    caveats: Vec<JsonCaveat<'a>>,
    evidence: Vec<String>,
    build: &'a BuildInfo,
    encoding: Encoding,
    elf: &'a ElfFacts,
}

#[derive(Serialize)]
struct JsonCaveat<'a> {
    #[serde(flatten)]
    caveat: &'a Caveat,
    text: String,
}

impl<'a> From<&'a FileReport> for JsonFile<'a> {
    fn from(file: &'a FileReport) -> Self {
        let path = file.path.display().to_string();
        match &file.outcome {
            Outcome::Go(inspected) => JsonFile {
                path,
                status: "go",
                go: Some(JsonGo::from(inspected.as_ref())),
                error: None,
            },
            Outcome::NotGo(why) => JsonFile {
                path,
                status: "not-go",
                go: None,
                error: Some(why.to_string()),
            },
            Outcome::Unreadable(error) => JsonFile {
                path,
                status: "error",
                go: None,
                error: Some(error.to_string()),
            },
        }
    }
}

impl<'a> From<&'a Inspected> for JsonGo<'a> {
    fn from(inspected: &'a Inspected) -> Self {
        let build = &inspected.binary.build;
        let assessment = &inspected.assessment;
        JsonGo {
            go_version: &build.go_version,
            cgo: build.cgo_enabled(),
            tags: build.tags(),
            risk: assessment.risk,
            verdict: &assessment.verdict,
            summary: assessment.verdict.to_string(),
            caveats: assessment
                .caveats
                .iter()
                .map(|caveat| JsonCaveat {
                    caveat,
                    text: caveat.to_string(),
                })
                .collect(),
            evidence: evidence(build, &inspected.binary.elf),
            build,
            encoding: inspected.binary.encoding,
            elf: &inspected.binary.elf,
        }
    }
}
