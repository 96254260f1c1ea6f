//! One webhook replica: a real `netdns-guard serve` process on loopback, started
//! with the chart's flags, watched through its `/readyz` and `/metrics` and through
//! `/proc` (RSS, open file descriptors), and stopped with SIGTERM like the kubelet.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How a replica is started: the binary, the files it watches, and timings.
#[derive(Debug, Clone)]
pub struct Launch {
    pub binary: PathBuf,
    /// Holds `tls/` (the Secret-like volume), `policy.yaml` and the logs.
    pub dir: PathBuf,
    pub reload_interval: Duration,
    pub grace_period: Duration,
    /// `--shutdown-delay-seconds`: serving on after SIGTERM while endpoints drain.
    pub shutdown_delay: Duration,
}

/// A started replica process.
pub struct Replica {
    /// 1, 2, 3… in start order: names the process in the report.
    pub id: usize,
    pub pid: u32,
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub started: Instant,
    child: Mutex<Option<Child>>,
    /// Nanoseconds after the soak's start at which SIGTERM was sent; `u64::MAX`
    /// while it has not been.
    term_at: AtomicU64,
    /// Requests sent to it and not yet answered.
    pub in_flight: AtomicUsize,
    /// Open file descriptors when it became ready, before any traffic.
    pub fds_at_start: usize,
}

impl Replica {
    /// Starts replica `id` and waits until `/readyz` answers 200.
    pub async fn start(launch: &Launch, id: usize) -> Result<Replica> {
        let (port, metrics_port) = (free_port()?, free_port()?);
        let log = std::fs::File::create(launch.dir.join(format!("replica-{id}.log")))?;
        let child = Command::new(&launch.binary)
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
            .arg("--tls-cert")
            .arg(launch.dir.join("tls/tls.crt"))
            .arg("--tls-key")
            .arg(launch.dir.join("tls/tls.key"))
            .arg("--config")
            .arg(launch.dir.join("policy.yaml"))
            .args(["--log-format", "json"])
            .args([
                "--reload-interval-seconds",
                &launch.reload_interval.as_secs_f64().to_string(),
            ])
            .args([
                "--grace-period-seconds",
                &launch.grace_period.as_secs().to_string(),
            ])
            .args([
                "--shutdown-delay-seconds",
                &launch.shutdown_delay.as_secs().to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", launch.binary.display()))?;
        let pid = child.id();
        let metrics_addr: SocketAddr = ([127, 0, 0, 1], metrics_port).into();
        let started = Instant::now();
        let mut replica = Replica {
            id,
            pid,
            addr: ([127, 0, 0, 1], port).into(),
            metrics_addr,
            started,
            child: Mutex::new(Some(child)),
            term_at: AtomicU64::new(u64::MAX),
            in_flight: AtomicUsize::new(0),
            fds_at_start: 0,
        };
        while !matches!(get(metrics_addr, "/readyz").await, Ok((200, _))) {
            if let Some(status) = replica.try_exit() {
                bail!("replica {id} exited at start ({status}); see replica-{id}.log");
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("replica {id} not ready after 60 s; see replica-{id}.log");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        replica.fds_at_start = replica.fds().unwrap_or(0);
        Ok(replica)
    }

    /// Resident memory, KiB (`VmRSS`).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Open file descriptors.
    pub fn fds(&self) -> Option<usize> {
        Some(
            std::fs::read_dir(format!("/proc/{}/fd", self.pid))
                .ok()?
                .count(),
        )
    }

    /// CPU time used so far (user + system), from `/proc/PID/stat`.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = stat.get(stat.rfind(')')? + 2..)?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Some(ticks as f64 / per_second.max(1) as f64)
    }

    /// When SIGTERM was sent, in nanoseconds after `origin`.
    pub fn term_at(&self) -> Option<u64> {
        match self.term_at.load(Ordering::SeqCst) {
            u64::MAX => None,
            at => Some(at),
        }
    }

    /// Sends `signal` (SIGTERM, or SIGKILL to show the soak notices lost requests),
    /// noting the time first so that requests started before it are known.
    pub fn signal(&self, origin: Instant, signal: libc::c_int) -> Result<()> {
        self.term_at
            .store(origin.elapsed().as_nanos() as u64, Ordering::SeqCst);
        let pid = libc::pid_t::try_from(self.pid)?;
        // SAFETY: kill has no memory-safety preconditions; pid is our own child,
        // not yet reaped (wait happens only in `wait_exit`), so it names no other
        // process.
        if unsafe { libc::kill(pid, signal) } != 0 {
            bail!("kill {pid}: {}", std::io::Error::last_os_error());
        }
        Ok(())
    }

    fn try_exit(&self) -> Option<ExitStatus> {
        let mut child = self.child.lock().ok()?;
        child.as_mut()?.try_wait().ok().flatten()
    }

    /// Waits for the process to end, at most `limit`; `None` if it did not (it is
    /// then killed).
    pub async fn wait_exit(&self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            if Instant::now() > deadline {
                if let Ok(mut child) = self.child.lock()
                    && let Some(child) = child.as_mut()
                {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The current `/metrics` text.
    pub async fn metrics(&self) -> Result<String> {
        match get(self.metrics_addr, "/metrics").await? {
            (200, text) => Ok(text),
            (status, _) => bail!("/metrics answered {status}"),
        }
    }
}

impl Drop for Replica {
    /// A soak that stops early leaves no server behind.
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock()
            && let Some(mut child) = child.take()
            && child.try_wait().ok().flatten().is_none()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The value of one counter series in metrics `text` (0 when absent).
pub fn counter(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// A loopback port free now (the kernel's pick; the process binds it right after).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// GETs `path` over plain HTTP/1.1 on a connection of its own.
pub async fn get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    let work = async {
        let tcp = TcpStream::connect(addr).await?;
        let (mut sender, connection) = http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(connection);
        let request = Request::get(path)
            .header("host", "localhost")
            .body(Empty::<Bytes>::new())?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .context("timed out")?
}

/// The directory a replica's files live in.
pub fn tls_dir(dir: &Path) -> PathBuf {
    dir.join("tls")
}
