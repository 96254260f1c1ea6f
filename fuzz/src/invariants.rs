//! What must hold for any input to the three readers of hostile bytes
//! (ARCHITECTURE.md, "Hostile input"): the AdmissionReview decoder, the manifest
//! stream reader behind `dry-run`, and the policy file parser. "Does not panic" is
//! the least of it; each check returns the first broken promise as a [`Violation`].
//!
//! One copy serves the fuzz targets (`fuzz/src/bin/`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`, which includes this file by `#[path]`), so what the
//! fuzzer hunts for and what CI replays are the same checks.

use std::fmt;

use base64::Engine as _;
use netdns_guard::Engine;
use netdns_guard::admission::{self, Decision};
use netdns_guard::dryrun::{self, OutputFormat, Source};
use netdns_guard::manifest::{self, stream};
use netdns_guard::policy::{Policy, PolicyError};
use serde_json::Value;

/// A broken promise, said in a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The outcome of one check.
pub type Checked = Result<(), Violation>;

/// `Err` with `why()` unless `holds`.
fn ensure(holds: bool, why: impl FnOnce() -> String) -> Checked {
    if holds { Ok(()) } else { Err(Violation(why())) }
}

/// One reader of hostile input, and the corpus folder its inputs live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `admission::review`: an AdmissionReview body, as the webhook receives it.
    AdmissionReview,
    /// `dryrun::run` over one stream: YAML, JSON, `List`, KRM `ResourceList`.
    ManifestStream,
    /// `Policy::from_yaml` and the engine compiled from it.
    PolicyFile,
}

impl Target {
    /// The name of its fuzz binary and of its folder under `fuzz/corpus/`.
    pub fn name(self) -> &'static str {
        match self {
            Target::AdmissionReview => "admission_review",
            Target::ManifestStream => "manifest_stream",
            Target::PolicyFile => "policy_file",
        }
    }

    /// Checks everything promised for `input`. `engine` is the default policy's
    /// (built once by the caller: compiling it is not what is under test, except
    /// for [`Target::PolicyFile`], which compiles its own).
    pub fn check(self, engine: &Engine, input: &[u8]) -> Checked {
        match self {
            Target::AdmissionReview => admission_review(engine, input),
            Target::ManifestStream => manifest_stream(engine, input),
            Target::PolicyFile => policy_file(input),
        }
    }
}

/// The engine of the built-in policy, which always compiles.
pub fn default_engine() -> Engine {
    Engine::new(Policy::default()).expect("the built-in policy compiles")
}

// --- the AdmissionReview decoder ----------------------------------------------

