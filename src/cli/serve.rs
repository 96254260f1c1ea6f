//! `netdns-guard serve`: the admission webhook, from flags to a running server and
//! back down on SIGTERM.
//!
//! Shutdown follows the kubelet: on SIGTERM readiness turns false while requests
//! are still answered (`--shutdown-delay-seconds`, so Service endpoints drain), then
//! the listener closes and in-flight requests get `--grace-period-seconds`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

use netdns_guard::certs::{self, ServiceName};
use netdns_guard::serve::tls::CertFiles;
use netdns_guard::serve::{self, Limits, ServeConfig, Server};

use super::logging::{self, LogFormat};
use super::runtime::{self, Threads};

/// Days the `--self-signed` serving certificate is valid: it is for local use.
const SELF_SIGNED_DAYS: u32 = 30;

/// `serve`'s flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy file (YAML), reloaded when it changes.
    #[arg(long, value_name = "FILE", env = "NETDNS_GUARD_CONFIG")]
    config: Option<PathBuf>,

    /// HTTPS address for admission reviews.
    #[arg(long, default_value = "0.0.0.0:8443", value_name = "ADDR")]
    listen: SocketAddr,

    /// Plain-HTTP address for /healthz, /readyz and /metrics ("off" to disable).
    #[arg(long, default_value = "0.0.0.0:8080", value_name = "ADDR")]
    metrics_listen: String,

    /// Path that takes AdmissionReviews.
    #[arg(long, default_value = "/mutate", value_name = "PATH")]
    path: String,

    /// Serving certificate chain (PEM), reloaded when it changes.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "self_signed"
    )]
    tls_cert: Option<PathBuf>,

    /// Serving private key (PEM), reloaded when it changes.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Generate a CA and serving certificate for local use; prints the CA's path.
    #[arg(long)]
    self_signed: bool,

    /// Directory for --self-signed material.
    #[arg(long, value_name = "DIR")]
    self_signed_dir: Option<PathBuf>,

    /// Service name put in the --self-signed certificate (<service>.<namespace>.svc).
    #[arg(long, default_value = "netdns-guard")]
    service: String,

    /// Namespace put in the --self-signed certificate.
    #[arg(long, default_value = "netdns-guard")]
    namespace: String,

    /// Require client certificates signed by this CA bundle (PEM).
    #[arg(long, value_name = "FILE")]
    client_ca: Option<PathBuf>,

    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,

    /// Most admission requests answered at once.
    #[arg(long, default_value_t = Limits::default().max_in_flight)]
    max_in_flight: usize,

    /// Most bytes of request bodies held at once, across all requests; a body that
    /// finds no room within a second is refused with 429. Keep it well inside the
    /// pod's memory limit (about limit − 20 MiB, halved).
    #[arg(long, default_value_t = Limits::default().max_buffered_body_bytes)]
    max_buffered_body_bytes: usize,

    /// Seconds a client gets to send request headers, and then the body.
    // One flag sets the handshake, header and body timeouts alike.
    #[arg(long, default_value_t = Limits::default().body_timeout.as_secs())]
    read_timeout_seconds: u64,

    /// Seconds an idle keep-alive connection is kept open.
    #[arg(long, default_value_t = Limits::default().idle_timeout.as_secs())]
    idle_timeout_seconds: u64,

    /// Seconds between checks of the certificate and policy files.
    #[arg(long, default_value_t = 2.0)]
    reload_interval_seconds: f64,

    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, default_value_t = 20)]
    grace_period_seconds: u64,

    /// Seconds to keep serving (with readiness false) after SIGTERM before the
    /// listener closes, so Service endpoints drain; for clusters without a preStop
    /// sleep. HTTP/1.1 answers meanwhile say `Connection: close`, so keep-alive
    /// clients reconnect (to another replica) rather than lose a request to the close.
    #[arg(long, default_value_t = 0)]
    shutdown_delay_seconds: u64,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// Serves until SIGTERM or SIGINT, then shuts down in order.
pub fn run(args: Args) -> Result<ExitCode> {
    let log = logging::init(args.log_format).context("starting the log writer")?;
    let config = serve_config(&args)?;
    let shutdown_delay = Duration::from_secs(args.shutdown_delay_seconds);
    runtime::block_on(Threads::PerCore, async move {
        let server = serve::start(config).await?;
        // The --self-signed paths were printed before; make them visible now.
        let _ = std::io::stdout().flush();
        wait_for_signal().await?;
        shut_down(server, shutdown_delay).await;
        // The drain's lines are out even if tearing down the runtime then hangs.
        log.flush();
        Ok(ExitCode::SUCCESS)
    })
}

