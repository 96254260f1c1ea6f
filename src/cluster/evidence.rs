//! Crash evidence for one container: restarts, how it last ended (Go's fatal-error
//! exit code 2, or a signal such as 139 = SIGSEGV), CrashLoopBackOff, and — when asked
//! — its previous log matched against the getaddrinfo crash signature.
//!
//! The signature (ARCHITECTURE.md, "Why Go takes the cgo resolver") is printed differently by Go ≤ 1.20
//! (`fatal error: unexpected signal during runtime execution`, `[signal SIGSEGV: …]`,
//! `net._C2func_getaddrinfo`, `net.cgoLookupIPCNAME`) and Go ≥ 1.21
//! (`SIGSEGV: segmentation violation`, `signal arrived during cgo execution`,
//! `net._C_getaddrinfo`, `net.cgoLookupHostIP`). A log matches when it has SIGSEGV and
//! a getaddrinfo frame; `cgoLookup*` frames corroborate.

use std::fmt;

use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, ContainerStatus, Pod};
use kube::api::{Api, LogParams};
use serde::{Serialize, Serializer};

use super::Ctx;
use super::api::{ApiAction, ClusterError, Resource, Verb, call};

/// Lines of the previous log read (the crash trace is at its end).
pub const LOG_TAIL_LINES: i64 = 5000;
/// Bytes of the previous log read at most.
pub const LOG_LIMIT_BYTES: i64 = 8 << 20;

/// A Unix signal number, shown by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(pub i32);

impl Signal {
    pub const SIGABRT: Signal = Signal(6);
    pub const SIGBUS: Signal = Signal(7);
    pub const SIGSEGV: Signal = Signal(11);

    /// The conventional name (`SIGSEGV`), or `signal N`.
    pub fn name(self) -> String {
        let name = match self.0 {
            1 => "SIGHUP",
            2 => "SIGINT",
            3 => "SIGQUIT",
            4 => "SIGILL",
            6 => "SIGABRT",
            7 => "SIGBUS",
            8 => "SIGFPE",
            9 => "SIGKILL",
            11 => "SIGSEGV",
            13 => "SIGPIPE",
            15 => "SIGTERM",
            n => return format!("signal {n}"),
        };
        name.to_owned()
    }

    /// Signals a crashing program dies of (as opposed to being killed).
    pub fn is_crash(self) -> bool {
        matches!(self.0, 4 | 6 | 7 | 8 | 11)
    }
}

impl Serialize for Signal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

/// How a container last ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Termination {
    pub exit_code: i32,
    /// The signal: the runtime's, or `exitCode - 128`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<Signal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Termination {
    fn of(t: &ContainerStateTerminated) -> Self {
        let signal = t
            .signal
            .filter(|s| *s > 0)
            .or_else(|| (t.exit_code > 128 && t.exit_code < 160).then_some(t.exit_code - 128))
            .map(Signal);
        Termination {
            exit_code: t.exit_code,
            signal,
            reason: t.reason.clone(),
        }
    }

    /// Exit code 2 (how the Go runtime exits on a fatal error, the getaddrinfo
    /// SIGSEGV included) or death by a crash signal.
    pub fn crash_like(&self) -> bool {
        self.exit_code == 2 || self.signal.is_some_and(Signal::is_crash)
    }
}

impl fmt::Display for Termination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.exit_code)?;
        match (&self.signal, self.exit_code, &self.reason) {
            (Some(s), _, Some(r)) if r != "Error" => write!(f, " ({}, {r})", s.name()),
            (Some(s), _, _) => write!(f, " ({})", s.name()),
            (None, 2, _) => f.write_str(" (Go fatal error)"),
            (None, _, Some(r)) if r != "Error" && r != "Completed" => write!(f, " ({r})"),
            _ => Ok(()),
        }
    }
}

/// A container's current state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum State {
    Running,
    Waiting {
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Terminated(Termination),
    /// No status yet (pod pending) or not reported.
    Unknown,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Running => f.write_str("Running"),
            State::Waiting { reason: Some(r) } => f.write_str(r),
            State::Waiting { reason: None } => f.write_str("Waiting"),
            State::Terminated(t) => match &t.reason {
                Some(r) => f.write_str(r),
                None => write!(f, "Terminated({})", t.exit_code),
            },
            State::Unknown => f.write_str("-"),
        }
    }
}

/// How badly a container is crashing, most urgent first (so it sorts first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Crash {
    /// Waiting in CrashLoopBackOff.
    Looping,
    /// Restarted after a crash (exit 2, a crash signal, or the log signature).
    Crashed,
    /// Restarted for another reason.
    Restarted,
    /// No restarts.
    None,
}

/// Everything found about one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub restarts: i32,
    pub ready: bool,
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_termination: Option<Termination>,
    pub log: LogEvidence,
}

