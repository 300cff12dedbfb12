//! Results: every number as JSON, the verdicts as a Markdown table.

use crate::RunArgs;
use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// One measured HTTP phase.
#[derive(Clone, Debug, Serialize)]
pub struct Phase {
    pub name: String,
    pub server: String,
    pub endpoint: String,
    /// `closed` (next request when the answer arrived) or `open` (fixed schedule).
    pub mode: String,
    pub connections: usize,
    pub seconds: f64,
    /// Answers counted in the measured window (warm-up excluded).
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_body_bytes: f64,
    /// Every request sent, warm-up included.
    pub sent: u64,
    /// Answers with another status (or encoding, or body) than expected, and transport errors.
    pub errors: u64,
    pub error_samples: Vec<String>,
    /// Open loop: the scheduled rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_rps: Option<f64>,
    /// Open loop: requests that could not leave on schedule because every connection was busy
    /// (their latency counts from the scheduled time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late: Option<u64>,
    /// Percent of the machine's CPU used meanwhile by processes other than the benchmark,
    /// Accord and the ceiling (a build elsewhere): above a few percent the phase is skewed.
    pub other_cpu_pct: Option<f64>,
}

pub struct Results {
    pub meta: Map<String, Value>,
    pub phases: Vec<Phase>,
    values: BTreeMap<String, Value>,
    pub failure: Option<String>,
    quick: bool,
}

fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).current_dir(crate::workspace_root()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines().find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, v)| v.trim().to_owned()))
}

fn mem_total_kib() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    info.lines().find_map(|l| l.strip_prefix("MemTotal:")?.split_whitespace().next()?.parse().ok())
}

