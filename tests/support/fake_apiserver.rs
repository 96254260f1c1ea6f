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

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

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

/// A canned failure for matching requests.
#[derive(Debug, Clone)]
pub struct Fault {
    /// HTTP method, or `*` for any.
    pub method: String,
    /// Exact path, or a prefix ending in `*`.
    pub path: String,
    pub code: u16,
    /// How many requests get it (`None`: every one).
    pub times: Option<usize>,
    /// Seconds sent in `Retry-After` and `details.retryAfterSeconds`.
    pub retry_after: Option<u64>,
}

impl Fault {
    fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self.method == "*" || self.method.eq_ignore_ascii_case(method);
        let path_ok = match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => self.path == path,
        };
        method_ok && path_ok
    }
}

/// An RBAC rule, as a Role or ClusterRole writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub api_groups: Vec<String>,
    /// Plural names, `pods/log` for a subresource.
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    /// Empty: any name.
    pub resource_names: Vec<String>,
    /// `Some`: a Role's rule in that namespace; `None`: a ClusterRole's.
    pub namespace: Option<String>,
}

impl Rule {
    /// A rule: `rule("apps", &["deployments"], &["get", "patch"])`, cluster-wide.
    pub fn new(group: &str, resources: &[&str], verbs: &[&str]) -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        Rule {
            api_groups: vec![group.to_owned()],
            resources: strings(resources),
            verbs: strings(verbs),
            resource_names: Vec::new(),
            namespace: None,
        }
    }

    pub fn named(mut self, names: &[&str]) -> Self {
        self.resource_names = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }

    fn allows(&self, a: &Attributes) -> bool {
        self.api_groups.contains(&a.group)
            && self.resources.contains(&a.resource)
            && self.verbs.contains(&a.verb)
            && (self.resource_names.is_empty()
                || a.name
                    .as_ref()
                    .is_some_and(|n| self.resource_names.contains(n)))
            && (self.namespace.is_none() || self.namespace == a.namespace)
    }
}

/// What the authorizer sees of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attributes {
    verb: String,
    group: String,
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
}

fn attributes(method: &Method, path: &str) -> Attributes {
    let (group, resource, namespace, name) = path_parts(path);
    let subresource = path_parts_sub(path);
    let verb = match (method.as_str(), &name) {
        ("GET", None) => "list",
        ("GET", Some(_)) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        _ => "unknown",
    };
    Attributes {
        verb: verb.to_owned(),
        group,
        resource: match subresource {
            Some(sub) => format!("{resource}/{sub}"),
            None => resource,
        },
        namespace,
        name,
    }
}

/// The subresource of a path (`log` in …/pods/NAME/log).
fn path_parts_sub(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/api/v1/").or_else(|| {
        path.strip_prefix("/apis/")
            .and_then(|p| p.splitn(3, '/').nth(2))
    })?;
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        ["namespaces", _, _, _, sub] => Some((*sub).to_owned()),
        [r, _, sub] if *r != "namespaces" => Some((*sub).to_owned()),
        _ => None,
    }
}

/// A rollout the controller simulation performed.
#[derive(Debug, Clone)]
pub struct RolloutRecord {
    /// The owner's path.
    pub owner: String,
    pub started: Instant,
    pub finished: Option<Instant>,
}

/// Controller simulation settings.
#[derive(Debug, Clone, Copy)]
pub struct ControllerSim {
    /// How long a rollout (or a pod replacement) takes: new pods appear after half
    /// of it, and are ready after all of it.
    pub rollout: Duration,
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
        let dir =
            std::env::temp_dir().join(format!("netdns-guard-kubeconfig-{}", self.addr.port()));
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("config");
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

    /// Adds a canned failure.
    pub fn inject(&self, fault: Fault) {
        self.store.lock().unwrap().faults.push(fault);
    }

    /// The first `times` requests `method path` get `code`.
    pub fn fail(&self, method: &str, path: &str, code: u16, times: Option<usize>) {
        self.inject(Fault {
            method: method.to_owned(),
            path: path.to_owned(),
            code,
            times,
            retry_after: None,
        });
    }

