//! The one place logging is set up, for the long-running and in-cluster commands
//! (`serve`, `certs --in-cluster`); the others report on stdout and stderr directly.

use std::io::IsTerminal;

use netdns_guard::serve::access_log::{self, LineFormat};
use netdns_guard::serve::log_sink::LogSink;

/// `--log-format`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Writes what is left of the log when dropped; keep it until exit.
#[must_use = "dropping the guard stops the log"]
pub struct LogGuard {
    sink: LogSink,
}

impl LogGuard {
    /// Returns once every line logged so far has been written.
    pub fn flush(&self) {
        self.sink.flush();
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.sink.close();
    }
}

/// Logs to stderr through a writer thread that batches lines into few writes
/// ([`LogSink`]): one line per admission would otherwise cost a system call on the
/// request path. Lines are never dropped (a full buffer slows requests instead). The
/// admission line is written by hand ([`access_log`]), everything else by
/// `tracing`'s formatter; both share the one buffer, so lines keep their order. The
/// level comes from `RUST_LOG` (default `info`).
pub fn init(format: LogFormat) -> std::io::Result<LogGuard> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let sink = LogSink::spawn(std::io::stderr(), "netdns-guard-log")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(sink.clone());
    let line_format = match format {
        LogFormat::Text => {
            builder.init();
            LineFormat::Text
        }
        LogFormat::Json => {
            builder.json().flatten_event(true).init();
            LineFormat::Json
        }
    };
    access_log::install(sink.clone(), line_format);
    Ok(LogGuard { sink })
}
