//! Kubernetes objects in manifests: where each kind keeps its pod, and running the
//! engine over an object (or every item of a `List` / KRM `ResourceList`).

pub mod stream;

use serde_json::Value;

use crate::engine::model::PodView;
use crate::engine::patch::{PatchOp, to_json_patch};
use crate::engine::{Engine, Review};

/// Where a kind keeps its pod, as a JSON Pointer from the object's root.
///
/// Only the built-in API groups are recognised, so a custom resource that happens
/// to be called `Deployment`, or a CRD whose schema mentions `containers`, is never
/// mistaken for a workload.
pub fn pod_pointer(api_version: &str, kind: &str) -> Option<&'static str> {
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    match (group, kind) {
        ("", "Pod") => Some(""),
        ("", "PodTemplate") => Some("/template"),
        ("", "ReplicationController") => Some("/spec/template"),
        ("apps" | "extensions", "Deployment" | "DaemonSet" | "ReplicaSet" | "StatefulSet") => {
            Some("/spec/template")
        }
        ("batch", "Job") => Some("/spec/template"),
        ("batch", "CronJob") => Some("/spec/jobTemplate/spec/template"),
        _ => None,
    }
}

/// Identity of an object, for reports. Serialised with Kubernetes field names, as a
/// KRM `results[].resourceRef` must be.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{} ({ns})", self.kind, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

impl ObjectRef {
    fn of(object: &Value) -> ObjectRef {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
        ObjectRef {
            api_version: text("/apiVersion").unwrap_or_default().to_owned(),
            kind: text("/kind").unwrap_or_default().to_owned(),
            namespace: text("/metadata/namespace").map(str::to_owned),
            name: text("/metadata/name")
                .or_else(|| text("/metadata/generateName"))
                .unwrap_or("<unnamed>")
                .to_owned(),
        }
    }
}

/// The engine's result for one workload object.
#[derive(Debug, Clone)]
pub struct ObjectReview {
    pub object: ObjectRef,
    /// JSON Pointer of the object inside its document (`""`, or `/items/N`).
    pub location: String,
    /// Operations rooted at the object (not the document).
    pub patch: Vec<PatchOp>,
    pub review: Review,
}

/// An object whose pod has a shape the engine cannot read (e.g. `env` is a string).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{object}: {path}: {message}")]
pub struct ShapeError {
    pub object: String,
    pub path: String,
    pub message: String,
}

/// Reviews one document value and applies the patches in place. Returns one entry
/// per workload found (a `List` or `ResourceList` can hold many); anything else is
/// left exactly as it was.
pub fn mutate_document(
    engine: &Engine,
    document: &mut Value,
) -> Result<Vec<ObjectReview>, ShapeError> {
    let mut reviews = Vec::new();
    mutate_in(engine, document, String::new(), &mut reviews)?;
    Ok(reviews)
}

fn mutate_in(
    engine: &Engine,
    object: &mut Value,
    location: String,
    out: &mut Vec<ObjectReview>,
) -> Result<(), ShapeError> {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if is_list(api_version, kind) {
        if let Some(items) = object.get_mut("items").and_then(Value::as_array_mut) {
            for (i, item) in items.iter_mut().enumerate() {
                mutate_in(engine, item, format!("{location}/items/{i}"), out)?;
            }
        }
        return Ok(());
    }
    let Some(pointer) = pod_pointer(api_version, kind) else {
        return Ok(());
    };
    let Some(review) = review_object(engine, object, pointer)? else {
        return Ok(());
    };
    let patch: Vec<PatchOp> = review
        .patch
        .iter()
        .cloned()
        .map(|op| op.rooted_at(pointer))
        .collect();
    apply(object, &patch).map_err(|message| ShapeError {
        object: ObjectRef::of(object).to_string(),
        path: pointer.to_owned(),
        message,
    })?;
    out.push(ObjectReview {
        object: ObjectRef::of(object),
        location,
        patch,
        review,
    });
    Ok(())
}

