//! The storage half, through the real library: a fresh database filled with `SqliteLedger::append`
//! from many concurrent tasks (so group commit batches as under load), records built by
//! `accord::consent::to_record` exactly as the API builds them. Measures bytes per record,
//! `accord export` rows/s and visitor-history lookups.

use crate::report::Results;
use crate::RunArgs;
use accord::consent::{to_record, Choice, ClientFacts};
use accord::geo::{Location, LocationSource};
use accord::ledger::sqlite::SqliteLedger;
use accord::ledger::{Ledger, NewRecord};
use anyhow::{anyhow, bail, Context, Result};
use app::model::{Action, Jurisdiction, SiteContent, Source, VisitorId};
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sqlx::Row;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent appenders: more than the writer's batch (256), so every batch is full.
const APPENDERS: usize = 512;
/// Chance that the next record is a returning visitor's (a changed or renewed choice):
/// visitors end up with 1–3 records, 2 on average.
const REVISIT: f64 = 0.5;
const PAGES: &[&str] = &[
    "/",
    "/pricing",
    "/blog/2026/11/consent-that-holds-up",
    "/docs/getting-started",
    "/checkout",
    "/features/analytics",
    "/about",
    "/contact",
];
const LANGUAGES: &[&str] = &["en", "en", "de", "fr", "nl", "es", "it", "pl"];
const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
];
/// Where visitors are: mostly EU (opt-in), some US states (opt-out + GPC), some elsewhere.
const REGIONS: &[Option<&str>] = &[
    Some("DE"),
    Some("FR"),
    Some("NL"),
    Some("ES"),
    Some("GB"),
    Some("US-CA"),
    Some("US-TX"),
    Some("US-NY"),
    Some("JP"),
    Some("BR"),
    None,
];

/// Produces the record stream: new visitors and returning ones, a clock that advances
/// like a busy site's (10 M records over about a year).
struct Generator {
    rng: SmallRng,
    content: Arc<SiteContent>,
    jurisdictions: Vec<Jurisdiction>,
    optional: Vec<String>,
    /// Returning visitors: (id, records still to come, jurisdiction index).
    pending: Vec<(VisitorId, u8, usize)>,
    made: u64,
    limit: u64,
    visitors: u64,
    clock_ms: i64,
}

impl Generator {
    fn next(&mut self) -> Result<Option<NewRecord>> {
        if self.made >= self.limit {
            return Ok(None);
        }
        self.made += 1;
        self.clock_ms += 3;
        let revisit = !self.pending.is_empty() && self.rng.random_bool(REVISIT);
        let (visitor, jurisdiction, source) = if revisit {
            let i = self.rng.random_range(0..self.pending.len());
            let (v, left, j) = self.pending[i];
            if left <= 1 {
                self.pending.swap_remove(i);
            } else {
                self.pending[i].1 = left - 1;
            }
            (v, j, Source::Preferences)
        } else {
            self.visitors += 1;
            let v = VisitorId(self.rng.random());
            let j = self.rng.random_range(0..self.jurisdictions.len());
            // 1, 2 or 3 records in all.
            let more = self.rng.random_range(0..3u8);
            if more > 0 {
                self.pending.push((v, more, j));
            }
            (v, j, Source::Banner)
        };
        let roll = self.rng.random_range(0..100);
        let (action, granted) = match (revisit, roll) {
            (true, 0..20) => (Action::Withdraw, None),
            (_, 0..45) => (Action::AcceptAll, None),
            (_, 45..80) => (Action::RejectAll, None),
            _ => {
                let picked = self.optional.iter().filter(|_| self.rng.random_bool(0.5)).cloned().collect();
                (Action::Custom, Some(picked))
            }
        };
        let choice = Choice {
            site: "default".into(),
            visitor_id: Some(visitor),
            action,
            granted,
            denied: None,
            source,
            policy_version: self.content.policy.version.clone(),
            language: LANGUAGES[self.rng.random_range(0..LANGUAGES.len())].into(),
            page: PAGES[self.rng.random_range(0..PAGES.len())].into(),
            gpc_signal: false,
        };
        let ip = IpAddr::V4(Ipv4Addr::from(self.rng.random::<u32>()));
        let ua = USER_AGENTS[self.rng.random_range(0..USER_AGENTS.len())];
        let client = ClientFacts {
            ip_reduced: Some(accord::privacy::reduce_ip(ip)),
            ua_family: accord::privacy::ua_family(Some(ua)).to_owned(),
        };
        let j = &self.jurisdictions[jurisdiction];
        to_record(choice, &self.content, j, client, self.clock_ms)
            .map(Some)
            .map_err(|e| anyhow!("the library refused a generated choice: {e}"))
    }
}

