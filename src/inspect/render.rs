//! The ways `inspect` prints a [`Report`]: a block per file or image for
//! people, one JSON document for tools (the verdict and the evidence as data,
//! the sentences beside them), and a policy snippet ([`super::policy`]).

use std::fmt::Write as _;

use serde::Serialize;

use netdns_guard_buildinfo::{
    Assessment, BuildInfo, CGO_RESOLVER_FUNCTION, Caveat, ElfFacts, Encoding, GoBinary, Linkage,
    Presence, Risk, Verdict,
};

use super::image::tree::Found;
use super::image::{Executable, ImageReport, ImageRisk, Role};
use super::{FileReport, Format, ImageInput, InputReport, Outcome, Report};

/// The report in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => render_table(report),
        Format::Json => render_json(report),
        Format::Policy => super::policy::render_policy(report),
    }
}

/// A block per file or image, then a count of each.
pub fn render_table(report: &Report) -> String {
    let mut out = String::new();
    for input in &report.inputs {
        match input {
            InputReport::File(file) => write_file(&mut out, file),
            InputReport::Image(image) => write_image_input(&mut out, image),
        }
    }
    if report.files().next().is_some() || report.images().next().is_none() {
        let _ = writeln!(out, "{}", summary(report));
    }
    if report.images().next().is_some() {
        let _ = writeln!(out, "{}", image_summary(report));
    }
    out
}

fn write_file(out: &mut String, file: &FileReport) {
    let path = file.path.display();
    match &file.outcome {
        Outcome::Go(inspected) => {
            let _ = writeln!(out, "{path}: {}", inspected.assessment.risk);
            write_go_block(out, &inspected.binary, &inspected.assessment, "  ");
        }
        Outcome::NotGo(why) => {
            let _ = writeln!(out, "{path}: {why}");
        }
        Outcome::Unreadable(error) => {
            let _ = writeln!(out, "{path}: error: {error}");
        }
    }
}

fn write_image_input(out: &mut String, input: &ImageInput) {
    let name = image_title(input);
    match &input.outcome {
        Err(error) => {
            let _ = writeln!(out, "{name}: error: {error}");
        }
        Ok(images) => {
            for image in images {
                write_image(out, &name, image);
            }
        }
    }
}

/// `NAME (INPUT)` when the input records a name, else the input.
fn image_title(input: &ImageInput) -> String {
    match &input.image_name {
        Some(name) if *name != input.input => format!("{name} ({})", input.input),
        _ => input.input.clone(),
    }
}

fn write_image(out: &mut String, name: &str, image: &ImageReport) {
    let verdict = image.findings.verdict();
    let _ = writeln!(
        out,
        "{name} {} {}: {}",
        image.platform, image.manifest_digest, verdict.risk
    );
    let _ = writeln!(out, "  {:<10} {}", "verdict", verdict.evidence);
    for program in &image.findings.programs {
        let label = match program.role {
            Role::Entrypoint => "entrypoint",
            _ => "command",
        };
        let at = match &program.path {
            Some(path) if program.name != *path => format!(" -> {path}"),
            Some(_) => String::new(),
            None => " (not found in the image)".to_owned(),
        };
        let _ = writeln!(out, "  {label:<10} {}{at}", program.name);
    }
    let _ = writeln!(
        out,
        "  {:<10} {} executable files{}",
        "scanned",
        image.findings.executables_seen,
        if image.cached {
            " (cached: no layer read)"
        } else {
            ""
        }
    );
    for exe in &image.findings.executables {
        write_executable(out, exe);
    }
}

fn write_executable(out: &mut String, exe: &Executable) {
    let role = match exe.role {
        Role::Entrypoint => " (entrypoint)",
        Role::Command => " (command)",
        Role::Other => "",
    };
    let path = &exe.path;
    match &exe.found {
        Found::Go { binary } => {
            let assessment = binary.assess();
            let _ = writeln!(out, "  {path}{role}: {}", assessment.risk);
            write_go_block(out, binary, &assessment, "    ");
        }
        Found::NotGo { why } => {
            let _ = writeln!(out, "  {path}{role}: {why}");
        }
        Found::NotElf => {
            let _ = writeln!(out, "  {path}{role}: not an ELF executable");
        }
        Found::TooLarge { size } => {
            let _ = writeln!(
                out,
                "  {path}{role}: not read: {size} bytes, over --max-file-bytes"
            );
        }
        Found::Damaged { error } => {
            let _ = writeln!(out, "  {path}{role}: not read: {error}");
        }
    }
}

