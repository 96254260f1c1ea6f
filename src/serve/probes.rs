//! The plain-HTTP listener for the kubelet and Prometheus: `/healthz` (the process
//! answers), `/readyz` (503 from the moment shutdown starts) and `/metrics`. It
//! stays up until the webhook has drained, so readiness is seen going false.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::handler::plain;
use super::server::stopping;
use super::state::AppState;

/// Serves the probes on `listener` until `drained` turns true.
pub(super) async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    mut drained: watch::Receiver<bool>,
) {
    let shutdown = async move { stopping(&mut drained).await };
    if let Err(e) = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "metrics listener failed");
    }
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(|State(state): State<Arc<AppState>>| async move {
                if state.is_ready() {
                    plain(StatusCode::OK, "ready")
                } else {
                    plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down")
                }
            }),
        )
        .route(
            "/metrics",
            get(|State(state): State<Arc<AppState>>| async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    state.metrics.encode(),
                )
            }),
        )
        .with_state(state)
}
