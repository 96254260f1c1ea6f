//! `netdns-guard scan` against a fake API server holding a realistic cluster
//! (tests/support/cluster.rs): exactly the targeted pods, grouped by owner with the
//! crash-looping ones first, with the right evidence, paged, read-only.

mod support {
    pub mod cluster;
    pub mod fake_apiserver;
    pub mod scratch;
}

use std::collections::BTreeSet;

use netdns_guard::cluster::evidence::{Crash, GoForm, LogEvidence};
use netdns_guard::cluster::inventory::{FluxKind, Manager, WorkloadKind};
use netdns_guard::cluster::progress::Recorder;
use netdns_guard::cluster::scan::{self, ScanOptions, ScanReport};
use netdns_guard::cluster::{ClusterError, Ctx, Event, Scope};
use netdns_guard::engine::report::Verdict;
use serde_json::Value;
use support::cluster::{self, ALL_PODS, TARGETED};
use support::fake_apiserver::FakeApiServer;

async fn cluster_api() -> FakeApiServer {
    let api = FakeApiServer::start().await;
    cluster::load(&api);
    cluster::install_webhook(&api, true);
    api
}

fn options(scope: Scope, chunk: u32, logs: bool) -> ScanOptions {
    ScanOptions {
        scope,
        chunk_size: Some(chunk),
        logs,
        show_others: false,
    }
}

async fn scan(api: &FakeApiServer, options: &ScanOptions) -> ScanReport {
    let ctx = Ctx::new(api.client("default"));
    scan::run(&ctx, &cluster::engine(), options).await.unwrap()
}

fn pod<'r>(report: &'r ScanReport, name: &str) -> &'r scan::PodFinding {
    report
        .groups
        .iter()
        .flat_map(|g| &g.pods)
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} not in the report"))
}

