//! Live reload of the certificate and policy files. They are polled, and content
//! (not timestamps) is compared, which also catches a Secret volume's `..data`
//! symlink swap. New content that loads is swapped in without a restart; content
//! that does not keeps the old one, and is not retried until it changes again.

use std::sync::Arc;

use tokio::sync::watch;

use super::config::ServeConfig;
use super::metrics::Metrics;
use super::server::stopping;
use super::state::AppState;
use super::tls::{self, ReloadingCert};
use crate::policy_file;

/// Polls the files every `config.reload_interval` until `stopped`. `cert_seen` and
/// `key_seen` are the contents the server started with.
pub(super) async fn watch_files(
    config: ServeConfig,
    resolver: Arc<ReloadingCert>,
    state: Arc<AppState>,
    mut cert_seen: Vec<u8>,
    mut key_seen: Vec<u8>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut policy_seen = config.policy.as_ref().and_then(|p| std::fs::read(p).ok());
    let mut ticker = tokio::time::interval(config.reload_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stopping(&mut stopped) => return,
            _ = ticker.tick() => {}
        }
        if let Ok((cert, key)) = config.cert.read()
            && (cert != cert_seen || key != key_seen)
        {
            reload_cert(&config, &resolver, &state, &cert, &key);
            (cert_seen, key_seen) = (cert, key);
        }
        if let Some(path) = &config.policy {
            let current = std::fs::read(path).ok();
            if current.is_some() && current != policy_seen {
                reload_policy(path, &state);
                policy_seen = current;
            }
        }
    }
}

/// Hands new handshakes the certificate in `cert` and `key`, if it loads.
fn reload_cert(
    config: &ServeConfig,
    resolver: &ReloadingCert,
    state: &AppState,
    cert: &[u8],
    key: &[u8],
) {
    match tls::load(&config.cert, cert, key) {
        Ok(loaded) => {
            resolver.replace(loaded.key);
            state.metrics.certificate_not_after.set(loaded.not_after);
            Metrics::reload(&state.metrics.tls_reloads, true);
            tracing::info!(cert = %config.cert.cert.display(), "serving certificate reloaded");
        }
        Err(e) => {
            Metrics::reload(&state.metrics.tls_reloads, false);
            tracing::error!(error = %e, "new serving certificate refused; keeping the current one");
        }
    }
}

/// Answers later requests with the policy at `path`, if it compiles.
fn reload_policy(path: &std::path::Path, state: &AppState) {
    match policy_file::load_engine(Some(path)) {
        Ok(engine) => {
            state.engine.store(Arc::new(engine));
            Metrics::reload(&state.metrics.policy_reloads, true);
            tracing::info!(policy = %path.display(), "policy reloaded");
        }
        Err(e) => {
            Metrics::reload(&state.metrics.policy_reloads, false);
            tracing::error!(error = %e, "new policy refused; keeping the current one");
        }
    }
}
