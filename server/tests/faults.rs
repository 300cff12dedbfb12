//! Storage faults while serving: the database locked by another writer, the disk full, the
//! file system read-only. Each must answer POST /api/v1/consents with 503, `Retry-After` and
//! the JSON error (never 500, never a panic), keep answering reads where SQLite can, recover
//! by itself once the fault clears (no restart), and lose nothing that was acknowledged.
//!
//! Disk full and read-only use a real tmpfs (`mount`, needs root / CAP_SYS_ADMIN). Without
//! that, disk full is injected with SQLite's own size cap (`database.max_pages`, a real
//! SQLITE_FULL) and read-only with file permissions (non-root only); each test says on
//! stderr which path ran.

use accord::config::Config;
use accord::ledger::sqlite::{SqliteLedger, SqliteOptions};
use accord::ledger::Ledger;
use accord::AppState;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BUSY_TIMEOUT_MS: u32 = 200;

fn config(db: &Path) -> Config {
    let mut c = Config::default();
    c.database.path = db.to_owned();
    c.database.busy_timeout_ms = BUSY_TIMEOUT_MS;
    c.rate_limit.enabled = false;
    c.validate().expect("valid test config");
    c
}

fn visitor() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn consent(visitor: &str) -> serde_json::Value {
    serde_json::json!({
        "site": "default",
        "action": "accept_all",
        "policy_version": "2023-07-05",
        "visitor_id": visitor,
    })
}

/// Accord on 127.0.0.1:0, in this process.
struct Server {
    base: String,
    http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), accord::server::StartError>>,
    /// Every consent answered 201: (visitor id, record id).
    acknowledged: Vec<(String, i64)>,
}

