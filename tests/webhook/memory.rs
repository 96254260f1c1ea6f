//! Memory under a real limit: the real binary in a memory cgroup of the chart's
//! default limit (128 MiB), sent 64 concurrent ~4 MiB reviews twice over while a
//! stream of ordinary reviews goes on. It must not be OOM-killed, every ordinary
//! review must be answered with its patch within the apiserver's timeout, and RSS
//! must come back near idle once the burst is over.
//!
//! Needs root and the cgroup v1 memory controller (`/sys/fs/cgroup/memory`). Without
//! them the test says so and passes, unless NETDNS_GUARD_REQUIRE_TOOLS=1 (the test
//! command), where it fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::*;

/// The chart's `resources.limits.memory`.
const LIMIT_BYTES: u64 = 128 * 1024 * 1024;

/// A memory cgroup of its own, removed on drop.
struct MemoryCgroup(PathBuf);

impl MemoryCgroup {
    fn create(tag: &str) -> Option<Self> {
        let root = PathBuf::from("/sys/fs/cgroup/memory");
        if !root.join("memory.limit_in_bytes").exists() {
            return None;
        }
        let dir = root.join(format!("netdns-guard-test-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        std::fs::write(dir.join("memory.limit_in_bytes"), LIMIT_BYTES.to_string()).ok()?;
        Some(MemoryCgroup(dir))
    }

    fn oom_kills(&self) -> u64 {
        let control = std::fs::read_to_string(self.0.join("memory.oom_control")).unwrap();
        control
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .map_or(0, |n| n.trim().parse().unwrap())
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .ok()?;
    Some(kib / 1024)
}

/// A pod review of about `env_entries` × 220 bytes.
fn review_with_env(uid: &str, env_entries: usize) -> Vec<u8> {
    let env: Vec<_> = (0..env_entries)
        .map(|i| json!({ "name": format!("V{i}"), "value": "x".repeat(200) }))
        .collect();
    envelope(
        "admission.k8s.io/v1",
        json!({
            "uid": uid,
            "kind": { "group": "", "version": "v1", "kind": "Pod" },
            "resource": { "group": "", "version": "v1", "resource": "pods" },
            "operation": "CREATE", "namespace": "logging",
            "object": { "apiVersion": "v1", "kind": "Pod",
                "metadata": { "generateName": "agent-" },
                "spec": { "containers": [{ "name": "agent", "image": "loggieio/loggie:v1.5.0", "env": env }] } },
        }),
    )
}

/// Starts the binary inside `cgroup` (the shell joins it, then execs the server).
fn spawn_in(cgroup: &MemoryCgroup, dir: &std::path::Path, port: u16) -> Child {
    let script = format!(
        "echo $$ > {}/cgroup.procs && exec \"$0\" serve --self-signed --self-signed-dir {} \
         --listen 127.0.0.1:{port} --metrics-listen 127.0.0.1:0",
        cgroup.0.display(),
        dir.display()
    );
    Command::new("sh")
        .args(["-c", &script, env!("CARGO_BIN_EXE_netdns-guard")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_large_reviews_stays_inside_the_charts_memory_limit() {
    let Some(cgroup) = MemoryCgroup::create("memory") else {
        let message = "no writable cgroup v1 memory controller (needs root)";
        crate::support::missing_tool::skip_or_fail(message);
        return;
    };
    let dir = crate::support::scratch::scratch_dir("memory");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = spawn_in(&cgroup, dir.path(), port);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let ca_path = dir.path().join("ca.crt");
    let mut ca = None;
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(&ca_path)
            && ApiserverConn::open(addr, &text).await.is_ok()
        {
            ca = Some(text);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ca = Arc::new(ca.expect("server never came up"));
    let pid = child.id();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_mib(pid).unwrap();

    // Ordinary reviews all along, each on a fresh connection as a new apiserver
    // connection would be, each answered with its patch within the timeout.
    let stop = Arc::new(AtomicBool::new(false));
    let ordinary = {
        let (stop, ca) = (stop.clone(), ca.clone());
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            let mut answered = 0;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let mut conn = ApiserverConn::open(addr, &ca).await.unwrap();
                let (status, body) = conn.post(review_with_env("small", 3)).await.unwrap();
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                assert!(decode(&body).1.is_some(), "no patch for an ordinary review");
                slowest = slowest.max(started.elapsed());
                answered += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (answered, slowest)
        })
    };

    let big = Arc::new(review_with_env("big", 17_500));
    assert!(big.len() > 3_800_000 && big.len() < 4 * 1024 * 1024);
    let mut peak = idle;
    let mut outcomes = Vec::new();
    for _round in 0..2 {
        let sends: Vec<_> = (0..64)
            .map(|_| {
                let (big, ca) = (big.clone(), ca.clone());
                tokio::spawn(async move {
                    let mut conn = ApiserverConn::open(addr, &ca).await.ok()?;
                    conn.post(big.to_vec()).await.ok().map(|(status, _)| status)
                })
            })
            .collect();
        while sends.iter().any(|s| !s.is_finished()) {
            peak = peak.max(rss_mib(pid).unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for send in sends {
            outcomes.push(send.await.unwrap());
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (answered, slowest) = ordinary.await.unwrap();

    assert_eq!(cgroup.oom_kills(), 0, "the server was OOM-killed");
    assert!(child.try_wait().unwrap().is_none(), "the server died");
    // A large review is answered (200) or refused while the budget is full (429,
    // or the connection closed before its body was read): never anything else.
    let accepted = outcomes.iter().filter(|o| **o == Some(200)).count();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Some(200) | Some(429) | None)),
        "{outcomes:?}"
    );
    assert!(accepted > 0, "no large review was ever answered");
    assert!(answered > 0);
    assert!(
        slowest < Duration::from_secs(5),
        "slowest ordinary review: {slowest:?}"
    );

    let mut settled = u64::MAX;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        settled = rss_mib(pid).unwrap();
        if settled <= idle + 8 {
            break;
        }
    }
    eprintln!(
        "RSS MiB: idle {idle}, peak {peak}, settled {settled}; large reviews answered \
         {accepted}/{}; ordinary reviews {answered}, slowest {slowest:?}",
        outcomes.len()
    );
    assert!(peak < 128, "peak RSS {peak} MiB");
    assert!(
        settled <= idle + 8,
        "RSS {settled} MiB did not come back near idle {idle} MiB"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