impl Results {
    pub fn new(args: &RunArgs) -> Result<Self> {
        let mut meta = Map::new();
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .context("format the date")?;
        let dirty = command_line("git", &["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
        meta.insert("date".into(), json!(now));
        meta.insert("mode".into(), json!(if args.quick { "quick" } else { "full" }));
        meta.insert("git_commit".into(), json!(command_line("git", &["rev-parse", "HEAD"])));
        meta.insert("git_dirty".into(), json!(dirty));
        meta.insert("rustc".into(), json!(command_line("rustc", &["--version"])));
        meta.insert("nproc".into(), json!(std::thread::available_parallelism().map(|n| n.get()).ok()));
        meta.insert("cpu_model".into(), json!(cpu_model()));
        meta.insert("mem_total_kib".into(), json!(mem_total_kib()));
        meta.insert("kernel".into(), json!(command_line("uname", &["-sr"])));
        meta.insert(
            "settings".into(),
            json!({
                "connections": args.connections,
                "measure_seconds": args.measure().as_secs(),
                "warmup_seconds": args.warmup().as_secs(),
                "records": args.records(),
                "lookup_records": args.lookup_records(),
                "lookups": args.lookups,
                "accord_binary": crate::load::accord_binary(args).display().to_string(),
            }),
        );
        Ok(Self { meta, phases: Vec::new(), values: BTreeMap::new(), failure: None, quick: args.quick })
    }

    /// Records a value under `group.key`.
    pub fn set(&mut self, key: &str, value: Value) {
        self.values.insert(key.to_owned(), value);
    }

    fn num(&self, key: &str) -> Option<f64> {
        self.values.get(key)?.as_f64()
    }

    fn phase(&self, name: &str) -> Option<&Phase> {
        self.phases.iter().find(|p| p.name == name)
    }

    pub fn http_errors(&self) -> u64 {
        self.phases.iter().map(|p| p.errors).sum()
    }

    fn to_json(&self, rows: &[Row]) -> Value {
        let mut groups = Map::new();
        for (k, v) in &self.values {
            let (group, key) = k.split_once('.').unwrap_or(("other", k));
            let entry = groups.entry(group.to_owned()).or_insert_with(|| json!({}));
            if let Some(obj) = entry.as_object_mut() {
                obj.insert(key.to_owned(), v.clone());
            }
        }
        json!({
            "meta": self.meta,
            "summary": rows.iter().map(|r| json!({
                "metric": r.metric, "value": r.value, "target": r.target, "result": r.verdict(),
                "number": r.number,
            })).collect::<Vec<_>>(),
            "http": self.phases,
            "measurements": groups,
            "failure": self.failure,
        })
    }

    fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        let ratio = |a: Option<&Phase>, b: Option<&Phase>| match (a, b) {
            (Some(a), Some(b)) if b.rps > 0.0 => Some((a.rps, b.rps, a.rps / b.rps)),
            _ => None,
        };
        let w = self.phase("consent writes");
        if let Some((a, b, r)) = ratio(w, self.phase("ceiling POST")) {
            rows.push(Row::new(
                "consent writes/s (closed loop)",
                format!("{a:.0}/s = {:.1} % of ceiling {b:.0}/s", r * 100.0),
                "≥ 40 % of ceiling",
                r * 100.0,
                Some(r >= 0.40),
            ));
        }
        if let Some(w) = w {
            rows.push(Row::new(
                "write latency, closed loop (p50 / p99)",
                format!("{:.2} / {:.2} ms", w.p50_ms, w.p99_ms),
                "—",
                w.p99_ms,
                None,
            ));
        }
        if let Some((a, b, r)) = ratio(self.phase("consent writes, random ids"), self.phase("ceiling POST")) {
            let p99 = self.phase("consent writes, random ids").map_or(0.0, |p| p.p99_ms);
            rows.push(Row::new(
                "consent writes/s, every visitor id random (closed loop)",
                format!("{a:.0}/s = {:.1} % of ceiling {b:.0}/s; p99 {p99:.2} ms", r * 100.0),
                "— (worst case)",
                r * 100.0,
                None,
            ));
        }
        if let Some(o) = self.phase("consent writes (open loop)") {
            rows.push(Row::new(
                "write latency at 80 % of max rate (p50 / p99)",
                format!(
                    "{:.2} / {:.2} ms at {:.0}/s (achieved {:.0}/s)",
                    o.p50_ms,
                    o.p99_ms,
                    o.target_rps.unwrap_or(0.0),
                    o.rps
                ),
                "p99 < 10 ms",
                o.p99_ms,
                Some(o.p99_ms < 10.0),
            ));
        }
        let reads = [
            ("decision reads", "decision reads/s", "ceiling GET", "≥ 70 % of ceiling"),
            ("banner config", "banner config/s (gzip)", "ceiling GET config", "≥ 70 % (read target)"),
            ("embed script", "embed script/s (gzip)", "ceiling GET script", "≥ 70 % (read target)"),
        ];
        for (name, label, ceiling, target) in reads {
            if let (Some(p), Some((a, b, r))) =
                (self.phase(name), ratio(self.phase(name), self.phase(ceiling)))
            {
                rows.push(Row::new(
                    label,
                    format!(
                        "{a:.0}/s = {:.1} % of ceiling {b:.0}/s; p50 {:.2} ms, p99 {:.2} ms",
                        r * 100.0,
                        p.p50_ms,
                        p.p99_ms
                    ),
                    target,
                    r * 100.0,
                    Some(r >= 0.70),
                ));
            }
        }
        if let (Some(p), Some((a, b, r))) = (
            self.phase("decision reads, first read"),
            ratio(self.phase("decision reads, first read"), self.phase("ceiling GET")),
        ) {
            rows.push(Row::new(
                "decision reads/s, first read of each sampled visitor (from memory or SQLite)",
                format!(
                    "{a:.0}/s = {:.1} % of ceiling {b:.0}/s; p50 {:.2} ms, p99 {:.2} ms ({} visitors)",
                    r * 100.0,
                    p.p50_ms,
                    p.p99_ms,
                    p.requests
                ),
                "— (info)",
                r * 100.0,
                None,
            ));
        }
        if !self.phases.is_empty() {
            let errors = self.http_errors();
            let sent: u64 = self.phases.iter().map(|p| p.sent).sum();
            rows.push(Row::new(
                "unexpected answers (non-2xx, wrong body, transport)",
                format!("{errors} of {sent} requests"),
                "0",
                errors as f64,
                Some(errors == 0),
            ));
        }
        if let Some(kib) = self.num("rss.accord_peak_kib") {
            let mib = kib / 1024.0;
            rows.push(Row::new(
                "accord peak RSS (VmHWM after the HTTP phases)",
                format!("{mib:.1} MiB"),
                "≤ 64 MiB",
                mib,
                Some(mib <= 64.0),
            ));
        }
        let scale = if self.quick { " (quick: smaller than the target size)" } else { "" };
        if let (Some(b), Some(n)) = (self.num("storage.bytes_per_record"), self.num("storage.records")) {
            rows.push(Row::new(
                &format!("bytes per stored record at {}{scale}", count(n)),
                format!("{b:.1} B"),
                "≤ 200 B",
                b,
                Some(b <= 200.0),
            ));
        }
        if let (Some(p99), Some(n)) = (self.num("lookup.p99_ms"), self.num("lookup.records")) {
            rows.push(Row::new(
                &format!("visitor-history lookup at {}{scale} (p50 / p99)", count(n)),
                format!("{:.3} / {p99:.3} ms", self.num("lookup.p50_ms").unwrap_or(0.0)),
                "p99 < 2 ms",
                p99,
                Some(p99 < 2.0),
            ));
        }
        if let (Some(r), Some(n)) = (self.num("export.rows_per_s"), self.num("export.records")) {
            rows.push(Row::new(
                &format!("export rows/s (`accord export --format ndjson`, {} records{scale})", count(n)),
                format!("{:.0} rows/s ({:.2} s wall)", r, self.num("export.wall_s").unwrap_or(0.0)),
                "≥ 500 000 rows/s",
                r,
                Some(r >= 500_000.0),
            ));
        }
        if let Some(r) = self.num("export.http_rows_per_s") {
            rows.push(Row::new(
                "export rows/s over HTTP (`GET /api/v1/admin/export?format=ndjson`)",
                format!("{r:.0} rows/s ({:.2} s)", self.num("export.http_wall_s").unwrap_or(0.0)),
                "—",
                r,
                None,
            ));
        }
        rows
    }

    /// Writes latest.json and latest.md (or failed.json / failed.md when the run failed, so a
    /// broken run never replaces good results); returns the Markdown.
    pub fn write(&self, dir: &Path) -> Result<String> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let rows = self.rows();
        let md = self.markdown(&rows);
        let stem = if self.failure.is_some() { "failed" } else { "latest" };
        let json = serde_json::to_string_pretty(&self.to_json(&rows)).context("serialize results")?;
        std::fs::write(dir.join(format!("{stem}.json")), json + "\n").context("write results JSON")?;
        std::fs::write(dir.join(format!("{stem}.md")), &md).context("write results Markdown")?;
        Ok(md)
    }

