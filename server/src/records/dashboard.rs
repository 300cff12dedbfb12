//! Opt-in statistics for the dashboard: per category, per jurisdiction and per day.

use crate::ledger::StatRow;
use app::model::admin::{CategoryRate, Dashboard, GroupRates, LedgerHead, Totals};
use app::model::{Action, SiteContent};
use std::collections::BTreeMap;

/// Longest period one dashboard covers.
pub const MAX_DAYS: i64 = 366;
pub const DEFAULT_DAYS: i64 = 30;

fn rates(content: &SiteContent, rows: &[&StatRow]) -> Vec<CategoryRate> {
    content
        .optional_categories()
        .map(|c| {
            let mut rate =
                CategoryRate { category: c.key.clone(), name: c.name.clone(), granted: 0, decided: 0 };
            for r in rows {
                if r.granted.contains(&c.key) {
                    rate.granted += r.count;
                    rate.decided += r.count;
                } else if r.denied.contains(&c.key) {
                    rate.decided += r.count;
                }
            }
            rate
        })
        .collect()
}

/// Builds the dashboard for the days `from..=to` (`YYYY-MM-DD`) from grouped counts.
pub fn build(
    content: &SiteContent,
    rows: &[StatRow],
    from: time::Date,
    to: time::Date,
    site: Option<String>,
    head: LedgerHead,
) -> Dashboard {
    let mut totals = Totals::default();
    for r in rows {
        totals.records += r.count;
        match r.action {
            Action::AcceptAll => totals.accept_all += r.count,
            Action::RejectAll => totals.reject_all += r.count,
            Action::Custom => totals.custom += r.count,
            Action::Withdraw => totals.withdraw += r.count,
            Action::Gpc => totals.gpc += r.count,
        }
    }
    let all: Vec<&StatRow> = rows.iter().collect();
    let mut by_j: BTreeMap<&str, Vec<&StatRow>> = BTreeMap::new();
    let mut by_d: BTreeMap<&str, Vec<&StatRow>> = BTreeMap::new();
    for r in rows {
        by_j.entry(&r.jurisdiction).or_default().push(r);
        by_d.entry(&r.day).or_default().push(r);
    }
    let group = |label: String, rows: &[&StatRow]| GroupRates {
        label,
        records: rows.iter().map(|r| r.count).sum(),
        categories: rates(content, rows),
    };
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let mut by_day = Vec::new();
    let mut day = from;
    while day <= to {
        let label = day.format(fmt).unwrap_or_default();
        let rows = by_d.get(label.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        by_day.push(group(label, rows));
        match day.next_day() {
            Some(d) => day = d,
            None => break,
        }
    }
    Dashboard {
        from: from.format(fmt).unwrap_or_default(),
        to: to.format(fmt).unwrap_or_default(),
        site,
        totals,
        categories: rates(content, &all),
        by_jurisdiction: by_j.iter().map(|(j, rows)| group((*j).to_owned(), rows)).collect(),
        by_day,
        head,
    }
}
