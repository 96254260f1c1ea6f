//! `netdns-guard remediate` against a fake API server that simulates the controllers:
//! a template change rolls the owner's pods (new pods from the new template, passed
//! through the engine as the webhook would, then ready, then status complete), and a
//! deleted pod of a DaemonSet, StatefulSet or ReplicaSet is recreated.

mod support {
    pub mod cluster;
    pub mod fake_apiserver;
    pub mod scratch;
}

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netdns_guard::cluster::progress::Recorder;
use netdns_guard::cluster::remediate::{
    self, Action, Outcome, RemediateOptions, RemediationReport, SkipReason,
};
use netdns_guard::cluster::{ClusterError, Ctx, Event, RetryPolicy, Scope, review_pod};
use serde_json::Value;
use support::cluster::{self, MWC};
use support::fake_apiserver::{ControllerSim, FakeApiServer, RolloutRecord, Rule};

const AGGREGATOR: &str = "/apis/apps/v1/namespaces/logging/deployments/loggie-aggregator";
const TEAM_B: &str = "/apis/apps/v1/namespaces/team-b/deployments/loggie";
const METRICBEAT: &str = "/apis/apps/v1/namespaces/monitoring/deployments/metricbeat";
const PROMTAIL: &str = "/apis/apps/v1/namespaces/monitoring/statefulsets/promtail";

/// The cluster with a serving webhook that runs the engine on new pods.
async fn cluster_api() -> FakeApiServer {
    let api = FakeApiServer::start().await;
    cluster::load(&api);
    cluster::install_webhook(&api, true);
    cluster::install_admission(&api);
    api.simulate_controllers(ControllerSim {
        rollout: Duration::from_millis(300),
    });
    api
}

fn options(scope: Scope) -> RemediateOptions {
    let mut o = RemediateOptions::new(scope);
    o.poll_interval = Duration::from_millis(20);
    o.timeout = Duration::from_secs(10);
    o.chunk_size = Some(4);
    o
}

fn ctx(client: kube::Client) -> (Ctx, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let mut ctx = Ctx::new(client).with_progress(recorder.clone());
    ctx.retry = RetryPolicy {
        attempts: 5,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(5),
    };
    (ctx, recorder)
}

async fn remediate(api: &FakeApiServer, options: &RemediateOptions) -> RemediationReport {
    let (ctx, _) = ctx(api.client("default"));
    remediate::run(&ctx, &cluster::engine(), options)
        .await
        .unwrap()
}

fn outcomes(report: &RemediationReport) -> Vec<(String, Outcome)> {
    report
        .items
        .iter()
        .map(|i| (i.plan.workload.to_string(), i.outcome.clone()))
        .collect()
}

/// Successful PATCHes per path, in order.
fn patches(api: &FakeApiServer) -> Vec<String> {
    api.requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.status == 200)
        .map(|r| r.path)
        .collect()
}

