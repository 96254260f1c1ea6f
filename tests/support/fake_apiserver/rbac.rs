//! The authorizer, when a test enforces RBAC: a request is served only when one
//! of the given Role or ClusterRole rules allows its verb, group, resource (or
//! subresource), namespace and name; the others get the apiserver's 403.

use axum::http::Method;

use super::rest::path_parts;
use super::{FakeApiServer, Store};

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

impl FakeApiServer {
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
}

/// Whether RBAC (when enforced) allows the request; records the rule that did.
pub(super) fn authorized(store: &mut Store, method: &Method, path: &str) -> bool {
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