    fn markdown(&self, rows: &[Row]) -> String {
        let m = |k: &str| self.meta.get(k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
        let mut s = String::new();
        let _ = writeln!(s, "# Accord benchmark ({} run)\n", m("mode").unwrap_or_default());
        let _ = writeln!(
            s,
            "{} · {} × {} · {} · commit {}{} · `accord-bench run{}`\n",
            m("date").unwrap_or_default(),
            m("nproc").unwrap_or_default(),
            m("cpu_model").unwrap_or_default(),
            m("rustc").unwrap_or_default(),
            m("git_commit").unwrap_or_default().chars().take(12).collect::<String>(),
            if self.meta.get("git_dirty") == Some(&json!(true)) { " (with uncommitted changes)" } else { "" },
            if self.quick { " --quick" } else { "" },
        );
        if let Some(f) = &self.failure {
            let _ = writeln!(s, "**The run failed:** {f}\n");
        }
        let noisy: Vec<String> = self
            .phases
            .iter()
            .filter_map(|p| Some((p, p.other_cpu_pct?)))
            .filter(|(_, v)| *v > 5.0)
            .map(|(p, v)| format!("{} ({v:.0} %)", p.name))
            .collect();
        if !noisy.is_empty() {
            let _ = writeln!(
                s,
                "**Other processes used the CPU during:** {}: those numbers are lower than on an idle machine.\n",
                noisy.join(", ")
            );
        }
        let _ = writeln!(s, "| metric | value | target | result |\n| --- | --- | --- | --- |");
        for r in rows {
            let verdict = if r.pass == Some(false) { "**FAIL**" } else { r.verdict() };
            let _ = writeln!(s, "| {} | {} | {} | {verdict} |", r.metric, r.value, r.target);
        }
        if !self.phases.is_empty() {
            let _ = writeln!(
                s,
                "\n## HTTP phases\n\n| phase | server | request | mode | conns | req/s | p50 ms | p99 ms | p99.9 ms | max ms | body B | errors | other CPU |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
            );
            for p in &self.phases {
                let _ = writeln!(
                    s,
                    "| {} | {} | `{}` | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {} | {} |",
                    p.name,
                    p.server,
                    p.endpoint,
                    match (p.target_rps, p.late) {
                        (Some(r), Some(l)) => format!("open @ {r:.0}/s ({l} late)"),
                        _ => p.mode.clone(),
                    },
                    p.connections,
                    p.rps,
                    p.p50_ms,
                    p.p99_ms,
                    p.p999_ms,
                    p.max_ms,
                    p.mean_body_bytes,
                    p.errors,
                    p.other_cpu_pct.map_or_else(|| "?".to_owned(), |v| format!("{v:.0} %"))
                );
            }
            for p in self.phases.iter().filter(|p| !p.error_samples.is_empty()) {
                for e in &p.error_samples {
                    let _ = writeln!(s, "\n- error ({}): {}", p.name, e);
                }
            }
        }
        if let Some(Value::Array(parts)) = self.values.get("storage.dbstat") {
            let n = self.num("storage.records").unwrap_or(1.0).max(1.0);
            let _ = writeln!(
                s,
                "\n## Where the bytes are ({} records, `dbstat`)\n\n| b-tree | bytes | bytes/record |\n| --- | --- | --- |",
                count(n)
            );
            // Tables and indexes under half a byte per record are summed into one line.
            let (mut rest, mut rest_n) = (0.0, 0);
            for p in parts {
                let bytes = p["bytes"].as_f64().unwrap_or(0.0);
                if bytes / n < 0.5 {
                    rest += bytes;
                    rest_n += 1;
                    continue;
                }
                let name = p["name"].as_str().unwrap_or("?");
                let _ = writeln!(s, "| {name} | {bytes:.0} | {:.1} |", bytes / n);
            }
            if rest_n > 0 {
                let _ = writeln!(
                    s,
                    "| {rest_n} other b-trees (content, tokens, audit log, …) | {rest:.0} | {:.1} |",
                    rest / n
                );
            }
        }
        let _ = writeln!(s, "\nAll numbers: `latest.json`. How they are measured: README, \"Benchmark\".");
        s
    }
}

fn count(n: f64) -> String {
    if n >= 1e6 && (n / 1e6).fract() == 0.0 {
        format!("{} M", n / 1e6)
    } else if n >= 1e3 && (n / 1e3).fract() == 0.0 {
        format!("{} k", n / 1e3)
    } else {
        format!("{n}")
    }
}

struct Row {
    metric: String,
    value: String,
    target: String,
    number: f64,
    pass: Option<bool>,
}

impl Row {
    fn new(metric: &str, value: String, target: &str, number: f64, pass: Option<bool>) -> Self {
        Self { metric: metric.to_owned(), value, target: target.to_owned(), number, pass }
    }

    fn verdict(&self) -> &'static str {
        match self.pass {
            Some(true) => "pass",
            Some(false) => "FAIL",
            None => "info",
        }
    }
}