/// The most rollouts that were in progress at the same time.
fn max_overlap(rollouts: &[RolloutRecord]) -> usize {
    rollouts
        .iter()
        .map(|r| {
            rollouts
                .iter()
                .filter(|o| o.started <= r.started && o.finished.is_none_or(|f| f > r.started))
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Whether every live pod under `prefix` carries the fix, per the engine.
fn all_fixed(api: &FakeApiServer, prefix: &str) -> bool {
    let engine = cluster::engine();
    let paths = api.paths(prefix);
    assert!(!paths.is_empty(), "no pods under {prefix}");
    paths.iter().all(|p| {
        let pod: k8s_openapi::api::core::v1::Pod =
            serde_json::from_value(api.get(p).unwrap()).unwrap();
        review_pod(&engine, &pod).unwrap().patch.is_empty()
    })
}

#[tokio::test]
async fn dry_run_plans_per_owner_and_changes_nothing() {
    let api = cluster_api().await;
    let mut o = options(Scope::AllNamespaces);
    o.dry_run = true;
    let report = remediate(&api, &o).await;
    assert!(api.writes().is_empty(), "{:?}", api.writes());
    assert!(report.webhook.is_serving());
    let plan: Vec<(String, Action)> = report
        .items
        .iter()
        .map(|i| (i.plan.workload.to_string(), i.plan.action.clone()))
        .collect();
    let skip = |reason| Action::Skip { reason };
    assert_eq!(
        plan,
        [
            (
                "Deployment logging/loggie-aggregator".into(),
                Action::RolloutRestart
            ),
            (
                "DaemonSet logging/loggie".into(),
                skip(SkipReason::NeedsAllowDelete)
            ),
            ("Deployment team-b/loggie".into(), Action::RolloutRestart),
            ("Pod apps/debug-loggie".into(), skip(SkipReason::BarePod)),
            (
                "CronJob batch/log-shipper".into(),
                skip(SkipReason::CronJob)
            ),
            (
                "Deployment monitoring/metricbeat".into(),
                Action::RolloutRestart
            ),
            (
                "StatefulSet monitoring/promtail".into(),
                Action::RolloutRestart
            ),
        ]
    );
    assert!(
        report
            .items
            .iter()
            .all(|i| matches!(i.outcome, Outcome::Planned | Outcome::Skipped { .. }))
    );
    // The protected DaemonSet is not in the plan.
    assert!(!plan.iter().any(|(w, _)| w.contains("filebeat")));
    // Managers are warned about, with what they do with a restart.
    assert!(report.items[0].plan.notes[0].contains("Helm release loggie"));
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("StatefulSet monitoring/promtail is managed by Flux"))
    );

    let mut o = o.clone();
    o.allow_delete = true;
    let report = remediate(&api, &o).await;
    assert_eq!(report.items[1].plan.action, Action::DeletePods);
    assert_eq!(report.items[1].plan.pods, ["loggie-4hx8d", "loggie-m2v7c"]);
    assert!(api.writes().is_empty());

    let table = remediate::render_table(&report);
    assert!(
        table.contains("Dry run: 5 owners would be remediated, 2 skipped"),
        "{table}"
    );
}

#[tokio::test]
async fn each_owner_is_restarted_once_in_order_within_max_parallel() {
    let api = cluster_api().await;
    let mut o = options(Scope::AllNamespaces);
    o.max_parallel = 2;
    let (ctx, recorder) = ctx(api.client("default"));
    let report = remediate::run(&ctx, &cluster::engine(), &o).await.unwrap();

    assert_eq!(patches(&api), [AGGREGATOR, TEAM_B, METRICBEAT, PROMTAIL]);
    let rollouts = api.rollouts();
    let owners: Vec<&str> = rollouts.iter().map(|r| r.owner.as_str()).collect();
    assert_eq!(owners, [AGGREGATOR, TEAM_B, METRICBEAT, PROMTAIL]);
    assert!(rollouts.iter().all(|r| r.finished.is_some()));
    assert_eq!(max_overlap(&rollouts), 2, "{rollouts:?}");

    // The restart is kubectl's: the template's restartedAt annotation.
    let restarted = api.get(AGGREGATOR).unwrap();
    let annotation = &restarted["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"];
    assert!(
        annotation.as_str().is_some_and(|t| t.ends_with('Z')),
        "{restarted}"
    );
    assert_eq!(restarted["metadata"]["generation"], 2);
    // Helm's release annotations are left alone.
    assert_eq!(
        restarted["metadata"]["annotations"]["meta.helm.sh/release-name"],
        "loggie"
    );

    assert_eq!(
        outcomes(&report),
        [
            (
                "Deployment logging/loggie-aggregator".into(),
                Outcome::Fixed { pods: 2 }
            ),
            (
                "DaemonSet logging/loggie".into(),
                Outcome::Skipped {
                    reason: SkipReason::NeedsAllowDelete
                }
            ),
            (
                "Deployment team-b/loggie".into(),
                Outcome::Fixed { pods: 1 }
            ),
            (
                "Pod apps/debug-loggie".into(),
                Outcome::Skipped {
                    reason: SkipReason::BarePod
                }
            ),
            (
                "CronJob batch/log-shipper".into(),
                Outcome::Skipped {
                    reason: SkipReason::CronJob
                }
            ),
            (
                "Deployment monitoring/metricbeat".into(),
                Outcome::Fixed { pods: 1 }
            ),
            (
                "StatefulSet monitoring/promtail".into(),
                Outcome::Fixed { pods: 2 }
            ),
        ]
    );
    assert!(all_fixed(&api, "/api/v1/namespaces/team-b/pods/"));
    assert!(all_fixed(
        &api,
        "/api/v1/namespaces/monitoring/pods/promtail-"
    ));
    // Old pods are gone, the new ones carry GODEBUG from the engine.
    assert!(
        api.get(&cluster::pod_path(
            "logging",
            "loggie-aggregator-6d5f8c7b9-x7k2p"
        ))
        .is_none()
    );
    let new_pod = api
        .paths("/api/v1/namespaces/logging/pods/loggie-aggregator-")
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(
        api.get(&new_pod).unwrap()["spec"]["containers"][0]["env"][0]["value"],
        "netdns=go"
    );
    // Bare pods, Jobs and OnDelete pods were not touched.
    assert!(!api.log().iter().any(|(m, _)| m == "DELETE"));
    assert_eq!(report.left_unfixed().count(), 3);

    // Progress: each owner started, waited, finished.
    let events = recorder.events();
    let started: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Started {
                workload,
                index,
                total,
                ..
            } => Some(format!("{index}/{total} {workload}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        started,
        [
            "1/4 Deployment logging/loggie-aggregator",
            "2/4 Deployment team-b/loggie",
            "3/4 Deployment monitoring/metricbeat",
            "4/4 StatefulSet monitoring/promtail"
        ]
    );
    assert!(events.iter().any(|e| matches!(e, Event::Waiting { .. })));

    // A second run finds nothing to restart among them.
    api.clear_log();
    let again = remediate::run(&ctx, &cluster::engine(), &o).await.unwrap();
    assert!(patches(&api).is_empty());
    assert_eq!(again.items.len(), 3, "{:?}", outcomes(&again));
}

#[tokio::test]
async fn one_at_a_time_by_default() {
    let api = cluster_api().await;
    let report = remediate(&api, &options(Scope::Namespace("monitoring".into()))).await;
    assert_eq!(patches(&api), [METRICBEAT, PROMTAIL]);
    assert_eq!(max_overlap(&api.rollouts()), 1);
    assert_eq!(report.left_unfixed().count(), 0);
}

#[tokio::test]
async fn on_delete_pods_are_replaced_one_at_a_time_only_with_allow_delete() {
    let api = cluster_api().await;
    let scope = Scope::Namespace("logging".into());
    let report = remediate(&api, &options(scope.clone())).await;
    assert!(!api.log().iter().any(|(m, _)| m == "DELETE"));
    assert!(matches!(report.items[1].outcome, Outcome::Skipped { .. }));

    let mut o = options(scope);
    o.allow_delete = true;
    let (ctx, recorder) = ctx(api.client("default"));
    let report = remediate::run(&ctx, &cluster::engine(), &o).await.unwrap();
    assert_eq!(report.items.len(), 1, "{:?}", outcomes(&report));
    assert_eq!(
        outcomes(&report),
        [(
            "DaemonSet logging/loggie".into(),
            Outcome::Fixed { pods: 2 }
        )]
    );
    let deletes: Vec<String> = api
        .log()
        .into_iter()
        .filter(|(m, _)| m == "DELETE")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(
        deletes,
        [
            cluster::pod_path("logging", "loggie-4hx8d"),
            cluster::pod_path("logging", "loggie-m2v7c")
        ]
    );
    // The second pod is deleted only after the first one's replacement is ready.
    let steps: Vec<String> = recorder
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::PodDeleted { pod, .. } => Some(format!("deleted {pod}")),
            Event::PodReplaced { old, .. } => Some(format!("replaced {old}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        steps,
        [
            "deleted loggie-4hx8d",
            "replaced loggie-4hx8d",
            "deleted loggie-m2v7c",
            "replaced loggie-m2v7c"
        ]
    );
    // Replacements sit on the same nodes and carry the fix; the template is unchanged.
    let nodes: Vec<String> = api
        .paths("/api/v1/namespaces/logging/pods/loggie-")
        .iter()
        .filter(|p| !p.contains("aggregator"))
        .map(|p| {
            api.get(p).unwrap()["spec"]["nodeName"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(nodes.len(), 2);
    assert!(nodes.contains(&"node-a".to_owned()) && nodes.contains(&"node-b".to_owned()));
    assert!(all_fixed(&api, "/api/v1/namespaces/logging/pods/loggie-"));
    assert!(
        !api.log()
            .iter()
            .any(|(m, p)| m == "PATCH" && p.contains("daemonsets"))
    );
}

#[tokio::test]
async fn conflicts_and_throttling_are_survived() {
    let api = cluster_api().await;
    api.fail("PATCH", AGGREGATOR, 409, Some(1));
    api.throttle("PATCH", TEAM_B, 2, 1);
    api.throttle("GET", "/api/v1/namespaces/logging/pods", 1, 1);
    // Without kube's own retry layer: what is seen here is netdns-guard's handling.
    let (ctx, recorder) = ctx(api.client_without_retries("default"));
    let o = options(Scope::AllNamespaces);
    let report = remediate::run(&ctx, &cluster::engine(), &o).await.unwrap();

    assert_eq!(report.items[0].outcome, Outcome::Fixed { pods: 2 });
    assert_eq!(report.items[2].outcome, Outcome::Fixed { pods: 1 });
    let attempts = |path: &str| -> Vec<(u16, Instant)> {
        api.requests()
            .into_iter()
            .filter(|r| r.method == "PATCH" && r.path == path)
            .map(|r| (r.status, r.at))
            .collect()
    };
    let aggregator = attempts(AGGREGATOR);
    assert_eq!(
        aggregator.iter().map(|a| a.0).collect::<Vec<_>>(),
        [409, 200]
    );
    let team_b = attempts(TEAM_B);
    assert_eq!(
        team_b.iter().map(|a| a.0).collect::<Vec<_>>(),
        [429, 429, 200]
    );
    // Retry-After: 1 was honoured between the attempts.
    for pair in team_b.windows(2) {
        assert!(
            pair[1].1 - pair[0].1 >= Duration::from_millis(950),
            "{team_b:?}"
        );
    }
    // Each owner still rolled exactly once.
    let mut per_owner: BTreeMap<String, usize> = BTreeMap::new();
    for r in api.rollouts() {
        *per_owner.entry(r.owner).or_default() += 1;
    }
    assert!(per_owner.values().all(|n| *n == 1), "{per_owner:?}");
    assert_eq!(per_owner.len(), 4);
    let retries = recorder
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Retrying { .. }))
        .count();
    assert_eq!(retries, 4);
}

#[tokio::test]
async fn throttling_is_also_honoured_by_the_default_client() {
    let api = cluster_api().await;
    api.throttle("PATCH", TEAM_B, 1, 1);
    let report = remediate(&api, &options(Scope::Namespace("team-b".into()))).await;
    assert_eq!(report.items[0].outcome, Outcome::Fixed { pods: 1 });
    assert_eq!(api.rollouts().len(), 1);
}

#[tokio::test]
async fn a_missing_permission_names_verb_resource_and_namespace() {
    let api = cluster_api().await;
    api.fail("PATCH", PROMTAIL, 403, None);
    let report = remediate(&api, &options(Scope::Namespace("monitoring".into()))).await;
    let Outcome::Failed { error } = &report.items[1].outcome else {
        panic!("{:?}", outcomes(&report));
    };
    assert!(
        error.contains("missing permission to patch statefulsets.apps in namespace monitoring")
            && error.contains("kubectl auth can-i patch statefulsets.apps -n monitoring"),
        "{error}"
    );
    // The other owner was still fixed; the forbidden one was not retried.
    assert_eq!(report.items[0].outcome, Outcome::Fixed { pods: 1 });
    assert_eq!(
        api.log()
            .iter()
            .filter(|(m, p)| m == "PATCH" && p == PROMTAIL)
            .count(),
        1
    );

    // Not allowed to read the webhook configuration: a clear error, nothing done.
    let api = cluster_api().await;
    api.fail("GET", MWC, 403, None);
    let (ctx, _) = ctx(api.client("default"));
    let err = remediate::run(&ctx, &cluster::engine(), &options(Scope::AllNamespaces))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "missing permission to get mutatingwebhookconfigurations.admissionregistration.k8s.io (cluster-wide)"
        ),
        "{err}"
    );
    assert!(api.writes().is_empty());
}

#[tokio::test]
async fn nothing_is_touched_without_a_serving_webhook_unless_forced() {
    // Not installed.
    let api = FakeApiServer::start().await;
    cluster::load(&api);
    api.simulate_controllers(ControllerSim {
        rollout: Duration::from_millis(200),
    });
    let (ctx, _) = ctx(api.client("default"));
    let err = remediate::run(&ctx, &cluster::engine(), &options(Scope::AllNamespaces))
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::WebhookNotServing(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("MutatingWebhookConfiguration netdns-guard not found")
    );
    assert!(api.writes().is_empty());
    assert!(
        !api.log().iter().any(|(_, p)| p.ends_with("/pods")),
        "nothing even scanned"
    );

    // Installed, but no ready endpoint.
    cluster::install_webhook(&api, false);
    let err = remediate::run(&ctx, &cluster::engine(), &options(Scope::AllNamespaces))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("has no ready endpoints"), "{err}");
    assert!(api.writes().is_empty());

    // --force proceeds with a warning; the pods come back unfixed (nothing mutates
    // them), which stops remediation after the first owner.
    let mut o = options(Scope::AllNamespaces);
    o.force = true;
    o.max_parallel = 1;
    let report = remediate::run(&ctx, &cluster::engine(), &o).await.unwrap();
    assert!(report.forced);
    assert!(
        report.warnings[0].contains("--force"),
        "{:?}",
        report.warnings
    );
    assert_eq!(patches(&api), [AGGREGATOR]);
    let Outcome::Unfixed { pods } = &report.items[0].outcome else {
        panic!("{:?}", outcomes(&report));
    };
    assert_eq!(pods.len(), 2);
    assert!(
        report
            .halted
            .as_deref()
            .is_some_and(|h| h.contains("not mutating"))
    );
    assert_eq!(report.items[2].outcome, Outcome::NotStarted);
}

#[tokio::test]
async fn a_post_install_run_waits_for_the_webhook_to_serve() {
    let api = cluster_api().await;
    cluster::install_webhook(&api, false);
    let later = api.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cluster::install_webhook(&later, true);
    });
    let mut o = options(Scope::Namespace("team-b".into()));
    o.wait_for_webhook = Duration::from_secs(5);
    let report = remediate(&api, &o).await;
    assert!(report.webhook.is_serving());
    assert!(!report.forced);
    assert_eq!(report.items[0].outcome, Outcome::Fixed { pods: 1 });

    // It gives up after the wait, and then nothing is touched.
    let api = cluster_api().await;
    cluster::install_webhook(&api, false);
    o.wait_for_webhook = Duration::from_millis(200);
    let (ctx, _) = ctx(api.client("default"));
    let err = remediate::run(&ctx, &cluster::engine(), &o)
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::WebhookNotServing(_)));
    assert!(api.writes().is_empty());
}

