//! Building blocks shared by pages.

mod banner;
mod gated;
mod layout;

pub use banner::{Banner, BannerChoices, ChoiceLabels};
pub use gated::GatedDemoSnippets;
pub use layout::Layout;
