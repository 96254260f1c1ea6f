//! `netdns-guard serve`: the HTTPS admission webhook (ARCHITECTURE.md, "The kube-apiserver contract", "The webhook server").
//!
//! One accept loop owns the TLS listener so every socket gets TCP_NODELAY, a
//! handshake deadline and an idle deadline before hyper sees it; axum routes the
//! request; [`crate::admission`] answers it with the engine. A second, plain-HTTP
//! listener serves `/healthz`, `/readyz` and `/metrics`.
//!
//! Certificate and policy files are polled and swapped in without a restart; a bad
//! new file keeps the old one. Shutdown turns readiness false, stops accepting, and
//! lets in-flight requests finish within a grace period.

pub mod idle;
pub mod metrics;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tower_http::catch_panic::CatchPanicLayer;

use crate::admission::{self, Decision};
use crate::engine::Engine;
use metrics::{Metrics, RequestLabels};
use tls::{CertFiles, ReloadingCert};

/// Bounds that keep one client from holding the server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted (413 above it).
    pub max_body_bytes: usize,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time allowed to send the request headers (HTTP/1.1).
    pub header_timeout: Duration,
    /// Time allowed to send the request body (408 after it).
    pub body_timeout: Duration,
    /// A connection silent this long is closed (keep-alive idle timeout).
    pub idle_timeout: Duration,
    /// Most requests answered at once; more wait their turn.
    pub max_in_flight: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Two copies of etcd's largest object (object and oldObject), with room.
            max_body_bytes: 4 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(5),
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(90),
            max_in_flight: 512,
        }
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// HTTPS listener for admission reviews.
    pub listen: SocketAddr,
    /// Plain-HTTP listener for probes and metrics (none when `None`).
    pub metrics_listen: Option<SocketAddr>,
    /// Path that takes reviews (any query string is accepted).
    pub path: String,
    pub cert: CertFiles,
    /// CA bundle that client certificates must chain to; no client auth when `None`.
    pub client_ca: Option<PathBuf>,
    /// Policy file, watched for changes; the defaults when `None`.
    pub policy: Option<PathBuf>,
    pub limits: Limits,
    /// How often certificate and policy files are checked for changes.
    pub reload_interval: Duration,
    /// How long in-flight requests get to finish at shutdown.
    pub grace_period: Duration,
}

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

/// State shared by every request.
pub struct AppState {
    engine: ArcSwap<Engine>,
    metrics: Metrics,
    ready: AtomicBool,
    limits: Limits,
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
        self.state.ready.store(false, Ordering::SeqCst);
    }

    /// Starts readiness-false shutdown: stop accepting, finish in-flight requests.
    pub fn shutdown(&self) {
        self.state.ready.store(false, Ordering::SeqCst);
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

/// Loads the policy file, or the defaults.
fn load_engine(path: Option<&PathBuf>) -> Result<Engine, ServeError> {
    crate::policy_file::load_engine(path.map(PathBuf::as_path)).map_err(|e| ServeError::Policy {
        path: e.path,
        message: e.message,
    })
}

/// Binds the listeners and starts serving.
pub async fn start(config: ServeConfig) -> Result<Server, ServeError> {
    let engine = load_engine(config.policy.as_ref())?;
    let (cert_pem, key_pem) = config.cert.read()?;
    let loaded = tls::load(&config.cert, &cert_pem, &key_pem)?;
    let resolver = Arc::new(ReloadingCert::new(loaded.key));
    let tls_config = tls::server_config(resolver.clone(), config.client_ca.as_deref())?;

    let state = Arc::new(AppState {
        engine: ArcSwap::from_pointee(engine),
        metrics: Metrics::new(),
        ready: AtomicBool::new(true),
        limits: config.limits.clone(),
    });
    state.metrics.certificate_not_after.set(loaded.not_after);

    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })
    };
    let listener = bind(config.listen).await?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.listen,
        source,
    })?;
    let (stop, stopped) = watch::channel(false);
    // Probes stay up until the webhook has drained, so /readyz says 503 meanwhile.
    let (drained, drained_rx) = watch::channel(false);
    let mut tasks = Vec::new();

    let app = webhook_router(&config.path, state.clone());
    tasks.push(tokio::spawn(accept_loop(
        listener,
        TlsAcceptor::from(Arc::new(tls_config)),
        app,
        state.clone(),
        stopped.clone(),
        drained,
        config.grace_period,
    )));

    let mut metrics_addr = None;
    if let Some(listen) = config.metrics_listen {
        let listener = bind(listen).await?;
        metrics_addr = listener.local_addr().ok();
        let router = probes_router(state.clone());
        let mut drained = drained_rx;
        tasks.push(tokio::spawn(async move {
            let shutdown = async move { stopping(&mut drained).await };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "metrics listener failed");
            }
        }));
    }

    tasks.push(tokio::spawn(watch_files(
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

/// The admission route with the layers every request goes through. Public so tests
/// can add a route and check the same layers (a panic becomes a 500).
pub fn with_layers(router: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    let max_in_flight = state.limits.max_in_flight;
    router
        .layer(DefaultBodyLimit::disable())
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            max_in_flight,
        ))
        .layer(CatchPanicLayer::custom(|_panic| {
            tracing::error!("panic while answering a request; answered 500");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }))
        .with_state(state)
}

fn webhook_router(path: &str, state: Arc<AppState>) -> Router {
    with_layers(Router::new().route(path, post(mutate)), state)
}

/// Builds shared state for tests that assemble their own router.
pub fn test_state(engine: Engine, limits: Limits) -> Arc<AppState> {
    Arc::new(AppState {
        engine: ArcSwap::from_pointee(engine),
        metrics: Metrics::new(),
        ready: AtomicBool::new(true),
        limits,
    })
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    state: Arc<AppState>,
    mut stopped: watch::Receiver<bool>,
    drained: watch::Sender<bool>,
    grace_period: Duration,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(state.limits.header_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
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
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let limits = state.limits.clone();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                };
            let io = TokioIo::new(idle::IdleTimeout::new(tls, limits.idle_timeout));
            let connection = builder.serve_connection(io, service).into_owned();
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %e, "connection closed with an error");
            }
        });
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

