//! The one log line per admission, written by hand into the [`LogSink`]'s buffer.
//!
//! Through `tracing`'s formatter the line was the largest cost of an admission after
//! the JSON itself (field visitors, `Display` through `fmt::Arguments`, a line buffer
//! and a channel message per line). Here the fields are known, so they are copied
//! straight into the sink's buffer, escaped as they go, with nothing allocated. The
//! line looks as the formatter wrote it — text `TIMESTAMP  INFO TARGET: admission
//! key=value …` or a flat JSON object with `timestamp`, `level`, `message`, the
//! fields and `target` — so log queries keep working. Text values are escaped so a
//! name cannot start a new line or drive a terminal: `\n`, `\r`, `\t`, `\\` and
//! other control characters as `\xNN`.
//!
//! Each field is cut to [`LOGGED_FIELD_BYTES`] and at most [`LOGGED_CONTAINERS`]
//! container names are listed, so one request never writes more than a few KB.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use super::log_sink::LogSink;
use crate::json_text;

/// At most this many container names in a log line; the rest are counted.
pub const LOGGED_CONTAINERS: usize = 8;

/// At most this many bytes of any one field in a log line (Kubernetes names are at
/// most 253): one request can never write more than a few KB of log, whatever it holds.
pub const LOGGED_FIELD_BYTES: usize = 256;

/// The `target` the line names: the module that wrote it before it was hand-written.
const TARGET: &str = "netdns_guard::serve::handler";

/// How lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// `tracing`'s full text format.
    Text,
    /// `tracing`'s JSON format with the event's fields flattened.
    Json,
}

/// Where admission lines go, set once by the command line's logging set-up. Without
/// it (a server embedded by tests) admission lines are not written.
static ACCESS_LOG: OnceLock<(LogSink, LineFormat)> = OnceLock::new();

/// Sends admission lines to `sink` in `format`, for the life of the process; a second
/// call changes nothing and returns false.
pub fn install(sink: LogSink, format: LineFormat) -> bool {
    ACCESS_LOG.set((sink, format)).is_ok()
}

/// The severity of an admission line.
#[derive(Debug, Clone, Copy)]
enum Level {
    Info,
    Warn,
}

/// What an admission line says besides the request's identity.
pub enum Outcome<'a> {
    /// Reviewed or skipped: the containers changed (empty unless patched).
    Answered {
        /// The decision's label (`patched`, `unchanged`, `skipped`).
        decision: &'static str,
        /// The changed containers; at most [`LOGGED_CONTAINERS`] are named.
        containers: &'a [String],
        /// `request.dryRun`.
        dry_run: bool,
    },
    /// Allowed unchecked (fail open), and why.
    FailedOpen {
        /// Why the pod could not be reviewed.
        error: &'a str,
    },
}

/// One admission, as logged. Fields longer than [`LOGGED_FIELD_BYTES`] are cut.
pub struct Line<'a> {
    /// `request.uid`.
    pub uid: &'a str,
    /// `request.namespace`.
    pub namespace: &'a str,
    /// The pod's name, or its `generateName`.
    pub pod: &'a str,
    /// `request.operation`.
    pub operation: &'a str,
    /// What was decided.
    pub outcome: Outcome<'a>,
    /// Time from the request's arrival to its answer.
    pub latency_us: u64,
}

impl Line<'_> {
    fn level(&self) -> Level {
        match self.outcome {
            Outcome::Answered { .. } => Level::Info,
            Outcome::FailedOpen { .. } => Level::Warn,
        }
    }

    fn message(&self) -> &'static str {
        match self.outcome {
            Outcome::Answered { .. } => "admission",
            Outcome::FailedOpen { .. } => "admission allowed unchecked (fail open)",
        }
    }
}

/// Writes `line` to the installed sink, if any and if `RUST_LOG` lets its level
/// through for [`TARGET`].
pub(super) fn write(line: &Line<'_>) {
    let enabled = match line.level() {
        Level::Info => tracing::enabled!(target: TARGET, tracing::Level::INFO),
        Level::Warn => tracing::enabled!(target: TARGET, tracing::Level::WARN),
    };
    if !enabled {
        return;
    }
    if let Some((sink, format)) = ACCESS_LOG.get() {
        sink.append(|out| format_line(out, *format, line));
    }
}

