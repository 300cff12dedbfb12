//! The consent decision as the visitor's browser carries it (cookie format v1, see
//! `docs/contracts.md`) and the vocabulary of consent records.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Version tag written as the first field of the cookie.
pub const COOKIE_FORMAT: u8 = 1;
const SEP: char = '~';
const CATEGORY_SEP: char = '.';
/// Upper bound for a cookie value we agree to parse; a real one is < 200 bytes.
pub const MAX_COOKIE_LEN: usize = 1024;

/// A 128-bit pseudonymous visitor identifier, never derived from personal data. The server
/// issues them as the issue time in milliseconds (48 bits) and 80 random bits
/// (`accord::consent::issue_visitor_id`); any 128-bit value is accepted.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VisitorId(pub [u8; 16]);

impl VisitorId {
    /// Parses the canonical form: exactly 32 lowercase hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            out[i] = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
        }
        Some(Self(out))
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl VisitorId {
    /// The canonical form, 32 lowercase hex digits, without going through the formatter
    /// (decision answers and cookies spell one out on every request).
    pub fn hex(&self) -> [u8; 32] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(b >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
        }
        out
    }

    /// The 32 hex digits as a `String`, without the formatter (every API answer has one).
    pub fn hex_string(&self) -> String {
        // Hex digits are ASCII: the check cannot fail.
        String::from_utf8(self.hex().to_vec()).unwrap_or_default()
    }
}

impl fmt::Display for VisitorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.hex();
        // Hex digits are ASCII.
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for VisitorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VisitorId({self})")
    }
}

impl TryFrom<String> for VisitorId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or_else(|| "visitor id must be 32 lowercase hex characters".to_owned())
    }
}

impl From<VisitorId> for String {
    fn from(v: VisitorId) -> Self {
        v.to_string()
    }
}

/// What the visitor did.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    AcceptAll,
    RejectAll,
    Custom,
    Withdraw,
    /// The browser's Global Privacy Control signal was applied without a click.
    Gpc,
}

impl Action {
    pub const ALL: [Action; 5] = [Self::AcceptAll, Self::RejectAll, Self::Custom, Self::Withdraw, Self::Gpc];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AcceptAll => "accept_all",
            Self::RejectAll => "reject_all",
            Self::Custom => "custom",
            Self::Withdraw => "withdraw",
            Self::Gpc => "gpc",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Where the choice was made.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Banner,
    Preferences,
    Api,
}

impl Source {
    pub const ALL: [Source; 3] = [Self::Banner, Self::Preferences, Self::Api];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Banner => "banner",
            Self::Preferences => "preferences",
            Self::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Why a cookie value was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CookieError {
    TooLong,
    WrongFieldCount,
    UnsupportedFormat,
    BadVisitorId,
    BadTimestamp,
    BadPolicyVersion,
    BadCategory,
}

impl fmt::Display for CookieError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooLong => "consent cookie is longer than 1024 bytes",
            Self::WrongFieldCount => "consent cookie must have 5 fields separated by '~'",
            Self::UnsupportedFormat => "consent cookie format version is not 1",
            Self::BadVisitorId => "consent cookie visitor id must be 32 lowercase hex characters",
            Self::BadTimestamp => "consent cookie timestamp must be unix seconds",
            Self::BadPolicyVersion => "consent cookie policy version is malformed",
            Self::BadCategory => "consent cookie category key is malformed",
        })
    }
}

impl std::error::Error for CookieError {}

