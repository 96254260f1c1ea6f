//! Rendering a run: JSON for tools, a table and a summary for people.

use std::fmt::Write as _;

use super::{ItemResult, Outcome, RemediationReport};
use crate::cluster::evidence::Crash;
use crate::cluster::plural;
use crate::cluster::table::Table;

/// The run as JSON.
pub fn render_json(report: &RemediationReport) -> String {
    let mut text = serde_json::to_string_pretty(report).unwrap_or_default();
    text.push('\n');
    text
}

fn crash_text(crash: Crash) -> &'static str {
    match crash {
        Crash::Looping => "CrashLoopBackOff",
        Crash::Crashed => "crashed",
        Crash::Restarted => "restarted",
        Crash::None => "-",
    }
}

/// The run as a table (plan and outcome per owner) and a summary.
pub fn render_table(report: &RemediationReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}{}",
        report.webhook,
        if report.forced { " (--force)" } else { "" }
    );
    let mut table = Table::new(&[
        "NAMESPACE",
        "OWNER",
        "ACTION",
        "PODS",
        "CRASH",
        "RESULT",
        "MANAGED BY",
    ]);
    for item in &report.items {
        let managed = match item.plan.managers.as_slice() {
            [] => "-".to_owned(),
            list => list
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        };
        table.row(vec![
            item.plan.workload.namespace.clone(),
            item.plan.workload.short(),
            item.plan.action.to_string(),
            item.plan.pods.len().to_string(),
            crash_text(item.plan.crash).to_owned(),
            item.outcome.to_string(),
            managed,
        ]);
    }
    if table.is_empty() {
        let _ = writeln!(
            out,
            "Nothing to do: no running pod in {} lacks the fix.",
            report.scope
        );
        return out;
    }
    out.push('\n');
    out.push_str(&table.render());
    out.push('\n');
    for item in report.items.iter().filter(|i| !i.plan.notes.is_empty()) {
        for note in &item.plan.notes {
            let _ = writeln!(out, "note: {}: {note}", item.plan.workload);
        }
    }
    let fixed = report.items.iter().filter(|i| i.outcome.is_fixed()).count();
    let left: Vec<&ItemResult> = report.left_unfixed().collect();
    if report.dry_run {
        let _ = writeln!(
            out,
            "Dry run: {} would be remediated, {} skipped; nothing was changed.",
            plural(
                report
                    .items
                    .iter()
                    .filter(|i| i.outcome == Outcome::Planned)
                    .count(),
                "owner"
            ),
            report
                .items
                .iter()
                .filter(|i| matches!(i.outcome, Outcome::Skipped { .. }))
                .count()
        );
    } else {
        let _ = writeln!(
            out,
            "Summary: {fixed} of {} fixed; {} left with pods lacking the fix.",
            plural(report.items.len(), "owner"),
            left.len()
        );
    }
    if let Some(reason) = &report.halted {
        let _ = writeln!(out, "Halted: {reason}");
    }
    out
}