    /// The first `times` requests `method path` get 429 with `Retry-After`.
    pub fn throttle(&self, method: &str, path: &str, times: usize, retry_after: u64) {
        self.inject(Fault {
            method: method.to_owned(),
            path: path.to_owned(),
            code: 429,
            times: Some(times),
            retry_after: Some(retry_after),
        });
    }

    /// Every pod created from now on goes through `hook`.
    pub fn set_pod_admission(&self, hook: impl Fn(&mut Value) + Send + Sync + 'static) {
        self.store.lock().unwrap().admission = Some(Arc::new(hook));
    }

    /// From now on only requests one of `rules` allows are served; the others get
    /// 403 Forbidden, worded like the apiserver's.
    pub fn enforce_rbac(&self, rules: Vec<Rule>) {
        let mut store = self.store.lock().unwrap();
        store.rbac = Some(rules);
        store.rules_used.clear();
    }

    /// Indexes of the rules that allowed at least one request.
    pub fn rules_used(&self) -> Vec<usize> {
        let mut used = self.store.lock().unwrap().rules_used.clone();
        used.sort_unstable();
        used.dedup();
        used
    }

    /// Turns the controller simulation on.
    pub fn simulate_controllers(&self, sim: ControllerSim) {
        self.store.lock().unwrap().sim = Some(sim);
    }