/// A category key: `^[a-z][a-z0-9_]{0,31}$`.
pub fn is_category_key(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// A policy version id: `^[A-Za-z0-9._-]{1,32}$`.
pub fn is_policy_version(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// A cookie name we are willing to emit: `^[A-Za-z0-9_-]{1,64}$`.
pub fn is_cookie_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// The decision stored in the visitor's browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentCookie {
    pub visitor_id: VisitorId,
    /// Unix seconds.
    pub decided_at: i64,
    pub policy_version: String,
    /// Granted optional categories (required ones are implied).
    pub granted: Vec<String>,
}

impl ConsentCookie {
    pub fn parse(value: &str) -> Result<Self, CookieError> {
        if value.len() > MAX_COOKIE_LEN {
            return Err(CookieError::TooLong);
        }
        let fields: Vec<&str> = value.split(SEP).collect();
        let [format, vid, ts, version, granted] = fields.as_slice() else {
            return Err(CookieError::WrongFieldCount);
        };
        if *format != "1" {
            return Err(CookieError::UnsupportedFormat);
        }
        let visitor_id = VisitorId::parse(vid).ok_or(CookieError::BadVisitorId)?;
        // Only plain digits: no sign, no leading '+', at most 12 digits (year 33658).
        if ts.is_empty() || ts.len() > 12 || !ts.bytes().all(|c| c.is_ascii_digit()) {
            return Err(CookieError::BadTimestamp);
        }
        let decided_at = ts.parse::<i64>().map_err(|_| CookieError::BadTimestamp)?;
        if !is_policy_version(version) {
            return Err(CookieError::BadPolicyVersion);
        }
        let mut keys = Vec::new();
        if !granted.is_empty() {
            for key in granted.split(CATEGORY_SEP) {
                if !is_category_key(key) {
                    return Err(CookieError::BadCategory);
                }
                if !keys.iter().any(|k| k == key) {
                    keys.push(key.to_owned());
                }
            }
        }
        Ok(Self { visitor_id, decided_at, policy_version: (*version).to_owned(), granted: keys })
    }

    pub fn grants(&self, category: &str) -> bool {
        self.granted.iter().any(|g| g == category)
    }

    /// Seconds the decision stays valid: refusals are asked again sooner (CNIL: ~6 months).
    pub fn lifetime_secs(&self, consent_days: u32, refusal_days: u32) -> i64 {
        let days = if self.granted.is_empty() { refusal_days } else { consent_days };
        i64::from(days) * 86_400
    }

    /// Valid = made under the current policy version, not in the future, not expired at
    /// `now` (unix seconds) under the given lifetimes.
    pub fn is_valid(
        &self,
        valid_versions: &[String],
        now: i64,
        consent_days: u32,
        refusal_days: u32,
    ) -> bool {
        valid_versions.contains(&self.policy_version)
            && self.decided_at <= now + 300
            && now < self.decided_at.saturating_add(self.lifetime_secs(consent_days, refusal_days))
    }
}

impl ConsentCookie {
    /// The cookie value, written by hand: every recorded consent answers with one, and the
    /// formatter's machinery cost more than the rest of building it.
    pub fn value(&self) -> String {
        let granted: usize = self.granted.iter().map(|k| k.len() + 1).sum();
        let mut out = String::with_capacity(64 + self.policy_version.len() + granted);
        out.push_str(itoa::Buffer::new().format(COOKIE_FORMAT));
        out.push(SEP);
        // Hex digits are ASCII.
        out.push_str(std::str::from_utf8(&self.visitor_id.hex()).unwrap_or_default());
        out.push(SEP);
        out.push_str(itoa::Buffer::new().format(self.decided_at));
        out.push(SEP);
        out.push_str(&self.policy_version);
        out.push(SEP);
        for (i, key) in self.granted.iter().enumerate() {
            if i > 0 {
                out.push(CATEGORY_SEP);
            }
            out.push_str(key);
        }
        out
    }
}

impl fmt::Display for ConsentCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VID: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

    #[test]
    fn the_value_is_spelled_as_documented() {
        let vid = VisitorId::parse(VID).expect("vid");
        for (decided_at, granted) in
            [(0, vec![]), (1_763_900_000, vec!["analytics"]), (-5, vec!["a", "b_c"]), (i64::MAX, vec![])]
        {
            let c = ConsentCookie {
                visitor_id: vid,
                decided_at,
                policy_version: "2023-07-05".into(),
                granted: granted.iter().map(|g| (*g).to_owned()).collect(),
            };
            assert_eq!(c.value(), format!("1~{VID}~{decided_at}~2023-07-05~{}", granted.join(".")));
            assert_eq!(c.to_string(), c.value());
        }
    }

    #[test]
    fn round_trips_the_documented_example() {
        let raw = format!("1~{VID}~1763900000~2023-07-05~analytics.marketing");
        let c = ConsentCookie::parse(&raw).expect("parses");
        assert_eq!(c.visitor_id.to_string(), VID);
        assert_eq!(c.visitor_id.hex_string(), VID);
        assert_eq!(c.decided_at, 1_763_900_000);
        assert_eq!(c.granted, vec!["analytics", "marketing"]);
        assert_eq!(c.to_string(), raw);
    }

    #[test]
    fn empty_grant_list_means_refusal() {
        let c = ConsentCookie::parse(&format!("1~{VID}~10~v1~")).expect("parses");
        assert!(c.granted.is_empty());
        assert!(!c.grants("analytics"));
    }

    #[test]
    fn rejects_malformed_values() {
        let cases = [
            ("", CookieError::WrongFieldCount),
            ("2~a~1~v~", CookieError::UnsupportedFormat),
            (&*format!("1~{}~1~v~", VID.to_uppercase()), CookieError::BadVisitorId),
            (&*format!("1~{VID}~-1~v~"), CookieError::BadTimestamp),
            (&*format!("1~{VID}~1~v 1~"), CookieError::BadPolicyVersion),
            (&*format!("1~{VID}~1~v~Analytics"), CookieError::BadCategory),
            (&*format!("1~{VID}~1~v~a..b"), CookieError::BadCategory),
            (&*format!("1~{VID}~1~v~a~extra"), CookieError::WrongFieldCount),
        ];
        for (raw, want) in cases {
            assert_eq!(ConsentCookie::parse(raw), Err(want), "{raw}");
        }
        assert_eq!(ConsentCookie::parse(&"x".repeat(2000)), Err(CookieError::TooLong));
    }

    #[test]
    fn validity_follows_version_and_lifetime() {
        let granted = ConsentCookie::parse(&format!("1~{VID}~0~v1~analytics")).expect("parses");
        let v1 = ["v1".to_owned()];
        assert!(granted.is_valid(&v1, 9 * 86_400, 10, 5));
        assert!(!granted.is_valid(&v1, 10 * 86_400, 10, 5));
        assert!(!granted.is_valid(&["v2".to_owned()], 1, 10, 5));
        assert!(granted.is_valid(&["v1".to_owned(), "v1.1".to_owned()], 1, 10, 5), "minor change");
        let refused = ConsentCookie::parse(&format!("1~{VID}~0~v1~")).expect("parses");
        assert!(refused.is_valid(&v1, 4 * 86_400, 10, 5));
        assert!(!refused.is_valid(&v1, 5 * 86_400, 10, 5));
        let future = ConsentCookie::parse(&format!("1~{VID}~100000~v1~")).expect("parses");
        assert!(!future.is_valid(&v1, 1000, 10, 5), "a cookie from the future is not trusted");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Cookies as the server issues them: any visitor id, any time a 12-digit field holds,
        /// any well-formed policy version, distinct well-formed category keys.
        fn cookie() -> impl Strategy<Value = ConsentCookie> {
            (
                any::<[u8; 16]>(),
                0i64..=999_999_999_999,
                "[A-Za-z0-9._-]{1,32}",
                proptest::collection::btree_set("[a-z][a-z0-9_]{0,31}", 0..8),
            )
                .prop_map(|(vid, decided_at, policy_version, keys)| ConsentCookie {
                    visitor_id: VisitorId(vid),
                    decided_at,
                    policy_version,
                    granted: keys.into_iter().collect(),
                })
        }

        /// Strings that look like cookies: the separators and the field alphabets, so the
        /// parser's later branches are reached too, not only the field count check.
        fn cookieish() -> impl Strategy<Value = String> {
            proptest::collection::vec(
                prop_oneof![
                    Just("~".to_owned()),
                    Just(".".to_owned()),
                    Just("1".to_owned()),
                    "[0-9a-f]{0,33}",
                    "[-+0-9]{0,14}",
                    "[A-Za-z0-9._ -]{0,34}",
                    any::<String>(),
                ],
                0..12,
            )
            .prop_map(|parts| parts.concat())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2048))]

            #[test]
            fn parse_never_panics_on_arbitrary_strings(s in any::<String>()) {
                let _ = ConsentCookie::parse(&s);
            }

            #[test]
            fn parse_never_panics_on_cookie_like_strings(s in cookieish()) {
                if let Ok(c) = ConsentCookie::parse(&s) {
                    // Whatever parses is well-formed and prints back to something that parses
                    // to the same value (the only normalisation: duplicate keys are dropped).
                    prop_assert!(is_policy_version(&c.policy_version));
                    prop_assert!(c.granted.iter().all(|k| is_category_key(k)));
                    prop_assert_eq!(ConsentCookie::parse(&c.to_string()), Ok(c));
                }
            }

            #[test]
            fn valid_cookies_round_trip(c in cookie()) {
                let printed = c.to_string();
                prop_assert!(printed.len() <= MAX_COOKIE_LEN);
                // RFC 6265 cookie-octets only: no quoting or escaping needed.
                prop_assert!(printed.bytes().all(|b| b.is_ascii_graphic() && !b"\",;".contains(&b)));
                prop_assert_eq!(ConsentCookie::parse(&printed), Ok(c));
            }

            #[test]
            fn mutated_cookies_never_panic(c in cookie(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
                let mut raw = c.to_string().into_bytes();
                let i = at.index(raw.len());
                raw[i] = byte;
                let _ = ConsentCookie::parse(&String::from_utf8_lossy(&raw));
            }
        }
    }
}
