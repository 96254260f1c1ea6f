//! Injected failures: the next N requests matching a method and path get a 409,
//! 429 (with `Retry-After`), 403, 404 or any other status, with the `Status` body
//! and message the apiserver sends for it.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::rest::path_parts;
use super::{FakeApiServer, Store};

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

impl FakeApiServer {
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
}

pub(super) fn take_fault(store: &mut Store, method: &Method, path: &str) -> Option<Fault> {
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

pub(super) fn fault_response(fault: &Fault, method: &Method, path: &str) -> Response {
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