/// The decoder answers an allowed review or refuses with a message that says an
/// AdmissionReview was expected. An answer is a well-formed AdmissionReview in a
/// version the apiserver sent, `allowed: true`, with the request's uid, warnings
/// under the apiserver's 120 characters, and a patch only when it patched. The
/// patch applies (RFC 6902) to the request's object, touches only what the
/// mutation contract names, and a second review of the patched object patches
/// nothing.
pub fn admission_review(engine: &Engine, body: &[u8]) -> Checked {
    let answer = match admission::review(engine, body) {
        Ok(answer) => answer,
        Err(refused) => {
            let message = refused.to_string();
            return ensure(message.contains("AdmissionReview"), || {
                format!("a refusal that does not say what was expected: {message}")
            });
        }
    };
    let out: Value = serde_json::from_slice(&answer.body)
        .map_err(|e| Violation(format!("the answer is not JSON: {e}")))?;
    ensure(
        matches!(
            out["apiVersion"].as_str(),
            Some("admission.k8s.io/v1" | "admission.k8s.io/v1beta1")
        ) && out["kind"] == "AdmissionReview",
        || format!("the answer is not an AdmissionReview: {out}"),
    )?;
    let response = &out["response"];
    ensure(response["allowed"] == Value::Bool(true), || {
        format!("not allowed: {out}")
    })?;
    ensure(
        response["uid"].as_str() == Some(answer.uid.as_str()),
        || {
            format!(
                "the answer's uid is not the request's {:?}: {out}",
                answer.uid
            )
        },
    )?;
    for warning in response["warnings"].as_array().into_iter().flatten() {
        ensure(
            warning.as_str().is_some_and(|w| w.chars().count() < 120),
            || format!("a warning the apiserver drops: {warning}"),
        )?;
    }
    let patched = matches!(answer.decision, Decision::Patched { .. });
    let Some(patch) = response.get("patch") else {
        return ensure(!patched && response.get("patchType").is_none(), || {
            format!("decision {:?} without a patch: {out}", answer.decision)
        });
    };
    ensure(patched && response["patchType"] == "JSONPatch", || {
        format!("a patch with decision {:?}: {out}", answer.decision)
    })?;
    let patch = patch
        .as_str()
        .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
        .ok_or_else(|| Violation(format!("the patch is not base64: {out}")))?;
    let patch: json_patch::Patch = serde_json::from_slice(&patch)
        .map_err(|e| Violation(format!("the patch is not a JSON Patch: {e}")))?;
    for op in &patch.0 {
        let path = op.path().to_string();
        ensure(contract_allows(&path), || {
            format!("the patch writes outside the mutation contract: {path}")
        })?;
    }
    // The object as the apiserver holds it: the whole JSON, read lossily as it
    // reads the request's strings. A body that a whole-JSON reader refuses (a number
    // beyond f64 in a part the decoder skips) has no such object to patch.
    let Ok(mut review) = serde_json::from_str::<Value>(&String::from_utf8_lossy(body)) else {
        return Ok(());
    };
    let object = review
        .pointer_mut("/request/object")
        .ok_or_else(|| Violation("a patch for a request without an object".into()))?;
    json_patch::patch(object, &patch)
        .map_err(|e| Violation(format!("the answered patch does not apply: {e}")))?;
    let again = serde_json::to_vec(&review)
        .map_err(|e| Violation(format!("the patched review does not serialize: {e}")))?;
    let second = admission::review(engine, &again)
        .map_err(|e| Violation(format!("the patched review is refused: {e}")))?;
    ensure(second.decision == Decision::Unchanged, || {
        format!(
            "a second review of the patched pod is {:?}, not unchanged",
            second.decision
        )
    })
}

/// Whether a JSON Pointer (into the pod) is one the mutation contract lets the
/// webhook write: containers' `env` and `volumeMounts`, the pod's `volumes` and
/// `dnsConfig`, and `netdns-guard.io/*` annotations (or the annotations map, or the
/// metadata holding it, when the pod has none).
fn contract_allows(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    match parts.as_slice() {
        ["metadata"] | ["metadata", "annotations"] => true,
        ["metadata", "annotations", key, ..] => key.starts_with("netdns-guard.io~1"),
        ["spec", "volumes", ..] | ["spec", "dnsConfig", ..] => true,
        ["spec", "containers" | "initContainers", index, field, ..] => {
            index.parse::<usize>().is_ok() && matches!(*field, "env" | "volumeMounts")
        }
        _ => false,
    }
}

// --- the manifest stream reader -----------------------------------------------

/// The name the stream is read under: stdin, so its syntax is detected from its text.
const STDIN: &str = "<stdin>";

