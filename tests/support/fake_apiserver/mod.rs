//! An in-process fake Kubernetes API server: real REST paths, real JSON, real
//! `Status` errors, so code using the kube client is tested without a cluster.
//!
//! Objects live in a map keyed by their URL path (`/api/v1/namespaces/ns/secrets/x`).
//! GET reads an object or lists a collection; POST creates (409 if present); PUT
//! replaces (409 on a stale resourceVersion); PATCH applies a JSON Patch or a merge
//! patch (strategic-merge patches are applied as merge patches, which is what they
//! are for maps); DELETE removes. A change to `spec` bumps `metadata.generation`.
//! Every request is logged for assertions.
//!
//! Lists honour what kubectl and kube-rs send: `labelSelector` (`k=v`, `k!=v`, `k`,
//! `!k`, `k in (a,b)`, `k notin (a,b)`), `limit` and `continue` (with
//! `metadata.continue` and `remainingItemCount`), and cluster-wide paths
//! (`/api/v1/pods` lists pods of every namespace).
//!
//! Opt-in extras, all off by default:
//! - [`FakeApiServer::set_log`]: `GET …/pods/NAME/log` answers with a stored log;
//! - [`FakeApiServer::inject`]: the next N requests matching a method and path get a
//!   409, 429 (with `Retry-After`), 403 (with the apiserver's RBAC message) or any
//!   other status;
//! - [`FakeApiServer::set_pod_admission`]: a hook every created pod goes through (a
//!   test can run the engine in it, as the webhook would);
//! - [`FakeApiServer::enforce_rbac`]: only requests an RBAC rule allows are served,
//!   the others get the apiserver's 403;
//! - [`FakeApiServer::simulate_controllers`]: a change to the pod template of a
//!   Deployment, or of a RollingUpdate DaemonSet or StatefulSet, rolls its pods (new
//!   pods from the new template, then ready, then status complete, as the
//!   controllers report it); deleting a pod owned by a DaemonSet, StatefulSet or
//!   ReplicaSet makes its controller create a replacement from the current template.
//!
//! This file holds the server, its state and the routing of one request (RBAC,
//! then an injected fault, then REST). The rest, one concern per file:
//! - `rest`: the REST paths and JSON (get, list with selectors and pages, create,
//!   replace, patch, delete, pod logs);
//! - `faults`: injected failures, worded as the apiserver words them;
//! - `rbac`: the authorizer, when a test enforces RBAC rules;
//! - `controllers`: the Deployment, DaemonSet and StatefulSet controllers' rollouts
//!   and pod replacements, and the pod admission hook.

// Every test crate that includes this module uses a different part of it.
#![allow(dead_code)]

mod controllers;
mod faults;
mod rbac;
mod rest;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::scratch::scratch_dir;
pub use controllers::{ControllerSim, RolloutRecord};
pub use faults::Fault;
use faults::{fault_response, take_fault};
pub use rbac::Rule;
use rbac::authorized;
use rest::respond;

/// A hook every created pod goes through (an admission webhook stand-in).
pub type PodAdmission = Arc<dyn Fn(&mut Value) + Send + Sync>;

/// One logged request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The raw query string (`limit=2&continue=…`), empty when none.
    pub query: String,
    pub at: Instant,
    /// The status answered.
    pub status: u16,
}

#[derive(Default)]
struct Store {
    objects: BTreeMap<String, Value>,
    log: Vec<(String, String)>,
    requests: Vec<Request>,
    version: u64,
    uids: u64,
    logs: HashMap<(String, String, String, bool), String>,
    faults: Vec<Fault>,
    admission: Option<PodAdmission>,
    sim: Option<ControllerSim>,
    rollouts: Vec<RolloutRecord>,
    rbac: Option<Vec<Rule>>,
    rules_used: Vec<usize>,
}

type Shared = Arc<Mutex<Store>>;

