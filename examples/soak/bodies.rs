//! What the soak sends and what it expects back. Every body is a real review: the
//! shared fixtures' AdmissionReviews (a bare AdmissionRequest is put in its
//! envelope), the repository's own test review, and each pod template of the bundled
//! examples sent as the pod CREATE the apiserver would send for it.
//!
//! Expected answers come from the project's engine, not from the soak: for every
//! body and every policy the soak switches between, `admission::review` is run once
//! in this process, and each answer's patch is checked against the dry-run's path
//! through the engine (`manifest::mutate_document` on the same pod), so the two doors
//! agree before any request is sent. Under load a server must then answer every
//! body byte for byte like that.

use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use netdns_guard::Engine;
use netdns_guard::admission;
use netdns_guard::manifest::{self, stream};
use serde_json::{Value, json};

/// Stands for the request uid in bodies and answers; each request writes its own,
/// of the same length, over it, so an answer sent to the wrong request is seen.
pub const UID_PLACEHOLDER: &[u8] = b"soak-uid-0000000000000000";

/// One review body and the answer expected under each policy.
pub struct Case {
    /// Where it came from (file, document).
    pub name: String,
    /// The body, with [`UID_PLACEHOLDER`] as its uid.
    pub body: Vec<u8>,
    /// Offsets of the placeholder in `body`.
    uid_in_body: Vec<usize>,
    /// Per policy: the answer body and the placeholder's offsets in it.
    expected: Vec<(Vec<u8>, Vec<usize>)>,
    /// Whether some policy patches it (for the report).
    pub patched: bool,
}

impl Case {
    /// The body with `uid` in place of the placeholder.
    pub fn body_with(&self, uid: &[u8]) -> Vec<u8> {
        with_uid(&self.body, &self.uid_in_body, uid)
    }

    /// Whether `answer` is what policy `policy` gives for this body with `uid`.
    pub fn matches(&self, policy: usize, uid: &[u8], answer: &[u8]) -> bool {
        let Some((expected, offsets)) = self.expected.get(policy) else {
            return false;
        };
        answer.len() == expected.len() && with_uid(expected, offsets, uid) == answer
    }

    /// Makes the answer expected under `policy` wrong (one byte of its patch), to
    /// show that the soak notices (`--break expectation`).
    pub fn corrupt(&mut self, policy: usize) {
        if let Some((expected, _)) = self.expected.get_mut(policy)
            && let Some(at) = find(expected, b"\"patch\":\"")
        {
            let i = at + b"\"patch\":\"".len();
            expected[i] = if expected[i] == b'W' { b'X' } else { b'W' };
        }
    }
}

/// A uid of the placeholder's length for request `n` (16 hex digits hold any u64,
/// so the length never varies).
pub fn uid(n: u64) -> Vec<u8> {
    format!("soak-uid-{n:016x}").into_bytes()
}

fn with_uid(template: &[u8], offsets: &[usize], uid: &[u8]) -> Vec<u8> {
    let mut out = template.to_vec();
    for &at in offsets {
        out[at..at + uid.len()].copy_from_slice(uid);
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = find(&haystack[from..], needle) {
        found.push(from + at);
        from += at + needle.len();
    }
    found
}

/// Reads every review: the bundled examples and test review under `repo`, and the
/// AdmissionReviews in `fixtures` when that folder exists.
pub fn load(repo: &Path, fixtures: Option<&Path>, engines: &[Engine]) -> Result<Vec<Case>> {
    let mut reviews: Vec<(String, Value)> = Vec::new();
    let test_review = repo.join("tests/data/review-promtail.json");
    reviews.push((
        "tests/data/review-promtail.json".into(),
        read_json(&test_review)?,
    ));
    for (i, (name, pod)) in example_pods(&repo.join("examples/manifests"))?
        .into_iter()
        .enumerate()
    {
        // Both versions the webhook is registered for.
        let version = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"][i % 2];
        reviews.push((name, pod_create(version, pod)));
    }
    if let Some(dir) = fixtures {
        for path in sorted_files(dir, "json")? {
            let review = read_json(&path)?;
            // A bare AdmissionRequest (as some projects keep them) in its envelope.
            let review = if review.get("request").is_some() {
                review
            } else {
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": review})
            };
            reviews.push((path.display().to_string(), review));
        }
    }
    reviews
        .into_iter()
        .map(|(name, review)| case(name, review, engines))
        .collect()
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read(path).with_context(|| path.display().to_string())?;
    serde_json::from_slice(&text).with_context(|| path.display().to_string())
}

fn sorted_files(dir: &Path, extension: &str) -> Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| dir.display().to_string())?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    Ok(files)
}

