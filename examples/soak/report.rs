//! The soak's measurements of the replicas (memory, descriptors, CPU, logs) and the
//! one summary table, where every check is a row that passes or names its failure.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::events::Journal;
use crate::load::{Load, Stats};
use crate::replica::Replica;

/// Largest RSS growth allowed on a process after its warm-up.
const RSS_GROWTH_KIB: u64 = 2 * 1024;

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Time under load when read.
    under_load: Duration,
    rss_kib: u64,
    cpu: f64,
}

/// Readings per replica id, once a second while it serves.
#[derive(Clone, Default)]
pub struct Samples(Arc<Mutex<HashMap<usize, Vec<Sample>>>>);

/// RSS growth of one process after warm-up.
pub struct Growth {
    pub replica: usize,
    pub kib: i64,
}

impl Samples {
    /// The last CPU time read of replica `id`, seconds.
    pub fn last_cpu(&self, id: usize) -> Option<f64> {
        let all = self.0.lock().ok()?;
        all.get(&id)?.last().map(|s| s.cpu)
    }

    /// For every process with enough readings after `warm_up`: the median RSS of its
    /// last five readings against that of its first five.
    pub fn growth(&self, warm_up: Duration) -> Vec<Growth> {
        let Ok(all) = self.0.lock() else {
            return Vec::new();
        };
        let mut out: Vec<Growth> = all
            .iter()
            .filter_map(|(&replica, samples)| {
                let warm: Vec<u64> = samples
                    .iter()
                    .filter(|s| s.under_load >= warm_up)
                    .map(|s| s.rss_kib)
                    .collect();
                (warm.len() >= 10).then(|| Growth {
                    replica,
                    kib: median(&warm[warm.len() - 5..]) as i64 - median(&warm[..5]) as i64,
                })
            })
            .collect();
        out.sort_by_key(|g| g.replica);
        out
    }
}

fn median(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted[sorted.len() / 2]
}

/// Reads every replica that takes traffic once a second, until aborted. A replica
/// is no longer read once SIGTERM was sent to it (shutting down is not steady).
pub async fn sample(load: Arc<Load>, samples: Samples, start: Instant) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        for slot in 0..2 {
            let Some(replica) = load.pool.get(slot) else {
                continue;
            };
            if replica.term_at().is_some() {
                continue;
            }
            let (Some(rss_kib), Some(cpu)) = (replica.rss_kib(), replica.cpu_seconds()) else {
                continue;
            };
            let from = replica.started.max(start);
            if let Ok(mut all) = samples.0.lock() {
                all.entry(replica.id).or_default().push(Sample {
                    under_load: from.elapsed(),
                    rss_kib,
                    cpu,
                });
            }
        }
    }
}

/// Per replica: descriptors when it became ready and once the load has stopped
/// (waiting up to 10 s for closed connections to be reaped).
pub async fn fds_after_load(replicas: &[Arc<Replica>]) -> Vec<(usize, usize, Option<usize>)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    for replica in replicas {
        let mut now = replica.fds();
        while now.is_some_and(|n| n > replica.fds_at_start) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            now = replica.fds();
        }
        out.push((replica.id, replica.fds_at_start, now));
    }
    out
}

/// What the replicas logged that nobody asked for: panics, and errors other than
/// the refused invalid policy.
pub struct Logs {
    pub panics: usize,
    pub errors: usize,
    pub first: Option<String>,
}

pub fn scan_logs(dir: &Path, replicas: &[Arc<Replica>]) -> Logs {
    let mut logs = Logs {
        panics: 0,
        errors: 0,
        first: None,
    };
    for replica in replicas {
        let path = dir.join(format!("replica-{}.log", replica.id));
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for line in text.lines() {
            let panic = line.contains("panick");
            let error =
                line.contains("\"level\":\"ERROR\"") && !line.contains("new policy refused");
            logs.panics += usize::from(panic);
            logs.errors += usize::from(error);
            if (panic || error) && logs.first.is_none() {
                logs.first = Some(format!("replica {}: {line}", replica.id));
            }
        }
    }
    logs
}

/// Everything the summary shows.
pub struct Table<'a> {
    pub minutes: f64,
    pub binary: String,
    pub capacity: f64,
    pub rate: f64,
    pub achieved: f64,
    pub server_cores: f64,
    pub stats: &'a Stats,
    pub journal: &'a Journal,
    pub memory: Vec<Growth>,
    pub fds: Vec<(usize, usize, Option<usize>)>,
    pub logs: Logs,
}

