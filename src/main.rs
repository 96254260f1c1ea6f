//! The `netdns-guard` command line (ARCHITECTURE.md, "The command line").
//!
//! Exit codes follow diff(1) and `kubectl diff`: 0 success, 1 (with `--exit-code`)
//! when something would change, 2 on any error.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use netdns_guard::Engine;
use netdns_guard::certs::{self, ServiceName, in_cluster};
use netdns_guard::cluster::{CliDuration, Ctx, Scope, progress, remediate, scan};
use netdns_guard::dryrun::{self, Input, OutputFormat};
use netdns_guard::serve::tls::CertFiles;
use netdns_guard::serve::{self, Limits, ServeConfig};

/// Keeps cgo-built Go log agents off Go's cgo DNS resolver (GODEBUG=netdns=go).
#[derive(Debug, Parser)]
#[command(name = "netdns-guard", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply the mutation to manifests (files, directories, stdin) and print the result.
    ///
    /// Works as a Helm 3 post-renderer (reads stdin when no -f is given) and as a
    /// kustomize/kpt KRM function (a ResourceList in, a ResourceList out).
    #[command(name = "dry-run")]
    DryRun(DryRunArgs),

    /// Serve the mutating admission webhook over HTTPS.
    Serve(ServeArgs),

    /// Write a CA and a serving certificate for the webhook into a directory.
    Certs(CertsArgs),

    /// Report the running pods the policy targets: verdict, owner, crash evidence.
    ///
    /// Exit code 0 (with --exit-code: 1 when a pod lacks the fix), 2 on error.
    Scan(ScanArgs),

    /// Restart the owners of running pods that lack the fix, once the webhook serves.
    ///
    /// Exit code 0 when every such pod was replaced by a fixed one (or --dry-run),
    /// 1 when anything was left unfixed (skipped, timed out, failed), 2 on error or
    /// when the webhook is not serving (without --force).
    Remediate(RemediateArgs),

    /// Print the policy in another form: a native MutatingAdmissionPolicy and its
    /// binding, which make the apiserver apply the fix itself (no webhook).
    Export(ExportArgs),
}

/// Output of the cluster commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ClusterOutput {
    /// Aligned columns and a summary, for people.
    Table,
    /// One JSON document, for tools.
    Json,
}

/// Options shared by scan and remediate (named like kubectl's).
#[derive(Debug, clap::Args)]
struct ClusterArgs {
    /// Namespace to look in (default: the kubeconfig context's namespace).
    #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
    namespace: Option<String>,

    /// Look in every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,

    /// kubeconfig context (default: the current one; in a pod, its service account).
    #[arg(long)]
    context: Option<String>,

    /// Pods per list request (limit/continue); 0 lists everything in one request.
    #[arg(long, default_value_t = 500)]
    chunk_size: u32,

    /// Policy file: give the webhook's, so the verdicts match what it does.
    #[arg(long, value_name = "FILE", env = "NETDNS_GUARD_CONFIG")]
    config: Option<PathBuf>,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = ClusterOutput::Table)]
    output: ClusterOutput,
}

#[derive(Debug, clap::Args)]
struct ScanArgs {
    #[command(flatten)]
    cluster: ClusterArgs,

    /// Read the previous log of restarted agents and match the getaddrinfo crash.
    #[arg(long)]
    logs: bool,

    /// Also list pods the policy does not target that run a known agent.
    #[arg(long)]
    show_others: bool,

    /// Exit 1 when any running pod lacks the fix (like `diff` and `kubectl diff`).
    #[arg(long)]
    exit_code: bool,
}

#[derive(Debug, clap::Args)]
struct RemediateArgs {
    #[command(flatten)]
    cluster: ClusterArgs,

    /// Print the plan; change nothing.
    #[arg(long)]
    dry_run: bool,

    /// Owners restarted at once; the next starts when one completes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    max_parallel: u16,

    /// Delete pods of OnDelete DaemonSets and StatefulSets (and ReplicaSets without a
    /// Deployment) one at a time, awaiting each ready replacement.
    #[arg(long)]
    allow_delete: bool,

    /// How long one owner's rollout, or one pod's replacement, may take (90s, 5m, 1h).
    #[arg(long, default_value = "5m")]
    timeout: CliDuration,