impl Server {
    async fn start(state: AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(accord::server::run(listener, state, async {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client");
        Self { base, http, shutdown: Some(tx), task, acknowledged: Vec::new() }
    }

    async fn post(&self, visitor: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/api/v1/consents", self.base))
            .json(&consent(visitor))
            .send()
            .await
            .expect("the server answers (no panic, no dropped connection)")
    }

    /// POSTs a consent that must be acknowledged; remembers it.
    async fn record(&mut self, what: &str) -> i64 {
        let v = visitor();
        let res = self.post(&v).await;
        let status = res.status();
        let body = res.text().await.expect("body");
        assert_eq!(status, 201, "{what}: {body}");
        let id = serde_json::from_str::<serde_json::Value>(&body).expect("json")["record_id"]
            .as_i64()
            .expect("record_id");
        self.acknowledged.push((v, id));
        id
    }

    /// POSTs until the fault shows (a consent may still fit in space already allocated),
    /// remembering what was acknowledged on the way; returns the number of tries.
    async fn post_until_unavailable(&mut self, max: usize) -> usize {
        for n in 1..=max {
            let v = visitor();
            let res = self.post(&v).await;
            if res.status() == 201 {
                let j: serde_json::Value = res.json().await.expect("json");
                self.acknowledged.push((v, j["record_id"].as_i64().expect("record_id")));
                continue;
            }
            assert_unavailable(res).await;
            return n;
        }
        panic!("no 503 after {max} consents");
    }

    async fn decision(&self, visitor: &str) -> serde_json::Value {
        let res = self
            .http
            .get(format!("{}/api/v1/visitors/{visitor}/decision?site=default&category=analytics", self.base))
            .send()
            .await
            .expect("answers");
        let status = res.status();
        let body = res.text().await.expect("body");
        assert_eq!(status, 200, "reads keep working: {body}");
        serde_json::from_str(&body).expect("json")
    }

    /// Every consent acknowledged so far is readable through the API under its id.
    async fn all_readable(&self) {
        for (v, id) in &self.acknowledged {
            let d = self.decision(v).await;
            assert_eq!(d["record_id"].as_i64(), Some(*id), "{d}");
            assert_eq!(d["allowed"], true, "{d}");
        }
    }

    /// Graceful shutdown; the server task must end cleanly (it did not panic).
    async fn stop(self) -> Vec<(String, i64)> {
        let Self { http, shutdown, task, acknowledged, .. } = self;
        drop(http);
        if let Some(tx) = shutdown {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("server stops")
            .expect("server task did not panic")
            .expect("server ended cleanly");
        acknowledged
    }
}

/// The documented storage error: 503, `Retry-After`, `{"error":{"code","message"}}`.
async fn assert_unavailable(res: reqwest::Response) {
    let status = res.status();
    let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let content_type =
        res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = res.text().await.expect("body");
    assert_eq!(status, 503, "{body}");
    let secs: u32 = retry_after.as_deref().and_then(|s| s.parse().ok()).expect("Retry-After in seconds");
    assert!(secs >= 1, "Retry-After: {secs}");
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let j: serde_json::Value = serde_json::from_str(&body).expect("JSON error body");
    assert_eq!(j["error"]["code"], "storage_unavailable", "{j}");
    assert!(j["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{j}");
}

/// After the server stopped: a fresh open finds every acknowledged consent under its id,
/// SQLite's integrity check passes and the hash chain verifies.
async fn nothing_lost(db: &Path, acknowledged: &[(String, i64)]) {
    let ledger = SqliteLedger::open(db, 1).await.expect("reopen");
    let integrity: Vec<String> =
        sqlx::query_scalar("PRAGMA integrity_check").fetch_all(ledger.pool()).await.expect("integrity_check");
    assert_eq!(integrity, ["ok"]);
    for (v, id) in acknowledged {
        let r = ledger.record(*id).await.expect("read").unwrap_or_else(|| panic!("record {id} lost"));
        assert_eq!(r.visitor_id.map(|x| x.to_string()).as_deref(), Some(v.as_str()));
    }
    let report = ledger.verify().await.expect("verify");
    assert!(report.finding.is_none(), "chain: {:?}", report.finding);
    assert!(report.checked >= acknowledged.len() as u64);
    ledger.pool().close().await;
}

async fn raw_connection(db: &Path) -> SqliteConnection {
    SqliteConnectOptions::new().filename(db).connect().await.expect("second connection")
}

// ---------------------------------------------------------------------------------------
// Locked

#[tokio::test]
async fn a_locked_database_answers_503_quickly_keeps_reads_and_recovers_on_release() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("accord.db");
    let state = accord::server::build_state(config(&db)).await.expect("state");
    let mut server = Server::start(state).await;
    server.record("before the lock").await;
    let before = server.acknowledged[0].0.clone();

    // Another process (a backup, a script) takes the write lock and keeps it.
    let mut other = raw_connection(&db).await;
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut other).await.expect("lock");
    sqlx::query("CREATE TABLE lock_probe (x)").execute(&mut other).await.expect("write under the lock");

    let started = Instant::now();
    assert_unavailable(server.post(&visitor()).await).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(u64::from(BUSY_TIMEOUT_MS) - 20) && waited < Duration::from_secs(3),
        "the writer waits database.busy_timeout_ms ({BUSY_TIMEOUT_MS} ms), not the default 5 s: {waited:?}"
    );
    // Several at once share one failed batch: all 503, none acknowledged.
    let mut all = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (http, url) = (server.http.clone(), format!("{}/api/v1/consents", server.base));
        all.spawn(async move { http.post(url).json(&consent(&visitor())).send().await.expect("answers") });
    }
    while let Some(res) = all.join_next().await {
        assert_unavailable(res.expect("task")).await;
    }
    // WAL: readers do not wait for the writer's lock.
    let d = server.decision(&before).await;
    assert_eq!(d["decided"], true, "{d}");

    sqlx::query("ROLLBACK").execute(&mut other).await.expect("release");
    other.close().await.expect("close");
    server.record("the first consent after the lock is released").await;
    server.record("and the next").await;
    server.all_readable().await;
    let acknowledged = server.stop().await;
    eprintln!("locked: {} acknowledged, 9 answered 503 in {waited:?} (busy timeout)", acknowledged.len());
    nothing_lost(&db, &acknowledged).await;
}

// ---------------------------------------------------------------------------------------
// Disk full

/// A tmpfs mounted on a directory; unmounted (lazily, even if files are still open) on drop.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// None when mounting is not permitted here (not root, no CAP_SYS_ADMIN).
    fn mount(path: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(path).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "accord-test"])
            .arg(path)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self { path: path.to_owned() }),
            Ok(o) => {
                eprintln!("mount -t tmpfs not permitted: {}", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                eprintln!("cannot run mount: {e}");
                None
            }
        }
    }

    fn remount(&self, mode: &str) -> Result<(), String> {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.path)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Writes until the file system refuses (ENOSPC).
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("filler");
    let mut written = 0u64;
    for chunk in [1 << 20, 4096, 1] {
        let buf = vec![0xa5u8; chunk];
        loop {
            match f.write(&buf) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling the file system: {e}"),
            }
        }
    }
    written
}

