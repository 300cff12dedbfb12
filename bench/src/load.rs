//! The HTTP half: a keep-alive HTTP/1.1 load generator (hyper's connection API, one task per
//! connection) driving Accord and the bare-axum ceiling, closed loop and open loop.

use crate::procs::{Noise, Server};
use crate::report::{Phase, Results};
use crate::RunArgs;
use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const POLICY_VERSION: &str = "2023-07-05";
pub const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/131.0.0.0 Safari/537.36";
const PAGES: &[&str] =
    &["/", "/pricing", "/blog/2026/11/consent-that-holds-up", "/docs/getting-started", "/checkout"];
const LANGUAGES: &[&str] = &["en", "de", "fr", "nl", "es"];
const OPTIONAL: &[&str] = &["functional", "analytics", "marketing", "session_recording"];
/// Accord's configuration for the HTTP phases: the shipped defaults except the rate limits.
/// The load comes from one address to one site, which the shipped limits (20/s per address,
/// 2000/s per site) would refuse after a few milliseconds; raised far above what this machine
/// can serve, every request still passes through the limiter (its cost is measured) and none
/// is refused.
pub const BENCH_CONFIG: &str = "[rate_limit]
enabled = true
per_ip_per_second = 1000000
per_ip_burst = 1000000
per_site_per_second = 1000000
per_site_burst = 1000000
";
/// Visitor ids kept from the write phase for the decision reads.
const KEEP_IDS: usize = 200_000;
/// Error responses kept as examples for the report.
const KEEP_SAMPLES: usize = 5;

/// One request to send and what its answer must look like.
pub struct Call {
    pub req: Request<Full<Bytes>>,
    /// Bytes the response body must contain (checked on every answer).
    pub must_contain: Option<Cow<'static, str>>,
    /// The answer must carry the visitor id the server issued; it is kept.
    pub keep_issued: bool,
}

/// Builds the next request from the connection's random source and the visitor ids its
/// earlier answers carried (returning visitors are picked from those); None: the workload is
/// done (a pass over a fixed list), and the connection stops.
type MakeCall = dyn Fn(&mut SmallRng, &[String]) -> Option<Call> + Send + Sync;

/// What a phase sends, to which server, and the status every answer must have.
#[derive(Clone)]
pub struct Workload {
    pub name: &'static str,
    pub server: &'static str,
    pub endpoint: String,
    pub addr: SocketAddr,
    pub expect: StatusCode,
    /// `Content-Encoding` every answer must have (the gzip-served script and config).
    pub expect_encoding: Option<&'static str>,
    pub make: Arc<MakeCall>,
}

// Header values and request targets are parsed once, not per request: the client shares the
// two cores with the server it measures, so its own per-request work (formatting the Host
// header, validating every byte of a target or a value) counts against that server, and more
// against the endpoint whose target had to be formatted per request (a decision's visitor id)
// than against the ceiling's fixed `/`.
static UA: HeaderValue = HeaderValue::from_static(USER_AGENT);
static JSON: HeaderValue = HeaderValue::from_static("application/json");
static LANGUAGE: HeaderValue = HeaderValue::from_static("en-US,en;q=0.9");
static GZIP: HeaderValue = HeaderValue::from_static("gzip");

/// The `Host` header for a server.
fn host(addr: SocketAddr) -> HeaderValue {
    // A socket address is always a valid header value.
    HeaderValue::try_from(addr.to_string()).unwrap_or(HeaderValue::from_static("127.0.0.1"))
}

/// A request target, parsed once. Only the benchmark's own fixed paths and ids come here; an
/// invalid one would be a bug in the benchmark, and asking `/` instead fails every check.
fn target(path: &str) -> Uri {
    path.parse().unwrap_or_default()
}

fn request(method: Method, host: &HeaderValue, uri: Uri, body: Bytes) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(body));
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    let h = req.headers_mut();
    h.insert(header::HOST, host.clone());
    h.insert(header::USER_AGENT, UA.clone());
    req
}