impl Evidence {
    /// Reads the container's status (`None`: the pod has not reported it).
    pub fn from_status(status: Option<&ContainerStatus>) -> Self {
        let Some(status) = status else {
            return Evidence {
                restarts: 0,
                ready: false,
                state: State::Unknown,
                last_termination: None,
                log: LogEvidence::NotRead,
            };
        };
        Evidence {
            restarts: status.restart_count,
            ready: status.ready,
            state: state_of(status.state.as_ref()),
            last_termination: status
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(Termination::of),
            log: LogEvidence::NotRead,
        }
    }

    /// The crash class.
    pub fn crash(&self) -> Crash {
        let looping =
            matches!(&self.state, State::Waiting { reason: Some(r) } if r == "CrashLoopBackOff");
        let crashed = self
            .last_termination
            .as_ref()
            .is_some_and(Termination::crash_like)
            || matches!(&self.state, State::Terminated(t) if t.crash_like())
            || matches!(self.log, LogEvidence::Signature(_));
        match (looping, crashed, self.restarts > 0) {
            (true, _, _) => Crash::Looping,
            (false, true, _) => Crash::Crashed,
            (false, false, true) => Crash::Restarted,
            _ => Crash::None,
        }
    }

    /// Whether a previous log exists to read.
    pub fn has_previous(&self) -> bool {
        self.restarts > 0 || self.last_termination.is_some()
    }
}

fn state_of(state: Option<&ContainerState>) -> State {
    let Some(state) = state else {
        return State::Unknown;
    };
    if let Some(t) = &state.terminated {
        return State::Terminated(Termination::of(t));
    }
    if let Some(w) = &state.waiting {
        return State::Waiting {
            reason: w.reason.clone(),
        };
    }
    if state.running.is_some() {
        return State::Running;
    }
    State::Unknown
}

/// The status of container `name` (regular or init) in `pod`.
pub fn container_status<'p>(pod: &'p Pod, name: &str) -> Option<&'p ContainerStatus> {
    let status = pod.status.as_ref()?;
    status
        .container_statuses
        .iter()
        .chain(status.init_container_statuses.iter())
        .flatten()
        .find(|s| s.name == name)
}

/// A piece of the crash signature found in a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Marker {
    /// `_C2func_getaddrinfo`: the frame every Go version prints.
    C2funcGetaddrinfo,
    /// `_C_getaddrinfo`: Go ≥ 1.21's wrapper frame.
    CGetaddrinfo,
    /// `cgoLookupIPCNAME`, `cgoLookupHostIP`, …
    CgoLookup,
    /// `SIGSEGV`.
    Sigsegv,
}

/// Which Go version printed the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GoForm {
    /// `fatal error: unexpected signal during runtime execution` / `[signal SIGSEGV: …]`.
    Go120OrOlder,
    /// `SIGSEGV: segmentation violation` / `signal arrived during cgo execution`.
    Go121OrNewer,
    /// The markers are there but not the header lines.
    Unknown,
}

impl fmt::Display for GoForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GoForm::Go120OrOlder => "Go ≤1.20",
            GoForm::Go121OrNewer => "Go ≥1.21",
            GoForm::Unknown => "Go",
        })
    }
}

/// The getaddrinfo SIGSEGV found in a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Signature {
    pub form: GoForm,
    pub markers: Vec<Marker>,
    /// The first getaddrinfo frame line, trimmed.
    pub frame: String,
}

/// What the previous log says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "result")]
pub enum LogEvidence {
    /// Not read (no `--logs`, or not a target container).
    NotRead,
    /// The container has not restarted: there is no previous log.
    NoPrevious,
    /// The crash signature is there.
    Signature(Signature),
    /// cgo resolver frames without SIGSEGV (another crash in getaddrinfo).
    CgoFrames { markers: Vec<Marker> },
    /// Read, no signature.
    NoMatch,
    /// The API server could not give it (rotated away, node gone, …).
    Unavailable { reason: String },
    /// RBAC denies `get pods/log`.
    Forbidden,
}

impl fmt::Display for LogEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogEvidence::NotRead => f.write_str("-"),
            LogEvidence::NoPrevious => f.write_str("no previous log"),
            LogEvidence::Signature(s) => write!(f, "getaddrinfo SIGSEGV ({})", s.form),
            LogEvidence::CgoFrames { .. } => f.write_str("cgo resolver frames"),
            LogEvidence::NoMatch => f.write_str("no match"),
            LogEvidence::Unavailable { .. } => f.write_str("unavailable"),
            LogEvidence::Forbidden => f.write_str("forbidden"),
        }
    }
}