#[tokio::test]
async fn a_full_disk_answers_503_and_recovers_when_space_is_freed() {
    let dir = tempfile::tempdir().expect("tmp");
    let mnt = dir.path().join("fs");
    let Some(fs) = Tmpfs::mount(&mnt, "16m") else {
        eprintln!("disk full: no tmpfs here; injected with the size cap (database.max_pages) instead");
        return size_cap_full_and_recovery(dir.path()).await;
    };
    eprintln!("disk full: real ENOSPC on a 16 MiB tmpfs");
    let db = mnt.join("accord.db");
    let state = accord::server::build_state(config(&db)).await.expect("state");
    let mut server = Server::start(state).await;
    for _ in 0..3 {
        server.record("before the disk fills").await;
    }

    // Empty the WAL so the next commit needs new space, then take every byte that is left.
    let mut raw = raw_connection(&db).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (busy, _, _): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut raw).await.expect("checkpoint");
        if busy == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "checkpoint stays busy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    raw.close().await.expect("close");
    let filler = mnt.join("filler");
    let taken = fill(&filler);

    let tries = server.post_until_unavailable(50).await;
    assert_unavailable(server.post(&visitor()).await).await;
    server.decision(&server.acknowledged[0].0).await;

    std::fs::remove_file(&filler).expect("free the space");
    server.record("the first consent after space was freed").await;
    server.record("and the next").await;
    server.all_readable().await;
    let acknowledged = server.stop().await;
    eprintln!(
        "disk full (tmpfs): filler took {} KiB; 503 on try {tries}; {} acknowledged, all present",
        taken / 1024,
        acknowledged.len()
    );
    nothing_lost(&db, &acknowledged).await;
    drop(fs);
}

#[tokio::test]
async fn the_database_size_cap_answers_503_and_recovers_when_pages_are_freed() {
    let dir = tempfile::tempdir().expect("tmp");
    size_cap_full_and_recovery(dir.path()).await;
}

/// `database.max_pages` makes SQLite itself report SQLITE_FULL. Another connection, capped
/// the same, fills the remaining pages with a table and later drops it, freeing them.
async fn size_cap_full_and_recovery(dir: &Path) {
    let db = dir.join("accord.db");
    let mut config = config(&db);
    // Create and seed the database uncapped, then allow it 40 more pages.
    drop(accord::server::open_ledger(&config).await.expect("seed"));
    let mut raw = raw_connection(&db).await;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&mut raw).await.expect("page_count");
    let cap = u32::try_from(pages).expect("small") + 40;
    config.database.max_pages = Some(cap);
    config.validate().expect("valid");
    let state = accord::server::build_state(config).await.expect("state");
    let mut server = Server::start(state).await;
    for _ in 0..3 {
        server.record("before the cap is reached").await;
    }

    sqlx::query(&format!("PRAGMA max_page_count = {cap}")).execute(&mut raw).await.expect("cap");
    sqlx::query("CREATE TABLE filler (b BLOB)").execute(&mut raw).await.expect("filler");
    let mut rows = 0;
    loop {
        match sqlx::query("INSERT INTO filler VALUES (randomblob(3000))").execute(&mut raw).await {
            Ok(_) => rows += 1,
            Err(e) => {
                let code = e.as_database_error().and_then(|d| d.code()).unwrap_or_default();
                assert_eq!(code, "13", "SQLITE_FULL, not {e}");
                break;
            }
        }
        assert!(rows < 10_000, "the cap does not hold");
    }

    let tries = server.post_until_unavailable(200).await;
    assert_unavailable(server.post(&visitor()).await).await;
    server.decision(&server.acknowledged[0].0).await;

    sqlx::query("DROP TABLE filler").execute(&mut raw).await.expect("free pages");
    raw.close().await.expect("close");
    server.record("the first consent after pages were freed").await;
    server.record("and the next").await;
    server.all_readable().await;
    let acknowledged = server.stop().await;
    eprintln!(
        "disk full (max_pages = {cap}): filler took {rows} rows; 503 on try {tries}; {} acknowledged, all present",
        acknowledged.len()
    );
    nothing_lost(&db, &acknowledged).await;
}

// ---------------------------------------------------------------------------------------
// Read-only

/// The server, on a ledger whose pool this test holds: a file system cannot be remounted
/// read-only while files on it are open for writing, so the test closes the pooled
/// connections first (as after an idle period).
async fn start_with_reachable_pool(db: &Path) -> (Server, SqliteLedger) {
    let config = config(db);
    let state = accord::server::build_state(config.clone()).await.expect("state");
    let ledger = SqliteLedger::open_with(
        db,
        &SqliteOptions {
            max_connections: config.database.max_connections,
            busy_timeout: Duration::from_millis(u64::from(config.database.busy_timeout_ms)),
            max_pages: None,
            ..SqliteOptions::default()
        },
    )
    .await
    .expect("open");
    // Replacing the ledger drops the one build_state opened (its connections close).
    let state = state.with_ledger(Arc::new(ledger.clone()));
    (Server::start(state).await, ledger)
}