fn hex_id(rng: &mut SmallRng) -> String {
    let bytes: [u8; 16] = rng.random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A realistic consent body: the embed's three buttons in a plausible mix, the visitor id
/// from the cookie (`null` on a first choice: the server issues one), varied pages and
/// languages.
pub fn consent_body(rng: &mut SmallRng, visitor: Option<&str>) -> String {
    let visitor = visitor.map_or_else(|| "null".to_owned(), |v| format!("\"{v}\""));
    let page = PAGES[rng.random_range(0..PAGES.len())];
    let lang = LANGUAGES[rng.random_range(0..LANGUAGES.len())];
    let roll = rng.random_range(0..100);
    let (action, granted) = if roll < 45 {
        ("accept_all", None)
    } else if roll < 80 {
        ("reject_all", None)
    } else {
        let picked: Vec<String> =
            OPTIONAL.iter().filter(|_| rng.random_bool(0.5)).map(|k| format!("\"{k}\"")).collect();
        ("custom", Some(format!("[{}]", picked.join(","))))
    };
    let granted = granted.map(|g| format!(",\"granted\":{g}")).unwrap_or_default();
    format!(
        "{{\"site\":\"default\",\"visitor_id\":{visitor},\"action\":\"{action}\"{granted},\
         \"source\":\"banner\",\"policy_version\":\"{POLICY_VERSION}\",\"language\":\"{lang}\",\"page\":\"{page}\"}}"
    )
}

fn post_json_to(host: &HeaderValue, uri: Uri, body: String) -> Request<Full<Bytes>> {
    let mut req = request(Method::POST, host, uri, Bytes::from(body));
    req.headers_mut().insert(header::CONTENT_TYPE, JSON.clone());
    req
}

fn get_from(host: &HeaderValue, uri: Uri, gzip: bool) -> Request<Full<Bytes>> {
    let mut req = request(Method::GET, host, uri, Bytes::new());
    req.headers_mut().insert(header::ACCEPT_LANGUAGE, LANGUAGE.clone());
    if gzip {
        req.headers_mut().insert(header::ACCEPT_ENCODING, GZIP.clone());
    }
    req
}

/// One-off requests (the preflight and the checks around the phases).
fn post_json(addr: SocketAddr, path: &str, body: String) -> Request<Full<Bytes>> {
    post_json_to(&host(addr), target(path), body)
}

fn get(addr: SocketAddr, path: &str, gzip: bool) -> Request<Full<Bytes>> {
    get_from(&host(addr), target(path), gzip)
}

/// Share of consent writes from returning visitors (a changed or renewed choice), who send the
/// id their cookie holds; the rest are first choices, sent without an id as the embed script
/// sends them, and the server issues one.
const RETURNING_PERCENT: u32 = 10;

/// Consent writes as the embed script sends them: first choices without a visitor id (the
/// server issues one, time-ordered: `consent::issue_visitor_id`), and one in ten from a
/// returning visitor with an id issued earlier in the run.
pub fn writes(addr: SocketAddr) -> Workload {
    let (host, uri) = (host(addr), target("/api/v1/consents"));
    Workload {
        name: "consent writes",
        server: "accord",
        endpoint: format!(
            "POST /api/v1/consents ({}% first choices without an id, {RETURNING_PERCENT}% returning visitors)",
            100 - RETURNING_PERCENT
        ),
        addr,
        expect: StatusCode::CREATED,
        expect_encoding: None,
        make: Arc::new(move |rng, issued| {
            if !issued.is_empty() && rng.random_range(0..100) < RETURNING_PERCENT {
                let visitor = issued[rng.random_range(0..issued.len())].clone();
                let body = consent_body(rng, Some(&visitor));
                return Some(Call {
                    req: post_json_to(&host, uri.clone(), body),
                    must_contain: Some(visitor.into()),
                    keep_issued: false,
                });
            }
            let body = consent_body(rng, None);
            Some(Call {
                req: post_json_to(&host, uri.clone(), body),
                must_contain: None,
                keep_issued: true,
            })
        }),
    }
}

/// Every write from a visitor whose id the client sends, random over the whole id space: the
/// ledger's worst case (each record lands in a different page of the visitor index), as
/// when all writes come from visitors returning over a long period, or from clients that
/// make up their own ids.
pub fn writes_random_ids(addr: SocketAddr) -> Workload {
    let (host, uri) = (host(addr), target("/api/v1/consents"));
    Workload {
        name: "consent writes, random ids",
        server: "accord",
        endpoint: "POST /api/v1/consents (every visitor id random, sent by the client)".into(),
        addr,
        expect: StatusCode::CREATED,
        expect_encoding: None,
        make: Arc::new(move |rng, _| {
            let visitor = hex_id(rng);
            let body = consent_body(rng, Some(&visitor));
            Some(Call {
                req: post_json_to(&host, uri.clone(), body),
                must_contain: Some(visitor.into()),
                keep_issued: false,
            })
        }),
    }
}

fn decision_targets(ids: &[String]) -> Vec<Uri> {
    ids.iter().map(|id| target(&format!("/api/v1/visitors/{id}/decision?site=default"))).collect()
}

fn decision_call(host: &HeaderValue, uri: Uri) -> Call {
    Call {
        req: get_from(host, uri, false),
        // Every visitor asked about has decided: an undecided answer would be wrong.
        must_contain: Some(Cow::Borrowed("\"decided\":true")),
        keep_issued: false,
    }
}

/// Decisions of visitors picked at random from `ids`.
pub fn decisions(addr: SocketAddr, ids: &[String]) -> Workload {
    let host = host(addr);
    let targets = decision_targets(ids);
    Workload {
        name: "decision reads",
        server: "accord",
        endpoint: "GET /api/v1/visitors/{id}/decision?site=default".into(),
        addr,
        expect: StatusCode::OK,
        expect_encoding: None,
        make: Arc::new(move |rng, _| {
            let uri = targets.get(rng.random_range(0..targets.len().max(1)))?.clone();
            Some(decision_call(&host, uri))
        }),
    }
}

/// Each visitor of `ids` asked about once, in turn over all connections; then the phase ends.
pub fn first_decisions(addr: SocketAddr, ids: &[String]) -> Workload {
    let host = host(addr);
    let targets = decision_targets(ids);
    let next = std::sync::atomic::AtomicUsize::new(0);
    Workload {
        name: "decision reads, first read",
        server: "accord",
        endpoint: "GET /api/v1/visitors/{id}/decision?site=default (each visitor once)".into(),
        addr,
        expect: StatusCode::OK,
        expect_encoding: None,
        make: Arc::new(move |_, _| {
            let uri = targets.get(next.fetch_add(1, Ordering::Relaxed))?.clone();
            Some(decision_call(&host, uri))
        }),
    }
}

pub fn static_get(
    name: &'static str,
    server: &'static str,
    addr: SocketAddr,
    path: &'static str,
    gzip: bool,
) -> Workload {
    let (host, uri) = (host(addr), target(path));
    Workload {
        name,
        server,
        endpoint: format!("GET {path}{}", if gzip { " (Accept-Encoding: gzip)" } else { "" }),
        addr,
        expect: StatusCode::OK,
        expect_encoding: gzip.then_some("gzip"),
        make: Arc::new(move |_, _| {
            Some(Call { req: get_from(&host, uri.clone(), gzip), must_contain: None, keep_issued: false })
        }),
    }
}

pub fn hello_post(addr: SocketAddr) -> Workload {
    let (host, uri) = (host(addr), target("/"));
    Workload {
        name: "ceiling POST",
        server: "hello",
        endpoint: "POST / (same JSON bodies)".into(),
        addr,
        expect: StatusCode::CREATED,
        expect_encoding: None,
        make: Arc::new(move |rng, _| {
            let body = consent_body(rng, None);
            Some(Call { req: post_json_to(&host, uri.clone(), body), must_contain: None, keep_issued: false })
        }),
    }
}

pub async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await.with_context(|| format!("connect {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.context("HTTP/1.1 handshake")?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// The answer to one request: status, Content-Encoding, body.
struct Answer {
    status: StatusCode,
    encoding: Option<HeaderValue>,
    body: Bytes,
}

async fn send(sender: &mut SendRequest<Full<Bytes>>, req: Request<Full<Bytes>>) -> Result<Answer> {
    sender.ready().await.context("connection not ready")?;
    let resp = sender.send_request(req).await.context("request failed")?;
    let status = resp.status();
    let encoding = resp.headers().get(header::CONTENT_ENCODING).cloned();
    let body = resp.into_body().collect().await.context("reading the body")?.to_bytes();
    Ok(Answer { status, encoding, body })
}

/// The `visitor_id` a recorded consent's answer carries: 32 lowercase hex digits.
fn issued_visitor(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"visitor_id\":\"";
    let at = memchr::memmem::find(body, KEY)? + KEY.len();
    let id = body.get(at..at + 32)?;
    id.iter()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        .then(|| String::from_utf8_lossy(id).into_owned())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// Tallies made so far: each samples with a random source of its own.
static TALLIES: AtomicU64 = AtomicU64::new(0);

/// What one connection saw.
pub struct Tally {
    pub hist: Histogram<u64>,
    pub measured: u64,
    pub body_bytes: u64,
    pub sent: u64,
    pub errors: u64,
    pub samples: Vec<String>,
    pub kept: Vec<String>,
    /// Ids offered for keeping so far, and the sample's random source (`Tally::keep`).
    offered: u64,
    sampler: SmallRng,
    /// Open loop: requests that could not leave on schedule (every connection was busy).
    pub late: u64,
    /// Open loop: when the last measured answer arrived.
    pub last_done: Option<Instant>,
}

impl Tally {
    fn new() -> Result<Self> {
        Ok(Self {
            // 1 µs .. 60 s, 3 significant digits.
            hist: Histogram::new_with_bounds(1, 60_000_000, 3).context("histogram")?,
            measured: 0,
            body_bytes: 0,
            sent: 0,
            errors: 0,
            samples: Vec::new(),
            kept: Vec::new(),
            offered: 0,
            sampler: SmallRng::seed_from_u64(0x5a3b_0000 + TALLIES.fetch_add(1, Ordering::Relaxed)),
            late: 0,
            last_done: None,
        })
    }

    fn merge(&mut self, other: Tally) -> Result<()> {
        self.hist.add(&other.hist).context("merge histograms")?;
        self.measured += other.measured;
        self.body_bytes += other.body_bytes;
        self.sent += other.sent;
        self.errors += other.errors;
        self.late += other.late;
        self.last_done = self.last_done.max(other.last_done);
        for s in other.samples {
            if self.samples.len() < KEEP_SAMPLES {
                self.samples.push(s);
            }
        }
        self.kept.extend(other.kept);
        Ok(())
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.samples.len() < KEEP_SAMPLES {
            self.samples.push(what);
        }
    }

    /// Checks one answer against the workload; keeps what it asks to keep.
    fn check(&mut self, wl: &Workload, keep_issued: bool, must: Option<&str>, a: &Answer, keep_max: usize) {
        if a.status != wl.expect {
            let body = String::from_utf8_lossy(&a.body[..a.body.len().min(300)]).into_owned();
            self.error(format!("{} → {} (expected {}): {body}", wl.endpoint, a.status, wl.expect));
            return;
        }
        if let Some(enc) = wl.expect_encoding {
            if a.encoding.as_ref().and_then(|v| v.to_str().ok()) != Some(enc) {
                self.error(format!("{} → Content-Encoding {:?}, expected {enc}", wl.endpoint, a.encoding));
                return;
            }
        }
        if let Some(m) = must {
            if !contains(&a.body, m.as_bytes()) {
                let body = String::from_utf8_lossy(&a.body[..a.body.len().min(300)]).into_owned();
                self.error(format!("{} → {}: body lacks {m:?}: {body}", wl.endpoint, a.status));
                return;
            }
        }
        if keep_issued {
            let Some(id) = issued_visitor(&a.body) else {
                let body = String::from_utf8_lossy(&a.body[..a.body.len().min(300)]).into_owned();
                self.error(format!("{} → {}: no issued visitor id in {body}", wl.endpoint, a.status));
                return;
            };
            self.keep(id, keep_max);
        }
    }

    /// Keeps a uniform sample of at most `keep_max` of the ids offered (reservoir sampling):
    /// the decision phase asks about visitors from the whole write phase, not only its first
    /// seconds, whose decisions the later ones have pushed out of Accord's cache by then.
    fn keep(&mut self, id: String, keep_max: usize) {
        self.offered += 1;
        if self.kept.len() < keep_max {
            self.kept.push(id);
        } else if let Ok(j) = usize::try_from(self.sampler.random_range(0..self.offered)) {
            if let Some(slot) = self.kept.get_mut(j) {
                *slot = id;
            }
        }
    }
}

/// A transport failure: counted as an error; reconnects, gives up if that fails too.
async fn transport_error(
    tally: &mut Tally,
    wl: &Workload,
    e: anyhow::Error,
    sender: &mut SendRequest<Full<Bytes>>,
) -> Result<()> {
    tally.error(format!("{} → transport error: {e:#}", wl.endpoint));
    *sender = connect(wl.addr)
        .await
        .with_context(|| format!("{} ({}) stopped accepting connections", wl.server, wl.addr))?;
    Ok(())
}

/// One keep-alive connection of a closed-loop phase and what it saw, kept across the slices
/// of an interleaved phase (`closed_pair`).
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    rng: SmallRng,
    tally: Tally,
}

async fn open_conns(wl: &Workload, connections: usize) -> Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(connections);
    for i in 0..connections {
        conns.push(Conn {
            sender: connect(wl.addr).await?,
            rng: SmallRng::seed_from_u64(0x5eed_0000 + i as u64),
            tally: Tally::new()?,
        });
    }
    Ok(conns)
}

async fn closed_worker(
    wl: Workload,
    mut conn: Conn,
    measure_from: Instant,
    until: Instant,
    keep_max: usize,
) -> Result<Conn> {
    let Conn { sender, rng, tally } = &mut conn;
    while Instant::now() < until {
        let Some(call) = (wl.make)(rng, &tally.kept) else { break };
        let t0 = Instant::now();
        let answer = send(sender, call.req).await;
        let t1 = Instant::now();
        tally.sent += 1;
        match answer {
            Ok(a) => {
                tally.check(&wl, call.keep_issued, call.must_contain.as_deref(), &a, keep_max);
                if t0 >= measure_from && t1 <= until {
                    tally.hist.saturating_record(micros(t1 - t0));
                    tally.measured += 1;
                    tally.body_bytes += a.body.len() as u64;
                }
            }
            Err(e) => transport_error(tally, &wl, e, sender).await?,
        }
    }
    Ok(conn)
}

/// Every connection sends for `warmup + measure`; answers within `measure` count.
async fn closed_slice(
    wl: &Workload,
    conns: Vec<Conn>,
    warmup: Duration,
    measure: Duration,
) -> Result<Vec<Conn>> {
    let measure_from = Instant::now() + warmup;
    let until = measure_from + measure;
    let keep_max = KEEP_IDS / conns.len().max(1) + 1;
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|c| tokio::spawn(closed_worker(wl.clone(), c, measure_from, until, keep_max)))
        .collect();
    let mut done = Vec::with_capacity(tasks.len());
    for t in tasks {
        done.push(t.await.context("load task panicked")??);
    }
    Ok(done)
}

/// The phase the connections measured over `window`, and the ids they kept.
fn closed_phase(wl: &Workload, conns: Vec<Conn>, window: Duration) -> Result<(Phase, Vec<String>)> {
    let connections = conns.len();
    let mut total = Tally::new()?;
    for c in conns {
        total.merge(c.tally)?;
    }
    let phase = phase_of(wl, "closed", connections, window, &total);
    Ok((phase, std::mem::take(&mut total.kept)))
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn phase_of(wl: &Workload, mode: &str, connections: usize, window: Duration, t: &Tally) -> Phase {
    let secs = window.as_secs_f64();
    Phase {
        name: wl.name.to_owned(),
        server: wl.server.to_owned(),
        endpoint: wl.endpoint.clone(),
        mode: mode.to_owned(),
        connections,
        seconds: secs,
        requests: t.measured,
        rps: t.measured as f64 / secs,
        p50_ms: ms(t.hist.value_at_quantile(0.50)),
        p90_ms: ms(t.hist.value_at_quantile(0.90)),
        p99_ms: ms(t.hist.value_at_quantile(0.99)),
        p999_ms: ms(t.hist.value_at_quantile(0.999)),
        max_ms: ms(t.hist.max()),
        mean_body_bytes: if t.measured > 0 { t.body_bytes as f64 / t.measured as f64 } else { 0.0 },
        sent: t.sent,
        errors: t.errors,
        error_samples: t.samples.clone(),
        target_rps: None,
        late: None,
        other_cpu_pct: None,
    }
}

/// N connections, each sending its next request as soon as the previous answer arrived.
pub async fn closed_loop(
    wl: &Workload,
    connections: usize,
    warmup: Duration,
    measure: Duration,
) -> Result<(Phase, Vec<String>)> {
    let conns = closed_slice(wl, open_conns(wl, connections).await?, warmup, measure).await?;
    closed_phase(wl, conns, measure)
}

/// A workload that ends by itself (`first_decisions`), measured from start to end.
async fn first_reads(wl: Workload, connections: usize) -> Result<Phase> {
    eprintln!("closed loop until done: {} {} ({connections} connections)", wl.server, wl.endpoint);
    let conns = open_conns(&wl, connections).await?;
    let started = Instant::now();
    // Long enough for any pass this benchmark makes; the workload ends it.
    let conns = closed_slice(&wl, conns, Duration::ZERO, Duration::from_secs(600)).await?;
    let elapsed = started.elapsed();
    Ok(closed_phase(&wl, conns, elapsed)?.0)
}

/// How a ceiling and the Accord phase compared with it share the clock (`closed_pair`).
#[derive(Clone, Copy)]
pub enum Pairing {
    /// Alternating slices, ceiling and Accord in turn (A B B A A B …): drifts in the host's
    /// speed (other tenants, frequency) fall on both alike. For reads, which leave Accord no
    /// work behind to finish while the ceiling runs.
    Interleaved { slices: u32 },
    /// Half the ceiling's time before Accord's phase, half after; Accord's phase in one piece,
    /// so that work it defers (checkpoints after writes) falls inside its own measurement.
    Bracketed,
}

/// Slices of each read phase (`Pairing::Interleaved`): 2 s each in a full run.
const READ_SLICES: u32 = 5;

impl Pairing {
    fn describe(self) -> String {
        match self {
            Pairing::Interleaved { slices } => format!("interleaved in {slices} slices each"),
            Pairing::Bracketed => "the ceiling half before, half after".into(),
        }
    }
}

fn print_phase(p: &Phase) {
    eprintln!(
        "  {} {}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {}, other processes {:.0} % CPU",
        p.server,
        p.name,
        p.rps,
        p.p50_ms,
        p.p99_ms,
        p.errors,
        p.other_cpu_pct.unwrap_or(0.0)
    );
    for e in &p.error_samples {
        eprintln!("  error: {e}");
    }
}

/// Time between slices for the other server's load to end and caches to turn over.
const SETTLE: Duration = Duration::from_millis(250);

/// A ceiling and the Accord workload measured against it, each over `measure` in total, on
/// connections of their own that stay open from start to end.
pub async fn closed_pair(
    ceiling: &Workload,
    accord: &Workload,
    connections: usize,
    warmup: Duration,
    measure: Duration,
    pairing: Pairing,
) -> Result<((Phase, Vec<String>), (Phase, Vec<String>))> {
    let mut c = open_conns(ceiling, connections).await?;
    let mut a = open_conns(accord, connections).await?;
    match pairing {
        Pairing::Interleaved { slices } => {
            let slices = slices.max(1);
            let slice = measure / slices;
            for s in 0..slices {
                // The first slice of each warms up fully; the later ones only settle.
                let warm = if s == 0 { warmup } else { SETTLE.min(warmup) };
                if s % 2 == 0 {
                    c = closed_slice(ceiling, c, warm, slice).await?;
                    a = closed_slice(accord, a, warm, slice).await?;
                } else {
                    a = closed_slice(accord, a, warm, slice).await?;
                    c = closed_slice(ceiling, c, warm, slice).await?;
                }
            }
            let window = slice * slices;
            Ok((closed_phase(ceiling, c, window)?, closed_phase(accord, a, window)?))
        }
        Pairing::Bracketed => {
            let half = measure / 2;
            c = closed_slice(ceiling, c, warmup, half).await?;
            a = closed_slice(accord, a, warmup, measure).await?;
            c = closed_slice(ceiling, c, SETTLE.min(warmup), half).await?;
            Ok((closed_phase(ceiling, c, half * 2)?, closed_phase(accord, a, measure)?))
        }
    }
}

/// A fixed schedule of `rate` requests/s for `warmup + measure`. Latency counts from the
/// scheduled send time whenever no connection was free to send on time, so a slow server
/// cannot hide its queueing (coordinated omission); a request that left on time counts from
/// when it left (tokio's timer has 1 ms resolution, which would otherwise add up to 1 ms to
/// every request).
/// `known`: visitor ids issued earlier, for the workload's returning visitors.
pub async fn open_loop(
    wl: &Workload,
    known: Arc<Vec<String>>,
    connections: usize,
    rate: f64,
    warmup: Duration,
    measure: Duration,
) -> Result<Phase> {
    if rate < 1.0 {
        bail!("open-loop rate {rate:.1}/s is too low to measure");
    }
    let interval_ns = 1e9 / rate;
    let warm_n = (rate * warmup.as_secs_f64()) as u64;
    let total_n = warm_n + (rate * measure.as_secs_f64()) as u64;
    let next = Arc::new(AtomicU64::new(0));
    // Connections are opened before the clock starts.
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        senders.push(connect(wl.addr).await?);
    }
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(connections);
    for (i, mut sender) in senders.into_iter().enumerate() {
        let (wl, next, known) = (wl.clone(), next.clone(), known.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = SmallRng::seed_from_u64(0x0be0_0000 + i as u64);
            let mut tally = Tally::new()?;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total_n {
                    break;
                }
                let scheduled = start + Duration::from_nanos((n as f64 * interval_ns) as u64);
                let Some(call) = (wl.make)(&mut rng, &known) else { break };
                let origin = if Instant::now() < scheduled {
                    tokio::time::sleep_until(scheduled.into()).await;
                    Instant::now()
                } else {
                    if n >= warm_n {
                        tally.late += 1;
                    }
                    scheduled
                };
                let answer = send(&mut sender, call.req).await;
                let done = Instant::now();
                tally.sent += 1;
                match answer {
                    Ok(a) => {
                        tally.check(&wl, call.keep_issued, call.must_contain.as_deref(), &a, 0);
                        if n >= warm_n {
                            tally.hist.saturating_record(micros(done - origin));
                            tally.last_done = tally.last_done.max(Some(done));
                            tally.measured += 1;
                            tally.body_bytes += a.body.len() as u64;
                        }
                    }
                    Err(e) => transport_error(&mut tally, &wl, e, &mut sender).await?,
                }
            }
            anyhow::Ok(tally)
        }));
    }
    let mut total = Tally::new()?;
    for t in tasks {
        total.merge(t.await.context("load task panicked")??)?;
    }
    // Achieved rate: answers over the time from the first measured send to the last answer.
    let window =
        total.last_done.map_or(measure, |d| d.saturating_duration_since(start + warmup)).max(measure);
    let mut phase = phase_of(wl, "open", connections, window, &total);
    phase.target_rps = Some(rate);
    phase.late = Some(total.late);
    Ok(phase)
}

