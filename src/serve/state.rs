//! What every request and background task of the webhook shares: the engine in use
//! (swapped whole when the policy file changes), the metrics, readiness and limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;

use super::budget::BodyBudget;
use super::config::Limits;
use super::metrics::Metrics;
use crate::engine::Engine;

/// State shared by every request.
pub struct AppState {
    /// The compiled policy; a request loads it once and keeps that one to the end.
    pub(super) engine: ArcSwap<Engine>,
    pub(super) metrics: Metrics,
    ready: AtomicBool,
    pub(super) limits: Limits,
    /// Request bodies held at once (see [`super::budget`]).
    pub(super) budget: BodyBudget,
}

impl AppState {
    /// Ready state around `engine`, with fresh metrics.
    pub(super) fn new(engine: Engine, limits: Limits) -> Arc<Self> {
        Arc::new(AppState {
            engine: ArcSwap::from_pointee(engine),
            metrics: Metrics::new(),
            ready: AtomicBool::new(true),
            budget: BodyBudget::new(
                limits.max_buffered_body_bytes,
                limits.max_body_bytes,
                limits.body_budget_wait,
            ),
            limits,
        })
    }

    /// What `/readyz` answers.
    pub(super) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Turns readiness false for good: the server is on its way out.
    pub(super) fn set_unready(&self) {
        self.ready.store(false, Ordering::SeqCst);
    }
}

/// Builds shared state for tests that assemble their own router.
pub fn test_state(engine: Engine, limits: Limits) -> Arc<AppState> {
    AppState::new(engine, limits)
}
