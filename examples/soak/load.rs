//! The load: clients that talk like kube-apiserver (TLS with the webhook's CA and
//! server name, ALPN `http/1.1`, keep-alive, one request in flight per connection),
//! each paced to a fixed share of the rate, and every answer checked.
//!
//! Per scheduled request: 1% malformed bodies (answer must be 400), 1% slow clients
//! on connections of their own (most trickle their body within the read timeout and
//! must be answered correctly, some stall and must be refused), the rest real
//! reviews whose answer must equal the engine's byte for byte. Connections are
//! closed now and then (churn) and each new one goes to the next replica, skipping a
//! replica that is being rolled, as a Service does once its endpoint is removed.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use tokio_rustls::TlsConnector;

use crate::bodies::{self, Case};
use crate::replica::Replica;

/// The name kube-apiserver verifies: `<service>.<namespace>.svc`.
pub const SERVER_NAME: &str = "netdns-guard.netdns-guard.svc";

/// How long a client waits for an answer: the `timeout=10s` the apiserver sends.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Requests a connection may fall behind its schedule and still make up.
const CATCH_UP: u32 = 4;

/// At most this many slow clients at once, so their number stays bounded whatever
/// the rate.
const MAX_SLOW_CLIENTS: usize = 16;

/// Client TLS like the apiserver's: trust only `ca_pem`, ALPN `http/1.1`, no session
/// resumption (every connection sees the certificate being served now).
pub fn client_tls(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// A TLS connection to `replica`, handshake done; also returns the DER of the
/// certificate it presented.
async fn connect<B>(
    replica: &Replica,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<(http1::SendRequest<B>, Vec<u8>)>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tcp = TcpStream::connect(replica.addr).await?;
    tcp.set_nodelay(true)?;
    let stream = TlsConnector::from(tls.clone())
        .connect(ServerName::try_from(SERVER_NAME)?, tcp)
        .await?;
    let peer = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| cert.to_vec())
        .unwrap_or_default();
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok((sender, peer))
}

/// The certificate `replica` presents to a new connection now.
pub async fn presented_cert(replica: &Replica, tls: &Arc<rustls::ClientConfig>) -> Result<Vec<u8>> {
    let (_sender, peer) = connect::<Full<Bytes>>(replica, tls).await?;
    Ok(peer)
}

/// The replicas behind the load: new connections alternate between the slots that
/// take traffic.
pub struct Pool {
    slots: [RwLock<Option<Arc<Replica>>>; 2],
    accepting: [AtomicBool; 2],
    next: AtomicUsize,
}

impl Pool {
    pub fn new(replicas: [Arc<Replica>; 2]) -> Self {
        let [a, b] = replicas;
        Pool {
            slots: [RwLock::new(Some(a)), RwLock::new(Some(b))],
            accepting: [AtomicBool::new(true), AtomicBool::new(true)],
            next: AtomicUsize::new(0),
        }
    }

    /// The replica in `slot`.
    pub fn get(&self, slot: usize) -> Option<Arc<Replica>> {
        self.slots[slot].read().ok()?.clone()
    }

    /// Takes `slot` out of rotation: no new connections (its endpoint removed).
    pub fn drain(&self, slot: usize) {
        self.accepting[slot].store(false, Ordering::SeqCst);
    }

    /// Puts `replica` in `slot` and back in rotation.
    pub fn replace(&self, slot: usize, replica: Arc<Replica>) {
        if let Ok(mut s) = self.slots[slot].write() {
            *s = Some(replica);
        }
        self.accepting[slot].store(true, Ordering::SeqCst);
    }

    /// The replica for a new connection.
    fn pick(&self) -> Option<Arc<Replica>> {
        for _ in 0..2 {
            let slot = self.next.fetch_add(1, Ordering::Relaxed) % 2;
            if self.accepting[slot].load(Ordering::SeqCst)
                && let Some(replica) = self.get(slot)
            {
                return Some(replica);
            }
        }
        None
    }
}

/// Which policies may answer a request: each change of the policy file opens an
/// epoch in which both the old and the new one may (replicas reload at their own
/// moment), then one in which only the new one may. A request is judged by every
/// epoch it overlapped.
pub struct PolicyEpochs {
    masks: Mutex<Vec<u32>>,
}

impl PolicyEpochs {
    pub fn new(first: usize) -> Self {
        PolicyEpochs {
            masks: Mutex::new(vec![1 << first]),
        }
    }

    /// Starts an epoch in which the policies in `mask` may answer.
    pub fn open(&self, mask: u32) {
        if let Ok(mut masks) = self.masks.lock() {
            masks.push(mask);
        }
    }

    fn now(&self) -> usize {
        self.masks.lock().map_or(0, |m| m.len() - 1)
    }