#[tokio::test]
async fn scan_finds_exactly_the_targeted_pods_grouped_crash_looping_first() {
    let api = cluster_api().await;
    let report = scan(&api, &options(Scope::AllNamespaces, 3, false)).await;

    let found: BTreeSet<String> = report
        .groups
        .iter()
        .flat_map(|g| &g.pods)
        .map(|p| format!("{}/{}", p.namespace, p.name))
        .collect();
    let expected: BTreeSet<String> = TARGETED.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(found, expected);
    assert_eq!(report.pods_listed, ALL_PODS);

    let order: Vec<String> = report
        .groups
        .iter()
        .map(|g| g.workload.to_string())
        .collect();
    assert_eq!(
        order,
        [
            // CrashLoopBackOff, by namespace, kind, name.
            "Deployment logging/loggie-aggregator",
            "DaemonSet logging/loggie",
            // Restarted after a crash.
            "Deployment team-b/loggie",
            // At risk, not crashing.
            "Pod apps/debug-loggie",
            "CronJob batch/log-shipper",
            "Deployment monitoring/metricbeat",
            "StatefulSet monitoring/promtail",
            // Protected already.
            "DaemonSet monitoring/filebeat",
        ]
    );
    let crashes: Vec<Crash> = report.groups.iter().map(|g| g.crash).collect();
    assert_eq!(
        crashes,
        [
            Crash::Looping,
            Crash::Looping,
            Crash::Crashed,
            Crash::None,
            Crash::None,
            Crash::None,
            Crash::None,
            Crash::None
        ]
    );

    // Owner chains.
    let chain = |name: &str| -> Vec<String> {
        pod(&report, name)
            .chain
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        chain("loggie-aggregator-6d5f8c7b9-x7k2p"),
        [
            "ReplicaSet/loggie-aggregator-6d5f8c7b9",
            "Deployment/loggie-aggregator"
        ]
    );
    assert_eq!(
        chain("log-shipper-28765000-kq8xt"),
        ["Job/log-shipper-28765000", "CronJob/log-shipper"]
    );
    assert_eq!(chain("loggie-4hx8d"), ["DaemonSet/loggie"]);
    assert_eq!(chain("promtail-0"), ["StatefulSet/promtail"]);
    assert!(chain("debug-loggie").is_empty());
    assert_eq!(report.groups[3].workload.kind, WorkloadKind::Pod);

    // Who manages the owners.
    let managers = |i: usize| report.groups[i].managers.clone();
    assert_eq!(
        managers(0),
        [Manager::Helm {
            release: Some("loggie".into()),
            namespace: Some("logging".into())
        }]
    );
    assert_eq!(
        managers(1),
        [Manager::ArgoCd {
            application: "log-agents".into()
        }]
    );
    assert_eq!(
        managers(6),
        [Manager::Flux {
            kind: FluxKind::Kustomization,
            name: "monitoring".into(),
            namespace: Some("flux-system".into())
        }]
    );
    assert!(managers(2).is_empty());

    // Crash evidence from the status.
    let x7k2p = &pod(&report, "loggie-aggregator-6d5f8c7b9-x7k2p").containers[0];
    assert_eq!(x7k2p.verdict, Verdict::AtRisk);
    assert_eq!(x7k2p.evidence.restarts, 14);
    assert_eq!(x7k2p.evidence.crash(), Crash::Looping);
    assert_eq!(x7k2p.evidence.state.to_string(), "CrashLoopBackOff");
    assert_eq!(
        x7k2p
            .evidence
            .last_termination
            .as_ref()
            .unwrap()
            .to_string(),
        "2 (Go fatal error)"
    );
    assert!(
        x7k2p.reasons[0].starts_with("Loggie: "),
        "{:?}",
        x7k2p.reasons
    );
    assert_eq!(x7k2p.fix, ["added GODEBUG=netdns=go"]);
    let q9w4z = &pod(&report, "loggie-aggregator-6d5f8c7b9-q9w4z").containers[0];
    assert_eq!(
        q9w4z
            .evidence
            .last_termination
            .as_ref()
            .unwrap()
            .to_string(),
        "139 (SIGSEGV)"
    );
    assert_eq!(q9w4z.evidence.crash(), Crash::Crashed);
    assert_eq!(x7k2p.evidence.log, LogEvidence::NotRead);

    // Protected pods are reported as such and need nothing.
    let filebeat = pod(&report, "filebeat-9zq2w");
    assert_eq!(filebeat.containers[0].verdict, Verdict::Protected);
    assert!(!filebeat.needs_fix);
    assert!(
        filebeat.containers[0]
            .reasons
            .iter()
            .any(|r| r.contains("already forces the pure-Go resolver"))
    );
    let needing: usize = report.groups.iter().map(|g| g.pods_needing_fix).sum();
    assert_eq!(needing, TARGETED.len() - 1);

    // The others, summarised.
    assert_eq!(report.others.pods, ALL_PODS - TARGETED.len());
    assert_eq!(report.others.known_agents["Fluent Bit (not at risk)"], 1);
    assert_eq!(report.others.known_agents["Grafana Alloy (not at risk)"], 1);
    assert_eq!(report.others.known_agents["Loggie (at risk)"], 1);
    assert_eq!(report.others.at_risk_untargeted.len(), 1);
    assert!(report.others.at_risk_untargeted[0].starts_with("apps/loggie-optout: opted out"));

    // Read-only.
    assert!(api.writes().is_empty(), "{:?}", api.writes());
}

#[tokio::test]
async fn the_pod_list_is_paged_with_limit_and_continue() {
    let api = cluster_api().await;
    let report = scan(&api, &options(Scope::AllNamespaces, 3, false)).await;
    let pages: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v1/pods")
        .collect();
    assert_eq!(pages.len(), ALL_PODS.div_ceil(3));
    assert_eq!(report.pages, pages.len());
    assert!(
        pages.iter().all(|r| r.query.contains("limit=3")),
        "{pages:?}"
    );
    assert!(!pages[0].query.contains("continue="));
    assert!(pages[1..].iter().all(|r| r.query.contains("continue=")));

    // Without a limit: one request.
    api.clear_log();
    let report = scan(&api, &options(Scope::AllNamespaces, 0, false)).await;
    assert_eq!(report.pages, 1);
    assert_eq!(report.pods_listed, ALL_PODS);
}

