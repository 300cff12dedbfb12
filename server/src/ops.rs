//! Operator commands on the database: `accord export`, `accord verify`, `accord purge`.
//! Each is audited as actor `cli`.

use crate::audit::{self, Actor};
use crate::cli::ExportArgs;
use crate::config::Config;
use crate::ledger::RecordFilter;
use crate::records::export::Format;
use crate::server::{open_ledger, StartError};
use app::model::admin::RecordQuery;
use std::io::{IsTerminal, Write};

fn filter(args: &ExportArgs) -> Result<RecordFilter, StartError> {
    let q = RecordQuery {
        visitor: args.visitor.clone(),
        site: args.site.clone(),
        from: args.from.clone(),
        to: args.to.clone(),
        granted: args.granted.clone(),
        denied: args.denied.clone(),
        jurisdiction: args.jurisdiction.clone(),
        action: args.action.clone(),
        before: None,
        limit: None,
    };
    crate::records::filter(&q).map_err(|e| StartError::Usage(e.to_string()))
}

/// `accord export`: streams in constant memory; a progress bar on stderr when it is a terminal.
pub async fn export(config: &Config, args: ExportArgs) -> Result<(), StartError> {
    let format = args.format.unwrap_or(Format::Ndjson);
    let filter = filter(&args)?;
    let ledger = open_ledger(config).await?;
    let total = ledger.count(&filter).await?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| StartError::Usage(format!("cannot create {}: {e}", path.display())))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} records  {per_sec}  eta {eta}")
        {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    audit::append(
        ledger.as_ref(),
        Actor::Cli,
        "records.export",
        "consent records".into(),
        format!("{} {total} record(s)", format.extension()),
        None,
    )
    .await?;
    let mut rx = ledger.export(filter, format);
    let mut written = 0u64;
    let io = |e: std::io::Error| StartError::Usage(format!("cannot write the export: {e}"));
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk?;
        out.write_all(&chunk.bytes).map_err(io)?;
        written += chunk.rows as u64;
        bar.set_position(written);
    }
    out.flush().map_err(io)?;
    bar.finish_and_clear();
    eprintln!("exported {written} record(s) as {}", format.extension());
    Ok(())
}

/// `accord verify`: exit 0 when the chain is intact (and extends `expect_head`), else 1.
pub async fn verify(config: &Config, expect_head: Option<&str>) -> Result<(), StartError> {
    let ledger = open_ledger(config).await?;
    let report = ledger.verify().await?;
    audit::append(ledger.as_ref(), Actor::Cli, "ledger.verify", "hash chain".into(), String::new(), None)
        .await?;
    println!(
        "checked {} record(s) from {}; head {}:{}",
        report.checked,
        if report.checkpoint_through == 0 {
            "the start".to_owned()
        } else {
            format!("checkpoint {}", report.checkpoint_through)
        },
        report.head_count,
        report.head_hash
    );
    if let Some(f) = &report.finding {
        return Err(StartError::Verification(f.to_string()));
    }
    if let Some(expected) = expect_head {
        let (count, hash) = match expected.split_once(':') {
            Some((c, h)) => (
                Some(
                    c.parse::<i64>()
                        .map_err(|_| StartError::Usage("--expect-head COUNT must be a number".into()))?,
                ),
                h,
            ),
            None => (None, expected),
        };
        let hash = hex::decode(hash.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| StartError::Usage("--expect-head HASH must be 64 hex characters".into()))?;
        match ledger.contains_link(count, &hash).await? {
            true => println!("the published head is part of the chain"),
            false => {
                return Err(StartError::Verification(
                    "the published head is not in the chain: records up to it were altered or removed".into(),
                ))
            }
        }
    }
    println!("chain intact");
    Ok(())
}

/// `accord purge`
pub async fn purge(config: &Config, days: Option<u32>) -> Result<(), StartError> {
    let days = days.unwrap_or(config.retention.days);
    let floor = config.longest_lifetime_days();
    if days < floor {
        return Err(StartError::Usage(format!(
            "--days must be at least {floor}, the longest consent lifetime"
        )));
    }
    let ledger = open_ledger(config).await?;
    let r = crate::retention::purge_with(ledger.as_ref(), days).await?;
    let detail = crate::retention::describe(&r, days);
    audit::append(ledger.as_ref(), Actor::Cli, "purge", "consent records".into(), detail.clone(), None)
        .await?;
    println!("{detail}");
    Ok(())
}
