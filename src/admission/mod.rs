//! The kube-apiserver side of the webhook (ARCHITECTURE.md, "The kube-apiserver contract"): reading an AdmissionReview
//! and writing the answer, around the engine.
//!
//! Only what the decision needs is decoded: the request's identity and the pod's
//! [`PodView`]. `managedFields`, `userInfo`, `oldObject` and the rest of the object
//! are skipped by serde without being built, and strings are borrowed from the body.
//! The answer is built by `response::AdmissionResponse`, always `allowed: true`
//! (netdns-guard never blocks a pod, whatever goes wrong), and written out once as
//! JSON. It is also the one place warnings are cut to the apiserver's length limit:
//! the engine's report keeps their whole text for the command line.

mod response;

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use crate::engine::Engine;
use crate::engine::model::PodView;
use crate::engine::model::shape::Obj;
use crate::engine::report::PodReport;
use response::AdmissionResponse;

/// The AdmissionReview versions the apiserver may send; the answer uses the same.
const VERSIONS: &[&str] = &["admission.k8s.io/v1", "admission.k8s.io/v1beta1"];

/// A body that is not an AdmissionReview (answered with HTTP 400).
#[derive(Debug, thiserror::Error)]
pub enum BadReview {
    #[error("request body is not an AdmissionReview: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("request body is not an AdmissionReview: kind is {0:?}")]
    WrongKind(String),
    #[error(
        "unsupported AdmissionReview apiVersion {0:?} (expected admission.k8s.io/v1 or v1beta1)"
    )]
    WrongVersion(String),
    #[error("AdmissionReview has no request")]
    NoRequest,
}

/// An AdmissionReview whose object is read as `O`: the pod view itself (one pass),
/// or skipped (the second pass, when the pod could not be read).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn<'a, O> {
    #[serde(borrow, default)]
    api_version: Cow<'a, str>,
    #[serde(borrow, default)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    request: Option<RequestIn<'a, O>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn<'a, O> {
    /// The apiserver always sets it; a review without one (test data, a broken
    /// client) is still answered, with the uid as given: empty.
    #[serde(borrow, default, deserialize_with = "text")]
    uid: Cow<'a, str>,
    #[serde(borrow, default)]
    kind: Option<GroupVersionKind<'a>>,
    #[serde(borrow, default, deserialize_with = "opt_text")]
    sub_resource: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_text")]
    operation: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_text")]
    namespace: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_text")]
    name: Option<Cow<'a, str>>,
    #[serde(default)]
    dry_run: Option<bool>,
    #[serde(default = "none")]
    object: Option<O>,
}

fn none<O>() -> Option<O> {
    None
}

#[derive(Deserialize)]
struct GroupVersionKind<'a> {
    #[serde(borrow, default, deserialize_with = "text")]
    group: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "text")]
    kind: Cow<'a, str>,
}

/// A request string read even when it is not valid UTF-8 (then lossily, with
/// U+FFFD): the apiserver never sends such bytes, but a review that has them is
/// still an AdmissionReview, and is answered rather than refused. Borrowed from
/// the body when it is valid and unescaped, as everywhere on this path.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<Self::Value, E> {
                Ok(match std::str::from_utf8(v) {
                    Ok(text) => Cow::Borrowed(text),
                    Err(_) => Cow::Owned(String::from_utf8_lossy(v).into_owned()),
                })
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(Cow::Owned(String::from_utf8_lossy(v).into_owned()))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
        }
        // serde_json hands a string's bytes to `deserialize_bytes` unvalidated.
        d.deserialize_bytes(V).map(Text)
    }
}

fn text<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Cow<'a, str>, D::Error> {
    Text::deserialize(d).map(|t| t.0)
}

fn opt_text<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    Option::<Text>::deserialize(d).map(|t| t.map(|t| t.0))
}

/// What the webhook decided for one review: for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The pod was patched.
    Patched { containers: Vec<String> },
    /// A pod CREATE that needed no change.
    Unchanged,
    /// Not a pod CREATE (other kind, subresource, operation): allowed untouched.
    Skipped { why: &'static str },
    /// The pod could not be read; allowed untouched (fail open).
    Failed { error: String },
}

impl Decision {
    /// A short label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Decision::Patched { .. } => "patched",
            Decision::Unchanged => "unchanged",
            Decision::Skipped { .. } => "skipped",
            Decision::Failed { .. } => "error",
        }
    }
}