    /// Rollouts the simulation performed, in the order they started.
    pub fn rollouts(&self) -> Vec<RolloutRecord> {
        self.store.lock().unwrap().rollouts.clone()
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

/// Whether RBAC (when enforced) allows the request; records the rule that did.
fn authorized(store: &mut Store, method: &Method, path: &str) -> bool {
    let Some(rules) = &store.rbac else {
        return true;
    };
    let attributes = attributes(method, path);
    match rules.iter().position(|r| r.allows(&attributes)) {
        Some(index) => {
            store.rules_used.push(index);
            true
        }
        None => false,
    }
}

fn take_fault(store: &mut Store, method: &Method, path: &str) -> Option<Fault> {
    let index = store
        .faults
        .iter()
        .position(|f| f.matches(method.as_str(), path))?;
    let fault = store.faults[index].clone();
    match &mut store.faults[index].times {
        Some(1) => {
            store.faults.remove(index);
        }
        Some(n) => *n -= 1,
        None => {}
    }
    Some(fault)
}

/// (group, resource, namespace, name) of a REST path.
fn path_parts(path: &str) -> (String, String, Option<String>, Option<String>) {
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

fn fault_response(fault: &Fault, method: &Method, path: &str) -> Response {
    let (group, resource, namespace, name) = path_parts(path);
    let code = StatusCode::from_u16(fault.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let qualified = if group.is_empty() {
        resource.clone()
    } else {
        format!("{resource}.{group}")
    };
    let object = name.clone().unwrap_or_default();
    let (reason, message) = match fault.code {
        403 => {
            let verb = match (method.as_str(), &name) {
                ("GET", None) => "list",
                ("GET", Some(_)) => "get",
                ("POST", _) => "create",
                ("PUT", _) => "update",
                ("PATCH", _) => "patch",
                ("DELETE", _) => "delete",
                _ => "access",
            };
            let scope = match &namespace {
                Some(ns) => format!(" in the namespace \"{ns}\""),
                None => " at the cluster scope".to_owned(),
            };
            (
                "Forbidden",
                format!(
                    "{qualified} \"{object}\" is forbidden: User \"system:serviceaccount:netdns-guard:remediate\" \
                     cannot {verb} resource \"{resource}\" in API group \"{group}\"{scope}"
                ),
            )
        }
        409 => (
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {qualified} \"{object}\": the object has been modified; \
                 please apply your changes to the latest version and try again"
            ),
        ),
        404 => ("NotFound", format!("{qualified} \"{object}\" not found")),
        429 => (
            "TooManyRequests",
            "Too many requests, please try again later.".to_owned(),
        ),
        _ => ("InternalError", format!("injected {}", fault.code)),
    };
    let mut body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": fault.code,
        "details": { "name": object, "group": group, "kind": resource },
    });
    if let Some(seconds) = fault.retry_after {
        body["details"]["retryAfterSeconds"] = json!(seconds);
    }
    let mut response = (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(seconds) = fault.retry_after {
        response
            .headers_mut()
            .insert("retry-after", seconds.to_string().parse().unwrap());
    }
    response
}

#[allow(clippy::too_many_arguments)]
fn respond(
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

// ---------------------------------------------------------------------------------
// Controller simulation

fn admit(store: &Store, pod: &mut Value) {
    if let Some(hook) = &store.admission {
        hook(pod);
    }
}

/// The workload kinds whose pod template the simulation rolls.
fn workload_kind(path: &str) -> Option<&'static str> {
    let (group, resource, namespace, name) = path_parts(path);
    if group != "apps" || namespace.is_none() || name.is_none() || path.matches('/').count() != 7 {
        return None;
    }
    match resource.as_str() {
        "deployments" => Some("Deployment"),
        "daemonsets" => Some("DaemonSet"),
        "statefulsets" => Some("StatefulSet"),
        _ => None,
    }
}

fn after_update(shared: &Shared, store: &mut Store, path: &str, before: &Value, after: &Value) {
    let (Some(sim), Some(kind)) = (store.sim, workload_kind(path)) else {
        return;
    };
    if before["spec"]["template"] == after["spec"]["template"] {
        return;
    }
    let on_delete = after["spec"]["updateStrategy"]["type"] == "OnDelete";
    if on_delete {
        // The controller observes the change; pods change only when deleted.
        let mut object = after.clone();
        object["status"]["observedGeneration"] = after["metadata"]["generation"].clone();
        object["status"]["updatedNumberScheduled"] = json!(0);
        store.put(path.to_owned(), object);
        return;
    }
    store.rollouts.push(RolloutRecord {
        owner: path.to_owned(),
        started: Instant::now(),
        finished: None,
    });
    let shared = shared.clone();
    let path = path.to_owned();
    tokio::spawn(async move {
        tokio::time::sleep(sim.rollout / 2).await;
        let new_pods = {
            let mut store = shared.lock().unwrap();
            replace_pods(&mut store, &path, kind)
        };
        tokio::time::sleep(sim.rollout / 2).await;
        let mut store = shared.lock().unwrap();
        for pod in &new_pods {
            mark_ready(&mut store, pod);
        }
        complete_status(&mut store, &path, kind, new_pods.len());
        if let Some(record) = store
            .rollouts
            .iter_mut()
            .rev()
            .find(|r| r.owner == path && r.finished.is_none())
        {
            record.finished = Some(Instant::now());
        }
    });
}

fn owner_ref(kind: &str, object: &Value) -> Value {
    json!({
        "apiVersion": object["apiVersion"].as_str().unwrap_or("apps/v1"),
        "kind": kind,
        "name": object["metadata"]["name"],
        "uid": object["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

fn owned_by<'s>(store: &'s Store, prefix: &str, uid: &Value) -> Vec<(String, &'s Value)> {
    store
        .objects
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .filter(|(_, v)| {
            v["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == *uid))
        })
        .map(|(k, v)| (k.clone(), v))
        .collect()
}

fn short_hash(value: &Value) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in value.to_string().bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3);
    }
    format!("{:010x}", hash & 0xff_ffff_ffff)
}

/// Creates a pod from `template` through the admission hook; not ready yet.
fn create_pod(
    store: &mut Store,
    namespace: &str,
    name: &str,
    template: &Value,
    owner: Value,
    node: Option<&Value>,
) -> String {
    let mut metadata = template["metadata"].clone();
    if !metadata.is_object() {
        metadata = json!({});
    }
    metadata["name"] = json!(name);
    metadata["namespace"] = json!(namespace);
    metadata["uid"] = json!(store.new_uid());
    metadata["ownerReferences"] = json!([owner]);
    let mut pod = json!({ "apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"].clone() });
    if let Some(node) = node.filter(|n| !n.is_null()) {
        pod["spec"]["nodeName"] = node.clone();
    }
    admit(store, &mut pod);
    let statuses: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({ "name": c["name"], "image": c["image"], "imageID": "", "ready": false,
                    "restartCount": 0, "state": { "waiting": { "reason": "ContainerCreating" } } })
        })
        .collect();
    pod["status"] = json!({
        "phase": "Pending",
        "conditions": [{ "type": "Ready", "status": "False" }],
        "containerStatuses": statuses,
    });
    let path = format!("/api/v1/namespaces/{namespace}/pods/{name}");
    store.put(path.clone(), pod);
    path
}

