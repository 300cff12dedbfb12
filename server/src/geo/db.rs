//! A MaxMind DB (GeoIP2/GeoLite2 or the flat `country_code` shape), reloaded when the file
//! changes. Lookups never block on a reload: the reader is swapped whole.

use super::{is_country, is_subdivision, Location, LocationSource};
use maxminddb::Reader;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<IsoCode<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<IsoCode<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<IsoCode<'a>>>,
    /// The flat shape (ip-location-db, DB-IP lite): `{"country_code": "DE"}`.
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct IsoCode<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

struct Loaded {
    reader: Reader<Vec<u8>>,
    stamp: Option<(SystemTime, u64)>,
}

pub struct GeoDb {
    path: PathBuf,
    current: RwLock<Option<Arc<Loaded>>>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl GeoDb {
    pub fn open(path: &Path) -> Result<Self, maxminddb::MaxMindDbError> {
        let stamp = stamp(path);
        let reader = Reader::open_readfile(path)?;
        Ok(Self { path: path.to_owned(), current: RwLock::new(Some(Arc::new(Loaded { reader, stamp }))) })
    }

    /// A database that is not usable yet; `reload_if_changed` picks it up once it is.
    pub fn open_later(path: &Path) -> Option<Self> {
        Some(Self { path: path.to_owned(), current: RwLock::new(None) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn loaded(&self) -> Option<Arc<Loaded>> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Re-reads the file when its modification time or size changed. A broken new file is
    /// logged and the previous database stays in use. Returns whether a new one was loaded.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamp(&self.path);
        let old = self.loaded().and_then(|l| l.stamp);
        if now.is_none() || now == old {
            return false;
        }
        match Reader::open_readfile(&self.path) {
            Ok(reader) => {
                let next = Some(Arc::new(Loaded { reader, stamp: now }));
                match self.current.write() {
                    Ok(mut g) => *g = next,
                    Err(p) => *p.into_inner() = next,
                }
                tracing::info!(path = %self.path.display(), "GeoIP database loaded");
                true
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "GeoIP database changed but cannot be read; keeping the previous one");
                false
            }
        }
    }

    pub fn lookup(&self, ip: IpAddr) -> Option<Location> {
        let loaded = self.loaded()?;
        let result = loaded.reader.lookup(ip).ok()?;
        let rec: Record = result.decode().ok()??;
        let country = rec
            .country
            .and_then(|c| c.iso_code)
            .or(rec.country_code)
            .or_else(|| rec.registered_country.and_then(|c| c.iso_code))
            .map(str::to_ascii_uppercase)
            .filter(|c| is_country(c))?;
        let subdivision = rec
            .subdivisions
            .and_then(|s| s.into_iter().next())
            .and_then(|s| s.iso_code)
            .map(str::to_ascii_uppercase)
            .filter(|s| is_subdivision(s));
        Some(Location { country: Some(country), subdivision, source: LocationSource::Database })
    }
}