/// Matches a log against the crash signature.
pub fn match_log(log: &str) -> LogEvidence {
    let mut markers = Vec::new();
    let mut frame = None;
    let mut old_header = false;
    let mut new_header = false;
    let mark = |m: Marker, markers: &mut Vec<Marker>| {
        if !markers.contains(&m) {
            markers.push(m);
        }
    };
    for line in log.lines() {
        let trimmed = line.trim();
        if trimmed.contains("_C2func_getaddrinfo") {
            mark(Marker::C2funcGetaddrinfo, &mut markers);
            frame.get_or_insert_with(|| trimmed.to_owned());
        }
        if trimmed.contains("_C_getaddrinfo") {
            mark(Marker::CGetaddrinfo, &mut markers);
            frame.get_or_insert_with(|| trimmed.to_owned());
        }
        if trimmed.contains("cgoLookup") {
            mark(Marker::CgoLookup, &mut markers);
        }
        if trimmed.contains("SIGSEGV") {
            mark(Marker::Sigsegv, &mut markers);
        }
        old_header |= trimmed.starts_with("fatal error: unexpected signal")
            || trimmed.starts_with("[signal SIGSEGV");
        new_header |= trimmed.starts_with("SIGSEGV: segmentation violation")
            || trimmed.starts_with("signal arrived during cgo execution");
    }
    markers.sort();
    let getaddrinfo =
        markers.contains(&Marker::C2funcGetaddrinfo) || markers.contains(&Marker::CGetaddrinfo);
    let sigsegv = markers.contains(&Marker::Sigsegv);
    match (getaddrinfo, sigsegv, frame) {
        (true, true, Some(frame)) => LogEvidence::Signature(Signature {
            form: match (old_header, new_header) {
                (true, _) => GoForm::Go120OrOlder,
                (false, true) => GoForm::Go121OrNewer,
                (false, false) => GoForm::Unknown,
            },
            markers,
            frame,
        }),
        _ if markers.iter().any(|m| *m != Marker::Sigsegv) => LogEvidence::CgoFrames { markers },
        _ => LogEvidence::NoMatch,
    }
}

/// Reads and matches the previous log of `container` in `namespace/pod`.
pub async fn previous_log(ctx: &Ctx, namespace: &str, pod: &str, container: &str) -> LogEvidence {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let params = LogParams {
        container: Some(container.to_owned()),
        previous: true,
        tail_lines: Some(LOG_TAIL_LINES),
        limit_bytes: Some(LOG_LIMIT_BYTES),
        ..Default::default()
    };
    let action = ApiAction::new(Verb::Get, Resource::PodLogs, Some(namespace)).named(pod);
    match call(ctx, &action, || api.logs(pod, &params)).await {
        Ok(log) => match_log(&log),
        Err(ClusterError::Forbidden { .. }) => LogEvidence::Forbidden,
        Err(e) if e.code() == Some(400) => LogEvidence::NoPrevious,
        Err(e) => LogEvidence::Unavailable {
            reason: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The same logs feed the scan tests' fake cluster (tests/support/cluster.rs).

    /// Go 1.20 and older (the field report).
    const GO_120_TRACE: &str = include_str!("../../tests/data/crash-go1.20.log");

    /// Go 1.21 and newer.
    const GO_121_TRACE: &str = include_str!("../../tests/data/crash-go1.21.log");

    #[test]
    fn both_go_forms_of_the_crash_match() {
        let LogEvidence::Signature(old) = match_log(GO_120_TRACE) else {
            panic!("Go 1.20 trace not matched");
        };
        assert_eq!(old.form, GoForm::Go120OrOlder);
        assert!(old.frame.starts_with("net._C2func_getaddrinfo"));
        assert!(old.markers.contains(&Marker::CgoLookup));
        let LogEvidence::Signature(new) = match_log(GO_121_TRACE) else {
            panic!("Go 1.21 trace not matched");
        };
        assert_eq!(new.form, GoForm::Go121OrNewer);
        assert!(new.markers.contains(&Marker::CGetaddrinfo));
    }

    #[test]
    fn other_logs_do_not_match() {
        assert_eq!(match_log("level=info msg=started\n"), LogEvidence::NoMatch);
        assert_eq!(
            match_log("panic: SIGSEGV in plugin foo\n"),
            LogEvidence::NoMatch
        );
        assert_eq!(
            match_log("SIGABRT\nnet.cgoLookupIPCNAME(...)\n"),
            LogEvidence::CgoFrames {
                markers: vec![Marker::CgoLookup]
            }
        );
    }

    #[test]
    fn exit_2_and_crash_signals_are_crash_like_sigkill_is_not() {
        let t = |exit_code, signal, reason: Option<&str>| {
            Termination::of(&ContainerStateTerminated {
                exit_code,
                signal,
                reason: reason.map(str::to_owned),
                ..Default::default()
            })
        };
        assert!(t(2, None, Some("Error")).crash_like());
        assert_eq!(t(2, None, Some("Error")).to_string(), "2 (Go fatal error)");
        let segv = t(139, None, Some("Error"));
        assert!(segv.crash_like());
        assert_eq!(segv.to_string(), "139 (SIGSEGV)");
        let oom = t(137, None, Some("OOMKilled"));
        assert!(!oom.crash_like());
        assert_eq!(oom.to_string(), "137 (SIGKILL, OOMKilled)");
        assert!(!t(1, None, Some("Error")).crash_like());
    }
}