/// The rules of the chart's remediation Job and CronJob (remediate.allowDelete=true,
/// cluster-wide), as the chart renders them.
fn chart_rules() -> Vec<Rule> {
    vec![
        Rule::new("", &["pods"], &["get", "list", "delete"]),
        Rule::new("", &["replicationcontrollers"], &["get"]),
        Rule::new("apps", &["replicasets"], &["get"]),
        Rule::new(
            "apps",
            &["deployments", "daemonsets", "statefulsets"],
            &["get", "patch"],
        ),
        Rule::new("batch", &["jobs", "cronjobs"], &["get"]),
        Rule::new(
            "admissionregistration.k8s.io",
            &["mutatingwebhookconfigurations"],
            &["get"],
        )
        .named(&["netdns-guard"]),
        Rule::new("discovery.k8s.io", &["endpointslices"], &["list"]).in_namespace("netdns-guard"),
    ]
}

/// A full run (every action kind) under `rules`: Err or the failed owners.
async fn run_under(rules: Vec<Rule>) -> (FakeApiServer, Result<RemediationReport, ClusterError>) {
    let api = cluster_api().await;
    api.enforce_rbac(rules);
    let mut o = options(Scope::AllNamespaces);
    o.allow_delete = true;
    o.max_parallel = 3;
    let (ctx, _) = ctx(api.client("default"));
    let result = remediate::run(&ctx, &cluster::engine(), &o).await;
    (api, result)
}

