//! `netdns-guard remediate`: replace the running pods that lack the fix, owner by
//! owner, once the webhook is serving — so the webhook fixes their replacements.
//!
//! 1. Refuse unless the webhook is installed and serving ([`webhook::check`];
//!    `--force` overrides with a warning).
//! 2. Scan (the same report as `netdns-guard scan`) and plan per owner, most urgent
//!    first: RollingUpdate Deployments, DaemonSets and StatefulSets are restarted like
//!    `kubectl rollout restart`; OnDelete DaemonSets and StatefulSets (and bare
//!    ReplicaSets) have their pods deleted one at a time with `--allow-delete`; bare
//!    pods and Jobs are reported, never touched.
//! 3. Execute with at most `--max-parallel` owners in flight, starting them in plan
//!    order; each waits for its rollout to complete (kubectl's rules, [`rollout`](super::rollout)),
//!    then checks with the engine that its new pods carry the fix. New pods without
//!    it mean the webhook is not mutating them: no further owner is started.
//!
//! Each phase has its file: `plan` (what is done to each owner, [`plan()`]),
//! `execute` (doing it) and `render` ([`render_table`], [`render_json`]); this
//! module holds the options and the report, and runs the phases in order.

mod execute;
mod plan;
mod render;

pub use plan::{Action, PlanItem, SkipReason, plan};
pub use render::{render_json, render_table};

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::api::ClusterError;
use super::scan::{self, ScanOptions};
use super::webhook::{self, WebhookStatus};
use super::{Ctx, Event, Scope, plural, show_duration};
use crate::engine::Engine;

/// The pod template annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";
/// The field manager of remediate's patches.
pub const FIELD_MANAGER: &str = "netdns-guard";

/// Owners in flight at once unless told otherwise: one, so a webhook that does not
/// mutate is noticed after the first owner.
pub const DEFAULT_MAX_PARALLEL: usize = 1;
/// How long one owner's rollout (or one pod's replacement) may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// The MutatingWebhookConfiguration the Helm chart installs.
pub const DEFAULT_WEBHOOK_CONFIGURATION: &str = "netdns-guard";
/// By default the webhook must already serve: no waiting.
pub const DEFAULT_WAIT_FOR_WEBHOOK: Duration = Duration::ZERO;
/// How often rollout status is read by default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// How to remediate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemediateOptions {
    pub scope: Scope,
    pub chunk_size: Option<u32>,
    /// Plan and report; change nothing.
    pub dry_run: bool,
    /// Owners in flight at once (at least 1).
    pub max_parallel: usize,
    /// Delete pods of OnDelete owners one at a time.
    pub allow_delete: bool,
    /// How long one owner's rollout (or one pod's replacement) may take.
    pub timeout: Duration,
    /// Proceed without a serving webhook.
    pub force: bool,
    /// The MutatingWebhookConfiguration to check.
    pub webhook_configuration: String,
    /// How long to wait for the webhook to serve before refusing (a post-install
    /// hook may start before the webhook's pods are ready).
    pub wait_for_webhook: Duration,
    /// How often rollout status is read.
    pub poll_interval: Duration,
}

impl RemediateOptions {
    /// The defaults (the `DEFAULT_*` constants; the command line's too) for `scope`.
    pub fn new(scope: Scope) -> Self {
        RemediateOptions {
            scope,
            chunk_size: Some(scan::DEFAULT_CHUNK_SIZE),
            dry_run: false,
            max_parallel: DEFAULT_MAX_PARALLEL,
            allow_delete: false,
            timeout: DEFAULT_TIMEOUT,
            force: false,
            webhook_configuration: DEFAULT_WEBHOOK_CONFIGURATION.into(),
            wait_for_webhook: DEFAULT_WAIT_FOR_WEBHOOK,
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }
}

/// How an owner's remediation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum Outcome {
    /// Every pod of the owner now carries the fix.
    Fixed {
        pods: usize,
    },
    /// These new pods came up without the fix.
    Unfixed {
        pods: Vec<String>,
    },
    /// Still waiting when `--timeout` ran out.
    TimedOut {
        waiting_for: String,
    },
    Failed {
        error: String,
    },
    Skipped {
        reason: SkipReason,
    },
    /// Not started: remediation halted before its turn.
    NotStarted,
    /// `--dry-run`: would run.
    Planned,
}

impl Outcome {
    /// Whether the owner is done (fixed).
    pub fn is_fixed(&self) -> bool {
        matches!(self, Outcome::Fixed { .. })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Fixed { pods } => write!(f, "fixed ({} protected)", plural(*pods, "pod")),
            Outcome::Unfixed { pods } => {
                write!(f, "NOT FIXED: new pods lack the fix: {}", pods.join(", "))
            }
            Outcome::TimedOut { waiting_for } => write!(f, "timed out: {waiting_for}"),
            Outcome::Failed { error } => write!(f, "failed: {error}"),
            Outcome::Skipped { reason } => write!(f, "skipped: {reason}"),
            Outcome::NotStarted => f.write_str("not started (halted)"),
            Outcome::Planned => f.write_str("planned"),
        }
    }
}

