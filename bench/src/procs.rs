//! The servers under test as child processes: start, find the address they listen on, notice
//! when they die, read their memory high-water mark.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Lines of a child's stderr kept for error messages.
const KEEP_LINES: usize = 40;

pub struct Server {
    pub name: &'static str,
    pub addr: SocketAddr,
    child: Child,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Server {
    /// Spawns `cmd` and waits until it prints `listening on http://ADDR` on stderr. Stderr is
    /// drained for the child's whole life, so a chatty server never blocks on a full pipe.
    pub fn start(name: &'static str, mut cmd: Command) -> Result<Self> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {name}: {cmd:?}"))?;
        let stderr = child.stderr.take().ok_or_else(|| anyhow!("{name}: no stderr pipe"))?;
        let log = Arc::new(Mutex::new(VecDeque::with_capacity(KEEP_LINES)));
        let (tx, rx) = std::sync::mpsc::channel();
        let keep = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(url.trim().to_owned());
                }
                if let Ok(mut l) = keep.lock() {
                    if l.len() == KEEP_LINES {
                        l.pop_front();
                    }
                    l.push_back(line);
                }
            }
        });
        let mut server = Self { name, addr: SocketAddr::from(([127, 0, 0, 1], 0)), child, log };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(addr) => {
                    server.addr = addr.parse().with_context(|| format!("{name} printed address {addr:?}"))?;
                    return Ok(server);
                }
                Err(_) => {
                    server.check_alive()?;
                    if std::time::Instant::now() > deadline {
                        bail!("{name} did not report its address within 60 s\n{}", server.tail());
                    }
                }
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines the server wrote to stderr.
    pub fn tail(&self) -> String {
        self.log.lock().map(|l| l.iter().cloned().collect::<Vec<_>>().join("\n")).unwrap_or_default()
    }

    /// Fails loudly, with the server's last log lines, if it has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait().context("wait")? {
            // Give the reader thread a moment to collect the last lines.
            std::thread::sleep(Duration::from_millis(200));
            bail!("{} died ({status}); its last output:\n{}", self.name, self.tail());
        }
        Ok(())
    }

    /// A field of /proc/PID/status in KiB (VmHWM: peak resident set, VmRSS: current).
    pub fn status_kib(&self, field: &str) -> Result<u64> {
        status_kib(self.pid(), field)
    }

    /// SIGTERM, then SIGKILL if it has not stopped within 10 s.
    pub fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if self.child.try_wait().context("wait")?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill().context("kill")?;
        self.child.wait().context("wait")?;
        bail!("{} did not stop within 10 s of SIGTERM", self.name)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("no {field} in /proc/{pid}/status"))
}
