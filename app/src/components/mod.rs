//! Building blocks shared by pages.

mod banner;
pub mod chart;
mod gated;
mod language;
mod layout;

pub use banner::{Banner, BannerChoices, ChoiceLabels};
pub use gated::GatedDemoSnippets;
pub use language::LanguageSwitcher;
pub use layout::Layout;
