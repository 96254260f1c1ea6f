//! The REST paths and JSON: GET of an object or a collection (label selectors,
//! `limit` and `continue`, cluster-wide lists), POST, PUT with resourceVersion
//! checks, PATCH (JSON Patch, merge and strategic-merge), DELETE, and pod logs.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::controllers::{admit, after_delete, after_update};
use super::{FakeApiServer, Shared, Store};

impl FakeApiServer {
    /// Stores the log `GET …/pods/POD/log?container=C[&previous=true]` answers.
    pub fn set_log(&self, namespace: &str, pod: &str, container: &str, previous: bool, text: &str) {
        let key = (
            namespace.to_owned(),
            pod.to_owned(),
            container.to_owned(),
            previous,
        );
        self.store.lock().unwrap().logs.insert(key, text.to_owned());
    }
}

fn status(code: StatusCode, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16(),
    });
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(code: StatusCode, value: &Value) -> Response {
    (
        code,
        [("content-type", "application/json")],
        value.to_string(),
    )
        .into_response()
}

#[allow(clippy::too_many_arguments)]
pub(super) fn respond(
    shared: &Shared,
    store: &mut Store,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let path = path.to_owned();
    let body: Option<Value> = serde_json::from_slice(body).ok();
    match *method {
        Method::GET if path.ends_with("/log") => pod_log(store, &path, query),
        Method::GET => match store.objects.get(&path) {
            Some(object) => ok(StatusCode::OK, object),
            None => list(store, &path, query),
        },
        Method::POST => {
            let Some(mut object) = body else {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "body is not JSON".into(),
                );
            };
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let key = format!("{path}/{name}");
            if store.objects.contains_key(&key) {
                return status(
                    StatusCode::CONFLICT,
                    "AlreadyExists",
                    format!("{name} already exists"),
                );
            }
            if object["metadata"]["uid"].is_null() {
                object["metadata"]["uid"] = json!(store.new_uid());
            }
            if path.ends_with("/pods") {
                admit(store, &mut object);
            }
            let object = store.put(key, object);
            ok(StatusCode::CREATED, &object)
        }
        Method::PUT => {
            let Some(mut object) = body else {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "body is not JSON".into(),
                );
            };
            let Some(existing) = store.objects.get(&path).cloned() else {
                return status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("{path} not found"),
                );
            };
            let sent = object["metadata"]["resourceVersion"].as_str();
            if sent.is_some() && sent != existing["metadata"]["resourceVersion"].as_str() {
                return status(
                    StatusCode::CONFLICT,
                    "Conflict",
                    "the object has been modified".into(),
                );
            }
            bump_generation(&existing, &mut object);
            let object = store.put(path.clone(), object);
            after_update(shared, store, &path, &existing, &object);
            ok(StatusCode::OK, &object)
        }
        Method::PATCH => {
            let Some(existing) = store.objects.get(&path).cloned() else {
                return status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("{path} not found"),
                );
            };
            let mut object = existing.clone();
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let Some(patch) = body else {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "patch is not JSON".into(),
                );
            };
            if content_type.starts_with("application/json-patch+json") {
                let Ok(patch) = serde_json::from_value::<json_patch::Patch>(patch) else {
                    return status(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "not a JSON Patch".into(),
                    );
                };
                if let Err(e) = json_patch::patch(&mut object, &patch) {
                    return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", e.to_string());
                }
            } else {
                // Merge and strategic-merge patches: a JSON merge patch is enough here.
                json_patch::merge(&mut object, &patch);
            }
            bump_generation(&existing, &mut object);
            let object = store.put(path.clone(), object);
            after_update(shared, store, &path, &existing, &object);
            ok(StatusCode::OK, &object)
        }
        Method::DELETE => match store.objects.remove(&path) {
            Some(object) => {
                after_delete(shared, store, &path, &object);
                ok(StatusCode::OK, &object)
            }
            None => status(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("{path} not found"),
            ),
        },
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            method.to_string(),
        ),
    }
}

/// The apiserver bumps `metadata.generation` when `spec` changes.
fn bump_generation(before: &Value, after: &mut Value) {
    if before.get("spec") != after.get("spec") {
        let generation = before["metadata"]["generation"].as_i64().unwrap_or(1);
        after["metadata"]["generation"] = json!(generation + 1);
    }
}

fn pod_log(store: &Store, path: &str, query: &HashMap<String, String>) -> Response {
    let (_, _, namespace, name) = path_parts(path.trim_end_matches("/log"));
    let (namespace, pod) = (namespace.unwrap_or_default(), name.unwrap_or_default());
    let pod_path = format!("/api/v1/namespaces/{namespace}/pods/{pod}");
    if !store.objects.contains_key(&pod_path) {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("pods \"{pod}\" not found"),
        );
    }
    let container = query.get("container").cloned().unwrap_or_default();
    let previous = query.get("previous").is_some_and(|p| p == "true");
    let key = (namespace, pod.clone(), container.clone(), previous);
    match store.logs.get(&key) {
        Some(text) => {
            let tail = query
                .get("tailLines")
                .and_then(|t| t.parse::<usize>().ok())
                .unwrap_or(usize::MAX);
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(tail);
            let mut text = lines[start..].join("\n");
            text.push('\n');
            (StatusCode::OK, [("content-type", "text/plain")], text).into_response()
        }
        None if previous => status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("previous terminated container \"{container}\" in pod \"{pod}\" not found"),
        ),
        None => (
            StatusCode::OK,
            [("content-type", "text/plain")],
            String::new(),
        )
            .into_response(),
    }
}

