//! One module per route.

pub mod admin;
mod cookies;
mod home;
mod not_found;
mod preferences;
mod privacy;
mod responsibility;

pub use admin::AdminPageView;
pub use cookies::CookiesPage;
pub use home::HomePage;
pub use not_found::NotFoundPage;
pub use preferences::PreferencesPage;
pub use privacy::PrivacyPage;
pub use responsibility::ResponsibilityPage;
