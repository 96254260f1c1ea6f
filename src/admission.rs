//! The kube-apiserver side of the webhook (ARCHITECTURE.md, "The kube-apiserver contract"): reading an AdmissionReview
//! and writing the answer, around the engine.
//!
//! Only what the decision needs is decoded: the request's identity and the pod's
//! [`PodView`]. `managedFields`, `userInfo`, `oldObject` and the rest of the object
//! are skipped by serde without being built. The answer is always `allowed: true`:
//! netdns-guard never blocks a pod, whatever goes wrong.

use std::borrow::Cow;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::engine::Engine;
use crate::engine::model::{PodView, borrow};
use crate::engine::report::PodReport;

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

/// An AdmissionReview whose object is read as `O`: the pod view itself (one pass)
/// or raw JSON (kept for a second, separate attempt).
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
    #[serde(borrow)]
    uid: Cow<'a, str>,
    #[serde(borrow, default)]
    kind: Option<GroupVersionKind<'a>>,
    #[serde(borrow, default, deserialize_with = "borrow::opt")]
    sub_resource: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrow::opt")]
    operation: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrow::opt")]
    namespace: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrow::opt")]
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
    #[serde(borrow, default)]
    group: Cow<'a, str>,
    #[serde(borrow, default)]
    kind: Cow<'a, str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'a str,
    kind: &'static str,
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
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
    // One pass over the body, the pod decoded in place: the common case.
    if let Ok(review) = serde_json::from_slice::<ReviewIn<'_, PodView<'_>>>(body) {
        return respond(engine, review, |object| object.map(Ok));
    }
    // Something did not decode. Read again with the object kept raw, so that a
    // malformed review gets a 400 while a malformed pod is allowed unchecked.
    let review: ReviewIn<'_, &RawValue> = serde_json::from_slice(body)?;
    respond(engine, review, |object| {
        object.map(|raw| PodView::from_json(raw.get().as_bytes()).map_err(|e| e.to_string()))
    })
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
    let (decision, patch, warnings, report, pod_name) = decide(engine, &request, pod);
    let response = ReviewOut {
        api_version,
        kind: "AdmissionReview",
        response: ResponseOut {
            uid: &request.uid,
            allowed: true,
            patch_type: patch.is_some().then_some("JSONPatch"),
            patch,
            warnings: &warnings,
        },
    };
    Ok(Answer {
        body: serde_json::to_vec(&response)?,
        uid: request.uid.to_string(),
        operation: request.operation.as_deref().unwrap_or_default().to_owned(),
        namespace: request.namespace.as_deref().unwrap_or_default().to_owned(),
        pod: pod_name
            .or_else(|| request.name.as_deref().map(str::to_owned))
            .unwrap_or_default(),
        dry_run: request.dry_run.unwrap_or(false),
        decision,
        report,
    })
}

type Decided = (
    Decision,
    Option<String>,
    Vec<String>,
    Option<PodReport>,
    Option<String>,
);

fn decide<O>(
    engine: &Engine,
    request: &RequestIn<'_, O>,
    pod: Option<Result<PodView<'_>, String>>,
) -> Decided {
    let skipped = |why| (Decision::Skipped { why }, None, Vec::new(), None, None);
    let is_pod = request
        .kind
        .as_ref()
        .is_some_and(|k| k.group.is_empty() && k.kind == "Pod");
    if !is_pod {
        return skipped("not a pod");
    }
    if request
        .sub_resource
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        return skipped("subresource");
    }
    if request.operation.as_deref() != Some("CREATE") {
        return skipped("not a CREATE");
    }
    let pod = match pod {
        None => return fail("the request has no object".into()),
        Some(Err(e)) => return fail(format!("cannot read the pod: {e}")),
        Some(Ok(pod)) => pod,
    };
    let pod_name = pod
        .metadata
        .as_ref()
        .and_then(|m| m.name.as_deref().or(m.generate_name.as_deref()))
        .map(str::to_owned);
    let result = engine.review(&pod, request.namespace.as_deref());
    let warnings = result
        .report
        .warnings
        .iter()
        .map(|w| format!("netdns-guard: {w}"))
        .map(shorten)
        .collect();
    if result.patch.is_empty() {
        return (
            Decision::Unchanged,
            None,
            warnings,
            Some(result.report),
            pod_name,
        );
    }
    let patch = match serde_json::to_vec(&result.patch) {
        Ok(json) => base64::engine::general_purpose::STANDARD.encode(json),
        Err(e) => return fail(format!("cannot encode the patch: {e}")),
    };
    let containers = result
        .report
        .changed_containers()
        .map(str::to_owned)
        .collect();
    (
        Decision::Patched { containers },
        Some(patch),
        warnings,
        Some(result.report),
        pod_name,
    )
}

fn fail(error: String) -> Decided {
    let warning = shorten(format!("netdns-guard: pod not checked: {error}"));
    (Decision::Failed { error }, None, vec![warning], None, None)
}

/// Keeps a warning under the apiserver's 120-character limit.
fn shorten(mut warning: String) -> String {
    if warning.chars().count() >= 120 {
        warning = warning.chars().take(118).collect();
        warning.push('…');
    }
    warning
}

#[cfg(test)]
mod tests {
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
