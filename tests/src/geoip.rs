//! MaxMind DB files built inside the tests (no database from outside the repository).

use mmdb_writer::Writer;
use serde_json::{json, Value};
use std::path::Path;

/// A GeoIP2-shaped record: `{"country": {"iso_code"}, "subdivisions": [{"iso_code"}]}`.
pub fn geoip2(country: &str, subdivision: Option<&str>) -> Value {
    match subdivision {
        Some(s) => json!({"country": {"iso_code": country}, "subdivisions": [{"iso_code": s}]}),
        None => json!({"country": {"iso_code": country}}),
    }
}

/// The flat shape of ip-location-db style databases: `{"country_code": "BR"}`.
pub fn flat(country: &str) -> Value {
    json!({"country_code": country})
}

/// Writes a database mapping each network (`"192.0.2.0/24"`) to its record.
pub fn write(path: &Path, entries: &[(&str, Value)]) {
    let mut w = Writer::new("Accord-Test-GeoIP");
    for (net, record) in entries {
        w.insert(net.parse::<ipnet::IpNet>().expect("network"), record).expect("insert");
    }
    std::fs::write(path, w.to_bytes().expect("serialize")).expect("write mmdb");
}

/// Test networks (documentation and shared ranges) and where the test database puts them.
pub const DE_IP: &str = "192.0.2.10";
pub const US_CA_IP: &str = "198.51.100.10";
pub const US_TX_IP: &str = "203.0.113.10";
pub const BR_IP: &str = "100.64.0.10";
pub const JP_IP: &str = "100.64.1.10";

/// DE, US-CA, US-TX (GeoIP2 shape), BR (flat shape), JP.
pub fn standard_entries() -> Vec<(&'static str, Value)> {
    vec![
        ("192.0.2.0/24", geoip2("DE", None)),
        ("198.51.100.0/24", geoip2("US", Some("CA"))),
        ("203.0.113.0/24", geoip2("US", Some("TX"))),
        ("100.64.0.0/24", flat("BR")),
        ("100.64.1.0/24", geoip2("JP", None)),
    ]
}