fn mark_ready(store: &mut Store, path: &str) {
    let Some(mut pod) = store.objects.get(path).cloned() else {
        return;
    };
    pod["status"]["phase"] = json!("Running");
    pod["status"]["conditions"] = json!([{ "type": "Ready", "status": "True" }]);
    if let Some(statuses) = pod["status"]["containerStatuses"].as_array_mut() {
        for s in statuses {
            s["ready"] = json!(true);
            s["started"] = json!(true);
            s["state"] = json!({ "running": { "startedAt": "2024-01-01T00:00:00Z" } });
        }
    }
    store.put(path.to_owned(), pod);
}

/// Replaces every pod of the workload at `path` by a new one from its template,
/// and records the controller having observed the change. Returns the new pods.
fn replace_pods(store: &mut Store, path: &str, kind: &str) -> Vec<String> {
    let Some(mut owner) = store.objects.get(path).cloned() else {
        return Vec::new();
    };
    let (_, _, namespace, name) = path_parts(path);
    let (namespace, name) = (namespace.unwrap_or_default(), name.unwrap_or_default());
    let uid = owner["metadata"]["uid"].clone();
    let template = owner["spec"]["template"].clone();
    let replicas = owner["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
    let pods_prefix = format!("/api/v1/namespaces/{namespace}/pods/");
    let generation = owner["metadata"]["generation"].clone();
    let mut created = Vec::new();
    match kind {
        "Deployment" => {
            let hash = short_hash(&template);
            let rs_name = format!("{name}-{hash}");
            let rs_prefix = format!("/apis/apps/v1/namespaces/{namespace}/replicasets/");
            let old_sets: Vec<(String, Value)> = owned_by(store, &rs_prefix, &uid)
                .into_iter()
                .filter(|(_, v)| v["metadata"]["name"] != rs_name)
                .map(|(k, v)| (k, v.clone()))
                .collect();
            for (rs_path, mut rs) in old_sets {
                let old_pods: Vec<String> = owned_by(store, &pods_prefix, &rs["metadata"]["uid"])
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
                for pod in old_pods {
                    store.objects.remove(&pod);
                }
                rs["spec"]["replicas"] = json!(0);
                rs["status"] = json!({ "replicas": 0 });
                store.put(rs_path, rs);
            }
            let mut rs_template = template.clone();
            rs_template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
            let rs_uid = store.new_uid();
            let rs = json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": { "name": rs_name, "namespace": namespace, "uid": rs_uid,
                              "labels": rs_template["metadata"]["labels"].clone(),
                              "ownerReferences": [owner_ref("Deployment", &owner)] },
                "spec": { "replicas": replicas, "selector": owner["spec"]["selector"].clone(), "template": rs_template.clone() },
            });
            store.put(format!("{rs_prefix}{rs_name}"), rs.clone());
            for _ in 0..replicas {
                let pod_name = format!("{rs_name}-{}", store.suffix());
                let pod = create_pod(
                    store,
                    &namespace,
                    &pod_name,
                    &rs_template,
                    owner_ref("ReplicaSet", &rs),
                    None,
                );
                created.push(pod);
            }
            owner["status"] = json!({ "observedGeneration": generation, "replicas": replicas,
                "updatedReplicas": replicas, "readyReplicas": 0, "availableReplicas": 0 });
        }
        "DaemonSet" => {
            let old: Vec<(String, Value)> = owned_by(store, &pods_prefix, &uid)
                .into_iter()
                .map(|(k, v)| (k, v.clone()))
                .collect();
            let mut nodes: Vec<Value> = old
                .iter()
                .map(|(_, p)| p["spec"]["nodeName"].clone())
                .collect();
            if nodes.is_empty() {
                nodes.push(json!("node-1"));
            }
            for (k, _) in &old {
                store.objects.remove(k);
            }
            for node in &nodes {
                let pod_name = format!("{name}-{}", store.suffix());
                let pod = create_pod(
                    store,
                    &namespace,
                    &pod_name,
                    &template,
                    owner_ref("DaemonSet", &owner),
                    Some(node),
                );
                created.push(pod);
            }
            let n = nodes.len();
            owner["status"] = json!({ "observedGeneration": generation, "desiredNumberScheduled": n,
                "currentNumberScheduled": n, "updatedNumberScheduled": n, "numberAvailable": 0,
                "numberReady": 0, "numberMisscheduled": 0 });
        }
        _ => {
            let revision = format!("{name}-{}", short_hash(&template));
            for i in 0..replicas {
                let pod_name = format!("{name}-{i}");
                store.objects.remove(&format!("{pods_prefix}{pod_name}"));
                let mut pod_template = template.clone();
                pod_template["metadata"]["labels"]["controller-revision-hash"] = json!(revision);
                let pod = create_pod(
                    store,
                    &namespace,
                    &pod_name,
                    &pod_template,
                    owner_ref("StatefulSet", &owner),
                    None,
                );
                created.push(pod);
            }
            let current = owner["status"]["currentRevision"].clone();
            owner["status"] = json!({ "observedGeneration": generation, "replicas": replicas,
                "updatedReplicas": replicas, "readyReplicas": 0, "currentReplicas": 0,
                "currentRevision": current, "updateRevision": revision });
        }
    }
    store.put(path.to_owned(), owner);
    created
}

