//! Consent records as auditors see them: search filters, rows, receipts, exports and the
//! dashboard's statistics. Storage is the ledger's business; this is presentation and rules.

pub mod dashboard;
pub mod export;
pub mod receipt;

use crate::error::ApiError;
use crate::ledger::{RecordFilter, StoredRecord};
use app::model::admin::{RecordQuery, RecordRow};
use app::model::{Action, VisitorId};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Largest page of a search.
pub const MAX_PAGE: u32 = 500;
pub const DEFAULT_PAGE: u32 = 50;

/// [`write_rfc3339`] as a `String` (empty outside years 0–9999).
pub fn rfc3339(ms: i64) -> String {
    let mut out = Vec::with_capacity(24);
    write_rfc3339(&mut out, ms);
    // Only ASCII digits and separators were written.
    String::from_utf8(out).unwrap_or_default()
}

/// A time in ms since the epoch as RFC 3339 in UTC, spelled as the `time` crate's `Rfc3339`
/// spells it (a test compares them): milliseconds only when not zero, trailing zeros trimmed;
/// nothing outside years 0–9999, which RFC 3339 cannot write. Without the formatter's
/// machinery or an allocation: exports write two per row, and every decision and recorded
/// consent carries two.
pub fn write_rfc3339(out: &mut Vec<u8>, ms: i64) {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return;
    };
    let two = |out: &mut Vec<u8>, n: u8| {
        out.push(b'0' + n / 10);
        out.push(b'0' + n % 10);
    };
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return;
    }
    let y = year as u32;
    out.extend_from_slice(&[
        b'0' + (y / 1000) as u8,
        b'0' + (y / 100 % 10) as u8,
        b'0' + (y / 10 % 10) as u8,
        b'0' + (y % 10) as u8,
        b'-',
    ]);
    two(out, u8::from(t.month()));
    out.push(b'-');
    two(out, t.day());
    out.push(b'T');
    two(out, t.hour());
    out.push(b':');
    two(out, t.minute());
    out.push(b':');
    two(out, t.second());
    let frac = t.millisecond();
    if frac > 0 {
        out.push(b'.');
        let digits = [b'0' + (frac / 100) as u8, b'0' + (frac / 10 % 10) as u8, b'0' + (frac % 10) as u8];
        let mut len = 3;
        while len > 1 && digits[len - 1] == b'0' {
            len -= 1;
        }
        out.extend_from_slice(&digits[..len]);
    }
    out.push(b'Z');
}

/// `YYYY-MM-DD` (a day, UTC) or RFC 3339. As an upper bound a day means its end.
pub fn parse_bound(raw: Option<&str>, what: &str, upper: bool) -> Result<Option<i64>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(None) };
    let bad = || {
        ApiError::bad_request(
            "invalid_filter",
            format!("{what} must be a date YYYY-MM-DD or an RFC 3339 time such as 2026-01-31T12:00:00Z, not {raw:?}"),
        )
    };
    if raw.len() > 40 {
        return Err(bad());
    }
    let t = if raw.len() == 10 {
        let day = time::Date::parse(raw, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| bad())?;
        let day = if upper { day.next_day().ok_or_else(bad)? } else { day };
        day.midnight().assume_utc()
    } else {
        OffsetDateTime::parse(raw, &Rfc3339).map_err(|_| bad())?
    };
    Ok(Some((t.unix_timestamp_nanos() / 1_000_000) as i64))
}

fn key(v: &Option<String>, what: &str) -> Result<Option<String>, ApiError> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s)
            if s.len() <= 64
                && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)) =>
        {
            Ok(Some(s.to_owned()))
        }
        Some(s) => Err(ApiError::bad_request(
            "invalid_filter",
            format!("{what} must be 1-64 characters of [a-z0-9._-], not {s:?}"),
        )),
    }
}

/// Validates search filters; the error names the offending filter and what is allowed.
pub fn filter(q: &RecordQuery) -> Result<RecordFilter, ApiError> {
    let visitor = match q.visitor.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(v) => Some(VisitorId::parse(v).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_filter",
                "visitor must be a visitor id: 32 lowercase hex characters",
            )
        })?),
    };
    let action = match q.action.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(a) => Some(Action::parse(a).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_filter",
                "action must be one of accept_all, reject_all, custom, withdraw, gpc",
            )
        })?),
    };
    let f = RecordFilter {
        visitor,
        site: key(&q.site, "site")?,
        from_ms: parse_bound(q.from.as_deref(), "from", false)?,
        to_ms: parse_bound(q.to.as_deref(), "to", true)?,
        granted: key(&q.granted, "granted")?,
        denied: key(&q.denied, "denied")?,
        jurisdiction: key(&q.jurisdiction, "jurisdiction")?,
        action,
    };
    if let (Some(a), Some(b)) = (f.from_ms, f.to_ms) {
        if a >= b {
            return Err(ApiError::bad_request("invalid_filter", "from must be before to"));
        }
    }
    Ok(f)
}

