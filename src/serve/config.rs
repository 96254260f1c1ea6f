//! What `serve` is told: addresses, files, limits and intervals. Plain data, filled
//! in by the command line (or a test) and read by the rest of [`crate::serve`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::tls::CertFiles;

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
    /// Most bytes of request bodies held at once, across all requests (429 when a
    /// body finds no room within `body_budget_wait`). See [`super::budget`].
    pub max_buffered_body_bytes: usize,
    /// How long a body may wait for room in the budget.
    pub body_budget_wait: Duration,
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
            // With the chart's 128 MiB memory limit: ~15 MiB idle, and each body
            // costs about its size again while decoded and answered, so 32 MiB of
            // bodies stays near 80 MiB — room to spare, and still 8 of the largest
            // reviews or thousands of ordinary (3–10 KB) ones at once.
            max_buffered_body_bytes: 32 * 1024 * 1024,
            body_budget_wait: Duration::from_secs(1),
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
    /// The serving certificate and key, watched for changes.
    pub cert: CertFiles,
    /// CA bundle that client certificates must chain to; no client auth when `None`.
    pub client_ca: Option<PathBuf>,
    /// Policy file, watched for changes; the defaults when `None`.
    pub policy: Option<PathBuf>,
    /// Bounds on each connection and request.
    pub limits: Limits,
    /// How often certificate and policy files are checked for changes.
    pub reload_interval: Duration,
    /// How long in-flight requests get to finish at shutdown.
    pub grace_period: Duration,
}
