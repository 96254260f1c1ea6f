//! The events of the soak, in one sequential driver so that no two overlap: the
//! serving certificate replaced (alternately by renaming files inside the Secret
//! volume's current directory and by the kubelet's `..data` symlink swap), the
//! policy file replaced (switching between two valid policies, once an invalid one
//! that must be refused), and a rolling restart of one replica.
//!
//! After each change the driver waits until every live replica has counted it in
//! `/metrics`, and keeps, per process, the counts it must show: a reload missed or
//! counted twice is a failure.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use netdns_guard::certs::{self, KeyedCert, ServiceName};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::load::Load;
use crate::replica::{self, Launch, Replica};

/// When each kind of event comes back, scaled to the soak's length.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub total: Duration,
    pub cert: Duration,
    pub policy: Duration,
    pub restart: Duration,
    /// `--shutdown-delay-seconds` of the replicas: after SIGTERM they serve on
    /// (readiness false) while the Service drops them (whole seconds).
    pub drain: Duration,
    /// How long after SIGTERM the Service stops sending new connections: the
    /// endpoint update is not instant.
    pub endpoint_lag: Duration,
    /// Memory and descriptors are compared only after this much load on a process.
    pub warm_up: Duration,
}

impl Schedule {
    /// The issue's intervals (30 s, 45 s, 2 min) for ten minutes or more; shorter
    /// soaks shrink them in proportion, so each event still happens several times.
    pub fn for_minutes(minutes: f64) -> Self {
        let scale = (minutes / 10.0).min(1.0);
        let s = |seconds: f64| Duration::from_secs_f64(seconds * scale);
        Schedule {
            total: Duration::from_secs_f64(minutes * 60.0),
            cert: s(30.0),
            policy: s(45.0),
            restart: s(120.0),
            drain: Duration::from_secs((5.0 * scale).ceil().max(1.0) as u64),
            endpoint_lag: s(1.0).clamp(Duration::from_millis(100), Duration::from_secs(1)),
            warm_up: s(30.0).max(Duration::from_secs(8)),
        }
    }
}

/// The reloads one replica process must have counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reloads {
    pub tls_ok: u64,
    pub policy_ok: u64,
    pub policy_failed: u64,
}

impl Reloads {
    fn from_metrics(text: &str) -> Self {
        Reloads {
            tls_ok: replica::counter(text, "netdns_guard_tls_reloads_total{result=\"success\"}"),
            policy_ok: replica::counter(
                text,
                "netdns_guard_policy_reloads_total{result=\"success\"}",
            ),
            policy_failed: replica::counter(
                text,
                "netdns_guard_policy_reloads_total{result=\"failure\"}",
            ),
        }
    }

    /// Certificate reloads that failed: none should.
    fn tls_failed(text: &str) -> u64 {
        replica::counter(text, "netdns_guard_tls_reloads_total{result=\"failure\"}")
    }
}

/// One rolling restart, as the report shows it.
#[derive(Debug)]
pub struct Restart {
    pub victim: usize,
    pub replacement: usize,
    /// Requests open on the victim when SIGTERM was sent.
    pub in_flight: usize,
    /// Exit status, or `None` if it did not exit within its grace period.
    pub exit: Option<std::process::ExitStatus>,
    pub took: Duration,
}

/// What the driver saw: counts and every problem, named.
#[derive(Debug, Default)]
pub struct Journal {
    pub cert_rotations: [u64; 2],
    pub policy_changes: u64,
    pub policy_refused: u64,
    pub reload_checks: u64,
    pub restarts: Vec<Restart>,
    pub problems: Vec<String>,
}

/// How to break the soak on purpose, to show it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// SIGKILL instead of SIGTERM: requests in flight are dropped.
    Kill,
    /// One expected answer made wrong.
    Expectation,
}

/// The policies the soak switches between (`examples/policy.yaml` with each
/// strategy it can give a pod), and one that must be refused.
pub struct Policies {
    pub valid: [String; 2],
    pub invalid: String,
}

impl Policies {
    pub fn from_example(text: &str) -> Self {
        Policies {
            valid: [
                text.to_owned(),
                text.replace("\nstrategy: env\n", "\nstrategy: both\n"),
            ],
            invalid: text.replace("\nstrategy: env\n", "\nstrategy: cgo-please\n"),
        }
    }
}

