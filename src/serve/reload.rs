//! Live reload of the certificate and policy files. They are polled, and content
//! (not timestamps) is compared, which also catches a Secret volume's `..data`
//! symlink swap. New content that loads is swapped in without a restart; content
//! that does not keeps the old one, and is not retried until it changes again.
//!
//! Content that does not load is refused (logged and counted) only when the next
//! poll finds it unchanged. A certificate and key replaced by two renames, or a
//! policy written in place, can be read between the two steps; that half-done state
//! is gone a moment later and must not raise the chart's reload-failure alert.

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
    // Content that failed to load once, given one more poll to change.
    let mut cert_pending: Option<(Vec<u8>, Vec<u8>)> = None;
    let mut policy_pending: Option<Vec<u8>> = None;
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
            let pair = (cert, key);
            let settled = cert_pending.as_ref() == Some(&pair);
            match reload_cert(&config, &resolver, &state, &pair.0, &pair.1, settled) {
                Loaded::Yes | Loaded::Refused => {
                    (cert_seen, key_seen) = pair;
                    cert_pending = None;
                }
                Loaded::NotYet => cert_pending = Some(pair),
            }
        }
        if let Some(path) = &config.policy
            && let Ok(current) = std::fs::read(path)
            && policy_seen.as_ref() != Some(&current)
        {
            let settled = policy_pending.as_ref() == Some(&current);
            match reload_policy(path, &current, &state, settled) {
                Loaded::Yes | Loaded::Refused => {
                    policy_seen = Some(current);
                    policy_pending = None;
                }
                Loaded::NotYet => policy_pending = Some(current),
            }
        }
    }
}

/// What became of new content.
enum Loaded {
    /// In use from now on.
    Yes,
    /// Did not load, and was the same at the last poll: refused, logged, counted.
    Refused,
    /// Did not load, seen for the first time: perhaps caught mid-update; the next
    /// poll decides.
    NotYet,
}

/// Hands new handshakes the certificate in `cert` and `key`, if it loads; refuses
/// it if not and `settled` (the same content failed at the last poll).
fn reload_cert(
    config: &ServeConfig,
    resolver: &ReloadingCert,
    state: &AppState,
    cert: &[u8],
    key: &[u8],
    settled: bool,
) -> Loaded {
    match tls::load(&config.cert, cert, key) {
        Ok(loaded) => {
            resolver.replace(loaded.key);
            state.metrics.certificate_not_after.set(loaded.not_after);
            Metrics::reload(&state.metrics.tls_reloads, true);
            tracing::info!(cert = %config.cert.cert.display(), "serving certificate reloaded");
            Loaded::Yes
        }
        Err(e) if settled => {
            Metrics::reload(&state.metrics.tls_reloads, false);
            tracing::error!(error = %e, "new serving certificate refused; keeping the current one");
            Loaded::Refused
        }
        Err(e) => {
            tracing::debug!(error = %e, "new serving certificate does not load yet; checking again");
            Loaded::NotYet
        }
    }
}

/// Answers later requests with the policy `text` read from `path`, if it compiles;
/// refuses it if not and `settled`.
fn reload_policy(path: &std::path::Path, text: &[u8], state: &AppState, settled: bool) -> Loaded {
    match policy_file::engine_from_bytes(path, text) {
        Ok(engine) => {
            state.engine.store(Arc::new(engine));
            Metrics::reload(&state.metrics.policy_reloads, true);
            tracing::info!(policy = %path.display(), "policy reloaded");
            Loaded::Yes
        }
        Err(e) if settled => {
            Metrics::reload(&state.metrics.policy_reloads, false);
            tracing::error!(error = %e, "new policy refused; keeping the current one");
            Loaded::Refused
        }
        Err(e) => {
            tracing::debug!(error = %e, "new policy does not load yet; checking again");
            Loaded::NotYet
        }
    }
}
