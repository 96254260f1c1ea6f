//! An in-process fake Kubernetes API server: real REST paths, real JSON, real
//! `Status` errors, so code using the kube client is tested without a cluster.
//!
//! Objects live in a map keyed by their URL path (`/api/v1/namespaces/ns/secrets/x`).
//! GET reads an object or lists a collection; POST creates (409 if present); PUT
//! replaces (409 on a stale resourceVersion); PATCH applies a JSON Patch or a merge
//! patch; DELETE removes. Every request is logged for assertions.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Default)]
struct Store {
    objects: BTreeMap<String, Value>,
    log: Vec<(String, String)>,
    version: u64,
}

/// A running fake API server.
#[derive(Clone)]
pub struct FakeApiServer {
    pub addr: SocketAddr,
    store: Arc<Mutex<Store>>,
}

impl FakeApiServer {
    pub async fn start() -> Self {
        let store = Arc::new(Mutex::new(Store::default()));
        let app = Router::new().fallback(handle).with_state(store.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeApiServer { addr, store }
    }

    /// A kube client talking to this server, default namespace `namespace`.
    pub fn client(&self, namespace: &str) -> kube::Client {
        let mut config = kube::Config::new(format!("http://{}", self.addr).parse().unwrap());
        config.default_namespace = namespace.to_owned();
        kube::Client::try_from(config).unwrap()
    }

    /// Puts an object at `path` (its full object URL path).
    pub fn insert(&self, path: &str, mut object: Value) {
        let mut store = self.store.lock().unwrap();
        store.version += 1;
        object["metadata"]["resourceVersion"] = json!(store.version.to_string());
        store.objects.insert(path.to_owned(), object);
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        self.store.lock().unwrap().objects.get(path).cloned()
    }

    /// Requests seen so far, as (method, path).
    pub fn log(&self) -> Vec<(String, String)> {
        self.store.lock().unwrap().log.clone()
    }

    /// Requests that changed something.
    pub fn writes(&self) -> Vec<(String, String)> {
        self.log().into_iter().filter(|(m, _)| m != "GET").collect()
    }

    pub fn clear_log(&self) {
        self.store.lock().unwrap().log.clear();
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

async fn handle(
    State(store): State<Arc<Mutex<Store>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/').to_owned();
    let mut store = store.lock().unwrap();
    store.log.push((method.to_string(), path.clone()));
    let body: Option<Value> = serde_json::from_slice(&body).ok();
    match method {
        Method::GET => match store.objects.get(&path) {
            Some(object) => ok(StatusCode::OK, object),
            None => {
                let prefix = format!("{path}/");
                let items: Vec<Value> = store
                    .objects
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
                    .map(|(_, v)| v.clone())
                    .collect();
                if items.is_empty() && !is_collection(&path) {
                    return status(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        format!("{path} not found"),
                    );
                }
                ok(
                    StatusCode::OK,
                    &json!({ "kind": "List", "apiVersion": "v1", "metadata": { "resourceVersion": store.version.to_string() }, "items": items }),
                )
            }
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
            store.version += 1;
            object["metadata"]["resourceVersion"] = json!(store.version.to_string());
            store.objects.insert(key, object.clone());
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
            let Some(existing) = store.objects.get(&path) else {
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
            store.version += 1;
            object["metadata"]["resourceVersion"] = json!(store.version.to_string());
            store.objects.insert(path, object.clone());
            ok(StatusCode::OK, &object)
        }
        Method::PATCH => {
            let Some(mut object) = store.objects.get(&path).cloned() else {
                return status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("{path} not found"),
                );
            };
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
            store.version += 1;
            object["metadata"]["resourceVersion"] = json!(store.version.to_string());
            store.objects.insert(path, object.clone());
            ok(StatusCode::OK, &object)
        }
        Method::DELETE => match store.objects.remove(&path) {
            Some(object) => ok(StatusCode::OK, &object),
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

/// Collections end in a plural resource name: an even number of segments after
/// the group/version prefix (…/namespaces/ns/secrets or …/v1/mutatingwebhookconfigurations).
fn is_collection(path: &str) -> bool {
    let rest = path
        .strip_prefix("/api/v1")
        .or_else(|| {
            path.strip_prefix("/apis/")
                .and_then(|p| p.splitn(3, '/').nth(2))
                .map(|r| r)
        })
        .unwrap_or(path);
    let segments = rest.split('/').filter(|s| !s.is_empty()).count();
    segments % 2 == 1
}