/// Closes the writer's connection and every pooled one (one just used may still be on its way
/// back to the pool).
async fn close_all(ledger: &SqliteLedger) {
    ledger.close_writer_connection().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        while let Some(conn) = ledger.pool().try_acquire() {
            conn.close().await.expect("close");
        }
        if ledger.pool().size() == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{} connections stay open", ledger.pool().size());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Makes the database file impossible to open for writing: `chattr +i` (even root obeys
/// it), else `chmod 0444` (binds non-root users only). Undone on drop.
struct NotWritable {
    file: PathBuf,
    how: &'static str,
}

impl NotWritable {
    fn apply(file: &Path) -> Option<Self> {
        use std::os::unix::fs::PermissionsExt;
        let writable = || std::fs::OpenOptions::new().write(true).open(file).is_ok();
        let chattr = Command::new("chattr").arg("+i").arg(file).output();
        if chattr.as_ref().is_ok_and(|o| o.status.success()) && !writable() {
            return Some(Self { file: file.to_owned(), how: "chattr +i" });
        }
        let guard = Self { file: file.to_owned(), how: "chmod 0444" };
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o444)).expect("chmod");
        if writable() {
            eprintln!("neither chattr +i nor chmod 0444 keeps this process from writing the file");
            return None;
        }
        Some(guard)
    }
}

impl Drop for NotWritable {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = Command::new("chattr").arg("-i").arg(&self.file).status();
        let _ = std::fs::set_permissions(&self.file, std::fs::Permissions::from_mode(0o644));
    }
}

#[tokio::test]
async fn a_database_file_that_cannot_be_opened_for_writing_answers_503_and_recovers() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("accord.db");
    let (mut server, ledger) = start_with_reachable_pool(&db).await;
    for _ in 0..3 {
        server.record("before the file turns read-only").await;
    }
    // Connections already open keep their writable descriptor; the ones opened from now on
    // (the writer's after a failure, the pool's over time) get a read-only one: SQLITE_READONLY.
    close_all(&ledger).await;
    let Some(guard) = NotWritable::apply(&db) else {
        eprintln!("read-only file: skipped (root without CAP_LINUX_IMMUTABLE, or no chattr)");
        server.stop().await;
        return;
    };
    let how = guard.how;
    eprintln!("read-only file: {how}");

    assert_unavailable(server.post(&visitor()).await).await;
    assert_unavailable(server.post(&visitor()).await).await;
    // Reads go on, over read-only connections that stay in the pool.
    for (v, id) in &server.acknowledged {
        assert_eq!(server.decision(v).await["record_id"].as_i64(), Some(*id));
    }

    drop(guard);
    // The first write after the fault: the read-only connections in the pool are replaced.
    server.record("the first consent once the file is writable again").await;
    server.record("and the next").await;
    server.all_readable().await;
    let acknowledged = server.stop().await;
    drop(ledger);
    eprintln!("read-only file ({how}): {} acknowledged, all present", acknowledged.len());
    nothing_lost(&db, &acknowledged).await;
}

#[tokio::test]
async fn a_read_only_file_system_answers_503_and_recovers_when_writable_again() {
    let dir = tempfile::tempdir().expect("tmp");
    let mnt = dir.path().join("fs");
    let Some(fs) = Tmpfs::mount(&mnt, "32m") else {
        eprintln!(
            "read-only file system: skipped, no tmpfs here (the read-only file test covers SQLITE_READONLY)"
        );
        return;
    };
    let db = mnt.join("accord.db");
    let (mut server, ledger) = start_with_reachable_pool(&db).await;
    for _ in 0..3 {
        server.record("before the file system turns read-only").await;
    }
    // `mount -o remount,ro` is refused while a file on it is open for writing: close the
    // pooled connections first (the replaced ledger's close on their own).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        close_all(&ledger).await;
        match fs.remount("ro") {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                eprintln!("remount ro: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot remount read-only: {e}"),
        }
    }
    let shm = mnt.join("accord.db-shm").exists();
    eprintln!("read-only file system: tmpfs remounted read-only (-shm left: {shm})");

    assert_unavailable(server.post(&visitor()).await).await;
    assert_unavailable(server.post(&visitor()).await).await;
    // The last connection to close removed the -wal and -shm files; without a -shm SQLite
    // cannot open a WAL database on read-only media at all, so reads are unavailable too.
    let v = server.acknowledged[0].0.clone();
    let res = server
        .http
        .get(format!("{}/api/v1/visitors/{v}/decision?site=default", server.base))
        .send()
        .await
        .expect("answers");
    if shm {
        assert_eq!(res.status(), 200);
    } else {
        assert_unavailable(res).await;
    }

    fs.remount("rw").expect("remount rw");
    server.record("the first consent once writable again").await;
    server.record("and the next").await;
    server.all_readable().await;
    let acknowledged = server.stop().await;
    drop(ledger);
    eprintln!("read-only file system: {} acknowledged, all present", acknowledged.len());
    nothing_lost(&db, &acknowledged).await;
    drop(fs);
}
