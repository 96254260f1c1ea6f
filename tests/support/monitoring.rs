//! The chart's alerts and dashboard as data: the rendered PrometheusRule's rules
//! and the PromQL of every dashboard panel and variable.

use std::fs;
use std::path::Path;

use serde_json::{Value, json};

/// The chart's alerts, in the order the PrometheusRule lists them.
pub const ALERTS: &[&str] = &[
    "NetdnsGuardAdmissionErrors",
    "NetdnsGuardPodsAdmittedUnprotected",
    "NetdnsGuardSlowAdmissions",
    "NetdnsGuardCertificateExpiresSoon",
    "NetdnsGuardNoReadyReplica",
    "NetdnsGuardCertificateReloadFailing",
    "NetdnsGuardPolicyReloadFailing",
];

/// The rendered PrometheusRule's groups as a Prometheus rule file (JSON, which
/// promtool reads as YAML).
pub fn rule_file(rule: &Value) -> String {
    serde_json::to_string(&json!({ "groups": rule["spec"]["groups"] })).expect("JSON")
}

/// The rules of a rendered PrometheusRule.
pub fn alerts_of(rule: &Value) -> Vec<&Value> {
    rule["spec"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect()
}

/// The chart's dashboard (charts/netdns-guard/dashboards/netdns-guard.json).
pub fn dashboard_file() -> Value {
    let text = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("charts/netdns-guard/dashboards/netdns-guard.json"),
    )
    .unwrap();
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Every panel query of the dashboard, with a name for messages.
pub fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push((
                format!("panel {} {}", panel["title"], target["refId"]),
                target["expr"].as_str().expect("expr").to_owned(),
            ));
        }
    }
    out
}

/// The `label_values(<selector>, <label>)` variable queries.
pub fn dashboard_variables(dashboard: &Value) -> Vec<(String, String, String)> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            let query = v["query"]["query"].as_str().expect("query");
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .unwrap_or_else(|| panic!("not a label_values query: {query}"));
            let (selector, label) = inner.rsplit_once(',').expect("label_values(sel, label)");
            (
                format!("variable {}", v["name"]),
                selector.trim().to_owned(),
                label.trim().to_owned(),
            )
        })
        .collect()
}

/// Grafana's variables replaced by values PromQL accepts (a duration for the
/// interval ones, a plain string for the dashboard's own).
pub fn without_grafana_variables(expr: &str) -> String {
    let mut out = expr
        .replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h");
    for var in ["namespace", "service", "datasource"] {
        out = out
            .replace(&format!("${{{var}}}"), "x")
            .replace(&format!("${var}"), "x");
    }
    assert!(!out.contains('$'), "an unknown Grafana variable in {expr}");
    out
}