/// `v1 List` (what kubectl writes) and KRM `ResourceList` (what kustomize and kpt
/// functions read and write) hold objects in `items`.
fn is_list(api_version: &str, kind: &str) -> bool {
    kind == "List" || (kind == "ResourceList" && api_version.starts_with("config.kubernetes.io/"))
}

/// Runs the engine on the pod at `pointer`; `None` when the object has no pod there
/// (a template-less workload is left as is).
fn review_object(
    engine: &Engine,
    object: &Value,
    pointer: &str,
) -> Result<Option<Review>, ShapeError> {
    let Some(pod) = object.pointer(pointer).filter(|p| p.is_object()) else {
        return Ok(None);
    };
    let view: PodView<'_> = serde_path_to_error::deserialize(pod).map_err(|e| ShapeError {
        object: ObjectRef::of(object).to_string(),
        path: format!("{pointer}/{}", e.path()).replace('.', "/"),
        message: e.inner().to_string(),
    })?;
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str);
    Ok(Some(engine.review(&view, namespace)))
}

/// Applies engine operations to a document.
pub fn apply(document: &mut Value, patch: &[PatchOp]) -> Result<(), String> {
    if patch.is_empty() {
        return Ok(());
    }
    let patch = to_json_patch(patch)?;
    json_patch::patch(document, &patch).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_pod_template_kind_is_located() {
        assert_eq!(pod_pointer("v1", "Pod"), Some(""));
        assert_eq!(pod_pointer("v1", "PodTemplate"), Some("/template"));
        assert_eq!(
            pod_pointer("v1", "ReplicationController"),
            Some("/spec/template")
        );
        for kind in ["Deployment", "DaemonSet", "StatefulSet", "ReplicaSet"] {
            assert_eq!(pod_pointer("apps/v1", kind), Some("/spec/template"));
        }
        assert_eq!(
            pod_pointer("extensions/v1beta1", "DaemonSet"),
            Some("/spec/template")
        );
        assert_eq!(pod_pointer("batch/v1", "Job"), Some("/spec/template"));
        assert_eq!(
            pod_pointer("batch/v1", "CronJob"),
            Some("/spec/jobTemplate/spec/template")
        );
        assert_eq!(
            pod_pointer("batch/v1beta1", "CronJob"),
            Some("/spec/jobTemplate/spec/template")
        );
    }

    #[test]
    fn look_alikes_are_not_workloads() {
        assert_eq!(pod_pointer("example.com/v1", "Deployment"), None);
        assert_eq!(
            pod_pointer("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
            None
        );
        assert_eq!(pod_pointer("v1", "ConfigMap"), None);
    }

    #[test]
    fn list_items_are_mutated_in_place_and_reported_with_their_location() {
        let engine = Engine::new(Default::default()).unwrap();
        let mut doc = json!({ "apiVersion": "v1", "kind": "List", "items": [
            { "apiVersion": "v1", "kind": "Service", "metadata": { "name": "s" } },
            { "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": { "name": "d", "namespace": "logs" },
              "spec": { "template": { "spec": { "containers": [{ "name": "p", "image": "grafana/promtail" }] } } } },
        ]});
        let reviews = mutate_document(&engine, &mut doc).unwrap();
        assert_eq!(reviews.len(), 1);
        assert_eq!(reviews[0].location, "/items/1");
        assert_eq!(reviews[0].object.to_string(), "DaemonSet/d (logs)");
        assert_eq!(
            doc["items"][1]["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
            "netdns=go"
        );
        assert!(
            reviews[0].patch[0]
                .path()
                .starts_with("/spec/template/spec/containers/0")
        );
    }

    #[test]
    fn a_malformed_pod_names_the_object_and_the_field() {
        let engine = Engine::new(Default::default()).unwrap();
        let mut doc = json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "bad" },
            "spec": { "containers": [{ "name": "c", "env": "oops" }] } });
        let err = mutate_document(&engine, &mut doc).unwrap_err().to_string();
        assert!(
            err.contains("Pod/bad") && err.contains("spec/containers[0]/env"),
            "{err}"
        );
    }
}