/// Appends `line` to `out` in `format`, newline included: what [`write`] appends to
/// the sink (public for the benchmarks).
pub fn format_line(out: &mut Vec<u8>, format: LineFormat, line: &Line<'_>) {
    match format {
        LineFormat::Text => fields::<Text>(out, line),
        LineFormat::Json => fields::<Json>(out, line),
    }
}

/// One of the two line shapes: how a line starts and ends, and how a field is
/// written. The fields and their order are [`fields`]'s, the same for both.
trait Shape {
    /// Everything before the first field: time, level, target or message.
    fn start(out: &mut Vec<u8>, line: &Line<'_>);
    /// A string field, its value clipped and escaped.
    fn field(out: &mut Vec<u8>, name: &str, value: &str);
    /// The decision label (a fixed word).
    fn decision(out: &mut Vec<u8>, decision: &str);
    /// The container list as one string field.
    fn containers(out: &mut Vec<u8>, containers: &[String]);
    /// A field that is not a string (`dry_run`, `latency_us`).
    fn raw(out: &mut Vec<u8>, name: &str, value: &[u8]);
    /// Everything after the last field, the newline included.
    fn end(out: &mut Vec<u8>);
}

/// The text form: `2026-01-02T03:04:05.678901Z  INFO target: admission uid=… …`.
struct Text;

/// The JSON form: one flat object, keys in the order `tracing` wrote them.
struct Json;

/// The line's fields, in `shape`.
fn fields<S: Shape>(out: &mut Vec<u8>, line: &Line<'_>) {
    S::start(out, line);
    S::field(out, "uid", line.uid);
    S::field(out, "namespace", line.namespace);
    S::field(out, "pod", line.pod);
    S::field(out, "operation", line.operation);
    match &line.outcome {
        Outcome::Answered {
            decision,
            containers,
            dry_run,
        } => {
            S::decision(out, decision);
            S::containers(out, containers);
            S::raw(out, "dry_run", if *dry_run { b"true" } else { b"false" });
        }
        Outcome::FailedOpen { error } => {
            S::decision(out, "error");
            S::field(out, "error", error);
        }
    }
    let mut digits = [0u8; 20];
    S::raw(out, "latency_us", decimal(line.latency_us, &mut digits));
    S::end(out);
}

impl Shape for Text {
    fn start(out: &mut Vec<u8>, line: &Line<'_>) {
        timestamp(out);
        out.extend_from_slice(match line.level() {
            Level::Info => b"  INFO ",
            Level::Warn => b"  WARN ",
        });
        out.extend_from_slice(TARGET.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(line.message().as_bytes());
    }

    fn field(out: &mut Vec<u8>, name: &str, value: &str) {
        Self::raw(out, name, b"");
        escape_text(out, clip(value));
    }

    /// Quoted, as `tracing` wrote a string that was not `Display`-formatted (log
    /// queries match on it).
    fn decision(out: &mut Vec<u8>, decision: &str) {
        Self::raw(out, "decision", b"\"");
        out.extend_from_slice(decision.as_bytes());
        out.push(b'"');
    }

    fn containers(out: &mut Vec<u8>, containers: &[String]) {
        Self::raw(out, "containers", b"");
        container_list(out, containers, escape_text);
    }

    fn raw(out: &mut Vec<u8>, name: &str, value: &[u8]) {
        out.push(b' ');
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value);
    }

    fn end(out: &mut Vec<u8>) {
        out.push(b'\n');
    }
}

impl Shape for Json {
    fn start(out: &mut Vec<u8>, line: &Line<'_>) {
        out.extend_from_slice(b"{\"timestamp\":\"");
        timestamp(out);
        out.extend_from_slice(match line.level() {
            Level::Info => b"\",\"level\":\"INFO\",\"message\":\"",
            Level::Warn => b"\",\"level\":\"WARN\",\"message\":\"",
        });
        out.extend_from_slice(line.message().as_bytes());
        out.push(b'"');
    }