/// The pod of every workload in the example manifests, as the apiserver would
/// create it from the template (namespace and a generated name set).
fn example_pods(dir: &Path) -> Result<Vec<(String, Value)>> {
    let mut pods = Vec::new();
    for path in sorted_files(dir, "yaml")? {
        let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
        let source = path.display().to_string();
        let documents = stream::parse(&source, &text).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        for document in documents {
            let value = document.value;
            let text = |p: &str| value.pointer(p).and_then(Value::as_str).unwrap_or("");
            let Some(pointer) = manifest::pod_pointer(text("/apiVersion"), text("/kind")) else {
                continue;
            };
            let Some(template) = value.pointer(pointer) else {
                continue;
            };
            let mut metadata = template.get("metadata").cloned().unwrap_or(json!({}));
            let namespace = match text("/metadata/namespace") {
                "" => "default",
                ns => ns,
            };
            metadata["namespace"] = json!(namespace);
            if metadata.get("name").is_none() {
                metadata["generateName"] = json!(format!("{}-", text("/metadata/name")));
            }
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod", "metadata": metadata,
                "spec": template.get("spec").cloned().unwrap_or(json!({})),
            });
            pods.push((format!("{source}#{}", document.origin.index), pod));
        }
    }
    Ok(pods)
}

/// The review the apiserver sends for creating `pod`.
fn pod_create(version: &str, pod: Value) -> Value {
    let namespace = pod.pointer("/metadata/namespace").cloned();
    json!({
        "apiVersion": version, "kind": "AdmissionReview",
        "request": {
            "uid": "", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace, "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                         "groups": ["system:serviceaccounts", "system:authenticated"]},
            "object": pod, "oldObject": null, "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        }
    })
}

/// A case from one review: its uid replaced, its answers computed and checked.
fn case(name: String, mut review: Value, engines: &[Engine]) -> Result<Case> {
    let placeholder = String::from_utf8_lossy(UID_PLACEHOLDER).into_owned();
    review["request"]["uid"] = json!(placeholder);
    let body = serde_json::to_vec(&review)?;
    let mut expected = Vec::new();
    let mut patched = false;
    for engine in engines {
        let answer = admission::review(engine, &body)
            .map_err(|e| anyhow::anyhow!("{name}: not a review the webhook reads: {e}"))?;
        let patch = patch_of(&answer.body).with_context(|| name.clone())?;
        agrees_with_dry_run(&review, patch.as_ref(), engine).with_context(|| name.clone())?;
        patched |= patch.is_some();
        let offsets = find_all(&answer.body, UID_PLACEHOLDER);
        if offsets.len() != 1 {
            bail!("{name}: the answer does not echo the uid once");
        }
        expected.push((answer.body, offsets));
    }
    Ok(Case {
        uid_in_body: find_all(&body, UID_PLACEHOLDER),
        name,
        body,
        expected,
        patched,
    })
}

/// The JSON Patch in an answer, if any.
fn patch_of(answer: &[u8]) -> Result<Option<json_patch::Patch>> {
    let review: Value = serde_json::from_slice(answer)?;
    let Some(patch) = review.pointer("/response/patch").and_then(Value::as_str) else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD.decode(patch)?;
    Ok(Some(serde_json::from_slice(&bytes)?))
}

/// For a pod CREATE: the webhook's patch applied to the pod gives the pod the
/// dry-run gives. Anything else must go unpatched.
fn agrees_with_dry_run(
    review: &Value,
    patch: Option<&json_patch::Patch>,
    engine: &Engine,
) -> Result<()> {
    let request = &review["request"];
    let is_pod_create = request.pointer("/kind/kind") == Some(&json!("Pod"))
        && request["operation"] == "CREATE"
        && request.get("subResource").is_none_or(Value::is_null);
    let Some(object) = request.get("object").filter(|_| is_pod_create) else {
        if patch.is_some() {
            bail!("patched, but not a pod CREATE");
        }
        return Ok(());
    };
    let mut by_dry_run = object.clone();
    manifest::mutate_document(engine, &mut by_dry_run)?;
    let mut by_webhook = object.clone();
    if let Some(patch) = patch {
        json_patch::patch(&mut by_webhook, patch)?;
    }
    if by_webhook != by_dry_run {
        bail!("the webhook's patch and the dry-run disagree");
    }
    Ok(())
}

/// A body the webhook must refuse with 400, made from a valid one: cut short,
/// not JSON at all, or JSON that is not an AdmissionReview.
pub fn malformed(case: &Case, pick: u64) -> Vec<u8> {
    match pick % 3 {
        0 => {
            let cut = 1 + (pick / 3) as usize % (case.body.len() - 1);
            case.body[..cut].to_vec()
        }
        1 => b"\x00\xffnot json at all".to_vec(),
        _ => br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}"#.to_vec(),
    }
}