/// A running fake API server.
#[derive(Clone)]
pub struct FakeApiServer {
    pub addr: SocketAddr,
    store: Shared,
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
        kube::Client::try_from(self.config(namespace)).unwrap()
    }

    /// A kube client without kube's own retry layer (so the caller's retries are
    /// what a test sees).
    pub fn client_without_retries(&self, namespace: &str) -> kube::Client {
        let mut config = self.config(namespace);
        config.default_retry = false;
        kube::Client::try_from(config).unwrap()
    }

    fn config(&self, namespace: &str) -> kube::Config {
        let mut config = kube::Config::new(format!("http://{}", self.addr).parse().unwrap());
        config.default_namespace = namespace.to_owned();
        config
    }

    /// A kubeconfig file's text pointing at this server (for running the binary).
    pub fn kubeconfig(&self, namespace: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters: [{{name: fake, cluster: {{server: 'http://{}'}}}}]\n\
             users: [{{name: fake, user: {{token: fake}}}}]\n\
             contexts: [{{name: fake, context: {{cluster: fake, user: fake, namespace: {namespace}}}}}]\n",
            self.addr
        )
    }

    /// Puts an object at `path` (its full object URL path). A missing uid is
    /// assigned; an object with a spec gets generation 1 when it has none.
    pub fn insert(&self, path: &str, mut object: Value) {
        let mut store = self.store.lock().unwrap();
        store.version += 1;
        object["metadata"]["resourceVersion"] = json!(store.version.to_string());
        if object["metadata"]["uid"].is_null() {
            object["metadata"]["uid"] = json!(store.new_uid());
        }
        if object.get("spec").is_some() && object["metadata"]["generation"].is_null() {
            object["metadata"]["generation"] = json!(1);
        }
        store.objects.insert(path.to_owned(), object);
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        self.store.lock().unwrap().objects.get(path).cloned()
    }

    /// Paths of every object under `prefix`.
    pub fn paths(&self, prefix: &str) -> Vec<String> {
        let store = self.store.lock().unwrap();
        store
            .objects
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Requests seen so far, as (method, path).
    pub fn log(&self) -> Vec<(String, String)> {
        self.store.lock().unwrap().log.clone()
    }

    /// Requests seen so far, with query, time and answer.
    pub fn requests(&self) -> Vec<Request> {
        self.store.lock().unwrap().requests.clone()
    }

    /// Requests that changed something.
    pub fn writes(&self) -> Vec<(String, String)> {
        self.log().into_iter().filter(|(m, _)| m != "GET").collect()
    }

    /// Runs the netdns-guard binary against this server through a kubeconfig whose
    /// default namespace is `namespace`; returns exit code, stdout and stderr.
    pub async fn run_binary(&self, namespace: &str, args: &[&str]) -> (i32, String, String) {
        let dir = scratch_dir("kubeconfig");
        let kubeconfig = dir.path().join("config");
        std::fs::write(&kubeconfig, self.kubeconfig(namespace)).unwrap();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_netdns-guard"))
                .args(&args)
                .env("KUBECONFIG", &kubeconfig)
                .env_remove("KUBERNETES_SERVICE_HOST")
                .env_remove("NETDNS_GUARD_CONFIG")
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    pub fn clear_log(&self) {
        let mut store = self.store.lock().unwrap();
        store.log.clear();
        store.requests.clear();
    }
}

impl Store {
    fn new_uid(&mut self) -> String {
        self.uids += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.uids)
    }

    fn suffix(&mut self) -> String {
        self.uids += 1;
        format!("{:05x}", self.uids * 7919 % 0xfffff)
    }

    fn put(&mut self, path: String, mut object: Value) -> Value {
        self.version += 1;
        object["metadata"]["resourceVersion"] = json!(self.version.to_string());
        self.objects.insert(path, object.clone());
        object
    }
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/').to_owned();
    let query: HashMap<String, String> = Query::try_from_uri(&uri)
        .map(|q: Query<HashMap<String, String>>| q.0)
        .unwrap_or_default();
    let mut store = shared.lock().unwrap();
    store.log.push((method.to_string(), path.clone()));
    let response = if !authorized(&mut store, &method, &path) {
        let forbidden = Fault {
            method: method.to_string(),
            path: path.clone(),
            code: 403,
            times: Some(1),
            retry_after: None,
        };
        fault_response(&forbidden, &method, &path)
    } else {
        match take_fault(&mut store, &method, &path) {
            Some(fault) => fault_response(&fault, &method, &path),
            None => respond(&shared, &mut store, &method, &path, &query, &headers, &body),
        }
    };
    store.requests.push(Request {
        method: method.to_string(),
        path,
        query: uri.query().unwrap_or_default().to_owned(),
        at: Instant::now(),
        status: response.status().as_u16(),
    });
    response
}