    fn field(out: &mut Vec<u8>, name: &str, value: &str) {
        Self::raw(out, name, b"\"");
        json_text::push_str_contents(out, clip(value));
        out.push(b'"');
    }

    fn decision(out: &mut Vec<u8>, decision: &str) {
        Self::field(out, "decision", decision);
    }

    fn containers(out: &mut Vec<u8>, containers: &[String]) {
        Self::raw(out, "containers", b"\"");
        container_list(out, containers, json_text::push_str_contents);
        out.push(b'"');
    }

    fn raw(out: &mut Vec<u8>, name: &str, value: &[u8]) {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(value);
    }

    fn end(out: &mut Vec<u8>) {
        Self::raw(out, "target", b"\"");
        out.extend_from_slice(TARGET.as_bytes());
        out.extend_from_slice(b"\"}\n");
    }
}

/// The changed containers, `a,b,c`, with `…(+N more)` past [`LOGGED_CONTAINERS`],
/// each name clipped and escaped by `escape`.
fn container_list(out: &mut Vec<u8>, containers: &[String], escape: fn(&mut Vec<u8>, &str)) {
    for (i, name) in containers.iter().take(LOGGED_CONTAINERS).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        escape(out, clip(name));
    }
    if let Some(more) = containers.len().checked_sub(LOGGED_CONTAINERS)
        && more > 0
    {
        out.extend_from_slice(",…(+".as_bytes());
        out.extend_from_slice(decimal(more as u64, &mut [0; 20]));
        out.extend_from_slice(b" more)");
    }
}

/// The decimal digits of `n`, written at the end of `digits`.
fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[at..];
        }
    }
}

/// `field` cut to [`LOGGED_FIELD_BYTES`] on a character boundary.
fn clip(field: &str) -> &str {
    if field.len() <= LOGGED_FIELD_BYTES {
        return field;
    }
    let mut end = LOGGED_FIELD_BYTES;
    while !field.is_char_boundary(end) {
        end -= 1;
    }
    &field[..end]
}

/// `value` with control characters (C0, DEL) and `\\` escaped, so that it stays on
/// its line and cannot drive a terminal.
fn escape_text(out: &mut Vec<u8>, value: &str) {
    json_text::push_escaped(
        out,
        value,
        |b| b < 0x20 || b == 0x7f || b == b'\\',
        |out, b| match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            _ => json_text::push_hex_escape(out, b"\\x", b),
        },
    );
}

