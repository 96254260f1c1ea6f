//! The webhook's accept loop. It owns the TCP listener so that every socket gets
//! TCP_NODELAY, a TLS handshake deadline and an idle deadline before hyper sees
//! it; at shutdown it stops accepting and gives open connections a grace period.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::config::Limits;
use super::idle::IdleTimeout;
use super::server::stopping;

/// What every accepted connection is served with; cloned once per connection.
#[derive(Clone)]
pub(super) struct Connections {
    tls: TlsAcceptor,
    app: Router,
    http: Arc<auto::Builder<TokioExecutor>>,
    handshake_timeout: Duration,
    idle_timeout: Duration,
}

impl Connections {
    /// Connections that speak TLS with `tls`, then HTTP/1.1 or HTTP/2 to `app`.
    pub(super) fn new(tls: TlsAcceptor, app: Router, limits: &Limits) -> Self {
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(true);
        http.http2().timer(TokioTimer::new());
        Connections {
            tls,
            app,
            http: Arc::new(http),
            handshake_timeout: limits.handshake_timeout,
            idle_timeout: limits.idle_timeout,
        }
    }

    /// Serves one connection to its end; `watcher` lets shutdown close it gracefully.
    async fn serve(self, tcp: TcpStream, peer: SocketAddr, watcher: Watcher) {
        let tls = match tokio::time::timeout(self.handshake_timeout, self.tls.accept(tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
        };
        let io = TokioIo::new(IdleTimeout::new(tls, self.idle_timeout));
        let service = TowerToHyperService::new(self.app);
        let connection = self.http.serve_connection(io, service).into_owned();
        if let Err(e) = watcher.watch(connection).await {
            tracing::debug!(%peer, error = %e, "connection closed with an error");
        }
    }
}

/// Accepts until `stopped`, then waits up to `grace_period` for open connections
/// and reports the end on `drained`.
pub(super) async fn accept_loop(
    listener: TcpListener,
    connections: Connections,
    mut stopped: watch::Receiver<bool>,
    drained: watch::Sender<bool>,
    grace_period: Duration,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            () = stopping(&mut stopped) => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Without it, Nagle plus delayed ACKs add ~40 ms to small responses.
        let _ = tcp.set_nodelay(true);
        tokio::spawn(connections.clone().serve(tcp, peer, graceful.watcher()));
    }
    drop(listener);
    if tokio::time::timeout(grace_period, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?grace_period,
            "grace period over; closing remaining connections"
        );
    }
    let _ = drained.send(true);
}