    fn allowed(&self, from: usize, to: usize) -> u32 {
        self.masks
            .lock()
            .map_or(0, |m| m[from..=to].iter().fold(0, |all, mask| all | mask))
    }
}

/// Counts of everything sent and how it was answered.
#[derive(Default)]
pub struct Stats {
    pub valid_sent: AtomicU64,
    pub valid_ok: AtomicU64,
    pub malformed_sent: AtomicU64,
    pub malformed_ok: AtomicU64,
    pub slow_sent: AtomicU64,
    pub slow_ok: AtomicU64,
    pub stalled_sent: AtomicU64,
    pub stalled_ok: AtomicU64,
    /// Requests sent before a SIGTERM to their replica and still open at it.
    pub at_term: AtomicU64,
    pub at_term_ok: AtomicU64,
    /// Requests sent to a replica after its SIGTERM (on connections it still
    /// had, or new ones before the Service dropped it).
    pub after_term: AtomicU64,
    pub after_term_ok: AtomicU64,
    pub connections: AtomicU64,
    /// Connections a replica not stopping failed to take (TCP or TLS).
    pub connect_failures: AtomicU64,
    /// The first few failures, for the report.
    pub failures: Mutex<Vec<String>>,
    pub failure_count: AtomicU64,
}

impl Stats {
    fn fail(&self, message: String) {
        self.failure_count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut failures) = self.failures.lock()
            && failures.len() < 10
        {
            failures.push(message);
        }
    }
}

/// What every client shares.
pub struct Load {
    pub cases: Vec<Case>,
    pub pool: Pool,
    pub policies: PolicyEpochs,
    pub stats: Stats,
    pub tls: Arc<rustls::ClientConfig>,
    /// Time origin of `Replica::term_at`.
    pub origin: Instant,
    /// Nanoseconds between two requests of one connection; 0 = back to back
    /// (the capacity measurement).
    pub interval_ns: AtomicU64,
    /// Whether the mix (malformed, slow, churn) is on; off while measuring.
    pub mixed: AtomicBool,
    pub stop: AtomicBool,
    /// The server's read timeout: stalled clients must be refused within it.
    pub read_timeout: Duration,
    seq: AtomicU64,
    slow: Arc<Semaphore>,
}

/// A steady connection: its sender and the replica it reached.
struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    replica: Arc<Replica>,
}

/// What the server said, or why it said nothing.
type Outcome = Result<(u16, Vec<u8>)>;

impl Load {
    pub fn new(
        cases: Vec<Case>,
        pool: Pool,
        policies: PolicyEpochs,
        tls: Arc<rustls::ClientConfig>,
        origin: Instant,
        read_timeout: Duration,
    ) -> Self {
        Load {
            cases,
            pool,
            policies,
            stats: Stats::default(),
            tls,
            origin,
            interval_ns: AtomicU64::new(0),
            mixed: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            read_timeout,
            seq: AtomicU64::new(1),
            slow: Arc::new(Semaphore::new(MAX_SLOW_CLIENTS)),
        }
    }

    /// Slow clients still waiting for their answer.
    pub fn slow_clients_open(&self) -> usize {
        MAX_SLOW_CLIENTS - self.slow.available_permits()
    }

    fn now_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    /// One steady client until `stop`: a paced loop of requests on a keep-alive
    /// connection, reopened on churn or when the server closed it.
    pub async fn client(self: Arc<Self>, index: u64) {
        let mut conn: Option<Conn> = None;
        let mut next = Instant::now()
            + Duration::from_nanos(
                self.interval_ns.load(Ordering::Relaxed) * index / crate::CONNECTIONS as u64,
            );
        while !self.stop.load(Ordering::SeqCst) {
            let interval = Duration::from_nanos(self.interval_ns.load(Ordering::Relaxed));
            if !interval.is_zero() {
                tokio::time::sleep_until(next.into()).await;
                // A late answer is made up by sending the next ones sooner, so the
                // rate holds on a machine whose timing jitters; but never more than
                // a few behind (a short burst), and one request in flight at most.
                next += interval;
                let now = Instant::now();
                if now > next + interval * CATCH_UP {
                    next = now;
                }
            }
            let n = self.seq.fetch_add(1, Ordering::Relaxed);
            let roll = mix(n);
            let case = (mix(roll) % self.cases.len() as u64) as usize;
            let mixed = self.mixed.load(Ordering::Relaxed);
            if mixed && roll.is_multiple_of(100) {
                self.malformed(&mut conn, n, case).await;
            } else if mixed && roll % 100 == 1 {
                self.clone().spawn_slow(n, case, None);
            } else {
                self.valid(&mut conn, n, case).await;
            }
            if mixed && roll % 97 == 3 {
                conn = None; // churn: the next request opens a new connection
            }
        }
    }