thread_local! {
    /// The second the cached date and time are of, and their text
    /// (`YYYY-MM-DDTHH:MM:SS`): at thousands of lines per second, the calendar is
    /// worked out once a second per thread.
    static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

/// The current UTC time, RFC 3339 with microseconds, as `tracing` writes it.
fn timestamp(out: &mut Vec<u8>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let text = SECOND.with(|cached| {
        let (second, text) = cached.get();
        if second == secs {
            return text;
        }
        let text = date_time(secs);
        cached.set((secs, text));
        text
    });
    out.extend_from_slice(&text);
    let micros = now.subsec_micros();
    let mut digits = [b'.', b'0', b'0', b'0', b'0', b'0', b'0', b'Z'];
    let mut rest = micros;
    for slot in digits[1..7].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend_from_slice(&digits);
}

/// `YYYY-MM-DDTHH:MM:SS` of a Unix time (proleptic Gregorian calendar, UTC).
fn date_time(secs: u64) -> [u8; 19] {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let mut text = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, mut value: u64| {
        for slot in text[at..at + width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, rem / 3600);
    put(14, 2, rem / 60 % 60);
    put(17, 2, rem % 60);
    text
}

/// Year, month, day of the `days`-th day after 1970-01-01 (H. Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patched<'a>(containers: &'a [String]) -> Line<'a> {
        Line {
            uid: "uid-1",
            namespace: "logging",
            pod: "agent-",
            operation: "CREATE",
            outcome: Outcome::Answered {
                decision: "patched",
                containers,
                dry_run: false,
            },
            latency_us: 42,
        }
    }

    fn written(format: fn(&mut Vec<u8>, &Line<'_>), line: &Line<'_>) -> String {
        let mut out = Vec::new();
        format(&mut out, line);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_text_line_reads_as_tracing_wrote_it() {
        let containers = ["agent".to_owned(), "sidecar".to_owned()];
        let line = written(fields::<Text>, &patched(&containers));
        let (time, rest) = line.split_once("  ").unwrap();
        assert_eq!(time.len(), 27, "{time}");
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
        assert_eq!(
            rest,
            "INFO netdns_guard::serve::handler: admission uid=uid-1 namespace=logging \
             pod=agent- operation=CREATE decision=\"patched\" containers=agent,sidecar \
             dry_run=false latency_us=42\n"
        );
    }

    #[test]
    fn the_json_line_is_one_object_with_every_field() {
        let containers = ["agent".to_owned()];
        let line = written(fields::<Json>, &patched(&containers));
        assert!(line.ends_with("}\n") && line.lines().count() == 1);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["level"], "INFO");
        assert_eq!(value["message"], "admission");
        assert_eq!(value["uid"], "uid-1");
        assert_eq!(value["namespace"], "logging");
        assert_eq!(value["pod"], "agent-");
        assert_eq!(value["operation"], "CREATE");
        assert_eq!(value["decision"], "patched");
        assert_eq!(value["containers"], "agent");
        assert_eq!(value["dry_run"], false);
        assert_eq!(value["latency_us"], 42);
        assert_eq!(value["target"], TARGET);
    }

    #[test]
    fn a_failed_open_line_is_a_warning_with_the_error() {
        let line = Line {
            outcome: Outcome::FailedOpen {
                error: "cannot read \"the\" pod",
            },
            ..patched(&[])
        };
        let value: serde_json::Value =
            serde_json::from_str(&written(fields::<Json>, &line)).unwrap();
        assert_eq!(value["level"], "WARN");
        assert_eq!(value["decision"], "error");
        assert_eq!(value["error"], "cannot read \"the\" pod");
        assert!(written(fields::<Text>, &line).contains("  WARN "));
    }

    #[test]
    fn hostile_values_stay_on_their_line_and_in_their_string() {
        let containers = ["a\nb".to_owned(), "c\"\\\u{1b}[31m".to_owned()];
        let line = Line {
            uid: "x\r\ny=z",
            ..patched(&containers)
        };
        let text_line = written(fields::<Text>, &line);
        assert_eq!(text_line.lines().count(), 1, "{text_line}");
        assert!(text_line.contains(r#"uid=x\r\ny=z "#), "{text_line}");
        assert!(
            text_line.contains(r#"containers=a\nb,c"\\\x1b[31m "#),
            "{text_line}"
        );
        let value: serde_json::Value =
            serde_json::from_str(&written(fields::<Json>, &line)).unwrap();
        assert_eq!(value["uid"], "x\r\ny=z");
        assert_eq!(value["containers"], "a\nb,c\"\\\u{1b}[31m");
    }

    #[test]
    fn fields_are_bounded() {
        let names: Vec<String> = (0..20_000).map(|i| format!("container-{i}")).collect();
        let mut list = Vec::new();
        container_list(&mut list, &names, escape_text);
        let list = String::from_utf8(list).unwrap();
        assert!(list.starts_with("container-0,container-1,"), "{list}");
        assert!(list.ends_with(",…(+19992 more)"), "{list}");
        assert!(list.len() < 200);
        let long = "é".repeat(1000);
        assert_eq!(clip(&long).len(), 256);
        assert_eq!(clip("short"), "short");
        let huge = ["n".repeat(100_000)];
        let line = written(
            fields::<Json>,
            &Line {
                uid: &long,
                ..patched(&huge)
            },
        );
        assert!(line.len() < 1024, "{} bytes", line.len());
    }

    #[test]
    fn dates_are_the_calendar_s() {
        assert_eq!(&date_time(0), b"1970-01-01T00:00:00");
        assert_eq!(&date_time(951_782_400), b"2000-02-29T00:00:00");
        assert_eq!(&date_time(1_798_761_599), b"2026-12-31T23:59:59");
        assert_eq!(&date_time(4_107_542_400), b"2100-03-01T00:00:00");
    }
}