    /// Restart even when the webhook is not installed or not serving.
    #[arg(long)]
    force: bool,

    /// The MutatingWebhookConfiguration that must be serving.
    #[arg(long, default_value = "netdns-guard", value_name = "NAME")]
    webhook_configuration: String,

    /// Wait this long for the webhook to serve before refusing (for a post-install hook).
    #[arg(long, default_value = "0s", value_name = "DURATION")]
    wait_for_webhook: CliDuration,

    /// Exit 1 when anything is left unfixed; --fail-on-unfixed=false exits 0 then
    /// (errors still exit 2), for a Helm hook that must not fail the release.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    fail_on_unfixed: bool,

    /// How often rollout status is read.
    #[arg(long, default_value = "2s", hide = true)]
    poll_interval: CliDuration,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
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

    /// Seconds a client gets to send request headers, and then the body.
    #[arg(long, default_value_t = 5)]
    read_timeout_seconds: u64,

    /// Seconds an idle keep-alive connection is kept open.
    #[arg(long, default_value_t = 90)]
    idle_timeout_seconds: u64,

    /// Seconds between checks of the certificate and policy files.
    #[arg(long, default_value_t = 2.0)]
    reload_interval_seconds: f64,

    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, default_value_t = 20)]
    grace_period_seconds: u64,

    /// Seconds to keep serving (with readiness false) after SIGTERM before the
    /// listener closes, so Service endpoints drain; for clusters without a preStop
    /// sleep.
    #[arg(long, default_value_t = 0)]
    shutdown_delay_seconds: u64,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
struct CertsArgs {
    /// The webhook's Service name.
    #[arg(long)]
    service: String,
    /// The webhook's namespace.
    #[arg(long)]
    namespace: String,
    /// Directory to write ca.crt, ca.key, tls.crt and tls.key into.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "in_cluster",
        conflicts_with = "in_cluster"
    )]
    out_dir: Option<PathBuf>,
    /// Keep the material in Secrets of --namespace instead (kubeconfig or in-cluster
    /// service account), creating, renewing and rotating as needed.
    #[arg(long)]
    in_cluster: bool,
    /// Secret holding the CA (in-cluster mode).
    #[arg(long, default_value = "netdns-guard-ca")]
    ca_secret: String,
    /// kubernetes.io/tls Secret the webhook mounts (in-cluster mode).
    #[arg(long, default_value = "netdns-guard-tls")]
    tls_secret: String,
    /// MutatingWebhookConfiguration whose caBundle is kept in step (in-cluster mode).
    #[arg(long, value_name = "NAME")]
    webhook_configuration: Option<String>,
    /// Days the serving certificate is valid (the CA: ten years).
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Renew the serving certificate when fewer days than this are left.
    #[arg(long, default_value_t = 30)]
    renew_before_days: u32,
}

#[derive(Debug, clap::Args)]
struct DryRunArgs {
    /// Manifest file or directory ('-' for stdin); repeatable. Directories are read
    /// recursively for .yaml, .yml and .json files.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    files: Vec<String>,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Yaml)]
    output: OutputFormat,

    /// Policy file (YAML). Without it the built-in defaults protect the catalog's
    /// at-risk agents with the env strategy.
    #[arg(long, value_name = "FILE", env = "NETDNS_GUARD_CONFIG")]
    config: Option<PathBuf>,

    /// Exit 1 when any object would change (like `diff` and `kubectl diff`).
    #[arg(long)]
    exit_code: bool,
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    /// A MutatingAdmissionPolicy and its MutatingAdmissionPolicyBinding (YAML).
    AdmissionPolicy,
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// What to write.
    #[arg(long, value_enum)]
    format: ExportFormat,

    /// API version of admissionregistration.k8s.io: v1 (Kubernetes 1.36+), v1beta1
    /// (1.34-1.35, feature gate) or v1alpha1 (1.32-1.33, feature gate).
    #[arg(long, default_value = "v1")]
    api_version: netdns_guard::admission_policy::ApiVersion,

    /// Policy file (YAML), as for serve and dry-run.
    #[arg(long, value_name = "FILE", env = "NETDNS_GUARD_CONFIG")]
    config: Option<PathBuf>,