/// The driver's state.
pub struct Driver {
    pub load: Arc<Load>,
    pub launch: Launch,
    pub schedule: Schedule,
    pub breakage: Option<Break>,
    pub policies: Policies,
    pub ca: KeyedCert,
    /// The serving certificate now in the files (DER).
    pub serving: Vec<u8>,
    /// Which valid policy is in the file.
    pub policy: usize,
    /// Reloads each live process must show, by replica id.
    pub expected: HashMap<usize, Reloads>,
    pub next_id: usize,
    pub journal: Journal,
    /// Every replica ever started, for the report's memory figures.
    pub replicas: Vec<Arc<Replica>>,
    generation: usize,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        load: Arc<Load>,
        launch: Launch,
        schedule: Schedule,
        breakage: Option<Break>,
        policies: Policies,
        ca: KeyedCert,
        serving: Vec<u8>,
        replicas: Vec<Arc<Replica>>,
    ) -> Self {
        Driver {
            expected: replicas
                .iter()
                .map(|r| (r.id, Reloads::default()))
                .collect(),
            next_id: replicas.len() + 1,
            load,
            launch,
            schedule,
            breakage,
            policies,
            ca,
            serving,
            policy: 0,
            journal: Journal::default(),
            replicas,
            generation: 0,
        }
    }

    /// Runs every event due before `schedule.total` from `start`.
    pub async fn run(&mut self, start: Instant) {
        let s = self.schedule;
        let (mut cert, mut policy, mut restart) = (s.cert, s.policy, s.restart);
        let mut counts = (0usize, 0usize, 0usize);
        loop {
            let due = cert.min(policy).min(restart);
            if due >= s.total {
                return;
            }
            tokio::time::sleep_until((start + due).into()).await;
            let outcome = if due == cert {
                cert += s.cert;
                counts.0 += 1;
                self.rotate_cert(counts.0).await
            } else if due == policy {
                policy += s.policy;
                counts.1 += 1;
                self.change_policy(counts.1).await
            } else {
                restart += s.restart;
                counts.2 += 1;
                self.restart((counts.2 - 1) % 2).await
            };
            if let Err(e) = outcome {
                self.journal.problems.push(format!("{e:#}"));
            }
        }
    }

    fn live(&self) -> Vec<Arc<Replica>> {
        (0..2).filter_map(|slot| self.load.pool.get(slot)).collect()
    }

    /// A new serving certificate from the same CA, written by rename (odd `n`) or by
    /// a `..data` swap (even `n`); then every replica must count it and serve it.
    async fn rotate_cert(&mut self, n: usize) -> Result<()> {
        let now = time::OffsetDateTime::now_utc();
        let serving = certs::issue_serving(&self.ca, &service(), now, 7)?;
        let dir = replica::tls_dir(&self.launch.dir);
        if n % 2 == 1 {
            // Inside the directory `..data` points at, key first: what a tool that
            // rewrites files in place does.
            let data = dir.join("..data");
            certs::write_atomically(&data.join("tls.key"), serving.key_pem.as_bytes(), true)?;
            certs::write_atomically(&data.join("tls.crt"), serving.cert_pem.as_bytes(), false)?;
        } else {
            self.generation += 1;
            swap_data(&dir, &serving, self.generation)?;
        }
        self.journal.cert_rotations[n % 2] += 1;
        self.serving = der(&serving.cert_pem)?;
        for replica in self.live() {
            self.expect(replica.id, |r| r.tls_ok += 1);
        }
        self.confirm("certificate").await;
        for replica in self.live() {
            match crate::load::presented_cert(&replica, &self.load.tls).await {
                Ok(cert) if cert == self.serving => {}
                Ok(_) => self.journal.problems.push(format!(
                    "certificate {n}: replica {} still serves the old one to new connections",
                    replica.id
                )),
                Err(e) => self.journal.problems.push(format!(
                    "certificate {n}: connecting to replica {}: {e:#}",
                    replica.id
                )),
            }
        }
        Ok(())
    }

    /// The other valid policy, or (the second time) an invalid one that every
    /// replica must refuse while answering with the old one, then the old one back.
    async fn change_policy(&mut self, n: usize) -> Result<()> {
        let path = self.launch.dir.join("policy.yaml");
        if n == 2 {
            certs::write_atomically(&path, self.policies.invalid.as_bytes(), false)?;
            for replica in self.live() {
                self.expect(replica.id, |r| r.policy_failed += 1);
            }
            self.confirm("invalid policy").await;
            self.journal.policy_refused += 1;
            // Answers keep coming from the old policy (the epochs did not change).
            tokio::time::sleep(self.launch.reload_interval * 2).await;
            certs::write_atomically(&path, self.policies.valid[self.policy].as_bytes(), false)?;
            for replica in self.live() {
                self.expect(replica.id, |r| r.policy_ok += 1);
            }
            self.confirm("policy restored").await;
            return Ok(());
        }
        let (old, new) = (self.policy, 1 - self.policy);
        self.load.policies.open((1 << old) | (1 << new));
        certs::write_atomically(&path, self.policies.valid[new].as_bytes(), false)?;
        self.policy = new;
        for replica in self.live() {
            self.expect(replica.id, |r| r.policy_ok += 1);
        }
        self.confirm("policy").await;
        // Every replica answers with the new one from here on.
        self.load.policies.open(1 << new);
        self.journal.policy_changes += 1;
        Ok(())
    }

    fn expect(&mut self, id: usize, change: impl FnOnce(&mut Reloads)) {
        change(self.expected.entry(id).or_default());
    }

    /// Waits until every live replica shows the reloads it must; a replica that
    /// does not within the time several reload intervals take is a problem.
    async fn confirm(&mut self, what: &str) {
        let limit = (self.launch.reload_interval * 20).max(Duration::from_secs(15));
        for replica in self.live() {
            let want = self.expected.get(&replica.id).copied().unwrap_or_default();
            let deadline = Instant::now() + limit;
            let mut seen = Reloads::default();
            while Instant::now() < deadline {
                if let Ok(text) = replica.metrics().await {
                    seen = Reloads::from_metrics(&text);
                    if seen == want {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            self.journal.reload_checks += 1;
            if seen != want {
                self.journal.problems.push(format!(
                    "{what}: replica {} counted {seen:?}, expected {want:?}",
                    replica.id
                ));
            }
        }
    }

    /// The reload counts of `replica` as a last check, with no failed certificate
    /// reload.
    pub async fn final_reload_check(&mut self, replica: &Replica) {
        let want = self.expected.get(&replica.id).copied().unwrap_or_default();
        match replica.metrics().await {
            Ok(text) => {
                let seen = Reloads::from_metrics(&text);
                let tls_failed = Reloads::tls_failed(&text);
                if seen != want || tls_failed != 0 {
                    self.journal.problems.push(format!(
                        "replica {} ends with {seen:?} and {tls_failed} failed certificate reloads, expected {want:?} and 0",
                        replica.id
                    ));
                }
            }
            Err(e) => self
                .journal
                .problems
                .push(format!("replica {}: /metrics: {e:#}", replica.id)),
        }
    }

    /// A rolling update of the replica in `slot`: a slow request still arriving,
    /// SIGTERM, out of the Service a moment later (as endpoints follow), the drain
    /// and exit, a new process in.
    async fn restart(&mut self, slot: usize) -> Result<()> {
        let Some(victim) = self.load.pool.get(slot) else {
            return Ok(());
        };
        self.final_reload_check(&victim).await;
        // A request whose body is still arriving when SIGTERM lands must be answered.
        let n = u64::MAX / 2 + self.journal.restarts.len() as u64;
        let case = (crate::load::mix(n) % self.load.cases.len() as u64) as usize;
        self.load.clone().spawn_slow(n, case, Some(victim.clone()));
        tokio::time::sleep(Duration::from_millis(150)).await;
        let signal = match self.breakage {
            Some(Break::Kill) => libc::SIGKILL,
            _ => libc::SIGTERM,
        };
        let began = Instant::now();
        let in_flight = victim.in_flight.load(Ordering::SeqCst);
        victim.signal(self.load.origin, signal)?;
        tokio::time::sleep(self.schedule.endpoint_lag).await;
        self.load.pool.drain(slot);
        let exit = victim
            .wait_exit(self.launch.grace_period + Duration::from_secs(10))
            .await;
        let took = began.elapsed();
        let id = self.next_id;
        self.next_id += 1;
        let replacement = Arc::new(Replica::start(&self.launch, id).await?);
        self.expected.insert(id, Reloads::default());
        self.replicas.push(replacement.clone());
        self.load.pool.replace(slot, replacement);
        if exit.is_none_or(|status| !status.success()) {
            self.journal.problems.push(format!(
                "replica {} after SIGTERM: {}",
                victim.id,
                exit.map_or("did not exit within its grace period".into(), |s| s
                    .to_string())
            ));
        }
        self.journal.restarts.push(Restart {
            victim: victim.id,
            replacement: id,
            in_flight,
            exit,
            took,
        });
        Ok(())
    }
}

/// The Service name the certificates are for.
pub fn service() -> ServiceName {
    ServiceName {
        service: "netdns-guard".into(),
        namespace: "netdns-guard".into(),
    }
}

/// DER of the first certificate in `pem`.
pub fn der(pem: &str) -> Result<Vec<u8>> {
    Ok(CertificateDer::from_pem_slice(pem.as_bytes())
        .context("serving certificate PEM")?
        .to_vec())
}

/// What the kubelet does to a Secret volume: the files are symlinks through
/// `..data`, which is atomically re-pointed at a new directory; the old one goes.
pub fn swap_data(dir: &Path, serving: &KeyedCert, generation: usize) -> Result<()> {
    let name = format!("..soak_{generation:04}");
    let target = dir.join(&name);
    std::fs::create_dir_all(&target)?;
    std::fs::write(target.join("tls.crt"), &serving.cert_pem)?;
    std::fs::write(target.join("tls.key"), &serving.key_pem)?;
    let old = std::fs::read_link(dir.join("..data")).ok();
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&name, &tmp)?;
    std::fs::rename(&tmp, dir.join("..data"))?;
    for file in ["tls.crt", "tls.key"] {
        let link = dir.join(file);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(PathBuf::from("..data").join(file), &link)?;
        }
    }
    if let Some(old) = old {
        std::fs::remove_dir_all(dir.join(old))?;
    }
    Ok(())
}
