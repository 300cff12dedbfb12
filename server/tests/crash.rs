//! Crash safety of the real binary: `accord serve` is killed with SIGKILL at a random moment
//! while concurrent writers post consents, then started again, several times over one
//! database file. After every kill, through the library: each consent that was answered 201
//! is in the database under the id the answer named, SQLite's integrity check passes and the
//! hash chain verifies. Bounded: 5 cycles of at most 1.5 s of writing, one minute at most.
//!
//! `CRASH_SEED=<u64>` replays the kill moments of an earlier run (the seed is printed).

use accord::ledger::sqlite::SqliteLedger;
use accord::ledger::Ledger;
use app::model::VisitorId;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CYCLES: u32 = 5;
const WRITERS: u32 = 16;
/// The kill comes this long after the writers started (uniformly at random).
const KILL_AFTER_MS: std::ops::Range<u64> = 200..1500;
const BUDGET: Duration = Duration::from_secs(60);

/// A running `accord serve`; killed (SIGKILL) when dropped, so a failing test leaves no
/// process behind.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    async fn start(dir: &Path, db: &Path, cycle: u32) -> Self {
        // Rate limits are per client address; every writer here is 127.0.0.1.
        let config = dir.join("crash.toml");
        std::fs::write(&config, "[rate_limit]\nenabled = false\n").expect("write config");
        let log = dir.join(format!("serve-{cycle}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_accord"))
            .arg("--config")
            .arg(&config)
            .arg("--database")
            .arg(db)
            .args(["--log", "warn,accord::server=info", "serve", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawns accord");
        let mut server = Self { child, base: String::new(), log };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&server.log).unwrap_or_default();
            if let Some(url) = text.lines().find_map(|l| l.split("listening on ").nth(1)) {
                server.base = url.trim().to_owned();
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("accord exited with {status} before listening:\n{text}");
            }
            assert!(Instant::now() < deadline, "accord did not report its address in 20 s:\n{text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown code runs, in-flight requests and transactions are cut off.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().expect("reaped");
        assert!(!status.success(), "killed, not exited: {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the writers saw.
#[derive(Default)]
struct Seen {
    /// (visitor id, record id) of every consent answered 201 with its body read.
    acknowledged: Mutex<Vec<(String, i64)>>,
    /// 201 whose body was cut off by the kill: the visitor id is known, the record id not.
    acknowledged_without_id: Mutex<Vec<String>>,
    unavailable: AtomicU64,
    /// Anything else: a failed test.
    unexpected: Mutex<Vec<String>>,
}

async fn writer(
    client: reqwest::Client,
    url: String,
    cycle: u32,
    w: u32,
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
) {
    let mut seq = 0u64;
    while !stop.load(Ordering::SeqCst) {
        seq += 1;
        let visitor = format!("{cycle:08x}{w:08x}{seq:016x}");
        let body = serde_json::json!({
            "site": "default",
            "action": if seq.is_multiple_of(2) { "accept_all" } else { "reject_all" },
            "policy_version": "2023-07-05",
            "visitor_id": visitor,
        });
        match client.post(&url).json(&body).send().await {
            Ok(res) if res.status() == reqwest::StatusCode::CREATED => {
                match res.json::<serde_json::Value>().await.ok().and_then(|j| j["record_id"].as_i64()) {
                    Some(id) => seen.acknowledged.lock().expect("lock").push((visitor, id)),
                    None => seen.acknowledged_without_id.lock().expect("lock").push(visitor),
                }
            }
            Ok(res) if res.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                seen.unavailable.fetch_add(1, Ordering::Relaxed);
            }
            Ok(res) => {
                let status = res.status();
                let text = res.text().await.unwrap_or_default();
                seen.unexpected.lock().expect("lock").push(format!("{status}: {text}"));
            }
            // The kill cuts connections; before it, nothing may fail.
            Err(e) if !stop.load(Ordering::SeqCst) => {
                seen.unexpected.lock().expect("lock").push(format!("request failed before the kill: {e}"));
                return;
            }
            Err(_) => return,
        }
    }
}

/// Opens the database through the library (recovering the WAL a kill left) and checks it.
async fn check(db: &Path, seen: &Seen) -> u64 {
    let ledger = SqliteLedger::open(db, 2).await.expect("open after the kill");
    let integrity: Vec<String> =
        sqlx::query_scalar("PRAGMA integrity_check").fetch_all(ledger.pool()).await.expect("integrity_check");
    assert_eq!(integrity, ["ok"], "integrity_check after a kill");

    let acknowledged = seen.acknowledged.lock().expect("lock").clone();
    for (visitor, id) in &acknowledged {
        let stored = ledger.record(*id).await.expect("read").unwrap_or_else(|| {
            panic!("record {id} (visitor {visitor}) was answered 201 but is not in the database")
        });
        assert_eq!(
            stored.visitor_id.map(|v| v.to_string()).as_deref(),
            Some(visitor.as_str()),
            "record {id} belongs to the visitor it was acknowledged for"
        );
    }
    let without_id = seen.acknowledged_without_id.lock().expect("lock").clone();
    for visitor in &without_id {
        let vid = VisitorId::parse(visitor).expect("visitor id");
        assert!(
            ledger.latest(vid, "default").await.expect("read").is_some(),
            "visitor {visitor} was answered 201 but has no record"
        );
    }

    let report = ledger.verify().await.expect("verify runs");
    assert!(report.finding.is_none(), "the chain verifies after a kill: {:?}", report.finding);
    let stored = report.checked;
    assert!(
        stored >= (acknowledged.len() + without_id.len()) as u64,
        "{stored} records stored, fewer than the {} acknowledged",
        acknowledged.len() + without_id.len()
    );
    ledger.pool().close().await;
    stored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_consents_survive_sigkill_at_random_moments() {
    let started = Instant::now();
    tokio::time::timeout(BUDGET, crash_cycles())
        .await
        .unwrap_or_else(|_| panic!("the crash test took longer than {BUDGET:?}"));
    eprintln!("crash test finished in {:.1} s", started.elapsed().as_secs_f64());
}

async fn crash_cycles() {
    let seed =
        std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random::<u64>);
    eprintln!("crash test seed {seed} (replay with CRASH_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("accord.db");
    let seen = Arc::new(Seen::default());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");

    for cycle in 1..=CYCLES {
        let mut server = Server::start(dir.path(), &db, cycle).await;
        let url = format!("{}/api/v1/consents", server.base);
        let stop = Arc::new(AtomicBool::new(false));
        let before = seen.acknowledged.lock().expect("lock").len();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(writer(client.clone(), url.clone(), cycle, w, stop.clone(), seen.clone())))
            .collect();
        let kill_after = rng.random_range(KILL_AFTER_MS);
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        stop.store(true, Ordering::SeqCst);
        server.kill();
        for t in tasks {
            t.await.expect("writer task");
        }
        let unexpected = seen.unexpected.lock().expect("lock").clone();
        assert!(
            unexpected.is_empty(),
            "unexpected answers in cycle {cycle}: {unexpected:?}\nserver log:\n{}",
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
        let acked = seen.acknowledged.lock().expect("lock").len();
        let stored = check(&db, &seen).await;
        eprintln!(
            "cycle {cycle}: killed after {kill_after} ms; {} acknowledged this cycle, {acked} in all \
             (+{} without a readable body), {stored} stored; chain and integrity ok",
            acked - before,
            seen.acknowledged_without_id.lock().expect("lock").len(),
        );
    }

    // The restarted server answers from what survived, and the operator's check agrees.
    let mut server = Server::start(dir.path(), &db, CYCLES + 1).await;
    let sample: Vec<(String, i64)> =
        seen.acknowledged.lock().expect("lock").iter().step_by(97).cloned().collect();
    for (visitor, _) in &sample {
        let res = client
            .get(format!("{}/api/v1/visitors/{visitor}/history?site=default", server.base))
            .send()
            .await
            .expect("history");
        assert_eq!(res.status(), 200);
        let j: serde_json::Value = res.json().await.expect("json");
        assert_eq!(j["records"].as_array().map(Vec::len), Some(1), "{j}");
    }
    server.kill();
    let out = Command::new(env!("CARGO_BIN_EXE_accord"))
        .arg("--database")
        .arg(&db)
        .args(["--log", "warn", "verify"])
        .output()
        .expect("accord verify runs");
    assert!(out.status.success(), "accord verify: {}", String::from_utf8_lossy(&out.stderr));
    let total = seen.acknowledged.lock().expect("lock").len();
    assert!(total > 0, "no consent was acknowledged at all");
    eprintln!(
        "{CYCLES} SIGKILL cycles, {WRITERS} concurrent writers: {total} acknowledged consents all present \
         ({} answered 503); `accord verify`: {}",
        seen.unavailable.load(Ordering::Relaxed),
        String::from_utf8_lossy(&out.stdout).trim()
    );
}
