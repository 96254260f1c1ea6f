//! The admission route: `POST <path>` checks what it is sent (content type, size,
//! time to arrive), hands the body to [`crate::admission`], logs and counts the
//! answer. Every refusal is a [`Rejection`], which knows its HTTP status and turns
//! itself into a plain-text response.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::BytesMut;
use http_body_util::BodyExt;
use tower_http::catch_panic::CatchPanicLayer;

use super::access_log::{self, Line, Outcome};
use super::budget::{BodyBudget, Exhausted, Reservation};
use super::config::Limits;
use super::metrics::{self, RequestLabels};
use super::state::AppState;
use crate::admission::{self, Answer, BadReview, Decision};

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

/// The webhook's router: reviews taken at `path`.
pub(super) fn webhook_router(path: &str, state: Arc<AppState>) -> Router {
    with_layers(Router::new().route(path, post(mutate)), state)
}

/// A request answered with an HTTP error instead of an AdmissionReview.
#[derive(Debug, thiserror::Error)]
enum Rejection {
    #[error("Content-Type must be application/json")]
    NotJson,
    #[error("request body over {limit} bytes")]
    TooLarge { limit: usize },
    #[error("request body not received in time")]
    BodyTimedOut,
    #[error("reading the request body: {0}")]
    BodyUnreadable(axum::Error),
    #[error(transparent)]
    Busy(#[from] Exhausted),
    #[error(transparent)]
    NotAReview(#[from] BadReview),
}

impl Rejection {
    fn status(&self) -> StatusCode {
        match self {
            Rejection::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Rejection::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::BodyTimedOut => StatusCode::REQUEST_TIMEOUT,
            Rejection::BodyUnreadable(_) | Rejection::NotAReview(_) => StatusCode::BAD_REQUEST,
            Rejection::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The `result` label counted for it.
    fn result_label(&self) -> &'static str {
        match self {
            Rejection::Busy(_) => "busy",
            _ => "bad_request",
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let busy = matches!(self, Rejection::Busy(_));
        let mut response = plain(self.status(), self.to_string());
        if busy {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

/// A plain-text response: `message` and a newline.
pub(super) fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    let mut message = message.into();
    message.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

async fn mutate(
    State(state): State<Arc<AppState>>,
    version: Version,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    state.metrics.in_flight.inc();
    let mut response = match review(&state, &headers, body).await {
        Ok(answer) => {
            record(&state, &answer, started);
            ([(header::CONTENT_TYPE, "application/json")], answer.body).into_response()
        }
        Err(rejection) => reject(&state, rejection),
    };
    if !state.is_ready() && version <= Version::HTTP_11 {
        // Shutting down: this client's next request goes to a new connection (to
        // another replica) instead of racing the close of this one when the
        // listener stops. Only a keep-alive connection idle through the whole
        // `--shutdown-delay-seconds` is still open then. HTTP/2 gets a GOAWAY.
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    state.metrics.in_flight.dec();
    state
        .metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Reads the request as an AdmissionReview and answers it with the current engine.
async fn review(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Answer, Rejection> {
    if !is_json(headers) {
        return Err(Rejection::NotJson);
    }
    let (bytes, reservation) = read_body(&state.limits, &state.budget, headers, body).await?;
    let engine = state.engine.load();
    let answer = admission::review(&engine, &bytes);
    // The body's bytes are given back only once the answer no longer borrows them.
    drop((bytes, reservation));
    Ok(answer?)
}

/// The whole body, within the size and time limits, its bytes reserved in the budget.
async fn read_body<'b>(
    limits: &Limits,
    budget: &'b BodyBudget,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Bytes, Reservation<'b>), Rejection> {
    let limit = limits.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(Rejection::TooLarge { limit });
    }
    tokio::time::timeout(limits.body_timeout, collect(body, declared, limit, budget))
        .await
        .unwrap_or(Err(Rejection::BodyTimedOut))
}

/// Reads the body into one buffer that never holds more than its reservation: sized
/// once when the length is declared, grown (and reserved) step by step when not.
async fn collect<'b>(
    mut body: Body,
    declared: Option<usize>,
    limit: usize,
    budget: &'b BodyBudget,
) -> Result<(Bytes, Reservation<'b>), Rejection> {
    let mut reservation = budget.reserve(declared.unwrap_or(0)).await?;
    let mut buffer = BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| match is_length_limit(&e) {
            true => Rejection::TooLarge { limit },
            false => Rejection::BodyUnreadable(e),
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let needed = buffer.len() + data.len();
        if needed > limit {
            return Err(Rejection::TooLarge { limit });
        }
        if needed > buffer.capacity() {
            // Double, as a vector would, but never past the limit, and reserve first.
            let capacity = needed.max(buffer.capacity() * 2).min(limit);
            let held = reservation.bytes();
            if capacity > held {
                reservation.grow(capacity - held).await?;
            }
            buffer.reserve(capacity - buffer.len());
        }
        buffer.extend_from_slice(&data);
    }
    Ok((buffer.freeze(), reservation))
}

/// Whether a Content-Type names JSON (parameters such as `charset` allowed).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
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

/// One log line and the `bad_request` count for a refused request.
fn reject(state: &AppState, rejection: Rejection) -> Response {
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            operation: "",
            result: rejection.result_label(),
        })
        .inc();
    tracing::info!(status = %rejection.status(), error = %rejection, "rejected request");
    rejection.into_response()
}

/// One log line and the metrics for an answered review.
fn record(state: &AppState, answer: &Answer, started: Instant) {
    count(state, answer);
    let outcome = match &answer.decision {
        Decision::Failed { error } => Outcome::FailedOpen { error },
        decision => Outcome::Answered {
            decision: decision.label(),
            containers: match decision {
                Decision::Patched { containers } => containers,
                _ => &[],
            },
            dry_run: answer.dry_run,
        },
    };
    access_log::write(&Line {
        uid: &answer.uid,
        namespace: &answer.namespace,
        pod: &answer.pod,
        operation: &answer.operation,
        outcome,
        latency_us: started.elapsed().as_micros() as u64,
    });
}

/// The request and patched-container counters for an answered review.
fn count(state: &AppState, answer: &Answer) {
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
}
