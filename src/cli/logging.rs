//! The one place logging is set up, for the long-running and in-cluster commands
//! (`serve`, `certs --in-cluster`); the others report on stdout and stderr directly.

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;

/// `--log-format`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Logs to stderr through a writer thread that batches lines into few writes: one
/// line per admission would otherwise cost a system call on the request path. Lines
/// are never dropped (a full buffer slows requests instead). The level comes from
/// `RUST_LOG` (default `info`). Keep the guard until exit: dropping it flushes what
/// is left.
pub fn init(format: LogFormat) -> WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("netdns-guard-log")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    guard
}