#[tokio::test]
async fn with_logs_the_previous_log_is_matched_in_both_go_forms() {
    let api = cluster_api().await;
    let report = scan(&api, &options(Scope::AllNamespaces, 5, true)).await;
    let log = |name: &str| pod(&report, name).containers[0].evidence.log.clone();

    let LogEvidence::Signature(old) = log("loggie-aggregator-6d5f8c7b9-x7k2p") else {
        panic!("{:?}", log("loggie-aggregator-6d5f8c7b9-x7k2p"));
    };
    assert_eq!(old.form, GoForm::Go120OrOlder);
    assert!(old.frame.starts_with("net._C2func_getaddrinfo("));
    let LogEvidence::Signature(new) = log("loggie-aggregator-6d5f8c7b9-q9w4z") else {
        panic!("{:?}", log("loggie-aggregator-6d5f8c7b9-q9w4z"));
    };
    assert_eq!(new.form, GoForm::Go121OrNewer);
    // Crash-looping, but its previous log shows something else.
    assert_eq!(log("loggie-4hx8d"), LogEvidence::NoMatch);
    // Restarted, but the previous log is gone: the API server answers 400.
    assert_eq!(log("loggie-6d5f8c7b9-t8r5n"), LogEvidence::NoPrevious);
    // Never restarted: not asked for at all.
    assert_eq!(log("promtail-0"), LogEvidence::NoPrevious);

    let log_requests: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/log"))
        .collect();
    assert_eq!(log_requests.len(), 4, "{log_requests:?}");
    assert!(
        log_requests
            .iter()
            .all(|r| r.query.contains("previous=true") && r.query.contains("container="))
    );
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[tokio::test]
async fn without_logs_no_log_is_read() {
    let api = cluster_api().await;
    scan(&api, &options(Scope::AllNamespaces, 500, false)).await;
    assert!(!api.log().iter().any(|(_, p)| p.ends_with("/log")));
}

#[tokio::test]
async fn one_namespace_lists_only_that_namespace() {
    let api = cluster_api().await;
    let report = scan(
        &api,
        &options(Scope::Namespace("monitoring".into()), 500, false),
    )
    .await;
    let owners: Vec<String> = report
        .groups
        .iter()
        .map(|g| g.workload.to_string())
        .collect();
    assert_eq!(
        owners,
        [
            "Deployment monitoring/metricbeat",
            "StatefulSet monitoring/promtail",
            "DaemonSet monitoring/filebeat"
        ]
    );
    assert!(
        api.log()
            .iter()
            .filter(|(_, p)| p.ends_with("/pods"))
            .all(|(_, p)| p == "/api/v1/namespaces/monitoring/pods")
    );
}

#[tokio::test]
async fn a_forbidden_list_names_the_missing_permission() {
    let api = cluster_api().await;
    api.fail("GET", "/api/v1/pods", 403, None);
    let ctx = Ctx::new(api.client("default"));
    let err = scan::run(
        &ctx,
        &cluster::engine(),
        &options(Scope::AllNamespaces, 500, false),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClusterError::Forbidden { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("missing permission to list pods (cluster-wide)")
            && message.contains("kubectl auth can-i list pods --all-namespaces")
            && message.contains("cannot list resource \"pods\""),
        "{message}"
    );
}

#[tokio::test]
async fn forbidden_logs_are_a_warning_naming_the_permission() {
    let api = cluster_api().await;
    api.fail("GET", "/api/v1/namespaces/logging/pods/*", 403, None);
    let recorder = std::sync::Arc::new(Recorder::default());
    let ctx = Ctx::new(api.client("default")).with_progress(recorder.clone());
    let report = scan::run(
        &ctx,
        &cluster::engine(),
        &options(Scope::AllNamespaces, 500, true),
    )
    .await
    .unwrap();
    assert_eq!(
        pod(&report, "loggie-aggregator-6d5f8c7b9-x7k2p").containers[0]
            .evidence
            .log,
        LogEvidence::Forbidden
    );
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("get pods/log") && report.warnings[0].contains("logging"));
    assert!(
        recorder
            .events()
            .iter()
            .any(|e| matches!(e, Event::Warning(w) if w.contains("pods/log")))
    );
    // Other namespaces' logs were still read.
    assert_eq!(
        pod(&report, "loggie-6d5f8c7b9-t8r5n").containers[0]
            .evidence
            .log,
        LogEvidence::NoPrevious
    );
}

#[tokio::test]
async fn the_table_is_aligned_and_json_is_one_document() {
    let api = cluster_api().await;
    let report = scan(&api, &options(Scope::AllNamespaces, 500, false)).await;
    let table = scan::render_table(&report);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAMESPACE    OWNER "), "{table}");
    let verdict_at = lines[0].find("VERDICT").unwrap();
    let first = lines
        .iter()
        .find(|l| l.contains("x7k2p"))
        .expect("crash-looping pod row");
    assert_eq!(&first[verdict_at..verdict_at + 7], "at risk", "{table}");
    assert!(first.contains("CrashLoopBackOff") && first.contains("Helm release loggie"));
    // Crash-looping rows come first.
    assert!(lines[1].contains("loggie-aggregator"), "{table}");
    assert!(table.contains("Scanned 16 pods"), "{table}");
    assert!(
        table.contains("at risk but not targeted: apps/loggie-optout"),
        "{table}"
    );
    assert!(table.contains("Argo CD app log-agents"), "{table}");

    let json: Value = serde_json::from_str(&scan::render_json(&report)).unwrap();
    assert_eq!(json["kind"], "ScanReport");
    assert_eq!(json["apiVersion"], "netdns-guard.io/v1alpha1");
    assert_eq!(json["groups"][0]["workload"]["kind"], "Deployment");
    assert_eq!(json["groups"][0]["crash"], "looping");
    assert_eq!(
        json["groups"][0]["pods"][0]["containers"][0]["verdict"],
        "at-risk"
    );
    assert_eq!(
        json["groups"][0]["pods"][0]["chain"][0]["kind"],
        "ReplicaSet"
    );
}

#[tokio::test]
async fn show_others_lists_untargeted_agents() {
    let api = cluster_api().await;
    let mut opts = options(Scope::AllNamespaces, 500, false);
    opts.show_others = true;
    let report = scan(&api, &opts).await;
    let fluent = pod(&report, "fluent-bit-6d5f8c7b9-f1b2c");
    assert!(!fluent.targeted);
    assert_eq!(fluent.containers[0].verdict, Verdict::NotAtRisk);
    let optout = pod(&report, "loggie-optout");
    assert!(!optout.targeted && !optout.needs_fix);
    // Pods with no known agent stay out.
    assert!(
        !report
            .groups
            .iter()
            .flat_map(|g| &g.pods)
            .any(|p| p.name.starts_with("web-"))
    );
}

/// Runs the binary against the fake server through a kubeconfig file.
async fn run_binary(api: &FakeApiServer, args: &[&str]) -> (i32, String, String) {
    api.run_binary("logging", args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_scans_through_a_kubeconfig_with_exit_codes() {
    let api = cluster_api().await;

    let (code, stdout, stderr) =
        run_binary(&api, &["scan", "-A", "-o", "json", "--chunk-size", "4"]).await;
    assert_eq!(code, 0, "{stderr}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["podsListed"], ALL_PODS);
    assert_eq!(json["pages"], 4);

    // No -n, no -A: the context's namespace (logging).
    let (code, stdout, stderr) = run_binary(&api, &["scan", "--exit-code", "--logs"]).await;
    assert_eq!(code, 1, "pods lack the fix: {stderr}");
    assert!(
        stdout.contains("getaddrinfo SIGSEGV (Go ≤1.20)"),
        "{stdout}"
    );
    assert!(!stdout.contains("promtail"), "{stdout}");

    let (code, _, _) = run_binary(&api, &["scan", "-n", "apps", "--exit-code"]).await;
    assert_eq!(code, 1);
    let (code, stdout, _) = run_binary(&api, &["scan", "-n", "nowhere", "--exit-code"]).await;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("No targeted pods found in namespace nowhere"),
        "{stdout}"
    );

    api.fail("GET", "/api/v1/namespaces/logging/pods", 403, None);
    let (code, stdout, stderr) = run_binary(&api, &["scan"]).await;
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("missing permission to list pods in namespace logging"),
        "{stderr}"
    );
}