/// The server's configuration from the flags.
fn serve_config(args: &Args) -> Result<ServeConfig> {
    let metrics_listen = match args.metrics_listen.as_str() {
        "off" | "" => None,
        addr => Some(
            addr.parse()
                .with_context(|| format!("--metrics-listen {addr:?}"))?,
        ),
    };
    let read_timeout = Duration::from_secs(args.read_timeout_seconds);
    Ok(ServeConfig {
        listen: args.listen,
        metrics_listen,
        path: args.path.clone(),
        cert: cert_files(args)?,
        client_ca: args.client_ca.clone(),
        policy: args.config.clone(),
        limits: Limits {
            max_body_bytes: args.max_body_bytes,
            handshake_timeout: read_timeout,
            header_timeout: read_timeout,
            body_timeout: read_timeout,
            idle_timeout: Duration::from_secs(args.idle_timeout_seconds),
            max_in_flight: args.max_in_flight.max(1),
            max_buffered_body_bytes: args.max_buffered_body_bytes,
            body_budget_wait: Limits::default().body_budget_wait,
        },
        reload_interval: Duration::from_secs_f64(args.reload_interval_seconds.max(0.05)),
        grace_period: Duration::from_secs(args.grace_period_seconds),
    })
}

/// Where TLS material comes from: given files, or generated for local use.
fn cert_files(args: &Args) -> Result<CertFiles> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return Ok(CertFiles {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    if !args.self_signed {
        anyhow::bail!("give --tls-cert and --tls-key, or --self-signed for local use");
    }
    let dir = args
        .self_signed_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("netdns-guard-self-signed"));
    let name = ServiceName {
        service: args.service.clone(),
        namespace: args.namespace.clone(),
    };
    certs::write_bundle(&certs::generate(&name, SELF_SIGNED_DAYS)?, &dir)?;
    let ca = dir.join("ca.crt");
    println!("CA certificate: {}", ca.display());
    println!(
        "serving names: localhost, 127.0.0.1, {}",
        name.server_name()
    );
    Ok(CertFiles {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
    })
}

/// SIGTERM (what the kubelet sends) or SIGINT (Ctrl-C).
async fn wait_for_signal() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => {}
        result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT")?,
    }
    Ok(())
}

/// Readiness false, `delay` of serving on while endpoints drain, then stop accepting
/// and wait for in-flight requests (bounded by the grace period).
async fn shut_down(server: Server, delay: Duration) {
    tracing::info!("shutting down: readiness false, finishing in-flight requests");
    server.set_unready();
    tokio::time::sleep(delay).await;
    server.shutdown();
    server.wait().await;
    tracing::info!("stopped");
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(argv: &[&str]) -> Args {
        match Cli::parse_from(argv).command {
            Command::Serve(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_flags_default_limits_are_the_librarys() {
        let args = parse(&[
            "netdns-guard",
            "serve",
            "--tls-cert=tls.crt",
            "--tls-key=tls.key",
        ]);
        let config = serve_config(&args).expect("config from the default flags");
        // Limits has no PartialEq; its Debug form shows every field.
        assert_eq!(
            format!("{:?}", config.limits),
            format!("{:?}", Limits::default())
        );
        assert_eq!(config.cert.cert, PathBuf::from("tls.crt"));
        assert_eq!(config.metrics_listen, Some("0.0.0.0:8080".parse().unwrap()));
    }

    #[test]
    fn metrics_listen_off_disables_the_listener() {
        let args = parse(&[
            "netdns-guard",
            "serve",
            "--tls-cert=tls.crt",
            "--tls-key=tls.key",
            "--metrics-listen=off",
        ]);
        assert_eq!(serve_config(&args).unwrap().metrics_listen, None);
    }

    #[test]
    fn serving_needs_a_certificate() {
        let args = parse(&["netdns-guard", "serve"]);
        let error = serve_config(&args).unwrap_err().to_string();
        assert_eq!(
            error,
            "give --tls-cert and --tls-key, or --self-signed for local use"
        );
    }
}