fn write_go_block(out: &mut String, binary: &GoBinary, assessment: &Assessment, indent: &str) {
    let build = &binary.build;
    let mut row = |label: &str, value: &str| {
        let _ = writeln!(out, "{indent}{label:<9} {value}");
    };
    row("go", &go_line(build));
    row("cgo", &cgo_line(build));
    row("tags", &tags_line(build));
    row("verdict", &assessment.verdict.to_string());
    row("evidence", &evidence(build, &binary.elf).join("; "));
    for caveat in &assessment.caveats {
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
    for file in report.files() {
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

fn image_summary(report: &Report) -> String {
    let (mut safe, mut at_risk, mut unknown, mut not_go, mut errors) = (0, 0, 0, 0, 0);
    for input in report.images() {
        match &input.outcome {
            Ok(images) => {
                for image in images {
                    match image.findings.verdict().risk {
                        ImageRisk::AtRisk => at_risk += 1,
                        ImageRisk::Safe => safe += 1,
                        ImageRisk::Unknown => unknown += 1,
                        ImageRisk::NotGo => not_go += 1,
                    }
                }
            }
            Err(_) => errors += 1,
        }
    }
    let images = safe + at_risk + unknown + not_go;
    format!(
        "{images} image{}: {at_risk} at risk, {safe} safe, {unknown} unknown, {not_go} not Go; {errors} unreadable",
        if images == 1 { "" } else { "s" }
    )
}

/// One JSON document: `{"files": [...], "images": [...]}`. Each file has a
/// `status` of `go`, `not-go` or `error`; each image input a `status` of `ok`
/// (with one entry per platform read) or `error`.
pub fn render_json(report: &Report) -> String {
    let files: Vec<JsonFile<'_>> = report.files().map(JsonFile::from).collect();
    let images: Vec<serde_json::Value> = report.images().map(json_image_input).collect();
    let mut text =
        serde_json::to_string_pretty(&serde_json::json!({ "files": files, "images": images }))
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

fn json_image_input(input: &ImageInput) -> serde_json::Value {
    match &input.outcome {
        Ok(images) => serde_json::json!({
            "input": input.input,
            "name": input.image_name,
            "status": "ok",
            "platforms": images.iter().map(json_image).collect::<Vec<_>>(),
        }),
        Err(error) => serde_json::json!({
            "input": input.input,
            "name": input.image_name,
            "status": "error",
            "error": error,
        }),
    }
}

fn json_image(image: &ImageReport) -> serde_json::Value {
    let verdict = image.findings.verdict();
    let executables: Vec<serde_json::Value> = image
        .findings
        .executables
        .iter()
        .map(|exe| {
            let mut value = serde_json::json!({ "path": exe.path, "role": exe.role });
            let details = match &exe.found {
                Found::Go { binary } => {
                    let assessment = binary.assess();
                    let mut go =
                        serde_json::to_value(JsonGo::new(binary, &assessment)).unwrap_or_default();
                    go["status"] = "go".into();
                    go
                }
                other => serde_json::to_value(other).unwrap_or_default(),
            };
            if let (Some(value), serde_json::Value::Object(details)) =
                (value.as_object_mut(), details)
            {
                value.extend(details);
            }
            value
        })
        .collect();
    serde_json::json!({
        "manifest_digest": image.manifest_digest,
        "reference_digest": image.reference_digest,
        "platform": image.platform.to_string(),
        "risk": verdict.risk,
        "evidence": verdict.evidence,
        "entrypoint": image.config.entrypoint,
        "cmd": image.config.cmd,
        "programs": image.findings.programs,
        "executables": executables,
        "executables_seen": image.findings.executables_seen,
        "cached": image.cached,
    })
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
                go: Some(JsonGo::new(&inspected.binary, &inspected.assessment)),
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

impl<'a> JsonGo<'a> {
    fn new(binary: &'a GoBinary, assessment: &'a Assessment) -> Self {
        let build = &binary.build;
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
            evidence: evidence(build, &binary.elf),
            build,
            encoding: binary.encoding,
            elf: &binary.elf,
        }
    }
}