/// Appends until the generator reaches `upto` records, from [`APPENDERS`] concurrent tasks.
async fn fill(ledger: &SqliteLedger, generator: &Arc<Mutex<Generator>>, upto: u64) -> Result<()> {
    let start_count = {
        let mut g = generator.lock().map_err(|_| anyhow!("generator lock poisoned"))?;
        g.limit = upto;
        g.made
    };
    let done = Arc::new(AtomicU64::new(start_count));
    let started = Instant::now();
    let progress = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(15));
            tick.tick().await;
            loop {
                tick.tick().await;
                let n = done.load(Ordering::Relaxed);
                let rate = (n - start_count) as f64 / started.elapsed().as_secs_f64();
                eprintln!("  {n} / {upto} records ({rate:.0}/s)");
            }
        })
    };
    let mut tasks = Vec::with_capacity(APPENDERS);
    for _ in 0..APPENDERS {
        let (ledger, generator, done) = (ledger.clone(), generator.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let next = generator.lock().map_err(|_| anyhow!("generator lock poisoned"))?.next()?;
                let Some(record) = next else { break };
                ledger.append(record).await.context("append")?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    let mut outcome = Ok(());
    for t in tasks {
        if let Err(e) = t.await.context("appender panicked").and_then(|r| r) {
            outcome = Err(e);
        }
    }
    progress.abort();
    outcome?;
    let n = done.load(Ordering::Relaxed);
    eprintln!(
        "  {n} records; {:.0} appends/s through SqliteLedger::append",
        (n - start_count) as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}

struct Size {
    page_size: i64,
    page_count: i64,
    freelist: i64,
}

/// Checkpoints the WAL into the database (TRUNCATE) and reads its size.
async fn size(ledger: &SqliteLedger) -> Result<Size> {
    let pool = ledger.pool();
    // The ledger's own threads (its PASSIVE checkpointer, the decision watcher's reads) can
    // hold the WAL for a moment: try again a few times before giving up.
    let mut tries = 0;
    loop {
        let row =
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(pool).await.context("checkpoint")?;
        let busy: i64 = row.try_get(0)?;
        if busy == 0 {
            break;
        }
        tries += 1;
        if tries == 50 {
            bail!("PRAGMA wal_checkpoint(TRUNCATE) could not complete (busy, 50 tries)");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(Size {
        page_size: sqlx::query_scalar("PRAGMA page_size").fetch_one(pool).await?,
        page_count: sqlx::query_scalar("PRAGMA page_count").fetch_one(pool).await?,
        freelist: sqlx::query_scalar("PRAGMA freelist_count").fetch_one(pool).await?,
    })
}

/// Bytes per b-tree (table, each index), from SQLite's `dbstat` (through the library's SQLite,
/// else the `sqlite3` command).
async fn dbstat(ledger: &SqliteLedger, db: &Path) -> Result<Vec<(String, i64)>> {
    let sql = "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC";
    if let Ok(rows) = sqlx::query(sql).fetch_all(ledger.pool()).await {
        return rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect();
    }
    let out =
        Command::new("sqlite3").arg(db).arg(sql).output().context("dbstat: neither built in nor sqlite3")?;
    if !out.status.success() {
        bail!("sqlite3 dbstat failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (name, bytes) = l.rsplit_once('|').ok_or_else(|| anyhow!("dbstat line {l:?}"))?;
            Ok((name.to_owned(), bytes.trim().parse()?))
        })
        .collect()
}

/// Average stored length of each column of a record (integers: the length of their decimal text).
async fn column_lengths(ledger: &SqliteLedger) -> Result<serde_json::Value> {
    let cols = [
        "visitor_id",
        "context_id",
        "choice_id",
        "action",
        "source",
        "page",
        "ip_reduced",
        "ua_family",
        "recorded_at",
        "expires_at",
        "subject_salt",
        "hash",
    ];
    let select = cols.iter().map(|c| format!("AVG(length({c}))")).collect::<Vec<_>>().join(", ");
    let row = sqlx::query(&format!("SELECT {select} FROM consent_records")).fetch_one(ledger.pool()).await?;
    let mut out = serde_json::Map::new();
    for (i, c) in cols.iter().enumerate() {
        let v: Option<f64> = row.try_get(i)?;
        out.insert((*c).to_owned(), json!(v.map(|v| (v * 10.0).round() / 10.0)));
    }
    Ok(serde_json::Value::Object(out))
}

async fn measure_size(ledger: &SqliteLedger, records: u64, key: &str, results: &mut Results) -> Result<f64> {
    let s = size(ledger).await?;
    let bytes = s.page_count * s.page_size;
    let per = bytes as f64 / records as f64;
    results.set(&format!("{key}.records"), json!(records));
    results.set(&format!("{key}.database_bytes"), json!(bytes));
    results.set(&format!("{key}.page_size"), json!(s.page_size));
    results.set(&format!("{key}.page_count"), json!(s.page_count));
    results.set(&format!("{key}.freelist_pages"), json!(s.freelist));
    results.set(&format!("{key}.bytes_per_record"), json!(per));
    eprintln!(
        "  {bytes} bytes after checkpoint = {per:.1} B/record ({} pages of {} B)",
        s.page_count, s.page_size
    );
    Ok(per)
}

/// `accord export --format ndjson -o /dev/null` on the database, timed on the wall clock.
async fn export(args: &RunArgs, db: &Path, records: u64, results: &mut Results) -> Result<()> {
    let bin = crate::load::accord_binary(args);
    if !bin.is_file() {
        bail!("{} not found: build it with `cargo build --release -p accord`", bin.display());
    }
    let mut cmd = Command::new(&bin);
    cmd.current_dir(crate::workspace_root()).env_remove("ACCORD_CONFIG").arg("--database").arg(db).args([
        "--log",
        "warn",
        "export",
        "--format",
        "ndjson",
        "-o",
        "/dev/null",
    ]);
    eprintln!("export: {cmd:?}");
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.context("export task")??;
    let wall = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("accord export failed ({}): {stderr}", out.status);
    }
    let exported: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("exported ")?.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("accord export did not say how many records it wrote: {stderr}"))?;
    if exported != records {
        bail!("accord export wrote {exported} records, the database holds {records}");
    }
    let rate = records as f64 / wall;
    results.set("export.records", json!(records));
    results.set("export.wall_s", json!(wall));
    results.set("export.rows_per_s", json!(rate));
    eprintln!("  {records} rows in {wall:.2} s = {rate:.0} rows/s");
    Ok(())
}

/// The same export through `GET /api/v1/admin/export?format=ndjson` (auditor token), the body
/// streamed and its lines counted; timed from the request to the last byte.
async fn http_export(
    args: &RunArgs,
    db: &Path,
    ledger: &SqliteLedger,
    records: u64,
    results: &mut Results,
) -> Result<()> {
    use http_body_util::{BodyExt, Full};
    let (_, token) = accord::auth::create(ledger, "bench", accord::auth::Role::Auditor).await?;
    let mut cmd = Command::new(crate::load::accord_binary(args));
    cmd.current_dir(crate::workspace_root()).env_remove("ACCORD_CONFIG").arg("--database").arg(db).args([
        "--log",
        "info",
        "serve",
        "--bind",
        "127.0.0.1:0",
    ]);
    let mut server = crate::procs::Server::start("accord (export)", cmd)?;
    let mut sender = crate::load::connect(server.addr).await?;
    let req = hyper::Request::get("/api/v1/admin/export?format=ndjson")
        .header(hyper::header::HOST, server.addr.to_string())
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::new(bytes::Bytes::new()))?;
    let started = Instant::now();
    sender.ready().await?;
    let resp = sender.send_request(req).await.context("export request")?;
    if resp.status() != hyper::StatusCode::OK {
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        bail!("GET /api/v1/admin/export answered {status}: {}", String::from_utf8_lossy(&body));
    }
    let mut body = resp.into_body();
    let (mut lines, mut bytes) = (0u64, 0u64);
    while let Some(frame) = body.frame().await {
        let frame = frame.context("export body")?;
        if let Some(data) = frame.data_ref() {
            lines += data.iter().filter(|b| **b == b'\n').count() as u64;
            bytes += data.len() as u64;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    server.check_alive()?;
    server.stop()?;
    if lines != records {
        bail!("the HTTP export streamed {lines} lines, the database holds {records} records");
    }
    let rate = records as f64 / wall;
    results.set("export.http_wall_s", json!(wall));
    results.set("export.http_rows_per_s", json!(rate));
    results.set("export.http_bytes", json!(bytes));
    eprintln!("  HTTP: {records} rows ({bytes} bytes) in {wall:.2} s = {rate:.0} rows/s");
    Ok(())
}

fn histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000, 3).context("histogram")
}

/// Random existing visitors (by random record id; the record's visitor may have 1–3 records).
async fn sample_visitors(ledger: &SqliteLedger, n: usize, seed: u64) -> Result<Vec<(i64, VisitorId)>> {
    let max: i64 = sqlx::query_scalar("SELECT MAX(id) FROM consent_records").fetch_one(ledger.pool()).await?;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let id = rng.random_range(1..=max);
        let v =
            sqlx::query_scalar::<_, Option<Vec<u8>>>("SELECT visitor_id FROM consent_records WHERE id = ?")
                .bind(id)
                .fetch_optional(ledger.pool())
                .await?
                .flatten();
        if let Some(v) = v {
            let bytes: [u8; 16] =
                v.try_into().map_err(|_| anyhow!("visitor_id of record {id} is not 16 bytes"))?;
            out.push((id, VisitorId(bytes)));
        }
    }
    Ok(out)
}

