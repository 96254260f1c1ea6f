//! The one place a tokio runtime is built: the subcommands differ only in how many
//! worker threads they want.

use std::future::Future;

use anyhow::{Context, Result};

/// The threads a command runs its async work on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// The calling thread only: `certs --in-cluster` makes a few API calls in turn.
    Current,
    /// Two workers: scan and remediate mostly wait on the API server, with a few
    /// rollouts watched at once.
    Two,
    /// A worker per core (tokio's default): the webhook answers requests in parallel.
    PerCore,
}

/// Builds a runtime with `threads`, runs `work` to completion on it, and drops it.
pub fn block_on<T>(threads: Threads, work: impl Future<Output = Result<T>>) -> Result<T> {
    let mut builder = match threads {
        Threads::Current => tokio::runtime::Builder::new_current_thread(),
        Threads::Two => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(2);
            builder
        }
        Threads::PerCore => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(work)
}
