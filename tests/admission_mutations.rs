//! Mutated real reviews through the webhook's decision (`admission::review`): every
//! review that is still an AdmissionReview is answered `allowed: true`, every patch
//! answered applies (RFC 6902) to the request's object, and a second pass over the
//! patched object answers no patch. A wrong shape (an array where an object belongs)
//! or bytes that are not UTF-8 must fail open — never a patch the apiserver refuses.
//!
//! The reviews: `tests/data/review-promtail.json`, pod reviews built from the bundled
//! examples' agents, and the shared fixtures' AdmissionReviews when they exist.

use std::path::Path;

use netdns_guard::Engine;
use netdns_guard::admission;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

/// The real reviews every mutation starts from.
fn seeds() -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seeds = vec![
        serde_json::from_slice(
            &std::fs::read(root.join("tests/data/review-promtail.json")).unwrap(),
        )
        .unwrap(),
    ];
    for image in [
        "loggieio/loggie:v1.5.0",
        "docker.elastic.co/beats/filebeat:8.14.0",
    ] {
        seeds.push(json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u", "kind": { "group": "", "version": "v1", "kind": "Pod" },
                "operation": "CREATE", "namespace": "logging",
                "object": { "metadata": { "name": "agent", "labels": { "app": "agent" } },
                    "spec": {
                        "dnsConfig": { "options": [{ "name": "ndots", "value": "2" }] },
                        "initContainers": [{ "name": "init", "image": image }],
                        "containers": [{ "name": "agent", "image": image,
                            "env": [{ "name": "GODEBUG", "value": "http2client=0" }, { "name": "A", "value": "b" }] }] } }
            }
        }));
    }
    let shared = root.join("../shared/fixtures/admissionreviews");
    if let Ok(dir) = std::fs::read_dir(&shared) {
        let mut files: Vec<_> = dir.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for file in files
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "json"))
        {
            if let Ok(review) = serde_json::from_slice::<Value>(&std::fs::read(&file).unwrap())
                && review
                    .get("request")
                    .is_some_and(|r| r.get("object").is_some())
            {
                seeds.push(review);
            }
        }
    } else {
        eprintln!(
            "note: {} does not exist; mutating the bundled reviews only",
            shared.display()
        );
    }
    seeds
}

/// Every JSON Pointer to a value inside `request.object`.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                pointers(
                    v,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// What a mutation puts in place of a value.
fn replacement(kind: u8, old: &Value) -> Value {
    match kind % 6 {
        // An object's fields as an array, read by position if anything did.
        0 => match old {
            Value::Object(map) => Value::Array(map.values().cloned().collect()),
            other => json!([other.clone()]),
        },
        1 => json!([[old.clone()]]),
        2 => json!("x"),
        3 => json!(7),
        4 => Value::Null,
        _ => json!({}),
    }
}

/// Serialises `review` and, when asked, puts bytes that are not UTF-8 into the
/// string at `target` (a pointer into the object).
fn bytes_of(review: &Value, invalid_utf8_at: Option<&str>) -> Vec<u8> {
    let mut review = review.clone();
    let Some(target) = invalid_utf8_at else {
        return serde_json::to_vec(&review).unwrap();
    };
    let marker = "\u{1}MARKER\u{1}";
    if let Some(Value::String(s)) = review.pointer_mut(target) {
        s.push_str(marker);
    }
    let text = serde_json::to_string(&review).unwrap();
    let escaped = serde_json::to_string(marker).unwrap();
    let escaped = &escaped[1..escaped.len() - 1];
    let Some(at) = text.find(escaped) else {
        return text.into_bytes();
    };
    let mut bytes = text.into_bytes();
    bytes.splice(at..at + escaped.len(), [0xff, 0xfe, 0x80]);
    bytes
}

fn check(engine: &Engine, review: &Value, bytes: &[u8]) -> Result<(), TestCaseError> {
    let answer = match admission::review(engine, bytes) {
        Ok(answer) => answer,
        // Only what is no AdmissionReview may be refused (e.g. a mutated envelope).
        Err(e) => {
            prop_assert!(e.to_string().contains("AdmissionReview"), "{e}");
            return Ok(());
        }
    };
    let out: Value = serde_json::from_slice(&answer.body).unwrap();
    prop_assert_eq!(&out["response"]["allowed"], &json!(true));
    let Some(patch) = out["response"]["patch"].as_str() else {
        return Ok(());
    };
    use base64::Engine as _;
    let patch = base64::engine::general_purpose::STANDARD
        .decode(patch)
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
    let mut object = review["request"]["object"].clone();
    json_patch::patch(&mut object, &patch)
        .map_err(|e| TestCaseError::fail(format!("answered patch does not apply: {e}")))?;
    let mut again = review.clone();
    again["request"]["object"] = object;
    let second = admission::review(engine, &serde_json::to_vec(&again).unwrap()).unwrap();
    let second: Value = serde_json::from_slice(&second.body).unwrap();
    prop_assert!(
        second["response"].get("patch").is_none(),
        "a second pass patched again: {second}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_answered_patch_applies_and_is_final(
        seed in any::<prop::sample::Index>(),
        target in any::<prop::sample::Index>(),
        kind in any::<u8>(),
        invalid_utf8 in any::<bool>(),
    ) {
        let seeds = seeds();
        let engine = Engine::new(Default::default()).unwrap();
        let mut review = seed.get(&seeds).clone();
        let mut all = Vec::new();
        pointers(&review["request"]["object"], "/request/object".into(), &mut all);
        let at = target.get(&all).clone();
        if invalid_utf8 {
            let bytes = bytes_of(&review, Some(&at));
            check(&engine, &review, &bytes)?;
        } else {
            let old = review.pointer(&at).cloned().unwrap_or(Value::Null);
            *review.pointer_mut(&at).unwrap() = replacement(kind, &old);
            let bytes = bytes_of(&review, None);
            check(&engine, &review, &bytes)?;
        }
    }
}

#[test]
fn the_unmutated_seeds_are_patched_and_the_patches_apply() {
    let engine = Engine::new(Default::default()).unwrap();
    for review in seeds() {
        check(&engine, &review, &bytes_of(&review, None)).unwrap();
    }
}
