//! Domain types shared by the server and the pages. Plain data, no I/O, compiles to WASM.

pub mod admin;
pub mod consent;
pub mod content;
pub mod i18n;
pub mod visitor;

pub use consent::{Action, ConsentCookie, CookieError, Source, VisitorId};
pub use content::{
    Category, ChangelogEntry, ConsentSettings, CookieEntry, Duty, Owner, Party, PolicyView, Responsibility,
    ResponsibilityArea, SiteContent, TocEntry,
};
pub use i18n::Catalog;
pub use visitor::{Jurisdiction, Model, RequestContext};