/// The reader never loses or half-writes a document. An error names the stream,
/// the document and (for syntax) its line. A YAML stream is cut into documents that
/// hold every byte once, in order; when nothing changes it is echoed byte for byte.
/// Every document comes out, each equal to the input's with the engine's patch
/// applied; the output read again changes nothing and is echoed unchanged; and
/// another output format (one an input) agrees that the stream is readable.
pub fn manifest_stream(engine: &Engine, input: &[u8]) -> Checked {
    // `dry-run` refuses bytes that are not UTF-8 before reading; the reader sees text.
    let text = String::from_utf8_lossy(input);
    let source = |text: &str| {
        [Source {
            name: STDIN.into(),
            text: text.to_owned(),
        }]
    };
    let documents = match stream::parse(STDIN, &text) {
        Ok(documents) => documents,
        Err(e) => {
            // YAML breaks lines at CR LF, CR and LF alike (a lone CR too, where
            // `str::lines` does not).
            let lines = text.replace("\r\n", "\n").matches(['\r', '\n']).count() + 1;
            ensure(e.index >= 1 && (1..=lines).contains(&e.line), || {
                format!("a syntax error at no place in the stream: {e}")
            })?;
            // dry-run reads document after document and stops at the first
            // problem: the reader's syntax error, or a document before it that
            // the engine cannot read. Either way nothing is written.
            return match dryrun::run(engine, &source(&text), OutputFormat::Yaml) {
                Err(dryrun::DryRunError::Parse(same)) if same.to_string() == e.to_string() => {
                    Ok(())
                }
                Err(
                    dryrun::DryRunError::Shape { origin, .. }
                    | dryrun::DryRunError::FunctionConfig { origin, .. },
                ) if origin.index < e.index => Ok(()),
                other => Err(Violation(format!(
                    "dry-run read a stream the reader refuses ({e}): {other:?}"
                ))),
            };
        }
    };
    check_split(&text, &documents)?;
    let first = match dryrun::run(engine, &source(&text), OutputFormat::Yaml) {
        Ok(outcome) => outcome,
        Err(e) => {
            let message = e.to_string();
            return ensure(message.starts_with("<stdin>: document "), || {
                format!("an error that names no document: {message}")
            });
        }
    };
    let is_krm = documents
        .iter()
        .any(|d| d.value.get("kind").and_then(Value::as_str) == Some("ResourceList"));
    let yaml = documents.iter().all(|d| d.raw.is_some());
    if yaml && !first.changed && !is_krm {
        ensure(first.stdout == *text, || {
            "an unchanged YAML stream was not echoed byte for byte".into()
        })?;
    }
    check_written(engine, documents, &first.stdout)?;
    let second = dryrun::run(engine, &source(&first.stdout), OutputFormat::Yaml)
        .map_err(|e| Violation(format!("dry-run cannot read its own output: {e}")))?;
    ensure(!second.changed && second.stdout == first.stdout, || {
        format!(
            "dry-run's output, run again, changed:\n{}\n---- became ----\n{}",
            first.stdout, second.stdout
        )
    })?;
    // One other format an input, chosen by its length: each is tried as often, and
    // an input costs two runs rather than six (the fuzzer's speed is coverage).
    let others = [
        OutputFormat::Json,
        OutputFormat::Patch,
        OutputFormat::Diff,
        OutputFormat::Report,
        OutputFormat::ReportJson,
    ];
    let format = others[input.len() % others.len()];
    dryrun::run(engine, &source(&text), format)
        .map(drop)
        .map_err(|e| Violation(format!("-o yaml read the stream, {format:?} did not: {e}")))
}

