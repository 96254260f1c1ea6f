//! The webhook's endurance run (ARCHITECTURE.md, "The webhook server", "Endurance"):
//! two real `netdns-guard serve` replicas on loopback under a steady load of real
//! reviews for MINUTES, while the serving certificate and the policy are replaced
//! and the replicas are rolled one at a time. It prints one summary table and exits
//! 1 when a check fails, naming it. `scripts/soak.sh` builds and runs it.
//!
//! ```text
//! cargo run --release --example soak -- --binary target/release/netdns-guard \
//!     --minutes 10 [--fixtures ../shared/fixtures/admissionreviews] [--break kill|expectation]
//! ```
//!
//! It is an example rather than a `[[bin]]` so that it is built and linted with
//! the tests (`cargo test --all-targets` compiles it), may use the dev-dependencies
//! (hyper's client), and ships in no package or image.

mod bodies;
mod events;
mod load;
mod replica;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use netdns_guard::certs;

use events::{Break, Driver, Policies, Schedule};
use load::{Load, PolicyEpochs, Pool};
use replica::{Launch, Replica};

/// Steady connections, as the issue asks (the apiserver keeps up to 25 idle per
/// host, more under concurrency).
pub const CONNECTIONS: usize = 32;

/// The share of the measured capacity the load asks for.
const BUSY: f64 = 0.7;

/// The server's read timeout (its default): stalled clients are refused after it.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The command line.
struct Args {
    binary: PathBuf,
    minutes: f64,
    fixtures: Option<PathBuf>,
    work_dir: Option<PathBuf>,
    breakage: Option<Break>,
}

fn args() -> Result<Args> {
    let mut args = Args {
        binary: PathBuf::from("target/release/netdns-guard"),
        minutes: 10.0,
        fixtures: None,
        work_dir: None,
        breakage: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--binary" => args.binary = value()?.into(),
            "--minutes" => args.minutes = value()?.parse().context("--minutes")?,
            "--fixtures" => args.fixtures = Some(value()?.into()),
            "--work-dir" => args.work_dir = Some(value()?.into()),
            "--break" => {
                args.breakage = Some(match value()?.as_str() {
                    "kill" => Break::Kill,
                    "expectation" => Break::Expectation,
                    other => bail!("--break {other}: kill or expectation"),
                })
            }
            other => bail!(
                "unknown argument {other:?}; usage: soak --binary PATH [--minutes N] [--fixtures DIR] [--work-dir DIR] [--break kill|expectation]"
            ),
        }
    }
    if !args.minutes.is_finite() || args.minutes <= 0.0 {
        bail!("--minutes must be positive");
    }
    Ok(args)
}