/// One request, checked by hand before any load: the benchmark must measure working endpoints.
async fn preflight(accord: SocketAddr, hello: SocketAddr) -> Result<()> {
    let mut rng = SmallRng::seed_from_u64(1);
    let mut a = connect(accord).await?;
    let visitor = hex_id(&mut rng);
    let body = format!(
        "{{\"site\":\"default\",\"visitor_id\":\"{visitor}\",\"action\":\"custom\",\"granted\":[\"analytics\"],\
         \"source\":\"banner\",\"policy_version\":\"{POLICY_VERSION}\",\"language\":\"en\",\"page\":\"/pricing\"}}"
    );
    let r = send(&mut a, post_json(accord, "/api/v1/consents", body)).await?;
    let json: serde_json::Value = serde_json::from_slice(&r.body)
        .with_context(|| format!("POST /api/v1/consents answered {}: {:?}", r.status, r.body))?;
    if r.status != StatusCode::CREATED
        || json["visitor_id"] != visitor.as_str()
        || !json["record_id"].is_i64()
    {
        bail!("preflight: POST /api/v1/consents answered {}: {json}", r.status);
    }
    // A first choice without an id: the server issues one.
    let r = send(&mut a, post_json(accord, "/api/v1/consents", consent_body(&mut rng, None))).await?;
    if r.status != StatusCode::CREATED || issued_visitor(&r.body).is_none() {
        bail!("preflight: a first choice without an id answered {}: {:?}", r.status, r.body);
    }
    let r = send(
        &mut a,
        get(accord, &format!("/api/v1/visitors/{visitor}/decision?site=default&category=analytics"), false),
    )
    .await?;
    let json: serde_json::Value = serde_json::from_slice(&r.body).context("decision body")?;
    if r.status != StatusCode::OK || json["decided"] != true || json["allowed"] != true {
        bail!("preflight: the decision for a visitor who granted analytics is wrong ({}): {json}", r.status);
    }
    let r =
        send(&mut a, get(accord, &format!("/api/v1/visitors/{visitor}/history?site=default"), false)).await?;
    let json: serde_json::Value = serde_json::from_slice(&r.body).context("history body")?;
    if r.status != StatusCode::OK || json["records"].as_array().map(Vec::len) != Some(1) {
        bail!("preflight: history ({}): {json}", r.status);
    }
    let r = send(&mut a, get(accord, "/api/v1/config?site=default", true)).await?;
    if r.status != StatusCode::OK
        || r.encoding.as_ref().map(|v| v.as_bytes()) != Some(b"gzip")
        || r.body.len() < 500
    {
        bail!(
            "preflight: GET /api/v1/config answered {} ({:?}, {} bytes)",
            r.status,
            r.encoding,
            r.body.len()
        );
    }
    let r = send(&mut a, get(accord, "/embed/consent.js", true)).await?;
    if r.status != StatusCode::OK
        || r.encoding.as_ref().map(|v| v.as_bytes()) != Some(b"gzip")
        || r.body.len() < 1000
    {
        bail!(
            "preflight: GET /embed/consent.js answered {} ({:?}, {} bytes)",
            r.status,
            r.encoding,
            r.body.len()
        );
    }
    let mut h = connect(hello).await?;
    let r = send(&mut h, post_json(hello, "/", consent_body(&mut rng, Some(&visitor)))).await?;
    if r.status != StatusCode::CREATED {
        bail!("preflight: hello POST / answered {}", r.status);
    }
    for path in ["/", "/config", "/script"] {
        let r = send(&mut h, get(hello, path, false)).await?;
        if r.status != StatusCode::OK {
            bail!("preflight: hello GET {path} answered {}", r.status);
        }
    }
    Ok(())
}