/// The status a controller reports once the new pods are ready.
fn complete_status(store: &mut Store, path: &str, kind: &str, ready: usize) {
    let Some(mut owner) = store.objects.get(path).cloned() else {
        return;
    };
    let status = &mut owner["status"];
    match kind {
        "Deployment" => {
            status["readyReplicas"] = json!(ready);
            status["availableReplicas"] = json!(ready);
            status["conditions"] = json!([
                { "type": "Available", "status": "True" },
                { "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable" },
            ]);
        }
        "DaemonSet" => {
            status["numberAvailable"] = json!(ready);
            status["numberReady"] = json!(ready);
        }
        _ => {
            status["readyReplicas"] = json!(ready);
            status["currentReplicas"] = json!(ready);
            status["currentRevision"] = status["updateRevision"].clone();
        }
    }
    store.put(path.to_owned(), owner);
}

/// A deleted pod's controller creates its replacement from the current template.
fn after_delete(shared: &Shared, store: &mut Store, path: &str, pod: &Value) {
    let Some(sim) = store.sim else {
        return;
    };
    if !path.starts_with("/api/v1/namespaces/") || !path.contains("/pods/") {
        return;
    }
    let Some(controller) = pod["metadata"]["ownerReferences"]
        .as_array()
        .and_then(|refs| refs.iter().find(|r| r["controller"] == true))
        .cloned()
    else {
        return;
    };
    let namespace = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let kind = controller["kind"].as_str().unwrap_or_default().to_owned();
    let resource = match kind.as_str() {
        "DaemonSet" => "daemonsets",
        "StatefulSet" => "statefulsets",
        "ReplicaSet" => "replicasets",
        _ => return,
    };
    let owner_path = format!(
        "/apis/apps/v1/namespaces/{namespace}/{resource}/{}",
        controller["name"].as_str().unwrap_or_default()
    );
    let old_name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let node = pod["spec"]["nodeName"].clone();
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(sim.rollout / 2).await;
        let created = {
            let mut store = shared.lock().unwrap();
            let Some(owner) = store.objects.get(&owner_path).cloned() else {
                return;
            };
            let name = match kind.as_str() {
                "StatefulSet" => old_name,
                _ => format!(
                    "{}-{}",
                    owner["metadata"]["name"].as_str().unwrap_or_default(),
                    store.suffix()
                ),
            };
            let template = owner["spec"]["template"].clone();
            create_pod(
                &mut store,
                &namespace,
                &name,
                &template,
                owner_ref(&kind, &owner),
                Some(&node),
            )
        };
        tokio::time::sleep(sim.rollout / 2).await;
        mark_ready(&mut shared.lock().unwrap(), &created);
    });
}