fn main() -> ExitCode {
    let result = args().and_then(|args| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(soak(args))
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("soak: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The whole run; `Ok(false)` when a check failed.
async fn soak(args: Args) -> Result<bool> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let schedule = Schedule::for_minutes(args.minutes);
    let scratch = tempfile::Builder::new()
        .prefix("netdns-guard-soak-")
        .tempdir()?;
    let dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| scratch.path().to_owned());
    std::fs::create_dir_all(replica::tls_dir(&dir))?;

    // Policies and their engines; the expected answers of every body under each.
    let example = std::fs::read_to_string(repo.join("examples/policy.yaml"))?;
    let policies = Policies::from_example(&example);
    let mut engines = Vec::new();
    for (i, text) in policies.valid.iter().enumerate() {
        let path = dir.join(format!("policy-{i}.yaml"));
        std::fs::write(&path, text)?;
        engines.push(
            netdns_guard::policy_file::load_engine(Some(&path))
                .map_err(|e| anyhow::anyhow!("{}: {}", e.path.display(), e.message))?,
        );
    }
    let bad = dir.join("policy-invalid.yaml");
    std::fs::write(&bad, &policies.invalid)?;
    if netdns_guard::policy_file::load_engine(Some(&bad)).is_ok() {
        bail!("the invalid policy loads; the soak could not see it refused");
    }
    let mut cases = bodies::load(&repo, args.fixtures.as_deref(), &engines)?;
    if args.breakage == Some(Break::Expectation)
        && let Some(case) = cases.iter_mut().find(|c| c.patched)
    {
        case.corrupt(0);
        case.corrupt(1);
    }
    std::fs::write(dir.join("policy.yaml"), &policies.valid[0])?;

    // One CA for the run, as the webhook's caBundle; the serving certificate renews.
    let ca = certs::new_ca(&events::service(), time::OffsetDateTime::now_utc(), 3650)?;
    let serving =
        certs::issue_serving(&ca, &events::service(), time::OffsetDateTime::now_utc(), 7)?;
    events::swap_data(&replica::tls_dir(&dir), &serving, 0)?;

    let launch = Launch {
        binary: args.binary.clone(),
        dir: dir.clone(),
        reload_interval: (schedule.cert / 10)
            .clamp(Duration::from_millis(200), Duration::from_secs(2)),
        grace_period: Duration::from_secs(20),
        shutdown_delay: schedule.drain,
    };
    let first = [
        Arc::new(Replica::start(&launch, 1).await?),
        Arc::new(Replica::start(&launch, 2).await?),
    ];
    let origin = Instant::now();
    let load = Arc::new(Load::new(
        cases,
        Pool::new(first.clone()),
        PolicyEpochs::new(0),
        load::client_tls(&ca.cert_pem)?,
        origin,
        READ_TIMEOUT,
    ));
    print_setup(&args, &schedule, &load, &dir);

    let clients: Vec<_> = (0..CONNECTIONS as u64)
        .map(|i| tokio::spawn(load.clone().client(i)))
        .collect();
    let capacity = measure_capacity(&load, &schedule).await;
    let rate = capacity * BUSY;
    load.interval_ns.store(
        (CONNECTIONS as f64 / rate.max(1.0) * 1e9) as u64,
        Ordering::Relaxed,
    );
    load.mixed.store(true, Ordering::Relaxed);
    eprintln!(
        "soak: capacity {capacity:.0} reviews/s; steady load {rate:.0}/s on {CONNECTIONS} connections for {:?}",
        schedule.total
    );

    let start = Instant::now();
    let cpu_before: f64 = first.iter().filter_map(|r| r.cpu_seconds()).sum();
    let sent_before = load.stats.valid_sent.load(Ordering::Relaxed);
    let mut driver = Driver::new(
        load.clone(),
        launch,
        schedule,
        args.breakage,
        policies,
        ca.clone(),
        events::der(&serving.cert_pem)?,
        first.to_vec(),
    );
    let samples = report::Samples::default();
    let sampler = tokio::spawn(report::sample(load.clone(), samples.clone(), start));
    driver.run(start).await;
    tokio::time::sleep_until((start + schedule.total).into()).await;
    let elapsed = start.elapsed();
    let sent = load.stats.valid_sent.load(Ordering::Relaxed) - sent_before;

    // The end: last reload counts, the load stopped, descriptors back, shut down.
    let live: Vec<Arc<Replica>> = (0..2).filter_map(|s| load.pool.get(s)).collect();
    for replica in &live {
        driver.final_reload_check(replica).await;
    }
    let cpu: f64 = driver
        .replicas
        .iter()
        .filter_map(|r| r.cpu_seconds().or_else(|| samples.last_cpu(r.id)))
        .sum();
    load.stop.store(true, Ordering::SeqCst);
    sampler.abort();
    for client in clients {
        let _ = client.await;
    }
    wait_for_slow_clients(&load).await;
    let fds = report::fds_after_load(&live).await;
    for replica in &live {
        replica.signal(load.origin, libc::SIGTERM)?;
        match replica.wait_exit(Duration::from_secs(30)).await {
            Some(status) if status.success() => {}
            other => driver
                .journal
                .problems
                .push(format!("replica {} at the end: {other:?}", replica.id)),
        }
    }

    let table = report::Table {
        minutes: args.minutes,
        binary: args.binary.display().to_string(),
        capacity,
        rate,
        achieved: sent as f64 / elapsed.as_secs_f64(),
        server_cores: (cpu - cpu_before) / elapsed.as_secs_f64(),
        stats: &load.stats,
        journal: &driver.journal,
        memory: samples.growth(schedule.warm_up),
        fds,
        logs: report::scan_logs(&dir, &driver.replicas),
    };
    let passed = table.print();
    if passed {
        if args.work_dir.is_none() {
            drop(scratch);
        }
    } else {
        // Keep the replicas' logs for whoever reads the failure.
        let kept = scratch.keep();
        eprintln!("soak: replica logs kept in {}", kept.display());
    }
    Ok(passed)
}

fn print_setup(args: &Args, schedule: &Schedule, load: &Load, dir: &std::path::Path) {
    let patched = load.cases.iter().filter(|c| c.patched).count();
    eprintln!(
        "soak: {} reviews ({patched} patched by some policy){}; work dir {}",
        load.cases.len(),
        if args.fixtures.is_some() {
            ", shared fixtures included"
        } else {
            ""
        },
        dir.display()
    );
    eprintln!(
        "soak: certificate every {:?}, policy every {:?}, rolling restart every {:?} (shutdown delay {:?})",
        schedule.cert, schedule.policy, schedule.restart, schedule.drain
    );
}

/// Requests per second the two replicas answer with every client sending back to
/// back: a few seconds of valid reviews only. The load then asks for [`BUSY`] of it,
/// so "70% busy" holds on a slower or busier machine too.
async fn measure_capacity(load: &Load, schedule: &Schedule) -> f64 {
    let settle = Duration::from_secs(1);
    let measure = (schedule.total / 20).clamp(Duration::from_secs(3), Duration::from_secs(10));
    tokio::time::sleep(settle).await;
    let before = load.stats.valid_ok.load(Ordering::Relaxed);
    let began = Instant::now();
    tokio::time::sleep(measure).await;
    let done = load.stats.valid_ok.load(Ordering::Relaxed) - before;
    done as f64 / began.elapsed().as_secs_f64()
}

/// Slow clients still open when the load stops finish within their timeouts.
async fn wait_for_slow_clients(load: &Load) {
    let deadline = Instant::now() + READ_TIMEOUT + Duration::from_secs(15);
    while load.slow_clients_open() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