#[tokio::test]
async fn the_chart_rbac_is_enough_and_every_rule_is_needed() {
    let (api, result) = run_under(chart_rules()).await;
    let report = result.unwrap();
    assert!(
        report
            .items
            .iter()
            .all(|i| matches!(i.outcome, Outcome::Fixed { .. } | Outcome::Skipped { .. })),
        "{:?}",
        outcomes(&report)
    );
    assert!(!api.requests().iter().any(|r| r.status == 403));
    // Every rule but the ReplicationController one (no RC in this cluster) was used.
    assert_eq!(api.rules_used(), [0, 2, 3, 4, 5, 6]);

    // Without any one rule, something fails, and says which permission is missing.
    for (index, missing) in chart_rules().into_iter().enumerate() {
        if index == 1 {
            continue;
        }
        let mut rules = chart_rules();
        rules.remove(index);
        let (_, result) = run_under(rules).await;
        let failure = match result {
            Err(e) => e.to_string(),
            Ok(report) => report
                .items
                .iter()
                .find_map(|i| match &i.outcome {
                    Outcome::Failed { error } => Some(error.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("ran fine without {missing:?}: {:?}", outcomes(&report))),
        };
        assert!(
            failure.contains("missing permission to"),
            "without {missing:?}: {failure}"
        );
    }
}

/// Runs the binary against the fake server through a kubeconfig file.
async fn run_binary(api: &FakeApiServer, args: &[&str]) -> (i32, String, String) {
    api.run_binary("default", args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_0_when_fixed_1_when_left_unfixed_2_when_refused() {
    let api = cluster_api().await;
    let fast = ["--poll-interval", "20ms", "--timeout", "20s"];

    let (code, stdout, stderr) = run_binary(
        &api,
        &[&["remediate", "-A", "--dry-run", "-o", "json"][..], &fast].concat(),
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["kind"], "RemediationReport");
    assert_eq!(json["items"][0]["action"]["type"], "rollout-restart");
    assert!(api.writes().is_empty());

    let (code, stdout, stderr) = run_binary(
        &api,
        &[&["remediate", "-n", "monitoring"][..], &fast].concat(),
    )
    .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("Summary: 2 of 2 owners fixed"), "{stdout}");
    assert!(
        stderr.contains("[1/2] Deployment monitoring/metricbeat: rollout restart"),
        "{stderr}"
    );
    assert!(stderr.contains("managed by Flux"), "{stderr}");

    let (code, stdout, _) =
        run_binary(&api, &[&["remediate", "-n", "apps"][..], &fast].concat()).await;
    assert_eq!(code, 1, "a bare pod is left unfixed: {stdout}");
    assert!(stdout.contains("bare pod"), "{stdout}");

    api.fail("GET", MWC, 404, None);
    let (code, stdout, stderr) =
        run_binary(&api, &[&["remediate", "-A"][..], &fast].concat()).await;
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("not found") && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(
        !api.log()
            .iter()
            .any(|(m, p)| m == "PATCH" && p.contains("logging")),
        "refused runs write nothing"
    );
}
