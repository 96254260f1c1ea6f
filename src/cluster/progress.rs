//! Progress of a long command, as typed events: the CLI prints them to stderr (one
//! line each, so a Job's log reads the same as a terminal), tests record them.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use super::api::ApiAction;
use super::inventory::Workload;
use super::remediate::{Action, Outcome};
use super::show_duration;

/// Something worth telling a person watching.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An API call failed in a retryable way and is retried after `delay`.
    Retrying {
        action: ApiAction,
        code: u16,
        delay: Duration,
        attempt: u32,
    },
    /// A page of a list arrived.
    Listed {
        what: &'static str,
        items: usize,
        page: usize,
    },
    /// Something the user should know that does not stop the command.
    Warning(String),
    /// An owner's remediation started.
    Started {
        index: usize,
        total: usize,
        workload: Workload,
        action: Action,
    },
    /// An owner's rollout is still going (sent when the message changes).
    Waiting { workload: Workload, message: String },
    /// A pod was deleted so that its controller replaces it.
    PodDeleted { workload: Workload, pod: String },
    /// The replacement of a deleted pod is ready.
    PodReplaced {
        workload: Workload,
        old: String,
        new: String,
    },
    /// An owner's remediation ended.
    Finished {
        workload: Workload,
        outcome: Outcome,
        elapsed: Duration,
    },
    /// No further owners are started.
    Halted { reason: String },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Retrying {
                action,
                code,
                delay,
                attempt,
            } => write!(
                f,
                "retrying {action} after HTTP {code} in {} (attempt {})",
                show_duration(*delay),
                attempt + 1
            ),
            Event::Listed { what, items, page } => {
                write!(f, "listed {items} {what} (page {page})")
            }
            Event::Warning(message) => write!(f, "warning: {message}"),
            Event::Started {
                index,
                total,
                workload,
                action,
            } => write!(f, "[{index}/{total}] {workload}: {action}"),
            Event::Waiting { workload, message } => write!(f, "      {workload}: {message}"),
            Event::PodDeleted { workload, pod } => {
                write!(
                    f,
                    "      {workload}: deleted pod {pod}, waiting for its replacement"
                )
            }
            Event::PodReplaced { workload, old, new } => {
                write!(f, "      {workload}: {old} replaced by {new} (ready)")
            }
            Event::Finished {
                workload,
                outcome,
                elapsed,
            } => write!(
                f,
                "      {workload}: {outcome} ({})",
                show_duration(*elapsed)
            ),
            Event::Halted { reason } => write!(f, "halted: {reason}"),
        }
    }
}

/// Where events go.
pub trait Progress: Send + Sync {
    fn event(&self, event: &Event);
}

/// Drops every event.
#[derive(Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _: &Event) {}
}

/// Prints each event as a line on stderr.
#[derive(Debug, Default)]
pub struct Stderr {
    /// Also print page-by-page listing progress.
    pub verbose: bool,
}

impl Progress for Stderr {
    fn event(&self, event: &Event) {
        if matches!(event, Event::Listed { .. }) && !self.verbose {
            return;
        }
        let _ = writeln!(std::io::stderr().lock(), "{event}");
    }
}

/// Keeps every event (for tests and for callers that render them later).
#[derive(Debug, Default)]
pub struct Recorder(Mutex<Vec<Event>>);

impl Recorder {
    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Progress for Recorder {
    fn event(&self, event: &Event) {
        if let Ok(mut events) = self.0.lock() {
            events.push(event.clone());
        }
    }
}