    /// The install's namespace: its pods are never changed, as the webhook's own
    /// namespace is excluded from the webhook.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::DryRun(args) => dry_run(args),
        Command::Serve(args) => run_server(args),
        Command::Certs(args) => write_certs(args),
        Command::Scan(args) => run_scan(args),
        Command::Remediate(args) => run_remediate(args),
        Command::Export(args) => export(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Loads the policy file, or the defaults when none is given.
fn load_engine(config: Option<&PathBuf>) -> Result<Engine> {
    Ok(netdns_guard::policy_file::load_engine(
        config.map(PathBuf::as_path),
    )?)
}

fn export(args: ExportArgs) -> Result<ExitCode> {
    use netdns_guard::admission_policy::{self, ExportOptions};
    let engine = load_engine(args.config.as_ref())?;
    let ExportFormat::AdmissionPolicy = args.format;
    let options = ExportOptions {
        namespace: args.namespace,
        ..ExportOptions::new(args.api_version)
    };
    let exported = admission_policy::export(&engine, &options)?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(admission_policy::to_yaml(&exported).as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn dry_run(args: DryRunArgs) -> Result<ExitCode> {
    let engine = load_engine(args.config.as_ref())?;
    let inputs: Vec<Input> = if args.files.is_empty() {
        // A post-renderer gets its input on stdin without being told.
        if std::io::stdin().is_terminal() {
            return Err(dryrun::DryRunError::NoInput.into());
        }
        vec![Input::Stdin]
    } else {
        args.files.iter().map(|f| Input::parse(f)).collect()
    };
    let sources = dryrun::read_inputs(&inputs, &mut std::io::stdin().lock())?;
    let outcome = dryrun::run(&engine, &sources, args.output)?;
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(outcome.stdout.as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing to stdout")?;
    Ok(if args.exit_code && outcome.changed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn write_certs(args: CertsArgs) -> Result<ExitCode> {
    let name = ServiceName {
        service: args.service.clone(),
        namespace: args.namespace.clone(),
    };
    let Some(out_dir) = args.out_dir.clone() else {
        return certs_in_cluster(args, name);
    };
    let bundle = certs::generate(&name, args.days)?;
    certs::write_bundle(&bundle, &out_dir)?;
    println!(
        "wrote ca.crt, ca.key, tls.crt, tls.key to {} (serving name {})",
        out_dir.display(),
        name.server_name()
    );
    Ok(ExitCode::SUCCESS)
}

fn certs_in_cluster(args: CertsArgs, name: ServiceName) -> Result<ExitCode> {
    let _log = init_logging(LogFormat::Text);
    let mut settings = in_cluster::Settings::new(name, args.ca_secret, args.tls_secret);
    settings.webhook_configuration = args.webhook_configuration;
    settings.days = args.days;
    settings.renew_before_days = args.renew_before_days.min(args.days.saturating_sub(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let client = kube::Client::try_default().await.context(
            "connecting to the Kubernetes API (kubeconfig or in-cluster service account)",
        )?;
        let report = in_cluster::run(client, &settings, time::OffsetDateTime::now_utc()).await?;
        tracing::info!(?report, "certificates converged");
        Ok(ExitCode::SUCCESS)
    })
}

/// Logs to stderr through a writer thread that batches lines into few writes: one
/// line per admission would otherwise cost a system call on the request path. Lines
/// are never dropped (a full buffer slows requests instead). Keep the guard until
/// exit: dropping it flushes what is left.
fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("netdns-guard-log")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    guard
}

/// Where TLS material comes from: given files, or generated for local use.
fn cert_files(args: &ServeArgs) -> Result<CertFiles> {
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
    certs::write_bundle(&certs::generate(&name, 30)?, &dir)?;
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

fn run_server(args: ServeArgs) -> Result<ExitCode> {
    let _log = init_logging(args.log_format);
    let metrics_listen = match args.metrics_listen.as_str() {
        "off" | "" => None,
        addr => Some(
            addr.parse()
                .with_context(|| format!("--metrics-listen {addr:?}"))?,
        ),
    };
    let read_timeout = Duration::from_secs(args.read_timeout_seconds);
    let config = ServeConfig {
        listen: args.listen,
        metrics_listen,
        path: args.path.clone(),
        cert: cert_files(&args)?,
        client_ca: args.client_ca.clone(),
        policy: args.config.clone(),
        limits: Limits {
            max_body_bytes: args.max_body_bytes,
            handshake_timeout: read_timeout,
            header_timeout: read_timeout,
            body_timeout: read_timeout,
            idle_timeout: Duration::from_secs(args.idle_timeout_seconds),
            max_in_flight: args.max_in_flight.max(1),
        },
        reload_interval: Duration::from_secs_f64(args.reload_interval_seconds.max(0.05)),
        grace_period: Duration::from_secs(args.grace_period_seconds),
    };
    let shutdown_delay = args.shutdown_delay_seconds;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let server = serve::start(config).await?;
        let _ = std::io::stdout().flush();
        wait_for_signal().await?;
        tracing::info!("shutting down: readiness false, finishing in-flight requests");
        server.set_unready();
        tokio::time::sleep(Duration::from_secs(shutdown_delay)).await;
        server.shutdown();
        server.wait().await;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
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

/// A client from the kubeconfig (or the pod's service account), and the scope the
/// namespace flags select (the context's namespace when neither is given).
async fn cluster_client(args: &ClusterArgs) -> Result<(kube::Client, Scope)> {
    let config = match &args.context {
        Some(context) => {
            let options = kube::config::KubeConfigOptions {
                context: Some(context.clone()),
                ..Default::default()
            };
            kube::Config::from_kubeconfig(&options).await?
        }
        None => kube::Config::infer().await?,
    };
    let scope = match (&args.namespace, args.all_namespaces) {
        (_, true) => Scope::AllNamespaces,
        (Some(ns), false) => Scope::Namespace(ns.clone()),
        (None, false) => Scope::Namespace(config.default_namespace.clone()),
    };
    let client = kube::Client::try_from(config)?;
    Ok((client, scope))
}

fn cluster_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn print_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing to stdout")
}

/// A cluster context that reports progress on stderr, and the scope to work in.
async fn cluster_context(args: &ClusterArgs) -> Result<(Ctx, Scope)> {
    let (client, scope) = cluster_client(args)
        .await
        .context("connecting to the Kubernetes API (kubeconfig or in-cluster service account)")?;
    let ctx = Ctx::new(client).with_progress(std::sync::Arc::new(progress::Stderr::default()));
    Ok((ctx, scope))
}

fn run_scan(args: ScanArgs) -> Result<ExitCode> {
    let engine = load_engine(args.cluster.config.as_ref())?;
    cluster_runtime()?.block_on(async move {
        let (ctx, scope) = cluster_context(&args.cluster).await?;
        let options = scan::ScanOptions {
            scope,
            chunk_size: Some(args.cluster.chunk_size),
            logs: args.logs,
            show_others: args.show_others,
        };
        let report = scan::run(&ctx, &engine, &options).await?;
        print_stdout(&match args.cluster.output {
            ClusterOutput::Table => scan::render_table(&report),
            ClusterOutput::Json => scan::render_json(&report),
        })?;
        Ok(if args.exit_code && scan::anything_to_fix(&report) {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })
}

fn run_remediate(args: RemediateArgs) -> Result<ExitCode> {
    let engine = load_engine(args.cluster.config.as_ref())?;
    cluster_runtime()?.block_on(async move {
        let (ctx, scope) = cluster_context(&args.cluster).await?;
        let options = remediate::RemediateOptions {
            scope,
            chunk_size: Some(args.cluster.chunk_size),
            dry_run: args.dry_run,
            max_parallel: usize::from(args.max_parallel),
            allow_delete: args.allow_delete,
            timeout: args.timeout.0,
            force: args.force,
            webhook_configuration: args.webhook_configuration.clone(),
            wait_for_webhook: args.wait_for_webhook.0,
            poll_interval: args.poll_interval.0,
        };
        let report = remediate::run(&ctx, &engine, &options).await?;
        print_stdout(&match args.cluster.output {
            ClusterOutput::Table => remediate::render_table(&report),
            ClusterOutput::Json => remediate::render_json(&report),
        })?;
        let left = report.left_unfixed().count();
        Ok(if report.dry_run || left == 0 || !args.fail_on_unfixed {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}