/// Times `Ledger::history` one call after another; checks every answer.
async fn lookups(ledger: &SqliteLedger, sample: &[(i64, VisitorId)]) -> Result<(Histogram<u64>, [u64; 4])> {
    let mut hist = histogram()?;
    let mut lengths = [0u64; 4];
    for (id, visitor) in sample {
        let t = Instant::now();
        let records = ledger.history(*visitor, "default", 1000).await?;
        let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
        hist.saturating_record(us);
        if !records.iter().any(|r| r.id == *id) {
            bail!("history of the visitor of record {id} does not contain it ({} records)", records.len());
        }
        lengths[records.len().min(3)] += 1;
    }
    Ok((hist, lengths))
}

/// Drops the database file's pages from the OS page cache (GNU dd, no privileges needed).
fn drop_page_cache(db: &Path) -> bool {
    let mut arg = std::ffi::OsString::from("if=");
    arg.push(db);
    Command::new("dd")
        .arg(arg)
        .args(["iflag=nocache", "count=0", "status=none"])
        .status()
        .is_ok_and(|s| s.success())
}

pub async fn run_storage(args: &RunArgs, results: &mut Results) -> Result<()> {
    let dir = tempfile::Builder::new().prefix("accord-bench-storage").tempdir().context("temp dir")?;
    let db = dir.path().join("accord.db");
    let ledger = SqliteLedger::open(&db, 4).await?;
    ledger.migrate().await?;
    accord::content::seed_if_empty(&ledger).await?;
    let config = accord::Config::default();
    let content = accord::content::load(&ledger, &config).await?;
    let rules = accord::rules::Rules::new(config.rules.clone());
    let jurisdictions = REGIONS
        .iter()
        .map(|r| {
            let loc = match r {
                Some(r) => Location::parse_region(r, LocationSource::Database)
                    .ok_or_else(|| anyhow!("bad region {r}"))?,
                None => Location::default(),
            };
            Ok(rules.resolve(&loc))
        })
        .collect::<Result<Vec<_>>>()?;
    let optional = content.optional_categories().map(|c| c.key.clone()).collect();
    let sqlite_version: String =
        sqlx::query_scalar("SELECT sqlite_version()").fetch_one(ledger.pool()).await?;
    results.set("storage.sqlite_version", json!(sqlite_version));
    let empty = size(&ledger).await?;
    results.set("storage.empty_database_bytes", json!(empty.page_count * empty.page_size));

    let year_ago = time::OffsetDateTime::now_utc().unix_timestamp() * 1000 - 365 * 86_400_000;
    let generator = Arc::new(Mutex::new(Generator {
        rng: SmallRng::seed_from_u64(42),
        content: Arc::new(content),
        jurisdictions,
        optional,
        pending: Vec::new(),
        made: 0,
        limit: 0,
        visitors: 0,
        clock_ms: year_ago,
    }));

    let n1 = args.records();
    eprintln!("storage: filling a fresh database to {n1} records ({APPENDERS} concurrent appenders)");
    let t = Instant::now();
    let noise = crate::procs::Noise::start(&[]);
    fill(&ledger, &generator, n1).await?;
    results.set("storage.fill_other_cpu_pct", json!(noise.other_cpu_pct()));
    results.set("storage.fill_appends_per_s", json!(n1 as f64 / t.elapsed().as_secs_f64()));
    measure_size(&ledger, n1, "storage", results).await?;
    let parts = dbstat(&ledger, &db).await?;
    results.set(
        "storage.dbstat",
        json!(parts.iter().map(|(name, bytes)| json!({"name": name, "bytes": bytes})).collect::<Vec<_>>()),
    );
    for (name, bytes) in parts.iter().filter(|(_, b)| *b as f64 / n1 as f64 >= 0.5) {
        eprintln!("  {name}: {bytes} B ({:.1} B/record)", *bytes as f64 / n1 as f64);
    }
    results.set("storage.avg_column_length", column_lengths(&ledger).await?);

    export(args, &db, n1, results).await?;
    http_export(args, &db, &ledger, n1, results).await?;

    let n2 = args.lookup_records();
    eprintln!("storage: continuing to {n2} records");
    let t = Instant::now();
    let noise = crate::procs::Noise::start(&[]);
    fill(&ledger, &generator, n2).await?;
    results.set("lookup.fill_other_cpu_pct", json!(noise.other_cpu_pct()));
    results.set("lookup.fill_appends_per_s", json!((n2 - n1) as f64 / t.elapsed().as_secs_f64()));
    measure_size(&ledger, n2, "lookup", results).await?;
    let (visitors, pending) = {
        let g = generator.lock().map_err(|_| anyhow!("generator lock poisoned"))?;
        (g.visitors, g.pending.len())
    };
    results.set("lookup.visitors", json!(visitors));
    results.set("lookup.records_per_visitor", json!(n2 as f64 / visitors as f64));
    results.set("lookup.visitors_with_revisits_pending_at_end", json!(pending));

    let warm = 1_000.min(args.lookups);
    eprintln!(
        "lookups: {} random existing visitors via Ledger::history ({warm} unmeasured first)",
        args.lookups
    );
    let sample = sample_visitors(&ledger, warm + args.lookups, 7).await?;
    let (warm_sample, measured) = sample.split_at(warm);
    lookups(&ledger, warm_sample).await?;
    let (hist, lengths) = lookups(&ledger, measured).await?;
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    results.set("lookup.lookups", json!(measured.len()));
    results.set("lookup.p50_ms", json!(ms(0.5)));
    results.set("lookup.p90_ms", json!(ms(0.9)));
    results.set("lookup.p99_ms", json!(ms(0.99)));
    results.set("lookup.p999_ms", json!(ms(0.999)));
    results.set("lookup.max_ms", json!(hist.max() as f64 / 1000.0));
    results.set("lookup.history_lengths", json!({"1": lengths[1], "2": lengths[2], "3 or more": lengths[3]}));
    eprintln!(
        "  p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; lengths {lengths:?}",
        ms(0.5),
        ms(0.99),
        ms(0.999)
    );

    // The same lookups with the file evicted from the OS page cache: a server after a restart.
    let cold_n = 2_000.min(args.lookups);
    if drop_page_cache(&db) {
        let cold_sample = sample_visitors(&ledger, cold_n, 11).await?;
        let _ = drop_page_cache(&db);
        let (hist, _) = lookups(&ledger, &cold_sample).await?;
        let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
        results.set("lookup.cold_lookups", json!(cold_n));
        results.set("lookup.cold_p50_ms", json!(ms(0.5)));
        results.set("lookup.cold_p99_ms", json!(ms(0.99)));
        eprintln!("  cold page cache: p50 {:.3} ms, p99 {:.3} ms", ms(0.5), ms(0.99));
    }
    ledger.pool().close().await;
    Ok(())
}