/// The uncompressed body of a GET that must answer 200.
async fn fetch_plain(addr: SocketAddr, path: &str) -> Result<Bytes> {
    let mut c = connect(addr).await?;
    let r = send(&mut c, get(addr, path, false)).await?;
    if r.status != StatusCode::OK {
        bail!("GET {path} answered {}", r.status);
    }
    Ok(r.body)
}

/// `GET /api/v1/ledger/head` → records ever appended.
async fn ledger_count(accord: SocketAddr) -> Result<i64> {
    let mut a = connect(accord).await?;
    let r = send(&mut a, get(accord, "/api/v1/ledger/head", false)).await?;
    let json: serde_json::Value = serde_json::from_slice(&r.body).context("ledger head body")?;
    json["count"].as_i64().ok_or_else(|| anyhow!("GET /api/v1/ledger/head answered {}: {json}", r.status))
}

/// The directory the embed script is copied from: `--site-root`, else target/site when it has
/// been built, else public/ (the same file, as checked in).
fn site_source(args: &RunArgs, root: &Path) -> std::path::PathBuf {
    if let Some(r) = &args.site_root {
        return r.clone();
    }
    let built = root.join("target/site");
    if built.join("embed/consent.js").is_file() {
        built
    } else {
        root.join("public")
    }
}

