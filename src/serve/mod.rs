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
//!
//! Where each part lives:
//! - `config`: [`ServeConfig`] and [`Limits`], what the command line fills in;
//! - `server`: [`start`], the running [`Server`] and its shutdown, [`ServeError`];
//! - `state`: [`AppState`], shared by requests and background tasks;
//! - `accept`: the TCP + TLS accept loop and each connection's deadlines;
//! - `handler`: the admission route, its layers, and refusals as HTTP errors;
//! - `probes`: `/healthz`, `/readyz` and `/metrics` on the plain-HTTP listener;
//! - [`budget`]: the bytes of request bodies held at once, and giving them back;
//! - [`access_log`], [`log_sink`]: the admission log line, written by hand, and the
//!   buffer and thread every log line goes out through;
//! - `reload`: polling the certificate and policy files;
//! - [`tls`], [`idle`], [`metrics`]: rustls set-up, the idle deadline, the metrics.

mod accept;
pub mod access_log;
pub mod budget;
mod config;
mod handler;
pub mod idle;
pub mod log_sink;
pub mod metrics;
mod probes;
mod reload;
mod server;
mod state;
pub mod tls;

pub use config::{Limits, ServeConfig};
pub use handler::with_layers;
pub use server::{ServeError, Server, start};
pub use state::{AppState, test_state};
pub use tls::CertFiles;