/// Whether `key` is an item of the collection at `path` (cluster-wide paths list
/// every namespace's items).
fn in_collection(key: &str, path: &str) -> bool {
    if let Some(rest) = key.strip_prefix(&format!("{path}/")) {
        return !rest.contains('/');
    }
    let Some((prefix, resource)) = path.rsplit_once('/') else {
        return false;
    };
    let Some(rest) = key.strip_prefix(&format!("{prefix}/namespaces/")) else {
        return false;
    };
    matches!(rest.split('/').collect::<Vec<_>>().as_slice(), [_, r, _] if *r == resource)
}

fn list(store: &Store, path: &str, query: &HashMap<String, String>) -> Response {
    let selector = query.get("labelSelector").map(String::as_str).unwrap_or("");
    let items: Vec<(&String, &Value)> = store
        .objects
        .iter()
        .filter(|(k, _)| in_collection(k, path))
        .filter(|(_, v)| selector_matches(selector, &v["metadata"]["labels"]))
        .collect();
    if items.is_empty() && !is_collection(path) {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{path} not found"),
        );
    }
    let after = query.get("continue").cloned().unwrap_or_default();
    let remaining: Vec<(&String, &Value)> = items
        .into_iter()
        .filter(|(k, _)| after.is_empty() || k.as_str() > after.as_str())
        .collect();
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let page: Vec<Value> = remaining
        .iter()
        .take(limit)
        .map(|(_, v)| (*v).clone())
        .collect();
    let mut metadata = json!({ "resourceVersion": store.version.to_string() });
    if remaining.len() > page.len() {
        metadata["continue"] = json!(remaining[page.len() - 1].0);
        metadata["remainingItemCount"] = json!(remaining.len() - page.len());
    }
    ok(
        StatusCode::OK,
        &json!({ "kind": "List", "apiVersion": "v1", "metadata": metadata, "items": page }),
    )
}

/// Splits a selector at the commas that are not inside parentheses.
fn requirements(selector: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in selector.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out.into_iter()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect()
}

fn selector_matches(selector: &str, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let set = |values: &str| -> Vec<String> {
        values
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .split(',')
            .map(|v| v.trim().to_owned())
            .collect()
    };
    requirements(selector).iter().all(|r| {
        if let Some((k, values)) = r.split_once(" notin ") {
            return label(k.trim()).is_none_or(|v| !set(values).iter().any(|s| s == v));
        }
        if let Some((k, values)) = r.split_once(" in ") {
            return label(k.trim()).is_some_and(|v| set(values).iter().any(|s| s == v));
        }
        if let Some((k, v)) = r.split_once("!=") {
            return label(k.trim()) != Some(v.trim());
        }
        if let Some((k, v)) = r.split_once("==").or_else(|| r.split_once('=')) {
            return label(k.trim()) == Some(v.trim());
        }
        match r.strip_prefix('!') {
            Some(k) => label(k.trim()).is_none(),
            None => label(r).is_some(),
        }
    })
}

/// Collections end in a plural resource name: an even number of segments after
/// the group/version prefix (…/namespaces/ns/secrets or …/v1/mutatingwebhookconfigurations).
fn is_collection(path: &str) -> bool {
    let rest = path
        .strip_prefix("/api/v1")
        .or_else(|| {
            path.strip_prefix("/apis/")
                .and_then(|p| p.splitn(3, '/').nth(2))
        })
        .unwrap_or(path);
    let segments = rest.split('/').filter(|s| !s.is_empty()).count();
    segments % 2 == 1
}

/// (group, resource, namespace, name) of a REST path.
pub(super) fn path_parts(path: &str) -> (String, String, Option<String>, Option<String>) {
    let (group, rest) = match path.strip_prefix("/api/v1") {
        Some(rest) => (String::new(), rest),
        None => {
            let mut parts = path.trim_start_matches("/apis/").splitn(3, '/');
            let group = parts.next().unwrap_or_default().to_owned();
            let _version = parts.next();
            (group, parts.next().map_or("", |r| r))
        }
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["namespaces", ns, resource, name, ..] => (
            group,
            (*resource).to_owned(),
            Some((*ns).to_owned()),
            Some((*name).to_owned()),
        ),
        ["namespaces", ns, resource] => {
            (group, (*resource).to_owned(), Some((*ns).to_owned()), None)
        }
        [resource, name, ..] => (
            group,
            (*resource).to_owned(),
            None,
            Some((*name).to_owned()),
        ),
        [resource] => (group, (*resource).to_owned(), None, None),
        _ => (group, String::new(), None, None),
    }
}