    /// An open connection in `slot`, reusing the current one while it lasts.
    async fn ready<'c>(&self, slot: &'c mut Option<Conn>) -> Option<&'c mut Conn> {
        if let Some(c) = slot.as_mut()
            && c.sender.ready().await.is_err()
        {
            *slot = None;
        }
        if slot.is_none() {
            for _ in 0..100 {
                let Some(replica) = self.pool.pick() else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                match connect(&replica, &self.tls).await {
                    Ok((sender, _)) => {
                        self.stats.connections.fetch_add(1, Ordering::Relaxed);
                        *slot = Some(Conn { sender, replica });
                        break;
                    }
                    // A replica that is stopping may refuse; another will take it.
                    Err(_) if replica.term_at().is_some() => {}
                    Err(e) => {
                        self.stats.connect_failures.fetch_add(1, Ordering::Relaxed);
                        self.stats
                            .fail(format!("connecting to replica {}: {e:#}", replica.id));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
        slot.as_mut()
    }

    /// Sends `body` on the connection in `slot`, counting it in flight on its replica.
    async fn send(
        &self,
        slot: &mut Option<Conn>,
        body: Vec<u8>,
    ) -> Option<(Arc<Replica>, u64, Outcome)> {
        let conn = self.ready(slot).await?;
        let replica = conn.replica.clone();
        replica.in_flight.fetch_add(1, Ordering::SeqCst);
        let started = self.now_ns();
        let outcome = exchange(&mut conn.sender, Full::new(Bytes::from(body))).await;
        replica.in_flight.fetch_sub(1, Ordering::SeqCst);
        if outcome.is_err() {
            *slot = None;
        }
        Some((replica, started, outcome))
    }

    async fn valid(&self, slot: &mut Option<Conn>, n: u64, case: usize) {
        let uid = bodies::uid(n);
        let body = self.cases[case].body_with(&uid);
        self.stats.valid_sent.fetch_add(1, Ordering::Relaxed);
        let epoch = self.policies.now();
        let Some((replica, started, outcome)) = self.send(slot, body.clone()).await else {
            return self
                .stats
                .fail(format!("uid {n}: no replica took the connection"));
        };
        let ok = self.judge(case, &uid, epoch, &outcome);
        self.count_at_term(&replica, started, ok);
        if ok {
            self.stats.valid_ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats
                .fail(describe(&self.cases[case].name, &replica, &outcome));
        }
    }

    /// Whether `outcome` is the engine's answer to `case` with `uid` under a policy
    /// in force at some point since `epoch`.
    fn judge(&self, case: usize, uid: &[u8], epoch: usize, outcome: &Outcome) -> bool {
        let Ok((200, answer)) = outcome else {
            return false;
        };
        let allowed = self.policies.allowed(epoch, self.policies.now());
        (0..32).any(|p| allowed & (1 << p) != 0 && self.cases[case].matches(p, uid, answer))
    }

    /// Counts a request of a replica that got SIGTERM: sent before it (in flight
    /// at the signal) or after it (while it drains). Neither may be lost; the
    /// apiserver does not retry a webhook call and would admit the pod unpatched.
    fn count_at_term(&self, replica: &Replica, started: u64, ok: bool) {
        let Some(term) = replica.term_at() else {
            return;
        };
        let (sent, answered) = if started < term {
            (&self.stats.at_term, &self.stats.at_term_ok)
        } else {
            (&self.stats.after_term, &self.stats.after_term_ok)
        };
        sent.fetch_add(1, Ordering::Relaxed);
        if ok {
            answered.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn malformed(&self, slot: &mut Option<Conn>, n: u64, case: usize) {
        let body = bodies::malformed(&self.cases[case], mix(n));
        self.stats.malformed_sent.fetch_add(1, Ordering::Relaxed);
        let Some((replica, started, outcome)) = self.send(slot, body).await else {
            return self.stats.fail(format!("malformed {n}: no replica"));
        };
        let ok = matches!(outcome, Ok((400, _)));
        self.count_at_term(&replica, started, ok);
        if ok {
            self.stats.malformed_ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats.fail(format!(
                "malformed body: {}",
                describe("want 400", &replica, &outcome)
            ));
        }
    }

    /// A slow client on a connection of its own, to the next replica or to
    /// `target`. One in ten stalls halfway and must be refused (408) or cut off.
    /// The number at once is bounded, except for a `target`ed one (the driver's,
    /// before a SIGTERM), which must always run.
    pub fn spawn_slow(self: Arc<Self>, n: u64, case: usize, target: Option<Arc<Replica>>) {
        let permit = self.slow.clone().try_acquire_owned().ok();
        if permit.is_none() && target.is_none() {
            return; // enough slow clients already; this one is skipped
        }
        tokio::spawn(async move {
            // `mix(n)` chose the slow client; a second draw chooses the stall.
            let stall = target.is_none() && mix(mix(n)).is_multiple_of(10);
            let replica = match target.or_else(|| self.pool.pick()) {
                Some(r) => r,
                None => return,
            };
            let uid = bodies::uid(n);
            let body = self.cases[case].body_with(&uid);
            let epoch = self.policies.now();
            let (sent, answered) = if stall {
                (&self.stats.stalled_sent, &self.stats.stalled_ok)
            } else {
                (&self.stats.slow_sent, &self.stats.slow_ok)
            };
            sent.fetch_add(1, Ordering::Relaxed);
            replica.in_flight.fetch_add(1, Ordering::SeqCst);
            let started = self.now_ns();
            let outcome = async {
                let (mut sender, _) = connect(&replica, &self.tls).await?;
                self.stats.connections.fetch_add(1, Ordering::Relaxed);
                exchange(&mut sender, Trickle::new(body, stall, self.read_timeout)).await
            }
            .await;
            replica.in_flight.fetch_sub(1, Ordering::SeqCst);
            let ok = if stall {
                // Refused with 408, or the connection closed on it.
                matches!(outcome, Ok((408, _)) | Err(_))
            } else {
                let ok = self.judge(case, &uid, epoch, &outcome);
                self.count_at_term(&replica, started, ok);
                ok
            };
            if ok {
                answered.fetch_add(1, Ordering::Relaxed);
            } else {
                let what = if stall {
                    "stalled client"
                } else {
                    "slow client"
                };
                self.stats.fail(format!(
                    "{what}: {}",
                    describe(&self.cases[case].name, &replica, &outcome)
                ));
            }
            drop(permit);
        });
    }
}

/// One request and its whole answer, within [`REQUEST_TIMEOUT`].
async fn exchange<B>(sender: &mut http1::SendRequest<B>, body: B) -> Outcome
where
    B: Body + Send + 'static,
{
    let request = Request::post("/mutate?timeout=10s")
        .header("host", SERVER_NAME)
        .header("content-type", "application/json")
        .header("accept", "application/json, */*")
        .body(body)?;
    let work = async {
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes().to_vec();
        anyhow::Ok((status, body))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, work)
        .await
        .map_err(|_| anyhow!("no answer within {REQUEST_TIMEOUT:?}"))?
}

/// One line about a failed request.
fn describe(what: &str, replica: &Replica, outcome: &Outcome) -> String {
    match outcome {
        Ok((status, body)) => format!(
            "{what}: replica {} answered {status}: {}",
            replica.id,
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ),
        Err(e) => format!("{what}: replica {}: {e:#}", replica.id),
    }
}

/// SplitMix64: a well-spread number from a counter, so the mix needs no RNG crate
/// and a run is the same sequence every time.
pub fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D4_9BA4_9EB6_11EB);
    z ^ (z >> 31)
}

/// A request body sent in four pieces over about 0.6 s, as a slow client on a busy
/// network would; or, stalling, half of it and then nothing past the server's read
/// timeout. The length is declared, as the apiserver does.
struct Trickle {
    chunks: VecDeque<Bytes>,
    length: u64,
    pause: Duration,
    stall: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Trickle {
    fn new(body: Vec<u8>, stall: bool, read_timeout: Duration) -> Self {
        let body = Bytes::from(body);
        let length = body.len() as u64;
        let quarter = body.len().div_ceil(4).max(1);
        let mut chunks: VecDeque<Bytes> = (0..body.len())
            .step_by(quarter)
            .map(|at| body.slice(at..(at + quarter).min(body.len())))
            .collect();
        if stall {
            chunks.truncate(2);
        }
        Trickle {
            chunks,
            length,
            pause: Duration::from_millis(200),
            stall: stall.then_some(read_timeout + Duration::from_secs(3)),
            sleep: None,
        }
    }
}

impl Body for Trickle {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if let Some(sleep) = this.sleep.as_mut() {
            ready!(sleep.as_mut().poll(cx));
            this.sleep = None;
        }
        match this.chunks.pop_front() {
            Some(chunk) => {
                let pause = match (this.chunks.is_empty(), this.stall) {
                    (true, Some(stall)) => stall,
                    _ => this.pause,
                };
                this.sleep = Some(Box::pin(tokio::time::sleep(pause)));
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            // A stalled body never ends: the server must give up first.
            None if this.stall.is_some() => Poll::Pending,
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.length)
    }
}