pub fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => {
            Err(ApiError::bad_request("invalid_limit", format!("limit must be between 1 and {MAX_PAGE}")))
        }
    }
}

pub fn row(r: &StoredRecord) -> RecordRow {
    RecordRow {
        id: r.id,
        recorded_at: rfc3339(r.recorded_at_ms),
        site: r.site.clone(),
        visitor_id: r.visitor_id.map(|v| v.to_string()),
        action: r.action.as_str().to_owned(),
        source: r.source.as_str().to_owned(),
        granted: r.granted.clone(),
        denied: r.denied.clone(),
        policy_version: r.policy_version.clone(),
        registry_version: r.registry_version.clone(),
        language: r.language.clone(),
        jurisdiction: r.jurisdiction.clone(),
        region: r.region.clone(),
        rule_version: r.rule_version.clone(),
        gpc_applied: r.gpc_applied,
        expires_at: rfc3339(r.expires_at_ms),
        page: r.page.clone(),
        ip_reduced: r.ip_reduced.clone(),
        ua_family: r.ua_family.clone(),
        erased: r.erased_at_ms.is_some(),
        hash: r.hash.map(hex::encode).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`write_rfc3339`] must match: the `time` crate's RFC 3339 formatter.
    fn rfc3339_by_time(ms: i64) -> String {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default()
    }

    #[test]
    fn rfc3339_is_spelled_as_the_time_crate_spells_it() {
        const DAY: i64 = 86_400_000;
        let year_10000 = 253_402_300_800_000_i64; // 10000-01-01T00:00:00Z
        let year_0 = -62_167_219_200_000_i64; // 0000-01-01T00:00:00Z
        let mut cases = vec![0, 1, 10, 100, 120, 999, 1000, -1, -999, -1000, -1001, DAY - 1, DAY, -DAY];
        cases.extend([951_782_400_000, 951_868_800_000, 4_107_542_400_000, 1_796_529_007_953]);
        cases.extend([year_10000 - 1, year_10000, year_0, year_0 - 1, i64::MAX, i64::MIN]);
        // Every day of the leap-year cycles around 1600, 1900, 2000 and 2100, at varied times.
        for start in [-11_676_096_000_000_i64, -2_208_988_800_000, 946_684_800_000, 4_102_444_800_000] {
            for d in 0..(4 * 366) {
                cases.push(start + d * DAY + (d * 7_919_993) % DAY);
            }
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push((x % (year_10000 as u64 + 70 * 365 * DAY as u64)) as i64 - 70 * 365 * DAY);
        }
        for ms in cases {
            assert_eq!(rfc3339(ms), rfc3339_by_time(ms), "{ms} ms");
        }
        assert_eq!(rfc3339(1_796_529_007_950), "2026-12-06T03:50:07.95Z");
        assert_eq!(rfc3339(year_10000), "");
    }

    #[test]
    fn a_day_as_upper_bound_includes_the_whole_day() {
        let from = parse_bound(Some("2026-03-01"), "from", false).ok().flatten();
        let to = parse_bound(Some("2026-03-01"), "to", true).ok().flatten();
        assert_eq!(to.zip(from).map(|(t, f)| t - f), Some(86_400_000));
        assert!(parse_bound(Some("yesterday"), "from", false).is_err());
        assert_eq!(parse_bound(Some("1970-01-01T00:00:01Z"), "from", false).ok().flatten(), Some(1000));
    }

    #[test]
    fn filters_are_validated_with_a_reason() {
        let q = RecordQuery { visitor: Some("nope".into()), ..Default::default() };
        let e = filter(&q).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("32 lowercase hex"), "{e}");
        let q = RecordQuery { granted: Some("Ana'lytics".into()), ..Default::default() };
        assert!(filter(&q).is_err());
        let q = RecordQuery {
            from: Some("2026-02-01".into()),
            to: Some("2026-01-01".into()),
            ..Default::default()
        };
        assert!(filter(&q).is_err());
        let q =
            RecordQuery { action: Some("gpc".into()), site: Some("default".into()), ..Default::default() };
        assert_eq!(filter(&q).ok().and_then(|f| f.action), Some(Action::Gpc));
    }
}
