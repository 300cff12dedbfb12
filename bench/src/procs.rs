//! The servers under test as child processes: start, find the address they listen on, notice
//! when they die, read their memory high-water mark.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
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
    pub fn start(name: &'static str, cmd: Command) -> Result<Self> {
        Self::start_logging(name, cmd, None)
    }

    /// As [`Server::start`], also copying every line the server writes to stderr to `copy`.
    pub fn start_logging(name: &'static str, mut cmd: Command, copy: Option<&Path>) -> Result<Self> {
        let mut copy = copy
            .map(|p| std::fs::File::create(p).with_context(|| format!("create {}", p.display())))
            .transpose()?
            .map(std::io::BufWriter::new);
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
                if let Some(f) = copy.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
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

/// How much CPU processes other than the benchmark's own used during a phase: a build or a
/// test run elsewhere on the machine skews every number, so each phase reports it.
pub struct Noise {
    ours: Vec<u32>,
    busy: u64,
    own: u64,
    at: std::time::Instant,
}

/// Busy clock ticks of the whole machine (every CPU), from /proc/stat.
fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> =
        stat.lines().next()?.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user + nice + system. Interrupt and softirq time (loopback networking) is left out:
    // the kernel books it to no process, though here it is mostly the benchmark's own traffic.
    Some(cpu.iter().take(3).sum())
}

/// User + system clock ticks of one process (all its threads), from /proc/PID/stat.
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After "pid (comm)": state is field 3, utime 14, stime 15.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

impl Noise {
    /// Starts counting; `ours` are the benchmark's processes (this one is always included).
    pub fn start(ours: &[u32]) -> Self {
        let mut ours = ours.to_vec();
        ours.push(std::process::id());
        let own = ours.iter().filter_map(|p| process_ticks(*p)).sum();
        Self { busy: machine_busy_ticks().unwrap_or(0), own, ours, at: std::time::Instant::now() }
    }

    /// Percent of the machine's CPU capacity used by other processes since `start`.
    pub fn other_cpu_pct(&self) -> Option<f64> {
        let busy = machine_busy_ticks()?.checked_sub(self.busy)?;
        let own = self.ours.iter().filter_map(|p| process_ticks(*p)).sum::<u64>().saturating_sub(self.own);
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
        let capacity = self.at.elapsed().as_secs_f64() * cpus * clock_ticks_per_second();
        (capacity > 0.0).then(|| (busy.saturating_sub(own) as f64 / capacity * 100.0).clamp(0.0, 100.0))
    }
}