/// Resolves once shutdown has been asked for.
async fn stopping(stopped: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which also means stop.
    let _ = stopped.wait_for(|s| *s).await;
}

/// Whether a Content-Type names JSON (parameters such as `charset` allowed).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    let mut message = message.into();
    message.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

async fn mutate(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    state.metrics.in_flight.inc();
    let response = answer(&state, &headers, body, started).await;
    state.metrics.in_flight.dec();
    state
        .metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn answer(state: &AppState, headers: &HeaderMap, body: Body, started: Instant) -> Response {
    let reject = |status, message: String| {
        state
            .metrics
            .requests
            .get_or_create(&RequestLabels {
                operation: "",
                result: "bad_request",
            })
            .inc();
        tracing::info!(status = %status, error = %message, "rejected request");
        plain(status, message)
    };
    if !is_json(headers) {
        return reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json".into(),
        );
    }
    let limit = state.limits.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return reject(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {limit} bytes"),
        );
    }
    let bytes =
        match tokio::time::timeout(state.limits.body_timeout, axum::body::to_bytes(body, limit))
            .await
        {
            Err(_) => {
                return reject(
                    StatusCode::REQUEST_TIMEOUT,
                    "request body not received in time".into(),
                );
            }
            Ok(Err(e)) if is_length_limit(&e) => {
                return reject(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body over {limit} bytes"),
                );
            }
            Ok(Err(e)) => {
                return reject(
                    StatusCode::BAD_REQUEST,
                    format!("reading the request body: {e}"),
                );
            }
            Ok(Ok(bytes)) => bytes,
        };
    let engine = state.engine.load();
    match admission::review(&engine, &bytes) {
        Err(e) => reject(StatusCode::BAD_REQUEST, e.to_string()),
        Ok(answer) => {
            record(state, &answer, started);
            ([(header::CONTENT_TYPE, "application/json")], answer.body).into_response()
        }
    }
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// One log line and the metrics for an answered review.
fn record(state: &AppState, answer: &admission::Answer, started: Instant) {
    let containers = match &answer.decision {
        Decision::Patched { containers } => containers.join(","),
        _ => String::new(),
    };
    if let Decision::Patched { containers } = &answer.decision {
        state
            .metrics
            .containers_patched
            .inc_by(containers.len() as u64);
    }
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            operation: metrics::operation_label(&answer.operation),
            result: answer.decision.label(),
        })
        .inc();
    let latency_us = started.elapsed().as_micros() as u64;
    match &answer.decision {
        Decision::Failed { error } => tracing::warn!(
            uid = %answer.uid, namespace = %answer.namespace, pod = %answer.pod,
            operation = %answer.operation, decision = "error", error = %error, latency_us,
            "admission allowed unchecked (fail open)"
        ),
        decision => tracing::info!(
            uid = %answer.uid, namespace = %answer.namespace, pod = %answer.pod,
            operation = %answer.operation, decision = decision.label(), containers = %containers,
            dry_run = answer.dry_run, latency_us, "admission"
        ),
    }
}

fn probes_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(|State(state): State<Arc<AppState>>| async move {
                if state.ready.load(Ordering::SeqCst) {
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

/// Polls the certificate and policy files and swaps in new content that loads.
/// Content (not timestamps) is compared, which also catches a Secret volume's
/// `..data` symlink swap; content that failed once is not retried until it changes.
async fn watch_files(
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
            match tls::load(&config.cert, &cert, &key) {
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
            (cert_seen, key_seen) = (cert, key);
        }
        if let Some(path) = &config.policy {
            let current = std::fs::read(path).ok();
            if current.is_some() && current != policy_seen {
                match load_engine(Some(path)) {
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
                policy_seen = current;
            }
        }
    }
}