/// The answer to one review, with what the logs need.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The response body (JSON AdmissionReview).
    pub body: Vec<u8>,
    pub uid: String,
    pub operation: String,
    pub namespace: String,
    /// Pod name, or `generateName` when the name is not set yet.
    pub pod: String,
    pub dry_run: bool,
    pub decision: Decision,
    pub report: Option<PodReport>,
}

/// Reviews one AdmissionReview body.
pub fn review(engine: &Engine, body: &[u8]) -> Result<Answer, BadReview> {
    // One pass over the body, the pod decoded in place: the common case. A body that
    // is UTF-8 (every one the apiserver sends) is checked once, whole: read as a
    // `str`, serde_json then skips its check of each string, a tenth of the decode.
    let decoded = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str::<ReviewIn<'_, Obj<PodView<'_>>>>(text),
        Err(_) => serde_json::from_slice(body),
    };
    let pod_error = match decoded {
        Ok(review) => return respond(engine, review, |object| object.map(|pod| Ok(pod.0))),
        Err(e) => e.to_string(),
    };
    // Something did not decode. Read again skipping the object: a body that is not
    // an AdmissionReview gets a 400, while a review whose pod cannot be read (a
    // wrong shape, bytes that are not UTF-8) is allowed unchecked, with a warning.
    let review: ReviewIn<'_, IgnoredAny> = serde_json::from_slice(body)?;
    respond(engine, review, |object| object.map(|_| Err(pod_error)))
}

/// Answers a decoded review; `to_pod` turns its object into a pod view.
fn respond<'a, O>(
    engine: &Engine,
    review: ReviewIn<'a, O>,
    to_pod: impl FnOnce(Option<O>) -> Option<Result<PodView<'a>, String>>,
) -> Result<Answer, BadReview> {
    if review.kind != "AdmissionReview" {
        return Err(BadReview::WrongKind(review.kind.into_owned()));
    }
    let api_version = VERSIONS
        .iter()
        .find(|v| **v == review.api_version)
        .ok_or_else(|| BadReview::WrongVersion(review.api_version.to_string()))?;
    let mut request = review.request.ok_or(BadReview::NoRequest)?;
    let pod = to_pod(request.object.take());
    let decided = decide(
        engine,
        &request,
        pod,
        AdmissionResponse::allow(api_version, &request.uid),
    );
    Ok(Answer {
        body: decided.response.into_review(),
        uid: request.uid.to_string(),
        operation: request.operation.as_deref().unwrap_or_default().to_owned(),
        namespace: request.namespace.as_deref().unwrap_or_default().to_owned(),
        pod: decided
            .pod_name
            .or_else(|| request.name.as_deref().map(str::to_owned))
            .unwrap_or_default(),
        dry_run: request.dry_run.unwrap_or(false),
        decision: decided.decision,
        report: decided.report,
    })
}

/// What one review came to: the answer for the apiserver, and what the logs need.
struct Decided<'r> {
    response: AdmissionResponse<'r>,
    decision: Decision,
    /// The engine's report, when the pod was reviewed.
    report: Option<PodReport>,
    /// The pod's name (or `generateName`), when the pod was reviewed.
    pod_name: Option<String>,
}

impl<'r> Decided<'r> {
    fn skipped(response: AdmissionResponse<'r>, why: &'static str) -> Self {
        Decided {
            response,
            decision: Decision::Skipped { why },
            report: None,
            pod_name: None,
        }
    }

    /// Fails open: allowed untouched, with a warning saying why.
    fn failed(response: AdmissionResponse<'r>, error: String) -> Self {
        Decided {
            response: response.warn([format_args!("pod not checked: {error}")]),
            decision: Decision::Failed { error },
            report: None,
            pod_name: None,
        }
    }
}

/// Skips what is not a pod CREATE, fails open on a pod that cannot be read, and
/// reviews the rest.
fn decide<'r, O>(
    engine: &Engine,
    request: &RequestIn<'_, O>,
    pod: Option<Result<PodView<'_>, String>>,
    response: AdmissionResponse<'r>,
) -> Decided<'r> {
    if let Some(why) = skip_reason(request) {
        return Decided::skipped(response, why);
    }
    match pod {
        None => Decided::failed(response, "the request has no object".into()),
        Some(Err(e)) => Decided::failed(response, format!("cannot read the pod: {e}")),
        Some(Ok(pod)) => review_pod(engine, &pod, request.namespace.as_deref(), response),
    }
}