/// Documents are numbered from 1 in order, their lines increase, and a YAML
/// stream's raw texts put together are the stream.
fn check_split(text: &str, documents: &[stream::Document<'_>]) -> Checked {
    for (i, pair) in documents.windows(2).enumerate() {
        ensure(pair[0].origin.line <= pair[1].origin.line, || {
            format!("document {} starts before document {}", i + 2, i + 1)
        })?;
    }
    for (i, document) in documents.iter().enumerate() {
        ensure(document.origin.index == i + 1, || {
            format!("document {} is numbered {}", i + 1, document.origin.index)
        })?;
    }
    if documents.iter().all(|d| d.raw.is_some()) {
        let joined: String = documents.iter().filter_map(|d| d.raw).collect();
        ensure(joined == text, || {
            "the documents' raw texts are not the stream".into()
        })?;
    }
    Ok(())
}

/// The output holds every document of the input, each with the engine's patch and
/// nothing else changed. (A KRM `ResourceList` also gets `results`, and its
/// `functionConfig` may bring its own policy: only its presence is checked.)
fn check_written(engine: &Engine, documents: Vec<stream::Document<'_>>, written: &str) -> Checked {
    let mut expected = Vec::new();
    for mut document in documents {
        manifest::mutate_document(engine, &mut document.value)
            .map_err(|e| Violation(format!("dry-run succeeded where the engine did not: {e}")))?;
        if !document.value.is_null() {
            expected.push(document.value);
        }
    }
    let read_back: Vec<Value> = stream::parse(STDIN, written)
        .map_err(|e| Violation(format!("dry-run wrote what it cannot read: {e}\n{written}")))?
        .into_iter()
        .map(|d| d.value)
        .filter(|v| !v.is_null())
        .collect();
    ensure(read_back.len() == expected.len(), || {
        format!(
            "{} documents in, {} out:\n{written}",
            expected.len(),
            read_back.len()
        )
    })?;
    for (i, (want, got)) in expected.iter().zip(&read_back).enumerate() {
        if want.get("kind").and_then(Value::as_str) == Some("ResourceList") {
            continue;
        }
        ensure(want == got, || {
            format!("document {} was written as {got}, not {want}", i + 1)
        })?;
    }
    Ok(())
}

// --- the policy file parser ---------------------------------------------------

/// Pod reviews that every compiled policy is tried on: the bundled one and a pod
/// with an agent in each container list, labels and DNS options.
const SAMPLE_REVIEWS: [&str; 2] = [
    include_str!("../../tests/data/review-promtail.json"),
    r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",
      "kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"logging",
      "object":{"metadata":{"name":"agent","labels":{"app":"agent","tier":"logs"}},
        "spec":{"dnsConfig":{"options":[{"name":"ndots","value":"2"},{"name":"edns0"}]},
          "initContainers":[{"name":"init","image":"loggieio/loggie:v1.5.0"}],
          "containers":[{"name":"agent","image":"docker.elastic.co/beats/filebeat:8.14.0",
            "env":[{"name":"GODEBUG","value":"http2client=0"},{"name":"LOCALDOMAIN","value":"x"}]},
            {"name":"side","image":"nginx"}]}}}}"#,
];

/// The parser returns a policy or an error that names its place: the key (with the
/// line, for a value that fails validation) or the line and column. A policy it
/// returns compiles or fails with a message, and the engine compiled from it gives
/// the sample pods patches that hold to the decoder's promises.
pub fn policy_file(input: &[u8]) -> Checked {
    // `--config` reads the file as UTF-8 text before the parser sees it.
    let text = String::from_utf8_lossy(input);
    let policy = match Policy::from_yaml(&text) {
        Ok(policy) => policy,
        Err(e) => return names_a_place(&e),
    };
    let engine = match Engine::new(policy) {
        Ok(engine) => engine,
        Err(e) => {
            return ensure(!e.to_string().is_empty(), || {
                "a policy that does not compile, without a message".into()
            });
        }
    };
    for review in SAMPLE_REVIEWS {
        admission_review(&engine, review.as_bytes())?;
    }
    Ok(())
}

/// A validation error names its key; a syntax error a line (`line N`), or the key
/// it is about (`key: …`).
fn names_a_place(error: &PolicyError) -> Checked {
    let message = error.to_string();
    let places = match error {
        PolicyError::Invalid { key, .. } => !key.is_empty(),
        PolicyError::Syntax(text) => {
            let has_line = text
                .match_indices("line ")
                .any(|(at, _)| text[at + 5..].starts_with(|c: char| c.is_ascii_digit()));
            let has_key = text
                .split_once(": ")
                .is_some_and(|(key, _)| !key.is_empty() && !key.contains(' '));
            has_line || has_key
        }
    };
    ensure(places, || {
        format!("a policy error that names no place: {message}")
    })
}