/// Copies `<source>/embed` into the run's own site root: a `cargo leptos build` running
/// meanwhile (the target directory is shared) must not pull the script away mid-phase.
fn private_site_root(source: &Path, dir: &Path) -> Result<std::path::PathBuf> {
    let site = dir.join("site");
    let embed = site.join("embed");
    std::fs::create_dir_all(&embed).context("create the site root")?;
    let from = source.join("embed");
    for entry in std::fs::read_dir(&from).with_context(|| format!("read {}", from.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), embed.join(entry.file_name()))
                .with_context(|| format!("copy {}", entry.path().display()))?;
        }
    }
    if !embed.join("consent.js").is_file() {
        bail!("{} has no consent.js", from.display());
    }
    Ok(site)
}

pub fn accord_binary(args: &RunArgs) -> std::path::PathBuf {
    args.accord.clone().unwrap_or_else(|| crate::workspace_root().join("target/release/accord"))
}

fn check(servers: &mut [&mut Server]) -> Result<()> {
    for s in servers.iter_mut() {
        s.check_alive()?;
    }
    Ok(())
}

pub async fn run_http(args: &RunArgs, results: &mut Results) -> Result<()> {
    let root = crate::workspace_root();
    let accord_bin = accord_binary(args);
    if !accord_bin.is_file() {
        bail!("{} not found: build it with `cargo build --release -p accord`", accord_bin.display());
    }
    let dir = tempfile::Builder::new().prefix("accord-bench-http").tempdir().context("temp dir")?;
    let db = dir.path().join("accord.db");
    let config = dir.path().join("accord.toml");
    std::fs::write(&config, BENCH_CONFIG).context("write the benchmark's accord.toml")?;
    let source = site_source(args, &root);
    let site = private_site_root(&source, dir.path())?;
    let mut cmd = Command::new(&accord_bin);
    cmd.current_dir(&root)
        .env_remove("ACCORD_CONFIG")
        .env_remove("ACCORD_PUBLIC_URL")
        .env_remove("ACCORD_LOG_FORMAT")
        .arg("--config")
        .arg(&config)
        .arg("--database")
        .arg(&db)
        .args(["--log", &args.accord_log, "serve", "--bind", "127.0.0.1:0", "--site-root"])
        .arg(&site);
    let mut accord = Server::start_logging("accord", cmd, args.accord_log_file.as_deref())?;
    // The ceiling serves the same documents: Accord's config answer for the benchmark's
    // request, and the same embed script.
    let ceiling_config = dir.path().join("ceiling-config.json");
    let body = fetch_plain(accord.addr, "/api/v1/config?site=default").await?;
    std::fs::write(&ceiling_config, body).context("write the ceiling's config document")?;
    let mut hello_cmd = Command::new(std::env::current_exe().context("current exe")?);
    hello_cmd.args(["hello", "--bind", "127.0.0.1:0", "--config-file"]).arg(&ceiling_config);
    hello_cmd.arg("--script-file").arg(site.join("embed/consent.js"));
    let mut hello = Server::start("hello", hello_cmd)?;
    eprintln!(
        "accord {} (pid {}, embed script from {}), hello {} (pid {})",
        accord.addr,
        accord.pid(),
        source.display(),
        hello.addr,
        hello.pid()
    );
    results.set("http.embed_script_from", serde_json::json!(source.display().to_string()));
    results.set("http.accord_config", serde_json::json!(BENCH_CONFIG));
    preflight(accord.addr, hello.addr).await.context("preflight")?;

    let (conns, warm, measure) = (args.connections, args.warmup(), args.measure());
    let mut created: u64 = 2; // the preflight's records
    macro_rules! closed {
        ($wl:expr) => {{
            let wl = $wl;
            eprintln!(
                "closed loop: {} {} ({} connections, {:?} + {:?} warm-up)",
                wl.server, wl.endpoint, conns, measure, warm
            );
            let noise = Noise::start(&[accord.pid(), hello.pid()]);
            let (mut phase, kept) = closed_loop(&wl, conns, warm, measure).await?;
            phase.other_cpu_pct = noise.other_cpu_pct();
            check(&mut [&mut accord, &mut hello])?;
            print_phase(&phase);
            (phase, kept)
        }};
    }
    // A ceiling and the Accord phase compared with it, sharing the clock (`Pairing`).
    macro_rules! pair {
        ($ceiling:expr, $accord:expr, $pairing:expr) => {{
            let (cw, aw, pairing) = ($ceiling, $accord, $pairing);
            eprintln!(
                "closed loop, {}: {} {} against {} {} ({} connections, {:?} each + warm-up)",
                pairing.describe(),
                aw.server,
                aw.endpoint,
                cw.server,
                cw.endpoint,
                conns,
                measure
            );
            let noise = Noise::start(&[accord.pid(), hello.pid()]);
            let ((mut cp, _), (mut ap, kept)) = closed_pair(&cw, &aw, conns, warm, measure, pairing).await?;
            let other = noise.other_cpu_pct();
            (cp.other_cpu_pct, ap.other_cpu_pct) = (other, other);
            check(&mut [&mut accord, &mut hello])?;
            print_phase(&cp);
            print_phase(&ap);
            (cp, ap, kept)
        }};
    }

    let (ceil_post, w, ids) = pair!(hello_post(hello.addr), writes(accord.addr), Pairing::Bracketed);
    created += w.sent - w.errors;
    if ids.is_empty() {
        bail!("the write phase created no visitor to read back");
    }
    let ids = Arc::new(ids);
    let mut reads = Vec::new();
    if !args.writes_only {
        let slices = Pairing::Interleaved { slices: READ_SLICES };
        // Each sampled visitor read once first (info): a visitor whose decision is no longer
        // in memory is read from SQLite (with a 262,144-entry cache and a full run's 400 k+
        // first choices, about a third of them). The decision phase then reads them in the
        // state a backend asking on every page view keeps them in.
        let noise = Noise::start(&[accord.pid(), hello.pid()]);
        let mut first = first_reads(first_decisions(accord.addr, &ids), conns).await?;
        first.other_cpu_pct = noise.other_cpu_pct();
        check(&mut [&mut accord, &mut hello])?;
        print_phase(&first);
        let (ceil_get, d, _) = pair!(
            static_get("ceiling GET", "hello", hello.addr, "/", false),
            decisions(accord.addr, &ids),
            slices
        );
        let (ceil_cfg, c, _) = pair!(
            static_get("ceiling GET config", "hello", hello.addr, "/config", true),
            static_get("banner config", "accord", accord.addr, "/api/v1/config?site=default", true),
            slices
        );
        let (ceil_script, s, _) = pair!(
            static_get("ceiling GET script", "hello", hello.addr, "/script", true),
            static_get("embed script", "accord", accord.addr, "/embed/consent.js", true),
            slices
        );
        reads = vec![ceil_get, first, d, ceil_cfg, c, ceil_script, s];
    }

    let rate = 0.8 * w.rps;
    eprintln!(
        "open loop: consent writes at {rate:.0}/s (80 % of {:.0}), {} connections",
        w.rps,
        (4 * conns).max(256)
    );
    // Enough connections that the client never is what queues: browsers do not share one.
    let open_conns = (4 * conns).max(256);
    let noise = Noise::start(&[accord.pid(), hello.pid()]);
    let mut o = open_loop(&writes(accord.addr), ids.clone(), open_conns, rate, warm, measure).await?;
    o.other_cpu_pct = noise.other_cpu_pct();
    o.name = "consent writes (open loop)".into();
    check(&mut [&mut accord, &mut hello])?;
    created += o.sent - o.errors;
    eprintln!(
        "  {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, late {}, errors {}",
        o.rps,
        o.p50_ms,
        o.p99_ms,
        o.late.unwrap_or(0),
        o.errors
    );

    // The ledger's worst case, after the rest (its records would otherwise crowd the
    // decision phase's visitors out of the decision cache).
    let (wr, _) = closed!(writes_random_ids(accord.addr));
    created += wr.sent - wr.errors;

    // Every 201 must be a committed record, and nothing else may have been appended.
    let count = ledger_count(accord.addr).await?;
    results.set("http.records_acknowledged", serde_json::json!(created));
    results.set("http.ledger_head_count", serde_json::json!(count));
    if count != created as i64 {
        bail!("{created} writes were acknowledged with 201 but the ledger holds {count} records");
    }
    let hwm = accord.status_kib("VmHWM")?;
    let rss = accord.status_kib("VmRSS")?;
    let hello_hwm = hello.status_kib("VmHWM")?;
    results.set("rss.accord_peak_kib", serde_json::json!(hwm));
    results.set("rss.accord_current_kib", serde_json::json!(rss));
    results.set("rss.hello_peak_kib", serde_json::json!(hello_hwm));
    eprintln!("accord peak RSS {:.1} MiB (hello {:.1} MiB)", hwm as f64 / 1024.0, hello_hwm as f64 / 1024.0);

    results.phases = vec![ceil_post, w, o, wr];
    results.phases.extend(reads);
    accord.stop()?;
    hello.stop()?;
    Ok(())
}