/// Why a request is not one the webhook changes, if it is not.
fn skip_reason<O>(request: &RequestIn<'_, O>) -> Option<&'static str> {
    let is_pod = request
        .kind
        .as_ref()
        .is_some_and(|k| k.group.is_empty() && k.kind == "Pod");
    if !is_pod {
        return Some("not a pod");
    }
    if request
        .sub_resource
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        return Some("subresource");
    }
    if request.operation.as_deref() != Some("CREATE") {
        return Some("not a CREATE");
    }
    None
}

/// The engine's review of a pod CREATE, as a patch and warnings on `response`.
fn review_pod<'r>(
    engine: &Engine,
    pod: &PodView<'_>,
    namespace: Option<&str>,
    response: AdmissionResponse<'r>,
) -> Decided<'r> {
    let pod_name = pod
        .metadata
        .as_ref()
        .and_then(|m| m.name.as_deref().or(m.generate_name.as_deref()))
        .map(str::to_owned);
    let result = engine.review(pod, namespace);
    if result.patch.is_empty() {
        return Decided {
            response: response.warn(&result.report.warnings),
            decision: Decision::Unchanged,
            report: Some(result.report),
            pod_name,
        };
    }
    let patch_json = match serde_json::to_vec(&result.patch) {
        Ok(json) => json,
        Err(e) => return Decided::failed(response, format!("cannot encode the patch: {e}")),
    };
    let containers = result
        .report
        .changed_containers()
        .map(str::to_owned)
        .collect();
    Decided {
        response: response
            .with_patch(patch_json)
            .warn(&result.report.warnings),
        decision: Decision::Patched { containers },
        report: Some(result.report),
        pod_name,
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use serde_json::{Value, json};

    use super::*;

    fn engine() -> Engine {
        Engine::new(Default::default()).unwrap()
    }

    fn review_of(version: &str, request: Value) -> Value {
        json!({ "apiVersion": version, "kind": "AdmissionReview", "request": request })
    }

    fn pod_request(operation: &str, image: &str) -> Value {
        json!({
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": { "group": "", "version": "v1", "kind": "Pod" },
            "resource": { "group": "", "version": "v1", "resource": "pods" },
            "operation": operation, "namespace": "logging",
            "userInfo": { "username": "system:serviceaccount:kube-system:daemon-set-controller" },
            "object": { "apiVersion": "v1", "kind": "Pod",
                "metadata": { "generateName": "promtail-", "managedFields": [{ "manager": "x", "fieldsV1": { "f:spec": {} } }] },
                "spec": { "containers": [{ "name": "promtail", "image": image }] } },
            "oldObject": null, "dryRun": false,
        })
    }

    fn answer(body: &Value) -> (Answer, Value) {
        let answer = review(&engine(), &serde_json::to_vec(body).unwrap()).unwrap();
        let json = serde_json::from_slice(&answer.body).unwrap();
        (answer, json)
    }

    /// `scripts/bench-webhook.sh`'s second body must take the patched path, or the
    /// benchmark of that path silently measures the unchanged one.
    #[test]
    fn the_benchmarks_promtail_body_is_patched() {
        let body = include_bytes!("../../benches/bodies/review-pod-promtail.json");
        let answer = review(&engine(), body).unwrap();
        assert_eq!(
            answer.decision,
            Decision::Patched {
                containers: vec!["promtail".into()]
            }
        );
    }

    #[test]
    fn a_pod_create_gets_a_base64_json_patch_in_the_requests_version() {
        for version in VERSIONS {
            let (answer, json) = answer(&review_of(
                version,
                pod_request("CREATE", "grafana/promtail:3.5.1"),
            ));
            assert_eq!(json["apiVersion"], *version);
            assert_eq!(json["kind"], "AdmissionReview");
            assert_eq!(
                json["response"]["uid"],
                "705ab4f5-6393-11e8-b7cc-42010a800002"
            );
            assert_eq!(json["response"]["allowed"], true);
            assert_eq!(json["response"]["patchType"], "JSONPatch");
            let patch = base64::engine::general_purpose::STANDARD
                .decode(json["response"]["patch"].as_str().unwrap())
                .unwrap();
            let patch: Value = serde_json::from_slice(&patch).unwrap();
            assert_eq!(patch[0]["path"], "/spec/containers/0/env");
            assert_eq!(answer.pod, "promtail-");
            assert_eq!(answer.namespace, "logging");
            assert_eq!(
                answer.decision,
                Decision::Patched {
                    containers: vec!["promtail".into()]
                }
            );
        }
    }

    #[test]
    fn other_operations_kinds_and_subresources_are_allowed_unchanged() {
        let (a, json) = answer(&review_of(
            "admission.k8s.io/v1",
            pod_request("UPDATE", "grafana/promtail"),
        ));
        assert_eq!(a.decision.label(), "skipped");
        assert!(json["response"].get("patch").is_none());
        assert_eq!(json["response"]["allowed"], true);

        let mut sub = pod_request("CREATE", "grafana/promtail");
        sub["subResource"] = json!("ephemeralcontainers");
        assert_eq!(
            answer(&review_of("admission.k8s.io/v1", sub))
                .0
                .decision
                .label(),
            "skipped"
        );

        let mut deployment = pod_request("CREATE", "grafana/promtail");
        deployment["kind"] = json!({ "group": "apps", "version": "v1", "kind": "Deployment" });
        assert_eq!(
            answer(&review_of("admission.k8s.io/v1", deployment))
                .0
                .decision
                .label(),
            "skipped"
        );
    }

    #[test]
    fn a_pod_that_needs_nothing_gets_no_patch() {
        let (a, json) = answer(&review_of(
            "admission.k8s.io/v1",
            pod_request("CREATE", "nginx"),
        ));
        assert_eq!(a.decision, Decision::Unchanged);
        assert!(json["response"].get("patchType").is_none());
    }

    #[test]
    fn an_unreadable_pod_is_allowed_with_a_warning() {
        let mut request = pod_request("CREATE", "grafana/promtail");
        request["object"]["spec"]["containers"] = json!("not a list");
        let (a, json) = answer(&review_of("admission.k8s.io/v1", request));
        assert_eq!(a.decision.label(), "error");
        assert_eq!(json["response"]["allowed"], true);
        assert!(
            json["response"]["warnings"][0]
                .as_str()
                .unwrap()
                .chars()
                .count()
                < 120
        );
    }

    /// Moved from the engine's tests with the bound itself: the same pod, whose
    /// warnings name a 63-character container, and the same assertion on what the
    /// apiserver receives.
    /// `body` with the first occurrence of `needle` replaced by bytes that are not UTF-8.
    fn with_invalid_utf8(body: &Value, needle: &str) -> Vec<u8> {
        let text = serde_json::to_string(body).unwrap();
        let at = text
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} not in body"));
        let mut bytes = text.into_bytes();
        bytes[at] = 0xff;
        bytes[at + 1] = 0xfe;
        bytes
    }

    #[test]
    fn bytes_that_are_not_utf8_in_the_pod_fail_open_with_a_warning() {
        let mut request = pod_request("CREATE", "grafana/promtail");
        request["object"]["metadata"]["labels"] = json!({ "app": "LABELVALUE" });
        request["namespace"] = json!("NSNAME");
        let body = review_of("admission.k8s.io/v1", request);
        for needle in [
            "grafana/promtail",
            "promtail-",
            "LABELVALUE",
            "\"promtail\"",
        ] {
            let needle = needle.trim_matches('"');
            let bytes = with_invalid_utf8(&body, needle);
            let a = review(&engine(), &bytes).unwrap_or_else(|e| panic!("{needle}: {e}"));
            let json: Value = serde_json::from_slice(&a.body).unwrap();
            assert_eq!(a.decision.label(), "error", "{needle}");
            assert_eq!(json["response"]["allowed"], true, "{needle}");
            assert_eq!(
                json["response"]["uid"],
                "705ab4f5-6393-11e8-b7cc-42010a800002"
            );
            assert!(json["response"].get("patch").is_none(), "{needle}");
            let warning = json["response"]["warnings"][0].as_str().unwrap();
            assert!(warning.contains("pod not checked"), "{needle}: {warning}");
        }
        // In the request's own strings the bytes are read lossily: the pod is
        // still reviewed (and patched), never refused.
        let bytes = with_invalid_utf8(&body, "NSNAME");
        let a = review(&engine(), &bytes).unwrap();
        assert_eq!(a.decision.label(), "patched");
        assert!(a.namespace.starts_with('\u{fffd}'), "{:?}", a.namespace);
    }

    #[test]
    fn arrays_where_objects_belong_fail_open_without_a_patch() {
        let shapes: [(&str, Value); 6] = [
            ("object", json!(["Pod", "promtail"])),
            (
                "spec",
                json!([[{ "name": "promtail", "image": "grafana/promtail" }]]),
            ),
            ("metadata", json!(["p"])),
            ("containers", json!([["promtail", "grafana/promtail"]])),
            ("env", json!([["GODEBUG", "x=1"]])),
            ("dnsConfig", json!([["options"]])),
        ];
        for (part, value) in shapes {
            let mut request = pod_request("CREATE", "grafana/promtail");
            match part {
                "object" => request["object"] = value,
                "spec" | "metadata" => request["object"][part] = value,
                "containers" => request["object"]["spec"]["containers"] = value,
                "env" => request["object"]["spec"]["containers"][0]["env"] = value,
                _ => request["object"]["spec"]["dnsConfig"] = value,
            }
            let (a, json) = answer(&review_of("admission.k8s.io/v1", request));
            assert_eq!(a.decision.label(), "error", "{part}");
            assert_eq!(json["response"]["allowed"], true, "{part}");
            assert!(json["response"].get("patch").is_none(), "{part}: {json}");
            let warning = json["response"]["warnings"][0].as_str().unwrap();
            assert!(warning.contains("pod not checked"), "{part}: {warning}");
        }
    }

    #[test]
    fn a_review_without_a_uid_is_answered_with_the_uid_as_given() {
        let mut request = pod_request("CREATE", "grafana/promtail");
        request.as_object_mut().unwrap().remove("uid");
        let (a, json) = answer(&review_of("admission.k8s.io/v1", request));
        assert_eq!(json["response"]["uid"], "");
        assert_eq!(json["response"]["allowed"], true);
        assert_eq!(a.decision.label(), "patched");
    }

    #[test]
    fn warnings_stay_under_120_characters() {
        let long = "x".repeat(63);
        let mut request = pod_request("CREATE", "loggieio/loggie");
        request["object"]["spec"] = json!({ "containers": [{ "name": long, "image": "loggieio/loggie",
            "env": [{ "name": "GODEBUG", "value": "netdns=cgo" }, { "name": "GODEBUG", "value": "netdns=cgo" }] }] });
        let (a, json) = answer(&review_of("admission.k8s.io/v1", request));
        let warnings = json["response"]["warnings"].as_array().unwrap();
        assert!(!warnings.is_empty());
        for w in warnings {
            let w = w.as_str().unwrap();
            assert!(w.chars().count() < 120, "{} chars: {w}", w.chars().count());
        }
        // The cut happened here: the engine's report has the whole text.
        assert!(warnings.iter().any(|w| w.as_str().unwrap().ends_with('…')));
        let report = a.report.unwrap();
        assert!(report.warnings.iter().any(|w| w.chars().count() >= 120));
    }

    #[test]
    fn bodies_that_are_not_reviews_are_rejected_with_a_reason() {
        let e = engine();
        assert!(matches!(
            review(&e, b"{\"apiVersion\": \"admission.k8s.io/v1\""),
            Err(BadReview::NotJson(_))
        ));
        let wrong_kind = json!({ "apiVersion": "v1", "kind": "Pod" });
        assert!(matches!(
            review(&e, &serde_json::to_vec(&wrong_kind).unwrap()),
            Err(BadReview::WrongKind(_))
        ));
        let wrong_version = json!({ "apiVersion": "admission.k8s.io/v2", "kind": "AdmissionReview", "request": { "uid": "u" } });
        assert!(matches!(
            review(&e, &serde_json::to_vec(&wrong_version).unwrap()),
            Err(BadReview::WrongVersion(_))
        ));
        let no_request = json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview" });
        assert!(matches!(
            review(&e, &serde_json::to_vec(&no_request).unwrap()),
            Err(BadReview::NoRequest)
        ));
        let wrong_type = json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": { "uid": 5 } });
        let err = review(&e, &serde_json::to_vec(&wrong_type).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("uid") || err.contains("invalid type"), "{err}");
    }
}
