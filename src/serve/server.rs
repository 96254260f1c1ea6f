//! Starting and stopping the webhook: [`start`] loads the policy and certificate,
//! binds both listeners and spawns their tasks; the [`Server`] it returns turns
//! readiness off, asks everything to stop, and waits for the drain.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::config::ServeConfig;
use super::state::AppState;
use super::tls::{self, ReloadingCert};
use super::{accept, handler, probes, reload};
use crate::policy_file::{self, PolicyFileError};

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("policy file {path}: {message}")]
    Policy { path: PathBuf, message: String },
    #[error("listening on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl From<PolicyFileError> for ServeError {
    fn from(e: PolicyFileError) -> Self {
        ServeError::Policy {
            path: e.path,
            message: e.message,
        }
    }
}

/// A running server.
pub struct Server {
    /// Where the HTTPS listener is bound (useful with port 0).
    pub addr: SocketAddr,
    /// Where the metrics listener is bound.
    pub metrics_addr: Option<SocketAddr>,
    state: Arc<AppState>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Turns readiness false while still serving, so endpoints drain first.
    pub fn set_unready(&self) {
        self.state.set_unready();
    }

    /// Starts readiness-false shutdown: stop accepting, finish in-flight requests.
    pub fn shutdown(&self) {
        self.state.set_unready();
        let _ = self.stop.send(true);
    }

    /// Waits until every listener and connection is done.
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// The current metrics text (what `/metrics` serves).
    pub fn metrics(&self) -> String {
        self.state.metrics.encode()
    }
}

/// Binds the listeners and starts serving.
pub async fn start(config: ServeConfig) -> Result<Server, ServeError> {
    let engine = policy_file::load_engine(config.policy.as_deref())?;
    let (cert_pem, key_pem) = config.cert.read()?;
    let loaded = tls::load(&config.cert, &cert_pem, &key_pem)?;
    let resolver = Arc::new(ReloadingCert::new(loaded.key));
    let tls_config = tls::server_config(resolver.clone(), config.client_ca.as_deref())?;

    super::budget::tune_allocator();
    let state = AppState::new(engine, config.limits.clone());
    state.metrics.certificate_not_after.set(loaded.not_after);

    let listener = bind(config.listen).await?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.listen,
        source,
    })?;
    let (stop, stopped) = watch::channel(false);
    // Probes stay up until the webhook has drained, so /readyz says 503 meanwhile.
    let (drained, drained_rx) = watch::channel(false);
    let mut tasks = Vec::new();

    let connections = accept::Connections::new(
        TlsAcceptor::from(Arc::new(tls_config)),
        handler::webhook_router(&config.path, state.clone()),
        &config.limits,
    );
    tasks.push(tokio::spawn(accept::accept_loop(
        listener,
        connections,
        stopped.clone(),
        drained,
        config.grace_period,
    )));

    let mut metrics_addr = None;
    if let Some(listen) = config.metrics_listen {
        let listener = bind(listen).await?;
        metrics_addr = listener.local_addr().ok();
        tasks.push(tokio::spawn(probes::serve(
            listener,
            state.clone(),
            drained_rx,
        )));
    }

    tasks.push(tokio::spawn(reload::watch_files(
        config.clone(),
        resolver,
        state.clone(),
        cert_pem,
        key_pem,
        stopped,
    )));
    tracing::info!(%addr, metrics = ?metrics_addr, path = %config.path, "serving admission reviews");
    Ok(Server {
        addr,
        metrics_addr,
        state,
        stop,
        tasks,
    })
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Resolves once `flag` turns true: shutdown asked for, or the webhook drained.
pub(super) async fn stopping(flag: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which also means stop.
    let _ = flag.wait_for(|s| *s).await;
}