/// One owner's plan and outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemResult {
    #[serde(flatten)]
    pub plan: PlanItem,
    pub outcome: Outcome,
    pub elapsed_seconds: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemediationReport {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub scope: Scope,
    pub dry_run: bool,
    pub webhook: WebhookStatus,
    /// `--force` was needed (the webhook was not serving).
    pub forced: bool,
    pub items: Vec<ItemResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halted: Option<String>,
    pub warnings: Vec<String>,
}

impl RemediationReport {
    /// Owners whose pods still lack the fix (skipped ones included).
    pub fn left_unfixed(&self) -> impl Iterator<Item = &ItemResult> {
        self.items.iter().filter(|i| !i.outcome.is_fixed())
    }
}

/// Checks the webhook, scans, plans and (unless `dry_run`) executes.
pub async fn run(
    ctx: &Ctx,
    engine: &Engine,
    options: &RemediateOptions,
) -> Result<RemediationReport, ClusterError> {
    let webhook = await_webhook(ctx, options).await?;
    let mut warnings = Vec::new();
    let forced = !webhook.is_serving();
    if forced {
        if !options.force && !options.dry_run {
            return Err(ClusterError::WebhookNotServing(format!(
                "{webhook}; nothing was restarted (--force restarts anyway)"
            )));
        }
        let warning = if options.dry_run {
            format!("{webhook}; remediate would refuse to start without --force")
        } else {
            format!("{webhook}; --force: restarting anyway, new pods may lack the fix")
        };
        ctx.progress.event(&Event::Warning(warning.clone()));
        warnings.push(warning);
    }
    let scan_options = ScanOptions {
        scope: options.scope.clone(),
        chunk_size: options.chunk_size,
        logs: false,
        show_others: false,
    };
    let report = scan::run(ctx, engine, &scan_options).await?;
    let plan = plan(&report, options.allow_delete);
    for item in plan
        .iter()
        .filter(|i| !matches!(i.action, Action::Skip { .. }))
    {
        for m in &item.managers {
            let warning = format!(
                "{} is managed by {m}: the restart annotation is usually kept, \
                 but do not edit its template by hand (it would be reverted)",
                item.workload
            );
            ctx.progress.event(&Event::Warning(warning.clone()));
            warnings.push(warning);
        }
    }
    let (items, halted) = if options.dry_run {
        (dry_run_results(plan), None)
    } else {
        execute::execute(ctx, Arc::new(engine.clone()), options, plan).await
    };
    Ok(RemediationReport {
        api_version: scan::API_VERSION,
        kind: "RemediationReport",
        scope: options.scope.clone(),
        dry_run: options.dry_run,
        webhook,
        forced: forced && !options.dry_run,
        items,
        halted,
        warnings,
    })
}

/// Checks the webhook, again every poll interval for up to `wait_for_webhook`
/// while it is not serving.
async fn await_webhook(
    ctx: &Ctx,
    options: &RemediateOptions,
) -> Result<WebhookStatus, ClusterError> {
    let deadline = Instant::now() + options.wait_for_webhook;
    let mut status = webhook::check(ctx, &options.webhook_configuration).await?;
    if !status.is_serving() && !options.wait_for_webhook.is_zero() {
        ctx.progress.event(&Event::Warning(format!(
            "{status}; waiting up to {} for it to serve",
            show_duration(options.wait_for_webhook)
        )));
    }
    while !status.is_serving() && Instant::now() < deadline {
        tokio::time::sleep(options.poll_interval).await;
        status = webhook::check(ctx, &options.webhook_configuration).await?;
    }
    Ok(status)
}

fn dry_run_results(plan: Vec<PlanItem>) -> Vec<ItemResult> {
    plan.into_iter()
        .map(|item| {
            let outcome = match &item.action {
                Action::Skip { reason } => Outcome::Skipped {
                    reason: reason.clone(),
                },
                _ => Outcome::Planned,
            };
            ItemResult {
                plan: item,
                outcome,
                elapsed_seconds: 0.0,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_well() {
        assert_eq!(
            Outcome::Fixed { pods: 1 }.to_string(),
            "fixed (1 pod protected)"
        );
        assert_eq!(
            Outcome::Fixed { pods: 3 }.to_string(),
            "fixed (3 pods protected)"
        );
        assert!(!Outcome::Planned.is_fixed());
    }
}