impl Table<'_> {
    /// Prints the table; true when every check passed.
    pub fn print(&self) -> bool {
        let s = self.stats;
        let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let j = self.journal;
        let mut rows: Vec<(String, String, Option<bool>)> = Vec::new();
        let mut row =
            |what: &str, value: String, ok: Option<bool>| rows.push((what.into(), value, ok));

        row(
            "load",
            format!(
                "{:.0}/s asked ({:.0}% of {:.0}/s measured), {:.0}/s sent; servers used {:.2} cores",
                self.rate,
                crate::BUSY * 100.0,
                self.capacity,
                self.achieved,
                self.server_cores
            ),
            None,
        );
        row(
            "connections: every one taken",
            format!(
                "{} steady, {} opened in all (churn, slow clients, restarts), {} failed",
                crate::CONNECTIONS,
                n(&s.connections),
                n(&s.connect_failures)
            ),
            Some(n(&s.connect_failures) == 0),
        );
        let (sent, ok) = (n(&s.valid_sent), n(&s.valid_ok));
        row(
            "valid reviews: 200 + engine's answer",
            format!("{ok} / {sent} ({})", percent(ok, sent)),
            Some(ok == sent && sent > 0),
        );
        row(
            "malformed bodies: 400",
            format!("{} / {}", n(&s.malformed_ok), n(&s.malformed_sent)),
            Some(n(&s.malformed_ok) == n(&s.malformed_sent)),
        );
        row(
            "slow clients: answered correctly",
            format!("{} / {}", n(&s.slow_ok), n(&s.slow_sent)),
            Some(n(&s.slow_ok) == n(&s.slow_sent) && n(&s.slow_sent) > 0),
        );
        row(
            "stalled clients: refused (408)",
            format!("{} / {}", n(&s.stalled_ok), n(&s.stalled_sent)),
            Some(n(&s.stalled_ok) == n(&s.stalled_sent)),
        );
        row(
            "certificate reloads",
            format!(
                "{} by rename, {} by ..data swap; new connections see each",
                j.cert_rotations[1], j.cert_rotations[0]
            ),
            Some(j.cert_rotations.iter().all(|&c| c >= 1)),
        );
        row(
            "policy reloads",
            format!(
                "{} changes, {} invalid refused (old policy kept)",
                j.policy_changes, j.policy_refused
            ),
            Some(j.policy_changes >= 1 && j.policy_refused == 1),
        );
        let reload_problems = j
            .problems
            .iter()
            .filter(|p| {
                p.contains("counted") || p.contains("ends with") || p.contains("certificate")
            })
            .count();
        row(
            "every reload counted in /metrics",
            format!("{} checks, {} wrong", j.reload_checks, reload_problems),
            Some(reload_problems == 0 && j.reload_checks > 0),
        );
        let at_term = n(&s.at_term);
        let restarts_ok = j
            .restarts
            .iter()
            .all(|r| r.exit.is_some_and(|e| e.success()));
        row(
            "rolling restarts: exit 0 after SIGTERM",
            format!(
                "{} ({})",
                j.restarts.len(),
                j.restarts
                    .iter()
                    .map(|r| format!(
                        "{}→{} {:.1}s",
                        r.victim,
                        r.replacement,
                        r.took.as_secs_f64()
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(j.restarts.len() >= 2 && restarts_ok),
        );
        row(
            "in flight at SIGTERM: answered",
            format!(
                "{} / {at_term} (open at each signal: {})",
                n(&s.at_term_ok),
                j.restarts
                    .iter()
                    .map(|r| r.in_flight.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(n(&s.at_term_ok) == at_term && at_term >= j.restarts.len() as u64),
        );
        row(
            "sent while draining after SIGTERM: answered",
            format!("{} / {}", n(&s.after_term_ok), n(&s.after_term)),
            Some(n(&s.after_term_ok) == n(&s.after_term)),
        );
        let worst = self.memory.iter().map(|g| g.kib).max();
        row(
            "RSS growth after warm-up (< 2 MiB)",
            if self.memory.is_empty() {
                "no process served long enough".into()
            } else {
                self.memory
                    .iter()
                    .map(|g| format!("#{} {:+} KiB", g.replica, g.kib))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            Some(worst.is_some_and(|w| w < RSS_GROWTH_KIB as i64)),
        );
        let fds_ok = self
            .fds
            .iter()
            .all(|&(_, start, end)| end.is_some_and(|e| e <= start));
        row(
            "open fds back to baseline after load",
            self.fds
                .iter()
                .map(|(id, start, end)| {
                    format!(
                        "#{id} {start} → {}",
                        end.map_or("?".into(), |e| e.to_string())
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            Some(fds_ok && !self.fds.is_empty()),
        );
        row(
            "server logs: no panic, no unexpected error",
            format!("{} panics, {} errors", self.logs.panics, self.logs.errors),
            Some(self.logs.panics == 0 && self.logs.errors == 0),
        );
        let other: Vec<&String> = j.problems.iter().collect();
        row(
            "driver problems",
            other.len().to_string(),
            Some(other.is_empty()),
        );

        println!("\nsoak: {} min, {}", self.minutes, self.binary);
        let width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
        println!("| {:width$} | {:6} | value", "check", "result");
        println!("|{}|--------|------", "-".repeat(width + 2));
        let mut failed = Vec::new();
        for (what, value, ok) in &rows {
            let mark = match ok {
                Some(true) => "pass",
                Some(false) => {
                    failed.push(what.clone());
                    "FAIL"
                }
                None => "",
            };
            println!("| {what:width$} | {mark:6} | {value}");
        }
        for problem in &j.problems {
            println!("problem: {problem}");
        }
        if let Ok(failures) = s.failures.lock() {
            for failure in failures.iter() {
                println!("failed request: {failure}");
            }
        }
        if let Some(first) = &self.logs.first {
            println!("first unexpected log line: {first}");
        }
        if failed.is_empty() {
            println!("soak: PASS");
        } else {
            println!("soak: FAIL: {}", failed.join("; "));
        }
        failed.is_empty()
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".into();
    }
    format!("{:.3}%", part as f64 * 100.0 / whole as f64)
}
