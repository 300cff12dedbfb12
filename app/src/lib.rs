//! Accord's Leptos UI.
//!
//! Pages are server-rendered (islands mode): only `#[island]` components ship WASM. The server
//! hands the app its data through context (see [`model::SiteContent`]) and leptos_axum provides
//! the request parts, from which the visitor's consent cookie is read.

// The admin pages nest deep view types; the WASM build computes their layouts too.
#![recursion_limit = "256"]

pub mod admin;
pub mod components;
pub mod model;
pub mod pages;
pub mod shell;
pub mod visitor;

pub use shell::{shell, App};

/// Entry point of the WASM bundle: hydrates the islands and nothing else.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
