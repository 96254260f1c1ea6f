//! Every PromQL expression the chart ships (the PrometheusRule's alerts, the Grafana
//! dashboard's panels and variables) parses, with promtool and with a PromQL
//! parser, and names only metrics, labels and label values that a running
//! `netdns-guard serve` exports on `/metrics`, besides the target labels Prometheus
//! adds to what it scrapes. A misspelt name would otherwise hide in an alert that
//! never fires or a panel that stays empty.
//!
//! The server is the real binary (`serve --self-signed` on loopback), scraped after
//! a patched, an unchanged and a malformed review, as a fresh replica would be.

use std::fs;
use std::process::{Child, Command};
use std::time::Duration;

use crate::harness::{ApiserverConn, get_plain, pod_review};
use promql_parser::parser;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::args;
use crate::helm::helms;
use crate::support::monitoring::{
    ALERTS, alerts_of, dashboard_file, dashboard_queries, dashboard_variables, rule_file,
    without_grafana_variables,
};
use crate::support::promql::{TARGET_LABELS, parse_exposition, unknown_names};
use crate::support::promtool::{find_promtool, promtool};

/// The real binary, `serve --self-signed` on loopback; killed on drop.
struct Served {
    child: Child,
    https: std::net::SocketAddr,
    metrics: std::net::SocketAddr,
    dir: TempDir,
}

impl Served {
    fn start() -> Self {
        let dir = crate::support::scratch::scratch_dir("day-two-serve");
        let port = |()| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
        };
        let (https, metrics) = (port(()), port(()));
        let child = Command::new(env!("CARGO_BIN_EXE_netdns-guard"))
            .args(["serve", "--self-signed", "--log-format", "json"])
            .args(["--listen", &https.to_string()])
            .args(["--metrics-listen", &metrics.to_string()])
            .arg("--self-signed-dir")
            .arg(dir.path())
            // Files, not pipes: nothing here reads the output while it runs.
            .stdout(fs::File::create(dir.path().join("stdout")).expect("stdout file"))
            .stderr(fs::File::create(dir.path().join("stderr")).expect("stderr file"))
            .spawn()
            .expect("start netdns-guard serve");
        Served {
            child,
            https,
            metrics,
            dir,
        }
    }
}

impl Served {
    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// The CA --self-signed wrote, once it is there.
    fn ca(&self) -> Option<String> {
        fs::read_to_string(self.dir.path().join("ca.crt"))
            .ok()
            .filter(|pem| pem.contains("END CERTIFICATE"))
    }

    fn output(&self) -> String {
        let read = |name| fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stdout"), read("stderr"))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh server's /metrics after a patched, an unchanged and a bad review.
async fn scrape_a_running_server() -> String {
    let mut served = Served::start();
    let mut conn = None;
    for _ in 0..600 {
        if let Some(ca) = served.ca()
            && let Ok(c) = ApiserverConn::open(served.https, &ca).await
        {
            conn = Some(c);
            break;
        }
        if served.exited() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut conn = conn.unwrap_or_else(|| panic!("the server never came up:\n{}", served.output()));
    for image in ["grafana/promtail:3.5.1", "nginx:1.27"] {
        let (status, _) = conn
            .post(pod_review("admission.k8s.io/v1", "u", image))
            .await
            .expect("review");
        assert_eq!(status, 200);
    }
    let (status, _) = conn.post(b"not a review".to_vec()).await.expect("post");
    assert_eq!(status, 400);
    let (status, text) = get_plain(served.metrics, "/metrics").await;
    assert_eq!(status, 200);
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_expression_parses_and_names_only_what_the_server_exports() {
    let Some(promtool_bin) = find_promtool() else {
        return;
    };
    let helms = helms();
    let Some(helm) = helms.first() else {
        return;
    };
    let exported = parse_exposition(&scrape_a_running_server().await);
    assert!(
        exported.contains_key("netdns_guard_admission_requests_total"),
        "{exported:?}"
    );

    // Every expression, with where it comes from.
    let docs = helm.template(&args(&["--set", "metrics.prometheusRule.enabled=true"]));
    let rule = docs.one("PrometheusRule");
    let mut exprs: Vec<(String, String)> = alerts_of(rule)
        .iter()
        .map(|a| {
            (
                format!("alert {}", a["alert"]),
                a["expr"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let dashboard = dashboard_file();
    exprs.extend(
        dashboard_queries(&dashboard)
            .into_iter()
            .map(|(w, e)| (w, without_grafana_variables(&e))),
    );
    let variables = dashboard_variables(&dashboard);
    exprs.extend(
        variables
            .iter()
            .map(|(w, sel, _)| (w.clone(), without_grafana_variables(sel))),
    );
    assert!(exprs.len() > ALERTS.len() + 10, "{exprs:?}");

    // promtool parses them all: the rules as they are, the dashboard's as
    // recording rules of a scratch rule file.
    let dir = crate::support::scratch::scratch_dir("day-two-promql");
    fs::write(dir.path().join("alerts.yaml"), rule_file(rule)).unwrap();
    promtool(
        &promtool_bin,
        &["check", "rules", "alerts.yaml"],
        dir.path(),
    );
    let records: Vec<Value> = exprs
        .iter()
        .skip(ALERTS.len())
        .enumerate()
        .map(
            |(i, (_, e))| json!({"record": format!("netdns_guard_dashboard:query_{i}"), "expr": e}),
        )
        .collect();
    let scratch = json!({"groups": [{"name": "dashboard", "rules": records}]});
    fs::write(dir.path().join("dashboard.yaml"), scratch.to_string()).unwrap();
    promtool(
        &promtool_bin,
        &["check", "rules", "dashboard.yaml"],
        dir.path(),
    );

    let mut problems = Vec::new();
    for (what, text) in &exprs {
        match parser::parse(text) {
            Err(e) => problems.push(format!("{what}: does not parse: {e}\n  {text}")),
            Ok(expr) => problems.extend(
                unknown_names(&expr, &exported)
                    .into_iter()
                    .map(|p| format!("{what}: {p}\n  {text}")),
            ),
        }
    }
    for (what, _, label) in &variables {
        let known = TARGET_LABELS.contains(&label.as_str())
            || exported.values().any(|labels| labels.contains_key(label));
        if !known {
            problems.push(format!("{what}: label {label} is not exported"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The check itself catches a misspelt metric, label and value.
    for wrong in [
        "rate(netdns_guard_admission_request_total[5m])",
        "netdns_guard_admission_requests_total{results=\"error\"}",
        "netdns_guard_admission_requests_total{result=\"errors\"}",
        "netdns_guard_admission_requests_total{result=~\"error|bad-request\"}",
        "sum by (decision) (netdns_guard_admission_requests_total)",
    ] {
        let expr = parser::parse(wrong).expect("parses");
        assert!(
            !unknown_names(&expr, &exported).is_empty(),
            "{wrong} passed"
        );
    }
}
